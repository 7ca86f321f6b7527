/**
 * The TypeScript type a JSON Schema describes, computed from the schema's `as const` data. It covers
 * what api/schemas uses (type, enum, properties, required, items, `$ref: "<$id>#"`); anything else
 * maps to `unknown`, so a schema change the mapper does not understand loosens a type rather than
 * lying about it.
 */

/** Schemas that `$ref` may name, by their `$id`. */
export type Registry = Record<string, unknown>;

type Primitive<T> = T extends "string"
  ? string
  : T extends "integer" | "number"
    ? number
    : T extends "boolean"
      ? boolean
      : T extends "null"
        ? null
        : T extends "object"
          ? Record<string, unknown>
          : T extends "array"
            ? unknown[]
            : unknown;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type ObjectOf<S, R extends Registry> = S extends { properties: infer P }
  ? Simplify<
      {
        -readonly [K in keyof P as K extends RequiredOf<S> ? K : never]: FromSchema<P[K], R>;
      } & {
        -readonly [K in keyof P as K extends RequiredOf<S> ? never : K]?: FromSchema<P[K], R>;
      }
    >
  : Record<string, unknown>;

type RequiredOf<S> = S extends { required: readonly (infer K)[] } ? K : never;

export type FromSchema<S, R extends Registry = Record<never, never>> = S extends {
  $ref: `${infer Id}#`;
}
  ? Id extends keyof R
    ? FromSchema<R[Id], R>
    : unknown
  : S extends { enum: readonly (infer E)[] }
    ? E
    : S extends { type: "object" }
      ? ObjectOf<S, R>
      : S extends { type: "array"; items: infer I }
        ? FromSchema<I, R>[]
        : S extends { type: readonly (infer T)[] }
          ? Primitive<T>
          : S extends { type: infer T }
            ? Primitive<T>
            : unknown;

/** A registry from a list of schemas with `$id`s. */
export type RegistryOf<L extends readonly { $id: string }[]> = { [S in L[number] as S["$id"]]: S };
