/**
 * The daemon as a real process, supervising Debian's real ovsdb-server and ovs-vswitchd, inside the
 * test namespace (scripts/test.sh). systemd is played by a real unix datagram receiver.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import type { NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { isAlive } from "../../daemon/host/proc";
import { DaemonProcess, daemonFixture, scratchDir } from "../helpers/daemon";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
const scratch = scratchDir();
after(async () => {
  for (const f of fixtures) await f.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});
async function fixture(overrides = {}): Promise<Fixture> {
  const f = await daemonFixture(overrides);
  fixtures.push(f);
  return f;
}

const isReady = (s: NodeStatus) => s.phase === "ready";
const byName = (s: NodeStatus, n: string) => s.components.find((c) => c.name === n);
/** The supervised processes (preflight and hugepages are components without one). */
const children = (s: NodeStatus) => s.components.filter((c) => c.pid !== null);

function vswitchdAnswers(dir: string): boolean {
  const r = spawnSync(
    "/usr/bin/ovs-vsctl",
    [
      `--db=unix:${join(dir, "ovs/run/db.sock")}`,
      "--timeout=3",
      "set",
      "Open_vSwitch",
      ".",
      "external_ids:t=1",
    ],
    { encoding: "utf8" },
  );
  return r.status === 0;
}

async function events(d: {
  http: (m: string, p: string) => Promise<{ body: unknown }>;
}): Promise<NodeEvent[]> {
  const r = await d.http("GET", "/v1/events?limit=1000");
  return (r.body as { events: NodeEvent[] }).events;
}

describe("daemon with real Open vSwitch", () => {
  test("READY=1 only once ovsdb-server and ovs-vswitchd are ready; status lists live pids", async () => {
    const f = await fixture();
    const d = f.start();
    const ready = await f.notify.waitFor((m) => m.fields.READY === "1", 30000);
    // At the moment systemd hears READY=1, vswitchd applies a waiting write.
    assert.ok(vswitchdAnswers(f.dir), "ovs-vswitchd answers a waiting write when READY=1 arrives");
    const before = f.notify.messages.slice(0, f.notify.messages.indexOf(ready));
    assert.ok(
      before.some((m) => m.fields.STATUS?.startsWith("starting")),
      "STATUS= said starting first",
    );
    const s = await d.until<NodeStatus>("/v1/status", isReady);
    for (const name of ["ovsdb-server", "ovs-vswitchd"]) {
      const c = byName(s, name);
      assert.equal(c?.state, "ready");
      assert.ok(c?.pid && isAlive(c.pid), `${name} pid ${c?.pid} is alive in /proc`);
      const environ = readFileSync(`/proc/${c.pid}/environ`, "utf8").split("\0");
      assert.ok(!environ.some((v) => /^(NOTIFY_SOCKET|WATCHDOG_|LISTEN_)/.test(v)), `${name} env scrubbed`);
    }
    const evs = await events(d);
    const readyAt = (n: string) => evs.find((e) => e.component === n && e.kind === "ready")?.id ?? -1;
    assert.ok(readyAt("ovsdb-server") > 0 && readyAt("ovsdb-server") < readyAt("ovs-vswitchd"));
  });

  test("SIGKILL ovs-vswitchd: restarted, restarts=1, event names the signal, degraded then ready", async () => {
    const f = await fixture();
    const d = f.start();
    const s0 = await d.until<NodeStatus>("/v1/status", isReady);
    const pid0 = byName(s0, "ovs-vswitchd")?.pid as number;
    process.kill(pid0, "SIGKILL");
    await f.notify.waitFor((m) => /^degraded/.test(m.fields.STATUS ?? ""), 10000);
    const s1 = await d.until<NodeStatus>(
      "/v1/status",
      (s) => isReady(s) && byName(s, "ovs-vswitchd")?.pid !== pid0,
    );
    const v = byName(s1, "ovs-vswitchd");
    assert.equal(v?.restarts, 1);
    assert.ok(v?.pid && isAlive(v.pid));
    assert.ok(vswitchdAnswers(f.dir));
    const exit = (await events(d)).find((e) => e.component === "ovs-vswitchd" && e.kind === "exit");
    assert.match(exit?.message ?? "", /SIGKILL/);
    const last = f.notify.messages.at(-1);
    assert.match(last?.fields.STATUS ?? "", /^ready/);
  });

  test("SIGKILL the daemon: the next one adopts the running children with the same pids", async () => {
    const f = await fixture();
    const d1 = f.start();
    const s1 = await d1.until<NodeStatus>("/v1/status", isReady);
    d1.proc.kill("SIGKILL");
    await d1.exited;
    const pids = ["ovsdb-server", "ovs-vswitchd"].map((n) => byName(s1, n)?.pid as number);
    assert.ok(
      pids.every((p) => isAlive(p)),
      "children survive the daemon's SIGKILL",
    );
    const d2 = f.start();
    const s2 = await d2.until<NodeStatus>("/v1/status", isReady);
    assert.deepEqual(
      ["ovsdb-server", "ovs-vswitchd"].map((n) => byName(s2, n)?.pid),
      pids,
    );
    assert.ok(children(s2).every((c) => c.adopted && c.restarts === 0));
    assert.ok((await events(d2)).some((e) => e.kind === "adopt" && e.component === "ovs-vswitchd"));
    // Adopted children are still supervised: one that dies is restarted.
    process.kill(pids[1] as number, "SIGKILL");
    const s3 = await d2.until<NodeStatus>(
      "/v1/status",
      (s) => isReady(s) && byName(s, "ovs-vswitchd")?.pid !== pids[1],
    );
    assert.equal(byName(s3, "ovs-vswitchd")?.adopted, false);
  });

  test("a child that exits 1 at once: growing backoff, then give-up; /v1/ready 503 names it", async () => {
    const f = await fixture({ ovs: { ovsVswitchd: "/bin/false" } });
    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", (st) => st.phase === "failed");
    assert.equal(byName(s, "ovs-vswitchd")?.state, "failed");
    assert.match(byName(s, "ovs-vswitchd")?.lastError ?? "", /gave up after 5 exits/);
    const evs = (await events(d)).filter((e) => e.component === "ovs-vswitchd");
    const delays = evs
      .filter((e) => e.kind === "exit")
      .map((e) => Number(/restart in (\d+) ms/.exec(e.message)?.[1]));
    assert.deepEqual(delays, [100, 200, 400, 800]);
    // Declared delays are lower bounds of the real gaps between exits (timers never fire early).
    const exitTimes = evs.filter((e) => e.kind === "exit").map((e) => Date.parse(e.time));
    for (let i = 1; i < exitTimes.length; i++) {
      assert.ok((exitTimes[i] as number) - (exitTimes[i - 1] as number) >= (delays[i - 1] as number) - 5);
    }
    assert.ok(evs.some((e) => e.kind === "give-up"));
    const r = await d.http("GET", "/v1/ready");
    assert.equal(r.status, 503);
    assert.match(JSON.stringify(r.body), /ovs-vswitchd/);
    await f.notify.waitFor((m) => /^failed: ovs-vswitchd/.test(m.fields.STATUS ?? ""), 5000);
    assert.ok(!f.notify.messages.some((m) => m.fields.READY === "1"), "never READY=1");
  });

  test("a component that never gets ready fails after the timeout, saying what it waited for", async () => {
    // A vswitchd that runs but never talks to the database.
    const script = join(scratch, "silent-vswitchd");
    writeFileSync(script, "#!/bin/sh\nexec sleep 1000\n");
    chmodSync(script, 0o755);
    const f = await fixture({ ovs: { ovsVswitchd: script }, supervisor: { readyTimeoutMs: 1500 } });
    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", (st) => st.phase === "failed");
    assert.match(
      byName(s, "ovs-vswitchd")?.lastError ?? "",
      /not ready after 1500 ms: waited for ovs-vswitchd to apply its configuration/,
    );
  });

  test("datapath down stops the children; up brings them back", async () => {
    const f = await fixture();
    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", isReady);
    const pids = children(s).map((c) => c.pid as number);
    const r = await d.http("POST", "/v1/datapath/down");
    assert.equal(r.status, 200);
    assert.equal((r.body as NodeStatus).phase, "stopped");
    assert.ok(
      pids.every((p) => !isAlive(p)),
      "children are gone",
    );
    await d.http("POST", "/v1/datapath/up");
    await d.until<NodeStatus>("/v1/status", isReady);
  });

  test("a bad config file: exit 2 naming the key, its line and what is allowed; nothing written", async () => {
    const f = await fixture();
    const bad = join(f.dir, "bad.yaml");
    writeFileSync(bad, `stateDir: ${join(f.dir, "state-bad")}\ntaps:\n  count: 12\n  colour: blue\n`);
    const d = new DaemonProcess(bad, f.port, null);
    const { code } = await d.exited;
    assert.equal(code, 2);
    assert.match(d.stderr, /taps\.count \(line 3:10\) is 12; allowed: a power of 2 greater than 4/);
    assert.match(d.stderr, /unknown key "taps\.colour" \(line 4:3\)/);
    assert.ok(!existsSync(join(f.dir, "state-bad")), "no state dir created");
    assert.equal(f.notify.messages.length, 0);
  });

  test("a state database newer than the code: exit 1 with a clear error, the file untouched", async () => {
    const f = await fixture();
    mkdirSync(join(f.dir, "state"), { mode: 0o700 });
    const file = join(f.dir, "state/state.db");
    const db = new Database(file);
    db.pragma("user_version = 99");
    db.close();
    const bytes = readFileSync(file);
    const d = f.start();
    const { code } = await d.exited;
    assert.equal(code, 1);
    assert.match(d.stderr, /schema version 99 but this k8s-offloadd knows up to \d+; refusing to start/);
    assert.deepEqual(readFileSync(file), bytes);
    assert.ok(!existsSync(join(f.dir, "ovs/run/db.sock")), "nothing started");
  });

  test("preflight and hugepages run against the fake host root before ovsdb-server", async () => {
    const f = await fixture();
    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", isReady);
    assert.deepEqual(
      s.components.map((c) => [c.name, c.dependsOn]),
      [
        ["preflight", []],
        ["hugepages", ["preflight"]],
        ["ovsdb-server", ["hugepages"]],
        ["ovs-vswitchd", ["ovsdb-server"]],
        ["p4-target", ["ovs-vswitchd"]],
        ["pipeline", ["p4-target"]],
        ["taps", ["p4-target"]],
        ["host-if", ["taps"]],
        ["arp-proxy", ["host-if"]],
      ],
    );
    const root = join(f.dir, "hostroot");
    const nr = "sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages";
    assert.equal(readFileSync(join(root, nr), "utf8"), "1024\n");
    assert.match(readFileSync(join(root, "proc/mounts"), "utf8"), / \/mnt\/huge hugetlbfs /);
    const r = await d.http("GET", "/v1/preflight");
    assert.equal(r.status, 200);
    for (const c of (r.body as { checks: { id: string; status: string; observed: string }[] }).checks) {
      // proxy reads the daemon's environment, which is the test runner's: at worst a warning; the fake
      // root persists nothing for the next boot (hugepages-boot): a warning until its fix runs.
      const ok = c.id === "proxy" || c.id === "hugepages-boot" ? ["pass", "warn"] : ["pass", "skip"];
      assert.ok(ok.includes(c.status), `${c.id}: ${c.status} (${c.observed})`);
    }
  });

  test("a failing preflight check keeps the node from ready; /v1/status and STATUS= name it", async () => {
    const f = await fixture({ supervisor: { readyTimeoutMs: 300 } });
    writeFileSync(join(f.dir, "hostroot/proc/sys/kernel/osrelease"), "4.19.0-old\n");
    const d = f.start();
    const m = await f.notify.waitFor(
      (x) => /^failed: .*preflight check kernel/.test(x.fields.STATUS ?? ""),
      15000,
    );
    assert.match(m.fields.STATUS ?? "", /observed: kernel 4\.19\.0-old; expected: kernel 5\.4 or newer/);
    const s = await d.until<NodeStatus>("/v1/status", (x) => x.phase === "failed");
    assert.match(s.message, /preflight: not ready after 300 ms: waited for preflight check kernel to pass/);
    assert.equal(byName(s, "ovsdb-server")?.state, "blocked");
    assert.ok(!f.notify.messages.some((x) => x.fields.READY === "1"));
  });

  test("SIGTERM with stopOnExit stops every child it started", async () => {
    const f = await fixture();
    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", isReady);
    await d.stop();
    assert.equal((await d.exited).code, 0);
    assert.deepEqual(
      children(s).map((c) => c.name),
      ["ovsdb-server", "ovs-vswitchd", "p4-target"],
    );
    assert.ok(children(s).every((c) => c.pid && !isAlive(c.pid)));
    assert.ok(f.notify.messages.some((m) => m.fields.STOPPING === "1"));
    assert.ok(!existsSync(join(f.dir, "run/ovs-vswitchd.pid")));
  });
});
