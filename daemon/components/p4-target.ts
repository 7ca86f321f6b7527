import type { Logger } from "pino";
import type { SupervisorConfig } from "../config/types";
import type { Probe } from "../engine/component";
import { errorText } from "../engine/engine";
import type { GnmiClient } from "../host/gnmi-client";
import type { StateStore } from "../state/store";
import { ProcessComponent } from "./process-component";

/**
 * A P4 target that is its own process and serves gNMI: the simulator in the sandbox profile and
 * the tests (test/sim/p4-target-sim.ts). With P4-OVS 22.07 gNMI is served by ovs-vswitchd itself.
 * Ready when gNMI answers Capabilities. Its TAPs die with it, so its restart blocks the pool, which
 * the engine creates again once it is back.
 */
export function p4TargetProcess(opts: {
  argv: string[];
  env: NodeJS.ProcessEnv;
  netns: string | null;
  logFile: string;
  pidFile: string;
  gnmi: GnmiClient;
  dependsOn: string[];
  policy: SupervisorConfig;
  store: StateStore | null;
  log: Logger;
}): ProcessComponent {
  return new ProcessComponent(
    {
      name: "p4-target",
      dependsOn: opts.dependsOn,
      readiness: `gNMI to answer Capabilities on ${opts.gnmi.address}`,
      argv: opts.argv,
      env: opts.env,
      netns: opts.netns,
      logFile: opts.logFile,
      pidFile: opts.pidFile,
      probe: async (): Promise<Probe> => {
        try {
          await opts.gnmi.capabilities();
          return { ready: true };
        } catch (err) {
          // errorText names the target and says why ("gNMI target ... unreachable (connection refused)").
          return { ready: false, waitingFor: errorText(err) };
        }
      },
    },
    opts.policy,
    opts.store,
    opts.log,
  );
}
