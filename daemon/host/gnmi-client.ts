/**
 * gNMI client for the P4 target's port configuration (P4-OVS: 127.0.0.1:9339, insecure).
 *
 * One long-lived channel per client. Creating a TAP port does what P4-OVS's
 * `gnmi-cli set "device:virtual-device,name:P4TAP_0,pipeline-name:pipe,mempool-name:MEMPOOL0,mtu:1500,port-type:TAP"`
 * does (utilities/gnmi_cli.cc in ipdk-io/ovs, ovs-with-p4): `device` and `name` are not sent as
 * leaves, they make the path `/interfaces/virtual-interface[name=P4TAP_0]/config/`; then every
 * other key:value pair, in the order given, is one SetRequest with one update at
 * `.../config/<key>`, the value as int_val when it is a whole number (strtol) and string_val
 * otherwise. So the leaves are pipeline-name, mempool-name, mtu (int_val), port-type — last,
 * because setting port-type is what makes the target create the port.
 */
import * as grpc from "@grpc/grpc-js";
import {
  decodeGetResponse,
  encodeGetRequest,
  encodeSetRequest,
  type LeafValue,
  type ReadLeaf,
} from "./gnmi-wire";
import {
  grpcCode,
  LoopbackClient,
  type LoopbackClientOptions,
  type RawMethod,
  unaryRaw,
} from "./grpc-channel";

export const DEFAULT_GNMI_ADDRESS = "127.0.0.1:9339";

export interface PathElem {
  name: string;
  key?: Record<string, string>;
}

/** A TypedValue as gnmi-cli fills it (proto-loader's shape: int64 as a decimal string). */
interface WireTypedValue {
  string_val?: string;
  int_val?: string;
}

/** Parse "/interfaces/virtual-interface[name=P4TAP_0]/config/mtu" into path elems. */
export function parsePath(path: string): PathElem[] {
  if (!path.startsWith("/")) throw new Error(`gNMI path must start with "/": ${path}`);
  const elems: PathElem[] = [];
  const re = /\/([^/[\]]+)((?:\[[^=\]]+=[^\]]*\])*)/y;
  let at = 0;
  while (at < path.length) {
    re.lastIndex = at;
    const m = re.exec(path);
    if (!m) throw new Error(`malformed gNMI path at offset ${at}: ${path}`);
    const elem: PathElem = { name: m[1] as string };
    const keys = m[2] ?? "";
    if (keys) {
      elem.key = {};
      for (const k of keys.matchAll(/\[([^=\]]+)=([^\]]*)\]/g)) elem.key[k[1] as string] = k[2] as string;
    }
    elems.push(elem);
    at = re.lastIndex;
  }
  return elems;
}

export function formatPath(elems: readonly PathElem[]): string {
  // Plain loops: a pool's read-back formats every leaf it gets (hundreds), on the daemon's first use.
  let out = "";
  for (const e of elems) {
    out += `/${e.name}`;
    if (e.key) for (const k in e.key) out += `[${k}=${e.key[k]}]`;
  }
  return out;
}

/** gnmi-cli's rule: a whole number goes as int_val, anything else as string_val. */
export function typedValue(value: string | number): WireTypedValue {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`gNMI int_val must be a whole number, got ${value}`);
    return { int_val: String(value) };
  }
  return { string_val: value };
}

export interface TapPortOptions {
  /** gnmi-cli's `device:` key; both values map to the `virtual-interface` path element. */
  device?: "virtual-device" | "physical-device";
  pipelineName?: string;
  mempoolName?: string;
  mtu?: number;
  portType?: string;
}

export const TAP_PORT_DEFAULTS: Required<TapPortOptions> = {
  device: "virtual-device",
  pipelineName: "pipe",
  mempoolName: "MEMPOOL0",
  mtu: 1500,
  portType: "TAP",
};

/** The leaves gnmi-cli sends for one port, in its order (port-type last). */
export const TAP_PORT_LEAF_ORDER = ["pipeline-name", "mempool-name", "mtu", "port-type"] as const;

export function portLeafPath(name: string, leaf: string): PathElem[] {
  return [
    { name: "interfaces" },
    { name: "virtual-interface", key: { name } },
    { name: "config" },
    { name: leaf },
  ];
}

/** The SetRequests (one leaf each, in order) that create one TAP port. */
export function tapPortUpdates(
  name: string,
  opts: TapPortOptions = {},
): { path: PathElem[]; value: string | number }[] {
  const o = { ...TAP_PORT_DEFAULTS, ...opts };
  if (o.device !== "virtual-device" && o.device !== "physical-device") {
    // gnmi-cli refuses other values before sending anything ("Invalid device and name information").
    throw new Error(`device must be virtual-device or physical-device, got ${String(o.device)}`);
  }
  const values: Record<(typeof TAP_PORT_LEAF_ORDER)[number], string | number> = {
    "pipeline-name": o.pipelineName,
    "mempool-name": o.mempoolName,
    mtu: o.mtu,
    "port-type": o.portType,
  };
  return TAP_PORT_LEAF_ORDER.map((leaf) => ({ path: portLeafPath(name, leaf), value: values[leaf] }));
}

export type GnmiClientOptions = LoopbackClientOptions;

/**
 * How many ports one SetRequest carries while creating a pool (`taps.setBatch`): a number of
 * consecutive ports (their 4 leaves each, in order), or "leaf" for exactly gnmi-cli's shape (one
 * update per SetRequest). P4-OVS 22.07's DoSet applies the updates of one request in order under
 * one lock and stops at the first failing one (config_monitoring_service.cc), so a batch numbers
 * its ports in the same order as single Sets would. Requests are never in flight concurrently.
 */
export type SetBatch = number | "leaf";

/**
 * Measured with bench/taps-batch (strict simulator, one run, medians of 3, 2 shared cores), pool
 * bring-up in ms, and its ratio to one `ip -batch` making as many kernel TAPs:
 *
 *   ports/request   leaf    1      4      8      16     32     64
 *   N=32            1861   809    488    519    351    296    316     (ip -batch 48 ms)
 *   N=256           8718   4099   2188   1556   1397   1275   1441    (ip -batch 269 ms)
 *
 * Again after the simulator made a request's TAPs in one exchange with its helper (load average
 * ~7.5 on the 2 cores, medians of 3):
 *
 *   ports/request   leaf    1      4      8      16     32     64
 *   N=32            -      -      105    105    72     63     81      (ip -batch 22 ms)
 *   N=256           3163   2060   930    589    608    660    452     (ip -batch 101 ms)
 *
 * 16 to 64 stay within the noise of each other per port; what a larger request saves is whole
 * round trips (each one a wake-up of the client, the target and, in the simulator, its TAP helper,
 * which a loaded machine charges most: bench/taps-phases, 2026-12-03, load 7-12 on the 2 cores, a
 * 16-port Set ~20-80 ms against ~5-20 ms of TAP making in it). 64: the stock pool (32) in ONE request,
 * 256 in four. A real target makes each DPDK port before it answers, tens of ms each, so a request
 * may take seconds: its deadline grows per port (SET_DEADLINE_PER_PORT_MS).
 */
export const DEFAULT_SET_BATCH: SetBatch = 64;

/** Old name of DEFAULT_SET_BATCH, kept for the benches: ports per SetRequest now, one request at a time. */
export const DEFAULT_POOL_CONCURRENCY = DEFAULT_SET_BATCH as number;

/**
 * gRPC codes after which a Set may or may not have been applied, or the target is briefly away. Made
 * on first use: reading grpc.status when this module loads would load grpc-js in every daemon, also
 * one whose pool never talks gNMI (the bundle loads it on first use, scripts/bundle.ts).
 */
let transient: Set<grpc.status> | undefined;
function isTransient(code: grpc.status): boolean {
  transient ??= new Set<grpc.status>([
    grpc.status.UNAVAILABLE,
    grpc.status.DEADLINE_EXCEEDED,
    grpc.status.CANCELLED,
    grpc.status.ABORTED,
    grpc.status.RESOURCE_EXHAUSTED,
    grpc.status.INTERNAL,
    grpc.status.UNKNOWN,
  ]);
  return transient.has(code);
}

/** Which of a port's leaves the target reads back as set (P4-OVS 22.07: "" / 0 until its own Set succeeded). */
export interface PortProgress {
  name: string;
  set: Set<TapLeaf>;
  /** port-type reads as set: the port was added; every leaf is one-time locked now. */
  complete: boolean;
}

export type TapLeaf = (typeof TAP_PORT_LEAF_ORDER)[number];

/** What a pool creation tells its caller, so it can record ports before and after (write-ahead). */
export interface CreateHooks {
  /** Called before the SetRequest that carries (part of) these ports is sent. */
  sending?(names: readonly string[]): void;
  /** Called once these ports are complete in the target (answered OK or read back). */
  done?(names: readonly string[]): void;
  /**
   * Called when the target has answered the request that adds these ports (their TAPs are in the
   * kernel now, if it could make them), before it is read back: the caller may list links meanwhile.
   * createPool calls it once, for the request after which every port is made (answered OK).
   */
  applied?(names: readonly string[]): void;
  /** Called after an error, with what was read back, before going on (tests, logs). */
  recovered?(err: unknown, progress: readonly PortProgress[]): void;
}

export interface CreatePortsOptions extends TapPortOptions {
  batch?: SetBatch;
  hooks?: CreateHooks;
  /** How long to keep retrying while the target makes no progress after a transient error. */
  stallBudgetMs?: number;
  /** The ports the caller has just read back as added (addedPorts, readPool): not read again. */
  added?: ReadonlySet<string>;
  /** The first name's leaves, read with `added` (readPool): not read again when it is where creation starts. */
  first?: PortProgress | null;
  /**
   * `added` and `first` are a guess, not a read (TapBackend.presumeNone: a pool the caller has no
   * record of): a first request the target does not answer (unreachable, a deadline) ends the
   * creation with that error, as the read would have; the caller, which recorded the pool before
   * sending, reads first next time.
   */
  guessed?: boolean;
}

/** What readPool read: the ports added, and every leaf of the first name when it is not added. */
export interface PoolReading {
  added: Set<string>;
  /** names[0]'s leaves when it is not added (where a creation in order starts); null otherwise. */
  first: PortProgress | null;
  /** Not read: presumed (none added), for a pool the caller has no record of. */
  guessed?: boolean;
}

/** A value the 22.07 server answers for a leaf never set: string_val "" or uint_val 0 (port-type too). */
function leafIsSet(v: string | number | boolean | undefined): boolean {
  if (typeof v === "string") return v !== "";
  if (typeof v === "number") return v !== 0;
  return v === true;
}

/**
 * What one port a SetRequest adds lends its deadline: a real target makes each DPDK TAP port before it
 * answers, in tens of ms (OVS-DPDK's own TAP ports: ~17-34 ms each, bench/taps-dpdk), so a request
 * of DEFAULT_SET_BATCH ports may take seconds. A dead target is seen by its connection closing, not
 * by this deadline (loopback).
 */
const SET_DEADLINE_PER_PORT_MS = 100;

/** Ports per GetRequest while reading back (4 paths each). */
const READ_CHUNK = 256;

export interface GnmiCapabilities {
  gnmiVersion: string;
  encodings: string[];
  models: { name: string; organization: string; version: string }[];
}

export interface GnmiLeaf {
  path: string;
  value: string | number | boolean | undefined;
}

export class GnmiClient extends LoopbackClient {
  constructor(opts: GnmiClientOptions = {}) {
    super(opts, {
      defaultAddress: DEFAULT_GNMI_ADDRESS,
      protoFile: "gnmi.proto",
      name: "gnmi.gNMI",
      label: "gNMI",
    });
  }

  async capabilities(): Promise<GnmiCapabilities> {
    const r = await this.call<{
      gNMI_version?: string;
      supported_encodings?: string[];
      supported_models?: { name?: string; organization?: string; version?: string }[];
    }>("Capabilities", {});
    return {
      gnmiVersion: r.gNMI_version ?? "",
      encodings: r.supported_encodings ?? [],
      models: (r.supported_models ?? []).map((m) => ({
        name: m.name ?? "",
        organization: m.organization ?? "",
        version: m.version ?? "",
      })),
    };
  }

  /**
   * Get (type ALL, encoding PROTO, as gnmi-cli asks); returns every leaf in the answer (each update's
   * path after its notification's prefix). Written and read by gnmi-wire.ts, not protobufjs.
   */
  async get(paths: readonly (string | PathElem[])[]): Promise<GnmiLeaf[]> {
    const leaves = await this.callRaw(
      GET_METHOD,
      paths.map((p) => (typeof p === "string" ? parsePath(p) : p)),
    );
    return leaves.map((l) => ({ path: formatPath(l.path), value: l.value }));
  }

  /** One SetRequest with one update: numbers as int_val, text as string_val. */
  async setLeaf(path: string | PathElem[], value: string | number): Promise<void> {
    const elems = typeof path === "string" ? parsePath(path) : path;
    // A value gnmi-cli could not send is refused before anything is sent (typedValue says why).
    typedValue(value);
    // The SetResponse only echoes what was set: not decoded.
    await this.callRaw(SET_METHOD, [{ path: elems, value }]);
  }

  /** Create one port as gnmi-cli does: one Set per leaf, in its order, port-type last. */
  async createTapPort(name: string, opts: TapPortOptions = {}): Promise<void> {
    for (const u of tapPortUpdates(name, opts)) await this.setPortLeaf(u.path, u.value);
  }

  private async setPortLeaf(path: PathElem[], value: string | number): Promise<void> {
    try {
      await this.setLeaf(path, value);
    } catch (err) {
      throw annotate(err, `gNMI set ${formatPath(path)}=${JSON.stringify(value)}`);
    }
  }

  /**
   * Read back the four leaves of each port (one GetRequest per READ_CHUNK ports). P4-OVS 22.07
   * answers a config leaf with what its own last successful Set stored, else "" / 0
   * (yang_parse_tree_paths.cc SetUpInterfacesInterfaceConfig*: "Return what was known when it was
   * configured"); port-type reads as set once the port was added.
   */
  async readPorts(names: readonly string[]): Promise<PortProgress[]> {
    const out: PortProgress[] = [];
    for (let i = 0; i < names.length; i += READ_CHUNK) {
      const chunk = names.slice(i, i + READ_CHUNK);
      const leaves = await this.get(chunk.flatMap((n) => TAP_PORT_LEAF_ORDER.map((l) => portLeafPath(n, l))));
      const byPath = new Map(leaves.map((l) => [l.path, l.value]));
      for (const name of chunk) {
        const set = new Set<TapLeaf>();
        for (const leaf of TAP_PORT_LEAF_ORDER) {
          if (leafIsSet(byPath.get(formatPath(portLeafPath(name, leaf))))) set.add(leaf);
        }
        out.push({ name, set, complete: set.has("port-type") });
      }
    }
    return out;
  }

  /**
   * The ports among `names` that the target has added: port-type reads back set (one GetRequest
   * per 4*READ_CHUNK ports, one path each). Cheap enough for a readiness probe.
   */
  async addedPorts(names: readonly string[]): Promise<Set<string>> {
    const added = new Set<string>();
    const chunk = READ_CHUNK * TAP_PORT_LEAF_ORDER.length;
    for (let i = 0; i < names.length; i += chunk) {
      const part = names.slice(i, i + chunk);
      const leaves = await this.get(part.map((n) => portLeafPath(n, "port-type")));
      const byPath = new Map(leaves.map((l) => [l.path, l.value]));
      for (const n of part) if (leafIsSet(byPath.get(formatPath(portLeafPath(n, "port-type"))))) added.add(n);
    }
    return added;
  }

  /**
   * Which ports among `names` are added (port-type, as addedPorts) and, in the same GetRequest, the
   * other leaves of names[0]: where a creation in order starts on a target without the pool, so it
   * needs no second read (createPool's `first`). One round trip fewer at every pool start.
   */
  async readPool(names: readonly string[]): Promise<PoolReading> {
    const head = names[0];
    if (head === undefined) return { added: new Set(), first: null };
    const chunk = READ_CHUNK * TAP_PORT_LEAF_ORDER.length;
    const added = new Set<string>();
    let first: PortProgress | null = null;
    for (let i = 0; i < names.length; i += chunk) {
      const part = names.slice(i, i + chunk);
      const paths = part.map((n) => portLeafPath(n, "port-type"));
      // port-type is last in the order: the first port's other leaves go after every port-type.
      if (i === 0) for (const l of TAP_PORT_LEAF_ORDER.slice(0, -1)) paths.push(portLeafPath(head, l));
      const leaves = await this.get(paths);
      const byPath = new Map(leaves.map((l) => [l.path, l.value]));
      for (const n of part) if (leafIsSet(byPath.get(formatPath(portLeafPath(n, "port-type"))))) added.add(n);
      if (i === 0 && !added.has(head)) {
        const set = new Set<TapLeaf>(
          TAP_PORT_LEAF_ORDER.filter((l) => leafIsSet(byPath.get(formatPath(portLeafPath(head, l))))),
        );
        first = { name: head, set, complete: false };
      }
    }
    return { added, first };
  }

  /**
   * Create ports `names` in the order given (P4TAP_0 first: P4-OVS numbers ports in the order they
   * are added, and the infra manager takes the number from the name), with at most one SetRequest
   * in flight. The target is read first (startingPoint): complete ports are skipped, a port with some
   * leaves set resumes at the first leaf not set (every leaf is one-time in 22.07). After ANY error every
   * port is read back again and creation goes on from the first leaf not set, so a retry never
   * sets a leaf twice; an error after which nothing moved is retried while it is transient
   * (UNAVAILABLE, a deadline, ...) for `stallBudgetMs`, else thrown naming the port.
   */
  async createPool(
    names: readonly string[],
    batch: SetBatch = DEFAULT_SET_BATCH,
    opts: Omit<CreatePortsOptions, "batch"> = {},
  ): Promise<void> {
    if (batch !== "leaf" && !(Number.isInteger(batch) && batch >= 1)) {
      throw new Error(`set batch must be a whole number of ports >= 1 or "leaf", got ${String(batch)}`);
    }
    const hooks = opts.hooks ?? {};
    const budget = opts.stallBudgetMs ?? this.retry.retryForMs;
    const values = leafValues(opts);
    // A value gnmi-cli could not send is refused here, before any request (typedValue says why).
    for (const v of Object.values(values)) typedValue(v);
    let state = await this.startingPoint(names, opts.added, opts.added ? opts.first : undefined);
    const already = state.filter((p) => p.complete).map((p) => p.name);
    if (already.length > 0) hooks.done?.(already);
    let stalledSince: number | null = null;
    let pause = this.retry.initialBackoffMs;
    let guessed = opts.guessed === true;
    for (;;) {
      const pending = state.filter((p) => !p.complete);
      if (pending.length === 0) return;
      const ports = pending.slice(0, batch === "leaf" ? 1 : batch);
      const updates = ports.flatMap((p) =>
        TAP_PORT_LEAF_ORDER.filter((l) => !p.set.has(l)).map((leaf) => ({
          port: p,
          leaf,
          path: portLeafPath(p.name, leaf),
          value: values[leaf],
        })),
      );
      hooks.sending?.(ports.map((p) => p.name));
      try {
        if (batch === "leaf") {
          for (const u of updates) {
            await this.setOnce([u]);
            u.port.set.add(u.leaf);
          }
        } else {
          await this.setOnce(updates);
        }
        for (const p of ports) {
          p.set = new Set(TAP_PORT_LEAF_ORDER);
          p.complete = true;
        }
        // The request that completes the pool: the caller may list the TAPs while it records them.
        if (state.every((p) => p.complete)) hooks.applied?.(ports.map((p) => p.name));
        hooks.done?.(ports.map((p) => p.name));
        guessed = false;
        stalledSince = null;
        pause = this.retry.initialBackoffMs;
      } catch (err) {
        const code = grpcCode(err);
        // Sent on a guess and not answered: this creation ends as the read would have ended it.
        if (guessed && code !== undefined && isTransient(code))
          throw annotate(this.describe(err), `port ${ports[0]?.name}`);
        guessed = false;
        // What did the target apply? Read back every port: a target that restarted has lost the
        // earlier ones too, and they are made again from the first, in order, never after later ones.
        let after: PortProgress[];
        try {
          after = await this.readPorts(names);
        } catch (readErr) {
          throw annotate(
            err,
            `port ${ports[0]?.name} (reading the ports back failed too: ${errText(readErr)})`,
          );
        }
        hooks.recovered?.(err, after);
        const wasComplete = new Set(state.filter((p) => p.complete).map((p) => p.name));
        const newlyDone = after.filter((p) => p.complete && !wasComplete.has(p.name)).map((p) => p.name);
        if (newlyDone.length > 0) hooks.done?.(newlyDone);
        // Moved: the target differs from what this creation believed (it applied part of the request,
        // restarted, or another writer set leaves this creation had not read).
        const moved = !sameProgress(state, after);
        state = after;
        if (moved) {
          stalledSince = null;
          pause = this.retry.initialBackoffMs;
          continue;
        }
        stalledSince ??= Date.now();
        const again = code !== undefined && isTransient(code);
        if (!again || this.closed || Date.now() - stalledSince + pause > budget) {
          throw annotate(err, `port ${ports[0]?.name}`);
        }
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, this.retry.maxBackoffMs);
      }
    }
  }

  /**
   * Where a creation starts, in two small reads instead of every leaf of every port: which ports are
   * added (port-type only; skipped when the caller has just read it), then every leaf of the first
   * port not added (skipped too when the caller read it with `added`: readPool). A writer that goes
   * in name order (this pool, create_interfaces.sh, gnmi-cli port after port) leaves at most that
   * port partial, since DoSet applies a request's updates in order and stops at the first failure; a
   * leaf set behind the pool's back elsewhere makes its Set fail one-time, and the read-back after
   * that error (as after any) goes on from the first leaf not set.
   */
  private async startingPoint(
    names: readonly string[],
    added?: ReadonlySet<string>,
    firstRead?: PortProgress | null,
  ): Promise<PortProgress[]> {
    const have = added ?? (await this.addedPorts(names));
    const state: PortProgress[] = names.map((name) =>
      have.has(name)
        ? { name, set: new Set(TAP_PORT_LEAF_ORDER), complete: true }
        : { name, set: new Set<TapLeaf>(), complete: false },
    );
    const first = state.findIndex((p) => !p.complete);
    if (first >= 0) {
      const name = (state[first] as PortProgress).name;
      // Read with `added` by the caller (readPool): the same moment's answer, not asked again.
      const [read] =
        firstRead?.name === name
          ? [{ name, set: new Set(firstRead.set), complete: false }]
          : await this.readPorts([name]);
      if (read) state[first] = read;
    }
    return state;
  }

  /**
   * ONE SetRequest, never retried here: an UNAVAILABLE or a deadline may come after the target
   * applied some of it, and every leaf is one-time (createPool reads back instead). Full paths in
   * every update: 22.07's DoSet ignores the request's prefix. The deadline grows with the ports the
   * request adds (SET_DEADLINE_PER_PORT_MS each): the target makes them all before it answers.
   */
  private async setOnce(updates: readonly { path: PathElem[]; value: string | number }[]): Promise<void> {
    if (this.closed) throw new Error("gNMI client is closed");
    const adding = updates.filter((u) => u.path.at(-1)?.name === "port-type").length;
    await unaryRaw(this.client, SET_METHOD, updates, this.timeoutMs + adding * SET_DEADLINE_PER_PORT_MS);
  }
}

function leafValues(opts: TapPortOptions): Record<TapLeaf, string | number> {
  const out = {} as Record<TapLeaf, string | number>;
  for (const u of tapPortUpdates("x", opts)) out[u.path.at(-1)?.name as TapLeaf] = u.value;
  return out;
}

/** Both say the same of every port (complete, and which leaves are set). */
function sameProgress(a: readonly PortProgress[], b: readonly PortProgress[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => {
      const q = b[i] as PortProgress;
      return (
        p.name === q.name &&
        p.complete === q.complete &&
        (p.complete || (p.set.size === q.set.size && [...p.set].every((l) => q.set.has(l))))
      );
    })
  );
}

/**
 * Set and Get through gnmi-wire.ts (the pool's requests, written and read without protobufjs). A
 * SetResponse only echoes the paths set and a timestamp: its bytes are not decoded.
 */
const SET_METHOD: RawMethod<readonly { path: readonly PathElem[]; value: LeafValue }[], Buffer> = {
  path: "/gnmi.gNMI/Set",
  requestSerialize: encodeSetRequest,
  responseDeserialize: (b) => b,
};
const GET_METHOD: RawMethod<readonly (readonly PathElem[])[], ReadLeaf[]> = {
  path: "/gnmi.gNMI/Get",
  requestSerialize: encodeGetRequest,
  responseDeserialize: decodeGetResponse,
};

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Prefix an error's message with context, keeping its gRPC code and details. */
function annotate(err: unknown, context: string): unknown {
  if (err instanceof Error) {
    err.message = `${context}: ${err.message}`;
    return err;
  }
  return new Error(`${context}: ${String(err)}`);
}
