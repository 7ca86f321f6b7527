/**
 * Status from a cached body: GET /v1/status, /v1/ready and /healthz answer bytes serialized once per
 * change of the engine's status (real engine, real HTTP), and only mutating routes run the body check,
 * the request log and the rate limit.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import request from "supertest";
import { buildServer } from "../../api/server";
import { StatusBodies } from "../../api/status-bodies";
import type { NodeStatus } from "../../daemon/engine/component";
import type { Engine } from "../../daemon/engine/engine";
import { statusChanged } from "../../daemon/engine/status-epoch";
import { Part, partsEngine } from "../helpers/part";

const log = pino({ level: "silent" });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("StatusBodies", () => {
  const a = new Part("a");
  const b = new Part("b", ["a"]);
  let engine: Engine;
  before(async () => {
    engine = partsEngine([a, b]);
    await engine.bringUp();
  });
  after(() => engine.down());

  test("the same Buffer until the status changes; then one new serialization showing the change", () => {
    const bodies = new StatusBodies(engine, 60_000);
    const first = bodies.status();
    for (let i = 0; i < 100; i++) {
      assert.equal(bodies.status(), first, "the same bytes, not a copy");
      assert.equal(bodies.ready().code, 200);
    }
    assert.equal(bodies.serializations, 1);
    const s = JSON.parse(first.toString()) as NodeStatus;
    assert.equal(s.phase, "ready");
    assert.deepEqual(JSON.parse(bodies.ready().body.toString()), { ready: true, phase: "ready" });

    b.crash("exited with code 3");
    const after = bodies.status();
    assert.notEqual(after, first);
    assert.equal(bodies.serializations, 2);
    const now = JSON.parse(after.toString()) as NodeStatus;
    assert.equal(now.phase, "degraded");
    assert.equal(now.components.find((c) => c.name === "b")?.state, "restarting");
    const r = bodies.ready();
    assert.equal(r.code, 503);
    assert.match(JSON.parse(r.body.toString()).reason, /b restarting \(exited with code 3\)/);
    assert.equal(bodies.status(), after);
    assert.equal(bodies.serializations, 2);
  });

  test("a change outside the engine (a pid, a log line: statusChanged) is seen by the next request", () => {
    const bodies = new StatusBodies(engine, 60_000);
    const first = bodies.status();
    statusChanged();
    assert.notEqual(bodies.status(), first);
    assert.equal(bodies.serializations, 2);
  });

  test("uptimeSec is whole seconds: a body older than maxAgeMs is made again", async () => {
    const bodies = new StatusBodies(engine, 20);
    const first = bodies.status();
    await sleep(40);
    assert.notEqual(bodies.status(), first);
    assert.equal(bodies.serializations, 2);
  });
});

describe("cached bodies over HTTP", () => {
  const a = new Part("a");
  let engine: Engine;
  let app: FastifyInstance;
  let token: string;
  before(async () => {
    engine = partsEngine([a]);
    await engine.bringUp();
    token = "ab".repeat(32);
    app = await buildServer({
      engine,
      logger: log,
      version: "1.2.3-test",
      access: { token, port: 1, rateLimit: 2 },
    });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await engine.down();
  });

  test("GET /v1/status equals the engine's status; /v1/ready and /healthz their fixed shapes", async () => {
    const res = await request(app.server).get("/v1/status").set("host", "localhost:1").expect(200);
    assert.equal(res.headers["content-type"], "application/json; charset=utf-8");
    const want = engine.status();
    assert.deepEqual({ ...res.body, uptimeSec: 0 }, { ...want, uptimeSec: 0 });
    const ready = await request(app.server).get("/v1/ready").set("host", "localhost:1").expect(200);
    assert.deepEqual(ready.body, { ready: true, phase: "ready" });
    const health = await request(app.server).get("/healthz").set("host", "localhost:1").expect(200);
    assert.deepEqual(health.body, { ok: true });
    assert.equal(health.headers["content-type"], "application/json; charset=utf-8");
  });

  test("the access rules still hold for cached GETs: an Origin or a foreign Host is a 403", async () => {
    await request(app.server).get("/v1/status").set("host", "evil.example:1").expect(403);
    await request(app.server)
      .get("/healthz")
      .set("host", "localhost:1")
      .set("origin", "http://evil.example")
      .expect(403);
  });

  test("reads are never rate limited; mutations are, and a body on a bodiless mutation is still a 400", async () => {
    for (let i = 0; i < 10; i++) {
      await request(app.server).get("/v1/status").set("host", "localhost:1").expect(200);
    }
    const post = () =>
      request(app.server)
        .post("/v1/components/a/restart")
        .set("host", "localhost:1")
        .set("authorization", `Bearer ${token}`);
    const withBody = await post().send({ x: 1 });
    assert.equal(withBody.status, 400, withBody.text);
    assert.equal(withBody.body.error, "unexpected_body");
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await post()).status);
    assert.ok(statuses.includes(429), `rate limit 2: ${statuses.join(",")}`);
  });
});

describe("the API's log lines (written by the API, not by fastify's per-request logger)", () => {
  const a = new Part("a");
  let engine: Engine;
  let app: FastifyInstance;
  const lines: Array<Record<string, unknown>> = [];
  const token = "cd".repeat(32);
  before(async () => {
    engine = partsEngine([a]);
    await engine.bringUp();
    const sink = { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) };
    app = await buildServer({
      engine,
      logger: pino({ level: "info" }, sink),
      version: "1.2.3-test",
      access: { token, port: 1, rateLimit: 100 },
    });
    app.get("/test/boom", async () => {
      throw new Error("boom");
    });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await engine.down();
  });

  test("GETs write nothing; a mutation writes its request line, an internal error its error, each with its reqId", async () => {
    for (let i = 0; i < 5; i++) {
      await request(app.server).get("/v1/status").set("host", "localhost:1").expect(200);
      await request(app.server).get("/healthz").set("host", "localhost:1").expect(200);
    }
    assert.equal(lines.length, 0, `no line for reads: ${JSON.stringify(lines)}`);

    await request(app.server)
      .post("/v1/components/a/restart")
      .set("host", "localhost:1")
      .set("authorization", `Bearer ${token}`)
      .expect(200);
    await request(app.server).get("/test/boom").set("host", "localhost:1").expect(500);

    assert.equal(lines.length, 2, JSON.stringify(lines));
    const [mutation, failure] = lines as [Record<string, unknown>, Record<string, unknown>];
    assert.equal(mutation.msg, "api request");
    assert.equal(mutation.method, "POST");
    assert.equal(mutation.url, "/v1/components/a/restart");
    assert.equal(mutation.status, 200);
    assert.equal(typeof mutation.ms, "number");
    assert.equal(failure.msg, "API request failed");
    assert.equal(failure.url, "/test/boom");
    assert.equal((failure.err as { message: string }).message, "boom");
    assert.equal(typeof mutation.reqId, "string");
    assert.equal(typeof failure.reqId, "string");
    assert.notEqual(mutation.reqId, failure.reqId);
  });
});
