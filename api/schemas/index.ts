import { ErrorSchema } from "./common";
import { NodeEventSchema } from "./events";
import { JobSchema } from "./jobs";
import { ChangeSchema, CheckResultSchema } from "./preflight";
import { ComponentStatusSchema, NodeStatusSchema } from "./status";

/** Schemas registered with `app.addSchema`, in dependency order. */
export const sharedSchemas = [
  ErrorSchema,
  ComponentStatusSchema,
  NodeStatusSchema,
  NodeEventSchema,
  CheckResultSchema,
  ChangeSchema,
  JobSchema,
] as const;
