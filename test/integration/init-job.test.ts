/**
 * `k8s-offloadctl init` (POST /v1/init) on a real daemon (real HTTP, SQLite, Open vSwitch and kernel
 * TAPs in the test namespace) over a fresh fake host root, with stand-ins for systemctl, kubeadm,
 * crictl and kubectl's cluster verbs that record their argv (and kubectl's stdin). `kubectl kustomize`
 * is passed through to the machine's real kubectl: the deploy is rendered for real from a copy of
 * upstream's deploy/ (test/fixtures/infra-offload-deploy). Every step that runs a tool is killed mid-way
 * (kill -9 of the daemon) once; each restarted daemon resumes the job at that step.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parseAllDocuments } from "yaml";
import type { NodeStatus } from "../../daemon/engine/component";
import type { Job } from "../../daemon/state/store";
import { type DaemonProcess, daemonFixture, repoRoot, scratchDir, sleep } from "../helpers/daemon";
import { put } from "../helpers/hostroot";
import { StandIns } from "../helpers/stand-ins";

const REAL_KUBECTL = "/usr/bin/kubectl";
const KC = "--kubeconfig /etc/kubernetes/admin.conf";
const AGENT = "registry.test:5000/ipdk/infraagent:v23.01";
const MANAGER = "registry.test:5000/ipdk/inframanager:v23.01";
const ADMIN_CONF = "apiVersion: v1\nkind: Config\nclusters: []\n# made by the kubeadm stand-in\n";
const FIXTURE = join(repoRoot, "test/fixtures/infra-offload-deploy");

const STEPS = [
  "preflight",
  "datapath-up",
  "start-containerd",
  "wait-ready",
  "kubeadm-init",
  "admin-kubeconfig",
  "untaint-control-plane",
  "images",
  "deploy-infra",
  "deploy-calico",
  "wait-calico-crds",
  "apply-felix-configuration",
  "apply-manifests",
];

/** Per tool step: a substring of the one call that is blocked (then the daemon is killed). */
const BLOCK_AT: [string, string][] = [
  ["start-containerd", "enable --now containerd"],
  ["kubeadm-init", "init --pod-network-cidr"],
  ["untaint-control-plane", "taint nodes"],
  ["images", "pull "],
  ["deploy-infra", "apply -f -"],
  ["deploy-calico", "calico-with-grpc.yaml"],
  ["wait-calico-crds", "wait --for"],
  ["apply-felix-configuration", "felix-configuration.yaml"],
];

const fixtures: Awaited<ReturnType<typeof daemonFixture>>[] = [];
const scratches: string[] = [];
after(async () => {
  for (const f of fixtures) await f.cleanup();
  for (const s of scratches) rmSync(s, { recursive: true, force: true });
});

async function waitJob(d: DaemonProcess, id: number, timeoutMs = 90_000): Promise<Job> {
  return d.until<Job>(`/v1/jobs/${id}`, (j) => j.state !== undefined && j.state !== "running", timeoutMs);
}

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const stepOf = (j: Job, name: string) => j.steps.find((s) => s.name === name);

/** The overlay's random name, made stable for comparing call lists. */
const stable = (calls: string[]) => calls.map((c) => c.replace(/\.k8s-offloadd-overlay-\w+/, "OVERLAY"));

describe("init job", () => {
  test("a fresh node: the steps in order with the configured CIDRs, resumed after kill -9 at each tool step; again: kubeadm init skipped; reset undeploys in reverse", async () => {
    assert.ok(
      existsSync(REAL_KUBECTL),
      `${REAL_KUBECTL} is needed (scripts/host-deps.sh installs kubernetes-client)`,
    );
    const dir = scratchDir("offloadd-init-");
    scratches.push(dir);
    const tools = new StandIns(dir);
    const checkout = join(dir, "k8s-infra-offload");
    cpSync(FIXTURE, join(checkout, "deploy"), { recursive: true });
    const kustomizationBefore = readFileSync(join(checkout, "deploy/kustomization.yaml"), "utf8");
    const block = join(dir, "block");
    const blocked = join(dir, "blocked");
    const f = await daemonFixture({
      taps: { backend: "kernel" },
      target: { simulator: false },
      host: { podCIDR: "10.10.0.0/16", serviceCIDR: "10.20.0.0/16", preflight: { disabled: ["images"] } },
      kubernetes: {
        toolPath: [tools.bin],
        singleNode: true,
        kubeconfigUser: "alice",
        kubeadmInitArgs: ["--node-name", "node-a"],
        deploy: { source: checkout, infraAgentImage: AGENT, infraManagerImage: MANAGER, crdTimeoutSec: 77 },
        commandTimeoutSec: 120,
      },
    });
    fixtures.push(f);
    const hostRoot = join(f.dir, "hostroot");
    put(
      hostRoot,
      "/etc/passwd",
      "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:1235:Alice:/home/alice:/bin/sh\n",
    );

    // The tools run with kubernetes.toolPath as their only PATH: the stand-ins name other programs by path.
    // Every stand-in: when the block file's pattern is in its arguments, it consumes the block and hangs
    // (SIGTERM ignored), so the daemon can be killed in the middle of that step.
    const hang = [
      `if [ -e '${block}' ]; then case "$*" in *"$(/bin/cat '${block}')"*)`,
      `  /bin/rm -f '${block}'; : > '${blocked}'; trap '' TERM; exec /bin/sleep 300;;`,
      "esac; fi",
    ].join("\n");
    tools.add("systemctl", hang);
    tools.add(
      "kubeadm",
      `${hang}\nif [ "$1" = init ]; then /bin/mkdir -p '${hostRoot}/etc/kubernetes'; printf '%s' '${ADMIN_CONF}' > '${hostRoot}/etc/kubernetes/admin.conf'; fi`,
    );
    tools.add(
      "crictl",
      [
        hang,
        'case "$1" in',
        `  inspecti) case "$2" in *inframanager*) [ -e '${dir}/pulled' ] || { echo "FATA[0000] no such image \\"$2\\" present" >&2; exit 1; };; esac;;`,
        `  pull) : > '${dir}/pulled'; echo "Image is up to date for sha256:0123";;`,
        "esac",
      ].join("\n"),
    );
    tools.add(
      "kubectl",
      [
        hang,
        `case "$*" in *kustomize*) exec ${REAL_KUBECTL} "$@";; esac`,
        `case "$*" in *"apply -f -"*) /bin/cat > '${dir}/applied.yaml';; *"delete -f -"*) /bin/cat > '${dir}/deleted.yaml';; esac`,
      ].join("\n"),
    );

    let d = f.start();
    await d.until<NodeStatus>("/v1/status", (s) => s.phase === "ready", 60_000);
    writeFileSync(block, BLOCK_AT[0]?.[1] ?? "");
    const r = await d.http("POST", "/v1/init");
    assert.equal(r.status, 202, r.text);
    const started = r.body as Job;
    assert.equal(started.kind, "init");
    assert.deepEqual(
      started.steps.map((s) => s.name),
      STEPS,
    );
    const id = started.id;

    for (const [i, [step]] of BLOCK_AT.entries()) {
      await until(`the ${step} tool to hang`, () => existsSync(blocked));
      rmSync(blocked);
      const mid = (await d.http("GET", `/v1/jobs/${id}`)).body as Job;
      assert.equal(
        stepOf(mid, step)?.state,
        "running",
        `${step} is running when the daemon is killed: ${JSON.stringify(mid.steps.map((s) => [s.name, s.state, s.message]))} ${tools.calls().join("\n")}`,
      );
      const next = BLOCK_AT[i + 1];
      if (next) writeFileSync(block, next[1]);
      d.proc.kill("SIGKILL");
      await d.exited;
      d = f.start();
      // Resumed at the step it was killed in (and only there: the steps before it are done).
      const said = `job ${id} (init) resumed after a daemon restart at step ${step}`;
      await d.until<{ events: { kind: string; message: string }[] }>(
        "/v1/events?limit=1000",
        (b) => b.events?.some((e) => e.kind === "job" && e.message === said) ?? false,
        60_000,
      );
    }
    const job = await waitJob(d, id);
    assert.equal(job.state, "succeeded", JSON.stringify(job, null, 1));
    assert.match(
      stepOf(job, "kubeadm-init")?.message ?? "",
      /init --pod-network-cidr 10\.10\.0\.0\/16 --service-cidr 10\.20\.0\.0\/16 --node-name node-a/,
    );
    assert.equal(stepOf(job, "apply-manifests")?.state, "skipped");
    assert.match(
      stepOf(job, "images")?.message ?? "",
      new RegExp(`pulled ${MANAGER}; already in containerd: ${AGENT}`),
    );
    assert.match(
      stepOf(job, "wait-calico-crds")?.message ?? "",
      /^established: felixconfigurations\.crd\.projectcalico\.org$/,
    );

    const init = `kubeadm init --pod-network-cidr 10.10.0.0/16 --service-cidr 10.20.0.0/16 --node-name node-a`;
    const deployDir = join(checkout, "deploy");
    const wait = `kubectl ${KC} wait --for condition=established --timeout=77s crd/felixconfigurations.crd.projectcalico.org`;
    // Each killed step's tool ran twice (the killed run, then the resumed one); nothing else twice.
    assert.deepEqual(stable(tools.calls()), [
      "systemctl enable --now containerd",
      "systemctl enable --now containerd",
      init,
      init,
      `kubectl ${KC} taint nodes --all node-role.kubernetes.io/control-plane-`,
      `kubectl ${KC} taint nodes --all node-role.kubernetes.io/control-plane-`,
      `crictl inspecti ${AGENT}`,
      `crictl inspecti ${MANAGER}`,
      `crictl pull ${MANAGER}`,
      `crictl inspecti ${AGENT}`,
      `crictl inspecti ${MANAGER}`,
      `crictl pull ${MANAGER}`,
      `kubectl kustomize ${checkout}/OVERLAY`,
      `kubectl ${KC} apply -f -`,
      `kubectl kustomize ${checkout}/OVERLAY`,
      `kubectl ${KC} apply -f -`,
      `kubectl ${KC} apply -f ${deployDir}/calico-with-grpc.yaml`,
      `kubectl ${KC} apply -f ${deployDir}/calico-with-grpc.yaml`,
      wait,
      wait,
      `kubectl ${KC} apply -f ${deployDir}/felix-configuration.yaml`,
      `kubectl ${KC} apply -f ${deployDir}/felix-configuration.yaml`,
    ]);

    // The guide's mkdir/cp/chown for the configured user, from host.root's /etc/passwd.
    const cfgFile = join(hostRoot, "home/alice/.kube/config");
    assert.equal(readFileSync(cfgFile, "utf8"), ADMIN_CONF);
    const st = statSync(cfgFile);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [1234, 1235, 0o600]);

    // Rendered as `make deploy` does: the images replaced, the kubeconfig ConfigMap the agent mounts.
    const applied = readFileSync(join(dir, "applied.yaml"), "utf8");
    const docs = parseAllDocuments(applied).map((x) => x.toJS()) as {
      kind: string;
      metadata: { name: string };
      data?: Record<string, string>;
    }[];
    assert.deepEqual(
      docs.map((x) => `${x.kind}/${x.metadata.name}`),
      ["ConfigMap/infra-kubeconfig", "DaemonSet/infraagent-ds", "DaemonSet/inframanager-ds"],
    );
    assert.equal(docs[0]?.data?.config, ADMIN_CONF);
    const images = [...applied.matchAll(/image: (\S+)/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(images)].sort(), [AGENT, MANAGER]);
    assert.equal(
      images.filter((x) => x === AGENT).length,
      3,
      "the agent's two init containers and its container",
    );
    assert.ok(!applied.includes("infraagent:latest") && !applied.includes("inframanager:latest"));
    // The checkout is left as it was: no `kustomize edit`, no overlay left behind.
    assert.equal(readFileSync(join(checkout, "deploy/kustomization.yaml"), "utf8"), kustomizationBefore);
    assert.deepEqual(readdirSync(checkout), ["deploy"]);

    // Again on the same node: every step idempotent, kubeadm init not run a second time.
    tools.clearCalls();
    const again = await waitJob(d, ((await d.http("POST", "/v1/init")).body as Job).id);
    assert.equal(again.state, "succeeded", JSON.stringify(again, null, 1));
    assert.equal(stepOf(again, "kubeadm-init")?.state, "skipped");
    assert.match(
      stepOf(again, "kubeadm-init")?.message ?? "",
      /already done: \/etc\/kubernetes\/admin\.conf exists/,
    );
    assert.match(stepOf(again, "admin-kubeconfig")?.message ?? "", /already has/);
    assert.ok(!tools.calls().some((c) => c.startsWith("kubeadm")), "no second kubeadm init");
    assert.match(stepOf(again, "images")?.message ?? "", /already in containerd: .*infraagent.*inframanager/);

    // Reset undeploys in reverse (Felix, Calico, the infra components), before kubeadm reset.
    tools.clearCalls();
    const reset = await waitJob(d, ((await d.http("POST", "/v1/reset")).body as Job).id);
    assert.deepEqual(reset.steps.map((s) => s.name).slice(0, 4), [
      "undeploy-felix-configuration",
      "undeploy-calico",
      "undeploy-infra",
      "kubeadm-reset",
    ]);
    for (const s of reset.steps) assert.equal(s.state, "succeeded", `${s.name}: ${s.message}`);
    assert.deepEqual(stable(tools.calls()).slice(0, 5), [
      `kubectl ${KC} delete -f ${deployDir}/felix-configuration.yaml --ignore-not-found`,
      `kubectl ${KC} delete -f ${deployDir}/calico-with-grpc.yaml --ignore-not-found`,
      `kubectl kustomize ${checkout}/OVERLAY`,
      `kubectl ${KC} delete -f - --ignore-not-found`,
      "kubeadm reset -f",
    ]);
    const deleted = parseAllDocuments(readFileSync(join(dir, "deleted.yaml"), "utf8")).map((x) =>
      x.toJS(),
    ) as {
      kind: string;
      metadata: { name: string };
    }[];
    assert.deepEqual(
      deleted.map((x) => `${x.kind}/${x.metadata.name}`),
      ["ConfigMap/infra-kubeconfig", "DaemonSet/infraagent-ds", "DaemonSet/inframanager-ds"],
    );
    await d.stop();
  });
});
