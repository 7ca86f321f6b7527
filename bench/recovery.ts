/**
 * bench/recovery: SIGKILL ovs-vswitchd → ready again, under the daemon, against a shell loop that
 * restarts the same command (`while :; do ovs-vswitchd ...; done`) plus the same readiness wait,
 * measured in the same run. Goal: the daemon within 2x of the loop.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import type { NodeStatus } from "../daemon/engine/component";
import { procCmdline } from "../daemon/host/proc";
import { daemonFixture, sleep } from "../test/helpers/daemon";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Waiting write: returns once a vswitchd has applied the database. */
function vswitchdApplied(dbSock: string): boolean {
  return (
    spawnSync("/usr/bin/ovs-vsctl", [
      `--db=unix:${dbSock}`,
      "--timeout=5",
      "set",
      "Open_vSwitch",
      ".",
      `external_ids:b=${Date.now()}`,
    ]).status === 0
  );
}

function childPidOf(parent: number): number | null {
  const r = spawnSync("pgrep", ["-P", String(parent)], { encoding: "utf8" });
  const pid = Number(r.stdout.trim().split("\n")[0]);
  return pid > 0 && procCmdline(pid)?.[0] === "/usr/sbin/ovs-vswitchd" ? pid : null;
}

export async function benchRecovery(): Promise<number> {
  const f = await daemonFixture();
  let loop: ChildProcess | null = null;
  try {
    const d = f.start();
    const dbSock = join(f.dir, "ovs/run/db.sock");
    const ours: number[] = [];
    let s = await d.until<NodeStatus>("/v1/status", (st) => st.phase === "ready");
    for (let i = 0; i < ROUNDS; i++) {
      const v = s.components.find((c) => c.name === "ovs-vswitchd");
      const pid = v?.pid as number;
      const t0 = performance.now();
      process.kill(pid, "SIGKILL");
      await f.notify.waitFor((m) => m.fields.READY === "1" && m.at > t0 + performance.timeOrigin, 30000);
      ours.push(performance.now() - t0);
      s = (await d.http("GET", "/v1/status")).body as NodeStatus;
      await sleep(200);
    }
    // The reference: the same vswitchd command under a shell loop, against the same ovsdb-server.
    const argv = (await d.http("GET", "/v1/components/ovs-vswitchd")).body as { pid: number };
    const cmd = procCmdline(argv.pid) as string[];
    const env = { ...process.env, OVS_RUNDIR: join(f.dir, "ovs/run") };
    process.kill(argv.pid, "SIGSTOP"); // keep the daemon's own vswitchd out of the way, not dead
    const refArgv = cmd.map((a) => a.replace(/ovs-vswitchd\.(pid|ctl|log)$/, "bench-vswitchd.$1"));
    loop = spawn("bash", ["-c", 'while :; do "$@"; done', "loop", ...refArgv], { env, stdio: "ignore" });
    const refs: number[] = [];
    await sleep(500);
    for (let i = 0; i < ROUNDS; i++) {
      let child = childPidOf(loop.pid as number);
      for (let k = 0; child === null && k < 100; k++) {
        await sleep(20);
        child = childPidOf(loop.pid as number);
      }
      if (child === null) throw new Error("shell loop has no ovs-vswitchd child");
      vswitchdApplied(dbSock);
      const t0 = performance.now();
      process.kill(child, "SIGKILL");
      while (childPidOf(loop.pid as number) === child) await sleep(1);
      while (!vswitchdApplied(dbSock)) await sleep(1);
      refs.push(performance.now() - t0);
      await sleep(200);
    }
    loop.kill("SIGKILL");
    const c = childPidOf(loop.pid as number);
    if (c) process.kill(c, "SIGKILL");
    process.kill(argv.pid, "SIGCONT");
    const ratio = median(ours) / median(refs);
    console.log(
      `bench/recovery: SIGKILL ovs-vswitchd -> READY=1 median ${median(ours).toFixed(0)} ms under the daemon, ` +
        `${median(refs).toFixed(0)} ms for a shell loop + readiness wait (${ROUNDS} rounds each), ratio ${ratio.toFixed(2)} (goal <= 2)`,
    );
    return ratio;
  } finally {
    loop?.kill("SIGKILL");
    await f.cleanup();
  }
}

if (require.main === module) void benchRecovery();
