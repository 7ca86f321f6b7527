/**
 * bench/api-hooks: what each request-level hook the API had on every route costs a GET, in req/s
 * against a bare fastify route answering the same bytes, all in one process, same run:
 * - access (Origin/Host rules, api/plugins/access.ts): kept for GETs (DNS rebinding, browsers);
 * - @fastify/rate-limit applied to every route (reads let through by allowList): now mutating routes only;
 * - the empty-body check (an async preValidation hook): now mutating routes only;
 * - the request log (an async onResponse hook): now mutating routes only;
 * and the API as built now (buildServer: GET /v1/status from its cached body). Each server runs in its
 * own process (this file, argv: serve VARIANT PORT), the load from this one.
 */
import { fork } from "node:child_process";
import rateLimit from "@fastify/rate-limit";
import autocannon from "autocannon";
import Fastify, { type FastifyInstance } from "fastify";
import pino from "pino";
import access from "../api/plugins/access";
import { buildServer } from "../api/server";
import { Engine } from "../daemon/engine/engine";
import { freePort } from "../test/helpers/daemon";
import { Part } from "../test/helpers/part";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const TOKEN = "ab".repeat(32);

async function rate(variant: number): Promise<number> {
  const port = await freePort();
  const child = fork(__filename, ["serve", String(variant), String(port)], { stdio: "inherit" });
  try {
    await new Promise((r) => child.once("message", r));
    const url = `http://127.0.0.1:${port}/v1/status`;
    await autocannon({ url, connections: 50, duration: 1 });
    const r = await autocannon({ url, connections: 50, duration: SECONDS });
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${r.non2xx} non-2xx, ${r.errors} errors`);
    return r.requests.average;
  } finally {
    child.kill();
  }
}

const NAMES = [
  "bare fastify",
  "+ access rules (kept)",
  "+ rate limit on every route",
  "+ async preValidation",
  "+ async onResponse",
  "the API now (cached body, access rules)",
];

export async function benchApiHooks(): Promise<void> {
  const results: Array<[string, number]> = [];
  // Two rounds in turn, best of each: the machine is shared, and a round-robin spreads its noise.
  const best = NAMES.map(() => 0);
  for (let round = 0; round < 2; round++) {
    for (let v = 0; v < NAMES.length; v++) best[v] = Math.max(best[v] as number, await rate(v));
  }
  for (let v = 0; v < NAMES.length; v++) results.push([NAMES[v] as string, best[v] as number]);
  const ref = results[0]?.[1] as number;
  for (const [name, rps] of results) {
    console.log(
      `bench/api-hooks: ${name.padEnd(42)} ${rps.toFixed(0).padStart(7)} req/s, ratio ${(rps / ref).toFixed(2)}`,
    );
  }
}

async function serve(variant: number, port: number): Promise<void> {
  const engine = new Engine({
    components: [new Part("a"), new Part("b", ["a"])],
    store: null,
    log: pino({ level: "silent" }),
    version: "bench",
    profile: "bench",
    readyTimeoutMs: 5000,
    pollIntervalMs: 5,
  });
  await engine.bringUp();
  const body = Buffer.from(JSON.stringify(engine.status()));
  const bare = async (add: (app: FastifyInstance) => Promise<void>) => {
    const app = Fastify({ logger: false });
    await add(app);
    app.get("/v1/status", (_req, reply) => {
      reply.type("application/json; charset=utf-8").send(body);
    });
    return app;
  };
  const variants: Array<() => Promise<FastifyInstance>> = [
    () => bare(async () => {}),
    () =>
      bare(async (app) => {
        await app.register(access, { rules: { token: TOKEN, port, rateLimit: 60 } });
      }),
    () =>
      bare(async (app) => {
        await app.register(rateLimit, { global: true, max: 60, allowList: (r) => r.method === "GET" });
      }),
    () =>
      bare(async (app) => {
        app.addHook("preValidation", async () => {});
      }),
    () =>
      bare(async (app) => {
        app.addHook("onResponse", async () => {});
      }),
    () =>
      buildServer({
        engine,
        logger: false,
        version: "bench",
        openapiFile: __filename,
        access: { token: TOKEN, port, rateLimit: 60 },
      }),
  ];
  const app = await (variants[variant] as () => Promise<FastifyInstance>)();
  await app.listen({ host: "127.0.0.1", port });
  process.send?.("listening");
}

if (require.main === module) {
  if (process.argv[2] === "serve") void serve(Number(process.argv[3]), Number(process.argv[4]));
  else void benchApiHooks();
}
