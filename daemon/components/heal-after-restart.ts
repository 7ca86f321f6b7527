/**
 * Healing after a P4 target restart. Every DPDK TAP and the loaded pipeline die with ovs-vswitchd; the
 * pool makes its ports again, but the infra manager (which pushed the pipeline) and every pod that held
 * a pool TAP stay broken. Each time the pool finds its ports dead the daemon counts a new datapath
 * generation (SQLite, before the pool is made again), then, once per generation:
 *
 * - report (kubernetes.healAfterTargetRestart, default): an event names the lost TAPs with the pods that
 *   held them, found by the netns each TAP was last seen in (crictl pods / inspectp);
 * - recreate: also deletes this node's infra manager pod (its DaemonSet makes a new one, which pushes
 *   the pipeline again) and those pods, through kubectl with the node's field selector, and says what
 *   it deleted.
 *
 * A generation is 'pending' until its heal starts deleting, 'healing' while it deletes, then 'done': a
 * daemon killed before the deletions does the heal at its next start; one killed during them does
 * not delete again (never twice per generation) and says so.
 *
 * crictl and kubectl run as the daemon's recorded step processes (daemon/host/step-process.ts, shared
 * with the jobs): daemon stop ends them, and a daemon killed meanwhile leaves them to the next one,
 * which ends them before any heal runs again. A heal cut short by daemon stop is not finished: the
 * generation stays pending (looked at again next start) or healing (said, not deleted again).
 */
import type { Logger } from "pino";
import type { KubernetesConfig } from "../config/types";
import type { EventKind } from "../engine/component";
import { describeFailure } from "../host/command";
import type { ExternalTools } from "../host/external-tools";
import { defaultNodeName, type PodRef, podsByNetns } from "../host/pod-sandboxes";
import type { DatapathGeneration, StateStore } from "../state/store";

/** upstream deploy/inframanager-daemonset.yaml: namespace and pod label of the infra manager. */
export const MANAGER_NAMESPACE = "kube-system";
export const MANAGER_LABEL = "name=inframanager";

export interface HealDeps {
  store: StateStore;
  kube: KubernetesConfig;
  /** Runs through the daemon's recorded step processes (never part of a job step). */
  tools: ExternalTools;
  /** Resolves once the tools an earlier daemon left running are ended (JobRunner.leftoversEnded). */
  leftoversEnded?: () => Promise<void>;
  /** A line in the node's history (component "taps"). */
  emit: (kind: EventKind, message: string) => void;
  log: Logger;
}

export class HealAfterRestart {
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly d: HealDeps) {}

  /** TapPoolOptions.onPortsDied: a new generation, recorded now; its heal runs in the background. */
  portsDied(podTaps: { tap: string; netns: string | null }[]): void {
    const gen = this.d.store.addDatapathGeneration(podTaps, podTaps.length > 0 ? "pending" : "none");
    this.d.log.info({ generation: gen.generation, podTaps: podTaps.length }, "new datapath generation");
    if (gen.healState === "pending") this.schedule(gen);
  }

  /** At start: the heals an earlier daemon recorded but did not finish. */
  resumePending(): void {
    for (const gen of this.d.store.pendingHeals()) this.schedule(gen);
  }

  /**
   * Daemon stop (before the step processes are ended): a heal running now ends without finishing its
   * generation, and no other starts. Safe without being awaited.
   */
  stop(): void {
    this.stopped = true;
  }

  /** Resolves when every scheduled heal has ended (tests, shutdown). */
  idle(): Promise<void> {
    return this.queue;
  }

  private schedule(gen: DatapathGeneration): void {
    const run = async () => {
      // Never next to an earlier daemon's crictl or kubectl still running.
      await this.d.leftoversEnded?.();
      if (!this.stopped) await this.heal(gen);
    };
    this.queue = this.queue.then(() =>
      run().catch((err: unknown) => {
        this.d.log.error(
          { err: String(err), generation: gen.generation },
          "heal after target restart failed",
        );
      }),
    );
  }

  private async heal(gen: DatapathGeneration): Promise<void> {
    if (gen.healState === "healing") {
      const msg = `datapath generation ${gen.generation}: an earlier daemon stopped while deleting pods for it; not deleted again (at most once per generation)`;
      this.d.emit("warning", msg);
      this.d.store.finishHeal(gen.generation, msg);
      return;
    }
    const pods = await this.findPods(gen);
    if (this.stopped) return; // still pending: the next daemon looks again
    const held = gen.lost.map((l) => {
      const pod = l.netns ? pods.found.get(l.netns) : undefined;
      const where = l.netns ? `netns ${l.netns}` : "netns not known";
      return {
        ...l,
        pod,
        text: `${l.tap} (${where}, ${pod ? `pod ${pod.namespace}/${pod.name}` : "no pod found"})`,
      };
    });
    const head = `the P4 target restarted (datapath generation ${gen.generation}): pods lost their TAPs ${held.map((h) => h.text).join(", ")}`;
    const lookup = pods.error ? `; pods not looked up: ${pods.error}` : "";
    if (this.d.kube.healAfterTargetRestart === "report") {
      const msg = `${head}${lookup}; those pods and the infra manager need to be recreated (kubernetes.healAfterTargetRestart: report)`;
      this.d.emit("warning", msg);
      this.d.store.finishHeal(gen.generation, msg);
      return;
    }
    this.d.emit("warning", `${head}${lookup}; recreating them (kubernetes.healAfterTargetRestart: recreate)`);
    this.d.store.startHeal(gen.generation);
    const node = this.d.kube.nodeName ?? defaultNodeName();
    const targets = held.flatMap((h) => (h.pod ? [h.pod] : []));
    const done: string[] = [];
    const failed: string[] = [];
    const del = async (what: string, args: string[]) => {
      if (this.stopped) return;
      try {
        const r = await this.d.tools.run("kubectl", this.kubectl(args));
        if (r.code === 0) done.push(what);
        else failed.push(describeFailure(r.argv, r));
      } catch (err) {
        failed.push(err instanceof Error ? err.message : String(err));
      }
    };
    const onNode = `spec.nodeName=${node}`;
    await del(`infra manager pod (${MANAGER_NAMESPACE}, ${MANAGER_LABEL})`, [
      ...["delete", "pods", "-n", MANAGER_NAMESPACE, "-l", MANAGER_LABEL],
      ...["--field-selector", onNode, "--ignore-not-found"],
    ]);
    for (const p of unique(targets)) {
      await del(`pod ${p.namespace}/${p.name}`, [
        ...["delete", "pods", "-n", p.namespace],
        ...["--field-selector", `metadata.name=${p.name},${onNode}`, "--ignore-not-found"],
      ]);
    }
    if (this.stopped) {
      // Still healing: the next daemon says what it could not know (which deletions happened).
      this.d.log.warn({ generation: gen.generation, deleted: done }, "heal cut short by daemon stop");
      return;
    }
    const msg =
      `datapath generation ${gen.generation}: deleted on node ${node}: ${done.length > 0 ? done.join(", ") : "nothing"}` +
      (failed.length > 0 ? `; failed: ${failed.join("; ")}` : "");
    this.d.emit(failed.length > 0 ? "error" : "warning", msg);
    this.d.store.finishHeal(gen.generation, msg);
  }

  private async findPods(
    gen: DatapathGeneration,
  ): Promise<{ found: Map<string, PodRef>; error: string | null }> {
    if (!gen.lost.some((l) => l.netns)) return { found: new Map(), error: null };
    try {
      return { found: await podsByNetns(this.d.tools), error: null };
    } catch (err) {
      return { found: new Map(), error: err instanceof Error ? err.message : String(err) };
    }
  }

  private kubectl(args: string[]): string[] {
    return this.d.kube.kubeconfig ? ["--kubeconfig", this.d.kube.kubeconfig, ...args] : args;
  }
}

function unique(pods: PodRef[]): PodRef[] {
  const seen = new Set<string>();
  return pods.filter((p) => {
    const k = `${p.namespace}/${p.name}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
