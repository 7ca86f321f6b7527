/**
 * Request and answer types of the API, computed from the very schema objects the daemon validates and
 * serializes with and that produce openapi/openapi.json (api/schemas). Imports are type-only: the
 * compiled CLI loads none of the daemon's code. A schema change changes these types, and the CLI
 * stops compiling where it no longer matches; test/integration/cli.test.ts checks that every route
 * the CLI calls is in the daemon's OpenAPI document.
 */
import type { ErrorSchema } from "../api/schemas/common";
import type { ComponentListSchema } from "../api/schemas/components";
import type { EventsPageSchema, NodeEventSchema } from "../api/schemas/events";
import type { sharedSchemas } from "../api/schemas/index";
import type { JobListSchema, JobSchema } from "../api/schemas/jobs";
import type { FixReportSchema, PreflightReportSchema } from "../api/schemas/preflight";
import type { NotReadySchema, ReadySchema } from "../api/schemas/status";
import type { TapPoolSchema } from "../api/schemas/taps";
import type { FromSchema, RegistryOf } from "./from-schema";

type Refs = RegistryOf<readonly [...typeof sharedSchemas, typeof JobSchema]>;
type Api<S> = FromSchema<S, Refs>;

export type ApiErrorBody = Api<typeof ErrorSchema>;
export type NodeStatus = Api<Refs["NodeStatus"]>;
export type ComponentStatus = Api<Refs["ComponentStatus"]>;
export type ComponentList = Api<typeof ComponentListSchema>;
export type Ready = Api<typeof ReadySchema>;
export type NotReady = Api<typeof NotReadySchema>;
export type NodeEvent = Api<typeof NodeEventSchema>;
export type EventsPage = Api<typeof EventsPageSchema>;
export type TapPool = Api<typeof TapPoolSchema>;
export type PreflightReport = Api<typeof PreflightReportSchema>;
export type CheckResult = Api<Refs["CheckResult"]>;
export type FixReport = Api<typeof FixReportSchema>;
export type Job = Api<typeof JobSchema>;
export type JobStep = Job["steps"][number];
export type JobList = Api<typeof JobListSchema>;
