/**
 * Runs jobs: a job is a list of named steps persisted in SQLite (jobs, job_steps), run in order, one
 * job at a time. Steps are idempotent; a failing step is recorded with its message and the job goes on
 * with the next one, ending failed (naming every failed step) if any failed. A job found `running`
 * when the daemon starts (a crash, or a stop mid-job) resumes at its first unfinished step: a step that
 * was running is run again, which its idempotence allows.
 */
import type { Logger } from "pino";
import { errorText } from "../engine/engine";
import type { Job, StateStore } from "../state/store";

/** What a step returns: a message for its record, or Skip to be recorded as skipped. */
export type StepOutcome = string | undefined | Skip;

export class Skip {
  constructor(readonly message: string) {}
}

export type StepRun = () => Promise<StepOutcome>;

/** Which steps a kind of job has, and each step's code by its name (also for a job being resumed). */
export interface JobCatalog {
  /** True when `kind` can be started. */
  has(kind: string): boolean;
  /** Step names of a new job of this kind, fixed now: what a resumed job will run. */
  plan(kind: string): string[];
  /** The code of a step by its stored name; null when this daemon does not know it. */
  step(kind: string, name: string): StepRun | null;
}

/** Another job is running: 409 for the API. */
export class JobConflictError extends Error {
  override readonly name = "JobConflictError";
  readonly statusCode = 409;
  constructor(readonly running: { id: number; kind: string }) {
    super(
      `job ${running.id} (${running.kind}) is running; wait for it to finish (GET /v1/jobs/${running.id}) and try again`,
    );
  }
}

export interface JobRunnerOptions {
  store: StateStore;
  catalog: JobCatalog;
  /** A line in the node's history (and on the events stream) for each job and step transition. */
  emit: (kind: "job" | "job-step", message: string) => void;
  log: Logger;
}

export class JobRunner {
  private active: { id: number; kind: string } | null = null;
  private stopped = false;
  private current: Promise<void> = Promise.resolve();

  constructor(private readonly opts: JobRunnerOptions) {}

  /** Creates the job and runs it in the background; returns it as stored (running). */
  start(kind: string): Job {
    if (this.stopped) throw Object.assign(new Error("the daemon is stopping"), { statusCode: 503 });
    if (!this.opts.catalog.has(kind)) throw new Error(`unknown job kind ${JSON.stringify(kind)}`);
    if (this.active) throw new JobConflictError(this.active);
    const names = this.opts.catalog.plan(kind);
    const id = this.opts.store.createJob(kind, names);
    this.active = { id, kind };
    this.emit("job", `job ${id} (${kind}) started: ${names.join(", ")}`);
    const job = this.get(id) as Job;
    this.current = this.runToEnd(id, kind);
    return job;
  }

  /**
   * Resumes the jobs a previous daemon left running, oldest first, one after the other (new jobs get
   * 409 meanwhile). Resolves when they have ended.
   */
  resumeInterrupted(): Promise<void> {
    const left = this.opts.store.runningJobs();
    const first = left[0];
    if (!first) return Promise.resolve();
    this.active = { id: first.id, kind: first.kind };
    this.current = (async () => {
      for (const job of left) {
        if (this.stopped) return;
        this.active = { id: job.id, kind: job.kind };
        const next = job.steps.find((s) => s.state === "pending" || s.state === "running");
        this.emit(
          "job",
          `job ${job.id} (${job.kind}) resumed after a daemon restart${next ? ` at step ${next.name}` : ""}`,
        );
        await this.runToEnd(job.id, job.kind);
      }
    })();
    return this.current;
  }

  get(id: number): Job | undefined {
    return this.opts.store.job(id);
  }

  /** The newest jobs, newest first. */
  list(limit: number): Job[] {
    return this.opts.store.jobs(limit);
  }

  /** Daemon shutdown: no further step starts; the job stays running in the database and resumes next start. */
  stop(): void {
    this.stopped = true;
  }

  /** Resolves when the job being run (if any) has ended or stopped: for tests and orderly shutdown. */
  idle(): Promise<void> {
    return this.current;
  }

  /** Runs the job's unfinished steps, then ends it. Never rejects: a broken store is logged. */
  private async runToEnd(id: number, kind: string): Promise<void> {
    try {
      await this.runSteps(id, kind);
    } catch (err) {
      // The database closed under us (daemon shutdown): the job stays running and resumes next start.
      this.opts.log.error({ job: id, err: errorText(err) }, "job runner stopped");
    } finally {
      if (this.active?.id === id) this.active = null;
    }
  }

  private async runSteps(id: number, kind: string): Promise<void> {
    const { store, catalog } = this.opts;
    const job = store.job(id);
    if (!job) return;
    const unknown = job.steps.filter((s) => !catalog.step(kind, s.name));
    if (!catalog.has(kind) || unknown.length > 0) {
      const what = catalog.has(kind) ? `steps ${unknown.map((s) => s.name).join(", ")}` : `kind ${kind}`;
      this.finish(id, kind, "interrupted", `this daemon does not know the job's ${what}; it was not resumed`);
      return;
    }
    const total = job.steps.length;
    for (const [i, step] of job.steps.entries()) {
      if (step.state !== "pending" && step.state !== "running") continue;
      if (this.stopped) return;
      const run = catalog.step(kind, step.name) as StepRun;
      const where = `job ${id} (${kind}) step ${i + 1}/${total} ${step.name}`;
      store.startStep(id, step.idx);
      this.emit("job-step", `${where}: running`);
      let outcome: StepOutcome;
      try {
        outcome = await run();
      } catch (err) {
        const message = errorText(err);
        if (this.stopped) return; // a step cut short by shutdown is run again next start
        store.finishStep(id, step.idx, "failed", message);
        this.emit("job-step", `${where}: failed: ${message}`);
        continue;
      }
      if (this.stopped) return;
      if (outcome instanceof Skip) {
        store.finishStep(id, step.idx, "skipped", outcome.message);
        this.emit("job-step", `${where}: skipped: ${outcome.message}`);
      } else {
        store.finishStep(id, step.idx, "succeeded", outcome);
        this.emit("job-step", `${where}: succeeded${outcome ? `: ${outcome}` : ""}`);
      }
    }
    const failed = (store.job(id)?.steps ?? []).filter((s) => s.state === "failed");
    if (failed.length === 0) this.finish(id, kind, "succeeded", `${total} steps done`);
    else
      this.finish(
        id,
        kind,
        "failed",
        `${failed.length} of ${total} steps failed: ${failed.map((s) => `${s.name} (${s.message ?? "failed"})`).join("; ")}`,
      );
  }

  private finish(
    id: number,
    kind: string,
    state: "succeeded" | "failed" | "interrupted",
    message: string,
  ): void {
    this.opts.store.finishJob(id, state, message);
    this.emit("job", `job ${id} (${kind}) ${state}: ${message}`);
  }

  private emit(kind: "job" | "job-step", message: string): void {
    try {
      this.opts.emit(kind, message);
    } catch (err) {
      this.opts.log.warn({ err: errorText(err) }, "cannot record a job event");
    }
  }
}
