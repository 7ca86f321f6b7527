import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { OvsConfig } from "../config/types";
import { type CommandResult, describeFailure, runCommand } from "./command";

/**
 * The Open vSwitch command-line tools, run against our own run/db directories. Every ovs-vsctl
 * call carries --timeout (DESIGN.md §5): without it a call waits forever for a dead server.
 */
export class OvsTools {
  readonly dbSock: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(
    private readonly cfg: OvsConfig,
    baseEnv: NodeJS.ProcessEnv,
  ) {
    this.dbSock = `${cfg.runDir}/db.sock`;
    this.env = ovsEnv(cfg, baseEnv);
  }

  /** `ovsdb-tool create conf.db vswitch.ovsschema` unless the database exists (run_ovs.sh). */
  async createDbIfMissing(): Promise<void> {
    for (const d of [dirname(this.cfg.dbFile), this.cfg.runDir, this.cfg.logDir]) {
      mkdirSync(d, { recursive: true, mode: 0o750 });
    }
    if (existsSync(this.cfg.dbFile)) return;
    await this.must([this.cfg.ovsdbTool, "create", this.cfg.dbFile, this.cfg.schema]);
  }

  /** ovsdb-server readiness: `ovs-vsctl --no-wait init` answers (and initialises the db). */
  async dbAnswers(): Promise<CommandResult> {
    return this.vsctl(["--no-wait", `--timeout=${Math.min(this.cfg.vsctlTimeoutSec, 2)}`, "init"]);
  }

  /**
   * ovs-vswitchd readiness: a waiting write returns only once vswitchd has applied the database
   * (cur_cfg caught up with next_cfg). A changing value makes every probe a real round trip.
   */
  async vswitchdApplied(): Promise<CommandResult> {
    return this.vsctl([
      `--timeout=${this.cfg.vsctlTimeoutSec}`,
      "set",
      "Open_vSwitch",
      ".",
      `external_ids:k8s-offloadd-probe=${Date.now()}`,
    ]);
  }

  /** Polite first rung of the stop ladder for an OVS daemon. */
  async appctlExit(target: "ovsdb-server" | "ovs-vswitchd"): Promise<void> {
    const ctl = `${this.cfg.runDir}/${target}.ctl`;
    await this.must([this.cfg.ovsAppctl, `--timeout=${this.cfg.vsctlTimeoutSec}`, "-t", ctl, "exit"]);
  }

  private vsctl(args: string[]): Promise<CommandResult> {
    return runCommand([this.cfg.ovsVsctl, `--db=unix:${this.dbSock}`, ...args], {
      timeoutMs: (this.cfg.vsctlTimeoutSec + 5) * 1000,
      env: this.env,
    });
  }

  private async must(argv: string[]): Promise<void> {
    const r = await runCommand(argv, { timeoutMs: (this.cfg.vsctlTimeoutSec + 5) * 1000, env: this.env });
    if (r.code !== 0) throw new Error(describeFailure(argv, r));
  }
}

/**
 * Environment of the OVS processes and tools: OVS_* dirs point at our own run/db/log dirs (so the
 * distribution's binaries work from a scratch dir too) and the SDE libraries are on the library
 * path, as p4ovs_env_setup.sh does for P4-OVS.
 */
export function ovsEnv(cfg: OvsConfig, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    OVS_INSTALL: cfg.install,
    OVS_RUNDIR: cfg.runDir,
    OVS_DBDIR: dirname(cfg.dbFile),
    OVS_LOGDIR: cfg.logDir,
  };
  if (cfg.sdeInstall) {
    const libs = [
      `${cfg.sdeInstall}/lib`,
      `${cfg.sdeInstall}/lib64`,
      `${cfg.sdeInstall}/lib/x86_64-linux-gnu`,
    ];
    libs.push(`${cfg.install}/lib`);
    if (base.LD_LIBRARY_PATH) libs.push(base.LD_LIBRARY_PATH);
    env.SDE_INSTALL = cfg.sdeInstall;
    env.LD_LIBRARY_PATH = libs.join(":");
  }
  return env;
}
