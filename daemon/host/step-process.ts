/**
 * Job step processes (kubeadm, kubectl, crictl, systemctl), and the tools the heal after a target restart
 * runs (crictl, kubectl: recorded with no job), run as children the daemon answers for:
 *
 * - each in its own process group (detached), recorded before it is spawned (write-ahead: argv and a
 *   unique marker put in its environment) and confirmed right after with pid and start time (field 22
 *   of /proc/PID/stat), forgotten once it has exited;
 * - daemon stop ends every one still running with the stop ladder: SIGTERM to its group, wait, SIGKILL
 *   to the group, wait. The production unit has KillMode=process, so nothing else would;
 * - a restarted daemon ends what an earlier one left running before a step runs again: the recorded pid
 *   only when its start time still matches (a reused pid is never signalled), and any process whose
 *   environment carries the record's marker (the step's own children, or a process spawned just before
 *   a kill -9 whose pid was never confirmed). A record from an earlier boot is dropped untouched.
 *
 * Identity comes from /proc only (procInfo of ./proc); the marker is a random UUID per run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { StepProcessRecord } from "../state/types";
import type { CommandResult } from "./command";
import { bootId, otherPids, procInfo } from "./proc";

/** The environment variable carrying a step process's marker (inherited by whatever it starts). */
export const STEP_MARKER_ENV = "K8S_OFFLOADD_STEP";
const MAX_OUTPUT = 16 << 20;
const POLL_MS = 25;

export type { StepProcessRecord } from "../state/types";

/** Where the records live (the state store); every call is one short transaction. */
export interface StepProcessLedger {
  intendStepProcess(rec: Omit<StepProcessRecord, "id" | "pid" | "startTime">): number;
  confirmStepProcess(id: number, pid: number, startTime: number): void;
  forgetStepProcess(id: number): void;
  stepProcesses(): StepProcessRecord[];
}

/** The job step a process belongs to (set by the job runner around each step). */
export interface StepContext {
  jobId: number;
  stepIdx: number;
}

export interface StepProcessesOptions {
  ledger: StepProcessLedger;
  /** SIGTERM to SIGKILL, and SIGKILL to giving up (supervisor.stopTimeoutMs). */
  stopTimeoutMs: number;
  /** A record could not be written or removed (the store closed under a stopping daemon). */
  warn: (message: string) => void;
}

/** What was done about one record left by an earlier daemon. */
export interface LeftoverOutcome {
  record: StepProcessRecord;
  /** Processes found running and ended (pid: how), empty when none ran any more. */
  ended: string[];
  /** Processes that survived SIGKILL (should never happen: D state). */
  survivors: number[];
  /** True when the record is from an earlier boot: nothing was looked at or signalled. */
  otherBoot: boolean;
}

interface Live {
  child: ChildProcess;
  pid: number;
  startTime: number | null;
  marker: string;
  exited: Promise<void>;
}

/** Live (not zombie) pids whose environment holds STEP_MARKER_ENV=marker, with their start times. */
export function findByMarker(marker: string): Array<{ pid: number; startTime: number }> {
  const needle = Buffer.from(`${STEP_MARKER_ENV}=${marker}\0`);
  const out: Array<{ pid: number; startTime: number }> = [];
  for (const pid of otherPids()) {
    let env: Buffer;
    try {
      env = readFileSync(`/proc/${pid}/environ`);
    } catch {
      continue;
    }
    if (!env.includes(needle)) continue;
    const info = procInfo(pid);
    if (info && info.state !== "Z" && info.state !== "X") out.push({ pid, startTime: info.startTime });
  }
  return out;
}

/** Alive, not a zombie, and started at `startTime`: still the very process recorded. */
function isSame(pid: number, startTime: number): boolean {
  const info = procInfo(pid);
  return info !== null && info.state !== "Z" && info.state !== "X" && info.startTime === startTime;
}

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Blocks the thread (for the process 'exit' hook, where no timer runs any more). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function signal(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

export class StepProcesses {
  private readonly live = new Set<Live>();
  private context: StepContext | null = null;
  private stopping = false;
  private exitHook: (() => void) | null = null;

  constructor(private readonly opts: StepProcessesOptions) {}

  /** The job step the next processes belong to (null between steps). */
  setContext(ctx: StepContext | null): void {
    this.context = ctx;
  }

  /** Processes of this daemon still running (for tests and the shutdown path). */
  running(): number[] {
    return [...this.live].map((l) => l.pid);
  }

  /**
   * Runs argv (never a shell) in its own process group, recorded. Resolves whatever the exit code;
   * rejects only when the program cannot be started or the daemon is stopping. After `timeoutMs` the
   * process is ended with the stop ladder. `context` (null: no job step) overrides setContext's for
   * this process: a run that is not a job's (the heal after a target restart) is never put on a step.
   */
  run(
    argv: readonly string[],
    opts: { timeoutMs: number; env: NodeJS.ProcessEnv; input?: string; context?: StepContext | null },
  ): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (!file) return Promise.reject(new Error("empty command"));
    if (this.stopping) return Promise.reject(new Error(`not starting ${file}: the daemon is stopping`));
    const marker = randomUUID();
    const { ledger } = this.opts;
    const ctx = opts.context === undefined ? this.context : opts.context;
    const id = ledger.intendStepProcess({
      jobId: ctx?.jobId ?? null,
      stepIdx: ctx?.stepIdx ?? null,
      argv: [...argv],
      marker,
      bootId: bootId(),
    });
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        detached: true,
        stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        env: { ...opts.env, [STEP_MARKER_ENV]: marker },
      });
    } catch (err) {
      this.forget(id);
      return Promise.reject(new Error(`cannot run ${file}: ${(err as Error).message}`));
    }
    return new Promise<CommandResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let size = 0;
      const collect = (into: Buffer[]) => (b: Buffer) => {
        if (size >= MAX_OUTPUT) return;
        size += b.length;
        into.push(b);
      };
      // A tool that exits without reading all of its input (EPIPE) fails by its exit code, not here.
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(opts.input);
      child.stdout?.on("data", collect(out));
      child.stderr?.on("data", collect(errOut));
      let live: Live | null = null;
      let exitedResolve: () => void = () => undefined;
      const exited = new Promise<void>((r) => {
        exitedResolve = r;
      });
      let timer: NodeJS.Timeout | null = null;
      child.once("error", (err) => {
        // Spawn failed (ENOENT, EACCES): no process exists.
        if (timer) clearTimeout(timer);
        if (live) this.live.delete(live);
        exitedResolve();
        this.forget(id);
        reject(new Error(`cannot run ${file}: ${err.message}`));
      });
      if (child.pid !== undefined) {
        // Still our unreaped child here: /proc has it even if it already exited.
        const startTime = procInfo(child.pid)?.startTime ?? null;
        if (startTime !== null) this.confirm(id, child.pid, startTime);
        live = { child, pid: child.pid, startTime, marker, exited };
        this.live.add(live);
        this.installExitHook();
        const l = live;
        timer = setTimeout(() => {
          this.ladder(l).catch((err) => this.opts.warn(`cannot end ${file} (pid ${l.pid}): ${errText(err)}`));
        }, opts.timeoutMs);
        timer.unref();
      }
      child.once("close", (code, sig) => {
        if (timer) clearTimeout(timer);
        if (live) this.live.delete(live);
        exitedResolve();
        this.forget(id);
        resolve({
          code,
          signal: sig,
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(errOut).toString("utf8"),
        });
      });
    });
  }

  /**
   * Daemon stop: no new process starts; every running one is ended with the stop ladder. Safe without
   * being awaited: whatever still runs when the daemon exits is finished by a synchronous ladder in the
   * process 'exit' hook.
   */
  async stopAll(): Promise<void> {
    this.stopping = true;
    // Never rejects (callers may not await it): a signal that cannot be sent is reported.
    await Promise.all(
      [...this.live].map((l) =>
        this.ladder(l).catch((err) => this.opts.warn(`cannot end step process ${l.pid}: ${errText(err)}`)),
      ),
    );
  }

  /**
   * Ends what earlier daemons left running, record by record (see the file comment), and forgets the
   * records. Returns what was found, for the job's history.
   */
  async endLeftovers(): Promise<LeftoverOutcome[]> {
    const mine = new Set([...this.live].map((l) => l.marker));
    const outcomes: LeftoverOutcome[] = [];
    for (const record of this.opts.ledger.stepProcesses()) {
      if (mine.has(record.marker)) continue;
      if (record.bootId !== bootId()) {
        outcomes.push({ record, ended: [], survivors: [], otherBoot: true });
        this.forget(record.id);
        continue;
      }
      const targets = new Map<number, number>(); // pid -> start time
      if (record.pid !== null && record.startTime !== null && isSame(record.pid, record.startTime))
        targets.set(record.pid, record.startTime);
      for (const p of findByMarker(record.marker)) targets.set(p.pid, p.startTime);
      const ended: string[] = [];
      if (targets.size > 0) {
        const how = await this.endPids(targets);
        for (const [pid, sig] of how.ended) ended.push(`${pid} (${sig})`);
        outcomes.push({ record, ended, survivors: how.survivors, otherBoot: false });
        if (how.survivors.length > 0) continue; // keep the record: the next try looks again
      } else {
        outcomes.push({ record, ended, survivors: [], otherBoot: false });
      }
      this.forget(record.id);
    }
    return outcomes;
  }

  /** SIGTERM each (identity re-checked right before), wait, SIGKILL the rest, wait. */
  private async endPids(targets: Map<number, number>): Promise<{
    ended: Array<[number, NodeJS.Signals]>;
    survivors: number[];
  }> {
    const alive = () => [...targets].filter(([pid, st]) => isSame(pid, st));
    const ended: Array<[number, NodeJS.Signals]> = [];
    const termed = alive();
    for (const [pid] of termed) signal(pid, "SIGTERM");
    await this.waitFor(() => alive().length === 0);
    const killed = alive();
    for (const [pid] of killed) signal(pid, "SIGKILL");
    await this.waitFor(() => alive().length === 0);
    const survivors = alive().map(([pid]) => pid);
    const killedSet = new Set(killed.map(([p]) => p));
    for (const [pid] of termed) {
      if (!survivors.includes(pid)) ended.push([pid, killedSet.has(pid) ? "SIGKILL" : "SIGTERM"]);
    }
    return { ended, survivors };
  }

  /** The stop ladder on one of our own running processes: its whole group. */
  private async ladder(l: Live): Promise<void> {
    if (!this.live.has(l)) return;
    const done = () => !this.live.has(l);
    this.signalStep(l, "SIGTERM");
    await Promise.race([l.exited, this.waitFor(done)]);
    if (!done()) {
      this.signalStep(l, "SIGKILL");
      await Promise.race([l.exited, this.waitFor(done)]);
    }
    // The leader is gone; what it left behind (same marker) goes too.
    for (const p of findByMarker(l.marker)) if (isSame(p.pid, p.startTime)) signal(p.pid, "SIGKILL");
  }

  /**
   * Signals a step process's group while its leader is still the recorded process (alive or our
   * unreaped zombie: either way the group's number is still its own); once the leader is reaped, only
   * the processes carrying its marker, one by one.
   */
  private signalStep(l: Live, sig: NodeJS.Signals): void {
    const info = procInfo(l.pid);
    if (l.startTime !== null && info?.startTime === l.startTime && info.state !== "X") signal(-l.pid, sig);
    else for (const p of findByMarker(l.marker)) if (isSame(p.pid, p.startTime)) signal(p.pid, sig);
  }

  private async waitFor(cond: () => boolean): Promise<void> {
    const deadline = Date.now() + this.opts.stopTimeoutMs;
    while (!cond() && Date.now() < deadline) await sleep(POLL_MS);
  }

  /**
   * The daemon exits (main calls process.exit) while a ladder may still be waiting: finish it here,
   * synchronously. Our own children are not reaped any more, so a zombie counts as ended.
   */
  private installExitHook(): void {
    if (this.exitHook) return;
    this.exitHook = () => {
      try {
        this.finishLadderSync();
      } catch (err) {
        this.opts.warn(`cannot end the step processes at exit: ${errText(err)}`);
      }
    };
    process.once("exit", this.exitHook);
  }

  /** The stop ladder, synchronously, on what still runs (see installExitHook). */
  private finishLadderSync(): void {
    // The leader, or what it started (its marker): a zombie leader still holds the group's number.
    const runs = (l: Live) =>
      (l.startTime !== null && isSame(l.pid, l.startTime)) || findByMarker(l.marker).length > 0;
    const left = [...this.live].filter(runs);
    if (left.length === 0) return;
    const stillThere = () => left.filter(runs);
    for (const l of left) this.signalStep(l, "SIGTERM");
    const deadline = Date.now() + this.opts.stopTimeoutMs;
    while (stillThere().length > 0 && Date.now() < deadline) sleepSync(POLL_MS);
    for (const l of stillThere()) {
      this.signalStep(l, "SIGKILL");
      for (const p of findByMarker(l.marker)) signal(p.pid, "SIGKILL");
    }
    const until = Date.now() + this.opts.stopTimeoutMs;
    while (stillThere().length > 0 && Date.now() < until) sleepSync(POLL_MS);
  }

  private confirm(id: number, pid: number, startTime: number): void {
    try {
      this.opts.ledger.confirmStepProcess(id, pid, startTime);
    } catch (err) {
      this.opts.warn(`cannot record step process ${pid}: ${errText(err)}`);
    }
  }

  private forget(id: number): void {
    try {
      this.opts.ledger.forgetStepProcess(id);
    } catch (err) {
      this.opts.warn(`cannot remove the record of step process ${id}: ${errText(err)}`);
    }
  }
}
