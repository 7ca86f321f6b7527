/**
 * A stand-in for systemd's notify socket: a bound unix datagram socket that records every datagram
 * (parsed into KEY=VALUE fields) so tests can wait for, and assert on, what a process told systemd.
 * While open it keeps the event loop alive: always close() it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSocket, type UnixDgramSocket } from "unix-dgram";

export interface NotifyMessage {
  /** The datagram as received (UTF-8). */
  raw: string;
  /** Its newline-separated KEY=VALUE assignments (a repeated key: the last wins). */
  fields: Record<string, string>;
  /** Date.now() at receipt. */
  at: number;
}

export type NotifyPredicate = (m: NotifyMessage) => boolean;

interface Waiter {
  predicate: NotifyPredicate;
  resolve: (m: NotifyMessage) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export function parseNotify(raw: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of raw.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return fields;
}

export class NotifyReceiver {
  readonly messages: NotifyMessage[] = [];
  private readonly waiters = new Set<Waiter>();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly socket: UnixDgramSocket,
    /** A temp dir we made, removed on close; null when the caller chose the path. */
    private readonly ownDir: string | null,
  ) {
    socket.on("message", (buf) => this.receive(buf.toString("utf8")));
  }

  /**
   * Binds at path (which must not exist; its directory is the caller's), or at notify.sock in a
   * fresh temp dir that close() removes. Kept short: sun_path holds 107 bytes.
   */
  static async create(path?: string): Promise<NotifyReceiver> {
    const ownDir = path === undefined ? mkdtempSync(join(tmpdir(), "notify-")) : null;
    const at = path ?? join(ownDir as string, "notify.sock");
    if (Buffer.byteLength(at) > 107) throw new Error(`notify socket path too long for sun_path: ${at}`);
    const socket = createSocket("unix_dgram");
    let bindError: Error | undefined;
    socket.on("error", (err) => {
      bindError ??= err;
    });
    socket.bind(at); // synchronous: 'error' has been emitted by now if it failed
    if (bindError) {
      socket.close();
      if (ownDir) rmSync(ownDir, { recursive: true, force: true });
      throw new Error(`cannot bind notify socket ${at}: ${bindError.message}`);
    }
    return new NotifyReceiver(at, socket, ownDir);
  }

  /**
   * The first message, already received or yet to come, for which predicate holds. Rejects after
   * timeoutMs (or on close) with an error listing everything received so far.
   */
  waitFor(predicate: NotifyPredicate, timeoutMs = 5000): Promise<NotifyMessage> {
    let hit: NotifyMessage | undefined;
    try {
      hit = this.messages.find(predicate);
    } catch (err) {
      return Promise.reject(err);
    }
    if (hit) return Promise.resolve(hit);
    if (this.closed) return Promise.reject(this.failure("receiver is closed"));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(this.failure(`no matching notify message within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Stops receiving, rejects pending waitFor()s, removes the socket (and our temp dir). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(this.failure("receiver closed while waiting"));
    }
    this.waiters.clear();
    try {
      this.socket.close();
    } finally {
      rmSync(this.ownDir ?? this.path, { recursive: true, force: true });
    }
  }

  private receive(raw: string): void {
    const m: NotifyMessage = { raw, fields: parseNotify(raw), at: Date.now() };
    this.messages.push(m);
    for (const w of this.waiters) {
      let matched = false;
      try {
        matched = w.predicate(m);
      } catch (err) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.reject(err as Error);
        continue;
      }
      if (matched) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    }
  }

  private failure(why: string): Error {
    const got = this.messages.map((m) => `  ${JSON.stringify(m.raw)}`).join("\n");
    return new Error(
      `${why} on ${this.path}; received ${this.messages.length}:${got ? `\n${got}` : " none"}`,
    );
  }
}
