import { execFile } from "node:child_process";

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a short-lived command with an argument array (never a shell) and a hard timeout.
 * Never rejects for a non-zero exit: callers decide what failure means; rejects only when the
 * program cannot be run at all.
 */
export function runCommand(
  argv: readonly string[],
  opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; input?: string },
): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error("empty command"));
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: opts.timeoutMs, killSignal: "SIGKILL", env: opts.env ?? process.env, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: unknown; signal?: NodeJS.Signals }) | null;
        if (e && typeof e.code === "string") {
          reject(new Error(`cannot run ${file}: ${e.message}`));
          return;
        }
        resolve({
          code: e ? (typeof e.code === "number" ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** One line that says how a command failed, for error messages. */
export function describeFailure(argv: readonly string[], r: CommandResult): string {
  const how = r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`;
  const err = (r.stderr || r.stdout).trim().split("\n").slice(-2).join(" | ");
  return `${argv.join(" ")}: ${how}${err ? `: ${err}` : ""}`;
}
