import type { Logger } from "pino";
import type { Config } from "../config/types";
import type { Component } from "../engine/component";
import { OvsTools } from "../host/ovs";
import type { PreflightApi } from "../preflight";
import type { StateStore } from "../state/store";
import { hugepagesComponent, preflightComponent } from "./host";
import { ovsdbServer, ovsVswitchd } from "./ovs";

/**
 * The node's components in the order of DESIGN.md §3:
 *   preflight ─► hugepages ─► ovsdb-server ─► ovs-vswitchd ─► taps ─► host-if ─► arp-proxy ─► kubelet gate
 * (the parts after ovs-vswitchd join as they are built).
 */
export function buildComponents(opts: {
  cfg: Config;
  store: StateStore | null;
  log: Logger;
  childEnv: NodeJS.ProcessEnv;
  preflight: PreflightApi;
}): Component[] {
  const tools = new OvsTools(opts.cfg.ovs, opts.childEnv);
  const deps = { cfg: opts.cfg, tools, store: opts.store, log: opts.log };
  return [
    preflightComponent(opts.preflight, []),
    hugepagesComponent(opts.cfg.host, ["preflight"]),
    ovsdbServer(deps, ["hugepages"]),
    ovsVswitchd(deps, ["ovsdb-server"]),
  ];
}
