import type { ServerResponse } from "node:http";
import type { FastifyPluginAsync } from "fastify";
import type { EngineApi, NodeEvent } from "../../daemon/engine/component";
import type { RequestLog } from "../request-logger";
import { commonErrors } from "../schemas/common";
import { EventsPageSchema, EventsQuerySchema } from "../schemas/events";

type Query = { Querystring: { after: number; limit: number; follow: boolean } };

/** A stream whose client reads slower than this many buffered bytes is ended; it can reconnect. */
const MAX_BUFFERED = 1 << 20;
const BACKLOG_PAGE = 1000;

/**
 * GET /v1/events: a page of the node's history, or with follow=true a Server-Sent Events stream.
 * A stream subscribes to the engine's "event" before reading the backlog (nothing is lost in between;
 * ids already sent are skipped) and unsubscribes when the client goes away or the server closes.
 */
const eventRoutes: FastifyPluginAsync<{
  engine: EngineApi;
  heartbeatMs: number;
  logFor?: RequestLog;
}> = async (app, opts) => {
  const { engine, heartbeatMs } = opts;
  const streams = new Set<ServerResponse>();
  // app.close() waits for open connections: end the streams first.
  app.addHook("preClose", async () => {
    for (const res of streams) res.end();
  });

  app.get<Query>(
    "/v1/events",
    {
      schema: {
        summary: "The node's history (a page, or a live stream with follow=true)",
        tags: ["events"],
        operationId: "getEvents",
        querystring: EventsQuerySchema,
        response: {
          200: {
            description:
              "application/json: a page of events, oldest first. text/event-stream (follow=true): the " +
              "backlog after `after`, then each new event; ends only when the client disconnects.",
            content: {
              "application/json": { schema: EventsPageSchema },
              "text/event-stream": { schema: { type: "string" } },
            },
          },
          ...commonErrors,
        },
      },
    },
    async (request, reply) => {
      const { limit, follow } = request.query;
      let after = request.query.after;
      if (!follow) {
        const events = engine.events(after, limit);
        return { events, next: events.at(-1)?.id ?? after };
      }

      const lastEventId = Number(request.headers["last-event-id"]);
      if (Number.isSafeInteger(lastEventId) && lastEventId > after) after = lastEventId;

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        connection: "keep-alive",
      });
      let lastSent = after;
      let closed = false;
      const send = (e: NodeEvent) => {
        if (closed || e.id <= lastSent) return;
        lastSent = e.id;
        res.write(`id: ${e.id}\nevent: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`);
        if (res.writableLength > MAX_BUFFERED) {
          opts.logFor?.(request)?.warn("event stream client too slow; ending its stream");
          res.end();
        }
      };
      const pending: NodeEvent[] = [];
      let live = false;
      const onEvent = (e: NodeEvent) => (live ? send(e) : pending.push(e));
      const heartbeat = setInterval(() => res.write(": heartbeat\n\n"), heartbeatMs);
      heartbeat.unref();
      const cleanup = () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        engine.off("event", onEvent);
        streams.delete(res);
      };
      engine.on("event", onEvent);
      streams.add(res);
      res.on("close", cleanup);
      res.on("error", cleanup);

      res.write(": connected\n\n");
      for (let page = engine.events(after, BACKLOG_PAGE); page.length > 0 && !closed; ) {
        for (const e of page) send(e);
        page = page.length < BACKLOG_PAGE ? [] : engine.events(lastSent, BACKLOG_PAGE);
      }
      for (const e of pending) send(e);
      pending.length = 0;
      live = true;
    },
  );
};

export default eventRoutes;
