/**
 * The process mechanics of a supervised child, behind the small interface the engine's supervisor
 * (daemon/engine/supervisor.ts) uses: spawn it (own process group, log file, optional netns), adopt
 * one an earlier daemon left (watched through /proc), tell whether a pid still is it (start time and
 * argv), the stop ladder, pid files, the boot id. The supervisor decides when (records, backoff,
 * crash loop, restart policy); this file only does, and reports exits.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { LogFollower } from "./log-follower";
import { inNetns } from "./netns";
import { bootId, findByArgv, isAlive, isSameProcess, procInfo, stillExiting } from "./proc";
import { signalGroup, spawnLogged } from "./spawn";

/** What the host tells about one watched process. */
export interface ProcessEvents {
  /** Each complete line the process wrote to its log file. */
  onLine: (line: string) => void;
  /** It exited (or, adopted, is gone): why, in words. Called once, after its last lines were read. */
  onExit: (reason: string) => void;
}

/** How the stop ladder ended. */
export type StopOutcome = "polite request" | "SIGTERM" | "SIGKILL" | "already gone";

/** A process being watched: one this daemon spawned, or one an earlier daemon left and it adopted. */
export interface WatchedProcess {
  readonly pid: number;
  /** Field 22 of /proc/PID/stat (0 when it could not be read): tells a reused pid apart. */
  readonly startTime: number;
  /** The last lines of its log file (kept after its exit, until close()). */
  readonly logTail: readonly string[];
  /**
   * polite request (when given) ─► SIGTERM to its group ─► wait ─► SIGKILL ─► wait, each wait at most
   * timeoutMs; never signals a pid that is no longer this process. Throws when it survives SIGKILL.
   */
  stop(opts: { name: string; timeoutMs: number; polite?: () => Promise<void> }): Promise<StopOutcome>;
  /** Reads what is new in its log now. */
  flushLog(): void;
  /** Stops watching (log, /proc, exit report) and leaves the process as it is. */
  close(): void;
}

/** A process the supervisor identified as its own (from a record, or by its command line). */
export interface AdoptRequest {
  pid: number;
  startTime: number;
  /** Its command line, as /proc/PID/cmdline shows it. */
  argv: readonly string[];
  logFile: string;
  /** How often /proc is read to see it go (it is not our child: no exit event). */
  pollIntervalMs: number;
}

export interface SpawnRequest {
  /** The program and its arguments, as /proc/PID/cmdline will show them. */
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Network namespace to run in; null: the daemon's own. */
  netns: string | null;
  logFile: string;
}

/** Not started: why, at once (spawn threw) or once Node reports it (ENOENT and friends). */
export interface NotStarted {
  notStarted: string | Promise<string>;
}

/** What the supervisor needs of the host to keep a process running. */
export interface ProcessHost {
  /** The kernel's id of this boot: a record of another boot names pids that mean nothing now. */
  bootId(): string;
  /** True while pid is alive, started at startTime and runs exactly argv (never touch it otherwise). */
  isSameProcess(pid: number, startTime: number, argv: readonly string[]): boolean;
  /** Alive and not a zombie (whatever it runs). */
  isAlive(pid: number): boolean;
  /** Live processes running exactly argv, lowest pid first. */
  findByArgv(argv: readonly string[]): Array<{ pid: number; startTime: number }>;
  spawn(req: SpawnRequest, events: ProcessEvents): WatchedProcess | NotStarted;
  adopt(req: AdoptRequest, events: ProcessEvents): WatchedProcess;
  writePidFile(file: string, pid: number): void;
  removePidFile(file: string): void;
}

/** The host's processes, through /proc, signals and child_process. */
export const localProcesses: ProcessHost = {
  bootId,
  isSameProcess,
  isAlive,
  findByArgv,
  spawn(req, events) {
    const argv = inNetns(req.netns, req.argv);
    let child: ChildProcess;
    try {
      child = spawnLogged(argv, { env: req.env, logFile: req.logFile });
    } catch (err) {
      return { notStarted: `cannot start ${argv[0]}: ${String(err)}` };
    }
    if (child.pid === undefined) {
      // ENOENT and friends arrive as an "error" event with no pid.
      const c = child;
      return {
        notStarted: new Promise((resolve) =>
          c.once("error", (err) => resolve(`cannot start ${argv[0]}: ${err.message}`)),
        ),
      };
    }
    return new Watched(child.pid, procInfo(child.pid)?.startTime ?? 0, req.argv, req.logFile, events, {
      child,
    });
  },
  adopt(req, events) {
    return new Watched(req.pid, req.startTime, req.argv, req.logFile, events, {
      pollIntervalMs: req.pollIntervalMs,
    });
  },
  writePidFile(file, pid) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
    writeFileSync(file, `${pid}\n`, { mode: 0o644 });
  },
  removePidFile(file) {
    rmSync(file, { force: true });
  },
};

class Watched implements WatchedProcess {
  private child: ChildProcess | null;
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly follower: LogFollower;
  private exited = false;
  private exitWaiters: Array<() => void> = [];

  constructor(
    readonly pid: number,
    readonly startTime: number,
    private readonly argv: readonly string[],
    logFile: string,
    private readonly events: ProcessEvents,
    how: { child: ChildProcess } | { pollIntervalMs: number },
  ) {
    if ("child" in how) {
      this.child = how.child;
      how.child.once("exit", (code, signal) => {
        this.child = null;
        this.exit(signal ? `killed by ${signal}` : `exited with code ${code}`);
      });
    } else {
      this.child = null;
      // Not our child: no exit event. Poll /proc for it to go away: all of it, not only the
      // thread group's leader (a zombie leader whose other threads still exit holds its files).
      this.pollTimer = setInterval(() => {
        if (!isSameProcess(pid, startTime, argv) && !stillExiting(pid, startTime))
          this.exit("exited (adopted; exit status unknown)");
      }, how.pollIntervalMs);
      this.pollTimer.unref();
    }
    this.follower = new LogFollower(logFile, (line) => events.onLine(line));
  }

  get logTail(): readonly string[] {
    return this.follower.tail;
  }

  async stop(opts: { name: string; timeoutMs: number; polite?: () => Promise<void> }): Promise<StopOutcome> {
    if (opts.polite) {
      await opts.polite();
      if (await this.waitExit(opts.timeoutMs)) return "polite request";
    }
    if (!this.stillOurs()) return "already gone";
    signalGroup(this.pid, "SIGTERM");
    if (await this.waitExit(opts.timeoutMs)) return "SIGTERM";
    if (!this.stillOurs()) return "already gone";
    signalGroup(this.pid, "SIGKILL");
    if (await this.waitExit(opts.timeoutMs)) return "SIGKILL";
    throw new Error(`${opts.name} (pid ${this.pid}) did not exit after SIGTERM and SIGKILL`);
  }

  flushLog(): void {
    this.follower.poll();
  }

  close(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.follower.close();
    this.child?.removeAllListeners("exit");
  }

  private exit(reason: string): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.follower.poll();
    this.exited = true;
    this.events.onExit(reason);
    for (const w of this.exitWaiters.splice(0)) w();
  }

  /** True while the pid still is this process (never signal a reused pid). */
  private stillOurs(): boolean {
    if (this.exited) return false;
    // Our own child cannot be reused while we have not seen its exit; an adopted one is checked.
    return this.child !== null || isSameProcess(this.pid, this.startTime, this.argv);
  }

  private waitExit(ms: number): Promise<boolean> {
    if (this.exited) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      const t = setTimeout(() => {
        this.exitWaiters = this.exitWaiters.filter((w) => w !== done);
        resolve(this.exited);
      }, ms);
      this.exitWaiters.push(done);
    });
  }
}
