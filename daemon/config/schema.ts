/**
 * JSON Schema (draft-07) of the YAML configuration file, as plain data. Every key is optional: the
 * `default`s here are the production values and ajv fills them in (the OVS paths that have no default
 * are derived from ovs.install by load.ts). Each leaf's `description` is the "allowed: ..." text of
 * the error message a bad value gets, so it is written for an admin reading that message.
 */

/** Powers of 2 from lo to hi, both included (lo and hi powers of 2 themselves). */
export function powersOf2(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let n = lo; n <= hi; n *= 2) out.push(n);
  return out;
}

/**
 * Highest taps.max. The prefix has at most 10 characters and a Linux interface name at most 15
 * (IFNAMSIZ 16 minus the NUL), which leaves 5 digits for the index: 0..65535 fits, 131071 would not.
 */
export const TAPS_LIMIT = 65536;

/** taps.max when not configured: the pool ports a stock P4-OVS 22.07 chassis config holds. */
export const DEFAULT_TAPS_MAX = 32;

const SET_BATCH_ALLOWED =
  'ports per gNMI SetRequest while the pool is made, an integer from 1 to 1024, or "leaf" (one update per request, as gnmi-cli sends them)';

const positiveInt = (def: number, description = "a positive integer (milliseconds)") => ({
  type: "integer",
  minimum: 1,
  default: def,
  description,
});

const path = (description: string, def?: string) => ({
  type: "string",
  minLength: 1,
  ...(def === undefined ? {} : { default: def }),
  description: `${description}: a path, absolute or relative to the config file's directory`,
});

const name = (description: string, def: string) => ({
  type: "string",
  pattern: "^[A-Za-z0-9_.-]{1,64}$",
  default: def,
  description: `${description}: 1 to 64 characters from [A-Za-z0-9_.-]`,
});

const endpoint = (description: string, def: string) => ({
  type: "string",
  pattern: "^[0-9A-Za-z.:\\[\\]-]+:[0-9]{1,5}$",
  default: def,
  description: `${description}: host:port such as ${def}`,
});

const pin = (file: string) => ({
  type: "object",
  additionalProperties: false,
  required: ["path", "sha256"],
  description: `${file}: path and sha256`,
  properties: {
    path: path(`${file} as shipped`),
    sha256: {
      type: "string",
      pattern: "^[0-9a-fA-F]{64}$",
      description: "a SHA-256 in hex (64 characters; `sha256sum FILE` prints it)",
    },
  },
});

const cidr = (description: string, def: string) => ({
  type: "string",
  pattern: "^[0-9A-Fa-f.:]+/[0-9]{1,3}$",
  default: def,
  description: `${description}: an address/prefix such as ${def}`,
});

/** Ids of the preflight checks (daemon/preflight/), in the order they run. */
export const CHECK_IDS = [
  "kernel",
  "swap",
  "modules",
  "sysctl",
  "selinux",
  "firewall",
  "hugepages",
  "containerd",
  "crictl",
  "proxy",
  "cni-host-paths",
  "binaries",
  "artifacts",
  "chassis-config",
  "hugepages-boot",
  "images",
] as const;

const binary = (name: string) => path(`the ${name} binary (default: derived from ovs.install)`);

export const configSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  type: "object",
  additionalProperties: false,
  properties: {
    profile: { type: "string", minLength: 1, default: "p4-ovs", description: "a non-empty string" },
    api: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        host: {
          type: "string",
          minLength: 1,
          default: "127.0.0.1",
          description: "a host name or IP address to listen on",
        },
        port: {
          type: "integer",
          minimum: 1,
          maximum: 65535,
          default: 9300,
          description: "an integer from 1 to 65535",
        },
        tokenFile: {
          type: ["string", "null"],
          minLength: 1,
          default: null,
          description:
            "the API's bearer token file (made at first start, 0600): null (<stateDir>/token) or a path, absolute or relative to the config file's directory",
        },
        socket: {
          type: "boolean",
          default: true,
          description: "true (also serve the API on <runDir>/api.sock, mode 0600) or false",
        },
        rateLimit: {
          type: "integer",
          minimum: 1,
          maximum: 100000,
          default: 120,
          description: "mutating API requests allowed per client per minute: an integer from 1 to 100000",
        },
      },
    },
    stateDir: path("the state directory", "/var/lib/k8s-offloadd"),
    runDir: path("the run directory", "/run/k8s-offloadd"),
    logDir: path("the log directory", "/var/log/k8s-offloadd"),
    logs: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        maxBytes: {
          type: "integer",
          minimum: 4096,
          maximum: 1073741824,
          default: 10485760,
          description:
            "size in bytes at which a child's log file in logDir is rotated: an integer from 4096 to 1073741824 (1 GiB)",
        },
        keep: {
          type: "integer",
          minimum: 0,
          maximum: 100,
          default: 3,
          description: "rotated copies kept per log file (<name>.log.1 newest): an integer from 0 to 100",
        },
      },
    },
    datapath: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        stopOnExit: { type: "boolean", default: false, description: "true or false" },
        netns: {
          type: ["string", "null"],
          pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$",
          default: null,
          description: "null (the host's namespace) or a name matching ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$",
        },
      },
    },
    ovs: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        install: path("OVS_INSTALL", "/usr/local"),
        // The guide's $SDE_INSTALL: where the P4 SDE was built, so it is site-specific.
        sdeInstall: {
          type: ["string", "null"],
          minLength: 1,
          default: "/opt/p4/p4sde/install",
          description: "SDE_INSTALL: null or a path, absolute or relative to the config file's directory",
        },
        ovsdbServer: binary("ovsdb-server"),
        ovsVswitchd: binary("ovs-vswitchd"),
        ovsVsctl: binary("ovs-vsctl"),
        ovsdbTool: binary("ovsdb-tool"),
        ovsAppctl: binary("ovs-appctl"),
        schema: path("vswitch.ovsschema (default: derived from ovs.install)"),
        dbFile: path("conf.db (default: derived from ovs.install)"),
        runDir: path("the OVS run directory (default: derived from ovs.install)"),
        logDir: path("the OVS log directory (default: derived from ovs.install)"),
        // p4ovs_env_setup.sh's second argument (P4OVS_DEPS_INSTALL): its lib, lib64 go first on
        // LD_LIBRARY_PATH and its bin, sbin first on PATH.
        depsInstall: {
          type: ["string", "null"],
          minLength: 1,
          default: null,
          description:
            "P4OVS_DEPS_INSTALL (where P4-OVS's dependencies were installed): null or a path, absolute or relative to the config file's directory",
        },
        recreateDb: {
          type: "boolean",
          default: false,
          description:
            "true (delete conf.db and create it empty at every ovsdb-server start, as run_ovs.sh does) or false (keep it; convert it after a backup when its schema is older)",
        },
        takeOver: {
          type: "boolean",
          default: false,
          description:
            "true (stop an ovsdb-server or ovs-vswitchd the daemon did not start, e.g. one run_ovs.sh left running, then start its own) or false (refuse to start and name it)",
        },
        vswitchdExtraArgs: {
          type: "array",
          items: { type: "string", description: "a string" },
          default: ["--mlockall"],
          description: "a list of strings",
        },
        vsctlTimeoutSec: {
          type: "integer",
          minimum: 1,
          maximum: 300,
          default: 10,
          description: "an integer from 1 to 300 (seconds)",
        },
        // Open vSwitch built with DPDK (Debian's ovs-vswitchd-dpdk, P4-OVS): written to the
        // Open_vSwitch table's other_config before ovs-vswitchd starts. null: a plain OVS.
        dpdk: {
          type: ["object", "null"],
          additionalProperties: false,
          default: null,
          description: "null, or socketMem, extra and perPortMemory (OVS with DPDK)",
          properties: {
            socketMem: {
              type: "string",
              pattern: "^[0-9]{1,6}(,[0-9]{1,6}){0,7}$",
              default: "1024",
              description:
                'dpdk-socket-mem: megabytes of huge pages per NUMA node, comma-separated from node 0 (e.g. "1024" or "1024,0")',
            },
            extra: {
              type: "array",
              items: {
                type: "string",
                pattern: "^\\S+$",
                description: "one EAL argument without spaces (OVS splits dpdk-extra on whitespace)",
              },
              default: ["--no-pci"],
              description: "a list of EAL arguments without spaces (dpdk-extra)",
            },
            perPortMemory: {
              type: "boolean",
              default: true,
              description:
                "true (per-port-memory: a mempool per port, sized by its queues) or false (OVS's shared pools, 262144 mbufs)",
            },
          },
        },
      },
    },
    taps: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        // A power of 2 cannot be said in draft-07 other than by listing them. load.ts words the
        // message itself, with the actual taps.max, and checks count <= max.
        count: {
          type: "integer",
          enum: powersOf2(8, TAPS_LIMIT),
          default: 8,
          description: "a power of 2 greater than 4 and at most taps.max",
        },
        prefix: {
          type: "string",
          pattern: "^[A-Za-z][A-Za-z0-9_]{0,9}$",
          default: "P4TAP_",
          description:
            "1 to 10 characters matching ^[A-Za-z][A-Za-z0-9_]{0,9}$ (the index is appended and a Linux interface name has at most 15 characters)",
        },
        // 32: the stock P4-OVS 22.07 chassis config names 32 TAP ports (TAP0..TAP31), and its gNMI
        // server accepts no other. Kernel-backend pools and bigger chassis configs raise it.
        max: {
          type: "integer",
          enum: powersOf2(8, TAPS_LIMIT),
          default: DEFAULT_TAPS_MAX,
          description: `a power of 2 from 8 to ${TAPS_LIMIT} (8, 16, 32, ... ${TAPS_LIMIT})`,
        },
        backend: {
          type: "string",
          enum: ["gnmi", "kernel", "dpdk"],
          default: "gnmi",
          description:
            "gnmi (DPDK TAP ports made by the P4 target), kernel (plain kernel TAPs, no target) or dpdk (DPDK TAP ports added to Open vSwitch with DPDK through the ovsdb; needs ovs.dpdk)",
        },
        // The dpdk backend's ports: type=dpdk on a netdev bridge, the TAP PMD (net_tap) per port.
        dpdk: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            bridge: name("the netdev bridge the dpdk backend's ports are added to", "br0"),
            rxQueues: {
              type: "integer",
              minimum: 1,
              maximum: 64,
              default: 2,
              description:
                "an integer from 1 to 64 (options:n_rxq; the TAP PMD needs as many rx as tx queues: OVS gives one tx queue per PMD thread plus one)",
            },
            descriptors: {
              type: "integer",
              enum: powersOf2(64, 4096),
              default: 256,
              description:
                "a power of 2 from 64 to 4096 (options:n_rxq_desc and n_txq_desc; with per-port memory they size each port's mempool)",
            },
          },
        },
        group: {
          type: "integer",
          minimum: 1,
          maximum: 2147483647,
          default: 4242,
          description: "the link group of a kernel-backend pool: an integer from 1 to 2147483647",
        },
        mtu: {
          type: "integer",
          minimum: 64,
          maximum: 9000,
          default: 1500,
          description: "an integer from 64 to 9000",
        },
        pipelineName: name("the gNMI pipeline-name leaf of each port", "pipe"),
        mempoolName: name("the gNMI mempool-name leaf of each port", "MEMPOOL0"),
        setBatch: {
          // Each branch carries the description: a bad value is reported through a branch's error.
          oneOf: [
            { type: "integer", minimum: 1, maximum: 1024, description: SET_BATCH_ALLOWED },
            { type: "string", const: "leaf", description: SET_BATCH_ALLOWED },
          ],
          default: 64,
          description: SET_BATCH_ALLOWED,
        },
        lowWatermark: {
          type: "integer",
          minimum: 0,
          maximum: TAPS_LIMIT,
          default: 2,
          description: "an integer from 0 (no event) to 65536: an event when fewer pool TAPs are available",
        },
      },
    },
    target: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        gnmi: endpoint("the P4 target's gNMI endpoint", "127.0.0.1:9339"),
        p4runtime: endpoint("the P4 target's P4Runtime endpoint", "127.0.0.1:9559"),
        simulator: {
          type: "boolean",
          default: false,
          description: "true or false: run the P4 target simulator as a child (sandbox and tests only)",
        },
        // A host path: read and fixed below host.root, like the other host files.
        chassisConfig: {
          type: "string",
          pattern: "^/",
          default: "/usr/share/stratum/dpdk_port_config.pb.txt",
          description:
            "the chassis config P4-OVS reads at start (protobuf text, singleton_ports): an absolute path on the host (below host.root)",
        },
      },
    },
    hostInterface: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        name: {
          type: "string",
          pattern: "^[A-Za-z0-9_.-]{1,15}$",
          default: "TAP_0",
          description: "a Linux interface name: 1 to 15 characters from [A-Za-z0-9_.-]",
        },
        address: cidr("the host interface's address", "169.254.1.1/32"),
      },
    },
    pipeline: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        deviceId: {
          type: "integer",
          minimum: 1,
          default: 1,
          description: "a P4Runtime device id, an integer >= 1",
        },
        artifacts: {
          type: ["object", "null"],
          additionalProperties: false,
          required: ["pbBin", "p4info", "conf"],
          default: null,
          description: "null, or pbBin, p4info and conf, each with path and sha256",
          properties: { pbBin: pin("k8s_dp.pb.bin"), p4info: pin("p4Info.txt"), conf: pin("k8s_dp.conf") },
        },
        load: {
          type: "boolean",
          default: false,
          description: "true or false: load the pipeline with the loader when the target has none",
        },
        loader: {
          type: "array",
          minItems: 1,
          items: { type: "string", minLength: 1, description: "a non-empty string" },
          default: ["ovs-p4ctl", "set-pipe", "br0", "{pbBin}", "{p4info}"],
          description:
            "a command as a list of strings; {pbBin}, {p4info} and {conf} become the artifact paths",
        },
      },
    },
    arpProxy: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        mode: {
          type: "string",
          enum: ["binary", "kernel", "off"],
          default: "binary",
          description:
            "binary (the guide's arp_proxy, supervised), kernel (proxy_arp on the interface) or off",
        },
        binary: path("the arp_proxy program", "/usr/local/bin/arp_proxy"),
      },
    },
    supervisor: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        backoffInitialMs: positiveInt(100),
        backoffMaxMs: positiveInt(30000),
        stableAfterMs: positiveInt(10000),
        giveUpExits: positiveInt(5, "a positive integer"),
        giveUpWindowMs: positiveInt(60000),
        readyTimeoutMs: positiveInt(30000),
        stopTimeoutMs: positiveInt(5000),
        pollIntervalMs: positiveInt(200),
        healthIntervalMs: positiveInt(2000),
        retryFailedAfterMs: positiveInt(300000),
      },
    },
    host: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        root: path(
          "the host's root directory, under which every /etc, /proc and /sys file is read and written",
          "/",
        ),
        nodeIP: {
          type: ["string", "null"],
          minLength: 1,
          default: null,
          description: "null (none known) or the node's IP address, which NO_PROXY must cover",
        },
        podCIDR: cidr("the pod CIDR, which NO_PROXY must cover", "10.244.0.0/16"),
        serviceCIDR: cidr("the service CIDR, which NO_PROXY must cover", "10.96.0.0/12"),
        hugepages: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            pages: positiveInt(1024, "a positive integer (huge pages per NUMA node)"),
            pageSizeKB: {
              type: "integer",
              enum: [2048, 1048576],
              default: 2048,
              description: "2048 or 1048576",
            },
            mountPoint: {
              type: "string",
              pattern: "^/",
              default: "/mnt/huge",
              description: "an absolute path on the host (below host.root)",
            },
          },
        },
        preflight: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            disabled: {
              type: "array",
              uniqueItems: true,
              items: { type: "string", enum: [...CHECK_IDS], description: `one of ${CHECK_IDS.join(", ")}` },
              default: [],
              description: `a list of check ids (${CHECK_IDS.join(", ")})`,
            },
          },
        },
      },
    },
    kubernetes: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        singleNode: {
          type: "boolean",
          default: false,
          description:
            "true or false: a single-node install (the post-init hook removes the control-plane taint)",
        },
        manifests: {
          type: "array",
          uniqueItems: true,
          items: { type: "string", pattern: "^/", description: "an absolute path" },
          default: [],
          description:
            "a list of absolute paths of the infra manifests the post-init hook applies with kubectl, in order",
        },
        kubeconfig: {
          type: ["string", "null"],
          pattern: "^/",
          default: "/etc/kubernetes/admin.conf",
          description: "null (kubectl's own default) or the absolute path of the kubeconfig kubectl uses",
        },
        toolPath: {
          type: ["array", "null"],
          items: { type: "string", pattern: "^/", description: "an absolute directory" },
          default: null,
          description:
            "null (the daemon's PATH) or a list of absolute directories where kubeadm, kubectl, crictl, systemctl and firewall-cmd are looked up",
        },
        commandTimeoutSec: {
          type: "integer",
          minimum: 1,
          maximum: 3600,
          default: 300,
          description:
            "an integer from 1 to 3600: seconds one kubeadm, kubectl, crictl or systemctl run may take",
        },
        readyTimeoutSec: {
          type: "integer",
          minimum: 1,
          maximum: 3600,
          default: 600,
          description:
            "an integer from 1 to 3600: seconds the pre-init hook waits for the datapath to be ready",
        },
        calicoBgp: {
          type: "boolean",
          default: true,
          description:
            "true or false: Calico peers over BGP (the firewall check then also wants tcp 179 open)",
        },
        kubeadmInitArgs: {
          type: "array",
          items: { type: "string", minLength: 1, description: "one argument" },
          default: [],
          description:
            "a list of arguments `k8s-offloadctl init` passes to `kubeadm init` after --pod-network-cidr and --service-cidr",
        },
        kubeconfigUser: {
          type: ["string", "null"],
          pattern: "^[a-z_][a-z0-9_.-]{0,31}\\$?$",
          default: "root",
          description:
            "null (none) or the user (in /etc/passwd) whose ~/.kube/config init writes from /etc/kubernetes/admin.conf",
        },
        nodeName: {
          type: ["string", "null"],
          pattern: "^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$",
          default: null,
          description:
            "null (the host name, lower-cased, as kubeadm names the node) or the node's name: lower-case letters, digits, '.' and '-'",
        },
        deploy: {
          type: ["object", "null"],
          additionalProperties: false,
          required: ["source"],
          default: null,
          description:
            "null (nothing deployed) or an object with source (the k8s-infra-offload checkout or its deploy/ directory) and the images",
          properties: {
            source: {
              type: "string",
              pattern: "^/",
              description: "the absolute path of the k8s-infra-offload checkout or of its deploy/ directory",
            },
            infraAgentImage: {
              type: "string",
              pattern: "^[A-Za-z0-9][A-Za-z0-9._/:@-]*$",
              default: "localhost:5000/infraagent:latest",
              description: "an image reference such as localhost:5000/infraagent:latest",
            },
            infraManagerImage: {
              type: "string",
              pattern: "^[A-Za-z0-9][A-Za-z0-9._/:@-]*$",
              default: "localhost:5000/inframanager:latest",
              description: "an image reference such as localhost:5000/inframanager:latest",
            },
            calico: {
              type: "boolean",
              default: true,
              description:
                "true or false: also deploy Calico and the FelixConfiguration (make deploy-calico)",
            },
            crdTimeoutSec: {
              type: "integer",
              minimum: 1,
              maximum: 3600,
              default: 120,
              description: "an integer from 1 to 3600: seconds to wait for Calico's CRDs to be established",
            },
          },
        },
        healAfterTargetRestart: {
          type: "string",
          enum: ["report", "recreate"],
          default: "report",
          description:
            "report (an event names the TAPs pods lost and the pods) or recreate (also delete this node's infra manager pod and those pods)",
        },
      },
    },
  },
};
