/**
 * The shipped unit (units/k8s-offloadd.service, every hardening property as shipped) under a real
 * systemd (systemd-nspawn, test/system/container.ts) with a DPDK datapath: Debian's ovs-vswitchd-dpdk
 * as the daemon's child, EAL on real huge pages, the pool's DPDK TAP ports (taps.backend dpdk).
 *
 * - EAL starts and the ports come up; a kill -9 of vswitchd brings them back;
 * - nothing the children log says "Operation not permitted": a SystemCallFilter=, a capability
 *   bounding set or a limit that denies one call DPDK or OVS makes fails here (mlockall without
 *   CAP_IPC_LOCK, NETLINK_LISTEN_ALL_NSID without CAP_NET_BROADCAST were two).
 *
 * The container gets the host's /sys/module read-only (without it DPDK's EAL stops at "Cannot init
 * VFIO") and CAP_IPC_LOCK, which a node's root has and nspawn's default capability set leaves out. Huge pages: the host's, reserved here before boot by test/helpers/hugepages.ts and put back
 * after (after(), exit handler; a SIGKILLed run is put right by the next); hugetlbfs is mounted by
 * the daemon's hugepages component inside the container's own mount namespace.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { NodeStatus } from "../../daemon/engine/component";
import { DPDK_PAGES, DPDK_VSWITCHD, dpdkOverrides } from "../helpers/dpdk";
import { type Reservation, reserveHugepages } from "../helpers/hugepages";
import { Container } from "./container";
import { API_PORT, installProject, systemConfig } from "./offloadd";

const D = "k8s-offloadd.service";
const OVS_LOG = "/var/log/k8s-offloadd/ovs";
const LOGS = ["/var/log/k8s-offloadd/ovs-vswitchd.log", "/var/log/k8s-offloadd/ovsdb-server.log"];
// comm is cut at 15 characters: ovs-vswitchd-dpdk shows as ovs-vswitchd-dp.
const VSWITCHD_COMM = "ovs-vswitchd-dp";
// mlockall under a small RLIMIT_MEMLOCK without CAP_IPC_LOCK fails with ENOMEM, not EPERM: any
// mlockall failure counts (the container's systemd leaves the limit at 8 MB, see the first test).
const DENIED = /Operation not permitted|EPERM|not permitted|mlockall failed/i;

describe("the shipped unit with a DPDK datapath under systemd", { timeout: 600_000 }, () => {
  let c: Container;
  let hp: Reservation | null = null;
  before(async () => {
    hp = reserveHugepages(DPDK_PAGES);
    // /sys/module: EAL's VFIO probe. CAP_IPC_LOCK: a node's root has it, nspawn's default set for
    // the container does not; the unit's bounding set then decides whether vswitchd keeps it.
    c = Container.create({ nspawnArgs: ["--bind-ro=/sys/module", "--capability=CAP_IPC_LOCK"] });
    const o = dpdkOverrides(8, "/mnt/huge", hp.reserved);
    installProject(
      c,
      systemConfig({
        ovs: { ...o.ovs, ovsVswitchd: DPDK_VSWITCHD },
        taps: { ...o.taps, max: 32 },
        host: o.host,
        supervisor: { readyTimeoutMs: 30000 },
      }),
    );
    await c.boot();
    await c.until(() => c.show(D, "ActiveState").ActiveState === "active", "k8s-offloadd active", 180_000);
  });
  after(async () => {
    try {
      await c?.cleanup();
    } finally {
      hp?.restore();
    }
  });

  const status = () => c.api("/v1/status", API_PORT) as NodeStatus;
  const vswitchd = (s: NodeStatus) => s.components.find((x) => x.name === "ovs-vswitchd");
  const vsctl = (...args: string[]) =>
    c.run(["ovs-vsctl", "--db=unix:/run/k8s-offloadd/ovs/db.sock", "--timeout=5", ...args]).trim();
  const taps = () =>
    c
      .run(["ip", "-o", "link", "show"])
      .split("\n")
      .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? "")
      .filter((n) => /^P4TAP_\d+$|^TAP_0$/.test(n))
      .sort();
  const POOL = ["TAP_0", ...Array.from({ length: 7 }, (_, i) => `P4TAP_${i + 1}`)].sort();

  test("EAL starts under the unit's hardening and the pool's DPDK TAP ports come up", () => {
    const s = status();
    assert.equal(s.phase, "ready", JSON.stringify(s));
    assert.match(c.show(D, "StatusText").StatusText ?? "", /^ready: /);
    const pids = c.pids(VSWITCHD_COMM);
    assert.equal(pids.length, 1, "one ovs-vswitchd-dpdk");
    assert.equal(vswitchd(s)?.pid, pids[0]);
    assert.equal(vsctl("get", "Open_vSwitch", ".", "dpdk_initialized"), "true");
    assert.deepEqual(taps(), POOL);
    // What mlockall(2) ran with (printed: whether the limit or CAP_IPC_LOCK carried it).
    const limits = c.run(["cat", `/proc/${pids[0]}/limits`]).split("\n");
    const procStatus = c.run(["cat", `/proc/${pids[0]}/status`]).split("\n");
    console.log(`# vswitchd: ${limits.find((l) => l.startsWith("Max locked memory"))?.replace(/\s+/g, " ")}`);
    console.log(`# vswitchd: ${procStatus.find((l) => l.startsWith("CapEff"))}`);
    const log = c.read(`${OVS_LOG}/ovs-vswitchd.log`) ?? "";
    assert.match(log, /EAL ARGS: /);
    assert.match(log, /DPDK Enabled - initialized/);
    // The daemon's unit: the hardening is the shipped one (no drop-in weakens it).
    const props = c.show(D, "CapabilityBoundingSet", "SystemCallErrorNumber", "NoNewPrivileges");
    assert.match(props.CapabilityBoundingSet ?? "", /cap_ipc_lock/);
    assert.equal(props.NoNewPrivileges, "yes");
  });

  test("kill -9 ovs-vswitchd: the daemon starts it again under the unit and the ports come back", async () => {
    const old = c.pids(VSWITCHD_COMM)[0] as number;
    c.run(["kill", "-9", String(old)]);
    await c.until(
      () => {
        try {
          const s = status();
          return s.phase === "ready" && vswitchd(s)?.pid !== old && taps().length === POOL.length;
        } catch {
          return false;
        }
      },
      "ready again with a new vswitchd",
      120_000,
    );
    assert.deepEqual(taps(), POOL);
    assert.equal(vsctl("get", "Open_vSwitch", ".", "dpdk_initialized"), "true");
  });

  test('no child logs "Operation not permitted" (EAL, mlockall, netlink, ...)', () => {
    const files = [`${OVS_LOG}/ovs-vswitchd.log`, `${OVS_LOG}/ovsdb-server.log`, ...LOGS];
    const denied: string[] = [];
    let read = 0;
    for (const f of files) {
      const text = c.read(f);
      if (text === null) continue;
      read++;
      for (const line of text.split("\n")) if (DENIED.test(line)) denied.push(`${f}: ${line}`);
    }
    assert.ok(read >= 2, "the children's logs are there");
    for (const line of c.journal(D).split("\n")) if (DENIED.test(line)) denied.push(`journal: ${line}`);
    assert.deepEqual(denied, [], `denied calls:\n${denied.join("\n")}`);
  });
});
