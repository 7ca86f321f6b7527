import type { Logger } from "pino";
import type { SupervisorConfig } from "../config/types";
import type { Component, ComponentDetails, ComponentSignals, EventKind, Probe } from "../engine/component";
import { type ProcessSpec, Supervisor } from "../engine/supervisor";
import type { StateStore } from "../state/store";

export interface ProcessComponentSpec extends ProcessSpec {
  dependsOn: string[];
  /** What ready means, in words: the engine's timeout message says it was waited for. */
  readiness: string;
  /**
   * Runs before a fresh spawn (not before an adoption), e.g. creating the OVS database; `note` puts
   * what it did in the node's event history.
   */
  prepare?: (note: (kind: EventKind, message: string) => void) => Promise<void>;
  /** Readiness of the running process: what "ready" means for this program. */
  probe: () => Promise<Probe>;
}

/** A component that is one supervised long-running process. */
export class ProcessComponent implements Component {
  readonly name: string;
  readonly dependsOn: string[];
  readonly readiness: string;
  private readonly supervisor: Supervisor;
  private signals: ComponentSignals | null = null;

  constructor(
    private readonly spec: ProcessComponentSpec,
    policy: SupervisorConfig,
    store: StateStore | null,
    log: Logger,
  ) {
    this.name = spec.name;
    this.dependsOn = spec.dependsOn;
    this.readiness = spec.readiness;
    this.supervisor = new Supervisor(spec, policy, store, log);
  }

  attach(signals: ComponentSignals): void {
    this.signals = signals;
    this.supervisor.attach(signals);
  }

  async start(): Promise<void> {
    const prepare = this.spec.prepare;
    // Only before a spawn: the supervisor adopts a running child without it.
    await this.supervisor.ensureRunning(
      prepare ? () => prepare((kind, message) => this.signals?.note(this.name, kind, message)) : undefined,
    );
  }

  probe(): Promise<Probe> {
    if (!this.supervisor.running) {
      return Promise.resolve({ ready: false, waitingFor: `the ${this.name} process to run` });
    }
    return this.spec.probe();
  }

  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  detach(): void {
    this.supervisor.detach();
  }

  details(): ComponentDetails {
    const s = this.supervisor;
    return { pid: s.pid, restarts: s.restarts, logTail: s.logTail, adopted: s.adopted };
  }
}
