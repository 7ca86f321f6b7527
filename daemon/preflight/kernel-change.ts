import type { CheckContext, Planned } from "./types";

/**
 * A kernel value set by a fix: `cmd` (argument array) on the real host, the fake file written under
 * a fake root (which plays the kernel there). Shared by the sysctl and selinux checks.
 */
export function kernelChange(
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
