/**
 * bench/taps: the daemon's TAP pool bring-up over gNMI, IN ORDER as P4-OVS 22.07 needs it
 * (TapPool.start() with GnmiTapBackend: GnmiClient.createPool, one SetRequest at a time,
 * DEFAULT_SET_BATCH ports per request, P4TAP_0 first; each TAP recorded in a real SQLite state
 * store; then probe() until ready; the clock starts once the target answered the daemon's
 * readiness probe for it, Capabilities, on the connection the pool then uses, as in the daemon),
 * against the strict simulator (test/sim) started with a chassis
 * config in the real format: N=32 the stock file renamed as create_interfaces.sh does
 * (test/fixtures/chassis/dpdk_port_config.P4TAP.pb.txt), N=256 a 256-entry one
 * (dpdk_port_config.P4TAP_256.pb.txt). References measured in the same run:
 *   (a) the guide's way: one fresh gnmi-cli-like process per port, one after another
 *       (bench/gnmi-set-one.js: one channel, the port's four single-update SetRequests, exit);
 *   (b) the floor: N kernel TAPs made by ONE `ip -batch -` (daemon/host/links.ts createTaps);
 *   (c) the simulator's own floor: its TAP helper (test/sim/tap-helper.ts, the python3 process that
 *       holds the TAPs as ovs-vswitchd's DPDK TAP PMD would) making the N TAPs the way the simulator
 *       asks it to, one exchange per SetRequest of DEFAULT_SET_BATCH ports. No gNMI pool against
 *       the simulator can be faster than (c); a real P4-OVS has its own cost there instead.
 * Also, for the record, the pool made in exactly gnmi-cli's shape (batch "leaf": one update per
 * request, one request at a time). Every measurement gets a fresh network namespace (checked empty
 * before and after) and, for gNMI, a freshly started simulator whose TAPs go there; each gNMI
 * bring-up is checked: N TAPs, and the simulator's ports file says P4TAP_k is port k.
 * Goals (issue 11): ours at most 2x (b) and at least 20x faster than (a), at both sizes.
 *
 *     npm run bench -- taps        (BENCH_TAPS_N=32,256  BENCH_TAPS_ROUNDS=3  BENCH_TAPS_A=1)
 *
 * BENCH_TAPS_BATCH sets ours' ports per SetRequest (default DEFAULT_SET_BATCH; (c) follows it).
 * BENCH_TAPS_A=0 skips (a) and BENCH_TAPS_LEAF=0 the leaf-shaped pool (most of the run's time),
 * for quick before/after loops; their columns then print "-".
 *
 * Medians of BENCH_TAPS_ROUNDS rounds for ours, leaf and (b), alternated; (a) runs once per size.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pino from "pino";
import { GnmiTapBackend } from "../daemon/components/tap-backends";
import { TapPool } from "../daemon/components/tap-pool";
import { describeFailure, runCommand } from "../daemon/host/command";
import { DEFAULT_SET_BATCH, GnmiClient, type SetBatch } from "../daemon/host/gnmi-client";
import { createTaps, deleteGroup, listLinks } from "../daemon/host/links";
import { deleteNetns, ensureNetns } from "../daemon/host/netns";
import { StateStore } from "../daemon/state/store";
import { sleep } from "../test/helpers/daemon";
import { renderChassisConfig } from "../test/sim/chassis-config";
import { CHASSIS_256, RENAMED_CHASSIS, type RunningSim, startSim } from "../test/sim/launch";
import { TapHelper } from "../test/sim/tap-helper";

const SIZES = (process.env.BENCH_TAPS_N ?? "32,256").split(",").map(Number);
const ROUNDS = Number(process.env.BENCH_TAPS_ROUNDS ?? 3);
const WITH_A = process.env.BENCH_TAPS_A !== "0";
const WITH_LEAF = process.env.BENCH_TAPS_LEAF !== "0";
/** Ports per SetRequest for "ours" (default the daemon's, DEFAULT_SET_BATCH): to compare batches. */
const OURS_BATCH: SetBatch =
  process.env.BENCH_TAPS_BATCH === undefined
    ? DEFAULT_SET_BATCH
    : process.env.BENCH_TAPS_BATCH === "leaf"
      ? "leaf"
      : Number(process.env.BENCH_TAPS_BATCH);
const GROUP = 78;
const PREFIX = "P4TAP_";
const ONE = resolve(__dirname, "gnmi-set-one.js");
const log = pino({ level: "silent" });
const scratch = mkdtempSync(join(tmpdir(), "bench-taps-"));
/**
 * The simulator's ports file (a test instrument: P4-OVS writes none) goes where the daemon's
 * simulator profile puts it, a run directory, tmpfs on a host (/run): on the disk /tmp is here (ext4),
 * replacing it by rename flushes it first (auto_da_alloc), ~1.5 ms per Set that adds ports, charged
 * to the pool by the double only. The state database stays on the disk, as the daemon's does.
 */
const runScratch = existsSync("/dev/shm") ? mkdtempSync("/dev/shm/bench-taps-") : scratch;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const names = (n: number) => Array.from({ length: n }, (_, i) => `${PREFIX}${i}`);

/** The chassis config for a pool of n: the fixtures for 32 and 256, else one written for the run. */
function chassisFor(n: number): string {
  if (n === 32) return RENAMED_CHASSIS;
  if (n === 256) return CHASSIS_256;
  const file = join(scratch, `chassis-${n}.pb.txt`);
  writeFileSync(file, renderChassisConfig(names(n)));
  return file;
}

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
  if (other.length > 0)
    throw new Error(`namespace ${ns} is not empty: ${other.length} links (${other[0]}, ...)`);
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

/** A fresh simulator for a pool of n with its TAPs in `ns`; stopped after, its TAPs gone. */
async function withSim<T>(
  ns: string,
  n: number,
  f: (sim: RunningSim, portsFile: string) => Promise<T>,
): Promise<T> {
  const portsFile = join(runScratch, `${ns}.ports.json`);
  const sim = await startSim(["--netns", ns, "--chassis-config", chassisFor(n), "--ports-file", portsFile]);
  let out: T;
  try {
    out = await f(sim, portsFile);
  } finally {
    await sim.stop();
  }
  const end = Date.now() + 10_000;
  while ((await tapCount(ns)) > 0) {
    if (Date.now() > end) throw new Error(`the simulator's TAPs in ${ns} did not vanish within 10 s`);
    await sleep(20);
  }
  return out;
}

/** The target numbered P4TAP_k as port k, every kernel side there. */
function expectInOrder(portsFile: string, n: number): void {
  const { ports } = JSON.parse(readFileSync(portsFile, "utf8")) as {
    ports: { name: string; port: number; kernel: string | null }[];
  };
  const bad = ports.findIndex((p, i) => p.name !== `${PREFIX}${i}` || p.port !== i || p.kernel !== p.name);
  if (ports.length !== n || bad >= 0) {
    throw new Error(`ports not in order: ${ports.length} ports, first wrong: ${JSON.stringify(ports[bad])}`);
  }
}

/** The daemon's way: TapPool.start() (createPool in order on one channel), then probe() until ready. */
function pool(n: number, batch: SetBatch): Promise<number> {
  return inFreshNetns(`p${n}-${batch}`, (ns) =>
    withSim(ns, n, async (sim, portsFile) => {
      const client = new GnmiClient({ address: sim.gnmi });
      // The daemon's p4-target readiness probe (Capabilities from a client of its own) answered
      // before the pool starts, as in the daemon, where the pool depends on it: grpc-js shares one
      // subchannel (one connection) between clients of one address, options and credentials.
      const probe = new GnmiClient({
        address: sim.gnmi,
        timeoutMs: 1000,
        retry: { retryForMs: 0, initialBackoffMs: 10, maxBackoffMs: 10 },
      });
      await probe.capabilities();
      const dir = mkdtempSync(join(scratch, "state-"));
      const store = StateStore.open(join(dir, "state.db"));
      try {
        const p = new TapPool({
          netns: ns,
          prefix: PREFIX,
          count: n,
          hostInterfaceName: null,
          // Reads through a client like the probe's, as the daemon's pool does (components/index.ts).
          backend: new GnmiTapBackend(client, {}, batch, probe),
          store,
          dependsOn: [],
          log,
        });
        const t0 = performance.now();
        await p.start();
        const end = Date.now() + 120_000;
        for (;;) {
          const r = await p.probe();
          if (r.ready) break;
          if (Date.now() > end) throw new Error(`pool of ${n} not ready within 120 s: ${r.waitingFor}`);
          await sleep(5);
        }
        const ms = performance.now() - t0;
        await expectTaps(ns, n);
        expectInOrder(portsFile, n);
        return ms;
      } finally {
        client.close();
        probe.close();
        store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
  );
}

/** (a) One fresh gnmi-cli-like process per port, one after the other, P4TAP_0 first. */
function oneEach(n: number): Promise<number> {
  return inFreshNetns(`a${n}`, (ns) =>
    withSim(ns, n, async (sim, portsFile) => {
      const ms = await timed(async () => {
        for (const name of names(n)) {
          const argv = [process.execPath, ONE, sim.gnmi, name];
          const r = await runCommand(argv, { timeoutMs: 30_000 });
          if (r.code !== 0) throw new Error(describeFailure(argv, r));
        }
      });
      await expectTaps(ns, n);
      expectInOrder(portsFile, n);
      return ms;
    }),
  );
}

/** (b) The floor: N kernel TAPs with ONE `ip -batch -`. */
function ipBatch(n: number): Promise<number> {
  return inFreshNetns(`b${n}`, async (ns) => {
    const ms = await timed(() => createTaps(ns, names(n), GROUP));
    await expectTaps(ns, n);
    await deleteGroup(ns, GROUP);
    await expectTaps(ns, 0);
    return ms;
  });
}

/** (c) The simulator's TAP helper making N TAPs, ours' batch per exchange (as the simulator asks). */
function simTaps(n: number): Promise<number> {
  return inFreshNetns(`c${n}`, async (ns) => {
    const helper = new TapHelper(ns);
    try {
      await helper.ready;
      const all = names(n).map((name) => ({ name, mtu: 1500 }));
      const per = typeof OURS_BATCH === "number" ? OURS_BATCH : 1;
      const ms = await timed(async () => {
        for (let i = 0; i < n; i += per) {
          const made = await helper.addMany(all.slice(i, i + per));
          const bad = made.find((m) => m instanceof Error);
          if (bad) throw bad;
        }
      });
      await expectTaps(ns, n);
      return ms;
    } finally {
      await helper.stop();
      const end = Date.now() + 10_000;
      while ((await tapCount(ns)) > 0 && Date.now() < end) await sleep(20);
    }
  });
}

export interface TapsRow {
  n: number;
  oursMs: number;
  leafMs: number;
  oneEachMs: number;
  batchMs: number;
  simTapsMs: number;
}

// NaN: not measured (BENCH_TAPS_A=0).
const f1 = (x: number, w = 9) => (Number.isNaN(x) ? "-" : x.toFixed(1)).padStart(w);
const ratio = (x: number) => (Number.isNaN(x) ? "-" : `${x.toFixed(1)}x`);

export async function benchTaps(): Promise<TapsRow[]> {
  console.log(
    `bench/taps: pool bring-up in order over gNMI (TapPool.start() -> probe() ready; ${OURS_BATCH} ports per ` +
      "SetRequest, one request at a time) vs (a) one gnmi-cli-like process per port and (b) one `ip -batch`; " +
      `strict simulator with the chassis config; medians of ${ROUNDS} (a: 1 run)`,
  );
  console.log(
    "     N |  ours ms | leaf ms | (a) one process/port ms | (b) ip -batch ms | (c) sim's TAPs ms | (a)/ours | ours/(b) | leaf/(b) | (c)/(b) | ours/(c)",
  );
  const rows: TapsRow[] = [];
  console.log(
    `bench/taps: load average at the start ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")} on ${cpus().length} CPUs`,
  );
  try {
    for (const n of SIZES) {
      const ours: number[] = [];
      const leaf: number[] = [];
      const floor: number[] = [];
      const sims: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        // Alternated, so a slow spell of the shared machine does not land on one of them only.
        floor.push(await ipBatch(n));
        sims.push(await simTaps(n));
        ours.push(await pool(n, OURS_BATCH));
        leaf.push(WITH_LEAF ? await pool(n, "leaf") : Number.NaN);
      }
      const a = WITH_A ? await oneEach(n) : Number.NaN;
      const row: TapsRow = {
        n,
        oursMs: median(ours),
        leafMs: median(leaf),
        oneEachMs: a,
        batchMs: median(floor),
        simTapsMs: median(sims),
      };
      rows.push(row);
      console.log(
        `${String(n).padStart(6)} | ${f1(row.oursMs, 8)} | ${f1(row.leafMs, 7)} | ${f1(a, 23)} | ${f1(row.batchMs, 16)} | ` +
          `${f1(row.simTapsMs, 17)} | ${ratio(a / row.oursMs).padStart(8)} | ${ratio(row.oursMs / row.batchMs).padStart(8)} | ` +
          `${ratio(row.leafMs / row.batchMs).padStart(8)} | ${ratio(row.simTapsMs / row.batchMs).padStart(7)} | ` +
          `${ratio(row.oursMs / row.simTapsMs).padStart(8)}`,
      );
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(runScratch, { recursive: true, force: true });
  }
  // Every gNMI bring-up is a ping-pong between processes (client, simulator, its TAP helper), (b) is
  // one process: on a shared machine the ratio to (b) depends on the load, printed with it.
  console.log(
    `bench/taps: load average at the end ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")} on ${cpus().length} CPUs`,
  );
  for (const r of rows) {
    const faster = r.oneEachMs / r.oursMs;
    const floor = r.oursMs / r.batchMs;
    console.log(
      `bench/taps: N=${r.n}: ours ${r.oursMs.toFixed(0)} ms = ${ratio(faster)} faster than one process per port ` +
        `(goal >= 20x: ${Number.isNaN(faster) ? "not measured" : faster >= 20 ? "met" : "MISSED"}), ${ratio(floor)} the ip -batch floor ` +
        `(goal <= 2x: ${floor <= 2 ? "met" : "MISSED"}); the simulator's own TAP making alone is ` +
        `${ratio(r.simTapsMs / r.batchMs)} (b), ours is ${ratio(r.oursMs / r.simTapsMs)} of it`,
    );
  }
  return rows;
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
