import type { FastifyPluginAsync } from "fastify";
import type { Job } from "../../daemon/state/store";
import { commonErrors, errorRef, NoQuerySchema } from "../schemas/common";
import { JobListSchema, JobParamsSchema } from "../schemas/jobs";

/** What the daemon offers the API about jobs (daemon/jobs/runner.ts implements it). */
export interface JobsApi {
  /** The newest `limit` jobs, newest first. */
  list(limit: number): Job[];
  get(id: number): Job | undefined;
  /** Creates a job of this kind and runs it in the background; throws (statusCode 409) while one runs. */
  start(kind: string): Job;
}

/** At most this many jobs in a listing. */
export const JOB_LIST_LIMIT = 50;

/** The API's view of a job: its steps without their internal position. */
export function jobView(job: Job) {
  return {
    ...job,
    steps: job.steps.map(({ name, state, message, startedAt, finishedAt }) => ({
      name,
      state,
      message,
      startedAt,
      finishedAt,
    })),
  };
}

export function needJobs(jobs: JobsApi | null): JobsApi {
  if (jobs) return jobs;
  throw Object.assign(new Error("jobs are not available in this server"), { statusCode: 503 });
}

export const jobsUnavailable = { ...errorRef, description: "This server was built without a job runner." };

/** GET /v1/jobs and GET /v1/jobs/ID: long operations (reset, kubeadm hooks) and their progress. */
const jobRoutes: FastifyPluginAsync<{ jobs: JobsApi | null }> = async (app, { jobs }) => {
  app.get(
    "/v1/jobs",
    {
      schema: {
        summary: "The newest jobs (reset, kubeadm hooks), newest first",
        tags: ["jobs"],
        operationId: "listJobs",
        querystring: NoQuerySchema,
        response: { 200: JobListSchema, 503: jobsUnavailable, ...commonErrors },
      },
    },
    async () => ({ jobs: needJobs(jobs).list(JOB_LIST_LIMIT).map(jobView) }),
  );

  app.get<{ Params: { id: number } }>(
    "/v1/jobs/:id",
    {
      schema: {
        summary: "One job with its steps: poll it to follow progress (the events stream has each step too)",
        tags: ["jobs"],
        operationId: "getJob",
        params: JobParamsSchema,
        querystring: NoQuerySchema,
        response: {
          200: { $ref: "Job#" },
          404: { ...errorRef, description: "No job with this id." },
          503: jobsUnavailable,
          ...commonErrors,
        },
      },
    },
    async (request, reply) => {
      const job = needJobs(jobs).get(request.params.id);
      if (job) return jobView(job);
      return reply.code(404).send({
        error: "not_found",
        message: `no job ${request.params.id}; GET /v1/jobs lists the newest ${JOB_LIST_LIMIT}`,
      });
    },
  );
};

export default jobRoutes;
