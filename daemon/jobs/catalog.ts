/**
 * The node's jobs and their steps, in the guide's order:
 *
 *   init            preflight, datapath-up, start-containerd, wait-ready, kubeadm-init, admin-kubeconfig,
 *                   untaint-control-plane, the deploy (images, deploy-infra, deploy-calico,
 *                   wait-calico-crds, apply-felix-configuration), apply-manifest F (each)
 *   reset           undeploy-felix-configuration, undeploy-calico, undeploy-infra (with kubernetes.deploy),
 *                   undeploy-manifest F (each, last applied first), kubeadm-reset, then post-reset's steps
 *   hook:pre-init   preflight, datapath-up, start-containerd, wait-ready   (reset stopped containerd)
 *   hook:post-init  untaint-control-plane, apply-manifest F (each configured manifest, in order)
 *   hook:pre-reset  the undeploy steps and undeploy-manifest F (each) (what reset does before kubeadm reset)
 *   hook:post-reset remove-directories, remove-pods, stop-services, datapath-down   (what it does after)
 *
 * A step is found by its stored name, so a job resumed by a later daemon runs the same steps, with
 * the manifest paths captured when it was created.
 */
import type { KubernetesConfig } from "../config/types";
import type { DatapathSteps } from "./datapath-steps";
import type { DeploySteps } from "./deploy-steps";
import { HOOK_NAMES, hookKind, INIT_KIND, RESET_KIND } from "./kinds";
import type { KubeSteps } from "./kube-steps";
import { APPLY_STEP, manifestsToUndeploy, UNDEPLOY_STEP } from "./manifests";
import { type JobCatalog, Skip, type StepRun } from "./runner";

const POST_RESET = ["remove-directories", "remove-pods", "stop-services", "datapath-down"];

export interface NodeJobsDeps {
  kube: KubernetesConfig;
  k8s: KubeSteps;
  datapath: DatapathSteps;
  deploy: DeploySteps;
  /** Names of every succeeded step in the job history, oldest first: what post-init applied. */
  succeededSteps: () => string[];
}

export class NodeJobs implements JobCatalog {
  private readonly fixed: Record<string, StepRun>;

  constructor(private readonly d: NodeJobsDeps) {
    const { k8s, datapath } = d;
    this.fixed = {
      ...d.deploy.steps(),
      "start-containerd": () => k8s.startContainerd(),
      "kubeadm-init": () => k8s.kubeadmInit(),
      "admin-kubeconfig": () => k8s.adminKubeconfig(),
      "kubeadm-reset": () => k8s.kubeadmReset(),
      "remove-directories": () => k8s.removeDirs(),
      "remove-pods": () => k8s.removePods(),
      "stop-services": () => k8s.stopServices(),
      "datapath-down": () => datapath.down(),
      preflight: () => datapath.preflight(),
      "datapath-up": () => datapath.up(),
      "wait-ready": () => datapath.waitReady(),
      "untaint-control-plane": () => k8s.untaint(),
      "undeploy-manifests": async () => new Skip("no manifests applied by the daemon or configured"),
      "apply-manifests": async () => new Skip("no manifests configured (kubernetes.manifests)"),
    };
  }

  has(kind: string): boolean {
    return kind === RESET_KIND || kind === INIT_KIND || HOOK_NAMES.some((h) => hookKind(h) === kind);
  }

  plan(kind: string): string[] {
    switch (kind) {
      case RESET_KIND:
        return [...this.undeploySteps(), "kubeadm-reset", ...POST_RESET];
      case INIT_KIND:
        return [
          "preflight",
          "datapath-up",
          "start-containerd",
          "wait-ready",
          "kubeadm-init",
          "admin-kubeconfig",
          "untaint-control-plane",
          ...this.d.deploy.planDeploy(),
          ...this.applySteps(),
        ];
      case hookKind("pre-init"):
        return ["preflight", "datapath-up", "start-containerd", "wait-ready"];
      case hookKind("post-init"):
        return ["untaint-control-plane", ...this.applySteps()];
      case hookKind("pre-reset"):
        return this.undeploySteps();
      case hookKind("post-reset"):
        return [...POST_RESET];
      default:
        throw new Error(`unknown job kind ${JSON.stringify(kind)}`);
    }
  }

  step(_kind: string, name: string): StepRun | null {
    const fixed = this.fixed[name];
    if (fixed) return fixed;
    if (name.startsWith(APPLY_STEP)) return () => this.d.k8s.apply(name.slice(APPLY_STEP.length));
    if (name.startsWith(UNDEPLOY_STEP)) return () => this.d.k8s.undeploy(name.slice(UNDEPLOY_STEP.length));
    return null;
  }

  private applySteps(): string[] {
    const m = this.d.kube.manifests;
    return m.length > 0 ? m.map((f) => APPLY_STEP + f) : ["apply-manifests"];
  }

  /**
   * Captured now: the infra deploy in reverse (with kubernetes.deploy), then what was applied and is
   * still deployed, else the configured manifests.
   */
  private undeploySteps(): string[] {
    const list = manifestsToUndeploy(this.d.succeededSteps(), this.d.kube.manifests);
    const infra = this.d.deploy.planUndeploy();
    if (list.length === 0 && infra.length > 0) return infra;
    return [...infra, ...(list.length > 0 ? list.map((f) => UNDEPLOY_STEP + f) : ["undeploy-manifests"])];
  }
}
