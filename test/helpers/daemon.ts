/**
 * Runs the real daemon (dist/bundle/k8s-offloadd.js, the bundle the package ships) as a child process with a config whose every path is
 * in a scratch directory, and a test-owned NOTIFY_SOCKET receiver. Tests talk to it over real HTTP.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { DAEMON_NODE_OPTIONS } from "../../scripts/daemon-node-options";
import { makeHostRoot } from "./hostroot";
import { NotifyReceiver } from "./notify-receiver";
import { debianOvs, testSupervisor } from "./test-config";

export const repoRoot = resolve(__dirname, "../../..");
export const daemonMain = join(repoRoot, "dist/bundle/k8s-offloadd.js");

export function scratchDir(prefix = "offloadd-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Ports handed out by this process: never twice. */
const handedOut = new Set<number>();

/**
 * A free loopback port BELOW the kernel's ephemeral range (net.ipv4.ip_local_port_range). A port from
 * that range (listen(0)) can be taken while its server is down by any outgoing connection, even by a
 * client retrying to reach that very server: connect() may pick the port as its own source port and
 * connect to itself (TCP simultaneous open), and the server, restarted, cannot bind it (seen in CI:
 * the simulator's gNMI port after `datapath down`). Real nodes use fixed low ports (gNMI 9559).
 */
export async function freePort(): Promise<number> {
  const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  const top = Math.max(Math.min(low, 65536) - 3, 10_100); // room for writeConfig's port + 2
  for (let tries = 0; tries < 200; tries++) {
    const port = 10_000 + Math.floor(Math.random() * (top - 10_000));
    if (handedOut.has(port)) continue;
    const srv = createServer();
    const ok = await new Promise<boolean>((r) => {
      srv.once("error", () => r(false));
      srv.listen(port, "127.0.0.1", () => r(true));
    });
    if (!ok) continue;
    await new Promise<void>((r) => srv.close(() => r()));
    handedOut.add(port);
    return port;
  }
  throw new Error("no free port below the ephemeral range");
}

type Overrides = Record<string, unknown>;

/**
 * A sandbox-like config under dir, using Debian's Open vSwitch; overrides merge per section. The host
 * is a fake root under dir (test/helpers/hostroot.ts) where every preflight check passes and the
 * hugepages component sets its pages and "mounts" hugetlbfs.
 */
export function writeConfig(
  dir: string,
  port: number,
  overrides: Overrides = {},
  target: { gnmi: number; p4rt: number } = { gnmi: port + 1, p4rt: port + 2 },
): string {
  const base: Record<string, Record<string, unknown> | string> = {
    profile: "test",
    api: { host: "127.0.0.1", port },
    stateDir: join(dir, "state"),
    runDir: join(dir, "run"),
    logDir: join(dir, "log"),
    // Each daemon gets its own datapath namespace (inside the test namespace): its TAPs cannot
    // collide with another test's, and the daemon removes it on stop.
    datapath: { stopOnExit: true, netns: `offloadd-${port}` },
    // max above the production default (32, the stock chassis config): kernel-backend tests grow further.
    taps: { count: 8, backend: "gnmi", max: 1024 },
    target: { gnmi: `127.0.0.1:${target.gnmi}`, p4runtime: `127.0.0.1:${target.p4rt}`, simulator: true },
    arpProxy: { mode: "kernel" },
    ovs: debianOvs({
      install: join(dir, "ovs"),
      dbFile: join(dir, "ovs/conf.db"),
      runDir: join(dir, "ovs/run"),
      logDir: join(dir, "ovs/log"),
    }),
    supervisor: testSupervisor,
    host: { root: makeHostRoot(join(dir, "hostroot")) },
    // No host tool is ever reached (systemctl, firewall-cmd, kubeadm...): tests that need one give
    // their stand-ins' directory.
    kubernetes: { toolPath: [] },
  };
  for (const [k, v] of Object.entries(overrides)) {
    const cur = base[k];
    base[k] =
      typeof cur === "object" && cur !== null && typeof v === "object" && v !== null
        ? { ...cur, ...(v as object) }
        : (v as string);
  }
  const file = join(dir, "config.yaml");
  writeFileSync(file, stringify(base));
  return file;
}

export interface HttpAnswer {
  status: number;
  body: unknown;
  text: string;
}

/** Options of one request: `token` null sends no Authorization header; headers are added as given. */
export interface HttpOptions {
  token?: string | null;
  headers?: Record<string, string>;
}

/** The token file a writeConfig'd daemon uses: api.tokenFile, else <stateDir>/token. */
export function tokenFileOf(dir: string, overrides: Overrides = {}): string {
  const api = overrides.api as { tokenFile?: string | null } | undefined;
  const stateDir = typeof overrides.stateDir === "string" ? overrides.stateDir : join(dir, "state");
  return api?.tokenFile ? resolve(dir, api.tokenFile) : join(stateDir, "token");
}

/** The API token the daemon made (64 hex characters), or "" before the daemon made it. */
export function readTokenFile(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8").trim() : "";
}

export class DaemonProcess {
  readonly proc: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly configFile: string,
    readonly port: number,
    readonly notify: NotifyReceiver | null,
    extraEnv: NodeJS.ProcessEnv = {},
    /** Default: <dir of configFile>/state/token, where writeConfig's daemon makes it. */
    readonly tokenFile = join(resolve(configFile, ".."), "state", "token"),
  ) {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
    delete env.NOTIFY_SOCKET;
    if (notify) env.NOTIFY_SOCKET = notify.path;
    // Started the way the package's wrapper starts it (scripts/bundle.ts DAEMON_NODE_OPTIONS).
    this.proc = spawn(process.execPath, [...DAEMON_NODE_OPTIONS, daemonMain, "--config", configFile], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc.stdout?.on("data", (d) => {
      this.stdout += d;
    });
    this.proc.stderr?.on("data", (d) => {
      this.stderr += d;
    });
    this.exited = new Promise((r) => this.proc.once("exit", (code, signal) => r({ code, signal })));
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  /** The API token, read from the token file (the daemon makes it at start). */
  get token(): string {
    return readTokenFile(this.tokenFile);
  }

  /**
   * One request. Mutating methods carry `Authorization: Bearer <token>` unless opts.token says
   * otherwise (null: no header; a string: that token).
   */
  async http(
    method: string,
    path: string,
    body?: unknown,
    opts: HttpOptions & { timeoutMs?: number } = {},
  ): Promise<HttpAnswer> {
    const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
    const token = opts.token === undefined ? (isMutating(method) ? this.token : null) : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    Object.assign(headers, opts.headers);
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      ...(opts.timeoutMs ? { signal: AbortSignal.timeout(opts.timeoutMs) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, text };
  }

  /** Poll an HTTP GET until pred holds (the API may not be listening yet). */
  async until<T = unknown>(path: string, pred: (body: T) => boolean, timeoutMs = 30000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown = null;
    for (;;) {
      try {
        // Bounded: a request that never gets an answer must not outlast the deadline.
        const r = await this.http("GET", path, undefined, { timeoutMs: Math.max(deadline - Date.now(), 1) });
        last = r.body;
        if (pred(r.body as T)) return r.body as T;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting on ${path}; last answer: ${JSON.stringify(last)}\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Throws when the daemon reported an unhandled rejection or uncaught exception (daemon/main.ts
   * says so on stderr and exits 1): every fixture's cleanup checks it, so any test fails on one.
   */
  assertNoCrash(): void {
    const m = /k8s-offloadd: (unhandled rejection|uncaught exception)[^\n]*(\n\s+at [^\n]*)*/.exec(
      this.stderr,
    );
    if (m) throw new Error(`daemon pid ${this.pid} had an ${m[1]}:\n${m[0]}`);
  }

  /** SIGTERM and wait (with stopOnExit the daemon stops its children first). */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGTERM");
    await this.exited;
  }
}

export function isMutating(method: string): boolean {
  return !["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase());
}

/** A scratch dir, a port, a notify receiver and a config: everything a daemon test needs. */
export async function daemonFixture(overrides: Overrides = {}) {
  const dir = scratchDir();
  const port = await freePort();
  const notify = await NotifyReceiver.create(join(dir, "notify.sock"));
  const configFile = writeConfig(dir, port, overrides, { gnmi: await freePort(), p4rt: await freePort() });
  const started: DaemonProcess[] = [];
  const tokenFile = tokenFileOf(dir, overrides);
  return {
    dir,
    port,
    notify,
    configFile,
    /** Where the daemon keeps its API token (made at its first start). */
    tokenFile,
    /** The API token; "" until a daemon has started and made it. */
    get token(): string {
      return readTokenFile(tokenFile);
    },
    start(extraEnv: NodeJS.ProcessEnv = {}): DaemonProcess {
      const d = new DaemonProcess(configFile, port, notify, extraEnv, tokenFile);
      started.push(d);
      return d;
    },
    async cleanup(): Promise<void> {
      for (const d of started) await d.stop();
      // A daemon that was killed last leaves its namespace behind.
      spawnSync("ip", ["netns", "del", `offloadd-${port}`], { stdio: "ignore" });
      notify.close();
      rmSync(dir, { recursive: true, force: true });
      for (const d of started) d.assertNoCrash();
    },
  };
}

/**
 * The daemon-core benchmarks measure the daemon against its Open vSwitch children: a kernel TAP pool
 * and no simulator keep a second supervised process (the simulator, itself a Node program) out of
 * the comparison, while the pool, TAP_0 and ARP proxy steps are still part of "ready".
 */
export const benchCoreConfig = { taps: { backend: "kernel" }, target: { simulator: false } };

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
