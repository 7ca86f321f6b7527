/** Jobs (reset, kubeadm hooks) and their steps, as served by /v1/jobs, /v1/hooks/NAME and /v1/reset. */
import { HOOK_NAMES } from "../../daemon/jobs/kinds";

export const jobStates = ["running", "succeeded", "failed", "interrupted"] as const;
export const stepStates = ["pending", "running", "succeeded", "failed", "skipped"] as const;

export const JobSchema = {
  $id: "Job",
  type: "object",
  description:
    "A long operation of named steps, run in order and persisted: a daemon restart resumes it at its first " +
    "unfinished step. A failing step does not stop the others; the job then ends failed, naming them.",
  required: ["id", "kind", "state", "createdAt", "updatedAt", "message", "steps"],
  additionalProperties: false,
  properties: {
    id: { type: "integer", minimum: 1 },
    kind: {
      type: "string",
      description: `init, reset, or hook:NAME for a kubeadm hook (${HOOK_NAMES.map((h) => `hook:${h}`).join(", ")}).`,
    },
    state: {
      type: "string",
      enum: jobStates,
      description: "interrupted: a restarted daemon could not resume it (it no longer knows its steps).",
    },
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time", description: "Time of the last step transition." },
    message: {
      type: ["string", "null"],
      description: "null while running; then a summary, naming every failed step and why.",
    },
    steps: {
      type: "array",
      items: {
        type: "object",
        required: ["name", "state", "message", "startedAt", "finishedAt"],
        additionalProperties: false,
        properties: {
          name: {
            type: "string",
            description:
              "What the step does, e.g. kubeadm-reset; per manifest: apply-manifest PATH, undeploy-manifest PATH.",
          },
          state: { type: "string", enum: stepStates },
          message: { type: ["string", "null"], description: "What it did, or why it failed or was skipped." },
          startedAt: { type: ["string", "null"], format: "date-time" },
          finishedAt: { type: ["string", "null"], format: "date-time" },
        },
      },
    },
  },
} as const;

export const JobListSchema = {
  type: "object",
  required: ["jobs"],
  additionalProperties: false,
  properties: {
    jobs: { type: "array", items: { $ref: "Job#" }, description: "Newest first, at most 50." },
  },
} as const;

export const JobParamsSchema = {
  type: "object",
  required: ["id"],
  additionalProperties: false,
  properties: { id: { type: "integer", minimum: 1, description: "Job id, as listed by GET /v1/jobs." } },
} as const;

export const HookParamsSchema = {
  type: "object",
  required: ["name"],
  additionalProperties: false,
  properties: {
    name: { type: "string", enum: HOOK_NAMES, description: "The kubeadm hook to run." },
  },
} as const;
