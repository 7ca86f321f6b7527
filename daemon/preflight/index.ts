import type { CheckId, Config } from "../config/types";
import { ExternalTools, ToolNotFoundError } from "../host/external-tools";
import { HostFs } from "../host/hostfs";
import { Mounts } from "../host/mounts";
import { CHECKS } from "./checks";
import type { Change, CheckContext, CheckResult, Planned } from "./types";

export type { Change, CheckResult, CheckStatus } from "./types";

/** What one check's fix changed (or, in a dry run, would change); error: why it stopped. */
export interface FixResult {
  id: CheckId;
  changes: Change[];
  error: string | null;
  /**
   * Whether a service must be restarted for the changes to take effect (a running containerd reads
   * its config.toml and drop-ins only when it starts); null: the changes need no restart.
   */
  restart: string | null;
}

export interface FixReport {
  dryRun: boolean;
  /** Only the checks that had something to change (or failed to). */
  fixes: FixResult[];
  /** The checks after the fix (a dry run: as they are). */
  checks: CheckResult[];
}

/** What the API asks of preflight (daemon/preflight runs on the host; the API only asks). */
export interface PreflightApi {
  run(): Promise<CheckResult[]>;
  fix(dryRun: boolean): Promise<FixReport>;
}

/**
 * Runs the checks below host.root and applies their fixes. A fix is planned for every enabled,
 * fixable check that does not pass, all against the same state, before anything is applied: the dry
 * run returns those plans, the real run applies them in order, so both list the same changes. A
 * check's fix stops at its first failing change (files are written atomically: a failed write leaves
 * the file as it was) and that check is then reported `fail`, naming the error. When a change is
 * read by a service only at its start (Planned.readBy), the fix says whether that service runs and
 * must be restarted; the daemon never restarts it (containerd holds the node's pods).
 */
export class Preflight implements PreflightApi {
  private readonly ctx: CheckContext;
  private readonly disabled: Set<CheckId>;
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * `env`: the daemon's environment (the proxy check reads it; the tools run with it). `tools`:
   * systemctl and firewall-cmd, by default found in kubernetes.toolPath (else env's PATH).
   */
  constructor(cfg: Config, env: NodeJS.ProcessEnv = process.env, tools?: ExternalTools) {
    const fs = new HostFs(cfg.host.root);
    this.ctx = {
      fs,
      cfg,
      env,
      tools:
        tools ??
        new ExternalTools({
          path: cfg.kubernetes.toolPath,
          env,
          timeoutMs: cfg.kubernetes.commandTimeoutSec * 1000,
        }),
      mounts: new Mounts(fs),
    };
    this.disabled = new Set(cfg.host.preflight.disabled);
  }

  run(): Promise<CheckResult[]> {
    return this.serial(() => this.runNow());
  }

  fix(dryRun: boolean): Promise<FixReport> {
    return this.serial(async () => {
      const before = await this.runNow();
      const plans: { id: CheckId; planned: Planned[]; error: string | null }[] = [];
      for (const check of CHECKS) {
        const r = before.find((x) => x.id === check.id);
        if (!check.plan || !r || r.status === "pass" || r.status === "skip") continue;
        try {
          plans.push({ id: check.id, planned: await check.plan(this.ctx), error: null });
        } catch (err) {
          plans.push({ id: check.id, planned: [], error: (err as Error).message });
        }
      }
      const fixes: FixResult[] = [];
      for (const p of plans) {
        const changes: Change[] = [];
        const units = new Set<string>();
        let error = p.error;
        for (const item of p.planned) {
          if (!dryRun) {
            try {
              await item.apply();
            } catch (err) {
              error = (err as Error).message;
              break;
            }
          }
          changes.push(item.change);
          if (item.readBy) units.add(item.readBy);
        }
        const restart = units.size > 0 ? await this.restartNeeded([...units]) : null;
        if (changes.length > 0 || error) fixes.push({ id: p.id, changes, error, restart });
      }
      const checks = dryRun ? before : await this.runNow();
      for (const f of fixes) {
        const r = checks.find((c) => c.id === f.id);
        if (r && f.error) {
          r.status = "fail";
          r.observed = `${r.observed}; fix failed: ${f.error}`;
        }
      }
      return { dryRun, fixes, checks };
    });
  }

  private async runNow(): Promise<CheckResult[]> {
    const out: CheckResult[] = [];
    for (const check of CHECKS) {
      const base = { id: check.id, expected: check.expected(this.ctx), fixable: check.fixable };
      if (this.disabled.has(check.id)) {
        out.push({ ...base, status: "skip", observed: "disabled in config (host.preflight.disabled)" });
        continue;
      }
      try {
        out.push({ ...base, ...(await check.run(this.ctx)) });
      } catch (err) {
        out.push({ ...base, status: "fail", observed: (err as Error).message });
      }
    }
    return out;
  }

  /** Says, for each unit that reads a changed file only at start, whether it runs (and so must be restarted). */
  private async restartNeeded(units: string[]): Promise<string> {
    const said: string[] = [];
    for (const unit of units) {
      try {
        const r = await this.ctx.tools.run("systemctl", ["is-active", "--quiet", unit]);
        said.push(
          r.code === 0
            ? `${unit} is running: restart it (systemctl restart ${unit}) for the change to take effect`
            : `${unit} is not running: it reads the change when it starts`,
        );
      } catch (err) {
        // The change is made either way: not knowing whether the unit runs is said, not an error.
        const why =
          err instanceof ToolNotFoundError ? err.message : `cannot ask systemctl: ${(err as Error).message}`;
        said.push(`${why}: restart ${unit} if it runs, for the change to take effect`);
      }
    }
    return said.join("; ");
  }

  /** One run or fix at a time: a fix never interleaves with another, nor with a run. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
