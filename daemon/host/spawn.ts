import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Start a long-running child the way a supervisor must:
 * - argument array, no shell;
 * - its own process group (detached), so signals to the daemon's group do not reach it and a
 *   daemon restart (KillMode=process) leaves it running;
 * - stdout and stderr appended to a log file, not a pipe: a child adopted by the next daemon must
 *   not die of SIGPIPE when this one goes away. Opened O_APPEND: when the follower rotates the file
 *   by copy-truncate (log-follower.ts), the child's next write goes to the new end, not to its old
 *   offset (which would leave a hole of NULs the size of the old file).
 */
export function spawnLogged(
  argv: readonly string[],
  opts: { env: NodeJS.ProcessEnv; logFile: string },
): ChildProcess {
  const [file, ...args] = argv;
  if (!file) throw new Error("empty command");
  mkdirSync(dirname(opts.logFile), { recursive: true, mode: 0o750 });
  const fd = openSync(opts.logFile, "a", 0o640);
  try {
    const child = spawn(file, args, { detached: true, stdio: ["ignore", fd, fd], env: opts.env });
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Signal a child's whole process group; falls back to the pid alone when it has no group. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    try {
      process.kill(pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
    }
  }
}
