import type { HostConfig } from "../config/types";
import type { HostFs } from "../host/hostfs";
import type { Planned } from "./types";

/**
 * Hugepages as the guide sets them: `pages` written to nr_hugepages of the page size on every NUMA
 * node that exists (node1 may not), or the global file when the kernel shows no NUMA nodes; hugetlbfs
 * mounted at mountPoint. Shared by the preflight check (and its fix) and the hugepages component.
 */
export interface HugepagesState {
  /** The nr_hugepages files to reach, with what they hold (null: missing). */
  targets: { file: string; count: number | null }[];
  mounted: boolean;
  /** The kernel offers this page size (its sysfs directory exists). */
  supported: boolean;
}

type Huge = HostConfig["hugepages"];

const sizeDir = (h: Huge) => `hugepages-${h.pageSizeKB}kB`;

export function hugepagesState(fs: HostFs, h: Huge): HugepagesState {
  const global = `/sys/kernel/mm/hugepages/${sizeDir(h)}`;
  const nodes = fs
    .list("/sys/devices/system/node")
    .filter((n) => /^node\d+$/.test(n))
    .map((n) => `/sys/devices/system/node/${n}/hugepages/${sizeDir(h)}`)
    .filter((d) => fs.isDir(d));
  const files = nodes.length > 0 ? nodes.map((d) => `${d}/nr_hugepages`) : [`${global}/nr_hugepages`];
  const targets = files.map((file) => {
    const text = fs.read(file);
    const n = text === null ? Number.NaN : Number.parseInt(text.trim(), 10);
    return { file, count: Number.isFinite(n) ? n : null };
  });
  return { targets, mounted: isMounted(fs, h.mountPoint), supported: fs.isDir(global) || nodes.length > 0 };
}

function isMounted(fs: HostFs, mountPoint: string): boolean {
  return (fs.read("/proc/mounts") ?? "")
    .split("\n")
    .map((l) => l.split(" "))
    .some((f) => f[1] === mountPoint && f[2] === "hugetlbfs");
}

/** What is still missing, in words; [] when done. */
export function hugepagesMissing(s: HugepagesState, h: Huge): string[] {
  const out = s.targets
    .filter((t) => t.count === null || t.count < h.pages)
    .map((t) => `${t.file} holds ${t.count ?? "nothing"} (want ${h.pages})`);
  if (!s.mounted) out.push(`no hugetlbfs mounted at ${h.mountPoint}`);
  return out;
}

export function hugepagesExpected(h: Huge): string {
  return `${h.pages} pages of ${h.pageSizeKB} kB per NUMA node, hugetlbfs mounted at ${h.mountPoint}`;
}

/**
 * The writes and the mount that bring the host to the configured hugepages. Under a fake root the
 * mount is emulated by the line the kernel would add to /proc/mounts.
 */
export function hugepagesPlan(fs: HostFs, h: Huge): Planned[] {
  const s = hugepagesState(fs, h);
  if (fs.real && !s.supported) {
    throw new Error(
      `the kernel offers no ${h.pageSizeKB} kB huge pages (no /sys/kernel/mm/hugepages/${sizeDir(h)})`,
    );
  }
  const out: Planned[] = [];
  for (const t of s.targets) {
    if (t.count !== null && t.count >= h.pages) continue;
    out.push({
      change: {
        file: t.file,
        action: "write",
        ...(t.count === null ? {} : { before: String(t.count) }),
        after: String(h.pages),
      },
      apply: () => fs.writeKernel(t.file, `${h.pages}\n`),
    });
  }
  if (!s.mounted) {
    const pagesize = h.pageSizeKB >= 1048576 ? `${h.pageSizeKB / 1048576}G` : `${h.pageSizeKB / 1024}M`;
    const argv = ["mount", "-t", "hugetlbfs", "-o", `pagesize=${pagesize}`, "nodev", h.mountPoint];
    if (fs.real) {
      out.push({
        change: { command: argv.join(" "), action: "run" },
        apply: async () => {
          fs.mkdir(h.mountPoint);
          await fs.run(argv);
        },
      });
    } else {
      const line = `nodev ${h.mountPoint} hugetlbfs rw,relatime,pagesize=${pagesize} 0 0`;
      out.push({
        change: { file: "/proc/mounts", action: "append", after: line },
        apply: () => {
          fs.mkdir(h.mountPoint);
          fs.appendFake("/proc/mounts", line);
        },
      });
    }
  }
  return out;
}

/**
 * What `dpdk-socket-mem` ("1024" or "1024,512": MB per NUMA node, node 0 first) needs of the huge
 * pages, and where it falls short, in words; [] when it fits. `of` "reserved": nr_hugepages (the
 * hugepages component's readiness); "free": free_hugepages (just before ovs-vswitchd starts, when
 * EAL takes them). A kernel that shows no NUMA nodes has one pool: the global file, the sum.
 */
export function dpdkHugepagesShortfall(
  fs: HostFs,
  h: Huge,
  socketMem: string,
  of: "reserved" | "free",
): string[] {
  const file = of === "reserved" ? "nr_hugepages" : "free_hugepages";
  const mb = socketMem.split(",").map((v) => Number.parseInt(v, 10));
  const pagesFor = (m: number) => Math.ceil((m * 1024) / h.pageSizeKB);
  const nodes = fs
    .list("/sys/devices/system/node")
    .filter((n) => /^node\d+$/.test(n))
    .map((n) => Number(n.slice(4)));
  const wants =
    nodes.length > 0
      ? mb.map((m, node) => ({
          node,
          mb: m,
          dir: `/sys/devices/system/node/node${node}/hugepages/${sizeDir(h)}`,
        }))
      : [{ node: null, mb: mb.reduce((a, b) => a + b, 0), dir: `/sys/kernel/mm/hugepages/${sizeDir(h)}` }];
  const out: string[] = [];
  for (const w of wants) {
    if (w.mb === 0) continue;
    const need = pagesFor(w.mb);
    const text = fs.read(`${w.dir}/${file}`);
    const have = text === null ? 0 : Number.parseInt(text.trim(), 10) || 0;
    if (have >= need) continue;
    const where = w.node === null ? "the host" : `NUMA node ${w.node}`;
    const has = text === null ? `no ${w.dir}/${file}` : `${w.dir}/${file} is ${have}`;
    out.push(
      `ovs.dpdk.socketMem "${socketMem}" asks ${w.mb} MB on ${where}: ${need} pages of ${h.pageSizeKB} kB ${of}, ${has} (short by ${need - have} pages)`,
    );
  }
  return out;
}
