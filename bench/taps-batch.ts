/**
 * bench/taps-batch: how many ports one gNMI SetRequest should carry while the pool is made in
 * order (taps.setBatch). For N = 32 (the renamed stock chassis config) and 256 (a 256-entry test
 * chassis config), GnmiClient.createPool with batch "leaf" (gnmi-cli's shape: one update per
 * request), 1, 2, 4, 8, 16, 32 and 64 ports per request, one request at a time, each against a
 * freshly started strict simulator whose TAPs go into a fresh namespace; rounds alternate the
 * batches. The reference, same run: N kernel TAPs made with ONE `ip -batch -`. Prints the median
 * of each and its ratio to the reference.
 *
 *     npm run bench -- taps-batch          (BENCH_BATCH_ROUNDS, default 3)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { GnmiClient, type SetBatch } from "../daemon/host/gnmi-client";
import { createTaps, listLinks } from "../daemon/host/links";
import { deleteNetns, ensureNetns } from "../daemon/host/netns";
import { freePort } from "../test/helpers/daemon";

const ROUNDS = Number(process.env.BENCH_BATCH_ROUNDS ?? 3);
const BATCHES: SetBatch[] = ["leaf", 1, 2, 4, 8, 16, 32, 64];
const SIM = resolve(__dirname, "..", "test", "sim", "p4-target-sim.js");
const FIXTURES = resolve(__dirname, "..", "..", "test", "fixtures", "chassis");
const CHASSIS: Record<number, string> = {
  32: resolve(FIXTURES, "dpdk_port_config.P4TAP.pb.txt"),
  256: resolve(FIXTURES, "dpdk_port_config.P4TAP_256.pb.txt"),
};
const names = (n: number) => Array.from({ length: n }, (_, i) => `P4TAP_${i}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function startSim(ns: string, n: number): Promise<{ addr: string; child: ChildProcess }> {
  const addr = `127.0.0.1:${await freePort()}`;
  const p4rt = `127.0.0.1:${await freePort()}`;
  const child = spawn(
    process.execPath,
    [SIM, "--gnmi", addr, "--p4rt", p4rt, "--netns", ns, "--chassis-config", CHASSIS[n] as string],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((ok, fail) => {
    child.stdout?.on("data", (d: Buffer) => String(d).includes("listening") && ok());
    child.once("exit", (c) => fail(new Error(`simulator exited ${c}`)));
  });
  return { addr, child };
}

async function stopSim(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await gone;
}

async function oneGnmi(n: number, batch: SetBatch, round: number): Promise<number> {
  const ns = `bb-${n}-${String(batch)}-${round}`;
  await ensureNetns(ns);
  const { addr, child } = await startSim(ns, n);
  const client = new GnmiClient({ address: addr });
  try {
    await client.capabilities(); // channel up: what is measured is the pool, not the connect
    const t0 = performance.now();
    await client.createPool(names(n), batch);
    const ms = performance.now() - t0;
    const taps = (await listLinks(ns)).filter((l) => l.kind === "tap").length;
    if (taps !== n) throw new Error(`batch ${batch}: ${taps} TAPs, expected ${n}`);
    return ms;
  } finally {
    client.close();
    await stopSim(child);
    await deleteNetns(ns);
  }
}

async function oneKernel(n: number, round: number): Promise<number> {
  const ns = `bk-${n}-${round}`;
  await ensureNetns(ns);
  try {
    const t0 = performance.now();
    await createTaps(ns, names(n), 77);
    return performance.now() - t0;
  } finally {
    await deleteNetns(ns);
  }
}

async function main(): Promise<void> {
  for (const n of [32, 256]) {
    const times = new Map<string, number[]>();
    const kernel: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      kernel.push(await oneKernel(n, r));
      const order = r % 2 === 0 ? BATCHES : [...BATCHES].reverse();
      for (const b of order) {
        const k = String(b);
        times.set(k, [...(times.get(k) ?? []), await oneGnmi(n, b, r)]);
      }
    }
    const ref = median(kernel);
    console.log(`N=${n}: ip -batch (reference) ${ref.toFixed(1)} ms (median of ${ROUNDS})`);
    for (const b of BATCHES) {
      const m = median(times.get(String(b)) as number[]);
      console.log(
        `  setBatch ${String(b).padStart(4)}: ${m.toFixed(1).padStart(8)} ms  ${(m / ref).toFixed(2)}x ip -batch`,
      );
    }
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
