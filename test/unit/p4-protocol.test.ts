/**
 * The gRPC protocol pieces (GnmiClient, P4RuntimeClient, loopback channel options) against the P4
 * target simulator run as a real child process in the test namespace, with real kernel TAPs.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { GnmiClient, parsePath, tapPortUpdates } from "../../daemon/host/gnmi-client";
import { grpcCode, LOOPBACK_CHANNEL_OPTIONS, loadProto, lookup, unary } from "../../daemon/host/grpc-channel";
import { encodeSetPipelineRequest, P4RuntimeClient } from "../../daemon/host/p4runtime-client";

const SIM = resolve(__dirname, "..", "sim", "p4-target-sim.js");
const sims = new Set<ChildProcess>();
const clients: { close(): void }[] = [];
after(() => {
  for (const c of clients) c.close();
  for (const s of sims) s.kill("SIGKILL");
});

let nextPort = 23_000;
function addrs(): { gnmi: string; p4rt: string } {
  nextPort += 2;
  return { gnmi: `127.0.0.1:${nextPort}`, p4rt: `127.0.0.1:${nextPort + 1}` };
}

interface Sim {
  proc: ChildProcess;
  exited: Promise<void>;
}

/** Start the simulator; resolves once it printed `listening`. */
function startSim(a: { gnmi: string; p4rt: string }): Promise<Sim> {
  const proc = spawn(process.execPath, [SIM, "--gnmi", a.gnmi, "--p4rt", a.p4rt], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  sims.add(proc);
  const exited = new Promise<void>((r) =>
    proc.on("exit", () => {
      sims.delete(proc);
      r();
    }),
  );
  let err = "";
  proc.stderr?.on("data", (d) => {
    err += String(d);
  });
  return new Promise((resolveSim, reject) => {
    const t = setTimeout(() => reject(new Error(`simulator not listening within 10 s: ${err}`)), 10_000);
    proc.stdout?.on("data", (d) => {
      if (String(d).includes("listening")) {
        clearTimeout(t);
        resolveSim({ proc, exited });
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`simulator exited (${code}): ${err}`));
    });
  });
}

async function stopSim(s: Sim, sig: NodeJS.Signals = "SIGTERM"): Promise<void> {
  s.proc.kill(sig);
  await s.exited;
}

interface Link {
  ifname: string;
  ifindex: number;
  linkinfo?: { info_kind?: string };
}

/** Kernel TAP/TUN devices whose names start with `prefix`, by ifindex (one `ip -j` listing). */
function taps(prefix: string): Link[] {
  const links = JSON.parse(execFileSync("ip", ["-j", "-d", "link", "show"], { encoding: "utf8" })) as Link[];
  return links
    .filter((l) => l.linkinfo?.info_kind === "tun" && l.ifname.startsWith(prefix))
    .sort((x, y) => x.ifindex - y.ifindex);
}

function gnmi(a: { gnmi: string }, timeoutMs = 5000): GnmiClient {
  const c = new GnmiClient({ address: a.gnmi, timeoutMs });
  clients.push(c);
  return c;
}
function p4rt(a: { p4rt: string }): P4RuntimeClient {
  const c = new P4RuntimeClient({ address: a.p4rt, timeoutMs: 3000 });
  clients.push(c);
  return c;
}

async function rejectsWith(p: Promise<unknown>, code: grpc.status, re?: RegExp): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.equal(grpcCode(err), code, `expected ${grpc.status[code]}, got ${String(err)}`);
    const msg = (err as Error).message;
    if (re) assert.match(msg, re);
    return msg;
  }
  assert.fail(`expected ${grpc.status[code]}, but the call succeeded`);
}

describe("gNMI request shapes (as gnmi-cli sends them)", () => {
  test("one update per leaf: pipeline-name, mempool-name, mtu as int_val, port-type last", () => {
    const ups = tapPortUpdates("P4TAP_0");
    assert.deepEqual(
      ups.map((u) => [u.path.map((e) => e.name).join("/"), u.path[1]?.key, u.value]),
      [
        ["interfaces/virtual-interface/config/pipeline-name", { name: "P4TAP_0" }, "pipe"],
        ["interfaces/virtual-interface/config/mempool-name", { name: "P4TAP_0" }, "MEMPOOL0"],
        ["interfaces/virtual-interface/config/mtu", { name: "P4TAP_0" }, 1500],
        ["interfaces/virtual-interface/config/port-type", { name: "P4TAP_0" }, "TAP"],
      ],
    );
    assert.throws(() => tapPortUpdates("X", { device: "bogus" as "virtual-device" }), /virtual-device/);
  });

  test("path parsing", () => {
    assert.deepEqual(parsePath("/interfaces/virtual-interface[name=P4TAP_3]/config/mtu"), [
      { name: "interfaces" },
      { name: "virtual-interface", key: { name: "P4TAP_3" } },
      { name: "config" },
      { name: "mtu" },
    ]);
    assert.throws(() => parsePath("interfaces"), /start with/);
    assert.throws(() => parsePath("/a[b]"), /malformed/);
  });

  test("SetForwardingPipelineConfig hand encoding", () => {
    const b = encodeSetPipelineRequest({
      deviceId: 1n,
      electionId: { high: 0n, low: 1n },
      action: 3n,
      deviceConfig: Buffer.from("AB"),
      cookie: 300n,
    });
    // device_id=1; election_id {low=1}; action=3; config {p4_device_config="AB", cookie {cookie=300}}
    assert.equal(b.toString("hex"), "08011a0210012003" + "2a09" + "12024142" + "1a0308ac02");
  });
});

describe("gNMI against the simulator", () => {
  test("capabilities", async () => {
    const a = addrs();
    const sim = await startSim(a);
    const c = gnmi(a);
    const caps = await c.capabilities();
    assert.equal(caps.gnmiVersion, "0.7.0");
    assert.ok(caps.encodings.includes("PROTO"));
    await stopSim(sim);
  });

  test("a pool of 8: exactly those TAPs in the kernel, P4TAP_0 first; Get returns the leaves; SIGTERM removes them", async () => {
    const a = addrs();
    const sim = await startSim(a);
    const c = gnmi(a);
    const names = Array.from({ length: 8 }, (_, i) => `P4TAP_${i}`);
    await c.createPool(names, 4);
    const got = taps("P4TAP_");
    assert.deepEqual(got.map((l) => l.ifname).sort(), [...names].sort());
    assert.equal(got[0]?.ifname, "P4TAP_0", "P4TAP_0 is created before any other");
    const leaves = await c.get(
      ["pipeline-name", "mempool-name", "mtu", "port-type"].map(
        (l) => `/interfaces/virtual-interface[name=P4TAP_5]/config/${l}`,
      ),
    );
    assert.deepEqual(Object.fromEntries(leaves.map((l) => [l.path.split("/").pop(), l.value])), {
      "pipeline-name": "pipe",
      "mempool-name": "MEMPOOL0",
      mtu: 1500,
      "port-type": "TAP",
    });
    const mtu = await c.get(["/interfaces/virtual-interface[name=P4TAP_5]/config/mtu"]);
    assert.deepEqual(mtu, [{ path: "/interfaces/virtual-interface[name=P4TAP_5]/config/mtu", value: 1500 }]);
    const link = JSON.parse(
      execFileSync("ip", ["-j", "link", "show", "dev", "P4TAP_5"], { encoding: "utf8" }),
    ) as {
      mtu: number;
    }[];
    assert.equal(link[0]?.mtu, 1500);
    // Every config leaf is one-time (P4-OVS ValidateOnetimeConfig): a port is never made twice.
    await rejectsWith(
      c.createTapPort("P4TAP_3"),
      grpc.status.INVALID_ARGUMENT,
      /already set \(or\) the PORT/,
    );
    // Renamed (as the daemon does with P4TAP_0 -> TAP_0): still the same port, not made again.
    execFileSync("ip", ["link", "set", "P4TAP_0", "name", "TAP_0"]);
    await rejectsWith(
      c.createTapPort("P4TAP_0"),
      grpc.status.INVALID_ARGUMENT,
      /already set \(or\) the PORT/,
    );
    assert.equal(taps("TAP_0").length, 1);
    // Deleted behind the target's back: it stays configured, nothing makes it again.
    execFileSync("ip", ["link", "del", "P4TAP_7"]);
    await rejectsWith(
      c.createTapPort("P4TAP_7"),
      grpc.status.INVALID_ARGUMENT,
      /already set \(or\) the PORT/,
    );
    assert.equal(taps("P4TAP_7").length, 0);
    await rejectsWith(
      c.get(["/interfaces/virtual-interface[name=no/pe]/config"]),
      grpc.status.INVALID_ARGUMENT,
      /is unsupported!/,
    );
    await stopSim(sim, "SIGTERM");
    assert.deepEqual(taps("P4TAP_"), [], "the simulator's TAPs die with it");
    assert.deepEqual(taps("TAP_0"), [], "renamed ones too");
  });

  test("paths without a tree node, bad values: the target's errors, and no TAP", async () => {
    const a = addrs();
    const sim = await startSim(a);
    const c = gnmi(a);
    for (const path of [
      "/interfaces/interface[name=BAD_0]/config/mtu",
      "/interfaces/virtual-interface/config/mtu",
      "/interfaces/virtual-interface[name=BAD_0]/mtu",
      "/interfaces/virtual-interface[name=BAD_2]/config/colour",
      "/interfaces/virtual-interface[name=BAD_name_is_too_long]/config/mtu",
    ]) {
      await rejectsWith(
        c.setLeaf(path, 1500),
        grpc.status.INVALID_ARGUMENT,
        /^.*The path \(elem .*\) is unsupported!$/,
      );
    }
    // The kernel refuses an MTU of 10 when port-type adds the port: the data plane's error.
    await rejectsWith(
      c.createTapPort("BAD_0", { mtu: 10 }),
      grpc.status.INTERNAL,
      /Failed to add port BAD_0/,
    );
    await rejectsWith(
      c.createTapPort("BAD_1", { mtu: 100000 }),
      grpc.status.INVALID_ARGUMENT,
      /Unsupported MTU = 100000\. MTU should be less than 65535/,
    );
    await rejectsWith(
      c.createTapPort("BAD_4", { portType: "WORMHOLE" }),
      grpc.status.INVALID_ARGUMENT,
      /wrong value for port-type!/,
    );
    assert.deepEqual(taps("BAD"), []);
    await stopSim(sim);
  });

  test("SIGKILL: the TAPs still vanish (held open, non-persistent, by the simulator's helper)", async () => {
    const a = addrs();
    const sim = await startSim(a);
    const c = gnmi(a);
    await c.createPool(["KTAP_0", "KTAP_1", "KTAP_2", "KTAP_3"], 2);
    assert.equal(taps("KTAP_").length, 4);
    execFileSync("ip", ["link", "set", "KTAP_0", "name", "KTAP_renamed"]);
    await stopSim(sim, "SIGKILL");
    const end = Date.now() + 5000;
    while (taps("KTAP_").length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(taps("KTAP_"), []);
  });

  test("the client retries while the target is not listening yet", async () => {
    const a = addrs();
    const c = gnmi(a);
    const pool = c.createPool(["LATE_0", "LATE_1", "LATE_2"], 2);
    await new Promise((r) => setTimeout(r, 700));
    const sim = await startSim(a);
    await pool;
    const got = taps("LATE_");
    assert.equal(got.length, 3);
    assert.equal(got[0]?.ifname, "LATE_0");
    await stopSim(sim);
  });

  test("gives up with UNAVAILABLE when nothing listens within the retry budget", async () => {
    const a = addrs();
    const c = new GnmiClient({
      address: a.gnmi,
      timeoutMs: 500,
      retry: { retryForMs: 600, initialBackoffMs: 50, maxBackoffMs: 200 },
    });
    clients.push(c);
    // Rejecting at all is the point: the retry budget is spent, not retried forever.
    await rejectsWith(c.capabilities(), grpc.status.UNAVAILABLE);
  });

  test("a proxy in the environment does not catch the loopback channel (grpc.enable_http_proxy 0)", async () => {
    const a = addrs();
    const sim = await startSim(a);
    const root = resolve(__dirname, "..", "..");
    const script = `
      const grpc = require("@grpc/grpc-js");
      const { GnmiClient } = require(${JSON.stringify(join(root, "daemon/host/gnmi-client.js"))});
      const { loadProto, lookup, unary } = require(${JSON.stringify(join(root, "daemon/host/grpc-channel.js"))});
      (async () => {
        const c = new GnmiClient({ address: ${JSON.stringify(a.gnmi)}, timeoutMs: 2000,
          retry: { retryForMs: 0, initialBackoffMs: 10, maxBackoffMs: 10 } });
        const caps = await c.capabilities();
        c.close();
        // Control: the same call on a channel with default options goes to the proxy and fails.
        const Ctor = lookup(loadProto("gnmi.proto"), "gnmi.gNMI");
        const raw = new Ctor(${JSON.stringify(a.gnmi)}, grpc.credentials.createInsecure());
        let control = "ok";
        try { await unary(raw, "Capabilities", {}, 2000); } catch (e) { control = String(e.code); }
        raw.close();
        process.stdout.write(JSON.stringify({ version: caps.gnmiVersion, control }));
      })().catch((e) => { process.stderr.write(String(e.stack || e)); process.exit(1); });
    `;
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of ["no_proxy", "NO_PROXY", "no_grpc_proxy", "NO_GRPC_PROXY"]) delete env[k];
    Object.assign(env, {
      https_proxy: "http://127.0.0.1:1",
      http_proxy: "http://127.0.0.1:1",
      grpc_proxy: "http://127.0.0.1:1",
    });
    const out = execFileSync(process.execPath, ["-e", script], {
      env,
      encoding: "utf8",
      cwd: join(root, ".."),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const r = JSON.parse(out) as { version: string; control: string };
    assert.equal(r.version, "0.7.0");
    assert.equal(
      r.control,
      String(grpc.status.UNAVAILABLE),
      "without the option the proxy would have caught it",
    );
    await stopSim(sim);
  });

  test("a pool of 256 TAPs over gNMI", async () => {
    const a = addrs();
    const sim = await startSim(a);
    const c = gnmi(a, 10_000);
    const names = Array.from({ length: 256 }, (_, i) => `P4TAP_${i}`);
    const t0 = Date.now();
    await c.createPool(names, 32);
    const ms = Date.now() - t0;
    const got = taps("P4TAP_");
    assert.equal(got.length, 256);
    assert.deepEqual(new Set(got.map((l) => l.ifname)), new Set(names));
    assert.equal(got[0]?.ifname, "P4TAP_0");
    process.stdout.write(`# 256 TAPs over gNMI in ${ms} ms\n`);
    await stopSim(sim);
    assert.equal(taps("P4TAP_").length, 0);
  });
});

describe("P4Runtime against the simulator", () => {
  test("capabilities; no pipeline before Set; arbitration enforced; cookie after Set", async () => {
    const a = addrs();
    const sim = await startSim(a);
    const one = p4rt(a);
    assert.equal(await one.capabilities(), "1.3.0");
    assert.deepEqual(await one.pipelineLoaded(1), { loaded: false });

    // Not primary: refused locally, and by the target when sent anyway.
    await rejectsWith(
      one.setPipeline(1, undefined, Buffer.from("cfg"), 7),
      grpc.status.FAILED_PRECONDITION,
      /becomePrimary/,
    );
    await rejectsWith(
      one.setPipeline(1, undefined, Buffer.from("cfg"), 7, { requirePrimary: false }),
      grpc.status.PERMISSION_DENIED,
    );

    const arb = await one.becomePrimary(1, { high: 0, low: 10 });
    assert.equal(arb.primary, true);
    assert.equal(arb.primaryElectionId.low, 10n);

    const two = p4rt(a);
    const arb2 = await two.becomePrimary(1, { high: 0, low: 3 });
    assert.equal(arb2.primary, false, "a lower election id is not primary");
    assert.equal(arb2.primaryElectionId.low, 10n);
    await rejectsWith(
      two.setPipeline(1, undefined, Buffer.from("cfg"), 7, { requirePrimary: false }),
      grpc.status.PERMISSION_DENIED,
    );

    // A P4Info passed as serialized bytes (pkg_info { name: "k8s_dp" }) travels verbatim.
    const p4info = Buffer.concat([Buffer.from([0x0a, 0x08, 0x0a, 0x06]), Buffer.from("k8s_dp")]);
    await one.setPipeline(1, p4info, Buffer.from("device config bytes"), 0xfeedn);
    assert.deepEqual(await one.pipelineLoaded(1), { loaded: true, cookie: String(0xfeed) });
    assert.deepEqual(await two.pipelineLoaded(2), { loaded: false }, "device 2 has none");
    // What the target stored decodes as the upstream messages (raw call on our proto subset).
    const Ctor = lookup<typeof grpc.Client>(loadProto("p4runtime.proto"), "p4.v1.P4Runtime");
    const raw = new Ctor(a.p4rt, grpc.credentials.createInsecure(), LOOPBACK_CHANNEL_OPTIONS);
    clients.push(raw);
    const all = await unary<
      unknown,
      { config: { p4info?: { pkg_info?: { name?: string } }; p4_device_config?: Buffer } }
    >(raw, "GetForwardingPipelineConfig", { device_id: "1", response_type: "ALL" }, 3000);
    assert.equal(all.config.p4info?.pkg_info?.name, "k8s_dp");
    assert.equal(all.config.p4_device_config?.toString(), "device config bytes");

    // P4-OVS 22.07 refuses to overwrite a pushed pipeline.
    await rejectsWith(
      one.setPipeline(1, undefined, Buffer.from("again"), 1),
      grpc.status.FAILED_PRECONDITION,
    );

    // A higher election id takes over; the old primary is told.
    const three = p4rt(a);
    assert.equal((await three.becomePrimary(1, { high: 1, low: 0 })).primary, true);
    const end = Date.now() + 2000;
    while (one.isPrimary() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(one.isPrimary(), false);

    // The primary leaves: the next highest becomes primary again.
    three.close();
    const end2 = Date.now() + 2000;
    while (!one.isPrimary() && Date.now() < end2) await new Promise((r) => setTimeout(r, 20));
    assert.equal(one.isPrimary(), true);
    await stopSim(sim);
  });

  test("a restarted target has no pipeline; the client re-arbitrates after it comes back", async () => {
    const a = addrs();
    let sim = await startSim(a);
    const c = p4rt(a);
    assert.equal((await c.becomePrimary()).primary, true);
    await c.setPipeline(1, undefined, Buffer.from("x"), 5);
    assert.deepEqual(await c.pipelineLoaded(), { loaded: true, cookie: "5" });
    await stopSim(sim, "SIGKILL");
    sim = await startSim(a);
    assert.deepEqual(await c.pipelineLoaded(), { loaded: false });
    const end = Date.now() + 3000;
    while (c.isPrimary() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.isPrimary(), false, "the old stream died with the target");
    assert.equal((await c.becomePrimary()).primary, true);
    await c.setPipeline(1, undefined, Buffer.from("x"), 6);
    assert.deepEqual(await c.pipelineLoaded(), { loaded: true, cookie: "6" });
    await stopSim(sim);
  });

  test("arbitration errors: device 0 and election 0 are INVALID_ARGUMENT", async () => {
    const a = addrs();
    const sim = await startSim(a);
    await rejectsWith(p4rt(a).becomePrimary(0), grpc.status.INVALID_ARGUMENT, /device/);
    await rejectsWith(
      p4rt(a).becomePrimary(1, { high: 0, low: 0 }),
      grpc.status.INVALID_ARGUMENT,
      /election/,
    );
    await stopSim(sim);
  });
});
