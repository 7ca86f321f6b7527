/**
 * The REST API against the REAL engine (daemon/engine/engine.ts) driving small in-memory components:
 * the API and the engine are under test, the components are simple stand-ins.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import request from "supertest";
import { buildServer } from "../../api/server";
import type { ComponentStatus, NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { Engine } from "../../daemon/engine/engine";
import { generateOpenapi, repoRoot, main as writeOpenapi } from "../../scripts/write-openapi";
import { Part } from "../helpers/part";

const log = pino({ level: "silent" });

function newEngine(parts: Part[], readyTimeoutMs = 5000): Engine {
  return new Engine({
    components: parts,
    store: null,
    log,
    version: "9.9.9-test",
    profile: "test",
    readyTimeoutMs,
    pollIntervalMs: 5,
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Every error answer: the one shape, and nothing from a stack trace or the file system. */
function assertErrorBody(res: request.Response, status: number, code: string): string {
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers["content-type"]), /^application\/json/);
  assert.deepEqual(Object.keys(res.body).sort(), ["error", "message"]);
  assert.equal(res.body.error, code);
  assert.equal(typeof res.body.message, "string");
  assert.doesNotMatch(res.text, /\bat .*[(:]/, "no stack lines");
  assert.doesNotMatch(res.text, /\/work\/|node_modules|\.js:\d+/, "no paths");
  return res.body.message as string;
}

/** Reads an SSE stream; resolves the events seen once `done` holds. */
function openStream(port: number, path: string, headers: Record<string, string> = {}) {
  const frames: string[] = [];
  let buf = "";
  let status = 0;
  let contentType = "";
  const req = http.get({ host: "127.0.0.1", port, path, headers });
  const opened = new Promise<void>((resolve, reject) => {
    req.on("response", (res) => {
      status = res.statusCode ?? 0;
      contentType = String(res.headers["content-type"]);
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buf += chunk;
        let i = buf.indexOf("\n\n");
        while (i >= 0) {
          frames.push(buf.slice(0, i));
          buf = buf.slice(i + 2);
          i = buf.indexOf("\n\n");
        }
      });
      resolve();
    });
    req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
  });
  const events = () =>
    frames
      .filter((f) => f.startsWith("id: "))
      .map((f) => {
        const [idLine, eventLine, dataLine] = f.split("\n");
        const e = JSON.parse((dataLine ?? "").replace(/^data: /, "")) as NodeEvent;
        assert.equal(idLine, `id: ${e.id}`);
        assert.equal(eventLine, `event: ${e.kind}`);
        return e;
      });
  return {
    opened,
    frames,
    events,
    get status() {
      return status;
    },
    get contentType() {
      return contentType;
    },
    close: () => req.destroy(),
  };
}

const expectedRoutes = [
  "GET /healthz",
  "GET /metrics",
  "GET /v1/components",
  "GET /v1/components/{name}",
  "GET /v1/events",
  "GET /v1/jobs",
  "GET /v1/jobs/{id}",
  "GET /v1/openapi.json",
  "GET /v1/preflight",
  "GET /v1/ready",
  "GET /v1/status",
  "GET /v1/taps",
  "POST /v1/components/{name}/restart",
  "POST /v1/datapath/down",
  "POST /v1/datapath/up",
  "POST /v1/hooks/{name}",
  "POST /v1/init",
  "POST /v1/preflight/fix",
  "POST /v1/reset",
  "PUT /v1/taps",
];

describe("API on a node that comes up (real engine)", () => {
  const a = new Part("a", [], 2);
  const b = new Part("b", ["a"]);
  const c = new Part("c", ["a"]);
  let engine: Engine;
  let app: FastifyInstance;

  before(async () => {
    engine = newEngine([a, b, c]);
    await engine.bringUp();
    app = await buildServer({ engine, logger: log, version: "9.9.9-test", sseHeartbeatMs: 50 });
    // Routes the tests need to see the error handler at work; added before ready, like any plugin.
    app.post(
      "/test/body",
      {
        schema: {
          body: {
            type: "object",
            additionalProperties: false,
            required: ["count"],
            properties: { count: { type: "integer" } },
          },
          response: { 200: { type: "object", properties: { count: { type: "integer" } } } },
        },
      },
      async (req) => req.body as { count: number },
    );
    app.get("/test/boom", async () => {
      throw new Error(`cannot open ${__filename}`);
    });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await engine.down();
  });

  test("GET /v1/status: the node status, phase ready, components in order", async () => {
    const res = await request(app.server).get("/v1/status").expect(200);
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    const s = res.body as NodeStatus;
    assert.deepEqual(Object.keys(s).sort(), [
      "components",
      "message",
      "phase",
      "profile",
      "uptimeSec",
      "version",
    ]);
    assert.equal(s.phase, "ready");
    assert.equal(s.version, "9.9.9-test");
    assert.equal(s.profile, "test");
    assert.ok(Number.isInteger(s.uptimeSec));
    assert.deepEqual(
      s.components.map((x) => x.name),
      ["a", "b", "c"],
    );
    const first = s.components[0] as ComponentStatus;
    assert.deepEqual(Object.keys(first).sort(), [
      "adopted",
      "dependsOn",
      "lastError",
      "logTail",
      "name",
      "pid",
      "restarts",
      "since",
      "state",
    ]);
    assert.equal(first.state, "ready");
    assert.equal(first.pid, 4242);
    assert.ok(!Number.isNaN(Date.parse(first.since)));
  });

  test("GET /v1/ready: 200 when ready; ?wait=0 answers at once", async () => {
    const r = await request(app.server).get("/v1/ready").expect(200);
    assert.deepEqual(r.body, { ready: true, phase: "ready" });
    await request(app.server).get("/v1/ready?wait=0").expect(200);
    await request(app.server).get("/v1/ready?wait=2").expect(200);
  });

  test("GET /healthz: the daemon answers", async () => {
    const r = await request(app.server).get("/healthz").expect(200);
    assert.deepEqual(r.body, { ok: true });
  });

  test("GET /v1/components and /v1/components/:name; unknown name is a 404 naming the known ones", async () => {
    const list = await request(app.server).get("/v1/components").expect(200);
    assert.deepEqual(
      (list.body.components as ComponentStatus[]).map((x) => x.name),
      ["a", "b", "c"],
    );
    const one = await request(app.server).get("/v1/components/b").expect(200);
    assert.equal(one.body.name, "b");
    assert.deepEqual(one.body.dependsOn, ["a"]);
    const missing = await request(app.server).get("/v1/components/nope");
    const msg = assertErrorBody(missing, 404, "unknown_component");
    assert.match(msg, /"nope"/);
    assert.match(msg, /known components: a, b, c/);
    const bad = await request(app.server).get("/v1/components/..%2Fetc");
    assertErrorBody(bad, 400, "invalid_request");
  });

  test("a component that goes down: ready is 503 naming it, then 200 once it is back", async () => {
    c.crash("exited with code 1");
    const r = await request(app.server).get("/v1/ready").expect(503);
    assert.equal(r.body.ready, false);
    assert.equal(r.body.phase, "degraded");
    assert.match(r.body.reason, /\bc restarting \(exited with code 1\)/);
    const comp = await request(app.server).get("/v1/components/c").expect(200);
    assert.equal(comp.body.state, "restarting");
    const metrics = await request(app.server).get("/metrics").expect(200);
    assert.match(metrics.text, /^k8s_offloadd_component_up\{component="c"\} 0$/m);
    assert.match(metrics.text, /^k8s_offloadd_node_phase\{phase="degraded"\} 1$/m);
    // ?wait holds the request until the engine reports the node ready again.
    const phaseListeners = engine.listenerCount("phase");
    const waiting = request(app.server)
      .get("/v1/ready?wait=30")
      .then((res) => res);
    await until(() => engine.listenerCount("phase") > phaseListeners, "the request to wait");
    c.comeBack();
    const back = await waiting;
    assert.equal(back.status, 200);
    assert.deepEqual(back.body, { ready: true, phase: "ready" });
    const again = await request(app.server).get("/v1/components/c").expect(200);
    assert.equal(again.body.restarts, 1);
  });

  test("POST /v1/components/:name/restart waits for the outcome and answers the component's status", async () => {
    const seen = engine.events(0, 1000).length;
    const r = await request(app.server).post("/v1/components/b/restart").expect(200);
    assert.equal(r.body.name, "b");
    assert.equal(r.body.state, "ready");
    assert.equal(r.body.lastError, null);
    const evs = engine.events(0, 1000).slice(seen);
    assert.ok(evs.some((e) => e.component === "b" && e.kind === "restart"));
    assert.ok(evs.some((e) => e.component === "b" && e.kind === "ready"));
    assertErrorBody(await request(app.server).post("/v1/components/zz/restart"), 404, "unknown_component");
    const withBody = await request(app.server).post("/v1/components/b/restart").send({ force: true });
    assert.match(assertErrorBody(withBody, 400, "unexpected_body"), /takes no request body/);
  });

  test("GET /v1/events pages the history; after and limit are coerced from the querystring", async () => {
    const all = engine.events(0, 1000);
    assert.ok(all.length >= 4);
    const p1 = await request(app.server).get("/v1/events?after=0&limit=2").expect(200);
    assert.equal(p1.body.events.length, 2);
    assert.deepEqual(p1.body.events, all.slice(0, 2));
    assert.equal(p1.body.next, all[1]?.id);
    const p2 = await request(app.server).get(`/v1/events?after=${p1.body.next}&limit=1000`).expect(200);
    assert.deepEqual(p2.body.events, all.slice(2));
    assert.equal(p2.body.next, all.at(-1)?.id);
    const end = await request(app.server).get(`/v1/events?after=${p2.body.next}`).expect(200);
    assert.deepEqual(end.body, { events: [], next: p2.body.next });
    const dflt = await request(app.server).get("/v1/events").expect(200);
    assert.deepEqual(dflt.body.events, all.slice(0, 100));
    assertErrorBody(await request(app.server).get("/v1/events?limit=0"), 400, "invalid_request");
    const big = await request(app.server).get("/v1/events?limit=1001");
    assert.match(assertErrorBody(big, 400, "invalid_request"), /"limit".*<= 1000.*from 1 to 1000/);
    const neg = await request(app.server).get("/v1/events?after=-1");
    assert.match(assertErrorBody(neg, 400, "invalid_request"), /"after"/);
    const text = await request(app.server).get("/v1/events?after=abc");
    assert.match(assertErrorBody(text, 400, "invalid_request"), /"after" must be integer/);
  });

  test("GET /v1/events?follow=true streams the backlog, then new events; the listener goes with the client", async () => {
    await app.listen({ host: "127.0.0.1", port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const baseline = engine.listenerCount("event");
    const last = engine.events(0, 1000).at(-1) as NodeEvent;
    const afterId = last.id - 2;
    const s = openStream(port, `/v1/events?follow=true&after=${afterId}`);
    await s.opened;
    assert.equal(s.status, 200);
    assert.match(s.contentType, /^text\/event-stream/);
    await until(() => s.events().length >= 2, "the backlog");
    assert.deepEqual(
      s.events().map((e) => e.id),
      [afterId + 1, afterId + 2],
    );
    assert.equal(engine.listenerCount("event"), baseline + 1);
    // A new event reaches the stream.
    const restarted = request(app.server)
      .post("/v1/components/c/restart")
      .then((res) => res);
    await until(() => s.events().some((e) => e.kind === "restart" && e.component === "c"), "the live event");
    assert.equal((await restarted).status, 200);
    await until(() => s.frames.includes(": heartbeat"), "a heartbeat");
    const ids = s.events().map((e) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((x, y) => x - y),
      "in order",
    );
    assert.equal(new Set(ids).size, ids.length, "no duplicates");
    // The client goes away: the engine listener is removed.
    s.close();
    await until(() => engine.listenerCount("event") === baseline, "the listener to be removed");

    // Last-Event-ID resumes after the last id the client saw.
    const lastSeen = ids.at(-1) as number;
    const s2 = openStream(port, "/v1/events?follow=true", { "last-event-id": String(lastSeen - 1) });
    await s2.opened;
    await until(() => s2.events().length >= 1, "the resumed backlog");
    assert.equal(s2.events()[0]?.id, lastSeen);
    s2.close();
    await until(() => engine.listenerCount("event") === baseline, "the second listener to be removed");

    // Validation applies to streams too.
    assertErrorBody(await request(app.server).get("/v1/events?follow=maybe"), 400, "invalid_request");
  });

  test("GET /metrics: Prometheus text from the engine's status", async () => {
    const r = await request(app.server).get("/metrics").expect(200);
    assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    const t = r.text;
    for (const name of ["a", "b", "c"]) {
      assert.match(t, new RegExp(`^k8s_offloadd_component_up\\{component="${name}"\\} 1$`, "m"));
      assert.match(t, new RegExp(`^k8s_offloadd_component_ready_seconds\\{component="${name}"\\} \\d`, "m"));
    }
    assert.match(t, /^# TYPE k8s_offloadd_component_restarts_total counter$/m);
    assert.match(t, /^k8s_offloadd_component_restarts_total\{component="c"\} 1$/m);
    assert.match(t, /^k8s_offloadd_component_restarts_total\{component="a"\} 0$/m);
    assert.match(t, /^k8s_offloadd_node_phase\{phase="ready"\} 1$/m);
    assert.match(t, /^k8s_offloadd_node_phase\{phase="stopped"\} 0$/m);
    assert.match(t, /^process_cpu_user_seconds_total /m, "default process metrics");
    assert.match(t, /^nodejs_eventloop_lag_seconds /m);
  });

  test("request validation: unknown fields, limits, no body coercion, one error shape", async () => {
    const unknown = await request(app.server).get("/v1/ready?wiat=5");
    assert.match(
      assertErrorBody(unknown, 400, "invalid_request"),
      /unknown query parameter "wiat"; allowed: wait/,
    );
    const tooLong = await request(app.server).get("/v1/ready?wait=301");
    assert.match(assertErrorBody(tooLong, 400, "invalid_request"), /"wait" must be <= 300/);
    const onStatus = await request(app.server).get("/v1/status?verbose=1");
    assert.match(
      assertErrorBody(onStatus, 400, "invalid_request"),
      /unknown query parameter "verbose"; allowed: none/,
    );
    // Bodies are JSON and never coerced: "8" is not an integer.
    const coerced = await request(app.server).post("/test/body").send({ count: "8" });
    assert.match(assertErrorBody(coerced, 400, "invalid_request"), /body field "count" must be integer/);
    await request(app.server).post("/test/body").send({ count: 8 }).expect(200, { count: 8 });
    const extra = await request(app.server).post("/test/body").send({ count: 8, colour: "red" });
    assert.match(
      assertErrorBody(extra, 400, "invalid_request"),
      /unknown body field "colour"; allowed: count/,
    );
    const missing = await request(app.server).post("/test/body").send({});
    assert.match(assertErrorBody(missing, 400, "invalid_request"), /missing body field "count"/);
    const broken = await request(app.server)
      .post("/test/body")
      .set("content-type", "application/json")
      .send("{");
    assertErrorBody(broken, 400, "invalid_request");
    const xml = await request(app.server)
      .post("/test/body")
      .set("content-type", "application/xml")
      .send("<a/>");
    assertErrorBody(xml, 415, "unsupported_media_type");
  });

  test("unknown routes and internal errors answer in the same shape, without stacks or paths", async () => {
    const nf = await request(app.server).get("/v1/nothing-here?x=1");
    assert.equal(
      assertErrorBody(nf, 404, "not_found"),
      "no route GET /v1/nothing-here; the routes are listed by GET /v1/openapi.json",
    );
    assertErrorBody(await request(app.server).delete("/v1/status"), 404, "not_found");
    const boom = await request(app.server).get("/test/boom");
    assert.match(
      assertErrorBody(boom, 500, "internal_error"),
      /internal error while serving GET \/test\/boom/,
    );
    assert.doesNotMatch(boom.text, /cannot open/);
  });

  test("GET /v1/openapi.json lists every route, with schemas for the answers", async () => {
    const r = await request(app.server).get("/v1/openapi.json").expect(200);
    const doc = r.body as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown> };
    };
    assert.match(doc.openapi, /^3\./);
    assert.deepEqual(doc.info.title, "k8s-offloadd");
    assert.equal(doc.info.version, "9.9.9-test");
    const listed = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .filter((r) => !r.startsWith("HEAD ") && !r.includes("/test/"))
      .sort();
    assert.deepEqual(listed, expectedRoutes);
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (path.startsWith("/test/")) continue;
      for (const [method, op] of Object.entries(ops)) {
        // Jobs (hooks, reset) answer 202: they run on after the answer.
        assert.ok(op.responses["200"] ?? op.responses["202"], `${method} ${path} documents 200 or 202`);
        assert.ok(op.responses["400"] && op.responses["500"], `${method} ${path} documents its errors`);
      }
    }
    assert.ok(doc.paths["/v1/components/{name}"]?.get?.responses["404"]);
    assert.ok(doc.paths["/v1/ready"]?.get?.responses["503"]);
    assert.deepEqual(Object.keys(doc.components.schemas).sort(), [
      "Change",
      "CheckResult",
      "ComponentStatus",
      "Error",
      "Job",
      "NodeEvent",
      "NodeStatus",
    ]);
  });

  test("POST /v1/datapath/down stops the node; POST /v1/datapath/up brings it back", async () => {
    const down = await request(app.server).post("/v1/datapath/down").expect(200);
    assert.equal(down.body.phase, "stopped");
    assert.ok((down.body.components as ComponentStatus[]).every((x) => x.state === "stopped"));
    const r = await request(app.server).get("/v1/ready").expect(503);
    assert.equal(r.body.phase, "stopped");
    assert.match(r.body.reason, /stopped/);
    const m = await request(app.server).get("/metrics").expect(200);
    assert.match(m.text, /^k8s_offloadd_node_phase\{phase="stopped"\} 1$/m);
    assert.match(m.text, /^k8s_offloadd_component_up\{component="a"\} 0$/m);
    const up = await request(app.server).post("/v1/datapath/up").expect(200);
    assert.equal(up.body.phase, "ready");
    assert.ok((up.body.components as ComponentStatus[]).every((x) => x.state === "ready"));
    await request(app.server).get("/v1/ready").expect(200);
  });
});

describe("API on a node that is slow to come up (real engine)", () => {
  const slow = new Part("slow");
  slow.gateOpen = false;
  let engine: Engine;
  let app: FastifyInstance;
  let bringUp: Promise<void>;

  before(async () => {
    engine = newEngine([slow], 60_000);
    app = await buildServer({ engine, version: "test" });
    await app.ready();
    bringUp = engine.bringUp();
  });
  after(async () => {
    slow.gateOpen = true;
    await bringUp;
    await app.close();
    await engine.down();
  });

  test("a client that leaves during ?wait takes its wait with it", async () => {
    await app.listen({ host: "127.0.0.1", port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const phaseListeners = engine.listenerCount("phase");
    const req = http.get({ host: "127.0.0.1", port, path: "/v1/ready?wait=300" });
    req.on("error", () => {});
    await until(() => engine.listenerCount("phase") > phaseListeners, "the request to wait");
    req.destroy();
    await until(() => engine.listenerCount("phase") === phaseListeners, "the wait to end with the client");
  });

  test("?wait times out with 503 saying what the node waits for, and resolves once it is ready", async () => {
    await until(() => slow.probes > 0, "the first probe");
    const s = await request(app.server).get("/v1/status").expect(200);
    assert.equal(s.body.phase, "starting");
    const timedOut = await request(app.server).get("/v1/ready?wait=1");
    assert.equal(timedOut.status, 503);
    assert.equal(timedOut.body.phase, "starting");
    assert.match(timedOut.body.reason, /slow starting, waiting for slow to answer/);
    const phaseListeners = engine.listenerCount("phase");
    const waiting = request(app.server)
      .get("/v1/ready?wait=60")
      .then((res) => res);
    await until(() => engine.listenerCount("phase") > phaseListeners, "the request to wait");
    slow.gateOpen = true;
    const ready = await waiting;
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { ready: true, phase: "ready" });
    const m = await request(app.server).get("/metrics").expect(200);
    assert.match(m.text, /^k8s_offloadd_component_ready_seconds\{component="slow"\} \d/m);
  });
});

describe("API on a node whose component cannot start (real engine)", () => {
  const base = new Part("base");
  const broken = new Part("broken", ["base"], 1, "spawn /usr/sbin/nothing ENOENT");
  const after1 = new Part("after", ["broken"]);
  let engine: Engine;
  let app: FastifyInstance;

  before(async () => {
    engine = newEngine([base, broken, after1]);
    await engine.bringUp();
    app = await buildServer({ engine, logger: false, version: "test" });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await engine.down();
  });

  test("status failed; ready 503 names it; a restart by hand answers the outcome", async () => {
    const s = await request(app.server).get("/v1/status").expect(200);
    assert.equal(s.body.phase, "failed");
    const r = await request(app.server).get("/v1/ready").expect(503);
    assert.equal(r.body.phase, "failed");
    assert.match(r.body.reason, /broken: spawn \/usr\/sbin\/nothing ENOENT/);
    const c = await request(app.server).get("/v1/components/broken").expect(200);
    assert.equal(c.body.state, "failed");
    assert.equal(c.body.lastError, "spawn /usr/sbin/nothing ENOENT");
    const d = await request(app.server).get("/v1/components/after").expect(200);
    assert.equal(d.body.state, "blocked");
    // Still broken: the restart completes and says so (200 with the failed state).
    const again = await request(app.server).post("/v1/components/broken/restart").expect(200);
    assert.equal(again.body.state, "failed");
    // Fixed: the restart brings it and its dependents up.
    broken.failStart = null;
    const fixed = await request(app.server).post("/v1/components/broken/restart").expect(200);
    assert.equal(fixed.body.state, "ready");
    await request(app.server).get("/v1/ready").expect(200);
    const m = await request(app.server).get("/metrics").expect(200);
    assert.match(m.text, /^k8s_offloadd_component_up\{component="after"\} 1$/m);
  });
});

describe("openapi/openapi.json", () => {
  test("the committed document equals the generated one (npm run openapi when this fails)", async () => {
    const root = repoRoot(__dirname);
    const committed = readFileSync(join(root, "openapi/openapi.json"), "utf8");
    assert.equal(
      committed,
      await generateOpenapi(root),
      "openapi/openapi.json is stale; run npm run openapi",
    );
    assert.ok(committed.endsWith("}\n"));
  });

  test("--check exits 1 with a message when the document is stale, 0 once written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "openapi-check-"));
    try {
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "x", version: "1.2.3" }));
      mkdirSync(join(dir, "openapi"));
      writeFileSync(join(dir, "openapi/openapi.json"), "{}\n");
      const said: string[] = [];
      const say = (line: string) => void said.push(line);
      assert.equal(await writeOpenapi(["--check"], dir, say), 1);
      assert.deepEqual(said, ["openapi/openapi.json is stale; run npm run openapi"]);
      assert.equal(await writeOpenapi([], dir, say), 0);
      assert.equal(await writeOpenapi(["--check"], dir, say), 0);
      const doc = JSON.parse(readFileSync(join(dir, "openapi/openapi.json"), "utf8"));
      assert.equal(doc.info.version, "1.2.3");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
