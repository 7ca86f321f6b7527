import { fileChange } from "../file-change";
import { kernelChange } from "../kernel-change";
import type { Check, CheckContext, Planned } from "../types";

const SELINUX_CONFIG = "/etc/selinux/config";

function selinuxState({ fs }: CheckContext) {
  const enforce = fs.read("/sys/fs/selinux/enforce")?.trim() ?? null;
  const live = enforce === null ? "disabled" : enforce === "1" ? "enforcing" : "permissive";
  const file = fs.read(SELINUX_CONFIG);
  const configured = /^\s*SELINUX\s*=\s*(\S+)/m.exec(file ?? "")?.[1] ?? null;
  return { enforce, live, file, configured };
}

/**
 * selinux: SELinux is permissive or disabled, now and in /etc/selinux/config (as the guide sets
 * it). The fix runs `setenforce 0` and writes SELINUX=permissive.
 * Tests: test/unit/preflight.test.ts "enforcing SELinux: …" (the scenario loop), "the dry run
 * lists exactly what …".
 */
export const selinux: Check = {
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
