import type { ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";
import type { SupervisorConfig } from "../config/types";
import { LogFollower } from "../host/log-follower";
import { inNetns } from "../host/netns";
import { findByArgv, isAlive, isSameProcess, procInfo } from "../host/proc";
import { signalGroup, spawnLogged } from "../host/spawn";
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

/**
 * Keeps one child process running.
 *
 *   ensureRunning() ─► adopt (recorded pid alive, same start time and argv) ─► watch by polling /proc
 *                  └─► spawn (own process group, log file) ──────────────────► watch by exit event
 *   exit ─► down signal ─► delay (0 after a stable run, else 100 ms doubling to max) ─► spawn ─► restarted
 *        └─► giveUpExits exits within giveUpWindowMs ─► gaveUp signal, no more restarts until ensureRunning()
 *   stop() ─► [adopt, if never started] ─► polite request ─► SIGTERM ─► wait ─► SIGKILL ─► wait ─► report
 */
export class Supervisor {
  pid: number | null = null;
  restarts = 0;
  adopted = false;
  private child: ChildProcess | null = null;
  private startTime = 0;
  private spawnedAt = 0;
  private wanted = false;
  private attempt = 0;
  private exits: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private follower: LogFollower | null = null;
  private exitWaiters: Array<() => void> = [];
  private signals: ComponentSignals | null = null;

  constructor(
    private readonly spec: ProcessSpec,
    private readonly policy: SupervisorConfig,
    private readonly store: StateStore | null,
    private readonly log: Logger,
  ) {}

  attach(signals: ComponentSignals): void {
    this.signals = signals;
  }

  get running(): boolean {
    return this.pid !== null;
  }

  get logTail(): string[] {
    return this.follower ? [...this.follower.tail] : [];
  }

  /** Make it run: adopt a recorded live child, else spawn. Also clears a crash-loop give-up. */
  ensureRunning(): void {
    this.wanted = true;
    this.exits = [];
    if (this.pid !== null) return;
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
    if (this.tryAdopt()) return;
    this.spawn();
  }

  async stop(): Promise<void> {
    this.wanted = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    // Never started or adopted one yet (a fresh daemon whose desired state is down): a child an
    // earlier daemon left running (crash mid-down, KillMode=process) is still ours. Adopt, then stop.
    if (this.pid === null && this.spawnedAt === 0) this.tryAdopt();
    const pid = this.pid;
    if (pid === null) return;
    if (this.spec.politeStop) {
      try {
        await this.spec.politeStop();
      } catch (err) {
        this.log.warn({ component: this.spec.name, err: String(err) }, "polite stop failed");
      }
      if (await this.waitExit(this.policy.stopTimeoutMs)) return this.stopped("polite request");
    }
    if (!this.stillOurs(pid)) return this.stopped("already gone");
    signalGroup(pid, "SIGTERM");
    if (await this.waitExit(this.policy.stopTimeoutMs)) return this.stopped("SIGTERM");
    if (!this.stillOurs(pid)) return this.stopped("already gone");
    signalGroup(pid, "SIGKILL");
    if (await this.waitExit(this.policy.stopTimeoutMs)) return this.stopped("SIGKILL");
    throw new Error(`${this.spec.name} (pid ${pid}) did not exit after SIGTERM and SIGKILL`);
  }

  /** Stop watching; leave the process running for the next daemon to adopt. */
  detach(): void {
    this.wanted = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.follower?.close();
    this.child?.removeAllListeners("exit");
    this.restartTimer = null;
    this.pollTimer = null;
  }

  // ---- internals -------------------------------------------------------------------------------

  private tryAdopt(): boolean {
    const rec = this.store?.child(this.spec.name);
    if (!rec) return this.adoptUnrecorded();
    const same = JSON.stringify(rec.argv) === JSON.stringify(this.spec.argv);
    if (same && isSameProcess(rec.pid, rec.startTime, rec.argv)) {
      this.watchAdopted(rec.pid, rec.startTime, Date.parse(rec.spawnedAt) || Date.now());
      this.signals?.note(
        this.spec.name,
        "adopt",
        `adopted running pid ${rec.pid} started by an earlier daemon`,
      );
      return true;
    }
    if (isAlive(rec.pid)) {
      const why = same ? "another program" : "a process with different arguments (config changed)";
      this.signals?.note(
        this.spec.name,
        "error",
        `recorded pid ${rec.pid} now belongs to ${why}; left untouched`,
      );
    } else {
      this.signals?.note(this.spec.name, "exit", `recorded pid ${rec.pid} exited while the daemon was down`);
    }
    this.store?.deleteChild(this.spec.name);
    return this.adoptUnrecorded();
  }

  /**
   * A daemon killed between spawning a child and recording it leaves that child running unknown; a
   * second one would fail on its pidfile or database lock forever. A live process running exactly
   * this component's argv (which names its own files) is that child: adopt it and record it.
   */
  private adoptUnrecorded(): boolean {
    if (!this.store) return false;
    // A process another component has on record is that component's, whatever its argv.
    const recorded = new Set(this.store.children().map((c) => c.pid));
    const found = findByArgv(this.spec.argv).find((p) => !recorded.has(p.pid));
    if (!found) return false;
    const now = Date.now();
    this.store.saveChild({
      component: this.spec.name,
      pid: found.pid,
      startTime: found.startTime,
      argv: this.spec.argv,
      spawnedAt: new Date(now).toISOString(),
      logFile: this.spec.logFile,
    });
    this.watchAdopted(found.pid, found.startTime, now);
    this.signals?.note(
      this.spec.name,
      "adopt",
      `adopted running pid ${found.pid}: it runs this component's exact command line but had no record (a daemon was killed while starting it)`,
    );
    return true;
  }

  private watchAdopted(pid: number, startTime: number, spawnedAt: number): void {
    const argv = this.spec.argv;
    this.pid = pid;
    this.startTime = startTime;
    this.spawnedAt = spawnedAt;
    this.adopted = true;
    statusChanged();
    this.follow();
    // Not our child: no exit event. Poll /proc for it to go away.
    this.pollTimer = setInterval(() => {
      if (!isSameProcess(pid, startTime, argv)) this.onExit("exited (adopted; exit status unknown)");
    }, this.policy.pollIntervalMs);
    this.pollTimer.unref();
  }

  private spawn(): void {
    const argv = inNetns(this.spec.netns, this.spec.argv);
    let child: ChildProcess;
    try {
      child = spawnLogged(argv, { env: this.spec.env, logFile: this.spec.logFile });
    } catch (err) {
      this.onExit(`cannot start ${argv[0]}: ${String(err)}`);
      return;
    }
    if (child.pid === undefined) {
      // ENOENT and friends arrive as an "error" event with no pid.
      child.once("error", (err) => this.onExit(`cannot start ${argv[0]}: ${err.message}`));
      return;
    }
    const pid = child.pid;
    this.child = child;
    this.pid = pid;
    this.adopted = false;
    statusChanged();
    this.spawnedAt = Date.now();
    this.startTime = procInfo(pid)?.startTime ?? 0;
    child.once("exit", (code, signal) => {
      this.child = null;
      this.onExit(signal ? `killed by ${signal}` : `exited with code ${code}`);
    });
    this.follow();
    this.store?.saveChild({
      component: this.spec.name,
      pid,
      startTime: this.startTime,
      argv: this.spec.argv,
      spawnedAt: new Date(this.spawnedAt).toISOString(),
      logFile: this.spec.logFile,
    });
    mkdirSync(dirname(this.spec.pidFile), { recursive: true, mode: 0o755 });
    writeFileSync(this.spec.pidFile, `${pid}\n`, { mode: 0o644 });
  }

  private follow(): void {
    this.follower?.close();
    const name = this.spec.name;
    this.follower = new LogFollower(this.spec.logFile, (line) => {
      statusChanged(); // the log tail shown by status moved
      this.log.info({ component: name }, line);
    });
  }

  private onExit(reason: string): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.follower?.poll();
    const ranMs = Date.now() - this.spawnedAt;
    this.pid = null;
    this.adopted = false;
    statusChanged();
    for (const w of this.exitWaiters.splice(0)) w();
    if (!this.wanted) return;

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

  /** True while the pid still is the process we started or adopted (never signal a reused pid). */
  private stillOurs(pid: number): boolean {
    if (this.pid !== pid) return false;
    // Our own child cannot be reused while we have not seen its exit; an adopted one is checked.
    return this.child !== null || isSameProcess(pid, this.startTime, this.spec.argv);
  }

  private waitExit(ms: number): Promise<boolean> {
    if (this.pid === null) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      const t = setTimeout(() => {
        this.exitWaiters = this.exitWaiters.filter((w) => w !== done);
        resolve(this.pid === null);
      }, ms);
      this.exitWaiters.push(done);
    });
  }

  private stopped(how: string): void {
    this.pid = null;
    statusChanged();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.follower?.poll();
    this.follower?.close();
    this.store?.deleteChild(this.spec.name);
    rmSync(this.spec.pidFile, { force: true });
    this.log.info({ component: this.spec.name }, `stopped (${how})`);
  }
}
