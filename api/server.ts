/**
 * The daemon's local REST API. It reads state and asks the engine; it never touches the host.
 *
 * - Request schemas (querystring, params) all have `additionalProperties: false`: an unknown field is a 400
 *   naming it. Querystrings and path parameters are coerced from text ("5" → 5); bodies never are.
 * - Every route has a response schema (fast-json-stringify serializes with it; @fastify/swagger
 *   describes it in the OpenAPI document served at GET /v1/openapi.json).
 * - One error shape everywhere: `{ error, message }` (api/schemas/common.ts). Validation → 400,
 *   UnknownComponentError → 404, unknown route → 404, anything unexpected → 500 with a generic message:
 *   stack traces and paths go to the log only.
 */
import { readFileSync } from "node:fs";
import SerializerSelector from "@fastify/fast-json-stringify-compiler";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyPluginOptions,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type { Logger } from "pino";
import { type EngineApi, UnknownComponentError } from "../daemon/engine/component";
import type { PreflightApi } from "../daemon/preflight";
import { serveCachedGets } from "./cached-gets";
import { createMetrics } from "./metrics";
import access, {
  type AccessOptions,
  allowedHosts,
  BODY_LIMIT,
  isMutating,
  securitySchemes,
} from "./plugins/access";
import { type RequestLog, requestLog } from "./request-logger";
import componentRoutes from "./routes/components";
import datapathRoutes from "./routes/datapath";
import eventRoutes from "./routes/events";
import healthRoutes, { HEALTH_BODY } from "./routes/health";
import hookRoutes from "./routes/hooks";
import jobRoutes, { type JobsApi } from "./routes/jobs";
import metricsRoutes from "./routes/metrics";
import preflightRoutes from "./routes/preflight";
import statusRoutes from "./routes/status";
import tapRoutes, { type TapsApi } from "./routes/taps";
import { commonErrors, NoQuerySchema } from "./schemas/common";
import { sharedSchemas } from "./schemas/index";
import { StatusBodies } from "./status-bodies";

export interface ServerOptions {
  engine: EngineApi;
  /** Host preflight (GET /v1/preflight, POST /v1/preflight/fix); absent: those routes answer 503. */
  preflight?: PreflightApi;
  /** The TAP pool (GET/PUT /v1/taps); absent: those routes answer 503. */
  taps?: TapsApi;
  /** Jobs: reset and the kubeadm hooks (/v1/jobs, /v1/hooks/NAME, /v1/reset); absent: they answer 503. */
  jobs?: JobsApi;
  /** Logger for the API (a child of the daemon's); false or absent: no logging. */
  logger?: Logger | false;
  /** The daemon's version: OpenAPI info.version. */
  version: string;
  /** Interval of the comment heartbeat on Server-Sent Events streams (default 15 000 ms). */
  sseHeartbeatMs?: number;
  /** Token, Host/Origin and rate-limit rules (api/plugins/access.ts); absent: none (in-process tests). */
  access?: AccessOptions;
  /**
   * GET /v1/openapi.json answers this file's bytes (the committed openapi/openapi.json, which
   * `npm test` checks against the routes): the daemon neither loads @fastify/swagger nor generates the
   * document at start-up. Absent: generated from the routes (scripts/write-openapi.ts, in-process tests).
   */
  openapiFile?: string;
}

/** Ajv options shared by both validators; only type coercion differs. */
const ajvOptions = {
  removeAdditional: false,
  useDefaults: true,
  allErrors: false, // true would let one request cost many error objects
  verbose: true, // errors carry the failing (parent) schema: messages can say what is allowed
  allowUnionTypes: true,
} as const;

/** Builds the API; registers every route but does not listen. */
export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  // No fastify logger: with one, every request pays for a child logger and a response timer although a
  // GET logs nothing. The API's own lines (mutations, errors) are written by api/request-logger.ts.
  const logFor = requestLog(opts.logger || null);
  await nextTurn();
  const app = Fastify({
    logger: false,
    schemaErrorFormatter: formatValidationErrors,
    bodyLimit: BODY_LIMIT,
    // Each route's response serializers are compiled on its first answer, not all at start-up.
    schemaController: { compilersFactory: { buildSerializer: lazySerializers } },
    // A URL fastify cannot decode (a bad or non-UTF-8 percent-escape) never reaches the error handler;
    // without this it answers in fastify's own shape, echoing the URL.
    frameworkErrors: (_err, _request, reply) =>
      (reply as FastifyReply).code(400).send({
        error: "invalid_request",
        message: "the URL is not valid: a percent-escape is malformed or does not decode to UTF-8",
      }),
  }) as unknown as FastifyInstance;

  // One StatusBodies for the routes and the fast path in front of fastify (api/cached-gets.ts).
  const bodies = new StatusBodies(opts.engine);
  const rules = opts.access;
  serveCachedGets(app, {
    bodies,
    health: HEALTH_BODY,
    hosts: rules ? allowedHosts(rules.port, rules.host) : null,
  });

  // Querystrings and path parameters arrive as text and are coerced to their schema's types; bodies
  // are JSON and are never coerced: {"count":"8"} against an integer is a 400.
  const textParts = new Ajv({ ...ajvOptions, coerceTypes: true });
  const jsonParts = new Ajv({ ...ajvOptions, coerceTypes: false });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    lazyValidator(() => (httpPart === "body" ? jsonParts : textParts).compile(schema)),
  );

  for (const schema of sharedSchemas) app.addSchema(schema);

  app.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request, reply, logFor));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0]?.slice(0, 200) ?? "";
    return reply.code(404).send({
      error: "not_found",
      message: `no route ${request.method} ${path}; the routes are listed by GET /v1/openapi.json`,
    });
  });

  // Route-level, not server-wide: a GET (status, ready, healthz, polled and scraped) runs neither.
  // - Routes without a body schema take no body: anything but an empty body or {} is rejected. Only
  //   methods that carry a body need the check (a GET's body is never read).
  // - Request lines are written for mutations only: lines for a scraped /metrics and polled /healthz
  //   would flood the journal.
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.some((m) => isMutating(m))) return;
    if (route.schema?.body === undefined) route.preValidation = [...hooks(route.preValidation), rejectBody];
    route.onResponse = [...hooks(route.onResponse), logMutation(logFor)];
  });

  // Before swagger and the routes: its onRoute hook adds the security requirement and answers to each.
  await register(app, access, { rules: opts.access ?? null });

  if (opts.openapiFile === undefined) await registerSwagger(app, opts.version);

  const metrics = createMetrics(opts.engine, opts.taps ?? null);
  app.addHook("onClose", async () => metrics.close());

  const routeOpts = { engine: opts.engine };
  await register(app, healthRoutes, routeOpts);
  await register(app, statusRoutes, { ...routeOpts, bodies });
  await register(app, componentRoutes, routeOpts);
  await register(app, datapathRoutes, routeOpts);
  await register(app, eventRoutes, { ...routeOpts, heartbeatMs: opts.sseHeartbeatMs ?? 15_000, logFor });
  await register(app, metricsRoutes, { metrics });
  await register(app, preflightRoutes, { preflight: opts.preflight ?? null });
  await register(app, tapRoutes, { taps: opts.taps ?? null });
  await register(app, jobRoutes, { jobs: opts.jobs ?? null });
  await register(app, hookRoutes, { jobs: opts.jobs ?? null });

  app.get(
    "/v1/openapi.json",
    {
      schema: {
        summary: "This OpenAPI document",
        tags: ["daemon"],
        operationId: "getOpenapi",
        querystring: NoQuerySchema,
        response: {
          200: { description: "OpenAPI 3 document of this API.", type: "object", additionalProperties: true },
          ...commonErrors,
        },
      },
    },
    opts.openapiFile === undefined ? async () => openapiDocument(app) : servedFile(opts.openapiFile),
  );

  return app;
}

/**
 * Building the API is ~60 ms of synchronous work on a quiet node (fastify itself, the routes, the
 * rate limit), and in the daemon the datapath's bring-up runs meanwhile (daemon/daemon.ts): its
 * steps wait on child exits and sockets, which are seen only between turns of the event loop. So
 * the build gives the loop a turn before fastify is made and after each plugin: the children boot
 * while the API is built, instead of after it.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** app.register(plugin, options), then a turn of the event loop (nextTurn). */
async function register<O extends FastifyPluginOptions>(
  app: FastifyInstance,
  plugin: FastifyPluginAsync<O>,
  options: O,
): Promise<void> {
  await app.register(plugin, options);
  await nextTurn();
}

/** @fastify/swagger, loaded only to generate the document: its onRoute hook must see every route. */
async function registerSwagger(app: FastifyInstance, version: string): Promise<void> {
  const swagger = (await import("@fastify/swagger")).default;
  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      components: { securitySchemes },
      info: {
        title: "k8s-offloadd",
        version,
        description:
          "Local API of k8s-offloadd, the daemon that owns a Kubernetes node's offloaded datapath (P4-OVS).",
      },
      tags: [
        { name: "node", description: "The node's datapath as a whole" },
        { name: "components", description: "The pieces of the datapath" },
        { name: "events", description: "The node's history" },
        { name: "jobs", description: "Long operations: node reset and kubeadm hooks, with their steps" },
        { name: "daemon", description: "The daemon itself: liveness, metrics, this document" },
      ],
    },
    refResolver: {
      // Shared schemas appear in components.schemas under their $id (Error, NodeStatus, ...).
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === "string" ? json.$id : `def-${i}`,
    },
  });
}

/** The OpenAPI document of a server built by buildServer (every route is registered when it resolves). */
export function openapiDocument(app: FastifyInstance): object {
  return app.swagger() as object;
}

/** A handler answering a JSON file's bytes, read on the first request and kept. */
function servedFile(file: string) {
  let body: Buffer | null = null;
  return (_request: FastifyRequest, reply: FastifyReply) => {
    body ??= readFileSync(file);
    return reply.header("content-type", "application/json; charset=utf-8").send(body);
  };
}

function sendError(err: FastifyError, request: FastifyRequest, reply: FastifyReply, logFor: RequestLog) {
  if (err.validation) {
    return reply.code(400).send({ error: "invalid_request", message: err.message });
  }
  if (err instanceof UnknownComponentError) {
    return reply.code(404).send({ error: "unknown_component", message: err.message });
  }
  const status = err.statusCode ?? 500;
  if (status === 503) return reply.code(503).send({ error: "unavailable", message: err.message });
  if (status >= 400 && status < 500) {
    // Fastify's own request errors (malformed JSON, unsupported content type, body too large): their
    // messages are fixed texts about the request.
    const code =
      status === 415
        ? "unsupported_media_type"
        : status === 413
          ? "payload_too_large"
          : status === 409
            ? "conflict"
            : status === 429
              ? "rate_limited"
              : "invalid_request";
    return reply.code(status).send({ error: code, message: err.message });
  }
  logFor(request)?.error({ err, method: request.method, url: request.url }, "API request failed");
  return reply.code(500).send({
    error: "internal_error",
    message: `internal error while serving ${request.method} ${request.routeOptions.url ?? "this route"}; the daemon's log has the details`,
  });
}

/**
 * Start-up compiles no schema: a route's validator (Ajv) and serializers (fast-json-stringify) are
 * compiled on its first request, which is most of what `app.ready()` cost (the daemon reaches READY=1
 * sooner; each route's first answer pays for its own). Same compilers, same results, only later.
 */
function lazyValidator(compile: () => ValidateFunction): ValidateFunction {
  let compiled: ValidateFunction | null = null;
  // fastify reads `.errors` off the function it was given after a false result.
  const validate = ((data: unknown) => {
    compiled ??= compile();
    const ok = compiled(data);
    validate.errors = compiled.errors;
    return ok;
  }) as ValidateFunction;
  return validate;
}

type SerializerFactory = ReturnType<typeof SerializerSelector>;

function lazySerializers(...args: Parameters<SerializerFactory>): ReturnType<SerializerFactory> {
  const compileFor = SerializerSelector()(...args);
  return (route) => {
    let serialize: ((data: unknown) => string) | null = null;
    return (data: unknown) => {
      serialize ??= compileFor(route);
      return serialize(data);
    };
  };
}

/** A route option that takes one hook or several, as a list. */
function hooks<T>(h: T | T[] | undefined): T[] {
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}

function rejectBody(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  if (isEmptyBody(request.body)) {
    done();
    return;
  }
  reply.code(400).send({
    error: "unexpected_body",
    message: `${request.method} ${request.routeOptions.url} takes no request body; send none (or {})`,
  });
}

/** The request line of a mutation (an onResponse hook: reply.elapsedTime is timed for these routes only). */
function logMutation(logFor: RequestLog) {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    logFor(request)?.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      "api request",
    );
    done();
  };
}

function isEmptyBody(body: unknown): boolean {
  if (body === undefined || body === null || body === "") return true;
  return typeof body === "object" && !Array.isArray(body) && Object.keys(body).length === 0;
}

const partWords: Record<string, string> = {
  querystring: "query parameter",
  params: "path parameter",
  body: "body field",
  headers: "header",
};

/**
 * Turns Ajv's first error into words naming the field and what is allowed, e.g.
 * `query parameter "wait" must be <= 300; allowed: integer from 0 to 300` or
 * `unknown query parameter "foo"; allowed: after, limit, follow`.
 */
export function formatValidationErrors(errors: ErrorObject[], part: string): Error {
  const e = errors[0];
  const what = partWords[part] ?? part;
  if (!e) return new Error(`invalid ${what}`);
  const path = e.instancePath
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  if (e.keyword === "additionalProperties") {
    const field = [...path, String(e.params.additionalProperty)].join(".");
    const allowed = Object.keys((parent.properties as object | undefined) ?? {});
    return new Error(
      `unknown ${what} "${field}"; allowed: ${allowed.length > 0 ? allowed.join(", ") : "none"}`,
    );
  }
  if (e.keyword === "required") {
    return new Error(`missing ${what} "${[...path, String(e.params.missingProperty)].join(".")}"`);
  }
  const field = path.join(".");
  const subject = field ? `${what} "${field}"` : part === "body" ? "request body" : `${what}s`;
  const allowed = e.keyword === "pattern" ? "" : describeSchema(parent);
  return new Error(`${subject} ${e.message ?? "is invalid"}${allowed ? `; allowed: ${allowed}` : ""}`);
}

/** "integer from 0 to 300", "one of a, b", "string matching ^x$", ... */
function describeSchema(s: Record<string, unknown>): string {
  if (Array.isArray(s.enum)) return `one of ${s.enum.map(String).join(", ")}`;
  const type = Array.isArray(s.type) ? s.type.join(" or ") : typeof s.type === "string" ? s.type : "";
  const parts = [type];
  const min = s.minimum;
  const max = s.maximum;
  if (typeof min === "number" && typeof max === "number") parts.push(`from ${min} to ${max}`);
  else if (typeof min === "number") parts.push(`>= ${min}`);
  else if (typeof max === "number") parts.push(`<= ${max}`);
  if (typeof s.pattern === "string") parts.push(`matching ${s.pattern}`);
  return parts.filter(Boolean).join(" ");
}
