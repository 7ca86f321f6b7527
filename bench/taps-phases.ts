/**
 * bench/taps-phases: where one pool bring-up of bench/taps ("ours") spends its wall time. The same
 * TapPool.start() -> probe() ready, fresh namespace + simulator + channel + SQLite file each round,
 * with the pool's calls timed where they cross into another process or the disk: every gNMI call
 * (Get, Set; the first one pays the channel's connect), every SQLite write (each one a transaction,
 * an fsync at FULL), every `ip` listing (links.listLinks: a question to the namespace's long-lived
 * `ip` reader, started while the target makes the ports). What is left ("own") is the pool's JS and waits.
 *
 *   npm run bench -- taps-phases      (BENCH_PHASES_N=32,256  BENCH_PHASES_ROUNDS=3)
 *
 * Prints one line per round: the total, then each call in order with its ms.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { GnmiTapBackend } from "../daemon/components/tap-backends";
import { TapPool } from "../daemon/components/tap-pool";
import { DEFAULT_SET_BATCH, GnmiClient } from "../daemon/host/gnmi-client";
import * as grpcChannel from "../daemon/host/grpc-channel";
import * as links from "../daemon/host/links";
import { deleteNetns, ensureNetns } from "../daemon/host/netns";
import { StateStore } from "../daemon/state/store";
import { sleep } from "../test/helpers/daemon";
import { CHASSIS_256, RENAMED_CHASSIS, startSim } from "../test/sim/launch";

const SIZES = (process.env.BENCH_PHASES_N ?? "32,256").split(",").map(Number);
const ROUNDS = Number(process.env.BENCH_PHASES_ROUNDS ?? 3);
const PREFIX = "P4TAP_";

interface Step {
  what: string;
  ms: number;
}

/** Wrap obj[key] (a function) so each call is timed into `steps` (not when its label is null); returns the undo. */
function timeCalls(
  obj: object,
  key: string,
  label: (args: unknown[]) => string | null,
  steps: Step[],
): () => void {
  const o = obj as Record<string, (...a: unknown[]) => unknown>;
  const orig = o[key] as (...a: unknown[]) => unknown;
  o[key] = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    const out = orig.apply(this, args);
    const what = label(args);
    if (what === null) return out;
    const end = () => steps.push({ what, ms: performance.now() - t0 });
    if (out instanceof Promise) return out.finally(end);
    end();
    return out;
  };
  return () => {
    o[key] = orig;
  };
}

/** utime+stime in ms (USER_HZ 100: 10 ms steps) of a process, and of its descendants. */
function cpuMs(pid: number): { self: number; kids: number } {
  const stat = (p: number) => {
    const f = readFileSync(`/proc/${p}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) * 10;
  };
  const kidsOf = (p: number): number[] =>
    readdirSync(`/proc/${p}/task`)
      .flatMap((t) => readFileSync(`/proc/${p}/task/${t}/children`, "utf8").trim().split(" "))
      .filter(Boolean)
      .map(Number)
      .flatMap((k) => [k, ...kidsOf(k)]);
  return { self: stat(pid), kids: kidsOf(pid).reduce((a, k) => a + stat(k), 0) };
}

async function once(n: number): Promise<Step[] & { total?: number; cpu?: string }> {
  const ns = `phases-${process.pid}-${n}`;
  await deleteNetns(ns);
  await ensureNetns(ns);
  const chassis = n === 32 ? RENAMED_CHASSIS : n === 256 ? CHASSIS_256 : null;
  if (!chassis) throw new Error("BENCH_PHASES_N: 32 and 256 only (the fixtures)");
  const sim = await startSim(["--netns", ns, "--chassis-config", chassis]);
  const dir = mkdtempSync(join(tmpdir(), "bench-phases-"));
  const store = StateStore.open(join(dir, "state.db"));
  const client = new GnmiClient({ address: sim.gnmi });
  // As bench/taps: the daemon's readiness probe of the target answered first (same connection).
  const probe = new GnmiClient({
    address: sim.gnmi,
    timeoutMs: 1000,
    retry: { retryForMs: 0, initialBackoffMs: 10, maxBackoffMs: 10 },
  });
  await probe.capabilities();
  const steps: Step[] = [];
  const undo = [
    ...[client, probe].map((c) =>
      timeCalls(c, "get", (a) => `gRPC Get(${(a[0] as unknown[]).length} paths)`, steps),
    ),
    // Sets go through unaryRaw (gnmi-wire.ts codecs); Gets are timed above, at client.get.
    timeCalls(
      grpcChannel,
      "unaryRaw",
      (a) => {
        const method = a[1] as { path: string };
        return method.path.endsWith("/Set") ? `gRPC Set(${(a[2] as unknown[]).length} updates)` : null;
      },
      steps,
    ),
    timeCalls(links, "listLinks", () => "ip link show", steps),
    ...["recordTaps", "confirmTaps", "saveTapPlacements", "stampTaps", "forgetTaps"].map((m) =>
      timeCalls(store, m, (a) => `SQLite ${m}(${(a[0] as unknown[]).length})`, steps),
    ),
  ];
  try {
    const pool = new TapPool({
      netns: ns,
      prefix: PREFIX,
      count: n,
      hostInterfaceName: null,
      backend: new GnmiTapBackend(client, {}, DEFAULT_SET_BATCH, probe),
      store,
      dependsOn: [],
      log: pino({ level: "silent" }),
    });
    const pid = sim.proc.pid as number;
    const c0 = process.cpuUsage();
    const s0 = cpuMs(pid);
    const t0 = performance.now();
    await pool.start();
    for (;;) {
      const r = await pool.probe();
      if (r.ready) break;
      await sleep(5);
    }
    const total = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const s1 = cpuMs(pid);
    const out = steps.slice() as Step[] & { total?: number; cpu?: string };
    out.total = total;
    out.cpu =
      `CPU: client ${((c.user + c.system) / 1000).toFixed(0)} ms, simulator ${s1.self - s0.self} ms, ` +
      `its TAP helper ${s1.kids - s0.kids} ms`;
    return out;
  } finally {
    for (const u of undo) u();
    client.close();
    probe.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
    await sim.stop();
    await deleteNetns(ns);
  }
}

export async function benchTapsPhases(): Promise<void> {
  console.log(
    `bench/taps-phases: TapPool.start() -> probe() ready over gNMI, ${DEFAULT_SET_BATCH} ports per SetRequest; ` +
      `load ${loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}`,
  );
  for (const n of SIZES) {
    for (let r = 0; r < ROUNDS; r++) {
      const steps = await once(n);
      const total = steps.total ?? 0;
      const inCalls = steps.reduce((a, s) => a + s.ms, 0);
      console.log(
        `N=${n}: total ${total.toFixed(1)} ms = ${steps.map((s) => `${s.what} ${s.ms.toFixed(1)}`).join(" + ")} ` +
          `+ own ${(total - inCalls).toFixed(1)}; ${steps.cpu}`,
      );
    }
  }
}

if (require.main === module) {
  benchTapsPhases().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
