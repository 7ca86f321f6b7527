/** Wires the job runner for the daemon: the node's jobs, their tools and where their events go. */
import type { Logger } from "pino";
import type { Config } from "../config/types";
import type { Engine } from "../engine/engine";
import { ExternalTools } from "../host/external-tools";
import { StepProcesses } from "../host/step-process";
import type { PreflightApi } from "../preflight";
import type { StateStore } from "../state/store";
import { NodeJobs } from "./catalog";
import { DatapathSteps } from "./datapath-steps";
import { DeploySteps } from "./deploy-steps";
import { KubeSteps } from "./kube-steps";
import { JobRunner } from "./runner";

export { JobConflictError, JobRunner } from "./runner";

export function createJobRunner(opts: {
  cfg: Config;
  store: StateStore;
  engine: Engine;
  preflight: PreflightApi;
  log: Logger;
  /** The tools' environment (systemd's private variables removed); PATH is replaced by the lookup list. */
  env: NodeJS.ProcessEnv;
}): JobRunner {
  const { cfg, store, engine } = opts;
  const kube = cfg.kubernetes;
  const log = opts.log.child({ part: "jobs" });
  // Every tool a step runs is a recorded child in its own process group (KillMode=process would
  // otherwise leave it running past the daemon).
  const processes = new StepProcesses({
    ledger: store,
    stopTimeoutMs: cfg.supervisor.stopTimeoutMs,
    warn: (m) => log.warn(m),
  });
  const tools = new ExternalTools({
    path: kube.toolPath,
    env: opts.env,
    timeoutMs: kube.commandTimeoutSec * 1000,
    exec: (argv, o) => processes.run(argv, o),
  });
  const catalog = new NodeJobs({
    kube,
    k8s: new KubeSteps({
      kube,
      hostRoot: cfg.host.root,
      tools,
      cidrs: { pod: cfg.host.podCIDR, service: cfg.host.serviceCIDR },
    }),
    deploy: new DeploySteps({ kube, hostRoot: cfg.host.root, tools, env: opts.env }),
    datapath: new DatapathSteps({
      engine,
      preflight: opts.preflight,
      ourTaps: () => store.taps().map((t) => t.name),
      readyTimeoutMs: kube.readyTimeoutSec * 1000,
    }),
    succeededSteps: () => store.succeededStepNames(),
  });
  return new JobRunner({
    store,
    catalog,
    processes,
    emit: (kind, message) => {
      engine.addEvent(null, kind, message);
    },
    log,
  });
}
