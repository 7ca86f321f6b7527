import { join } from "node:path";
import { isDirectory, isExecutable } from "../../host/hostfs";
import type { Check } from "../types";

const BIN_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/**
 * binaries: the OVS binaries (and the SDE libraries) the daemon runs are at their configured paths
 * (missing: fail); arp_proxy, kubeadm and kubelet are on the host (missing: warn). Report only.
 * Tests: test/unit/preflight.test.ts "binaries: a missing OVS binary fails, missing Kubernetes
 * tools warn", "a passing root: …".
 */
export const binaries: Check = {
  id: "binaries",
  fixable: false,
  expected: (ctx) =>
    `ovsdb-server and ovs-vswitchd at their configured paths${ctx.cfg.ovs.sdeInstall ? ", the SDE libraries" : ""}; arp_proxy, kubeadm, kubelet on the host`,
  run: ({ cfg, fs }) => {
    // The OVS binaries are where the daemon runs them from (config paths, not below host.root).
    const fatal = [cfg.ovs.ovsdbServer, cfg.ovs.ovsVswitchd].filter((p) => !isExecutable(p));
    if (cfg.ovs.sdeInstall && !isDirectory(join(cfg.ovs.sdeInstall, "lib"))) {
      fatal.push(`${cfg.ovs.sdeInstall}/lib (SDE libraries)`);
    }
    const missing = ["arp_proxy", "kubeadm", "kubelet"].filter(
      (b) => !BIN_DIRS.some((d) => isExecutable(fs.path(`${d}/${b}`))),
    );
    const seen = fatal.map((p) => `missing ${p}`);
    if (missing.length > 0) seen.push(`${missing.join(", ")} not in ${BIN_DIRS.join(":")}`);
    if (seen.length === 0) return { status: "pass", observed: "all present" };
    return { status: fatal.length > 0 ? "fail" : "warn", observed: seen.join("; ") };
  },
};
