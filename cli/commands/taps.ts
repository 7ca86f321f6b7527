/** The TAP pool: list it, or resize it with --count. */
import type { TapPool } from "../api-types";
import type { Context } from "../context";
import { EXIT, type ExitCode } from "../exit-codes";
import * as fmt from "../format";

export async function taps(ctx: Context, count: number | undefined, json: boolean): Promise<ExitCode> {
  if (count !== undefined) ctx.out.progress(`resizing the TAP pool to ${count}...`);
  // The API decides which counts are allowed (powers of 2 above 4, up to taps.max) and says so.
  const { body } =
    count === undefined
      ? await ctx.client.get<TapPool>("/v1/taps")
      : await ctx.client.send<TapPool>("PUT", "/v1/taps", { body: { count } });
  ctx.out.print(json ? JSON.stringify(body, null, 2) : fmt.taps(body));
  return EXIT.ok;
}
