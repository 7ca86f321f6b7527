/**
 * A Server-Sent Events reader: calls onEvent with each event's data (comments, such as the daemon's
 * heartbeats, are skipped) and resolves when the stream ends.
 */
import type { IncomingMessage } from "node:http";

export interface SseEvent {
  id: string | null;
  event: string | null;
  data: string;
}

export function readEvents(res: IncomingMessage, onEvent: (e: SseEvent) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buf += chunk.replace(/\r\n?/g, "\n");
      for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const e = parseBlock(block);
        if (e) onEvent(e);
      }
    });
    res.on("end", () => resolve());
    res.on("error", reject);
  });
}

function parseBlock(block: string): SseEvent | null {
  const e: SseEvent = { id: null, event: null, data: "" };
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") data.push(value);
    else if (field === "id") e.id = value;
    else if (field === "event") e.event = value;
  }
  if (data.length === 0) return null;
  e.data = data.join("\n");
  return e;
}
