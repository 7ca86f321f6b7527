/**
 * Minimal ambient typing for the parts of `unix-dgram` (2.0.x, no bundled types) that we use:
 * unbound senders (sd-notify) and a bound receiver (tests). Written against lib/unix_dgram.js.
 */
declare module "unix-dgram" {
  import type { EventEmitter } from "node:events";

  /**
   * What the binding passes to send callbacks / 'error' listeners. Note `code` and `errno` are the
   * *negative numeric* errno (e.g. -111), not the usual string code; `util.getSystemErrorName` maps it.
   * A full non-blocking connected-socket queue yields `code: 1` with message "congestion".
   */
  export interface UnixDgramError extends Error {
    errno?: number;
    code?: number;
    syscall?: string;
  }

  export interface UnixDgramRemoteInfo {
    size: number;
    address: Record<string, never>;
    /** The sender's bound path, or null for an unbound (anonymous) sender. */
    path: string | null;
  }

  export type UnixDgramMessageListener = (msg: Buffer, rinfo: UnixDgramRemoteInfo) => void;

  /**
   * The socket is non-blocking and close-on-exec. While open it holds a ref'd libuv poll handle:
   * it keeps the event loop alive until close(), and there is no unref().
   */
  export interface UnixDgramSocket extends EventEmitter {
    readonly fd: number;
    /** Synchronous; emits 'listening' or 'error' before returning. */
    bind(path: string): void;
    /** Synchronous; emits 'connect' or 'error' before returning. */
    connect(path: string): void;
    /** Unconnected: sendto(path). With a callback, it is called synchronously with the outcome. */
    send(
      buf: Buffer,
      offset: number,
      length: number,
      path: string,
      callback?: (err?: UnixDgramError) => void,
    ): void;
    /** Throws on a failed close(2). */
    close(): void;

    on(event: "message", listener: UnixDgramMessageListener): this;
    on(event: "error", listener: (err: UnixDgramError) => void): this;
    on(event: "listening" | "connect" | "writable", listener: () => void): this;
    on(event: "congestion", listener: (buf: Buffer) => void): this;
  }

  /** Throws if socket(2) fails. */
  export function createSocket(type: "unix_dgram", listener?: UnixDgramMessageListener): UnixDgramSocket;
}
