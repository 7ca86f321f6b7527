import type { Logger } from "pino";
import type { Config } from "../config/types";
import type { Probe } from "../engine/component";
import { describeFailure } from "../host/command";
import type { OvsTools } from "../host/ovs";
import type { StateStore } from "../state/store";
import { ProcessComponent } from "./process-component";

interface Deps {
  cfg: Config;
  tools: OvsTools;
  store: StateStore | null;
  log: Logger;
}

/**
 * ovsdb-server as in run_ovs.sh, kept in the foreground (no --detach: we are the supervisor).
 * Ready when `ovs-vsctl --no-wait init` answers on db.sock.
 */
export function ovsdbServer({ cfg, tools, store, log }: Deps, dependsOn: string[]): ProcessComponent {
  const o = cfg.ovs;
  return new ProcessComponent(
    {
      name: "ovsdb-server",
      dependsOn,
      readiness: `ovsdb-server to answer on ${tools.dbSock}`,
      argv: [
        o.ovsdbServer,
        o.dbFile,
        `--remote=punix:${tools.dbSock}`,
        "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
        `--pidfile=${o.runDir}/ovsdb-server.pid`,
        `--unixctl=${o.runDir}/ovsdb-server.ctl`,
        `--log-file=${o.logDir}/ovsdb-server.log`,
      ],
      env: tools.env,
      netns: cfg.datapath.netns,
      logFile: `${cfg.logDir}/ovsdb-server.log`,
      pidFile: `${cfg.runDir}/ovsdb-server.pid`,
      prepare: () => tools.createDbIfMissing(),
      probe: async (): Promise<Probe> => {
        const r = await tools.dbAnswers();
        if (r.code === 0) return { ready: true };
        return {
          ready: false,
          waitingFor: `ovsdb-server to answer on ${tools.dbSock} (${lastLine(r.stderr)})`,
        };
      },
      politeStop: () => tools.appctlExit("ovsdb-server"),
    },
    cfg.supervisor,
    store,
    log,
  );
}

/** ovs-vswitchd; ready when a waiting ovs-vsctl write returns (it has applied its configuration). */
export function ovsVswitchd({ cfg, tools, store, log }: Deps, dependsOn: string[]): ProcessComponent {
  const o = cfg.ovs;
  const argv = [
    o.ovsVswitchd,
    `unix:${tools.dbSock}`,
    `--pidfile=${o.runDir}/ovs-vswitchd.pid`,
    "--no-chdir",
    `--unixctl=${o.runDir}/ovs-vswitchd.ctl`,
    `--log-file=${o.logDir}/ovs-vswitchd.log`,
    ...o.vswitchdExtraArgs,
  ];
  return new ProcessComponent(
    {
      name: "ovs-vswitchd",
      dependsOn,
      readiness: "ovs-vswitchd to apply its configuration (a waiting ovs-vsctl write)",
      argv,
      env: tools.env,
      netns: cfg.datapath.netns,
      logFile: `${cfg.logDir}/ovs-vswitchd.log`,
      pidFile: `${cfg.runDir}/ovs-vswitchd.pid`,
      probe: async (): Promise<Probe> => {
        const r = await tools.vswitchdApplied();
        if (r.code === 0) return { ready: true };
        return {
          ready: false,
          waitingFor: `ovs-vswitchd to apply its configuration (${describeFailure(["ovs-vsctl set"], r)})`,
        };
      },
      politeStop: () => tools.appctlExit("ovs-vswitchd"),
    },
    cfg.supervisor,
    store,
    log,
  );
}

function lastLine(s: string): string {
  return s.trim().split("\n").at(-1) || "no answer";
}
