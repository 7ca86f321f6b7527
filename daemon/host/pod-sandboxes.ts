/**
 * Which pod a network namespace belongs to, from the container runtime (CRI, through crictl):
 * `crictl pods -o json` lists the pod sandboxes, `crictl inspectp -o json ID` gives each one's OCI
 * runtime spec, whose network namespace path (/var/run/netns/cni-<uuid> with containerd) names the
 * netns the CNI plugin (the infra agent) moved the pod's TAP into.
 */
import { hostname } from "node:os";
import { basename } from "node:path";
import type { ExternalTools } from "./external-tools";

export interface PodRef {
  id: string;
  name: string;
  namespace: string;
}

/** What `crictl pods -q` / `-o json` give as ids: hex; never something that reads as a flag. */
const POD_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

interface PodList {
  items?: { id?: string; metadata?: { name?: string; namespace?: string } }[];
}
interface PodInspect {
  info?: { runtimeSpec?: { linux?: { namespaces?: { type?: string; path?: string }[] } } };
}

/** The pods of the runtime by the name of their network namespace (basename of its path). */
export async function podsByNetns(tools: ExternalTools): Promise<Map<string, PodRef>> {
  const list = JSON.parse(await tools.must("crictl", ["pods", "-o", "json"])) as PodList;
  const out = new Map<string, PodRef>();
  for (const item of list.items ?? []) {
    const id = item.id ?? "";
    if (!POD_ID.test(id) || !item.metadata?.name) continue;
    const r = await tools.run("crictl", ["inspectp", "-o", "json", id]);
    if (r.code !== 0) continue; // removed meanwhile
    const spec = (JSON.parse(r.stdout) as PodInspect).info?.runtimeSpec;
    const net = spec?.linux?.namespaces?.find((n) => n.type === "network")?.path;
    if (!net) continue; // a host-network pod
    out.set(basename(net), { id, name: item.metadata.name, namespace: item.metadata.namespace ?? "default" });
  }
  return out;
}

/** The node's name as kubeadm gives it by default: the host name, lower-cased. */
export function defaultNodeName(): string {
  return hostname().toLowerCase();
}
