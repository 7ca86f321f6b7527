/**
 * The daemon's life: start in a fixed order, run, stop. main.ts is only the process around it (argv,
 * signals, exit code).
 *
 * Start-up order, each step only once the previous one succeeded:
 *   config (nothing written before it is valid) ─► file permissions ─► instance lock (one daemon per
 *   state directory) ─► state database ─► API token ─► the API's port held (a taken port is found
 *   here, before any child is touched) ─► components, engine, jobs built (nothing started) ─►
 *   sandbox netns and bring-up (or the stored desired "down"), in the background ─► meanwhile the
 *   API built and listening on its port and unix socket ─► job resume.
 * The datapath's children boot while the API is built (JS runs the two interleaved at their awaits):
 * that overlap is most of a start's wall time. /v1/status and /v1/ready answer from the moment the
 * API listens (503 while starting; a client that connected earlier is answered then); READY=1 goes
 * to systemd when every component is ready and the API listens, never earlier.
 *
 * stop() may come at any moment, from the first line of main on: it undoes what was done so far (with
 * datapath.stopOnExit the children and the netns too, else they are left for the next daemon).
 * fail() ends the daemon at once with exit 1 and leaves the children to the next daemon: a state
 * database that cannot be written, an unhandled rejection.
 */
import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import { serveUnixSocket } from "../api/plugins/socket";
import { buildServer } from "../api/server";
import { buildComponents } from "./components";
import { HealAfterRestart } from "./components/heal-after-restart";
import { ConfigError, loadConfig } from "./config/load";
import type { Config } from "./config/types";
import { Engine } from "./engine/engine";
import { chassisRoomProblem } from "./host/chassis-config";
import { checkFiles, daemonFileRules } from "./host/file-modes";
import { InstanceLock, InstanceLockError } from "./host/instance-lock";
import { endIpSessions } from "./host/ip-session";
import { setChildLogLimits } from "./host/log-follower";
import { deleteNetns, ensureNetns, netnsExists } from "./host/netns";
import { PortReservation } from "./host/port-reservation";
import { prepareStateFile } from "./host/state-files";
import { ensureToken, TokenError } from "./host/token-file";
import { createJobRunner, createStepProcesses, kubeTools } from "./jobs";
import { SystemdReadiness } from "./notify/readiness";
import { SystemdNotifier, scrubChildEnv } from "./notify/sd-notify";
import { projectRoot } from "./paths";
import { Preflight } from "./preflight";
import { collectStartUpGarbage } from "./start-up-garbage";
import { StateError, StateStore, StateStoreFailure } from "./state/store";

/** The process exits with this code: 0 stopped cleanly, 1 runtime error, 2 bad configuration. */
export type ExitCode = 0 | 1 | 2;

/** Thrown out of a start-up step when a stop was asked meanwhile: unwinds to the common teardown. */
class Stopped extends Error {}

export class Daemon {
  private cfg: Config | null = null;
  private log: Logger | null = null;
  private notifier: SystemdNotifier | null = null;
  private lock: InstanceLock | null = null;
  private store: StateStore | null = null;
  private engine: Engine | null = null;
  private jobs: ReturnType<typeof createJobRunner> | null = null;
  private heal: HealAfterRestart | null = null;
  private app: FastifyInstance | null = null;
  private preflight: Preflight | null = null;
  /** The API's port, held from before the datapath starts until the API listens on it. */
  private heldPort: PortReservation | null = null;
  private socket: { close(): Promise<void> } | null = null;
  /** The datapath was asked to start (or to stay down): stopping must go through the engine. */
  private datapathTouched = false;
  /** The sandbox netns being made: a stop waits for it, then removes it. */
  private netnsMade: Promise<unknown> = Promise.resolve();
  private stopAsked: string | null = null;
  /** Start-up could not serve the API after the datapath was started: the teardown then exits 1. */
  private startFailed = false;
  private wakeRun: (() => void) | null = null;
  private failed = false;

  constructor(private readonly version: string) {}

  /** Starts, runs until stop(); resolves with the exit code. */
  async run(configFile: string): Promise<ExitCode> {
    try {
      const ended = await this.startSteps(configFile);
      if (ended !== null) return ended; // start-up ended by itself, its resources released
    } catch (err) {
      if (!(err instanceof Stopped)) throw err;
    }
    if (!this.stopAsked) await new Promise<void>((r) => (this.wakeRun = r));
    const code = await this.teardown(this.stopAsked ?? "stop");
    return this.startFailed ? 1 : code;
  }

  /**
   * Ask the daemon to stop (the first SIGINT/SIGTERM). Taken at once when running; while starting, at
   * the next start-up step (each checks), then what was done so far is undone. run() resolves when done.
   */
  stop(why: string): void {
    this.stopAsked ??= why;
    this.wakeRun?.();
  }

  /**
   * Ends the daemon now with exit 1 (a state database that cannot be written, an unhandled
   * rejection): says why, leaves the datapath running for the next daemon, which adopts it.
   */
  fail(what: string, err: unknown): never {
    if (!this.failed) {
      this.failed = true;
      const msg =
        err instanceof StateStoreFailure
          ? err.message
          : `${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      process.stderr.write(
        `k8s-offloadd: ${msg}\nk8s-offloadd: stopping with exit 1; left running for the next daemon: ${this.leftRunning()}\n`,
      );
      this.notifier?.status(`failed: ${msg.split("\n")[0]}`);
      try {
        this.engine?.detach(); // stop watching: nothing more is spawned or restarted by this daemon
      } catch {
        // Leaving is all that is left to do.
      }
    }
    process.exit(1);
  }

  /** What of the datapath runs now, in words (for a stop that does not stop it). */
  leftRunning(): string {
    const parts: string[] = [];
    for (const c of this.engine?.status().components ?? [])
      if (c.pid !== null) parts.push(`${c.name} (pid ${c.pid})`);
    const ns = this.cfg?.datapath.netns;
    if (ns && netnsExists(ns)) parts.push(`network namespace ${ns}`);
    return parts.length > 0 ? parts.join(", ") : "nothing";
  }

  // ---- start ------------------------------------------------------------------------------------

  private checkpoint(): void {
    if (this.stopAsked) throw new Stopped();
  }

  /** The start-up order (see the top of this file); each step returns an exit code when it ends start-up. */
  private async startSteps(configFile: string): Promise<ExitCode | null> {
    const cfg = this.readConfig(configFile);
    if (typeof cfg === "number") return cfg;
    this.checkpoint();
    this.startLogAndNotifier(cfg);
    const opened = this.openState(cfg);
    if (typeof opened === "number") return opened;
    this.checkpoint();
    const port = await this.holdPort(cfg);
    if (typeof port === "number") return port;
    this.checkpoint();
    const { engine, jobs, heal, taps } = this.buildParts(cfg, opened.store);
    this.checkpoint();
    const readiness = this.startDatapath(cfg, engine, opened.store.desiredDatapath() === "down");
    // A heal a crash cut short (a generation still pending) goes on.
    heal.resumePending();
    if (!(await this.serveApi(cfg, opened.token, taps, port))) {
      this.startFailed = true;
      this.stop("the API could not be served");
      throw new Stopped();
    }
    readiness.apiListening();
    // Once the node is first ready, start-up is over: its garbage goes (start-up-garbage.ts).
    const firstReady = (st: { phase: string }) => {
      if (st.phase !== "ready") return;
      engine.off("phase", firstReady);
      setImmediate(() => {
        const ms = collectStartUpGarbage();
        if (ms !== null) this.log?.info({ ms: Math.round(ms) }, "start-up garbage collected");
      }).unref();
    };
    engine.on("phase", firstReady);
    firstReady(engine.status()); // ready before the API listened
    this.checkpoint();
    // A job a crash (or a stop) cut short resumes at its first unfinished step.
    jobs.resumeInterrupted().catch((err: unknown) => this.fail("job resume failed", err));
    return null;
  }

  /** Config, the pool's room in the chassis config, the daemon's file permissions: exit 2 when bad. */
  private readConfig(configFile: string): Config | ExitCode {
    const checked = checkConfig(configFile);
    if (typeof checked === "string") {
      process.stderr.write(`k8s-offloadd: ${checked}\nnothing was started.\n`);
      return 2;
    }
    this.cfg = checked;
    return checked;
  }

  private startLogAndNotifier(cfg: Config): void {
    const log = pino({ base: { profile: cfg.profile } });
    this.log = log;
    this.notifier = SystemdNotifier.fromEnv(process.env, (m) => log.warn(m));
    this.notifier.startWatchdog();
  }

  /** Start-up ends with exit 1, nothing started: said on stderr and in STATUS=. */
  private failStart(msg: string): ExitCode {
    process.stderr.write(`k8s-offloadd: ${msg}\nnothing was started.\n`);
    this.notifier?.status(`failed: ${msg}`);
    return 1;
  }

  /** Instance lock, state database, API token, child log limits: exit 1 when one cannot be had. */
  private openState(cfg: Config): { store: StateStore; token: string } | ExitCode {
    try {
      this.lock = InstanceLock.acquire(cfg.stateDir);
    } catch (err) {
      if (err instanceof InstanceLockError) return this.failStart(err.message);
      throw err;
    }
    let store: StateStore;
    try {
      store = StateStore.open(`${cfg.stateDir}/state.db`, {
        prepareFile: prepareStateFile,
        // Reported once from inside the failing call: the daemon ends on the next turn of the loop.
        onFailure: (e) => setImmediate(() => this.fail("state database", e)),
      });
    } catch (err) {
      if (err instanceof StateError) return this.release(this.failStart(err.message));
      throw err;
    }
    this.store = store;
    let token: string;
    try {
      token = ensureToken(cfg.api.tokenFile);
    } catch (err) {
      if (err instanceof TokenError) return this.release(this.failStart(err.message));
      throw err;
    }
    setChildLogLimits(cfg.logs);
    return { store, token };
  }

  /**
   * The API's TCP port, held until the API listens on it (host/port-reservation.ts): a port another
   * process holds ends this daemon here (exit 1), with nothing started.
   */
  private async holdPort(cfg: Config): Promise<PortReservation | ExitCode> {
    try {
      this.heldPort = await PortReservation.take(cfg.api.host, cfg.api.port);
      return this.heldPort;
    } catch (err) {
      const msg = `cannot serve the API on ${cfg.api.host}:${cfg.api.port}: ${(err as Error).message}`;
      return this.release(this.failStart(msg));
    }
  }

  /** Components, engine and jobs, built: constructors do not touch the host, nothing starts. */
  private buildParts(
    cfg: Config,
    store: StateStore,
  ): {
    engine: Engine;
    jobs: ReturnType<typeof createJobRunner>;
    heal: HealAfterRestart;
    taps: ReturnType<typeof buildComponents>["taps"];
  } {
    const log = this.log as Logger;
    const preflight = new Preflight(cfg);
    // After a target restart: count the generation, name the pods that lost TAPs (and maybe recreate them).
    // Its crictl and kubectl are recorded children like the jobs' (same set: one stop, one leftover sweep).
    const processes = createStepProcesses(cfg, store, log.child({ part: "jobs" }));
    const heal = new HealAfterRestart({
      store,
      kube: cfg.kubernetes,
      tools: kubeTools(cfg, scrubChildEnv(process.env), processes, { job: false }),
      leftoversEnded: () => this.jobs?.leftoversEnded() ?? Promise.resolve(),
      emit: (kind, message) => this.engine?.addEvent("taps", kind, message),
      log: log.child({ part: "heal" }),
    });
    const { components, taps } = buildComponents({
      cfg,
      store,
      log,
      childEnv: scrubChildEnv(process.env),
      preflight,
      onPortsDied: (podTaps) => heal.portsDied(podTaps),
    });
    const engine = new Engine({
      components,
      store,
      log,
      version: this.version,
      profile: cfg.profile,
      readyTimeoutMs: cfg.supervisor.readyTimeoutMs,
      pollIntervalMs: cfg.supervisor.pollIntervalMs,
      healthIntervalMs: cfg.supervisor.healthIntervalMs,
      retryFailedAfterMs: cfg.supervisor.retryFailedAfterMs,
      backoff: { initialMs: cfg.supervisor.backoffInitialMs, maxMs: cfg.supervisor.backoffMaxMs },
    });
    this.engine = engine;
    this.heal = heal;
    const jobs = createJobRunner({
      cfg,
      store,
      engine,
      preflight,
      log,
      env: scrubChildEnv(process.env),
      processes,
    });
    this.jobs = jobs;
    this.preflight = preflight;
    return { engine, jobs, heal, taps };
  }

  /**
   * The API, built while the datapath starts, then listening on the port held for it and on its unix
   * socket; clients that connected to the held port meanwhile are answered now. It answers 503 on
   * /v1/ready until ready. False when it cannot be served (the port taken in the instant between
   * its release and the API's listen, the unix socket's path not a socket): said on stderr and in
   * STATUS=; the caller stops what was started, as a stop does.
   */
  private async serveApi(
    cfg: Config,
    token: string,
    taps: ReturnType<typeof buildComponents>["taps"],
    port: PortReservation,
  ): Promise<boolean> {
    const engine = this.engine as Engine;
    const socketPath = `${cfg.runDir}/api.sock`;
    let where = `${cfg.api.host}:${cfg.api.port}`;
    try {
      const app = await buildServer({
        engine,
        preflight: this.preflight as Preflight,
        taps: tapsApi(cfg, engine, taps),
        jobs: this.jobs as ReturnType<typeof createJobRunner>,
        logger: (this.log as Logger).child({ part: "api" }),
        version: this.version,
        access: { token, port: cfg.api.port, host: cfg.api.host, rateLimit: cfg.api.rateLimit },
        openapiFile: join(projectRoot(), "openapi/openapi.json"),
      });
      this.app = app;
      await app.ready();
      const early = port.release();
      this.heldPort = null;
      await app.listen({ host: cfg.api.host, port: cfg.api.port });
      early.handOver((s) => app.server.emit("connection", s));
      where = socketPath;
      if (cfg.api.socket) this.socket = await serveUnixSocket(app, socketPath);
    } catch (err) {
      const msg = `cannot serve the API on ${where}: ${(err as Error).message}`;
      process.stderr.write(`k8s-offloadd: ${msg}; stopping (datapath.stopOnExit says what goes with it)\n`);
      this.notifier?.status(`failed: ${msg}`);
      return false;
    }
    return true;
  }

  /**
   * The datapath starts (or, desired down, stops what an earlier daemon left running) in the
   * background; systemd hears about its progress through STATUS= and EXTEND_TIMEOUT_USEC=
   * (notify/readiness.ts).
   */
  private startDatapath(cfg: Config, engine: Engine, keepDown: boolean): SystemdReadiness {
    const readiness = new SystemdReadiness(this.notifier as SystemdNotifier, engine, {
      extendUsec: 2 * cfg.supervisor.readyTimeoutMs * 1000,
      keepDown,
      stopAsked: () => this.stopAsked !== null,
    });
    this.datapathTouched = true;
    const netns = cfg.datapath.netns;
    this.netnsMade = netns ? ensureNetns(netns) : Promise.resolve();
    const bringUp = async () => {
      await this.netnsMade;
      if (this.stopAsked) return;
      if (!keepDown) return engine.bringUp();
      await engine.down("desired");
      readiness.downSettled(engine.status());
    };
    bringUp().catch((err: unknown) => this.fail("bring-up failed", err));
    return readiness;
  }

  // ---- stop -------------------------------------------------------------------------------------

  private async teardown(why: string): Promise<ExitCode> {
    const cfg = this.cfg;
    this.log?.info({ why }, "shutting down");
    this.notifier?.stopping();
    try {
      this.heal?.stop(); // a heal cut short stays pending or healing for the next daemon
      await this.jobs?.stop(); // the running job, if any, resumes at the next start; ends heals' tools too
      await this.closeApi();
      if (cfg && this.engine && this.datapathTouched) {
        if (cfg.datapath.stopOnExit) {
          await this.engine.down("exit");
        } else {
          // KillMode=process: the datapath keeps running and the next daemon adopts it.
          this.engine.detach();
        }
      }
      // The long-lived ip readers (host/ip-session.ts) hold their namespaces: end them first.
      endIpSessions();
      // The namespace is the datapath's (sandbox, tests): it goes with it, once it is made.
      await this.netnsMade.catch(() => undefined);
      if (cfg?.datapath.stopOnExit && cfg.datapath.netns) await deleteNetns(cfg.datapath.netns);
    } catch (err) {
      this.log?.error({ err: String(err) }, "shutdown failed");
      process.stderr.write(`k8s-offloadd: shutdown failed: ${(err as Error).message}\n`);
      return this.release(1);
    }
    return this.release(0);
  }

  private async closeApi(): Promise<void> {
    const socket = this.socket;
    const app = this.app;
    this.socket = null;
    this.app = null;
    await socket?.close();
    await app?.close();
  }

  /** Closes the database, drops the instance lock and the notifier; returns code. */
  private release(code: ExitCode): ExitCode {
    endIpSessions();
    this.heldPort?.close();
    this.heldPort = null;
    this.store?.close();
    this.lock?.release();
    this.notifier?.close();
    return code;
  }
}

/**
 * Everything the daemon checks of its configuration before it touches anything (also
 * `k8s-offloadd --check-config`): the file parsed and validated, the pool's room in the chassis
 * config, the permissions of the daemon's own files. Only reads. Returns the config, or what is
 * wrong in words (one problem a line).
 */
export function checkConfig(configFile: string): Config | string {
  let cfg: Config;
  try {
    cfg = loadConfig(configFile);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message;
  }
  // P4-OVS serves only the ports its chassis config names: a pool that cannot fit is a config error.
  const noRoom = chassisRoomProblem(cfg, cfg.taps.count);
  if (noRoom) return `taps.count: ${noRoom.message}`;
  // Before anything is opened or written: files others can change would let them drive the node.
  const unsafe = checkFiles(
    daemonFileRules({
      configFile: resolve(configFile),
      stateDir: cfg.stateDir,
      tokenFile: cfg.api.tokenFile,
    }),
  );
  if (unsafe.length > 0) return `refusing to start:\n  ${unsafe.join("\n  ")}`;
  return cfg;
}

/** What the API may do with the TAP pool: list it, count it, resize it within the chassis config's room. */
function tapsApi(cfg: Config, engine: Engine, taps: ReturnType<typeof buildComponents>["taps"]) {
  return {
    max: cfg.taps.max,
    list: async () => ({ count: taps.size, backend: taps.backendKind, taps: await taps.list() }),
    counts: () => taps.counts(),
    resize: (count: number) => {
      const tooMany = chassisRoomProblem(cfg, count);
      if (tooMany) {
        return Promise.reject(Object.assign(new Error(`count: ${tooMany.message}`), { statusCode: 400 }));
      }
      return engine.exclusive(() => taps.resize(count));
    },
  };
}
