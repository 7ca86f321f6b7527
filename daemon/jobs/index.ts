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

/**
 * The daemon's one set of recorded tool processes. Every tool a job step or the heal after a target
 * restart runs is a child in its own process group (KillMode=process would otherwise leave it running
 * past the daemon). One set for both: a second one would take the other's running processes for an
 * earlier daemon's leftovers, and daemon stop (JobRunner.stop) would miss them.
 */
export function createStepProcesses(cfg: Config, store: StateStore, log: Logger): StepProcesses {
  return new StepProcesses({
    ledger: store,
    stopTimeoutMs: cfg.supervisor.stopTimeoutMs,
    warn: (m) => log.warn(m),
  });
}

/**
 * The node's Kubernetes tools run as recorded step processes. `job: false`: never recorded as part of a
 * job step, whatever job runs meanwhile (the heal after a target restart).
 */
export function kubeTools(
  cfg: Config,
  env: NodeJS.ProcessEnv,
  processes: StepProcesses,
  opts: { job: boolean },
): ExternalTools {
  const kube = cfg.kubernetes;
  return new ExternalTools({
    path: kube.toolPath,
    env,
    timeoutMs: kube.commandTimeoutSec * 1000,
    exec: opts.job
      ? (argv, o) => processes.run(argv, o)
      : (argv, o) => processes.run(argv, { ...o, context: null }),
  });
}

export function createJobRunner(opts: {
  cfg: Config;
  store: StateStore;
  engine: Engine;
  preflight: PreflightApi;
  log: Logger;
  /** The tools' environment (systemd's private variables removed); PATH is replaced by the lookup list. */
  env: NodeJS.ProcessEnv;
  /** The daemon's recorded tool processes (createStepProcesses), shared with the heal. */
  processes: StepProcesses;
}): JobRunner {
  const { cfg, store, engine, processes } = opts;
  const kube = cfg.kubernetes;
  const log = opts.log.child({ part: "jobs" });
  const tools = kubeTools(cfg, opts.env, processes, { job: true });
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
