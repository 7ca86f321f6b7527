/**
 * The config schema's validator. Compiled by Ajv here when running tsc's output; the daemon's bundle
 * replaces this module with the same validator compiled ahead of time (Ajv standalone code, made by
 * scripts/bundle.ts from the same schema and options), so start-up compiles no schema.
 */
import Ajv, { type ValidateFunction } from "ajv";
import { configSchema } from "./schema";

/**
 * useDefaults fills the schema's defaults into the parsed data; verbose puts the failing schema and
 * value on each error, which the messages are made from.
 */
export const CONFIG_AJV_OPTIONS = { allErrors: true, useDefaults: true, verbose: true } as const;

let compiled: ValidateFunction | null = null;

export function configValidator(): ValidateFunction {
  compiled ??= new Ajv(CONFIG_AJV_OPTIONS).compile(configSchema);
  return compiled;
}
