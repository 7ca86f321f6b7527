/**
 * Ready means ready at every moment (issue 12), against real processes: the daemon with Debian's
 * OVS and a P4 target it did NOT start (the simulator run by the test, as P4-OVS's gRPC service is
 * to the daemon in production), so nothing but the daemon's own health probes can notice it going.
 *
 * - target killed while ready: /v1/ready 503 and STATUS=degraded, then ready again by itself;
 * - targets absent at start, brought up later: starting (never failed) with clear gRPC reasons,
 *   then ready without any request;
 * - P4 artifacts: absent (tried again), modified (a configuration error: waits, and says so), fixed
 *   plus a restart by hand: ready;
 * - a restart whose stop throws: recorded, reported, and the engine still converges.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import type { NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { listLinks } from "../../daemon/host/links";
import { daemonFixture, scratchDir, sleep } from "../helpers/daemon";
import { ExternalTarget, targetOf } from "../helpers/external-target";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
const targets: ExternalTarget[] = [];
const strays: number[] = [];
const scratch = scratchDir("offloadd-recovery-");
after(async () => {
  for (const t of targets) await t.kill();
  for (const f of fixtures) await f.cleanup();
  for (const pid of strays) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
  rmSync(scratch, { recursive: true, force: true });
});

const HEALTH_MS = 1000;
/** The scenario: the targets come up 25 s after the daemon. */
const TARGET_DELAY_MS = Number(process.env.RECOVERY_TARGET_DELAY_MS ?? 25_000);

const isReady = (s: NodeStatus) => s.phase === "ready";
const byName = (s: NodeStatus, n: string) => s.components.find((c) => c.name === n);

async function events(d: ReturnType<Fixture["start"]>): Promise<NodeEvent[]> {
  return ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events;
}

async function poolTaps(ns: string): Promise<string[]> {
  return (await listLinks(ns))
    .filter((l) => l.kind === "tap")
    .map((l) => l.name)
    .sort();
}

/** A daemon whose gNMI TAP pool and P4Runtime pipeline check talk to a target it does not run. */
async function externalTargetFixture(more: Record<string, unknown> = {}) {
  const f = await daemonFixture({
    target: { simulator: false },
    supervisor: { healthIntervalMs: HEALTH_MS },
    ...more,
  });
  fixtures.push(f);
  return f;
}

async function startTarget(f: Fixture): Promise<ExternalTarget> {
  const t = await ExternalTarget.start(targetOf(f.configFile));
  targets.push(t);
  return t;
}

describe("health after ready, retries that heal", () => {
  test("target killed while ready: /v1/ready 503 and STATUS=degraded, then ready again by itself", async () => {
    const f = await externalTargetFixture();
    const ns = `offloadd-${f.port}`;
    const d = f.start();
    await startTarget(f);
    await d.until<NodeStatus>("/v1/status", isReady, 60_000);
    assert.equal((await poolTaps(ns)).length, 8);

    const killedAt = Date.now();
    await (targets.pop() as ExternalTarget).kill();
    // No child of the daemon exited: only a health probe can see this.
    const notReady = await d.until<{ ready: boolean; phase: string; reason: string }>(
      "/v1/ready",
      (b) => b.ready === false,
      20_000,
    );
    assert.equal(notReady.phase, "degraded");
    assert.match(notReady.reason, /^degraded: /);
    assert.match(notReady.reason, /(taps|pipeline) degraded \(/, "names what failed");
    const r = await d.http("GET", "/v1/ready");
    assert.equal(r.status, 503);
    await f.notify.waitFor((m) => m.at >= killedAt && /^degraded: /.test(m.fields.STATUS ?? ""), 10_000);
    const s = (await d.http("GET", "/v1/status")).body as NodeStatus;
    const degraded = s.components.filter((c) => c.state === "degraded");
    assert.ok(degraded.length > 0, JSON.stringify(s.components));
    assert.ok(degraded.every((c) => (c.lastError ?? "").length > 0));
    // Dependents of a degraded component are blocked (TAP_0 is built on the pool).
    assert.notEqual(byName(s, "host-if")?.state, "ready");

    // The target comes back: nobody asks the daemon for anything.
    const backAt = Date.now();
    await startTarget(f);
    await d.until<NodeStatus>("/v1/status", isReady, 60_000);
    assert.equal((await d.http("GET", "/v1/ready")).status, 200);
    await f.notify.waitFor((m) => m.at >= backAt && /^ready: /.test(m.fields.STATUS ?? ""), 10_000);
    assert.equal((await poolTaps(ns)).length, 8, "the pool was made again on the new target");
    const evs = await events(d);
    assert.ok(evs.some((e) => e.kind === "error" && /not ready any more \(health probe\)/.test(e.message)));
    assert.ok(evs.some((e) => e.kind === "ready" && /ready again by itself/.test(e.message)));
    assert.ok(!evs.some((e) => e.kind === "restart" && /by hand/.test(e.message)));
  });

  test(`targets absent at start, up ${TARGET_DELAY_MS / 1000} s later: starting with clear reasons, then ready without any request`, async () => {
    const f = await externalTargetFixture();
    const d = f.start();
    const a = targetOf(f.configFile);
    const phases = new Set<string>();
    const end = Date.now() + TARGET_DELAY_MS;
    let seen: NodeStatus | null = null;
    // Between attempts the message says when the next one comes; during one it does not.
    const retrying =
      /pipeline starting \(P4Runtime target \S+ unreachable \(connection refused\); trying again in/;
    let seenRetrying: NodeStatus | null = null;
    while (Date.now() < end) {
      try {
        const s = (await d.http("GET", "/v1/status")).body as NodeStatus;
        phases.add(s.phase);
        if (byName(s, "pipeline")?.lastError) seen = s;
        if (retrying.test(s.message)) seenRetrying = s;
      } catch {} // the API is not listening yet
      await sleep(250);
    }
    assert.deepEqual([...phases], ["starting"], "not there yet is no failure");
    const pipeline = byName(seen as NodeStatus, "pipeline");
    assert.equal(pipeline?.state, "starting");
    assert.equal(pipeline?.lastError, `P4Runtime target ${a.p4rt} unreachable (connection refused)`);
    assert.ok(seenRetrying, "between attempts, the status says when the next one comes");
    const text = JSON.stringify({ status: seen, events: await events(d) });
    assert.doesNotMatch(text, /Resolution note|No connection established|Last error:/, "no grpc-js wording");
    assert.match(
      text,
      new RegExp(`gNMI target ${a.gnmi.replace(/\./g, "\\.")} unreachable \\(connection refused\\)`),
    );

    await startTarget(f);
    const s = await d.until<NodeStatus>("/v1/status", isReady, 90_000);
    assert.ok(s.components.every((c) => c.state === "ready"));
    assert.ok(f.notify.messages.some((m) => m.fields.READY === "1"));
  });

  test("P4 artifacts: absent is tried again; modified is a configuration error that waits and says so", async () => {
    const content = { pbBin: "\u0001\u0002bytes", p4info: 'pkg_info { arch: "pna" }\n', conf: "{}\n" };
    const pins = Object.fromEntries(
      Object.entries(content).map(([k, v]) => [
        k,
        { path: join(scratch, `${k}-${Date.now()}`), sha256: createHash("sha256").update(v).digest("hex") },
      ]),
    ) as Record<keyof typeof content, { path: string; sha256: string }>;
    writeFileSync(pins.pbBin.path, content.pbBin);
    writeFileSync(pins.p4info.path, content.p4info);
    // conf is not there yet.
    const f = await daemonFixture({ pipeline: { artifacts: pins }, supervisor: { retryFailedAfterMs: 300 } });
    fixtures.push(f);
    const d = f.start();
    let s = await d.until<NodeStatus>(
      "/v1/status",
      (x) => /not present yet/.test(byName(x, "pipeline")?.lastError ?? ""),
      60_000,
    );
    assert.equal(byName(s, "pipeline")?.state, "starting");
    assert.match(
      byName(s, "pipeline")?.lastError ?? "",
      new RegExp(`conf \\(${pins.conf.path}\\) not present yet`),
    );

    // It appears, modified: a configuration error.
    writeFileSync(pins.conf.path, "{ modified }\n");
    s = await d.until<NodeStatus>("/v1/status", (x) => x.phase === "failed", 30_000);
    const err = byName(s, "pipeline")?.lastError ?? "";
    assert.match(err, /^configuration error: P4 artifact conf .* is modified: sha256 expected/);
    assert.match(
      err,
      /waits for POST \/v1\/components\/pipeline\/restart or a daemon restart with a changed configuration$/,
    );
    // It waits: well past retryFailedAfterMs, not tried again, even once the file is right.
    writeFileSync(pins.conf.path, content.conf);
    await sleep(1500);
    s = (await d.http("GET", "/v1/status")).body as NodeStatus;
    assert.equal(byName(s, "pipeline")?.state, "failed");
    assert.ok(
      !(await events(d)).some(
        (e) => e.component === "pipeline" && /trying again .* after it failed/.test(e.message),
      ),
    );
    const r = await d.http("POST", "/v1/components/pipeline/restart");
    assert.equal(r.status, 200);
    await d.until<NodeStatus>("/v1/status", isReady, 30_000);
  });

  test("a crash loop given up is tried again after retryFailedAfterMs, with an event each time", async () => {
    const f = await daemonFixture({
      taps: { backend: "kernel" },
      target: { simulator: false },
      ovs: { ovsVswitchd: "/bin/false" },
      supervisor: { retryFailedAfterMs: 1500 },
    });
    fixtures.push(f);
    const d = f.start();
    await d.until<NodeStatus>("/v1/status", () => true, 30_000);
    const end = Date.now() + 60_000;
    let evs: NodeEvent[] = [];
    for (;;) {
      evs = (await events(d)).filter((e) => e.component === "ovs-vswitchd");
      if (evs.filter((e) => e.kind === "give-up").length >= 2 || Date.now() > end) break;
      await sleep(200);
    }
    const kinds = evs.map((e) => e.kind);
    const giveUps = evs.filter((e) => e.kind === "give-up");
    assert.ok(giveUps.length >= 2, `gave up, was tried again, gave up again: ${kinds.join(",")}`);
    assert.match(giveUps[0]?.message ?? "", /gave up after 5 exits .*; trying again in 1\.5 s$/);
    const tries = evs.filter(
      (e) =>
        e.kind === "restart" &&
        /^trying again 1\.5 s after it failed \(gave up after 5 exits/.test(e.message),
    );
    assert.ok(tries.length >= 1, kinds.join(","));
    // In between, it was started again for real: new exits after the first give-up.
    const firstGiveUp = evs.indexOf(giveUps[0] as NodeEvent);
    assert.ok(evs.slice(firstGiveUp).some((e) => e.kind === "exit"));
    const s = (await d.http("GET", "/v1/status")).body as NodeStatus;
    assert.equal(byName(s, "ovs-vswitchd")?.state === "ready", false);
  });

  test("a restart whose stop throws is recorded and reported, and the engine converges", async () => {
    // The first daemon leaves its children running (stopOnExit false) and is killed; the second
    // adopts them. An adopted child's exit is seen by polling /proc (pollIntervalMs, 1 s here), so
    // with a 1 ms stop ladder its stop fails for real: "did not exit after SIGTERM and SIGKILL".
    const f = await daemonFixture({ datapath: { stopOnExit: false } });
    fixtures.push(f);
    const d1 = f.start();
    const s1 = await d1.until<NodeStatus>("/v1/status", isReady, 60_000);
    for (const c of s1.components) if (c.pid) strays.push(c.pid);
    d1.proc.kill("SIGKILL");
    await d1.exited;
    const cfg = parse(readFileSync(f.configFile, "utf8")) as Record<string, Record<string, unknown>>;
    cfg.supervisor = { ...cfg.supervisor, stopTimeoutMs: 1, pollIntervalMs: 1000 };
    writeFileSync(f.configFile, stringify(cfg));
    const d2 = f.start();
    const s2 = await d2.until<NodeStatus>("/v1/status", isReady, 60_000);
    const target = byName(s2, "p4-target");
    assert.equal(target?.adopted, true);

    const r = await d2.http("POST", "/v1/components/p4-target/restart");
    assert.equal(r.status, 200, r.text);
    const evs = await events(d2);
    const failed = evs.find((e) => e.component === "p4-target" && /^stop failed: /.test(e.message));
    assert.match(
      failed?.message ?? JSON.stringify(evs.slice(-20)),
      new RegExp(
        `^stop failed: p4-target \\(pid ${target?.pid}\\) did not exit after SIGTERM and SIGKILL; starting it again`,
      ),
    );
    const s3 = await d2.until<NodeStatus>(
      "/v1/status",
      (x) => isReady(x) && byName(x, "p4-target")?.pid !== target?.pid,
      60_000,
    );
    assert.ok(
      s3.components.every((c) => c.state === "ready"),
      "nothing left stopping or blocked",
    );
    for (const c of s3.components) if (c.pid) strays.push(c.pid);
  });
});
