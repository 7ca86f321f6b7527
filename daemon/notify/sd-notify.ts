/**
 * sd_notify(3) client for a Type=notify service: READY=1, STATUS=, STOPPING=1, EXTEND_TIMEOUT_USEC=,
 * WATCHDOG=1, sent as one datagram of newline-joined KEY=VALUE assignments to $NOTIFY_SOCKET.
 *
 * Sending never throws into the caller: failures are logged (a repeated identical failure only once)
 * and the call returns false. Without NOTIFY_SOCKET (not under systemd) every call is a silent no-op.
 *
 * A receiver that is behind is not a failure: its queue holds net.unix.max_dgram_qlen datagrams (10
 * unless raised; systemd raises it to 512), and the binding's non-blocking send says "congestion"
 * past that. libsystemd's sd_notify() blocks until there is room; a daemon must not block its loop,
 * so messages wait in a backlog, in order, and go out as room comes (retried with backoff). Without
 * it a burst of STATUS= while the receiver was not scheduled dropped READY=1 for good: the unit never
 * started (seen in CI, test/integration/daemon.test.ts).
 */
import { constants } from "node:os";
import { getSystemErrorName } from "node:util";
import { createSocket, type UnixDgramError, type UnixDgramSocket } from "unix-dgram";

export type NotifyLog = (msg: string) => void;

/** sockaddr_un.sun_path is 108 bytes on Linux, NUL included; the binding strncpy()s and would silently truncate. */
const SUN_PATH_MAX_BYTES = 107;
/** setInterval() clamps anything larger to 1 ms (with a warning): cap instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Variables systemd hands to *this* process only; see scrubChildEnv. */
const SYSTEMD_PRIVATE_ENV = new Set(["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]);

const defaultLog: NotifyLog = (msg) => {
  process.stderr.write(`sd-notify: ${msg}\n`);
};

/** One line: systemd splits assignments on newlines, and a NUL would end the datagram for C parsers. */
function oneLine(text: string): string {
  return text.replace(/\r\n|[\r\n\0]/g, " ");
}

function describeError(err: unknown): string {
  const e = err as UnixDgramError | undefined;
  if (e && typeof e.code === "number" && e.code < 0) {
    let name: string;
    try {
      name = getSystemErrorName(e.code);
    } catch {
      name = `errno ${-e.code}`;
    }
    return e.syscall ? `${e.syscall}: ${name}` : name;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * The receiver's queue is full: sendto(2) on the binding's non-blocking socket failed with EAGAIN
 * (or ENOBUFS), which it reports as -errno (src/unix_dgram.cc SendTo; a connected socket's send
 * says internalError(1, "congestion") instead).
 */
function isCongestion(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return (
    e?.code === -errno.EAGAIN || e?.code === -errno.ENOBUFS || (e?.code === 1 && e.message === "congestion")
  );
}

/** Backlog retries: soon (a receiver scheduled again reads at once), then at most this often. */
const RETRY_FIRST_MS = 5;
const RETRY_MAX_MS = 500;
/** A receiver that never reads again: the oldest waiting messages are dropped past this, logged. */
const BACKLOG_MAX = 256;
const { errno } = constants;
const CONGESTED = "congested";

export class SystemdNotifier {
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** Failures logged since the last successful send: each is logged once, not at every watchdog ping. */
  private readonly failures = new Set<string>();
  /** Messages waiting for room at a congested receiver, oldest first (see the top of this file). */
  private readonly backlog: string[][] = [];
  private retry: NodeJS.Timeout | undefined;
  private retryMs = RETRY_FIRST_MS;

  private constructor(
    /** The filesystem socket to send to, or null when notifications are a no-op. */
    private readonly target: string | null,
    /** WATCHDOG_USEC when the watchdog is ours (and target is usable), else undefined. */
    readonly watchdogUsec: number | undefined,
    private readonly log: NotifyLog,
  ) {}

  /**
   * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (as sd_notify(3) and sd_watchdog_enabled(3) do).
   * Anything unusable is logged once, here, and turns the corresponding calls into no-ops.
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, log: NotifyLog = defaultLog): SystemdNotifier {
    const safeLog: NotifyLog = (msg) => {
      try {
        log(msg);
      } catch {
        // A broken logger must not break start-up either.
      }
    };

    let target: string | null = null;
    const socket = env.NOTIFY_SOCKET;
    if (socket) {
      if (socket.startsWith("@")) {
        // An abstract socket needs sun_path[0] = '\0' and an exact address length. unix-dgram copies
        // the path with strncpy() (a leading NUL would read as an empty path) and always passes
        // sizeof(sockaddr_un), so it cannot address abstract names at all. systemd itself uses a
        // filesystem path (/run/systemd/notify); abstract names come from some containers/wrappers.
        safeLog(
          `NOTIFY_SOCKET=${socket} is an abstract socket, which the unix-dgram binding cannot address: ` +
            "sd_notify disabled (no READY=1, STATUS= or WATCHDOG=1 will be sent)",
        );
      } else if (!socket.startsWith("/")) {
        // e.g. vsock:CID:PORT (systemd 253+ for VMs), or a relative path sd_notify(3) would reject too.
        safeLog(`NOTIFY_SOCKET=${socket} is not an absolute socket path: sd_notify disabled`);
      } else if (Buffer.byteLength(socket) > SUN_PATH_MAX_BYTES) {
        safeLog(`NOTIFY_SOCKET=${socket} is longer than ${SUN_PATH_MAX_BYTES} bytes: sd_notify disabled`);
      } else {
        target = socket;
      }
    }

    let watchdogUsec: number | undefined;
    const usecRaw = env.WATCHDOG_USEC;
    const pidRaw = env.WATCHDOG_PID;
    if (usecRaw) {
      const usec = /^\d+$/.test(usecRaw) ? Number(usecRaw) : Number.NaN;
      if (!Number.isSafeInteger(usec) || usec <= 0) {
        safeLog(`WATCHDOG_USEC=${usecRaw} is not a positive integer: watchdog disabled`);
      } else if (pidRaw && pidRaw !== String(process.pid)) {
        // The watchdog belongs to another process (we inherited its environment): not ours to ping.
        safeLog(`WATCHDOG_PID=${pidRaw} is not this process (${process.pid}): watchdog disabled`);
      } else if (target !== null) {
        watchdogUsec = usec;
      }
    }

    return new SystemdNotifier(target, watchdogUsec, safeLog);
  }

  /** True when notifications are actually sent (NOTIFY_SOCKET usable and not closed). */
  get enabled(): boolean {
    return this.target !== null && !this.closed;
  }

  /** True when the watchdog is ours to ping (WATCHDOG_USEC set, WATCHDOG_PID absent or ours). */
  get watchdogEnabled(): boolean {
    return this.watchdogUsec !== undefined && this.enabled;
  }

  /** The ping period: half of WATCHDOG_USEC, in ms; undefined when the watchdog is not ours. */
  get watchdogIntervalMs(): number | undefined {
    if (this.watchdogUsec === undefined) return undefined;
    return Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(this.watchdogUsec / 2000)));
  }

  /** READY=1, with STATUS=<status> in the same datagram when given. */
  ready(status?: string): boolean {
    const lines = ["READY=1"];
    if (status !== undefined) lines.push(`STATUS=${oneLine(status)}`);
    return this.send(lines);
  }

  /** STATUS=<text>, newlines flattened to spaces. */
  status(text: string): boolean {
    return this.send([`STATUS=${oneLine(text)}`]);
  }

  stopping(): boolean {
    return this.send(["STOPPING=1"]);
  }

  /** EXTEND_TIMEOUT_USEC=<usec>: the start/stop timeout is extended to at least usec from now. */
  extendTimeout(usec: number): boolean {
    const n = Math.floor(usec);
    if (!Number.isSafeInteger(n) || n < 0) {
      this.log(`extendTimeout(${usec}): not a non-negative integer of microseconds; not sent`);
      return false;
    }
    return this.send([`EXTEND_TIMEOUT_USEC=${n}`]);
  }

  watchdog(): boolean {
    return this.send(["WATCHDOG=1"]);
  }

  /**
   * Pings WATCHDOG=1 now and then every WATCHDOG_USEC/2 from a timer on the event loop: if the loop
   * is blocked no ping goes out and systemd's watchdog fires, which is the point. The timer is
   * unref'd so it never keeps the process alive. No-op unless the watchdog is ours; idempotent.
   */
  startWatchdog(): void {
    const interval = this.watchdogIntervalMs;
    if (!this.watchdogEnabled || interval === undefined || this.timer) return;
    this.watchdog();
    this.timer = setInterval(() => this.watchdog(), interval);
    this.timer.unref();
  }

  stopWatchdog(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Messages waiting for room at a congested receiver (0 when all went out). */
  get waiting(): number {
    return this.backlog.length;
  }

  /** Stops the watchdog; tries the backlog once more; every later call is a no-op. Idempotent. */
  close(): void {
    this.stopWatchdog();
    if (!this.closed) this.flush();
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.closed = true;
  }

  /**
   * One datagram per call, from a fresh unbound socket closed straight after: a unix-dgram socket
   * holds a ref'd poll handle (no unref()), so a long-lived one would keep the process from exiting.
   * sendmsg() on a unix datagram socket queues at the receiver synchronously, so close() loses nothing.
   */
  private send(lines: string[]): boolean {
    if (this.target === null || this.closed) return false;
    // Behind a backlog a message waits its turn: systemd reads them in the order they were sent.
    if (this.backlog.length > 0) {
      this.enqueue(lines);
      return true;
    }
    const sent = this.sendNow(lines);
    if (sent !== "congested") return sent;
    this.enqueue(lines);
    // Said once per episode; "works again" follows when a waiting message goes out.
    if (!this.failures.has(CONGESTED)) {
      this.failures.add(CONGESTED);
      this.log(
        `NOTIFY_SOCKET=${this.target} is full (the receiver is behind): messages wait and go out in order`,
      );
    }
    return true;
  }

  /**
   * Waits behind the others. A message of the same keys as the newest waiting one replaces it:
   * systemd keeps only the latest STATUS=, EXTEND_TIMEOUT_USEC= or WATCHDOG=1 anyway, and READY=1 or
   * STOPPING=1 are never merged into a message without them.
   */
  private enqueue(lines: string[]): void {
    const last = this.backlog.at(-1);
    if (last && keysOf(last) === keysOf(lines)) this.backlog[this.backlog.length - 1] = lines;
    else this.backlog.push(lines);
    if (this.backlog.length > BACKLOG_MAX) {
      const dropped = this.backlog.shift() as string[];
      this.failed(this.target as string, keysOf(dropped), `the receiver read nothing for a while: dropped`);
    }
    if (!this.retry) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.flush();
      if (this.backlog.length > 0 && !this.closed) {
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
        this.scheduleRetry();
      } else this.retryMs = RETRY_FIRST_MS;
    }, this.retryMs);
    // A daemon exiting does not wait for a receiver that is not reading.
    this.retry.unref();
  }

  /** Sends what waits, oldest first, until the receiver is full again; a hard failure drops that message. */
  private flush(): void {
    while (this.backlog.length > 0) {
      const lines = this.backlog[0] as string[];
      if (this.sendNow(lines) === "congested") return;
      this.backlog.shift();
      this.retryMs = RETRY_FIRST_MS;
    }
  }

  /** One datagram now: true sent, false failed (logged), "congested" the receiver's queue is full. */
  private sendNow(lines: string[]): boolean | "congested" {
    const target = this.target as string;
    const what = keysOf(lines);
    const buf = Buffer.from(lines.join("\n"), "utf8");
    let returned = false;
    let failure: string | undefined;
    let congested = false;
    const fail = (err: unknown) => {
      // The binding calls back synchronously (lib/unix_dgram.js); were that to change, still log it.
      if (returned) this.failed(target, what, describeError(err));
      else if (isCongestion(err)) congested = true;
      else failure ??= describeError(err);
    };
    let sock: UnixDgramSocket | undefined;
    try {
      sock = createSocket("unix_dgram");
      // Not emitted when send() has a callback; listening anyway so a stray 'error' can never throw.
      sock.on("error", fail);
      sock.send(buf, 0, buf.length, target, (err) => {
        if (err) fail(err);
      });
    } catch (err) {
      fail(err);
    } finally {
      try {
        sock?.close();
      } catch {
        // close(2) failing on a socket we just made: nothing useful to do.
      }
      returned = true;
    }
    if (congested) return "congested";
    if (failure !== undefined) {
      this.failed(target, what, failure);
      return false;
    }
    if (this.failures.size > 0) {
      this.failures.clear();
      this.log(`sending to NOTIFY_SOCKET=${target} works again`);
    }
    return true;
  }

  /** Logs a failure once until the next successful send (the watchdog would repeat it every ping). */
  private failed(target: string, what: string, why: string): void {
    const key = `${what}: ${why}`;
    if (this.failures.has(key)) return;
    this.failures.add(key);
    this.log(`sending ${what} to NOTIFY_SOCKET=${target} failed: ${why}`);
  }
}

/** "READY,STATUS": the keys of a message, in order. */
function keysOf(lines: string[]): string {
  return lines.map((l) => l.slice(0, l.indexOf("="))).join(",");
}

/**
 * A copy of env for a child process, without NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID and every
 * LISTEN_* variable (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, ...). These are addressed to this
 * process alone: a child holding NOTIFY_SOCKET could report READY/STOPPING for the unit (with
 * NotifyAccess=all) or be mistaken for it, and a child seeing LISTEN_* would try to adopt fds that
 * are not its own. The input is not modified.
 */
export function scrubChildEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (SYSTEMD_PRIVATE_ENV.has(key) || key.startsWith("LISTEN_")) continue;
    out[key] = value;
  }
  return out;
}
