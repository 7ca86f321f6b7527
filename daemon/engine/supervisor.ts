import type { Logger } from "pino";
import type { SupervisorConfig } from "../config/types";
import { localProcesses, type ProcessHost, type WatchedProcess } from "../host/child-processes";
import type { StateStore } from "../state/store";
import { nextBackoff } from "./backoff";
import type { ComponentSignals } from "./component";
import { statusChanged } from "./status-epoch";

export interface ProcessSpec {
  name: string;
  /** The program and its arguments, as /proc/PID/cmdline will show them. */
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** Network namespace to run in; null: the daemon's own. */
  netns: string | null;
  logFile: string;
  pidFile: string;
  /** First rung of the stop ladder (e.g. `ovs-appctl exit`); SIGTERM follows if it does not work. */
  politeStop?: () => Promise<void>;
}

/** A live process found to be this component's: by its record, or by its exact command line. */
interface Found {
  pid: number;
  startTime: number;
  /** Its command line (the recorded one): differs from the spec's when the config changed. */
  argv: string[];
  spawnedAt: number;
  /** For the event: how it was found. */
  how: string;
}

/**
 * Keeps one child process running.
 *
 *   ensureRunning() ─► identify: record of this boot (pid, start time, recorded argv all match) ─┬─ same argv ─► adopt, watch /proc
 *                  │             or a record never confirmed / no record: a live process with     └─ argv changed ─► stop ladder ─┐
 *                  │             exactly the argv                                                                                 │
 *                  └─► spawn: record first (write-ahead: argv, no pid) ─► spawn ─► confirm (pid, start time) ◄─────────────────────┘
 *   exit ─► down signal ─► delay (0 after a stable run, else 100 ms doubling to max) ─► spawn ─► restarted
 *        └─► giveUpExits exits within giveUpWindowMs ─► gaveUp signal, no more restarts until ensureRunning()
 *   stop() ─► [identify, if never started] ─► polite request ─► SIGTERM ─► wait ─► SIGKILL ─► wait ─► report
 *
 * A record from an earlier boot (boot id) is dropped: its pid is never adopted or signalled.
 * The supervisor decides (records, backoff, crash loop); the process mechanics (spawn, /proc, signals,
 * the stop ladder, pid and log files) are the host's (daemon/host/child-processes.ts).
 */
export class Supervisor {
  pid: number | null = null;
  restarts = 0;
  adopted = false;
  /** The process watched (kept after its exit for its log tail, until the next one or a stop). */
  private proc: WatchedProcess | null = null;
  private spawnedAt = 0;
  private wanted = false;
  private replacing = false;
  private attempt = 0;
  private exits: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  private signals: ComponentSignals | null = null;

  constructor(
    private readonly spec: ProcessSpec,
    private readonly policy: SupervisorConfig,
    private readonly store: StateStore | null,
    private readonly log: Logger,
    private readonly host: ProcessHost = localProcesses,
  ) {}

  attach(signals: ComponentSignals): void {
    this.signals = signals;
  }

  get running(): boolean {
    return this.pid !== null;
  }

  get logTail(): string[] {
    return this.proc ? [...this.proc.logTail] : [];
  }

  /**
   * Make it run: adopt a live child of ours, else spawn. Also clears a crash-loop give-up. A child of
   * ours running an older command line (the config changed) is stopped first, then spawned anew.
   * `beforeSpawn` runs only when a process is about to be spawned, never before an adoption (a DPDK
   * vswitchd that runs holds the huge pages a fresh one would be checked for).
   */
  async ensureRunning(beforeSpawn?: () => Promise<void>): Promise<void> {
    this.wanted = true;
    this.exits = [];
    if (this.pid !== null) return;
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
    const found = this.identify();
    if (found && sameArgv(found.argv, this.spec.argv)) {
      this.watchAdopted(found);
      this.signals?.note(this.spec.name, "adopt", `adopted running pid ${found.pid}: ${found.how}`);
      return;
    }
    if (found) {
      this.signals?.note(
        this.spec.name,
        "restart",
        `command line changed: pid ${found.pid} (${found.how}) runs ${quote(found.argv)}; ` +
          `stopping it to start ${quote(this.spec.argv)}`,
      );
      this.watchAdopted(found);
      // Its exit is the replacement's first half, not a crash: no down signal, no restart timer.
      this.replacing = true;
      try {
        await this.stopLadder();
      } finally {
        this.replacing = false;
      }
      if (!this.wanted || this.pid !== null) return; // stopped (or started) by someone else meanwhile
    }
    if (beforeSpawn) {
      await beforeSpawn();
      if (!this.wanted || this.pid !== null) return;
    }
    this.spawn();
  }

  async stop(): Promise<void> {
    this.wanted = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    // Never started or adopted one yet (a fresh daemon whose desired state is down): a child an
    // earlier daemon left running (crash mid-down, KillMode=process) is still ours. Adopt, then stop.
    if (this.pid === null && this.spawnedAt === 0) {
      const found = this.identify();
      if (found) {
        this.signals?.note(
          this.spec.name,
          "adopt",
          `adopted running pid ${found.pid} to stop it: ${found.how}`,
        );
        this.watchAdopted(found);
      }
    }
    await this.stopLadder();
  }

  /** Stop watching; leave the process running for the next daemon to adopt. */
  detach(): void {
    this.wanted = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.proc?.close();
    this.restartTimer = null;
  }

  // ---- internals -------------------------------------------------------------------------------

  /** polite request ─► SIGTERM ─► wait ─► SIGKILL ─► wait ─► report; never signals a reused pid. */
  private async stopLadder(): Promise<void> {
    const proc = this.proc;
    if (this.pid === null || proc === null) return;
    const polite = this.spec.politeStop;
    const how = await proc.stop({
      name: this.spec.name,
      timeoutMs: this.policy.stopTimeoutMs,
      polite:
        polite &&
        (async () => {
          try {
            await polite();
          } catch (err) {
            this.log.warn({ component: this.spec.name, err: String(err) }, "polite stop failed");
          }
        }),
    });
    this.stopped(how);
  }

  /**
   * Finds the live process that is this component's, from what an earlier daemon left:
   * - a confirmed record of this boot whose pid still has the recorded start time and argv (its argv
   *   may differ from today's spec: the caller replaces it);
   * - a record never confirmed (a daemon killed between recording and spawning, or spawning and
   *   confirming): a live process with exactly the recorded argv;
   * - no record (a daemon from before write-ahead records): a live process with exactly today's argv.
   * A record from another boot, of a process that exited, or whose pid now runs something else is
   * dropped, and that pid is left alone.
   */
  private identify(): Found | null {
    const name = this.spec.name;
    const rec = this.store?.child(name);
    const skip = new Set<number>();
    let argv = this.spec.argv;
    if (rec) {
      const thisBoot = this.host.bootId();
      if (rec.bootId !== null && rec.bootId !== thisBoot) {
        if (rec.pid !== null) skip.add(rec.pid);
        this.signals?.note(
          name,
          "exit",
          `record of pid ${rec.pid ?? "(never confirmed)"} is from an earlier boot (boot id ${rec.bootId}); ` +
            "that pid is not adopted or signalled",
        );
      } else if (rec.pid === null) {
        argv = rec.argv;
        const found = this.findUnrecorded(argv, skip);
        if (found) {
          this.confirm(found.pid, found.startTime, argv, found.spawnedAt);
          return {
            ...found,
            how: "recorded as being started by a daemon killed before it confirmed the pid; found by its exact command line",
          };
        }
        this.signals?.note(name, "exit", "a recorded start was never confirmed and no such process runs");
        this.store?.deleteChild(name);
        return null;
      } else if (this.host.isSameProcess(rec.pid, rec.startTime ?? -1, rec.argv)) {
        return {
          pid: rec.pid,
          startTime: rec.startTime ?? 0,
          argv: rec.argv,
          spawnedAt: Date.parse(rec.spawnedAt) || Date.now(),
          how: "started by an earlier daemon",
        };
      } else if (this.host.isAlive(rec.pid)) {
        skip.add(rec.pid);
        this.signals?.note(
          name,
          "error",
          `recorded pid ${rec.pid} now belongs to another program; left untouched`,
        );
      } else {
        this.signals?.note(name, "exit", `recorded pid ${rec.pid} exited while the daemon was down`);
      }
      this.store?.deleteChild(name);
    }
    // No record: a daemon older than write-ahead records, killed between spawn and record.
    const found = this.findUnrecorded(this.spec.argv, skip);
    if (!found) return null;
    this.confirm(found.pid, found.startTime, this.spec.argv, found.spawnedAt);
    return {
      ...found,
      how: "it runs this component's exact command line but had no record (a daemon was killed while starting it)",
    };
  }

  /** A live process running exactly argv that no other component has on record. */
  private findUnrecorded(argv: string[], skip: Set<number>): Omit<Found, "how"> | null {
    if (!this.store) return null;
    // A process another component has on record is that component's, whatever its argv.
    for (const c of this.store.children()) if (c.component !== this.spec.name && c.pid) skip.add(c.pid);
    const found = this.host.findByArgv(argv).find((p) => !skip.has(p.pid));
    return found ? { ...found, argv, spawnedAt: Date.now() } : null;
  }

  /** The record, with pid and start time: the process is known to run. */
  private confirm(pid: number, startTime: number, argv: string[], spawnedAt: number): void {
    this.store?.saveChild({
      component: this.spec.name,
      pid,
      startTime,
      argv,
      spawnedAt: new Date(spawnedAt).toISOString(),
      logFile: this.spec.logFile,
      bootId: this.host.bootId(),
    });
  }

  private watchAdopted(found: Found): void {
    this.proc?.close();
    this.proc = this.host.adopt(
      {
        pid: found.pid,
        startTime: found.startTime,
        argv: found.argv,
        logFile: this.spec.logFile,
        pollIntervalMs: this.policy.pollIntervalMs,
      },
      this.events(),
    );
    this.pid = found.pid;
    this.spawnedAt = found.spawnedAt;
    this.adopted = true;
    statusChanged();
  }

  private spawn(): void {
    const spawnedAt = Date.now();
    // Write-ahead: recorded before it exists, so a daemon killed at any instant from here on leaves a
    // record of it (the next one finds it by its exact argv, see identify()).
    this.store?.saveChild({
      component: this.spec.name,
      pid: null,
      startTime: null,
      argv: this.spec.argv,
      spawnedAt: new Date(spawnedAt).toISOString(),
      logFile: this.spec.logFile,
      bootId: this.host.bootId(),
    });
    const spawned = this.host.spawn(
      { argv: this.spec.argv, env: this.spec.env, netns: this.spec.netns, logFile: this.spec.logFile },
      this.events(),
    );
    if ("notStarted" in spawned) {
      this.store?.deleteChild(this.spec.name);
      const why = spawned.notStarted;
      if (typeof why === "string") this.onExit(why);
      else void why.then((w) => this.onExit(w));
      return;
    }
    this.proc?.close();
    this.proc = spawned;
    const pid = spawned.pid;
    this.pid = pid;
    this.adopted = false;
    statusChanged();
    this.spawnedAt = spawnedAt;
    this.confirm(pid, spawned.startTime, this.spec.argv, spawnedAt);
    this.host.writePidFile(this.spec.pidFile, pid);
  }

  /** What the host reports of the watched process: its log lines, its exit. */
  private events() {
    const name = this.spec.name;
    return {
      onLine: (line: string) => {
        statusChanged(); // the log tail shown by status moved
        this.log.info({ component: name }, line);
      },
      onExit: (reason: string) => this.onExit(reason),
    };
  }

  private onExit(reason: string): void {
    const ranMs = Date.now() - this.spawnedAt;
    this.pid = null;
    this.adopted = false;
    statusChanged();
    if (!this.wanted || this.replacing) return;

    const now = Date.now();
    this.exits = [...this.exits.filter((t) => now - t < this.policy.giveUpWindowMs), now];
    if (this.exits.length >= this.policy.giveUpExits) {
      this.wanted = false;
      this.store?.deleteChild(this.spec.name);
      const last = this.logTail.slice(-5).join(" | ");
      this.signals?.gaveUp(
        this.spec.name,
        `gave up after ${this.exits.length} exits within ${this.policy.giveUpWindowMs / 1000} s; last: ${reason}` +
          (last ? `; last output: ${last}` : ""),
      );
      return;
    }
    // A child that had run stably is restarted at once (the datapath is down meanwhile); one that
    // keeps exiting waits initial × 2^n, capped.
    const stable = ranMs >= this.policy.stableAfterMs;
    if (stable) this.attempt = 0;
    const delay = stable ? 0 : nextBackoff(this.attempt++, this.policy);
    this.signals?.down(this.spec.name, `${reason}; restart in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.wanted) return;
      this.restarts++; // shown once spawn() bumps the status epoch
      this.spawn();
      if (this.pid !== null) this.signals?.restarted(this.spec.name);
    }, delay);
  }

  private stopped(how: string): void {
    this.pid = null;
    statusChanged();
    this.proc?.flushLog();
    this.proc?.close();
    this.store?.deleteChild(this.spec.name);
    this.host.removePidFile(this.spec.pidFile);
    this.log.info({ component: this.spec.name }, `stopped (${how})`);
  }
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A command line for an event, each argument JSON-quoted when it needs it. */
function quote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
}
