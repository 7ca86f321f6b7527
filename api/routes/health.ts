import type { FastifyPluginAsync } from "fastify";
import { commonErrors, NoQuerySchema } from "../schemas/common";
import { HealthSchema } from "../schemas/status";
import { JSON_TYPE } from "../status-bodies";

/** Always the same answer: the same bytes (api/cached-gets.ts serves them too). */
export const HEALTH_BODY = Buffer.from(JSON.stringify({ ok: true }));

/** GET /healthz: the daemon's own liveness (its event loop answers); says nothing about the datapath. */
const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get(
    "/healthz",
    {
      schema: {
        summary: "Liveness of the daemon itself",
        description:
          "200 whenever the daemon's event loop answers; the datapath's readiness is GET /v1/ready.",
        tags: ["daemon"],
        operationId: "getHealthz",
        querystring: NoQuerySchema,
        response: { 200: HealthSchema, ...commonErrors },
      },
    },
    (_request, reply) => {
      reply.header("content-type", JSON_TYPE).send(HEALTH_BODY);
    },
  );
};

export default healthRoutes;
