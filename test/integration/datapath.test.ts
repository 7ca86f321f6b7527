/**
 * The daemon's datapath end to end: the P4 target simulator as a supervised child, the TAP pool
 * created over gNMI in the daemon's namespace, TAP_0 with its address, the kernel ARP proxy; real
 * HTTP, real kernel TAPs, inside the test namespace.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { listLinks } from "../../daemon/host/links";
import { P4RuntimeClient } from "../../daemon/host/p4runtime-client";
import { daemonFixture, repoRoot, scratchDir, sleep } from "../helpers/daemon";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
const scratch = scratchDir("offloadd-artifacts-");
after(async () => {
  for (const f of fixtures) await f.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

/** Artifact files standing in for k8s_dp.pb.bin, p4Info.txt and k8s_dp.conf, with their pins. */
function artifacts() {
  const pin = (name: string, content: string) => {
    const path = join(scratch, name);
    writeFileSync(path, content);
    return { path, sha256: createHash("sha256").update(content).digest("hex") };
  };
  return {
    pbBin: pin("k8s_dp.pb.bin", "\u0001\u0002device-config-bytes"),
    p4info: pin("p4Info.txt", 'pkg_info { arch: "pna" }\n'),
    conf: pin("k8s_dp.conf", "{}\n"),
  };
}

const isReady = (s: NodeStatus) => s.phase === "ready";
const pool = (n: number) => ["TAP_0", ...Array.from({ length: n - 1 }, (_, i) => `P4TAP_${i + 1}`)].sort();

async function taps(ns: string): Promise<string[]> {
  return (await listLinks(ns))
    .filter((l) => l.kind === "tap")
    .map((l) => l.name)
    .sort();
}

async function until(what: string, pred: () => Promise<boolean>, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("datapath: TAP pool over gNMI, TAP_0, ARP proxy", () => {
  test("ready with 8 TAPs and TAP_0 addressed; resize rules; reconcile; target restart", async () => {
    // stableAfterMs short: the simulator, killed below after a stable run, is restarted at once.
    const f = await daemonFixture({ supervisor: { stableAfterMs: 500 } });
    fixtures.push(f);
    const ns = `offloadd-${f.port}`;
    const d = f.start();
    await d.until<NodeStatus>("/v1/status", isReady, 40000);
    assert.deepEqual(await taps(ns), pool(8));
    const addr = execFileSync("ip", ["-n", ns, "-j", "addr", "show", "dev", "TAP_0"], { encoding: "utf8" });
    assert.match(addr, /"local":"169\.254\.1\.1","prefixlen":32/);

    const g = await d.http("GET", "/v1/taps");
    assert.equal(g.status, 200);
    const body = g.body as {
      count: number;
      backend: string;
      counts: Record<string, number>;
      taps: { name: string; kernelName: string; state: string; createdByUs: boolean }[];
    };
    assert.equal(body.count, 8);
    assert.equal(body.backend, "gnmi");
    assert.deepEqual(
      body.taps.map((t) => t.name),
      Array.from({ length: 8 }, (_, i) => `P4TAP_${i}`),
    );
    assert.deepEqual(body.taps.map((t) => t.kernelName).sort(), pool(8));
    assert.deepEqual(
      body.taps.map((t) => t.state),
      ["host", ...Array(7).fill("available")],
    );
    assert.deepEqual(body.counts, { available: 7, inUse: 0, lost: 0, missing: 0, host: 1 });
    assert.ok(body.taps.every((t) => t.createdByUs));

    // Bad counts: 400 naming the allowed values, the kernel unchanged.
    for (const count of [12, 0, 4, 3, "8", 1e9]) {
      const r = await d.http("PUT", "/v1/taps", { count });
      assert.equal(r.status, 400, `count ${JSON.stringify(count)}`);
      assert.match((r.body as { message: string }).message, /allowed: one of 8, 16, 32, .*1024/);
    }
    assert.deepEqual(await taps(ns), pool(8));

    const grown = await d.http("PUT", "/v1/taps", { count: 16 });
    assert.equal(grown.status, 200);
    assert.deepEqual(await taps(ns), pool(16));
    const shrink = await d.http("PUT", "/v1/taps", { count: 8 });
    assert.equal(shrink.status, 409);
    assert.match((shrink.body as { message: string }).message, /no port deletion over gNMI/);
    assert.deepEqual(await taps(ns), pool(16), "nothing changed");

    // Deleted behind the daemon's back: lost. Its port stays configured in the target (every leaf
    // is one-time in P4-OVS 22.07), so it is NOT made again while the target runs; an event says so.
    execFileSync("ip", ["-n", ns, "link", "del", "P4TAP_3"]);
    const lostEvent = (e: NodeEvent) =>
      e.component === "taps" && /^lost P4TAP_3: the kernel side is gone/.test(e.message);
    await until("P4TAP_3 lost", async () =>
      ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events.some(lostEvent),
    ).catch(async (err) => {
      const all = ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events;
      throw new Error(
        `${err.message}; taps events: ${JSON.stringify(all.filter((e) => e.component === "taps"))}`,
      );
    });
    const afterLoss = (await d.http("GET", "/v1/taps")).body as { taps: { name: string; state: string }[] };
    assert.equal(afterLoss.taps.find((t) => t.name === "P4TAP_3")?.state, "lost");
    assert.ok(!(await taps(ns)).includes("P4TAP_3"), "not made again");
    assert.equal((await d.http("GET", "/v1/ready")).status, 200, "a lost TAP leaves the node ready");

    // Gone while the target does not answer (stopped here; a target being killed takes its TAPs down
    // first): not taken for lost, nothing said or stored, until a look the target answers.
    const lost4 = (e: NodeEvent) => e.component === "taps" && /^lost P4TAP_4: /.test(e.message);
    const st = (await d.http("GET", "/v1/status")).body as NodeStatus;
    const target = st.components.find((c) => c.name === "p4-target")?.pid as number;
    process.kill(target, "SIGSTOP");
    try {
      execFileSync("ip", ["-n", ns, "link", "del", "P4TAP_4"]);
      const look = (await d.http("GET", "/v1/taps")).body as { taps: { name: string; state: string }[] };
      assert.equal(look.taps.find((t) => t.name === "P4TAP_4")?.state, "lost", "the look saw it gone");
      const evs = ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events;
      assert.ok(!evs.some(lost4), "not said while the target did not answer");
    } finally {
      process.kill(target, "SIGCONT");
    }
    await until("P4TAP_4 lost once the target answers", async () =>
      ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events.some(lost4),
    );

    // TAP_0's address removed by hand: restored.
    execFileSync("ip", ["-n", ns, "addr", "flush", "dev", "TAP_0"]);
    await until("the address restored", async () =>
      /169\.254\.1\.1/.test(
        execFileSync("ip", ["-n", ns, "-j", "addr", "show", "dev", "TAP_0"], { encoding: "utf8" }),
      ),
    );

    // Kill the target: its TAPs vanish, the node is degraded, then the pool and TAP_0 come back.
    await sleep(600);
    const s0 = (await d.http("GET", "/v1/status")).body as NodeStatus;
    const simPid = s0.components.find((c) => c.name === "p4-target")?.pid as number;
    process.kill(simPid, "SIGKILL");
    await f.notify.waitFor((m) => /^degraded/.test(m.fields.STATUS ?? ""), 10000);
    await d.until<NodeStatus>(
      "/v1/status",
      (s) => isReady(s) && s.components.find((c) => c.name === "p4-target")?.pid !== simPid,
      40000,
    );
    // The pool is created again at its current size, TAP_0 renamed and addressed: nothing missing,
    // nothing twice, nothing left over.
    assert.deepEqual(await taps(ns), pool(16));
  });

  test("P4 pipeline: loaded through the loader, verified over P4Runtime, loaded again after a target restart", async () => {
    const a = artifacts();
    const setPipe = join(repoRoot, "dist/test/sim/set-pipe.js");
    const f = await daemonFixture({
      supervisor: { stableAfterMs: 500 },
      pipeline: {
        artifacts: a,
        load: true,
        loader: [process.execPath, setPipe, "--p4rt", "P4RT", "{pbBin}", "{p4info}"],
      },
    });
    fixtures.push(f);
    // The fixture picked the simulator's P4Runtime port: point the loader at it.
    const cfgText = readFileSync(f.configFile, "utf8");
    const p4rtAddr = /p4runtime: (\S+)/.exec(cfgText)?.[1] as string;
    writeFileSync(f.configFile, cfgText.replace("- P4RT", `- ${p4rtAddr}`));
    const d = f.start();
    await d.until<NodeStatus>("/v1/status", isReady, 40000);
    const client = new P4RuntimeClient({ address: p4rtAddr, timeoutMs: 2000 });
    try {
      const first = await client.pipelineLoaded(1);
      assert.equal(first.loaded, true);
      await sleep(600);
      const s0 = (await d.http("GET", "/v1/status")).body as NodeStatus;
      const simPid = s0.components.find((c) => c.name === "p4-target")?.pid as number;
      process.kill(simPid, "SIGKILL");
      await d.until<NodeStatus>(
        "/v1/status",
        (s) => isReady(s) && s.components.find((c) => c.name === "p4-target")?.pid !== simPid,
        40000,
      );
      const again = await client.pipelineLoaded(1);
      assert.equal(again.loaded, true, "loaded again on the restarted target");
      assert.notEqual(again.cookie, first.cookie, "a new Set, not the old state");
      const evs = (await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] };
      const loads = evs.events.filter(
        (e) => e.component === "pipeline" && /^loaded the P4 pipeline/.test(e.message),
      );
      assert.equal(loads.length, 2);
    } finally {
      client.close();
    }
  });

  test("P4 pipeline: a modified artifact is refused, naming the file and both hashes", async () => {
    const a = artifacts();
    writeFileSync(a.conf.path, "{ modified }\n");
    const found = createHash("sha256").update("{ modified }\n").digest("hex");
    const f = await daemonFixture({ pipeline: { artifacts: a } });
    fixtures.push(f);
    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", (st) => st.phase === "failed", 40000);
    const p = s.components.find((c) => c.name === "pipeline");
    assert.equal(p?.state, "failed");
    assert.ok(
      p?.lastError?.includes(
        `P4 artifact conf (${a.conf.path}) is modified: sha256 expected ${a.conf.sha256}, found ${found}`,
      ),
      p?.lastError ?? "",
    );
  });
});
