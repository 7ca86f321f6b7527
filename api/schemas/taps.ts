/** Schemas of the TAP pool routes. The allowed counts depend on the configured taps.max. */

export const tapStates = ["available", "host", "in-use", "lost", "missing"] as const;

export const TapSchema = {
  type: "object",
  additionalProperties: false,
  required: [
    "name",
    "index",
    "state",
    "kernelName",
    "netns",
    "ifindex",
    "mac",
    "operState",
    "createdByUs",
    "backend",
  ],
  properties: {
    name: {
      type: "string",
      description: "The pool name, <prefix><index> (P4TAP_3); the port number is the index.",
    },
    index: { type: "integer", minimum: 0 },
    state: {
      type: "string",
      enum: tapStates,
      description:
        "available: in the datapath's namespace for the CNI agent to take; host: port 0 as the host interface; " +
        "in-use: taken (moved into a pod's namespace, or renamed); lost: made (configured in the P4 target) but its " +
        "kernel side is gone, e.g. died with a pod's namespace (a gNMI port cannot be made again until the target " +
        "restarts); missing: not made (yet).",
    },
    kernelName: {
      type: ["string", "null"],
      description: "Its kernel name now (TAP_0, eth0 in a pod); null when not found.",
    },
    netns: {
      type: ["string", "null"],
      description:
        "The named network namespace holding it (/run/netns); null: the host's own namespace, or not known.",
    },
    ifindex: { type: ["integer", "null"] },
    mac: { type: ["string", "null"], description: "The MAC it had in the datapath's namespace." },
    operState: { type: ["string", "null"], description: "Kernel operstate: UP, DOWN, UNKNOWN, ..." },
    createdByUs: { type: "boolean", description: "Recorded as created by this daemon." },
    backend: { type: "string", enum: ["gnmi", "kernel", "dpdk"] },
  },
} as const;

export const TapCountsSchema = {
  type: "object",
  additionalProperties: false,
  required: ["available", "inUse", "lost", "missing", "host"],
  properties: {
    available: { type: "integer", minimum: 0 },
    inUse: { type: "integer", minimum: 0 },
    lost: { type: "integer", minimum: 0 },
    missing: { type: "integer", minimum: 0 },
    host: { type: "integer", minimum: 0 },
  },
} as const;

export const TapPoolSchema = {
  type: "object",
  additionalProperties: false,
  required: ["count", "backend", "counts", "taps"],
  properties: {
    count: { type: "integer", description: "The pool's size (TAPs P4TAP_0..count-1)." },
    backend: { type: "string", enum: ["gnmi", "kernel", "dpdk"] },
    counts: TapCountsSchema,
    taps: { type: "array", items: TapSchema, description: "Every TAP of the pool, in port order." },
  },
} as const;

/** The counts a pool may have: powers of 2 greater than 4, up to max. */
export function allowedCounts(max: number): number[] {
  const out: number[] = [];
  for (let n = 8; n <= max; n *= 2) out.push(n);
  return out;
}

export function resizeBodySchema(max: number) {
  return {
    type: "object",
    additionalProperties: false,
    required: ["count"],
    properties: {
      count: {
        type: "integer",
        enum: allowedCounts(max),
        description: `The new pool size: a power of 2 greater than 4 and at most taps.max (${max}).`,
      },
    },
  } as const;
}
