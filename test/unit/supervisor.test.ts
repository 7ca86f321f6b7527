/** The supervisor with real processes: spawn, restart with backoff, stop ladder, adoption, pid reuse. */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import pino from "pino";
import type { SupervisorConfig } from "../../daemon/config/types";
import type { ComponentSignals, EventKind } from "../../daemon/engine/component";
import { Supervisor } from "../../daemon/engine/supervisor";
import { localProcesses } from "../../daemon/host/child-processes";
import { DEFAULT_LOG_LIMITS, setChildLogLimits } from "../../daemon/host/log-follower";
import {
  bootId,
  findByArgv,
  isAlive,
  isSameProcess,
  procCmdline,
  procInfo,
  stillExiting,
} from "../../daemon/host/proc";
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

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 200 && isAlive(pid); i++) await sleep(25);
}
const loop = "setInterval(() => {}, 1000); console.log('hello from child');";

describe("Supervisor", () => {
  test("spawns with a pid file, a log file it follows, and a record with the start time", async () => {
    const { sup, spec } = supervisor([node, "-e", loop]);
    await sup.ensureRunning();
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
    await sup.ensureRunning();
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
    await sup.ensureRunning();
    const pid = sup.pid as number;
    await sleep(300); // let it install the handler
    await sup.stop();
    assert.ok(!isAlive(pid));
    assert.equal(procInfo(pid), null);
  });

  test("a second supervisor adopts the live child instead of spawning", async () => {
    const a = supervisor([node, "-e", loop]);
    await a.sup.ensureRunning();
    const pid = a.sup.pid as number;
    a.sup.detach();
    const b = new Supervisor(a.spec, policy, store, log);
    const rec = new Recorder();
    b.attach(rec);
    await b.ensureRunning();
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
      bootId: bootId(),
    });
    await sup.ensureRunning();
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
      bootId: bootId(),
    });
    assert.equal(sup.pid, null, "never started anything");
    await sup.stop();
    await Promise.race([exited, sleep(2000)]);
    assert.ok(!isAlive(pid), "the recorded live child was stopped");
    assert.equal(store.child(spec.name), undefined, "its record is gone");
  });

  test("gives up after giveUpExits exits in the window, with the last output", async () => {
    const { sup, rec } = supervisor([node, "-e", "console.error('boom'); process.exit(3)"]);
    await sup.ensureRunning();
    const gave = await rec.waitFor(/^gaveUp/, 10000);
    assert.match(gave, /gave up after 5 exits within 60 s; last: exited with code 3; last output: .*boom/);
    const delays = rec.calls
      .filter((c) => c.startsWith("down"))
      .map((c) => Number(/in (\d+) ms/.exec(c)?.[1]));
    assert.deepEqual(delays, [50, 100, 200, 400]);
    assert.equal(sup.running, false);
  });

  test("a recorded child whose command line changed is ours: stopped with the ladder, started with the new argv", async () => {
    const old = supervisor([node, "-e", `${loop} /* v1 */`]);
    await old.sup.ensureRunning();
    const oldPid = old.sup.pid as number;
    old.sup.detach(); // the daemon goes away; the config changes
    const exited = waitGone(oldPid);
    const spec = { ...old.spec, argv: [node, "-e", `${loop} /* v2 */`] };
    const sup = new Supervisor(spec, policy, store, log);
    const rec = new Recorder();
    sup.attach(rec);
    await sup.ensureRunning();
    assert.match(
      await rec.waitFor(/^restart command line changed/),
      new RegExp(`pid ${oldPid} \\(started by an earlier daemon\\) runs .*v1.*; stopping it to start .*v2`),
    );
    await exited;
    assert.ok(!isAlive(oldPid), "the old child is gone");
    const pid = sup.pid as number;
    assert.notEqual(pid, oldPid);
    assert.deepEqual(procCmdline(pid), spec.argv, "the new child runs the new argv");
    assert.deepEqual(store.child(spec.name)?.argv, spec.argv);
    assert.equal(store.child(spec.name)?.pid, pid);
    assert.ok(!rec.calls.some((c) => c.startsWith("down")), "the replacement is not reported as a crash");
    assert.equal(findByArgv(old.spec.argv).length, 0, "no second copy of the old one");
    await sup.stop();
  });

  test("a record from an earlier boot is never adopted or signalled, even when pid, start time and argv match", async () => {
    // A live process whose pid, start time and argv the record names: without the boot id it would
    // be adopted (same argv) or replaced (argv changed).
    for (const sameArgv of [true, false]) {
      const argv = ["sleep", sameArgv ? "1001" : "1002"];
      const other = spawn(argv[0] as string, argv.slice(1), { stdio: "ignore", detached: true });
      strays.push(other);
      await sleep(100);
      const otherPid = other.pid as number;
      const { sup, rec, spec } = supervisor(sameArgv ? argv : [node, "-e", loop]);
      store.saveChild({
        component: spec.name,
        pid: otherPid,
        startTime: procInfo(otherPid)?.startTime ?? 0,
        argv,
        spawnedAt: new Date().toISOString(),
        logFile: spec.logFile,
        bootId: "00000000-0000-0000-0000-000000000000",
      });
      await sup.ensureRunning();
      assert.match(
        await rec.waitFor(/^exit record of pid/),
        /from an earlier boot .* not adopted or signalled/,
      );
      assert.ok(sup.pid !== null && sup.pid !== otherPid, "a new child was started");
      assert.equal(sup.adopted, false);
      await sup.stop();
      assert.ok(isAlive(otherPid), "the process the old record named still runs");
      other.kill("SIGKILL");
    }
  });

  test("write-ahead: the record exists before the process, and is confirmed with its pid and start time after", async () => {
    const argv = [node, "-e", `${loop} /* write-ahead */`];
    const seen: Array<{ pid: number | null; running: number }> = [];
    // The real store, observed: at each record write, is the process already there?
    const observed = new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop !== "saveChild") return typeof v === "function" ? v.bind(target) : v;
        return (r: { pid: number | null }) => {
          seen.push({ pid: r.pid, running: findByArgv(argv).length });
          return target.saveChild(r as Parameters<StateStore["saveChild"]>[0]);
        };
      },
    });
    const name = `child-${++n}`;
    const spec = {
      name,
      argv,
      env: { PATH: process.env.PATH },
      netns: null,
      logFile: join(dir, `${name}.log`),
      pidFile: join(dir, `${name}.pid`),
    };
    const sup = new Supervisor(spec, policy, observed, log);
    sup.attach(new Recorder());
    await sup.ensureRunning();
    assert.deepEqual(seen, [
      { pid: null, running: 0 },
      { pid: sup.pid, running: 1 },
    ]);
    const r = store.child(name);
    assert.equal(r?.startTime, procInfo(sup.pid as number)?.startTime);
    assert.equal(r?.bootId, bootId());
    await sup.stop();
  });

  test("an unconfirmed record (daemon killed between record and confirm): the process with that exact argv is adopted", async () => {
    const argv = ["sleep", "1003"];
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: "ignore", detached: true });
    strays.push(child);
    await sleep(100);
    const pid = child.pid as number;
    const { sup, rec, spec } = supervisor(argv);
    store.saveChild({
      component: spec.name,
      pid: null,
      startTime: null,
      argv,
      spawnedAt: new Date().toISOString(),
      logFile: spec.logFile,
      bootId: bootId(),
    });
    await sup.ensureRunning();
    assert.equal(sup.pid, pid);
    assert.equal(sup.adopted, true);
    assert.match(await rec.waitFor(/^adopt/), /daemon killed before it confirmed the pid/);
    assert.equal(store.child(spec.name)?.pid, pid, "confirmed");
    assert.equal(store.child(spec.name)?.startTime, procInfo(pid)?.startTime);
    await sup.stop();
    assert.ok(!isAlive(pid));

    // Unconfirmed, and nothing runs it (killed before the spawn): started anew.
    const b = supervisor([node, "-e", `${loop} /* never started */`]);
    store.saveChild({
      component: b.spec.name,
      pid: null,
      startTime: null,
      argv: b.spec.argv,
      spawnedAt: new Date().toISOString(),
      logFile: b.spec.logFile,
      bootId: bootId(),
    });
    await b.sup.ensureRunning();
    assert.match(await b.rec.waitFor(/^exit/), /never confirmed and no such process runs/);
    assert.ok(b.sup.pid && isAlive(b.sup.pid) && !b.sup.adopted);
    await b.sup.stop();
  });

  test("a child's log is rotated by size (copy-truncate): bounded on disk, the child keeps writing", async () => {
    setChildLogLimits({ maxBytes: 8192, keep: 2 });
    try {
      // 100-byte numbered lines, ~50 KB/s: many times the limit during the test.
      const writer =
        "let i = 0; setInterval(() => { for (let k = 0; k < 50; k++) console.log(String(i++).padStart(8, '0') + ' ' + 'x'.repeat(91)); }, 100);";
      const { sup, spec } = supervisor([node, "-e", writer]);
      await sup.ensureRunning();
      const pid = sup.pid as number;
      let maxTotal = 0;
      for (let t = 0; t < 30; t++) {
        await sleep(100);
        const total = [spec.logFile, `${spec.logFile}.1`, `${spec.logFile}.2`, `${spec.logFile}.3`]
          .filter((f) => existsSync(f))
          .reduce((a, f) => a + statSync(f).size, 0);
        maxTotal = Math.max(maxTotal, total);
      }
      const lastSeq = Number(sup.logTail.at(-1)?.slice(0, 8));
      const written = (lastSeq + 1) * 100;
      assert.ok(written > 10 * 8192, `the child wrote ${written} bytes`);
      // The live file may pass maxBytes by what one 200 ms poll lets through (~10 KB here).
      assert.ok(maxTotal <= 3 * (8192 + 16384), `all files together stayed at ${maxTotal} bytes`);
      assert.ok(existsSync(`${spec.logFile}.1`) && existsSync(`${spec.logFile}.2`));
      assert.ok(!existsSync(`${spec.logFile}.3`), "keep: 2");
      assert.equal(sup.pid, pid, "same child: it kept its descriptor");
      // O_APPEND: after the truncation, writes land at the new end, not at the old offset (no hole of NULs).
      const live = readFileSync(spec.logFile);
      assert.ok(!live.includes(0), "no sparse hole in the live file");
      const rotated = readFileSync(`${spec.logFile}.1`, "utf8").trim().split("\n");
      assert.match(rotated.at(-1) ?? "", /^\d{8} x+$/);
      await sup.stop();
    } finally {
      setChildLogLimits(DEFAULT_LOG_LIMITS);
    }
  });

  test("an adopted process is gone only when its last thread is: a zombie leader whose thread still runs holds on", async () => {
    // The leader ends with pthread_exit (a zombie, no cmdline) while a thread sleeps on: as a DPDK
    // vswitchd's leader does when its other threads still release huge pages and TAP fds.
    const code =
      "import ctypes, threading, time\n" +
      "threading.Thread(target=lambda: time.sleep(1.5)).start()\n" +
      "ctypes.CDLL(None).pthread_exit(None)\n";
    const argv = ["/usr/bin/python3", "-c", code];
    const p = spawn(argv[0] as string, argv.slice(1), { stdio: "ignore" });
    strays.push(p);
    const pid = p.pid as number;
    const startTime = procInfo(pid)?.startTime as number;
    const logFile = join(dir, "zombie-leader.log");
    let exitedAt = 0;
    let leaderZombieAt = 0;
    const watched = localProcesses.adopt(
      { pid, startTime, argv, logFile, pollIntervalMs: 20 },
      { onLine: () => {}, onExit: () => (exitedAt = Date.now()) },
    );
    const ended = new Promise<void>((resolve) => p.once("exit", () => resolve()));
    for (let i = 0; i < 200 && leaderZombieAt === 0; i++) {
      if (procInfo(pid)?.state === "Z") leaderZombieAt = Date.now();
      else await sleep(10);
    }
    assert.ok(leaderZombieAt > 0, "the leader never became a zombie");
    assert.equal(isSameProcess(pid, startTime, argv), false, "a zombie leader is not the same process");
    assert.equal(stillExiting(pid, startTime), true, "its thread still runs");
    await sleep(200);
    assert.equal(exitedAt, 0, "the adopted watch called it gone while a thread still ran");
    await ended;
    for (let i = 0; i < 100 && exitedAt === 0; i++) await sleep(20);
    assert.ok(exitedAt > 0, "the adopted watch never saw it go");
    assert.equal(stillExiting(pid, startTime), false);
    void watched;
  });
});
