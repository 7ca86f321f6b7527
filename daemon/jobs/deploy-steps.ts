/**
 * The infra components deployed as upstream's Makefile does (k8s-infra-offload v23.01), each step
 * idempotent (apply, and delete with --ignore-not-found):
 *
 *   images                     both images in containerd (crictl inspecti), pulled when missing
 *   deploy-infra               `make deploy`: the kubeconfig ConfigMap the agent mounts
 *                              (create-kubeconfig-cm), kustomize with the images replaced, envsubst,
 *                              `kubectl apply -f -`
 *   deploy-calico              `kubectl apply -f deploy/calico-with-grpc.yaml`
 *   wait-calico-crds           `kubectl wait --for condition=established crd/...`: the CRDs the
 *                              FelixConfiguration needs (applying it before they are established fails)
 *   apply-felix-configuration  `kubectl apply -f deploy/felix-configuration.yaml`
 *
 * and undeployed in reverse (undeploy-felix-configuration, undeploy-calico, undeploy-infra).
 */
import type { DeployConfig, KubernetesConfig } from "../config/types";
import { ADMIN_CONF } from "../host/admin-kubeconfig";
import { ContainerImages } from "../host/container-images";
import type { ExternalTools } from "../host/external-tools";
import { HostFs } from "../host/hostfs";
import {
  CALICO_MANIFEST,
  crdsNeeded,
  FELIX_MANIFEST,
  type ImageOverrides,
  InfraDeploySource,
} from "../host/infra-deploy-source";
import { envsubst } from "./envsubst";
import { Skip, type StepOutcome } from "./runner";

/** upstream Makefile KUBECONFIG_CM: the ConfigMap infraagent-daemonset.yaml mounts as /root/.kube. */
export const KUBECONFIG_CM = "infra-kubeconfig";

export const DEPLOY_STEPS = ["images", "deploy-infra"] as const;
export const CALICO_STEPS = ["deploy-calico", "wait-calico-crds", "apply-felix-configuration"] as const;
export const UNDEPLOY_STEPS = ["undeploy-felix-configuration", "undeploy-calico", "undeploy-infra"] as const;

export interface DeployStepsDeps {
  kube: KubernetesConfig;
  hostRoot: string;
  tools: ExternalTools;
  /** The environment envsubst reads (the tools' own, as make's would be). */
  env: NodeJS.ProcessEnv;
}

const NOT_CONFIGURED = "kubernetes.deploy is null: nothing to deploy";

export class DeploySteps {
  constructor(private readonly d: DeployStepsDeps) {}

  /** The steps init runs and reset undoes for this configuration. */
  planDeploy(): string[] {
    const dep = this.d.kube.deploy;
    if (!dep) return [];
    return [...DEPLOY_STEPS, ...(dep.calico ? CALICO_STEPS : [])];
  }

  planUndeploy(): string[] {
    const dep = this.d.kube.deploy;
    if (!dep) return [];
    return dep.calico ? [...UNDEPLOY_STEPS] : ["undeploy-infra"];
  }

  /** Each step by name; with kubernetes.deploy null (changed since the job was made) each is skipped. */
  steps(): Record<string, () => Promise<StepOutcome>> {
    const steps: Record<string, () => Promise<StepOutcome>> = {
      images: () => this.imagesStep(),
      "deploy-infra": () => this.infra("apply"),
      "deploy-calico": () => this.manifest("apply", CALICO_MANIFEST),
      "wait-calico-crds": () => this.waitCrds(),
      "apply-felix-configuration": () => this.manifest("apply", FELIX_MANIFEST),
      "undeploy-felix-configuration": () => this.manifest("delete", FELIX_MANIFEST),
      "undeploy-calico": () => this.manifest("delete", CALICO_MANIFEST),
      "undeploy-infra": () => this.infra("delete"),
    };
    for (const [name, run] of Object.entries(steps))
      steps[name] = async () => (this.d.kube.deploy ? run() : new Skip(NOT_CONFIGURED));
    return steps;
  }

  private images(): ImageOverrides {
    const dep = this.configured();
    return { infraagent: dep.infraAgentImage, inframanager: dep.infraManagerImage };
  }

  private source(): InfraDeploySource {
    return new InfraDeploySource(this.configured().source, this.d.tools);
  }

  private configured(): DeployConfig {
    const dep = this.d.kube.deploy;
    if (!dep) throw new Error(NOT_CONFIGURED);
    return dep;
  }

  private kubectl(args: string[]): string[] {
    return this.d.kube.kubeconfig ? ["--kubeconfig", this.d.kube.kubeconfig, ...args] : args;
  }

  /** Both images in containerd; the missing ones pulled (a registry that cannot be reached is named). */
  private async imagesStep(): Promise<StepOutcome> {
    const want = this.images();
    const r = await new ContainerImages(this.d.tools).ensure([want.infraagent, want.inframanager]);
    return [
      r.pulled.length > 0 ? `pulled ${r.pulled.join(", ")}` : "",
      r.present.length > 0 ? `already in containerd: ${r.present.join(", ")}` : "",
    ]
      .filter(Boolean)
      .join("; ");
  }

  /**
   * `make deploy` (or undeploy): the kubeconfig ConfigMap, then the kustomize output with the images
   * replaced and environment variables substituted, through kubectl's stdin.
   */
  private async infra(verb: "apply" | "delete"): Promise<StepOutcome> {
    const images = this.images();
    const src = this.source();
    const rendered = await src.render(images);
    const env = {
      ...this.d.env,
      INFRAAGENT_IMAGE: images.infraagent,
      INFRAMANAGER_IMAGE: images.inframanager,
    };
    const sub = envsubst(rendered, env);
    const text = `${this.kubeconfigMap(verb)}---\n${sub.text}`;
    const args = verb === "apply" ? ["apply", "-f", "-"] : ["delete", "-f", "-", "--ignore-not-found"];
    await this.d.tools.must("kubectl", this.kubectl(args), text);
    const objects = (sub.text.match(/^kind: /gm) ?? []).length + 1;
    const vars =
      sub.unset.length > 0
        ? `; unset variables substituted empty, as envsubst does: ${sub.unset.join(", ")}`
        : "";
    return verb === "apply"
      ? `applied ${objects} objects of ${src.dir} (images ${images.infraagent}, ${images.inframanager}; ConfigMap ${KUBECONFIG_CM})${vars}`
      : `deleted the ${objects} objects of ${src.dir} (ConfigMap ${KUBECONFIG_CM} too)`;
  }

  /** upstream create-kubeconfig-cm: the admin kubeconfig as kube-system/infra-kubeconfig, key "config". */
  private kubeconfigMap(verb: "apply" | "delete"): string {
    const file = this.d.kube.kubeconfig ?? ADMIN_CONF;
    let data: Record<string, string> = {};
    if (verb === "apply") {
      const text = new HostFs(this.d.hostRoot).read(file);
      if (text === null)
        throw new Error(`${file} not found: the infra agent's ConfigMap ${KUBECONFIG_CM} is made from it`);
      data = { config: text };
    }
    const cm = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: KUBECONFIG_CM, namespace: "kube-system" },
      data,
    };
    return `${JSON.stringify(cm)}\n`;
  }

  private async manifest(verb: "apply" | "delete", name: string): Promise<StepOutcome> {
    const file = this.source().file(name);
    if (verb === "apply") {
      await this.d.tools.must("kubectl", this.kubectl(["apply", "-f", file]));
      return `applied ${file}`;
    }
    await this.d.tools.must("kubectl", this.kubectl(["delete", "-f", file, "--ignore-not-found"]));
    return `deleted the objects of ${file}`;
  }

  /** The CRDs the FelixConfiguration's kinds are defined by, in Calico's manifest, established. */
  private async waitCrds(): Promise<StepOutcome> {
    const dep = this.configured();
    const src = this.source();
    const crds = crdsNeeded(src.read(FELIX_MANIFEST), src.read(CALICO_MANIFEST));
    if (crds.length === 0) {
      throw new Error(
        `${src.file(CALICO_MANIFEST)} defines no CRD for the kinds of ${src.file(FELIX_MANIFEST)}`,
      );
    }
    await this.d.tools.must(
      "kubectl",
      this.kubectl([
        "wait",
        "--for",
        "condition=established",
        `--timeout=${dep.crdTimeoutSec}s`,
        ...crds.map((c) => `crd/${c}`),
      ]),
    );
    return `established: ${crds.join(", ")}`;
  }
}
