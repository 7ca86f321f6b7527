/**
 * The job runner against a real state database (temp dir) and a catalog of in-memory steps; the
 * manifest record replay; the directory removal adapter under a scratch root.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import pino from "pino";
import { removeHostDirs } from "../../daemon/host/host-dirs";
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
