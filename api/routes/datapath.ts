import type { FastifyPluginAsync } from "fastify";
import type { EngineApi } from "../../daemon/engine/component";
import { commonErrors, NoQuerySchema } from "../schemas/common";

/** Datapath down / up: the whole node, in dependency order. Both wait for the engine and answer its status. */
const datapathRoutes: FastifyPluginAsync<{ engine: EngineApi }> = async (app, { engine }) => {
  app.post(
    "/v1/datapath/down",
    {
      schema: {
        summary: "Stop the datapath",
        description:
          "Stops every component in reverse dependency order and answers 200 with the node's status once " +
          "they are stopped (phase stopped). The daemon keeps serving. Down becomes the node's desired " +
          "state, stored as it starts: a restarted daemon keeps the datapath down (and stops what is " +
          "left of it) until POST /v1/datapath/up or the pre-init hook. Takes no request body.",
        tags: ["node"],
        operationId: "datapathDown",
        querystring: NoQuerySchema,
        response: { 200: { $ref: "NodeStatus#" }, ...commonErrors },
      },
    },
    async () => {
      await engine.down();
      return engine.status();
    },
  );

  app.post(
    "/v1/datapath/up",
    {
      schema: {
        summary: "Bring the datapath back up",
        description:
          "Starts the components again in dependency order and answers 200 with the node's status when " +
          "the bring-up pass has ended: phase ready, or the reason it is not. Up becomes the node's " +
          "desired state again (a restarted daemon brings the datapath up). Takes no request body.",
        tags: ["node"],
        operationId: "datapathUp",
        querystring: NoQuerySchema,
        response: { 200: { $ref: "NodeStatus#" }, ...commonErrors },
      },
    },
    async () => {
      await engine.up();
      return engine.status();
    },
  );
};

export default datapathRoutes;
