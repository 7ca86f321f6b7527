/** Node and component status, as served by /v1/status, /v1/components and the datapath routes. */

export const componentStates = [
  "pending",
  "starting",
  "ready",
  "degraded",
  "restarting",
  "blocked",
  "failed",
  "stopping",
  "stopped",
] as const;

export const nodePhases = ["starting", "ready", "degraded", "failed", "stopped"] as const;

export const ComponentStatusSchema = {
  $id: "ComponentStatus",
  type: "object",
  description: "One component of the node's datapath.",
  required: ["name", "state", "pid", "restarts", "since", "lastError", "dependsOn", "adopted", "logTail"],
  additionalProperties: false,
  properties: {
    name: { type: "string" },
    state: { type: "string", enum: componentStates },
    pid: { type: ["integer", "null"], description: "Process id when the component is a supervised process." },
    restarts: { type: "integer", minimum: 0 },
    since: { type: "string", format: "date-time", description: "Time of the last state change." },
    lastError: { type: ["string", "null"] },
    dependsOn: { type: "array", items: { type: "string" } },
    adopted: { type: "boolean", description: "The process was started by an earlier daemon and adopted." },
    logTail: { type: "array", items: { type: "string" }, description: "Last lines the child wrote." },
  },
} as const;

export const NodeStatusSchema = {
  $id: "NodeStatus",
  type: "object",
  description: "The node's datapath as a whole, served from the daemon's memory.",
  required: ["phase", "message", "version", "profile", "uptimeSec", "components"],
  additionalProperties: false,
  properties: {
    phase: { type: "string", enum: nodePhases },
    message: { type: "string", description: "Words for an admin; also sent to systemd as STATUS=." },
    version: { type: "string" },
    profile: { type: "string" },
    uptimeSec: { type: "integer", minimum: 0 },
    components: { type: "array", items: { $ref: "ComponentStatus#" } },
  },
} as const;

export const ReadyQuerySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    wait: {
      type: "integer",
      minimum: 0,
      maximum: 300,
      description: "Hold the request up to this many seconds until the node is ready (0..300).",
    },
  },
} as const;

export const ReadySchema = {
  type: "object",
  description: "The node is ready: every component is ready.",
  required: ["ready", "phase"],
  additionalProperties: false,
  properties: {
    ready: { type: "boolean", enum: [true] },
    phase: { type: "string", enum: nodePhases },
  },
} as const;

export const NotReadySchema = {
  type: "object",
  description: "The node is not ready; reason names the component(s) not ready.",
  required: ["ready", "phase", "reason"],
  additionalProperties: false,
  properties: {
    ready: { type: "boolean", enum: [false] },
    phase: { type: "string", enum: nodePhases },
    reason: { type: "string" },
  },
} as const;

export const HealthSchema = {
  type: "object",
  description: "The daemon's own liveness: its event loop answers.",
  required: ["ok"],
  additionalProperties: false,
  properties: { ok: { type: "boolean", enum: [true] } },
} as const;
