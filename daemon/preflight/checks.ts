/**
 * The preflight checks of DESIGN.md §4 ("Host prerequisites"), table-driven: each says what it
 * expects, what it saw, and (when a fix exists) plans the changes that make it pass. Plans only
 * read; applying them is the caller's (daemon/preflight/index.ts), so a dry run lists exactly
 * what the real run changes.
 */
import { join } from "node:path";
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { Document, parseDocument } from "yaml";
import { isDirectory, isExecutable } from "../host/hostfs";
import { isAlive } from "../host/proc";
import { chassisConfig } from "./checks/chassis-config";
import { hugepagesBoot } from "./checks/hugepages-boot";
import { imagesCheck } from "./checks/images";
import { fileChange } from "./file-change";
import { hugepagesExpected, hugepagesMissing, hugepagesPlan, hugepagesState } from "./hugepages";
import type { Check, CheckContext, Planned } from "./types";

const MIN_KERNEL: [number, number] = [5, 4];

/** A kernel value: `cmd` on the real host, the fake file written under a fake root. */
function kernelChange(
  ctx: CheckContext,
  file: string,
  before: string | null,
  after: string,
  cmd: string[],
): Planned {
  if (ctx.fs.real) return { change: { command: cmd.join(" "), action: "run" }, apply: () => ctx.fs.run(cmd) };
  return {
    change: { file, action: "write", ...(before === null ? {} : { before }), after },
    apply: () => ctx.fs.writeKernel(file, `${after}\n`),
  };
}

const withNewline = (s: string) => (s === "" || s.endsWith("\n") ? s : `${s}\n`);

// ---- kernel ------------------------------------------------------------------------------------

const kernel: Check = {
  id: "kernel",
  fixable: false,
  expected: () => `kernel ${MIN_KERNEL.join(".")} or newer`,
  run: ({ fs }) => {
    const rel = fs.read("/proc/sys/kernel/osrelease")?.trim();
    if (!rel) return { status: "fail", observed: "cannot read /proc/sys/kernel/osrelease" };
    const m = /^(\d+)\.(\d+)/.exec(rel);
    if (!m) return { status: "fail", observed: `kernel release "${rel}" has no version number` };
    const [maj, min] = [Number(m[1]), Number(m[2])];
    const ok = maj > MIN_KERNEL[0] || (maj === MIN_KERNEL[0] && min >= MIN_KERNEL[1]);
    return { status: ok ? "pass" : "fail", observed: `kernel ${rel}` };
  },
};

// ---- swap --------------------------------------------------------------------------------------

const SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

function swapState({ fs }: CheckContext) {
  const active = (fs.read("/proc/swaps") ?? "")
    .split("\n")
    .slice(1)
    .map((l) => l.split(/\s+/)[0] ?? "")
    .filter(Boolean);
  const zram = fs
    .list("/sys/block")
    .filter((d) => /^zram\d+$/.test(d))
    .filter((d) => (fs.read(`/sys/block/${d}/disksize`)?.trim() ?? "0") !== "0");
  const fstab = (fs.read("/etc/fstab") ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#") && l.split(/\s+/)[2] === "swap");
  const generator = ["/etc/systemd/zram-generator.conf", "/usr/lib/systemd/zram-generator.conf"].filter((f) =>
    fs.exists(f),
  );
  return { active, zram, fstab, generator };
}

const swap: Check = {
  id: "swap",
  fixable: true,
  expected: () => "no active swap and no zram device (kubelet refuses to run with swap)",
  run: (ctx) => {
    const s = swapState(ctx);
    const seen: string[] = [];
    if (s.active.length > 0) seen.push(`active swap: ${s.active.join(", ")}`);
    if (s.zram.length > 0) seen.push(`zram devices: ${s.zram.join(", ")}`);
    if (seen.length > 0) return { status: "fail", observed: seen.join("; ") };
    // Not edited silently: they bring swap back at the next boot, and the admin decides.
    const later = [
      ...s.fstab.map((l) => `/etc/fstab swap line "${l}"`),
      ...s.generator.map((f) => `zram-generator config ${f}`),
    ];
    if (later.length > 0)
      return { status: "warn", observed: `no active swap, but at boot: ${later.join("; ")}` };
    return { status: "pass", observed: "no active swap, no zram device" };
  },
  plan: (ctx) => {
    const s = swapState(ctx);
    const out: Planned[] = [];
    if (s.active.length > 0) {
      const before = ctx.fs.read("/proc/swaps") ?? "";
      out.push(
        ctx.fs.real
          ? { change: { command: "swapoff -a", action: "run" }, apply: () => ctx.fs.run(["swapoff", "-a"]) }
          : {
              change: { file: "/proc/swaps", action: "write", before, after: SWAPS_HEADER },
              apply: () => ctx.fs.writeKernel("/proc/swaps", SWAPS_HEADER),
            },
      );
    }
    for (const d of s.zram) {
      // The kernel's reset frees the device (disksize back to 0); a fake root records just that.
      const before = ctx.fs.read(`/sys/block/${d}/disksize`)?.trim() ?? "";
      out.push(
        ctx.fs.real
          ? {
              change: { file: `/sys/block/${d}/reset`, action: "write", after: "1" },
              apply: () => ctx.fs.writeKernel(`/sys/block/${d}/reset`, "1\n"),
            }
          : {
              change: { file: `/sys/block/${d}/disksize`, action: "write", before, after: "0" },
              apply: () => ctx.fs.writeKernel(`/sys/block/${d}/disksize`, "0\n"),
            },
      );
    }
    return out;
  },
};

// ---- modules -----------------------------------------------------------------------------------

const MODULES = ["overlay", "br_netfilter"];
const MODULES_FILE = "/etc/modules-load.d/k8s.conf";

const listed = (text: string | null) =>
  new Set(
    (text ?? "")
      .split("\n")
      .map((l) => l.replace(/[#;].*/, "").trim())
      .filter(Boolean),
  );

function modulesState({ fs }: CheckContext) {
  const loadedText = fs.read("/proc/modules") ?? "";
  const loaded = new Set(loadedText.split("\n").map((l) => l.split(" ")[0]));
  const isLoaded = (m: string) => loaded.has(m) || fs.isDir(`/sys/module/${m}`);
  const file = fs.read(MODULES_FILE);
  const persisted = listed(file);
  return {
    notLoaded: MODULES.filter((m) => !isLoaded(m)),
    notPersisted: MODULES.filter((m) => !persisted.has(m)),
    file,
  };
}

const modules: Check = {
  id: "modules",
  fixable: true,
  expected: () => `${MODULES.join(" and ")} loaded and listed in ${MODULES_FILE}`,
  run: (ctx) => {
    const s = modulesState(ctx);
    const seen: string[] = [];
    if (s.notLoaded.length > 0) seen.push(`not loaded: ${s.notLoaded.join(", ")}`);
    if (s.file === null) seen.push(`${MODULES_FILE} missing`);
    else if (s.notPersisted.length > 0) seen.push(`not in ${MODULES_FILE}: ${s.notPersisted.join(", ")}`);
    if (seen.length > 0) return { status: "fail", observed: seen.join("; ") };
    return { status: "pass", observed: `${MODULES.join(", ")} loaded and listed in ${MODULES_FILE}` };
  },
  plan: (ctx) => {
    const s = modulesState(ctx);
    const out: Planned[] = s.notLoaded.map((m) =>
      ctx.fs.real
        ? { change: { command: `modprobe ${m}`, action: "run" }, apply: () => ctx.fs.run(["modprobe", m]) }
        : {
            change: { file: "/proc/modules", action: "append", after: `${m} 0 0 - Live 0x0000000000000000` },
            apply: () => ctx.fs.appendFake("/proc/modules", `${m} 0 0 - Live 0x0000000000000000`),
          },
    );
    if (s.notPersisted.length > 0) {
      const base =
        s.file === null
          ? "# Kernel modules Kubernetes needs (written by k8s-offloadd).\n"
          : withNewline(s.file);
      out.push(fileChange(ctx.fs, MODULES_FILE, s.file, `${base}${s.notPersisted.join("\n")}\n`));
    }
    return out;
  },
};

// ---- sysctl ------------------------------------------------------------------------------------

const SYSCTLS = [
  "net.bridge.bridge-nf-call-ip6tables",
  "net.bridge.bridge-nf-call-iptables",
  "net.ipv4.ip_forward",
];
const SYSCTL_FILE = "/etc/sysctl.d/kubernetes.conf";
const procSys = (key: string) => `/proc/sys/${key.replace(/\./g, "/")}`;

function sysctlState({ fs }: CheckContext) {
  const live = SYSCTLS.map((k) => ({ key: k, value: fs.read(procSys(k))?.trim() ?? null }));
  const file = fs.read(SYSCTL_FILE);
  const persisted = new Map<string, string>();
  for (const line of (file ?? "").split("\n")) {
    const m = /^\s*([A-Za-z0-9_./-]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m?.[1] && !line.trim().startsWith("#")) persisted.set(m[1].replace(/\//g, "."), m[2] ?? "");
  }
  return {
    wrongLive: live.filter((l) => l.value !== "1"),
    notPersisted: SYSCTLS.filter((k) => persisted.get(k) !== "1"),
    file,
  };
}

const sysctl: Check = {
  id: "sysctl",
  fixable: true,
  expected: () => `${SYSCTLS.map((k) => `${k}=1`).join(", ")}, persisted in ${SYSCTL_FILE}`,
  run: (ctx) => {
    const s = sysctlState(ctx);
    const seen: string[] = [];
    if (s.wrongLive.length > 0) {
      seen.push(
        s.wrongLive.map((l) => `${l.key}=${l.value ?? "(missing; br_netfilter not loaded?)"}`).join(", "),
      );
    }
    if (s.file === null) seen.push(`${SYSCTL_FILE} missing`);
    else if (s.notPersisted.length > 0)
      seen.push(`not set to 1 in ${SYSCTL_FILE}: ${s.notPersisted.join(", ")}`);
    if (seen.length > 0) return { status: "fail", observed: seen.join("; ") };
    return { status: "pass", observed: `${SYSCTLS.map((k) => `${k}=1`).join(", ")}, persisted` };
  },
  plan: (ctx) => {
    const s = sysctlState(ctx);
    const out: Planned[] = [];
    if (s.notPersisted.length > 0) {
      // Our keys' lines are replaced, every other line kept; missing keys are appended.
      const keep = (s.file ?? "# Kernel settings Kubernetes needs (written by k8s-offloadd).\n")
        .split("\n")
        .filter((l) => {
          const key = /^\s*([A-Za-z0-9_./-]+)\s*=/.exec(l)?.[1]?.replace(/\//g, ".");
          return !(key && s.notPersisted.includes(key) && !l.trim().startsWith("#"));
        })
        .join("\n");
      const after = `${withNewline(keep)}${s.notPersisted.map((k) => `${k} = 1`).join("\n")}\n`;
      out.push(fileChange(ctx.fs, SYSCTL_FILE, s.file, after));
    }
    for (const l of s.wrongLive) {
      out.push(kernelChange(ctx, procSys(l.key), l.value, "1", ["sysctl", "-w", `${l.key}=1`]));
    }
    return out;
  },
};

// ---- selinux -----------------------------------------------------------------------------------

const SELINUX_CONFIG = "/etc/selinux/config";

function selinuxState({ fs }: CheckContext) {
  const enforce = fs.read("/sys/fs/selinux/enforce")?.trim() ?? null;
  const live = enforce === null ? "disabled" : enforce === "1" ? "enforcing" : "permissive";
  const file = fs.read(SELINUX_CONFIG);
  const configured = /^\s*SELINUX\s*=\s*(\S+)/m.exec(file ?? "")?.[1] ?? null;
  return { enforce, live, file, configured };
}

const selinux: Check = {
  id: "selinux",
  fixable: true,
  expected: () => `SELinux permissive or disabled, now and in ${SELINUX_CONFIG}`,
  run: (ctx) => {
    const s = selinuxState(ctx);
    const observed = `running ${s.live}; ${SELINUX_CONFIG}: ${s.configured === null ? "no SELINUX= line" : `SELINUX=${s.configured}`}`;
    return { status: s.live === "enforcing" || s.configured === "enforcing" ? "fail" : "pass", observed };
  },
  plan: (ctx) => {
    const s = selinuxState(ctx);
    const out: Planned[] = [];
    if (s.live === "enforcing") {
      out.push(kernelChange(ctx, "/sys/fs/selinux/enforce", s.enforce, "0", ["setenforce", "0"]));
    }
    if (s.file !== null && s.configured === "enforcing") {
      out.push(
        fileChange(
          ctx.fs,
          SELINUX_CONFIG,
          s.file,
          s.file.replace(/^(\s*SELINUX\s*=\s*)\S+/m, "$1permissive"),
        ),
      );
    }
    return out;
  },
};

// ---- firewall ----------------------------------------------------------------------------------

function neededPorts(ctx: CheckContext): number[] {
  return [9339, 9559, ctx.cfg.api.port];
}

const firewall: Check = {
  id: "firewall",
  fixable: false,
  expected: (ctx) =>
    `firewalld inactive, or tcp ports ${neededPorts(ctx).join(", ")} open in its default zone`,
  run: (ctx) => {
    const { fs } = ctx;
    const pidText = fs.read("/run/firewalld.pid")?.trim();
    const pid = Number(pidText);
    const active = pidText !== undefined && (!fs.real || (Number.isInteger(pid) && pid > 0 && isAlive(pid)));
    if (!active) return { status: "pass", observed: "firewalld not running" };
    const zone =
      /^\s*DefaultZone\s*=\s*(\S+)/m.exec(fs.read("/etc/firewalld/firewalld.conf") ?? "")?.[1] ?? "public";
    const xml = fs.read(`/etc/firewalld/zones/${zone}.xml`) ?? "";
    const open: [number, number][] = [];
    for (const m of xml.matchAll(/<port\b[^>]*>/g)) {
      const attr = (n: string) => new RegExp(`\\b${n}="([^"]*)"`).exec(m[0])?.[1];
      if (attr("protocol") !== "tcp") continue;
      const [lo, hi] = (attr("port") ?? "").split("-").map(Number);
      if (lo !== undefined && Number.isFinite(lo))
        open.push([lo, hi !== undefined && Number.isFinite(hi) ? hi : lo]);
    }
    const closed = neededPorts(ctx).filter((p) => !open.some(([lo, hi]) => p >= lo && p <= hi));
    if (closed.length === 0)
      return { status: "pass", observed: `firewalld running, zone ${zone} opens the ports` };
    return {
      status: "warn",
      observed: `firewalld running; zone ${zone} does not open tcp ${closed.join(", ")}`,
    };
  },
};

// ---- hugepages ---------------------------------------------------------------------------------

const hugepages: Check = {
  id: "hugepages",
  fixable: true,
  expected: (ctx) => hugepagesExpected(ctx.cfg.host.hugepages),
  run: ({ fs, cfg }) => {
    const h = cfg.host.hugepages;
    const s = hugepagesState(fs, h);
    if (fs.real && !s.supported) {
      return { status: "fail", observed: `the kernel offers no ${h.pageSizeKB} kB huge pages` };
    }
    const missing = hugepagesMissing(s, h);
    // The hugepages component sets them at start: not yet done is a warning, not a failure.
    if (missing.length > 0) return { status: "warn", observed: missing.join("; ") };
    return {
      status: "pass",
      observed: `${s.targets.map((t) => `${t.file}=${t.count}`).join(", ")}; hugetlbfs at ${h.mountPoint}`,
    };
  },
  plan: ({ fs, cfg }) => hugepagesPlan(fs, cfg.host.hugepages),
};

// ---- containerd --------------------------------------------------------------------------------

const CONTAINERD_CONFIG = "/etc/containerd/config.toml";
type Table = Record<string, unknown>;

/** Where the runc options table is, by config version (1: containerd 1.x without version, 2, 3). */
function runcOptionsPath(version: unknown): string[] {
  if (version === 3)
    return ["plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runc", "options"];
  if (version === 2)
    return ["plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options"];
  return ["plugins", "cri", "containerd", "runtimes", "runc", "options"];
}

function parseContainerd(text: string): Table {
  try {
    return parseToml(text) as Table;
  } catch (err) {
    throw new Error(`cannot parse ${CONTAINERD_CONFIG} as TOML: ${(err as Error).message.split("\n")[0]}`);
  }
}

function getIn(t: Table, path: string[]): unknown {
  let cur: unknown = t;
  for (const k of path) cur = cur && typeof cur === "object" ? (cur as Table)[k] : undefined;
  return cur;
}

const containerd: Check = {
  id: "containerd",
  fixable: true,
  expected: () => `${CONTAINERD_CONFIG} sets SystemdCgroup = true in the runc options table`,
  run: ({ fs }) => {
    const text = fs.read(CONTAINERD_CONFIG);
    if (text === null)
      return {
        status: "fail",
        observed: `${CONTAINERD_CONFIG} missing (containerd's default is SystemdCgroup = false)`,
      };
    let t: Table;
    try {
      t = parseContainerd(text);
    } catch (err) {
      return { status: "fail", observed: (err as Error).message };
    }
    const path = runcOptionsPath(t.version);
    const v = getIn(t, [...path, "SystemdCgroup"]);
    const where = `${path.map((k) => (k.includes(".") ? `"${k}"` : k)).join(".")}.SystemdCgroup`;
    return {
      status: v === true ? "pass" : "fail",
      observed: `${where} = ${v === undefined ? "(not set)" : String(v)}`,
    };
  },
  plan: (ctx) => {
    const before = ctx.fs.read(CONTAINERD_CONFIG);
    const t: Table = before === null ? { version: 2 } : parseContainerd(before);
    const path = runcOptionsPath(t.version);
    if (getIn(t, [...path, "SystemdCgroup"]) === true) return [];
    let cur = t;
    for (const k of path) {
      const next = cur[k];
      if (next === undefined) cur[k] = {};
      else if (typeof next !== "object" || next === null || Array.isArray(next)) {
        throw new Error(`${CONTAINERD_CONFIG}: ${k} is not a table`);
      }
      cur = cur[k] as Table;
    }
    cur.SystemdCgroup = true;
    // Every setting is kept (parsed and written back); comments and layout are not, which is why
    // the original stays beside it as config.toml.k8s-offloadd.bak.
    return [fileChange(ctx.fs, CONTAINERD_CONFIG, before, `${stringifyToml(t)}\n`)];
  },
};

// ---- crictl ------------------------------------------------------------------------------------

const CRICTL_FILE = "/etc/crictl.yaml";
const CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock";
const CRICTL_KEYS = ["runtime-endpoint", "image-endpoint"];

function crictlState({ fs }: CheckContext) {
  const text = fs.read(CRICTL_FILE);
  const doc = parseDocument(text ?? "");
  const wrong = CRICTL_KEYS.filter((k) => doc.get(k) !== CONTAINERD_SOCKET);
  return { text, doc, wrong };
}

const crictl: Check = {
  id: "crictl",
  fixable: true,
  expected: () => `${CRICTL_FILE} with runtime-endpoint and image-endpoint ${CONTAINERD_SOCKET}`,
  run: (ctx) => {
    const s = crictlState(ctx);
    if (s.text === null) return { status: "fail", observed: `${CRICTL_FILE} missing` };
    if (s.doc.errors.length > 0)
      return { status: "fail", observed: `${CRICTL_FILE}: ${s.doc.errors[0]?.message}` };
    if (s.wrong.length === 0) return { status: "pass", observed: `both endpoints ${CONTAINERD_SOCKET}` };
    return {
      status: "fail",
      observed: s.wrong.map((k) => `${k}: ${JSON.stringify(s.doc.get(k) ?? null)}`).join(", "),
    };
  },
  plan: (ctx) => {
    const s = crictlState(ctx);
    if (s.wrong.length === 0) return [];
    if (s.doc.errors.length > 0) throw new Error(`${CRICTL_FILE} is not YAML: ${s.doc.errors[0]?.message}`);
    const doc: Document = s.text === null || s.doc.contents === null ? new Document({}) : s.doc;
    for (const k of CRICTL_KEYS) doc.set(k, CONTAINERD_SOCKET);
    return [fileChange(ctx.fs, CRICTL_FILE, s.text, String(doc))];
  },
};

// ---- proxy -------------------------------------------------------------------------------------

/** Drop-ins apply in file name order (later wins): this one sorts after the usual names. */
const PROXY_DROPIN = "/etc/systemd/system/containerd.service.d/zz-k8s-offloadd-no-proxy.conf";

/** The variables systemd's Environment= lines of a unit's drop-ins set (later files win). */
function dropinEnv({ fs }: CheckContext, unit: string): Record<string, string> {
  const dir = `/etc/systemd/system/${unit}.d`;
  const env: Record<string, string> = {};
  for (const f of fs.list(dir).filter((n) => n.endsWith(".conf"))) {
    for (const line of (fs.read(`${dir}/${f}`) ?? "").split("\n")) {
      const m = /^\s*Environment\s*=\s*(.*)$/.exec(line);
      if (!m?.[1]) continue;
      for (const w of m[1].match(/"[^"]*"|\S+/g) ?? []) {
        const a = w.startsWith('"') ? w.slice(1, -1) : w;
        const eq = a.indexOf("=");
        if (eq > 0) env[a.slice(0, eq)] = a.slice(eq + 1);
      }
    }
  }
  return env;
}

const proxyOf = (env: Record<string, string | undefined>) =>
  ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"].some((k) => env[k]);
const noProxyOf = (env: Record<string, string | undefined>) =>
  (env.NO_PROXY ?? env.no_proxy ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

function ipv4(s: string): number | null {
  const p = s.split(".");
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return null;
  return p.reduce((a, x) => a * 256 + Number(x), 0);
}

/** IPv4 network of "a.b.c.d/n" (or a bare address as /32), null for anything else. */
function net4(s: string): { base: number; bits: number } | null {
  const [a, n] = s.split("/");
  const ip = ipv4(a ?? "");
  const bits = n === undefined ? 32 : Number(n);
  if (ip === null || !Number.isInteger(bits) || bits < 0 || bits > 32) return null;
  const size = 2 ** (32 - bits);
  return { base: Math.floor(ip / size) * size, bits };
}

/** An entry covers a wanted address or CIDR when equal, "*", or an IPv4 network containing it. */
function covered(want: string, entries: string[]): boolean {
  const w = net4(want);
  return entries.some((e) => {
    if (e === want || e === "*") return true;
    const n = net4(e);
    if (!w || !n || n.bits > w.bits) return false;
    const size = 2 ** (32 - n.bits);
    return Math.floor(w.base / size) * size === n.base;
  });
}

function proxyState(ctx: CheckContext) {
  const h = ctx.cfg.host;
  const wanted = [
    "localhost",
    "127.0.0.1",
    "0.0.0.0",
    ...(h.nodeIP ? [h.nodeIP] : []),
    h.podCIDR,
    h.serviceCIDR,
  ];
  const sources = [
    { name: "daemon environment", env: ctx.env as Record<string, string | undefined> },
    { name: "containerd drop-ins", env: dropinEnv(ctx, "containerd.service") },
    { name: "docker drop-ins", env: dropinEnv(ctx, "docker.service") },
  ].map((s) => {
    const entries = noProxyOf(s.env);
    return { ...s, proxied: proxyOf(s.env), entries, missing: wanted.filter((w) => !covered(w, entries)) };
  });
  return { wanted, sources };
}

const proxy: Check = {
  id: "proxy",
  fixable: true,
  expected: (ctx) => `where a proxy is set, NO_PROXY covers ${proxyState(ctx).wanted.join(", ")}`,
  run: (ctx) => {
    const { sources } = proxyState(ctx);
    const proxied = sources.filter((s) => s.proxied);
    if (proxied.length === 0) return { status: "pass", observed: "no proxy set" };
    const short = proxied.filter((s) => s.missing.length > 0);
    if (short.length === 0)
      return {
        status: "pass",
        observed: `proxy set (${proxied.map((s) => s.name).join(", ")}); NO_PROXY covers the node`,
      };
    const observed = short.map((s) => `${s.name}: NO_PROXY lacks ${s.missing.join(", ")}`).join("; ");
    // Only containerd's drop-in is ours to write; the others are reported.
    return { status: short.some((s) => s.name === "containerd drop-ins") ? "fail" : "warn", observed };
  },
  plan: (ctx) => {
    const c = proxyState(ctx).sources.find((s) => s.name === "containerd drop-ins");
    if (!c?.proxied || c.missing.length === 0) return [];
    const list = [...c.entries, ...c.missing].join(",");
    const text =
      "# Written by k8s-offloadd preflight: NO_PROXY must cover the node's own addresses and CIDRs.\n" +
      "# Takes effect after `systemctl daemon-reload && systemctl restart containerd`.\n" +
      `[Service]\nEnvironment="NO_PROXY=${list}" "no_proxy=${list}"\n`;
    return [fileChange(ctx.fs, PROXY_DROPIN, ctx.fs.read(PROXY_DROPIN), text)];
  },
};

// ---- binaries ----------------------------------------------------------------------------------

const BIN_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

const binaries: Check = {
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

// ---- artifacts ---------------------------------------------------------------------------------

const artifacts: Check = {
  id: "artifacts",
  fixable: false,
  expected: () => "the P4 artifacts present with their pinned SHA-256",
  // The pins come with the pipeline issue; until then there is nothing to compare against.
  run: () => ({ status: "skip", observed: "no artifact pins configured" }),
};

/** Every check, in the order they run (config's CHECK_IDS). */
export const CHECKS: readonly Check[] = [
  kernel,
  swap,
  modules,
  sysctl,
  selinux,
  firewall,
  hugepages,
  containerd,
  crictl,
  proxy,
  binaries,
  artifacts,
  chassisConfig,
  hugepagesBoot,
  imagesCheck,
];
