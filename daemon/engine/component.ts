import type { EventKind, NodeEvent } from "../state/types";

/** The node's events are persisted: their types are the state store's (daemon/state/types.ts). */
export type { EventKind, NodeEvent } from "../state/types";

/**
 * A component is one piece of the node's datapath (ovsdb-server, ovs-vswitchd, the TAP pool, ...).
 * The engine drives it; the component talks to host adapters only.
 *
 * Lifecycle (drawn from the engine's side):
 *
 *            start()               probe() until ready           health probe fails
 *   pending ────────► starting ─────────────────────► ready ──────────────────────► degraded
 *      ▲               │  ▲ not there yet:              ▲ │ ▲                          │ start() + probe()
 *      │               │  └ backoff, start() again      │ │ └──────────────────────────┘ with backoff
 *      │               ▼                                │ │ dependency not ready / own exit
 *      │            failed ◄── crash-loop give-up ──────┼─┴──────────────────► blocked / restarting
 *      │    (config error: waits; other: start() again  │
 *      │     after supervisor.retryFailedAfterMs)       └── back by itself once the cause is gone
 *      └─── stop() ◄── restart by hand (API); stop() is called in reverse dependency order: stopped.
 *
 * Failures of start() or of the first probes fall in three classes (failureKind() in engine.ts):
 * - not there yet (connection refused, gRPC UNAVAILABLE / deadline, a file not present, not ready
 *   within the ready timeout, or a NotReadyYetError): the engine tries again with capped backoff;
 *   the component is `starting` (or `degraded` when it had been ready) with the reason meanwhile;
 * - a ConfigurationError (e.g. an artifact whose hash does not match): `failed`, and it stays so
 *   until a restart by hand or a daemon restart with a changed configuration;
 * - anything else (and a crash-looping process the supervisor gave up on): `failed`, tried again
 *   after supervisor.retryFailedAfterMs with an event each time.
 *
 * A degraded component blocks its dependents exactly as one that went down does: "ready" means
 * ready at every moment, and a dependent built on something broken is not.
 *
 * Contract:
 * - start() is idempotent: "make it run". For a supervised process it adopts a live child recorded
 *   by an earlier daemon, or spawns one. It resolves when the thing has been started, not when ready.
 *   The engine calls it again to repair a degraded component, so it must put back what is missing.
 * - probe() asks once, cheaply, whether it is ready, and says what it waits for when it is not. It
 *   is also the health probe, every supervisor.healthIntervalMs while ready (never from a request).
 * - stop() tears down what start() made and resolves when it is gone. When it throws, the engine
 *   records it and goes on (a restart starts the component again anyway).
 * - A component that can go down by itself (a child exits) reports it through the signals the engine
 *   attaches; the engine then blocks its dependents and brings them back once it is ready again.
 */
export interface Component {
  readonly name: string;
  /** Names of components that must be ready before this one starts. */
  readonly dependsOn: readonly string[];
  /** What ready means, in words ("ovs-vswitchd to apply its configuration"), for timeouts and status. */
  readonly readiness: string;
  start(): Promise<void>;
  probe(): Promise<Probe>;
  stop(): Promise<void>;
  /** Process details for status, when the component is a supervised process. */
  details(): ComponentDetails;
  /** Called once by the engine: where a component that can go down by itself reports it. */
  attach?(signals: ComponentSignals): void;
  /** Daemon exit without stopping the datapath: stop watching, leave processes running. */
  detach?(): void;
  /**
   * Called periodically by the engine while the component is ready (never concurrently with
   * start/stop): put back what was changed behind the daemon's back (a deleted TAP, a removed
   * address). Throwing records an error event; the component stays ready until its probe says not.
   */
  reconcile?(): Promise<void>;
}

export type Probe = { ready: true } | { ready: false; waitingFor: string };

export interface ComponentDetails {
  pid: number | null;
  restarts: number;
  /** Last lines the child wrote to its log (stdout and stderr). */
  logTail: string[];
  adopted: boolean;
}

/** details() of a component that is not a process (preflight, the TAP pool, TAP_0, ...). */
export const noProcessDetails = (): ComponentDetails => ({
  pid: null,
  restarts: 0,
  logTail: [],
  adopted: false,
});

/** What a supervised component tells the engine about itself, as it happens. */
export interface ComponentSignals {
  /** The component went down by itself (child exited); it will come back on its own unless giveUp. */
  down(name: string, reason: string): void;
  /** The component restarted its process after a down; the engine probes readiness again. */
  restarted(name: string): void;
  /** Crash loop: the component stopped trying. */
  gaveUp(name: string, reason: string): void;
  /** Something worth a line in the node's history (adoption, a pid found reused, ...). */
  note(name: string, kind: EventKind, message: string): void;
}

export type ComponentState =
  | "pending"
  | "starting"
  | "ready"
  /** Was ready; its health probe (or a repair attempt) fails. The engine repairs it with backoff. */
  | "degraded"
  | "restarting"
  | "blocked"
  | "failed"
  | "stopping"
  | "stopped";

export type NodePhase = "starting" | "ready" | "degraded" | "failed" | "stopped";

export interface ComponentStatus {
  name: string;
  state: ComponentState;
  pid: number | null;
  restarts: number;
  /** ISO time of the last state change. */
  since: string;
  lastError: string | null;
  dependsOn: string[];
  adopted: boolean;
  logTail: string[];
}

export interface NodeStatus {
  phase: NodePhase;
  /** Words for an admin: also sent to systemd as STATUS=. */
  message: string;
  version: string;
  profile: string;
  uptimeSec: number;
  components: ComponentStatus[];
}

/**
 * What the API may ask of the engine. The API reads state and asks; it never touches the host.
 * Implemented by Engine (daemon/engine/engine.ts). Events: "event" (NodeEvent), "phase" (NodeStatus).
 */
export interface EngineApi {
  status(): NodeStatus;
  /** Moves whenever status() would answer differently (apart from uptimeSec): for cached bodies. */
  statusVersion(): number;
  component(name: string): ComponentStatus | undefined;
  /** Restart one component by hand (also clears a crash-loop give-up). Rejects UnknownComponentError. */
  restart(name: string): Promise<void>;
  /** "Datapath down": stop every component in reverse order; the node phase becomes stopped. */
  down(): Promise<void>;
  /** Bring the datapath back up after down(). */
  up(): Promise<void>;
  /** Resolves true once the node is ready, false after timeoutMs or when signal aborts. */
  waitReady(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Events after the given id, oldest first. */
  events(after: number, limit: number): NodeEvent[];
  on(event: "event", listener: (e: NodeEvent) => void): this;
  on(event: "phase", listener: (s: NodeStatus) => void): this;
  off(event: "event", listener: (e: NodeEvent) => void): this;
  off(event: "phase", listener: (s: NodeStatus) => void): this;
}

/**
 * A start that cannot succeed with the configuration as it is (an artifact whose hash does not
 * match, a loader that names a file that is not configured): the engine does not retry it; it waits
 * for a restart by hand or a daemon restart with a changed configuration.
 */
export class ConfigurationError extends Error {
  readonly configuration = true;
}

/** Something the component needs is not there yet (an endpoint, a file): the engine tries again. */
export class NotReadyYetError extends Error {
  readonly notReadyYet = true;
}

export class UnknownComponentError extends Error {
  constructor(
    readonly component: string,
    readonly known: string[],
  ) {
    super(`unknown component "${component}"; known components: ${known.join(", ")}`);
  }
}
