import type { FastifyPluginAsync } from "fastify";
import { commonErrors, NoQuerySchema } from "../schemas/common";
import { resizeBodySchema, TapPoolSchema } from "../schemas/taps";

/** What the daemon offers the API about the TAP pool (implemented in daemon/main.ts). */
export interface TapsApi {
  /** taps.max: the largest count PUT /v1/taps accepts. */
  readonly max: number;
  list(): Promise<{ count: number; backend: string; taps: unknown[] }>;
  /** Grow or shrink the pool, one operation at a time with the engine's others. */
  resize(count: number): Promise<void>;
}

/** GET and PUT /v1/taps. null: the server has no pool (routes answer 503). */
const tapRoutes: FastifyPluginAsync<{ taps: TapsApi | null }> = async (app, { taps }) => {
  const need = (): TapsApi => {
    if (taps) return taps;
    throw Object.assign(new Error("the TAP pool is not available in this server"), { statusCode: 503 });
  };
  const unavailable = { $ref: "Error#", description: "This server was built without a TAP pool." };

  app.get(
    "/v1/taps",
    {
      schema: {
        summary: "The TAP pool as the kernel shows it",
        description:
          "One link listing: name, ifindex, MAC, oper state, created-by-us and backend of each TAP.",
        tags: ["datapath"],
        operationId: "getTaps",
        querystring: NoQuerySchema,
        response: { 200: TapPoolSchema, 503: unavailable, ...commonErrors },
      },
    },
    async () => need().list(),
  );

  app.put<{ Body: { count: number } }>(
    "/v1/taps",
    {
      schema: {
        summary: "Grow or shrink the TAP pool",
        description:
          "Sets the pool's size. Growing creates P4TAP_<old count>..; shrinking removes the highest-numbered " +
          "TAPs. A count that is not a power of 2 greater than 4, or above taps.max, is a 400 naming the " +
          "allowed values, and nothing changes. The size lasts until the daemon restarts (taps.count in the " +
          "config is the size at start).",
        tags: ["datapath"],
        operationId: "putTaps",
        querystring: NoQuerySchema,
        body: resizeBodySchema(taps?.max ?? 1024),
        response: {
          200: TapPoolSchema,
          409: { $ref: "Error#", description: "The backend cannot do it (a gNMI pool cannot shrink)." },
          503: unavailable,
          ...commonErrors,
        },
      },
    },
    async (request) => {
      const t = need();
      await t.resize(request.body.count);
      return t.list();
    },
  );
};

export default tapRoutes;
