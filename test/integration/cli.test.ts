/**
 * k8s-offloadctl against real daemons (real HTTP, real Open vSwitch, kernel TAPs, stand-in Kubernetes
 * tools): the compiled CLI runs as a child process, argv as an array, configured through its options
 * and environment like an admin's shell or a systemd unit would.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type {
  ComponentList,
  EventsPage,
  FixReport,
  Job,
  NodeEvent,
  NodeStatus,
  PreflightReport,
  TapPool,
} from "../../cli/api-types";
import { type DaemonProcess, daemonFixture, freePort, repoRoot, scratchDir } from "../helpers/daemon";
import { StandIns } from "../helpers/stand-ins";

const cliMain = join(repoRoot, "dist/bundle/k8s-offloadctl.js");

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of every run: none of the caller's K8S_OFFLOADD_* (each test says what it uses). */
function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("K8S_OFFLOAD")) delete env[k];
  // The CLI never uses a proxy: one set here must change nothing.
  return { ...env, http_proxy: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9", ...extra };
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & { out: Run; done: Promise<Run> } {
  const child = spawn(process.execPath, [cliMain, ...args], {
    env: baseEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: Run = { code: null, stdout: "", stderr: "" };
  child.stdout?.on("data", (d) => {
    out.stdout += d;
  });
  child.stderr?.on("data", (d) => {
    out.stderr += d;
  });
  const done = new Promise<Run>((resolve) =>
    child.once("close", (code) => {
      out.code = code;
      resolve(out);
    }),
  );
  return Object.assign(child, { out, done });
}

async function ctl(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<Run> {
  const child = start(args, env);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const r = await child.done;
  clearTimeout(timer);
  return r;
}

const show = (r: Run) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

function expectExit(r: Run, code: number): void {
  assert.equal(r.code, code, show(r));
  // Whatever went wrong, no stack trace reaches the user.
  assert.doesNotMatch(r.stderr, /\n\s+at /, show(r));
}

function json<T>(r: Run): T {
  expectExit(r, 0);
  return JSON.parse(r.stdout) as T;
}

async function until(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/*
 * Compile-time checks that the types computed from api/schemas stay precise: the aliases fail to compile
 * if a type became `unknown`, and each expect-error goes unused (a compile error) if a type widened.
 */
type Phase = NodeStatus["phase"];
type Pid = NodeStatus["components"][number]["pid"];
type StepState = Job["steps"][number]["state"];
type Mac = TapPool["taps"][number]["mac"];
export const typesFollowTheSchemas = (): unknown[] => {
  const phase: Phase = "ready";
  // @ts-expect-error not a phase of NodeStatusSchema
  const notPhase: Phase = "sleeping";
  // @ts-expect-error pid is an integer or null, never a string
  const pid: Pid = "1";
  // @ts-expect-error not a step state of JobSchema
  const step: StepState = "done";
  // @ts-expect-error mac is a string or null
  const mac: Mac = 5;
  return [phase, notPhase, pid, step, mac];
};

describe("k8s-offloadctl", () => {
  const dir = scratchDir("offloadd-cli-");
  const tools = new StandIns(dir);
  const manifest = join(dir, "infra.yaml");
  let f: Fixture;
  let d: DaemonProcess;
  /** A daemon that cannot get ready (ovs-vswitchd exits at once). */
  let stuck: Fixture;
  /** Through the daemon's config file: API URL and token file both come from it. */
  let viaConfig: string[];
  let api: string;

  before(async () => {
    writeFileSync(manifest, "apiVersion: v1\nkind: Namespace\n");
    // systemctl: hook pre-init starts containerd (systemctl enable --now containerd).
    for (const t of ["kubectl", "kubeadm", "crictl", "systemctl"]) tools.add(t);
    f = await daemonFixture({
      // Kernel TAPs and no simulator: a whole datapath with the fewest processes.
      taps: { backend: "kernel" },
      target: { simulator: false },
      kubernetes: { toolPath: [tools.bin], manifests: [manifest], kubeconfig: null, commandTimeoutSec: 60 },
    });
    stuck = await daemonFixture({
      taps: { backend: "kernel" },
      target: { simulator: false },
      ovs: { ovsVswitchd: "/bin/false" },
    });
    d = f.start();
    stuck.start();
    viaConfig = ["--config", f.configFile];
    api = `http://127.0.0.1:${f.port}`;
    await d.until<NodeStatus>("/v1/status", (s) => s.phase === "ready", 60_000);
  });
  after(async () => {
    await f?.cleanup();
    await stuck?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the routes the CLI calls are in the daemon's OpenAPI document", async () => {
    const doc = (await d.http("GET", "/v1/openapi.json")).body as { paths: Record<string, object> };
    const used = [
      "get /v1/status",
      "get /v1/ready",
      "get /v1/components",
      "post /v1/components/{name}/restart",
      "post /v1/datapath/down",
      "post /v1/datapath/up",
      "get /v1/events",
      "get /v1/taps",
      "put /v1/taps",
      "get /v1/preflight",
      "post /v1/preflight/fix",
      "post /v1/hooks/{name}",
      "post /v1/reset",
      "post /v1/init",
      "get /v1/jobs/{id}",
    ];
    for (const op of used) {
      const [method, path] = op.split(" ") as [string, string];
      assert.ok(
        (doc.paths[path] as Record<string, unknown> | undefined)?.[method],
        `${op} is in the OpenAPI document`,
      );
    }
  });

  test("wait-ready: exit 0 on a ready daemon (API from the environment)", async () => {
    const r = await ctl(["wait-ready", "--timeout", "30"], { K8S_OFFLOADD_API: api });
    expectExit(r, 0);
    assert.match(r.stdout, /^ready/);
    const j = json<{ ready: boolean }>(await ctl(["wait-ready", "--json", "--api", api]));
    assert.deepEqual(j, (await d.http("GET", "/v1/ready")).body);
  });

  test("wait-ready: exit 4 at the timeout on a daemon that cannot get ready, with its reason", async () => {
    const t0 = Date.now();
    const r = await ctl(["wait-ready", "--timeout", "2", "--api", `http://127.0.0.1:${stuck.port}`]);
    expectExit(r, 4);
    assert.match(r.stderr, /not ready after 2 s: \w+: .+/);
    const took = Date.now() - t0;
    assert.ok(took >= 2000 && took < 10_000, `took ${took} ms`);
  });

  test("status: a table with the node's phase on top; --json is the API's answer", async () => {
    const r = await ctl(["status", ...viaConfig]);
    expectExit(r, 0);
    assert.match(r.stdout, /^phase: +ready$/m);
    assert.match(r.stdout, /^NAME +STATE +PID +RESTARTS +MESSAGE$/m);
    const api0 = (await d.http("GET", "/v1/status")).body as NodeStatus;
    for (const c of api0.components) {
      const pid = c.pid === null ? "-" : String(c.pid);
      assert.match(r.stdout, new RegExp(`^${c.name} +${c.state} +${pid} +${c.restarts}\\b`, "m"));
    }
    const s = json<NodeStatus>(await ctl(["status", "--json", ...viaConfig]));
    const strip = (x: NodeStatus) => ({ ...x, uptimeSec: 0 });
    assert.deepEqual(strip(s), strip((await d.http("GET", "/v1/status")).body as NodeStatus));
  });

  test("components: a table; --json is GET /v1/components", async () => {
    const r = await ctl(["components", ...viaConfig]);
    expectExit(r, 0);
    assert.match(r.stdout, /^ovs-vswitchd +ready +\d+ +0/m);
    const list = json<ComponentList>(await ctl(["components", "--json", ...viaConfig]));
    assert.deepEqual(list, (await d.http("GET", "/v1/components")).body);
  });

  test("taps: list, resize with --count; a count the API refuses exits 1 with the API's message", async () => {
    const r = await ctl(["taps", ...viaConfig]);
    expectExit(r, 0);
    assert.match(r.stdout, /^pool: 8 TAPs, backend kernel: 7 available, 0 in use, 0 lost$/m);
    assert.match(r.stdout, /^P4TAP_1 +available +P4TAP_1 /m);
    assert.deepEqual(
      json<TapPool>(await ctl(["taps", "--json", ...viaConfig])),
      (await d.http("GET", "/v1/taps")).body,
    );

    const grown = json<TapPool>(await ctl(["taps", "--count", "16", "--json", ...viaConfig]));
    assert.equal(grown.count, 16);
    assert.equal(grown.taps.length, 16);

    const bad = await ctl(["taps", "--count", "12", ...viaConfig]);
    expectExit(bad, 1);
    const answer = await d.http("PUT", "/v1/taps", { count: 12 });
    assert.equal(answer.status, 400);
    assert.equal(bad.stderr, `k8s-offloadctl: ${(answer.body as { message: string }).message}\n`);

    expectExit(await ctl(["taps", "--count", "8", ...viaConfig]), 0);
  });

  test("restart: exit 0 with the component ready; an unknown component exits 1 with the API's message", async () => {
    const before0 = ((await d.http("GET", "/v1/components/ovs-vswitchd")).body as { restarts: number })
      .restarts;
    const r = await ctl(["restart", "ovs-vswitchd", ...viaConfig]);
    expectExit(r, 0);
    assert.match(r.stdout, /^ovs-vswitchd: ready, pid \d+, restarts \d+$/m);
    const c = (await d.http("GET", "/v1/components/ovs-vswitchd")).body as {
      restarts: number;
      state: string;
    };
    assert.equal(c.state, "ready");
    assert.ok(c.restarts >= before0);

    const bad = await ctl(["restart", "nope", ...viaConfig]);
    expectExit(bad, 1);
    assert.match(bad.stderr, /^k8s-offloadctl: .*nope.*ovs-vswitchd/);
  });

  test("events: a page; --json is the API's page", async () => {
    const r = await ctl(["events", "--limit", "5", ...viaConfig]);
    expectExit(r, 0);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 5);
    assert.match(lines[0] ?? "", /^\S+Z +#1 +\S+ +\S+ +/);
    const page = json<EventsPage>(
      await ctl(["events", "--json", "--after", "2", "--limit", "3", ...viaConfig]),
    );
    assert.deepEqual(page, (await d.http("GET", "/v1/events?after=2&limit=3")).body);
  });

  test("events --follow: prints an event caused by an action, then ends (exit 0) when stopped", async () => {
    const page = (await d.http("GET", "/v1/events?limit=1000")).body as EventsPage;
    const last = page.events.at(-1)?.id ?? 0;
    const child = start(["events", "--follow", "--json", "--after", String(last), ...viaConfig]);
    // Let the stream open before the action: events from before it are not what is looked for.
    await new Promise((r) => setTimeout(r, 500));
    const restarted = d.http("POST", "/v1/components/arp-proxy/restart");
    const seen = () =>
      child.out.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as NodeEvent)
        .filter((e) => e.id > last && e.component === "arp-proxy");
    await until(() => seen().length > 0, `an arp-proxy event on the stream; got ${child.out.stdout}`);
    assert.equal((await restarted).status, 200);
    child.kill("SIGTERM");
    const r = await child.done;
    expectExit(r, 0);
    assert.ok(seen().every((e) => typeof e.kind === "string" && typeof e.time === "string"));
  });

  test("preflight: checks, --fix --dry-run and --fix, as tables or the API's JSON", async () => {
    const r = await ctl(["preflight", ...viaConfig]);
    expectExit(r, 0);
    assert.match(r.stdout, /^CHECK +STATUS +FIX +OBSERVED +EXPECTED$/m);
    const report = json<PreflightReport>(await ctl(["preflight", "--json", ...viaConfig]));
    const apiReport = (await d.http("GET", "/v1/preflight")).body as PreflightReport;
    assert.deepEqual(
      report.checks.map((c) => [c.id, c.status]),
      apiReport.checks.map((c) => [c.id, c.status]),
    );
    const dry = json<FixReport>(await ctl(["preflight", "--dry-run", "--json", ...viaConfig]));
    assert.equal(dry.dryRun, true);
    const fixed = json<FixReport>(await ctl(["preflight", "--fix", "--json", ...viaConfig]));
    assert.equal(fixed.dryRun, false);
    const human = await ctl(["preflight", "--fix", ...viaConfig]);
    expectExit(human, 0);
    assert.match(human.stdout, /checks after the fix:/);
  });

  test("mutating commands: an unreadable token file exits 1 naming it; a wrong token gets the API's 401 message", async () => {
    const missing = join(dir, "no-such-token");
    const r = await ctl(["restart", "arp-proxy", "--api", api, "--token-file", missing]);
    expectExit(r, 1);
    assert.ok(r.stderr.includes(missing), r.stderr);

    const wrong = join(dir, "wrong-token");
    writeFileSync(wrong, `${"0".repeat(64)}\n`);
    chmodSync(wrong, 0o600);
    const w = await ctl(["restart", "arp-proxy", "--api", api], { K8S_OFFLOADD_TOKEN_FILE: wrong });
    expectExit(w, 1);
    assert.match(w.stderr, /Authorization: Bearer <token>/);

    // Reads need no token.
    expectExit(await ctl(["status", "--api", api, "--token-file", missing]), 0);
  });

  test("unreachable daemon: exit 3 naming the URL (also for wait-ready at its timeout)", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    for (const args of [["status"], ["taps", "--count", "16"], ["wait-ready", "--timeout", "1"]]) {
      const r = await ctl([...args, "--api", url, "--token-file", f.tokenFile]);
      expectExit(r, 3);
      assert.match(r.stderr, new RegExp(`cannot reach k8s-offloadd at ${url}`));
    }
  });

  test("usage errors exit 2; --help lists the exit codes", async () => {
    for (const args of [
      ["bogus"],
      ["taps", "--count", "abc"],
      ["wait-ready", "--timeout", "soon"],
      ["hook", "pre-upgrade"],
      ["restart"],
      ["reset"],
      ["status", "--api", "https://127.0.0.1:9300"],
      ["status", "--api", "http://192.0.2.1:9300"],
      ["status", "--config", join(dir, "missing.yaml")],
    ]) {
      expectExit(
        await ctl([...args, ...(args.includes("--api") || args.includes("--config") ? [] : ["--api", api])]),
        2,
      );
    }
    const help = await ctl(["--help"]);
    expectExit(help, 0);
    for (const code of [0, 1, 2, 3, 4]) assert.match(help.stdout, new RegExp(`^  ${code}  `, "m"));
  });

  test("hook: starts the job and follows its steps to the end (exit 0); --json prints the finished job", async () => {
    const r = await ctl(["hook", "post-init", ...viaConfig]);
    expectExit(r, 0);
    assert.match(r.stdout, /^job \d+ \(hook:post-init\) started$/m);
    assert.match(r.stdout, new RegExp(`^step \\d+/\\d+ apply-manifest ${manifest}: succeeded`, "m"));
    assert.match(r.stdout, /^job \d+ \(hook:post-init\) succeeded/m);

    const j = await ctl(["hook", "pre-reset", "--json", ...viaConfig]);
    const job = json<Job>(j);
    assert.equal(job.kind, "hook:pre-reset");
    assert.equal(job.state, "succeeded");
    assert.deepEqual(job, (await d.http("GET", `/v1/jobs/${job.id}`)).body);
    assert.match(j.stderr, /^step \d+\/\d+ undeploy-manifest /m);
  });

  test("hook --no-wait returns the running job; a second job exits 1 (409); jobs ID follows it", async () => {
    const gate = join(dir, "apply-may-go");
    tools.add("kubectl", `while [ ! -e '${gate}' ]; do /bin/sleep 0.05; done`);
    const started = json<Job>(await ctl(["hook", "post-init", "--no-wait", "--json", ...viaConfig]));
    assert.equal(started.state, "running");

    const busy = await ctl(["reset", "--yes", ...viaConfig]);
    expectExit(busy, 1);
    assert.match(
      busy.stderr,
      new RegExp(`^k8s-offloadctl: job ${started.id} \\(hook:post-init\\) is running`),
    );

    const follower = start(["jobs", String(started.id), ...viaConfig]);
    await until(
      () => /^step \d+\/\d+ apply-manifest .*: running$/m.test(follower.out.stdout),
      "the running step",
    );
    writeFileSync(gate, "");
    const r = await follower.done;
    expectExit(r, 0);
    assert.match(r.stdout, new RegExp(`^job ${started.id} \\(hook:post-init\\) succeeded`, "m"));
    tools.add("kubectl");

    const listed = await ctl(["jobs", ...viaConfig]);
    expectExit(listed, 0);
    assert.match(listed.stdout, new RegExp(`^${started.id} +hook:post-init +succeeded `, "m"));
    assert.deepEqual(
      json(await ctl(["jobs", "--json", ...viaConfig])),
      (await d.http("GET", "/v1/jobs")).body,
    );
  });

  test("down: stops the datapath; hook pre-init brings it back and waits for ready", async () => {
    const s = json<NodeStatus>(await ctl(["down", "--json", ...viaConfig]));
    assert.equal(s.phase, "stopped");
    const notReady = await ctl(["wait-ready", "--timeout", "0", ...viaConfig]);
    expectExit(notReady, 4);

    const r = await ctl(["hook", "pre-init", ...viaConfig]);
    expectExit(r, 0);
    assert.match(r.stdout, /^job \d+ \(hook:pre-init\) succeeded/m);
    expectExit(await ctl(["wait-ready", "--timeout", "30", ...viaConfig]), 0);
  });

  test("down then up: the datapath stops and comes back ready", async () => {
    expectExit(await ctl(["down", ...viaConfig]), 0);
    const back = await ctl(["up", "--json", ...viaConfig]);
    expectExit(back, 0);
    assert.equal(json<NodeStatus>(back).phase, "ready");
    assert.equal(((await d.http("GET", "/v1/status")).body as NodeStatus).phase, "ready");
  });

  test("reset --yes: follows the job; a failing step makes exit 4 with the job's message", async () => {
    tools.add(
      "systemctl",
      "echo 'Failed to stop kubelet.service: Unit kubelet.service not loaded.' >&2; exit 1",
    );
    const r = await ctl(["reset", "--yes", ...viaConfig]);
    expectExit(r, 4);
    assert.match(r.stdout, /^step \d+\/\d+ kubeadm-reset: succeeded/m);
    assert.match(r.stdout, /^step \d+\/\d+ stop-services: failed/m);
    assert.match(r.stderr, /^job \d+ \(reset\) failed: .*stop-services/m);
    const jobs = (await d.http("GET", "/v1/jobs")).body as { jobs: Job[] };
    assert.equal(jobs.jobs[0]?.kind, "reset");
    assert.equal(jobs.jobs[0]?.state, "failed");
  });
});
