/**
 * The reset job on a real daemon (real HTTP, real SQLite, real Open vSwitch and kernel TAPs in the
 * test namespace), with stand-ins for kubeadm, kubectl, crictl and systemctl that record their calls.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import type { NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { isAlive, procInfo } from "../../daemon/host/proc";
import type { Job } from "../../daemon/state/store";
import { type DaemonProcess, daemonFixture, scratchDir, sleep } from "../helpers/daemon";
import { StandIns } from "../helpers/stand-ins";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
const scratches: string[] = [];
const sleepers: number[] = [];
after(async () => {
  for (const pid of sleepers) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  for (const f of fixtures) await f.cleanup();
  for (const s of scratches) rmSync(s, { recursive: true, force: true });
});

/** Stand-ins and two manifests in a scratch dir, and a daemon configured to use only them. */
async function setup(extra: Record<string, unknown> = {}) {
  const dir = scratchDir("offloadd-reset-");
  scratches.push(dir);
  const tools = new StandIns(dir);
  const manifests = ["infra-a.yaml", "infra-b.yaml"].map((n) => join(dir, n));
  for (const m of manifests) writeFileSync(m, "apiVersion: v1\nkind: Namespace\n");
  const f = await daemonFixture({
    // Kernel TAPs and no simulator: the datapath the reset takes down, without a gNMI target.
    taps: { backend: "kernel" },
    target: { simulator: false },
    kubernetes: { toolPath: [tools.bin], manifests, kubeconfig: null, commandTimeoutSec: 120 },
    ...extra,
  });
  fixtures.push(f);
  return { f, tools, manifests, hostRoot: join(f.dir, "hostroot"), netns: `offloadd-${f.port}` };
}

const GUIDE_DIRS = [
  "/etc/cni",
  "/etc/kubernetes",
  "/var/lib/etcd",
  "/var/lib/kubelet",
  "/var/lib/cni",
  "/var/run/kubernetes",
  join(homedir(), ".kube"),
];
/** Neighbours of the guide's directories that a reset must leave alone. */
const SIBLINGS = ["/etc/cni-keep", "/var/lib/kubelet-keep", "/var/lib/containerd", join(homedir(), "keep")];

function populate(hostRoot: string): void {
  for (const d of [...GUIDE_DIRS, ...SIBLINGS]) {
    mkdirSync(join(hostRoot, d, "sub"), { recursive: true });
    writeFileSync(join(hostRoot, d, "sub", "file"), "x\n");
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function waitJob(d: DaemonProcess, id: number, timeoutMs = 90_000): Promise<Job> {
  return d.until<Job>(`/v1/jobs/${id}`, (j) => j.state !== undefined && j.state !== "running", timeoutMs);
}

const stepOf = (j: Job, name: string) => j.steps.find((s) => s.name === name);

function links(netns: string): string[] {
  const r = spawnSync("ip", ["-n", netns, "-j", "link", "show"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname);
}

function addTap(netns: string, name: string): void {
  const r = spawnSync("ip", ["-n", netns, "tuntap", "add", "dev", name, "mode", "tap"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

async function events(d: DaemonProcess): Promise<NodeEvent[]> {
  return ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events;
}

describe("reset job", () => {
  let shared: Awaited<ReturnType<typeof setup>>;
  let d: DaemonProcess;

  test("the guide's steps in order; a failing step does not stop the others; only listed dirs and our TAPs go", async () => {
    shared = await setup();
    const { f, tools, manifests, hostRoot, netns } = shared;
    const [a, b] = manifests as [string, string];
    tools.add("kubectl");
    tools.add("kubeadm");
    tools.add("crictl", 'if [ "$1" = pods ]; then printf "aaa111\\nbbb222\\n"; fi');
    tools.add(
      "systemctl",
      "echo 'Failed to stop containerd.service: Unit containerd.service not loaded.' >&2; exit 1",
    );
    populate(hostRoot);
    d = f.start();
    await d.until<NodeStatus>("/v1/status", (s) => s.phase === "ready");
    // TAPs the daemon did not create: one outside the pool's names, one that only looks like ours.
    addTap(netns, "keep0");
    addTap(netns, "P4TAP_9");
    const before = links(netns);
    for (const n of ["TAP_0", "P4TAP_1", "P4TAP_7"]) assert.ok(before.includes(n), `${n} exists before`);

    const r = await d.http("POST", "/v1/reset");
    assert.equal(r.status, 202, r.text);
    const started = r.body as Job;
    assert.equal(started.kind, "reset");
    assert.equal(started.state, "running");
    assert.deepEqual(
      started.steps.map((s) => s.name),
      [
        `undeploy-manifest ${b}`,
        `undeploy-manifest ${a}`,
        "kubeadm-reset",
        "remove-directories",
        "remove-pods",
        "stop-services",
        "datapath-down",
      ],
    );
    assert.deepEqual(Object.keys(started.steps[0] ?? {}).sort(), [
      "finishedAt",
      "message",
      "name",
      "startedAt",
      "state",
    ]);

    const job = await waitJob(d, started.id);
    assert.equal(job.state, "failed", JSON.stringify(job));
    assert.match(
      job.message ?? "",
      /1 of 7 steps failed: stop-services \(systemctl stop kubelet containerd: exit code 1/,
    );
    for (const s of job.steps) {
      assert.equal(s.state, s.name === "stop-services" ? "failed" : "succeeded", `${s.name}: ${s.message}`);
      assert.ok(s.startedAt && s.finishedAt, `${s.name} has its times`);
    }
    assert.match(stepOf(job, "stop-services")?.message ?? "", /not loaded/);
    assert.match(stepOf(job, "remove-pods")?.message ?? "", /stopped and removed 2 pods/);

    assert.deepEqual(tools.calls(), [
      `kubectl delete -f ${b} --ignore-not-found`,
      `kubectl delete -f ${a} --ignore-not-found`,
      "kubeadm reset -f",
      "crictl pods -q",
      "crictl stopp aaa111",
      "crictl rmp aaa111",
      "crictl stopp bbb222",
      "crictl rmp bbb222",
      "systemctl stop kubelet containerd",
    ]);

    for (const dir of GUIDE_DIRS) assert.ok(!existsSync(join(hostRoot, dir)), `${dir} removed`);
    for (const dir of SIBLINGS) assert.ok(existsSync(join(hostRoot, dir, "sub", "file")), `${dir} kept`);
    assert.ok(existsSync(join(hostRoot, "/etc/containerd/config.toml")), "the rest of /etc kept");

    const afterReset = links(netns);
    for (const n of ["TAP_0", "P4TAP_0", "P4TAP_1", "P4TAP_7"])
      assert.ok(!afterReset.includes(n), `${n} removed`);
    for (const n of ["keep0", "P4TAP_9"]) assert.ok(afterReset.includes(n), `${n} (not ours) kept`);
    const s = (await d.http("GET", "/v1/status")).body as NodeStatus;
    assert.equal(s.phase, "stopped");

    // Every step transition is on the events stream.
    const stepEvents = (await events(d)).filter((e) => e.kind === "job-step").map((e) => e.message);
    for (const st of job.steps) {
      assert.ok(
        stepEvents.some((m) => m.includes(` ${st.name}: running`)),
        `event for ${st.name} running`,
      );
      assert.ok(
        stepEvents.some((m) => m.includes(` ${st.name}: ${st.state}`)),
        `event for ${st.name} ${st.state}`,
      );
    }
    const list = (await d.http("GET", "/v1/jobs")).body as { jobs: Job[] };
    assert.equal(list.jobs[0]?.id, job.id);
  });

  test("a command missing from PATH fails its own step, naming the directories; the others run", async () => {
    const { tools } = shared;
    tools.remove("kubeadm");
    tools.remove("crictl");
    tools.add("systemctl");
    tools.clearCalls();
    const r = await d.http("POST", "/v1/reset");
    assert.equal(r.status, 202, r.text);
    const job = await waitJob(d, (r.body as Job).id);
    assert.equal(job.state, "failed");
    assert.equal(stepOf(job, "kubeadm-reset")?.state, "failed");
    assert.equal(stepOf(job, "kubeadm-reset")?.message, `kubeadm not found in PATH (${tools.bin})`);
    assert.equal(stepOf(job, "remove-pods")?.state, "failed");
    assert.equal(stepOf(job, "remove-pods")?.message, `crictl not found in PATH (${tools.bin})`);
    assert.match(
      job.message ?? "",
      /2 of 7 steps failed: kubeadm-reset \(kubeadm not found.*remove-pods \(crictl not found/,
    );
    for (const name of ["remove-directories", "stop-services", "datapath-down"])
      assert.equal(stepOf(job, name)?.state, "succeeded", name);
    assert.match(stepOf(job, "remove-directories")?.message ?? "", /not present: \/etc\/cni, /);
    assert.deepEqual(
      tools.calls().map((c) => c.split(" ")[0]),
      ["kubectl", "kubectl", "systemctl"],
    );
  });

  test("SIGKILL mid-job: the old step process is ended (identity-checked) before the step runs again, once; a job POSTed at start is refused, not run twice", async () => {
    const { f, tools, manifests } = await setup();
    const [a, b] = manifests as [string, string];
    const mark = join(f.dir, "kubeadm-started");
    const pidFile = join(f.dir, "kubeadm.pid");
    tools.add("kubectl");
    tools.add("crictl");
    tools.add("systemctl");
    // The first kubeadm blocks, ignoring SIGTERM (the daemon is killed meanwhile); the re-run one says
    // whether the first still ran when it started (its /proc state; Z: ended, not yet reaped), then returns.
    tools.add(
      "kubeadm",
      [
        `if [ -e '${mark}' ]; then`,
        `  s=$(cut -d' ' -f3 /proc/$(cat '${pidFile}')/stat 2>/dev/null)`,
        `  printf '%s\\n' "old kubeadm: \${s:-gone}" >> '${tools.callsFile}'`,
        "  exit 0",
        "fi",
        `: > '${mark}'`,
        `echo $$ > '${pidFile}'`,
        "trap '' TERM",
        "exec /bin/sleep 300",
      ].join("\n"),
    );
    const d1 = f.start();
    await d1.until<NodeStatus>("/v1/status", (s) => s.phase === "ready");
    const r = await d1.http("POST", "/v1/reset");
    assert.equal(r.status, 202, r.text);
    const id = (r.body as Job).id;
    const mid = await d1.until<Job>(
      `/v1/jobs/${id}`,
      (j) => stepOf(j, "kubeadm-reset")?.state === "running" && existsSync(pidFile),
    );
    assert.deepEqual(
      mid.steps.map((s) => s.state),
      ["succeeded", "succeeded", "running", "pending", "pending", "pending", "pending"],
    );
    d1.proc.kill("SIGKILL");
    await d1.exited;
    const sleeper = Number(readFileSync(pidFile, "utf8"));
    sleepers.push(sleeper);
    assert.ok(isAlive(sleeper), "the step's process outlived the killed daemon");

    const d2 = f.start();
    // As soon as the API answers: a new job is refused while the interrupted one resumes (never run twice).
    let answer: { status: number; text: string } | null = null;
    while (answer === null) {
      try {
        answer = await d2.http("POST", "/v1/reset");
      } catch {
        await sleep(5);
      }
    }
    assert.equal(answer.status, 409, answer.text);
    assert.match(answer.text, new RegExp(`job ${id} \\(reset\\) is running`));
    const job = await waitJob(d2, id);
    assert.equal(job.state, "succeeded", JSON.stringify(job));
    assert.ok(job.steps.every((s) => s.state === "succeeded"));
    assert.ok(!isAlive(sleeper), "the old kubeadm is gone");
    const calls = tools.calls();
    assert.deepEqual(calls, [
      `kubectl delete -f ${b} --ignore-not-found`,
      `kubectl delete -f ${a} --ignore-not-found`,
      "kubeadm reset -f",
      "kubeadm reset -f",
      calls[4]?.startsWith("old kubeadm: Z") ? calls[4] : "old kubeadm: gone",
      "crictl pods -q",
      "systemctl stop kubelet containerd",
    ]);
    const history = await events(d2);
    const resumed = history.find((e) => e.kind === "job" && e.message.includes("resumed"));
    assert.match(
      resumed?.message ?? "",
      new RegExp(`job ${id} \\(reset\\) resumed .* at step kubeadm-reset`),
    );
    const ended = history.find((e) => e.message.includes("ended the process an earlier daemon left running"));
    assert.match(
      ended?.message ?? "",
      new RegExp(`job ${id} step kubeadm-reset: .*\\(kubeadm reset -f\\): ${sleeper} \\(SIGKILL\\)`),
    );
    assert.equal(((await d2.http("GET", "/v1/jobs")).body as { jobs: Job[] }).jobs.length, 1, "one job only");
    // The resumed job still took the datapath down, as its last step.
    await d2.until<NodeStatus>("/v1/status", (s) => s.phase === "stopped", 10_000);
    await d2.stop();
  });

  // stopOnExit false is production (KillMode=process, the datapath outlives the daemon): the daemon
  // exits at once, and the ladder is finished in its exit hook.
  for (const stopOnExit of [true, false]) {
    test(`daemon stop ends a running step's process group with the stop ladder (SIGTERM ignored: SIGKILL), stopOnExit ${stopOnExit}`, async () => {
      const { f, tools, netns } = await setup({ datapath: { stopOnExit } });
      const pidFile = join(f.dir, "kubeadm.pid");
      for (const t of ["kubectl", "crictl", "systemctl"]) tools.add(t);
      // kubeadm and a child of its own, both ignoring SIGTERM.
      tools.add("kubeadm", `trap '' TERM\n/bin/sleep 300 &\necho "$$ $!" > '${pidFile}'\nwait`);
      const d = f.start();
      await d.until<NodeStatus>("/v1/status", (s) => s.phase === "ready");
      const r = await d.http("POST", "/v1/reset");
      assert.equal(r.status, 202, r.text);
      const id = (r.body as Job).id;
      await d.until<Job>(
        `/v1/jobs/${id}`,
        (j) => stepOf(j, "kubeadm-reset")?.state === "running" && existsSync(pidFile),
      );
      await until("both pids written", () => readFileSync(pidFile, "utf8").trim().split(" ").length === 2);
      const pids = readFileSync(pidFile, "utf8").trim().split(" ").map(Number);
      sleepers.push(...pids);
      for (const pid of pids) assert.ok(isAlive(pid), `${pid} runs`);
      const db = new Database(join(f.dir, "state", "state.db"), { readonly: true });
      const rec = db.prepare("SELECT pid, start_time, argv FROM step_processes").all() as {
        pid: number;
        start_time: number;
        argv: string;
      }[];
      db.close();
      assert.equal(rec.length, 1, "the running step's process is recorded");
      assert.equal(rec[0]?.pid, pids[0]);
      assert.equal(rec[0]?.start_time, procInfo(pids[0] as number)?.startTime);
      assert.deepEqual(JSON.parse(rec[0]?.argv ?? "[]"), [join(tools.bin, "kubeadm"), "reset", "-f"]);

      await d.stop();
      for (const pid of pids) assert.ok(!isAlive(pid), `${pid} ended with the daemon`);
      const after = new Database(join(f.dir, "state", "state.db"), { readonly: true });
      try {
        const j = after.prepare("SELECT state FROM jobs WHERE id = ?").pluck().get(id);
        assert.equal(j, "running", "the job itself resumes at the next start");
      } finally {
        after.close();
      }
      if (!stopOnExit) {
        // The datapath the daemon left running (as production would): ended here, by its recorded pids.
        const left = new Database(join(f.dir, "state", "state.db"), { readonly: true });
        const children = left.prepare("SELECT pid FROM children").pluck().all() as number[];
        left.close();
        for (const pid of children) if (isAlive(pid)) process.kill(pid, "SIGKILL");
        spawnSync("ip", ["netns", "del", netns], { stdio: "ignore" });
      }
    });
  }
});
