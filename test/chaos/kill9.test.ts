/**
 * Crash safety: SIGKILL the daemon at random moments during bring-up (fresh, or adopting a running
 * datapath), during a pool resize (PUT /v1/taps to 16/64/128) and during a reset job, then start it
 * again and check that it converges:
 *
 * - the state database passes PRAGMA integrity_check;
 * - exactly one ovsdb-server and one ovs-vswitchd of this node run (a /proc scan), and they are the
 *   pids the daemon reports (none at all when a reset took the datapath down);
 * - the kernel listing in the daemon's namespace is the desired pool (taps.count of the config: a
 *   resize lasts until a restart), no TAP left behind or missing, and the TAP records say the same;
 * - no job is left running: an interrupted one was resumed to its end or ended failed/interrupted
 *   with a reason.
 *
 * It runs over the three TAP backends, each on its own node (real Open vSwitch in all):
 * - kernel: a kernel TAP pool; scenarios bring-up, adopt, resize, reset;
 * - gnmi (the production one): the P4 target simulator supervised as p4-target (`target.simulator`),
 *   the pool made over gNMI; scenarios bring-up, adopt, reset (no resize: the target never deletes a
 *   port, so a grown pool lasts as long as the target). After each restart, besides the checks above:
 *   exactly one simulator runs and it is the pid the daemon reports, and the target's ports (a gNMI Get)
 *   are exactly the pool, P4TAP_0..N-1, in that order.
 * - dpdk: Debian's Open vSwitch built with DPDK (ovs-vswitchd-dpdk) on real huge pages (reserved for
 *   the run by test/helpers/hugepages.ts and put back after it), the pool's DPDK TAP ports added
 *   through the ovsdb; scenarios bring-up, adopt, reset. After each restart, besides the checks
 *   above: br0 holds exactly the pool's ports, each once, P4TAP_k at ofport k+1, none with an error.
 * All: no job step process is left running (K8S_OFFLOADD_STEP in its environment, see
 * daemon/host/step-process.ts).
 *
 * kubeadm, kubectl, crictl and systemctl are stand-ins (test/helpers/stand-ins.ts) and the daemon
 * looks them up nowhere else. CHAOS_SEED=<n> replays the same scenarios and kill delays (the seed is
 * printed with the trial counts per backend and scenario); CHAOS_TRIALS sets the number of trials over
 * the backends together (default 30, at least 30 in CI; split in thirds, the rest to kernel, gnmi).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { parse } from "yaml";
import type { NodeStatus } from "../../daemon/engine/component";
import { GnmiClient } from "../../daemon/host/gnmi-client";
import { STEP_MARKER_ENV } from "../../daemon/host/step-process";
import type { Job } from "../../daemon/state/store";
import { benchCoreConfig, type DaemonProcess, daemonFixture, scratchDir, sleep } from "../helpers/daemon";
import { DPDK_PAGES, dpdkOverrides } from "../helpers/dpdk";
import { type Reservation, reserveHugepages } from "../helpers/hugepages";
import { StandIns } from "../helpers/stand-ins";

const SEED = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
const TRIALS = process.env.CHAOS_TRIALS ? Number(process.env.CHAOS_TRIALS) : 30;
type Backend = "kernel" | "gnmi" | "dpdk";
const BACKENDS: Backend[] = ["kernel", "gnmi", "dpdk"];
/** Trials per backend: a third each, what is left over to kernel first, then gnmi. */
const trialsOf = (b: Backend) => {
  const i = BACKENDS.indexOf(b);
  return Math.floor(TRIALS / BACKENDS.length) + (i < TRIALS % BACKENDS.length ? 1 : 0);
};
/** Each backend has its own stream of the seed, so one backend's trials replay alone too. */
const seedOf = (b: Backend) =>
  b === "kernel" ? SEED : b === "gnmi" ? (SEED ^ 0x5bd1e995) >>> 0 : (SEED ^ 0x27d4eb2f) >>> 0;

// The dpdk node's EAL takes real huge pages: reserved before, put back after (also on failure).
let hugepages: Reservation | null = null;
before(() => {
  if (BACKENDS.includes("dpdk")) hugepages = reserveHugepages(DPDK_PAGES);
});
after(() => hugepages?.restore());
const POOL = 8; // taps.count of the config: the pool every restart converges to
const PREFIX = "P4TAP_";
const HOST_IF = "TAP_0";

/** mulberry32: a small seeded PRNG, so a seed replays the same trials. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Scenario = "bring-up" | "adopt" | "resize" | "reset";

/** Live (not zombie) processes whose argv mentions `marker`, by program name. */
function ovsProcesses(marker: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").filter(Boolean);
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "Z" || state === "X") continue;
      // Debian's DPDK build is ovs-vswitchd-dpdk: the same program for this count.
      const prog = ((argv[0] ?? "").split("/").at(-1) ?? "").replace(/-dpdk$/, "");
      if (!["ovsdb-server", "ovs-vswitchd"].includes(prog) || !argv.some((a) => a.includes(marker))) continue;
      out.set(prog, [...(out.get(prog) ?? []), Number(e)]);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Live processes of the simulator serving `gnmiAddress`. */
function simulators(gnmiAddress: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").filter(Boolean);
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "Z" || state === "X") continue;
      if (argv.some((a) => a.endsWith("p4-target-sim.js")) && argv.includes(gnmiAddress)) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Live processes started by a job step (the marker daemon/host/step-process.ts puts in their environment). */
function stepProcesses(): number[] {
  const needle = Buffer.from(`${STEP_MARKER_ENV}=`);
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "Z" || state === "X") continue;
      if (readFileSync(`/proc/${e}/environ`).includes(needle)) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * The target's ports in the order it numbered them: a gNMI Get of /interfaces lists every port of
 * the chassis config; a port was added when its port-type reads back as set (a string; unset reads
 * uint 0), and config/tdi-portin-id answers its datapath port number (yang_parse_tree_paths.cc).
 */
async function targetPorts(gnmi: GnmiClient): Promise<string[]> {
  const leaves = await gnmi.get(["/interfaces"]);
  const added: string[] = [];
  for (const l of leaves) {
    const m = /virtual-interface\[name=([^\]]+)\]\/config\/port-type$/.exec(l.path);
    if (m?.[1] && typeof l.value === "string" && l.value !== "") added.push(m[1]);
  }
  const ids = await gnmi.get(
    added.map((n) => `/interfaces/virtual-interface[name=${n}]/config/tdi-portin-id`),
  );
  const port = (n: string) => Number(ids.find((l) => l.path.includes(`[name=${n}]`))?.value ?? -1);
  return added.sort((a, b) => port(a) - port(b));
}

/** TAP devices (and pool-named links) in the namespace, sorted. */
function kernelTaps(netns: string): string[] {
  const r = spawnSync("ip", ["-n", netns, "-j", "-d", "link", "show"], { encoding: "utf8" });
  if (r.status !== 0) return []; // no namespace: nothing in it
  const links = JSON.parse(r.stdout || "[]") as { ifname: string; linkinfo?: { info_kind?: string } }[];
  return (
    links
      // br0 and ovs-netdev are the DPDK node's netdev datapath's own TAPs (its internal ports).
      .filter((l) => !["br0", "ovs-netdev"].includes(l.ifname))
      .filter((l) => l.linkinfo?.info_kind === "tun" || l.ifname.startsWith(PREFIX) || l.ifname === HOST_IF)
      .map((l) => l.ifname)
      .sort()
  );
}

const desiredPool = () =>
  [HOST_IF, ...Array.from({ length: POOL - 1 }, (_, i) => `${PREFIX}${i + 1}`)].sort();

/** Trials per backend and scenario, printed together with the seed at the end of the run. */
const tallies = new Map<Backend, Map<Scenario, number>>();
after(() => {
  const line = BACKENDS.map((b) => {
    const t = tallies.get(b) ?? new Map<Scenario, number>();
    const n = [...t.values()].reduce((a, x) => a + x, 0);
    return `${b} ${n} (${[...t].map(([s, k]) => `${s} ${k}`).join(", ")})`;
  }).join("; ");
  const total = [...tallies.values()].flatMap((t) => [...t.values()]).reduce((a, x) => a + x, 0);
  process.stdout.write(
    `# chaos seed ${SEED} (CHAOS_SEED=${SEED} replays): ${total} trials over both backends: ${line}\n`,
  );
});

for (const backend of BACKENDS) {
  describe(`kill -9 at any moment (${backend} backend)`, () => {
    const scratch = scratchDir("offloadd-chaos-");
    const tools = new StandIns(scratch);
    let f: Awaited<ReturnType<typeof daemonFixture>>;
    let d: DaemonProcess;
    let gnmi: GnmiClient | null = null;
    let gnmiAddress = "";
    const log: string[] = [];
    const tally = new Map<Scenario, number>();
    tallies.set(backend, tally);
    /** Where the kills landed: what the node looked like right after each (shows the windows are hit). */
    const landed = new Map<string, number>();
    const note = (k: string) => landed.set(k, (landed.get(k) ?? 0) + 1);
    let failures = 0;

    after(async () => {
      const per = [...tally].map(([s, n]) => `${s} ${n}`).join(", ");
      const where = [...landed].map(([s, n]) => `${s}: ${n}`).join(", ");
      process.stdout.write(
        `# chaos ${backend} seed ${seedOf(backend)} (CHAOS_SEED=${SEED} replays): ${log.length} trials (${per}), ${failures} failures\n` +
          `# ${backend} kills landed: ${where}\n`,
      );
      gnmi?.close();
      await f?.cleanup();
      // The dpdk node's hugetlbfs, mounted by its hugepages component in this test's mount namespace.
      if (backend === "dpdk") spawnSync("umount", [join(scratch, "huge")], { stdio: "ignore" });
      rmSync(scratch, { recursive: true, force: true });
    });

    const netns = () => `offloadd-${f.port}`;
    const stateDb = () => join(f.dir, "state", "state.db");

    async function jobs(): Promise<Job[]> {
      const r = await d.http("GET", "/v1/jobs");
      return r.status === 200 ? (r.body as { jobs: Job[] }).jobs : [];
    }

    /** Waits until no job runs and the node is ready, or stopped by a finished reset. */
    async function converged(): Promise<NodeStatus> {
      const deadline = Date.now() + 90_000;
      for (;;) {
        let s: NodeStatus | null = null;
        try {
          const running = (await jobs()).filter((j) => j.state === "running");
          const r = await d.http("GET", "/v1/status");
          if (running.length === 0 && r.status === 200) s = r.body as NodeStatus;
        } catch {
          // not listening yet
        }
        if (s && (s.phase === "ready" || s.phase === "stopped")) return s;
        if (d.proc.exitCode !== null) throw new Error(`the daemon exited ${d.proc.exitCode}:\n${d.stderr}`);
        if (Date.now() > deadline)
          throw new Error(`no convergence: ${JSON.stringify(s)}\n${d.stderr.slice(-3000)}`);
        await sleep(100);
      }
    }

    function withDb<T>(fn: (db: Database.Database) => T): T {
      const db = new Database(stateDb(), { readonly: true, fileMustExist: true });
      try {
        return fn(db);
      } finally {
        db.close();
      }
    }

    function integrity(): void {
      withDb((db) => {
        assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
        assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      });
    }

    /** Jobs the killed daemon left running (read from the file, as the next daemon will). */
    const runningJobIds = () =>
      withDb((db) => db.prepare("SELECT id FROM jobs WHERE state = 'running'").pluck().all() as number[]);

    const resumedEvent = (id: number, kind: string) =>
      withDb((db) => {
        const q = db.prepare("SELECT count(*) FROM events WHERE kind = 'job' AND message LIKE ?").pluck();
        return (q.get(`job ${id} (${kind}) resumed%`) as number) > 0;
      });

    const recordedTaps = () =>
      withDb((db) => (db.prepare("SELECT name FROM taps ORDER BY name").pluck().all() as string[]).sort());

    const poolNames = () => Array.from({ length: POOL }, (_, i) => `${PREFIX}${i}`);

    /** Every invariant of a converged node; `what` names the trial in messages. */
    async function check(what: string, s: NodeStatus): Promise<void> {
      integrity();
      const all = await jobs();
      for (const j of all) {
        assert.notEqual(j.state, "running", `${what}: job ${j.id} still running`);
        // Every stand-in succeeds and every step is idempotent: a resumed reset must succeed too.
        assert.equal(j.state, "succeeded", `${what}: job ${j.id} ${j.state}: ${j.message}`);
        for (const st of j.steps) {
          assert.ok(
            !["pending", "running"].includes(st.state),
            `${what}: job ${j.id} step ${st.name} ${st.state}`,
          );
        }
      }
      assert.deepEqual(stepProcesses(), [], `${what}: a job step's process still runs`);
      const procs = ovsProcesses(f.dir);
      const sims = backend === "gnmi" ? simulators(gnmiAddress) : [];
      if (s.phase === "stopped") {
        // Only a reset that ran to its datapath-down step leaves the node stopped.
        const last = all[0];
        assert.equal(last?.kind, "reset", `${what}: stopped, but the last job is ${last?.kind}`);
        assert.equal(
          last?.steps.find((x) => x.name === "datapath-down")?.state,
          "succeeded",
          `${what}: stopped`,
        );
        assert.deepEqual([...procs.values()].flat(), [], `${what}: OVS still runs after a reset`);
        assert.deepEqual(sims, [], `${what}: the simulator still runs after a reset`);
        assert.deepEqual(kernelTaps(netns()), [], `${what}: TAPs left after a reset`);
        assert.deepEqual(recordedTaps(), [], `${what}: TAP records left after a reset`);
        return;
      }
      for (const prog of ["ovsdb-server", "ovs-vswitchd"]) {
        const pids = procs.get(prog) ?? [];
        assert.equal(pids.length, 1, `${what}: ${pids.length} ${prog} processes (${pids.join(", ")})`);
        const reported = s.components.find((c) => c.name === prog)?.pid;
        assert.equal(reported, pids[0], `${what}: ${prog} reported pid ${reported}, running ${pids[0]}`);
      }
      assert.deepEqual(kernelTaps(netns()), desiredPool(), `${what}: kernel TAPs`);
      assert.deepEqual(recordedTaps(), [...poolNames()].sort(), `${what}: TAP records`);
      if (backend === "gnmi") {
        assert.equal(sims.length, 1, `${what}: ${sims.length} simulators (${sims.join(", ")})`);
        const reported = s.components.find((c) => c.name === "p4-target")?.pid;
        assert.equal(reported, sims[0], `${what}: p4-target reported pid ${reported}, running ${sims[0]}`);
        assert.deepEqual(await targetPorts(gnmi as GnmiClient), poolNames(), `${what}: the target's ports`);
      }
      if (backend === "dpdk") assert.deepEqual(dpdkPorts(), poolNames(), `${what}: br0's DPDK ports`);
    }

    /** br0's ports with an ofport and no error, ordered by ofport; P4TAP_k must be at k+1. */
    function dpdkPorts(): string[] {
      const argv = [`--db=unix:${join(f.dir, "ovs/run/db.sock")}`, "--timeout=5", "--format=json"];
      argv.push("--columns=name,ofport,error", "find", "Interface", "type=dpdk");
      const r = spawnSync("/usr/bin/ovs-vsctl", argv, { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const rows = (JSON.parse(r.stdout) as { data: [string, unknown, unknown][] }).data;
      const ok = rows.filter(
        ([, port, err]) => typeof port === "number" && port > 0 && typeof err !== "string",
      );
      for (const [name, port] of ok)
        assert.equal(port, Number(name.slice(PREFIX.length)) + 1, `${name} ofport`);
      return ok.sort((a, b) => (a[1] as number) - (b[1] as number)).map(([name]) => name);
    }

    test(`${trialsOf(backend)} trials: SIGKILL during bring-up${backend === "kernel" ? ", resize" : ""} and reset, then convergence`, async () => {
      const trials = trialsOf(backend);
      process.stdout.write(
        `# chaos ${backend} seed ${seedOf(backend)} (CHAOS_SEED=${SEED} replays), ${trials} trials\n`,
      );
      // Slow enough that a kill lands inside the reset job, not only after it.
      // (The daemon's PATH for them is toolPath only: sleep by its full path.)
      tools.add("kubeadm", "/usr/bin/sleep 0.4");
      tools.add("kubectl");
      tools.add("crictl", "/usr/bin/sleep 0.2");
      tools.add("systemctl", "/usr/bin/sleep 0.3");
      const kube = { toolPath: [tools.bin], manifests: [], kubeconfig: null, commandTimeoutSec: 30 };
      const huge = join(scratch, "huge");
      mkdirSync(huge);
      const dpdk = dpdkOverrides(POOL, huge, hugepages?.reserved ?? DPDK_PAGES);
      f = await daemonFixture(
        backend === "kernel"
          ? // Stand-ins only: the host's own kubeadm and systemctl are never reachable from this test.
            { ...benchCoreConfig, api: { rateLimit: 100_000 }, kubernetes: kube }
          : backend === "dpdk"
            ? { ...dpdk, taps: { ...dpdk.taps, max: 32 }, api: { rateLimit: 100_000 }, kubernetes: kube }
            : {
                taps: { backend: "gnmi" },
                target: { simulator: true },
                api: { rateLimit: 100_000 },
                kubernetes: kube,
              },
      );
      if (backend === "gnmi") {
        gnmiAddress = (parse(readFileSync(f.configFile, "utf8")) as { target: { gnmi: string } }).target.gnmi;
        gnmi = new GnmiClient({ address: gnmiAddress, timeoutMs: 5000 });
      }
      const random = rng(seedOf(backend));
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

      d = f.start();
      let t0 = Date.now();
      await converged();
      const readyMs = Date.now() - t0; // scales the kill delays to this machine; asserted nowhere
      let resizeMs = 0;
      if (backend === "kernel") {
        t0 = Date.now();
        assert.equal((await d.http("PUT", "/v1/taps", { count: 128 })).status, 200);
        resizeMs = Date.now() - t0; // likewise
        assert.equal((await d.http("PUT", "/v1/taps", { count: POOL })).status, 200);
      }
      await check("first start", await converged());
      const hasReset = (await d.http("GET", "/v1/openapi.json")).text.includes('"/v1/reset"');
      const scenarios: Scenario[] = [
        "bring-up",
        "adopt",
        ...(backend === "kernel" ? (["resize", "resize"] as const) : []),
        ...(hasReset ? (["reset"] as const) : []),
      ];

      for (let i = 0; i < trials; i++) {
        const scenario = pick(scenarios);
        let delay = 0;
        let detail = "";
        if (scenario === "bring-up" || scenario === "adopt") {
          // bring-up: from nothing (the last daemon stopped its datapath); adopt: its datapath still runs.
          if (scenario === "bring-up") await d.stop();
          else {
            d.proc.kill("SIGKILL");
            await d.exited;
          }
          d = f.start();
          delay = Math.floor(random() * readyMs * 1.3);
        } else if (scenario === "resize") {
          const count = pick([16, 64, 128]);
          detail = ` to ${count}`;
          void d.http("PUT", "/v1/taps", { count }).catch(() => undefined);
          // Scaled to the time a resize to 128 took: most kills land inside it, some after it.
          delay = Math.floor(random() * resizeMs * 1.3);
        } else {
          const r = await d.http("POST", "/v1/reset");
          assert.equal(r.status, 202, r.text);
          delay = Math.floor(random() * 1500);
        }
        await sleep(delay);
        d.proc.kill("SIGKILL");
        await d.exited;
        const what = `${backend} trial ${i + 1} (${scenario}${detail}, SIGKILL after ${delay} ms, CHAOS_SEED=${SEED})`;
        log.push(what);
        tally.set(scenario, (tally.get(scenario) ?? 0) + 1);
        const interrupted = runningJobIds();
        const ovsAtKill = [...ovsProcesses(f.dir).values()].flat().length;
        if (scenario === "resize") {
          // The killed daemon's `ip -batch` runs on to its end: the kernel may be ahead of the records.
          const n = kernelTaps(netns()).length;
          const r = recordedTaps().length;
          note(
            n === POOL
              ? "resize not begun"
              : n > r
                ? "resize TAPs made, not recorded"
                : n === Number(detail.slice(4))
                  ? "resize done"
                  : "resize half-way",
          );
        } else if (scenario === "reset") {
          const steps = stepProcesses().length;
          note(
            interrupted.length > 0
              ? `reset job mid-run${steps > 0 ? " with a step process running" : ""}`
              : "reset job ended",
          );
        } else {
          const taps = kernelTaps(netns()).length;
          note(`${scenario} with ${ovsAtKill} of 2 OVS processes, ${Math.min(taps, POOL)} of ${POOL} TAPs`);
        }

        d = f.start();
        try {
          const s = await converged();
          await check(what, s);
          for (const id of interrupted) {
            // Resumed to its end (the history says so), or ended failed/interrupted with a reason.
            const j = (await d.http("GET", `/v1/jobs/${id}`)).body as Job;
            assert.notEqual(j.state, "running", `${what}: job ${id}`);
            if (j.state === "succeeded") {
              assert.ok(resumedEvent(id, j.kind), `${what}: job ${id} succeeded, but was not resumed`);
              note("job resumed");
            } else {
              assert.ok(j.message, `${what}: job ${id} ${j.state} without a reason`);
              note(`job ${j.state} (${j.message?.slice(0, 160)})`);
            }
          }
          if (s.phase === "stopped") {
            // The reset finished: bring the datapath back for the next trial, and check it again.
            const up = await d.http("POST", "/v1/datapath/up");
            assert.equal(up.status, 200, up.text);
            await check(`${what}, then datapath up`, await converged());
          }
        } catch (err) {
          failures++;
          throw err;
        }
      }
      assert.equal(failures, 0);
    });

    if (backend !== "kernel") return;

    test("children spawned but not recorded (killed between spawn and the record) are adopted, not doubled", async () => {
      assert.ok(f && d, "runs after the trials, on their node");
      const before = ovsProcesses(f.dir);
      d.proc.kill("SIGKILL");
      await d.exited;
      const db = new Database(stateDb());
      try {
        db.prepare("DELETE FROM children").run();
      } finally {
        db.close();
      }
      d = f.start();
      const s = await converged();
      await check("after unrecorded children", s);
      assert.deepEqual(ovsProcesses(f.dir), before, "the same processes, adopted");
    });

    test("a TAP made but not recorded (killed between ip -batch and the record) is removed; a foreign one stays", async () => {
      assert.ok(f && d, "runs after the trials, on their node");
      d.proc.kill("SIGKILL");
      await d.exited;
      const ip = (...args: string[]) => {
        const r = spawnSync("ip", ["-n", netns(), ...args], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
      };
      // In the pool's link group (taps.group, default 4242) but outside the pool and unrecorded: ours.
      ip("tuntap", "add", "dev", `${PREFIX}99`, "mode", "tap");
      ip("link", "set", "dev", `${PREFIX}99`, "group", "4242");
      // Named like the pool, but not in its group and not recorded: someone else's.
      ip("tuntap", "add", "dev", `${PREFIX}98`, "mode", "tap");
      d = f.start();
      await converged();
      const taps = kernelTaps(netns());
      assert.ok(!taps.includes(`${PREFIX}99`), "ours removed");
      assert.ok(taps.includes(`${PREFIX}98`), "foreign left alone");
      ip("link", "del", "dev", `${PREFIX}98`);
      await check("after the unrecorded TAP", await converged());
    });
  });
}
