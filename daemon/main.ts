#!/usr/bin/env node
import { parseArgs } from "node:util";
import pino from "pino";
import { buildServer } from "../api/server";
import { buildComponents } from "./components";
import { ConfigError, defaultConfigPath, loadConfig } from "./config/load";
import { Engine } from "./engine/engine";
import { deleteNetns, ensureNetns } from "./host/netns";
import { SystemdNotifier, scrubChildEnv } from "./notify/sd-notify";
import { packageVersion } from "./paths";
import { Preflight } from "./preflight";
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
  });
  // READY=1 needs both: every component ready and the API answering (kubelet's drop-in waits on it).
  let listening = false;
  engine.on("phase", (s) => {
    if (s.phase === "ready" && listening) notifier.ready(s.message);
    else notifier.status(s.message);
  });
  notifier.status("starting: bringing up the datapath");
  // The datapath starts while the API is built: its children come up in parallel with that work.
  const bringUp = engine.bringUp();

  const tapsApi = {
    max: cfg.taps.max,
    list: async () => ({ count: taps.size, backend: taps.backendKind, taps: await taps.list() }),
    resize: (count: number) => engine.exclusive(() => taps.resize(count)),
  };
  const app = await buildServer({
    engine,
    preflight,
    taps: tapsApi,
    logger: log.child({ part: "api" }),
    version,
  });
  try {
    await app.listen({ host: cfg.api.host, port: cfg.api.port });
  } catch (err) {
    const msg = `cannot serve the API on ${cfg.api.host}:${cfg.api.port}: ${(err as Error).message}`;
    process.stderr.write(`k8s-offloadd: ${msg}\n`);
    notifier.status(`failed: ${msg}`);
    await bringUp;
    if (cfg.datapath.stopOnExit) await engine.down();
    else engine.detach(); // as after a crash: the next daemon adopts what runs
    store.close();
    return 1;
  }
  listening = true;
  const now = engine.status();
  if (now.phase === "ready") notifier.ready(now.message);

  let stopping: Promise<void> | null = null;
  const shutdown = (signal: string) => {
    stopping ??= (async () => {
      log.info({ signal }, "shutting down");
      notifier.stopping();
      await app.close();
      if (cfg.datapath.stopOnExit) {
        await engine.down();
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
