import type { Check, CheckContext, Planned } from "../types";

/** /proc/swaps with no device: its header line only. */
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

/**
 * swap: no active swap and no zram device (kubelet refuses to run with swap). The fix runs
 * `swapoff -a` and resets each zram device; fstab swap lines and a zram-generator config only warn
 * (they bring swap back at the next boot, and the admin decides).
 * Tests: test/unit/preflight.test.ts "swap on: …" and "zram device: …" (the scenario loop), "swap:
 * fstab lines and zram-generator are reported, not edited", "the dry run lists exactly what …".
 */
export const swap: Check = {
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
