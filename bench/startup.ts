/**
 * bench/startup: daemon spawn → READY=1 (the bundle, as shipped), against its references measured in
 * the same run: the children's own readiness (the same ovsdb-server and ovs-vswitchd commands started
 * by hand and probed the same way) and the runtime's own start (`node -e 0`). The daemon's own share
 * is spawn → READY=1 minus the children's readiness; of it, node -e 0 is what no daemon can save.
 * Goal: own share <= 200 ms.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import type { NodeStatus } from "../daemon/engine/component";
import { ovsdbApplied, ovsdbInit } from "../daemon/host/ovsdb-probes";
import { procCmdline } from "../daemon/host/proc";
import { benchCoreConfig, daemonFixture, sleep } from "../test/helpers/daemon";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function exited(p: ChildProcess): Promise<void> {
  return new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once("exit", () => r())));
}

export async function benchStartup(): Promise<number> {
  const f = await daemonFixture(benchCoreConfig);
  try {
    // Learn the exact child commands from a first run (which also creates the database).
    const first = f.start();
    const s = await first.until<NodeStatus>("/v1/status", (st) => st.phase === "ready");
    const argvOf = (n: string) =>
      procCmdline(s.components.find((c) => c.name === n)?.pid as number) as string[];
    const dbArgv = argvOf("ovsdb-server");
    const vsArgv = argvOf("ovs-vswitchd");
    await first.stop();
    const dbSock = join(f.dir, "ovs/run/db.sock");
    const env = { ...process.env, OVS_RUNDIR: join(f.dir, "ovs/run") };

    const byHand: number[] = [];
    const daemon: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const tn = performance.now();
      spawnSync(process.execPath, ["-e", "0"]);
      bare.push(performance.now() - tn);
      let t0 = performance.now();
      const db = spawn(dbArgv[0] as string, dbArgv.slice(1), { env, stdio: "ignore" });
      // Probed the same way as the daemon does: OVSDB JSON-RPC on db.sock (host/ovsdb-probes.ts).
      while (!(await ovsdbInit(dbSock, 2000)).ok) await sleep(10);
      const vs = spawn(vsArgv[0] as string, vsArgv.slice(1), { env, stdio: "ignore" });
      while (!(await ovsdbApplied(dbSock, 10000)).ok) await sleep(10);
      byHand.push(performance.now() - t0);
      vs.kill("SIGTERM");
      db.kill("SIGTERM");
      await Promise.all([exited(vs), exited(db)]);

      t0 = performance.now();
      const since = Date.now();
      const d = f.start();
      await f.notify.waitFor((m) => m.fields.READY === "1" && m.at >= since, 30000);
      daemon.push(performance.now() - t0);
      await d.stop();
    }
    const share = median(daemon) - median(byHand);
    const floor = median(bare);
    console.log(
      `bench/startup: spawn -> READY=1 median ${median(daemon).toFixed(0)} ms; children's own readiness by hand ` +
        `${median(byHand).toFixed(0)} ms; node -e 0 ${floor.toFixed(0)} ms; daemon's own share ${share.toFixed(0)} ms ` +
        `(goal <= 200 ms), of which beyond node -e 0 ${(share - floor).toFixed(0)} ms; ratio to children + node -e 0 ` +
        `${(median(daemon) / (median(byHand) + floor)).toFixed(2)} (${ROUNDS} rounds)`,
    );
    return share;
  } finally {
    await f.cleanup();
  }
}

if (require.main === module) void benchStartup();
