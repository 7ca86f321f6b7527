import { isShared, MOUNTINFO, mountAt } from "../../host/mounts";
import type { Check, CheckContext, Planned } from "../types";

/**
 * The host directories the infra agent DaemonSet mounts (ipdk-io/k8s-infra-offload v23.01,
 * deploy/infraagent-daemonset.yaml, its hostPath volumes; /sys, always there, left out).
 */
export const AGENT_HOST_DIRS = [
  "/etc/cni/net.d",
  "/opt/cni/bin",
  "/var/run/calico",
  "/var/lib/calico",
  "/var/lib/cni/infraagent",
  "/var/lib/cni/networks",
  "/run/netns",
] as const;

/** Mounted into the agent with mountPropagation: Bidirectional: the host side must be a shared mount. */
export const NETNS_DIR = "/run/netns";

function state({ fs, mounts }: CheckContext) {
  const missing = AGENT_HOST_DIRS.filter((d) => !fs.isDir(d));
  const m = mountAt(mounts.list(), NETNS_DIR);
  return { missing, mounted: m !== null, shared: m !== null && isShared(m) };
}

/**
 * cni-host-paths: the infra agent's hostPath directories exist, and /run/netns is a shared mount
 * (its volume has Bidirectional propagation: pod network namespaces mounted there must reach the
 * host and the agent both). The fix creates the missing directories, binds /run/netns onto itself
 * when it is not a mount point and makes it shared (mount(8), as `ip netns add` does). A warning,
 * not a failure: containerd creates a missing hostPath directory, and a reset removes /etc/cni and
 * /var/lib/cni, after which the node must still come up.
 * Tests: test/unit/preflight-node.test.ts "cni-host-paths: …" (fake root: missing directories and
 * an unshared /run/netns, the dry run lists the mkdirs, the bind and make-shared; real root: the
 * test namespace's own /run/netns made shared, read back from /proc/self/mountinfo).
 */
export const cniHostPaths: Check = {
  id: "cni-host-paths",
  fixable: true,
  expected: () =>
    `the infra agent's host directories exist (${AGENT_HOST_DIRS.join(", ")}) and ${NETNS_DIR} is a shared mount`,
  run: (ctx) => {
    const s = state(ctx);
    const seen: string[] = [];
    if (s.missing.length > 0) seen.push(`missing: ${s.missing.join(", ")}`);
    if (!s.mounted) seen.push(`${NETNS_DIR} is not a mount point (${MOUNTINFO})`);
    else if (!s.shared) seen.push(`${NETNS_DIR} is a mount point but not shared`);
    if (seen.length > 0) return { status: "warn", observed: seen.join("; ") };
    return { status: "pass", observed: `all present; ${NETNS_DIR} is a shared mount` };
  },
  plan: (ctx): Planned[] => {
    const s = state(ctx);
    const out: Planned[] = s.missing.map((d) => ({
      change: { file: d, action: "create" },
      apply: () => ctx.fs.mkdir(d),
    }));
    if (!s.mounted) {
      out.push({
        change: { command: `mount --bind ${NETNS_DIR} ${NETNS_DIR}`, action: "run" },
        apply: () => ctx.mounts.bindSelf(NETNS_DIR),
      });
    }
    if (!s.shared) {
      out.push({
        change: { command: `mount --make-shared ${NETNS_DIR}`, action: "run" },
        apply: () => ctx.mounts.makeShared(NETNS_DIR),
      });
    }
    return out;
  },
};
