/** The sd_notify client against a real unix datagram receiver, in-process and from a child process. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import pino from "pino";
import { Engine } from "../../daemon/engine/engine";
import { SystemdReadiness } from "../../daemon/notify/readiness";
import { SystemdNotifier, scrubChildEnv } from "../../daemon/notify/sd-notify";
import { type NotifyMessage, NotifyReceiver } from "../helpers/notify-receiver";
import { Part } from "../helpers/part";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const isPing = (m: NotifyMessage) => m.fields.WATCHDOG === "1";

let rx: NotifyReceiver;
let logs: string[];
let notifiers: SystemdNotifier[];

function notifier(env: NodeJS.ProcessEnv = {}): SystemdNotifier {
  const n = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: rx.path, ...env }, (m) => logs.push(m));
  notifiers.push(n);
  return n;
}

/** Datagrams queue in order at the receiver: once a marker arrives, everything sent before it has. */
let markers = 0;
async function mark(n: SystemdNotifier): Promise<number> {
  const text = `marker ${++markers}`;
  assert.equal(n.status(text), true);
  const m = await rx.waitFor((x) => x.fields.STATUS === text, 5000);
  return rx.messages.indexOf(m);
}

beforeEach(async () => {
  rx = await NotifyReceiver.create();
  logs = [];
  notifiers = [];
});
afterEach(() => {
  for (const n of notifiers) n.close();
  rx.close();
});

describe("SystemdNotifier with a real notify socket", () => {
  test("ready('x') sends READY=1 and STATUS=x in one datagram", async () => {
    const n = notifier();
    assert.equal(n.enabled, true);
    assert.equal(n.ready("x"), true);
    const m = await rx.waitFor((x) => x.fields.READY === "1", 5000);
    assert.equal(m.raw, "READY=1\nSTATUS=x");
    assert.deepEqual(m.fields, { READY: "1", STATUS: "x" });
    assert.equal(rx.messages.length, 1);
  });

  test("ready() alone sends only READY=1", async () => {
    notifier().ready();
    const m = await rx.waitFor((x) => x.fields.READY === "1", 5000);
    assert.equal(m.raw, "READY=1");
  });

  test("a status with newlines is flattened to one line", async () => {
    const n = notifier();
    n.status("degraded: ovs-vswitchd\nrestarting\r\nsoon");
    n.ready("ready:\nall up");
    const s = await rx.waitFor((x) => x.fields.STATUS?.startsWith("degraded") ?? false, 5000);
    assert.equal(s.raw, "STATUS=degraded: ovs-vswitchd restarting soon");
    const r = await rx.waitFor((x) => x.fields.READY === "1", 5000);
    assert.equal(r.raw, "READY=1\nSTATUS=ready: all up");
  });

  test("stopping() and extendTimeout()", async () => {
    const n = notifier();
    assert.equal(n.stopping(), true);
    assert.equal(n.extendTimeout(5_000_000), true);
    assert.equal(n.extendTimeout(1500.7), true);
    await rx.waitFor((x) => x.fields.EXTEND_TIMEOUT_USEC === "1500", 5000);
    assert.deepEqual(
      rx.messages.map((m) => m.raw),
      ["STOPPING=1", "EXTEND_TIMEOUT_USEC=5000000", "EXTEND_TIMEOUT_USEC=1500"],
    );
    assert.equal(n.extendTimeout(-1), false, "negative: not sent");
    assert.equal(n.extendTimeout(Number.NaN), false, "NaN: not sent");
    assert.equal(logs.length, 2);
  });

  for (const pid of [undefined, String(process.pid)]) {
    test(`the watchdog pings at about half of WATCHDOG_USEC (WATCHDOG_PID ${pid ?? "unset"})`, async () => {
      const n = notifier({ WATCHDOG_USEC: "200000", WATCHDOG_PID: pid });
      assert.equal(n.watchdogEnabled, true);
      assert.equal(n.watchdogUsec, 200000);
      assert.equal(n.watchdogIntervalMs, 100);
      n.startWatchdog();
      n.startWatchdog(); // idempotent: one timer
      await rx.waitFor(() => rx.messages.filter(isPing).length >= 2, 5000);
      assert.ok(rx.messages.every((m) => m.raw === "WATCHDOG=1"));
      assert.deepEqual(logs, []);
    });
  }

  test("no pings while the event loop is blocked, nor after stopWatchdog()", async () => {
    const n = notifier({ WATCHDOG_USEC: "200000" });
    n.startWatchdog();
    await rx.waitFor(() => rx.messages.filter(isPing).length >= 2, 5000);
    const before = await mark(n);
    const until = Date.now() + 400; // four intervals' worth of busy loop
    while (Date.now() < until) {}
    const after = await mark(n); // sent synchronously after the block: no timer could run in between
    assert.equal(rx.messages.slice(before, after).filter(isPing).length, 0);

    n.stopWatchdog();
    const stopped = await mark(n);
    await sleep(350);
    const later = await mark(n);
    assert.equal(rx.messages.slice(stopped, later).filter(isPing).length, 0);
  });

  test("no watchdog when WATCHDOG_PID is another process", async () => {
    const n = notifier({ WATCHDOG_USEC: "200000", WATCHDOG_PID: String(process.ppid) });
    assert.equal(n.watchdogEnabled, false);
    assert.equal(n.watchdogIntervalMs, undefined);
    n.startWatchdog();
    await sleep(350);
    await mark(n); // notifications still work; only the watchdog is off
    assert.equal(rx.messages.filter(isPing).length, 0);
    assert.equal(logs.length, 1);
    assert.match(logs[0] ?? "", /WATCHDOG_PID/);
  });

  test("an invalid WATCHDOG_USEC disables the watchdog, logged once", () => {
    for (const usec of ["0", "abc", "-5", "1.5"]) {
      logs = [];
      const n = notifier({ WATCHDOG_USEC: usec });
      assert.equal(n.watchdogEnabled, false, usec);
      n.startWatchdog();
      assert.equal(logs.length, 1, usec);
    }
  });

  test("a failed send is logged once, never thrown, and recovery is noted", async () => {
    const gone = join(rx.path, "..", "gone.sock");
    const n = notifier({ NOTIFY_SOCKET: gone });
    assert.equal(n.enabled, true);
    assert.doesNotThrow(() => {
      assert.equal(n.watchdog(), false);
      assert.equal(n.watchdog(), false);
      assert.equal(n.status("x"), false);
    });
    assert.equal(logs.length, 2, "WATCHDOG once, STATUS once");
    assert.match(logs[0] ?? "", /WATCHDOG.*ENOENT/);
    const late = await NotifyReceiver.create(gone);
    try {
      assert.equal(n.ready("now"), true);
      await late.waitFor((m) => m.fields.READY === "1", 5000);
      assert.match(logs.at(-1) ?? "", /works again/);
    } finally {
      late.close();
    }
  });

  test("a receiver that is behind: messages wait and go out in order, READY=1 is never lost", async () => {
    const qlen = Number(readFileSync("/proc/sys/net/unix/max_dgram_qlen", "utf8"));
    const n = notifier();
    const burst = qlen + 20;
    // One synchronous burst: this process's receiver reads nothing until it ends.
    for (let i = 0; i < burst; i++) assert.equal(n.status(`s${i}`), true);
    assert.equal(n.ready("r"), true);
    assert.equal(n.status("after"), true);
    assert.ok(n.waiting > 0, "the receiver's queue filled up: messages wait");
    assert.match(logs[0] ?? "", /is full \(the receiver is behind\)/);
    const ready = await rx.waitFor((m) => m.fields.READY === "1", 5000);
    await rx.waitFor((m) => m.fields.STATUS === "after", 5000);
    assert.equal(n.waiting, 0);
    assert.equal(ready.raw, "READY=1\nSTATUS=r");
    const raw = rx.messages.map((m) => m.raw);
    const at = raw.indexOf(ready.raw);
    // Before READY=1: statuses in the order sent (waiting ones merged into the latest), the last one last.
    const seq = raw.slice(0, at).map((r) => Number(/^STATUS=s(\d+)$/.exec(r)?.[1] ?? Number.NaN));
    assert.ok(
      seq.every((v, i) => Number.isInteger(v) && (i === 0 || v > (seq[i - 1] as number))),
      raw.join(" | "),
    );
    assert.equal(seq.at(-1), burst - 1, "the newest STATUS= before READY=1 went out");
    assert.deepEqual(raw.slice(at + 1), ["STATUS=after"]);
    assert.match(logs.at(-1) ?? "", /works again/);
  });

  test("after close() every call is a no-op", async () => {
    const n = notifier({ WATCHDOG_USEC: "200000" });
    n.startWatchdog();
    n.close();
    n.close();
    assert.equal(n.enabled, false);
    assert.equal(n.watchdogEnabled, false);
    assert.equal(n.ready("late"), false);
    await sleep(300);
    const pings = rx.messages.filter(isPing).length;
    assert.ok(pings <= 1, "at most the immediate ping from startWatchdog()");
    assert.ok(!rx.messages.some((m) => m.fields.READY));
  });
});

describe("without a usable NOTIFY_SOCKET", () => {
  const everyCall = (n: SystemdNotifier) => {
    n.startWatchdog();
    return [n.ready("x"), n.status("y"), n.stopping(), n.extendTimeout(1), n.watchdog()];
  };

  test("no NOTIFY_SOCKET: every call is a silent no-op", () => {
    const n = SystemdNotifier.fromEnv({ WATCHDOG_USEC: "200000" }, (m) => logs.push(m));
    assert.equal(n.enabled, false);
    assert.equal(n.watchdogEnabled, false);
    assert.deepEqual(everyCall(n), [false, false, false, false, false]);
    n.stopWatchdog();
    n.close();
    assert.deepEqual(logs, []);
  });

  test("an abstract @socket: logged once as unsupported, no-op, never throws", () => {
    const n = SystemdNotifier.fromEnv(
      { NOTIFY_SOCKET: "@/org/freedesktop/systemd1/notify", WATCHDOG_USEC: "200000" },
      (m) => logs.push(m),
    );
    assert.equal(n.enabled, false);
    assert.equal(n.watchdogEnabled, false);
    assert.doesNotThrow(() => {
      assert.deepEqual(everyCall(n), [false, false, false, false, false]);
      everyCall(n);
    });
    n.close();
    assert.equal(logs.length, 1);
    assert.match(logs[0] ?? "", /abstract/);
  });

  test("a non-path (vsock:) or over-long socket: logged once, no-op", () => {
    for (const socket of ["vsock:2:1234", `/tmp/${"x".repeat(120)}`]) {
      logs = [];
      const n = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: socket }, (m) => logs.push(m));
      assert.equal(n.enabled, false, socket);
      assert.deepEqual(everyCall(n), [false, false, false, false, false]);
      assert.equal(logs.length, 1, socket);
    }
  });

  test("a throwing logger does not throw into the caller", () => {
    assert.doesNotThrow(() => {
      const n = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: "@abstract" }, () => {
        throw new Error("logger down");
      });
      everyCall(n);
    });
  });
});

describe("scrubChildEnv", () => {
  test("removes exactly NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID and LISTEN_*; keeps the rest", () => {
    const env: NodeJS.ProcessEnv = {
      PATH: "/usr/bin",
      HOME: "/root",
      NOTIFY_SOCKET: "/run/systemd/notify",
      WATCHDOG_USEC: "30000000",
      WATCHDOG_PID: "42",
      LISTEN_FDS: "2",
      LISTEN_PID: "42",
      LISTEN_FDNAMES: "api:metrics",
      LISTEN_ANYTHING: "x",
      LISTENER: "kept",
      MY_LISTEN_FDS: "kept",
      NOTIFY_SOCKETS: "kept",
      WATCHDOG_USEC_X: "kept",
      EMPTY: "",
    };
    const copy = { ...env };
    const out = scrubChildEnv(env);
    assert.deepEqual(out, {
      PATH: "/usr/bin",
      HOME: "/root",
      LISTENER: "kept",
      MY_LISTEN_FDS: "kept",
      NOTIFY_SOCKETS: "kept",
      WATCHDOG_USEC_X: "kept",
      EMPTY: "",
    });
    assert.notEqual(out, env);
    assert.deepEqual(env, copy, "input untouched");
  });

  test("works on process.env itself without changing it", () => {
    const had = process.env.NOTIFY_SOCKET;
    process.env.NOTIFY_SOCKET = "/run/systemd/notify";
    try {
      const out = scrubChildEnv(process.env);
      assert.equal(out.NOTIFY_SOCKET, undefined);
      assert.equal(out.PATH, process.env.PATH);
      assert.equal(process.env.NOTIFY_SOCKET, "/run/systemd/notify");
    } finally {
      if (had === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = had;
    }
  });
});

describe("a separate process", () => {
  test("a child's READY=1 is received, and the notifier does not keep the child alive", async () => {
    // The compiled module next to this compiled test (dist/ or .build/ alike).
    const modulePath = resolve(__dirname, "../../daemon/notify/sd-notify.js");
    const script = [
      "const { SystemdNotifier } = require(process.env.SD_NOTIFY_MODULE);",
      "const n = SystemdNotifier.fromEnv();",
      "n.startWatchdog();",
      'if (!n.ready("child " + process.pid)) process.exit(3);',
      // No close(), no exit(): the process must end on its own (per-send sockets, unref'd timer).
    ].join("\n");
    const child = spawn(process.execPath, ["-e", script], {
      env: {
        ...scrubChildEnv(process.env),
        SD_NOTIFY_MODULE: modulePath,
        NOTIFY_SOCKET: rx.path,
        WATCHDOG_USEC: "200000",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const guard = setTimeout(() => child.kill("SIGKILL"), 10000);
    try {
      const m = await rx.waitFor((x) => x.fields.READY === "1", 10000);
      assert.equal(m.raw, `READY=1\nSTATUS=child ${child.pid}`);
      assert.equal(await exited, 0, `child exited on its own; stderr: ${stderr}`);
      assert.ok(rx.messages.some(isPing), "the immediate WATCHDOG=1 from startWatchdog()");
    } finally {
      clearTimeout(guard);
      child.kill("SIGKILL");
    }
  });
});

describe("SystemdReadiness: READY=1 promises the API", () => {
  const quiet = pino({ level: "silent" });
  const engineOf = (parts: Part[]) =>
    new Engine({
      components: parts,
      store: null,
      log: quiet,
      version: "test",
      profile: "test",
      readyTimeoutMs: 2000,
      pollIntervalMs: 5,
    });

  test("a datapath ready before the API listens: READY=1 only once it listens, with the ready STATUS=", async () => {
    const n = notifier();
    const e = engineOf([new Part("a"), new Part("b", ["a"])]);
    const readiness = new SystemdReadiness(n, e, {
      extendUsec: 1000,
      keepDown: false,
      stopAsked: () => false,
    });
    await e.bringUp();
    assert.equal(e.status().phase, "ready");
    await mark(n);
    assert.equal(
      rx.messages.filter((m) => m.fields.READY === "1").length,
      0,
      "READY=1 before the API listens",
    );
    readiness.apiListening();
    const ready = await rx.waitFor((m) => m.fields.READY === "1", 5000);
    assert.equal(ready.fields.STATUS, "ready: 2 of 2 components ready");
  });

  test("the API listening first: READY=1 when the datapath is ready; never while a stop is asked", async () => {
    const n = notifier();
    const e = engineOf([new Part("a")]);
    const readiness = new SystemdReadiness(n, e, {
      extendUsec: 1000,
      keepDown: false,
      stopAsked: () => false,
    });
    readiness.apiListening();
    await mark(n);
    assert.equal(rx.messages.filter((m) => m.fields.READY === "1").length, 0);
    await e.bringUp();
    await rx.waitFor((m) => m.fields.READY === "1", 5000);

    const n2 = notifier();
    const e2 = engineOf([new Part("a")]);
    const r2 = new SystemdReadiness(n2, e2, { extendUsec: 1000, keepDown: false, stopAsked: () => true });
    await e2.bringUp();
    r2.apiListening();
    const before = rx.messages.filter((m) => m.fields.READY === "1").length;
    await mark(n2);
    assert.equal(rx.messages.filter((m) => m.fields.READY === "1").length, before, "READY=1 while stopping");
  });
});
