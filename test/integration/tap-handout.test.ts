/**
 * A pool that is handed out, end to end: the real daemon with Debian OVS and the strict P4 target
 * simulator, a stand-in CNI agent taking TAPs for pods as pkg/netconf/tap.go does. With 3 of 8
 * handed out the node stays ready, nothing is made again and /v1/taps says which; after kill -9 and
 * a restart of the daemon, ready again with the same three in use; after the target restarts the
 * pool is whole and in order (port numbers from the simulator's ports file) and an event names the
 * TAPs the pods lost.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import type { NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { CniAgent } from "../helpers/cni-agent";
import { daemonFixture, sleep } from "../helpers/daemon";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
const agents: CniAgent[] = [];
after(async () => {
  for (const a of agents) a.cleanup();
  for (const f of fixtures) await f.cleanup();
});

interface TapsBody {
  counts: { available: number; inUse: number; lost: number; missing: number; host: number };
  taps: { name: string; state: string; netns: string | null; kernelName: string | null }[];
}

const isReady = (s: NodeStatus) => s.phase === "ready";
const names = (n: number) => Array.from({ length: n }, (_, i) => `P4TAP_${i}`);

function portsOf(file: string): [string, number][] {
  if (!existsSync(file)) return [];
  const j = JSON.parse(readFileSync(file, "utf8")) as { ports: { name: string; port: number }[] };
  return j.ports.map((p) => [p.name, p.port]);
}

test("3 of 8 handed out: ready, nothing made again; kill -9 and restart: same three in use; target restart: whole, in order", async () => {
  const f = await daemonFixture({
    supervisor: { stableAfterMs: 500 },
    taps: { count: 8, backend: "gnmi", lowWatermark: 5 },
  });
  fixtures.push(f);
  const ns = `offloadd-${f.port}`;
  const portsFile = join(f.dir, "run", "p4-target-ports.json");
  const inOrder = names(8).map((n, i) => [n, i]);
  let d = f.start();
  await d.until<NodeStatus>("/v1/status", isReady, 40000);
  assert.deepEqual(portsOf(portsFile), inOrder, "P4TAP_k is port k");

  const cni = new CniAgent(ns);
  agents.push(cni);
  // As the infra agent does: the first TAPs GetTapInterfaces finds (TAP_0 is not P4TAP_*).
  const pods = [await cni.addPod(), await cni.addPod(), await cni.addPod()];
  assert.deepEqual(
    pods.map((p) => p.tap),
    ["P4TAP_1", "P4TAP_2", "P4TAP_3"],
  );
  const inUse = (b: TapsBody) =>
    pods.every((p) => {
      const t = b.taps.find((x) => x.name === p.tap);
      return t?.state === "in-use" && t.netns === p.netns && t.kernelName === "eth0";
    });
  const body = await d.until<TapsBody>("/v1/taps", inUse);
  assert.deepEqual(body.counts, { available: 4, inUse: 3, lost: 0, missing: 0, host: 1 });
  // The pool's own look (reconcile) feeds /metrics and the watermark event.
  await d.until<string>("/metrics", (m) => /^k8s_offloadd_taps_in_use 3$/m.test(String(m)));
  const metrics = (await d.http("GET", "/metrics")).text;
  assert.match(metrics, /^k8s_offloadd_taps_available 4$/m);
  assert.match(metrics, /^k8s_offloadd_taps_lost 0$/m);
  const evs = (await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] };
  assert.ok(
    evs.events.some(
      (e) =>
        e.kind === "warning" && /fell below taps.lowWatermark \(5\): 4 available, 3 in use/.test(e.message),
    ),
  );
  assert.equal((await d.http("GET", "/v1/ready")).status, 200);
  await sleep(2500); // more than one reconcile interval: nothing is made again
  assert.equal((await d.http("GET", "/v1/ready")).status, 200);
  assert.deepEqual(portsOf(portsFile), inOrder, "nothing made again");
  const errors = (
    (await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }
  ).events.filter((e) => e.component === "taps" && e.kind === "error");
  assert.deepEqual(errors, []);

  // kill -9 the daemon (the datapath keeps running), start it again: ready, the same three in use.
  d.proc.kill("SIGKILL");
  await d.exited;
  d = f.start();
  await d.until<NodeStatus>("/v1/status", isReady, 40000);
  const again = await d.until<TapsBody>("/v1/taps", inUse);
  assert.equal(again.counts.inUse, 3);
  assert.deepEqual(portsOf(portsFile), inOrder, "nothing made again after the daemon restart");

  // The target restarts: every port (the pods' too) dies with it; the pool is made whole, in order.
  const s0 = (await d.http("GET", "/v1/status")).body as NodeStatus;
  const simPid = s0.components.find((c) => c.name === "p4-target")?.pid as number;
  process.kill(simPid, "SIGKILL");
  await d.until<NodeStatus>(
    "/v1/status",
    (s) => isReady(s) && s.components.find((c) => c.name === "p4-target")?.pid !== simPid,
    40000,
  );
  assert.deepEqual(portsOf(portsFile), inOrder, "made again from P4TAP_0, in order");
  const whole = await d.until<TapsBody>("/v1/taps", (b) => b.counts.available === 7);
  assert.deepEqual(whole.counts, { available: 7, inUse: 0, lost: 0, missing: 0, host: 1 });
  const all = ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events;
  const lost = all.find((e) => e.kind === "warning" && /^pods lost their TAPs/.test(e.message));
  assert.match(lost?.message ?? "", /P4TAP_1, P4TAP_2, P4TAP_3: they died with the P4 target's restart/);
});
