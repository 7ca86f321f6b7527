/**
 * Long operations run by the daemon as jobs (kubeadm hooks, reset): start one, then follow it to its
 * end, printing a line each time a step changes state.
 */
import type { Job, JobList } from "../api-types";
import { type Context, printJson, sleep } from "../context";
import { CliError, EXIT, type ExitCode } from "../exit-codes";
import * as fmt from "../format";

const POLL_MS = 500;
/** A daemon restarting mid-job resumes it: keep asking this long before giving up (exit 3). */
const UNREACHABLE_GRACE_MS = 60_000;

export interface JobOptions {
  json: boolean;
  /** Print the job as started and return without following it. */
  noWait: boolean;
}

export async function hook(ctx: Context, name: string, o: JobOptions): Promise<ExitCode> {
  const { body } = await ctx.client.send<Job>("POST", `/v1/hooks/${encodeURIComponent(name)}`);
  return watch(ctx, body, o);
}

export async function reset(ctx: Context, o: JobOptions): Promise<ExitCode> {
  const { body } = await ctx.client.send<Job>("POST", "/v1/reset");
  return watch(ctx, body, o);
}

export async function init(ctx: Context, o: JobOptions): Promise<ExitCode> {
  const { body } = await ctx.client.send<Job>("POST", "/v1/init");
  return watch(ctx, body, o);
}

/** `jobs`: the newest jobs, newest first. */
export async function list(ctx: Context, json: boolean): Promise<ExitCode> {
  const { body } = await ctx.client.get<JobList>("/v1/jobs");
  ctx.out.print(json ? JSON.stringify(body, null, 2) : fmt.jobs(body.jobs));
  return EXIT.ok;
}

/** `jobs ID`: follow one job (started earlier, e.g. with --no-wait) to its end. */
export async function follow(ctx: Context, id: number, o: JobOptions): Promise<ExitCode> {
  const { body } = await ctx.client.get<Job>(`/v1/jobs/${id}`);
  return watch(ctx, body, o, false);
}

/** Exit 0 when the job succeeded, 4 when it ended failed or interrupted. */
export async function watch(ctx: Context, started: Job, o: JobOptions, isNew = true): Promise<ExitCode> {
  if (isNew) ctx.out.progress(`job ${started.id} (${started.kind}) started`);
  if (o.noWait) {
    if (o.json) printJson(ctx.out, started);
    return EXIT.ok;
  }
  const shown = new Map<number, string>();
  let job = started;
  let unreachableSince: number | null = null;
  for (;;) {
    job.steps.forEach((s, i) => {
      // A pending step is not news; every other state is printed once.
      const key = `${s.state}|${s.message ?? ""}`;
      if (s.state !== "pending" && shown.get(i) !== key) {
        shown.set(i, key);
        ctx.out.progress(fmt.step(job, s));
      }
    });
    if (job.state !== "running") break;
    await sleep(POLL_MS);
    try {
      job = (await ctx.client.get<Job>(`/v1/jobs/${job.id}`)).body;
      unreachableSince = null;
    } catch (err) {
      if (!(err instanceof CliError) || err.code !== EXIT.unreachable) throw err;
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > UNREACHABLE_GRACE_MS) throw err;
    }
  }
  if (o.json) printJson(ctx.out, job);
  if (job.state === "succeeded") {
    if (!o.json) ctx.out.print(fmt.jobEnd(job));
    return EXIT.ok;
  }
  ctx.out.warn(fmt.jobEnd(job));
  return EXIT.notDone;
}
