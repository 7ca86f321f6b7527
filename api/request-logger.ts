/**
 * The API's log lines, written by the API itself rather than through fastify's logger. Given a logger,
 * fastify makes (or asks a factory for) a child logger on every request and listens for the end of
 * every response to time it; a GET of a cached body (/v1/status, /v1/ready, /healthz) logs nothing, so
 * that was work for nothing on the request path (bench/api). The server is built with `logger: false`
 * (request.log is fastify's no-op logger) and the lines it does write (mutations, errors, a slow event
 * stream) come from here: the same messages, bound to the request id as fastify's children were.
 */
import type { FastifyRequest } from "fastify";
import type { Logger } from "pino";

export type RequestLog = (request: FastifyRequest) => Logger | null;

/** The logger for one request's lines (the API logger's child with its reqId), or null: no logging. */
export function requestLog(log: Logger | null): RequestLog {
  return (request) => log?.child({ reqId: request.id }) ?? null;
}
