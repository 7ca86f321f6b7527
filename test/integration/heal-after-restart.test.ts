/**
 * Healing after a P4 target restart, on a real daemon with the strict simulator (test/sim) making real
 * TAPs in the daemon's datapath namespace. A stand-in CNI agent (test/helpers/cni-agent.ts) moves two
 * pool TAPs into network namespaces the test made, as the infra agent does for pods; a stand-in crictl
 * says which pod each namespace belongs to (`crictl pods -o json`, `crictl inspectp -o json ID`), a
 * stand-in kubectl records what it is asked to delete. The simulator is killed: every TAP dies with it.
 * A kubectl that hangs is left by a daemon killed with SIGKILL (the next daemon ends it) or ended by
 * daemon stop: the heal's tools are recorded step processes, as the jobs' are.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { parse, stringify } from "yaml";
import type { ComponentStatus, NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { CniAgent, type Pod } from "../helpers/cni-agent";
import { type DaemonProcess, daemonFixture, scratchDir, sleep } from "../helpers/daemon";
import { StandIns } from "../helpers/stand-ins";

const NODE = "node-a";
const fixtures: Awaited<ReturnType<typeof daemonFixture>>[] = [];
const agents: CniAgent[] = [];
const scratches: string[] = [];
const sleepers: number[] = [];
after(async () => {
  for (const pid of sleepers) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  for (const a of agents) a.cleanup();
  for (const f of fixtures) await f.cleanup();
  for (const s of scratches) rmSync(s, { recursive: true, force: true });
});

async function events(d: DaemonProcess): Promise<NodeEvent[]> {
  return ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events;
}

/** The runtime's view: each stand-in pod (name, namespace) in the netns its TAP was moved into. */
function runtimeHas(
  dir: string,
  pods: { id: string; name: string; namespace: string; netns: string }[],
): void {
  const items = pods.map((p) => ({
    id: p.id,
    metadata: { name: p.name, namespace: p.namespace, uid: p.id },
  }));
  writeFileSync(join(dir, "pods.json"), JSON.stringify({ items }));
  for (const p of pods) {
    const spec = {
      linux: { namespaces: [{ type: "pid" }, { type: "network", path: `/var/run/netns/${p.netns}` }] },
    };
    writeFileSync(
      join(dir, `inspectp-${p.id}.json`),
      JSON.stringify({ status: { id: p.id }, info: { runtimeSpec: spec } }),
    );
  }
}

/** Kills the simulator (every DPDK TAP dies with it) and waits until the node is ready again. */
async function restartTarget(d: DaemonProcess): Promise<void> {
  const before = ((await d.http("GET", "/v1/components/p4-target")).body as ComponentStatus).pid as number;
  await sleep(300);
  process.kill(before, "SIGKILL");
  await d.until<NodeStatus>(
    "/v1/status",
    (s) => s.phase === "ready" && s.components.some((c) => c.name === "p4-target" && c.pid !== before),
    60_000,
  );
}

function setHeal(configFile: string, mode: string): void {
  const cfg = parse(readFileSync(configFile, "utf8")) as { kubernetes: Record<string, unknown> };
  cfg.kubernetes.healAfterTargetRestart = mode;
  writeFileSync(configFile, stringify(cfg));
}

function generations(stateDb: string): { generation: number; heal_state: string; lost: string }[] {
  const db = new Database(stateDb, { readonly: true });
  try {
    return db
      .prepare("SELECT generation, heal_state, lost FROM datapath_generations ORDER BY generation")
      .all() as {
      generation: number;
      heal_state: string;
      lost: string;
    }[];
  } finally {
    db.close();
  }
}

/** Whether pid runs (a zombie or a missing pid does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "");
  } catch {
    return false;
  }
}

/** The recorded step processes (job steps' and heals' tools) still in the state database. */
function stepRecords(stateDb: string): { argv: string }[] {
  const db = new Database(stateDb, { readonly: true });
  try {
    return db.prepare("SELECT argv FROM step_processes").all() as { argv: string }[];
  } finally {
    db.close();
  }
}

describe("heal after a target restart", () => {
  test("report names the lost TAPs and their pods; recreate deletes exactly the manager pod and those pods, once per generation, also across a kill mid-deletion", async () => {
    const dir = scratchDir("offloadd-heal-");
    scratches.push(dir);
    const tools = new StandIns(dir);
    tools.add(
      "crictl",
      `case "$1" in pods) /bin/cat '${dir}/pods.json';; inspectp) /bin/cat "${dir}/inspectp-$4.json";; esac`,
    );
    tools.add("kubectl");
    const f = await daemonFixture({
      kubernetes: {
        toolPath: [tools.bin],
        nodeName: NODE,
        kubeconfig: null,
        healAfterTargetRestart: "report",
      },
    });
    fixtures.push(f);
    const stateDb = join(f.dir, "state", "state.db");
    const cni = new CniAgent(`offloadd-${f.port}`);
    agents.push(cni);

    // ---- report ----
    let d = f.start();
    await d.until<NodeStatus>("/v1/status", (s) => s.phase === "ready", 60_000);
    const [web, db] = [await cni.addPod("P4TAP_2"), await cni.addPod("P4TAP_5")] as [Pod, Pod];
    runtimeHas(dir, [
      { id: "aaa111", name: "web-1", namespace: "default", netns: web.netns },
      { id: "bbb222", name: "db-0", namespace: "shop", netns: db.netns },
      { id: "ccc333", name: "other", namespace: "default", netns: "cni-not-a-tap-holder" },
    ]);
    // The pool looks where its TAPs are (and records it): both in use, in the pods' namespaces.
    const taps = (await d.http("GET", "/v1/taps")).body as {
      taps: { name: string; state: string; netns: string }[];
    };
    for (const [tap, pod] of [
      ["P4TAP_2", web],
      ["P4TAP_5", db],
    ] as const) {
      const v = taps.taps.find((t) => t.name === tap);
      assert.deepEqual([v?.state, v?.netns], ["in-use", pod.netns], tap);
    }
    await restartTarget(d);
    const reported = await d.until<{ events: NodeEvent[] }>(
      "/v1/events?limit=1000",
      (b) =>
        b.events?.some((e) => e.message.includes("(kubernetes.healAfterTargetRestart: report)")) ?? false,
      30_000,
    );
    const report = reported.events.find((e) => e.message.includes("healAfterTargetRestart: report"));
    assert.equal(report?.kind, "warning");
    assert.equal(
      report?.message,
      `the P4 target restarted (datapath generation 1): pods lost their TAPs P4TAP_2 (netns ${web.netns}, pod default/web-1), P4TAP_5 (netns ${db.netns}, pod shop/db-0); those pods and the infra manager need to be recreated (kubernetes.healAfterTargetRestart: report)`,
    );
    assert.deepEqual(
      tools.calls().filter((c) => c.startsWith("kubectl")),
      [],
      "report deletes nothing",
    );
    assert.deepEqual(tools.calls(), [
      "crictl pods -o json",
      "crictl inspectp -o json aaa111",
      "crictl inspectp -o json bbb222",
      "crictl inspectp -o json ccc333",
    ]);
    await d.stop();

    // ---- recreate ----
    setHeal(f.configFile, "recreate");
    tools.clearCalls();
    d = f.start();
    await d.until<NodeStatus>("/v1/status", (s) => s.phase === "ready", 60_000);
    const [web2, db2] = [await cni.addPod("P4TAP_3"), await cni.addPod("P4TAP_6")] as [Pod, Pod];
    runtimeHas(dir, [
      { id: "ddd444", name: "web-2", namespace: "default", netns: web2.netns },
      { id: "eee555", name: "db-1", namespace: "shop", netns: db2.netns },
      { id: "ccc333", name: "other", namespace: "default", netns: "cni-not-a-tap-holder" },
    ]);
    await d.http("GET", "/v1/taps");
    await restartTarget(d);
    const healed = await d.until<{ events: NodeEvent[] }>(
      "/v1/events?limit=1000",
      (b) => b.events?.some((e) => e.message.startsWith("datapath generation 2: deleted")) ?? false,
      30_000,
    );
    const said = healed.events.find((e) => e.message.startsWith("datapath generation 2: deleted"));
    assert.equal(
      said?.message,
      `datapath generation 2: deleted on node ${NODE}: infra manager pod (kube-system, name=inframanager), pod default/web-2, pod shop/db-1`,
    );
    assert.deepEqual(
      tools.calls().filter((c) => c.startsWith("kubectl")),
      [
        `kubectl delete pods -n kube-system -l name=inframanager --field-selector spec.nodeName=${NODE} --ignore-not-found`,
        `kubectl delete pods -n default --field-selector metadata.name=web-2,spec.nodeName=${NODE} --ignore-not-found`,
        `kubectl delete pods -n shop --field-selector metadata.name=db-1,spec.nodeName=${NODE} --ignore-not-found`,
      ],
    );

    // Once per generation: a daemon killed and started again does not heal generation 2 a second time.
    d.proc.kill("SIGKILL");
    await d.exited;
    tools.clearCalls();
    d = f.start();
    await d.until<NodeStatus>("/v1/status", (s) => s.phase === "ready", 60_000);
    await sleep(1000);
    assert.deepEqual(tools.calls(), [], "nothing healed again");
    assert.deepEqual(
      generations(stateDb).map((g) => [
        g.generation,
        g.heal_state,
        JSON.parse(g.lost).map((l: { tap: string }) => l.tap),
      ]),
      [
        [1, "done", ["P4TAP_2", "P4TAP_5"]],
        [2, "done", ["P4TAP_3", "P4TAP_6"]],
      ],
    );
    assert.ok((await events(d)).every((e) => !e.message.includes("datapath generation 3")));

    // Killed while deleting (kubectl hangs): the next daemon ends the kubectl the killed one left running
    // (a recorded step process), does not delete again, and says both.
    const hangs = join(dir, "kubectl-hangs");
    const kubectlPid = join(dir, "kubectl.pid");
    tools.add("kubectl", `if [ -e '${hangs}' ]; then echo $$ > '${kubectlPid}'; exec /bin/sleep 300; fi`);
    writeFileSync(hangs, "");
    const web3 = await cni.addPod("P4TAP_4");
    runtimeHas(dir, [{ id: "fff666", name: "web-3", namespace: "default", netns: web3.netns }]);
    await d.http("GET", "/v1/taps");
    tools.clearCalls();
    await restartTarget(d);
    await d.until<NodeStatus>("/v1/status", () => existsSync(kubectlPid), 30_000);
    const left = Number(readFileSync(kubectlPid, "utf8"));
    sleepers.push(left);
    d.proc.kill("SIGKILL");
    await d.exited;
    assert.ok(running(left), "the kubectl outlives the daemon killed with SIGKILL (its own process group)");
    rmSync(hangs);
    rmSync(kubectlPid);
    tools.clearCalls();
    d = f.start();
    const closed = await d.until<{ events: NodeEvent[] }>(
      "/v1/events?limit=1000",
      (b) => b.events?.some((e) => e.message.startsWith("datapath generation 3: an earlier daemon")) ?? false,
      60_000,
    );
    assert.equal(running(left), false, "the next daemon ended the kubectl the killed one left running");
    const ended = closed.events.find((e) =>
      e.message.startsWith("ended the process an earlier daemon left running (kubectl delete pods"),
    );
    assert.equal(ended?.kind, "warning");
    assert.match(ended?.message ?? "", new RegExp(`: ${left} \\(SIGTERM\\)$`));
    assert.match(
      closed.events.find((e) => e.message.startsWith("datapath generation 3"))?.message ?? "",
      /stopped while deleting pods for it; not deleted again \(at most once per generation\)/,
    );
    assert.deepEqual(
      tools.calls().filter((c) => c.startsWith("kubectl")),
      [],
      "no second deletion",
    );
    assert.equal(generations(stateDb).at(-1)?.heal_state, "done");
    assert.deepEqual(stepRecords(stateDb), [], "no record left: the leftover is ended and forgotten");

    // Stopped while deleting (daemon stop, SIGTERM): the stop ends the kubectl, the generation stays
    // healing, and the next daemon does not delete again.
    await d.until<NodeStatus>("/v1/status", (s) => s.phase === "ready", 60_000);
    writeFileSync(hangs, "");
    const web4 = await cni.addPod("P4TAP_2");
    runtimeHas(dir, [{ id: "abc777", name: "web-4", namespace: "default", netns: web4.netns }]);
    await d.http("GET", "/v1/taps");
    tools.clearCalls();
    await restartTarget(d);
    await d.until<NodeStatus>("/v1/status", () => existsSync(kubectlPid), 30_000);
    const stopped = Number(readFileSync(kubectlPid, "utf8"));
    sleepers.push(stopped);
    assert.ok(running(stopped));
    await d.stop();
    assert.equal(running(stopped), false, "daemon stop ended the heal's kubectl");
    assert.deepEqual(stepRecords(stateDb), [], "ended and forgotten by the stop");
    assert.equal(generations(stateDb).at(-1)?.heal_state, "healing", "cut short: not finished as done");
    rmSync(hangs);
    tools.clearCalls();
    d = f.start();
    const again = await d.until<{ events: NodeEvent[] }>(
      "/v1/events?limit=1000",
      (b) => b.events?.some((e) => e.message.startsWith("datapath generation 4: an earlier daemon")) ?? false,
      60_000,
    );
    assert.ok(again.events.some((e) => e.message.includes("datapath generation 4")));
    assert.deepEqual(
      tools.calls().filter((c) => c.startsWith("kubectl")),
      [],
      "no second deletion",
    );
    await d.stop();
  });
});
