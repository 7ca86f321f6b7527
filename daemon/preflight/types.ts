import type { CheckId, Config } from "../config/types";
import type { ExternalTools } from "../host/external-tools";
import type { HostFs } from "../host/hostfs";
import type { Mounts } from "../host/mounts";

export type CheckStatus = "pass" | "warn" | "fail" | "skip";

/** One check's answer: what it saw against what it expected, and whether `fix` can do something. */
export interface CheckResult {
  id: CheckId;
  status: CheckStatus;
  observed: string;
  expected: string;
  fixable: boolean;
}

/**
 * One change a fix makes (or, in a dry run, would make). Host paths ("/etc/crictl.yaml"), not the
 * paths below host.root; a directory a fix creates is a `file` with action "create". `before` is absent for a file that did not exist; a command has neither.
 */
export interface Change {
  file?: string;
  command?: string;
  action: "create" | "edit" | "write" | "append" | "run";
  before?: string;
  after?: string;
}

/** A change and how to make it: the dry run lists `change`, the real run also calls `apply`. */
export interface Planned {
  change: Change;
  apply(): Promise<void> | void;
  /** The systemd unit that reads this change only when it starts: a running one must be restarted. */
  readBy?: string;
}

export interface CheckContext {
  fs: HostFs;
  cfg: Config;
  /** The environment whose proxy variables the proxy check reads (the daemon's own). */
  env: NodeJS.ProcessEnv;
  /** systemctl and firewall-cmd, found in kubernetes.toolPath (the adapter the job steps use). */
  tools: ExternalTools;
  /** The mount table and mount(8), below host.root. */
  mounts: Mounts;
}

export interface Check {
  id: CheckId;
  /** A fix exists (a plan can be made); report-only checks have none. */
  fixable: boolean;
  expected(ctx: CheckContext): string;
  run(
    ctx: CheckContext,
  ): Promise<{ status: CheckStatus; observed: string }> | { status: CheckStatus; observed: string };
  /** What the fix would change in the current state; [] when nothing needs to change. */
  plan?(ctx: CheckContext): Promise<Planned[]> | Planned[];
}
