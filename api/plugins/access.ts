/**
 * Who may talk to the API, and how much. A browser on the node must not be able to drive the daemon,
 * and only a holder of the token (root, through the 0600 token file) may change anything:
 *
 * - a request with an `Origin` header is refused (403): browsers send one on cross-origin requests and
 *   on every POST/PUT/DELETE, curl and the CLI never do (CSRF);
 * - the `Host` must be localhost, 127.0.0.1 or [::1] (or the configured api.host) with the daemon's
 *   port (403): a rebound DNS name pointing at 127.0.0.1 carries its own name (DNS rebinding);
 * - mutating methods (anything but GET/HEAD/OPTIONS) need `Authorization: Bearer <token>` (401),
 *   compared in constant time;
 * - authenticated mutating requests are rate limited per client (429).
 *
 * These run as onRequest hooks, before the body is read or parsed. Reads stay open on loopback.
 * The OpenAPI document says so: a bearer security scheme on every mutating route, and the answers.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import { errorRef } from "../schemas/common";
import { UNIX_SOCKET } from "./socket";

/** Largest request body accepted (413 beyond): every body of this API is a few bytes of JSON. */
export const BODY_LIMIT = 16 * 1024;

export interface AccessOptions {
  /** The bearer token (64 hex characters). */
  token: string;
  /** The port the API listens on: the only port accepted in the Host header. */
  port: number;
  /** The configured listen address; accepted as a Host name too when it is not a wildcard. */
  host?: string;
  /** Authenticated mutating requests per client per minute. */
  rateLimit: number;
}

export const SECURITY_SCHEME = "bearerAuth";

/** The OpenAPI components.securitySchemes entry (for @fastify/swagger's options). */
export const securitySchemes = {
  [SECURITY_SCHEME]: {
    type: "http",
    scheme: "bearer",
    description:
      "The 64 hex characters of the daemon's token file (api.tokenFile, made at first start, mode 0600). " +
      "Required by every mutating route; reads are open on loopback.",
  },
} as const;

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function isMutating(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/**
 * True when `header` is "Bearer <token>". Both sides are hashed first: timingSafeEqual needs equal
 * lengths, and comparing digests leaks neither the token's length nor how much of a guess matched.
 */
export function bearerMatches(header: string | undefined, tokenDigest: Buffer): boolean {
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? "");
  const given = sha256(m?.[1] ?? "");
  // Evaluated whether or not the header parsed, so a malformed header costs the same as a wrong token.
  const same = timingSafeEqual(given, tokenDigest);
  return m !== null && same;
}

/** Host header values allowed for a server on `port` (lowercase). */
export function allowedHosts(port: number, host?: string): Set<string> {
  const names = ["localhost", "127.0.0.1", "[::1]"];
  if (host && !["0.0.0.0", "::", "[::]"].includes(host)) names.push(host.includes(":") ? `[${host}]` : host);
  return new Set(names.map((n) => `${n.toLowerCase()}:${port}`));
}

function refuse(reply: FastifyReply, status: 401 | 403, error: string, message: string) {
  if (status === 401) reply.header("www-authenticate", 'Bearer realm="k8s-offloadd"');
  return reply.code(status).send({ error, message });
}

/** rules null: the routes are documented but nothing is enforced (in-process tests, the OpenAPI writer). */
async function access(app: FastifyInstance, { rules }: { rules: AccessOptions | null }): Promise<void> {
  app.addHook("onRoute", (route) => documentAccess(route));
  if (rules === null) return;
  const opts = rules;
  const hosts = allowedHosts(opts.port, opts.host);
  const digest = sha256(opts.token);

  // A callback hook, not an async one: every request runs it, and a promise per request is a cost a
  // GET of a cached body notices. A refusal sends the answer and does not call done().
  app.addHook("onRequest", (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (request.headers.origin !== undefined) {
      refuse(
        reply,
        403,
        "forbidden",
        "requests with an Origin header are refused: the API is for local tools (curl, the CLI), not browsers",
      );
      return;
    }
    const host = String(request.headers.host ?? "").toLowerCase();
    // No browser can reach the unix socket (api/plugins/socket.ts), and curl picks its own Host there.
    const unixSocket =
      (request.raw.socket as unknown as Record<symbol, boolean> | undefined)?.[UNIX_SOCKET] === true;
    if (!unixSocket && !hosts.has(host)) {
      refuse(
        reply,
        403,
        "forbidden",
        `Host must be localhost, 127.0.0.1 or [::1] with port ${opts.port}; got ${JSON.stringify(host.slice(0, 100))}`,
      );
      return;
    }
    if (isMutating(request.method) && !bearerMatches(request.headers.authorization, digest)) {
      refuse(
        reply,
        401,
        "unauthorized",
        `${request.method} changes the node and needs "Authorization: Bearer <token>"; the token is in the file named by api.tokenFile in the daemon's configuration (mode 0600, readable by the daemon's user)`,
      );
      return;
    }
    done();
  });

  // Registered after the hook above: rate-limit hooks are route-level and run after it, so only
  // authenticated requests count. All loopback clients share one key; letting unauthenticated
  // requests count would let any local user use up the admin's budget.
  await app.register(rateLimit, {
    global: true,
    max: opts.rateLimit,
    timeWindow: 60_000,
    allowList: (request) => !isMutating(request.method), // a route taking GET and POST
    keyGenerator: (request) => request.ip ?? "unix-socket",
    errorResponseBuilder: (_request, ctx) =>
      Object.assign(
        new Error(
          `too many mutating requests: at most ${ctx.max} a minute (api.rateLimit); retry in ${ctx.after}`,
        ),
        { statusCode: ctx.statusCode },
      ),
  });
}

/**
 * Takes reads out of the rate limit (they are never counted), and adds what the access rules and the
 * body parser answer to each route's schema: 403 everywhere; 401,
 * 413, 415 and 429 and the bearer requirement on mutating routes. Runs before @fastify/swagger reads the routes.
 */
function documentAccess(route: RouteOptions): void {
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  const mutating = methods.some((m) => isMutating(m));
  // A read is never counted: without this @fastify/rate-limit adds its hook to every route, and each
  // GET would pay for asking allowList.
  if (!mutating) route.config = { ...(route.config as object | undefined), rateLimit: false };
  const schema = route.schema;
  if (!schema || schema.hide) return;
  const response = { ...((schema.response as Record<string, unknown> | undefined) ?? {}) };
  response[403] ??= {
    ...errorRef,
    description: "An Origin header, or a Host other than the loopback names.",
  };
  if (mutating) {
    response[401] ??= { ...errorRef, description: "No bearer token, or not the daemon's." };
    response[413] ??= { ...errorRef, description: `The request body is larger than ${BODY_LIMIT} bytes.` };
    response[415] ??= { ...errorRef, description: "A body that is not application/json." };
    response[429] ??= { ...errorRef, description: "Too many mutating requests (api.rateLimit a minute)." };
  }
  route.schema = {
    ...schema,
    response,
    ...(mutating ? { security: [{ [SECURITY_SCHEME]: [] }] } : {}),
  };
}

// Not encapsulated: the hooks apply to every route of the server (what fastify-plugin does).
(access as unknown as Record<symbol, boolean>)[Symbol.for("skip-override")] = true;

export default access;
