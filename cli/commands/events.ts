/** The node's history: a page of events, or a live stream (Server-Sent Events) with --follow. */
import type { EventsPage, NodeEvent } from "../api-types";
import { type Context, printJson } from "../context";
import { CliError, EXIT, type ExitCode } from "../exit-codes";
import * as fmt from "../format";
import { readEvents } from "../sse";

export interface EventsOptions {
  after?: number;
  limit?: number;
  json: boolean;
}

export async function events(ctx: Context, o: EventsOptions): Promise<ExitCode> {
  const { body } = await ctx.client.get<EventsPage>("/v1/events", {
    query: { after: o.after, limit: o.limit },
  });
  if (o.json) {
    printJson(ctx.out, body);
    return EXIT.ok;
  }
  for (const e of body.events) ctx.out.print(fmt.event(e));
  if (body.events.length === (o.limit ?? 100)) ctx.out.warn(`(more: events --after ${body.next})`);
  return EXIT.ok;
}

/**
 * Prints the backlog after `after`, then each new event as it happens, one line each (with --json one
 * JSON object per line). Runs until interrupted (exit 0) or until the daemon ends the stream (exit 3).
 */
export async function follow(ctx: Context, o: EventsOptions): Promise<ExitCode> {
  const res = await ctx.client.open("GET", "/v1/events", {
    query: { follow: true, after: o.after },
    headers: { accept: "text/event-stream" },
  });
  if (res.statusCode !== 200) {
    // An error answer is JSON like any other: the client reads it and throws the API's message.
    await ctx.client.answer("GET", "/v1/events", res);
    throw new CliError(EXIT.apiError, `GET /v1/events answered HTTP ${res.statusCode}, not a stream`);
  }
  const stop = () => {
    res.destroy();
    process.exit(EXIT.ok);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await readEvents(res, (sse) => {
      const e = parseEvent(sse.data);
      // Something that is not an event (a newer daemon's addition?) is shown as it came.
      if (!e) ctx.out.print(sse.data);
      else ctx.out.print(o.json ? JSON.stringify(e) : fmt.event(e));
    });
  } catch (err) {
    throw ctx.client.unreachable(`the event stream broke: ${(err as Error).message}`);
  }
  throw ctx.client.unreachable("the daemon ended the event stream");
}

function parseEvent(data: string): NodeEvent | null {
  try {
    const e = JSON.parse(data) as NodeEvent | null;
    return typeof e === "object" && e !== null && typeof e.id === "number" ? e : null;
  } catch {
    return null;
  }
}
