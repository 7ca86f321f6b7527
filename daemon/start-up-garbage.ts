/**
 * Start-up leaves behind what only it needed, and no collection takes it back while the daemon
 * idles: garbage in V8's old generation (the config parsed and validated, the API's routes built,
 * the datapath brought up), and the bytecode of functions that ran only then. The daemon's young
 * generation is small (scripts/daemon-node-options.ts) and an idle daemon allocates too little for
 * V8 to start a full collection by itself (seen with --trace-gc: only scavenges, for minutes).
 *
 * So, once the node is first ready: full collections, one more than V8's --bytecode-old-age (5 in
 * Node 20's V8 11.3): the first frees the garbage, and a function that did not run during them has
 * its bytecode flushed (compiled again from the source if it ever runs again; the request path's
 * handlers are compiled again by their first request). bench/api, same period: RSS idle 71-72 MB
 * before, ~70 MB with one collection, 68-69 MB with six. Paid once, at ready (the time is logged).
 *
 * A tick stays queued during the collections: a full collection with no TickObject alive loses
 * (we infer: its maps are reached only through weak transitions) what process.nextTick's object
 * literal had learnt, and nextTick then builds every TickObject the slow way for the rest of the
 * process's life. Measured with --cpu-prof under bench/api's load: nextTick's own time ~6 µs a
 * request (TickObject literal lines) against ~0.6 µs without the collections; with the tick queued
 * ~1.5 µs (one run, on a loaded machine).
 * Other request-path code may lose the same way (not shown: the bench is too noisy here).
 *
 * V8 offers no full collection to a script without --expose-gc; the flag set at run time applies to
 * contexts made afterwards, so the collector is taken from a throwaway context (the flag changes
 * nothing else: code compiled before it and the bundle's code cache are unaffected).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** V8's --bytecode-old-age (full collections a function's bytecode survives unused) plus one. */
const COLLECTIONS = 6;

let done = false;

function keepTickMapsAlive(): void {}

/** The full collections, the first time only; returns how long they took (ms), null when done before. */
export function collectStartUpGarbage(): number | null {
  if (done) return null;
  done = true;
  const t0 = performance.now();
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  process.nextTick(keepTickMapsAlive);
  for (let i = 0; i < COLLECTIONS; i++) gc();
  return performance.now() - t0;
}
