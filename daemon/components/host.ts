import type { HostConfig, OvsDpdkConfig } from "../config/types";
import { type Component, noProcessDetails, type Probe } from "../engine/component";
import { HostFs } from "../host/hostfs";
import type { PreflightApi } from "../preflight";
import {
  dpdkHugepagesShortfall,
  hugepagesExpected,
  hugepagesMissing,
  hugepagesPlan,
  hugepagesState,
} from "../preflight/hugepages";

/**
 * preflight: first of all. Ready when no enabled check is `fail`; while one is, the probe names it
 * with what it observed, and after the ready timeout the engine fails the component with that text
 * (the node stays out of ready). `POST /v1/components/preflight/restart` runs the checks again.
 */
export function preflightComponent(preflight: PreflightApi, dependsOn: string[]): Component {
  return {
    name: "preflight",
    dependsOn,
    readiness: "no enabled preflight check to fail",
    start: async () => {},
    probe: async (): Promise<Probe> => {
      const failing = (await preflight.run()).filter((r) => r.status === "fail");
      if (failing.length === 0) return { ready: true };
      return {
        ready: false,
        waitingFor: failing
          .map((r) => `preflight check ${r.id} to pass (observed: ${r.observed}; expected: ${r.expected})`)
          .join("; "),
      };
    },
    stop: async () => {},
    details: noProcessDetails,
  };
}

/**
 * hugepages: writes nr_hugepages (each NUMA node that exists) and mounts hugetlbfs, as the guide's
 * script does. Ready when the count is reached and the mount is there. Stopping leaves both in place
 * (they are the host's, and freeing pages under a running datapath is not ours to decide).
 * With OVS with DPDK (`dpdk`), ready also needs the reserved pages to cover dpdk-socket-mem on each
 * NUMA node, before ovs-vswitchd starts: a shortfall is named (node, pages wanted, pages there).
 */
export function hugepagesComponent(
  host: HostConfig,
  dependsOn: string[],
  dpdk: OvsDpdkConfig | null = null,
): Component {
  const fs = new HostFs(host.root);
  const h = host.hugepages;
  const expected = dpdk
    ? `${hugepagesExpected(h)}, covering ovs.dpdk.socketMem "${dpdk.socketMem}" MB`
    : hugepagesExpected(h);
  return {
    name: "hugepages",
    dependsOn,
    readiness: expected,
    start: async () => {
      for (const p of hugepagesPlan(fs, h)) await p.apply();
    },
    probe: async (): Promise<Probe> => {
      const missing = hugepagesMissing(hugepagesState(fs, h), h);
      if (dpdk) {
        const short = dpdkHugepagesShortfall(fs, h, dpdk.socketMem, "reserved");
        if (short.length > 0)
          missing.push(`${short.join("; ")}; raise host.hugepages.pages or lower ovs.dpdk.socketMem`);
      }
      if (missing.length === 0) return { ready: true };
      return { ready: false, waitingFor: `${expected}: ${missing.join("; ")}` };
    },
    stop: async () => {},
    details: noProcessDetails,
  };
}
