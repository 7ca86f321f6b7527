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
import { LoopbackClient, type LoopbackClientOptions } from "./grpc-channel";

export const DEFAULT_GNMI_ADDRESS = "127.0.0.1:9339";

export interface PathElem {
  name: string;
  key?: Record<string, string>;
}

/** Wire shapes (proto-loader, keepCase, longs as strings, enums as names). */
interface WirePath {
  origin?: string;
  elem?: { name: string; key?: Record<string, string> }[];
  target?: string;
}
interface WireTypedValue {
  string_val?: string;
  int_val?: string | number;
  uint_val?: string | number;
  bool_val?: boolean;
  value?: string;
}
interface WireUpdate {
  path?: WirePath;
  val?: WireTypedValue;
}
interface WireNotification {
  prefix?: WirePath;
  update?: WireUpdate[];
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
  return elems
    .map(
      (e) =>
        `/${e.name}${Object.entries(e.key ?? {})
          .map(([k, v]) => `[${k}=${v}]`)
          .join("")}`,
    )
    .join("");
}

function toWirePath(elems: readonly PathElem[]): WirePath {
  return { elem: elems.map((e) => (e.key ? { name: e.name, key: { ...e.key } } : { name: e.name })) };
}

function fromWirePath(p: WirePath | undefined): PathElem[] {
  return (p?.elem ?? []).map((e) =>
    e.key && Object.keys(e.key).length > 0 ? { name: e.name, key: { ...e.key } } : { name: e.name },
  );
}

/** gnmi-cli's rule: a whole number goes as int_val, anything else as string_val. */
export function typedValue(value: string | number): WireTypedValue {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`gNMI int_val must be a whole number, got ${value}`);
    return { int_val: String(value) };
  }
  return { string_val: value };
}

function fromTypedValue(v: WireTypedValue | undefined): string | number | boolean | undefined {
  if (!v) return undefined;
  if (v.string_val !== undefined) return v.string_val;
  if (v.int_val !== undefined) return Number(v.int_val);
  if (v.uint_val !== undefined) return Number(v.uint_val);
  if (v.bool_val !== undefined) return v.bool_val;
  return undefined;
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
 * Ports in flight while creating a pool (one SetRequest each). Every Set costs ~150 us (warm) to
 * ~500 us (fresh process) of client CPU in grpc-js and ~60-300 us in the server
 * (bench/gnmi-rpc-floor), so bring-up is CPU-bound, and more calls in flight let HTTP/2 put
 * several in one write on both ends. 256 TAPs against a simulator past its first ~800 Sets
 * (bench/taps-attrib, one run): 16 in flight ~620 ms, 64 ~360 ms, 128 and 256 no better than 64
 * within the noise; from a fresh process against a fresh simulator (bench/taps-phases, 3 runs
 * each, alternated) 64 is ~3% faster than 16 for 256 TAPs and ~6% for 1024.
 */
export const DEFAULT_POOL_CONCURRENCY = 64;

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

  /** Get (type ALL, encoding PROTO, as gnmi-cli asks); returns every leaf in the answer. */
  async get(paths: readonly (string | PathElem[])[]): Promise<GnmiLeaf[]> {
    const req = {
      path: paths.map((p) => toWirePath(typeof p === "string" ? parsePath(p) : p)),
      type: "ALL",
      encoding: "PROTO",
    };
    const r = await this.call<{ notification?: WireNotification[] }>("Get", req);
    const out: GnmiLeaf[] = [];
    for (const n of r.notification ?? []) {
      const prefix = fromWirePath(n.prefix);
      for (const u of n.update ?? []) {
        out.push({ path: formatPath([...prefix, ...fromWirePath(u.path)]), value: fromTypedValue(u.val) });
      }
    }
    return out;
  }

  /** One SetRequest with one update: numbers as int_val, text as string_val. */
  async setLeaf(path: string | PathElem[], value: string | number): Promise<void> {
    const elems = typeof path === "string" ? parsePath(path) : path;
    // The SetResponse only echoes what was set: not decoded (see callNoReply).
    await this.callNoReply("Set", { update: [{ path: toWirePath(elems), val: typedValue(value) }] });
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
   * Create ports `names` in order: the first one (P4TAP_0, where the data plane sends ARP for
   * 169.254.1.1) completely before any other, then the rest with at most `concurrency` ports in
   * flight on the one channel. Stops starting new ports after the first failure and throws it
   * (naming the port) once the in-flight ones have settled.
   */
  async createPool(
    names: readonly string[],
    concurrency = DEFAULT_POOL_CONCURRENCY,
    opts: TapPortOptions = {},
  ): Promise<void> {
    const [first, ...rest] = names;
    if (first === undefined) return;
    await this.createTapPort(first, opts);
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < rest.length) {
        const name = rest[next++] as string;
        try {
          await this.createTapPort(name, opts);
        } catch (err) {
          failure ??= annotate(err, `port ${name}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, rest.length)) }, worker));
    if (failure !== undefined) throw failure;
  }
}

/** Prefix an error's message with context, keeping its gRPC code and details. */
function annotate(err: unknown, context: string): unknown {
  if (err instanceof Error) {
    err.message = `${context}: ${err.message}`;
    return err;
  }
  return new Error(`${context}: ${String(err)}`);
}
