/**
 * The TAP pool component with both backends, driven by the real engine, against real kernel TAPs
 * in network namespaces the test creates, and (gNMI backend) the strict P4 target simulator with
 * the renamed stock chassis config (32 ports) as a supervised child. A stand-in CNI agent hands TAPs
 * to "pods" as pkg/netconf/tap.go does. Port numbers come from the simulator's ports file.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import pino from "pino";
import { p4TargetProcess } from "../../daemon/components/p4-target";
import { GnmiTapBackend, KernelTapBackend, type TapBackend } from "../../daemon/components/tap-backends";
import { TapPool, type TapView } from "../../daemon/components/tap-pool";
import type { SupervisorConfig } from "../../daemon/config/types";
import { Engine } from "../../daemon/engine/engine";
import { GnmiClient, type PortProgress, portLeafPath } from "../../daemon/host/gnmi-client";
import { listLinks } from "../../daemon/host/links";
import { StateStore } from "../../daemon/state/store";
import { CniAgent } from "../helpers/cni-agent";
import { freePort, repoRoot, scratchDir, sleep } from "../helpers/daemon";

const log = pino({ level: "silent" });
const policy: SupervisorConfig = {
  backoffInitialMs: 50,
  backoffMaxMs: 1000,
  stableAfterMs: 500,
  giveUpExits: 5,
  giveUpWindowMs: 60000,
  readyTimeoutMs: 20000,
  stopTimeoutMs: 2000,
  pollIntervalMs: 50,
  healthIntervalMs: 2000,
  retryFailedAfterMs: 300000,
};
const sim = join(repoRoot, "dist/test/sim/p4-target-sim.js");
/** The stock chassis config after create_interfaces.sh's rename: P4TAP_0..P4TAP_31. */
const chassis = join(repoRoot, "test/fixtures/chassis/dpdk_port_config.P4TAP.pb.txt");

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

async function tapNames(netns: string): Promise<string[]> {
  return (await listLinks(netns))
    .filter((l) => l.kind === "tap" && l.name !== "keepme")
    .map((l) => l.name)
    .sort();
}

const names = (n: number) => Array.from({ length: n }, (_, i) => `P4TAP_${i}`);
const expected = (n: number, zero = "P4TAP_0") =>
  names(n)
    .map((x, i) => (i === 0 ? zero : x))
    .sort();

async function until(what: string, pred: () => Promise<boolean> | boolean, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The simulator's ports file: port numbers in add order. */
function ports(file: string): { name: string; port: number; kernel: string | null }[] {
  if (!existsSync(file)) return [];
  return (
    JSON.parse(readFileSync(file, "utf8")) as {
      ports: { name: string; port: number; kernel: string | null }[];
    }
  ).ports;
}

/** Every P4TAP_k is port k, and nothing else was added. */
function assertInOrder(file: string, n: number): void {
  assert.deepEqual(
    ports(file).map((p) => [p.name, p.port]),
    names(n).map((x, i) => [x, i]),
  );
}

const byName = (views: TapView[]) => new Map(views.map((v) => [v.name, v]));

/** A gNMI client that notes each GetRequest ("Get" in calls). */
function countingGets(calls: string[]) {
  return class Counted extends GnmiClient {
    override get(paths: Parameters<GnmiClient["get"]>[0]) {
      calls.push("Get");
      return super.get(paths);
    }
  };
}

/** A gNMI backend that notes each SetRequest ("Set" in calls) and each error its creation recovered from. */
function noting(calls: string[], errors: unknown[]) {
  return class Noting extends GnmiTapBackend {
    override create(
      n: readonly string[],
      hooks: Parameters<GnmiTapBackend["create"]>[1],
      made?: ReadonlySet<string>,
    ) {
      return super.create(
        n,
        {
          ...hooks,
          sending: (batch) => {
            calls.push("Set");
            hooks.sending?.(batch);
          },
          recovered: (err, progress) => {
            errors.push(err);
            hooks.recovered?.(err, progress);
          },
        },
        made,
      );
    }
  };
}

/** Rewrite one record's generation with a second connection (as a record from another boot). */
function setGeneration(file: string, name: string, generation: string): void {
  const db = new Database(file);
  try {
    db.prepare("UPDATE taps SET generation = ? WHERE name = ?").run(generation, name);
  } finally {
    db.close();
  }
}

describe("TAP pool, kernel backend", () => {
  const ns = "tp-kernel";
  const dir = scratchDir("offloadd-taps-");
  let store: StateStore;
  const cni = new CniAgent(ns);
  before(() => {
    ip("netns", "add", ns);
    store = StateStore.open(join(dir, "state.db"));
  });
  after(() => {
    cni.cleanup();
    store.close();
    ip("netns", "del", ns);
  });

  test("made in this generation; a handed-out TAP is in use, a deleted one is made again; resize; down", async () => {
    ip("-n", ns, "tuntap", "add", "dev", "keepme", "mode", "tap"); // not ours: must survive
    const pool = new TapPool({
      netns: ns,
      prefix: "P4TAP_",
      count: 8,
      hostInterfaceName: "TAP_0",
      backend: new KernelTapBackend(ns, 4242),
      store,
      dependsOn: [],
      log,
      lowWatermark: 6,
    });
    const engine = new Engine({
      components: [pool],
      store,
      log,
      version: "t",
      profile: "t",
      readyTimeoutMs: 5000,
      pollIntervalMs: 20,
      reconcileIntervalMs: 60_000,
      healthIntervalMs: 60_000,
    });
    await engine.bringUp();
    assert.equal(engine.status().phase, "ready");
    assert.deepEqual(await tapNames(ns), expected(8));
    const recs = store.taps();
    assert.deepEqual(recs.map((t) => t.name).sort(), expected(8));
    assert.ok(
      recs.every((r) => r.state === "created" && r.generation && r.mac),
      JSON.stringify(recs[0]),
    );

    // Port 0 renamed by the host-interface step still counts as port 0.
    ip("-n", ns, "link", "set", "P4TAP_0", "name", "TAP_0");
    const pod = await cni.addPod("P4TAP_2");
    const pod2 = await cni.addPod("P4TAP_6");
    assert.deepEqual(await pool.probe(), { ready: true }, "TAPs in pods are made, not missing");
    await engine.reconcile();
    assert.deepEqual(
      await tapNames(ns),
      expected(8, "TAP_0").filter((n) => n !== "P4TAP_2" && n !== "P4TAP_6"),
    );
    let views = byName(await pool.list());
    assert.equal(views.get("P4TAP_0")?.state, "host");
    assert.equal(views.get("P4TAP_0")?.kernelName, "TAP_0");
    assert.deepEqual(
      [views.get("P4TAP_2")?.state, views.get("P4TAP_2")?.netns, views.get("P4TAP_2")?.kernelName],
      ["in-use", pod.netns, "eth0"],
    );
    assert.equal(views.get("P4TAP_6")?.netns, pod2.netns);
    assert.deepEqual(pool.counts(), { available: 5, inUse: 2, lost: 0, missing: 0, host: 1 });
    const low = engine
      .events(0, 100)
      .find((e) => e.kind === "warning" && /taps.lowWatermark \(6\)/.test(e.message));
    assert.match(low?.message ?? "", /5 available, 2 in use, 0 lost of 8/);

    // Deleted by hand (not in any namespace): lost, and a kernel TAP is made again.
    ip("-n", ns, "link", "del", "P4TAP_5");
    await engine.reconcile();
    assert.ok((await tapNames(ns)).includes("P4TAP_5"));
    const ev = engine.events(0, 100).find((e) => e.kind === "restart" && e.component === "taps");
    assert.match(ev?.message ?? "", /re-created P4TAP_5 \(deleted behind the daemon's back\)/);
    // A pod deleted: its TAP died with its namespace; made again too.
    cni.deletePod(pod);
    await engine.reconcile();
    views = byName(await pool.list());
    assert.equal(views.get("P4TAP_2")?.state, "available");
    assert.equal(views.get("P4TAP_6")?.state, "in-use");

    await pool.resize(16);
    assert.equal((await tapNames(ns)).length, 15, "16 less the one in a pod");
    await pool.resize(8);
    assert.deepEqual(
      (await pool.list()).map((v) => v.state),
      ["host", "available", "available", "available", "available", "available", "in-use", "available"],
    );

    // A record of another kernel generation (another boot, or the namespace made again) does not
    // count: that TAP is not made. P4TAP_6 (in a pod) is then missing and made again.
    setGeneration(join(dir, "state.db"), "P4TAP_6", "another-boot/0:0");
    assert.deepEqual(await pool.probe(), {
      ready: false,
      waitingFor: "1 of 8 TAPs to be made (P4TAP_6)",
    });
    await pool.start();
    assert.deepEqual(await pool.probe(), { ready: true });
    assert.ok((await tapNames(ns)).includes("P4TAP_6"));
    assert.equal(store.taps().find((r) => r.name === "P4TAP_6")?.generation, recs[0]?.generation);

    await engine.down();
    assert.deepEqual(await tapNames(ns), []);
    assert.deepEqual(store.taps(), []);
    assert.ok(
      (await listLinks(ns)).some((l) => l.name === "keepme"),
      "a link that is not ours survives",
    );
  });
});

/** A supervised simulator with the renamed stock chassis config and a ports file. */
async function gnmiSetup(ns: string, dir: string, store: StateStore) {
  const gnmiAddr = `127.0.0.1:${await freePort()}`;
  const p4rtAddr = `127.0.0.1:${await freePort()}`;
  const portsFile = join(dir, "ports.json");
  const probeClient = new GnmiClient({
    address: gnmiAddr,
    timeoutMs: 1000,
    retry: { retryForMs: 0, initialBackoffMs: 10, maxBackoffMs: 10 },
  });
  const target = p4TargetProcess({
    argv: [
      process.execPath,
      sim,
      ...["--gnmi", gnmiAddr, "--p4rt", p4rtAddr, "--netns", ns],
      ...["--chassis-config", chassis, "--ports-file", portsFile, "--ports-poll-ms", "50"],
    ],
    env: { PATH: process.env.PATH },
    netns: null,
    logFile: join(dir, "p4-target.log"),
    pidFile: join(dir, "p4-target.pid"),
    gnmi: probeClient,
    dependsOn: [],
    policy,
    store,
    log,
  });
  return { gnmiAddr, portsFile, probeClient, target };
}

describe("TAP pool over gNMI, the strict simulator supervised", () => {
  const ns = "tp-gnmi";
  const dir = scratchDir("offloadd-taps-gnmi-");
  let store: StateStore;
  let engine: Engine | undefined;
  const clients: GnmiClient[] = [];
  const cni = new CniAgent(ns);
  before(() => {
    ip("netns", "add", ns);
    store = StateStore.open(join(dir, "state.db"));
  });
  after(async () => {
    cni.cleanup();
    await engine?.down();
    for (const c of clients) c.close();
    store.close();
    ip("netns", "del", ns);
  });

  test("8 in order; 3 handed out: in use, nothing made again; target restart: whole, in order, pods named; 32", async () => {
    const { gnmiAddr, portsFile, probeClient, target } = await gnmiSetup(ns, dir, store);
    const poolClient = new GnmiClient({ address: gnmiAddr, timeoutMs: 5000 });
    clients.push(probeClient, poolClient);
    const died: { tap: string; netns: string | null }[][] = [];
    const pool = new TapPool({
      netns: ns,
      prefix: "P4TAP_",
      count: 8,
      hostInterfaceName: "TAP_0",
      backend: new GnmiTapBackend(poolClient, { mtu: 1500 }, 3),
      store,
      dependsOn: ["p4-target"],
      log,
      lowWatermark: 5,
      onPortsDied: (podTaps) => died.push(podTaps),
    });
    engine = new Engine({
      components: [target, pool],
      store,
      log,
      version: "t",
      profile: "t",
      readyTimeoutMs: 20000,
      pollIntervalMs: 20,
      reconcileIntervalMs: 60_000,
      healthIntervalMs: 60_000,
    });
    const e = engine;
    await e.bringUp();
    assert.equal(e.status().phase, "ready", e.status().message);
    assert.deepEqual(await tapNames(ns), expected(8));
    await until("the ports file", () => ports(portsFile).length === 8);
    assertInOrder(portsFile, 8);

    ip("-n", ns, "link", "set", "P4TAP_0", "name", "TAP_0");
    const pods = [await cni.addPod("P4TAP_1"), await cni.addPod("P4TAP_4"), await cni.addPod("P4TAP_6")];
    await e.reconcile();
    await e.reconcile();
    assert.deepEqual(await pool.probe(), { ready: true });
    assert.equal(e.status().phase, "ready");
    assertInOrder(portsFile, 8); // nothing made again (the target would refuse it anyway)
    assert.ok(!e.events(0, 500).some((x) => x.kind === "error"), "no reconcile error");
    const views = byName(await pool.list());
    for (const p of pods) {
      const v = views.get(p.tap);
      assert.deepEqual([v?.state, v?.netns, v?.kernelName], ["in-use", p.netns, "eth0"], p.tap);
    }
    assert.deepEqual(pool.counts(), { available: 4, inUse: 3, lost: 0, missing: 0, host: 1 });
    assert.ok(
      e
        .events(0, 500)
        .some((x) => x.kind === "warning" && /fell below taps.lowWatermark \(5\)/.test(x.message)),
    );
    // The TAPs' records say where they are (a restarted daemon names the TAPs pods lose).
    assert.equal(store.taps().find((r) => r.name === "P4TAP_4")?.placement, "in-use");

    // A pod deleted: its TAP dies with its namespace; the port stays configured: lost, never made again.
    cni.deletePod(pods[2] as (typeof pods)[number]);
    await until("P4TAP_6 lost", async () => byName(await pool.list()).get("P4TAP_6")?.state === "lost");
    await e.reconcile();
    assertInOrder(portsFile, 8);
    assert.ok(
      e
        .events(0, 500)
        .some((x) => x.kind === "warning" && /lost P4TAP_6 \(was in netns cni-pod-/.test(x.message)),
    );
    assert.equal(pool.counts().lost, 1);
    // Its record keeps the pod's namespace, for the report after a target restart.
    const lostRecord = store.taps().find((r) => r.name === "P4TAP_6");
    assert.deepEqual([lostRecord?.placement, lostRecord?.netns], ["lost", pods[2]?.netns]);

    // The target restarts: every port dies with it, the pool is made again, in order; an event names
    // the TAPs the pods lost.
    await sleep(600); // past stableAfterMs: the target is restarted at once
    const pid = e.component("p4-target")?.pid as number;
    process.kill(pid, "SIGKILL");
    await until("ready again", () => e.status().phase === "ready" && e.component("p4-target")?.pid !== pid);
    await until("the new ports file", () => ports(portsFile).length === 8);
    assertInOrder(portsFile, 8);
    assert.deepEqual(await tapNames(ns), expected(8));
    const lostEv = e
      .events(0, 1000)
      .find((x) => x.kind === "warning" && /^pods lost their TAPs/.test(x.message));
    assert.match(lostEv?.message ?? "", /P4TAP_1, P4TAP_4, P4TAP_6/);
    // The heal is told where each was: the pods' namespaces, the one lost earlier's too.
    assert.deepEqual(
      died[0],
      ["P4TAP_1", "P4TAP_4", "P4TAP_6"].map((tap) => ({
        tap,
        netns: pods.find((p) => p.tap === tap)?.netns,
      })),
    );
    assert.deepEqual(pool.counts(), { available: 7, inUse: 0, lost: 0, missing: 0, host: 1 });

    // 32 (the stock chassis config): P4TAP_k = port k, also after another target restart.
    await e.exclusive(() => pool.resize(32));
    await until("32 ports", () => ports(portsFile).length === 32);
    assertInOrder(portsFile, 32);
    const pid2 = e.component("p4-target")?.pid as number;
    await sleep(600);
    process.kill(pid2, "SIGKILL");
    await until("ready again", () => e.status().phase === "ready" && e.component("p4-target")?.pid !== pid2);
    await until("the new ports file", () => ports(portsFile).length === 32);
    assertInOrder(portsFile, 32);
  });
});

/** A standalone simulator (not supervised) for the read-back cases. */
async function standaloneSim(ns: string, dir: string) {
  const gnmiAddr = `127.0.0.1:${await freePort()}`;
  const portsFile = join(dir, `ports-${gnmiAddr.split(":")[1]}.json`);
  const { spawn } = await import("node:child_process");
  const child = spawn(
    process.execPath,
    [
      sim,
      ...["--gnmi", gnmiAddr, "--p4rt", `127.0.0.1:${await freePort()}`, "--netns", ns],
      ...["--chassis-config", chassis, "--ports-file", portsFile],
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => String(d).includes("listening") && resolve());
    child.once("exit", (c) => reject(new Error(`simulator exited ${c}`)));
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await gone;
  };
  return { gnmiAddr, portsFile, stop };
}

describe("read back after errors: never a leaf twice", () => {
  const ns = "tp-readback";
  const dir = scratchDir("offloadd-taps-rb-");
  let store: StateStore;
  before(() => {
    ip("netns", "add", ns);
    store = StateStore.open(join(dir, "state.db"));
  });
  after(() => {
    store.close();
    ip("netns", "del", ns);
  });
  /** A pool of 8 in this test's namespace and database over `backend`. */
  const poolOf = (backend: TapBackend) =>
    new TapPool({
      netns: ns,
      prefix: "P4TAP_",
      count: 8,
      hostInterfaceName: "TAP_0",
      backend,
      store,
      dependsOn: [],
      log,
    });

  test("a partial port (two leaves set, then the connection dropped) completes; found ports are recorded", async () => {
    const s = await standaloneSim(ns, dir);
    try {
      // What a daemon killed mid-pool leaves: P4TAP_0..2 complete, P4TAP_3 with two leaves, its
      // connection gone.
      const earlier = new GnmiClient({ address: s.gnmiAddr });
      await earlier.createPool(names(3), "leaf");
      await earlier.setLeaf(portLeafPath("P4TAP_3", "pipeline-name"), "pipe");
      await earlier.setLeaf(portLeafPath("P4TAP_3", "mempool-name"), "MEMPOOL0");
      earlier.close();
      const client = new GnmiClient({ address: s.gnmiAddr });
      const pool = poolOf(new GnmiTapBackend(client, {}, 8));
      await pool.start();
      assert.deepEqual(await pool.probe(), { ready: true });
      assertInOrder(s.portsFile, 8);
      assert.deepEqual(await tapNames(ns), expected(8));
      const recs = store.taps();
      assert.deepEqual(recs.map((r) => r.name).sort(), expected(8), "the three found made are recorded too");
      assert.ok(recs.every((r) => r.state === "created"));
      client.close();
    } finally {
      await s.stop();
      store.forgetTaps(names(8));
    }
  });

  test("a TAP gone with an earlier run of the target is not taken for lost; gone under the same run it is", async () => {
    const s = await standaloneSim(ns, dir);
    const client = new GnmiClient({ address: s.gnmiAddr });
    // A target whose runs the backend tells apart, as the dpdk backend tells ovs-vswitchd's: a new
    // run that answers may not have made its TAPs yet (seen in CI: ovs-vswitchd-dpdk restarted).
    class Runs extends GnmiTapBackend {
      run = "run-1";
      override generation(): string {
        return this.run;
      }
    }
    const backend = new Runs(client, {}, 8);
    const placement = (n: string) => store.taps().find((r) => r.name === n)?.placement;
    try {
      const pool = poolOf(backend);
      await pool.start();
      assert.deepEqual(await pool.probe(), { ready: true });
      assert.ok(
        store.taps().every((r) => r.generation === "run-1"),
        "records carry the run that made them",
      );
      ip("-n", ns, "link", "del", "P4TAP_4");
      backend.run = "run-2";
      await pool.reconcile(); // the look made while ready
      assert.notEqual(placement("P4TAP_4"), "lost", "gone with an earlier run: not lost");
      backend.run = "run-1";
      await pool.reconcile();
      assert.equal(placement("P4TAP_4"), "lost", "gone under the run that made it: lost");
    } finally {
      client.close();
      await s.stop();
      store.forgetTaps(names(8));
    }
  });

  test("write-ahead: each port is recorded 'creating' before its SetRequest, 'created' after", async () => {
    const s = await standaloneSim(ns, dir);
    const client = new GnmiClient({ address: s.gnmiAddr });
    try {
      const checked: string[] = [];
      class Watched extends GnmiTapBackend {
        override create(n: readonly string[], hooks: Parameters<GnmiTapBackend["create"]>[1]) {
          return super.create(n, {
            ...hooks,
            sending: (batch) => {
              hooks.sending?.(batch);
              const recs = new Map(store.taps().map((r) => [r.name, r.state]));
              const made = new Set(ports(s.portsFile).map((p) => p.name));
              for (const b of batch) {
                assert.equal(recs.get(b), "creating", `${b} recorded before it is made`);
                assert.ok(!made.has(b), `${b} not made yet`);
                checked.push(b);
              }
            },
          });
        }
      }
      const pool = poolOf(new Watched(client, {}, 3));
      await pool.start();
      assert.deepEqual(checked, names(8));
      assert.ok(store.taps().every((r) => r.state === "created"));
      assertInOrder(s.portsFile, 8);
    } finally {
      client.close();
      await s.stop();
      store.forgetTaps(names(8));
    }
  });

  test("a start reads the target once before its first Set; leaves the first port already has are not sent", async () => {
    const s = await standaloneSim(ns, dir);
    const calls: string[] = [];
    const errors: unknown[] = [];
    // Every GetRequest of the writer and of the reader.
    const Counted = countingGets(calls);
    const client = new Counted({ address: s.gnmiAddr });
    const reader = new Counted({ address: s.gnmiAddr });
    try {
      // What a daemon killed after its first leaf leaves: its write-ahead records ("creating"), and
      // P4TAP_0 with pipeline-name set.
      store.recordTaps(names(8), "gnmi", "creating");
      const earlier = new GnmiClient({ address: s.gnmiAddr });
      await earlier.setLeaf(portLeafPath("P4TAP_0", "pipeline-name"), "pipe");
      earlier.close();
      const Watched = noting(calls, errors);
      const pool = poolOf(new Watched(client, {}, 8, reader));
      await pool.start();
      // One GetRequest (which ports are added, and P4TAP_0's leaves), then the one SetRequest.
      assert.deepEqual(calls, ["Get", "Set"]);
      // pipeline-name was not sent again (it is one-time: the Set would have failed, and been recovered).
      assert.deepEqual(errors, []);
      assert.deepEqual(await pool.probe(), { ready: true });
      assertInOrder(s.portsFile, 8);
      assert.ok(store.taps().every((r) => r.state === "created"));
    } finally {
      client.close();
      reader.close();
      await s.stop();
      store.forgetTaps(names(8));
    }
  });

  test("no record of the pool: no read before the first Set; ports the target has make it fail unchanged, then read back", async () => {
    for (const have of [0, 3]) {
      const s = await standaloneSim(ns, dir);
      const calls: string[] = [];
      const errors: unknown[] = [];
      const Counted = countingGets(calls);
      const client = new Counted({ address: s.gnmiAddr });
      try {
        // A lost database over a target that has P4TAP_0..2 (have 3), or a node's first start (have 0).
        const earlier = new GnmiClient({ address: s.gnmiAddr });
        if (have > 0) await earlier.createPool(names(have), "leaf");
        earlier.close();
        assert.deepEqual(store.taps(), []);
        const Watched = noting(calls, errors);
        const pool = poolOf(new Watched(client, {}, 8));
        await pool.start();
        if (have === 0) {
          assert.deepEqual(calls, ["Set"]);
          assert.deepEqual(errors, []);
        } else {
          // The first update (P4TAP_0's pipeline-name, one-time) failed the request before it changed
          // anything; read back, the rest was sent from P4TAP_3.
          assert.deepEqual(calls, ["Set", "Get", "Set"]);
          assert.equal(errors.length, 1);
          assert.equal((errors[0] as { code?: number }).code, grpc.status.INVALID_ARGUMENT);
          assert.match(String((errors[0] as Error).message), /pipeline-name is either already set/);
        }
        assert.deepEqual(await pool.probe(), { ready: true });
        assertInOrder(s.portsFile, 8);
        assert.deepEqual(await tapNames(ns), expected(8));
        assert.deepEqual(
          store
            .taps()
            .map((r) => r.name)
            .sort(),
          expected(8),
        );
        assert.ok(store.taps().every((r) => r.state === "created"));
      } finally {
        client.close();
        await s.stop();
        store.forgetTaps(names(8));
      }
    }
  });

  test("a Set that fails in the middle of a request: the rest goes on from the first leaf not set", async () => {
    const s = await standaloneSim(ns, dir);
    try {
      // Another writer (an admin's gnmi-cli) sets P4TAP_5's mtu after the pool read the ports back
      // and before its SetRequest arrives: that request fails at P4TAP_5/mtu ("MTU is either
      // already set"), after P4-OVS applied everything before it in the request.
      const admin = new GnmiClient({ address: s.gnmiAddr });
      let interfered = false;
      const seen: unknown[] = [];
      class Raced extends GnmiClient {
        override async readPorts(n: readonly string[]): Promise<PortProgress[]> {
          const r = await super.readPorts(n);
          if (!interfered) {
            interfered = true;
            await admin.setLeaf(portLeafPath("P4TAP_5", "mtu"), 1500);
          }
          return r;
        }
      }
      const client = new Raced({ address: s.gnmiAddr });
      await client.createPool(names(8), 8, {
        hooks: { recovered: (err) => seen.push((err as grpc.ServiceError).code) },
      });
      assert.deepEqual(seen, [grpc.status.INVALID_ARGUMENT], "one failed request, recovered by reading back");
      assertInOrder(s.portsFile, 8);
      // A second pass sends nothing: everything reads back complete (a Set would fail one-time).
      await client.createPool(names(8), "leaf");
      assertInOrder(s.portsFile, 8);
      admin.close();
      client.close();
    } finally {
      await s.stop();
    }
  });

  test("the target restarting in the middle: made again from P4TAP_0, in order", async () => {
    const s = await standaloneSim(ns, dir);
    const client = new GnmiClient({ address: s.gnmiAddr, timeoutMs: 2000 });
    let s2: Awaited<ReturnType<typeof restartOn>> | null = null;
    try {
      let sent = 0;
      const made = client.createPool(names(8), 1, {
        hooks: {
          sending: () => {
            // After 3 ports, the target dies (all ports with it) and comes back on the same address.
            if (++sent === 4) void s.stop();
          },
        },
      });
      const result = await Promise.race([made.then(() => "done"), sleep(300).then(() => "waiting")]);
      if (result === "waiting") {
        await s.stop();
        // Bring a fresh target up on the same address while the pool waits on UNAVAILABLE.
        const again = await restartOn(s.gnmiAddr, ns, dir);
        s2 = again;
        await made;
        assertInOrder(again.portsFile, 8);
      } else {
        assert.fail("the pool finished although its target died");
      }
    } finally {
      client.close();
      await s.stop();
      await s2?.stop();
    }
  });
});

/** A new simulator on the address of one that died (its own ports file). */
async function restartOn(gnmiAddr: string, ns: string, dir: string) {
  const portsFile = join(dir, "ports-restarted.json");
  const { spawn } = await import("node:child_process");
  const child = spawn(
    process.execPath,
    [
      sim,
      ...["--gnmi", gnmiAddr, "--p4rt", `127.0.0.1:${await freePort()}`, "--netns", ns],
      ...["--chassis-config", chassis, "--ports-file", portsFile],
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => String(d).includes("listening") && resolve());
    child.once("exit", (c) => reject(new Error(`simulator exited ${c}`)));
  });
  return {
    portsFile,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await gone;
    },
  };
}
