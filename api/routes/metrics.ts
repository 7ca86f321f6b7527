import type { FastifyPluginAsync } from "fastify";
import type { ApiMetrics } from "../metrics";
import { commonErrors, NoQuerySchema } from "../schemas/common";

/** GET /metrics: Prometheus text exposition of the API's own registry (api/metrics.ts). */
const metricsRoutes: FastifyPluginAsync<{ metrics: ApiMetrics }> = async (app, { metrics }) => {
  app.get(
    "/metrics",
    {
      schema: {
        summary: "Prometheus metrics",
        description:
          "Process metrics plus k8s_offloadd_component_up, k8s_offloadd_component_restarts_total, " +
          "k8s_offloadd_node_phase and k8s_offloadd_component_ready_seconds, computed from the engine at scrape time.",
        tags: ["daemon"],
        operationId: "getMetrics",
        querystring: NoQuerySchema,
        response: {
          200: {
            description: "Prometheus text format 0.0.4.",
            content: { "text/plain": { schema: { type: "string" } } },
          },
          ...commonErrors,
        },
      },
    },
    async (_request, reply) => {
      const registry = await metrics.registry();
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  );
};

export default metricsRoutes;
