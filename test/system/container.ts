/**
 * A real systemd in a container, for the system tests: the cached Debian rootfs
 * (scripts/system-rootfs.sh) as the lower layer of an overlay whose upper layer is a scratch dir
 * (the cache is never written), booted with `systemd-nspawn --boot` and driven with
 * `nsenter -t <container PID 1> -m -u -i -n -p systemctl ...`. The project goes in read-only: the
 * host's node as /usr/bin/node and the repository (with dist/ and node_modules/) as
 * /usr/lib/k8s-offloadd, behind the wrappers /usr/bin/k8s-offloadd and /usr/bin/k8s-offloadctl.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";

/** The repository: the nearest directory up from here with scripts/system-rootfs.sh (dist/ or a private build). */
export const repoRoot = (() => {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, "scripts/system-rootfs.sh")) && existsSync(join(dir, "package.json")))
      return dir;
  }
  throw new Error(`no repository above ${__dirname}`);
})();

/** Where the repository is seen inside the container. */
export const PROJECT_DIR = "/usr/lib/k8s-offloadd";

/** The cached rootfs, built on first use (which needs the network: scripts/test.sh builds it first). */
export function cachedRootfs(): string {
  const r = spawnSync("bash", [join(repoRoot, "scripts/system-rootfs.sh")], { encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(
      `scripts/system-rootfs.sh failed (${r.status ?? r.signal}); it needs the network the first time, ` +
        `so npm test runs it before entering the test namespace:\n${r.stderr}`,
    );
  }
  return r.stdout.trim();
}

export interface ExecResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Environment of commands run in the container: nothing of the test runner's (NODE_TEST_CONTEXT etc.). */
const CONTAINER_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
  SYSTEMD_PAGER: "",
  SYSTEMD_COLORS: "0",
};

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Container {
  private nspawn: ChildProcess | null = null;
  private nspawnExit: Promise<void> = Promise.resolve();
  /** The container's PID 1 (systemd) as seen from here: nspawn's child. */
  leader = 0;
  readonly root: string;
  readonly consoleLog: string;

  private constructor(
    readonly scratch: string,
    /** The host's node bound in as /usr/bin/node; false: a host without Node.js (the RPM brings its own). */
    readonly hostNode: boolean,
    /** More systemd-nspawn arguments (the DPDK test binds /sys/module in read-only). */
    readonly nspawnArgs: readonly string[] = [],
  ) {
    this.root = join(scratch, "root");
    this.consoleLog = join(scratch, "console.log");
  }

  /** Mounts a fresh overlay over the cached rootfs; files go in with put() before boot(). */
  static create(opts: { hostNode?: boolean; nspawnArgs?: string[] } = {}): Container {
    const lower = cachedRootfs();
    const c = new Container(
      mkdtempSync(join(tmpdir(), "offloadd-system-")),
      opts.hostNode ?? true,
      opts.nspawnArgs ?? [],
    );
    for (const d of ["upper", "work", "root"]) mkdirSync(join(c.scratch, d));
    must([
      "mount",
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${lower},upperdir=${join(c.scratch, "upper")},workdir=${join(c.scratch, "work")}`,
      c.root,
    ]);
    return c;
  }

  /** Writes a file at a container path (before boot, or while it runs: the overlay is shared). */
  put(path: string, text: string, mode = 0o644): void {
    const file = join(this.root, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    chmodSync(file, mode);
  }

  /** `systemctl enable` done by hand: the unit wanted by multi-user.target. */
  enable(unit: string): void {
    const dir = join(this.root, "etc/systemd/system/multi-user.target.wants");
    mkdirSync(dir, { recursive: true });
    symlinkSync(`/etc/systemd/system/${unit}`, join(dir, unit));
  }

  read(path: string): string | null {
    try {
      return readFileSync(join(this.root, path), "utf8");
    } catch {
      return null;
    }
  }

  /** Boots systemd in the background and waits until it answers systemctl. */
  async boot(): Promise<void> {
    const out = openSync(this.consoleLog, "a");
    try {
      this.nspawn = spawn(
        "systemd-nspawn",
        [
          "-D",
          this.root,
          "--boot",
          "--register=no",
          "--keep-unit",
          "--private-network",
          // Unique: nspawn keeps per-machine state under /run/systemd/nspawn/ by this name.
          `--machine=${basename(this.scratch)}`,
          ...(this.hostNode ? [`--bind-ro=${process.execPath}:/usr/bin/node`] : []),
          `--bind-ro=${repoRoot}:${PROJECT_DIR}`,
          ...this.nspawnArgs,
        ],
        { stdio: ["ignore", out, out], env: { PATH: CONTAINER_ENV.PATH, LANG: "C.UTF-8" } },
      );
    } finally {
      closeSync(out);
    }
    const proc = this.nspawn;
    this.nspawnExit = new Promise((r) => proc.once("exit", () => r()));
    await this.until(
      () => {
        this.leader = childOf(proc.pid ?? 0);
        return this.leader > 0 && this.exec(["systemctl", "show", "-p", "Version"]).status === 0;
      },
      "systemd in the container answering systemctl",
      60_000,
    );
  }

  /** Runs argv inside the container's namespaces (no shell), with a clean environment. */
  exec(argv: string[], timeoutMs = 120_000): ExecResult {
    if (this.leader <= 0) return { status: null, stdout: "", stderr: "container not running" };
    const r = spawnSync("nsenter", ["-t", String(this.leader), "-m", "-u", "-i", "-n", "-p", "--", ...argv], {
      encoding: "utf8",
      env: CONTAINER_ENV,
      timeout: timeoutMs,
      killSignal: "SIGKILL",
    });
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  /** exec() that must succeed. */
  run(argv: string[], timeoutMs?: number): string {
    const r = this.exec(argv, timeoutMs);
    if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  systemctl(...args: string[]): ExecResult {
    return this.exec(["systemctl", "--no-pager", ...args]);
  }

  /** `systemctl show` properties of a unit. */
  show(unit: string, ...props: string[]): Record<string, string> {
    const out = this.run(["systemctl", "show", unit, ...props.flatMap((p) => ["-p", p])]);
    const res: Record<string, string> = {};
    for (const line of out.split("\n")) {
      const i = line.indexOf("=");
      if (i > 0) res[line.slice(0, i)] = line.slice(i + 1);
    }
    return res;
  }

  journal(unit: string): string {
    return this.exec(["journalctl", "--no-pager", "-o", "short-monotonic", "-u", unit]).stdout;
  }

  /** PIDs (container numbering) of processes with exactly this name. */
  pids(name: string): number[] {
    const r = this.exec(["pgrep", "-x", name]);
    return r.stdout
      .split("\n")
      .filter(Boolean)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** GET on the daemon's API inside the container's network namespace, as JSON. */
  api(path: string, port: number): unknown {
    const script =
      "fetch(process.argv[1]).then(r=>r.text()).then(t=>process.stdout.write(t),e=>{console.error(String(e));process.exit(1)})";
    // Without the host's node, the only one in the container is the RPM's runtime.
    const node = this.hostNode ? "/usr/bin/node" : `${PROJECT_DIR}/node`;
    return JSON.parse(this.run([node, "-e", script, `http://127.0.0.1:${port}${path}`]));
  }

  async until(pred: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${this.diagnostics()}`);
      await sleep(250);
    }
  }

  /** What a failure message should show: both units' state and journal, and the console's tail. */
  diagnostics(): string {
    const consoleTail = `--- console\n${tail(existsSync(this.consoleLog) ? readFileSync(this.consoleLog, "utf8") : "", 30)}`;
    if (this.leader <= 0) return consoleTail;
    const parts = ["k8s-offloadd.service", "kubelet.service"].map(
      (u) => `--- ${u}\n${this.systemctl("status", u).stdout}\n${tail(this.journal(u), 40)}`,
    );
    return [...parts, consoleTail].join("\n");
  }

  /** `systemctl poweroff` and wait; nspawn (and then the container's PID 1) killed if it hangs. */
  async poweroff(): Promise<void> {
    const proc = this.nspawn;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    this.exec(["systemctl", "--no-block", "poweroff"]);
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      this.nspawnExit.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), 60_000);
      }),
    ]);
    clearTimeout(timer);
    if (!done) {
      // Only what we started: nspawn by its pid, then the container's PID 1 (which ends its pid namespace).
      if (proc.pid) process.kill(proc.pid, "SIGKILL");
      if (this.leader > 0) {
        try {
          process.kill(this.leader, "SIGKILL");
        } catch {}
      }
      await this.nspawnExit;
    }
    this.leader = 0;
  }

  /** Power off, unmount the overlay, remove the scratch dir. */
  async cleanup(): Promise<void> {
    await this.poweroff();
    for (let i = 0; i < 20; i++) {
      if (spawnSync("umount", [this.root], { stdio: "ignore" }).status === 0) break;
      if (!isMounted(this.root)) break;
      await sleep(250);
    }
    if (isMounted(this.root)) spawnSync("umount", ["-l", this.root], { stdio: "ignore" });
    rmSync(this.scratch, { recursive: true, force: true });
    // nspawn's per-machine dir on the host's /run, which it leaves behind when killed.
    rmSync(`/run/systemd/nspawn/propagate/${basename(this.scratch)}`, { recursive: true, force: true });
  }
}

function must(argv: string[]): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr}`);
}

/** The first child of pid (nspawn's child is the container's PID 1), 0 when there is none yet. */
function childOf(pid: number): number {
  if (pid <= 0) return 0;
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      if (kids) return Number(kids.split(" ")[0]);
    }
  } catch {}
  return 0;
}

function isMounted(path: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === path);
}

export function tail(text: string, lines: number): string {
  return text.split("\n").slice(-lines).join("\n");
}
