/**
 * host-if, arp-proxy (kernel mode) and the kernel TAP pool do their work with as few processes as
 * it needs, against the real kernel in network namespaces the test makes (inside the test namespace
 * of scripts/test.sh). Every process the daemon's code runs goes through execFile (host/command.ts
 * runCommand) or, for a namespace's long-lived ip reader (host/ip-session.ts), spawn: the test
 * counts those calls, and the questions the readers answered (a read that started no process). The daemon's "own namespace" path (datapath.netns null,
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
import { enableKernelArpProxy, kernelArpProxyState } from "../../daemon/host/arp-proxy";
import { ensureHostInterface } from "../../daemon/host/host-interface";
import { ipSession } from "../../daemon/host/ip-session";
import { createTaps } from "../../daemon/host/links";
import { deleteNetns, ensureNetns } from "../../daemon/host/netns";
import { StateStore } from "../../daemon/state/store";
import { repoRoot, scratchDir } from "../helpers/daemon";

const ADDR = "169.254.1.1/32";

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

/** Every session's answered questions (host/ip-session.ts), summed. */
const asked = (...namespaces: string[]) => namespaces.reduce((n, ns) => n + ipSession(ns).answered, 0);

/**
 * Runs fn and returns the argv of every process the daemon's code started meanwhile, and how many
 * questions the long-lived readers of `namespaces` answered (reads that started no process).
 */
async function spawned<T>(
  fn: () => Promise<T>,
  namespaces: string[] = [],
): Promise<{ value: T; argvs: string[][]; reads: number }> {
  const argvs: string[][] = [];
  const realExecFile = childProcess.execFile;
  const realSpawn = childProcess.spawn;
  const counting = (real: (...a: unknown[]) => unknown) =>
    ((file: string, args: readonly string[], ...rest: unknown[]) => {
      argvs.push([file, ...args]);
      return real(file, args, ...rest);
    }) as never;
  childProcess.execFile = counting(realExecFile as never);
  childProcess.spawn = counting(realSpawn as never);
  const before = asked(...namespaces);
  try {
    const value = await fn();
    return { value, argvs, reads: asked(...namespaces) - before };
  } finally {
    childProcess.execFile = realExecFile;
    childProcess.spawn = realSpawn;
  }
}

const SESSION = (ns: string) => ["ip", "-n", ns, "-j", "-d", "-force", "-batch", "-"];

function config(dir: string, yaml: string): Config {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig(file);
}

describe("in a datapath namespace: no process per read (one long-lived ip), one per change", () => {
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
    const first = await spawned(() => ensureHostInterface(ns, spec), [ns]);
    assert.deepEqual(
      [first.value.renamed, first.value.broughtUp, first.value.addressAdded],
      [true, true, true],
    );
    // The namespace's reader starts with its first read; the change is one batch; the rename makes
    // the reader's name cache stale, so a new reader replaces it.
    assert.deepEqual(
      first.argvs.map((a) => a.join(" ")),
      [SESSION(ns).join(" "), `ip -n ${ns} -j -batch -`, SESSION(ns).join(" ")],
    );
    assert.equal(first.reads, 1);
    const again = await spawned(() => ensureHostInterface(ns, spec), [ns]);
    assert.deepEqual(
      [again.value.renamed, again.value.broughtUp, again.value.addressAdded],
      [false, false, false],
    );
    assert.deepEqual(
      [again.argvs.length, again.reads],
      [0, 1],
      "nothing to change: the read only, no process",
    );

    ip("-n", ns, "addr", "del", ADDR, "dev", "TAP_0");
    ip("-n", ns, "link", "set", "dev", "TAP_0", "down");
    const both = await spawned(() => ensureHostInterface(ns, spec), [ns]);
    assert.deepEqual(
      [both.value.renamed, both.value.broughtUp, both.value.addressAdded],
      [false, true, true],
    );
    assert.deepEqual(
      [both.argvs.length, both.reads],
      [1, 1],
      `a read (no process) and the batch: ${JSON.stringify(both.argvs)}`,
    );
    assert.equal(both.value.state.up && both.value.state.hasAddress, true, "read back by the batch itself");

    const c = new HostInterfaceComponent(config(dir, `datapath: {netns: ${ns}}\n`), []);
    const started = await spawned(async () => {
      await c.start();
      return c.probe();
    }, [ns]);
    assert.deepEqual(started.value, { ready: true });
    assert.deepEqual(
      [started.argvs.length, started.reads],
      [0, 1],
      "start reads once; its probe takes that read",
    );
    ip("-n", ns, "addr", "del", ADDR, "dev", "TAP_0");
    const later = await spawned(() => c.probe(), [ns]);
    assert.deepEqual(later.value, {
      ready: false,
      waitingFor: `TAP_0 to be up with ${ADDR} (it is without ${ADDR})`,
    });
    assert.deepEqual([later.argvs.length, later.reads], [0, 1], "every later probe reads, with no process");
    // Deleted behind the daemon's back: the next probe (the same reader) sees it gone.
    ip("-n", ns, "link", "set", "dev", "TAP_0", "name", "TAP_0x");
    const gone = await spawned(() => c.probe(), [ns]);
    assert.deepEqual(gone.value, { ready: false, waitingFor: `TAP_0 to be up with ${ADDR} (it is missing)` });
    assert.deepEqual([gone.argvs.length, gone.reads], [0, 1]);
    ip("-n", ns, "link", "set", "dev", "TAP_0x", "name", "TAP_0");
    await c.reconcile();
    assert.deepEqual(await c.probe(), { ready: true });
  });

  test("host-if: neither interface is still the clear error, with one read and one batch", async () => {
    const r = await spawned(
      () => ensureHostInterface(ns, { from: "P4TAP_9", name: "TAP_9", address: ADDR }).catch((e: Error) => e),
      [ns],
    );
    assert.match(
      String(r.value),
      new RegExp(`neither TAP_9 nor P4TAP_9 exists in network namespace ${ns} \\(the pool's first TAP`),
    );
    assert.deepEqual([r.argvs.length, r.reads], [1, 1], "the read through the reader, one batch");
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
    // The reader saw P4TAP_0 before it was renamed TAP_0 (and TAP_0 renamed and back): its first
    // netconf names are stale, and a fresh one answers; from then on one reader, no process.
    const first = await spawned(() => kernelArpProxyState(ns, "TAP_0"), [ns]);
    assert.equal(first.value.ok, true);
    assert.ok(first.argvs.length <= 1, JSON.stringify(first.argvs));
    ip("netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.neigh.TAP_0.proxy_delay=80");
    const later = await spawned(() => c.probe(), [ns]);
    assert.equal(later.value.ready, false, "a setting changed behind its back is seen");
    assert.deepEqual(
      [later.argvs.length, later.reads],
      [0, 3],
      "netconf, ntable and a link dump (their names checked) through the reader",
    );
    const state = await kernelArpProxyState(ns, "TAP_0");
    assert.deepEqual(state, { exists: true, proxyArp: true, forwarding: true, proxyDelay: 80, ok: false });
    ip("netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.conf.TAP_0.forwarding=0");
    assert.equal((await kernelArpProxyState(ns, "TAP_0")).forwarding, false);
    await c.reconcile();
    assert.deepEqual(await c.probe(), { ready: true });
    assert.equal((await kernelArpProxyState(ns, "NOPE_0")).exists, false, "a missing interface");
    // Renamed behind its back: ip's name cache (netconf and ntable print names from it) is stale, a
    // fresh reader answers; what was TAP_0's is now TAP_0x's.
    const reader = ipSession(ns).pid;
    ip("-n", ns, "link", "set", "dev", "TAP_0", "name", "TAP_0x");
    try {
      assert.equal((await kernelArpProxyState(ns, "TAP_0")).exists, false, "TAP_0 renamed away");
      assert.notEqual(ipSession(ns).pid, reader, "a new reader");
      assert.deepEqual(await kernelArpProxyState(ns, "TAP_0x"), {
        exists: true,
        proxyArp: true,
        forwarding: true,
        proxyDelay: 0,
        ok: true,
      });
    } finally {
      ip("-n", ns, "link", "set", "dev", "TAP_0x", "name", "TAP_0");
    }
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
      const fresh = await spawned(() => p.start(), [pns]);
      assert.deepEqual(
        fresh.argvs.map((a) => a.join(" ")),
        [SESSION(pns).join(" "), `ip -n ${pns} -j -d -batch -`],
        "a listing (the namespace's reader starts), then one batch that makes and lists",
      );
      assert.equal(fresh.reads, 1);
      const views = await p.list();
      assert.deepEqual(
        views.map((v) => [v.name, v.state]),
        Array.from({ length: 8 }, (_, i) => [`P4TAP_${i}`, i === 0 ? "host" : "available"]),
      );
      assert.ok(views.every((v) => v.ifindex !== null && v.mac !== null));

      const again = pool();
      const warm = await spawned(() => again.start(), [pns]);
      assert.deepEqual(
        [warm.argvs.length, warm.reads],
        [0, 1],
        "nothing to make: the first listing is the look's",
      );
      assert.deepEqual(await again.probe(), { ready: true });

      ip("-n", pns, "link", "del", "P4TAP_5");
      const together = await spawned(
        () => Promise.all([again.list(), again.list(), again.list(), again.list()]),
        [pns],
      );
      // The datapath's namespace once (its reader), and (P4TAP_5 left) every other named namespace
      // once (a process each: a pod's namespace has no reader), for four.
      const here = together.argvs.filter((a) => a.includes(pns));
      assert.deepEqual(
        [here.length, together.reads],
        [0, 1],
        `four callers, one listing: ${JSON.stringify(together.argvs)}`,
      );
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
const realSpawn = cp.spawn;
let argvs = [];
cp.execFile = (file, args, ...rest) => { argvs.push([file, ...args]); return real(file, args, ...rest); };
cp.spawn = (file, args, ...rest) => { argvs.push([file, ...args]); return realSpawn(file, args, ...rest); };
const d = (p) => require(process.env.DIST + "/daemon/" + p);
const { ipSession } = d("host/ip-session.js");
const { ensureHostInterface, hostInterfaceListedHere } = d("host/host-interface.js");
const { enableKernelArpProxy, kernelArpProxyState } = d("host/arp-proxy.js");
const { HostInterfaceComponent, KernelArpProxyComponent } = d("components/host-side.js");
const { loadConfig } = d("config/load.js");
const count = async (fn) => {
  argvs = [];
  const before = ipSession(null).answered;
  const value = await fn();
  return { value, n: argvs.length, reads: ipSession(null).answered - before };
};
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
    assert.deepEqual([out.ensure.n, out.ensure.reads], [2, 1], "a read (its reader starts) and a batch");
    assert.equal(out.listedAfter, true);
    assert.deepEqual(out.start.value, [{ ready: true }, { ready: true }, null]);
    assert.deepEqual(
      [out.start.n, out.start.reads],
      [0, 1],
      "start reads once (no process: the reader runs); probes and reconcile of a healthy interface ask nothing",
    );
    assert.deepEqual(
      out.noCarrier,
      { value: { ready: true }, n: 0, reads: 1 },
      "no carrier: getifaddrs leaves it out, ip (the reader) says",
    );
    assert.deepEqual(out.arp, {
      value: { exists: true, proxyArp: true, forwarding: true, proxyDelay: 0, ok: true },
      n: 0,
      reads: 0,
    });
    assert.deepEqual([out.arpState.n, out.arpState.reads], [0, 0]);
    assert.equal(out.arpState.value.ok, true);
    assert.deepEqual(out.arpMissing.value.exists, false);
    assert.match(
      out.arpBad.value,
      /^kernel ARP proxy on NOPE_0: cannot set net\.ipv4\.conf\.NOPE_0\.proxy_arp \(\/proc\/sys\/net\/ipv4\/conf\/NOPE_0\/proxy_arp: ENOENT\), net\.ipv4\.conf\.NOPE_0\.forwarding \(.*\), net\.ipv4\.neigh\.NOPE_0\.proxy_delay \(\/proc\/sys\/net\/ipv4\/neigh\/NOPE_0\/proxy_delay: ENOENT\) \(no such interface\?\)$/,
    );
    assert.deepEqual(out.arpComponent, { value: [{ ready: true }, { ready: true }], n: 0, reads: 0 });
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
