/**
 * bench/ovs-probe: the OVS readiness/health probes as JSON-RPC on db.sock (daemon/host/ovsdb-probes.ts)
 * against the ovs-vsctl call each replaces, measured in the same run against a real ovsdb-server and
 * ovs-vswitchd in a scratch directory, alternated round by round:
 *   ovsdb-server: `ovs-vsctl --no-wait --timeout=2 init`      vs ovsdbInit
 *   ovs-vswitchd: waiting `ovs-vsctl --timeout=5 set ... `    vs ovsdbApplied
 * Wall time per probe, and the daemon's main-thread time per probe (event-loop utilisation's active
 * time: what a fork blocks). Done twice: at the bench's own RSS, and with 40 MB of ballast touched so
 * the process is about the daemon's size (a fork's cost grows with RSS; issue 13).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { runCommand } from "../daemon/host/command";
import { ovsdbApplied, ovsdbInit } from "../daemon/host/ovsdb-probes";
import { sleep } from "../test/helpers/daemon";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Wall ms and main-thread (event-loop active) ms of one call; throws when the probe says not ready. */
async function timed(fn: () => Promise<boolean>): Promise<{ wall: number; main: number }> {
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const ok = await fn();
  const wall = performance.now() - t0;
  const main = performance.eventLoopUtilization(elu0).active;
  if (!ok) throw new Error("bench/ovs-probe: a probe said not ready");
  return { wall, main };
}

export async function benchOvsProbe(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-ovs-probe-"));
  const sock = join(dir, "db.sock");
  const env = { ...process.env, OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir };
  const db0 = await runCommand(
    ["/usr/bin/ovsdb-tool", "create", join(dir, "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"],
    { timeoutMs: 10000 },
  );
  if (db0.code !== 0) throw new Error(`ovsdb-tool create: ${db0.stderr}`);
  const db = spawn(
    "/usr/sbin/ovsdb-server",
    [join(dir, "conf.db"), `--remote=punix:${sock}`, `--pidfile=${dir}/db.pid`, `--log-file=${dir}/db.log`],
    { env, stdio: "ignore" },
  );
  const vs = spawn(
    "/usr/sbin/ovs-vswitchd",
    [`unix:${sock}`, `--pidfile=${dir}/vs.pid`, "--no-chdir", `--log-file=${dir}/vs.log`],
    { env, stdio: "ignore" },
  );
  try {
    while (!existsSync(sock)) await sleep(10);
    if (!(await ovsdbInit(sock, 2000)).ok) throw new Error("ovsdb-server did not answer");
    while (!(await ovsdbApplied(sock, 5000)).ok) await sleep(10);

    const vsctl = (args: string[]) => async () =>
      (await runCommand(["/usr/bin/ovs-vsctl", `--db=unix:${sock}`, ...args], { timeoutMs: 10000, env }))
        .code === 0;
    const probes: Array<[string, () => Promise<boolean>, () => Promise<boolean>]> = [
      [
        "ovsdb-server",
        vsctl(["--no-wait", "--timeout=2", "init"]),
        async () => (await ovsdbInit(sock, 2000)).ok,
      ],
      [
        "ovs-vswitchd",
        () => vsctl(["--timeout=5", "set", "Open_vSwitch", ".", `external_ids:bench=${Date.now()}`])(),
        async () => (await ovsdbApplied(sock, 5000)).ok,
      ],
    ];
    let ballast: Buffer | null = null;
    for (const size of ["own", "ballast"] as const) {
      if (size === "ballast") ballast = Buffer.alloc(40 << 20, 1); // touched: resident
      const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
      for (const [name, old, rpc] of probes) {
        const o = { wall: [] as number[], main: [] as number[] };
        const r = { wall: [] as number[], main: [] as number[] };
        for (let i = 0; i < ROUNDS; i++) {
          // Alternated order: neither always runs first.
          const pair = i % 2 === 0 ? [old, rpc] : [rpc, old];
          for (const fn of pair) {
            const t = await timed(fn);
            const into = fn === old ? o : r;
            into.wall.push(t.wall);
            into.main.push(t.main);
          }
        }
        const [ow, om, rw, rm] = [median(o.wall), median(o.main), median(r.wall), median(r.main)];
        console.log(
          `ovs-probe ${name} (RSS ${rss} MB, ${ROUNDS} rounds, medians): ovs-vsctl ${ow.toFixed(2)} ms wall / ` +
            `${om.toFixed(2)} ms main thread; JSON-RPC ${rw.toFixed(2)} ms wall / ${rm.toFixed(2)} ms main thread; ` +
            `ratio wall ${(rw / ow).toFixed(3)}x, main thread ${(rm / om).toFixed(3)}x`,
        );
      }
    }
    if (ballast) ballast[0] = 0;
  } finally {
    for (const p of [vs, db]) p.kill("SIGKILL");
    await sleep(50);
    rmSync(dir, { recursive: true, force: true });
  }
}
