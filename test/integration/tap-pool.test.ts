/**
 * The TAP pool component with both backends, driven by the real engine, against real kernel TAPs
 * in a network namespace the test creates, and (gNMI backend) the P4 target simulator as a
 * supervised child: kill it, its TAPs vanish, the pool is blocked, and it is created again.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { p4TargetProcess } from "../../daemon/components/p4-target";
import { GnmiTapBackend, KernelTapBackend } from "../../daemon/components/tap-backends";
import { TapPool } from "../../daemon/components/tap-pool";
import type { SupervisorConfig } from "../../daemon/config/types";
import type { NodeStatus } from "../../daemon/engine/component";
import { Engine } from "../../daemon/engine/engine";
import { GnmiClient } from "../../daemon/host/gnmi-client";
import { listLinks } from "../../daemon/host/links";
import { StateStore } from "../../daemon/state/store";
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

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

async function tapNames(netns: string): Promise<string[]> {
  return (await listLinks(netns))
    .filter((l) => l.kind === "tap" && l.name !== "keepme")
    .map((l) => l.name)
    .sort();
}

const expected = (n: number, zero = "P4TAP_0") =>
  Array.from({ length: n }, (_, i) => (i === 0 ? zero : `P4TAP_${i}`)).sort();

async function until(what: string, pred: () => Promise<boolean> | boolean, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe("TAP pool, kernel backend", () => {
  const ns = "tp-kernel";
  const dir = scratchDir("offloadd-taps-");
  let store: StateStore;
  before(() => {
    ip("netns", "add", ns);
    store = StateStore.open(join(dir, "state.db"));
  });
  after(() => {
    store.close();
    ip("netns", "del", ns);
  });

  test("creates the pool, re-creates a TAP deleted by hand, resizes, removes only its own", async () => {
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
    assert.deepEqual(
      store
        .taps()
        .map((t) => t.name)
        .sort(),
      expected(8),
    );

    // Port 0 renamed by the host-interface step still counts as port 0.
    ip("-n", ns, "link", "set", "P4TAP_0", "name", "TAP_0");
    assert.deepEqual(await pool.probe(), { ready: true });

    ip("-n", ns, "link", "del", "P4TAP_5");
    assert.equal((await pool.probe()).ready, false);
    await engine.reconcile();
    assert.deepEqual(await tapNames(ns), expected(8, "TAP_0"));
    const ev = engine.events(0, 100).find((e) => e.kind === "restart" && e.component === "taps");
    assert.match(ev?.message ?? "", /re-created P4TAP_5 \(deleted behind the daemon's back\)/);

    await pool.resize(16);
    assert.deepEqual(await tapNames(ns), expected(16, "TAP_0"));
    await pool.resize(8);
    assert.deepEqual(await tapNames(ns), expected(8, "TAP_0"));
    assert.equal((await pool.list()).length, 8);
    assert.ok((await pool.list()).every((t) => t.createdByUs && t.backend === "kernel"));

    await engine.down();
    assert.deepEqual(await tapNames(ns), []);
    assert.deepEqual(store.taps(), []);
    assert.ok(
      (await listLinks(ns)).some((l) => l.name === "keepme"),
      "a link that is not ours survives",
    );
  });
});

describe("TAP pool over gNMI, the simulator supervised", () => {
  const ns = "tp-gnmi";
  const dir = scratchDir("offloadd-taps-gnmi-");
  let store: StateStore;
  let engine: Engine;
  const clients: GnmiClient[] = [];
  before(() => {
    ip("netns", "add", ns);
    store = StateStore.open(join(dir, "state.db"));
  });
  after(async () => {
    await engine?.down();
    for (const c of clients) c.close();
    store.close();
    ip("netns", "del", ns);
  });

  test("pool of 8 then 256; kill the target: TAPs vanish, degraded, pool back, no duplicates", async () => {
    const gnmiAddr = `127.0.0.1:${await freePort()}`;
    const p4rtAddr = `127.0.0.1:${await freePort()}`;
    const probeClient = new GnmiClient({
      address: gnmiAddr,
      timeoutMs: 1000,
      retry: { retryForMs: 0, initialBackoffMs: 10, maxBackoffMs: 10 },
    });
    const poolClient = new GnmiClient({ address: gnmiAddr, timeoutMs: 5000 });
    clients.push(probeClient, poolClient);
    const sim = join(repoRoot, "dist/test/sim/p4-target-sim.js");
    const target = p4TargetProcess({
      argv: [process.execPath, sim, "--gnmi", gnmiAddr, "--p4rt", p4rtAddr, "--netns", ns],
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
    const pool = new TapPool({
      netns: ns,
      prefix: "P4TAP_",
      count: 8,
      hostInterfaceName: "TAP_0",
      backend: new GnmiTapBackend(poolClient, { mtu: 1500 }, 16),
      store,
      dependsOn: ["p4-target"],
      log,
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
    await engine.bringUp();
    assert.equal(engine.status().phase, "ready", engine.status().message);
    assert.deepEqual(await tapNames(ns), expected(8));

    const phases: string[] = [];
    engine.on("phase", (s: NodeStatus) => phases.push(s.phase));
    await sleep(600); // past stableAfterMs: the target is restarted at once
    const pid = engine.component("p4-target")?.pid as number;
    process.kill(pid, "SIGKILL");
    await until("the TAPs to vanish with the target", async () => (await tapNames(ns)).length === 0);
    await until(
      "ready again",
      () => engine.status().phase === "ready" && engine.component("p4-target")?.pid !== pid,
    );
    assert.ok(phases.includes("degraded"), `phases: ${phases.join(",")}`);
    assert.deepEqual(await tapNames(ns), expected(8), "the pool is back, no duplicate or leftover");
    assert.equal(engine.component("taps")?.state, "ready");

    await pool.resize(256);
    assert.equal((await tapNames(ns)).length, 256);
    assert.deepEqual(await tapNames(ns), expected(256));
  });
});
