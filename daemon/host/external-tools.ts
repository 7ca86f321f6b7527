/**
 * The Kubernetes node tools the guide's teardown and hooks use (kubeadm, kubectl, crictl, systemctl;
 * firewall-cmd for the preflight firewall check),
 * found in a PATH list the way a shell would and run with argument arrays (never a shell). A tool
 * that is not there is an error naming it and every directory searched, so a job step can say so.
 */
import { delimiter, isAbsolute, join } from "node:path";
import { type CommandResult, describeFailure, runCommand } from "./command";
import { isExecutable } from "./hostfs";

/** The tools this adapter may run: nothing else can be asked of it. */
export type ExternalTool = "kubeadm" | "kubectl" | "crictl" | "systemctl" | "firewall-cmd";

export class ToolNotFoundError extends Error {
  override readonly name = "ToolNotFoundError";
  constructor(
    readonly tool: ExternalTool,
    readonly dirs: readonly string[],
  ) {
    super(`${tool} not found in PATH (${dirs.length > 0 ? dirs.join(delimiter) : "empty"})`);
  }
}

export interface ExternalToolsOptions {
  /** Directories searched, in order; null: the PATH of `env`. */
  path: readonly string[] | null;
  /** Environment of the tools (already scrubbed of systemd's private variables); PATH is set to the list. */
  env: NodeJS.ProcessEnv;
  /** Hard limit for one run; the tool is ended after it. */
  timeoutMs: number;
  /**
   * How a tool is run: a job's StepProcesses (own process group, recorded, ended on daemon stop);
   * default runCommand (a plain child, SIGKILL at the timeout).
   */
  exec?: (
    argv: readonly string[],
    opts: { timeoutMs: number; env: NodeJS.ProcessEnv; input?: string },
  ) => Promise<CommandResult>;
}

export interface ToolRun extends CommandResult {
  argv: string[];
}

export class ExternalTools {
  readonly dirs: readonly string[];
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly opts: ExternalToolsOptions) {
    // Relative PATH entries would depend on the daemon's working directory: ignored, as a root shell should.
    this.dirs = (opts.path ?? (opts.env.PATH ?? "").split(delimiter)).filter(
      (d) => d !== "" && isAbsolute(d),
    );
    this.env = { ...opts.env, PATH: this.dirs.join(delimiter) };
  }

  /** The tool's full path, or null when no directory of the list has it as an executable file. */
  find(tool: ExternalTool): string | null {
    for (const dir of this.dirs) {
      const p = join(dir, tool);
      if (isExecutable(p)) return p;
    }
    return null;
  }

  /**
   * Runs the tool (with `input` on its stdin, else none); resolves whatever its exit code. Rejects
   * ToolNotFoundError when it is missing.
   */
  async run(tool: ExternalTool, args: readonly string[], input?: string): Promise<ToolRun> {
    const file = this.find(tool);
    if (!file) throw new ToolNotFoundError(tool, this.dirs);
    const exec = this.opts.exec ?? runCommand;
    const r = await exec([file, ...args], {
      timeoutMs: this.opts.timeoutMs,
      env: this.env,
      ...(input === undefined ? {} : { input }),
    });
    return { ...r, argv: [tool, ...args] };
  }

  /** Runs the tool and resolves its stdout; rejects with the failure in one line when it exits non-zero. */
  async must(tool: ExternalTool, args: readonly string[], input?: string): Promise<string> {
    const r = await this.run(tool, args, input);
    if (r.code !== 0) throw new Error(describeFailure(r.argv, r));
    return r.stdout;
  }
}
