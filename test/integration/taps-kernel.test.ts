/**
 * The kernel-side adapters (daemon/host/links.ts, host-interface.ts, arp-proxy.ts) against the
 * real kernel, each suite in a network namespace it creates and deletes (inside the test
 * namespace of scripts/test.sh; nothing reaches the host's own interfaces or sysctls).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  arpProxyCommand,
  enableKernelArpProxy,
  kernelArpProxyState,
  kernelArpProxySysctls,
} from "../../daemon/host/arp-proxy";
import { describeFailure, runCommand } from "../../daemon/host/command";
import { ensureHostInterface, hostInterfaceState } from "../../daemon/host/host-interface";
import {
  createTaps,
  deleteGroup,
  deleteTaps,
  ifnameProblem,
  type LinkInfo,
  listLinks,
} from "../../daemon/host/links";
import { deleteNetns, ensureNetns } from "../../daemon/host/netns";
import { arpAsk, perlAvailable, TapHolder } from "../helpers/arp";

const GROUP = 42;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const pool = (n: number, prefix = "P4TAP_") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

async function ip(netns: string, ...args: string[]): Promise<void> {
  const argv = ["ip", "-n", netns, ...args];
  const r = await runCommand(argv, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(describeFailure(argv, r));
}

async function withNetns(tag: string): Promise<string> {
  const ns = `tk-${tag}-${process.pid}`;
  await deleteNetns(ns);
  await ensureNetns(ns);
  return ns;
}

const taps = (links: LinkInfo[]) => links.filter((l) => l.kind === "tap");
const byName = (links: LinkInfo[], n: string) => links.find((l) => l.name === n);

describe("kernel TAPs: one batch, listing, link group", () => {
  let ns = "";
  after(() => deleteNetns(ns));
  let keep: LinkInfo;
  before(async () => {
    ns = await withNetns("taps");
    // An unrelated link that must survive every deletion (dummy links are not built into this
    // kernel; a bridge is).
    await ip(ns, "link", "add", "keep0", "type", "bridge");
    keep = byName(await listLinks(ns), "keep0") as LinkInfo;
    assert.ok(keep, "keep0 listed");
  });

  for (const n of [8, 256]) {
    test(`${n} TAPs with one batch: listed exactly, then removed by group and nothing else`, async () => {
      const names = pool(n);
      const t0 = performance.now();
      await createTaps(ns, names, GROUP);
      const ms = performance.now() - t0;
      const links = await listLinks(ns);
      const made = taps(links);
      assert.deepEqual(made.map((l) => l.name).sort(), [...names].sort());
      for (const l of made) {
        assert.equal(l.group, GROUP, `${l.name} group`);
        assert.ok(Number.isInteger(l.ifindex) && l.ifindex > 0, `${l.name} ifindex`);
        assert.match(l.mac ?? "", MAC, `${l.name} mac`);
        assert.equal(l.operState, "DOWN", `${l.name}: nobody holds it open`);
      }
      assert.equal(new Set(made.map((l) => l.ifindex)).size, n, "distinct ifindexes");
      assert.equal(new Set(made.map((l) => l.mac)).size, n, "distinct MACs");
      assert.equal(links.filter((l) => l.group === GROUP).length, n, "only the TAPs are in the group");

      const t1 = performance.now();
      await deleteGroup(ns, GROUP);
      const delMs = performance.now() - t1;
      const left = await listLinks(ns);
      assert.deepEqual(taps(left), [], "no TAP left");
      assert.deepEqual(
        left.map((l) => l.name).sort(),
        links
          .filter((l) => l.group !== GROUP)
          .map((l) => l.name)
          .sort(),
      );
      assert.deepEqual(byName(left, "keep0"), keep, "the unrelated link survives unchanged");
      console.log(
        `# ${n} TAPs: create ${ms.toFixed(1)} ms (one batch), delete by group ${delMs.toFixed(1)} ms`,
      );
    });
  }

  test("deleteTaps removes exactly the named TAPs with one batch", async () => {
    await createTaps(ns, pool(4), GROUP);
    await deleteTaps(ns, ["P4TAP_1", "P4TAP_3"]);
    assert.deepEqual(
      taps(await listLinks(ns))
        .map((l) => l.name)
        .sort(),
      ["P4TAP_0", "P4TAP_2"],
    );
    await deleteGroup(ns, GROUP);
    assert.deepEqual(taps(await listLinks(ns)), []);
    assert.ok(byName(await listLinks(ns), "keep0"));
    await createTaps(ns, pool(8), GROUP);
    await deleteTaps(ns, ["P4TAP_4", "P4TAP_5", "P4TAP_6", "P4TAP_7"], { viaGroup: GROUP + 1 });
    assert.deepEqual(
      taps(await listLinks(ns))
        .map((l) => l.name)
        .sort(),
      ["P4TAP_0", "P4TAP_1", "P4TAP_2", "P4TAP_3"],
      "shrinking through a scratch group removes exactly the named TAPs",
    );
    await deleteGroup(ns, GROUP);
    assert.deepEqual(taps(await listLinks(ns)), []);
    assert.ok(byName(await listLinks(ns), "keep0"));
    await deleteGroup(ns, GROUP); // an empty group is success
    await deleteTaps(ns, []); // nothing to do runs nothing
  });

  test("invalid names are rejected before anything runs, naming the name and the rule", async () => {
    const initial = await listLinks(ns);
    const bad: Array<[string, RegExp]> = [
      ["a/b", /"a\/b" contains '\/'/],
      ["abcdefghijklmnop", /"abcdefghijklmnop" is 16 characters long \(at most 15\)/],
      ["", /"" is empty/],
      ["..", /"\.\." is '\.\.'/],
      [".", /"\." is '\.'/],
      ["a b", /"a b" contains " "/],
    ];
    for (const [name, msg] of bad) {
      assert.ok(ifnameProblem(name), name);
      // A valid name first: it must not be created either.
      await assert.rejects(createTaps(ns, ["P4TAP_0", name], GROUP), (e: Error) => {
        assert.match(e.message, msg);
        assert.match(e.message, /\[A-Za-z0-9_\.-\]/, "the rule is named");
        return true;
      });
      await assert.rejects(deleteTaps(ns, [name]), msg);
    }
    assert.equal(ifnameProblem("abcdefghijklmno"), null, "15 characters is fine");
    await assert.rejects(createTaps(ns, ["P4TAP_0", "P4TAP_0"], GROUP), /given twice/);
    await assert.rejects(createTaps(ns, ["P4TAP_0"], 0), /0 is the default group/);
    await assert.rejects(deleteGroup(ns, 0), /0 is the default group/);
    assert.deepEqual(await listLinks(ns), initial, "kernel unchanged");
  });

  test("a failing batch reports the command (name taken)", async () => {
    await assert.rejects(createTaps(ns, ["keep0"], GROUP), /-batch/);
    assert.deepEqual(byName(await listLinks(ns), "keep0"), keep);
  });
});

describe("host interface: P4TAP_0 → TAP_0, up, 169.254.1.1/32, idempotent", () => {
  let ns = "";
  after(() => deleteNetns(ns));
  const spec = { from: "P4TAP_0", name: "TAP_0", address: "169.254.1.1/32" };
  before(async () => {
    ns = await withNetns("hostif");
    await createTaps(ns, pool(2), GROUP);
  });

  test("rename, up, address; again is success; a removed address or a downed link is restored", async () => {
    const p4tap0 = byName(await listLinks(ns), "P4TAP_0") as LinkInfo;
    const first = await ensureHostInterface(ns, spec);
    assert.deepEqual([first.renamed, first.broughtUp, first.addressAdded], [true, true, true]);
    assert.deepEqual(
      { exists: first.state.exists, up: first.state.up, hasAddress: first.state.hasAddress },
      { exists: true, up: true, hasAddress: true },
    );
    const links = await listLinks(ns);
    assert.equal(byName(links, "P4TAP_0"), undefined, "P4TAP_0 is gone");
    const tap0 = byName(links, "TAP_0") as LinkInfo;
    assert.equal(tap0.ifindex, p4tap0.ifindex, "same device, renamed");
    assert.equal(tap0.mac, p4tap0.mac);
    assert.equal(tap0.mac, first.state.mac);
    assert.ok(tap0.flags.includes("UP"));

    const again = await ensureHostInterface(ns, spec);
    assert.deepEqual([again.renamed, again.broughtUp, again.addressAdded], [false, false, false]);

    await ip(ns, "addr", "del", "169.254.1.1/32", "dev", "TAP_0");
    assert.equal(
      (await hostInterfaceState(ns, "TAP_0", spec.address)).hasAddress,
      false,
      "probe sees it gone",
    );
    const restored = await ensureHostInterface(ns, spec);
    assert.deepEqual([restored.renamed, restored.broughtUp, restored.addressAdded], [false, false, true]);
    assert.equal((await hostInterfaceState(ns, "TAP_0", spec.address)).hasAddress, true);

    await ip(ns, "link", "set", "dev", "TAP_0", "down");
    const up = await ensureHostInterface(ns, spec);
    assert.deepEqual([up.renamed, up.broughtUp, up.addressAdded], [false, true, false]);
    assert.equal(up.state.up, true);
    assert.equal(up.state.hasAddress, true, "the address survives down/up");
  });

  test("already renamed by hand is success", async () => {
    await ip(ns, "link", "set", "dev", "P4TAP_1", "name", "TAP_1");
    const r = await ensureHostInterface(ns, { from: "P4TAP_1", name: "TAP_1", address: "169.254.1.9" });
    assert.equal(r.renamed, false);
    assert.equal(r.state.up && r.state.hasAddress, true);
  });

  test("neither interface: a clear error; bad names and addresses refused", async () => {
    await assert.rejects(
      ensureHostInterface(ns, { from: "P4TAP_9", name: "TAP_9", address: "169.254.1.1/32" }),
      /neither TAP_9 nor P4TAP_9 exists in network namespace tk-hostif-/,
    );
    assert.deepEqual(await hostInterfaceState(ns, "TAP_9", "169.254.1.1/32"), {
      exists: false,
      up: false,
      hasAddress: false,
      ifindex: null,
      mac: null,
      operState: null,
    });
    await assert.rejects(ensureHostInterface(ns, { ...spec, name: "TAP/0" }), /contains '\/'/);
    await assert.rejects(ensureHostInterface(ns, { ...spec, address: "169.254.1.300/32" }), /invalid host/);
    await assert.rejects(ensureHostInterface(ns, { ...spec, address: "169.254.1.1/33" }), /invalid host/);
  });
});

describe("ARP proxy: kernel mode and the production argv", () => {
  let ns = "";
  after(() => deleteNetns(ns));
  before(async () => {
    ns = await withNetns("arp");
    await createTaps(ns, pool(8), GROUP);
    await ensureHostInterface(ns, { from: "P4TAP_0", name: "TAP_0", address: "169.254.1.1/32" });
    // A "pod" behind another interface, for the proxied case.
    await ip(ns, "link", "add", "pod0", "type", "veth", "peer", "name", "pod0p");
    await ip(ns, "link", "set", "pod0", "up");
    await ip(ns, "link", "set", "pod0p", "up");
    await ip(ns, "route", "add", "10.244.0.5/32", "dev", "pod0");
  });

  test("production argv: ARP_PROXY_IF=TAP_0 <binary>", () => {
    assert.deepEqual(arpProxyCommand("/usr/local/bin/arp_proxy", "TAP_0"), {
      argv: ["/usr/local/bin/arp_proxy"],
      env: { ARP_PROXY_IF: "TAP_0" },
    });
    assert.throws(() => arpProxyCommand("/usr/local/bin/arp_proxy", ""), /is empty/);
    assert.throws(() => arpProxyCommand("", "TAP_0"), /no binary/);
    assert.deepEqual(kernelArpProxySysctls("eth0.100")[0], ["net.ipv4.conf.eth0/100.proxy_arp", "1"]);
  });

  test("kernel mode: settings applied in the namespace and verified; a missing interface says so", async () => {
    const off = await kernelArpProxyState(ns, "TAP_0");
    assert.equal(off.exists, true);
    assert.equal(off.ok, false);
    const on = await enableKernelArpProxy(ns, "TAP_0");
    assert.deepEqual(on, { exists: true, proxyArp: true, forwarding: true, proxyDelay: 0, ok: true });
    assert.deepEqual(await kernelArpProxyState(ns, "TAP_0"), on);
    // Only that interface forwards; the namespace as a whole does not.
    const r = await runCommand(["ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward"], {
      timeoutMs: 5000,
    });
    assert.equal(r.stdout.trim(), "0");
    assert.equal((await kernelArpProxyState(ns, "NOPE_0")).exists, false);
    await assert.rejects(enableKernelArpProxy(ns, "NOPE_0"), /kernel ARP proxy on NOPE_0/);
  });

  test("a real ARP request on TAP_0 is answered with TAP_0's MAC (own address and proxied)", async (t) => {
    if (!perlAvailable()) {
      t.skip("perl (Debian's Essential perl-base) is missing: cannot hold the TAP open");
      return;
    }
    // Start from the kernel's defaults to show what proxy_arp changes.
    await runCommand(
      [
        "ip",
        "netns",
        "exec",
        ns,
        "sysctl",
        "-w",
        "net.ipv4.conf.TAP_0.proxy_arp=0",
        "net.ipv4.conf.TAP_0.forwarding=0",
        "net.ipv4.neigh.TAP_0.proxy_delay=80",
      ],
      { timeoutMs: 5000 },
    );
    const tap = await TapHolder.open(ns, "TAP_0");
    try {
      const tap0 = byName(await listLinks(ns), "TAP_0") as LinkInfo;
      assert.equal(tap0.operState, "UP", "held open, the TAP has carrier");

      const own = await arpAsk(tap, { targetIp: "169.254.1.1" });
      assert.ok(own, "an answer for 169.254.1.1");
      assert.equal(own.reply.op, 2);
      assert.equal(own.reply.senderMac, tap0.mac, "TAP_0's MAC");
      assert.equal(own.reply.ethSrc, tap0.mac);
      assert.equal(own.reply.targetMac, "02:00:00:00:00:02");

      assert.equal(await arpAsk(tap, { targetIp: "10.244.0.5", timeoutMs: 1500 }), null, "no proxy yet");

      await enableKernelArpProxy(ns, "TAP_0");
      const proxied = await arpAsk(tap, { targetIp: "10.244.0.5", senderIp: "169.254.1.3" });
      assert.ok(proxied, "proxied answer for an address routed through pod0");
      assert.equal(proxied.reply.senderMac, tap0.mac, "TAP_0's MAC, not pod0's");
      console.log(
        `# ARP on TAP_0 (${tap0.mac}): 169.254.1.1 in ${own.ms.toFixed(1)} ms, proxied 10.244.0.5 in ${proxied.ms.toFixed(1)} ms`,
      );
    } finally {
      await tap.close();
    }
    // The kernel drops carrier asynchronously once the holder's fd is closed.
    let later = byName(await listLinks(ns), "TAP_0") as LinkInfo;
    for (let i = 0; i < 100 && later?.operState !== "DOWN"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      later = byName(await listLinks(ns), "TAP_0") as LinkInfo;
    }
    assert.equal(later?.operState, "DOWN", "the TAP stays (persistent), without carrier again");
  });
});
