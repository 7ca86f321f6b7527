import type { FastifyPluginAsync } from "fastify";
import { type EngineApi, UnknownComponentError } from "../../daemon/engine/component";
import { commonErrors, errorRef, NoQuerySchema } from "../schemas/common";
import { ComponentListSchema, ComponentParamsSchema } from "../schemas/components";

type Params = { Params: { name: string } };

/** The components of the datapath: list, one, and a restart by hand. */
const componentRoutes: FastifyPluginAsync<{ engine: EngineApi }> = async (app, { engine }) => {
  const known = () => engine.status().components.map((c) => c.name);
  const notFound = { ...errorRef, description: "No such component; the message lists the known ones." };

  app.get(
    "/v1/components",
    {
      schema: {
        summary: "Every component, in start order",
        tags: ["components"],
        operationId: "listComponents",
        querystring: NoQuerySchema,
        response: { 200: ComponentListSchema, ...commonErrors },
      },
    },
    async () => ({ components: engine.status().components }),
  );

  app.get<Params>(
    "/v1/components/:name",
    {
      schema: {
        summary: "One component",
        tags: ["components"],
        operationId: "getComponent",
        params: ComponentParamsSchema,
        querystring: NoQuerySchema,
        response: { 200: { $ref: "ComponentStatus#" }, 404: notFound, ...commonErrors },
      },
    },
    async (request) => {
      const c = engine.component(request.params.name);
      if (!c) throw new UnknownComponentError(request.params.name, known());
      return c;
    },
  );

  app.post<Params>(
    "/v1/components/:name/restart",
    {
      schema: {
        summary: "Restart one component by hand",
        description:
          "Synchronous: stops the component (its dependents are blocked meanwhile), starts it again and " +
          "waits for it to be ready or to fail (at most the configured ready timeout per component), " +
          "then answers 200 with the component's status, so the caller learns the outcome: look at state " +
          "and lastError. Also clears a crash-loop give-up. Takes no request body.",
        tags: ["components"],
        operationId: "restartComponent",
        params: ComponentParamsSchema,
        querystring: NoQuerySchema,
        response: {
          200: { $ref: "ComponentStatus#" },
          404: notFound,
          ...commonErrors,
        },
      },
    },
    async (request) => {
      const { name } = request.params;
      if (!engine.component(name)) throw new UnknownComponentError(name, known());
      await engine.restart(name);
      const c = engine.component(name);
      if (!c) throw new UnknownComponentError(name, known());
      return c;
    },
  );
};

export default componentRoutes;
