/**
 * P4 target simulator: a stand-in for P4-OVS's gNMI (port config) and P4Runtime services, which
 * cannot run here. It follows the real protocol and P4-OVS 22.07's observable behaviour:
 *
 *   node dist/test/sim/p4-target-sim.js --gnmi 127.0.0.1:9339 --p4rt 127.0.0.1:9559 [--netns NAME]
 *
 * Prints `listening` on stdout once both servers are bound.
 *
 * gNMI (service gnmi.gNMI):
 * - Set: every update/replace must be `/interfaces/virtual-interface[name=X]/config/<leaf>` (the
 *   prefix, if any, is prepended). Leaves are the P4-OVS config leaves; mtu, queues and
 *   qemu-socket-port take int_val (gnmi-cli sends whole numbers that way), mtu within
 *   [MTU_MIN, MTU_MAX]; the others string_val. X must be a valid Linux interface name (1..15
 *   bytes, no "/", ":", whitespace, not "." or ".."). Anything else: INVALID_ARGUMENT naming what
 *   is wrong, and nothing of that SetRequest is applied. Deletes: UNIMPLEMENTED (P4-OVS 22.07 has
 *   no port deletion over gNMI).
 * - Setting port-type TAP on a port that has pipeline-name, mempool-name and mtu creates a REAL
 *   kernel TAP named X (MTU set from the leaf) before the Set is answered; missing leaves:
 *   FAILED_PRECONDITION; a port whose TAP still exists (under any name: P4TAP_0 renamed TAP_0
 *   is still port P4TAP_0): ALREADY_EXISTS. A port whose TAP was deleted behind the target's back
 *   is created again by the next port-type set.
 * - Get: paths to a leaf, to a port's config, to a port, or to /interfaces (name=* allowed)
 *   answer the recorded config leaves; an unknown port or leaf: NOT_FOUND.
 * - Capabilities: gNMI 0.7.0, PROTO encoding.
 *
 * TAPs live and die with this process, as DPDK TAPs do with ovs-vswitchd: they are created
 * non-persistent (TUNSETIFF on /dev/net/tun, without TUNSETPERSIST) by a small helper process
 * (python3, since Node cannot ioctl) that holds their file descriptors. The helper reads requests
 * on a pipe from this process and exits when the pipe closes, so the kernel destroys every TAP when
 * this process exits for any reason, SIGKILL included (also a TAP renamed since, e.g. TAP_0).
 * SIGTERM/SIGINT close the servers, wait for the helper to exit (TAPs gone), then exit 0.
 *
 * P4Runtime (service p4.v1.P4Runtime), as P4-OVS's p4_service.cc answers:
 * - StreamChannel arbitration: device_id 0 or election_id 0: INVALID_ARGUMENT; the device id of a
 *   stream must not change; an election id already used by another stream of the device:
 *   INVALID_ARGUMENT. Highest election id is primary. Primary gets status OK, the others
 *   ALREADY_EXISTS "You are not my master!", each with the primary's election id; everyone is
 *   told when the primary changes (also when the primary's stream ends).
 * - SetForwardingPipelineConfig: device_id 0 / election_id 0: INVALID_ARGUMENT; not the
 *   primary's election id: PERMISSION_DENIED; a pipeline already pushed: FAILED_PRECONDITION
 *   (P4-OVS 22.07 cannot overwrite one); VERIFY / VERIFY_AND_SAVE / VERIFY_AND_COMMIT / COMMIT;
 *   RECONCILE_AND_COMMIT: UNIMPLEMENTED; a config without p4_device_config: INVALID_ARGUMENT.
 * - GetForwardingPipelineConfig: device_id 0: INVALID_ARGUMENT; nothing pushed yet, or not for
 *   that device: FAILED_PRECONDITION; else the config per response_type (COOKIE_ONLY: the cookie).
 *   The P4Info is kept only as far as our p4info.proto subset decodes it (pkg_info).
 * - Capabilities: p4runtime_api_version 1.3.0.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { loadProto, lookup } from "../../daemon/host/grpc-channel";

export const MTU_MIN = 64;
export const MTU_MAX = 9000;

const INT_LEAVES = new Set(["mtu", "queues", "qemu-socket-port"]);
const STRING_LEAVES = new Set([
  "pipeline-name",
  "mempool-name",
  "port-type",
  "device-type",
  "host-name",
  "socket-path",
  "control-port",
  "pci-bdf",
  "packet-dir",
  "qemu-socket-ip",
  "qemu-hotplug-mode",
  "qemu-vm-mac-address",
  "qemu-vm-netdev-id",
  "qemu-vm-chardev-id",
  "qemu-vm-device-id",
  "native-socket-path",
]);
const TAP_REQUIRED = ["pipeline-name", "mempool-name", "mtu"];
const PORT_TYPES = new Set(["TAP", "LINK", "VHOST", "SOURCE", "SINK"]);

// ---- helper process holding the TAP file descriptors -------------------------------------------

const TAP_HELPER = String.raw`
import sys, os, fcntl, struct, socket, resource, subprocess
TUNSETIFF = 0x400454ca
TUNGETIFF = 0x800454d2
SIOCSIFMTU = 0x8922
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
try:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
except Exception:
    pass
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fds = {}
def ifindex(name):
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return 0
out = sys.stdout
# Tell the simulator we can take requests: it serves gNMI only after this, so the first port-type
# Set does not wait for python3 to start (~50-150 ms here), which a real target never does.
out.write("ready\n")
out.flush()
while True:
    line = sys.stdin.readline()
    if not line:
        break
    parts = line.split()
    if not parts:
        continue
    op = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    try:
        if op == "add":
            mtu = int(parts[2])
            if ifindex(name):
                raise OSError(17, "an interface named %s already exists" % name)
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
                fcntl.ioctl(sock, SIOCSIFMTU, struct.pack("16si20x", name.encode(), mtu))
            except Exception:
                os.close(fd)
                raise
            old = fds.pop(name, None)
            if old is not None:
                os.close(old)
            fds[name] = fd
            out.write("ok %s %d\n" % (name, ifindex(name)))
        elif op == "alive":
            # The TAP we made for port NAME, if it still exists: its current name (it may have
            # been renamed, e.g. to TAP_0), else "-" (deleted behind our back, or never made).
            cur = "-"
            fd = fds.get(name)
            if fd is not None:
                try:
                    ifr = fcntl.ioctl(fd, TUNGETIFF, bytes(40))
                    cur = ifr[:16].split(b"\0", 1)[0].decode() or "-"
                except OSError:
                    pass
            out.write("ok %s %s\n" % (name, cur))
        else:
            raise OSError(22, "unknown op " + op)
    except OSError as e:
        out.write("err %s %s\n" % (name, e.strerror or str(e)))
    except Exception as e:
        out.write("err %s %s\n" % (name, str(e)))
    out.flush()
# Our end of the pipe closed (the simulator stopped or died): remove every TAP. Closing the fds
# alone would do it, one unregister (with its RCU wait, ~15 ms) per TAP; deleting them as one link
# group first lets the kernel unregister them in one batch. Names are read back from the fds, so
# TAPs renamed since (TAP_0) are included.
names = []
for fd in fds.values():
    try:
        ifr = fcntl.ioctl(fd, TUNGETIFF, bytes(40))
        names.append(ifr[:16].split(b"\0", 1)[0].decode())
    except OSError:
        pass
if names:
    group = 0x7E000000 | (os.getpid() & 0xFFFFFF)
    script = "".join("link set dev %s group %d\n" % (n, group) for n in names)
    script += "link del group %d\n" % group
    try:
        subprocess.run(["ip", "-force", "-batch", "-"], input=script.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    except Exception:
        pass
for fd in fds.values():
    os.close(fd)
`;

class TapHelper {
  private readonly child: ChildProcess;
  private readonly waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private exited = false;
  readonly done: Promise<void>;
  /** Resolves when the helper said `ready`; rejects if it exits before. */
  readonly ready: Promise<void>;
  private onReady: (() => void) | null = null;

  constructor(netns?: string) {
    const argv = ["python3", "-u", "-c", TAP_HELPER];
    const [file, ...args] = netns ? ["ip", "netns", "exec", netns, ...argv] : argv;
    this.child = spawn(file as string, args, { stdio: ["pipe", "pipe", "inherit"] });
    this.done = new Promise((resolve) => {
      this.child.on("exit", () => {
        this.exited = true;
        for (const w of this.waiting.splice(0)) w.reject(new Error("TAP helper exited"));
        resolve();
      });
      this.child.on("error", (err) => {
        process.stderr.write(`p4-target-sim: cannot run the TAP helper (python3): ${err.message}\n`);
        this.exited = true;
        for (const w of this.waiting.splice(0)) w.reject(err);
        resolve();
      });
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.onReady = resolve;
      void this.done.then(() => reject(new Error("the TAP helper (python3) exited before it was ready")));
    });
    this.ready.catch(() => undefined); // the caller awaits it; never an unhandled rejection
    if (this.child.stdout) {
      createInterface({ input: this.child.stdout }).on("line", (line) => {
        if (this.onReady) {
          // The helper's first line is its `ready`.
          this.onReady();
          this.onReady = null;
          return;
        }
        this.waiting.shift()?.resolve(line);
      });
    }
  }

  private request(line: string): Promise<string> {
    if (this.exited || !this.child.stdin) return Promise.reject(new Error("TAP helper is not running"));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin?.write(`${line}\n`);
    });
  }

  /** Create a non-persistent TAP; resolves with its ifindex. */
  async add(name: string, mtu: number): Promise<number> {
    const r = await this.request(`add ${name} ${mtu}`);
    const m = /^ok \S+ (\d+)$/.exec(r);
    if (!m) throw new Error(r.replace(/^err \S+ /, ""));
    return Number(m[1]);
  }

  /** The current kernel name of the TAP made for port `name`, if it still exists. */
  async alive(name: string): Promise<string | undefined> {
    const r = await this.request(`alive ${name}`);
    const m = /^ok \S+ (\S+)$/.exec(r);
    return m && m[1] !== "-" ? m[1] : undefined;
  }

  /** Close the pipe: the helper exits and the kernel removes every TAP it held. */
  async stop(): Promise<void> {
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await this.done;
    clearTimeout(t);
  }
}

// ---- gNMI --------------------------------------------------------------------------------------

interface WireElem {
  name?: string;
  key?: Record<string, string>;
}
interface WirePath {
  elem?: WireElem[];
  element?: string[];
}
interface WireVal {
  value?: string;
  string_val?: string;
  int_val?: string;
  uint_val?: string;
  bool_val?: boolean;
}
interface WireUpdate {
  path?: WirePath;
  val?: WireVal;
}

type LeafValue = string | number;

interface Port {
  leaves: Map<string, LeafValue>;
  tap: boolean;
}

function fail(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), {
    code,
    details,
    metadata: new grpc.Metadata(),
  }) as grpc.ServiceError;
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

function showPath(elems: WireElem[]): string {
  return (
    elems
      .map(
        (e) =>
          `/${e.name ?? ""}${Object.entries(e.key ?? {})
            .map(([k, v]) => `[${k}=${v}]`)
            .join("")}`,
      )
      .join("") || "/"
  );
}

function fullPath(prefix: WirePath | undefined, path: WirePath | undefined): WireElem[] {
  if ((prefix?.element?.length ?? 0) > 0 || (path?.element?.length ?? 0) > 0) {
    throw fail(grpc.status.INVALID_ARGUMENT, "deprecated Path.element is not supported; use Path.elem");
  }
  return [...(prefix?.elem ?? []), ...(path?.elem ?? [])];
}

function noKeys(e: WireElem): boolean {
  return Object.keys(e.key ?? {}).length === 0;
}

/** Validate one update; returns the port name, leaf and value. Throws INVALID_ARGUMENT. */
function parseUpdate(
  prefix: WirePath | undefined,
  u: WireUpdate,
): { port: string; leaf: string; value: LeafValue } {
  const elems = fullPath(prefix, u.path);
  const where = showPath(elems);
  const [a, b, c, d] = elems;
  if (
    elems.length !== 4 ||
    a?.name !== "interfaces" ||
    !noKeys(a) ||
    b?.name !== "virtual-interface" ||
    c?.name !== "config" ||
    !noKeys(c) ||
    !d?.name ||
    !noKeys(d)
  ) {
    throw fail(
      grpc.status.INVALID_ARGUMENT,
      `path ${where} is not supported: expected /interfaces/virtual-interface[name=NAME]/config/LEAF`,
    );
  }
  const keys = Object.keys(b.key ?? {});
  if (keys.length !== 1 || keys[0] !== "name") {
    throw fail(grpc.status.INVALID_ARGUMENT, `path ${where}: virtual-interface needs exactly one key, name`);
  }
  const port = b.key?.name ?? "";
  if (!validIfName(port)) {
    throw fail(
      grpc.status.INVALID_ARGUMENT,
      `path ${where}: ${JSON.stringify(port)} is not a valid interface name (1-15 bytes, no "/", ":" or whitespace)`,
    );
  }
  const leaf = d.name;
  const val = u.val;
  const kind = val?.value;
  if (INT_LEAVES.has(leaf)) {
    const raw = kind === "int_val" ? val?.int_val : kind === "uint_val" ? val?.uint_val : undefined;
    if (raw === undefined) {
      throw fail(grpc.status.INVALID_ARGUMENT, `${where}: ${leaf} takes int_val, got ${kind ?? "no value"}`);
    }
    const n = Number(raw);
    if (leaf === "mtu" && !(Number.isInteger(n) && n >= MTU_MIN && n <= MTU_MAX)) {
      throw fail(
        grpc.status.INVALID_ARGUMENT,
        `${where}: mtu ${raw} is out of range [${MTU_MIN}, ${MTU_MAX}]`,
      );
    }
    if (!Number.isSafeInteger(n) || n < 0)
      throw fail(grpc.status.INVALID_ARGUMENT, `${where}: ${leaf} ${raw} is out of range`);
    return { port, leaf, value: n };
  }
  if (STRING_LEAVES.has(leaf)) {
    if (kind !== "string_val") {
      throw fail(
        grpc.status.INVALID_ARGUMENT,
        `${where}: ${leaf} takes string_val, got ${kind ?? "no value"}`,
      );
    }
    const s = val?.string_val ?? "";
    if (s === "") throw fail(grpc.status.INVALID_ARGUMENT, `${where}: ${leaf} must not be empty`);
    if (leaf === "port-type" && !PORT_TYPES.has(s.toUpperCase())) {
      throw fail(
        grpc.status.INVALID_ARGUMENT,
        `${where}: port-type ${JSON.stringify(s)} is not one of ${[...PORT_TYPES].join(", ")}`,
      );
    }
    return { port, leaf, value: s };
  }
  throw fail(
    grpc.status.INVALID_ARGUMENT,
    `${where}: unknown leaf ${JSON.stringify(leaf)}; supported: ${[...INT_LEAVES, ...STRING_LEAVES].join(", ")}`,
  );
}

function leafUpdate(port: string, leaf: string, value: LeafValue): { path: unknown; val: unknown } {
  return {
    path: {
      elem: [
        { name: "interfaces" },
        { name: "virtual-interface", key: { name: port } },
        { name: "config" },
        { name: leaf },
      ],
    },
    val: typeof value === "number" ? { int_val: String(value) } : { string_val: value },
  };
}

class Target {
  readonly ports = new Map<string, Port>();
  private readonly creating = new Map<string, Promise<void>>();
  constructor(private readonly helper: TapHelper) {}

  async set(req: { prefix?: WirePath; delete?: WirePath[]; replace?: WireUpdate[]; update?: WireUpdate[] }) {
    if ((req.delete?.length ?? 0) > 0) {
      throw fail(grpc.status.UNIMPLEMENTED, "delete is not supported: ports live as long as the target");
    }
    const all = [...(req.replace ?? []), ...(req.update ?? [])];
    if (all.length === 0) throw fail(grpc.status.INVALID_ARGUMENT, "SetRequest has no update");
    const parsed = all.map((u) => parseUpdate(req.prefix, u)); // all valid before anything is applied
    const response: unknown[] = [];
    for (const p of parsed) {
      await this.apply(p.port, p.leaf, p.value);
      response.push({ path: leafUpdate(p.port, p.leaf, p.value).path, op: "UPDATE" });
    }
    return { response, timestamp: String(BigInt(Date.now()) * 1_000_000n) };
  }

  private async apply(name: string, leaf: string, value: LeafValue): Promise<void> {
    let port = this.ports.get(name);
    if (leaf !== "port-type") {
      if (!port) {
        port = { leaves: new Map(), tap: false };
        this.ports.set(name, port);
      }
      port.leaves.set(leaf, value);
      return;
    }
    const type = String(value).toUpperCase();
    if (type !== "TAP") {
      throw fail(
        grpc.status.UNIMPLEMENTED,
        `port ${name}: port-type ${String(value)} is not simulated (only TAP)`,
      );
    }
    const missing = TAP_REQUIRED.filter((l) => !port?.leaves.has(l));
    if (!port || missing.length > 0) {
      throw fail(
        grpc.status.FAILED_PRECONDITION,
        `port ${name}: set ${missing.join(", ")} before port-type TAP`,
      );
    }
    const inflight = this.creating.get(name);
    if (inflight) {
      await inflight.catch(() => undefined);
      throw fail(grpc.status.ALREADY_EXISTS, `port ${name} already exists`);
    }
    const p = port;
    const create = (async () => {
      const current = p.tap ? await this.helper.alive(name) : undefined;
      if (current !== undefined) {
        const renamed = current !== name ? ` (its TAP is now named ${current})` : "";
        throw fail(grpc.status.ALREADY_EXISTS, `port ${name} already exists${renamed}`);
      }
      try {
        await this.helper.add(name, Number(p.leaves.get("mtu")));
      } catch (err) {
        throw fail(grpc.status.INTERNAL, `port ${name}: cannot create the TAP: ${(err as Error).message}`);
      }
      p.tap = true;
      p.leaves.set("port-type", value);
    })();
    this.creating.set(name, create);
    try {
      await create;
    } finally {
      this.creating.delete(name);
    }
  }

  get(req: { prefix?: WirePath; path?: WirePath[] }) {
    const paths = req.path?.length ? req.path : [{ elem: [] }];
    const notification = paths.map((p) => {
      const elems = fullPath(req.prefix, p);
      const where = showPath(elems);
      const [a, b, c, d, ...more] = elems;
      const bad = () =>
        fail(
          grpc.status.INVALID_ARGUMENT,
          `path ${where} is not supported: expected /interfaces[/virtual-interface[name=NAME][/config[/LEAF]]]`,
        );
      if (more.length > 0 || (a && (a.name !== "interfaces" || !noKeys(a)))) throw bad();
      if (b && b.name !== "virtual-interface") throw bad();
      if (c && (c.name !== "config" || !noKeys(c))) throw bad();
      const want = b?.key?.name ?? "*";
      const names = want === "*" ? [...this.ports.keys()] : [want];
      const update: unknown[] = [];
      for (const n of names) {
        const port = this.ports.get(n);
        if (!port) throw fail(grpc.status.NOT_FOUND, `${where}: no port ${n}`);
        if (d) {
          const v = port.leaves.get(d.name ?? "");
          if (v === undefined) throw fail(grpc.status.NOT_FOUND, `${where}: leaf ${d.name} is not set`);
          update.push(leafUpdate(n, d.name as string, v));
        } else {
          for (const [leaf, v] of port.leaves) update.push(leafUpdate(n, leaf, v));
        }
      }
      return { timestamp: String(BigInt(Date.now()) * 1_000_000n), update };
    });
    return { notification };
  }
}

// ---- P4Runtime ---------------------------------------------------------------------------------

interface Controller {
  conn: number;
  election: bigint;
  stream: grpc.ServerDuplexStream<unknown, unknown>;
}

interface StoredConfig {
  p4info?: unknown;
  p4_device_config?: Buffer;
  cookie?: { cookie?: string };
}

function u128(v: { high?: string; low?: string } | undefined): bigint {
  return (BigInt(v?.high ?? 0) << 64n) | BigInt(v?.low ?? 0);
}

function split128(v: bigint): { high: string; low: string } {
  return { high: (v >> 64n).toString(), low: (v & 0xffffffffffffffffn).toString() };
}

class P4Rt {
  private readonly controllers = new Map<string, Controller[]>(); // device -> sorted, primary first
  private readonly configs = new Map<string, StoredConfig>();
  private saved: Map<string, StoredConfig> | undefined;
  private nextConn = 1;

  private primary(device: string): Controller | undefined {
    return this.controllers.get(device)?.[0];
  }

  private announce(device: string, only?: Controller): void {
    const list = this.controllers.get(device) ?? [];
    const primary = list[0];
    if (!primary) return;
    for (const c of only ? [only] : list) {
      const ok = c === primary;
      c.stream.write({
        arbitration: {
          device_id: device,
          election_id: split128(primary.election),
          status: ok
            ? { code: grpc.status.OK }
            : { code: grpc.status.ALREADY_EXISTS, message: "You are not my master!" },
        },
      });
    }
  }

  streamChannel(stream: grpc.ServerDuplexStream<unknown, unknown>): void {
    const conn = this.nextConn++;
    let device: string | undefined;
    let ended = false;
    const finish = (err?: grpc.ServiceError): void => {
      if (ended) return;
      ended = true;
      this.remove(device, conn);
      if (err) stream.emit("error", err);
      else stream.end();
    };
    stream.on(
      "data",
      (msg: {
        update?: string;
        arbitration?: { device_id?: string; election_id?: { high?: string; low?: string } };
      }) => {
        if (ended) return;
        if (msg.update !== "arbitration" || !msg.arbitration) {
          finish(
            fail(grpc.status.INVALID_ARGUMENT, "Need to specify either arbitration, packet or digest ack."),
          );
          return;
        }
        const a = msg.arbitration;
        const dev = a.device_id ?? "0";
        if (dev === "0") return finish(fail(grpc.status.INVALID_ARGUMENT, "Invalid node (aka device) ID."));
        if (device !== undefined && device !== dev) {
          return finish(
            fail(
              grpc.status.INVALID_ARGUMENT,
              `Node (aka device) ID for this stream has changed. Was ${device}, now is ${dev}.`,
            ),
          );
        }
        const election = u128(a.election_id);
        if (election === 0n) return finish(fail(grpc.status.INVALID_ARGUMENT, "Invalid election ID."));
        device = dev;
        const list = this.controllers.get(dev) ?? [];
        if (list.some((c) => c.conn !== conn && c.election === election)) {
          return finish(
            fail(
              grpc.status.INVALID_ARGUMENT,
              `Election ID ${election} is already used by another controller.`,
            ),
          );
        }
        const wasPrimary = list[0]?.conn === conn;
        const rest = list.filter((c) => c.conn !== conn);
        const me: Controller = { conn, election, stream };
        rest.push(me);
        rest.sort((x, y) => (x.election > y.election ? -1 : x.election < y.election ? 1 : 0));
        this.controllers.set(dev, rest);
        const isPrimary = rest[0] === me;
        if (isPrimary || wasPrimary) this.announce(dev);
        else this.announce(dev, me);
      },
    );
    stream.on("end", () => finish());
    stream.on("error", () => {
      ended = true;
      this.remove(device, conn);
    });
    stream.on("cancelled", () => {
      ended = true;
      this.remove(device, conn);
    });
  }

  private remove(device: string | undefined, conn: number): void {
    if (device === undefined) return;
    const list = this.controllers.get(device) ?? [];
    const wasPrimary = list[0]?.conn === conn;
    const rest = list.filter((c) => c.conn !== conn);
    this.controllers.set(device, rest);
    if (wasPrimary && rest.length > 0) this.announce(device);
  }

  set(req: {
    device_id?: string;
    election_id?: { high?: string; low?: string };
    action?: string;
    config?: StoredConfig;
  }): Record<string, never> {
    const dev = req.device_id ?? "0";
    if (dev === "0") throw fail(grpc.status.INVALID_ARGUMENT, "Invalid device ID.");
    const election = u128(req.election_id);
    if (election === 0n) throw fail(grpc.status.INVALID_ARGUMENT, `Invalid election ID for node ${dev}.`);
    if (this.primary(dev)?.election !== election) {
      throw fail(
        grpc.status.PERMISSION_DENIED,
        `SetForwardingPipelineConfig from non-master is not permitted for node ${dev}.`,
      );
    }
    if (this.configs.size > 0) {
      throw fail(
        grpc.status.FAILED_PRECONDITION,
        "Only a single forwarding pipeline can be pushed for any node so far.",
      );
    }
    const action = req.action ?? "UNSPECIFIED";
    const needConfig = (): StoredConfig => {
      const c = req.config;
      if (!c?.p4_device_config || c.p4_device_config.length === 0) {
        throw fail(grpc.status.INVALID_ARGUMENT, `config.p4_device_config is empty for node ${dev}.`);
      }
      return c;
    };
    switch (action) {
      case "VERIFY":
        needConfig();
        return {};
      case "VERIFY_AND_SAVE":
        this.saved = new Map([[dev, needConfig()]]);
        return {};
      case "VERIFY_AND_COMMIT":
        this.configs.set(dev, needConfig());
        return {};
      case "COMMIT": {
        const s = this.saved?.get(dev);
        if (!s) throw fail(grpc.status.FAILED_PRECONDITION, `No saved config to commit for node ${dev}.`);
        this.configs.set(dev, s);
        return {};
      }
      case "RECONCILE_AND_COMMIT":
        throw fail(grpc.status.UNIMPLEMENTED, "RECONCILE_AND_COMMIT action not supported yet");
      default:
        throw fail(grpc.status.INVALID_ARGUMENT, `Invalid action passed for node ${dev}.`);
    }
  }

  get(req: { device_id?: string; response_type?: string }): { config: StoredConfig } {
    const dev = req.device_id ?? "0";
    if (dev === "0") throw fail(grpc.status.INVALID_ARGUMENT, "Invalid device ID.");
    if (this.configs.size === 0) {
      throw fail(
        grpc.status.FAILED_PRECONDITION,
        "No valid forwarding pipeline config has been pushed for any node so far.",
      );
    }
    const c = this.configs.get(dev);
    if (!c) {
      throw fail(
        grpc.status.FAILED_PRECONDITION,
        `Invalid node id or no valid forwarding pipeline config has been pushed for node ${dev} yet.`,
      );
    }
    const cookie = c.cookie ?? {};
    switch (req.response_type ?? "ALL") {
      case "ALL":
        return { config: c };
      case "COOKIE_ONLY":
        return { config: { cookie } };
      case "P4INFO_AND_COOKIE":
        return { config: { p4info: c.p4info, cookie } };
      case "DEVICE_CONFIG_AND_COOKIE":
        return { config: { p4_device_config: c.p4_device_config, cookie } };
      default:
        throw fail(grpc.status.INVALID_ARGUMENT, `Invalid action passed for node ${dev}.`);
    }
  }
}

// ---- wiring ------------------------------------------------------------------------------------

/**
 * Run every gNMI codec once on a sample message before serving: protobufjs generates each type's
 * encoder/decoder on first use (~tens of ms in all), which a native target never pays on a Set.
 * Touches no state.
 */
function warmGnmiCodecs(svc: grpc.ServiceDefinition): void {
  const update = leafUpdate("warm-up", "mtu", 1500) as WireUpdate;
  const samples: Record<string, [unknown, unknown]> = {
    Set: [{ update: [update] }, { response: [{ path: update.path, op: "UPDATE" }], timestamp: "0" }],
    Get: [
      { path: [update.path], type: "ALL", encoding: "PROTO" },
      { notification: [{ timestamp: "0", update: [update] }] },
    ],
    Capabilities: [{}, { supported_models: [], supported_encodings: ["PROTO"], gNMI_version: "0.7.0" }],
  };
  for (const [method, [req, res]] of Object.entries(samples)) {
    const m = svc[method];
    if (!m) continue;
    const decoded = m.requestDeserialize(m.requestSerialize(req)) as { update?: WireUpdate[] };
    if (method === "Set") for (const u of decoded.update ?? []) parseUpdate(undefined, u);
    m.responseDeserialize(m.responseSerialize(res));
  }
}

type Handler<Req, Res> = (req: Req) => Res | Promise<Res>;

function unaryHandler<Req, Res>(h: Handler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => h(call.request))
      .then(
        (res) => callback(null, res),
        (err: grpc.ServiceError) =>
          callback(err.code !== undefined ? err : fail(grpc.status.INTERNAL, String(err?.message ?? err))),
      );
  };
}

function bind(server: grpc.Server, address: string): Promise<void> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
}

function parseArgs(argv: string[]): { gnmi: string; p4rt: string; netns?: string } {
  const out: { gnmi: string; p4rt: string; netns?: string } = {
    gnmi: "127.0.0.1:9339",
    p4rt: "127.0.0.1:9559",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if ((a === "--gnmi" || a === "--p4rt" || a === "--netns") && v !== undefined) {
      out[a.slice(2) as "gnmi" | "p4rt" | "netns"] = v;
      i++;
    } else if (a === "--chassis-config" && v !== undefined) {
      // Placeholder until the sim helper's strict chassis handling is merged (take theirs).
      i++;
    } else {
      throw new Error(`usage: p4-target-sim [--gnmi ADDR] [--p4rt ADDR] [--netns NAME] (bad argument ${a})`);
    }
  }
  return out;
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const helper = new TapHelper(args.netns);
  const target = new Target(helper);
  const p4rt = new P4Rt();

  const gnmiServer = new grpc.Server();
  const gnmiSvc = lookup<{ service: grpc.ServiceDefinition }>(loadProto("gnmi.proto"), "gnmi.gNMI").service;
  gnmiServer.addService(gnmiSvc, {
    Capabilities: unaryHandler(() => ({
      supported_models: [
        { name: "openconfig-interfaces", organization: "OpenConfig working group", version: "2.0.0" },
      ],
      supported_encodings: ["PROTO"],
      gNMI_version: "0.7.0",
    })),
    Get: unaryHandler((req: Parameters<Target["get"]>[0]) => target.get(req)),
    Set: unaryHandler((req: Parameters<Target["set"]>[0]) => target.set(req)),
  });

  const p4Server = new grpc.Server();
  const p4Svc = lookup<{ service: grpc.ServiceDefinition }>(
    loadProto("p4runtime.proto"),
    "p4.v1.P4Runtime",
  ).service;
  p4Server.addService(p4Svc, {
    Capabilities: unaryHandler(() => ({ p4runtime_api_version: "1.3.0" })),
    SetForwardingPipelineConfig: unaryHandler((req: Parameters<P4Rt["set"]>[0]) => p4rt.set(req)),
    GetForwardingPipelineConfig: unaryHandler((req: Parameters<P4Rt["get"]>[0]) => p4rt.get(req)),
    StreamChannel: (stream: grpc.ServerDuplexStream<unknown, unknown>) => p4rt.streamChannel(stream),
  });

  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    gnmiServer.forceShutdown();
    p4Server.forceShutdown();
    await helper.stop();
    process.exit(code);
  };
  process.on("SIGTERM", () => void stop(0));
  process.on("SIGINT", () => void stop(0));
  void helper.done.then(() => {
    if (!stopping) {
      process.stderr.write("p4-target-sim: TAP helper exited; stopping\n");
      void stop(1);
    }
  });

  try {
    await helper.ready;
  } catch (err) {
    process.stderr.write(`p4-target-sim: ${(err as Error).message}\n`);
    await stop(1);
    return;
  }
  warmGnmiCodecs(gnmiSvc);
  try {
    await bind(gnmiServer, args.gnmi);
    await bind(p4Server, args.p4rt);
  } catch (err) {
    process.stderr.write(`p4-target-sim: cannot listen: ${(err as Error).message}\n`);
    await stop(1);
    return;
  }
  process.stdout.write("listening\n");
}

if (require.main === module) void main();
