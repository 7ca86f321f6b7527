import type { FastifyPluginAsync } from "fastify";
import { commonErrors, NoQuerySchema } from "../schemas/common";
import { resizeBodySchema, TapPoolSchema } from "../schemas/taps";

/** What the daemon offers the API about the TAP pool (implemented in daemon/main.ts). */
export interface TapsApi {
  /** taps.max: the largest count PUT /v1/taps accepts. */
  readonly max: number;
  /** Every TAP of the pool and where it is now (looks into named namespaces for the ones that left). */
  list(): Promise<{ count: number; backend: string; taps: TapViewLike[] }>;
  /** Counts from the pool's last look (cheap: for /metrics). */
  counts(): TapCountsLike;
  /** Grow or shrink the pool, one operation at a time with the engine's others. */
  resize(count: number): Promise<void>;
}

export interface TapViewLike {
  state: string;
}

export interface TapCountsLike {
  available: number;
  inUse: number;
  lost: number;
  missing: number;
  host: number;
}

/** The counts of one listing. */
function countStates(taps: readonly TapViewLike[]): TapCountsLike {
  const c: TapCountsLike = { available: 0, inUse: 0, lost: 0, missing: 0, host: 0 };
  for (const t of taps) {
    if (t.state === "available") c.available++;
    else if (t.state === "in-use") c.inUse++;
    else if (t.state === "lost") c.lost++;
    else if (t.state === "missing") c.missing++;
    else if (t.state === "host") c.host++;
  }
  return c;
}

async function listing(t: TapsApi) {
  const l = await t.list();
  return { count: l.count, backend: l.backend, counts: countStates(l.taps), taps: l.taps };
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
        summary: "The TAP pool: where each TAP is",
        description:
          "Each TAP of the pool in port order with its state (available, host, in-use, lost, missing), its kernel " +
          "name and, when it left the datapath's namespace, the named namespace holding it (found by its MAC).",
        tags: ["datapath"],
        operationId: "getTaps",
        querystring: NoQuerySchema,
        response: { 200: TapPoolSchema, 503: unavailable, ...commonErrors },
      },
    },
    async () => listing(need()),
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
      return listing(t);
    },
  );
};

export default tapRoutes;
