/**
 * Fake host roots for preflight and hugepages: a directory tree with the /etc, /proc and /sys files
 * the checks read, in a state where every check passes (hugepages aside: 0 pages, nothing mounted,
 * which the hugepages component or fix sets). Scenarios then break one thing each.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { AGENT_HOST_DIRS } from "../../daemon/preflight/checks/cni-host-paths";

export const SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

export const GOOD_CONTAINERD = `version = 2
root = "/var/lib/containerd"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
`;

/**
 * P4-OVS 22.07's stock chassis config, byte for byte: ipdk-io/ovs tag v22.07
 * (a0a623af26347d9fc441c35cd1126a12e75d8d97) external/dpdk_port_config.pb.txt. Ports TAP0..TAP31.
 */
export const STOCK_CHASSIS = resolve(__dirname, "../../../test/fixtures/chassis/dpdk_port_config.pb.txt");
export const CHASSIS_PATH = "/usr/share/stratum/dpdk_port_config.pb.txt";

/** The stock chassis config at its host path below root, as P4-OVS installs it (TAP0..TAP31). */
export function putStockChassis(root: string): string {
  return put(root, CHASSIS_PATH, readFileSync(STOCK_CHASSIS, "utf8"));
}

/** The stock chassis config renamed by create_interfaces.sh's own command: `sed -i 's/\bTAP/P4TAP_/g'`. */
export function putRenamedChassis(root: string): string {
  const file = putStockChassis(root);
  const r = spawnSync("sed", ["-i", "s/\\bTAP/P4TAP_/g", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`sed failed: ${r.stderr}`);
  return file;
}

/** /proc/self/mountinfo lines (proc(5)): the root and /run, and /run/netns bound and shared as `ip netns` does. */
export const ROOT_MOUNTINFO =
  "21 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n" +
  "24 21 0:22 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,mode=755\n";
export const NETNS_SHARED =
  "310 24 0:22 /netns /run/netns rw,nosuid,nodev shared:150 - tmpfs tmpfs rw,mode=755\n";

/** Writes text at a host path below root, creating directories. */
export function put(root: string, path: string, text: string, mode = 0o644): string {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
}

/** A fake root under dir where every preflight check passes (hugepages: not yet set). */
export function makeHostRoot(root: string): string {
  put(root, "/proc/sys/kernel/osrelease", "6.1.0-test-amd64\n");
  put(root, "/proc/swaps", SWAPS_HEADER);
  put(root, "/proc/modules", "overlay 151552 0 - Live 0x0000000000000000\nbr_netfilter 32768 0 - Live 0x0\n");
  put(root, "/etc/modules-load.d/k8s.conf", "overlay\nbr_netfilter\n");
  put(root, "/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
  put(root, "/proc/sys/net/bridge/bridge-nf-call-ip6tables", "1\n");
  put(root, "/proc/sys/net/ipv4/ip_forward", "1\n");
  put(
    root,
    "/etc/sysctl.d/kubernetes.conf",
    "net.bridge.bridge-nf-call-ip6tables = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.ipv4.ip_forward = 1\n",
  );
  put(root, "/etc/selinux/config", "SELINUX=permissive\nSELINUXTYPE=targeted\n");
  put(root, "/etc/containerd/config.toml", GOOD_CONTAINERD);
  put(
    root,
    "/etc/crictl.yaml",
    "runtime-endpoint: unix:///run/containerd/containerd.sock\nimage-endpoint: unix:///run/containerd/containerd.sock\ntimeout: 10\n",
  );
  put(root, "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
  put(root, "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
  put(root, "/proc/mounts", "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n");
  for (const b of ["kubeadm", "kubelet", "arp_proxy"]) put(root, `/usr/bin/${b}`, "#!/bin/sh\n", 0o755);
  // The infra agent's host directories, and /run/netns a shared mount of its own (as `ip netns add` leaves it).
  // The infra agent's hostPath directories, as the cni-host-paths check expects them.
  for (const d of AGENT_HOST_DIRS) mkdirSync(join(root, d), { recursive: true });
  put(root, "/proc/self/mountinfo", `${ROOT_MOUNTINFO}${NETNS_SHARED}`);
  // P4-OVS's chassis config as create_interfaces.sh leaves it: P4TAP_0..P4TAP_31.
  putRenamedChassis(root);
  return root;
}
