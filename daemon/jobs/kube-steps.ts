/**
 * The guide's Kubernetes steps (docs/architecture.md#teardown, and the post-init taint and manifests), each
 * idempotent: run twice, it does no harm and ends the same way. Tools are found in the configured PATH;
 * a missing one fails only its own step.
 */
import { join } from "node:path";
import type { KubernetesConfig } from "../config/types";
import { ADMIN_CONF, AdminKubeconfig } from "../host/admin-kubeconfig";
import { describeFailure } from "../host/command";
import type { ExternalTools } from "../host/external-tools";
import { daemonHome, removeHostDirs } from "../host/host-dirs";
import { Skip, type StepOutcome } from "./runner";

/** The directories the guide removes after `kubeadm reset` (plus $HOME/.kube): these and nothing else. */
export const K8S_DIRS = [
  "/etc/cni",
  "/etc/kubernetes",
  "/var/lib/etcd",
  "/var/lib/kubelet",
  "/var/lib/cni",
  "/var/run/kubernetes",
] as const;

const CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane";
/** What `crictl pods -q` prints: container runtime ids (hex); never something that reads as a flag. */
const POD_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export interface KubeStepsDeps {
  kube: KubernetesConfig;
  /** host.podCIDR and host.serviceCIDR: what `kubeadm init` is given. */
  cidrs?: { pod: string; service: string };
  /** host.root: the directories are removed below it. */
  hostRoot: string;
  tools: ExternalTools;
}

export class KubeSteps {
  constructor(private readonly d: KubeStepsDeps) {}

  /** `kubectl delete -f F --ignore-not-found`: deleting what is already gone succeeds. */
  async undeploy(manifest: string): Promise<StepOutcome> {
    await this.d.tools.must("kubectl", this.kubectl(["delete", "-f", manifest, "--ignore-not-found"]));
    return `deleted the objects of ${manifest}`;
  }

  async apply(manifest: string): Promise<StepOutcome> {
    await this.d.tools.must("kubectl", this.kubectl(["apply", "-f", manifest]));
    return `applied ${manifest}`;
  }

  /** Single-node install: pods may run on the control plane. A taint already gone is fine. */
  async untaint(): Promise<StepOutcome> {
    if (!this.d.kube.singleNode) return new Skip("not a single-node install (kubernetes.singleNode: false)");
    const r = await this.d.tools.run(
      "kubectl",
      this.kubectl(["taint", "nodes", "--all", `${CONTROL_PLANE_TAINT}-`]),
    );
    if (r.code === 0) return `removed the ${CONTROL_PLANE_TAINT} taint`;
    if (/not found/i.test(`${r.stderr}\n${r.stdout}`))
      return `the ${CONTROL_PLANE_TAINT} taint was not there`;
    throw new Error(describeFailure(r.argv, r));
  }

  /** The guide starts containerd before kubeadm init (`systemctl enable --now` is a no-op when it runs). */
  async startContainerd(): Promise<StepOutcome> {
    await this.d.tools.must("systemctl", ["enable", "--now", "containerd"]);
    return "containerd enabled and started (systemctl enable --now containerd)";
  }

  /**
   * `kubeadm init --pod-network-cidr P --service-cidr S ARGS...`, skipped when admin.conf is there (a
   * cluster was made: kubeadm would refuse the second init). A kubeadm init cut short after it wrote
   * admin.conf is also taken as done; `k8s-offloadctl reset` starts over.
   */
  async kubeadmInit(): Promise<StepOutcome> {
    if (new AdminKubeconfig(this.d.hostRoot).initDone())
      return new Skip(`kubeadm init already done: ${ADMIN_CONF} exists`);
    const c = this.d.cidrs;
    if (!c) throw new Error("no CIDRs given to kubeadm init");
    const args = [
      "init",
      "--pod-network-cidr",
      c.pod,
      "--service-cidr",
      c.service,
      ...this.d.kube.kubeadmInitArgs,
    ];
    await this.d.tools.must("kubeadm", args);
    return `kubeadm ${args.join(" ")} done`;
  }

  /** The guide's mkdir/cp/chown of admin.conf into the configured user's ~/.kube/config. */
  async adminKubeconfig(): Promise<StepOutcome> {
    const user = this.d.kube.kubeconfigUser;
    if (user === null) return new Skip("kubernetes.kubeconfigUser is null: no ~/.kube/config written");
    const r = new AdminKubeconfig(this.d.hostRoot).copyFor(user);
    return r.how === "copied"
      ? `copied ${ADMIN_CONF} to ${r.file} (owner ${r.owner}, mode 0600)`
      : `${r.file} already has ${ADMIN_CONF}'s content (owner ${r.owner})`;
  }

  async kubeadmReset(): Promise<StepOutcome> {
    await this.d.tools.must("kubeadm", ["reset", "-f"]);
    return "kubeadm reset -f done";
  }

  /** Removes K8S_DIRS and $HOME/.kube below host.root; goes on past one it cannot remove. */
  async removeDirs(): Promise<StepOutcome> {
    const dirs = [...K8S_DIRS, join(daemonHome(), ".kube")];
    const r = removeHostDirs(this.d.hostRoot, dirs);
    const said = [
      r.removed.length > 0 ? `removed ${r.removed.join(", ")}` : "",
      r.absent.length > 0 ? `not present: ${r.absent.join(", ")}` : "",
    ].filter(Boolean);
    if (r.errors.length > 0) throw new Error([...r.errors, ...said].join("; "));
    return said.join("; ");
  }

  /** Every pod left in the container runtime: `crictl stopp ID` then `crictl rmp ID`, each pod in turn. */
  async removePods(): Promise<StepOutcome> {
    const out = await this.d.tools.must("crictl", ["pods", "-q"]);
    const ids = out
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
    if (ids.length === 0) return "no pods left";
    const problems: string[] = [];
    for (const id of ids) {
      if (!POD_ID.test(id)) {
        problems.push(`crictl pods -q printed ${JSON.stringify(id.slice(0, 80))}, not a pod id`);
        continue;
      }
      for (const verb of ["stopp", "rmp"]) {
        const r = await this.d.tools.run("crictl", [verb, id]);
        if (r.code !== 0) problems.push(describeFailure(r.argv, r));
      }
    }
    if (problems.length > 0) throw new Error(problems.join("; "));
    return `stopped and removed ${ids.length} pod${ids.length === 1 ? "" : "s"}`;
  }

  async stopServices(): Promise<StepOutcome> {
    await this.d.tools.must("systemctl", ["stop", "kubelet", "containerd"]);
    return "kubelet and containerd stopped";
  }

  private kubectl(args: string[]): string[] {
    return this.d.kube.kubeconfig ? ["--kubeconfig", this.d.kube.kubeconfig, ...args] : args;
  }
}
