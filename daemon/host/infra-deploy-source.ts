/**
 * The k8s-infra-offload deploy/ directory (upstream tag v23.01: kustomization.yaml with the infra
 * agent and manager manifests, calico-with-grpc.yaml, felix-configuration.yaml) and its rendering as
 * `make deploy` does it:
 *
 *   cd deploy && kustomize edit set image infraagent:latest=$(INFRAAGENT_IMAGE) && ... inframanager ...
 *   kustomize build deploy | envsubst | kubectl apply -f -
 *
 * without editing the checkout: a temporary overlay kustomization is written next to the deploy
 * directory (`bases:` the directory, `images:` the two overrides) and built with kubectl's own
 * kustomize (`kubectl kustomize OVERLAY`, which needs no cluster), then removed. `bases:` rather than
 * a directory in `resources:` because Debian's kubectl 1.20 carries kustomize v2.0.3, which loads
 * directories only from `bases:`; kustomize v5 (kubectl 1.32) still reads it (with a deprecation
 * warning on stderr).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseAllDocuments } from "yaml";
import { describeFailure } from "./command";
import type { ExternalTools } from "./external-tools";
import { isDirectory } from "./hostfs";

export const CALICO_MANIFEST = "calico-with-grpc.yaml";
export const FELIX_MANIFEST = "felix-configuration.yaml";

/** The image names upstream's manifests use (`image: infraagent:latest`), and their overrides. */
export interface ImageOverrides {
  infraagent: string;
  inframanager: string;
}

/** An image reference split as kustomize's `images:` entry wants it. */
export function imageEntry(name: string, ref: string): Record<string, string> {
  const at = ref.indexOf("@");
  if (at >= 0) return { name, newName: ref.slice(0, at), digest: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(":");
  if (colon > ref.lastIndexOf("/"))
    return { name, newName: ref.slice(0, colon), newTag: ref.slice(colon + 1) };
  return { name, newName: ref };
}

/** The overlay kustomization: the upstream directory with the two images replaced (JSON is YAML). */
export function overlayKustomization(deployDirName: string, images: ImageOverrides): string {
  const doc = {
    apiVersion: "kustomize.config.k8s.io/v1beta1",
    kind: "Kustomization",
    bases: [`../${deployDirName}`],
    images: [imageEntry("infraagent", images.infraagent), imageEntry("inframanager", images.inframanager)],
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** The deploy directory of `source`: the directory itself when it has kustomization.yaml, else source/deploy. */
export function deployDir(source: string, exists: (p: string) => boolean): string {
  return exists(join(source, "kustomization.yaml")) ? source : join(source, "deploy");
}

/** CRD names (plural.group) the objects of `objectsYaml` need, found in the CRDs of `crdsYaml`. */
export function crdsNeeded(objectsYaml: string, crdsYaml: string): string[] {
  const kinds = new Set<string>();
  for (const doc of parseAllDocuments(objectsYaml)) {
    const o = doc.toJS() as { apiVersion?: string; kind?: string } | null;
    if (o?.apiVersion?.includes("/") && o.kind) kinds.add(`${o.apiVersion.split("/")[0]}/${o.kind}`);
  }
  const names: string[] = [];
  for (const doc of parseAllDocuments(crdsYaml)) {
    const o = doc.toJS() as {
      kind?: string;
      metadata?: { name?: string };
      spec?: { group?: string; names?: { kind?: string } };
    } | null;
    if (o?.kind !== "CustomResourceDefinition" || !o.metadata?.name) continue;
    if (kinds.has(`${o.spec?.group}/${o.spec?.names?.kind}`)) names.push(o.metadata.name);
  }
  return names;
}

export class InfraDeploySource {
  /** The upstream deploy/ directory on this machine. */
  readonly dir: string;

  constructor(
    source: string,
    private readonly tools: ExternalTools,
  ) {
    this.dir = deployDir(source, existsSync);
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  /** Text of a file of the deploy directory; an error naming it when it is not there. */
  read(name: string): string {
    const p = this.file(name);
    try {
      return readFileSync(p, "utf8");
    } catch (err) {
      throw new Error(
        `cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? err} (kubernetes.deploy.source)`,
      );
    }
  }

  /** `kubectl kustomize` of the deploy directory with the images replaced; the overlay is removed after. */
  async render(images: ImageOverrides): Promise<string> {
    if (!isDirectory(this.dir)) {
      throw new Error(
        `${this.dir} is not a directory: kubernetes.deploy.source names the k8s-infra-offload checkout or its deploy/ directory`,
      );
    }
    const overlay = mkdtempSync(join(dirname(this.dir), ".k8s-offloadd-overlay-"));
    try {
      writeFileSync(join(overlay, "kustomization.yaml"), overlayKustomization(basename(this.dir), images));
      const r = await this.tools.run("kubectl", ["kustomize", overlay]);
      if (r.code !== 0) throw new Error(describeFailure(r.argv, r));
      return r.stdout;
    } finally {
      rmSync(overlay, { recursive: true, force: true });
    }
  }
}
