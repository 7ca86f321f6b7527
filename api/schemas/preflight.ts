/** Host preflight: check results and the changes a fix makes, as served by /v1/preflight. */
import { CHECK_IDS } from "../../daemon/config/schema";

export const checkStatuses = ["pass", "warn", "fail", "skip"] as const;

export const CheckResultSchema = {
  $id: "CheckResult",
  type: "object",
  description: "One preflight check: what it saw against what it expected.",
  required: ["id", "status", "observed", "expected", "fixable"],
  additionalProperties: false,
  properties: {
    id: { type: "string", enum: CHECK_IDS },
    status: {
      type: "string",
      enum: checkStatuses,
      description: "fail keeps the node from ready; skip: disabled in config or not applicable.",
    },
    observed: { type: "string" },
    expected: { type: "string" },
    fixable: { type: "boolean", description: "POST /v1/preflight/fix can make this check pass." },
  },
} as const;

export const ChangeSchema = {
  $id: "Change",
  type: "object",
  description:
    "One change a fix made (or, in a dry run, would make). Files are host paths; an edited file was " +
    "first copied to FILE.k8s-offloadd.bak.",
  required: ["action"],
  additionalProperties: false,
  properties: {
    file: {
      type: "string",
      description: "A host path: a file, or a directory a fix creates (action create).",
    },
    command: { type: "string" },
    action: { type: "string", enum: ["create", "edit", "write", "append", "run"] },
    before: { type: "string", description: "Content before; absent for a file that did not exist." },
    after: { type: "string" },
  },
} as const;

export const PreflightReportSchema = {
  type: "object",
  required: ["checks"],
  additionalProperties: false,
  properties: { checks: { type: "array", items: { $ref: "CheckResult#" } } },
} as const;

export const FixReportSchema = {
  type: "object",
  required: ["dryRun", "fixes", "checks"],
  additionalProperties: false,
  properties: {
    dryRun: { type: "boolean" },
    fixes: {
      type: "array",
      description: "Checks that had something to change, in check order.",
      items: {
        type: "object",
        required: ["id", "changes", "error", "restart"],
        additionalProperties: false,
        properties: {
          id: { type: "string", enum: CHECK_IDS },
          changes: { type: "array", items: { $ref: "Change#" } },
          error: {
            type: ["string", "null"],
            description: "Why the fix stopped (the changes listed were made; the failed file is unchanged).",
          },
          restart: {
            type: ["string", "null"],
            description:
              "Whether a service must be restarted for the changes to take effect (containerd reads its " +
              "config.toml and drop-ins only when it starts); null: no restart needed.",
          },
        },
      },
    },
    checks: {
      type: "array",
      items: { $ref: "CheckResult#" },
      description: "The checks after the fix (a dry run: as they are now).",
    },
  },
} as const;

export const FixQuerySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    dryRun: {
      type: "boolean",
      default: false,
      description: "true: list the changes without making them.",
    },
  },
} as const;
