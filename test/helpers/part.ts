/**
 * A small in-memory component for tests of the engine and the API (which are generic over
 * components): ready after `probesToReady` probes once started; can be held not-ready, made to fail
 * its start, or told it crashed and came back, the way a supervisor reports a child.
 */
import pino from "pino";
import type { Component, ComponentDetails, ComponentSignals, Probe } from "../../daemon/engine/component";
import { Engine } from "../../daemon/engine/engine";

export class Part implements Component {
  running = false;
  probes = 0;
  starts = 0;
  stops = 0;
  restarts = 0;
  /** While false, probes answer not ready. */
  gateOpen = true;
  /** Thrown by start() when set (takes precedence over failStart): e.g. an error with a code. */
  startError: unknown = null;
  /** Thrown by stop() when set. */
  failStop: string | null = null;
  /** While true, probes never answer (a hung target). */
  hangProbe = false;
  signals: ComponentSignals | null = null;
  readonly readiness: string;
  constructor(
    readonly name: string,
    readonly dependsOn: string[] = [],
    public probesToReady = 1,
    public failStart: string | null = null,
    readonly journal: string[] = [],
  ) {
    this.readiness = `${name} to answer`;
  }
  attach(s: ComponentSignals) {
    this.signals = s;
  }
  async start() {
    this.journal.push(`start ${this.name}`);
    this.starts++;
    if (this.startError) throw this.startError;
    if (this.failStart) throw new Error(this.failStart);
    if (!this.running) this.probes = 0;
    this.running = true;
  }
  async probe(): Promise<Probe> {
    this.probes++;
    if (this.hangProbe) return new Promise<Probe>(() => {});
    return this.running && this.gateOpen && this.probes >= this.probesToReady
      ? { ready: true }
      : { ready: false, waitingFor: this.readiness };
  }
  async stop() {
    this.journal.push(`stop ${this.name}`);
    this.stops++;
    if (this.failStop) throw new Error(this.failStop);
    this.running = false;
  }
  details(): ComponentDetails {
    return { pid: this.running ? 4242 : null, restarts: this.restarts, logTail: [], adopted: false };
  }
  /** What a supervisor does when its child dies... */
  crash(reason: string) {
    this.running = false;
    this.signals?.down(this.name, reason);
  }
  /** ...and when it has restarted it. */
  comeBack() {
    this.running = true;
    this.probes = 0;
    this.restarts++;
    this.signals?.restarted(this.name);
  }
}

/** An engine over these parts, with no database and a silent log (tests of the API and its bodies). */
export function partsEngine(parts: Part[], log = pino({ level: "silent" })): Engine {
  return new Engine({
    components: parts,
    store: null,
    log,
    version: "1.2.3-test",
    profile: "test",
    readyTimeoutMs: 5000,
    pollIntervalMs: 5,
  });
}
