import { fileChange } from "../file-change";
import { kernelChange } from "../kernel-change";
import { withNewline } from "../parsers";
import type { Check, CheckContext, Planned } from "../types";

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

/**
 * sysctl: bridge-nf-call-ip(6)tables and ip_forward are 1 now and in sysctl.d/kubernetes.conf.
 * The fix rewrites our keys' lines in that file (every other line kept) and runs `sysctl -w`.
 * Tests: test/unit/preflight.test.ts "wrong sysctl: …" (the scenario loop), "the sysctl fix runs
 * `sysctl -w` with an argument array (…)", "the dry run lists exactly what …".
 */
export const sysctl: Check = {
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
