import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { StateStore } from "../state/store";
import { nextBackoff } from "./backoff";
import {
  type Component,
  type ComponentSignals,
  type ComponentState,
  type ComponentStatus,
  type EngineApi,
  type EventKind,
  type NodeEvent,
  type NodePhase,
  type NodeStatus,
  NotReadyYetError,
  type Probe,
  UnknownComponentError,
} from "./component";
import { topoOrder } from "./order";
import { statusChanged, statusEpoch } from "./status-epoch";

export interface EngineOptions {
  components: Component[];
  /** null: events kept in memory only (tests of the API that need no database). */
  store: StateStore | null;
  log: Logger;
  version: string;
  profile: string;
  readyTimeoutMs: number;
  pollIntervalMs: number;
  /** How often ready components with a reconcile() hook are asked to reconcile (default 2000 ms). */
  reconcileIntervalMs?: number;
  /**
   * supervisor.healthIntervalMs: every ready component is probed again this often (default 2000 ms).
   * Each health probe gets at most twice this (and never more than readyTimeoutMs) to answer.
   */
  healthIntervalMs?: number;
  /** supervisor.retryFailedAfterMs: a failed component (not a configuration error) is started again after this. */
  retryFailedAfterMs?: number;
  /** Retries of a component that is not there yet: initial doubling to max (supervisor.backoff*). */
  backoff?: { initialMs: number; maxMs: number };
}

export const DEFAULT_HEALTH_INTERVAL_MS = 2000;
export const DEFAULT_RETRY_FAILED_AFTER_MS = 300_000;

interface Entry {
  component: Component;
  state: ComponentState;
  since: string;
  lastError: string | null;
  /** What the last failed probe said, for STATUS= while starting. */
  waitingFor: string | null;
  /** Ready at least once since it was last started by request: its retries show as degraded. */
  wasReady: boolean;
  /** Failed attempts in a row, for the backoff of the next one. */
  attempt: number;
  /** The next attempt (backoff) or the next try of a failed component (retryFailedAfterMs). */
  timer: NodeJS.Timeout | null;
  /** What happens next while failed, starting or degraded ("trying again in 2 s"), for status. */
  next: string | null;
  /** Why it is failed: a configuration error waits for a restart; others are tried again. */
  failure: "config" | "other" | null;
  /** The last reason reported in an event while retrying (one event per distinct reason). */
  reported: string | null;
  /** Counts state changes: a health probe's answer applies only if none happened meanwhile. */
  gen: number;
  /**
   * Its supervisor restarted it by itself: the next start only probes. Calling start() again
   * ("make it run") would also reset the supervisor's crash-loop count, so a process that keeps
   * exiting would never be given up on.
   */
  restartedBySupervisor: boolean;
}

/**
 * The lifecycle engine: starts each component once its dependencies are ready (independent ones at
 * the same time), stops them in reverse dependency order, blocks the
 * dependents of a component that went down and brings them back once it is ready again.
 *
 * Every operation that calls into components (converge, restart, down, up) runs one at a time
 * through `serial`, so a manual restart never interleaves with a bring-up. Signals from components
 * (down / restarted / gaveUp) only change in-memory state synchronously and schedule a converge.
 */
export class Engine extends EventEmitter implements EngineApi {
  private readonly entries = new Map<string, Entry>();
  private readonly order: string[];
  private readonly startedAt = Date.now();
  private stoppedByRequest = false;
  /** What status says while stopped: down by request (the usual), or stopping with the daemon. */
  private stoppedMessage = STOPPED_MESSAGE;
  private everReady = false;
  private queue: Promise<unknown> = Promise.resolve();
  private convergePending = false;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private lastPhaseKey = "";
  private memEvents: NodeEvent[] = [];
  private readonly opts: EngineOptions;

  constructor(opts: EngineOptions) {
    super();
    this.opts = opts;
    this.order = topoOrder(opts.components);
    const now = new Date().toISOString();
    for (const name of this.order) {
      const component = opts.components.find((c) => c.name === name) as Component;
      this.entries.set(name, {
        component,
        state: "pending",
        since: now,
        lastError: null,
        waitingFor: null,
        wasReady: false,
        attempt: 0,
        timer: null,
        next: null,
        failure: null,
        reported: null,
        gen: 0,
        restartedBySupervisor: false,
      });
      component.attach?.(this.signals);
    }
  }

  /** Start every component once its dependencies are ready; resolves when all are ready or the pass ended. */
  bringUp(): Promise<void> {
    this.stoppedByRequest = false;
    this.opts.store?.setDesiredDatapath("up");
    this.startReconciling();
    this.startHealthChecks();
    return this.converge();
  }

  /** Run fn alone: no start, stop, restart or reconcile runs meanwhile (e.g. a pool resize). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(fn);
  }

  /**
   * One reconcile pass over the ready components that have the hook, in order, through the same
   * queue as every other operation. Also run by the timer that bringUp() starts.
   */
  reconcile(): Promise<void> {
    return this.serial(async () => {
      if (this.stoppedByRequest) return;
      for (const name of this.order) {
        const entry = this.entry(name);
        if (entry.state !== "ready" || !entry.component.reconcile) continue;
        try {
          await entry.component.reconcile();
        } catch (err) {
          this.addEvent(name, "error", `reconcile failed: ${errorText(err)}`);
        }
      }
    });
  }

  private startReconciling(): void {
    if (this.reconcileTimer || !this.opts.components.some((c) => c.reconcile)) return;
    let running = false;
    this.reconcileTimer = setInterval(() => {
      if (running) return;
      running = true;
      void this.reconcile().finally(() => {
        running = false;
      });
    }, this.opts.reconcileIntervalMs ?? 2000);
    this.reconcileTimer.unref();
  }

  // ---- EngineApi -------------------------------------------------------------------------------

  status(): NodeStatus {
    const { phase, message } = this.phase();
    return {
      phase,
      message,
      version: this.opts.version,
      profile: this.opts.profile,
      uptimeSec: Math.floor((Date.now() - this.startedAt) / 1000),
      components: this.order.map((n) => this.componentStatus(n)),
    };
  }

  statusVersion(): number {
    return statusEpoch();
  }

  component(name: string): ComponentStatus | undefined {
    return this.entries.has(name) ? this.componentStatus(name) : undefined;
  }

  /**
   * Stop, then start again. A stop that throws is recorded (event, lastError) and the component is
   * started again all the same: start() is "make it run", so the engine converges either way.
   */
  async restart(name: string): Promise<void> {
    const entry = this.entry(name);
    await this.serial(async () => {
      this.addEvent(name, "restart", "restart requested by hand");
      this.clearTimer(entry);
      entry.failure = null;
      entry.attempt = 0;
      entry.wasReady = false;
      entry.reported = null;
      entry.restartedBySupervisor = false;
      this.blockDependents(name, `${name} is restarting`);
      this.setState(name, "stopping");
      let stopError: string | null = null;
      try {
        await entry.component.stop();
      } catch (err) {
        stopError = `stop failed: ${errorText(err)}`;
        this.addEvent(name, "error", `${stopError}; starting it again all the same`);
      }
      entry.lastError = stopError;
      this.setState(name, "pending");
    });
    await this.converge();
  }

  /**
   * Stop every component in reverse dependency order. `request` (the API, a reset): the desired state
   * becomes down, stored as applying starts, so a daemon restarted even mid-way keeps it down.
   * `desired`: a starting daemon found "down" stored; it stops what an earlier daemon left running.
   * `exit`: the daemon exits with its datapath (datapath.stopOnExit); what is desired stays as it was.
   */
  async down(cause: "request" | "desired" | "exit" = "request"): Promise<void> {
    await this.serial(async () => {
      this.stoppedByRequest = true;
      this.stoppedMessage =
        cause === "exit" ? "stopped: the datapath stops with the daemon" : STOPPED_MESSAGE;
      if (cause === "request") this.opts.store?.setDesiredDatapath("down");
      this.addEvent(null, "stop", DOWN_EVENT[cause]);
      for (const e of this.entries.values()) this.clearTimer(e);
      for (const name of [...this.order].reverse()) {
        const entry = this.entry(name);
        entry.wasReady = false;
        entry.attempt = 0;
        entry.failure = null;
        entry.restartedBySupervisor = false;
        if (entry.state === "stopped") continue;
        this.setState(name, "stopping");
        try {
          await entry.component.stop();
          this.addEvent(name, "stop", "stopped");
        } catch (err) {
          entry.lastError = `stop failed: ${errorText(err)}`;
          this.addEvent(name, "error", entry.lastError);
        }
        this.setState(name, "stopped");
      }
    });
  }

  async up(): Promise<void> {
    await this.serial(async () => {
      this.stoppedByRequest = false;
      this.opts.store?.setDesiredDatapath("up");
      // A daemon that started with the datapath desired down never ran bringUp().
      this.startReconciling();
      this.startHealthChecks();
      for (const name of this.order) {
        const entry = this.entry(name);
        if (entry.state === "stopped" || entry.state === "failed") {
          this.clearTimer(entry);
          entry.lastError = null;
          entry.failure = null;
          entry.attempt = 0;
          entry.reported = null;
          this.setState(name, "pending");
        }
      }
    });
    await this.converge();
  }

  waitReady(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.phase().phase === "ready") return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ready: boolean) => {
        clearTimeout(timer);
        this.off("phase", onPhase);
        signal?.removeEventListener("abort", onAbort);
        resolve(ready);
      };
      const onPhase = (s: NodeStatus) => {
        if (s.phase === "ready") done(true);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(onAbort, timeoutMs);
      this.on("phase", onPhase);
      signal?.addEventListener("abort", onAbort);
    });
  }

  events(after: number, limit: number): NodeEvent[] {
    if (this.opts.store) return this.opts.store.events(after, limit);
    return this.memEvents.filter((e) => e.id > after).slice(0, limit);
  }

  // ---- signals from components --------------------------------------------------------------------------

  /** What components report to the engine (bound into each component at construction). */
  private readonly signals: ComponentSignals = {
    down: (name, reason) => this.signalDown(name, reason),
    restarted: (name) => this.signalRestarted(name),
    gaveUp: (name, reason) => this.signalGaveUp(name, reason),
    note: (name, kind, message) => {
      this.addEvent(name, kind, message);
    },
  };

  /**
   * Release the components without stopping them (production daemon exit: the datapath keeps
   * running and is adopted by the next daemon). Components with a `detach` hook use it.
   */
  detach(): void {
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    this.reconcileTimer = null;
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = null;
    for (const name of this.order) {
      const entry = this.entry(name);
      this.clearTimer(entry);
      entry.component.detach?.();
    }
  }

  /**
   * One health pass: every ready component is probed (all at once: probes are independent reads,
   * each bounded by its own timeout); one that is not ready any more becomes degraded, its
   * dependents are blocked, and the engine starts repairing it. Not through the queue: like a
   * child's exit, a failing probe is news that must not wait behind a long operation (a reconcile
   * retrying a target that is gone); it only changes in-memory state and schedules a converge. A
   * result is dropped when the component changed state while it was probed. Also run by the timer
   * that bringUp() starts.
   */
  async checkHealth(): Promise<void> {
    if (this.stoppedByRequest) return;
    const ready = this.order.filter((n) => this.entry(n).state === "ready");
    const gens = ready.map((n) => this.entry(n).gen);
    const timeoutMs = Math.min(this.opts.readyTimeoutMs, 2 * this.healthIntervalMs);
    // Each answer applies as it comes: a quick "TAPs gone" is not held back by a slower probe.
    await Promise.all(
      ready.map(async (name, i) => {
        const entry = this.entry(name);
        const p = await this.probeOnce(entry, timeoutMs);
        // Moved meanwhile (a child exit, a restart, down): that path owns it now.
        if (p.ready || entry.gen !== gens[i] || this.stoppedByRequest) return;
        this.degrade(name, p.waitingFor);
        void this.converge();
      }),
    );
  }

  // ---- internals -------------------------------------------------------------------------------

  private signalDown(name: string, reason: string): void {
    const entry = this.entries.get(name);
    if (!entry || this.stoppedByRequest || entry.state === "stopping" || entry.state === "stopped") return;
    this.clearTimer(entry);
    entry.lastError = reason;
    this.addEvent(name, "exit", reason);
    this.setState(name, "restarting");
    this.blockDependents(name, `${name} is down (${reason})`);
  }

  private signalRestarted(name: string): void {
    const entry = this.entries.get(name);
    if (!entry || this.stoppedByRequest || entry.state !== "restarting") return;
    this.addEvent(name, "restart", `restarted (restart ${entry.component.details().restarts})`);
    entry.restartedBySupervisor = true;
    this.setState(name, "starting");
    void this.converge();
  }

  private signalGaveUp(name: string, reason: string): void {
    const entry = this.entries.get(name);
    if (!entry || this.stoppedByRequest) return;
    this.fail(name, reason, "other", "give-up");
  }

  /**
   * failed: dependents blocked. A configuration error waits for a restart (by hand, or of the daemon
   * with a changed configuration), and says so; anything else is started again after
   * retryFailedAfterMs, with an event each time.
   */
  private fail(name: string, reason: string, kind: "config" | "other", event: EventKind = "error"): void {
    const entry = this.entry(name);
    this.clearTimer(entry);
    entry.failure = kind;
    entry.restartedBySupervisor = false;
    entry.waitingFor = null;
    const after = formatMs(this.retryFailedAfterMs);
    entry.lastError =
      kind === "config"
        ? `configuration error: ${reason}; waits for POST /v1/components/${name}/restart or a daemon restart with a changed configuration`
        : reason;
    const next = kind === "config" ? null : `trying again in ${after}`;
    const text = next ? `${entry.lastError}; ${next}` : entry.lastError;
    this.addEvent(name, event, event === "error" ? `start failed: ${text}` : text);
    this.setState(name, "failed", next);
    this.blockDependents(name, `${name} failed`);
    if (kind === "config") return;
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (this.stoppedByRequest || entry.state !== "failed") return;
      this.addEvent(name, "restart", `trying again ${after} after it failed (${reason})`);
      entry.failure = null;
      entry.attempt = 0;
      entry.reported = null;
      this.setState(name, "pending");
      void this.converge();
    }, this.retryFailedAfterMs);
    entry.timer.unref();
  }

  /** A health probe failed: degraded with what failed, dependents blocked; converge repairs it. */
  private degrade(name: string, what: string): void {
    const entry = this.entry(name);
    entry.lastError = `health probe: ${what}`;
    entry.waitingFor = null;
    entry.attempt = 0;
    entry.reported = what;
    this.addEvent(name, "error", `not ready any more (health probe): ${what}`);
    this.setState(name, "degraded", "repairing");
    this.blockDependents(name, `${name} is degraded (${what})`);
  }

  /**
   * Not there yet: stay starting (degraded once it had been ready) with the reason, and try again
   * after the backoff: initial doubling to max; a component that had been ready is tried at least
   * once per health interval, so it is back within about one interval of its cause going away.
   * `failed`: a first start not ready within readyTimeoutMs says failed (the node is not coming up
   * by itself soon), and is still tried again with the same backoff.
   */
  private retryLater(name: string, reason: string, failed = false): void {
    const entry = this.entry(name);
    this.clearTimer(entry);
    const b = this.opts.backoff ?? { initialMs: 100, maxMs: 30_000 };
    let delay = nextBackoff(entry.attempt++, { backoffInitialMs: b.initialMs, backoffMaxMs: b.maxMs });
    if (entry.wasReady) delay = Math.min(delay, this.healthIntervalMs);
    entry.lastError = reason;
    entry.waitingFor = null;
    entry.failure = failed ? "other" : null;
    // One event per distinct reason: a target that stays away for an hour is not 200 events.
    if (entry.reported !== reason) {
      entry.reported = reason;
      this.addEvent(
        name,
        "error",
        `${failed ? "start failed" : "not there yet"}: ${reason}; trying again with backoff`,
      );
    }
    const state: ComponentState = failed ? "failed" : entry.wasReady ? "degraded" : "starting";
    this.setState(name, state, `trying again in ${formatMs(delay)} (attempt ${entry.attempt + 1})`);
    this.blockDependents(name, `${name} is not ready (${reason})`);
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (this.stoppedByRequest || entry.state !== state) return;
      if (state === "failed") this.setState(name, "pending");
      void this.converge();
    }, delay);
    entry.timer.unref();
  }

  private clearTimer(entry: Entry): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
  }

  /**
   * One pass: start what is pending, blocked or starting once its dependencies are ready, each as
   * soon as its last dependency is ready, independent branches at the same time (the kernel TAP pool
   * beside hugepages ─► ovsdb-server ─► ovs-vswitchd). The pass ends when nothing more can start:
   * every component is ready, failed, waiting for its next attempt, or blocked behind one of those.
   * Requests arriving while a pass runs fold into one more pass.
   */
  private converge(): Promise<void> {
    if (this.convergePending) return this.queue.then(() => undefined);
    this.convergePending = true;
    return this.serial(async () => {
      this.convergePending = false;
      const inFlight = new Map<string, Promise<string>>();
      let thrown: { err: unknown } | null = null;
      // Starts what can start now; components behind one still being started wait for it.
      const sweep = () => {
        if (this.stoppedByRequest || thrown) return;
        const behindInFlight = new Set<string>();
        for (const name of this.order) {
          if (inFlight.has(name)) continue;
          const entry = this.entry(name);
          if (entry.state === "ready" || entry.state === "failed" || entry.state === "restarting") continue;
          const notReady = entry.component.dependsOn.filter((d) => this.entry(d).state !== "ready");
          if (notReady.length > 0) {
            // Its dependency is being started in this pass: it stays as it is (pending) until then.
            if (notReady.some((d) => inFlight.has(d) || behindInFlight.has(d))) {
              behindInFlight.add(name);
              continue;
            }
            this.clearTimer(entry);
            entry.lastError = `waiting for ${notReady.join(", ")}`;
            this.setState(name, "blocked");
            continue;
          }
          // Waiting for its next attempt (backoff): its timer converges again.
          if (entry.timer) continue;
          inFlight.set(
            name,
            this.startOne(name).then(
              () => name,
              (err: unknown) => {
                thrown ??= { err }; // the state database failed: nothing more is started
                return name;
              },
            ),
          );
        }
      };
      sweep();
      while (inFlight.size > 0) {
        inFlight.delete(await Promise.race(inFlight.values()));
        sweep();
      }
      if (thrown) throw (thrown as { err: unknown }).err;
    });
  }

  private async startOne(name: string): Promise<void> {
    const entry = this.entry(name);
    const repairing = entry.state === "degraded";
    // A repair keeps saying degraded (the node was ready and is not); anything else is starting.
    if (!repairing) this.setState(name, "starting");
    else entry.next = "repairing";
    const onlyProbe = entry.restartedBySupervisor;
    entry.restartedBySupervisor = false;
    try {
      if (!onlyProbe) await entry.component.start();
      if (entry.attempt === 0 && !onlyProbe)
        this.addEvent(name, "start", repairing ? "started again (repair)" : "started");
      await this.waitProbe(entry);
      if (!isTrying(this.entry(name).state)) return; // went down while we waited
      const attempts = entry.attempt;
      entry.lastError = null;
      entry.waitingFor = null;
      entry.attempt = 0;
      entry.reported = null;
      entry.failure = null;
      entry.wasReady = true;
      this.addEvent(
        name,
        "ready",
        repairing
          ? `ready again by itself (repaired after ${attempts + 1} attempts)`
          : attempts > 0
            ? `ready by itself after ${attempts + 1} attempts`
            : "ready",
      );
      this.setState(name, "ready");
    } catch (err) {
      if (this.stoppedByRequest || !isTrying(entry.state)) return; // the supervisor owns it now
      const kind = failureKind(err);
      // A first start not ready within its timeout is failed, and still tried again with backoff.
      const timedOut = (err as { readyTimeout?: unknown }).readyTimeout === true;
      if (kind === "not-yet") this.retryLater(name, errorText(err), timedOut && !entry.wasReady);
      else this.fail(name, errorText(err), kind);
    }
  }

  /** One probe, bounded: a probe that throws or does not answer in time says so as "not ready". */
  private async probeOnce(entry: Entry, timeoutMs: number): Promise<Probe> {
    try {
      return await withTimeout(entry.component.probe(), timeoutMs, {
        ready: false,
        waitingFor: `${entry.component.readiness} (no answer within ${formatMs(timeoutMs)})`,
      });
    } catch (err) {
      return { ready: false, waitingFor: `${entry.component.readiness} (probe failed: ${errorText(err)})` };
    }
  }

  private async waitProbe(entry: Entry): Promise<void> {
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    // Probe soon after start (most programs are ready in tens of ms), then back off to the interval.
    for (let pause = 10; ; pause = Math.min(pause * 2, this.opts.pollIntervalMs)) {
      if (!isTrying(entry.state)) return;
      // A probe may block (a waiting write); it gets no more than the time that is left.
      const left = Math.max(deadline - Date.now(), 1);
      const probe = await withTimeout(entry.component.probe(), left, {
        ready: false,
        waitingFor: entry.waitingFor ?? entry.component.readiness,
      });
      if (probe.ready) return;
      if (entry.waitingFor !== probe.waitingFor) {
        entry.waitingFor = probe.waitingFor;
        this.emitPhase();
      }
      if (Date.now() >= deadline) {
        throw Object.assign(
          new NotReadyYetError(
            `not ready after ${this.opts.readyTimeoutMs} ms: waited for ${probe.waitingFor}`,
          ),
          { readyTimeout: true },
        );
      }
      await sleep(pause);
    }
  }

  private blockDependents(name: string, reason: string): void {
    for (const dep of this.dependentsOf(name)) {
      const e = this.entry(dep);
      if (e.state === "ready" || e.state === "starting" || e.state === "degraded") {
        this.clearTimer(e);
        e.lastError = reason;
        this.addEvent(dep, "blocked", reason);
        this.setState(dep, "blocked");
      }
    }
  }

  /** Transitive dependents, in start order. */
  private dependentsOf(name: string): string[] {
    const out = new Set<string>([name]);
    for (const n of this.order) {
      if (this.entry(n).component.dependsOn.some((d) => out.has(d))) out.add(n);
    }
    out.delete(name);
    return [...out];
  }

  private phase(): { phase: NodePhase; message: string } {
    const entries = this.order.map((n) => [n, this.entry(n)] as const);
    if (this.stoppedByRequest) return { phase: "stopped", message: this.stoppedMessage };
    const failed = entries.filter(([, e]) => e.state === "failed");
    if (failed.length > 0) {
      return {
        phase: "failed",
        message: `failed: ${failed.map(([n, e]) => `${n}: ${e.lastError ?? "failed"}${e.next ? `; ${e.next}` : ""}`).join("; ")}`,
      };
    }
    const notReady = entries.filter(([, e]) => e.state !== "ready");
    if (notReady.length === 0) {
      return {
        phase: "ready",
        message: `ready: ${this.order.length} of ${this.order.length} components ready`,
      };
    }
    const words = notReady.map(([n, e]) => {
      if (e.state === "starting" && e.waitingFor) return `${n} starting, waiting for ${e.waitingFor}`;
      if ((e.state === "starting" || e.state === "degraded") && e.lastError)
        return `${n} ${e.state} (${e.lastError}${e.next ? `; ${e.next}` : ""})`;
      if (e.state === "restarting") return `${n} restarting (${e.lastError ?? "exited"})`;
      if (e.state === "blocked") return `${n} blocked (${e.lastError ?? "dependency not ready"})`;
      // About to be tried again: the reason stays in STATUS= between attempts.
      if (e.state === "pending" && e.lastError) return `${n} pending (last attempt: ${e.lastError})`;
      return `${n} ${e.state}`;
    });
    const phase: NodePhase = this.everReady ? "degraded" : "starting";
    return { phase, message: `${phase}: ${words.join("; ")}` };
  }

  private setState(name: string, state: ComponentState, next: string | null = null): void {
    const entry = this.entry(name);
    entry.next = next;
    if (entry.state !== state) {
      entry.state = state;
      entry.gen++;
      entry.since = new Date().toISOString();
    }
    // Nothing is written here: a restarted daemon reads no component states (it adopts children from
    // their records and converges to the desired state), so they live in memory only.
    this.emitPhase();
  }

  private emitPhase(): void {
    statusChanged(); // states, errors and what a component waits for are in the status document
    const { phase, message } = this.phase();
    if (phase === "ready") this.everReady = true;
    const key = `${phase}|${message}`;
    if (key === this.lastPhaseKey) return;
    const phaseChanged = !this.lastPhaseKey.startsWith(`${phase}|`);
    this.lastPhaseKey = key;
    // The history records every phase change (not every wording change within a phase).
    if (phaseChanged) this.addEvent(null, "phase", message);
    this.emit("phase", this.status());
  }

  private componentStatus(name: string): ComponentStatus {
    const e = this.entry(name);
    const d = e.component.details();
    return {
      name,
      state: e.state,
      pid: d.pid,
      restarts: d.restarts,
      since: e.since,
      lastError: e.lastError,
      dependsOn: [...e.component.dependsOn],
      adopted: d.adopted,
      logTail: d.logTail,
    };
  }

  addEvent(component: string | null, kind: EventKind, message: string): NodeEvent {
    let event: NodeEvent;
    if (this.opts.store) {
      event = this.opts.store.addEvent(component, kind, message);
    } else {
      const id = (this.memEvents.at(-1)?.id ?? 0) + 1;
      event = { id, time: new Date().toISOString(), component, kind, message };
      this.memEvents.push(event);
      if (this.memEvents.length > 10_000) this.memEvents.shift();
    }
    this.opts.log.info({ component, kind }, message);
    this.emit("event", event);
    return event;
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new UnknownComponentError(name, this.order);
    return e;
  }

  private get healthIntervalMs(): number {
    return this.opts.healthIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
  }

  private get retryFailedAfterMs(): number {
    return this.opts.retryFailedAfterMs ?? DEFAULT_RETRY_FAILED_AFTER_MS;
  }

  private startHealthChecks(): void {
    if (this.healthTimer) return;
    let running = false;
    this.healthTimer = setInterval(() => {
      if (running) return;
      running = true;
      void this.checkHealth().finally(() => {
        running = false;
      });
    }, this.healthIntervalMs);
    this.healthTimer.unref();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** The node's status (and systemd's STATUS=) while the datapath is down: why, and how to bring it up. */
const STOPPED_MESSAGE =
  "stopped: datapath down by request (kept across daemon restarts); " +
  "POST /v1/datapath/up or the pre-init hook brings it up";

const DOWN_EVENT = {
  request: "datapath down requested",
  desired: "datapath kept down: its desired state, stored by an earlier request, is down",
  exit: "datapath stops with the daemon (datapath.stopOnExit)",
} as const;

/** The promise's value, or `late` when it has not settled within ms. */
function withTimeout<T>(p: Promise<T>, ms: number, late: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<T>((r) => {
    timer = setTimeout(() => r(late), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** States in which the engine is (re)starting a component: a probe result still applies. */
function isTrying(state: ComponentState): boolean {
  return state === "starting" || state === "degraded";
}

/** "250 ms", "30 s", "5 min". */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000 || ms % 60_000 !== 0) return `${Math.round(ms / 100) / 10} s`;
  return `${ms / 60_000} min`;
}

const NOT_YET_ERRNO = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOENT",
  "EAGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);

/**
 * Which class a start failure is in (see component.ts): "config" waits for a restart, "not-yet"
 * is tried again with backoff, "other" is tried again after retryFailedAfterMs. Looks through the
 * error's cause chain: a component may wrap what the adapter threw.
 */
export function failureKind(err: unknown): "config" | "not-yet" | "other" {
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 8; depth++) {
    const o = e as { configuration?: unknown; notReadyYet?: unknown; code?: unknown; cause?: unknown };
    if (o.configuration === true) return "config";
    if (o.notReadyYet === true) return "not-yet";
    if (o.code === grpc.status.UNAVAILABLE || o.code === grpc.status.DEADLINE_EXCEEDED) return "not-yet";
    if (typeof o.code === "string" && NOT_YET_ERRNO.has(o.code)) return "not-yet";
    e = o.cause;
  }
  return "other";
}
