import type { Logger } from "pino";
import type { Config } from "../config/types";
import type { EventKind, Probe } from "../engine/component";
import { HostFs } from "../host/hostfs";
import type { ForeignOvs, OvsProgram, OvsTools } from "../host/ovs";
import { OvsDpdkTools } from "../host/ovs-dpdk";
import { dpdkHugepagesShortfall } from "../preflight/hugepages";
import type { StateStore } from "../state/store";
import { ProcessComponent } from "./process-component";

type Note = (kind: EventKind, message: string) => void;

interface Deps {
  cfg: Config;
  tools: OvsTools;
  store: StateStore | null;
  log: Logger;
}

/**
 * The command lines, as run_ovs.sh runs them but kept in the foreground (no --detach: we are the
 * supervisor). No --unixctl: each daemon makes its default control socket <OVS_RUNDIR>/<program>.<pid>.ctl
 * next to <OVS_RUNDIR>/<program>.pid, which is where `ovs-appctl -t ovs-vswitchd ...` looks.
 */
export function ovsArgv(cfg: Config, dbSock: string): Record<OvsProgram, string[]> {
  const o = cfg.ovs;
  return {
    "ovsdb-server": [
      o.ovsdbServer,
      o.dbFile,
      `--remote=punix:${dbSock}`,
      "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
      `--pidfile=${o.runDir}/ovsdb-server.pid`,
      `--log-file=${o.logDir}/ovsdb-server.log`,
    ],
    "ovs-vswitchd": [
      o.ovsVswitchd,
      `unix:${dbSock}`,
      `--pidfile=${o.runDir}/ovs-vswitchd.pid`,
      "--no-chdir",
      `--log-file=${o.logDir}/ovs-vswitchd.log`,
      ...o.vswitchdExtraArgs,
    ],
  };
}

/**
 * Before a fresh start: an ovsdb-server or ovs-vswitchd in the datapath's namespace that is not ours
 * (not on record, not running our exact command line, which the supervisor adopts) keeps the node
 * from ready, named with its pid; with ovs.takeOver it is stopped with the stop ladder first
 * (ovs-vswitchd before ovsdb-server, as it depends on it).
 */
async function handleForeign(
  { cfg, tools, store }: Deps,
  programs: OvsProgram[],
  argvs: Record<OvsProgram, string[]>,
  note: Note,
): Promise<void> {
  const recorded = new Set((store?.children() ?? []).map((c) => c.pid));
  const ours = Object.values(argvs).map((a) => JSON.stringify(a));
  const foreign = tools
    .findForeign(cfg.datapath.netns, (pid, argv) => recorded.has(pid) || ours.includes(JSON.stringify(argv)))
    .filter((p) => programs.includes(p.program));
  if (foreign.length === 0) return;
  if (!cfg.ovs.takeOver)
    throw new Error(foreignMessage(foreign, cfg.datapath.netns, programs[0] as OvsProgram));
  foreign.sort((a, b) => Number(b.program === "ovs-vswitchd") - Number(a.program === "ovs-vswitchd"));
  for (const p of foreign) {
    const how = await tools.stopForeign(p, cfg.supervisor.stopTimeoutMs);
    note(
      "stop",
      `took over: ${p.program} pid ${p.pid} (${p.argv.join(" ")}) was not started by k8s-offloadd; ${how} (ovs.takeOver)`,
    );
  }
}

function foreignMessage(foreign: ForeignOvs[], netns: string | null, component: OvsProgram): string {
  const where = netns ? `network namespace ${netns}` : "the datapath's network namespace";
  const list = foreign.map((p) => `${p.program} pid ${p.pid} (${p.argv.join(" ")})`).join("; ");
  return (
    `not started: ${list} runs in ${where} and was not started by k8s-offloadd (a run_ovs.sh left running?). ` +
    `To hand it over: stop it, then POST /v1/components/${component}/restart; or set ovs.takeOver: true in ` +
    "the config and restart k8s-offloadd, which then stops it (ovs-appctl exit, SIGTERM, SIGKILL) and starts its own"
  );
}

/**
 * ovsdb-server; ready when it answers on db.sock what `ovs-vsctl --no-wait init` asks (spoken as
 * OVSDB JSON-RPC by the host adapter, no ovs-vsctl fork).
 */
export function ovsdbServer(deps: Deps, dependsOn: string[]): ProcessComponent {
  const { cfg, tools, store, log } = deps;
  const argvs = ovsArgv(cfg, tools.dbSock);
  return new ProcessComponent(
    {
      name: "ovsdb-server",
      dependsOn,
      readiness: `ovsdb-server to answer on ${tools.dbSock}`,
      argv: argvs["ovsdb-server"],
      env: tools.env,
      netns: cfg.datapath.netns,
      logFile: `${cfg.logDir}/ovsdb-server.log`,
      pidFile: `${cfg.runDir}/ovsdb-server.pid`,
      prepare: async (note) => {
        // Both programs: a foreign ovs-vswitchd would connect to our new db.sock and serve the ports.
        await handleForeign(deps, ["ovsdb-server", "ovs-vswitchd"], argvs, note);
        const did = await tools.prepareDb();
        if (did) note("start", did);
      },
      probe: async (): Promise<Probe> => {
        const r = await tools.dbAnswers();
        if (r.ok) return { ready: true };
        return { ready: false, waitingFor: `ovsdb-server to answer on ${tools.dbSock} (${r.why})` };
      },
      politeStop: () => tools.appctlExit("ovsdb-server"),
    },
    cfg.supervisor,
    store,
    log,
  );
}

/**
 * With ovs.dpdk, before a fresh start: the DPDK keys written to Open_vSwitch other_config (vswitchd
 * reads them once, at start), and the free huge pages checked against dpdk-socket-mem, so a shortfall
 * is named here rather than by EAL's abort. Without: nothing is done.
 */
async function prepareDpdk(cfg: Config, dpdkTools: OvsDpdkTools): Promise<void> {
  const dpdk = cfg.ovs.dpdk;
  // A plain OVS pays no extra ovs-vsctl at start (a non-DPDK build ignores the keys anyway).
  if (!dpdk) return;
  const fs = new HostFs(cfg.host.root);
  await dpdkTools.writeOtherConfig(dpdk, fs.path(cfg.host.hugepages.mountPoint));
  const short = dpdkHugepagesShortfall(fs, cfg.host.hugepages, dpdk.socketMem, "free");
  if (short.length > 0) {
    throw new Error(
      `not started: DPDK's EAL would not get its memory: ${short.join("; ")}; free huge pages (another DPDK process?) or lower ovs.dpdk.socketMem`,
    );
  }
}

/**
 * ovs-vswitchd; ready when it has applied its configuration (what a waiting ovs-vsctl write waits for:
 * cur_cfg reaches an incremented next_cfg, asked over JSON-RPC on db.sock); with
 * ovs.dpdk, first when EAL is up (dpdk_initialized).
 */
export function ovsVswitchd(deps: Deps, dependsOn: string[]): ProcessComponent {
  const { cfg, tools, store, log } = deps;
  const argvs = ovsArgv(cfg, tools.dbSock);
  const dpdkTools = new OvsDpdkTools(cfg.ovs, tools.env);
  const dpdk = cfg.ovs.dpdk !== null;
  return new ProcessComponent(
    {
      name: "ovs-vswitchd",
      dependsOn,
      readiness: dpdk
        ? "DPDK's EAL to be initialised (dpdk_initialized), then ovs-vswitchd to apply its configuration (cur_cfg to reach an incremented next_cfg)"
        : "ovs-vswitchd to apply its configuration (cur_cfg to reach an incremented next_cfg)",
      argv: argvs["ovs-vswitchd"],
      env: tools.env,
      netns: cfg.datapath.netns,
      logFile: `${cfg.logDir}/ovs-vswitchd.log`,
      pidFile: `${cfg.runDir}/ovs-vswitchd.pid`,
      prepare: async (note) => {
        await handleForeign(deps, ["ovs-vswitchd"], argvs, note);
        await prepareDpdk(cfg, dpdkTools);
      },
      probe: async (): Promise<Probe> => {
        if (dpdk) {
          const eal = await dpdkTools.initialized();
          if (!eal.ok) return { ready: false, waitingFor: `DPDK's EAL to be initialised (${eal.why})` };
        }
        const r = await tools.vswitchdApplied();
        if (r.ok) return { ready: true };
        return { ready: false, waitingFor: `ovs-vswitchd to apply its configuration (${r.why})` };
      },
      politeStop: () => tools.appctlExit("ovs-vswitchd"),
    },
    cfg.supervisor,
    store,
    log,
  );
}
