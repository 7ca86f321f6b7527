/** The supervisor with real processes: spawn, restart with backoff, stop ladder, adoption, pid reuse. */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import pino from "pino";
import type { SupervisorConfig } from "../../daemon/config/types";
import type { ComponentSignals, EventKind } from "../../daemon/engine/component";
import { Supervisor } from "../../daemon/engine/supervisor";
import { isAlive, procInfo } from "../../daemon/host/proc";
import { StateStore } from "../../daemon/state/store";
import { scratchDir, sleep } from "../helpers/daemon";

const policy: SupervisorConfig = {
  backoffInitialMs: 50,
  backoffMaxMs: 1000,
  stableAfterMs: 10000,
  giveUpExits: 5,
  giveUpWindowMs: 60000,
  readyTimeoutMs: 5000,
  stopTimeoutMs: 500,
  pollIntervalMs: 50,
  healthIntervalMs: 2000,
  retryFailedAfterMs: 300000,
};
const log = pino({ level: "silent" });
const dir = scratchDir("offloadd-supervisor-");
const store = StateStore.open(join(dir, "state.db"));
const strays: ChildProcess[] = [];
after(() => {
  for (const p of strays) p.kill("SIGKILL");
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

class Recorder implements ComponentSignals {
  calls: string[] = [];
  down(_name: string, reason: string) {
    this.calls.push(`down ${reason}`);
  }
  restarted() {
    this.calls.push("restarted");
  }
  gaveUp(_name: string, reason: string) {
    this.calls.push(`gaveUp ${reason}`);
  }
  note(_name: string, kind: EventKind, message: string) {
    this.calls.push(`${kind} ${message}`);
  }
  async waitFor(re: RegExp, ms = 5000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.calls.find((c) => re.test(c));
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no ${re} in ${JSON.stringify(this.calls)}`);
      await sleep(20);
    }
  }
}

let n = 0;
function supervisor(argv: string[]) {
  const name = `child-${++n}`;
  const spec = {
    name,
    argv,
    env: { PATH: process.env.PATH },
    netns: null,
    logFile: join(dir, `${name}.log`),
    pidFile: join(dir, `${name}.pid`),
  };
  const rec = new Recorder();
  const sup = new Supervisor(spec, policy, store, log);
  sup.attach(rec);
  return { sup, rec, spec };
}

const node = process.execPath;
const loop = "setInterval(() => {}, 1000); console.log('hello from child');";

describe("Supervisor", () => {
  test("spawns with a pid file, a log file it follows, and a record with the start time", async () => {
    const { sup, spec } = supervisor([node, "-e", loop]);
    sup.ensureRunning();
    const pid = sup.pid as number;
    assert.ok(isAlive(pid));
    assert.equal(readFileSync(spec.pidFile, "utf8").trim(), String(pid));
    const rec = store.child(spec.name);
    assert.equal(rec?.startTime, procInfo(pid)?.startTime);
    assert.deepEqual(rec?.argv, spec.argv);
    for (let i = 0; i < 50 && sup.logTail.length === 0; i++) await sleep(50);
    assert.deepEqual(sup.logTail, ["hello from child"]);
    await sup.stop();
    assert.ok(!isAlive(pid));
    assert.ok(!existsSync(spec.pidFile));
    assert.equal(store.child(spec.name), undefined);
  });

  test("restarts a killed child after the backoff and counts it", async () => {
    const { sup, rec } = supervisor([node, "-e", loop]);
    sup.ensureRunning();
    const pid = sup.pid as number;
    process.kill(pid, "SIGKILL");
    assert.match(await rec.waitFor(/^down/), /killed by SIGKILL; restart in 50 ms/);
    await rec.waitFor(/^restarted/);
    assert.equal(sup.restarts, 1);
    assert.ok(sup.pid && sup.pid !== pid && isAlive(sup.pid));
    await sup.stop();
  });

  test("stop ladder: SIGTERM ignored, SIGKILL ends it", async () => {
    const { sup } = supervisor([node, "-e", `process.on('SIGTERM', () => {}); ${loop}`]);
    sup.ensureRunning();
    const pid = sup.pid as number;
    await sleep(300); // let it install the handler
    await sup.stop();
    assert.ok(!isAlive(pid));
    assert.equal(procInfo(pid), null);
  });

  test("a second supervisor adopts the live child instead of spawning", async () => {
    const a = supervisor([node, "-e", loop]);
    a.sup.ensureRunning();
    const pid = a.sup.pid as number;
    a.sup.detach();
    const b = new Supervisor(a.spec, policy, store, log);
    const rec = new Recorder();
    b.attach(rec);
    b.ensureRunning();
    assert.equal(b.pid, pid);
    assert.equal(b.adopted, true);
    assert.match(await rec.waitFor(/^adopt/), /adopted running pid/);
    // The adopted child is watched through /proc: its death is noticed and it is restarted.
    process.kill(pid, "SIGKILL");
    assert.match(await rec.waitFor(/^down/), /adopted; exit status unknown/);
    await rec.waitFor(/^restarted/);
    await b.stop();
  });

  test("a recorded pid now used by another program is never touched", async () => {
    const other = spawn("sleep", ["1000"], { stdio: "ignore" });
    strays.push(other);
    await sleep(100);
    const otherPid = other.pid as number;
    const { sup, rec, spec } = supervisor([node, "-e", loop]);
    // A record as if our child had had that pid, started at another time.
    store.saveChild({
      component: spec.name,
      pid: otherPid,
      startTime: (procInfo(otherPid)?.startTime ?? 0) - 1,
      argv: spec.argv,
      spawnedAt: new Date().toISOString(),
      logFile: spec.logFile,
    });
    sup.ensureRunning();
    assert.notEqual(sup.pid, otherPid);
    assert.match(await rec.waitFor(/^error/), /now belongs to another program; left untouched/);
    await sup.stop();
    assert.ok(isAlive(otherPid), "the other program still runs");
  });

  test("stop() on a freshly constructed supervisor that never started anything stops the live child recorded in the state database", async () => {
    // A child an earlier daemon left running, in its own process group as the supervisor spawns them.
    const argv = ["sleep", "1000"];
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: "ignore", detached: true });
    strays.push(child);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await sleep(100);
    const pid = child.pid as number;
    const { sup, spec } = supervisor(argv);
    store.saveChild({
      component: spec.name,
      pid,
      startTime: procInfo(pid)?.startTime ?? 0,
      argv: spec.argv,
      spawnedAt: new Date().toISOString(),
      logFile: spec.logFile,
    });
    assert.equal(sup.pid, null, "never started anything");
    await sup.stop();
    await Promise.race([exited, sleep(2000)]);
    assert.ok(!isAlive(pid), "the recorded live child was stopped");
    assert.equal(store.child(spec.name), undefined, "its record is gone");
  });

  test("gives up after giveUpExits exits in the window, with the last output", async () => {
    const { sup, rec } = supervisor([node, "-e", "console.error('boom'); process.exit(3)"]);
    sup.ensureRunning();
    const gave = await rec.waitFor(/^gaveUp/, 10000);
    assert.match(gave, /gave up after 5 exits within 60 s; last: exited with code 3; last output: .*boom/);
    const delays = rec.calls
      .filter((c) => c.startsWith("down"))
      .map((c) => Number(/in (\d+) ms/.exec(c)?.[1]));
    assert.deepEqual(delays, [50, 100, 200, 400]);
    assert.equal(sup.running, false);
  });
});
