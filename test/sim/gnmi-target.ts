/**
 * The simulator's gNMI service (gnmi.gNMI Set/Get), as P4-OVS 22.07 answers it. Every rule cites
 * its upstream source: ipdk-io/ovs tag v22.07 (a0a623af26347d9fc441c35cd1126a12e75d8d97), files
 * under p4proto/; error codes through stratum/stratum stratum/public/lib/error.cc
 * (ERR_INVALID_PARAM -> INVALID_ARGUMENT, ERR_FEATURE_UNAVAILABLE -> UNAVAILABLE, ERR_UNKNOWN ->
 * UNKNOWN, ERR_INTERNAL -> INTERNAL, ERR_UNIMPLEMENTED -> UNIMPLEMENTED).
 *
 * Simplifications (not rules of the target): only the /interfaces subtree is modelled (P4-OVS also
 * has /components, /lacp, /qos, /system: here those paths are "unsupported"); only TAP ports are
 * made (other port types: UNIMPLEMENTED "not simulated"); leaves that P4-OVS reads from the data
 * plane (counters, state, ifindex) answer 0 here, except tdi-portin-id / tdi-portout-id (the port
 * number) and state/name.
 */
import { renameSync, writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { ChassisConfig } from "./chassis-config";
import type { MadeTap, TapHelper } from "./tap-helper";

// ---- wire shapes (proto-loader: keepCase, longs as strings, enums as names, oneofs by name) ----

export interface WireElem {
  name?: string;
  key?: Record<string, string>;
}
export interface WirePath {
  origin?: string;
  elem?: WireElem[];
  target?: string;
}
export interface WireVal {
  value?: string;
  string_val?: string;
  int_val?: string;
  uint_val?: string;
  bool_val?: boolean;
}
export interface WireUpdate {
  path?: WirePath;
  val?: WireVal;
}
export interface WireSetRequest {
  prefix?: WirePath;
  delete?: WirePath[];
  replace?: WireUpdate[];
  update?: WireUpdate[];
}
export interface WireGetRequest {
  prefix?: WirePath;
  path?: WirePath[];
  type?: string;
  encoding?: string;
}

export function fail(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), {
    code,
    details,
    metadata: new grpc.Metadata(),
  }) as grpc.ServiceError;
}

// ---- Path.ShortDebugString(), as the target prints paths in its errors ------------------------

/** protobuf's C escaping for text format strings (printable ASCII and UTF-8 kept, the rest octal). */
function cEscape(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === '"') out += '\\"';
    else if (ch === "'") out += "\\'";
    else if (ch === "\\") out += "\\\\";
    else if (c < 0x20 || c === 0x7f) out += `\\${c.toString(8).padStart(3, "0")}`;
    else out += ch;
  }
  return out;
}

/**
 * gnmi.Path's ShortDebugString(): fields in field-number order (origin 2, elem 3, target 4), empty
 * strings left out, map entries sorted by key, one space between tokens.
 */
export function shortDebugString(p: WirePath | undefined): string {
  const parts: string[] = [];
  if (p?.origin) parts.push(`origin: "${cEscape(p.origin)}"`);
  for (const e of p?.elem ?? []) {
    const inner: string[] = [];
    if (e.name) inner.push(`name: "${cEscape(e.name)}"`);
    for (const k of Object.keys(e.key ?? {}).sort()) {
      inner.push(`key { key: "${cEscape(k)}" value: "${cEscape(e.key?.[k] ?? "")}" }`);
    }
    parts.push(inner.length ? `elem { ${inner.join(" ")} }` : "elem { }");
  }
  if (p?.target) parts.push(`target: "${cEscape(p.target)}"`);
  return parts.join(" ");
}

// ---- per-port state (bf_chassis_manager.h GNMI_CONFIG_* bits) ---------------------------------

const BIT = {
  PORT_TYPE: 0x01,
  DEVICE_TYPE: 0x02,
  QUEUE_COUNT: 0x04,
  SOCKET_PATH: 0x08,
  HOST_NAME: 0x10,
  PIPELINE_NAME: 0x20,
  MEMPOOL_NAME: 0x40,
  MTU_VALUE: 0x80,
  PCI_BDF_VALUE: 0x100,
  PACKET_DIR: 0x20000,
  PORT_DONE: 0x10000000,
} as const;
// bf_chassis_manager.h: GNMI_CONFIG_TAP is port-type alone; the TAP refuses these.
const TAP_REQUIRED = BIT.PORT_TYPE;
const TAP_UNSUPPORTED =
  BIT.DEVICE_TYPE | BIT.QUEUE_COUNT | BIT.SOCKET_PATH | BIT.HOST_NAME | BIT.PCI_BDF_VALUE;
// bf_chassis_manager.h DEFAULT_MTU / MAX_MTU.
const DEFAULT_MTU = 1500;
const MAX_MTU = 65535;

interface Port {
  name: string;
  id: number;
  node: number;
  adminState: string;
  /** node_id_port_id_to_backend_: the one-time bits. */
  mask: number;
  /** The values ValidateAndAdd collected (node_id_to_port_id_to_port_config_). */
  mtu?: number;
  portType?: string;
  /** What a Get answers per leaf: the yang tree's poll functor, replaced only by a Set that succeeded. */
  shown: Map<string, WireVal>;
  /** Data-plane port number, in the order ports were added; undefined until added. */
  number?: number;
  /** The helper's fd holding this port's TAP. */
  fd?: number;
  /** The TAP's kernel name when last looked (null: gone). */
  kernel?: string | null;
}

const uintVal = (n: number | string): WireVal => ({ value: "uint_val", uint_val: String(n) });
const strVal = (s: string): WireVal => ({ value: "string_val", string_val: s });

// TypedValue accessors as the C++ handlers call them: the field if it is the oneof's case, else its default.
const stringVal = (v: WireVal | undefined): string => (v?.value === "string_val" ? (v.string_val ?? "") : "");
const intVal = (v: WireVal | undefined): number => (v?.value === "int_val" ? Number(v.int_val ?? 0) : 0);

// ---- the tree (yang_parse_tree.cc / yang_parse_tree_paths.cc AddSubtreeInterface*) -------------

type Leaf =
  /** A one-time config leaf (yang_parse_tree_paths.cc SetUpInterfacesInterfaceConfig<X>). */
  | { kind: "onetime"; leaf: string }
  /** config/control-port: ValidateOnetimeConfig has no case for it, so it is never one-time. */
  | { kind: "control-port" }
  /** A leaf with a set handler this simulator does not model. */
  | { kind: "not-simulated"; leaf: string }
  /** No set handler: Set is "Unsupported mode" (TreeNode's default on_update_handler_). */
  | { kind: "read-only"; read: (p: Port) => WireVal }
  /** "/" (SetUpRoot): replace only, with a serialized ChassisConfig in bytes_val. */
  | { kind: "root" };

interface TreeNode {
  children: Map<string, TreeNode>;
  /** GetPath(): a key node folds into its parent's elem as [name=<key>]. */
  path: WireElem[];
  leaf?: Leaf;
  port?: Port;
  /** /interfaces/virtual-interface[name=*]/<sub>: a Get answers <sub> of every port. */
  wildcard?: string[];
}

function newNode(path: WireElem[], leaf?: Leaf): TreeNode {
  return { children: new Map(), path, leaf };
}

function child(parent: TreeNode, name: string, isKey = false): TreeNode {
  let c = parent.children.get(name);
  if (!c) {
    const path = isKey
      ? [...parent.path.slice(0, -1), { ...(parent.path.at(-1) as WireElem), key: { name } }]
      : [...parent.path, { name }];
    c = newNode(path);
    parent.children.set(name, c);
  }
  return c;
}

function addLeaf(at: TreeNode, rel: string, leaf: Leaf, port?: Port): void {
  let n = at;
  for (const part of rel.split("/")) n = child(n, part);
  n.leaf = leaf;
  n.port = port;
}

// AddSubtreeInterface + AddSubtreeInterfaceFromSingleton: the config leaves with set handlers.
const ONETIME_LEAVES = [
  "pipeline-name",
  "mempool-name",
  "mtu",
  "port-type",
  "device-type",
  "queues",
  "socket-path",
  "host",
  "pci-bdf",
  "packet-dir",
];
const NOT_SIMULATED_LEAVES = [
  "config/enabled",
  "config/loopback-mode",
  "config/health-indicator",
  "config/hotplug",
  "config/qemu-socket-ip",
  "config/qemu-socket-port",
  "config/qemu-vm-mac",
  "config/qemu-vm-netdev-id",
  "config/qemu-vm-chardev-id",
  "config/qemu-vm-device-id",
  "config/native-socket-path",
  "ethernet/config/port-speed",
  "ethernet/config/auto-negotiate",
  "ethernet/config/mac-address",
  "ethernet/config/forwarding-viable",
];
const ZERO_READ_ONLY = [
  "config/ifindex",
  ...[
    "in-octets",
    "out-octets",
    "in-unicast-pkts",
    "out-unicast-pkts",
    "in-broadcast-pkts",
    "out-broadcast-pkts",
    "in-multicast-pkts",
    "out-multicast-pkts",
    "in-discards",
    "out-discards",
    "in-unknown-protos",
    "in-errors",
    "out-errors",
    "in-fcs-errors",
  ].map((c) => `config/counters/${c}`),
  "state/last-change",
  "state/oper-status",
  "state/admin-status",
  "state/loopback-mode",
  "state/hardware-port",
  "state/health-indicator",
  "ethernet/state/mac-address",
  "ethernet/state/port-speed",
  "ethernet/state/negotiated-port-speed",
  "ethernet/state/forwarding-viable",
  "ethernet/state/auto-negotiate",
];

// The value a config leaf's poll functor answers before any Set (the defaults AddSubtreeInterface
// passes: "" for names, 0 for port-type/device-type/mtu/queues, "/" for socket-path, 2 (host) for
// packet-dir); GetResponse() puts every number in uint_val.
const INITIAL: Record<string, WireVal> = {
  "pipeline-name": strVal(""),
  "mempool-name": strVal(""),
  mtu: uintVal(0),
  "port-type": uintVal(0),
  "device-type": uintVal(0),
  queues: uintVal(0),
  "socket-path": strVal("/"),
  host: strVal(""),
  "pci-bdf": strVal(""),
  "packet-dir": uintVal(2),
  "control-port": strVal(""),
};

function addPortSubtree(vi: TreeNode, port: Port): void {
  const p = child(vi, port.name, true);
  p.port = port;
  for (const l of ONETIME_LEAVES) addLeaf(p, `config/${l}`, { kind: "onetime", leaf: l }, port);
  addLeaf(p, "config/control-port", { kind: "control-port" }, port);
  for (const l of NOT_SIMULATED_LEAVES) addLeaf(p, l, { kind: "not-simulated", leaf: l }, port);
  for (const l of ZERO_READ_ONLY) addLeaf(p, l, { kind: "read-only", read: () => uintVal(0) }, port);
  // SetUpInterfacesInterfaceStateName: the port's name.
  addLeaf(p, "state/name", { kind: "read-only", read: (x) => strVal(x.name) }, port);
  // SetUpInterfacesInterfaceConfigPortInId / PortOutId: GetTargetDatapathId -> the data plane's
  // port id; a failed lookup (port not added) reads as 0 (GetValue's default).
  for (const l of ["config/tdi-portin-id", "config/tdi-portout-id"]) {
    addLeaf(p, l, { kind: "read-only", read: (x) => uintVal(x.number ?? 0) }, port);
  }
  for (const [leaf, v] of Object.entries(INITIAL)) port.shown.set(leaf, v);
}

function leafName(n: TreeNode): string {
  return n.path.at(-1)?.name ?? "";
}

export interface TargetOptions {
  /**
   * The chassis config. undefined: every valid interface name has a tree node (tests of other
   * rules only). null: the file is missing, so no config was pushed (no port has a node, Get is
   * FAILED_PRECONDITION), as P4-OVS runs without /usr/share/stratum/dpdk_port_config.pb.txt.
   */
  chassis?: ChassisConfig | null;
  /** Written (temp + rename) whenever the ports or their kernel names change. */
  portsFile?: string;
}

/** Linux's dev_valid_name(): 1..15 bytes, not "." or "..", no "/", ":" or whitespace. */
export function validIfName(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= 15 &&
    name !== "." &&
    name !== ".." &&
    !/[/:\s]/.test(name) &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    !/[\x00-\x1f\x7f]/.test(name)
  );
}

export class GnmiTarget {
  private readonly root = newNode([], { kind: "root" });
  private readonly vi: TreeNode;
  private readonly ports: Port[] = [];
  private readonly added: Port[] = [];
  private nextNumber = 0;
  /** config_monitoring_service.cc: config_lock_ (writer for Set, reader for Get); here one queue. */
  private lock: Promise<unknown> = Promise.resolve();
  private lastWritten = "";

  constructor(
    private readonly helper: TapHelper,
    private readonly opts: TargetOptions = {},
  ) {
    this.vi = child(child(this.root, "interfaces"), "virtual-interface");
    // yang_parse_tree_paths.cc AddSubtreeAllInterfaces: [name=*]/state/ifindex and state/name.
    for (const sub of ["state/ifindex", "state/name"]) {
      let n = child(this.vi, "*", true);
      for (const part of sub.split("/")) n = child(n, part);
      n.wildcard = sub.split("/");
    }
    for (const cp of opts.chassis?.ports ?? []) {
      // yang_parse_tree.cc ProcessPushedConfig: a subtree per singleton port, named by its name
      // (built here when first reached: the same tree, without the start-up cost of ~60 nodes a port).
      if (!this.unbuilt.has(cp.name))
        this.unbuilt.set(cp.name, this.newPort(cp.name, cp.id, cp.node, cp.adminState));
    }
    this.writePortsFile();
  }

  /** Chassis ports whose subtree is not built yet. */
  private readonly unbuilt = new Map<string, Port>();

  /** The child `name` of /interfaces/virtual-interface, building a port's subtree on first use. */
  private viChild(name: string): TreeNode | undefined {
    const have = this.vi.children.get(name);
    if (have) return have;
    let port = this.unbuilt.get(name);
    if (port) this.unbuilt.delete(name);
    // Without a chassis config every valid interface name has a port subtree.
    else if (this.opts.chassis === undefined && validIfName(name))
      port = this.newPort(name, 0, 1, "ADMIN_STATE_ENABLED");
    if (!port) return undefined;
    addPortSubtree(this.vi, port);
    return this.vi.children.get(name);
  }

  /**
   * Build every chassis port's subtree now. yang_parse_tree.cc ProcessPushedConfig builds them when the
   * chassis config is pushed, before the target serves a request: the simulator does so before it
   * listens (p4-target-sim.ts main), so the first Get does not pay for ~60 nodes a port. (Built on
   * first use otherwise: a GnmiTarget made directly by a test.)
   */
  buildAll(): void {
    for (const name of [...this.unbuilt.keys()]) this.viChild(name);
  }

  /** A chassis port's name (the first), for a request that touches no state; null without one. */
  firstPortName(): string | null {
    return this.ports[0]?.name ?? null;
  }

  private newPort(name: string, id: number, node: number, adminState: string): Port {
    const port: Port = { name, id, node, adminState, mask: 0, shown: new Map() };
    this.ports.push(port);
    return port;
  }

  /** yang_parse_tree.cc TreeNode::FindNodeOrNull. */
  private find(path: WirePath | undefined): TreeNode | undefined {
    const elems = path?.elem ?? [];
    let node: TreeNode | undefined = this.root;
    let i = 0;
    while (node && node.children.size > 0 && i < elems.length) {
      const e = elems[i] as WireElem;
      const at: TreeNode = node;
      node = at === this.vi ? this.viChild(e.name ?? "") : at.children.get(e.name ?? "");
      const key = e.key?.name;
      if (key !== undefined && node) node = node === this.vi ? this.viChild(key) : node.children.get(key);
      i++;
    }
    return node;
  }

  /** Requests queued or running. */
  private busy = 0;
  /** When the last request ended, and the last refreshKernelNames look (performance.now()). */
  private lastEnded = Number.NEGATIVE_INFINITY;
  private lastRefresh = Number.NEGATIVE_INFINITY;

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    this.busy++;
    const run = this.lock.then(fn, fn).finally(() => {
      this.busy--;
      this.lastEnded = performance.now();
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** config_monitoring_service.cc ConfigMonitoringService::DoSet. */
  set(req: WireSetRequest): Promise<unknown> {
    return this.serialized(async () => {
      const before = this.added.length;
      try {
        return await this.doSetBatched(req);
      } finally {
        if (this.added.length !== before) this.writePortsFile();
      }
    });
  }

  /** How validateAndAdd makes a port's TAP: the helper, one TAP at a time, unless doSetBatched says. */
  private makeTap: (name: string, mtu: number) => Promise<MadeTap> = (name, mtu) =>
    this.helper.add(name, mtu);

  /**
   * doSet, with the request's TAPs made in ONE exchange with the TAP helper. The outcome is exactly
   * that of doSet making them one by one: a first pass runs the request assuming every TAP is made
   * and notes them; the helper makes them in order, stopping at the first it cannot. All made: the
   * first pass was the request (its fds filled in). Else the ports the first pass touched are put
   * back as they were and doSet runs again with the helper's real results (the same TAPs, in the
   * same order, up to that failure, where it stops as it would have).
   */
  private async doSetBatched(req: WireSetRequest): Promise<unknown> {
    const planned: { name: string; mtu: number }[] = [];
    const saved = this.snapshot(req);
    const real = this.makeTap;
    this.makeTap = async (name, mtu) => {
      planned.push({ name, mtu });
      return { ifindex: 0, fd: -1 };
    };
    let first: { ok: true; value: unknown } | { ok: false; err: unknown };
    try {
      first = { ok: true, value: await this.doSet(req) };
    } catch (err) {
      first = { ok: false, err };
    } finally {
      this.makeTap = real;
    }
    // No TAP in it: the first pass was the request itself.
    if (planned.length === 0) {
      if (first.ok) return first.value;
      throw first.err;
    }
    const results = await this.helper.addMany(planned);
    if (results.length === planned.length && results.every((r) => !(r instanceof Error))) {
      // Every TAP made, in order: the first pass took the very path doSet takes now, so its outcome
      // (value or error, every port's state) is the request's; only the TAPs' fds were stand-ins.
      planned.forEach(({ name }, i) => {
        const port = this.vi.children.get(name)?.port;
        if (port) port.fd = (results[i] as MadeTap).fd;
      });
      if (first.ok) return first.value;
      throw first.err;
    }
    // The helper refused one: run the request again from the state before, with its real answers.
    saved();
    let i = 0;
    this.makeTap = async (name) => {
      const r = results[i++];
      if (!r) throw new Error(`the TAP helper did not make ${name}`);
      if (r instanceof Error) throw r;
      return r;
    };
    try {
      return await this.doSet(req);
    } finally {
      this.makeTap = real;
    }
  }

  /** What doSet may change for `req`'s ports, and a function that puts it back. */
  private snapshot(req: WireSetRequest): () => void {
    const ports = new Set<Port>();
    for (const u of [...(req.replace ?? []), ...(req.update ?? [])]) {
      const port = this.find(u.path)?.port;
      if (port) ports.add(port);
    }
    const saved = [...ports].map((p) => ({ p, copy: { ...p, shown: new Map(p.shown) } }));
    const added = this.added.length;
    const next = this.nextNumber;
    return () => {
      for (const { p, copy } of saved) {
        // Fields the first pass added (number, fd, mtu ...) go too.
        for (const k of Object.keys(p)) if (!(k in copy)) delete (p as unknown as Record<string, unknown>)[k];
        Object.assign(p, copy);
      }
      this.added.length = added;
      this.nextNumber = next;
    };
  }

  private async doSet(req: WireSetRequest): Promise<unknown> {
    const response: unknown[] = [];
    // DoSet hands each path to the tree as it is: the request's prefix is not applied.
    for (const path of req.delete ?? []) {
      const node = this.find(path);
      if (!node) throw unsupported(path);
      // No P4-OVS node has a delete handler: TreeNode's default, MAKE_ERROR() (ERR_UNKNOWN).
      throw fail(grpc.status.UNKNOWN, `unsupported mode: DELETE for: '${shortDebugString(path)}'`);
    }
    for (const [op, list] of [
      ["REPLACE", req.replace ?? []],
      ["UPDATE", req.update ?? []],
    ] as const) {
      for (const u of list) {
        const node = this.find(u.path);
        // gnmi_publisher.cc HandleUpdate / HandleReplace.
        if (!node) throw unsupported(u.path);
        await this.setNode(node, op, u);
        response.push({ path: u.path, op });
      }
    }
    return { prefix: req.prefix, response, timestamp: String(BigInt(Date.now()) * 1_000_000n) };
  }

  private async setNode(node: TreeNode, op: "UPDATE" | "REPLACE", u: WireUpdate): Promise<void> {
    const leaf = node.leaf;
    const port = node.port;
    const noHandler = () =>
      // yang_parse_tree.h TreeNode::on_update_handler_ / on_replace_handler_ defaults.
      fail(grpc.status.UNAVAILABLE, `Unsupported mode: ${op} for: '${shortDebugString(u.path)}'`);
    if (!leaf || leaf.kind === "read-only") throw noHandler();
    if (leaf.kind === "root") {
      if (op === "UPDATE") throw noHandler();
      // SetUpRoot's replace handler wants bytes_val, which this simulator's gnmi.proto subset lacks.
      throw fail(grpc.status.INVALID_ARGUMENT, "Expects a bytes stream!");
    }
    if (!port) throw noHandler();
    if (leaf.kind === "not-simulated") {
      throw fail(
        grpc.status.UNIMPLEMENTED,
        `${leaf.leaf} of port ${port.name}: not simulated (p4-target-sim)`,
      );
    }
    if (leaf.kind === "control-port") {
      // SetUpInterfacesInterfaceConfigControlport; ValidateAndAdd records it without a bit.
      port.shown.set("control-port", strVal(stringVal(u.val)));
      return;
    }
    await this.setOnetime(port, leaf.leaf, u.val);
  }

  /** yang_parse_tree_paths.cc SetUpInterfacesInterfaceConfig<X> on_set_functor, then ValidateAndAdd. */
  private async setOnetime(port: Port, leaf: string, val: WireVal | undefined): Promise<void> {
    const spec = ONETIME[leaf] as OnetimeSpec;
    // bf_chassis_manager.cc ValidateOnetimeConfig: checked before the value is looked at.
    if (port.mask & spec.bit) {
      throw fail(
        grpc.status.INVALID_ARGUMENT,
        `${spec.label} is either already set (or) the PORT is already configured`,
      );
    }
    let shown: WireVal;
    if (leaf === "port-type") {
      const s = stringVal(val);
      // SetUpInterfacesInterfaceConfigPorttype: these spellings only.
      const type = {
        vhost: "VHOST",
        VHOST: "VHOST",
        link: "LINK",
        LINK: "LINK",
        tap: "TAP",
        TAP: "TAP",
        source: "SOURCE",
        SOURCE: "SOURCE",
        sink: "SINK",
        SINK: "SINK",
      }[s];
      if (!type) throw fail(grpc.status.INVALID_ARGUMENT, "wrong value for port-type!");
      if (type !== "TAP") {
        throw fail(
          grpc.status.UNIMPLEMENTED,
          `port ${port.name}: port-type ${s} is not simulated (only TAP)`,
        );
      }
      port.portType = type;
      shown = strVal(s);
    } else if (leaf === "device-type") {
      const s = stringVal(val);
      if (!["VIRTIO_NET", "virtio_net", "VIRTIO_BLK", "virtio_blk"].includes(s)) {
        throw fail(
          grpc.status.INVALID_ARGUMENT,
          "wrong value for device-type, accepted values are case in-sensitivie VIRTIO_NET or VIRTIO_BLK",
        );
      }
      shown = strVal(s);
    } else if (leaf === "packet-dir") {
      const s = stringVal(val);
      if (!["network", "NETWORK", "host", "HOST"].includes(s)) {
        throw fail(
          grpc.status.INVALID_ARGUMENT,
          "wrong value for packet-direction, accepted values are case in-sensitivie network or host",
        );
      }
      shown = strVal(s);
    } else if (leaf === "mtu" || leaf === "queues") {
      // typed_val->int_val(): a value sent in another field reads as 0.
      const n = intVal(val);
      if (leaf === "mtu") port.mtu = n;
      shown = uintVal(n);
    } else {
      shown = strVal(stringVal(val));
    }
    await this.validateAndAdd(port, leaf, spec.bit);
    port.shown.set(leaf, shown);
  }

  /** bf_chassis_manager.cc TdiChassisManager::ValidateAndAdd (+ AddPortHelper). */
  private async validateAndAdd(port: Port, leaf: string, bit: number): Promise<void> {
    if (leaf === "mtu" && (port.mtu ?? 0) > MAX_MTU) {
      // Over MAX_MTU the whole mask is cleared, then the error.
      const mtu = port.mtu;
      port.mask = 0;
      throw fail(
        grpc.status.INVALID_ARGUMENT,
        `Unsupported MTU = ${mtu}. MTU should be less than ${MAX_MTU}`,
      );
    }
    port.mask |= bit;
    if (!(port.mask & BIT.PORT_TYPE) || port.mask & BIT.PORT_DONE) return;
    if ((port.mask & TAP_REQUIRED) !== TAP_REQUIRED || port.portType !== "TAP") return;
    // Mandatory parameters are there: the missing ones get their defaults (pipe, MEMPOOL0, 1500, host).
    if (!(port.mask & BIT.MTU_VALUE)) port.mtu = DEFAULT_MTU;
    port.mask |= BIT.PIPELINE_NAME | BIT.MEMPOOL_NAME | BIT.MTU_VALUE | BIT.PACKET_DIR;
    if (port.mask & TAP_UNSUPPORTED) {
      port.mask = 0;
      throw fail(grpc.status.INVALID_ARGUMENT, "Unsupported parameter list for given Port Type \n");
    }
    // AddPortHelper: the chassis config's admin state decides first.
    const sdk = this.ports.indexOf(port);
    if (port.adminState === "" || port.adminState === "ADMIN_STATE_UNKNOWN") {
      port.mask = 0;
      throw fail(
        grpc.status.INVALID_ARGUMENT,
        `Invalid admin state for port ${port.id} in node ${port.node} (SDK Port ${sdk}).`,
      );
    }
    if (port.adminState === "ADMIN_STATE_DIAG") {
      port.mask = 0;
      throw fail(
        grpc.status.UNIMPLEMENTED,
        `Unsupported 'diags' admin state for port ${port.id} in node ${port.node} (SDK Port ${sdk}).`,
      );
    }
    try {
      const made = await this.makeTap(port.name, port.mtu ?? DEFAULT_MTU);
      port.fd = made.fd;
      port.kernel = port.name;
    } catch (err) {
      // The data plane refused the port: the mask is cleared, every leaf can be set again.
      port.mask = 0;
      // The SDE's own text is not in the v22.07 tree; this one is the simulator's.
      throw fail(
        grpc.status.INTERNAL,
        `Failed to add port ${port.name} (p4-target-sim): ${(err as Error).message}`,
      );
    }
    port.mask |= BIT.PORT_DONE;
    port.number = this.nextNumber++;
    this.added.push(port);
  }

  /** config_monitoring_service.cc ConfigMonitoringService::DoGet. */
  get(req: WireGetRequest): Promise<unknown> {
    return this.serialized(async () => this.doGet(req));
  }

  private doGet(req: WireGetRequest): unknown {
    if (this.opts.chassis === null) {
      // running_chassis_config_ is null: nothing was pushed.
      throw fail(grpc.status.FAILED_PRECONDITION, "No valid chassis config has been pushed so far.");
    }
    if ((req.encoding ?? "JSON") !== "PROTO") {
      throw fail(grpc.status.INVALID_ARGUMENT, "Get response can only be encoded as PROTO.");
    }
    const notification: unknown[] = [];
    for (const path of req.path ?? []) {
      if ((path.elem ?? []).length === 0) {
        // Special case "/": CONFIG only, answered with one empty update.
        if ((req.type ?? "ALL") !== "CONFIG") {
          throw fail(grpc.status.INVALID_ARGUMENT, "Get '/' can be done for CONFIG elements only.");
        }
        notification.push({ timestamp: "0", update: [{ path }] });
        continue;
      }
      // gnmi_publisher.cc Subscribe (poll): the node must exist; HandlePoll visits it and its children.
      const node = this.find(path);
      if (!node) throw unsupported(path);
      const now = String(BigInt(Date.now()) * 1_000_000n);
      for (const [n, val] of this.poll(node)) {
        notification.push({ timestamp: now, update: [{ path: { elem: n.path }, val }] });
      }
    }
    return { notification };
  }

  private *poll(node: TreeNode): Generator<[TreeNode, WireVal]> {
    if (node.wildcard || node === this.vi || node.children.has("virtual-interface") || node === this.root)
      this.buildAll();
    if (node.wildcard) {
      // PerformActionForAllNonWildcardNodes: the same sub-path of every port that has it.
      for (const name of [...this.vi.children.keys()].sort()) {
        const p = this.vi.children.get(name) as TreeNode;
        if (name === "*") continue;
        let n: TreeNode | undefined = p;
        for (const part of node.wildcard) n = n?.children.get(part);
        if (n?.leaf) yield* this.poll(n);
      }
      return;
    }
    const leaf = node.leaf;
    if (leaf && node.port) {
      if (leaf.kind === "read-only") yield [node, leaf.read(node.port)];
      else if (leaf.kind === "onetime" || leaf.kind === "control-port") {
        yield [node, node.port.shown.get(leafName(node)) ?? uintVal(0)];
      } else yield [node, uintVal(0)];
    }
    // TreeNode children_ is an ordered map: children by name.
    for (const name of [...node.children.keys()].sort())
      yield* this.poll(node.children.get(name) as TreeNode);
  }

  /**
   * Re-read every port's kernel name; rewrite the ports file if one changed. Skipped while requests
   * are queued or running, or one ended less than `idleMs` ago (a pool being made: its next Set
   * comes as soon as the client has read the answer), for at most 4 periods in a row: reading 256
   * fdinfo files holds the event loop for ~5 ms of CPU (tens under load), which a real target does
   * not charge its Sets; a port added by a Set is written with its name at once, and a rename or
   * move made meanwhile shows at the next look.
   */
  refreshKernelNames(idleMs = 0): void {
    const now = performance.now();
    if (this.busy > 0) return;
    // Requests without a pause never hold a look back for more than 4 periods.
    if (now - this.lastEnded < idleMs && now - this.lastRefresh < 4 * idleMs) return;
    this.lastRefresh = now;
    let changed = false;
    for (const p of this.added) {
      if (p.fd === undefined) continue;
      const k = p.kernel === null ? null : this.helper.kernelName(p.fd);
      if (k !== p.kernel) {
        p.kernel = k;
        changed = true;
      }
    }
    if (changed) this.writePortsFile();
  }

  /** The ports in the order they were added: name, number, current kernel name (null: gone). */
  portList(): { name: string; port: number; kernel: string | null }[] {
    return this.added.map((p) => ({ name: p.name, port: p.number as number, kernel: p.kernel ?? null }));
  }

  private writePortsFile(): void {
    const file = this.opts.portsFile;
    if (!file) return;
    const text = `${JSON.stringify({ ports: this.portList() })}\n`;
    if (text === this.lastWritten) return;
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
    this.lastWritten = text;
  }
}

interface OnetimeSpec {
  bit: number;
  /** The word the one-time error starts with (each handler spells its own). */
  label: string;
}
const ONETIME: Record<string, OnetimeSpec> = {
  "pipeline-name": { bit: BIT.PIPELINE_NAME, label: "pipeline-name" },
  "mempool-name": { bit: BIT.MEMPOOL_NAME, label: "mempool-name" },
  mtu: { bit: BIT.MTU_VALUE, label: "MTU" },
  "port-type": { bit: BIT.PORT_TYPE, label: "port-type" },
  "device-type": { bit: BIT.DEVICE_TYPE, label: "device-type" },
  queues: { bit: BIT.QUEUE_COUNT, label: "Queues" },
  "socket-path": { bit: BIT.SOCKET_PATH, label: "Socket" },
  host: { bit: BIT.HOST_NAME, label: "Host" },
  "pci-bdf": { bit: BIT.PCI_BDF_VALUE, label: "pci-bdf" },
  "packet-dir": { bit: BIT.PACKET_DIR, label: "packet-dir" },
};

/** gnmi_publisher.cc HandleUpdate/HandleReplace/HandleDelete/Subscribe: no tree node for the path. */
function unsupported(path: WirePath | undefined): grpc.ServiceError {
  return fail(grpc.status.INVALID_ARGUMENT, `The path (${shortDebugString(path)}) is unsupported!`);
}
