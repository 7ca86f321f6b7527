/**
 * The engine's ordering, blocking and recovery rules, with small in-memory components: the engine is
 * the thing under test and it is generic over components.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import type { NodeStatus } from "../../daemon/engine/component";
import { ConfigurationError, UnknownComponentError } from "../../daemon/engine/component";
import { Engine, failureKind } from "../../daemon/engine/engine";
import { topoOrder } from "../../daemon/engine/order";
import { Part } from "../helpers/part";

const log = pino({ level: "silent" });

function engine(
  parts: Part[],
  readyTimeoutMs = 2000,
  more: { healthIntervalMs?: number; retryFailedAfterMs?: number; backoffMaxMs?: number } = {},
) {
  return new Engine({
    components: parts,
    store: null,
    log,
    version: "test",
    profile: "test",
    readyTimeoutMs,
    pollIntervalMs: 5,
    healthIntervalMs: more.healthIntervalMs ?? 60_000,
    retryFailedAfterMs: more.retryFailedAfterMs ?? 600_000,
    backoff: { initialMs: 5, maxMs: more.backoffMaxMs ?? 40 },
  });
}

/** Resolves once pred holds for the engine's status (checked on every phase event and every 5 ms). */
async function until(e: Engine, pred: (s: NodeStatus) => boolean, ms = 5000): Promise<NodeStatus> {
  const end = Date.now() + ms;
  for (;;) {
    const s = e.status();
    if (pred(s)) return s;
    if (Date.now() > end) throw new Error(`timed out; status: ${JSON.stringify(states(s))} ${s.message}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** An error as the gRPC adapters throw it when nothing listens (code UNAVAILABLE). */
const unavailable = () =>
  Object.assign(new Error("gNMI target 127.0.0.1:9339 unreachable (connection refused)"), { code: 14 });

const states = (s: NodeStatus) => Object.fromEntries(s.components.map((c) => [c.name, c.state]));

describe("Engine", () => {
  test("starts in dependency order and stops in reverse", async () => {
    const j: string[] = [];
    const parts = [
      new Part("c", ["b"], 1, null, j),
      new Part("a", [], 1, null, j),
      new Part("b", ["a"], 1, null, j),
    ];
    const e = engine(parts);
    await e.bringUp();
    assert.equal(e.status().phase, "ready");
    await e.down();
    assert.deepEqual(j, ["start a", "start b", "start c", "stop c", "stop b", "stop a"]);
    assert.equal(e.status().phase, "stopped");
  });

  test("independent components start at the same time; a dependent starts only once all its dependencies are ready", async () => {
    const j: string[] = [];
    // x's start returns only once y's start has run: started one after another (x first, in
    // declaration order), x would wait for ever and the bring-up would never end.
    let yStarted!: () => void;
    const yRan = new Promise<void>((r) => (yStarted = r));
    const x = new (class extends Part {
      override async start() {
        await yRan;
        return super.start();
      }
    })("x", ["root"], 1, null, j);
    const y = new (class extends Part {
      override async start() {
        yStarted();
        return super.start();
      }
    })("y", ["root"], 3, null, j);
    const seenAtStart: Record<string, Record<string, string>> = {};
    const z = new (class extends Part {
      override async start() {
        seenAtStart.z = states(e.status());
        return super.start();
      }
    })("z", ["x", "y"], 1, null, j);
    const root = new Part("root", [], 2, null, j);
    const e = engine([root, x, y, z]);
    const startOfX: string[] = [];
    e.on("phase", (s) => {
      if (/x starting/.test(s.message) && /y starting/.test(s.message)) startOfX.push(s.message);
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((r) => (timer = setTimeout(() => r("deadlocked"), 3000)));
    const ended = await Promise.race([e.bringUp().then(() => "done"), timeout]);
    clearTimeout(timer);
    assert.equal(ended, "done", "x waited for y's start, which never came");
    assert.deepEqual(states(e.status()), { root: "ready", x: "ready", y: "ready", z: "ready" });
    // Neither x nor y started before root was ready; z saw both ready when it started.
    assert.equal(j[0], "start root");
    assert.deepEqual(seenAtStart.z, { root: "ready", x: "ready", y: "ready", z: "starting" });
    assert.equal(j.at(-1), "start z");
    // STATUS= named both as starting at the same moment, and z as still pending.
    assert.ok(startOfX.length > 0, "x and y were never starting at the same time");
    assert.match(startOfX[0] as string, /^starting: .*x starting.*; y starting.*; z pending$/);
    await e.down();
    // Stopped in reverse dependency order.
    assert.deepEqual(j.slice(-4), ["stop z", "stop y", "stop x", "stop root"]);
  });

  test("a branch that fails does not hold up an independent one; its dependents are blocked", async () => {
    const slow = new Part("slow", [], 1, "binary missing");
    const fast = new Part("fast", [], 3);
    const e = engine([slow, new Part("after-slow", ["slow"]), fast, new Part("after-fast", ["fast"])]);
    await e.bringUp();
    assert.deepEqual(states(e.status()), {
      slow: "failed",
      "after-slow": "blocked",
      fast: "ready",
      "after-fast": "ready",
    });
    assert.equal(e.status().components[1]?.lastError, "waiting for slow");
  });

  test("cycles and unknown dependencies are refused", () => {
    assert.throws(() => topoOrder([new Part("a", ["b"]), new Part("b", ["a"])]), /cycle/);
    assert.throws(() => topoOrder([new Part("a", ["x"])]), /unknown component x/);
  });

  test("phase events: starting with what is awaited, then ready", async () => {
    const e = engine([new Part("a", [], 4)]);
    const seen: string[] = [];
    e.on("phase", (s) => seen.push(s.message));
    await e.bringUp();
    assert.ok(seen.some((m) => m === "starting: a starting, waiting for a to answer"));
    assert.equal(seen.at(-1), "ready: 1 of 1 components ready");
  });

  test("a start not ready within the timeout fails, blocking dependents, and is still tried again until it heals", async () => {
    const a = new Part("a");
    a.gateOpen = false;
    const e = engine([a, new Part("b", ["a"])], 50);
    await e.bringUp();
    const s = e.status();
    assert.equal(s.phase, "failed");
    assert.deepEqual(states(s), { a: "failed", b: "blocked" });
    assert.match(s.components[0]?.lastError ?? "", /not ready after 50 ms: waited for a to answer/);
    assert.match(
      s.message,
      /^failed: a: not ready after 50 ms: waited for a to answer; trying again in \d+ ms/,
    );
    assert.equal(await Promise.resolve(e.waitReady(20)), false);
    a.gateOpen = true;
    assert.equal(await e.waitReady(5000), true, "ready by itself, no request");
    assert.ok(a.starts >= 2);
  });

  test("an endpoint not listening yet (UNAVAILABLE, ECONNREFUSED): starting with the reason, backoff, ready once it listens", async () => {
    const a = new Part("a");
    a.startError = unavailable();
    const e = engine([a, new Part("b", ["a"])], 2000, { backoffMaxMs: 20 });
    await e.bringUp();
    let s = e.status();
    assert.equal(s.phase, "starting");
    assert.equal(s.components[0]?.state, "starting");
    assert.equal(s.components[0]?.lastError, "gNMI target 127.0.0.1:9339 unreachable (connection refused)");
    assert.match(
      s.message,
      /^starting: a starting \(gNMI target 127\.0\.0\.1:9339 unreachable \(connection refused\); trying again in \d+ ms/,
    );
    s = await until(e, () => a.starts >= 4);
    // Each distinct reason is one event, not one per attempt.
    const notYet = e.events(0, 100).filter((ev) => /not there yet/.test(ev.message));
    assert.equal(notYet.length, 1);
    a.startError = Object.assign(new Error("connect ECONNREFUSED /run/x.sock"), { code: "ECONNREFUSED" });
    await until(e, () => a.starts >= 6);
    assert.equal(e.events(0, 100).filter((ev) => /not there yet/.test(ev.message)).length, 2);
    a.startError = null;
    assert.equal(await e.waitReady(5000), true);
    assert.deepEqual(states(e.status()), { a: "ready", b: "ready" });
    assert.ok(
      e
        .events(0, 200)
        .some((ev) => ev.component === "a" && /^ready by itself after \d+ attempts$/.test(ev.message)),
    );
  });

  test("health after ready: a failing probe degrades it within one interval, blocks dependents; recovery is automatic", async () => {
    const a = new Part("a");
    const b = new Part("b", ["a"]);
    const e = engine([a, b], 200, { healthIntervalMs: 20 });
    await e.bringUp();
    assert.equal(e.status().phase, "ready");
    const phases: string[] = [];
    e.on("phase", (s) => phases.push(s.message));
    a.gateOpen = false;
    let s = await until(e, (x) => x.phase === "degraded");
    assert.deepEqual(states(s), { a: "degraded", b: "blocked" });
    assert.match(s.components[0]?.lastError ?? "", /a to answer/);
    assert.match(s.message, /^degraded: a degraded \(health probe: a to answer; repairing\)/);
    const startsBefore = a.starts;
    await until(e, () => a.starts > startsBefore + 1); // repaired: start() again, then probe
    assert.equal(e.status().phase, "degraded");
    a.gateOpen = true;
    s = await until(e, (x) => x.phase === "ready");
    assert.deepEqual(states(s), { a: "ready", b: "ready" });
    assert.ok(phases.some((m) => /^degraded: a degraded/.test(m)));
    assert.equal(phases.at(-1), "ready: 2 of 2 components ready");
    const evs = e.events(0, 200).map((ev) => `${ev.component}:${ev.kind}:${ev.message}`);
    assert.ok(
      evs.some((m) => /^a:error:not ready any more \(health probe\): a to answer/.test(m)),
      evs.join("\n"),
    );
    assert.ok(evs.some((m) => /^b:blocked:a is degraded/.test(m)));
  });

  test("a health probe that hangs is bounded by its timeout: degraded", async () => {
    const a = new Part("a");
    const e = engine([a], 200, { healthIntervalMs: 20 });
    await e.bringUp();
    a.hangProbe = true;
    const s = await until(e, (x) => x.components[0]?.state === "degraded");
    assert.match(s.components[0]?.lastError ?? "", /no answer within 40 ms/);
    a.hangProbe = false;
    await until(e, (x) => x.phase === "ready");
  });

  test("no health probes while the datapath is down by request", async () => {
    const a = new Part("a");
    const e = engine([a], 2000, { healthIntervalMs: 10 });
    await e.bringUp();
    await e.down();
    const probes = a.probes;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(a.probes, probes);
    assert.equal(e.status().phase, "stopped");
  });

  test("a configuration error fails and waits (no retry) until a restart by hand", async () => {
    const a = new Part("a");
    a.startError = new ConfigurationError("P4 artifact conf (/x) is modified: sha256 expected 1, found 2");
    const e = engine([a, new Part("b", ["a"])], 2000, { retryFailedAfterMs: 20 });
    await e.bringUp();
    const s = e.status();
    assert.equal(s.phase, "failed");
    assert.deepEqual(states(s), { a: "failed", b: "blocked" });
    assert.match(
      s.components[0]?.lastError ?? "",
      /^configuration error: P4 artifact conf .* is modified.*; waits for POST \/v1\/components\/a\/restart or a daemon restart with a changed configuration$/,
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.starts, 1, "not tried again by itself");
    a.startError = null;
    await e.restart("a");
    assert.equal(e.status().phase, "ready");
  });

  test("any other start error fails, and is tried again after retryFailedAfterMs with an event each time", async () => {
    const a = new Part("a", [], 1, "pipeline loader failed: exit 1");
    const e = engine([a], 2000, { retryFailedAfterMs: 30 });
    await e.bringUp();
    assert.equal(e.status().phase, "failed");
    assert.match(e.status().message, /^failed: a: pipeline loader failed: exit 1; trying again in 30 ms/);
    await until(e, () => a.starts >= 3);
    const tries = e
      .events(0, 100)
      .filter((ev) => ev.kind === "restart" && /trying again 30 ms after it failed/.test(ev.message));
    assert.ok(tries.length >= 2, JSON.stringify(tries));
    a.failStart = null;
    assert.equal(await e.waitReady(5000), true);
  });

  test("a crash loop given up is tried again after retryFailedAfterMs", async () => {
    const a = new Part("a");
    const b = new Part("b", ["a"]);
    const e = engine([a, b], 2000, { retryFailedAfterMs: 30 });
    await e.bringUp();
    a.running = false;
    a.signals?.gaveUp("a", "gave up after 5 exits within 60 s; last: exited with code 1");
    assert.deepEqual(states(e.status()), { a: "failed", b: "blocked" });
    assert.equal(await e.waitReady(5000), true, "started again by the engine, no request");
    assert.ok(
      e
        .events(0, 100)
        .some((ev) => ev.component === "a" && ev.kind === "restart" && /trying again/.test(ev.message)),
    );
  });

  test("a restart whose stop throws is recorded and reported, and the engine still converges", async () => {
    const a = new Part("a");
    const b = new Part("b", ["a"]);
    const e = engine([a, b]);
    await e.bringUp();
    a.failStop = "a (pid 4242) did not exit after SIGTERM and SIGKILL";
    await e.restart("a");
    const s = e.status();
    assert.equal(s.phase, "ready");
    assert.deepEqual(states(s), { a: "ready", b: "ready" });
    const ev = e.events(0, 100).find((x) => x.component === "a" && x.kind === "error");
    assert.match(
      ev?.message ?? "",
      /^stop failed: a \(pid 4242\) did not exit after SIGTERM and SIGKILL; starting it again/,
    );
    // A later restart by hand still works (nothing is left stopping).
    a.failStop = null;
    await e.restart("a");
    assert.equal(e.status().phase, "ready");
  });

  test("failure classes: config, not there yet (also through the cause chain), other", () => {
    assert.equal(failureKind(new ConfigurationError("x")), "config");
    assert.equal(failureKind(unavailable()), "not-yet");
    assert.equal(failureKind(Object.assign(new Error("deadline"), { code: 4 })), "not-yet");
    assert.equal(failureKind(Object.assign(new Error("x"), { code: "ENOENT" })), "not-yet");
    assert.equal(failureKind(new Error("wrapped", { cause: unavailable() })), "not-yet");
    assert.equal(failureKind(Object.assign(new Error("x"), { code: 3 })), "other");
    assert.equal(failureKind(new Error("x")), "other");
    assert.equal(failureKind("text"), "other");
  });

  test("a component going down blocks its dependents; they come back after it does", async () => {
    const a = new Part("a");
    const b = new Part("b", ["a"]);
    const c = new Part("c", ["b"]);
    const e = engine([a, b, c]);
    await e.bringUp();
    const phases: string[] = [];
    e.on("phase", (s) => phases.push(s.phase));
    a.crash("killed by SIGKILL");
    assert.deepEqual(states(e.status()), { a: "restarting", b: "blocked", c: "blocked" });
    assert.equal(e.status().phase, "degraded");
    const startsBefore = b.starts;
    const aStarts = a.starts;
    a.comeBack();
    assert.equal(await e.waitReady(2000), true);
    // Restarted by its supervisor: only probed. start() again would reset the crash-loop count.
    assert.equal(a.starts, aStarts);
    assert.ok(b.starts > startsBefore, "the dependent was started again (e.g. the TAP pool re-created)");
    assert.deepEqual(
      phases.filter((p, i) => p !== phases[i - 1]),
      ["degraded", "ready"],
    );
    const kinds = e.events(0, 100).map((ev) => `${ev.component}:${ev.kind}`);
    assert.ok(kinds.includes("a:exit") && kinds.includes("b:blocked") && kinds.includes("a:restart"));
    const phaseEvents = e
      .events(0, 100)
      .filter((ev) => ev.kind === "phase")
      .map((ev) => ev.message.split(":")[0]);
    assert.deepEqual(phaseEvents, ["starting", "ready", "degraded", "ready"]);
  });

  test("give-up marks failed; a restart by hand brings it back", async () => {
    const a = new Part("a");
    const b = new Part("b", ["a"]);
    const e = engine([a, b]);
    await e.bringUp();
    a.running = false;
    a.signals?.gaveUp("a", "gave up after 5 exits");
    assert.equal(e.status().phase, "failed");
    assert.deepEqual(states(e.status()), { a: "failed", b: "blocked" });
    await e.restart("a");
    assert.equal(e.status().phase, "ready");
    await assert.rejects(e.restart("nope"), UnknownComponentError);
  });

  test("waitReady resolves when the node becomes ready", async () => {
    const e = engine([new Part("a", [], 20)]);
    const waiting = e.waitReady(5000);
    void e.bringUp();
    assert.equal(await waiting, true);
  });

  test("waitReady stops waiting when its signal aborts, leaving no listener", async () => {
    const e = engine([new Part("a", [], 1e9)], 60000);
    const before = e.listenerCount("phase");
    const ac = new AbortController();
    const waiting = e.waitReady(60000, ac.signal);
    assert.equal(e.listenerCount("phase"), before + 1);
    ac.abort();
    assert.equal(await waiting, false);
    assert.equal(e.listenerCount("phase"), before);
  });

  test("a failing start names the error; up() after down() starts everything again", async () => {
    const a = new Part("a", [], 1, "cannot run /nope: ENOENT");
    const e = engine([a]);
    await e.bringUp();
    assert.match(e.status().message, /^failed: a: cannot run \/nope: ENOENT/);
    a.failStart = null;
    await e.down();
    await e.up();
    assert.equal(e.status().phase, "ready");
  });
});
