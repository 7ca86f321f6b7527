/**
 * host-if, arp-proxy (kernel mode) and the kernel TAP pool do their work with as few processes as
 * it needs, against the real kernel in network namespaces the test makes (inside the test namespace
 * of scripts/test.sh). Every process the daemon's code runs goes through execFile (host/command.ts
 * runCommand): the test counts those calls. The daemon's "own namespace" path (datapath.netns null,
 * production) runs in a child node process started inside a scratch namespace with `ip netns exec`.
 */
import assert from "node:assert/strict";
import childProcess, { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { HostInterfaceComponent, KernelArpProxyComponent } from "../../daemon/components/host-side";
import { KernelTapBackend } from "../../daemon/components/tap-backends";
import { TapPool } from "../../daemon/components/tap-pool";
import { loadConfig } from "../../daemon/config/load";
import type { Config } from "../../daemon/config/types";
import { enableKernelArpProxy } from "../../daemon/host/arp-proxy";
import { ensureHostInterface } from "../../daemon/host/host-interface";
import { createTaps } from "../../daemon/host/links";
import { deleteNetns, ensureNetns } from "../../daemon/host/netns";
import { StateStore } from "../../daemon/state/store";
import { repoRoot, scratchDir } from "../helpers/daemon";

const ADDR = "169.254.1.1/32";

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

/** Runs fn and returns the argv of every process the daemon's code started meanwhile. */
async function spawned<T>(fn: () => Promise<T>): Promise<{ value: T; argvs: string[][] }> {
  const argvs: string[][] = [];
  const real = childProcess.execFile;
  const counting = ((file: string, args: readonly string[], ...rest: unknown[]) => {
    argvs.push([file, ...args]);
    return (real as (...a: unknown[]) => unknown)(file, args, ...rest);
  }) as unknown as typeof childProcess.execFile;
  childProcess.execFile = counting;
  try {
    return { value: await fn(), argvs };
  } finally {
    childProcess.execFile = real;
  }
}

function config(dir: string, yaml: string): Config {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig(file);
}

describe("in a datapath namespace: one process per read, one per change", () => {
  let ns = "";
  const dir = scratchDir("offloadd-hostside-");
  before(async () => {
    ns = `hs-dp-${process.pid}`;
    await deleteNetns(ns);
    await ensureNetns(ns);
    await createTaps(ns, ["P4TAP_0", "P4TAP_1"], 42);
  });
  after(() => deleteNetns(ns));

  test("host-if: rename+up+address is one batch after one read; the probe after start asks nothing", async () => {
    const spec = { from: "P4TAP_0", name: "TAP_0", address: ADDR };
    const first = await spawned(() => ensureHostInterface(ns, spec));
    assert.deepEqual(
      [first.value.renamed, first.value.broughtUp, first.value.addressAdded],
      [true, true, true],
    );
    assert.equal(first.argvs.length, 2, `one read, one batch: ${JSON.stringify(first.argvs)}`);
    assert.deepEqual(first.argvs[1]?.slice(0, 6), ["ip", "-n", ns, "-j", "-batch", "-"]);
    const again = await spawned(() => ensureHostInterface(ns, spec));
    assert.deepEqual(
      [again.value.renamed, again.value.broughtUp, again.value.addressAdded],
      [false, false, false],
    );
    assert.equal(again.argvs.length, 1, "nothing to change: the read only");

    ip("-n", ns, "addr", "del", ADDR, "dev", "TAP_0");
    ip("-n", ns, "link", "set", "dev", "TAP_0", "down");
    const both = await spawned(() => ensureHostInterface(ns, spec));
    assert.deepEqual(
      [both.value.renamed, both.value.broughtUp, both.value.addressAdded],
      [false, true, true],
    );
    assert.equal(both.argvs.length, 2);
    assert.equal(both.value.state.up && both.value.state.hasAddress, true, "read back by the batch itself");

    const c = new HostInterfaceComponent(config(dir, `datapath: {netns: ${ns}}\n`), []);
    const started = await spawned(async () => {
      await c.start();
      return c.probe();
    });
    assert.deepEqual(started.value, { ready: true });
    assert.equal(started.argvs.length, 1, "start reads once; its probe takes that read");
    ip("-n", ns, "addr", "del", ADDR, "dev", "TAP_0");
    const later = await spawned(() => c.probe());
    assert.deepEqual(later.value, {
      ready: false,
      waitingFor: `TAP_0 to be up with ${ADDR} (it is without ${ADDR})`,
    });
    assert.equal(later.argvs.length, 1, "every later probe reads");
    await c.reconcile();
    assert.deepEqual(await c.probe(), { ready: true });
  });

  test("host-if: neither interface is still the clear error, with one read and one batch", async () => {
    const r = await spawned(() =>
      ensureHostInterface(ns, { from: "P4TAP_9", name: "TAP_9", address: ADDR }).catch((e: Error) => e),
    );
    assert.match(
      String(r.value),
      new RegExp(`neither TAP_9 nor P4TAP_9 exists in network namespace ${ns} \\(the pool's first TAP`),
    );
    assert.equal(r.argvs.length, 2);
    assert.ok(!ip("-n", ns, "link", "show").includes("TAP_9"), "nothing made");
  });

  test("arp-proxy: set and read back in one sysctl; a missing interface names every key it could not set", async () => {
    const on = await spawned(() => enableKernelArpProxy(ns, "TAP_0"));
    assert.deepEqual(on.value, { exists: true, proxyArp: true, forwarding: true, proxyDelay: 0, ok: true });
    assert.equal(on.argvs.length, 1);
    assert.deepEqual(on.argvs[0]?.slice(0, 5), ["ip", "netns", "exec", ns, "sysctl"]);
    // Read independently of the daemon's code.
    const seen = execFileSync("ip", ["netns", "exec", ns, "sysctl", "-n", "net.ipv4.conf.TAP_0.proxy_arp"], {
      encoding: "utf8",
    });
    assert.equal(seen.trim(), "1");

    const bad = await spawned(() => enableKernelArpProxy(ns, "NOPE_0").catch((e: Error) => e));
    assert.equal(bad.argvs.length, 1);
    assert.match(
      String(bad.value),
      /kernel ARP proxy on NOPE_0: cannot set net\.ipv4\.conf\.NOPE_0\.proxy_arp, net\.ipv4\.conf\.NOPE_0\.forwarding, net\.ipv4\.neigh\.NOPE_0\.proxy_delay \(no such interface\?\): ip netns exec/,
    );

    const c = new KernelArpProxyComponent(config(dir, `datapath: {netns: ${ns}}\n`), []);
    const started = await spawned(async () => {
      await c.start();
      return c.probe();
    });
    assert.deepEqual(started.value, { ready: true });
    assert.equal(started.argvs.length, 1, "start's sysctl read back what it set; its probe takes that");
    ip("netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.neigh.TAP_0.proxy_delay=80");
    const later = await spawned(() => c.probe());
    assert.equal(later.value.ready, false);
    assert.equal(later.argvs.length, 1);
  });

  test("kernel TAP pool: the creating batch lists the namespace; a start with nothing to do lists once; listings asked together share one", async () => {
    const pns = `hs-pool-${process.pid}`;
    await deleteNetns(pns);
    await ensureNetns(pns);
    const store = StateStore.open(join(dir, "state.db"));
    try {
      const pool = () =>
        new TapPool({
          netns: pns,
          prefix: "P4TAP_",
          count: 8,
          hostInterfaceName: "TAP_0",
          backend: new KernelTapBackend(pns, 4243),
          store,
          dependsOn: [],
          log: pino({ level: "silent" }),
        });
      const p = pool();
      const fresh = await spawned(() => p.start());
      assert.equal(
        fresh.argvs.length,
        2,
        `a listing, then one batch that makes and lists: ${JSON.stringify(fresh.argvs)}`,
      );
      const views = await p.list();
      assert.deepEqual(
        views.map((v) => [v.name, v.state]),
        Array.from({ length: 8 }, (_, i) => [`P4TAP_${i}`, i === 0 ? "host" : "available"]),
      );
      assert.ok(views.every((v) => v.ifindex !== null && v.mac !== null));

      const again = pool();
      const warm = await spawned(() => again.start());
      assert.equal(warm.argvs.length, 1, "nothing to make: the first listing is the look's");
      assert.deepEqual(await again.probe(), { ready: true });

      ip("-n", pns, "link", "del", "P4TAP_5");
      const together = await spawned(() =>
        Promise.all([again.list(), again.list(), again.list(), again.list()]),
      );
      // The datapath's namespace once, and (P4TAP_5 left) every other named namespace once, for four.
      const here = together.argvs.filter((a) => a.includes(pns));
      assert.equal(here.length, 1, `four callers, one listing: ${JSON.stringify(together.argvs)}`);
      assert.equal(new Set(together.argvs.map((a) => a.join(" "))).size, together.argvs.length);
      for (const l of together.value) assert.deepEqual(l, together.value[0]);
      assert.equal(together.value[0]?.[5]?.state, "lost", "each answer is a look taken after it was asked");
    } finally {
      store.close();
      await deleteNetns(pns);
    }
  });
});

/**
 * The same components with datapath.netns null, in a child node process that runs inside a scratch
 * namespace (as the production daemon runs in the host's): prints what it saw as one JSON line.
 */
const OWN_NETNS_SCRIPT = `
const cp = require("node:child_process");
const real = cp.execFile;
let argvs = [];
cp.execFile = (file, args, ...rest) => { argvs.push([file, ...args]); return real(file, args, ...rest); };
const d = (p) => require(process.env.DIST + "/daemon/" + p);
const { ensureHostInterface, hostInterfaceListedHere } = d("host/host-interface.js");
const { enableKernelArpProxy, kernelArpProxyState } = d("host/arp-proxy.js");
const { HostInterfaceComponent, KernelArpProxyComponent } = d("components/host-side.js");
const { loadConfig } = d("config/load.js");
const count = async (fn) => { argvs = []; const value = await fn(); return { value, n: argvs.length }; };
(async () => {
  const out = {};
  out.listedBefore = hostInterfaceListedHere("v0", "${ADDR}");
  out.ensure = await count(() => ensureHostInterface(null, { from: "P4TAP_0", name: "v0", address: "${ADDR}" }));
  out.listedAfter = hostInterfaceListedHere("v0", "${ADDR}");
  const cfg = (name) => ({ ...loadConfig(process.env.CONFIG), hostInterface: { name, address: "${ADDR}" } });
  const c = new HostInterfaceComponent(cfg("v0"), []);
  out.start = await count(async () => { await c.start(); return [await c.probe(), await c.probe(), await c.reconcile()]; });
  const t = new HostInterfaceComponent(cfg("t0"), []);
  out.noCarrier = await count(() => t.probe());
  out.arp = await count(() => enableKernelArpProxy(null, "v0"));
  out.arpState = await count(() => kernelArpProxyState(null, "v0"));
  out.arpMissing = await count(() => kernelArpProxyState(null, "NOPE_0"));
  out.arpBad = await count(() => enableKernelArpProxy(null, "NOPE_0").then(() => "no error", (e) => e.message));
  const a = new KernelArpProxyComponent(cfg("v0"), []);
  out.arpComponent = await count(async () => { await a.start(); return [await a.probe(), await a.probe()]; });
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe("in the daemon's own namespace (datapath.netns null): no process for a healthy probe", () => {
  let ns = "";
  const dir = scratchDir("offloadd-hostside-own-");
  before(async () => {
    ns = `hs-own-${process.pid}`;
    await deleteNetns(ns);
    await ensureNetns(ns);
    // A veth pair is up and running (carrier) without anyone holding it; a TAP nobody holds has no carrier.
    ip("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
    ip("-n", ns, "link", "set", "v0", "up");
    ip("-n", ns, "link", "set", "v1", "up");
    ip("-n", ns, "tuntap", "add", "dev", "t0", "mode", "tap");
    ip("-n", ns, "link", "set", "t0", "up");
    ip("-n", ns, "addr", "add", ADDR, "dev", "t0");
  });
  after(() => deleteNetns(ns));

  test("host-if and arp-proxy ask the kernel in-process; what getifaddrs cannot tell still asks ip", () => {
    writeFileSync(join(dir, "config.yaml"), "{}\n");
    const text = execFileSync("ip", ["netns", "exec", ns, process.execPath, "-e", OWN_NETNS_SCRIPT], {
      encoding: "utf8",
      env: { ...process.env, DIST: join(repoRoot, "dist"), CONFIG: join(dir, "config.yaml") },
    });
    const out = JSON.parse(text.trim().split("\n").at(-1) as string);
    assert.equal(out.listedBefore, false, "no address yet");
    assert.deepEqual(
      [out.ensure.value.renamed, out.ensure.value.broughtUp, out.ensure.value.addressAdded],
      [false, false, true],
    );
    assert.equal(out.ensure.n, 2, "a read and a batch");
    assert.equal(out.listedAfter, true);
    assert.deepEqual(out.start.value, [{ ready: true }, { ready: true }, null]);
    assert.equal(out.start.n, 1, "start reads once; probes and reconcile of a healthy interface ask nothing");
    assert.deepEqual(
      out.noCarrier,
      { value: { ready: true }, n: 1 },
      "no carrier: getifaddrs leaves it out, ip says",
    );
    assert.deepEqual(out.arp, {
      value: { exists: true, proxyArp: true, forwarding: true, proxyDelay: 0, ok: true },
      n: 0,
    });
    assert.equal(out.arpState.n, 0);
    assert.equal(out.arpState.value.ok, true);
    assert.deepEqual(out.arpMissing.value.exists, false);
    assert.match(
      out.arpBad.value,
      /^kernel ARP proxy on NOPE_0: cannot set net\.ipv4\.conf\.NOPE_0\.proxy_arp \(\/proc\/sys\/net\/ipv4\/conf\/NOPE_0\/proxy_arp: ENOENT\), net\.ipv4\.conf\.NOPE_0\.forwarding \(.*\), net\.ipv4\.neigh\.NOPE_0\.proxy_delay \(\/proc\/sys\/net\/ipv4\/neigh\/NOPE_0\/proxy_delay: ENOENT\) \(no such interface\?\)$/,
    );
    assert.deepEqual(out.arpComponent, { value: [{ ready: true }, { ready: true }], n: 0 });
    // What the child wrote is the scratch namespace's, seen from outside the daemon's code.
    const seen = ip(
      "netns",
      "exec",
      ns,
      "sysctl",
      "-n",
      "net.ipv4.conf.v0.proxy_arp",
      "net.ipv4.neigh.v0.proxy_delay",
    );
    assert.deepEqual(seen.trim().split("\n"), ["1", "0"]);
  });
});
