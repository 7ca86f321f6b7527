import { connect, type Socket } from "node:net";
import { StringDecoder } from "node:string_decoder";

/**
 * A small OVSDB JSON-RPC client (RFC 7047) on ovsdb-server's unix socket, so that the daemon's
 * readiness and health probes ask ovsdb-server directly instead of forking ovs-vsctl: every fork of
 * the ~80 MB daemon blocks its event loop for 9-22 ms (issue 13).
 *
 * One connection per probe (OvsdbRpc.open ... close): a unix connect costs microseconds, a fresh
 * connection carries no state from an earlier probe (no stale monitor, no half-read reply after a
 * server restart), and closing it is what ends a monitor on the server side.
 */

/** Splits OVSDB's stream into JSON texts: the stream has no length framing, just values one after another. */
export class JsonSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private buf = "";
  /** Where the scan stopped in buf, and its state there, so a value split across chunks is scanned once. */
  private pos = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  /** Feeds one chunk; returns the complete top-level values it finished, as text, in order. */
  push(chunk: Buffer | string): string[] {
    this.buf += typeof chunk === "string" ? chunk : this.decoder.write(chunk);
    const out: string[] = [];
    let start = 0;
    for (let i = this.pos; i < this.buf.length; i++) {
      const c = this.buf.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22 /* " */) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
        if (this.depth === 0) start = this.skipSpace(start, i);
        this.depth++;
      } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
        this.depth--;
        if (this.depth < 0) throw new Error(`OVSDB stream: unbalanced '${this.buf[i]}'`);
        if (this.depth === 0) {
          out.push(this.buf.slice(start, i + 1));
          start = i + 1;
        }
      } else if (this.depth === 0 && !isSpace(c)) {
        // RFC 7047 §4: every message is a JSON object; a bare scalar at the top level is not OVSDB.
        throw new Error(`OVSDB stream: unexpected '${this.buf[i]}' between messages`);
      }
    }
    this.buf = this.buf.slice(start);
    this.pos = this.buf.length;
    return out;
  }

  private skipSpace(from: number, to: number): number {
    for (let i = from; i < to; i++) if (!isSpace(this.buf.charCodeAt(i))) return i;
    return to;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** An OVSDB connection failure, a JSON-RPC error reply or a timeout, in words. */
export class OvsdbRpcError extends Error {}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string };
type Listener = (params: unknown) => void;

export class OvsdbRpc {
  private readonly split = new JsonSplitter();
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Listener>();
  private readonly closers: ((e: Error) => void)[] = [];
  private nextId = 1;
  private closed: OvsdbRpcError | null = null;
  /** Until connected: where a failure goes (the open() promise). */
  private closedWaiter: ((e: Error) => void) | null = null;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly sock: Socket,
    readonly path: string,
    deadlineMs: number,
  ) {
    sock.on("data", (chunk: Buffer) => this.onData(chunk));
    sock.on("error", (err) => this.fail(new OvsdbRpcError(`${path}: ${err.message}`)));
    sock.on("close", () => this.fail(new OvsdbRpcError(`${path}: ovsdb-server closed the connection`)));
    // One deadline for the whole conversation: whatever still waits when it passes fails with it.
    this.timer = setTimeout(
      () => this.fail(new OvsdbRpcError(`${path}: no answer within ${deadlineMs} ms`)),
      deadlineMs,
    );
    this.timer.unref();
  }

  /**
   * Connects to a unix socket; every request on it fails once timeoutMs have passed since now. A
   * missing socket or a refused connect rejects with OvsdbRpcError naming the path and the reason.
   */
  static open(path: string, timeoutMs: number): Promise<OvsdbRpc> {
    return new Promise((resolve, reject) => {
      const sock = connect({ path });
      const rpc = new OvsdbRpc(sock, path, timeoutMs);
      rpc.closedWaiter = reject;
      sock.once("connect", () => {
        rpc.closedWaiter = null;
        resolve(rpc);
      });
    });
  }

  /** Sends {method, params, id}; the reply's result, or an OvsdbRpcError with its error. */
  request(method: string, params: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.sock.write(JSON.stringify({ method, params, id }));
    });
  }

  /** Called with the params of every notification of that method (e.g. "update" for a monitor we made). */
  on(method: string, fn: Listener): void {
    this.listeners.set(method, fn);
  }

  /** Called once with the reason when the connection ends (deadline, server gone, close()). */
  onClose(fn: (e: Error) => void): void {
    if (this.closed) fn(this.closed);
    else this.closers.push(fn);
  }

  /** Fails everything still waiting and ends the connection; safe to call more than once. */
  close(): void {
    this.fail(new OvsdbRpcError(`${this.path}: connection closed by the client`));
  }

  private onData(chunk: Buffer): void {
    let texts: string[];
    try {
      texts = this.split.push(chunk);
    } catch (err) {
      this.fail(new OvsdbRpcError(`${this.path}: ${(err as Error).message}`));
      return;
    }
    for (const t of texts) {
      let msg: { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
      try {
        msg = JSON.parse(t);
      } catch (err) {
        this.fail(new OvsdbRpcError(`${this.path}: not JSON from ovsdb-server (${(err as Error).message})`));
        return;
      }
      this.dispatch(msg);
    }
  }

  private dispatch(msg: {
    id?: unknown;
    method?: unknown;
    params?: unknown;
    result?: unknown;
    error?: unknown;
  }) {
    if (typeof msg.method === "string") {
      // RFC 7047 §4.1.11: the server's inactivity probe; answer with the same params and id.
      if (msg.method === "echo" && msg.id !== null && msg.id !== undefined) {
        this.sock.write(JSON.stringify({ result: msg.params ?? [], error: null, id: msg.id }));
        return;
      }
      // Notifications we did not ask for (an "update" of a monitor we did not make, "locked"...) are dropped.
      if (msg.id === null || msg.id === undefined) this.listeners.get(msg.method)?.(msg.params);
      return;
    }
    if (typeof msg.id !== "number") return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error !== null && msg.error !== undefined) {
      p.reject(new OvsdbRpcError(`${this.path}: ${p.method} failed: ${describeError(msg.error)}`));
    } else {
      p.resolve(msg.result);
    }
  }

  private fail(err: OvsdbRpcError): void {
    if (this.closed) return;
    this.closed = err;
    clearTimeout(this.timer);
    this.sock.destroy();
    this.closedWaiter?.(err);
    this.closedWaiter = null;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const fn of this.closers.splice(0)) fn(err);
  }
}

/** An OVSDB error (RFC 7047 §3.1: {"error": ..., "details": ...}) or any other error value, in words. */
export function describeError(e: unknown): string {
  if (e && typeof e === "object" && "error" in e) {
    const o = e as { error: unknown; details?: unknown };
    return o.details ? `${String(o.error)}: ${String(o.details)}` : String(o.error);
  }
  return typeof e === "string" ? e : JSON.stringify(e);
}

/** A "transact" reply's first failed operation (RFC 7047 §4.1.3: an error object in the result array), or null. */
export function transactError(result: unknown): string | null {
  if (!Array.isArray(result)) return `not a transact result: ${JSON.stringify(result)}`;
  for (const r of result) if (r && typeof r === "object" && "error" in r) return describeError(r);
  return null;
}
