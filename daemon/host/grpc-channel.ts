/**
 * What every loopback gRPC channel of the daemon shares: the channel options (never through an HTTP
 * proxy, sane keepalive, quick reconnects while a target restarts), the loader for our own .proto
 * subsets under proto/, deadlines, and the retry-on-UNAVAILABLE helper.
 */
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { projectRoot } from "../paths";

/**
 * Channel options for the loopback channels to the P4 target (gNMI :9339, P4Runtime :9559).
 *
 * - `grpc.enable_http_proxy: 0`: @grpc/grpc-js otherwise honours grpc_proxy/https_proxy/http_proxy
 *   from the environment; admins following the guide export them, and a proxy must never catch
 *   127.0.0.1 (docs/architecture.md#proxies: the most reported P4-OVS setup failure).
 * - keepalive every 5 min, and only while a call is open: a gRPC C++ server (Stratum in P4-OVS)
 *   by default answers pings more frequent than 5 min without data with GOAWAY
 *   (ENHANCE_YOUR_CALM), so a shorter interval would kill the long-lived StreamChannel. On loopback
 *   a dead target is seen anyway when its socket closes.
 * - reconnect backoff 100 ms .. 2 s (grpc-js defaults: 1 s .. 120 s), so a restarted target is
 *   reached again within about 2 s instead of minutes.
 */
export const LOOPBACK_CHANNEL_OPTIONS: grpc.ChannelOptions = Object.freeze({
  "grpc.enable_http_proxy": 0,
  "grpc.keepalive_time_ms": 300_000,
  "grpc.keepalive_timeout_ms": 20_000,
  "grpc.keepalive_permit_without_calls": 0,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 2_000,
  "grpc.max_receive_message_length": 64 << 20,
  "grpc.max_send_message_length": 64 << 20,
});

/** The directory holding our .proto subsets (proto/ at the project root). */
export function protoDir(): string {
  return join(projectRoot(), "proto");
}

/**
 * Loader options: field names as in the .proto (snake_case), 64-bit integers as decimal strings
 * (election ids and cookies are uint64), enums as their names, oneofs reported by name.
 */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

const cache = new Map<string, grpc.GrpcObject>();

/** Load one of our proto files (e.g. "gnmi.proto") into a grpc object tree; cached per file. */
export function loadProto(file: string): grpc.GrpcObject {
  let obj = cache.get(file);
  if (!obj) {
    const def = protoLoader.loadSync(join(protoDir(), file), {
      ...LOADER_OPTIONS,
      includeDirs: [protoDir()],
    });
    obj = grpc.loadPackageDefinition(def);
    cache.set(file, obj);
  }
  return obj;
}

/** Walk a dotted name ("p4.v1.P4Runtime") in a loaded grpc object tree. */
export function lookup<T>(root: grpc.GrpcObject, dotted: string): T {
  let cur: unknown = root;
  for (const part of dotted.split(".")) {
    cur = (cur as Record<string, unknown> | undefined)?.[part];
    if (cur === undefined) throw new Error(`${dotted} is not defined in the loaded proto`);
  }
  return cur as T;
}

export function deadlineIn(ms: number): Date {
  return new Date(Date.now() + ms);
}

/** The gRPC status code of an error from a call, or undefined when it is not a gRPC error. */
export function grpcCode(err: unknown): grpc.status | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? (code as grpc.status) : undefined;
}

/**
 * Why a connection failed, in words, from grpc-js's details ("No connection established. Last error:
 * Error: connect ECONNREFUSED 127.0.0.1:9559. Resolution note: "): the errno when there is one, else
 * a plain description. Never grpc-js's internal wording.
 */
function unreachableWhy(details: string): string {
  const errno =
    /\b(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EADDRNOTAVAIL|EPIPE|ENOENT)\b/.exec(
      details,
    )?.[1];
  const words: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ECONNRESET: "connection reset",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    ETIMEDOUT: "connect timed out",
    EADDRNOTAVAIL: "address not available",
    EPIPE: "connection closed",
    ENOENT: "no such socket",
  };
  if (errno) return words[errno] as string;
  if (/name resolution/i.test(details)) return "name resolution failed";
  // A fresh channel can fail its first call before any connect attempt reported an error.
  if (/no connection established/i.test(details)) return "no connection established";
  if (/dropped|closed|goaway|ended/i.test(details)) return "connection closed";
  return "not available";
}

/**
 * A gRPC call's error as the daemon reports it: "P4Runtime target 127.0.0.1:9559 unreachable
 * (connection refused)", "gNMI target 127.0.0.1:9339 did not answer within 5000 ms (deadline
 * exceeded)", "gNMI target 127.0.0.1:9339 answered INVALID_ARGUMENT: <the target's own message>".
 * The result keeps `code`, `details` and `metadata` (callers branch on the code) and the original
 * error as `cause`; the message never carries grpc-js's internal text.
 */
export function describeGrpcError(
  err: unknown,
  target: { label: string; address: string; timeoutMs: number },
): unknown {
  const code = grpcCode(err);
  if (code === undefined || !(err instanceof Error)) return err;
  const e = err as grpc.ServiceError;
  const details = typeof e.details === "string" ? e.details : "";
  const who = `${target.label} target ${target.address}`;
  let message: string;
  if (code === grpc.status.UNAVAILABLE) message = `${who} unreachable (${unreachableWhy(details)})`;
  else if (code === grpc.status.DEADLINE_EXCEEDED)
    message = `${who} did not answer within ${target.timeoutMs} ms (deadline exceeded)`;
  else if (code === grpc.status.CANCELLED) message = `${who}: call cancelled`;
  else message = `${who} answered ${grpc.status[code] ?? `code ${code}`}${details ? `: ${details}` : ""}`;
  return Object.assign(new Error(message, { cause: err }), {
    code,
    details,
    metadata: e.metadata,
  });
}

export interface RetryPolicy {
  /** Total time budget for attempts on UNAVAILABLE (the target starting). */
  retryForMs: number;
  /** First pause between attempts, doubled up to maxBackoffMs. */
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retryForMs: 15_000, initialBackoffMs: 50, maxBackoffMs: 1_000 };

/**
 * Run `attempt` again while it fails with UNAVAILABLE (the target not listening yet, or
 * restarting), with doubling pauses, until `retryForMs` is spent. Any other error, or UNAVAILABLE
 * after the budget, is thrown as is.
 */
export async function retryUnavailable<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  isClosed: () => boolean = () => false,
): Promise<T> {
  const end = Date.now() + policy.retryForMs;
  let pause = policy.initialBackoffMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (grpcCode(err) !== grpc.status.UNAVAILABLE || isClosed() || Date.now() + pause > end) throw err;
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, policy.maxBackoffMs);
    }
  }
}

/** Promise wrapper for a unary call on a generated client, with a deadline. */
export function unary<Req, Res>(
  client: grpc.Client,
  method: string,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  const fn = (client as unknown as Record<string, unknown>)[method];
  if (typeof fn !== "function") return Promise.reject(new Error(`no gRPC method ${method}`));
  return new Promise<Res>((resolve, reject) => {
    (
      fn as (
        r: Req,
        m: grpc.Metadata,
        o: grpc.CallOptions,
        cb: (e: grpc.ServiceError | null, v?: Res) => void,
      ) => void
    ).call(client, req, new grpc.Metadata(), { deadline: deadlineIn(timeoutMs) }, (err, res) => {
      if (err) reject(err);
      else resolve(res as Res);
    });
  });
}

/** A response deserializer that keeps the bytes: for replies the caller does not read. */
const keepBytes = (b: Buffer): Buffer => b;

/**
 * Unary call, with a deadline, whose reply is not decoded: resolves once the status is OK. For
 * calls made by the thousand whose reply carries nothing the caller uses: a gNMI SetResponse
 * echoes the paths and a 64-bit timestamp, and decoding it is ~5% of the client's CPU for 1024
 * Sets from a fresh process (~540 -> ~515 ms, 4 runs each; no difference once V8 has warmed up).
 */
export function unaryNoReply<Req>(
  client: grpc.Client,
  method: grpc.MethodDefinition<Req, unknown>,
  req: Req,
  timeoutMs: number,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      keepBytes,
      req,
      { deadline: deadlineIn(timeoutMs) },
      (err) => {
        if (err) reject(err);
        else resolve();
      },
    );
  });
}

/** A unary method with codecs of the caller's own (daemon/host/gnmi-wire.ts), not the .proto's. */
export interface RawMethod<Req, Res> {
  path: string;
  requestSerialize: (req: Req) => Buffer;
  responseDeserialize: (bytes: Buffer) => Res;
}

/** Unary call, with a deadline, through the method's own codecs. */
export function unaryRaw<Req, Res>(
  client: grpc.Client,
  method: RawMethod<Req, Res>,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      req,
      { deadline: deadlineIn(timeoutMs) },
      (err, res) => {
        if (err) reject(err);
        else resolve(res as Res);
      },
    );
  });
}

export interface LoopbackClientOptions {
  address?: string;
  /** Deadline of every call. */
  timeoutMs?: number;
  /** Retries on UNAVAILABLE (the target not listening yet). */
  retry?: RetryPolicy;
  /** Extra channel options over LOOPBACK_CHANNEL_OPTIONS (benchmarks compare variants with it). */
  channelOptions?: grpc.ChannelOptions;
}

/**
 * One long-lived insecure channel to a P4 target service on loopback (never through a proxy), with
 * deadlines and UNAVAILABLE retries on every unary call. The gNMI and P4Runtime clients build on it.
 */
export abstract class LoopbackClient {
  readonly address: string;
  protected readonly client: grpc.Client;
  private readonly service: grpc.ServiceDefinition;
  protected readonly timeoutMs: number;
  protected readonly retry: RetryPolicy;
  protected closed = false;

  protected constructor(
    opts: LoopbackClientOptions,
    service: { defaultAddress: string; protoFile: string; name: string; label: string },
  ) {
    this.address = opts.address ?? service.defaultAddress;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.label = service.label;
    const Ctor = lookup<typeof grpc.Client & { service: grpc.ServiceDefinition }>(
      loadProto(service.protoFile),
      service.name,
    );
    this.service = Ctor.service;
    this.client = new Ctor(this.address, grpc.credentials.createInsecure(), {
      ...LOOPBACK_CHANNEL_OPTIONS,
      ...opts.channelOptions,
    });
  }

  private readonly label: string;

  protected call<Res>(method: string, req: unknown): Promise<Res> {
    if (this.closed) return Promise.reject(new Error(`${this.label} client is closed`));
    return retryUnavailable(
      () => unary<unknown, Res>(this.client, method, req, this.timeoutMs),
      this.retry,
      () => this.closed,
    ).catch((err) => Promise.reject(this.describe(err)));
  }

  /** The error of a call in the daemon's words (describeGrpcError), naming this target. */
  protected describe(err: unknown): unknown {
    return describeGrpcError(err, { label: this.label, address: this.address, timeoutMs: this.timeoutMs });
  }

  /** Like call(), through a method's own codecs (unaryRaw). */
  protected callRaw<Req, Res>(method: RawMethod<Req, Res>, req: Req): Promise<Res> {
    if (this.closed) return Promise.reject(new Error(`${this.label} client is closed`));
    return retryUnavailable(
      () => unaryRaw(this.client, method, req, this.timeoutMs),
      this.retry,
      () => this.closed,
    ).catch((err) => Promise.reject(this.describe(err)));
  }

  /** Like call(), for a method whose reply the caller does not read (it is not decoded). */
  protected callNoReply(method: string, req: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.label} client is closed`));
    const def = this.service[method];
    if (!def) return Promise.reject(new Error(`no gRPC method ${method}`));
    return retryUnavailable(
      () => unaryNoReply(this.client, def, req, this.timeoutMs),
      this.retry,
      () => this.closed,
    ).catch((err) => Promise.reject(this.describe(err)));
  }

  /**
   * Start connecting now, without a call: grpc-js keeps a channel idle until its first call, which
   * then waits for the channel's name resolution and load balancer (a few event-loop turns) before
   * its request is written, even when another channel already holds the connection. Called while
   * something else is awaited, so the first call later finds the channel ready.
   */
  connectSoon(): void {
    if (!this.closed) this.client.getChannel().getConnectivityState(true);
  }

  /**
   * Resolves once the channel is connected, or has failed to connect (the call that follows says
   * why), or after `ms`: so a first call is written at once, before anything else this process
   * starts meanwhile (a spawn blocks its event loop for milliseconds).
   */
  connected(ms: number): Promise<void> {
    const channel = this.client.getChannel();
    const end = Date.now() + ms;
    return new Promise<void>((resolve) => {
      const check = (): void => {
        const state = this.closed ? grpc.connectivityState.SHUTDOWN : channel.getConnectivityState(true);
        if (
          state === grpc.connectivityState.READY ||
          state === grpc.connectivityState.TRANSIENT_FAILURE ||
          state === grpc.connectivityState.SHUTDOWN ||
          Date.now() >= end
        ) {
          resolve();
          return;
        }
        channel.watchConnectivityState(state, end, check);
      };
      check();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}
