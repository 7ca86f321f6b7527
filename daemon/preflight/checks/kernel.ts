import type { Check } from "../types";

const MIN_KERNEL: [number, number] = [5, 4];

/**
 * kernel: the running kernel is 5.4 or newer (the guide's minimum). Report only: no fix.
 * Tests: test/unit/preflight.test.ts "a passing root: …", "old kernel: fail, not fixable; fix leaves
 * it failing", "disabled checks are skip and are not fixed", "a failing check keeps the node out of
 * ready, …".
 */
export const kernel: Check = {
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
