import type { FastifyPluginAsync } from "fastify";
import type { PreflightApi } from "../../daemon/preflight";
import { commonErrors, errorRef, NoQuerySchema } from "../schemas/common";
import { FixQuerySchema, FixReportSchema, PreflightReportSchema } from "../schemas/preflight";

type FixQuery = { Querystring: { dryRun: boolean } };

/** Host preflight: run the checks, and fix what is safely fixable. null: the server has no preflight. */
const preflightRoutes: FastifyPluginAsync<{ preflight: PreflightApi | null }> = async (
  app,
  { preflight },
) => {
  const unavailable = { ...errorRef, description: "This server was built without host preflight." };
  const need = (): PreflightApi => {
    if (preflight) return preflight;
    throw Object.assign(new Error("host preflight is not available in this server"), { statusCode: 503 });
  };

  app.get(
    "/v1/preflight",
    {
      schema: {
        summary: "Run the host preflight checks",
        description:
          "Runs every check (kernel, swap, modules, sysctl, selinux, firewall, hugepages, containerd, crictl, " +
          "proxy, binaries, artifacts) below the configured host root and answers their results. Checks " +
          "disabled in config are skip. Changes nothing.",
        tags: ["node"],
        operationId: "getPreflight",
        querystring: NoQuerySchema,
        response: { 200: PreflightReportSchema, 503: unavailable, ...commonErrors },
      },
    },
    async () => ({ checks: await need().run() }),
  );

  app.post<FixQuery>(
    "/v1/preflight/fix",
    {
      schema: {
        summary: "Fix what preflight can fix",
        description:
          "Plans a fix for every enabled, fixable check that does not pass and applies it, answering what " +
          "changed and the checks afterwards. ?dryRun=true answers exactly the changes the real run would " +
          "make, without making them. Fixes are idempotent (a second run changes nothing), write files " +
          "atomically and copy an edited file to FILE.k8s-offloadd.bak first; a fix that cannot be applied " +
          "leaves the file as it was and its check fails naming the error. Takes no request body.",
        tags: ["node"],
        operationId: "fixPreflight",
        querystring: FixQuerySchema,
        response: { 200: FixReportSchema, 503: unavailable, ...commonErrors },
      },
    },
    async (request) => need().fix(request.query.dryRun),
  );
};

export default preflightRoutes;
