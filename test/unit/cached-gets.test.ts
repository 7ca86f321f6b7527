/**
 * The fast path in front of fastify (api/cached-gets.ts), over real HTTP against a real server and the
 * real engine: each cached GET answers exactly what fastify's own route answers (status, header lines
 * except Date, body bytes) without going through fastify; everything else still does, refusals in
 * their usual shape.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { buildServer } from "../../api/server";
import type { NodeStatus } from "../../daemon/engine/component";
import type { Engine } from "../../daemon/engine/engine";
import { Part, partsEngine } from "../helpers/part";

const log = pino({ level: "silent" });
const HOST = "localhost:1"; // the access rules below are for port 1

interface Answer {
  status: number;
  /** Header lines as sent (name, value, name, value...), Date left out: it moves with the clock. */
  lines: string[];
  body: Buffer;
}

function ask(
  port: number,
  agent: http.Agent,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path, method, agent, headers: { host: HOST, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const lines: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            const name = res.rawHeaders[i] as string;
            if (name.toLowerCase() !== "date") lines.push(name, res.rawHeaders[i + 1] as string);
          }
          resolve({ status: res.statusCode ?? 0, lines, body: Buffer.concat(chunks) });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("cached GETs answered in front of fastify", () => {
  const a = new Part("a");
  let engine: Engine;
  let app: FastifyInstance;
  /** A second server that hands every request to fastify's own handler (as the unix socket does). */
  let plain: http.Server;
  let fastPort = 0;
  let plainPort = 0;
  const fastAgent = new http.Agent({ keepAlive: true });
  const plainAgent = new http.Agent({ keepAlive: true });
  /** Requests fastify answered ("METHOD url"), on either server. */
  const reached: string[] = [];

  before(async () => {
    engine = partsEngine([a], log);
    await engine.bringUp();
    app = await buildServer({
      engine,
      logger: log,
      version: "1.2.3-test",
      access: { token: "ef".repeat(32), port: 1, rateLimit: 10 },
    });
    app.addHook("onResponse", (request, _reply, done) => {
      reached.push(`${request.method} ${request.url}`);
      done();
    });
    await app.ready();
    await app.listen({ host: "127.0.0.1", port: 0 });
    fastPort = (app.server.address() as AddressInfo).port;
    plain = http.createServer((req, res) => app.routing(req, res));
    // The same keep-alive answer as fastify's server gives (its Keep-Alive header says it).
    plain.keepAliveTimeout = app.server.keepAliveTimeout;
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    plainPort = (plain.address() as AddressInfo).port;
  });
  after(async () => {
    fastAgent.destroy();
    plainAgent.destroy();
    plain.closeAllConnections();
    await new Promise((r) => plain.close(r));
    await app.close();
    await engine.down();
  });

  /**
   * The fast path's answer and fastify's to the same request. /v1/status carries uptimeSec, so its
   * bytes may be made again between two requests (at most once a second): asked fast, fastify, fast
   * until both fast answers are the same bytes, fastify's must be those too.
   */
  async function bothAnswers(path: string): Promise<{ fast: Answer; viaFastify: Answer }> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const before = reached.length;
      const fast = await ask(fastPort, fastAgent, path);
      const viaFastify = await ask(plainPort, plainAgent, path);
      const again = await ask(fastPort, fastAgent, path);
      assert.deepEqual(
        reached.slice(before),
        [`GET ${path}`],
        "only the plain server's request reached fastify",
      );
      if (fast.body.equals(again.body)) return { fast, viaFastify };
    }
    throw new Error(`${path}: the body changed between every two requests of 20 attempts`);
  }

  async function assertSameAsFastify(path: string, status: number): Promise<Answer> {
    const { fast, viaFastify } = await bothAnswers(path);
    assert.equal(viaFastify.status, status, viaFastify.body.toString());
    assert.equal(fast.status, viaFastify.status, path);
    assert.deepEqual(fast.lines, viaFastify.lines, `${path}: the same header lines as fastify's`);
    assert.ok(fast.body.equals(viaFastify.body), `${path}: the same bytes as fastify's`);
    return fast;
  }

  test("/v1/status, /v1/ready and /healthz: fastify's answer, byte for byte, without fastify", async () => {
    const status = await assertSameAsFastify("/v1/status", 200);
    assert.equal((JSON.parse(status.body.toString()) as NodeStatus).phase, "ready");
    const ready = await assertSameAsFastify("/v1/ready", 200);
    assert.deepEqual(JSON.parse(ready.body.toString()), { ready: true, phase: "ready" });
    const health = await assertSameAsFastify("/healthz", 200);
    assert.deepEqual(JSON.parse(health.body.toString()), { ok: true });
  });

  test("a status change is seen by the next request; a 503 /v1/ready is fastify's answer too", async () => {
    a.crash("exited with code 7");
    try {
      const status = JSON.parse((await ask(fastPort, fastAgent, "/v1/status")).body.toString()) as NodeStatus;
      assert.equal(status.components.find((c) => c.name === "a")?.state, "restarting");
      const ready = await assertSameAsFastify("/v1/ready", 503);
      const body = JSON.parse(ready.body.toString()) as { ready: boolean; reason: string };
      assert.equal(body.ready, false);
      assert.match(body.reason, /a restarting \(exited with code 7\)/);
    } finally {
      a.comeBack();
    }
    await engine.waitReady(5000);
    assert.equal((await ask(fastPort, fastAgent, "/v1/ready")).status, 200);
  });

  test("an Origin or a foreign Host: refused by fastify, 403 in the usual shape", async () => {
    for (const [path, headers] of [
      ["/v1/status", { origin: "http://evil.example" }],
      ["/healthz", { host: "evil.example:1" }],
      ["/v1/ready", { host: "localhost:2" }],
    ] as const) {
      const before = reached.length;
      const res = await ask(fastPort, fastAgent, path, headers);
      assert.equal(res.status, 403, `${path} ${JSON.stringify(headers)}`);
      const body = JSON.parse(res.body.toString()) as { error: string; message: string };
      assert.equal(body.error, "forbidden");
      assert.deepEqual(reached.slice(before), [`GET ${path}`]);
    }
  });

  test("?wait=, any querystring, HEAD and a differently cased Host are left to fastify", async () => {
    const cases: Array<[string, string, Record<string, string>, number]> = [
      ["GET", "/v1/ready?wait=1", {}, 200],
      ["GET", "/v1/status?", {}, 200],
      ["GET", "/healthz?x=1", {}, 400],
      ["HEAD", "/v1/status", {}, 200],
      ["GET", "/v1/status", { host: "LocalHost:1" }, 200],
      ["GET", "/v1/status/", {}, 404],
    ];
    for (const [method, path, headers, status] of cases) {
      const before = reached.length;
      const res = await ask(fastPort, fastAgent, path, headers, method);
      assert.equal(res.status, status, `${method} ${path}: ${res.body.toString()}`);
      assert.deepEqual(reached.slice(before), [`${method} ${path}`], `${method} ${path} went to fastify`);
    }
  });
});
