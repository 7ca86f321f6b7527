/**
 * The engine's ordering, blocking and recovery rules, with small in-memory components: the engine is
 * the thing under test and it is generic over components.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import type { NodeStatus } from "../../daemon/engine/component";
import { UnknownComponentError } from "../../daemon/engine/component";
import { Engine } from "../../daemon/engine/engine";
import { topoOrder } from "../../daemon/engine/order";
import { Part } from "../helpers/part";

const log = pino({ level: "silent" });

function engine(parts: Part[], readyTimeoutMs = 2000) {
  return new Engine({
    components: parts,
    store: null,
    log,
    version: "test",
    profile: "test",
    readyTimeoutMs,
    pollIntervalMs: 5,
  });
}

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

  test("a start that never gets ready fails after the timeout and blocks dependents", async () => {
    const e = engine([new Part("a", [], 1e9), new Part("b", ["a"])], 50);
    await e.bringUp();
    const s = e.status();
    assert.equal(s.phase, "failed");
    assert.deepEqual(states(s), { a: "failed", b: "blocked" });
    assert.match(s.components[0]?.lastError ?? "", /not ready after 50 ms: waited for a to answer/);
    assert.equal(await Promise.resolve(e.waitReady(20)), false);
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
    a.comeBack();
    assert.equal(await e.waitReady(2000), true);
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
