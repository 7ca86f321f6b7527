/**
 * One long-lived `ip [-n NS] -j -d -force -batch -` per network namespace, for the routine reads of
 * the health and reconcile passes (a TAP_0 probe, the ARP proxy's settings, the pool's listing):
 * every 2 s those would otherwise fork an `ip` each, and a fork blocks the daemon's event loop for
 * 9-22 ms (it grows with the daemon's RSS), which an API answer waiting behind it pays.
 *
 * Framing: iproute2 flushes stdout after each batch line, and with -j every `show` prints its JSON
 * document on one line. Each question is one command line followed by `netconf show dev lo`, whose
 * answer (an array whose every entry is interface "lo"; lo exists in every namespace) is the
 * end-of-answer marker: one line before it is the answer; none means the command failed, and then
 * iproute2 has already written "Command failed -:N" (N: that command's line) on stderr, which is
 * awaited and gives the reason. -force: a failing line does not end the batch.
 *
 * Truthful: every question is a fresh kernel read (the process only saves the fork). In a named
 * namespace the session is tied to the namespace it entered: /run/netns/NAME is stat'ed before each
 * question and a different inode (deleted and made again) ends the session and starts another; a
 * missing one ends it and the question is answered by one plain `ip -n NS` process (which says
 * why it cannot enter). Supervision: a session that dies is started again by the next question; one
 * that stops answering (timeout) is killed; one unused for IDLE_MS ends (it would keep a deleted
 * namespace alive); the daemon ends all of them when it stops (endIpSessions), and `ip` itself ends
 * when its stdin closes (the daemon died). Never a shell: argv arrays, fixed command lines.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { statSync } from "node:fs";
import { type CommandResult, runCommand } from "./command";

const MARKER = "netconf show dev lo";

/** `ip [-n NS] ARGS...` (links.ts ipArgv; not imported from there: links.ts uses this file). */
const ipArgv = (netns: string | null, args: readonly string[]) =>
  netns ? ["ip", "-n", netns, ...args] : ["ip", ...args];
const IDLE_MS = 10_000;
/** After a session that could not answer its first question, plain processes for this long. */
const DISABLED_MS = 30_000;

/** What one command answered through a session: its JSON line, or the failure's stderr. */
export type IpAnswer = { ok: true; line: string } | { ok: false; stderr: string };

interface Pending {
  lineNo: number;
  lines: string[];
  resolve: (a: IpAnswer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** Set once the marker came with no answer line: waiting for "Command failed -:N" on stderr. */
  failed: boolean;
}

function isMarker(line: string): boolean {
  if (!line.startsWith('[{"family":') || !line.includes('"interface":"lo"')) return false;
  try {
    const a = JSON.parse(line) as Array<{ interface?: string }>;
    return Array.isArray(a) && a.length > 0 && a.every((e) => e.interface === "lo");
  } catch {
    return false;
  }
}

/** The namespace file's identity (nsfs device and inode), or null when it is not there. */
function nsIdentity(netns: string): string | null {
  try {
    // iproute2's /run/netns/NAME (host/netns.ts netnsPath; not imported: netns.ts uses this file).
    const s = statSync(`/run/netns/${netns}`);
    return `${s.dev}:${s.ino}`;
  } catch {
    return null;
  }
}

export class IpSession {
  private child: ChildProcessWithoutNullStreams | null = null;
  private identity: string | null = null;
  private linesSent = 0;
  private out = "";
  private err = "";
  private pending: Pending | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | null = null;
  private disabledUntil = 0;
  /** Questions answered through the process (for tests and benches). */
  answered = 0;
  /** Processes started (for tests and benches). */
  starts = 0;

  constructor(readonly netns: string | null) {}

  /** The running helper's pid, or null. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /**
   * Ask `command` (a fixed `show` line, never containing a newline). Resolves with its answer, or null
   * when no session can answer now (namespace gone, helper failing): the caller runs one process.
   */
  ask(command: string, timeoutMs: number): Promise<IpAnswer | null> {
    if (/[\r\n]/.test(command) || command === MARKER) throw new Error(`ip session: bad command ${command}`);
    const run = this.queue.then(() => this.askNow(command, timeoutMs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * A running helper is replaced by a new one (its name cache is stale: names changed). Taken in
   * turn with the questions, so one another caller has in flight is still answered by the old one;
   * resolves once the new one runs.
   */
  renew(): Promise<void> {
    const run = this.queue.then(() => {
      if (!this.child) return; // the next question starts a new one anyway
      this.end();
      if (this.netns !== null) {
        const id = nsIdentity(this.netns);
        if (id === null) return;
        this.identity = id;
      }
      this.start();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Start the helper now if none runs, so that the next question does not wait for its fork and exec
   * (the larger part of a listing: ~5 ms quiet, tens of ms on 2 busy cores). For a caller that is
   * waiting for something else meanwhile (the P4 target making the pool's TAPs). Taken in turn with
   * the questions; a helper nobody asks ends when idle.
   */
  warm(): void {
    const run = this.queue.then(() => {
      if (this.child || Date.now() < this.disabledUntil) return;
      if (this.netns !== null) {
        const id = nsIdentity(this.netns);
        if (id === null) return;
        this.identity = id;
      }
      this.start();
      this.armIdle();
    });
    this.queue = run.catch(() => undefined);
  }

  /** End the helper (it is started again by the next question). */
  end(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const c = this.child;
    this.child = null;
    if (!c) return;
    this.failPending(new Error("ip session ended"));
    c.stdin.end();
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }

  private async askNow(command: string, timeoutMs: number): Promise<IpAnswer | null> {
    if (Date.now() < this.disabledUntil) return null;
    if (this.netns !== null) {
      const id = nsIdentity(this.netns);
      if (id === null) {
        this.end();
        return null;
      }
      if (this.child && id !== this.identity) this.end();
      this.identity = id;
    }
    const fresh = this.child === null;
    if (fresh) this.start();
    try {
      const a = await this.send(command, timeoutMs);
      this.answered++;
      this.armIdle();
      return a;
    } catch {
      this.end();
      // A helper that cannot answer its first question (no `ip`, an iproute2 without netconf):
      // plain processes for a while instead of a helper started per question.
      if (fresh) this.disabledUntil = Date.now() + DISABLED_MS;
      return null;
    }
  }

  private start(): void {
    const [file, ...args] = ipArgv(this.netns, ["-j", "-d", "-force", "-batch", "-"]);
    const c = spawn(file as string, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.starts++;
    this.child = c;
    this.linesSent = 0;
    this.out = "";
    this.err = "";
    // Not what keeps the daemon (or a test) running: a pending question's timer does that.
    c.unref();
    for (const s of [c.stdin, c.stdout, c.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    c.stdin.on("error", () => undefined); // EPIPE when it died: its exit says so
    c.stdout.setEncoding("utf8");
    c.stderr.setEncoding("utf8");
    c.stdout.on("data", (d: string) => {
      if (this.child === c) this.onOut(d);
    });
    c.stderr.on("data", (d: string) => {
      if (this.child !== c) return;
      this.err = (this.err + d).slice(-65536);
      this.checkFailed();
    });
    const gone = (why: string) => {
      if (this.child !== c) return;
      this.child = null;
      this.failPending(new Error(`ip session: ${why}`));
    };
    c.on("error", (e) => gone(e.message));
    c.on("exit", (code, signal) => gone(`exited (${signal ?? code})`));
  }

  private send(command: string, timeoutMs: number): Promise<IpAnswer> {
    const c = this.child;
    if (!c) return Promise.reject(new Error("ip session not running"));
    return new Promise<IpAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.failPending(new Error(`ip session: no answer to "${command}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = { lineNo: this.linesSent + 1, lines: [], resolve, reject, timer, failed: false };
      this.linesSent += 2;
      c.stdin.write(`${command}\n${MARKER}\n`);
    });
  }

  private onOut(data: string): void {
    this.out += data;
    let nl = this.out.indexOf("\n");
    while (nl >= 0) {
      const line = this.out.slice(0, nl);
      this.out = this.out.slice(nl + 1);
      this.onLine(line);
      nl = this.out.indexOf("\n");
    }
  }

  private onLine(line: string): void {
    const p = this.pending;
    if (!p || p.failed) {
      this.failPending(new Error("ip session: output nobody asked for"));
      this.end();
      return;
    }
    if (!isMarker(line)) {
      p.lines.push(line);
      return;
    }
    if (p.lines.length === 1) {
      this.settle()?.resolve({ ok: true, line: p.lines[0] as string });
    } else if (p.lines.length === 0) {
      p.failed = true;
      this.checkFailed();
    } else {
      this.failPending(new Error(`ip session: ${p.lines.length} lines for one command`));
      this.end();
    }
  }

  /** A failed command's "Command failed -:N" is on stderr (written before the marker's answer). */
  private checkFailed(): void {
    const p = this.pending;
    if (!p?.failed) return;
    const tag = `Command failed -:${p.lineNo}\n`;
    const at = this.err.indexOf(tag);
    if (at < 0) return;
    const stderr = this.err.slice(0, at).trim();
    this.err = this.err.slice(at + tag.length);
    this.settle()?.resolve({ ok: false, stderr });
  }

  private settle(): Pending | null {
    const p = this.pending;
    this.pending = null;
    if (p) clearTimeout(p.timer);
    return p;
  }

  private failPending(e: Error): void {
    this.settle()?.reject(e);
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.end(), IDLE_MS);
    this.idleTimer.unref();
  }
}

const sessions = new Map<string, IpSession>();
const key = (netns: string | null) => netns ?? "";

/** The namespace's session (made on first use). */
export function ipSession(netns: string | null): IpSession {
  let s = sessions.get(key(netns));
  if (!s) {
    s = new IpSession(netns);
    sessions.set(key(netns), s);
  }
  return s;
}

/** End the namespace's session (before the namespace is deleted: it would keep it alive). */
export function endIpSession(netns: string | null): void {
  sessions.get(key(netns))?.end();
}

/** A new ip for the namespace's reader, if one runs (names changed: its name cache is stale). */
export async function renewIpSession(netns: string | null): Promise<void> {
  await sessions.get(key(netns))?.renew();
}

/** End every session (the daemon stops). */
export function endIpSessions(): void {
  for (const s of sessions.values()) s.end();
}

type ShowResult = CommandResult & { argv: string[] };

/**
 * `ip [-n NS] -j -d ARGS...` through the namespace's session, as a CommandResult (code 1 and the
 * reason on stderr when the command failed); null when no session can answer now. args are fixed
 * words (one command line of the batch).
 */
export async function ipSessionShow(
  netns: string | null,
  args: readonly string[],
  timeoutMs: number,
): Promise<ShowResult | null> {
  const argv = ipArgv(netns, ["-j", "-d", ...args]);
  const a = await ipSession(netns).ask(args.join(" "), timeoutMs);
  if (a === null) return null;
  return a.ok
    ? { code: 0, signal: null, stdout: `${a.line}\n`, stderr: "", argv }
    : { code: 1, signal: null, stdout: "", stderr: `${a.stderr}\n`, argv };
}

/** ipSessionShow, or one `ip [-n NS] -j -d ARGS...` process when no session can answer. */
export async function ipShow(
  netns: string | null,
  args: readonly string[],
  timeoutMs: number,
): Promise<ShowResult> {
  const r = await ipSessionShow(netns, args, timeoutMs);
  if (r !== null) return r;
  const argv = ipArgv(netns, ["-j", "-d", ...args]);
  return { ...(await runCommand(argv, { timeoutMs })), argv };
}

/**
 * The names of the namespace's links right now, from the session's `link show` dump (names from
 * the kernel's messages); null when no session can answer. For checking what netconf and ntable
 * print: iproute2 prints their devices' names from its own cache (by ifindex, filled at first
 * print and not refreshed by a rename: seen with iproute2 6.1), which a long-lived ip keeps.
 */
export async function ipSessionLinkNames(
  netns: string | null,
  timeoutMs: number,
): Promise<Set<string> | null> {
  const r = await ipSessionShow(netns, ["link", "show"], timeoutMs);
  if (r === null || r.code !== 0) return null;
  return new Set((JSON.parse(r.stdout) as Array<{ ifname?: string }>).map((l) => l.ifname ?? ""));
}
