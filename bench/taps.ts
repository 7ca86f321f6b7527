/**
 * bench/taps: the daemon's TAP pool bring-up over gNMI (TapPool + GnmiTapBackend: ONE kernel
 * listing, the missing ports created on one long-lived channel with DEFAULT_POOL_CONCURRENCY
 * ports in flight, each TAP recorded in a real SQLite state store, then probe() until the
 * listing shows them all) against, in the same run,
 *   (a) the guide's way: one fresh client process per TAP, sequentially, as create_interfaces.sh
 *       runs gnmi-cli (bench/gnmi-set-one.js: a channel, the port's four SetRequests, exit);
 *   (b) the floor: N kernel TAPs made with ONE `ip -batch -` (daemon/host/links.ts createTaps).
 * N = 8, 64, 256, 1024. Every measurement gets its own fresh network namespace (checked empty)
 * and, for the gNMI ones, its own freshly started P4 target simulator (test/sim), whose TAPs go
 * into that namespace; afterwards the simulator is stopped (its TAPs vanish with it), the
 * namespace is checked empty and deleted. Also: TapPool.reconcile() over a 1024 pool with nothing
 * missing (median of 5). Goals at N=256: ours at least 5x faster than (a), within 2x of (b).
 * Then the grpc-js floor for the same 4*256 SetRequests against a server that answers at once
 * (bench/gnmi-rpc-floor), against (b) of the same run: what no target or TAP work can explain.
 *
 * Run it inside the test namespace:
 *
 *     npx tsc -p tsconfig.json && unshare --net --mount --propagation private --pid --fork \
 *       --mount-proc --kill-child node dist/test/harness/in-namespace.js --run dist/bench/taps.js
 *
 * or `npm run bench -- taps`. BENCH_TAPS_N overrides the sizes, BENCH_TAPS_CONCURRENCY the ports
 * in flight; (a) runs every process up to BENCH_TAPS_ONE_EACH_MAX (default 256) TAPs, above that a
 * sample of 64 processes, extrapolated linearly (and labelled so).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pino from "pino";
import { GnmiTapBackend } from "../daemon/components/tap-backends";
import { TapPool } from "../daemon/components/tap-pool";
import { describeFailure, runCommand } from "../daemon/host/command";
import { DEFAULT_POOL_CONCURRENCY, GnmiClient } from "../daemon/host/gnmi-client";
import { createTaps, deleteGroup, listLinks } from "../daemon/host/links";
import { deleteNetns, ensureNetns } from "../daemon/host/netns";
import { StateStore } from "../daemon/state/store";
import { freePort, sleep } from "../test/helpers/daemon";
import { rpcFloor } from "./gnmi-rpc-floor";

const SIZES = (process.env.BENCH_TAPS_N ?? "8,64,256,1024").split(",").map(Number);
const ONE_EACH_MAX = Number(process.env.BENCH_TAPS_ONE_EACH_MAX ?? 256);
const ONE_EACH_SAMPLE = 64;
const RECONCILE_N = 1024;
const RECONCILE_ROUNDS = 5;
/** What the daemon's GnmiTapBackend uses (BENCH_TAPS_CONCURRENCY overrides it, to compare). */
const CONCURRENCY = Number(process.env.BENCH_TAPS_CONCURRENCY ?? DEFAULT_POOL_CONCURRENCY);
const GROUP = 78;
const GOAL_N = 256;
const PREFIX = "P4TAP_";

const SIM = resolve(__dirname, "..", "test", "sim", "p4-target-sim.js");
const ONE = resolve(__dirname, "gnmi-set-one.js");
const log = pino({ level: "silent" });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const names = (n: number) => Array.from({ length: n }, (_, i) => `${PREFIX}${i}`);

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function tapCount(ns: string): Promise<number> {
  return (await listLinks(ns)).filter((l) => l.kind === "tap" && l.name.startsWith(PREFIX)).length;
}

async function expectTaps(ns: string, n: number): Promise<void> {
  const got = await tapCount(ns);
  if (got !== n) throw new Error(`expected ${n} TAPs in ${ns}, found ${got}`);
}

/** Nothing but lo in the namespace. */
async function expectEmpty(ns: string): Promise<void> {
  const other = (await listLinks(ns)).filter((l) => l.name !== "lo").map((l) => l.name);
  if (other.length > 0) {
    const some = other.slice(0, 4).join(", ") + (other.length > 4 ? ", ..." : "");
    throw new Error(`namespace ${ns} is not empty: ${other.length} links (${some})`);
  }
}

let seq = 0;
/** A fresh namespace for one measurement, checked empty before and after, then deleted. */
async function inFreshNetns<T>(label: string, f: (ns: string) => Promise<T>): Promise<T> {
  const ns = `bt-${process.pid}-${seq++}-${label}`.slice(0, 40);
  await deleteNetns(ns);
  await ensureNetns(ns);
  try {
    await expectEmpty(ns);
    const out = await f(ns);
    await expectEmpty(ns);
    return out;
  } finally {
    await deleteNetns(ns);
  }
}

interface Sim {
  proc: ChildProcess;
  exited: Promise<void>;
  gnmi: string;
}

/** Start the simulator with its TAPs in `ns`; resolves once it printed `listening`. */
async function startSim(ns: string): Promise<Sim> {
  const gnmi = `127.0.0.1:${await freePort()}`;
  const p4rt = `127.0.0.1:${await freePort()}`;
  const proc = spawn(process.execPath, [SIM, "--gnmi", gnmi, "--p4rt", p4rt, "--netns", ns], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  let err = "";
  proc.stderr?.on("data", (d) => {
    err += String(d);
  });
  await new Promise<void>((resolveSim, reject) => {
    const t = setTimeout(() => reject(new Error(`simulator not listening within 10 s: ${err}`)), 10_000);
    proc.stdout?.on("data", (d) => {
      if (String(d).includes("listening")) {
        clearTimeout(t);
        resolveSim();
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`simulator exited (${code}): ${err}`));
    });
  });
  return { proc, exited, gnmi };
}

/** Stop the simulator; its TAPs die with it. Waits (up to 10 s) until the kernel shows none. */
async function stopSim(sim: Sim, ns: string): Promise<void> {
  if (sim.proc.exitCode === null && sim.proc.signalCode === null) sim.proc.kill("SIGTERM");
  await sim.exited;
  const end = Date.now() + 10_000;
  while ((await tapCount(ns)) > 0) {
    if (Date.now() > end) throw new Error(`the simulator's TAPs in ${ns} did not vanish within 10 s`);
    await sleep(20);
  }
}

async function withSim<T>(ns: string, f: (sim: Sim) => Promise<T>): Promise<T> {
  const sim = await startSim(ns);
  try {
    return await f(sim);
  } finally {
    await stopSim(sim, ns);
  }
}

interface Ours {
  ms: number;
  createMs: number;
  reconcileMs: number[] | null;
}

/** The daemon's way: TapPool.start() (one listing, createPool on one channel), then probe() until ready. */
function ours(n: number): Promise<Ours> {
  return inFreshNetns(`o${n}`, (ns) =>
    withSim(ns, async (sim) => {
      const client = new GnmiClient({ address: sim.gnmi });
      // The daemon records every TAP it created in its SQLite state (one transaction per create).
      const dir = mkdtempSync(join(tmpdir(), "bench-taps-"));
      const store = StateStore.open(join(dir, "state.db"));
      try {
        const pool = new TapPool({
          netns: ns,
          prefix: PREFIX,
          count: n,
          hostInterfaceName: null,
          backend: new GnmiTapBackend(client, {}, CONCURRENCY),
          store,
          dependsOn: [],
          log,
        });
        const t0 = performance.now();
        await pool.start();
        const createMs = performance.now() - t0;
        const end = Date.now() + 60_000;
        for (;;) {
          const p = await pool.probe();
          if (p.ready) break;
          if (Date.now() > end) throw new Error(`pool of ${n} not ready within 60 s: ${p.waitingFor}`);
          await sleep(5);
        }
        const ms = performance.now() - t0;
        await expectTaps(ns, n);
        if (store.taps().length !== n)
          throw new Error(`expected ${n} TAP records, found ${store.taps().length}`);
        let reconcileMs: number[] | null = null;
        if (n === RECONCILE_N) {
          reconcileMs = [];
          for (let i = 0; i < RECONCILE_ROUNDS; i++) reconcileMs.push(await timed(() => pool.reconcile()));
          await expectTaps(ns, n);
        }
        return { ms, createMs, reconcileMs };
      } finally {
        client.close();
        store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
  );
}

interface OneEach {
  ms: number;
  /** How many processes actually ran (fewer than N when extrapolated), and how long they took. */
  ran: number;
  ranMs: number;
  extrapolated: boolean;
}

/** (a) One fresh client process per TAP, one after the other, P4TAP_0 first. */
function oneEach(n: number): Promise<OneEach> {
  const ran = n > ONE_EACH_MAX ? Math.min(ONE_EACH_SAMPLE, n) : n;
  return inFreshNetns(`a${n}`, (ns) =>
    withSim(ns, async (sim) => {
      const measured = await timed(async () => {
        for (const name of names(ran)) {
          const argv = [process.execPath, ONE, sim.gnmi, name];
          const r = await runCommand(argv, { timeoutMs: 30_000 });
          if (r.code !== 0) throw new Error(describeFailure(argv, r));
        }
      });
      await expectTaps(ns, ran);
      return { ms: (measured * n) / ran, ran, ranMs: measured, extrapolated: ran < n };
    }),
  );
}

/** (b) The floor: N kernel TAPs with ONE `ip -batch -`. */
function batch(n: number): Promise<number> {
  return inFreshNetns(`b${n}`, async (ns) => {
    const ms = await timed(() => createTaps(ns, names(n), GROUP));
    await expectTaps(ns, n);
    await deleteGroup(ns, GROUP);
    await expectTaps(ns, 0);
    return ms;
  });
}

export interface TapsRow {
  n: number;
  oursMs: number;
  oursCreateMs: number;
  oneEachMs: number;
  oneEachRan: number;
  oneEachExtrapolated: boolean;
  batchMs: number;
}

export interface TapsResult {
  rows: TapsRow[];
  reconcileMs: number | null;
}

const f1 = (x: number, w = 9) => x.toFixed(1).padStart(w);
const ratio = (x: number) => `${x.toFixed(1)}x`;

export async function benchTaps(): Promise<TapsResult> {
  console.log(
    "bench/taps: TAP pool bring-up over gNMI (TapPool.start() -> probe() ready, one channel, " +
      `${CONCURRENCY} in flight) vs (a) one client process per TAP and (b) one \`ip -batch\` (same run, ` +
      "fresh namespace and simulator each)",
  );
  console.log(
    "     N |   ours ms (  create + check) | (a) one process/TAP ms | (b) ip -batch ms | (a)/ours | ours/(b)",
  );
  const rows: TapsRow[] = [];
  const notes: string[] = [];
  let reconcile: number[] | null = null;
  for (const n of SIZES) {
    const batchMs = await batch(n);
    const o = await ours(n);
    const a = await oneEach(n);
    if (o.reconcileMs) reconcile = o.reconcileMs;
    const row: TapsRow = {
      n,
      oursMs: o.ms,
      oursCreateMs: o.createMs,
      oneEachMs: a.ms,
      oneEachRan: a.ran,
      oneEachExtrapolated: a.extrapolated,
      batchMs,
    };
    rows.push(row);
    const aText = a.extrapolated ? `${f1(a.ms, 21)}*` : f1(a.ms, 22);
    if (a.extrapolated) {
      notes.push(
        `     * N=${n}: (a) extrapolated, not measured in full: ${a.ran} processes (${a.ran} TAPs) took ` +
          `${a.ranMs.toFixed(1)} ms, scaled linearly x${n / a.ran}`,
      );
    }
    console.log(
      `${String(n).padStart(6)} | ${f1(o.ms)} (${f1(o.createMs, 8)} + ${f1(o.ms - o.createMs, 5)}) | ${aText} | ` +
        `${f1(batchMs, 16)} | ${ratio(a.ms / o.ms).padStart(8)} | ${ratio(o.ms / batchMs).padStart(8)}`,
    );
  }
  for (const line of notes) console.log(line);
  const goal = rows.find((r) => r.n === GOAL_N);
  if (goal) {
    const faster = goal.oneEachMs / goal.oursMs;
    const floor = goal.oursMs / goal.batchMs;
    console.log(
      `bench/taps: N=${GOAL_N}: ours ${goal.oursMs.toFixed(0)} ms is ${ratio(faster)} faster than one process per TAP ` +
        `(${goal.oneEachMs.toFixed(0)} ms${goal.oneEachExtrapolated ? ", extrapolated" : ""}; goal >= 5x): ` +
        `${faster >= 5 ? "met" : "MISSED"}`,
    );
    console.log(
      `bench/taps: N=${GOAL_N}: ours is ${ratio(floor)} the ip -batch floor (${goal.batchMs.toFixed(0)} ms; goal <= 2x): ` +
        (floor <= 2
          ? "met"
          : `MISSED by ${(floor / 2).toFixed(1)}x: ${4 * GOAL_N} gNMI round trips (one SetRequest per leaf, 4 per ` +
            `port, as gnmi-cli sends them), ${((goal.oursCreateMs * 1000) / (4 * GOAL_N)).toFixed(0)} us each ` +
            `with ${CONCURRENCY} in flight, against one \`ip -batch\` process`),
    );
    // Why: the same number of SetRequests against a gRPC server that does nothing (fresh process,
    // fresh channel), i.e. the cost of grpc-js alone, whatever the target and the TAPs cost.
    const [f] = await rpcFloor(4 * GOAL_N, [CONCURRENCY]);
    if (f) {
      const us = (x: number) => ((x * 1000) / f.calls).toFixed(0);
      console.log(
        `bench/taps: N=${GOAL_N}: grpc-js floor: ${f.calls} Sets to a server that answers at once take ` +
          `${f.wallMs.toFixed(0)} ms (${ratio(f.wallMs / goal.batchMs)} the ip -batch floor; ${us(f.wallMs)} us/Set, ` +
          `CPU per Set ${us(f.clientCpuMs)} us client + ${us(f.serverCpuMs)} us server), ${CONCURRENCY} in flight`,
      );
    }
  }
  const reconcileMs = reconcile ? median(reconcile) : null;
  if (reconcile && reconcileMs !== null) {
    console.log(
      `bench/taps: reconcile over ${RECONCILE_N} TAPs, nothing missing (one listing): median ` +
        `${reconcileMs.toFixed(1)} ms of ${reconcile.length} (min ${Math.min(...reconcile).toFixed(1)}, ` +
        `max ${Math.max(...reconcile).toFixed(1)})`,
    );
  }
  return { rows, reconcileMs };
}

if (require.main === module) {
  benchTaps().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
