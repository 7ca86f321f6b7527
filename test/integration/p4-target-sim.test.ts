/**
 * The P4 target simulator is as strict as P4-OVS 22.07's gNMI server (ipdk-io/ovs v22.07,
 * p4proto/p4rt/ and p4proto/bfIntf/bf_chassis_manager.cc): tree nodes only for the chassis
 * config's ports, one-time leaves, DoSet's order under one lock, ports numbered in the order they
 * are added, real TAPs that can be renamed, moved into a pod's netns and die with it. Real child
 * processes, real kernel TAPs, inside the test namespace.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { GnmiClient, portLeafPath, tapPortUpdates } from "../../daemon/host/gnmi-client";
import { grpcCode, LOOPBACK_CHANNEL_OPTIONS, loadProto, lookup, unary } from "../../daemon/host/grpc-channel";
import { parseChassisConfig, renderChassisConfig } from "../sim/chassis-config";
import { CHASSIS_256, RENAMED_CHASSIS, type RunningSim, STOCK_CHASSIS, startSim } from "../sim/launch";
import { poolNames } from "../sim/make-chassis-config";

const sims = new Set<RunningSim>();
const closers: (() => void)[] = [];
const scratch = mkdtempSync(join(tmpdir(), "p4-target-sim-test-"));
after(async () => {
  for (const c of closers) c();
  for (const s of sims) await s.stop("SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
});

let fileSeq = 0;
const portsFile = () => join(scratch, `ports-${fileSeq++}.json`);

async function sim(extra: string[] = []): Promise<RunningSim> {
  const s = await startSim(extra);
  sims.add(s);
  void s.exited.then(() => sims.delete(s));
  return s;
}

function client(s: RunningSim): GnmiClient {
  const c = new GnmiClient({ address: s.gnmi, timeoutMs: 5000 });
  closers.push(() => c.close());
  return c;
}

/** A plain gNMI stub, for SetRequests the daemon's client does not build (several updates, deletes). */
function raw(s: RunningSim): grpc.Client {
  const Ctor = lookup<grpc.ServiceClientConstructor>(loadProto("gnmi.proto"), "gnmi.gNMI");
  const c = new Ctor(s.gnmi, grpc.credentials.createInsecure(), LOOPBACK_CHANNEL_OPTIONS);
  closers.push(() => c.close());
  return c;
}

type Upd = {
  path: { elem: { name: string; key?: Record<string, string> }[] };
  val: { int_val?: string; string_val?: string };
};
/** The four updates that make port `name`, as the wire carries them (mtu as int_val). */
function portUpdates(name: string, mtu = 1500): Upd[] {
  return tapPortUpdates(name, { mtu }).map((u) => ({
    path: { elem: u.path.map((e) => (e.key ? { name: e.name, key: { ...e.key } } : { name: e.name })) },
    val: typeof u.value === "number" ? { int_val: String(u.value) } : { string_val: u.value },
  }));
}

async function rejects(p: Promise<unknown>, code: grpc.status, message: string | RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.equal(grpcCode(err), code, `expected ${grpc.status[code]}, got ${String(err)}`);
    const details = (err as grpc.ServiceError).details ?? (err as Error).message;
    if (typeof message === "string") assert.equal(details, message);
    else assert.match(details, message);
    return;
  }
  assert.fail(`expected ${grpc.status[code]}, but the call succeeded`);
}

interface PortsFile {
  ports: { name: string; port: number; kernel: string | null }[];
}
const readPorts = (f: string): PortsFile => JSON.parse(readFileSync(f, "utf8")) as PortsFile;

/** Kernel tun devices in this netns (or `ns`) whose names match. */
function tunNames(ns?: string): string[] {
  const argv = [...(ns ? ["-n", ns] : []), "-j", "-d", "link", "show"];
  const links = JSON.parse(execFileSync("ip", argv, { encoding: "utf8" })) as {
    ifname: string;
    linkinfo?: { info_kind?: string };
  }[];
  return links.filter((l) => l.linkinfo?.info_kind === "tun").map((l) => l.ifname);
}

async function until(what: string, f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const leafPath = (port: string, leaf: string) => `/interfaces/virtual-interface[name=${port}]/config/${leaf}`;
const unsupportedText = (port: string, leaf: string) =>
  `The path (elem { name: "interfaces" } elem { name: "virtual-interface" key { key: "name" value: "${port}" } } elem { name: "config" } elem { name: "${leaf}" }) is unsupported!`;

describe("chassis config fixtures", () => {
  test("stock: 56 ports, TAP0..TAP31 with ids 500..; renamed: P4TAP_0..31, every other line kept", () => {
    const stock = parseChassisConfig(readFileSync(STOCK_CHASSIS, "utf8"), STOCK_CHASSIS);
    assert.equal(stock.ports.length, 56);
    assert.deepEqual(stock.nodes, [1]);
    const taps = stock.ports.filter((p) => p.name.startsWith("TAP"));
    assert.deepEqual(
      taps.map((p) => p.name),
      poolNames(32, "TAP"),
    );
    assert.equal(taps[0]?.id, 500);
    assert.ok(stock.ports.every((p) => p.adminState === "ADMIN_STATE_ENABLED" && p.node === 1));
    const renamedText = readFileSync(RENAMED_CHASSIS, "utf8");
    const renamed = parseChassisConfig(renamedText, RENAMED_CHASSIS);
    assert.deepEqual(
      renamed.ports.filter((p) => p.name.startsWith("P4TAP_")).map((p) => p.name),
      poolNames(32),
    );
    // create_interfaces.sh's sed, done again here: the fixture is exactly its output.
    assert.equal(renamedText, readFileSync(STOCK_CHASSIS, "utf8").replace(/\bTAP/g, "P4TAP_"));
    assert.equal(readFileSync(CHASSIS_256, "utf8"), renderChassisConfig(poolNames(256)));
  });

  test("the reader: comments, <> messages, escapes, separators; errors name the file and line", () => {
    const cfg = parseChassisConfig(
      `# a comment\nnodes < id: 7 >\nsingleton_ports { id: 1, name: "A\\x41" "B" node: 7; config_params { admin_state: ADMIN_STATE_DIAG } }\n`,
      "x.pb.txt",
    );
    assert.deepEqual(cfg, {
      nodes: [7],
      ports: [{ id: 1, name: "AAB", node: 7, adminState: "ADMIN_STATE_DIAG" }],
    });
    assert.throws(
      () => parseChassisConfig('nodes {\n id: 1\n}\nsingleton_ports {\n name: "x"\n', "y.pb.txt"),
      /y\.pb\.txt:\d+: missing "}"/,
    );
    assert.throws(
      () => parseChassisConfig("singleton_ports { id: x1 }", "z"),
      /z: singleton_ports #1: id must be a whole number, got x1/,
    );
  });
});

describe("simulator: chassis config", () => {
  test("Sets only for the ports it names; other names get P4-OVS's unsupported-path error and no TAP", async () => {
    const s = await sim(["--chassis-config", RENAMED_CHASSIS]);
    const c = client(s);
    await c.createTapPort("P4TAP_31");
    await rejects(
      c.setLeaf(leafPath("P4TAP_32", "pipeline-name"), "pipe"),
      grpc.status.INVALID_ARGUMENT,
      unsupportedText("P4TAP_32", "pipeline-name"),
    );
    // The stock name is gone after the rename.
    await rejects(
      c.setLeaf(leafPath("TAP0", "mtu"), 1500),
      grpc.status.INVALID_ARGUMENT,
      unsupportedText("TAP0", "mtu"),
    );
    assert.deepEqual(tunNames(), ["P4TAP_31"]);
    await s.stop();

    // The stock file: TAP0 has a node, P4TAP_0 does not (a node not set up by create_interfaces.sh).
    const stock = await sim(["--chassis-config", STOCK_CHASSIS]);
    const c2 = client(stock);
    await rejects(c2.createTapPort("P4TAP_0"), grpc.status.INVALID_ARGUMENT, /P4TAP_0.*is unsupported!/);
    await c2.createTapPort("TAP0");
    assert.deepEqual(tunNames(), ["TAP0"]);
    await stock.stop();
    assert.deepEqual(tunNames(), []);
  });

  test("a missing file: no port at all and Get is FAILED_PRECONDITION; a malformed one: exit 2 naming it", async () => {
    const missing = join(scratch, "nope.pb.txt");
    const s = await sim(["--chassis-config", missing]);
    const c = client(s);
    await rejects(c.createTapPort("P4TAP_0"), grpc.status.INVALID_ARGUMENT, /is unsupported!/);
    await rejects(
      c.get([leafPath("P4TAP_0", "mtu")]),
      grpc.status.FAILED_PRECONDITION,
      "No valid chassis config has been pushed so far.",
    );
    assert.match(s.stderr(), /no chassis config at .*nope\.pb\.txt/);
    await s.stop();

    const bad = join(scratch, "bad.pb.txt");
    writeFileSync(bad, 'nodes { id: 1 }\nsingleton_ports { id: 1 name: "P4TAP_0" node: 1\n');
    await assert.rejects(startSim(["--chassis-config", bad]), /exited \(2\).*bad\.pb\.txt:\d+: missing "}"/s);
    const orphan = join(scratch, "orphan.pb.txt");
    writeFileSync(orphan, 'nodes { id: 1 }\nsingleton_ports { id: 9 name: "P4TAP_0" node: 2 }\n');
    await assert.rejects(startSim(["--chassis-config", orphan]), /unknown node id 2 for port 9/);
  });
});

describe("simulator: one-time leaves", () => {
  test("each leaf once; port-type alone adds the port with defaults; Get reads back what was set", async () => {
    const s = await sim(["--chassis-config", RENAMED_CHASSIS]);
    const c = client(s);
    const read = async (port: string) =>
      Object.fromEntries(
        (
          await c.get(["pipeline-name", "mempool-name", "mtu", "port-type"].map((l) => leafPath(port, l)))
        ).map((l) => [l.path.split("/").pop(), l.value]),
      );
    // Before any Set: "" for names, 0 for mtu and port-type (yang_parse_tree_paths.cc defaults).
    assert.deepEqual(await read("P4TAP_0"), {
      "pipeline-name": "",
      "mempool-name": "",
      mtu: 0,
      "port-type": 0,
    });
    await c.createTapPort("P4TAP_0");
    assert.deepEqual(await read("P4TAP_0"), {
      "pipeline-name": "pipe",
      "mempool-name": "MEMPOOL0",
      mtu: 1500,
      "port-type": "TAP",
    });
    const texts: Record<string, string> = {
      "pipeline-name": "pipeline-name is either already set (or) the PORT is already configured",
      "mempool-name": "mempool-name is either already set (or) the PORT is already configured",
      mtu: "MTU is either already set (or) the PORT is already configured",
      "port-type": "port-type is either already set (or) the PORT is already configured",
    };
    for (const u of tapPortUpdates("P4TAP_0")) {
      const leaf = u.path.at(-1)?.name as string;
      await rejects(c.setLeaf(u.path, u.value), grpc.status.INVALID_ARGUMENT, texts[leaf] as string);
    }
    // The one-time check comes before the value is looked at.
    await rejects(
      c.setLeaf(leafPath("P4TAP_0", "port-type"), "WORMHOLE"),
      grpc.status.INVALID_ARGUMENT,
      texts["port-type"] as string,
    );

    // port-type alone: the port is added with pipe / MEMPOOL0 / 1500; the other leaves are locked
    // although a Get still reads them unset.
    await c.setLeaf(leafPath("P4TAP_1", "port-type"), "TAP");
    const link = JSON.parse(
      execFileSync("ip", ["-j", "link", "show", "dev", "P4TAP_1"], { encoding: "utf8" }),
    ) as { mtu: number }[];
    assert.equal(link[0]?.mtu, 1500);
    assert.deepEqual(await read("P4TAP_1"), {
      "pipeline-name": "",
      "mempool-name": "",
      mtu: 0,
      "port-type": "TAP",
    });
    await rejects(
      c.setLeaf(leafPath("P4TAP_1", "mtu"), 9000),
      grpc.status.INVALID_ARGUMENT,
      texts.mtu as string,
    );
    await rejects(
      c.setLeaf(leafPath("P4TAP_1", "pipeline-name"), "pipe"),
      grpc.status.INVALID_ARGUMENT,
      texts["pipeline-name"] as string,
    );

    // A leaf set before port-type: one-time at once, and no TAP until port-type.
    await c.setLeaf(leafPath("P4TAP_2", "mtu"), 9000);
    await rejects(
      c.setLeaf(leafPath("P4TAP_2", "mtu"), 9000),
      grpc.status.INVALID_ARGUMENT,
      texts.mtu as string,
    );
    assert.ok(!tunNames().includes("P4TAP_2"));
    await c.setLeaf(leafPath("P4TAP_2", "port-type"), "tap");
    const l2 = JSON.parse(
      execFileSync("ip", ["-j", "link", "show", "dev", "P4TAP_2"], { encoding: "utf8" }),
    ) as { mtu: number }[];
    assert.equal(l2[0]?.mtu, 9000);

    // Over MAX_MTU: refused, and the port's bits are cleared (pipeline-name settable again).
    await c.setLeaf(leafPath("P4TAP_3", "pipeline-name"), "pipe");
    await rejects(
      c.setLeaf(leafPath("P4TAP_3", "mtu"), 70000),
      grpc.status.INVALID_ARGUMENT,
      "Unsupported MTU = 70000. MTU should be less than 65535",
    );
    await c.setLeaf(leafPath("P4TAP_3", "pipeline-name"), "pipe");

    // Leaves a TAP refuses, set before port-type: "Unsupported parameter list", bits cleared.
    await c.setLeaf(leafPath("P4TAP_4", "queues"), 4);
    await rejects(
      c.setLeaf(leafPath("P4TAP_4", "port-type"), "TAP"),
      grpc.status.INVALID_ARGUMENT,
      "Unsupported parameter list for given Port Type \n",
    );
    await c.setLeaf(leafPath("P4TAP_4", "queues"), 4);
    assert.deepEqual(tunNames().sort(), ["P4TAP_0", "P4TAP_1", "P4TAP_2"]);
    await s.stop();
  });

  test("a port whose kernel name is taken fails in the data plane and can be set up again later", async () => {
    const s = await sim(["--chassis-config", RENAMED_CHASSIS]);
    const c = client(s);
    execFileSync("ip", ["tuntap", "add", "dev", "P4TAP_5", "mode", "tap"]);
    await rejects(c.createTapPort("P4TAP_5"), grpc.status.INTERNAL, /^Failed to add port P4TAP_5/);
    execFileSync("ip", ["link", "del", "P4TAP_5"]);
    // ValidateAndAdd cleared the port's bits: every leaf can be sent again.
    await c.createTapPort("P4TAP_5");
    assert.deepEqual(tunNames(), ["P4TAP_5"]);
    await s.stop();
  });
});

describe("simulator: DoSet", () => {
  test("updates in order; the first failure ends the request and what came before stays", async () => {
    const file = portsFile();
    const s = await sim(["--chassis-config", RENAMED_CHASSIS, "--ports-file", file]);
    const g = raw(s);
    const c = client(s);
    // Port 0 whole, then port 1 whose mtu is refused, then port 2 which is never reached.
    const [p1a, p1b, , p1d] = portUpdates("P4TAP_1");
    const req = {
      update: [
        ...portUpdates("P4TAP_0"),
        p1a,
        p1b,
        portUpdates("P4TAP_1", 70000)[2],
        p1d,
        ...portUpdates("P4TAP_2"),
      ],
    };
    await rejects(
      unary(g, "Set", req, 5000),
      grpc.status.INVALID_ARGUMENT,
      "Unsupported MTU = 70000. MTU should be less than 65535",
    );
    assert.deepEqual(tunNames(), ["P4TAP_0"]);
    assert.deepEqual(readPorts(file).ports, [{ name: "P4TAP_0", port: 0, kernel: "P4TAP_0" }]);
    // P4TAP_1's pipeline-name reads as set (its Set succeeded); P4TAP_2 was never touched.
    const got = await c.get([leafPath("P4TAP_1", "pipeline-name"), leafPath("P4TAP_2", "pipeline-name")]);
    assert.deepEqual(
      got.map((l) => l.value),
      ["pipe", ""],
    );

    // A whole request that succeeds answers one UpdateResult per update, in order.
    const ok = (await unary(
      g,
      "Set",
      { update: [...portUpdates("P4TAP_3"), ...portUpdates("P4TAP_4")] },
      5000,
    )) as {
      response: { op: string; path: { elem: { name: string }[] } }[];
    };
    assert.deepEqual(
      ok.response.map((r) => `${r.op} ${r.path.elem.at(-1)?.name}`),
      [
        "pipeline-name",
        "mempool-name",
        "mtu",
        "port-type",
        "pipeline-name",
        "mempool-name",
        "mtu",
        "port-type",
      ].map((l) => `UPDATE ${l}`),
    );
    assert.deepEqual(
      readPorts(file).ports.map((p) => [p.name, p.port]),
      [
        ["P4TAP_0", 0],
        ["P4TAP_3", 1],
        ["P4TAP_4", 2],
      ],
    );

    // The prefix is not applied (DoSet hands update.path() alone to the tree).
    const prefixed = {
      prefix: {
        elem: [
          { name: "interfaces" },
          { name: "virtual-interface", key: { name: "P4TAP_6" } },
          { name: "config" },
        ],
      },
      update: [{ path: { elem: [{ name: "mtu" }] }, val: { int_val: "1500" } }],
    };
    await rejects(
      unary(g, "Set", prefixed, 5000),
      grpc.status.INVALID_ARGUMENT,
      'The path (elem { name: "mtu" }) is unsupported!',
    );
    // Deletes come first, and no port path can be deleted.
    await rejects(
      unary(g, "Set", { delete: [portUpdates("P4TAP_7")[0]?.path], update: portUpdates("P4TAP_7") }, 5000),
      grpc.status.UNKNOWN,
      /^unsupported mode: DELETE for: 'elem \{ name: "interfaces" \}/,
    );
    // A node without a set handler: UNAVAILABLE "Unsupported mode", nothing applied. (Raw: the
    // daemon's client would retry an UNAVAILABLE for its whole retry budget.)
    const configNode = { elem: portLeafPath("P4TAP_7", "mtu").slice(0, 3) };
    await rejects(
      unary(g, "Set", { update: [{ path: configNode, val: { int_val: "1" } }] }, 5000),
      grpc.status.UNAVAILABLE,
      `Unsupported mode: UPDATE for: 'elem { name: "interfaces" } elem { name: "virtual-interface" key { key: "name" value: "P4TAP_7" } } elem { name: "config" }'`,
    );
    assert.deepEqual(tunNames().sort(), ["P4TAP_0", "P4TAP_3", "P4TAP_4"]);
    await s.stop();
  });

  test("a request whose second port the data plane refuses: the first made, the second cleared, the third untouched", async () => {
    // The simulator makes a request's TAPs in one exchange with its helper (gnmi-target.ts
    // doSetBatched); the outcome must be that of making them one at a time, in order.
    const file = portsFile();
    const s = await sim(["--chassis-config", RENAMED_CHASSIS, "--ports-file", file]);
    const g = raw(s);
    const c = client(s);
    execFileSync("ip", ["tuntap", "add", "dev", "P4TAP_1", "mode", "tap"]);
    try {
      const req = {
        update: [...portUpdates("P4TAP_0"), ...portUpdates("P4TAP_1"), ...portUpdates("P4TAP_2")],
      };
      await rejects(unary(g, "Set", req, 5000), grpc.status.INTERNAL, /^Failed to add port P4TAP_1/);
      assert.deepEqual(readPorts(file).ports, [{ name: "P4TAP_0", port: 0, kernel: "P4TAP_0" }]);
      // P4TAP_0 whole; P4TAP_1's leaves were cleared by the refusal (ValidateAndAdd clears the mask, the
      // values shown stay those of its Sets that succeeded); P4TAP_2 never reached.
      const got = await c.get([
        leafPath("P4TAP_0", "port-type"),
        leafPath("P4TAP_2", "pipeline-name"),
        leafPath("P4TAP_2", "port-type"),
      ]);
      assert.deepEqual(
        got.map((l) => l.value),
        ["TAP", "", 0],
      );
      assert.deepEqual(tunNames().sort(), ["P4TAP_0", "P4TAP_1"], "no TAP made after the refused one");
    } finally {
      execFileSync("ip", ["link", "del", "P4TAP_1"]);
    }
    // Its bits cleared, P4TAP_1 can be set up again, and is numbered after P4TAP_0.
    await c.createTapPort("P4TAP_1");
    await c.createTapPort("P4TAP_2");
    assert.deepEqual(
      readPorts(file).ports.map((p) => [p.name, p.port]),
      [
        ["P4TAP_0", 0],
        ["P4TAP_1", 1],
        ["P4TAP_2", 2],
      ],
    );
    await s.stop();
  });

  test("concurrent requests are serialized: the same port sent twice at once is made once, the other gets the one-time error", async () => {
    const s = await sim(["--chassis-config", RENAMED_CHASSIS]);
    const g = raw(s);
    const results = await Promise.allSettled(
      [0, 1, 2, 3].map(() => unary(g, "Set", { update: portUpdates("P4TAP_9") }, 5000)),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results.filter((x) => x.status === "rejected")) {
      const e = (r as PromiseRejectedResult).reason as grpc.ServiceError;
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(e.details, "pipeline-name is either already set (or) the PORT is already configured");
    }
    assert.deepEqual(tunNames(), ["P4TAP_9"]);
    await s.stop();
  });
});

describe("simulator: port numbers and TAPs handed to pods", () => {
  test("numbered in the order added, readable from the ports file and tdi-portin-id; out of order scrambles", async () => {
    const file = portsFile();
    const s = await sim(["--chassis-config", CHASSIS_256, "--ports-file", file]);
    const c = client(s);
    assert.deepEqual(readPorts(file), { ports: [] });
    for (const n of poolNames(8)) await c.createTapPort(n);
    assert.deepEqual(
      readPorts(file).ports,
      poolNames(8).map((name, port) => ({ name, port, kernel: name })),
    );
    const ids = await c.get(poolNames(8).map((n) => leafPath(n, "tdi-portin-id")));
    assert.deepEqual(
      ids.map((l) => l.value),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
    // Out of order (as 64 Sets in flight can do): P4TAP_12 before P4TAP_10 gets the lower number.
    await c.createTapPort("P4TAP_12");
    await c.createTapPort("P4TAP_10");
    const [p12, p10] = await c.get([
      leafPath("P4TAP_12", "tdi-portin-id"),
      leafPath("P4TAP_10", "tdi-portin-id"),
    ]);
    assert.deepEqual([p12?.value, p10?.value], [8, 9]);
    await s.stop();
  });

  test("moved into a pod's netns and renamed eth0, then the netns deleted: gone, never made again until the target restarts", async () => {
    const file = portsFile();
    const s = await sim(["--chassis-config", RENAMED_CHASSIS, "--ports-file", file, "--ports-poll-ms", "20"]);
    const c = client(s);
    for (const n of poolNames(3)) await c.createTapPort(n);
    const pod = `simpod-${process.pid}`;
    execFileSync("ip", ["netns", "add", pod]);
    try {
      // What the CNI agent (pkg/netconf/tap.go) does: down, into the pod's netns, renamed eth0, up.
      execFileSync("ip", ["link", "set", "P4TAP_1", "down"]);
      execFileSync("ip", ["link", "set", "P4TAP_1", "netns", pod]);
      execFileSync("ip", ["-n", pod, "link", "set", "P4TAP_1", "name", "eth0"]);
      execFileSync("ip", ["-n", pod, "link", "set", "eth0", "up"]);
      assert.deepEqual(tunNames(pod), ["eth0"]);
      await until("the ports file shows eth0", () => readPorts(file).ports[1]?.kernel === "eth0");
      // P4TAP_0 renamed in place (TAP_0, as the daemon does): followed too.
      execFileSync("ip", ["link", "set", "P4TAP_0", "name", "TAP_0"]);
      await until("the ports file shows TAP_0", () => readPorts(file).ports[0]?.kernel === "TAP_0");
    } finally {
      execFileSync("ip", ["netns", "del", pod]);
    }
    await until("P4TAP_1's kernel side gone", () => readPorts(file).ports[1]?.kernel === null);
    assert.deepEqual(readPorts(file).ports, [
      { name: "P4TAP_0", port: 0, kernel: "TAP_0" },
      { name: "P4TAP_1", port: 1, kernel: null },
      { name: "P4TAP_2", port: 2, kernel: "P4TAP_2" },
    ]);
    await rejects(
      c.createTapPort("P4TAP_1"),
      grpc.status.INVALID_ARGUMENT,
      "pipeline-name is either already set (or) the PORT is already configured",
    );
    await rejects(
      c.setLeaf(portLeafPath("P4TAP_1", "port-type"), "TAP"),
      grpc.status.INVALID_ARGUMENT,
      /^port-type is either already set/,
    );
    assert.ok(!tunNames().includes("P4TAP_1"), "not made again");
    await s.stop();
    assert.deepEqual(tunNames(), [], "every TAP died with the target, TAP_0 included");

    // A restarted target starts empty: the port can be made again, and numbering starts over.
    const again = await sim(["--chassis-config", RENAMED_CHASSIS, "--ports-file", file]);
    assert.deepEqual(readPorts(file), { ports: [] });
    const c2 = client(again);
    await c2.createTapPort("P4TAP_1");
    assert.deepEqual(readPorts(file).ports, [{ name: "P4TAP_1", port: 0, kernel: "P4TAP_1" }]);
    await again.stop();
    assert.ok(existsSync(file));
  });
});

describe("simulator: Get", () => {
  test("PROTO only; unknown paths are the unsupported error; a subtree answers every leaf under it", async () => {
    const s = await sim(["--chassis-config", RENAMED_CHASSIS]);
    const g = raw(s);
    const c = client(s);
    const path = { elem: portLeafPath("P4TAP_0", "mtu") };
    await rejects(
      unary(g, "Get", { path: [path] }, 5000),
      grpc.status.INVALID_ARGUMENT,
      "Get response can only be encoded as PROTO.",
    );
    await rejects(
      unary(g, "Get", { path: [{ elem: [] }], encoding: "PROTO" }, 5000),
      grpc.status.INVALID_ARGUMENT,
      "Get '/' can be done for CONFIG elements only.",
    );
    await rejects(
      c.get([leafPath("P4TAP_99", "mtu")]),
      grpc.status.INVALID_ARGUMENT,
      unsupportedText("P4TAP_99", "mtu"),
    );
    await c.createTapPort("P4TAP_0");
    const all = await c.get(["/interfaces/virtual-interface[name=P4TAP_0]/config"]);
    const byLeaf = new Map(
      all.map((l) => [l.path.replace("/interfaces/virtual-interface[name=P4TAP_0]/config/", ""), l.value]),
    );
    assert.equal(byLeaf.get("mtu"), 1500);
    assert.equal(byLeaf.get("port-type"), "TAP");
    assert.equal(byLeaf.get("tdi-portin-id"), 0);
    assert.equal(byLeaf.get("counters/in-octets"), 0);
    // The wildcard: every port's state/name.
    const names = await c.get(["/interfaces/virtual-interface[name=*]/state/name"]);
    assert.equal(names.length, 56);
    assert.ok(
      names.some(
        (l) => l.path === "/interfaces/virtual-interface[name=P4TAP_31]/state/name" && l.value === "P4TAP_31",
      ),
    );
    await s.stop();
  });
});
