/**
 * bench/taps-attrib: where the gNMI pool bring-up time goes. One fresh namespace + simulator per
 * row; prints the time of (1) N*3 plain leaf Sets (no TAP made: the gRPC round-trip cost alone),
 * (2) the full pool (N*4 Sets, N TAPs made by the simulator), at several concurrencies.
 *
 *   node .build/perf/dist/test/harness/in-namespace.js --run .build/perf/dist/bench/taps-attrib.js
 *
 * BENCH_ATTRIB_N (default 256), BENCH_ATTRIB_C (default "1,16,64"), BENCH_ATTRIB_SIM_ARGS (extra
 * node arguments for the simulator, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { GnmiClient, portLeafPath } from "../daemon/host/gnmi-client";
import { listLinks } from "../daemon/host/links";
import { deleteNetns, ensureNetns } from "../daemon/host/netns";
import { freePort, sleep } from "../test/helpers/daemon";

const N = Number(process.env.BENCH_ATTRIB_N ?? 256);
const CS = (process.env.BENCH_ATTRIB_C ?? "1,16,64").split(",").map(Number);
const SIM_ARGS = (process.env.BENCH_ATTRIB_SIM_ARGS ?? "").split(" ").filter(Boolean);
const SIM = resolve(__dirname, "..", "test", "sim", "p4-target-sim.js");

async function startSim(ns: string): Promise<{ proc: ChildProcess; gnmi: string; exited: Promise<void> }> {
  const gnmi = `127.0.0.1:${await freePort()}`;
  const p4rt = `127.0.0.1:${await freePort()}`;
  const proc = spawn(process.execPath, [...SIM_ARGS, SIM, "--gnmi", gnmi, "--p4rt", p4rt, "--netns", ns], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  await new Promise<void>((r) => proc.stdout?.on("data", (d) => String(d).includes("listening") && r()));
  return { proc, gnmi, exited };
}

async function pool(n: number, c: number, sets: number): Promise<number> {
  const names = Array.from({ length: n }, (_, i) => `P4TAP_${i}`);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < names.length) {
        const name = names[next++] as string;
        for (let k = 0; k < sets; k++) await client.setLeaf(portLeafPath(name, "pipeline-name"), "pipe");
      }
    }),
  );
  return performance.now() - t0;
}

let client: GnmiClient;

/** utime+stime in ms of a process and its descendants (from /proc), for CPU attribution. */
function cpuMs(pid: number): { self: number; kids: number } {
  const tick = 10; // USER_HZ 100
  const stat = (p: number) => {
    const f = readFileSync(`/proc/${p}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) * tick;
  };
  const kidsOf = (p: number): number[] => {
    const out: number[] = [];
    for (const t of readdirSync(`/proc/${p}/task`)) {
      const c = readFileSync(`/proc/${p}/task/${t}/children`, "utf8").trim();
      if (c) out.push(...c.split(" ").map(Number));
    }
    return out.flatMap((k) => [k, ...kidsOf(k)]);
  };
  let kids = 0;
  for (const k of kidsOf(pid)) kids += stat(k);
  return { self: stat(pid), kids };
}

async function measure(label: string, pid: number, f: () => Promise<unknown>): Promise<number> {
  const c0 = process.cpuUsage();
  const s0 = cpuMs(pid);
  const t0 = performance.now();
  await f();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const s1 = cpuMs(pid);
  console.log(
    `  ${label}: wall ${ms.toFixed(1)} ms; cpu client ${((c.user + c.system) / 1000).toFixed(0)} ms, ` +
      `sim ${s1.self - s0.self} ms, sim helper ${s1.kids - s0.kids} ms`,
  );
  return ms;
}

async function main(): Promise<void> {
  for (const c of CS) {
    const ns = `attrib-${c}`;
    await deleteNetns(ns);
    await ensureNetns(ns);
    const sim = await startSim(ns);
    client = new GnmiClient({ address: sim.gnmi });
    await client.capabilities();
    await pool(64, c, 1); // warm-up
    const pid = sim.proc.pid as number;
    console.log(`c=${c} N=${N}`);
    const rpcMs = await measure(`${3 * N} plain Sets`, pid, () => pool(N, c, 3));
    const poolMs = await measure(`pool ${N}`, pid, () =>
      client.createPool(
        Array.from({ length: N }, (_, i) => `P4TAP_${i}`),
        c,
      ),
    );
    const t1 = performance.now();
    const links = await listLinks(ns);
    const listMs = performance.now() - t1;
    console.log(
      `c=${c} N=${N}: ${3 * N} plain Sets ${rpcMs.toFixed(1)} ms (${((rpcMs * 1000) / (3 * N)).toFixed(0)} us/Set); ` +
        `pool (${4 * N} Sets + ${N} TAPs) ${poolMs.toFixed(1)} ms; listing ${links.length} links ${listMs.toFixed(1)} ms`,
    );
    client.close();
    sim.proc.kill("SIGTERM");
    await sim.exited;
    await sleep(50);
    await deleteNetns(ns);
  }
}

void main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
