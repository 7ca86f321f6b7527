import type { CHECK_IDS } from "./schema";

/**
 * The daemon's configuration after validation and defaulting. Every path is absolute.
 * The YAML shape is the same (camelCase keys); see profiles/p4-ovs.yaml for every key documented.
 */
export interface Config {
  /** Profile name, informational ("p4-ovs", "sandbox", or anything an admin chooses). */
  profile: string;
  api: {
    host: string;
    port: number;
    /** Bearer token for mutating requests (absolute; the loader resolves null to <stateDir>/token). */
    tokenFile: string;
    /** Mutating requests per client per minute. */
    rateLimit: number;
    /** Also serve the API on <runDir>/api.sock (mode 0600). */
    socket: boolean;
  };
  /** SQLite database and the daemon's own records live here (0700). */
  stateDir: string;
  /** Pid files of supervised children. */
  runDir: string;
  /** Per-component log files that children write to and the daemon follows. */
  logDir: string;
  /**
   * Size bound of each child's log file in logDir: rotated by copy-truncate at maxBytes, keeping `keep`
   * copies (<name>.log.1 .. .<keep>). At most (keep + 1) × maxBytes per child, plus one poll's output.
   */
  logs: { maxBytes: number; keep: number };
  datapath: {
    /**
     * Stop the supervised children when the daemon itself stops. Production: false (KillMode=process;
     * a daemon restart or upgrade must not bounce the datapath). Sandbox: true.
     */
    stopOnExit: boolean;
    /**
     * Network namespace the datapath processes run in, created by the daemon when missing and
     * removed on stop when the daemon created it. null: the host's own namespace (production).
     */
    netns: string | null;
  };
  ovs: OvsConfig;
  taps: TapsConfig;
  /** The P4 target's gRPC endpoints (P4-OVS 22.07: served by ovs-vswitchd, insecure). */
  target: {
    gnmi: string;
    p4runtime: string;
    /** Run the P4 target simulator (test/sim) as a supervised child: sandbox and tests only. */
    simulator: boolean;
    /**
     * The chassis config P4-OVS reads at start (a host path, below host.root): it has gNMI tree nodes
     * only for the ports named there, so every pool name must be in it (preflight chassis-config).
     */
    chassisConfig: string;
  };
  /** P4TAP_0 renamed to this name, up, with this address (the node's side of the datapath). */
  hostInterface: { name: string; address: string };
  pipeline: PipelineConfig;
  arpProxy: {
    /** binary: the guide's arp_proxy as a supervised child; kernel: proxy_arp on the interface; off. */
    mode: "binary" | "kernel" | "off";
    binary: string;
  };
  supervisor: SupervisorConfig;
  host: HostConfig;
  kubernetes: KubernetesConfig;
}

/** The node's Kubernetes side, as the kubeadm hooks and the reset job see it. */
export interface KubernetesConfig {
  /** Single-node install: post-init removes the control-plane taint. */
  singleNode: boolean;
  /** Infra manifests post-init applies (kubectl apply -f), in order; absolute paths. */
  manifests: string[];
  /** --kubeconfig of every kubectl run; null: kubectl's own default. */
  kubeconfig: string | null;
  /** Where kubeadm, kubectl, crictl and systemctl are looked up; null: the daemon's PATH. */
  toolPath: string[] | null;
  /** Hard limit of one tool run (the tool is killed after it). */
  commandTimeoutSec: number;
  /** How long the pre-init hook waits for the datapath to be ready. */
  readyTimeoutSec: number;
  /** Calico peers over BGP: the firewall check also wants tcp 179 open. */
  calicoBgp: boolean;
  /** Arguments `k8s-offloadctl init` adds to `kubeadm init` after the two CIDRs. */
  kubeadmInitArgs: string[];
  /** The user whose ~/.kube/config init writes (the guide's three commands); null: none. */
  kubeconfigUser: string | null;
  /** This node's name in the cluster (field selectors); null: the host name, lower-cased, as kubeadm does. */
  nodeName: string | null;
  /** The infra components as upstream's `make deploy` and `make deploy-calico` do; null: not deployed. */
  deploy: DeployConfig | null;
  /** After a target restart took pods' TAPs: report them, or also delete the infra manager pod and those pods. */
  healAfterTargetRestart: "report" | "recreate";
}

/** kubernetes.deploy: the k8s-infra-offload checkout and the images pushed from it. */
export interface DeployConfig {
  /** The checkout, or its deploy/ directory (kustomization.yaml, calico-with-grpc.yaml, felix-configuration.yaml). */
  source: string;
  infraAgentImage: string;
  infraManagerImage: string;
  /** Also `make deploy-calico`: Calico's manifest, its CRDs established, then the FelixConfiguration. */
  calico: boolean;
  /** How long `kubectl wait --for condition=established` waits for Calico's CRDs. */
  crdTimeoutSec: number;
}

export interface ArtifactPinConfig {
  path: string;
  /** SHA-256 of the file as shipped, hex. */
  sha256: string;
}

export interface PipelineConfig {
  /** P4Runtime device id (the infra manager uses 1). */
  deviceId: number;
  /** The shipped P4 artifacts with their SHA-256 pins; null: none configured (not checked). */
  artifacts: { pbBin: ArtifactPinConfig; p4info: ArtifactPinConfig; conf: ArtifactPinConfig } | null;
  /** Load the pipeline when the target has none (and again after every target restart). */
  load: boolean;
  /** The vendor's loader, an argv; {pbBin}, {p4info} and {conf} are replaced by the artifact paths. */
  loader: string[];
}

export interface TapsConfig {
  count: number;
  prefix: string;
  max: number;
  /**
   * gnmi: DPDK TAP ports created by the P4 target; kernel: plain kernel TAPs (no P4 target); dpdk:
   * DPDK TAP ports added to Open vSwitch with DPDK through the ovsdb (ovs.dpdk).
   */
  backend: "gnmi" | "kernel" | "dpdk";
  /** The dpdk backend's ports. */
  dpdk: { bridge: string; rxQueues: number; descriptors: number };
  /** Link group of a kernel-backend pool (removal by group). */
  group: number;
  mtu: number;
  pipelineName: string;
  mempoolName: string;
  /** Ports per gNMI SetRequest while creating the pool (4 leaves each), or "leaf": gnmi-cli's one update per request. */
  setBatch: number | "leaf";
  /** An event when fewer pool TAPs than this are available for pods (0: never). */
  lowWatermark: number;
}

export interface HostConfig {
  /**
   * The host's root directory: every /etc, /proc and /sys file is read and written below it. "/" in
   * production; anything else is a fake root (sandbox, tests) where commands are never run and their
   * effect is written into the fake /proc or /sys file instead.
   */
  root: string;
  /** The node's IP address (NO_PROXY must cover it); null: not known, not checked. */
  nodeIP: string | null;
  podCIDR: string;
  serviceCIDR: string;
  hugepages: {
    /** Huge pages per NUMA node (the guide writes 1024 to each node). */
    pages: number;
    pageSizeKB: number;
    /** Where hugetlbfs is mounted, a host path (below root). */
    mountPoint: string;
  };
  preflight: {
    /** Checks not run: reported as skip, and never keep the node from ready. */
    disabled: CheckId[];
  };
}

export type CheckId = (typeof CHECK_IDS)[number];

export interface OvsConfig {
  /** OVS_INSTALL of the P4-OVS guide (run_ovs.sh: RUN_OVS=${OVS_INSTALL:-/usr/local}). */
  install: string;
  /** SDE_INSTALL of the guide; its libraries are put on LD_LIBRARY_PATH of the children. null: none. */
  sdeInstall: string | null;
  /** P4OVS_DEPS_INSTALL of p4ovs_env_setup.sh: lib, lib64 first on LD_LIBRARY_PATH; bin, sbin on PATH. */
  depsInstall: string | null;
  /** Delete conf.db and create it empty before every fresh ovsdb-server start (run_ovs.sh's way). */
  recreateDb: boolean;
  /** Stop an ovsdb-server or ovs-vswitchd the daemon did not start, then start its own. */
  takeOver: boolean;
  ovsdbServer: string;
  ovsVswitchd: string;
  ovsVsctl: string;
  ovsdbTool: string;
  ovsAppctl: string;
  /** vswitch.ovsschema used by `ovsdb-tool create`. */
  schema: string;
  /** conf.db */
  dbFile: string;
  /** OVS run directory: db.sock, pid files and control sockets of the OVS processes. */
  runDir: string;
  /** OVS log directory (ovs-vswitchd --log-file). */
  logDir: string;
  /** Extra arguments for ovs-vswitchd; the guide uses --mlockall. */
  vswitchdExtraArgs: string[];
  /** Seconds passed as --timeout to every ovs-vsctl call. */
  vsctlTimeoutSec: number;
  /** OVS with DPDK: other_config written before ovs-vswitchd starts; null: a plain OVS. */
  dpdk: OvsDpdkConfig | null;
}

export interface OvsDpdkConfig {
  /** dpdk-socket-mem: MB of huge pages per NUMA node, "1024" or "1024,0". */
  socketMem: string;
  /** dpdk-extra: EAL arguments (no spaces inside one). */
  extra: string[];
  /** per-port-memory. */
  perPortMemory: boolean;
}

export interface SupervisorConfig {
  /** First restart delay; doubles on every exit up to backoffMaxMs. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** A child that stayed up this long is restarted at once when it exits, and its backoff is reset. */
  stableAfterMs: number;
  /** giveUpExits exits within giveUpWindowMs: the component is marked failed and not restarted. */
  giveUpExits: number;
  giveUpWindowMs: number;
  /** A component that is not ready this long after start fails its start. */
  readyTimeoutMs: number;
  /** Each rung of the stop ladder waits this long (after SIGTERM, then after SIGKILL). */
  stopTimeoutMs: number;
  /** Poll interval for adopted children (not our children: no exit event) and readiness probes. */
  pollIntervalMs: number;
  /**
   * Every ready component is probed again this often (never from a request); a failing probe makes
   * it degraded and /v1/ready 503 within one interval. Each probe gets at most twice this to answer.
   */
  healthIntervalMs: number;
  /** A failed component (crash loop given up, a start error; not a configuration error) is tried again after this. */
  retryFailedAfterMs: number;
}
