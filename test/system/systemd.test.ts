/**
 * k8s-offloadd under a real systemd (systemd-nspawn, test/system/container.ts), with the units from
 * units/, Debian's Open vSwitch as the datapath children, and a stand-in kubelet.service:
 *
 * - kubelet starts only after the daemon sent READY=1;
 * - restarting the daemon restarts neither kubelet nor ovsdb-server/ovs-vswitchd (adopted);
 * - a wedged daemon (SIGSTOP: its event loop stops) is killed by the watchdog and restarted;
 * - a daemon that cannot get ready keeps kubelet from starting, and `systemctl status` says why,
 *   also once its start timed out (then kubelet's ExecStartPre= is what holds kubelet back);
 * - with 3 pool TAPs in pods, a restarted daemon is ready without making them again and kubelet starts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { NodeStatus } from "../../daemon/engine/component";
import { Container, sleep } from "./container";
import { API_PORT, installProject, kubeletStarts, systemConfig } from "./offloadd";

const D = "k8s-offloadd.service";
const K = "kubelet.service";
const num = (s: string | undefined) => Number(s ?? Number.NaN);

describe("k8s-offloadd under systemd: a daemon that gets ready", { timeout: 600_000 }, () => {
  let c: Container;
  before(async () => {
    c = Container.create();
    installProject(c, systemConfig());
    await c.boot();
    await c.until(() => c.show(K, "ActiveState").ActiveState === "active", "kubelet active", 180_000);
  });
  after(async () => {
    await c?.cleanup();
  });

  const datapath = () => ({ ovsdb: c.pids("ovsdb-server"), vswitchd: c.pids("ovs-vswitchd") });

  test("kubelet starts only after the daemon sent READY=1", () => {
    const d = c.show(D, "ActiveState", "StatusText", "ActiveEnterTimestampMonotonic");
    const k = c.show(K, "InactiveExitTimestampMonotonic", "ExecMainStartTimestampMonotonic", "ExecMainPID");
    assert.equal(d.ActiveState, "active");
    assert.match(d.StatusText ?? "", /^ready: /);
    // Type=notify: the daemon became active when systemd got READY=1. kubelet's start job (its
    // ExecStartPre= first) began at or after that, and its main process later still.
    const ready = num(d.ActiveEnterTimestampMonotonic);
    assert.ok(ready > 0);
    assert.ok(num(k.InactiveExitTimestampMonotonic) >= ready, JSON.stringify({ d, k }));
    assert.ok(num(k.ExecMainStartTimestampMonotonic) > ready, JSON.stringify({ d, k }));
    // The stand-in's own record: started once, and the daemon was active when it did.
    assert.deepEqual(kubeletStarts(c), [{ pid: num(k.ExecMainPID), offloadd: "active" }]);
  });

  test("the daemon runs in the host's mount namespace (its hugetlbfs and netns mounts are the host's)", () => {
    const pid = c.show(D, "MainPID").MainPID as string;
    const [host, daemon] = c
      .run(["readlink", "/proc/1/ns/mnt", `/proc/${pid}/ns/mnt`])
      .trim()
      .split("\n");
    assert.equal(daemon, host);
  });

  test("systemctl restart k8s-offloadd restarts neither kubelet nor the datapath children", () => {
    const d0 = c.show(D, "MainPID");
    const k0 = c.show(K, "ExecMainPID", "InactiveExitTimestampMonotonic");
    const dp0 = datapath();
    assert.equal(dp0.ovsdb.length, 1, "one ovsdb-server");
    assert.equal(dp0.vswitchd.length, 1, "one ovs-vswitchd");

    // Returns once the new daemon sent READY=1 (or failed).
    const r = c.systemctl("restart", D);
    assert.equal(r.status, 0, `${r.stderr}\n${c.diagnostics()}`);

    const d1 = c.show(D, "MainPID", "ActiveState", "StatusText");
    assert.equal(d1.ActiveState, "active");
    assert.notEqual(d1.MainPID, d0.MainPID);
    assert.match(d1.StatusText ?? "", /^ready: /);
    assert.deepEqual(c.show(K, "ExecMainPID", "InactiveExitTimestampMonotonic"), k0);
    assert.equal(c.show(K, "ActiveState").ActiveState, "active");
    assert.equal(kubeletStarts(c).length, 1);
    assert.deepEqual(datapath(), dp0);

    // The new daemon adopted them: same pids, marked adopted.
    const status = c.api("/v1/status", API_PORT) as NodeStatus;
    for (const [name, pids] of [
      ["ovsdb-server", dp0.ovsdb],
      ["ovs-vswitchd", dp0.vswitchd],
    ] as const) {
      const comp = status.components.find((x) => x.name === name);
      assert.equal(comp?.state, "ready", name);
      assert.equal(comp?.adopted, true, name);
      assert.equal(comp?.pid, pids[0], name);
    }
  });

  test("a wedged daemon is killed by the watchdog and restarted", async () => {
    // A short watchdog for this test only (the unit's 30 s would make it slow); the SIGKILL after
    // the watchdog's SIGABRT (pending on a stopped process) comes after TimeoutAbortSec=.
    c.put(
      `/etc/systemd/system/${D}.d/90-test-watchdog.conf`,
      "[Service]\nWatchdogSec=5s\nTimeoutAbortSec=2s\n",
    );
    c.run(["systemctl", "daemon-reload"]);
    const r = c.systemctl("restart", D);
    assert.equal(r.status, 0, `${r.stderr}\n${c.diagnostics()}`);
    const d0 = c.show(D, "MainPID", "NRestarts", "WatchdogUSec");
    assert.equal(d0.WatchdogUSec, "5s");
    const k0 = c.show(K, "ExecMainPID");
    const dp0 = datapath();

    // While its event loop turns, the daemon's WATCHDOG=1 pings keep it alive past the watchdog period.
    await sleep(2 * 5000);
    assert.deepEqual(c.show(D, "MainPID", "NRestarts", "WatchdogUSec"), d0);

    // Its event loop stops turning: no more WATCHDOG=1.
    c.run(["systemctl", "kill", "--kill-who=main", "--signal=SIGSTOP", D]);
    await c.until(
      () => {
        const d = c.show(D, "MainPID", "ActiveState");
        return d.ActiveState === "active" && d.MainPID !== d0.MainPID && d.MainPID !== "0";
      },
      "a new daemon after the watchdog",
      120_000,
    );
    const d1 = c.show(D, "NRestarts", "StatusText");
    assert.equal(num(d1.NRestarts), num(d0.NRestarts) + 1);
    assert.match(d1.StatusText ?? "", /^ready: /);
    const journal = c.journal(D);
    assert.match(journal, /Watchdog timeout/);
    assert.match(journal, /Failed with result 'watchdog'/);
    // Only the daemon was killed (KillMode=process): kubelet and the datapath stayed up.
    assert.deepEqual(c.show(K, "ExecMainPID"), k0);
    assert.equal(kubeletStarts(c).length, 1);
    assert.deepEqual(datapath(), dp0);
  });

  test("3 TAPs handed to pods: the daemon restarted is ready again without making them, kubelet starts", () => {
    const r0 = c.systemctl("stop", K);
    assert.equal(r0.status, 0, r0.stderr);
    // What the infra agent does for a pod (pkg/netconf/tap.go): down, into the pod's netns, eth0, up.
    const pods = ["P4TAP_1", "P4TAP_2", "P4TAP_3"].map((tap, i) => {
      const netns = `cni-sys-${i}`;
      c.run(["ip", "netns", "add", netns]);
      c.run(["ip", "link", "set", "dev", tap, "down"]);
      c.run(["ip", "link", "set", "dev", tap, "netns", netns]);
      c.run(["ip", "-n", netns, "link", "set", "dev", tap, "name", "eth0"]);
      c.run(["ip", "-n", netns, "link", "set", "dev", "eth0", "up"]);
      return { tap, netns };
    });
    const r = c.systemctl("restart", D);
    assert.equal(r.status, 0, `${r.stderr}\n${c.diagnostics()}`);
    assert.match(c.show(D, "StatusText").StatusText ?? "", /^ready: /);
    const k = c.systemctl("start", K);
    assert.equal(k.status, 0, `${k.stderr}\n${c.diagnostics()}`);
    assert.equal(c.show(K, "ActiveState").ActiveState, "active");
    assert.equal(kubeletStarts(c).length, 2);
    const taps = c.api("/v1/taps", API_PORT) as {
      taps: { name: string; state: string; netns: string | null }[];
    };
    for (const p of pods) {
      const t = taps.taps.find((x) => x.name === p.tap);
      assert.deepEqual([t?.state, t?.netns], ["in-use", p.netns], p.tap);
    }
    // Not made again in the host's namespace (they are the pods').
    const host = c.run(["ip", "-o", "link", "show"]);
    for (const p of pods) assert.ok(!host.includes(` ${p.tap}:`), `${p.tap} made again:\n${host}`);
  });
});

describe("k8s-offloadd under systemd: a daemon that cannot get ready", { timeout: 600_000 }, () => {
  const MISSING = "/usr/sbin/ovsdb-server-missing";
  let c: Container;
  before(async () => {
    c = Container.create();
    // A short ready timeout keeps EXTEND_TIMEOUT_USEC (twice it) below the test's TimeoutStartSec=.
    installProject(c, systemConfig({ ovs: { ovsdbServer: MISSING }, supervisor: { readyTimeoutMs: 4000 } }));
    c.put(`/etc/systemd/system/${D}.d/90-test-timeout.conf`, "[Service]\nTimeoutStartSec=20s\n");
    await c.boot();
  });
  after(async () => {
    await c?.cleanup();
  });

  test("kubelet does not start, and systemctl status shows why", async () => {
    await c.until(
      () => /^failed: /.test(c.show(D, "StatusText").StatusText ?? ""),
      "STATUS=failed: ...",
      120_000,
    );
    const d = c.show(D, "ActiveState", "StatusText");
    // Never READY=1: still starting (or waiting to be restarted), never active.
    assert.equal(d.ActiveState, "activating");
    assert.match(d.StatusText ?? "", new RegExp(MISSING));
    // The daemon tries again with backoff, so STATUS= moves between failed and starting (both name
    // what is missing): take a moment when it held still around `systemctl status`.
    let status = "";
    await c.until(
      () => {
        const before = c.show(D, "StatusText").StatusText ?? "";
        status = c.systemctl("status", D).stdout;
        const after = c.show(D, "StatusText").StatusText ?? "";
        return before === after && /^failed: /.test(before) && status.includes(`Status: "${before}`);
      },
      "systemctl status showing STATUS=failed: ...",
      60_000,
    );
    assert.match(status, new RegExp(MISSING));

    const k = c.show(K, "ActiveState", "ExecMainStartTimestampMonotonic");
    assert.notEqual(k.ActiveState, "active");
    assert.equal(num(k.ExecMainStartTimestampMonotonic), 0);
    assert.deepEqual(kubeletStarts(c), []);
  });

  test("once the daemon's start timed out, kubelet's ExecStartPre= still holds kubelet back", async () => {
    // The start job ends (timeout, then Restart=); kubelet's own start job then runs its wait-ready.
    await c.until(
      () =>
        num(c.show(D, "NRestarts").NRestarts) >= 1 &&
        num(c.show(K, "InactiveExitTimestampMonotonic").InactiveExitTimestampMonotonic) > 0,
      "the daemon's start to time out and kubelet's start job to begin",
      180_000,
    );
    assert.match(c.journal(D), /start operation timed out/);
    const k = c.show(K, "ActiveState", "SubState", "ExecMainStartTimestampMonotonic");
    // Its ExecStartPre= (k8s-offloadctl wait-ready) is what runs, and waits.
    assert.equal(k.SubState, "start-pre", JSON.stringify(k));
    assert.notEqual(c.show(D, "ActiveState").ActiveState, "active");
    assert.equal(num(k.ExecMainStartTimestampMonotonic), 0, JSON.stringify(k));
    assert.deepEqual(kubeletStarts(c), []);
  });
});

describe("k8s-offloadd under systemd: a long bring-up that makes progress", { timeout: 600_000 }, () => {
  let c: Container;
  before(async () => {
    c = Container.create();
    // Each OVS process takes a while to start: the bring-up outlasts TimeoutStartSec= below.
    for (const [name, real] of [
      ["slow-ovsdb-server", "/usr/sbin/ovsdb-server"],
      ["slow-ovs-vswitchd", "/usr/sbin/ovs-vswitchd"],
    ] as const) {
      c.put(`/usr/local/sbin/${name}`, `#!/bin/sh\nsleep 4\nexec ${real} "$@"\n`, 0o755);
    }
    installProject(
      c,
      systemConfig({
        ovs: {
          ovsdbServer: "/usr/local/sbin/slow-ovsdb-server",
          ovsVswitchd: "/usr/local/sbin/slow-ovs-vswitchd",
        },
        supervisor: { readyTimeoutMs: 8000 },
      }),
    );
    c.put(`/etc/systemd/system/${D}.d/90-test-timeout.conf`, "[Service]\nTimeoutStartSec=6s\n");
    await c.boot();
  });
  after(async () => {
    await c?.cleanup();
  });

  test("EXTEND_TIMEOUT_USEC keeps it from being killed by TimeoutStartSec=", async () => {
    await c.until(() => c.show(K, "ActiveState").ActiveState === "active", "kubelet active", 180_000);
    const d = c.show(
      D,
      "ActiveState",
      "NRestarts",
      "ExecMainStartTimestampMonotonic",
      "ActiveEnterTimestampMonotonic",
    );
    assert.equal(d.ActiveState, "active");
    assert.equal(d.NRestarts, "0");
    // The precondition: READY=1 came later than TimeoutStartSec= alone would have allowed.
    const took = num(d.ActiveEnterTimestampMonotonic) - num(d.ExecMainStartTimestampMonotonic);
    assert.ok(took > 6_000_000, `bring-up took ${took} us, not longer than TimeoutStartSec=6s`);
    assert.doesNotMatch(c.journal(D), /timed out/);
    assert.equal(kubeletStarts(c).length, 1);
  });
});
