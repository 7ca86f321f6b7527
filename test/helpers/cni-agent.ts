/**
 * A stand-in for the infra agent's CNI side taking pool TAPs for pods, doing to a TAP what
 * k8s-infra-offload pkg/netconf/tap.go setHostInterfaceInPodNetns + configureTapNamespace do: set it
 * down, set its MTU, move it into the pod's network namespace, rename it (eth0), bring it up and give
 * it the pod's address. It picks TAPs as pkg/utils GetTapInterfaces finds them: links named with the
 * pool prefix in the host (here: the datapath's) namespace. A pod deletion deletes the pod's
 * namespace, and with it the TAP (the kernel destroys a tun device whose namespace goes away).
 */
import { execFileSync } from "node:child_process";
import { listLinks } from "../../daemon/host/links";

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

export interface Pod {
  netns: string;
  /** The pool name of the TAP it got. */
  tap: string;
  mac: string | null;
  address: string;
}

export class CniAgent {
  private serial = 0;
  readonly pods: Pod[] = [];

  constructor(
    /** The namespace the pool's TAPs are in (the daemon's datapath namespace; null: ours). */
    private readonly hostNetns: string | null,
    private readonly prefix = "P4TAP_",
    private readonly mtu = 1450,
  ) {}

  private hostIp(...args: string[]): string {
    return this.hostNetns ? ip("-n", this.hostNetns, ...args) : ip(...args);
  }

  /** The pool TAPs in the host namespace, as GetTapInterfaces lists them (name prefix). */
  async available(): Promise<string[]> {
    return (await listLinks(this.hostNetns))
      .filter((l) => l.name.startsWith(this.prefix))
      .map((l) => l.name)
      .sort((a, b) => Number(a.slice(this.prefix.length)) - Number(b.slice(this.prefix.length)));
  }

  /** Add a pod: take `tap` (or the first available) into a new namespace as eth0. */
  async addPod(tap?: string): Promise<Pod> {
    const name = tap ?? (await this.available())[0];
    if (!name) throw new Error("no pool TAP available");
    const n = ++this.serial;
    const netns = `cni-pod-${process.pid}-${n}`;
    const address = `10.244.0.${10 + n}/32`;
    const mac = (await listLinks(this.hostNetns)).find((l) => l.name === name)?.mac ?? null;
    ip("netns", "add", netns);
    this.hostIp("link", "set", "dev", name, "down");
    this.hostIp("link", "set", "dev", name, "mtu", String(this.mtu));
    this.hostIp("link", "set", "dev", name, "netns", netns);
    ip("-n", netns, "link", "set", "dev", name, "name", "eth0");
    ip("-n", netns, "link", "set", "dev", "eth0", "up");
    ip("-n", netns, "addr", "add", address, "dev", "eth0");
    const pod = { netns, tap: name, mac, address };
    this.pods.push(pod);
    return pod;
  }

  /** Delete a pod: its namespace goes, and the TAP in it is destroyed with it. */
  deletePod(pod: Pod): void {
    ip("netns", "del", pod.netns);
    this.pods.splice(this.pods.indexOf(pod), 1);
  }

  /** Delete every pod this agent made (test cleanup). */
  cleanup(): void {
    for (const p of [...this.pods]) {
      try {
        this.deletePod(p);
      } catch {}
    }
  }
}
