/** Path parameters and list shape of /v1/components. */

export const ComponentParamsSchema = {
  type: "object",
  required: ["name"],
  additionalProperties: false,
  properties: {
    name: {
      type: "string",
      pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
      description: "Component name, as listed by GET /v1/components.",
    },
  },
} as const;

export const ComponentListSchema = {
  type: "object",
  required: ["components"],
  additionalProperties: false,
  properties: { components: { type: "array", items: { $ref: "ComponentStatus#" } } },
} as const;
