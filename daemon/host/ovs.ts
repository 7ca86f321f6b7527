import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import type { OvsConfig } from "../config/types";
import { describeFailure, runCommand } from "./command";
import { netnsPath } from "./netns";
import { ovsdbApplied, ovsdbInit, type ProbeAnswer } from "./ovsdb-probes";
import { findByComm, isSameProcess, netnsInode, procEnv } from "./proc";

export type OvsProgram = "ovsdb-server" | "ovs-vswitchd";

/** What prepareDb did to conf.db, in words for the event log; null: nothing (it was up to date). */
export type DbAction = string | null;

/** An OVS daemon running in the datapath's namespace that the daemon did not start. */
export interface ForeignOvs {
  pid: number;
  program: OvsProgram;
  startTime: number;
  argv: string[];
}

/**
 * The Open vSwitch command-line tools, run against our own run/db directories. Every ovs-vsctl
 * call carries --timeout (docs/architecture.md#measurements): without it a call waits forever for a
 * dead server.
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

  /**
   * conf.db made ready for a fresh ovsdb-server:
   * - ovs.recreateDb: deleted and created empty, as run_ovs.sh does at every start;
   * - missing: `ovsdb-tool create conf.db vswitch.ovsschema` (run_ovs.sh);
   * - schema older (or newer) than ovs.schema (`ovsdb-tool needs-conversion` says yes): as Open
   *   vSwitch's ovs-lib upgrade_db does: copy to conf.db.backup<db-version>-<db-cksum>, compact,
   *   convert; a conversion that fails leaves an empty database (the backup stays).
   * Never called while our ovsdb-server runs (the component adopts a running one instead).
   */
  async prepareDb(): Promise<DbAction> {
    const c = this.cfg;
    for (const d of [dirname(c.dbFile), c.runDir, c.logDir]) mkdirSync(d, { recursive: true, mode: 0o750 });
    if (c.recreateDb) {
      // run_ovs.sh: rm -rf conf.db .conf.db* (the lock and a half-written temp file).
      rmSync(c.dbFile, { force: true });
      rmSync(join(dirname(c.dbFile), `.${basename(c.dbFile)}.~lock~`), { force: true });
      await this.must([c.ovsdbTool, "create", c.dbFile, c.schema]);
      return `recreated ${c.dbFile} empty (ovs.recreateDb)`;
    }
    if (!existsSync(c.dbFile)) {
      await this.must([c.ovsdbTool, "create", c.dbFile, c.schema]);
      return `created ${c.dbFile}`;
    }
    const needs = await this.tool(["needs-conversion", c.dbFile, c.schema]);
    if (needs.trim() !== "yes") return null;
    const from = (await this.tool(["db-version", c.dbFile])).trim();
    const to = (await this.tool(["schema-version", c.schema])).trim();
    const cksum = (await this.tool(["db-cksum", c.dbFile])).trim().split(/\s+/)[0] ?? "";
    const backup = `${c.dbFile}.backup${from}-${cksum}`;
    atomicCopy(c.dbFile, backup);
    // ovs-lib: compacting first keeps a record created before its first reference from being
    // dropped by the conversion; a failure here is not fatal (an older tool may not understand it).
    await runCommand([c.ovsdbTool, "compact", c.dbFile], this.opts());
    const argv = [c.ovsdbTool, "convert", c.dbFile, c.schema];
    const r = await runCommand(argv, this.opts());
    if (r.code === 0) return `converted ${c.dbFile} from schema ${from} to ${to}; backup ${backup}`;
    rmSync(c.dbFile, { force: true });
    await this.must([c.ovsdbTool, "create", c.dbFile, c.schema]);
    return `could not convert ${c.dbFile} from schema ${from} to ${to} (${describeFailure(argv, r)}); created it empty, as ovs-lib does; the old one is in ${backup}`;
  }

  /**
   * ovsdb-server readiness: what `ovs-vsctl --no-wait init` does (the Open_vSwitch row made when
   * missing), spoken as JSON-RPC on db.sock: no ovs-vsctl fork per probe (issue 13).
   */
  dbAnswers(): Promise<ProbeAnswer> {
    return ovsdbInit(this.dbSock, Math.min(this.cfg.vsctlTimeoutSec, 2) * 1000);
  }

  /**
   * ovs-vswitchd readiness: what a waiting ovs-vsctl write does (next_cfg incremented, then wait until
   * vswitchd's cur_cfg catches up, i.e. it has applied the database), within ovs.vsctlTimeoutSec,
   * spoken as JSON-RPC on db.sock. A fresh increment makes every probe a real round trip.
   */
  vswitchdApplied(): Promise<ProbeAnswer> {
    return ovsdbApplied(this.dbSock, this.cfg.vsctlTimeoutSec * 1000);
  }

  /**
   * Polite first rung of the stop ladder: `ovs-appctl -t <program> exit`, found the way an admin's
   * `ovs-appctl -t ovs-vswitchd ...` finds it: <OVS_RUNDIR>/<program>.pid, then the control socket
   * <OVS_RUNDIR>/<program>.<pid>.ctl (our OVS_RUNDIR is ovs.runDir).
   */
  async appctlExit(target: OvsProgram): Promise<void> {
    await this.must([this.cfg.ovsAppctl, `--timeout=${this.cfg.vsctlTimeoutSec}`, "-t", target, "exit"]);
  }

  /**
   * OVS daemons in the namespace our OVS runs in (netns: null is the daemon's own) that are not ours:
   * `isOurs` says which pids the daemon has on record or would adopt (exactly our command line).
   * Another ovsdb-server or ovs-vswitchd there would fight ours for the database, the ports and the
   * huge pages (a run_ovs.sh left running, the distribution's service).
   */
  findForeign(netns: string | null, isOurs: (pid: number, argv: string[]) => boolean): ForeignOvs[] {
    const ns = netns ? inodeOf(netnsPath(netns)) : netnsInode("self");
    if (ns === null) return [];
    return findByComm(["ovsdb-server", "ovs-vswitchd"])
      .filter((p) => netnsInode(p.pid) === ns && !isOurs(p.pid, p.argv))
      .map((p) => ({ pid: p.pid, program: p.comm as OvsProgram, startTime: p.startTime, argv: p.argv }));
  }

  /**
   * Stops a foreign OVS daemon with the stop ladder: `ovs-appctl -t <its control socket> exit`,
   * SIGTERM, wait, SIGKILL, wait. Only the pid itself is signalled (it is not our process group), and
   * only while it is still the same process (pid, start time, command line). Returns how it ended.
   */
  async stopForeign(p: ForeignOvs, waitMs: number): Promise<string> {
    const same = () => isSameProcess(p.pid, p.startTime, p.argv);
    const ctl = foreignControlSocket(p);
    if (ctl) {
      await runCommand([this.cfg.ovsAppctl, "--timeout=2", "-t", ctl, "exit"], this.opts());
      if (await waitGone(same, waitMs)) return `stopped by ovs-appctl -t ${ctl} exit`;
    }
    for (const sig of ["SIGTERM", "SIGKILL"] as const) {
      if (!same()) return "exited";
      try {
        process.kill(p.pid, sig);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
      }
      if (await waitGone(same, waitMs)) return `stopped by ${sig}`;
    }
    throw new Error(`${p.program} pid ${p.pid} did not exit after SIGTERM and SIGKILL`);
  }

  /** An ovsdb-tool query; its stdout. */
  private async tool(args: string[]): Promise<string> {
    const argv = [this.cfg.ovsdbTool, ...args];
    const r = await runCommand(argv, this.opts());
    if (r.code !== 0) throw new Error(describeFailure(argv, r));
    return r.stdout;
  }

  private opts() {
    return { timeoutMs: (this.cfg.vsctlTimeoutSec + 5) * 1000, env: this.env };
  }

  private async must(argv: string[]): Promise<void> {
    const r = await runCommand(argv, this.opts());
    if (r.code !== 0) throw new Error(describeFailure(argv, r));
  }
}

/**
 * Where a foreign OVS daemon listens for ovs-appctl: its --unixctl= argument, else the default
 * <its OVS_RUNDIR or the compiled-in run dir>/<program>.<pid>.ctl when that socket exists.
 */
function foreignControlSocket(p: ForeignOvs): string | null {
  const given = p.argv.find((a) => a.startsWith("--unixctl="))?.slice("--unixctl=".length);
  if (given) return given.startsWith("/") ? given : null;
  const dirs = [procEnv(p.pid, "OVS_RUNDIR"), "/usr/local/var/run/openvswitch", "/var/run/openvswitch"];
  for (const d of dirs) {
    if (!d) continue;
    const ctl = `${d}/${p.program}.${p.pid}.ctl`;
    if (existsSync(ctl)) return ctl;
  }
  return null;
}

async function waitGone(same: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (same()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

function inodeOf(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}

/** cp to a temporary name, fsync, rename: the backup is whole or absent, never half. */
function atomicCopy(from: string, to: string): void {
  const tmp = `${to}.tmp-${process.pid}`;
  copyFileSync(from, tmp);
  const fd = openSync(tmp, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, to);
}

/**
 * Environment of the OVS processes and tools, as p4ovs_env_setup.sh <SDE_INSTALL> [P4OVS_DEPS_INSTALL]
 * builds it (ipdk-io/ovs v22.07), plus OVS_* dirs pointing at our own run/db/log dirs (so that
 * `ovs-appctl -t ovs-vswitchd` finds the pidfile and control socket, and the distribution's binaries
 * work from a scratch dir too):
 *   LD_LIBRARY_PATH = [deps/lib:deps/lib64:] $LD_LIBRARY_PATH : sde/lib : sde/lib64 :
 *                     sde/lib/x86_64-linux-gnu : /usr/local/lib : /usr/local/lib64
 *   PATH            = [deps/bin:deps/sbin:] $PATH
 * The script adds sde/lib64 again on Fedora and sde/lib/x86_64-linux-gnu elsewhere; both are listed
 * here once (a directory that does not exist costs nothing). Empty entries, which the script leaves
 * when LD_LIBRARY_PATH starts empty (the current directory to the loader), are left out.
 * PKG_CONFIG_PATH, LIBRARY_PATH and the include paths are for building P4-OVS, not for running it.
 */
export function ovsEnv(cfg: OvsConfig, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    OVS_INSTALL: cfg.install,
    OVS_RUNDIR: cfg.runDir,
    OVS_DBDIR: dirname(cfg.dbFile),
    OVS_LOGDIR: cfg.logDir,
  };
  const split = (v: string | undefined) => (v ?? "").split(":").filter(Boolean);
  let libs = split(base.LD_LIBRARY_PATH);
  if (cfg.sdeInstall) {
    env.SDE_INSTALL = cfg.sdeInstall;
    const s = cfg.sdeInstall;
    libs.push(`${s}/lib`, `${s}/lib64`, `${s}/lib/x86_64-linux-gnu`, "/usr/local/lib", "/usr/local/lib64");
  }
  if (cfg.depsInstall) {
    const d = cfg.depsInstall;
    env.P4OVS_DEPS_INSTALL = d;
    libs = [`${d}/lib`, `${d}/lib64`, ...libs];
    env.PATH = [`${d}/bin`, `${d}/sbin`, ...split(base.PATH)].join(":");
  }
  if (libs.length > 0) env.LD_LIBRARY_PATH = libs.join(":");
  return env;
}
