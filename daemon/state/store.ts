/**
 * The daemon's persistent state (better-sqlite3): supervised children, component states, the capped
 * event history, jobs, TAPs and the node's desired state. Synchronous on purpose: every write is a
 * short local transaction.
 */
import Database from "better-sqlite3";
import { checkSchemaVersion, findMigrationsDir, loadMigrations, MigrationError, migrate } from "./migrate";
import { sqliteAddon } from "./sqlite-addon";
import type {
  ChildRecord,
  DesiredDatapath,
  EventKind,
  Job,
  JobState,
  NodeEvent,
  StepProcessRecord,
  StepState,
  TapPlacement,
  TapRecord,
} from "./types";

export type {
  ChildRecord,
  DesiredDatapath,
  EventKind,
  Job,
  JobState,
  JobStep,
  NodeEvent,
  StepProcessRecord,
  StepState,
  TapPlacement,
  TapRecord,
} from "./types";

/** The state database cannot be used; the daemon must not start. The message is meant for an admin. */
export class StateError extends Error {
  override readonly name = "StateError";
}

/**
 * The daemon's I/O on the state database failed (disk full, read-only, I/O error): nothing it does from
 * now on can be recorded, so the daemon must stop. The message names the file and SQLite's error.
 */
export class StateStoreFailure extends StateError {}

export interface StateStoreOptions {
  /** Defaults to the installed tree's migrations/ (see findMigrationsDir). */
  migrationsDir?: string;
  /** How many newest events to keep (default 10000). */
  eventCap?: number;
  /**
   * Called once, with the error, when a read or write of the open database fails in SQLite (disk full,
   * read-only, I/O error); the error is thrown to the caller as well. The daemon stops on it: a
   * caller that catches errors (a component's start, a request) cannot hide it.
   */
  onFailure?: (err: StateStoreFailure) => void;
  /**
   * Makes the file and its directory with safe modes before SQLite opens it (the daemon passes the host
   * adapter's prepareStateFile, daemon/host/state-files.ts). Without it SQLite creates the file in an
   * existing directory with the process's umask. Its error becomes a StateError naming the file.
   */
  prepareFile?: (file: string) => void;
}

const DEFAULT_EVENT_CAP = 10_000;
const BUSY_TIMEOUT_MS = 5000;

interface ChildRow {
  component: string;
  pid: number | null;
  start_time: number | null;
  argv: string;
  spawned_at: string;
  log_file: string;
  boot_id: string | null;
}
interface EventRow {
  id: number;
  time: string;
  component: string | null;
  kind: string;
  message: string;
}
interface JobRow {
  id: number;
  kind: string;
  state: string;
  created_at: string;
  updated_at: string;
  message: string | null;
}
interface StepRow {
  idx: number;
  name: string;
  state: string;
  message: string | null;
  started_at: string | null;
  finished_at: string | null;
}

interface StepProcessRow {
  id: number;
  job_id: number | null;
  step_idx: number | null;
  argv: string;
  marker: string;
  boot_id: string;
  pid: number | null;
  start_time: number | null;
}

function prepareStepQueries(db: Database.Database) {
  return {
    intend: db.prepare<[number | null, number | null, string, string, string, string]>(
      `INSERT INTO step_processes (job_id, step_idx, argv, marker, boot_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    confirm: db.prepare<[number, number, number]>(
      "UPDATE step_processes SET pid = ?, start_time = ? WHERE id = ?",
    ),
    forget: db.prepare<[number]>("DELETE FROM step_processes WHERE id = ?"),
    all: db.prepare<[], StepProcessRow>("SELECT * FROM step_processes ORDER BY id"),
  };
}

/** A datapath generation as recorded (migration 009; daemon/components/heal-after-restart.ts). */
export interface DatapathGeneration {
  generation: number;
  startedAt: string;
  lost: { tap: string; netns: string | null }[];
  healState: "none" | "pending" | "healing" | "done";
  healMessage: string | null;
}

interface GenerationRow {
  generation: number;
  started_at: string;
  lost: string;
  heal_state: string;
  heal_message: string | null;
}

function prepareGenerationQueries(db: Database.Database) {
  return {
    add: db.prepare<[string, string, string]>(
      `INSERT INTO datapath_generations (generation, started_at, lost, heal_state)
       VALUES ((SELECT COALESCE(MAX(generation), 0) + 1 FROM datapath_generations), ?, ?, ?)`,
    ),
    latest: db.prepare<[], GenerationRow>(
      "SELECT * FROM datapath_generations ORDER BY generation DESC LIMIT 1",
    ),
    pending: db.prepare<[], GenerationRow>(
      "SELECT * FROM datapath_generations WHERE heal_state IN ('pending', 'healing') ORDER BY generation",
    ),
    healing: db.prepare<[number]>(
      "UPDATE datapath_generations SET heal_state = 'healing' WHERE generation = ?",
    ),
    done: db.prepare<[string, number]>(
      "UPDATE datapath_generations SET heal_state = 'done', heal_message = ? WHERE generation = ?",
    ),
  };
}

const toGeneration = (r: GenerationRow): DatapathGeneration => ({
  generation: r.generation,
  startedAt: r.started_at,
  lost: JSON.parse(r.lost) as DatapathGeneration["lost"],
  healState: r.heal_state as DatapathGeneration["healState"],
  healMessage: r.heal_message,
});

const JOB_COLS = "id, kind, state, created_at, updated_at, message";

function prepare(db: Database.Database) {
  return {
    saveChild: db.prepare<ChildRow>(
      `INSERT INTO children (component, pid, start_time, argv, spawned_at, log_file, boot_id)
       VALUES (@component, @pid, @start_time, @argv, @spawned_at, @log_file, @boot_id)
       ON CONFLICT (component) DO UPDATE SET pid = excluded.pid, start_time = excluded.start_time,
         argv = excluded.argv, spawned_at = excluded.spawned_at, log_file = excluded.log_file,
         boot_id = excluded.boot_id`,
    ),
    child: db.prepare<[string], ChildRow>("SELECT * FROM children WHERE component = ?"),
    children: db.prepare<[], ChildRow>("SELECT * FROM children ORDER BY component"),
    deleteChild: db.prepare<[string]>("DELETE FROM children WHERE component = ?"),
    addEvent: db.prepare<[string, string | null, string, string]>(
      "INSERT INTO events (time, component, kind, message) VALUES (?, ?, ?, ?)",
    ),
    pruneEvents: db.prepare<[number]>("DELETE FROM events WHERE id <= ?"),
    events: db.prepare<[number, number], EventRow>(
      "SELECT id, time, component, kind, message FROM events WHERE id > ? ORDER BY id LIMIT ?",
    ),
    lastEventId: db.prepare<[], number>("SELECT COALESCE(MAX(id), 0) FROM events").pluck(),
    insertJob: db.prepare<[string, string, string]>(
      "INSERT INTO jobs (kind, state, created_at, updated_at) VALUES (?, 'running', ?, ?)",
    ),
    insertStep: db.prepare<[number, number, string]>(
      "INSERT INTO job_steps (job_id, idx, name, state) VALUES (?, ?, ?, 'pending')",
    ),
    startStep: db.prepare<[string, number, number]>(
      `UPDATE job_steps SET state = 'running', started_at = ?, finished_at = NULL, message = NULL
       WHERE job_id = ? AND idx = ?`,
    ),
    finishStep: db.prepare<[string, string | null, string, number, number]>(
      "UPDATE job_steps SET state = ?, message = ?, finished_at = ? WHERE job_id = ? AND idx = ?",
    ),
    touchJob: db.prepare<[string, number]>("UPDATE jobs SET updated_at = ? WHERE id = ?"),
    finishJob: db.prepare<[string, string | null, string, number]>(
      "UPDATE jobs SET state = ?, message = ?, updated_at = ? WHERE id = ? AND state = 'running'",
    ),
    // A finished job leaves no step pending or running: running ones failed, pending ones were skipped.
    closeSteps: db.prepare<[string, string, number]>(
      `UPDATE job_steps SET state = CASE state WHEN 'running' THEN 'failed' ELSE 'skipped' END,
         message = COALESCE(message, ?), finished_at = ?
       WHERE job_id = ? AND state IN ('pending', 'running')`,
    ),
    job: db.prepare<[number], JobRow>(`SELECT ${JOB_COLS} FROM jobs WHERE id = ?`),
    jobs: db.prepare<[number], JobRow>(`SELECT ${JOB_COLS} FROM jobs ORDER BY id DESC LIMIT ?`),
    runningJobs: db.prepare<[], JobRow>(`SELECT ${JOB_COLS} FROM jobs WHERE state = 'running' ORDER BY id`),
    integrityCheck: db.prepare<[], string>("PRAGMA integrity_check").pluck(),
    desired: db.prepare<[string], string>("SELECT value FROM desired WHERE key = ?").pluck(),
    setDesired: db.prepare<[string, string]>(
      "INSERT INTO desired (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
    recordTap: db.prepare<[string, string, string, string, string | null]>(
      `INSERT INTO taps (name, backend, created_at, state, generation) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET backend = excluded.backend, created_at = excluded.created_at,
         state = excluded.state, generation = excluded.generation, mac = NULL, placement = NULL, netns = NULL`,
    ),
    confirmTap: db.prepare<[string, string]>(
      "UPDATE taps SET state = 'created' WHERE name = ? AND backend = ?",
    ),
    placeTap: db.prepare<[string | null, string, string | null, string]>(
      "UPDATE taps SET mac = COALESCE(?, mac), placement = ?, netns = ? WHERE name = ?",
    ),
    taps: db.prepare<[], TapRecord>(
      `SELECT name, backend, created_at AS createdAt, state, generation, mac, placement, netns
       FROM taps ORDER BY name`,
    ),
    forgetTap: db.prepare<[string]>("DELETE FROM taps WHERE name = ?"),
    stampTap: db.prepare<[string, string]>("UPDATE taps SET generation = ? WHERE name = ?"),
    steps: db.prepare<[number], StepRow>(
      "SELECT idx, name, state, message, started_at, finished_at FROM job_steps WHERE job_id = ? ORDER BY idx",
    ),
    succeededStepNames: db
      .prepare<[], string>("SELECT name FROM job_steps WHERE state = 'succeeded' ORDER BY job_id, idx")
      .pluck(),
  };
}

const now = () => new Date().toISOString();
const errMsg = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class StateStore {
  private readonly q: ReturnType<typeof prepare>;
  /** Runs fn in one transaction (BEGIN IMMEDIATE ... COMMIT; ROLLBACK if it throws). */
  private readonly tx: <T>(fn: () => T) => T;
  /**
   * tx committed without an fsync of its own (synchronous NORMAL for that one commit; every other
   * transaction stays FULL), for what an OS crash cannot make wrong:
   * - the history (events): an fsync per event was most of the daemon's start-up writes (~20
   *   events from spawn to READY=1);
   * - the pool's TAP records (recordTaps, confirmTaps, saveTapPlacements): they describe TAPs and
   *   target ports, which an OS crash or power loss destroys too (gnmi/kernel: gone at boot; dpdk:
   *   made again by a new ovs-vswitchd run, which start() records as new), and start() takes what is
   *   made from the backend, recording what it finds made without a record. An fsync each was ~3 ms
   *   (up to ~30 ms under load) three times in a pool's bring-up (bench/taps-phases).
   * A process killed right after the commit still finds it (it is in the WAL file, in the page
   * cache): the write-ahead "creating" record is there for the next start, as a SIGKILL test needs.
   * An OS crash or power loss may drop the newest of these commits, as far back as the last FULL
   * one (a child, a job step, the desired state), which syncs the whole WAL and so all before it.
   */
  private readonly unsyncedTx: <T>(fn: () => T) => T;

  private failed: StateStoreFailure | null = null;

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
    private readonly eventCap: number,
    private readonly onFailure: ((err: StateStoreFailure) => void) | undefined,
  ) {
    this.q = prepare(db);
    const tx = db.transaction((fn: () => unknown) => fn());
    this.tx = <T>(fn: () => T) => tx.immediate(fn) as T;
    const normal = db.prepare("PRAGMA synchronous = NORMAL");
    const full = db.prepare("PRAGMA synchronous = FULL");
    this.unsyncedTx = <T>(fn: () => T) => {
      normal.run();
      try {
        return tx.immediate(fn) as T;
      } finally {
        full.run();
      }
    };
    this.guardMethods();
  }

  /** Wraps each method of the store so that an SQLite error goes through fail(). */
  private guardMethods(): void {
    const self = this as unknown as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(StateStore.prototype)) {
      if (["constructor", "close", "fail", "guardMethods"].includes(name)) continue;
      const fn = self[name];
      if (typeof fn !== "function") continue;
      self[name] = (...args: unknown[]) => {
        try {
          return (fn as (...a: unknown[]) => unknown).apply(this, args);
        } catch (err) {
          if (err instanceof Database.SqliteError || err instanceof StateStoreFailure) this.fail(name, err);
          throw err;
        }
      };
    }
  }

  /**
   * Every public method's SQLite error becomes a StateStoreFailure naming the file, reported once to
   * onFailure. Done for all methods of the class (those added later too), so none can be missed.
   */
  private fail(method: string, err: unknown): never {
    const failure =
      err instanceof StateStoreFailure
        ? err
        : new StateStoreFailure(
            `state database ${this.file}: ${method} failed: ${errMsg(err)}` +
              ((err as { code?: string }).code ? ` (${(err as { code: string }).code})` : ""),
            { cause: err },
          );
    if (!this.failed) {
      this.failed = failure;
      this.onFailure?.(failure);
    }
    throw failure;
  }

  /**
   * Opens (creating if needed) and migrates the state database. Throws StateError, leaving the file's
   * contents untouched, when it is corrupt, not SQLite, from a newer k8s-offloadd, or a migration fails.
   */
  static open(file: string, opts: StateStoreOptions = {}): StateStore {
    const eventCap = opts.eventCap ?? DEFAULT_EVENT_CAP;
    if (!Number.isInteger(eventCap) || eventCap < 1)
      throw new RangeError(`eventCap must be >= 1, got ${eventCap}`);
    let migrations: ReturnType<typeof loadMigrations>;
    try {
      migrations = loadMigrations(opts.migrationsDir ?? findMigrationsDir());
    } catch (err) {
      throw new StateError(errMsg(err), { cause: err });
    }
    try {
      opts.prepareFile?.(file);
    } catch (err) {
      throw new StateError(`cannot create state database ${file}: ${errMsg(err)}`, { cause: err });
    }
    let db: Database.Database;
    try {
      db = new Database(file, sqliteAddon());
    } catch (err) {
      throw new StateError(`cannot open state database ${file}: ${errMsg(err)}`, { cause: err });
    }
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // Reads only, up to the version check: nothing may write to a file we are about to refuse.
      quickCheck(db, file);
      checkSchemaVersion(db, migrations, file);
      // Crash safety (test/chaos/kill9.test.ts kills the daemon at random moments):
      // - WAL: a transaction is committed by its commit frame in the -wal file; a process killed
      //   mid-transaction leaves an uncommitted tail that the next open ignores, and readers (the API,
      //   an admin's sqlite3) never block the writer. A kill cannot corrupt the main file.
      // - every state transition (a child spawned, a job step started or finished, a TAP recorded) is
      //   its own short transaction (BEGIN IMMEDIATE), so a kill leaves either the old or the new state.
      db.pragma("journal_mode = WAL");
      // FULL: in WAL mode, NORMAL syncs only at checkpoints, so the last committed transactions may be
      // lost on power failure. Which children we spawned (pid, start time) and which jobs ran must
      // survive, or a restarted daemon would not adopt its own processes. Writes are rare; cost is small.
      db.pragma("synchronous = FULL");
      db.pragma("foreign_keys = ON");
      migrate(db, migrations, file);
      return new StateStore(db, file, eventCap, opts.onFailure);
    } catch (err) {
      db.close();
      if (err instanceof MigrationError) throw new StateError(err.message, { cause: err });
      if (err instanceof StateError) throw err;
      throw new StateError(`cannot open state database ${file}: ${errMsg(err)}`, { cause: err });
    }
  }

  // ---- children --------------------------------------------------------------------------------

  saveChild(rec: ChildRecord): void {
    this.q.saveChild.run({
      component: rec.component,
      pid: rec.pid,
      start_time: rec.startTime,
      argv: JSON.stringify(rec.argv),
      spawned_at: rec.spawnedAt,
      log_file: rec.logFile,
      boot_id: rec.bootId,
    });
  }

  child(component: string): ChildRecord | undefined {
    const row = this.q.child.get(component);
    return row && toChild(row);
  }

  children(): ChildRecord[] {
    return this.q.children.all().map(toChild);
  }

  deleteChild(component: string): void {
    this.q.deleteChild.run(component);
  }

  // ---- components ------------------------------------------------------------------------------
  // Not stored: nothing reads a component's last state back (a restarted daemon adopts children from
  // their records above and converges to the desired state). Migration 008 dropped the `components`
  // table of 001 (an older daemon refuses a newer file, so none looks for it).

  // ---- events ----------------------------------------------------------------------------------

  /** Appends an event and returns it as stored; only the newest `eventCap` events are kept. */
  addEvent(component: string | null, kind: EventKind, message: string): NodeEvent {
    const time = now();
    return this.unsyncedTx(() => {
      const id = Number(this.q.addEvent.run(time, component, kind, message).lastInsertRowid);
      // Keeps exactly the newest `eventCap` rows: a range delete on the rowid b-tree which, in steady
      // state, removes one row per insert, inside the insert's own transaction (no extra fsync).
      this.q.pruneEvents.run(id - this.eventCap);
      return { id, time, component, kind, message };
    });
  }

  /** Up to `limit` events with id > after, oldest first. */
  events(after: number, limit: number): NodeEvent[] {
    if (!(limit > 0)) return []; // SQLite reads a negative LIMIT as "no limit"
    return this.q.events.all(after, limit) as NodeEvent[];
  }

  /** The newest event's id, 0 when there is none. */
  lastEventId(): number {
    return this.q.lastEventId.get() ?? 0;
  }

  // ---- jobs ------------------------------------------------------------------------------------

  /** A new running job with its steps pending (idx 0..n-1). Returns its id. */
  createJob(kind: string, steps: string[]): number {
    const t = now();
    return this.tx(() => {
      const id = Number(this.q.insertJob.run(kind, t, t).lastInsertRowid);
      for (const [idx, name] of steps.entries()) this.q.insertStep.run(id, idx, name);
      return id;
    });
  }

  startStep(jobId: number, idx: number): void {
    const t = now();
    this.updateStep(jobId, idx, () => this.q.startStep.run(t, jobId, idx).changes, t);
  }

  finishStep(jobId: number, idx: number, state: "succeeded" | "failed" | "skipped", message?: string): void {
    const t = now();
    this.updateStep(
      jobId,
      idx,
      () => this.q.finishStep.run(state, message ?? null, t, jobId, idx).changes,
      t,
    );
  }

  /** Ends a running job; its steps still pending become skipped, those still running failed. */
  finishJob(jobId: number, state: Exclude<JobState, "running">, message?: string): void {
    const t = now();
    this.tx(() => {
      if (this.q.finishJob.run(state, message ?? null, t, jobId).changes === 0) {
        const job = this.q.job.get(jobId);
        throw new StateError(job ? `job ${jobId} is already ${job.state}` : `no job ${jobId}`);
      }
      this.q.closeSteps.run(`job ${state}`, t, jobId);
    });
  }

  job(id: number): Job | undefined {
    const row = this.q.job.get(id);
    return row && this.toJob(row);
  }

  /** The newest `limit` jobs, newest first. */
  jobs(limit: number): Job[] {
    if (!(limit > 0)) return [];
    return this.q.jobs.all(limit).map((r) => this.toJob(r));
  }

  /** Jobs still marked running, oldest first: after a crash, the ones to resume or mark interrupted. */
  runningJobs(): Job[] {
    return this.q.runningJobs.all().map((r) => this.toJob(r));
  }

  /** Names of every succeeded step of every job, oldest first (job id, then position). */
  succeededStepNames(): string[] {
    return this.q.succeededStepNames.all();
  }

  // ---- job step processes (migration 007) ------------------------------------------------------

  /** Write-ahead: a step process about to be spawned (pid unknown yet). Returns the record's id. */
  intendStepProcess(rec: Omit<StepProcessRecord, "id" | "pid" | "startTime">): number {
    const q = this.stepQueries();
    return Number(
      q.intend.run(rec.jobId, rec.stepIdx, JSON.stringify(rec.argv), rec.marker, rec.bootId, now())
        .lastInsertRowid,
    );
  }

  confirmStepProcess(id: number, pid: number, startTime: number): void {
    this.stepQueries().confirm.run(pid, startTime, id);
  }

  forgetStepProcess(id: number): void {
    this.stepQueries().forget.run(id);
  }

  /** Every recorded step process, oldest first. */
  stepProcesses(): StepProcessRecord[] {
    return this.stepQueries()
      .all.all()
      .map((r) => ({
        id: r.id,
        jobId: r.job_id,
        stepIdx: r.step_idx,
        argv: JSON.parse(r.argv) as string[],
        marker: r.marker,
        bootId: r.boot_id,
        pid: r.pid,
        startTime: r.start_time,
      }));
  }

  private stepQ: ReturnType<typeof prepareStepQueries> | null = null;
  private stepQueries(): ReturnType<typeof prepareStepQueries> {
    this.stepQ ??= prepareStepQueries(this.db);
    return this.stepQ;
  }

  // ---- desired state ---------------------------------------------------------------------------

  /** The stored desired state of the datapath; "up" until something asked for "down". */
  desiredDatapath(): DesiredDatapath {
    return this.q.desired.get("datapath") === "down" ? "down" : "up";
  }

  setDesiredDatapath(value: DesiredDatapath): void {
    this.q.setDesired.run("datapath", value);
  }

  // ---- taps ----------------------------------------------------------------------------------

  /**
   * Record TAPs (a fresh record: MAC and placement cleared). Write-ahead: "creating" before they are
   * made, then confirmTaps; TAPs found made without a record are recorded "created" directly.
   */
  recordTaps(
    names: readonly string[],
    backend: TapRecord["backend"],
    state: TapRecord["state"] = "created",
    generation: string | null = null,
  ): void {
    const at = now();
    // No fsync: see unsyncedTx (what the records describe dies with the OS too).
    this.unsyncedTx(() => {
      for (const n of names) this.q.recordTap.run(n, backend, at, state, generation);
    });
  }

  /** The TAPs are made: "creating" becomes "created". */
  confirmTaps(names: readonly string[], backend: TapRecord["backend"]): void {
    this.unsyncedTx(() => {
      for (const n of names) this.q.confirmTap.run(n, backend);
    });
  }

  /** Where the pool last saw these TAPs (a null MAC keeps the recorded one). */
  saveTapPlacements(places: readonly TapPlacement[]): void {
    this.unsyncedTx(() => {
      for (const p of places) this.q.placeTap.run(p.mac, p.placement, p.netns, p.name);
    });
  }

  /** Sets the generation of these records only (what else they say stays). */
  stampTaps(names: readonly string[], generation: string): void {
    this.tx(() => {
      for (const n of names) this.q.stampTap.run(generation, n);
    });
  }

  taps(): TapRecord[] {
    return this.q.taps.all();
  }

  forgetTaps(names: readonly string[]): void {
    this.tx(() => {
      for (const n of names) this.q.forgetTap.run(n);
    });
  }

  // ---- datapath generations --------------------------------------------------------------------

  private genQ: ReturnType<typeof prepareGenerationQueries> | null = null;
  private genQueries(): ReturnType<typeof prepareGenerationQueries> {
    this.genQ ??= prepareGenerationQueries(this.db);
    return this.genQ;
  }

  /** Records a new generation (the last one + 1) with the TAPs pods lost to it; returns it. */
  addDatapathGeneration(lost: DatapathGeneration["lost"], heal: "none" | "pending"): DatapathGeneration {
    return this.tx(() => {
      const q = this.genQueries();
      q.add.run(now(), JSON.stringify(lost), heal);
      return toGeneration(q.latest.get() as GenerationRow);
    });
  }

  latestDatapathGeneration(): DatapathGeneration | null {
    const r = this.genQueries().latest.get();
    return r ? toGeneration(r) : null;
  }

  /** Generations whose heal has not ended: 'pending' (not started) or 'healing' (cut short). */
  pendingHeals(): DatapathGeneration[] {
    return this.genQueries().pending.all().map(toGeneration);
  }

  /** The heal of `generation` starts deleting pods: a daemon killed from now on does not do it again. */
  startHeal(generation: number): void {
    this.genQueries().healing.run(generation);
  }

  finishHeal(generation: number, message: string): void {
    this.genQueries().done.run(message, generation);
  }

  // ---- maintenance -----------------------------------------------------------------------------

  /** PRAGMA integrity_check: "ok", or the problems found, one per line. */
  integrityCheck(): string {
    return this.q.integrityCheck.all().join("\n");
  }

  /** Closes the database (idempotent). */
  close(): void {
    if (this.db.open) this.db.close();
  }

  private updateStep(jobId: number, idx: number, update: () => number, t: string): void {
    this.tx(() => {
      if (update() === 0) throw new StateError(`job ${jobId} has no step ${idx}`);
      this.q.touchJob.run(t, jobId);
    });
  }

  private toJob(r: JobRow): Job {
    return {
      id: r.id,
      kind: r.kind,
      state: r.state as JobState,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      message: r.message,
      steps: this.q.steps.all(r.id).map((s) => ({
        idx: s.idx,
        name: s.name,
        state: s.state as StepState,
        message: s.message,
        startedAt: s.started_at,
        finishedAt: s.finished_at,
      })),
    };
  }
}

function toChild(r: ChildRow): ChildRecord {
  return {
    component: r.component,
    pid: r.pid,
    startTime: r.start_time,
    argv: JSON.parse(r.argv) as string[],
    spawnedAt: r.spawned_at,
    logFile: r.log_file,
    bootId: r.boot_id,
  };
}

/** PRAGMA quick_check on the file as found; a file that fails it is refused, never repaired or replaced. */
function quickCheck(db: Database.Database, file: string): void {
  const refuse = (why: string) =>
    new StateError(
      `state database ${file} ${why}; refusing to start; the file is left untouched ` +
        "(move it aside to start with an empty state, or restore a backup)",
    );
  let result: string[];
  try {
    result = db.prepare("PRAGMA quick_check").pluck().all() as string[];
  } catch (err) {
    throw refuse(`is corrupt or not an SQLite database (${errMsg(err)})`);
  }
  if (result.length !== 1 || result[0] !== "ok") {
    const found = result
      .slice(0, 3)
      .join("; ")
      .replace(/\s*\n\s*/g, " ");
    throw refuse(`failed its integrity check (${found})`);
  }
}
