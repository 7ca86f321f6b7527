/**
 * bench/recovery: SIGKILL ovs-vswitchd → ready again under the daemon (READY=1 received), against a
 * shell loop that restarts the same command (`while :; do ovs-vswitchd ...; done`) plus the same
 * readiness wait (a waiting ovs-vsctl write), measured in the same run. Goal: within 2x of the loop.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeStatus } from "../daemon/engine/component";
import { procCmdline } from "../daemon/host/proc";
import { benchCoreConfig, daemonFixture, sleep } from "../test/helpers/daemon";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Waiting write: returns once a vswitchd has applied the database. */
function vswitchdApplied(dbSock: string): boolean {
  const args = [
    `--db=unix:${dbSock}`,
    "--timeout=5",
    "set",
    "Open_vSwitch",
    ".",
    `external_ids:b=${Date.now()}`,
  ];
  return spawnSync("/usr/bin/ovs-vsctl", args).status === 0;
}

function childOf(pid: number): number | null {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return kids ? Number(kids.split(" ")[0]) : null;
  } catch {
    return null;
  }
}

async function until<T>(f: () => T | null | false, what: string, ms = 20000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`bench/recovery: timed out waiting for ${what}`);
    await sleep(1);
  }
}

export async function benchRecovery(): Promise<number> {
  // A vswitchd that had run stably (1 s here, 10 s by default) is restarted at once: the case measured
  // is an occasional crash, not a crash loop (whose backoff is the point of backoff).
  const f = await daemonFixture({ ...benchCoreConfig, supervisor: { stableAfterMs: 1000 } });
  const procs: ChildProcess[] = [];
  try {
    const dbSock = join(f.dir, "ovs/run/db.sock");
    const d = f.start();
    let s = await d.until<NodeStatus>("/v1/status", (st) => st.phase === "ready");
    const argvOf = (n: string) =>
      procCmdline(s.components.find((c) => c.name === n)?.pid as number) as string[];
    const dbArgv = argvOf("ovsdb-server");
    const vsArgv = argvOf("ovs-vswitchd");
    const ours: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const pid = s.components.find((c) => c.name === "ovs-vswitchd")?.pid as number;
      const since = Date.now();
      const t0 = performance.now();
      process.kill(pid, "SIGKILL");
      await f.notify.waitFor((m) => m.fields.READY === "1" && m.at >= since, 30000);
      ours.push(performance.now() - t0);
      s = (await d.http("GET", "/v1/status")).body as NodeStatus;
      await sleep(1100);
    }
    await d.stop(); // stopOnExit: the daemon's children go too

    // The reference: the same two commands by hand, vswitchd under a shell loop.
    const env = { ...process.env, OVS_RUNDIR: join(f.dir, "ovs/run") };
    procs.push(spawn(dbArgv[0] as string, dbArgv.slice(1), { env, stdio: "ignore" }));
    await until(
      () =>
        spawnSync("/usr/bin/ovs-vsctl", [`--db=unix:${dbSock}`, "--no-wait", "--timeout=1", "init"])
          .status === 0,
      "ovsdb-server",
    );
    const loop = spawn("bash", ["-c", 'while :; do "$@"; done', "loop", ...vsArgv], { env, stdio: "ignore" });
    procs.push(loop);
    const refs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const child = await until(() => childOf(loop.pid as number), "the loop's vswitchd");
      await until(() => vswitchdApplied(dbSock), "vswitchd ready");
      await sleep(200);
      const t0 = performance.now();
      process.kill(child, "SIGKILL");
      await until(() => {
        const c = childOf(loop.pid as number);
        return c !== null && c !== child;
      }, "the loop to restart vswitchd");
      await until(() => vswitchdApplied(dbSock), "vswitchd ready again");
      refs.push(performance.now() - t0);
    }
    const ratio = median(ours) / median(refs);
    console.log(
      `bench/recovery: SIGKILL ovs-vswitchd -> ready: daemon median ${median(ours).toFixed(0)} ms (to READY=1), ` +
        `shell loop + readiness wait ${median(refs).toFixed(0)} ms, ${ROUNDS} rounds each, ratio ${ratio.toFixed(2)} (goal <= 2)`,
    );
    return ratio;
  } finally {
    for (const p of procs) {
      const c = p.pid ? childOf(p.pid) : null;
      p.kill("SIGKILL");
      if (c) process.kill(c, "SIGKILL");
    }
    await f.cleanup();
  }
}

if (require.main === module) void benchRecovery();
