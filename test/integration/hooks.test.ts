/**
 * The kubeadm hooks and the jobs API on a real daemon (real HTTP, real SQLite, real Open vSwitch and
 * kernel TAPs in the test namespace), with stand-ins for kubectl, crictl and systemctl.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NodeStatus } from "../../daemon/engine/component";
import type { Job } from "../../daemon/state/store";
import { type DaemonProcess, daemonFixture, scratchDir } from "../helpers/daemon";
import { StandIns } from "../helpers/stand-ins";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;

const KUBECONFIG = "/etc/kubernetes/admin.conf";
const TAINT = "node-role.kubernetes.io/control-plane";

async function waitJob(d: DaemonProcess, id: number, timeoutMs = 90_000): Promise<Job> {
  return d.until<Job>(`/v1/jobs/${id}`, (j) => j.state !== undefined && j.state !== "running", timeoutMs);
}

async function post(d: DaemonProcess, path: string, status: number): Promise<Job> {
  const r = await d.http("POST", path);
  assert.equal(r.status, status, r.text);
  return r.body as Job;
}

const stepOf = (j: Job, name: string) => j.steps.find((s) => s.name === name);

describe("kubeadm hooks and the jobs API", () => {
  const dir = scratchDir("offloadd-hooks-");
  const tools = new StandIns(dir);
  const gate = join(dir, "apply-may-go");
  const [a, b, c] = ["infra-a.yaml", "infra-b.yaml", "infra-c.yaml"].map((n) => join(dir, n)) as [
    string,
    string,
    string,
  ];
  let f: Fixture;
  let d: DaemonProcess;

  before(async () => {
    for (const m of [a, b, c]) writeFileSync(m, "apiVersion: v1\nkind: Namespace\n");
    // kubectl --kubeconfig K VERB ...: the taint is already gone (kubectl says "not found", exit 1);
    // apply waits for the gate, and fails for b.
    tools.add(
      "kubectl",
      [
        'case "$3" in',
        `  taint) echo 'error: taint "${TAINT}" not found' >&2; exit 1;;`,
        `  apply) while [ ! -e '${gate}' ]; do /bin/sleep 0.05; done`,
        '    case "$5" in *infra-b.yaml) echo "error: the server rejected b" >&2; exit 1;; esac;;',
        "esac",
      ].join("\n"),
    );
    tools.add("crictl");
    tools.add("systemctl");
    f = await daemonFixture({
      taps: { backend: "kernel" },
      target: { simulator: false },
      kubernetes: { singleNode: true, toolPath: [tools.bin], manifests: [a, b, c], kubeconfig: KUBECONFIG },
    });
    d = f.start();
  });
  after(async () => {
    await f?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("400 for an unknown hook name, naming the allowed ones; 404 for an unknown job; 401 without the token", async () => {
    await d.until<NodeStatus>("/v1/status", (s) => typeof s.phase === "string");
    const bad = await d.http("POST", "/v1/hooks/pre-upgrade");
    assert.equal(bad.status, 400, bad.text);
    assert.equal((bad.body as { error: string }).error, "invalid_request");
    assert.match((bad.body as { message: string }).message, /pre-init, post-init, pre-reset, post-reset/);
    const none = await d.http("GET", "/v1/jobs/4242");
    assert.equal(none.status, 404);
    assert.deepEqual(Object.keys(none.body as object).sort(), ["error", "message"]);
    assert.equal((none.body as { error: string }).error, "not_found");
    assert.equal((await d.http("GET", "/v1/jobs/zero")).status, 400);
    // Hooks and reset change the node: no bearer token, no job.
    for (const path of ["/v1/reset", "/v1/hooks/pre-init"])
      assert.equal((await d.http("POST", path, undefined, { token: null })).status, 401, path);
    assert.deepEqual((await d.http("GET", "/v1/jobs")).body, { jobs: [] });
  });

  test("pre-init: preflight, bring-up, containerd started, and a job that succeeds once the node is ready", async () => {
    tools.clearCalls();
    const started = await post(d, "/v1/hooks/pre-init", 202);
    assert.equal(started.kind, "hook:pre-init");
    assert.deepEqual(
      started.steps.map((s) => s.name),
      ["preflight", "datapath-up", "start-containerd", "wait-ready"],
    );
    const job = await waitJob(d, started.id);
    assert.equal(job.state, "succeeded", JSON.stringify(job));
    assert.deepEqual(tools.calls(), ["systemctl enable --now containerd"]);
    assert.match(stepOf(job, "start-containerd")?.message ?? "", /containerd enabled and started/);
    assert.match(stepOf(job, "wait-ready")?.message ?? "", /^ready/);
    assert.equal(((await d.http("GET", "/v1/status")).body as NodeStatus).phase, "ready");
  });

  test("post-init: untaint and apply with kubectl; 409 while it runs; what failed to apply is named", async () => {
    tools.clearCalls();
    const started = await post(d, "/v1/hooks/post-init", 202);
    assert.deepEqual(
      started.steps.map((s) => s.name),
      ["untaint-control-plane", `apply-manifest ${a}`, `apply-manifest ${b}`, `apply-manifest ${c}`],
    );
    for (const path of ["/v1/reset", "/v1/hooks/pre-reset", "/v1/hooks/post-init"]) {
      const busy = await d.http("POST", path);
      assert.equal(busy.status, 409, `${path}: ${busy.text}`);
      assert.equal((busy.body as { error: string }).error, "conflict");
      assert.match(
        (busy.body as { message: string }).message,
        new RegExp(`job ${started.id} \\(hook:post-init\\)`),
      );
    }
    writeFileSync(gate, "");
    const job = await waitJob(d, started.id);
    assert.equal(job.state, "failed");
    assert.match(job.message ?? "", new RegExp(`1 of 4 steps failed: apply-manifest ${b} \\(.*rejected b`));
    assert.equal(stepOf(job, "untaint-control-plane")?.state, "succeeded");
    assert.match(stepOf(job, "untaint-control-plane")?.message ?? "", /was not there/);
    assert.deepEqual(tools.calls(), [
      `kubectl --kubeconfig ${KUBECONFIG} taint nodes --all ${TAINT}-`,
      `kubectl --kubeconfig ${KUBECONFIG} apply -f ${a}`,
      `kubectl --kubeconfig ${KUBECONFIG} apply -f ${b}`,
      `kubectl --kubeconfig ${KUBECONFIG} apply -f ${c}`,
    ]);
    const list = ((await d.http("GET", "/v1/jobs")).body as { jobs: Job[] }).jobs;
    assert.deepEqual(
      list.map((j) => j.kind),
      ["hook:post-init", "hook:pre-init"],
    );
  });

  test("pre-reset deletes exactly what post-init applied (last first); post-reset the rest; pre-init brings it back", async () => {
    tools.clearCalls();
    const pre = await waitJob(d, (await post(d, "/v1/hooks/pre-reset", 202)).id);
    assert.equal(pre.state, "succeeded", JSON.stringify(pre));
    assert.deepEqual(tools.calls(), [
      `kubectl --kubeconfig ${KUBECONFIG} delete -f ${c} --ignore-not-found`,
      `kubectl --kubeconfig ${KUBECONFIG} delete -f ${a} --ignore-not-found`,
    ]);

    tools.clearCalls();
    const postReset = await waitJob(d, (await post(d, "/v1/hooks/post-reset", 202)).id);
    assert.equal(postReset.state, "succeeded", JSON.stringify(postReset));
    assert.deepEqual(
      postReset.steps.map((s) => s.name),
      ["remove-directories", "remove-pods", "stop-services", "datapath-down"],
    );
    assert.deepEqual(tools.calls(), ["crictl pods -q", "systemctl stop kubelet containerd"]);
    assert.equal(((await d.http("GET", "/v1/status")).body as NodeStatus).phase, "stopped");

    // Nothing the daemon applied is left: a reset has no manifest to delete.
    tools.clearCalls();
    const reset = await post(d, "/v1/reset", 202);
    assert.equal(reset.steps[0]?.name, "undeploy-manifests");
    const done = await waitJob(d, reset.id);
    assert.equal(stepOf(done, "undeploy-manifests")?.state, "skipped");
    assert.ok(!tools.calls().some((x) => x.includes(" delete ")));

    // The reset stopped containerd (systemctl stop kubelet containerd): pre-init starts it again.
    tools.clearCalls();
    const up = await waitJob(d, (await post(d, "/v1/hooks/pre-init", 202)).id);
    assert.equal(up.state, "succeeded", JSON.stringify(up));
    assert.deepEqual(tools.calls(), ["systemctl enable --now containerd"]);
    assert.equal(((await d.http("GET", "/v1/status")).body as NodeStatus).phase, "ready");
  });
});
