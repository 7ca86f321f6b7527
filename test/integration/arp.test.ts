/**
 * ARP on TAP_0 through the daemon, in both ARP proxy modes: a request written into TAP_0 (as the
 * datapath's port 0 would) is answered with TAP_0's MAC. Kernel TAP backend (persistent TAPs that a
 * test process can hold open; test/helpers/arp.ts says why), real kernel, real daemon.
 */
import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { NodeStatus } from "../../daemon/engine/component";
import { listLinks } from "../../daemon/host/links";
import { arpAsk, perlAvailable, TapHolder } from "../helpers/arp";
import { daemonFixture, repoRoot, scratchDir } from "../helpers/daemon";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
after(async () => {
  for (const f of fixtures) await f.cleanup();
});
const isReady = (s: NodeStatus) => s.phase === "ready";
const kernelPool = { taps: { backend: "kernel" }, target: { simulator: false } };

async function tap0Mac(ns: string): Promise<string> {
  return (await listLinks(ns)).find((l) => l.name === "TAP_0")?.mac as string;
}

describe("ARP on TAP_0 through the daemon", { skip: perlAvailable() ? false : "perl is missing" }, () => {
  test("kernel mode: 169.254.1.1 is answered with TAP_0's MAC", async () => {
    const f = await daemonFixture({ ...kernelPool, arpProxy: { mode: "kernel" } });
    fixtures.push(f);
    const ns = `offloadd-${f.port}`;
    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", isReady, 40000);
    assert.ok(
      !s.components.some((c) => c.name === "pipeline" || c.name === "p4-target"),
      "no P4 target here",
    );
    const tap = await TapHolder.open(ns, "TAP_0");
    try {
      const a = await arpAsk(tap, { targetIp: "169.254.1.1" });
      assert.ok(a, "answered");
      assert.equal(a.reply.senderMac, await tap0Mac(ns));
      assert.equal(a.reply.ethSrc, await tap0Mac(ns));
    } finally {
      await tap.close();
    }
  });

  test("binary mode: the supervised arp_proxy (ARP_PROXY_IF=TAP_0) answers with TAP_0's MAC", async () => {
    const dir = scratchDir("offloadd-arp-");
    const bin = join(dir, "arp_proxy");
    writeFileSync(
      bin,
      `#!/bin/sh\nexec "${process.execPath}" "${join(repoRoot, "dist/test/sim/arp-proxy-sim.js")}"\n`,
    );
    chmodSync(bin, 0o755);
    const f = await daemonFixture({ ...kernelPool, arpProxy: { mode: "binary", binary: bin } });
    fixtures.push(f);
    const ns = `offloadd-${f.port}`;
    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", isReady, 40000);
    const proxy = s.components.find((c) => c.name === "arp-proxy");
    assert.ok(proxy?.pid, "arp_proxy runs as a supervised child");
    const tap = await TapHolder.open(ns, "TAP_0");
    try {
      // Wait until the proxy has bound its socket (it says so in its log).
      await d.until<NodeStatus>("/v1/status", (st) =>
        st.components.some(
          (c) => c.name === "arp-proxy" && c.logTail.some((l) => l.includes("answering ARP on TAP_0")),
        ),
      );
      // An address the kernel would not answer for (no proxy_arp in this mode): only arp_proxy does.
      const a = await arpAsk(tap, { targetIp: "10.244.0.5", timeoutMs: 3000 });
      assert.ok(a, "answered by arp_proxy");
      assert.equal(a.reply.senderMac, await tap0Mac(ns));
      assert.equal(a.reply.senderIp, "10.244.0.5");
      const own = await arpAsk(tap, { targetIp: "169.254.1.1" });
      assert.equal(own?.reply.senderMac, await tap0Mac(ns));
    } finally {
      await tap.close();
    }
  });
});
