import { closeSync, openSync, readSync, statSync } from "node:fs";

/**
 * Follows a child's log file (the child writes it directly; see spawn.ts) by polling its size,
 * hands each complete line to onLine and keeps the last `keep` lines for status.
 */
export class LogFollower {
  private offset: number;
  private partial = "";
  private timer: NodeJS.Timeout | null = null;
  readonly tail: string[] = [];

  constructor(
    private readonly file: string,
    private readonly onLine: (line: string) => void,
    private readonly keep = 20,
    intervalMs = 200,
  ) {
    this.offset = sizeOf(file);
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  /** Read what is new now (also called before reporting an exit so the last words are in). */
  poll(): void {
    const size = sizeOf(this.file);
    if (size < this.offset) this.offset = 0; // truncated or rotated
    if (size === this.offset) return;
    const buf = Buffer.alloc(Math.min(size - this.offset, 1 << 20));
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch {
      return;
    }
    try {
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      const lines = (this.partial + buf.subarray(0, n).toString("utf8")).split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line) continue;
        this.tail.push(line);
        if (this.tail.length > this.keep) this.tail.shift();
        this.onLine(line);
      }
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
