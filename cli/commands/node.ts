/** The node as a whole: status, components, restart, down, up, wait-ready. */
import type { ComponentList, ComponentStatus, NodeStatus, NotReady, Ready } from "../api-types";
import { type Context, printJson, sleep } from "../context";
import { CliError, EXIT, type ExitCode } from "../exit-codes";
import * as fmt from "../format";

export async function status(ctx: Context, json: boolean): Promise<ExitCode> {
  const { body } = await ctx.client.get<NodeStatus>("/v1/status");
  ctx.out.print(json ? JSON.stringify(body, null, 2) : fmt.nodeStatus(body));
  return EXIT.ok;
}

export async function components(ctx: Context, json: boolean): Promise<ExitCode> {
  const { body } = await ctx.client.get<ComponentList>("/v1/components");
  ctx.out.print(json ? JSON.stringify(body, null, 2) : fmt.components(body.components));
  return EXIT.ok;
}

/** Exit 4 when the component is not ready afterwards (the API answers 200 either way). */
export async function restart(ctx: Context, name: string, json: boolean): Promise<ExitCode> {
  ctx.out.progress(`restarting ${name} (waits until it is ready or fails)...`);
  const path = `/v1/components/${encodeURIComponent(name)}/restart`;
  const { body } = await ctx.client.send<ComponentStatus>("POST", path);
  if (json) printJson(ctx.out, body);
  else ctx.out.print(fmt.componentLine(body));
  return body.state === "ready" ? EXIT.ok : EXIT.notDone;
}

export async function down(ctx: Context, json: boolean): Promise<ExitCode> {
  ctx.out.progress("stopping the datapath (every component, in reverse order)...");
  const { body } = await ctx.client.send<NodeStatus>("POST", "/v1/datapath/down");
  ctx.out.print(json ? JSON.stringify(body, null, 2) : fmt.nodeStatus(body));
  return EXIT.ok;
}

/** Exit 0 when the bring-up pass ends ready, 4 when it ends otherwise (the status says why). */
export async function up(ctx: Context, json: boolean): Promise<ExitCode> {
  ctx.out.progress("bringing the datapath up (every component, in dependency order)...");
  const { body } = await ctx.client.send<NodeStatus>("POST", "/v1/datapath/up");
  ctx.out.print(json ? JSON.stringify(body, null, 2) : fmt.nodeStatus(body));
  return body.phase === "ready" ? EXIT.ok : EXIT.notDone;
}

/** The API holds one request at most this long (ReadyQuerySchema's maximum). */
const MAX_WAIT_SEC = 300;
const RETRY_MS = 1000;

/**
 * Exit 0 once the node is ready; 4 when it is not within the timeout (the daemon's reason is printed);
 * 3 when the daemon could not be reached by then. A daemon not answering yet (starting or restarting)
 * is retried every second until the timeout, so this can run right after the daemon's start.
 */
export async function waitReady(ctx: Context, timeoutSec: number, json: boolean): Promise<ExitCode> {
  const deadline = Date.now() + timeoutSec * 1000;
  let lastNotReady: NotReady | null = null;
  let unreachable: CliError | null = null;
  let said = "";
  const say = (text: string) => {
    if (text !== said) ctx.out.warn(text);
    said = text;
  };
  for (;;) {
    const remainingMs = deadline - Date.now();
    const wait = Math.min(MAX_WAIT_SEC, Math.max(0, Math.ceil(remainingMs / 1000)));
    const asked = Date.now();
    try {
      const { body } = await ctx.client.get<Ready | NotReady>("/v1/ready", {
        query: wait > 0 ? { wait } : {},
        accept: [503],
        // A daemon that holds the request past its own wait is wedged: treat it as unreachable.
        timeoutMs: (wait + 15) * 1000,
      });
      unreachable = null;
      if (body.ready) {
        if (json) printJson(ctx.out, body);
        else ctx.out.print(`ready (phase ${body.phase})`);
        return EXIT.ok;
      }
      lastNotReady = body;
      say(`k8s-offloadctl: not ready yet: ${body.phase}: ${body.reason}`);
    } catch (err) {
      if (!(err instanceof CliError) || err.code !== EXIT.unreachable) throw err;
      unreachable = err;
      say(`k8s-offloadctl: ${err.message}; retrying for up to ${timeoutSec} s`);
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    // The daemon answered early (it was unreachable, or not holding the request): do not spin.
    if (Date.now() - asked < wait * 1000 - RETRY_MS || wait === 0) await sleep(Math.min(RETRY_MS, left));
  }
  if (unreachable) throw unreachable;
  const why = lastNotReady ? `${lastNotReady.phase}: ${lastNotReady.reason}` : "no answer";
  if (json && lastNotReady) printJson(ctx.out, lastNotReady);
  ctx.out.warn(`k8s-offloadctl: not ready after ${timeoutSec} s: ${why}`);
  return EXIT.notDone;
}
