/**
 * The daemon at rest (bench/api's setting: a datapath namespace, kernel TAPs, no simulator): its
 * health and reconcile passes read through the namespace's long-lived ip reader and start no
 * process (a fork blocks the daemon's event loop, and an API answer waits behind it); the reader
 * ends with the daemon; start-up's garbage is collected once, after the node is first ready.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { after, test } from "node:test";
import type { NodeStatus } from "../../daemon/engine/component";
import { benchCoreConfig, daemonFixture, sleep } from "../helpers/daemon";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
after(async () => {
  for (const f of fixtures) await f.cleanup();
});

/** pid and argv of every process whose parent is `ppid` (this test's pid namespace). */
function childrenOf(ppid: number): Array<{ pid: number; argv: string[] }> {
  return readdirSync("/proc").flatMap((d) => {
    if (!/^\d+$/.test(d)) return [];
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent !== ppid) return [];
      const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").filter(Boolean);
      return [{ pid: Number(d), argv }];
    } catch {
      return []; // gone meanwhile
    }
  });
}

/** Not running: no such process, or a zombie nobody reaped yet. */
function ended(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/**
 * Every program the process `pid` (and anything it starts) executes while fn runs: `strace -f -e
 * trace=execve` attached to it (threads never execve; a started process does).
 */
async function execsDuring(pid: number, fn: () => Promise<void>): Promise<string[]> {
  const st = spawn("strace", ["-f", "-e", "trace=execve", "-e", "signal=none", "-p", String(pid)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  st.stderr.setEncoding("utf8");
  const attached = new Promise<void>((resolve, reject) => {
    st.stderr.on("data", (d: string) => {
      err += d;
      if (/Process \d+ attached/.test(err)) resolve();
    });
    st.once("exit", (code) => reject(new Error(`strace exited (${code}) before attaching: ${err}`)));
  });
  await attached;
  try {
    await fn();
  } finally {
    const exited = new Promise((r) => st.once("exit", r));
    st.kill("SIGINT");
    await exited;
  }
  return err.split("\n").filter((l) => l.includes("execve("));
}

test("at rest: no process per health pass, one ip reader that ends with the daemon; start-up garbage collected once", async () => {
  const f = await daemonFixture(benchCoreConfig);
  fixtures.push(f);
  const d = f.start();
  await d.until<NodeStatus>("/v1/status", (s) => s.phase === "ready", 60_000);
  const ns = `offloadd-${f.port}`;
  const reader = ["ip", "-n", ns, "-j", "-d", "-force", "-batch", "-"];
  const readers = () => childrenOf(d.pid).filter((c) => c.argv.join(" ") === reader.join(" "));
  await d.until("/v1/status", () => readers().length === 1);
  const pid = readers()[0]?.pid as number;

  // Three health and reconcile passes (supervisor.healthIntervalMs, 2 s): not one program run.
  const execs = await execsDuring(d.pid, () => sleep(6500));
  assert.deepEqual(execs, [], "no process was started while the daemon idled");
  assert.deepEqual(
    readers().map((r) => r.pid),
    [pid],
    "the same reader answered every pass",
  );
  assert.equal(((await d.http("GET", "/v1/status")).body as NodeStatus).phase, "ready");

  // pino writes one JSON line per entry on stdout.
  const collected = d.stdout.split("\n").filter((l) => l.includes('"msg":"start-up garbage collected"'));
  assert.equal(collected.length, 1, d.stdout.slice(-2000));

  await d.stop();
  // Ended by the daemon before it exited (SIGKILL): gone, or a zombie its new parent has not reaped.
  const deadline = Date.now() + 20_000;
  while (!ended(pid) && Date.now() < deadline) await sleep(50);
  assert.ok(ended(pid), "the reader ended with the daemon");
});
