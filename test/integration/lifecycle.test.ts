/**
 * The daemon's own life, as a real process with real Open vSwitch children inside the test namespace:
 * one instance per state directory, the API port bound before anything starts, signals at any moment
 * of the bring-up, and a state disk that fills up.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { parse, stringify } from "yaml";
import type { NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { isAlive, procCmdline } from "../../daemon/host/proc";
import { DaemonProcess, daemonFixture, sleep } from "../helpers/daemon";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
after(async () => {
  for (const f of fixtures) await f.cleanup();
});
async function fixture(overrides = {}): Promise<Fixture> {
  const f = await daemonFixture(overrides);
  fixtures.push(f);
  return f;
}

const isReady = (s: NodeStatus) => s.phase === "ready";
const pidsOf = (s: NodeStatus) => s.components.filter((c) => c.pid !== null).map((c) => c.pid as number);

/**
 * Processes this fixture's daemon may have started: any whose command line names the fixture's
 * directory (Open vSwitch) or its P4 target's ports (the simulator). The daemon itself excluded.
 */
function leftovers(f: Fixture, daemonPid: number): string[] {
  const cfg = parse(readFileSync(f.configFile, "utf8")) as { target: { gnmi: string; p4runtime: string } };
  const marks = [f.dir, cfg.target.gnmi, cfg.target.p4runtime];
  const out: string[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === daemonPid || Number(e) === process.pid) continue;
    const cmd = procCmdline(Number(e));
    if (!cmd || !isAlive(Number(e))) continue;
    const line = cmd.join(" ");
    if (marks.some((m) => line.includes(m))) out.push(`${e}: ${line}`);
  }
  return out;
}

const netnsOf = (f: Fixture) => `/run/netns/offloadd-${f.port}`;

/** mulberry32: a small seeded PRNG, so a failing trial can be replayed with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function events(d: DaemonProcess): Promise<NodeEvent[]> {
  return ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events;
}

describe("one instance", () => {
  test("a second daemon on the same state directory exits 1 naming the holder's pid; the first's children are untouched", async () => {
    const f = await fixture();
    const d1 = f.start();
    const s1 = await d1.until<NodeStatus>("/v1/status", isReady);
    const lastBefore = (await events(d1)).at(-1)?.id;
    const d2 = new DaemonProcess(f.configFile, f.port, null);
    const { code } = await d2.exited;
    assert.equal(code, 1);
    assert.match(
      d2.stderr,
      new RegExp(`another k8s-offloadd \\(pid ${d1.pid}\\) holds .*/state/daemon\\.lock`),
    );
    assert.match(d2.stderr, /nothing was started/);
    d2.assertNoCrash();
    const s2 = await d1.until<NodeStatus>("/v1/status", isReady);
    assert.deepEqual(pidsOf(s2), pidsOf(s1), "the same children run");
    assert.ok(pidsOf(s1).every(isAlive));
    const after = (await events(d1)).filter((e) => e.id > (lastBefore ?? 0));
    assert.deepEqual(after, [], "the second daemon wrote nothing to the state database");
  });

  test("the API port taken: exit 1 naming it, before any child is touched; nothing recorded", async () => {
    const f = await fixture();
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(f.port, "127.0.0.1", r));
    try {
      const d = f.start();
      const { code } = await d.exited;
      assert.equal(code, 1);
      assert.match(d.stderr, new RegExp(`cannot serve the API on 127\\.0\\.0\\.1:${f.port}: .*EADDRINUSE`));
      d.assertNoCrash();
      assert.ok(!existsSync(join(f.dir, "ovs/run/db.sock")), "ovsdb-server never started");
      assert.ok(!existsSync(join(f.dir, "ovs/conf.db")), "not even its database was made");
      assert.ok(!existsSync(netnsOf(f)), "no namespace made");
      assert.deepEqual(leftovers(f, d.pid), []);
      const db = new Database(join(f.dir, "state/state.db"), { readonly: true });
      try {
        assert.equal(db.prepare("SELECT COUNT(*) FROM children").pluck().get(), 0, "no child recorded");
        assert.equal(db.prepare("SELECT COUNT(*) FROM events").pluck().get(), 0, "no event");
      } finally {
        db.close();
      }
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
    // The lock went with the refused daemon: the port free again, the next one starts.
    const d2 = f.start();
    await d2.until<NodeStatus>("/v1/status", isReady);
  });

  test("the API answers while starting: /v1/ready 503 and no READY=1 until every component is ready", async () => {
    // ovs-vswitchd that runs but never applies its configuration: the bring-up waits on it.
    const silent = join(await scratchScript(), "silent-vswitchd");
    const f = await fixture({ ovs: { ovsVswitchd: silent }, supervisor: { readyTimeoutMs: 4000 } });
    const d = f.start();
    const s = await d.until<NodeStatus>(
      "/v1/status",
      (x) => x.components.find((c) => c.name === "ovs-vswitchd")?.state === "starting",
    );
    assert.equal(s.phase, "starting");
    assert.equal(s.components.find((c) => c.name === "ovsdb-server")?.state, "ready");
    const r = await d.http("GET", "/v1/ready");
    assert.equal(r.status, 503);
    assert.equal((r.body as { phase: string }).phase, "starting");
    assert.match((r.body as { reason: string }).reason, /ovs-vswitchd starting/);
    assert.ok(!f.notify.messages.some((m) => m.fields.READY === "1"), "no READY=1 while starting");
  });
});

let scriptDir: string | null = null;
async function scratchScript(): Promise<string> {
  if (scriptDir) return scriptDir;
  const f = await fixture();
  scriptDir = join(f.dir, "bin");
  mkdirSync(scriptDir, { recursive: true });
  const file = join(scriptDir, "silent-vswitchd");
  const fd = openSync(file, "w", 0o755);
  writeSync(fd, "#!/bin/sh\nexec sleep 1000\n");
  closeSync(fd);
  return scriptDir;
}

describe("no orphans", () => {
  test("a config change with the old child alive: it is stopped and started with the new command line", async () => {
    const f = await fixture();
    const d1 = f.start();
    const s1 = await d1.until<NodeStatus>("/v1/status", isReady);
    const pidOf = (s: NodeStatus, n: string) => s.components.find((c) => c.name === n)?.pid as number;
    const oldVswitchd = pidOf(s1, "ovs-vswitchd");
    d1.proc.kill("SIGKILL");
    await d1.exited;
    // The admin changes ovs-vswitchd's arguments while no daemon runs.
    const cfg = parse(readFileSync(f.configFile, "utf8")) as { ovs: { vswitchdExtraArgs: string[] } };
    cfg.ovs.vswitchdExtraArgs = ["-vconsole:off"];
    const fd = openSync(f.configFile, "w");
    writeSync(fd, stringify(cfg));
    closeSync(fd);
    const d2 = f.start();
    const s2 = await d2.until<NodeStatus>("/v1/status", isReady);
    const pid = pidOf(s2, "ovs-vswitchd");
    assert.notEqual(pid, oldVswitchd);
    assert.ok(!isAlive(oldVswitchd), "the old ovs-vswitchd is gone, not left next to the new one");
    assert.ok(procCmdline(pid)?.includes("-vconsole:off"), "the new one runs the new command line");
    assert.equal(pidOf(s2, "ovsdb-server"), pidOf(s1, "ovsdb-server"), "unchanged ones are adopted");
    const ev = (await events(d2)).find(
      (e) => e.component === "ovs-vswitchd" && /command line changed/.test(e.message),
    );
    assert.match(ev?.message ?? "", new RegExp(`pid ${oldVswitchd} .*stopping it to start .*-vconsole:off`));
    assert.equal(
      leftovers(f, d2.pid).filter((l) => l.includes("ovs-vswitchd")).length,
      1,
      "one ovs-vswitchd",
    );
  });
});

describe("signals", () => {
  test("SIGINT at random moments of the bring-up leaves no process and no netns", async () => {
    const seed = Number(process.env.SIGINT_SEED ?? Date.now() % 2 ** 31);
    const trials = Number(process.env.SIGINT_TRIALS ?? 6);
    console.log(`# SIGINT during bring-up: seed ${seed}, ${trials} trials (replay: SIGINT_SEED=${seed})`);
    const rand = prng(seed);
    // How long a bring-up takes here, measured now: the random moments fall within it.
    const f0 = await fixture();
    const t0 = Date.now();
    const d0 = f0.start();
    await d0.until<NodeStatus>("/v1/status", isReady);
    const bringUpMs = Date.now() - t0;
    await d0.stop();
    for (let i = 0; i < trials; i++) {
      const at = Math.floor(rand() * bringUpMs);
      const f = await fixture();
      const d = f.start();
      await sleep(at);
      d.proc.kill("SIGINT");
      const { code, signal } = await d.exited;
      const where = `trial ${i} (seed ${seed}): SIGINT ${at} ms after start (bring-up ${bringUpMs} ms)`;
      console.log(`# ${where}: exit ${code ?? signal}`);
      // Killed by the signal itself only before main's first line ran, when nothing can have started.
      assert.ok(code === 0 || signal === "SIGINT", `${where}: exit ${code ?? signal}\n${d.stderr}`);
      d.assertNoCrash();
      assert.deepEqual(leftovers(f, d.pid), [], `${where}: no process left`);
      assert.ok(!existsSync(netnsOf(f)), `${where}: no netns left`);
    }
  });

  test("a second signal exits at once, saying what it left running; the next daemon adopts it", async () => {
    const f = await fixture();
    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", (x) =>
      x.components.some((c) => c.name === "ovsdb-server" && c.pid !== null),
    );
    const db = s.components.find((c) => c.name === "ovsdb-server")?.pid as number;
    d.proc.kill("SIGINT");
    // Two signals sent at once may arrive as one: the second goes once the stop has begun.
    while (!/"msg":"shutting down"/.test(d.stdout)) await sleep(10);
    d.proc.kill("SIGINT");
    const { code } = await d.exited;
    assert.equal(code, 1);
    assert.match(
      d.stderr,
      new RegExp(
        `second signal \\(SIGINT\\) while stopping: exiting now; left running: .*ovsdb-server \\(pid ${db}\\)`,
      ),
    );
    assert.match(d.stderr, new RegExp(`network namespace offloadd-${f.port}`));
    d.assertNoCrash();
    assert.ok(isAlive(db), "what it said it left is running");
    const d2 = f.start();
    const s2 = await d2.until<NodeStatus>("/v1/status", isReady);
    assert.equal(s2.components.find((c) => c.name === "ovsdb-server")?.pid, db, "adopted");
    await d2.stop();
    assert.equal((await d2.exited).code, 0);
    assert.deepEqual(leftovers(f, d2.pid), []);
  });
});

describe("errors that end the daemon", () => {
  test("an unhandled rejection: said on stderr, exit 1, the children left to the next daemon; the fixtures' check catches it", async () => {
    const f = await fixture();
    // Preloaded into the daemon's process: a promise rejected with no handler, when the test says.
    const inject = join(f.dir, "reject-on-usr2.js");
    const fd = openSync(inject, "w");
    writeSync(fd, 'process.on("SIGUSR2", () => { Promise.reject(new Error("injected by the test")); });\n');
    closeSync(fd);
    const d = new DaemonProcess(f.configFile, f.port, null, { NODE_OPTIONS: `--require ${inject}` });
    const s = await d.until<NodeStatus>("/v1/status", isReady);
    d.proc.kill("SIGUSR2");
    const { code } = await d.exited;
    assert.equal(code, 1);
    assert.match(d.stderr, /k8s-offloadd: unhandled rejection: Error: injected by the test/);
    assert.match(
      d.stderr,
      /stopping with exit 1; left running for the next daemon: .*ovsdb-server \(pid \d+\)/,
    );
    assert.throws(
      () => d.assertNoCrash(),
      /had an unhandled rejection/,
      "every fixture's cleanup fails on it",
    );
    assert.ok(pidsOf(s).every(isAlive), "the children still run");
    const d2 = f.start();
    assert.deepEqual(pidsOf(await d2.until<NodeStatus>("/v1/status", isReady)), pidsOf(s), "adopted");
  });

  test("a filling state disk: exit 1 naming the file and the error; the children are left to the next daemon", async () => {
    const f = await fixture({ api: { rateLimit: 100000 } });
    const stateDir = join(f.dir, "state");
    mkdirSync(stateDir, { mode: 0o700 });
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", stateDir], {
      encoding: "utf8",
    });
    assert.equal(m.status, 0, m.stderr);
    try {
      const d = f.start();
      const s = await d.until<NodeStatus>("/v1/status", isReady);
      const pids = pidsOf(s);
      // Fill the disk to the last byte.
      const filler = join(stateDir, "filler");
      const fd = openSync(filler, "w");
      const chunk = Buffer.alloc(64 * 1024);
      let size = chunk.length;
      for (;;) {
        try {
          writeSync(fd, chunk, 0, size);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
          if (size === 1) break;
          size = Math.max(1, Math.floor(size / 2));
        }
      }
      closeSync(fd);
      // A restart by hand of the ARP proxy (kernel mode: a sysctl, no process) is recorded as an
      // event before anything else: that write finds the disk full. Repeated in case a write still
      // fitted in the last page of the -wal file.
      for (let i = 0; i < 50 && d.proc.exitCode === null; i++) {
        await d
          .http("POST", "/v1/components/arp-proxy/restart", undefined, { timeoutMs: 10000 })
          .catch(() => undefined);
      }
      const { code } = await d.exited;
      assert.equal(code, 1);
      const file = join(stateDir, "state.db");
      assert.match(
        d.stderr,
        new RegExp(`state database ${file}: \\w+ failed: database or disk is full \\(SQLITE_FULL\\)`),
      );
      assert.match(
        d.stderr,
        /stopping with exit 1; left running for the next daemon: .*ovs-vswitchd \(pid \d+\)/,
      );
      d.assertNoCrash();
      assert.ok(pids.every(isAlive), "the children still run");
      // Space again: the next daemon adopts them, same pids.
      rmSync(filler);
      const d2 = f.start();
      const s2 = await d2.until<NodeStatus>("/v1/status", isReady);
      assert.deepEqual(pidsOf(s2), pids);
      await d2.stop();
    } finally {
      spawnSync("umount", ["-l", stateDir]);
    }
  });
});
