/**
 * Runs jobs: a job is a list of named steps persisted in SQLite (jobs, job_steps), run in order, one
 * job at a time. Steps are idempotent; a failing step is recorded with its message and the job goes on
 * with the next one, ending failed (naming every failed step) if any failed. A job found `running`
 * when the daemon starts (a crash, or a stop mid-job) resumes at its first unfinished step: a step that
 * was running is run again, which its idempotence allows, but only once the process an earlier daemon
 * ran for it is gone (StepProcessControl.endLeftovers).
 *
 * Resuming comes before anything new, whatever the caller's order: the first start() (or
 * resumeInterrupted()) reads the interrupted jobs, synchronously, before a new job is created; while
 * they run, a new job gets 409, and a new job created meanwhile starts only after the leftovers of
 * earlier daemons are ended. So a job POSTed between listen and resume never runs twice.
 */
import type { Logger } from "pino";
import { errorText } from "../engine/engine";
import type { LeftoverOutcome } from "../host/step-process";
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

/** The processes job steps run (daemon/host/step-process.ts StepProcesses). */
export interface StepProcessControl {
  /** Which job step the processes started from now on belong to. */
  setContext(ctx: { jobId: number; stepIdx: number } | null): void;
  /** Ends what earlier daemons' steps left running (identity-checked) and says what it found. */
  endLeftovers(): Promise<LeftoverOutcome[]>;
  /** Daemon stop: the stop ladder on every step process still running. */
  stopAll(): Promise<void>;
}

export interface JobRunnerOptions {
  store: StateStore;
  /** Absent: steps' processes are not tracked (unit tests of in-memory steps). */
  processes?: StepProcessControl;
  catalog: JobCatalog;
  /** A line in the node's history (and on the events stream) for each job and step transition. */
  emit: (kind: "job" | "job-step" | "warning", message: string) => void;
  log: Logger;
}

export class JobRunner {
  private active: { id: number; kind: string } | null = null;
  private stopped = false;
  private current: Promise<void> = Promise.resolve();
  /** Set by the first resumeInterrupted(): the resume of jobs left by an earlier daemon. */
  private resuming: Promise<void> | null = null;
  /** Set with `resuming`: the end of what earlier daemons' processes left running (never rejects). */
  private leftovers: Promise<void> | null = null;
  /** Jobs whose leftover step processes survived SIGKILL: not run again (id -> reason). */
  private readonly blocked = new Map<number, string>();

  constructor(private readonly opts: JobRunnerOptions) {}

  /** Creates the job and runs it in the background; returns it as stored (running). */
  start(kind: string): Job {
    if (this.stopped) throw Object.assign(new Error("the daemon is stopping"), { statusCode: 503 });
    if (!this.opts.catalog.has(kind)) throw new Error(`unknown job kind ${JSON.stringify(kind)}`);
    // Interrupted jobs are read before this one exists, and own the runner until they end.
    const resumed = this.resumeInterrupted();
    if (this.active) throw new JobConflictError(this.active);
    const names = this.opts.catalog.plan(kind);
    const id = this.opts.store.createJob(kind, names);
    this.active = { id, kind };
    this.emit("job", `job ${id} (${kind}) started: ${names.join(", ")}`);
    const job = this.get(id) as Job;
    this.current = resumed.then(() => this.runToEnd(id, kind));
    return job;
  }

  /**
   * Resumes the jobs a previous daemon left running, oldest first, one after the other (new jobs get
   * 409 meanwhile), after ending the step processes it left behind. Idempotent: later calls return the
   * same promise. Resolves when they have ended; never rejects.
   */
  resumeInterrupted(): Promise<void> {
    if (this.resuming) return this.resuming;
    const left = this.stopped ? [] : this.opts.store.runningJobs();
    const first = left[0];
    if (first) this.active = { id: first.id, kind: first.kind };
    const leftovers = this.endLeftovers().catch((err: unknown) => {
      this.opts.log.error({ err: errorText(err) }, "cannot end the step processes of an earlier daemon");
    });
    this.leftovers = leftovers;
    this.resuming = (async () => {
      await leftovers;
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
      if (this.active && left.some((j) => j.id === this.active?.id)) this.active = null;
    })();
    this.current = this.resuming;
    return this.resuming;
  }

  /**
   * Resolves once the processes earlier daemons left running (job steps, heals) are ended: what else
   * runs these tools (the heal) waits for it, as a resumed step does. Starts the resume if not yet.
   */
  leftoversEnded(): Promise<void> {
    void this.resumeInterrupted();
    return this.leftovers ?? Promise.resolve();
  }

  get(id: number): Job | undefined {
    return this.opts.store.job(id);
  }

  /** The newest jobs, newest first. */
  list(limit: number): Job[] {
    return this.opts.store.jobs(limit);
  }

  /**
   * Daemon shutdown: no further step starts; the step process running (if any) is ended with the stop
   * ladder (finished synchronously at process exit when not awaited); the job stays running in the
   * database and resumes next start.
   */
  stop(): Promise<void> {
    this.stopped = true;
    return this.opts.processes?.stopAll() ?? Promise.resolve();
  }

  /** Resolves when the job being run (if any) has ended or stopped: for tests and orderly shutdown. */
  idle(): Promise<void> {
    return this.current;
  }

  /**
   * Ends what earlier daemons' steps (and heals) left running; says so in the history of the job
   * concerned.
   */
  private async endLeftovers(): Promise<void> {
    const { processes, store } = this.opts;
    if (!processes) return;
    for (const o of await processes.endLeftovers()) {
      const r = o.record;
      if (o.otherBoot || (o.ended.length === 0 && o.survivors.length === 0)) continue;
      const [prog = "", ...args] = r.argv;
      const what = [prog.split("/").at(-1) ?? prog, ...args].join(" ");
      if (r.jobId === null) {
        // Not a job's: a tool the heal after a target restart ran.
        if (o.ended.length > 0)
          this.emit(
            "warning",
            `ended the process an earlier daemon left running (${what}): ${o.ended.join(", ")}`,
          );
        if (o.survivors.length > 0)
          this.emit(
            "warning",
            `the process an earlier daemon left running (${what}, pid ${o.survivors.join(", ")}) survives SIGKILL`,
          );
        continue;
      }
      const step = r.stepIdx !== null ? store.job(r.jobId)?.steps[r.stepIdx]?.name : undefined;
      const where = `job ${r.jobId}${step ? ` step ${step}` : ""}`;
      if (o.ended.length > 0)
        this.emit(
          "job-step",
          `${where}: ended the process an earlier daemon left running (${what}): ${o.ended.join(", ")}`,
        );
      if (o.survivors.length > 0) {
        const why = `the process an earlier daemon ran for it (${what}, pid ${o.survivors.join(", ")}) survives SIGKILL; not run again`;
        this.blocked.set(r.jobId, `${where}: ${why}`);
        this.emit("job-step", `${where}: ${why}`);
      }
    }
  }

  /** Runs the job's unfinished steps, then ends it. Never rejects: a broken store is logged. */
  private async runToEnd(id: number, kind: string): Promise<void> {
    try {
      const blocked = this.blocked.get(id);
      if (blocked) this.finish(id, kind, "interrupted", blocked);
      else await this.runSteps(id, kind);
    } catch (err) {
      // The database closed under us (daemon shutdown): the job stays running and resumes next start.
      this.opts.log.error({ job: id, err: errorText(err) }, "job runner stopped");
    } finally {
      this.opts.processes?.setContext(null);
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
      this.opts.processes?.setContext({ jobId: id, stepIdx: step.idx });
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

  private emit(kind: "job" | "job-step" | "warning", message: string): void {
    try {
      this.opts.emit(kind, message);
    } catch (err) {
      this.opts.log.warn({ err: errorText(err) }, "cannot record a job event");
    }
  }
}
