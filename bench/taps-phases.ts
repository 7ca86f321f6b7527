/**
 * bench/taps-phases: where one pool bring-up's wall time goes, phase by phase, the way
 * TapPool.start() + probe() run it (fresh namespace, fresh simulator, fresh channel, as bench/taps):
 * the first listing, P4TAP_0 alone (channel connect + 4 Sets + 1 TAP), the other ports, the
 * SQLite records (one transaction), the readiness listing. CPU of the client, the simulator and
 * its TAP helper over the whole bring-up.
 *
 *   node .build/perf/dist/test/harness/in-namespace.js --run .build/perf/dist/bench/taps-phases.js
 *
 * BENCH_PHASES_N (default "8,256,1024"), BENCH_PHASES_C (ports in flight, default the daemon's).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_POOL_CONCURRENCY, GnmiClient } from "../daemon/host/gnmi-client";
import { listLinks } from "../daemon/host/links";
import { deleteNetns, ensureNetns } from "../daemon/host/netns";
import { StateStore } from "../daemon/state/store";
import { freePort, sleep } from "../test/helpers/daemon";

const NS = (process.env.BENCH_PHASES_N ?? "8,256,1024").split(",").map(Number);
const C = Number(process.env.BENCH_PHASES_C ?? DEFAULT_POOL_CONCURRENCY);
const SIM = resolve(__dirname, "..", "test", "sim", "p4-target-sim.js");

/** utime+stime in ms (USER_HZ 100) of a process, and of its descendants. */
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

async function startSim(ns: string): Promise<{ proc: ChildProcess; gnmi: string; exited: Promise<void> }> {
  const gnmi = `127.0.0.1:${await freePort()}`;
  const p4rt = `127.0.0.1:${await freePort()}`;
  const proc = spawn(process.execPath, [SIM, "--gnmi", gnmi, "--p4rt", p4rt, "--netns", ns], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  await new Promise<void>((r) => proc.stdout?.on("data", (d) => String(d).includes("listening") && r()));
  return { proc, gnmi, exited };
}

async function once(n: number): Promise<void> {
  const ns = `phases-${n}`;
  await deleteNetns(ns);
  await ensureNetns(ns);
  const sim = await startSim(ns);
  const dir = mkdtempSync(join(tmpdir(), "bench-phases-"));
  const store = StateStore.open(join(dir, "state.db"));
  const client = new GnmiClient({ address: sim.gnmi });
  const names = Array.from({ length: n }, (_, i) => `P4TAP_${i}`);
  try {
    const pid = sim.proc.pid as number;
    const c0 = process.cpuUsage();
    const s0 = cpuMs(pid);
    const t: number[] = [performance.now()];
    await listLinks(ns);
    t.push(performance.now());
    await client.createTapPort(names[0] as string);
    t.push(performance.now());
    await client.createPool(names.slice(1), C);
    t.push(performance.now());
    store.recordTaps(names, "gnmi");
    t.push(performance.now());
    const links = await listLinks(ns);
    t.push(performance.now());
    const cu = process.cpuUsage(c0);
    const s1 = cpuMs(pid);
    const got = links.filter((l) => l.kind === "tap").length;
    if (got !== n) throw new Error(`expected ${n} TAPs, found ${got}`);
    const d = (i: number) => ((t[i + 1] as number) - (t[i] as number)).toFixed(1);
    const total = (t[5] as number) - (t[0] as number);
    console.log(
      `N=${n} (${C} in flight): total ${total.toFixed(1)} ms = listing ${d(0)} + P4TAP_0 ${d(1)} + ` +
        `${n - 1} ports ${d(2)} + SQLite ${d(3)} + readiness listing ${d(4)}; CPU client ` +
        `${((cu.user + cu.system) / 1000).toFixed(0)} ms, simulator ${s1.self - s0.self} ms, TAP helper ` +
        `${s1.kids - s0.kids} ms`,
    );
  } finally {
    client.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
    sim.proc.kill("SIGTERM");
    await sim.exited;
    await sleep(20);
    await deleteNetns(ns);
  }
}

async function main(): Promise<void> {
  for (const n of NS) await once(n);
}

void main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
