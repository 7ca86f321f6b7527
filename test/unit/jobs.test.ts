/**
 * The job runner against a real state database (temp dir) and a catalog of in-memory steps; the
 * manifest record replay; the directory removal adapter under a scratch root; job step processes (real
 * processes: their groups, records, the stop ladder, the identity check of an earlier daemon's ones)
 * and the runner's resume-before-anything-new gate.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import pino from "pino";
import { removeHostDirs } from "../../daemon/host/host-dirs";
import { bootId, isAlive, procInfo } from "../../daemon/host/proc";
import { findByMarker, STEP_MARKER_ENV, StepProcesses } from "../../daemon/host/step-process";
import { appliedManifests, manifestsToUndeploy } from "../../daemon/jobs/manifests";
import { type JobCatalog, JobConflictError, JobRunner, Skip, type StepRun } from "../../daemon/jobs/runner";
import { StateStore } from "../../daemon/state/store";

const log = pino({ level: "silent" });
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), "offloadd-jobs-"));
  dirs.push(d);
  return d;
}

/** One kind "k" whose steps are whatever the test puts in `steps`, in insertion order. */
function catalog(steps: Record<string, StepRun>): JobCatalog {
  return {
    has: (kind) => kind === "k",
    plan: () => Object.keys(steps),
    step: (_kind, name) => steps[name] ?? null,
  };
}

function runner(store: StateStore, steps: Record<string, StepRun>, events: string[] = []) {
  return new JobRunner({ store, catalog: catalog(steps), emit: (k, m) => events.push(`${k} ${m}`), log });
}

describe("job runner", () => {
  test("steps run in order; a failure is recorded and the others still run; the job names it", async () => {
    const store = StateStore.open(join(scratch(), "state.db"));
    const ran: string[] = [];
    const events: string[] = [];
    const r = runner(
      store,
      {
        one: async () => {
          ran.push("one");
          return "did one";
        },
        two: async () => {
          ran.push("two");
          throw new Error("two broke");
        },
        three: async () => {
          ran.push("three");
          return new Skip("nothing to do");
        },
      },
      events,
    );
    const job = r.start("k");
    assert.equal(job.state, "running");
    assert.throws(() => r.start("k"), JobConflictError);
    await r.idle();
    const done = r.get(job.id);
    assert.deepEqual(ran, ["one", "two", "three"]);
    assert.equal(done?.state, "failed");
    assert.equal(done?.message, "1 of 3 steps failed: two (two broke)");
    assert.deepEqual(
      done?.steps.map((s) => [s.name, s.state, s.message]),
      [
        ["one", "succeeded", "did one"],
        ["two", "failed", "two broke"],
        ["three", "skipped", "nothing to do"],
      ],
    );
    assert.deepEqual(
      events.filter((e) => e.startsWith("job-step")).map((e) => e.replace(/^.* step \d\/3 /, "")),
      [
        "one: running",
        "one: succeeded: did one",
        "two: running",
        "two: failed: two broke",
        "three: running",
        "three: skipped: nothing to do",
      ],
    );
    // The runner is free again.
    r.start("k");
    await r.idle();
    store.close();
  });

  test("a job left running resumes at the step that was running; finished steps are not run again", async () => {
    const file = join(scratch(), "state.db");
    let store = StateStore.open(file);
    const id = store.createJob("k", ["a", "b", "c"]);
    store.startStep(id, 0);
    store.finishStep(id, 0, "succeeded");
    store.startStep(id, 1); // the daemon died here
    store.close();

    store = StateStore.open(file);
    const ran: string[] = [];
    const step = (n: string) => async () => {
      ran.push(n);
      return undefined;
    };
    const r = runner(store, { a: step("a"), b: step("b"), c: step("c") });
    const resumed = r.resumeInterrupted();
    assert.throws(() => r.start("k"), /job \d+ \(k\) is running/);
    await resumed;
    assert.deepEqual(ran, ["b", "c"]);
    assert.equal(r.get(id)?.state, "succeeded");
    store.close();
  });

  test("a job whose steps this daemon does not know is marked interrupted, not run", async () => {
    const store = StateStore.open(join(scratch(), "state.db"));
    const id = store.createJob("k", ["a", "gone"]);
    let ran = false;
    const r = runner(store, {
      a: async () => {
        ran = true;
        return undefined;
      },
    });
    await r.resumeInterrupted();
    assert.equal(ran, false);
    assert.equal(r.get(id)?.state, "interrupted");
    assert.match(r.get(id)?.message ?? "", /steps gone/);
    store.close();
  });
});

describe("manifests the daemon applied", () => {
  test("replayed from succeeded steps: applied and not deleted since, in apply order", () => {
    assert.equal(appliedManifests(["kubeadm-reset"]), null);
    assert.deepEqual(
      appliedManifests([
        "apply-manifest /a",
        "apply-manifest /b",
        "undeploy-manifest /a",
        "apply-manifest /c",
      ]),
      ["/b", "/c"],
    );
    assert.deepEqual(manifestsToUndeploy(["apply-manifest /a", "apply-manifest /b"], ["/x"]), ["/b", "/a"]);
    assert.deepEqual(manifestsToUndeploy([], ["/x", "/y"]), ["/y", "/x"]);
    assert.deepEqual(manifestsToUndeploy(["apply-manifest /a", "undeploy-manifest /a"], ["/x"]), []);
  });
});

describe("removeHostDirs", () => {
  test("removes exactly the paths given below the root; refuses a parent that leads outside it", () => {
    const root = scratch();
    const outside = scratch();
    mkdirSync(join(root, "etc/kubernetes/pki"), { recursive: true });
    mkdirSync(join(root, "etc/kubernetes-keep"), { recursive: true });
    mkdirSync(join(outside, "kubernetes"), { recursive: true });
    writeFileSync(join(outside, "kubernetes/x"), "x");
    mkdirSync(join(root, "var"), { recursive: true });
    symlinkSync(outside, join(root, "var/run"));
    const r = removeHostDirs(root, [
      "/etc/kubernetes",
      "/var/lib/etcd",
      "/var/run/kubernetes",
      "/etc/../etc",
    ]);
    assert.deepEqual(r.removed, ["/etc/kubernetes"]);
    assert.deepEqual(r.absent, ["/var/lib/etcd"]);
    assert.equal(r.errors.length, 2);
    assert.match(
      r.errors[0] ?? "",
      /refusing to remove \/var\/run\/kubernetes: its parent resolves to .*, outside/,
    );
    assert.match(r.errors[1] ?? "", /not a normalized absolute path/);
    assert.ok(existsSync(join(root, "etc/kubernetes-keep")));
    assert.ok(existsSync(join(outside, "kubernetes/x")), "nothing outside the root is touched");
  });
});

// ---- job step processes ------------------------------------------------------------------------------

const quiet = { warn: () => undefined };
const gone = (pid: number) => !isAlive(pid);

/** /proc/PID/stat field 5: the process group. */
function pgrp(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A process that is not a step process of the code under test (the test's own child). */
function foreign(env: NodeJS.ProcessEnv = {}): ChildProcess {
  const c = spawn("/bin/sleep", ["300"], { stdio: "ignore", env: { ...process.env, ...env } });
  spawned.push(c);
  return c;
}
const spawned: ChildProcess[] = [];
after(() => {
  for (const c of spawned) c.kill("SIGKILL");
});

describe("step processes", () => {
  test("each runs in its own process group, recorded with pid and start time while it runs, forgotten after", async () => {
    const store = StateStore.open(join(scratch(), "state.db"));
    const p = new StepProcesses({ ledger: store, stopTimeoutMs: 2000, ...quiet });
    p.setContext({ jobId: 7, stepIdx: 2 });
    const run = p.run(["/bin/sleep", "30"], { timeoutMs: 60_000, env: process.env });
    const [pid] = p.running();
    assert.ok(pid);
    const rec = store.stepProcesses();
    assert.equal(rec.length, 1);
    assert.equal(rec[0]?.pid, pid);
    assert.equal(rec[0]?.startTime, procInfo(pid)?.startTime);
    assert.deepEqual([rec[0]?.jobId, rec[0]?.stepIdx, rec[0]?.argv], [7, 2, ["/bin/sleep", "30"]]);
    assert.equal(rec[0]?.bootId, bootId());
    assert.equal(pgrp(pid), pid, "its own process group");
    assert.notEqual(pgrp(pid), pgrp(process.pid));
    await p.stopAll();
    const r = await run;
    assert.equal(r.signal, "SIGTERM");
    assert.ok(gone(pid));
    assert.deepEqual(store.stepProcesses(), [], "the record goes with the process");
    await assert.rejects(p.run(["/bin/true"], { timeoutMs: 1000, env: process.env }), /daemon is stopping/);
    assert.deepEqual(store.stepProcesses(), []);
    store.close();
  });

  test("the stop ladder: a group that ignores SIGTERM gets SIGKILL, children included", async () => {
    const store = StateStore.open(join(scratch(), "state.db"));
    const p = new StepProcesses({ ledger: store, stopTimeoutMs: 300, ...quiet });
    // sh ignores TERM and so does the sleep it starts (ignored signals are inherited).
    const run = p.run(["/bin/sh", "-c", "trap '' TERM; /bin/sleep 300 & wait"], {
      timeoutMs: 60_000,
      env: process.env,
    });
    const marker = store.stepProcesses()[0]?.marker as string;
    await until("the sleep", () => findByMarker(marker).length === 2);
    const pids = findByMarker(marker).map((x) => x.pid);
    await p.stopAll();
    const r = await run;
    assert.equal(r.signal, "SIGKILL");
    for (const pid of pids) assert.ok(gone(pid), `${pid} gone`);
    store.close();
  });

  test("a run past its timeout is ended with the ladder; a missing program rejects and leaves no record", async () => {
    const store = StateStore.open(join(scratch(), "state.db"));
    const p = new StepProcesses({ ledger: store, stopTimeoutMs: 2000, ...quiet });
    const r = await p.run(["/bin/sleep", "30"], { timeoutMs: 100, env: process.env });
    assert.equal(r.signal, "SIGTERM");
    await assert.rejects(
      p.run(["/nonexistent/kubeadm"], { timeoutMs: 1000, env: process.env }),
      /cannot run/,
    );
    const ok = await p.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], {
      timeoutMs: 5000,
      env: process.env,
    });
    assert.deepEqual([ok.code, ok.stdout, ok.stderr], [3, "out\n", "err\n"]);
    assert.deepEqual(store.stepProcesses(), []);
    store.close();
  });

  test("leftovers of an earlier daemon: ended only when pid + start time (or the marker) say they are ours", async () => {
    const store = StateStore.open(join(scratch(), "state.db"));
    const boot = bootId();
    const ours = foreign();
    const reused = foreign(); // stands for a pid now reused by another program: start time differs
    const unconfirmed = foreign({ [STEP_MARKER_ENV]: "m-unconfirmed" });
    const otherBoot = foreign();
    const st = (c: ChildProcess) => procInfo(c.pid as number)?.startTime as number;
    const rec = (marker: string, pid: number | null, startTime: number | null, b = boot) => {
      const id = store.intendStepProcess({
        jobId: null,
        stepIdx: null,
        argv: ["kubeadm"],
        marker,
        bootId: b,
      });
      if (pid !== null && startTime !== null) store.confirmStepProcess(id, pid, startTime);
    };
    rec("m-ours", ours.pid as number, st(ours));
    rec("m-reused", reused.pid as number, st(reused) + 1);
    rec("m-unconfirmed", null, null);
    rec("m-other-boot", otherBoot.pid as number, st(otherBoot), "another-boot");
    const p = new StepProcesses({ ledger: store, stopTimeoutMs: 2000, ...quiet });
    const out = await p.endLeftovers();
    const by = (m: string) => out.find((o) => o.record.marker === m);
    assert.deepEqual(by("m-ours")?.ended, [`${ours.pid} (SIGTERM)`]);
    assert.deepEqual(by("m-reused")?.ended, []);
    assert.deepEqual(by("m-unconfirmed")?.ended, [`${unconfirmed.pid} (SIGTERM)`]);
    assert.equal(by("m-other-boot")?.otherBoot, true);
    await until("the ended ones", () => ours.exitCode !== null || ours.signalCode !== null);
    await until("the unconfirmed one", () => unconfirmed.signalCode !== null);
    assert.equal(ours.signalCode, "SIGTERM");
    assert.equal(reused.exitCode, null, "a pid whose start time differs is never signalled");
    assert.equal(reused.signalCode, null);
    assert.equal(otherBoot.signalCode, null, "a record from another boot is never acted on");
    assert.deepEqual(store.stepProcesses(), [], "every record handled is forgotten");
    store.close();
  });
});

describe("job runner with step processes", () => {
  test("a resumed job's step runs again only after the process the killed daemon ran for it is gone, once", async () => {
    const file = join(scratch(), "state.db");
    let store = StateStore.open(file);
    const id = store.createJob("k", ["a", "b"]);
    store.startStep(id, 0);
    // The killed daemon's step process, still running (its own child here, in its own group).
    const old = foreign({ [STEP_MARKER_ENV]: "m-old" });
    const pid = old.pid as number;
    const rid = store.intendStepProcess({
      jobId: id,
      stepIdx: 0,
      argv: ["kubeadm"],
      marker: "m-old",
      bootId: bootId(),
    });
    store.confirmStepProcess(rid, pid, procInfo(pid)?.startTime as number);
    store.close();

    store = StateStore.open(file);
    const processes = new StepProcesses({ ledger: store, stopTimeoutMs: 2000, ...quiet });
    const seen: string[] = [];
    const events: string[] = [];
    const r = new JobRunner({
      store,
      processes,
      log,
      emit: (k, m) => events.push(`${k} ${m}`),
      catalog: catalog({
        a: async () => {
          seen.push(`a: old ${gone(pid) ? "gone" : "alive"}`);
          return undefined;
        },
        b: async () => {
          seen.push("b");
          return undefined;
        },
      }),
    });
    // A job asked for before the resume was started (the API listening first) is refused, not run.
    assert.throws(() => r.start("k"), JobConflictError);
    await r.resumeInterrupted();
    assert.deepEqual(seen, ["a: old gone", "b"]);
    assert.equal(r.get(id)?.state, "succeeded");
    assert.ok(
      events.some((e) =>
        e.includes(
          `job ${id} step a: ended the process an earlier daemon left running (kubeadm): ${pid} (SIGTERM)`,
        ),
      ),
      events.join("\n"),
    );
    assert.equal(store.jobs(10).length, 1, "no second job was created");
    store.close();
  });

  test("a job started before resumeInterrupted() with nothing to resume runs once, after the leftovers are ended", async () => {
    const store = StateStore.open(join(scratch(), "state.db"));
    const old = foreign({ [STEP_MARKER_ENV]: "m-left" });
    const pid = old.pid as number;
    store.intendStepProcess({
      jobId: null,
      stepIdx: null,
      argv: ["crictl"],
      marker: "m-left",
      bootId: bootId(),
    });
    const processes = new StepProcesses({ ledger: store, stopTimeoutMs: 2000, ...quiet });
    let runs = 0;
    let oldGone = false;
    const r = new JobRunner({
      store,
      processes,
      log,
      emit: () => undefined,
      catalog: catalog({
        a: async () => {
          runs++;
          oldGone = gone(pid);
          return undefined;
        },
      }),
    });
    const job = r.start("k");
    const resumed = r.resumeInterrupted(); // what main does after listening: must not run it again
    await resumed;
    await r.idle();
    assert.equal(runs, 1);
    assert.equal(oldGone, true);
    assert.equal(r.get(job.id)?.state, "succeeded");
    store.close();
  });
});
