import {
  type CreateHooks,
  DEFAULT_SET_BATCH,
  type GnmiClient,
  type PoolReading,
  type SetBatch,
  type TapPortOptions,
} from "../host/gnmi-client";
import { createTapsAndList, deleteTaps, type LinkInfo } from "../host/links";
import { kernelGeneration } from "../host/tap-locator";

/** How the pool's TAPs are made: by the P4 target over gNMI (production) or by the kernel directly. */
export interface TapBackend {
  readonly kind: "gnmi" | "kernel" | "dpdk";
  /**
   * May a TAP whose kernel side is gone (lost) be made again while the datapath runs? gnmi: never
   * (every port leaf is one-time in P4-OVS 22.07 until ovs-vswitchd restarts); kernel: yes.
   */
  readonly recreatesLost: boolean;
  /**
   * The names the backend itself says are made. gnmi: read back from the target (port-type set);
   * null: the backend cannot tell (kernel: the pool decides from its records of this generation).
   */
  configured(names: readonly string[]): Promise<Set<string> | null>;
  /**
   * For a pool the daemon has no record of (its first start on the node, or a lost database): the
   * answer to take instead of configured()'s, without asking the target (none made), after which
   * create() starts at the first name with nothing set. The target corrects a wrong guess itself:
   * the first update that meets a leaf already set fails the request (DoSet stops there, every leaf
   * is one-time), and creation reads the ports back and goes on, as after any error. Absent: the
   * pool always reads first.
   */
  presumeNone?(names: readonly string[]): Set<string>;
  /**
   * Make `names` in order (the first one first: the data plane sends ARP to port 0), calling
   * hooks.sending before and hooks.done after, so the caller records them ahead of time. `made`: what
   * configured() has just answered for them, when the caller asked (a backend need not read it again).
   */
  create(names: readonly string[], hooks: CreateHooks, made?: ReadonlySet<string>): Promise<void>;
  /** Remove `names`; a backend that cannot says why. */
  remove(names: readonly string[]): Promise<void>;
  /**
   * False while the process that holds the ports does not run (dpdk: the recorded ovs-vswitchd died):
   * nothing is made then, and configured() says so. Absent: not known (gnmi, kernel).
   */
  running?(): boolean;
  /**
   * The process that holds the ports answers now (dpdk: ovs-vswitchd applies a waiting write). A look
   * that finds TAPs gone takes them for lost only when this answers after it: a target killed takes
   * its TAPs down first, while it still shows as running. Absent: configured()'s own read is that
   * answer (gnmi: the target answers the Get), or no process holds them (kernel).
   */
  answers?(): Promise<boolean>;
  /** True when the kernel shows `link` as made by this backend even without a record (its link group). */
  owns?(link: LinkInfo): boolean;
  /**
   * The generation a record of this backend carries. kernel: it must carry it to count as made; dpdk:
   * the run of ovs-vswitchd that made the port (a port that came back by itself under a later run
   * died with the earlier one); null: not used (gnmi), or not known now.
   */
  generation(): string | null;
  /**
   * The namespace's links as listed by the process that made the last TAPs, right after them (kernel:
   * the create batch ends with `link show`); given once, then null. Absent or null: list them.
   */
  takeListing?(): LinkInfo[] | null;
}

/**
 * `ip -batch -` into a link group: one process for the whole pool (docs/architecture.md#measurements),
 * which also lists the namespace once they are made (takeListing), so the pool needs no second one.
 */
export class KernelTapBackend implements TapBackend {
  readonly kind = "kernel";
  readonly recreatesLost = true;
  private listing: LinkInfo[] | null = null;
  constructor(
    private readonly netns: string | null,
    private readonly group: number,
  ) {}
  async configured(): Promise<null> {
    return null;
  }
  async create(names: readonly string[], hooks: CreateHooks): Promise<void> {
    this.listing = null;
    hooks.sending?.(names);
    const links = await createTapsAndList(this.netns, names, this.group);
    hooks.done?.(names);
    this.listing = links;
  }
  takeListing(): LinkInfo[] | null {
    const l = this.listing;
    this.listing = null;
    return l;
  }
  remove(names: readonly string[]): Promise<void> {
    this.listing = null;
    return deleteTaps(this.netns, names);
  }
  /** The pool's link group is used for nothing else (taps.group). */
  owns(link: LinkInfo): boolean {
    return link.group === this.group;
  }
  generation(): string {
    return kernelGeneration(this.netns);
  }
}

/** How long a creation without a read first waits for the writer's channel (then its first call says why). */
const CONNECT_WAIT_MS = 2000;

/**
 * DPDK TAP ports created by the P4 target, with gnmi-cli's leaves and values, in name order, one
 * SetRequest at a time (GnmiClient.createPool: read back after any error, never a leaf twice).
 */
export class GnmiTapBackend implements TapBackend {
  readonly kind = "gnmi";
  readonly recreatesLost = false;
  constructor(
    private readonly client: GnmiClient,
    private readonly port: TapPortOptions,
    private readonly batch: SetBatch = DEFAULT_SET_BATCH,
    /**
     * Reads for readiness and health (which ports the target has): a client that does not retry, so a
     * target that died is seen at once, and the engine's backoff does the waiting. Default: client.
     */
    private readonly reader: GnmiClient = client,
  ) {}
  /** configured()'s last read (readPool): create() starts from it when given its answer. */
  private lastRead: PoolReading | null = null;
  async configured(names: readonly string[]): Promise<Set<string>> {
    // The writer's channel gets ready while the target answers (create() comes next): its first
    // SetRequest is then written at once, not after the channel's own start-up, which an `ip`
    // spawned meanwhile (the pool's early listing) would otherwise delay by its fork and exec.
    if (this.client !== this.reader) this.client.connectSoon();
    // The first port's leaves come in the same GetRequest: a pool made in order starts there.
    const read = await this.reader.readPool(names);
    this.lastRead = read;
    return read.added;
  }
  presumeNone(names: readonly string[]): Set<string> {
    if (this.client !== this.reader) this.client.connectSoon();
    const head = names[0];
    const added = new Set<string>();
    this.lastRead = {
      added,
      first: head === undefined ? null : { name: head, set: new Set(), complete: false },
      guessed: true,
    };
    return added;
  }
  async create(names: readonly string[], hooks: CreateHooks, made?: ReadonlySet<string>): Promise<void> {
    // configured()'s own answer (the same object): its first port's leaves are read too.
    const read = made !== undefined && made === this.lastRead?.added ? this.lastRead : null;
    this.lastRead = null;
    // No read came first (presumeNone) to let the writer's channel connect meanwhile: it does now,
    // so the first request is written before the pool spawns its listing (hooks.sending).
    if (read?.guessed) await this.client.connected(CONNECT_WAIT_MS);
    return this.client.createPool(names, this.batch, {
      ...this.port,
      hooks,
      added: made,
      first: read?.first ?? null,
      guessed: read?.guessed === true,
    });
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
  generation(): string | null {
    return null;
  }
}
