/**
 * The project installed into a system-test container the way a package would: wrappers in
 * /usr/bin, the units from units/ in /etc/systemd/system (both enabled), a test configuration, and
 * a stand-in kubelet.service that records each start (its PID and whether k8s-offloadd was active
 * at that moment) and then idles, like the real kubelet.service from the Kubernetes packages.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { DAEMON_NODE_OPTIONS } from "../../scripts/daemon-node-options";
import { makeHostRoot } from "../helpers/hostroot";
import { debianOvs, testSupervisor } from "../helpers/test-config";
import { type Container, PROJECT_DIR, repoRoot } from "./container";

export const API_PORT = 9300;
/** Each kubelet start: "PID k8s-offloadd-ActiveState", one line. */
export const KUBELET_STARTS = "/var/lib/kubelet-standin/starts";
const HOST_ROOT = "/var/lib/k8s-offloadd-test/hostroot";

const KUBELET_STANDIN = `#!/bin/sh
# kubelet stand-in (test/system): records this start, then idles with the same PID.
mkdir -p ${KUBELET_STARTS.slice(0, KUBELET_STARTS.lastIndexOf("/"))}
echo "$$ $(systemctl is-active k8s-offloadd.service)" >>${KUBELET_STARTS}
exec sleep infinity
`;

/** As the Kubernetes packages ship it: restarted forever, 10 s apart. */
const KUBELET_UNIT = `[Unit]
Description=kubelet stand-in (test/system)

[Service]
ExecStart=/usr/local/bin/kubelet-standin
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`;

type Section = Record<string, unknown>;

/** The daemon's config in the container: Debian's OVS as real children, kernel TAPs, no P4 target. */
export function systemConfig(overrides: Record<string, Section> = {}): string {
  const base: Record<string, Section | string> = {
    profile: "system-test",
    api: { host: "127.0.0.1", port: API_PORT },
    stateDir: "/var/lib/k8s-offloadd",
    runDir: "/run/k8s-offloadd",
    logDir: "/var/log/k8s-offloadd",
    // Production's choice: the datapath outlives the daemon (KillMode=process) and is adopted.
    datapath: { stopOnExit: false, netns: null },
    taps: { count: 8, backend: "kernel" },
    target: { simulator: false },
    arpProxy: { mode: "kernel" },
    ovs: debianOvs({
      install: "/var/lib/k8s-offloadd/ovs",
      dbFile: "/var/lib/k8s-offloadd/ovs/conf.db",
      runDir: "/run/k8s-offloadd/ovs",
      logDir: "/var/log/k8s-offloadd/ovs",
    }),
    supervisor: testSupervisor,
    // A fake host root: the container is not a Kubernetes node (preflight and hugepages read and
    // write their /etc, /proc and /sys files there).
    host: { root: HOST_ROOT },
  };
  for (const [k, v] of Object.entries(overrides)) {
    const cur = base[k];
    base[k] = typeof cur === "object" ? { ...cur, ...v } : v;
  }
  return stringify(base);
}

/** Puts the project, its units, the config and the kubelet stand-in into the (not yet booted) container. */
export function installProject(c: Container, config: string): void {
  c.put(
    "/usr/bin/k8s-offloadd",
    // The package's wrapper, with the daemon's Node.js options (scripts/bundle.ts DAEMON_NODE_OPTIONS).
    `#!/bin/sh\nexec /usr/bin/node ${DAEMON_NODE_OPTIONS.join(" ")} ${PROJECT_DIR}/dist/bundle/k8s-offloadd.js "$@"\n`,
    0o755,
  );
  c.put(
    "/usr/bin/k8s-offloadctl",
    `#!/bin/sh\nexec /usr/bin/node ${PROJECT_DIR}/dist/bundle/k8s-offloadctl.js "$@"\n`,
    0o755,
  );
  c.put("/etc/systemd/system/k8s-offloadd.service", unitText("k8s-offloadd.service"));
  c.put(
    "/etc/systemd/system/kubelet.service.d/10-k8s-offloadd.conf",
    unitText("kubelet.service.d/10-k8s-offloadd.conf"),
  );
  c.put("/etc/systemd/system/kubelet.service", KUBELET_UNIT);
  c.put("/usr/local/bin/kubelet-standin", KUBELET_STANDIN, 0o755);
  // The daemon refuses a config others could write.
  c.put("/etc/k8s-offloadd/config.yaml", config, 0o600);
  makeHostRoot(join(c.root, HOST_ROOT));
  c.enable("k8s-offloadd.service");
  c.enable("kubelet.service");
}

export function unitText(rel: string): string {
  return readFileSync(join(repoRoot, "units", rel), "utf8");
}

/** The stand-in kubelet's recorded starts: PID and k8s-offloadd's ActiveState at that moment. */
export function kubeletStarts(c: Container): { pid: number; offloadd: string }[] {
  return (c.read(KUBELET_STARTS) ?? "")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [pid, state] = l.split(" ");
      return { pid: Number(pid), offloadd: state ?? "" };
    });
}
