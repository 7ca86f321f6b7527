/** Schemas of the TAP pool routes. The allowed counts depend on the configured taps.max. */

export const TapSchema = {
  type: "object",
  additionalProperties: false,
  required: ["name", "ifindex", "mac", "operState", "createdByUs", "backend"],
  properties: {
    name: { type: "string", description: "Kernel name (port 0 shows as the host interface once renamed)." },
    ifindex: { type: "integer" },
    mac: { type: ["string", "null"] },
    operState: { type: "string", description: "Kernel operstate: UP, DOWN, UNKNOWN, ..." },
    createdByUs: { type: "boolean", description: "Recorded as created by this daemon." },
    backend: { type: "string", enum: ["gnmi", "kernel"] },
  },
} as const;

export const TapPoolSchema = {
  type: "object",
  additionalProperties: false,
  required: ["count", "backend", "taps"],
  properties: {
    count: { type: "integer", description: "The pool's size (TAPs P4TAP_0..count-1)." },
    backend: { type: "string", enum: ["gnmi", "kernel"] },
    taps: { type: "array", items: TapSchema },
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
