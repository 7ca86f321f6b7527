/**
 * The polled GETs (/v1/status, /v1/ready, /healthz) answered from their cached bytes in the HTTP
 * server's request listener, in front of fastify: fastify's per-request path (request and reply
 * objects, routing, hook runners) cost more than the request itself did (issue 13).
 *
 * Only the plain success case is answered here, with the status, headers and bytes the fastify routes
 * send (test/unit/cached-gets.test.ts compares the two): GET, the exact path, no querystring, no
 * request body, no Origin, a Host the access rules accept as it is written (api/plugins/access.ts
 * allowedHosts), the server not closing. Anything else goes to fastify unchanged, which answers or
 * refuses in its usual shape. The routes stay registered in fastify (schemas, OpenAPI, HEAD, ?wait=).
 *
 * The unix socket server (api/plugins/socket.ts) has no fast path: it calls app.routing directly.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { StatusBodies } from "./status-bodies";
import { JSON_TYPE } from "./status-bodies";

export interface CachedGetsOptions {
  /** The instance the fastify routes serve (one source of truth for the bytes). */
  bodies: StatusBodies;
  /** The /healthz bytes (api/routes/health.ts). */
  health: Buffer;
  /** Host header values the access rules accept (allowedHosts); null: no access rules, any Host. */
  hosts: Set<string> | null;
}

/**
 * Puts the fast path in front of fastify's handler on app.server (call right after Fastify()). Node
 * adds createServer's handler as the server's one 'request' listener; it is replaced by a listener
 * that answers the cached GETs and calls it for everything else. Done on the server fastify made (not
 * with serverFactory) so that fastify's own server settings (keep-alive and request timeouts, the
 * second address of "localhost") stay as they are.
 */
export function serveCachedGets(app: FastifyInstance, opts: CachedGetsOptions): void {
  const server = app.server;
  const listeners = server.listeners("request");
  if (listeners.length !== 1) {
    throw new Error(`expected fastify's one request listener on its server, found ${listeners.length}`);
  }
  const fastify = listeners[0] as RequestListener;
  let closing = false;
  // From app.close() on, fastify answers 503 with Connection: close; the fast path steps aside.
  app.addHook("preClose", (done) => {
    closing = true;
    done();
  });
  const { bodies, health, hosts } = opts;

  const answer = (res: ServerResponse, code: number, body: Buffer) => {
    // What fastify's reply.send(Buffer) writes after the route set its content-type.
    res.writeHead(code, { "content-type": JSON_TYPE, "content-length": body.length });
    res.end(body);
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url;
    if (
      req.method !== "GET" ||
      closing ||
      (url !== "/v1/status" && url !== "/v1/ready" && url !== "/healthz") ||
      !plain(req, hosts)
    ) {
      fastify(req, res);
      return;
    }
    if (url === "/v1/status") answer(res, 200, bodies.status());
    else if (url === "/healthz") answer(res, 200, health);
    else {
      const r = bodies.ready();
      answer(res, r.code, r.body);
    }
  };
  server.removeListener("request", fastify);
  server.on("request", listener);
}

/** A request the access rules let through as it is and that carries no body. */
function plain(req: IncomingMessage, hosts: Set<string> | null): boolean {
  const h = req.headers;
  if (h["content-length"] !== undefined || h["transfer-encoding"] !== undefined) return false;
  if (hosts === null) return true;
  // A differently cased Host may be accepted too; fastify decides that one.
  return h.origin === undefined && hosts.has(h.host ?? "");
}
