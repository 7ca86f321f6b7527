import * as grpc from "@grpc/grpc-js";
import { DEFAULT_POOL_CONCURRENCY, type GnmiClient, type TapPortOptions } from "../host/gnmi-client";
import { grpcCode } from "../host/grpc-channel";
import { createTaps, deleteTaps, type LinkInfo } from "../host/links";

/** How the pool's TAPs are made: by the P4 target over gNMI (production) or by the kernel directly. */
export interface TapBackend {
  readonly kind: "gnmi" | "kernel";
  /** Create `names` in order (the first one first: the data plane sends ARP to port 0). */
  create(names: readonly string[]): Promise<void>;
  /** Remove `names`; a backend that cannot says why. */
  remove(names: readonly string[]): Promise<void>;
  /** True when the kernel shows `link` as made by this backend even without a record (its link group). */
  owns?(link: LinkInfo): boolean;
}

/** `ip -batch -` into a link group: one process for the whole pool (DESIGN.md §5). */
export class KernelTapBackend implements TapBackend {
  readonly kind = "kernel";
  constructor(
    private readonly netns: string | null,
    private readonly group: number,
  ) {}
  create(names: readonly string[]): Promise<void> {
    return createTaps(this.netns, names, this.group);
  }
  remove(names: readonly string[]): Promise<void> {
    return deleteTaps(this.netns, names);
  }
  /** The pool's link group is used for nothing else (taps.group). */
  owns(link: LinkInfo): boolean {
    return link.group === this.group;
  }
}

/**
 * DPDK TAP ports created by the P4 target, as `gnmi-cli set "device:virtual-device,name:X,..."`
 * does. A port the target already has (ALREADY_EXISTS: e.g. a retried Set it had applied) counts
 * as created: the kernel listing is what decides readiness.
 */
export class GnmiTapBackend implements TapBackend {
  readonly kind = "gnmi";
  constructor(
    private readonly client: GnmiClient,
    private readonly port: TapPortOptions,
    private readonly concurrency: number = DEFAULT_POOL_CONCURRENCY,
  ) {}
  async create(names: readonly string[]): Promise<void> {
    try {
      await this.client.createPool(names, this.concurrency, this.port);
    } catch (err) {
      if (grpcCode(err) !== grpc.status.ALREADY_EXISTS) throw err;
      // One port existed: create the others one by one, tolerating the ones that exist.
      for (const n of names) {
        try {
          await this.client.createTapPort(n, this.port);
        } catch (e) {
          if (grpcCode(e) !== grpc.status.ALREADY_EXISTS) throw e;
        }
      }
    }
  }
  async remove(): Promise<void> {
    // P4-OVS 22.07 has no port deletion over gNMI: its TAPs go away with ovs-vswitchd.
    // 409 for the API: the request is valid, the datapath cannot do it in its current state.
    throw Object.assign(
      new Error(
        "cannot shrink a gNMI pool: P4-OVS 22.07 has no port deletion over gNMI; lower taps.count and restart the target",
      ),
      { statusCode: 409 },
    );
  }
}
