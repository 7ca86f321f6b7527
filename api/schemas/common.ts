/**
 * Schemas shared by every route. They are plain JSON Schema data (`as const`), registered once with
 * `app.addSchema` and referenced as `{ $ref: "<$id>#" }`: fast-json-stringify serializes with them and
 * @fastify/swagger turns each `$id` into a named entry of `components.schemas`.
 */

/** The one error shape of the API: a short code and words saying what was wrong and what is allowed. */
export const ErrorSchema = {
  $id: "Error",
  type: "object",
  description: "Every error answer of the API has this shape.",
  required: ["error", "message"],
  additionalProperties: false,
  properties: {
    error: {
      type: "string",
      description:
        "Short machine-readable code: invalid_request, unexpected_body, not_found, unknown_component, " +
        "unsupported_media_type, payload_too_large, conflict, unavailable, internal_error.",
    },
    message: { type: "string", description: "What was wrong, and what is allowed." },
  },
} as const;

export const errorRef = { $ref: "Error#" } as const;

/** Error answers every route can give: a bad request (400) and an internal error (500). */
export const commonErrors = {
  400: {
    ...errorRef,
    description: "The request was invalid: the message names the field and what is allowed.",
  },
  500: { ...errorRef, description: "Internal error; details are in the daemon's log, never in the answer." },
} as const;

/** Querystring of a route that takes no parameters: any field is unknown and rejected with 400. */
export const NoQuerySchema = {
  type: "object",
  additionalProperties: false,
  properties: {},
} as const;
