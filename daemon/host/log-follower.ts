import {
  closeSync,
  copyFileSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";

/** How big a child's log file may grow, and how many rotated copies are kept (config `logs.*`). */
export interface LogLimits {
  /** The live file is rotated once it reaches this size. */
  maxBytes: number;
  /** Rotated copies kept: <file>.1 (newest) .. <file>.<keep>; 0 keeps none (the file is only truncated). */
  keep: number;
}

/** Production defaults, also in daemon/config/schema.ts; the daemon sets the configured ones at start. */
export const DEFAULT_LOG_LIMITS: LogLimits = { maxBytes: 10 * 1024 * 1024, keep: 3 };

let processLimits: LogLimits = DEFAULT_LOG_LIMITS;

/**
 * The limits every child log follower uses unless given its own: one setting for the whole daemon
 * (`logs.maxBytes`, `logs.keep`), set once by main at start, before any child is started or adopted.
 */
export function setChildLogLimits(limits: LogLimits): void {
  processLimits = { ...limits };
}

/**
 * Follows a child's log file (the child writes it directly; see spawn.ts) by polling its size,
 * hands each complete line to onLine and keeps the last `keep` lines for status.
 *
 * It also bounds the file: once a poll has read everything and the file has reached maxBytes, the
 * file is rotated by copy-truncate: copied to <file>.1 (older copies shifted up to <file>.<keep>),
 * then truncated in place. The child keeps writing through its own descriptor, opened O_APPEND by
 * spawn.ts, so its next write lands at the new end (offset 0): no restart, no sparse file. Rotating
 * right after a read loses no line for the follower; a line the child writes between the copy and
 * the truncation is lost from the files (the window of any copy-truncate, a few microseconds).
 */
export class LogFollower {
  private offset: number;
  private partial = "";
  private timer: NodeJS.Timeout | null = null;
  readonly tail: string[] = [];
  private readonly limits: LogLimits;
  private rotateFailed = false;

  constructor(
    private readonly file: string,
    private readonly onLine: (line: string) => void,
    private readonly keep = 20,
    intervalMs = 200,
    limits?: LogLimits,
  ) {
    this.limits = limits ?? processLimits;
    this.offset = sizeOf(file);
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  /** Read what is new now (also called before reporting an exit so the last words are in). */
  poll(): void {
    let size = sizeOf(this.file);
    if (size < this.offset) this.offset = 0; // truncated or rotated
    while (size > this.offset) {
      if (!this.readChunk(size)) return;
      size = sizeOf(this.file);
      if (size < this.offset) this.offset = 0;
    }
    if (size >= this.limits.maxBytes) this.rotate();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads at most 1 MiB from the offset; false when the file cannot be opened. */
  private readChunk(size: number): boolean {
    const buf = Buffer.alloc(Math.min(size - this.offset, 1 << 20));
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch {
      return false;
    }
    try {
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      if (n === 0) return false;
      this.offset += n;
      const lines = (this.partial + buf.subarray(0, n).toString("utf8")).split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line) continue;
        this.tail.push(line);
        if (this.tail.length > this.keep) this.tail.shift();
        this.onLine(line);
      }
      return true;
    } finally {
      closeSync(fd);
    }
  }

  private rotate(): void {
    const { keep } = this.limits;
    try {
      if (keep > 0) rmSync(`${this.file}.${keep}`, { force: true });
      for (let i = keep - 1; i >= 1; i--) {
        try {
          renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        }
      }
      if (keep > 0) copyFileSync(this.file, `${this.file}.1`);
      // Truncate through a descriptor of our own: the child's stays valid and append-only.
      const fd = openSync(this.file, "r+");
      try {
        ftruncateSync(fd, 0);
      } finally {
        closeSync(fd);
      }
      this.offset = 0;
      this.partial = "";
      this.rotateFailed = false;
    } catch (err) {
      // A full or read-only log disk must not take the daemon down: the file stays as it is, said once.
      if (!this.rotateFailed) this.onLine(`(log rotation of ${this.file} failed: ${(err as Error).message})`);
      this.rotateFailed = true;
    }
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
