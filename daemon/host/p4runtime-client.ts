/**
 * P4Runtime client for the pipeline check (P4-OVS: 127.0.0.1:9559, insecure).
 *
 * - capabilities(): the target's p4runtime_api_version.
 * - pipelineLoaded(): GetForwardingPipelineConfig with response_type COOKIE_ONLY. A target with no
 *   pipeline answers FAILED_PRECONDITION (P4-OVS / Stratum p4_service.cc: "No valid forwarding
 *   pipeline config has been pushed for any node so far", and the same code for a device without
 *   one); some targets answer NOT_FOUND; both mean "not loaded". A config in the answer means
 *   loaded (the cookie, when the loader set one, identifies which).
 * - becomePrimary(): StreamChannel with a MasterArbitrationUpdate {device_id, election_id}; the
 *   target answers with the primary's election id and status OK for the primary, an error status
 *   (P4-OVS: ALREADY_EXISTS "You are not my master!") for the others. Primaryship lasts as long as
 *   the stream: the client keeps it open until close().
 * - setPipeline(): SetForwardingPipelineConfig VERIFY_AND_COMMIT with our election id. The target
 *   answers PERMISSION_DENIED to anyone but the primary.
 */
import * as grpc from "@grpc/grpc-js";
import {
  deadlineIn,
  grpcCode,
  LoopbackClient,
  type LoopbackClientOptions,
  retryUnavailable,
} from "./grpc-channel";

export const DEFAULT_P4RT_ADDRESS = "127.0.0.1:9559";

export interface ElectionId {
  high: number | bigint | string;
  low: number | bigint | string;
}

export interface ArbitrationResult {
  primary: boolean;
  /** The primary's election id as the target reports it. */
  primaryElectionId: { high: bigint; low: bigint };
  status: { code: number; message: string };
}

export type P4RuntimeClientOptions = LoopbackClientOptions;

interface WireArbitration {
  device_id?: string;
  election_id?: { high?: string; low?: string };
  status?: { code?: number; message?: string };
}
interface WireStreamResponse {
  arbitration?: WireArbitration;
  error?: { canonical_code?: number; message?: string };
  update?: string;
}

export function toUint128(id: ElectionId): { high: bigint; low: bigint } {
  return { high: BigInt(id.high), low: BigInt(id.low) };
}

// ---- hand encoding of SetForwardingPipelineConfigRequest --------------------------------------
// The P4Info arrives as already serialized bytes (binary P4Info, e.g. produced by the vendor's
// tools); embedding them verbatim as the length-delimited field p4info = 1 keeps every field of
// it, which decoding into our P4Info subset and encoding again would drop.

function varint(v: bigint): Buffer {
  if (v < 0n) throw new Error("varint must not be negative");
  const out: number[] = [];
  let x = v;
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out.push(b);
  } while (x > 0n);
  return Buffer.from(out);
}
function tag(field: number, wire: number): Buffer {
  return varint(BigInt((field << 3) | wire));
}
function fVarint(field: number, v: bigint): Buffer {
  return v === 0n ? Buffer.alloc(0) : Buffer.concat([tag(field, 0), varint(v)]);
}
function fBytes(field: number, b: Buffer): Buffer {
  return Buffer.concat([tag(field, 2), varint(BigInt(b.length)), b]);
}

export const SET_PIPELINE_ACTION = {
  VERIFY: 1n,
  VERIFY_AND_SAVE: 2n,
  VERIFY_AND_COMMIT: 3n,
  COMMIT: 4n,
} as const;

export function encodeSetPipelineRequest(req: {
  deviceId: bigint;
  electionId: { high: bigint; low: bigint };
  action: bigint;
  p4info?: Buffer;
  deviceConfig: Buffer;
  cookie?: bigint;
}): Buffer {
  const election = Buffer.concat([fVarint(1, req.electionId.high), fVarint(2, req.electionId.low)]);
  const config = Buffer.concat([
    req.p4info ? fBytes(1, req.p4info) : Buffer.alloc(0),
    fBytes(2, req.deviceConfig),
    req.cookie !== undefined ? fBytes(3, fVarint(1, req.cookie)) : Buffer.alloc(0),
  ]);
  return Buffer.concat([
    fVarint(1, req.deviceId),
    fBytes(3, election),
    fVarint(4, req.action),
    fBytes(5, config),
  ]);
}

export class P4RuntimeClient extends LoopbackClient {
  private stream: grpc.ClientDuplexStream<unknown, WireStreamResponse> | undefined;
  private streamDevice: bigint | undefined;
  private electionId: { high: bigint; low: bigint } | undefined;
  private primary = false;

  constructor(opts: P4RuntimeClientOptions = {}) {
    super(opts, {
      defaultAddress: DEFAULT_P4RT_ADDRESS,
      protoFile: "p4runtime.proto",
      name: "p4.v1.P4Runtime",
      label: "P4Runtime",
    });
  }

  async capabilities(): Promise<string> {
    const r = await this.call<{ p4runtime_api_version?: string }>("Capabilities", {});
    return r.p4runtime_api_version ?? "";
  }

  /** Whether the target has a forwarding pipeline for `deviceId` (and its cookie, if any). */
  async pipelineLoaded(deviceId: number | bigint = 1): Promise<{ loaded: boolean; cookie?: string }> {
    try {
      const r = await this.call<{ config?: { cookie?: { cookie?: string } } }>(
        "GetForwardingPipelineConfig",
        {
          device_id: String(deviceId),
          response_type: "COOKIE_ONLY",
        },
      );
      if (!r.config) return { loaded: false };
      const cookie = r.config.cookie?.cookie;
      return cookie !== undefined ? { loaded: true, cookie } : { loaded: true };
    } catch (err) {
      const code = grpcCode(err);
      if (code === grpc.status.FAILED_PRECONDITION || code === grpc.status.NOT_FOUND)
        return { loaded: false };
      throw err;
    }
  }

  /** True while our StreamChannel is open and the target last said we are primary. */
  isPrimary(): boolean {
    return this.primary && this.stream !== undefined;
  }

  /**
   * Open (or reuse) the StreamChannel for `deviceId` and send our arbitration; resolves with the
   * target's answer. Does not throw for "not primary": check `.primary`.
   */
  async becomePrimary(
    deviceId: number | bigint = 1,
    electionId: ElectionId = { high: 0, low: 1 },
  ): Promise<ArbitrationResult> {
    if (this.closed) throw new Error("P4Runtime client is closed");
    const device = BigInt(deviceId);
    if (this.stream && this.streamDevice !== device) {
      // A stream's device id must not change (the target answers INVALID_ARGUMENT): start over.
      this.dropStream();
    }
    return retryUnavailable(
      () => this.arbitrate(device, toUint128(electionId)),
      this.retry,
      () => this.closed,
    );
  }

  private dropStream(): void {
    const s = this.stream;
    this.stream = undefined;
    this.streamDevice = undefined;
    this.primary = false;
    if (s) {
      s.removeAllListeners("data");
      s.cancel();
    }
  }

  private arbitrate(device: bigint, election: { high: bigint; low: bigint }): Promise<ArbitrationResult> {
    if (!this.stream) {
      // The generated method (de)serializes with our p4runtime.proto subset.
      const fn = (
        this.client as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, WireStreamResponse>>
      ).StreamChannel;
      if (!fn) throw new Error("no StreamChannel method");
      const stream = fn.call(this.client);
      this.stream = stream;
      this.streamDevice = device;
      stream.on("data", (msg: WireStreamResponse) => {
        if (msg.arbitration && this.stream === stream) {
          this.primary = (msg.arbitration.status?.code ?? 0) === 0;
        }
      });
      const gone = (): void => {
        if (this.stream === stream) {
          this.stream = undefined;
          this.streamDevice = undefined;
          this.primary = false;
        }
      };
      stream.on("error", gone);
      stream.on("end", gone);
      stream.on("close", gone);
    }
    const stream = this.stream;
    this.electionId = election;
    return new Promise<ArbitrationResult>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        stream.off("data", onData);
        stream.off("error", onError);
        stream.off("end", onEnd);
      };
      const onData = (msg: WireStreamResponse): void => {
        const a = msg.arbitration;
        if (!a) return;
        cleanup();
        const code = a.status?.code ?? 0;
        resolve({
          primary: code === 0,
          primaryElectionId: { high: BigInt(a.election_id?.high ?? 0), low: BigInt(a.election_id?.low ?? 0) },
          status: { code, message: a.status?.message ?? "" },
        });
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onEnd = (): void => {
        cleanup();
        reject(
          Object.assign(new Error("P4Runtime StreamChannel ended before arbitration"), {
            code: grpc.status.UNAVAILABLE,
          }),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        this.dropStream();
        reject(
          Object.assign(new Error(`no arbitration answer within ${this.timeoutMs} ms`), {
            code: grpc.status.DEADLINE_EXCEEDED,
          }),
        );
      }, this.timeoutMs);
      stream.on("data", onData);
      stream.on("error", onError);
      stream.on("end", onEnd);
      stream.write({
        arbitration: {
          device_id: device.toString(),
          election_id: { high: election.high.toString(), low: election.low.toString() },
        },
      });
    });
  }

  /**
   * SetForwardingPipelineConfig (VERIFY_AND_COMMIT) for `deviceId` with our election id.
   * By default refuses locally unless becomePrimary() made us primary; `requirePrimary: false`
   * sends anyway (the target then answers PERMISSION_DENIED, which is what tests check).
   */
  async setPipeline(
    deviceId: number | bigint,
    p4info: Buffer | undefined,
    deviceConfig: Buffer,
    cookie: number | bigint | string,
    opts: { requirePrimary?: boolean; electionId?: ElectionId } = {},
  ): Promise<void> {
    if (this.closed) throw new Error("P4Runtime client is closed");
    if ((opts.requirePrimary ?? true) && !(this.isPrimary() && this.streamDevice === BigInt(deviceId))) {
      throw Object.assign(
        new Error(`not the primary client for device ${deviceId}: call becomePrimary() first`),
        {
          code: grpc.status.FAILED_PRECONDITION,
        },
      );
    }
    const body = encodeSetPipelineRequest({
      deviceId: BigInt(deviceId),
      electionId: opts.electionId ? toUint128(opts.electionId) : (this.electionId ?? { high: 0n, low: 1n }),
      action: SET_PIPELINE_ACTION.VERIFY_AND_COMMIT,
      p4info,
      deviceConfig,
      cookie: BigInt(cookie),
    });
    await retryUnavailable(
      () =>
        new Promise<void>((resolve, reject) => {
          this.client.makeUnaryRequest(
            "/p4.v1.P4Runtime/SetForwardingPipelineConfig",
            (b: Buffer) => b,
            (b: Buffer) => b,
            body,
            new grpc.Metadata(),
            { deadline: deadlineIn(this.timeoutMs) },
            (err) => (err ? reject(err) : resolve()),
          );
        }),
      this.retry,
      () => this.closed,
    );
  }

  override close(): void {
    if (!this.closed) this.dropStream();
    super.close();
  }
}
