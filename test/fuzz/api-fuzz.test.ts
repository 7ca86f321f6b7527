/**
 * Property-based fuzzing of a real daemon's API, driven by the OpenAPI document the running server
 * serves (GET /v1/openapi.json), so a route added tomorrow is fuzzed without touching this file.
 *
 * For every operation, fast-check generates valid requests (from the parameter and body schemas) and
 * invalid ones (unknown or ill-typed query parameters, path parameters off their pattern, bodies with
 * unknown fields, wrong types, malformed or non-object JSON, a body where none is taken, a wrong
 * content type, no or a wrong token). Properties:
 *
 * - never a 5xx and never a dropped connection; the daemon keeps its pid and answers /healthz;
 * - every answer's status is one the document lists for the operation;
 * - invalid input is always a 4xx with exactly `{error, message}`, with no stack or path in it;
 * - rejected requests change nothing: the TAP pool (API and kernel listing), the components and
 *   their pids, the jobs are identical before and after each operation's batch.
 *
 * Mutating operations whose valid input changes the node (restart, datapath down/up, resize, reset,
 * hooks, a real preflight fix) get only invalid input in the main phase. Restart, down/up and resize
 * are then run with valid input once each, last. Reset and the kubeadm hooks are never run with valid
 * input here: they run kubeadm/systemctl on the node (test/integration covers them with fakes).
 *
 * At least FUZZ_REQUESTS (default 10 000) requests per run: the runs per operation and kind are derived
 * from the document's operations so the main phase reaches it (FUZZ_RUNS sets them instead). The count
 * and the seed are printed; FUZZ_SEED=<n> reproduces a run.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { benchCoreConfig, type DaemonProcess, daemonFixture, scratchDir } from "../helpers/daemon";
import { StandIns } from "../helpers/stand-ins";

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const TARGET = process.env.FUZZ_REQUESTS ? Number(process.env.FUZZ_REQUESTS) : 10_000;
/** Runs per operation and kind; derived from TARGET once the operations are known, unless given. */
let RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 0;

// ---- the OpenAPI document, as much of it as the fuzzer reads ----------------------------------------

type Schema = {
  type?: string | string[];
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  $ref?: string;
  default?: unknown;
};
interface Parameter {
  name: string;
  in: "query" | "path" | "header" | "cookie";
  required?: boolean;
  schema: Schema;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, unknown>;
  security?: unknown[];
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

interface Op {
  method: string;
  path: string;
  op: Operation;
  query: Parameter[];
  params: Parameter[];
  body: Schema | null;
  mutating: boolean;
  key: string;
}

function operations(doc: OpenApi): Op[] {
  const out: Op[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(ops)) {
      const method = m.toUpperCase();
      const ps = op.parameters ?? [];
      const body = op.requestBody?.content["application/json"]?.schema ?? null;
      out.push({
        method,
        path,
        op,
        query: ps.filter((p) => p.in === "query"),
        params: ps.filter((p) => p.in === "path"),
        body: body ? resolveRef(doc, body) : null,
        mutating: !["GET", "HEAD", "OPTIONS"].includes(method),
        key: `${method} ${path}`,
      });
    }
  }
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

function resolveRef(doc: OpenApi, s: Schema): Schema {
  if (!s.$ref) return s;
  const name = s.$ref.split("/").at(-1) ?? "";
  const target = doc.components?.schemas?.[name];
  assert.ok(target, `unresolved ${s.$ref}`);
  return resolveRef(doc, target);
}

// ---- arbitraries -------------------------------------------------------------------------------------

const types = (s: Schema): string[] => (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []);

/** A value valid for a (scalar) schema, as JSON data. */
function validValue(s: Schema): fc.Arbitrary<unknown> {
  if (s.enum) return fc.constantFrom(...s.enum);
  const t = types(s)[0];
  if (t === "integer") {
    const small = fc.integer({
      min: s.minimum ?? -1_000_000,
      max: Math.min(s.maximum ?? 1_000_000, 1_000_000),
    });
    // Unbounded above: numbers past 2^53 and past SQLite's int64 too (a lookup must not throw).
    return s.maximum === undefined ? fc.oneof(small, fc.constantFrom(2 ** 53 + 2, 1e20, 1e300)) : small;
  }
  if (t === "number") return fc.double({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6, noNaN: true });
  if (t === "boolean") return fc.boolean();
  if (t === "string") {
    if (s.pattern) return fc.stringMatching(new RegExp(s.pattern));
    return fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 40, 40) });
  }
  if (t === "object") return validObject(s);
  return fc.constant(null);
}

function validObject(s: Schema): fc.Arbitrary<Record<string, unknown>> {
  const props = s.properties ?? {};
  const req = new Set(s.required ?? []);
  const entries = Object.entries(props);
  return fc.record(Object.fromEntries(entries.map(([k, v]) => [k, validValue(v)])), {
    requiredKeys: entries.map(([k]) => k).filter((k) => req.has(k)),
  }) as fc.Arbitrary<Record<string, unknown>>;
}

/** Text that no coercion turns into a value valid for s (for query and path parameters). */
function invalidText(s: Schema): fc.Arbitrary<string> {
  const t = types(s)[0];
  const words = fc.stringMatching(/^[a-z][a-z_]{0,12}$/);
  const arbs: fc.Arbitrary<string>[] = [];
  if (t === "integer" || t === "number") {
    arbs.push(words, fc.constantFrom("1.5", "NaN", "0x", "--1", "1,2", "[]", "{}", "null"));
    if (typeof s.minimum === "number") arbs.push(fc.integer({ min: -1e9, max: s.minimum - 1 }).map(String));
    if (typeof s.maximum === "number")
      arbs.push(fc.integer({ min: s.maximum + 1, max: s.maximum + 1e9 }).map(String));
    if (s.enum)
      arbs.push(
        fc
          .integer()
          .filter((n) => !s.enum?.includes(n))
          .map(String),
      );
  } else if (t === "boolean") {
    arbs.push(
      words.filter((w) => w !== "true" && w !== "false"),
      fc.constantFrom("yes", "2", "TRUE!", "[]"),
    );
  } else if (s.enum) {
    arbs.push(fc.string({ minLength: 1, maxLength: 30 }).filter((x) => !s.enum?.includes(x)));
  } else if (s.pattern) {
    const re = new RegExp(s.pattern);
    arbs.push(
      fc.string({ unit: "binary", minLength: 1, maxLength: 80 }).filter((x) => !re.test(x)),
      fc.constantFrom("..", ".", "a/b", "a b", "a;rm -rf /", "$(id)", "`id`", "a\nb", "x".repeat(300)),
    );
  } else {
    arbs.push(fc.constant("x".repeat(300)));
  }
  return fc.oneof(...arbs);
}

/** A JSON body that the schema rejects, with what is wrong. */
function invalidBody(s: Schema): fc.Arbitrary<{ text: string; why: string }> {
  const props = s.properties ?? {};
  const names = Object.keys(props);
  const valid = validObject(s);
  const extraKey = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,15}$/).filter((k) => !(k in props));
  const arbs: fc.Arbitrary<{ text: string; why: string }>[] = [
    fc
      .tuple(valid, extraKey, fc.jsonValue({ maxDepth: 2 }))
      .map(([o, k, v]) => ({ text: JSON.stringify({ ...o, [k]: v }), why: `unknown field ${k}` })),
    fc
      .oneof(
        fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
        fc.integer(),
        fc.string(),
        fc.constant(null),
      )
      .map((v) => ({ text: JSON.stringify(v), why: "not an object" })),
    fc
      .constantFrom("{", '{"count":', "{'count': 8}", "count=8", '{"count":8}}', "\u0000")
      .map((text) => ({ text, why: "malformed JSON" })),
  ];
  if ((s.required ?? []).length > 0) arbs.push(fc.constant({ text: "{}", why: "missing required field" }));
  if (names.length > 0) {
    arbs.push(
      fc
        .tuple(valid, fc.constantFrom(...names), fc.jsonValue({ maxDepth: 1 }))
        .filter(([, k, v]) => !acceptsJson(props[k] as Schema, v))
        .map(([o, k, v]) => ({ text: JSON.stringify({ ...o, [k]: v }), why: `bad ${k}` })),
    );
  }
  return fc.oneof(...arbs);
}

/** Whether a JSON value is valid for a scalar schema (bodies are never coerced). */
function acceptsJson(s: Schema, v: unknown): boolean {
  if (s.enum) return s.enum.some((e) => e === v);
  return types(s).some((t) => {
    if (t === "integer") return Number.isInteger(v) && inRange(s, v as number);
    if (t === "number") return typeof v === "number" && inRange(s, v);
    if (t === "null") return v === null;
    if (t === "string") return typeof v === "string" && (!s.pattern || new RegExp(s.pattern).test(v));
    if (t === "boolean") return typeof v === "boolean";
    if (t === "array") return Array.isArray(v);
    if (t === "object") return typeof v === "object" && v !== null && !Array.isArray(v);
    return true;
  });
}
const inRange = (s: Schema, n: number) => n >= (s.minimum ?? -Infinity) && n <= (s.maximum ?? Infinity);

// ---- requests ------------------------------------------------------------------------------------------

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Why this request must be refused; null: it is valid. */
  invalid: string | null;
}
interface Answer {
  status: number;
  text: string;
  contentType: string;
}

/** node:http: exact paths (fetch would normalize "..") and Host; streams end after their headers. */
function send(port: number, r: Req): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method: r.method, path: r.path, headers: r.headers },
      (res) => {
        const contentType = String(res.headers["content-type"] ?? "");
        if (contentType.startsWith("text/event-stream")) {
          resolve({ status: res.statusCode ?? 0, text: "", contentType });
          req.destroy();
          return;
        }
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text, contentType }));
      },
    );
    req.on("error", (err) => reject(new Error(`${r.method} ${r.path}: connection failed: ${err.message}`)));
    req.end(r.body);
  });
}

function pathOf(op: Op, values: Record<string, string>, query: [string, string][]): string {
  let p = op.path;
  for (const [k, v] of Object.entries(values)) p = p.replace(`{${k}}`, v);
  const qs = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  return qs ? `${p}?${qs}` : p;
}

// ---- the daemon's state ----------------------------------------------------------------------------------

interface Snapshot {
  pid: number;
  taps: unknown;
  kernelTaps: string[];
  components: unknown;
  jobs: unknown;
}

describe("API fuzzing against a real daemon", () => {
  let f: Awaited<ReturnType<typeof daemonFixture>>;
  let d: DaemonProcess;
  let ops: Op[] = [];
  const counts = new Map<string, { valid: number; invalid: number; failures: number }>();
  /** When the requests began (the daemon's start is not part of the fuzz time). */
  let started = 0;
  const netns = () => `offloadd-${f.port}`;
  const toolsDir = scratchDir("offloadd-fuzz-");

  before(async () => {
    // Defence in depth: should a reset or hook ever get through, it finds stand-ins, never the host's
    // own kubeadm or systemctl.
    const tools = new StandIns(toolsDir);
    for (const t of ["kubeadm", "kubectl", "crictl", "systemctl"]) tools.add(t);
    // A rate limit no fuzz run reaches: the limit itself is tested in test/integration/api-access.
    f = await daemonFixture({
      ...benchCoreConfig,
      api: { rateLimit: 100_000 },
      kubernetes: { toolPath: [tools.bin], manifests: [], kubeconfig: null },
    });
    d = f.start();
    await d.until<{ phase: string }>("/v1/status", (s) => s.phase === "ready", 60_000);
    const doc = (await d.http("GET", "/v1/openapi.json")).body as OpenApi;
    ops = operations(doc).filter((o) => o.method !== "OPTIONS");
    // Each operation sends RUNS*2 invalid requests, and RUNS valid ones when it may (safeValid).
    const perRun = ops.reduce((a, op) => a + (safeValid(op) ? 3 : 2), 0);
    if (RUNS === 0) RUNS = Math.ceil(TARGET / perRun);
    process.stdout.write(
      `# fuzz seed ${SEED} (FUZZ_SEED=${SEED} reproduces), ${RUNS} runs per kind over ${ops.length} operations: ${RUNS * perRun} requests planned\n`,
    );
  });
  after(async () => {
    const rows = [...counts].map(
      ([k, c]) => `#   ${k}: ${c.valid} valid, ${c.invalid} invalid, ${c.failures} failures`,
    );
    const total = [...counts.values()].reduce((a, c) => a + c.valid + c.invalid, 0);
    const failures = [...counts.values()].reduce((a, c) => a + c.failures, 0);
    const secs = (Date.now() - started) / 1000;
    process.stdout.write(
      `# fuzz seed ${SEED} (FUZZ_SEED=${SEED} reproduces): ${total} requests over ${counts.size} operations in ${secs.toFixed(1)} s, ${failures} failures\n${rows.join("\n")}\n`,
    );
    await f?.cleanup();
    rmSync(toolsDir, { recursive: true, force: true });
  });

  const hostHeader = () => `127.0.0.1:${f.port}`;

  async function snapshot(): Promise<Snapshot> {
    const get = async (p: string) => {
      const r = await d.http("GET", p);
      return r.status === 404 ? null : r.body;
    };
    const ip = spawnSync("ip", ["-n", netns(), "-j", "link", "show"], { encoding: "utf8" });
    const kernelTaps = (JSON.parse(ip.stdout || "[]") as { ifname: string }[])
      .map((l) => l.ifname)
      .filter((n) => n !== "lo")
      .sort();
    const comps = (await get("/v1/components")) as { components: Record<string, unknown>[] } | null;
    return {
      pid: d.pid,
      taps: await get("/v1/taps"),
      kernelTaps,
      components: comps?.components.map((c) => ({ name: c.name, state: c.state, pid: c.pid })),
      jobs: await get("/v1/jobs"),
    };
  }

  function count(key: string, valid: boolean, failed: boolean) {
    const c = counts.get(key) ?? { valid: 0, invalid: 0, failures: 0 };
    if (valid) c.valid++;
    else c.invalid++;
    if (failed) c.failures++;
    counts.set(key, c);
  }

  /** Sends one request and checks the properties every answer must have. */
  async function check(op: Op, r: Req): Promise<Answer> {
    let failed = true;
    try {
      const a = await send(f.port, r);
      const what = `${r.method} ${r.path} (${r.invalid ?? "valid"}) -> ${a.status} ${a.text.slice(0, 300)}`;
      assert.ok(a.status < 500, `5xx: ${what}`);
      assert.ok(op.op.responses[String(a.status)] !== undefined, `undocumented status: ${what}`);
      if (r.invalid !== null) assert.ok(a.status >= 400 && a.status < 500, `invalid input accepted: ${what}`);
      if (a.status >= 400 && r.method !== "HEAD") {
        assert.match(a.contentType, /^application\/json/, what);
        const body = JSON.parse(a.text) as Record<string, unknown>;
        assert.deepEqual(Object.keys(body).sort(), ["error", "message"], what);
        assert.equal(typeof body.error, "string", what);
        assert.equal(typeof body.message, "string", what);
        assert.doesNotMatch(
          a.text,
          /\bat \S+ \(|:\d+:\d+\)|node_modules|\/tmp\/|\/work\//,
          `stack or path: ${what}`,
        );
      }
      failed = false;
      return a;
    } finally {
      count(op.key, r.invalid === null, failed);
    }
  }

  /** Operations that may get valid input during the main phase: they read, or change nothing. */
  function safeValid(op: Op): boolean {
    if (!op.mutating) return true;
    if (op.key === "POST /v1/preflight/fix") return true; // with dryRun=true forced below
    if (op.key === "PUT /v1/taps") return true; // with the pool's own size forced below
    return false;
  }

  function validReq(op: Op, knownNames: string[], poolSize: number): fc.Arbitrary<Req> {
    const params = fc.record(
      Object.fromEntries(
        op.params.map((p) => [
          p.name,
          p.name === "name" && p.schema.pattern && knownNames.length > 0
            ? fc.oneof(fc.constantFrom(...knownNames), validValue(p.schema))
            : validValue(p.schema),
        ]),
      ),
    );
    const query = fc.record(Object.fromEntries(op.query.map((p) => [p.name, validValue(p.schema)])), {
      requiredKeys: op.query.filter((p) => p.required).map((p) => p.name),
    });
    const body = op.body ? validObject(op.body) : fc.constant(undefined);
    return fc.tuple(params, query, body).map(([pv, qv, bv]) => {
      const q = { ...(qv as Record<string, unknown>) };
      if (op.key === "POST /v1/preflight/fix") q.dryRun = true;
      if (op.key === "GET /v1/ready" && typeof q.wait === "number") q.wait = Math.min(q.wait, 2);
      let b = bv as Record<string, unknown> | undefined;
      if (op.key === "PUT /v1/taps") b = { ...b, count: poolSize };
      const headers: Record<string, string> = { host: hostHeader() };
      if (op.mutating) headers.authorization = `Bearer ${f.token}`;
      if (b !== undefined) headers["content-type"] = "application/json";
      return {
        method: op.method,
        path: pathOf(
          op,
          Object.fromEntries(Object.entries(pv).map(([k, v]) => [k, encodeURIComponent(String(v))])),
          Object.entries(q).map(([k, v]) => [k, String(v)]),
        ),
        headers,
        body: b === undefined ? undefined : JSON.stringify(b),
        invalid: null,
      };
    });
  }

  function invalidReq(op: Op, knownNames: string[]): fc.Arbitrary<Req> {
    const okParams = fc.record(
      Object.fromEntries(
        op.params.map((p) => [
          p.name,
          (knownNames.length > 0 && p.name === "name" && p.schema.pattern
            ? fc.constantFrom(...knownNames)
            : validValue(p.schema)
          ).map((v) => encodeURIComponent(String(v))),
        ]),
      ),
    ) as fc.Arbitrary<Record<string, string>>;
    const okBody = op.body ? validObject(op.body).map((b) => JSON.stringify(b)) : fc.constant(undefined);
    const base = (invalid: string, path: string, body?: string, extra: Record<string, string> = {}): Req => {
      const headers: Record<string, string> = { host: hostHeader(), ...extra };
      if (op.mutating && !("authorization" in extra)) headers.authorization = `Bearer ${f.token}`;
      if (body !== undefined && !("content-type" in extra)) headers["content-type"] = "application/json";
      for (const [k, v] of Object.entries(headers)) if (v === "") delete headers[k];
      return { method: op.method, path, headers, body, invalid };
    };
    const known = new Set(op.query.map((p) => p.name));
    const kinds: fc.Arbitrary<Req>[] = [
      // An unknown query parameter (additionalProperties: false on every querystring).
      fc
        .tuple(
          okParams,
          okBody,
          fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,15}$/).filter((k) => !known.has(k)),
          fc.string(),
        )
        .map(([pv, b, k, v]) => base(`unknown query parameter ${k}`, pathOf(op, pv, [[k, v]]), b)),
    ];
    for (const p of op.query) {
      kinds.push(
        fc
          .tuple(okParams, okBody, invalidText(p.schema))
          .map(([pv, b, v]) => base(`bad query ${p.name}`, pathOf(op, pv, [[p.name, v]]), b)),
        // Given twice: an array where a scalar belongs.
        fc.tuple(okParams, okBody).map(([pv, b]) =>
          base(
            `query ${p.name} twice`,
            pathOf(op, pv, [
              [p.name, "1"],
              [p.name, "2"],
            ]),
            b,
          ),
        ),
      );
    }
    for (const p of op.params) {
      kinds.push(
        // Raw, not encoded: bad percent-escapes, NUL, overlong UTF-8, encoded dots.
        fc
          .tuple(
            okParams,
            okBody,
            fc.constantFrom("%ZZ", "%", "%00", "%C0%AF", "..%2F..", "%2e%2e", "a%20b", "%FF%FE"),
          )
          .map(([pv, b, v]) => base(`raw path ${p.name}`, pathOf(op, { ...pv, [p.name]: v }, []), b)),
      );
      kinds.push(
        fc
          .tuple(okParams, okBody, invalidText(p.schema))
          .map(([pv, b, v]) =>
            base(`bad path ${p.name}`, pathOf(op, { ...pv, [p.name]: encodeURIComponent(v) }, []), b),
          ),
      );
    }
    if (op.body) {
      kinds.push(
        fc.tuple(okParams, invalidBody(op.body)).map(([pv, b]) => base(b.why, pathOf(op, pv, []), b.text)),
        fc
          .tuple(okParams, okBody)
          .map(([pv, b]) => base("text/plain body", pathOf(op, pv, []), b, { "content-type": "text/plain" })),
      );
    } else if (op.method !== "GET" && op.method !== "HEAD") {
      kinds.push(
        fc
          .tuple(
            okParams,
            fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), {
              minKeys: 1,
              maxKeys: 3,
            }),
          )
          .map(([pv, b]) => base("a body where none is taken", pathOf(op, pv, []), JSON.stringify(b))),
      );
    }
    if (op.method !== "GET" && op.method !== "HEAD") {
      kinds.push(
        fc
          .tuple(okParams, okBody)
          .map(([pv, b]) =>
            base("over the body limit", pathOf(op, pv, []), (b ?? "").padEnd(17 * 1024, " ")),
          ),
      );
    }
    if (op.mutating) {
      kinds.push(
        fc
          .tuple(
            okParams,
            okBody,
            fc.oneof(fc.constant(""), fc.stringMatching(/^[0-9a-f]{64}$/), fc.string()),
          )
          .filter(([, , t]) => t !== f.token)
          .map(([pv, b, t]) =>
            base("no or a wrong token", pathOf(op, pv, []), b, {
              authorization: t === "" ? "" : `Bearer ${t.replace(/[^\x21-\x7e]/g, "x")}`,
            }),
          ),
      );
    }
    kinds.push(
      fc
        .tuple(okParams, okBody, fc.constantFrom("http://evil.example", "null", "file://"))
        .map(([pv, b, origin]) => base("an Origin header", pathOf(op, pv, []), b, { origin })),
      fc
        .tuple(okParams, okBody, fc.stringMatching(/^[a-z]{1,10}\.(test|example)$/))
        .map(([pv, b, h]) => base("a foreign Host", pathOf(op, pv, []), b, { host: `${h}:${f.port}` })),
    );
    return fc.oneof(...kinds);
  }

  test("every operation: valid and invalid requests, never a 5xx, rejected ones change nothing", async () => {
    assert.ok(ops.length >= 10, `operations in the document: ${ops.length}`);
    started = Date.now();
    const s0 = await snapshot();
    const names = ((s0.components as { name: string }[] | undefined) ?? []).map((c) => c.name);
    const poolSize = (s0.taps as { count: number }).count;
    let i = 0;
    for (const op of ops) {
      const before = await snapshot();
      if (safeValid(op)) {
        await fc.assert(
          fc.asyncProperty(validReq(op, names, poolSize), async (r) => {
            await check(op, r);
          }),
          { seed: SEED + i++, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
        );
      }
      await fc.assert(
        fc.asyncProperty(invalidReq(op, names), async (r) => {
          await check(op, r);
        }),
        { seed: SEED + i++, numRuns: RUNS * 2, endOnFailure: true, includeErrorInReport: true },
      );
      assert.deepEqual(await snapshot(), before, `${op.key}: its requests changed the daemon's state`);
      assert.equal((await d.http("GET", "/healthz")).status, 200);
    }
    assert.deepEqual(await snapshot(), s0);
    assert.equal(d.proc.exitCode, null, "the daemon still runs");
    const sent = [...counts.values()].reduce((a, c) => a + c.valid + c.invalid, 0);
    if (!process.env.FUZZ_RUNS)
      assert.ok(sent >= TARGET, `${sent} requests sent; at least ${TARGET} (FUZZ_REQUESTS) per run`);
  });

  test("every request body schema has additionalProperties false", async () => {
    for (const op of ops) {
      if (op.body) assert.equal(op.body.additionalProperties, false, op.key);
    }
  });

  test("last: the operations that change the node, with valid input, once each", async () => {
    const s0 = await snapshot();
    const name =
      ((s0.components as { name: string }[]) ?? []).map((c) => c.name).find((n) => n.startsWith("ovs")) ?? "";
    const run = async (key: string, path: string, body?: unknown) => {
      const op = ops.find((o) => o.key === key);
      if (!op) return; // not in this build's document
      const r: Req = {
        method: op.method,
        path,
        headers: {
          host: hostHeader(),
          authorization: `Bearer ${f.token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        invalid: null,
      };
      const a = await check(op, r);
      assert.ok(a.status >= 200 && a.status < 300, `${key}: ${a.status} ${a.text}`);
    };
    await run("POST /v1/components/{name}/restart", `/v1/components/${name}/restart`);
    await d.until<{ phase: string }>("/v1/status", (s) => s.phase === "ready", 30_000);
    await run("PUT /v1/taps", "/v1/taps", { count: 16 });
    await run("PUT /v1/taps", "/v1/taps", { count: 8 });
    await run("POST /v1/datapath/down", "/v1/datapath/down");
    await run("POST /v1/datapath/up", "/v1/datapath/up");
    await d.until<{ phase: string }>("/v1/status", (s) => s.phase === "ready", 30_000);
    const s1 = await snapshot();
    assert.equal(s1.pid, s0.pid, "the same daemon");
    assert.deepEqual(s1.kernelTaps, s0.kernelTaps, "the pool as it was");
  });
});
