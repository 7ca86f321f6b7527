import type { FastifyPluginAsync } from "fastify";
import type { EngineApi } from "../../daemon/engine/component";
import { commonErrors, NoQuerySchema } from "../schemas/common";
import { NotReadySchema, ReadyQuerySchema, ReadySchema } from "../schemas/status";
import { JSON_TYPE, StatusBodies } from "../status-bodies";

/**
 * GET /v1/status and GET /v1/ready: the engine's memory, serialized once per change (StatusBodies);
 * never the host or disk. The response schemas document the bodies (and the OpenAPI document); the
 * bodies are Buffers, which fastify sends as they are.
 */
const statusRoutes: FastifyPluginAsync<{ engine: EngineApi; bodies?: StatusBodies }> = async (
  app,
  { engine, bodies = new StatusBodies(engine) },
) => {
  app.get(
    "/v1/status",
    {
      schema: {
        summary: "The node's phase and every component's state",
        tags: ["node"],
        operationId: "getStatus",
        querystring: NoQuerySchema,
        response: { 200: { $ref: "NodeStatus#" }, ...commonErrors },
      },
    },
    (_request, reply) => {
      // Nothing returned: a returned reply is a thenable fastify would wait on.
      reply.header("content-type", JSON_TYPE).send(bodies.status());
    },
  );

  app.get<{ Querystring: { wait?: number } }>(
    "/v1/ready",
    {
      schema: {
        summary: "Is the node ready? Optionally wait for it",
        description:
          "200 when the node's phase is ready, else 503 with the reason (it names the components not " +
          "ready). With wait=SECONDS the request is held until the node is ready or the time is up, then " +
          "answered the same way.",
        tags: ["node"],
        operationId: "getReady",
        querystring: ReadyQuerySchema,
        response: { 200: ReadySchema, 503: NotReadySchema, ...commonErrors },
      },
    },
    async (request, reply) => {
      const wait = request.query.wait ?? 0;
      if (wait > 0) {
        // A client that goes away stops the wait (no listener left behind for up to 300 s).
        const gone = new AbortController();
        reply.raw.once("close", () => gone.abort());
        await engine.waitReady(wait * 1000, gone.signal);
      }
      const r = bodies.ready();
      return reply.code(r.code).header("content-type", JSON_TYPE).send(r.body);
    },
  );
};

export default statusRoutes;
