#!/usr/bin/env node
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { serveUnixSocket } from "../api/plugins/socket";
import { buildServer } from "../api/server";
import { buildComponents } from "./components";
import { ConfigError, defaultConfigPath, loadConfig } from "./config/load";
import { Engine } from "./engine/engine";
import { deleteNetns, ensureNetns } from "./host/netns";
import { createJobRunner } from "./jobs";
import { SystemdNotifier, scrubChildEnv } from "./notify/sd-notify";
import { packageVersion } from "./paths";
import { Preflight } from "./preflight";
import { checkFiles, daemonFileRules } from "./security/files";
import { ensureToken, TokenError } from "./security/token";
import { StateError, StateStore } from "./state/store";

const USAGE = `usage: k8s-offloadd [--config PATH] [--version]
  --config PATH   YAML configuration (default ${defaultConfigPath}); profiles/ ships p4-ovs.yaml and sandbox.yaml
exit codes: 0 stopped cleanly, 1 runtime error (state database, API port), 2 bad configuration or usage`;

/**
 * Start-up order: config (nothing written before it is valid) ─► state database ─► API ─► bring-up.
 * READY=1 goes to systemd when the engine first reports every component ready, never earlier.
 */
async function main(): Promise<number> {
  let args: { config?: string; version?: boolean; help?: boolean };
  try {
    args = parseArgs({
      options: { config: { type: "string" }, version: { type: "boolean" }, help: { type: "boolean" } },
    }).values;
  } catch (err) {
    process.stderr.write(`k8s-offloadd: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const version = packageVersion();
  if (args.help) return print(USAGE);
  if (args.version) return print(version);

  let cfg: ReturnType<typeof loadConfig>;
  try {
    cfg = loadConfig(args.config ?? defaultConfigPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`k8s-offloadd: ${err.message}\nnothing was started.\n`);
      return 2;
    }
    throw err;
  }

  // Before anything is opened or written: files others can change would let them drive the node.
  const unsafe = checkFiles(
    daemonFileRules({
      configFile: resolve(args.config ?? defaultConfigPath),
      stateDir: cfg.stateDir,
      tokenFile: cfg.api.tokenFile,
    }),
  );
  if (unsafe.length > 0) {
    process.stderr.write(
      `k8s-offloadd: refusing to start:\n  ${unsafe.join("\n  ")}\nnothing was started.\n`,
    );
    return 2;
  }

  const log = pino({ base: { profile: cfg.profile } });
  const notifier = SystemdNotifier.fromEnv(process.env, (m) => log.warn(m));
  notifier.startWatchdog();

  let store: StateStore;
  try {
    store = StateStore.open(`${cfg.stateDir}/state.db`);
  } catch (err) {
    if (err instanceof StateError) {
      process.stderr.write(`k8s-offloadd: ${err.message}\n`);
      notifier.status(`failed: ${err.message}`);
      return 1;
    }
    throw err;
  }

  let token: string;
  try {
    token = ensureToken(cfg.api.tokenFile);
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    process.stderr.write(`k8s-offloadd: ${err.message}\n`);
    notifier.status(`failed: ${err.message}`);
    store.close();
    return 1;
  }

  if (cfg.datapath.netns) await ensureNetns(cfg.datapath.netns);
  const preflight = new Preflight(cfg);
  const { components, taps } = buildComponents({
    cfg,
    store,
    log,
    childEnv: scrubChildEnv(process.env),
    preflight,
  });
  const engine = new Engine({
    components,
    store,
    log,
    version,
    profile: cfg.profile,
    readyTimeoutMs: cfg.supervisor.readyTimeoutMs,
    pollIntervalMs: cfg.supervisor.pollIntervalMs,
    healthIntervalMs: cfg.supervisor.healthIntervalMs,
    retryFailedAfterMs: cfg.supervisor.retryFailedAfterMs,
    backoff: { initialMs: cfg.supervisor.backoffInitialMs, maxMs: cfg.supervisor.backoffMaxMs },
  });
  // READY=1 needs both: every component ready and the API answering (kubelet's drop-in waits on it).
  let listening = false;
  // A restarted daemon converges to the desired state: a datapath taken down on purpose (down, a
  // reset) stays down, and whatever an earlier daemon left running of it (a crash mid-down) is stopped.
  const keepDown = store.desiredDatapath() === "down";
  // Until READY=1, every step of the bring-up, or of that stop (phase change, event), extends systemd's
  // start timeout (EXTEND_TIMEOUT_USEC) by twice one component's ready timeout (its start and its
  // probes): a long bring-up that keeps moving is not killed by TimeoutStartSec=, a stalled or failed
  // one still is.
  const extendUsec = 2 * cfg.supervisor.readyTimeoutMs * 1000;
  let readySent = false;
  let phase = "starting";
  const progress = () => {
    if (!readySent && (phase === "starting" || (keepDown && phase === "stopped")))
      notifier.extendTimeout(extendUsec);
  };
  engine.on("phase", (s) => {
    phase = s.phase;
    if (s.phase === "ready" && listening) readySent = notifier.ready(s.message) || readySent;
    else notifier.status(s.message);
    progress();
  });
  engine.on("event", progress);
  notifier.status(keepDown ? "starting: the datapath stays down" : "starting: bringing up the datapath");
  // The datapath starts (or stops) while the API is built: in parallel with that work.
  const bringUp = keepDown ? engine.down("desired") : engine.bringUp();

  const tapsApi = {
    max: cfg.taps.max,
    list: async () => ({ count: taps.size, backend: taps.backendKind, taps: await taps.list() }),
    resize: (count: number) => engine.exclusive(() => taps.resize(count)),
  };
  const jobs = createJobRunner({ cfg, store, engine, preflight, log, env: scrubChildEnv(process.env) });
  const app = await buildServer({
    engine,
    preflight,
    taps: tapsApi,
    jobs,
    logger: log.child({ part: "api" }),
    version,
    access: { token, port: cfg.api.port, host: cfg.api.host, rateLimit: cfg.api.rateLimit },
  });
  const socketPath = `${cfg.runDir}/api.sock`;
  let socket: { close(): Promise<void> } | null = null;
  let where = `${cfg.api.host}:${cfg.api.port}`;
  try {
    await app.listen({ host: cfg.api.host, port: cfg.api.port });
    where = socketPath;
    if (cfg.api.socket) socket = await serveUnixSocket(app, socketPath);
  } catch (err) {
    const msg = `cannot serve the API on ${where}: ${(err as Error).message}`;
    process.stderr.write(`k8s-offloadd: ${msg}\n`);
    notifier.status(`failed: ${msg}`);
    await bringUp;
    if (cfg.datapath.stopOnExit) await engine.down("exit");
    else engine.detach(); // as after a crash: the next daemon adopts what runs
    store.close();
    return 1;
  }
  listening = true;
  // A job a crash (or a stop) cut short resumes at its first unfinished step.
  void jobs.resumeInterrupted();
  const now = engine.status();
  if (now.phase === "ready") readySent = notifier.ready(now.message) || readySent;
  // Down by request, the daemon itself is up once nothing of the datapath runs: READY=1 with a STATUS=
  // saying why and how to bring it up (kubelet's drop-in keeps waiting for the datapath, as it should).
  if (keepDown) {
    void bringUp.then(() => {
      const s = engine.status();
      if (s.phase === "stopped") readySent = notifier.ready(s.message) || readySent;
    });
  }

  let stopping: Promise<void> | null = null;
  const shutdown = (signal: string) => {
    stopping ??= (async () => {
      log.info({ signal }, "shutting down");
      notifier.stopping();
      jobs.stop(); // the running job, if any, resumes at the next start
      await socket?.close();
      await app.close();
      if (cfg.datapath.stopOnExit) {
        await engine.down("exit");
        // The namespace is the datapath's (sandbox, tests): it goes with it.
        if (cfg.datapath.netns) await deleteNetns(cfg.datapath.netns);
      } else {
        // KillMode=process: the datapath keeps running and the next daemon adopts it.
        engine.detach();
      }
      store.close();
      notifier.close();
    })();
    return stopping;
  };
  const exited = new Promise<number>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      process.on(sig, () => {
        shutdown(sig).then(
          () => resolve(0),
          (err) => {
            log.error({ err: String(err) }, "shutdown failed");
            resolve(1);
          },
        );
      });
    }
  });

  void bringUp;
  return exited;
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`k8s-offloadd: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
