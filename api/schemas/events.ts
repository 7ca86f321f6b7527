/** The node's history: /v1/events (a page as JSON, or a Server-Sent Events stream with follow=true). */

export const eventKinds = [
  "start",
  "ready",
  "exit",
  "restart",
  "give-up",
  "blocked",
  "adopt",
  "stop",
  "error",
  "phase",
  "job",
  "job-step",
  "warning",
] as const;

export const NodeEventSchema = {
  $id: "NodeEvent",
  type: "object",
  description: "An event in the node's history.",
  required: ["id", "time", "component", "kind", "message"],
  additionalProperties: false,
  properties: {
    id: { type: "integer", minimum: 1 },
    time: { type: "string", format: "date-time" },
    component: { type: ["string", "null"] },
    kind: { type: "string", enum: eventKinds },
    message: { type: "string" },
  },
} as const;

export const EventsQuerySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    after: {
      type: "integer",
      minimum: 0,
      default: 0,
      description: "Return events with an id greater than this (0: from the oldest kept).",
    },
    limit: {
      type: "integer",
      minimum: 1,
      maximum: 1000,
      default: 100,
      description: "At most this many events (1..1000). Ignored with follow=true.",
    },
    follow: {
      type: "boolean",
      default: false,
      description:
        "Stream Server-Sent Events instead: every event after `after` (the whole backlog), then each new " +
        "one as `id: <id>`, `event: <kind>`, `data: <NodeEvent JSON>`; a comment line every 15 s keeps " +
        "the connection alive. A Last-Event-ID header greater than `after` takes its place.",
    },
  },
} as const;

export const EventsPageSchema = {
  type: "object",
  required: ["events", "next"],
  additionalProperties: false,
  properties: {
    events: { type: "array", items: { $ref: "NodeEvent#" } },
    next: {
      type: "integer",
      minimum: 0,
      description:
        "Id of the last event returned (or `after` when none): pass it as `after` for the next page.",
    },
  },
} as const;
