/** Host preflight: run the checks, or fix what can be fixed (--dry-run: only say what would change). */
import type { CheckResult, FixReport, PreflightReport } from "../api-types";
import type { Context } from "../context";
import { EXIT, type ExitCode } from "../exit-codes";
import * as fmt from "../format";

/** Exit 4 when a check fails (after fixing, with --fix); a dry run changes nothing and exits 0. */
export async function preflight(
  ctx: Context,
  o: { fix: boolean; dryRun: boolean; json: boolean },
): Promise<ExitCode> {
  if (!o.fix && !o.dryRun) {
    const { body } = await ctx.client.get<PreflightReport>("/v1/preflight");
    ctx.out.print(o.json ? JSON.stringify(body, null, 2) : fmt.checks(body.checks));
    return outcome(body.checks);
  }
  const { body } = await ctx.client.send<FixReport>("POST", "/v1/preflight/fix", {
    query: { dryRun: o.dryRun },
  });
  ctx.out.print(o.json ? JSON.stringify(body, null, 2) : fmt.fixReport(body));
  return o.dryRun ? EXIT.ok : outcome(body.checks);
}

function outcome(checks: CheckResult[]): ExitCode {
  return checks.some((c) => c.status === "fail") ? EXIT.notDone : EXIT.ok;
}
