/**
 * The dpdk TAP backend against Debian's real Open vSwitch with DPDK (openvswitch-switch-dpdk's
 * ovs-vswitchd-dpdk, the TAP PMD librte-net-tap23, librte-mempool-ring23), run by the real daemon in
 * the test namespace: EAL on real huge pages, DPDK TAP ports in the datapath namespace.
 *
 * Huge pages are the one host setting touched: test/helpers/hugepages.ts reserves the 512 x 2 MB that
 * ovs.dpdk.socketMem "1024" needs before the first test and puts the previous nr_hugepages back
 * after the last (after(), and a process exit handler; a run killed with SIGKILL is put right by the
 * next). hugetlbfs is mounted by the daemon's hugepages component inside this test namespace's own
 * mount namespace, and unmounted here. A host that cannot give the pages fails the suite with the
 * numbers (not a skip: see the helper).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { type LinkInfo, listLinks } from "../../daemon/host/links";
import { daemonFixture, scratchDir } from "../helpers/daemon";
import { DPDK_PAGES, dpdkOverrides } from "../helpers/dpdk";
import { type Reservation, reserveHugepages } from "../helpers/hugepages";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
const mounts: string[] = [];
let hp: Reservation | null = null;

before(() => {
  hp = reserveHugepages(DPDK_PAGES);
});
after(async () => {
  try {
    for (const f of fixtures) await f.cleanup();
    for (const m of mounts) spawnSync("umount", [m], { stdio: "ignore" });
  } finally {
    hp?.restore();
  }
});

async function fixture(count: number, socketMem = "1024"): Promise<Fixture> {
  const huge = join(scratchDir("offloadd-huge-"), "huge");
  mkdirSync(huge);
  mounts.push(huge);
  const f = await daemonFixture(dpdkOverrides(count, huge, hp?.reserved ?? DPDK_PAGES, socketMem));
  fixtures.push(f);
  return f;
}

/** Stops the fixture's daemon (stopOnExit: vswitchd too, freeing its huge pages) and cleans it up. */
async function done(f: Fixture | undefined): Promise<void> {
  if (!f || !fixtures.includes(f)) return;
  fixtures.splice(fixtures.indexOf(f), 1);
  await f.cleanup();
}

const isReady = (s: NodeStatus) => s.phase === "ready";
const comp = (s: NodeStatus, n: string) => s.components.find((c) => c.name === n);
const pool = (n: number) => Array.from({ length: n }, (_, i) => `P4TAP_${i}`);

function vsctl(f: Fixture, ...args: string[]): string {
  const r = spawnSync(
    "/usr/bin/ovs-vsctl",
    [`--db=unix:${join(f.dir, "ovs/run/db.sock")}`, "--timeout=5", ...args],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, `ovs-vsctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The pool's TAPs in the datapath namespace, by pool name (port 0 is TAP_0 there). */
async function kernelTaps(f: Fixture): Promise<Map<string, LinkInfo>> {
  const links = await listLinks(`offloadd-${f.port}`);
  const out = new Map<string, LinkInfo>();
  for (const l of links) {
    // br0 and ovs-netdev are the netdev datapath's own TAPs (its internal ports), not the pool's.
    if (l.kind !== "tap" || l.name === "br0" || l.name === "ovs-netdev") continue;
    out.set(l.name === "TAP_0" ? "P4TAP_0" : l.name, l);
  }
  return out;
}

async function waitFor<T>(
  what: string,
  get: () => Promise<T>,
  ok: (v: T) => boolean,
  ms = 30000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs a test body; when it fails, the daemon's last log lines go to the test output (CI shows them). */
async function withDaemonLog(
  d: { stdout: string; stderr: string },
  body: () => Promise<void>,
): Promise<void> {
  try {
    await body();
  } catch (err) {
    // The daemon's own lines: its children's logs, which it forwards, would crowd them out.
    const own = d.stdout
      .split("\n")
      .filter((l) => !/"component":"(ovs-vswitchd|ovsdb-server)","msg"/.test(l));
    console.log(`daemon's last log lines:\n${own.slice(-60).join("\n")}\n${d.stderr.slice(-2000)}`);
    throw err;
  }
}

const madeTapsLines = (out: string) => out.split("\n").filter((l) => l.includes('"msg":"made TAPs"'));

/** The whole pool as the ovsdb and the kernel show it: exact names, ofport k+1, DPDK TAP devargs. */
async function assertPool(f: Fixture, n: number): Promise<Map<string, LinkInfo>> {
  const names = pool(n);
  const ports = vsctl(f, "list-ports", "br0").split("\n").filter(Boolean);
  assert.deepEqual([...ports].sort(), [...names].sort(), "br0 holds exactly the pool's ports, each once");
  for (const [k, name] of names.entries()) {
    assert.equal(vsctl(f, "get", "Interface", name, "type"), "dpdk", `${name} type`);
    assert.equal(vsctl(f, "get", "Interface", name, "ofport"), String(k + 1), `${name}: ofport ${k + 1}`);
    assert.equal(vsctl(f, "get", "Interface", name, "error"), "[]", `${name}: no error`);
    assert.equal(
      vsctl(f, "get", "Interface", name, "options:dpdk-devargs"),
      `"net_tap${k},iface=${name}"`,
      `${name} devargs`,
    );
  }
  assert.equal(vsctl(f, "get", "Open_vSwitch", ".", "dpdk_initialized"), "true");
  const taps = await kernelTaps(f);
  assert.deepEqual([...taps.keys()].sort(), [...names].sort(), "exactly the pool's TAPs in the kernel");
  return taps;
}

for (const n of [8, 16]) {
  describe(`dpdk backend: a pool of ${n} DPDK TAP ports in Open vSwitch with DPDK`, () => {
    let f: Fixture;
    let d: ReturnType<Fixture["start"]>;
    const podNs = `pod-dpdk-${n}-${process.pid}`;
    after(async () => {
      spawnSync("ip", ["netns", "del", podNs], { stdio: "ignore" });
      // The next suite's vswitchd needs the huge pages this one holds.
      await done(f);
    });

    test("ready once EAL is up and every port has its ofport: exact TAPs in the kernel, in order", async () => {
      f = await fixture(n);
      d = f.start();
      const s = await d.until<NodeStatus>("/v1/status", isReady, 60000);
      const vsw = comp(s, "ovs-vswitchd");
      assert.ok(vsw?.pid, "vswitchd runs");
      assert.match(
        readFileSync(`/proc/${vsw?.pid}/cmdline`, "utf8"),
        /ovs-vswitchd-dpdk/,
        "the DPDK build runs, not the plain ovs-vswitchd",
      );
      // The DPDK keys were in other_config before vswitchd started (EAL reads them once).
      const oc = vsctl(f, "get", "Open_vSwitch", ".", "other_config");
      for (const kv of ['dpdk-init="true"', 'dpdk-socket-mem="1024"', 'dpdk-extra="--no-pci"']) {
        assert.ok(oc.includes(kv), `${kv} in ${oc}`);
      }
      const log = readFileSync(join(f.dir, "ovs/log/ovs-vswitchd.log"), "utf8");
      assert.match(log, /EAL ARGS: .*--socket-mem 1024/, "EAL got dpdk-socket-mem");
      assert.match(log, /--huge-dir /, "EAL got the hugetlbfs the component mounted");
      const taps = await assertPool(f, n);
      // In order: the pool API lists P4TAP_0..N-1 by index, P4TAP_0 as the host interface.
      const list = (await d.http("GET", "/v1/taps")).body as {
        taps: { name: string; index: number; state: string; ifindex: number | null }[];
      };
      assert.deepEqual(
        list.taps.map((t) => [t.name, t.index]),
        pool(n).map((name, i) => [name, i]),
      );
      assert.deepEqual(
        list.taps.map((t) => t.state),
        ["host", ...Array(n - 1).fill("available")],
      );
      for (const t of list.taps) assert.equal(t.ifindex, taps.get(t.name)?.ifindex, `${t.name} ifindex`);
      assert.equal(madeTapsLines(d.stdout).length, 1, "the pool was made with one call");
    });

    test("a TAP moved into a pod's netns is in use, stays so, and is not made again", async () => {
      const dp = `offloadd-${f.port}`;
      spawnSync("ip", ["netns", "add", podNs]);
      const r = spawnSync("ip", ["-n", dp, "link", "set", "P4TAP_3", "netns", podNs], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const taps = await waitFor(
        "P4TAP_3 in use",
        async () =>
          (
            (await d.http("GET", "/v1/taps")).body as {
              taps: { name: string; state: string; netns: string }[];
            }
          ).taps,
        (ts) => ts.find((t) => t.name === "P4TAP_3")?.state === "in-use",
      );
      assert.equal(taps.find((t) => t.name === "P4TAP_3")?.netns, podNs);
      // Two health intervals later: still ready, nothing added, the port still once in br0.
      await new Promise((res) => setTimeout(res, 4500));
      const s = (await d.http("GET", "/v1/status")).body as NodeStatus;
      assert.equal(s.phase, "ready", JSON.stringify(s.components.filter((c) => c.state !== "ready")));
      assert.equal(madeTapsLines(d.stdout).length, 1, "no port was added again");
      const ports = vsctl(f, "list-ports", "br0").split("\n");
      assert.equal(ports.filter((p) => p === "P4TAP_3").length, 1);
      assert.equal(
        (await kernelTaps(f)).has("P4TAP_3"),
        false,
        "no second P4TAP_3 in the datapath namespace",
      );
      const inPod = await listLinks(podNs);
      assert.ok(
        inPod.some((l) => l.name === "P4TAP_3" && l.kind === "tap"),
        "the pod still holds it",
      );
    });

    test("kill -9 ovs-vswitchd: its TAPs die with it, the pool is back whole (the pod's TAP too), the pod's loss said", () =>
      withDaemonLog(d, async () => {
        const before = (await d.http("GET", "/v1/status")).body as NodeStatus;
        const old = comp(before, "ovs-vswitchd")?.pid as number;
        const oldTaps = await kernelTaps(f);
        process.kill(old, "SIGKILL");
        const s = await d.until<NodeStatus>(
          "/v1/status",
          (st) => isReady(st) && comp(st, "ovs-vswitchd")?.pid !== old,
          60000,
        );
        assert.ok(comp(s, "ovs-vswitchd")?.pid);
        const taps = await assertPool(f, n);
        for (const [name, l] of taps) {
          assert.notEqual(l.ifindex, oldTaps.get(name)?.ifindex ?? -1, `${name} is a new TAP`);
        }
        assert.equal(
          (await listLinks(podNs)).some((l) => l.kind === "tap"),
          false,
          "the pod's TAP died with vswitchd",
        );
        // vswitchd made P4TAP_3 again by itself (available now), yet the pod lost its TAP: said, with a
        // new datapath generation for the heal (kubernetes.healAfterTargetRestart), as for a gNMI target.
        const said = await d.until<{ events: NodeEvent[] }>(
          "/v1/events?limit=1000",
          (b) =>
            b.events?.some((e) => e.message.includes("(kubernetes.healAfterTargetRestart: report)")) ?? false,
          30000,
        );
        const lost = said.events.find((e) => e.message.startsWith("pods lost their TAPs"));
        assert.equal(lost?.kind, "warning");
        assert.equal(
          lost?.message,
          "pods lost their TAPs P4TAP_3: they died with the restart of ovs-vswitchd; those pods need to be recreated",
        );
        const heal = said.events.find((e) => e.message.includes("healAfterTargetRestart: report"));
        assert.match(
          heal?.message ?? "",
          new RegExp(
            `^the P4 target restarted \\(datapath generation 1\\): pods lost their TAPs P4TAP_3 \\(netns ${podNs}, `,
          ),
        );
      }));

    test("kill -9 the daemon: the next adopts vswitchd and its ports; no port is added twice", async () => {
      const s0 = (await d.http("GET", "/v1/status")).body as NodeStatus;
      const vswPid = comp(s0, "ovs-vswitchd")?.pid;
      const before = await kernelTaps(f);
      d.proc.kill("SIGKILL");
      await d.exited;
      d = f.start();
      const s = await d.until<NodeStatus>("/v1/status", isReady, 60000).catch((err) => {
        console.log(
          d.stdout
            .split("\n")
            .filter((l) => l.includes("vswitchd"))
            .join("\n"),
        );
        throw err;
      });
      assert.equal(comp(s, "ovs-vswitchd")?.pid, vswPid, "vswitchd adopted, not restarted");
      assert.equal(comp(s, "ovs-vswitchd")?.adopted, true);
      const taps = await assertPool(f, n);
      for (const [name, l] of taps) {
        assert.equal(l.ifindex, before.get(name)?.ifindex, `${name}: the same TAP (not made again)`);
      }
      assert.deepEqual(madeTapsLines(d.stdout), [], "the new daemon added no port");
      const events = ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events;
      assert.equal(
        events.filter((e) => e.message.startsWith("pods lost their TAPs")).length,
        1,
        "an adopted vswitchd is no restart: only the loss of the vswitchd restart above",
      );
      assert.ok(!events.some((e) => e.message.includes("datapath generation 2")), "no second generation");
    });
  });
}

describe("dpdk backend: what DPDK cannot have is said before and by vswitchd", () => {
  test("hugepages short of dpdk-socket-mem: the component names the shortfall; vswitchd is not started", async () => {
    const f = await fixture(8, "4096");
    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", (st) => /short by/.test(JSON.stringify(st)), 30000);
    const text = JSON.stringify(s);
    assert.match(
      text,
      /ovs\.dpdk\.socketMem \\"4096\\" asks 4096 MB on (NUMA node 0|the host): 2048 pages of 2048 kB reserved/,
    );
    assert.match(text, /short by \d+ pages/);
    assert.equal(comp(s, "ovs-vswitchd")?.pid ?? null, null, "vswitchd not started");
    await done(f);
  });

  test("ports that do not fit in the huge pages: the pool fails with OVS's own Interface error", async () => {
    // 32 ports: a mempool each (8736 mbufs at 256 descriptors), about 19 fit in the 512 pages.
    const f = await fixture(32);
    const d = f.start();
    const s = await waitFor(
      "the pool's failure",
      // null until the API listens.
      () =>
        d
          .http("GET", "/v1/status", undefined, { timeoutMs: 10000 })
          .then((r) => r.body as NodeStatus)
          .catch(() => null),
      (st) => st !== null && /could not add \d+ of 32 DPDK TAP ports/.test(comp(st, "taps")?.lastError ?? ""),
      60000,
    );
    const err = (s && comp(s, "taps")?.lastError) ?? "";
    // OVS's text, as the Interface error column has it.
    assert.match(
      err,
      /P4TAP_\d+: could not add network device P4TAP_\d+ to ofproto \(Invalid argument\)/,
      err,
    );
    await done(f);
  });
});
