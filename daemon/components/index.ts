import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config/types";
import type { Component } from "../engine/component";
import { HostFs } from "../host/hostfs";
import { OvsTools } from "../host/ovs";
import { OvsDpdkTools } from "../host/ovs-dpdk";
import { procInfo } from "../host/proc";
import { projectRoot } from "../paths";
import type { PreflightApi } from "../preflight";
import type { StateStore } from "../state/store";
import { hugepagesComponent, preflightComponent } from "./host";
import { binaryArpProxy, HostInterfaceComponent, KernelArpProxyComponent } from "./host-side";
import { ovsdbServer, ovsVswitchd } from "./ovs";
import { p4TargetProcess } from "./p4-target";
import { PipelineComponent } from "./pipeline";
import { DpdkTapBackend } from "./tap-backend-dpdk";
import { GnmiTapBackend, KernelTapBackend, type TapBackend } from "./tap-backends";
import { TapPool } from "./tap-pool";

/**
 * The node's components in dependency order (docs/architecture.md#components):
 *   preflight ─► hugepages ─► ovsdb-server ─► ovs-vswitchd ─► [p4-target] ─► taps ─► host-if ─► arp-proxy
 *                                                                          └──► pipeline (P4Runtime)
 * p4-target is the simulator (sandbox, tests), standing in for the gNMI service of P4-OVS's vswitchd.
 */
export function buildComponents(opts: {
  cfg: Config;
  store: StateStore | null;
  log: Logger;
  childEnv: NodeJS.ProcessEnv;
  preflight: PreflightApi;
  /** The pool found its ports dead (a target restart): see heal-after-restart.ts. */
  onPortsDied?: (podTaps: { tap: string; netns: string | null }[]) => void;
}): { components: Component[]; taps: TapPool } {
  const { cfg, store, log } = opts;
  const netns = cfg.datapath.netns;
  const tools = new OvsTools(cfg.ovs, opts.childEnv);
  const deps = { cfg, tools, store, log };
  const components: Component[] = [
    preflightComponent(opts.preflight, []),
    hugepagesComponent(cfg.host, ["preflight"], cfg.ovs.dpdk),
    ovsdbServer(deps, ["hugepages"]),
    ovsVswitchd(deps, ["ovsdb-server"]),
  ];
  let gnmiServer = "ovs-vswitchd";
  if (cfg.target.simulator) {
    const sim = join(projectRoot(), "dist/test/sim/p4-target-sim.js");
    // The simulator reads the same chassis config P4-OVS would (below host.root).
    const chassis = new HostFs(cfg.host.root).path(cfg.target.chassisConfig);
    const argv = [process.execPath, sim, "--gnmi", cfg.target.gnmi, "--p4rt", cfg.target.p4runtime];
    argv.push("--chassis-config", chassis);
    // Port numbers in add order, for tests and admins to check P4TAP_k = port k.
    argv.push("--ports-file", `${cfg.runDir}/p4-target-ports.json`);
    components.push(
      p4TargetProcess({
        // The simulator serves gRPC in the daemon's namespace (reachable on loopback) and makes its
        // TAPs in the datapath namespace.
        argv: netns ? [...argv, "--netns", netns] : argv,
        env: opts.childEnv,
        netns: null,
        logFile: `${cfg.logDir}/p4-target.log`,
        pidFile: `${cfg.runDir}/p4-target.pid`,
        // Probes must answer quickly: no retrying inside a probe.
        gnmi: new (gnmiModule().GnmiClient)({
          address: cfg.target.gnmi,
          timeoutMs: 1000,
          retry: { retryForMs: 0, initialBackoffMs: 10, maxBackoffMs: 10 },
        }),
        dependsOn: ["ovs-vswitchd"],
        policy: cfg.supervisor,
        store,
        log,
      }),
    );
    gnmiServer = "p4-target";
  }
  // The pipeline lives on the P4 target: a kernel-backend node has none to check.
  if (cfg.taps.backend === "gnmi") {
    // A short retry budget: the engine's own timeout and re-probing do the waiting.
    const p4rt = new (p4runtimeModule().P4RuntimeClient)({
      address: cfg.target.p4runtime,
      timeoutMs: 2000,
      retry: { retryForMs: 2000, initialBackoffMs: 50, maxBackoffMs: 500 },
    });
    components.push(new PipelineComponent(cfg, p4rt, [gnmiServer], opts.childEnv));
  }
  const t = cfg.taps;
  const backend: TapBackend =
    t.backend === "kernel"
      ? new KernelTapBackend(netns, t.group)
      : t.backend === "dpdk"
        ? new DpdkTapBackend(new OvsDpdkTools(cfg.ovs, tools.env), t.prefix, { ...t.dpdk, mtu: t.mtu }, () =>
            vswitchdRun(store),
          )
        : new GnmiTapBackend(
            new (gnmiModule().GnmiClient)({ address: cfg.target.gnmi }),
            { mtu: t.mtu, pipelineName: t.pipelineName, mempoolName: t.mempoolName },
            t.setBatch,
            // Probes must answer quickly: no retrying inside a probe.
            new (gnmiModule().GnmiClient)({
              address: cfg.target.gnmi,
              timeoutMs: 1000,
              retry: { retryForMs: 0, initialBackoffMs: 10, maxBackoffMs: 10 },
            }),
          );
  const taps = new TapPool({
    netns,
    prefix: t.prefix,
    count: t.count,
    hostInterfaceName: cfg.hostInterface.name,
    backend,
    store,
    // DPDK TAPs (gnmi, dpdk) live and die with the target (dpdk: ovs-vswitchd itself); kernel TAPs
    // need only a host that passed preflight, so a vswitchd restart does not take them (and TAP_0,
    // the ARP proxy) down with it.
    dependsOn: [t.backend === "kernel" ? "preflight" : gnmiServer],
    log,
    lowWatermark: t.lowWatermark,
    ...(opts.onPortsDied ? { onPortsDied: opts.onPortsDied } : {}),
  });
  components.push(taps, new HostInterfaceComponent(cfg, ["taps"]));
  if (cfg.arpProxy.mode === "kernel") components.push(new KernelArpProxyComponent(cfg, ["host-if"]));
  if (cfg.arpProxy.mode === "binary")
    components.push(binaryArpProxy(cfg, ["host-if"], opts.childEnv, store, log));
  return { components, taps };
}

// grpc-js, protobufjs and the protos are loaded only when a gNMI target or the pipeline check is
// configured: a kernel-backend node never pays for them at start-up. A require() inside a function is
// what both tsc's output and the esbuild bundle evaluate lazily (daemon/main's start-up budget).
function gnmiModule(): typeof import("../host/gnmi-client") {
  return require("../host/gnmi-client");
}
function p4runtimeModule(): typeof import("../host/p4runtime-client") {
  return require("../host/p4runtime-client");
}

/**
 * Which run of ovs-vswitchd is the current one, from the supervisor's record (boot, pid, start time):
 * the same across an adoption by a new daemon, another after any restart of vswitchd; null while the
 * recorded process does not run (died, a zombie, a pid not yet confirmed). Without a state store
 * (nothing recorded) every run is taken for one.
 */
function vswitchdRun(store: StateStore | null): string | null {
  if (!store) return "ovs-vswitchd (not recorded)";
  const c = store.child("ovs-vswitchd");
  if (!c || c.pid === null || c.startTime === null) return null;
  const p = procInfo(c.pid);
  if (!p || p.state === "Z" || p.state === "X" || p.startTime !== c.startTime) return null;
  return `ovs-vswitchd ${c.bootId ?? "boot?"} ${c.pid} ${c.startTime}`;
}
