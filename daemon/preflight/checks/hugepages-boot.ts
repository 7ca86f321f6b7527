import { basename } from "node:path";
import type { HostConfig } from "../../config/types";
import type { HostFs } from "../../host/hostfs";
import { fileChange } from "../file-change";
import { hugepagesState } from "../hugepages";
import { fstabLines } from "../parsers";
import type { Check, CheckContext, Planned } from "../types";

/**
 * hugepages-boot: the huge pages are reserved again at every boot, as k8s-infra-offload's
 * create_interfaces.sh persists them (`vm.nr_hugepages` in the sysctl configuration, hugetlbfs at
 * the mount point in /etc/fstab), so they are taken before memory fragments. The hugepages
 * component still sets and checks them at every start; this only covers the next boot, hence a
 * warning and not a failure when missing.
 * Tests: test/unit/hugepages-boot.test.ts "preflight hugepages-boot" (nothing persisted; pages per
 * NUMA node; a later sysctl file with a lower value; a higher value kept; 1 GB pages), and
 * test/unit/preflight.test.ts "the dry run lists exactly what …".
 */

/** Ours; sorts after the usual NN-name.conf files so the value is not overridden by them. */
export const HUGEPAGES_SYSCTL_FILE = "/etc/sysctl.d/zz-k8s-offloadd-hugepages.conf";
const FSTAB = "/etc/fstab";
const KEY = "vm.nr_hugepages";

/** Where systemd-sysctl looks, most important first: a name in an earlier directory hides the same name later. */
const SYSCTL_DIRS = [
  "/etc/sysctl.d",
  "/run/sysctl.d",
  "/usr/local/lib/sysctl.d",
  "/usr/lib/sysctl.d",
  "/lib/sysctl.d",
];

type Huge = HostConfig["hugepages"];

/** sysctl files in the order they are applied: by file name across the directories, /etc/sysctl.conf last. */
function sysctlFiles(fs: HostFs): string[] {
  const byName = new Map<string, string>();
  for (const dir of SYSCTL_DIRS) {
    for (const n of fs.list(dir)) if (n.endsWith(".conf") && !byName.has(n)) byName.set(n, `${dir}/${n}`);
  }
  const ordered = [...byName.keys()].sort().map((n) => byName.get(n) as string);
  // procps `sysctl --system` reads /etc/sysctl.conf after the directories (distributions link it as 99-sysctl.conf).
  return [...ordered.filter((f) => !f.endsWith("/99-sysctl.conf")), "/etc/sysctl.conf"];
}

/** The value of vm.nr_hugepages each file sets (the last assignment in the file), in apply order. */
function sysctlSetters(fs: HostFs): { file: string; value: number; text: string }[] {
  const out: { file: string; value: number; text: string }[] = [];
  for (const file of sysctlFiles(fs)) {
    const text = fs.read(file);
    if (text === null) continue;
    let value: number | null = null;
    for (const line of text.split("\n")) {
      const m = /^\s*-?\s*([A-Za-z0-9_./-]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (m?.[1] && m[1].replace(/\//g, ".") === KEY) value = Number.parseInt(m[2] ?? "", 10);
    }
    if (value !== null) out.push({ file, value: Number.isFinite(value) ? value : 0, text });
  }
  return out;
}

/** The size of the pages vm.nr_hugepages counts (the kernel's default huge page size). */
function defaultPageKB(fs: HostFs): number {
  const m = /^Hugepagesize:\s*(\d+)\s*kB/m.exec(fs.read("/proc/meminfo") ?? "");
  return m ? Number(m[1]) : 2048;
}

function pagesizeOption(h: Huge): string {
  return h.pageSizeKB >= 1048576 ? `${h.pageSizeKB / 1048576}G` : `${h.pageSizeKB / 1024}M`;
}

export function hugepagesBootState(fs: HostFs, h: Huge) {
  // vm.nr_hugepages is the total over all NUMA nodes; the config counts pages per node.
  const want = h.pages * hugepagesState(fs, h).targets.length;
  const setters = sysctlSetters(fs);
  const last = setters.at(-1) ?? null;
  const fstab = fs.read(FSTAB);
  const mounted = fstabLines(fstab).some((f) => f[1] === h.mountPoint && f[2] === "hugetlbfs");
  return {
    want,
    /** vm.nr_hugepages counts pages of the default size only; other sizes need the kernel command line. */
    bySysctl: defaultPageKB(fs) === h.pageSizeKB,
    setters,
    last,
    fstab,
    mounted,
  };
}

export const hugepagesBoot: Check = {
  id: "hugepages-boot",
  fixable: true,
  expected: ({ cfg }) => {
    const h = cfg.host.hugepages;
    return `huge pages reserved at boot: ${KEY} at least ${h.pages} per NUMA node in the sysctl configuration (${HUGEPAGES_SYSCTL_FILE}), hugetlbfs at ${h.mountPoint} in ${FSTAB}`;
  },
  run: ({ fs, cfg }: CheckContext) => {
    const h = cfg.host.hugepages;
    const s = hugepagesBootState(fs, h);
    const seen: string[] = [];
    if (!s.bySysctl) {
      seen.push(
        `${h.pageSizeKB} kB pages are not the kernel's default size: ${KEY} cannot reserve them; add hugepagesz=${pagesizeOption(h)} hugepages=${s.want} to the kernel command line`,
      );
    } else if (!s.last) seen.push(`no sysctl file sets ${KEY} (want ${s.want})`);
    else if (s.last.value < s.want)
      seen.push(`${s.last.file} sets ${KEY} = ${s.last.value} (want ${s.want})`);
    if (!s.mounted) seen.push(`no hugetlbfs line for ${h.mountPoint} in ${FSTAB}`);
    if (seen.length > 0) return { status: "warn", observed: seen.join("; ") };
    return {
      status: "pass",
      observed: `${s.last?.file} sets ${KEY} = ${s.last?.value}; ${FSTAB} mounts hugetlbfs at ${h.mountPoint}`,
    };
  },
  plan: ({ fs, cfg }: CheckContext): Planned[] => {
    const h = cfg.host.hugepages;
    const s = hugepagesBootState(fs, h);
    const out: Planned[] = [];
    if (s.bySysctl && (!s.last || s.last.value < s.want)) {
      const before = fs.read(HUGEPAGES_SYSCTL_FILE);
      const after = `# Huge pages for the P4-OVS datapath, reserved at boot (written by k8s-offloadd).\n${KEY} = ${s.want}\n`;
      if (before !== after) out.push(fileChange(fs, HUGEPAGES_SYSCTL_FILE, before, after));
      // A file applied after ours that sets a lower value would still win: its lines get our value.
      const ours = basename(HUGEPAGES_SYSCTL_FILE);
      const later = (f: string) => f === "/etc/sysctl.conf" || basename(f) > ours;
      for (const w of s.setters.filter((x) => later(x.file) && x.value < s.want)) {
        const edited = w.text
          .split("\n")
          .map((l) => {
            const m = /^(\s*-?\s*)([A-Za-z0-9_./-]+)(\s*=\s*).*$/.exec(l);
            return m && m[2]?.replace(/\//g, ".") === KEY ? `${m[1]}${m[2]}${m[3]}${s.want}` : l;
          })
          .join("\n");
        out.push(fileChange(fs, w.file, w.text, edited));
      }
    }
    if (!s.mounted) {
      const line = `nodev ${h.mountPoint} hugetlbfs pagesize=${pagesizeOption(h)} 0 0\n`;
      const base =
        s.fstab === null ? "" : s.fstab === "" || s.fstab.endsWith("\n") ? s.fstab : `${s.fstab}\n`;
      out.push(fileChange(fs, FSTAB, s.fstab, `${base}${line}`));
    }
    return out;
  },
};
