/**
 * Where the pool's TAPs are when they are not in the datapath's namespace, and which "datapath
 * generation" the kernel is in.
 *
 * The infra agent takes a pool TAP for a pod (k8s-infra-offload pkg/netconf/tap.go
 * setHostInterfaceInPodNetns): down, MTU, moved into the pod's netns, renamed (eth0), addressed,
 * up. Neither a move between namespaces nor a rename changes a link's MAC address, so a TAP is found
 * again by the MAC it had in the datapath namespace. Pod namespaces made through CNI are named
 * (containerd's are /run/netns/cni-<id>; iproute2's `ip netns` uses the same directory), so the
 * search lists the links of each named namespace: one `ip -n NS -j -d link show` per namespace,
 * run only when a TAP left and its place is not known yet (or was asked for).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { listLinks } from "./links";
import { isNetnsMount } from "./netns";

/** iproute2's NETNS_RUN_DIR: where `ip netns add` (and CNI runtimes) bind-mount named namespaces. */
export const NETNS_DIR = "/run/netns";

const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/** The named network namespaces (names that are safe as an `ip -n` argument). */
export function namedNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR).filter((n) => NETNS_NAME.test(n));
  } catch {
    return []; // no namespace was ever named on this host
  }
}

export function netnsExists(name: string): boolean {
  return NETNS_NAME.test(name) && isNetnsMount(`${NETNS_DIR}/${name}`);
}

export interface FoundTap {
  netns: string;
  name: string;
  mac: string;
  ifindex: number;
  operState: string;
}

/**
 * Find TAP links with one of `macs` in the named namespaces other than `exclude` (the datapath's,
 * already listed by the caller). At most `parallel` listings run at once. A namespace deleted while
 * it is listed is skipped.
 */
export async function findTapsByMac(
  macs: ReadonlySet<string>,
  exclude: string | null,
  parallel = 8,
): Promise<Map<string, FoundTap>> {
  const found = new Map<string, FoundTap>();
  if (macs.size === 0) return found;
  const spaces = namedNetns().filter((n) => n !== exclude);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < spaces.length && found.size < macs.size) {
      const ns = spaces[next++] as string;
      let links: Awaited<ReturnType<typeof listLinks>>;
      try {
        links = await listLinks(ns, { once: true });
      } catch {
        continue; // gone meanwhile (a pod deleted), or not a network namespace
      }
      for (const l of links) {
        if (l.kind === "tap" && l.mac && macs.has(l.mac)) {
          found.set(l.mac, {
            netns: ns,
            name: l.name,
            mac: l.mac,
            ifindex: l.ifindex,
            operState: l.operState,
          });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, spaces.length) }, worker));
  return found;
}

/**
 * The kernel side's generation: this boot, and this instance of the datapath's namespace (its nsfs
 * inode; the host's own namespace when null). Kernel TAPs made in another generation are gone
 * (a reboot, or the namespace deleted and made again); within one generation a TAP the daemon made
 * that is not in the namespace any more was moved out (or destroyed), not "never made".
 */
export function kernelGeneration(netns: string | null): string {
  let boot = "unknown-boot";
  try {
    boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {}
  const nsPath = netns ? `${NETNS_DIR}/${netns}` : "/proc/self/ns/net";
  let ns = "unknown-netns";
  try {
    const st = statSync(nsPath);
    ns = `${st.dev}:${st.ino}`;
  } catch {}
  return `${boot}/${ns}`;
}
