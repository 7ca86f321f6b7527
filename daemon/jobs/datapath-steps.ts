/**
 * Job steps that drive the daemon's own datapath through the engine: preflight, bring-up, waiting for
 * ready (pre-init) and taking it down with the TAPs it created (the end of a reset).
 */
import type { EngineApi, NodeStatus } from "../engine/component";
import type { PreflightApi } from "../preflight";
import type { StepOutcome } from "./runner";

export type JobEngine = Pick<EngineApi, "status" | "up" | "down" | "waitReady" | "on" | "off">;

export interface DatapathStepsDeps {
  engine: JobEngine;
  preflight: PreflightApi;
  /** Names of the TAPs the daemon recorded as created by it. */
  ourTaps: () => string[];
  /** How long wait-ready waits for the node to be ready. */
  readyTimeoutMs: number;
}

export class DatapathSteps {
  constructor(private readonly d: DatapathStepsDeps) {}

  /** The host checks; a failing one fails the step (bring-up would stop at it anyway). */
  async preflight(): Promise<StepOutcome> {
    const checks = await this.d.preflight.run();
    const say = (status: string) =>
      checks
        .filter((c) => c.status === status)
        .map((c) => `${c.id} (observed ${c.observed}; expected ${c.expected})`);
    const failed = say("fail");
    if (failed.length > 0) throw new Error(`failed checks: ${failed.join("; ")}`);
    const warned = say("warn");
    const passed = checks.filter((c) => c.status === "pass").length;
    return `${passed} of ${checks.length} checks passed${warned.length > 0 ? `; warnings: ${warned.join("; ")}` : ""}`;
  }

  /** Starts what is not running (after a reset or a datapath down); a no-op on a node already up. */
  async up(): Promise<StepOutcome> {
    await this.d.engine.up();
    return this.d.engine.status().message;
  }

  /** Blocks until every component is ready; gives up at once when the node fails or is stopped. */
  async waitReady(): Promise<StepOutcome> {
    const { engine } = this.d;
    const hopeless = (s: NodeStatus) => s.phase === "failed" || s.phase === "stopped";
    const now = engine.status();
    if (hopeless(now)) throw new Error(now.message);
    const abort = new AbortController();
    const onPhase = (s: NodeStatus) => {
      if (hopeless(s)) abort.abort();
    };
    engine.on("phase", onPhase);
    try {
      const ready = await engine.waitReady(this.d.readyTimeoutMs, abort.signal);
      const s = engine.status();
      if (ready) return s.message;
      if (abort.signal.aborted) throw new Error(s.message);
      throw new Error(`not ready after ${Math.round(this.d.readyTimeoutMs / 1000)} s: ${s.message}`);
    } finally {
      engine.off("phase", onPhase);
    }
  }

  /**
   * Stops the ARP proxy, the host interface, the TAP pool (removing the TAPs the daemon recorded as
   * its own, nothing else), the P4 target and OVS, in reverse dependency order.
   */
  async down(): Promise<StepOutcome> {
    const ours = this.d.ourTaps();
    await this.d.engine.down();
    const s = this.d.engine.status();
    const failed = s.components.filter((c) => c.lastError?.startsWith("stop failed"));
    if (failed.length > 0) throw new Error(failed.map((c) => `${c.name}: ${c.lastError}`).join("; "));
    const stopped = s.components.map((c) => c.name).reverse();
    const taps = ours.length > 0 ? `; TAPs created by the daemon removed: ${ours.join(", ")}` : "";
    return `stopped ${stopped.join(", ")}${taps}`;
  }
}
