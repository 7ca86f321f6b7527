/**
 * The datapath's desired state survives the daemon: after `POST /v1/datapath/down` (or a crash in the
 * middle of it) a restarted daemon keeps the datapath down and stops whatever is left of it, until
 * `POST /v1/datapath/up` or the pre-init hook asks for it again. Real daemon, real Open vSwitch,
 * kernel TAPs; `datapath.stopOnExit: false`, so children outlive every daemon unless it stops them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import type { ComponentStatus, NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { isAlive } from "../../daemon/host/proc";
import type { Job } from "../../daemon/state/store";
import { type DaemonProcess, daemonFixture, scratchDir } from "../helpers/daemon";
import { StandIns } from "../helpers/stand-ins";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;

const scratch = scratchDir("offloadd-desired-");
const tools = new StandIns(scratch);
tools.add("kubectl");
tools.add("crictl");
tools.add("systemctl");

const fixtures: Fixture[] = [];
after(async () => {
  for (const f of fixtures) {
    await f.cleanup();
    // stopOnExit is false: whatever a test left running goes with it.
    for (const pid of nodeProcesses(f.dir)) process.kill(pid, "SIGKILL");
  }
  rmSync(scratch, { recursive: true, force: true });
});

async function fixture(): Promise<Fixture> {
  const f = await daemonFixture({
    datapath: { stopOnExit: false },
    taps: { backend: "kernel" },
    target: { simulator: false },
    kubernetes: { toolPath: [tools.bin], manifests: [], kubeconfig: null },
  });
  fixtures.push(f);
  return f;
}

/** Live (zombies are dead) processes whose argv names the fixture's directory: its OVS children. */
function nodeProcesses(dir: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      const prog = (argv[0] ?? "").split("/").at(-1) ?? "";
      if (["ovsdb-server", "ovs-vswitchd"].includes(prog) && argv.some((a) => a.includes(dir)) && isAlive(+e))
        out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** TAP devices (and pool-named links) in the daemon's namespace. */
function kernelTaps(netns: string): string[] {
  const r = spawnSync("ip", ["-n", netns, "-j", "-d", "link", "show"], { encoding: "utf8" });
  if (r.status !== 0) return [];
  const links = JSON.parse(r.stdout || "[]") as { ifname: string; linkinfo?: { info_kind?: string } }[];
  return links
    .filter((l) => l.linkinfo?.info_kind === "tun" || /^P4TAP_|^TAP_0$/.test(l.ifname))
    .map((l) => l.ifname)
    .sort();
}

function storedDesired(f: Fixture): string | undefined {
  const db = new Database(join(f.dir, "state", "state.db"), { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT value FROM desired WHERE key = 'datapath'").pluck().get() as string | undefined;
  } finally {
    db.close();
  }
}

const byName = (s: NodeStatus, n: string) => s.components.find((c) => c.name === n);
const ovsPids = (s: NodeStatus) => ["ovsdb-server", "ovs-vswitchd"].map((n) => byName(s, n)?.pid);

async function events(d: DaemonProcess): Promise<NodeEvent[]> {
  return ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events;
}

/** Starts a daemon and waits for its own READY=1 (not an earlier daemon's); returns its status. */
async function startAndWaitReady(f: Fixture): Promise<{ d: DaemonProcess; status: string }> {
  const from = f.notify.messages.length;
  const d = f.start();
  const ready = await f.notify.waitFor(
    (m) => m.fields.READY === "1" && f.notify.messages.indexOf(m) >= from,
    60_000,
  );
  return { d, status: ready.fields.STATUS ?? "" };
}

/** Every invariant of a node whose datapath is down by request, seen through a fresh daemon `d`. */
async function assertKeptDown(f: Fixture, d: DaemonProcess, status: string, what: string): Promise<void> {
  assert.match(status, /^stopped: datapath down by request/, `${what}: STATUS= with READY=1`);
  assert.match(status, /POST \/v1\/datapath\/up/, `${what}: STATUS= says how to bring it up`);
  const s = (await d.http("GET", "/v1/status")).body as NodeStatus;
  assert.equal(s.phase, "stopped", what);
  assert.equal(s.message, status, `${what}: /v1/status says what systemd heard`);
  assert.deepEqual(
    s.components.filter((c: ComponentStatus) => c.state !== "stopped" || c.pid !== null).map((c) => c.name),
    [],
    `${what}: every component stopped, none with a pid`,
  );
  assert.deepEqual(nodeProcesses(f.dir), [], `${what}: no ovsdb-server or ovs-vswitchd of this node runs`);
  assert.deepEqual(kernelTaps(`offloadd-${f.port}`), [], `${what}: no TAP left`);
  assert.equal(storedDesired(f), "down", what);
  // /v1/ready keeps saying no: kubelet's drop-in keeps waiting, as it should.
  assert.equal((await d.http("GET", "/v1/ready")).status, 503, what);
}

describe("the datapath's desired state across daemon restarts", () => {
  test("down stays down through SIGTERM and SIGKILL restarts; up, then stays up", async () => {
    const f = await fixture();
    const d1 = f.start();
    const s1 = await d1.until<NodeStatus>("/v1/status", (s) => s.phase === "ready");
    assert.equal(kernelTaps(`offloadd-${f.port}`).length, 8, "the pool exists");
    const down = await d1.http("POST", "/v1/datapath/down");
    assert.equal(down.status, 200, down.text);
    assert.equal((down.body as NodeStatus).phase, "stopped");
    assert.ok(
      ovsPids(s1).every((p) => p && !isAlive(p)),
      "down stopped the children",
    );
    const lastBefore = (await events(d1)).at(-1)?.id ?? 0;
    await d1.stop(); // SIGTERM; stopOnExit false: the daemon leaves the datapath as it is

    const a = await startAndWaitReady(f);
    await assertKeptDown(f, a.d, a.status, "after SIGTERM");
    const since = (await events(a.d)).filter((e) => e.id > lastBefore);
    assert.ok(
      since.some((e) => e.kind === "stop" && /kept down/.test(e.message)),
      "the history says why it stays down",
    );
    assert.deepEqual(
      since.filter((e) => ["start", "adopt", "ready"].includes(e.kind)).map((e) => e.component),
      [],
      "nothing was started or adopted",
    );

    a.d.proc.kill("SIGKILL");
    await a.d.exited;
    const b = await startAndWaitReady(f);
    await assertKeptDown(f, b.d, b.status, "after SIGKILL");

    const up = await b.d.http("POST", "/v1/datapath/up");
    assert.equal(up.status, 200, up.text);
    const upStatus = await b.d.until<NodeStatus>("/v1/status", (x) => x.phase === "ready");
    assert.equal(storedDesired(f), "up");
    assert.equal(kernelTaps(`offloadd-${f.port}`).length, 8, "the pool is back");
    const pids = ovsPids(upStatus);

    b.d.proc.kill("SIGKILL");
    await b.d.exited;
    const c = await startAndWaitReady(f);
    assert.match(c.status, /^ready/);
    const s = (await c.d.http("GET", "/v1/status")).body as NodeStatus;
    assert.equal(s.phase, "ready");
    assert.deepEqual(ovsPids(s), pids, "the running children are adopted, not restarted");
    assert.ok(s.components.every((x) => x.pid === null || x.adopted));
  });

  test("SIGKILL in the middle of down: the restarted daemon finishes it; pre-init brings it up", async () => {
    const f = await fixture();
    const d1 = f.start();
    const s1 = await d1.until<NodeStatus>("/v1/status", (s) => s.phase === "ready");
    const [dbPid, vsPid] = ovsPids(s1) as [number, number];
    // A vswitchd that does not answer holds the down at its stop (polite request, then the signal
    // ladder): a kill in that window lands with down begun and not finished, every time.
    process.kill(vsPid, "SIGSTOP");
    void d1.http("POST", "/v1/datapath/down").catch(() => undefined);
    await d1.until<ComponentStatus>("/v1/components/ovs-vswitchd", (c) => c.state === "stopping");
    assert.equal(storedDesired(f), "down", "recorded when down started applying");
    d1.proc.kill("SIGKILL");
    await d1.exited;
    assert.ok(isAlive(vsPid) && isAlive(dbPid), "down was cut short: both OVS processes still run");

    const a = await startAndWaitReady(f);
    await assertKeptDown(f, a.d, a.status, "after a kill mid-down");
    assert.ok(!isAlive(vsPid) && !isAlive(dbPid), "the restarted daemon stopped what was left");
    const adopted = (await events(a.d)).filter((e) => e.kind === "adopt").map((e) => e.component);
    assert.deepEqual(adopted.sort(), ["ovs-vswitchd", "ovsdb-server"], "adopted to be stopped");

    const hook = await a.d.http("POST", "/v1/hooks/pre-init");
    assert.equal(hook.status, 202, hook.text);
    const job = await a.d.until<Job>(
      `/v1/jobs/${(hook.body as Job).id}`,
      (j) => j.state !== "running",
      90_000,
    );
    assert.equal(job.state, "succeeded", JSON.stringify(job));
    assert.equal(storedDesired(f), "up");

    a.d.proc.kill("SIGKILL");
    await a.d.exited;
    const b = await startAndWaitReady(f);
    assert.match(b.status, /^ready/, "up by pre-init survives a restart");
    assert.equal(kernelTaps(`offloadd-${f.port}`).length, 8);
  });
});
