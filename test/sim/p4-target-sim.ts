/**
 * P4 target simulator: a stand-in for P4-OVS 22.07's gNMI (port config) and P4Runtime services,
 * which cannot run here. It follows the real protocol and P4-OVS's observable behaviour, read from
 * ipdk-io/ovs tag v22.07 (a0a623af26347d9fc441c35cd1126a12e75d8d97); every rule cites its file.
 *
 *   node dist/test/sim/p4-target-sim.js [--gnmi ADDR] [--p4rt ADDR] [--netns NAME]
 *        [--chassis-config PATH] [--ports-file PATH] [--ports-poll-ms MS]
 *
 * --gnmi ADDR, --p4rt ADDR  listen addresses (default 127.0.0.1:9339 and 127.0.0.1:9559).
 * --netns NAME              make the TAPs in that network namespace (gRPC stays in ours).
 * --chassis-config PATH     the Stratum chassis config, protobuf text as
 *                           /usr/share/stratum/dpdk_port_config.pb.txt: only its singleton_ports
 *                           names have gNMI tree nodes (yang_parse_tree.cc ProcessPushedConfig);
 *                           Sets for other names get INVALID_ARGUMENT "The path (...) is
 *                           unsupported!". A missing file: no port at all, Get FAILED_PRECONDITION
 *                           (config_monitoring_service.cc PushSavedChassisConfig / DoGet); a file
 *                           that does not parse: exit 2.
 *                           Without --chassis-config: every port name has a tree node (tests of
 *                           other rules only).
 * --ports-file PATH         JSON {"ports":[{"name":"P4TAP_0","port":0,"kernel":"TAP_0"|null}]}:
 *                           the ports in the order they were added with their data-plane numbers
 *                           and the TAP's current kernel name (renamed, moved to another netns:
 *                           its new name; deleted or died with its netns: null). Rewritten
 *                           atomically (temp file + rename) before answering a Set that added a
 *                           port, and when a kernel name changes (looked at every --ports-poll-ms,
 *                           default 250, once no request came for that long).
 *
 * Prints `listening` on stdout once both servers are bound.
 *
 * gNMI (service gnmi.gNMI), see gnmi-target.ts for the rules and their sources:
 * - Set (DoSet): one SetRequest at a time (config_lock_); deletes, then replaces, then updates, in
 *   order; the first failure ends the request with its error and what came before stays applied.
 *   The prefix is not applied to the paths. Tree lookup as FindNodeOrNull.
 * - Config leaves are one-time (ValidateOnetimeConfig): "<leaf> is either already set (or) the PORT
 *   is already configured". port-type TAP adds the port (ValidateAndAdd; missing pipeline-name,
 *   mempool-name, mtu take pipe, MEMPOOL0, 1500): a REAL kernel TAP named as the port, before the
 *   Set is answered, and the next data-plane port number (0, 1, ... in the order ports are added).
 *   A port whose TAP is gone stays configured: it is not made again until this process restarts.
 * - Get (DoGet): encoding PROTO only; any tree node; config leaves answer what their last
 *   successful Set sent ("" / 0 before); config/tdi-portin-id and tdi-portout-id answer the port
 *   number (uint_val; 0 before the port is added).
 * - Capabilities: gNMI 0.7.0, PROTO encoding.
 *
 * TAPs live and die with this process, as DPDK TAPs do with ovs-vswitchd (tap-helper.ts): a python3
 * helper holds them open, non-persistent; SIGTERM/SIGINT close the servers, wait for the helper to
 * exit (TAPs gone), then exit 0; SIGKILL loses nothing either (the helper's pipe closes).
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
import { existsSync, readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { loadProto, lookup } from "../../daemon/host/grpc-channel";
import { type ChassisConfig, parseChassisConfig } from "./chassis-config";
import {
  decodeGetRequest,
  decodeSetRequest,
  encodeGetResponse,
  encodeSetResponse,
  type WireGetResponse,
  type WireSetResponse,
} from "./gnmi-sim-wire";
import { fail, GnmiTarget, type WireGetRequest, type WireSetRequest } from "./gnmi-target";
import { TapHelper } from "./tap-helper";

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
  const path = {
    elem: [
      { name: "interfaces" },
      { name: "virtual-interface", key: { name: "warm-up" } },
      { name: "config" },
      { name: "mtu" },
    ],
  };
  const update = { path, val: { int_val: "1500" } };
  const samples: Record<string, [unknown, unknown]> = {
    Set: [{ update: [update] }, { response: [{ path, op: "UPDATE" }], timestamp: "0" }],
    Get: [
      { path: [path], type: "ALL", encoding: "PROTO" },
      { notification: [{ timestamp: "0", update: [{ path, val: { uint_val: "1500" } }] }] },
    ],
    Capabilities: [{}, { supported_models: [], supported_encodings: ["PROTO"], gNMI_version: "0.7.0" }],
  };
  for (const [method, [req, res]] of Object.entries(samples)) {
    const m = svc[method];
    if (!m) continue;
    m.requestDeserialize(m.requestSerialize(req));
    m.responseDeserialize(m.responseSerialize(res));
  }
}

/**
 * Run the Set and Get paths (request decode, DoSet/DoGet on a scratch target that makes no TAP,
 * response encode) on pool-shaped requests before serving, WARM_ROUNDS times: V8 otherwise runs
 * them in its interpreter during a pool's first Sets and compiles them meanwhile, ~5-20x slower than
 * once optimised (a 64-port Set's codecs alone: ~20 ms of CPU on the first call, ~1-2 ms from about
 * the sixth), which a native target never charges its client. Each round has a scratch target of its
 * own (ports "warm-up-k" on a chassis of its own) and a stand-in for the TAP helper: the real
 * target, its ports and the kernel are not touched.
 */
const WARM_ROUNDS = 10;

async function warmSetPath(svc: grpc.ServiceDefinition): Promise<void> {
  const m = svc.Set;
  const g = svc.Get;
  if (!m || !g) return;
  const ports = Array.from({ length: 64 }, (_, k) => `warm-up-${k}`);
  const stand = {
    addMany: async (taps: readonly unknown[]) => taps.map(() => ({ ifindex: 0, fd: -1 })),
    add: async () => ({ ifindex: 0, fd: -1 }),
    kernelName: () => null,
  } as unknown as TapHelper;
  const leaf = (name: string, l: string, val: unknown) => ({
    path: {
      elem: [
        { name: "interfaces" },
        { name: "virtual-interface", key: { name } },
        { name: "config" },
        { name: l },
      ],
    },
    val,
  });
  // One request of 64 ports (the pool's leaves, in its order), as the client's codec writes it.
  const update = ports.flatMap((name) => [
    leaf(name, "pipeline-name", { string_val: "pipe" }),
    leaf(name, "mempool-name", { string_val: "MEMPOOL0" }),
    leaf(name, "mtu", { int_val: "1500" }),
    leaf(name, "port-type", { string_val: "TAP" }),
  ]);
  const setBytes = m.requestSerialize({ update });
  // A pool-shaped Get (GnmiClient.readPool: every port's port-type, then port 0's other leaves).
  const path = [
    ...ports.map((name) => leaf(name, "port-type", undefined).path),
    ...["pipeline-name", "mempool-name", "mtu"].map((l) => leaf(ports[0] as string, l, undefined).path),
  ];
  const getBytes = g.requestSerialize({ path, type: "ALL", encoding: "PROTO" });
  for (let round = 0; round < WARM_ROUNDS; round++) {
    const scratch = new GnmiTarget(stand, {
      chassis: {
        nodes: [1],
        ports: ports.map((name, id) => ({ id, name, node: 1, adminState: "ADMIN_STATE_ENABLED" })),
      },
    });
    const read = g.requestDeserialize(getBytes) as WireGetRequest;
    const before = await scratch.get(read).catch(() => null);
    if (before) g.responseSerialize(before);
    const res = await scratch.set(m.requestDeserialize(setBytes) as WireSetRequest).catch(() => null);
    if (res) m.responseSerialize(res);
    const after = await scratch.get(read).catch(() => null);
    if (after) g.responseSerialize(after);
  }
}

/**
 * One Capabilities and one Get (a chassis port's port-type: reads, changes nothing) through a client
 * of this process, before "listening": the first request otherwise runs the server's whole path
 * (HTTP/2 session, handlers, the tree's Get) through V8's interpreter, tens of ms a native target
 * never charges the client's first call. Any failure here is ignored: it only warms.
 */
async function warmServePath(
  svc: grpc.ServiceDefinition,
  address: string,
  port: string | null,
): Promise<void> {
  const Client = grpc.makeGenericClientConstructor(svc, "gNMI");
  const c = new Client(address, grpc.credentials.createInsecure());
  const call = (method: string, req: unknown) =>
    new Promise<void>((resolve) => {
      const fn = (c as unknown as Record<string, (...a: unknown[]) => void>)[method];
      fn?.call(c, req, { deadline: Date.now() + 2000 }, () => resolve());
    });
  try {
    await call("Capabilities", {});
    if (port) {
      const elem = [
        { name: "interfaces" },
        { name: "virtual-interface", key: { name: port } },
        { name: "config" },
        { name: "port-type" },
      ];
      await call("Get", { path: [{ elem }], type: "ALL", encoding: "PROTO" });
    }
  } finally {
    c.close();
  }
}

/**
 * gnmi.gNMI as served: Set and Get read and answered by gnmi-sim-wire.ts (the same objects and bytes
 * as proto-loader's codecs, without protobufjs's cost, which a native target does not have);
 * Capabilities, and the client side of each method (the warm-up's client), through proto-loader.
 */
function servedGnmi(svc: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const set = svc.Set as grpc.MethodDefinition<unknown, unknown>;
  const get = svc.Get as grpc.MethodDefinition<unknown, unknown>;
  return {
    ...svc,
    Set: {
      ...set,
      requestDeserialize: decodeSetRequest,
      responseSerialize: (res: unknown) => encodeSetResponse(res as WireSetResponse),
    },
    Get: {
      ...get,
      requestDeserialize: decodeGetRequest,
      responseSerialize: (res: unknown) => encodeGetResponse(res as WireGetResponse),
    },
  };
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

interface Args {
  gnmi: string;
  p4rt: string;
  netns?: string;
  chassisConfig?: string;
  portsFile?: string;
  portsPollMs: number;
}

const USAGE =
  "usage: p4-target-sim [--gnmi ADDR] [--p4rt ADDR] [--netns NAME] [--chassis-config PATH] [--ports-file PATH] [--ports-poll-ms MS]";

export function parseArgs(argv: string[]): Args {
  const out: Args = { gnmi: "127.0.0.1:9339", p4rt: "127.0.0.1:9559", portsPollMs: 250 };
  const keys: Record<string, keyof Args> = {
    "--gnmi": "gnmi",
    "--p4rt": "p4rt",
    "--netns": "netns",
    "--chassis-config": "chassisConfig",
    "--ports-file": "portsFile",
    "--ports-poll-ms": "portsPollMs",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = argv[i + 1];
    const key = keys[a];
    if (!key || v === undefined) throw new Error(`${USAGE} (bad argument ${a})`);
    if (key === "portsPollMs") {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 10)
        throw new Error(`--ports-poll-ms must be a whole number >= 10, got ${v}`);
      out.portsPollMs = n;
    } else out[key] = v;
    i++;
  }
  return out;
}

/** The chassis config named by --chassis-config: parsed; null when the file does not exist. */
function readChassis(file: string): ChassisConfig | null {
  if (!existsSync(file)) {
    process.stderr.write(`p4-target-sim: no chassis config at ${file}: no port has a gNMI tree node\n`);
    return null;
  }
  const cfg = parseChassisConfig(readFileSync(file, "utf8"), file);
  // bf_chassis_manager.cc PushChassisConfig: a port on an unknown node fails the whole config.
  for (const p of cfg.ports) {
    if (!cfg.nodes.includes(p.node)) {
      throw new Error(`${file}: Invalid ChassisConfig, unknown node id ${p.node} for port ${p.id}.`);
    }
  }
  return cfg;
}

async function main(): Promise<void> {
  let args: Args;
  let chassis: ChassisConfig | null | undefined;
  try {
    args = parseArgs(process.argv.slice(2));
    chassis = args.chassisConfig === undefined ? undefined : readChassis(args.chassisConfig);
  } catch (err) {
    process.stderr.write(`p4-target-sim: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const helper = new TapHelper(args.netns);
  const target = new GnmiTarget(helper, { chassis, portsFile: args.portsFile });
  const p4rt = new P4Rt();

  const gnmiServer = new grpc.Server();
  const gnmiSvc = servedGnmi(
    lookup<{ service: grpc.ServiceDefinition }>(loadProto("gnmi.proto"), "gnmi.gNMI").service,
  );
  gnmiServer.addService(gnmiSvc, {
    Capabilities: unaryHandler(() => ({
      supported_models: [
        { name: "openconfig-interfaces", organization: "OpenConfig working group", version: "2.0.0" },
      ],
      supported_encodings: ["PROTO"],
      gNMI_version: "0.7.0",
    })),
    Get: unaryHandler((req: WireGetRequest) => target.get(req)),
    Set: unaryHandler((req: WireSetRequest) => target.set(req)),
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
  let poll: NodeJS.Timeout | undefined;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (poll) clearInterval(poll);
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

  // While python3 starts (the TAP helper): the codecs and the Set/Get paths, warmed.
  warmGnmiCodecs(gnmiSvc);
  await warmSetPath(gnmiSvc);
  try {
    await helper.ready;
  } catch (err) {
    process.stderr.write(`p4-target-sim: ${(err as Error).message}\n`);
    await stop(1);
    return;
  }
  target.buildAll();
  try {
    await bind(gnmiServer, args.gnmi);
    await bind(p4Server, args.p4rt);
  } catch (err) {
    process.stderr.write(`p4-target-sim: cannot listen: ${(err as Error).message}\n`);
    await stop(1);
    return;
  }
  await warmServePath(gnmiSvc, args.gnmi, target.firstPortName());
  // A look only after a whole period without requests: not between the Sets of a pool being made.
  if (args.portsFile) poll = setInterval(() => target.refreshKernelNames(args.portsPollMs), args.portsPollMs);
  process.stdout.write("listening\n");
}

if (require.main === module) void main();
