import { fileChange } from "../file-change";
import { listed, withNewline } from "../parsers";
import type { Check, CheckContext, Planned } from "../types";

const MODULES = ["overlay", "br_netfilter"];
const MODULES_FILE = "/etc/modules-load.d/k8s.conf";

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

/**
 * modules: overlay and br_netfilter are loaded and listed in modules-load.d (the guide's
 * k8s.conf). The fix runs `modprobe` for each missing one and appends the missing names.
 * Tests: test/unit/preflight.test.ts "missing module file: …" (the scenario loop), "a fix whose
 * directory is a file fails clearly …", "the dry run lists exactly what …".
 */
export const modules: Check = {
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
