/**
 * What systemd hears while the datapath starts: the READY=1 / STATUS= / EXTEND_TIMEOUT_USEC= policy
 * of a Type=notify unit, kept beside the notifier that sends it (sd-notify.ts).
 *
 * - STATUS= on every phase change of the node (the engine's "phase" event), with what is going on.
 * - READY=1 once, when the node's phase is ready (or, desired down, once nothing of the datapath
 *   runs: downSettled()) AND the API listens (apiListening()), never while a stop is asked. The
 *   datapath starts while the API is being built, so it may be ready first: READY=1 then waits for
 *   the API, because READY=1 tells systemd (and kubelet's drop-in, `k8s-offloadctl wait`) that the
 *   daemon's API is there to ask.
 * - Until READY=1, progress extends systemd's start timeout by extendUsec (twice one component's ready
 *   timeout: its start and its probes). Progress is one more component ready than ever before (or,
 *   desired down, any step of that stop). A long bring-up that keeps moving is not killed by
 *   TimeoutStartSec=; one that only retries the same failure (a missing binary, a target that never
 *   answers) is, and Restart= tries a fresh daemon.
 */
import type { EngineApi, NodeStatus } from "../engine/component";
import type { SystemdNotifier } from "./sd-notify";

export interface ReadinessOptions {
  /** EXTEND_TIMEOUT_USEC= sent on each step of progress before READY=1. */
  extendUsec: number;
  /** The datapath stays down (the stored desired state): READY=1 comes from downSettled(). */
  keepDown: boolean;
  /** True once the daemon was asked to stop: READY=1 is not sent any more. */
  stopAsked: () => boolean;
}

/** Follows the engine's phases into sd_notify messages; says "starting" at once. */
export class SystemdReadiness {
  private readySent = false;
  private listening = false;
  /** Ready (or down settled) before the API listened: READY=1 with this STATUS= once it does. */
  private held: string | null = null;
  private phase = "starting";
  private mostReady = 0;

  constructor(
    private readonly notifier: SystemdNotifier,
    engine: Pick<EngineApi, "on">,
    private readonly opts: ReadinessOptions,
  ) {
    engine.on("phase", (s) => {
      this.phase = s.phase;
      if (s.phase === "ready" && !opts.stopAsked()) this.sendReady(s.message);
      else {
        this.held = null;
        notifier.status(s.message);
      }
      this.progress(s);
    });
    engine.on("event", () => {
      if (opts.keepDown) this.progress(null);
    });
    notifier.status(
      opts.keepDown ? "starting: the datapath stays down" : "starting: bringing up the datapath",
    );
  }

  /**
   * Down by request, the daemon itself is up once nothing of the datapath runs: READY=1 with a STATUS=
   * saying why and how to bring it up (kubelet's drop-in keeps waiting for the datapath).
   */
  downSettled(s: NodeStatus): void {
    if (s.phase === "stopped" && !this.opts.stopAsked()) this.sendReady(s.message);
  }

  /** The API listens (TCP, and the unix socket when configured): READY=1 may go from now on. */
  apiListening(): void {
    this.listening = true;
    if (this.held !== null && !this.opts.stopAsked()) this.sendReady(this.held);
  }

  private sendReady(message: string): void {
    if (!this.listening) {
      this.held = message;
      this.notifier.status(message);
      return;
    }
    this.held = null;
    this.readySent = this.notifier.ready(message) || this.readySent;
  }

  private progress(s: { components: { state: string }[] } | null): void {
    if (this.readySent) return;
    const { notifier, opts } = this;
    if (opts.keepDown && this.phase === "stopped") {
      notifier.extendTimeout(opts.extendUsec);
      return;
    }
    if (this.phase !== "starting" && this.phase !== "failed") return;
    const ready = s ? s.components.filter((c) => c.state === "ready").length : 0;
    if (ready > this.mostReady) {
      this.mostReady = ready;
      notifier.extendTimeout(opts.extendUsec);
    }
  }
}
