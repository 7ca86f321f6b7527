/**
 * bench/taps-dpdk: Debian's DPDK ovs-vswitchd start → the pool ready, N = 8 and 16 DPDK TAP ports
 * (taps.backend dpdk), the daemon against the same work done by hand in the same run:
 *
 * - daemon: the real daemon (the shipped bundle) with a fresh conf.db each round (ovs.recreateDb), so
 *   the pool is really made, and supervisor.pollIntervalMs 10 (the by-hand loop's poll). t0: the
 *   bench sees the new ovs-vswitchd-dpdk process in /proc (a scan every 2 ms); t1: the time of the
 *   daemon's own log line for the taps component's "ready" event (nothing polls the daemon).
 * - by hand: the same ovsdb-server and vswitchd command lines (learnt from the daemon's first run),
 *   the same other_config, then from the vswitchd spawn (t0): `ovs-vsctl get Open_vSwitch .
 *   dpdk_initialized` every 10 ms until true, the same EAL wait, then ONE `ovs-vsctl` transaction with the same
 *   bridge and ports as the daemon's (t1: it returns, i.e. vswitchd applied it).
 *
 * Prints the medians, the daemon's overhead as a ratio (goal <= 1.2x) and the per-port cost of DPDK
 * TAP creation (the by-hand transaction's time per port, and its slope between N = 8 and 16).
 * Huge pages: 512 x 2 MB reserved for the run and put back after (test/helpers/hugepages.ts).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { NodeStatus } from "../daemon/engine/component";
import { procCmdline } from "../daemon/host/proc";
import { daemonFixture, scratchDir, sleep } from "../test/helpers/daemon";
import { DPDK_PAGES, dpdkOverrides } from "../test/helpers/dpdk";
import { reserveHugepages } from "../test/helpers/hugepages";
import { testSupervisor } from "../test/helpers/test-config";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** How often both sides look at dpdk_initialized (the daemon: supervisor.pollIntervalMs). */
const POLL_MS = 10;
const SIZES = (process.env.BENCH_DPDK_N ?? "8,16").split(",").map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** The pid of a live ovs-vswitchd-dpdk whose command line mentions `marker`, not one of `not`. */
function findVswitchd(marker: string, not: Set<number>): number | null {
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || not.has(Number(e))) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      if (cmd.includes("ovs-vswitchd-dpdk") && cmd.includes(marker)) return Number(e);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

function exited(p: ChildProcess): Promise<void> {
  return new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once("exit", () => r())));
}

function run(argv: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8", env });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The daemon's pool transaction, as daemon/host/ovs-dpdk.ts makes it (same options). */
function poolTxn(n: number): string[] {
  const argv = ["--may-exist", "add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=netdev"];
  for (let k = 0; k < n; k++) {
    const p = `P4TAP_${k}`;
    argv.push("--", "--may-exist", "add-port", "br0", p, "--", "set", "Interface", p, "type=dpdk");
    argv.push(`options:dpdk-devargs=net_tap${k},iface=${p}`, "options:n_rxq=2", "options:n_rxq_desc=256");
    argv.push("options:n_txq_desc=256", `ofport_request=${k + 1}`, "mtu_request=1500");
  }
  return argv;
}

interface Row {
  n: number;
  daemonMs: number;
  byHandMs: number;
  ealMs: number;
  txnMs: number;
  /** The daemon's ovs-vswitchd ready (EAL up, then a waiting write), from the spawn. */
  vswitchdReadyMs: number;
}

async function benchOne(n: number, hugeDir: string, pages: number): Promise<Row> {
  const o = dpdkOverrides(n, hugeDir, pages);
  const f = await daemonFixture({
    ...o,
    ovs: { ...o.ovs, recreateDb: true },
    // Readiness probed every POLL_MS, the by-hand loop's EAL wait below: the same wait on both sides.
    supervisor: { ...testSupervisor, pollIntervalMs: POLL_MS },
  });
  const daemon: number[] = [];
  const byHand: number[] = [];
  const eal: number[] = [];
  const txn: number[] = [];
  const vswitchdReady: number[] = [];
  try {
    // First run: learn the exact command lines (and warm the page cache).
    const first = f.start();
    const s0 = await first.until<NodeStatus>("/v1/status", (st) => st.phase === "ready", 60000);
    const argvOf = (name: string) =>
      procCmdline(s0.components.find((c) => c.name === name)?.pid as number) as string[];
    const dbArgv = argvOf("ovsdb-server");
    const vsArgv = argvOf("ovs-vswitchd");
    const netns = `offloadd-${f.port}`;
    await first.stop();

    const ovsDir = join(f.dir, "ovs");
    const dbSock = join(ovsDir, "run/db.sock");
    const env = {
      ...process.env,
      OVS_RUNDIR: join(ovsDir, "run"),
      OVS_DBDIR: ovsDir,
      OVS_LOGDIR: join(ovsDir, "log"),
    };
    const vsctl = (...args: string[]) =>
      run(["/usr/bin/ovs-vsctl", `--db=unix:${dbSock}`, "--timeout=20", ...args], env);

    for (let i = 0; i < ROUNDS; i++) {
      // By hand, in a namespace of its own like the daemon's datapath.
      const ns = `bench-dpdk-${process.pid}`;
      run(["ip", "netns", "add", ns]);
      rmSync(join(ovsDir, "conf.db"), { force: true });
      run([
        "/usr/bin/ovsdb-tool",
        "create",
        join(ovsDir, "conf.db"),
        "/usr/share/openvswitch/vswitch.ovsschema",
      ]);
      const db = spawn("ip", ["netns", "exec", ns, ...dbArgv], { env, stdio: "ignore" });
      for (;;) {
        if (
          spawnSync("/usr/bin/ovs-vsctl", [`--db=unix:${dbSock}`, "--no-wait", "--timeout=2", "init"])
            .status === 0
        )
          break;
        await sleep(10);
      }
      vsctl(
        "--no-wait",
        "set",
        "Open_vSwitch",
        ".",
        'other_config:dpdk-init="true"',
        'other_config:dpdk-socket-mem="1024"',
        'other_config:per-port-memory="true"',
        `other_config:dpdk-hugepage-dir="${hugeDir}"`,
        'other_config:dpdk-extra="--no-pci"',
      );
      const t0 = Date.now();
      const vs = spawn("ip", ["netns", "exec", ns, ...vsArgv], { env, stdio: "ignore" });
      while (vsctl("--no-wait", "get", "Open_vSwitch", ".", "dpdk_initialized") !== "true")
        await sleep(POLL_MS);
      const t1 = Date.now();
      vsctl(...poolTxn(n));
      const t2 = Date.now();
      const taps = run(["ip", "-n", ns, "-o", "link", "show"]).match(/P4TAP_\d+/g) ?? [];
      if (new Set(taps).size !== n) throw new Error(`by hand: ${new Set(taps).size} of ${n} TAPs`);
      byHand.push(t2 - t0);
      eal.push(t1 - t0);
      txn.push(t2 - t1);
      vs.kill("SIGTERM");
      db.kill("SIGTERM");
      await Promise.all([exited(vs), exited(db)]);
      run(["ip", "netns", "del", ns]);

      // The daemon, fresh conf.db (recreateDb): it writes other_config, spawns vswitchd, makes the pool.
      const d = f.start();
      // t0: the vswitchd process appears (a light /proc scan every 2 ms); t1: the daemon's own log
      // line for the taps component's "ready" event (its timestamp; nothing polls the daemon).
      let ts = 0;
      while (findVswitchd(f.dir, new Set()) === null) await sleep(2);
      ts = Date.now();
      const readyAt = (component: string) => {
        for (const line of d.stdout.split("\n")) {
          if (line.includes(`"component":"${component}"`) && line.includes('"kind":"ready"'))
            return (JSON.parse(line) as { time: number }).time;
        }
        return 0;
      };
      let te = readyAt("taps");
      while (te === 0) {
        await sleep(20);
        te = readyAt("taps");
      }
      vswitchdReady.push(readyAt("ovs-vswitchd") - ts);
      if (process.env.BENCH_DPDK_TRACE) {
        // The daemon's own log from the vswitchd spawn on, times relative to it.
        for (const line of d.stdout.split("\n").filter(Boolean)) {
          const l = JSON.parse(line) as { time: number; component?: string; msg?: string };
          if (l.time >= ts - 50)
            console.log(`  +${l.time - ts} ms ${l.component ?? "-"}: ${(l.msg ?? "").slice(0, 100)}`);
        }
      }
      const dtaps = run(["ip", "-n", netns, "-o", "link", "show"]).match(/P4TAP_\d+|TAP_0/g) ?? [];
      if (new Set(dtaps).size !== n) throw new Error(`daemon: ${new Set(dtaps).size} of ${n} TAPs`);
      daemon.push(te - ts);
      await d.stop();
    }
  } finally {
    await f.cleanup();
  }
  return {
    n,
    daemonMs: median(daemon),
    byHandMs: median(byHand),
    ealMs: median(eal),
    txnMs: median(txn),
    vswitchdReadyMs: median(vswitchdReady),
  };
}

export async function benchTapsDpdk(): Promise<Row[]> {
  const hp = reserveHugepages(DPDK_PAGES);
  const hugeDir = join(scratchDir("offloadd-bench-huge-"), "huge");
  mkdirSync(hugeDir);
  run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", hugeDir]);
  const rows: Row[] = [];
  try {
    console.log(
      `bench/taps-dpdk: DPDK ovs-vswitchd start → pool ready, the daemon vs the same ovsdb transaction by hand after the same EAL wait (medians of ${ROUNDS})`,
    );
    console.log(
      "     N | daemon ms (vswitchd ready + pool) | by hand ms (EAL ms + txn ms) | ratio | txn ms/port",
    );
    for (const n of SIZES) {
      const r = await benchOne(n, hugeDir, hp.reserved);
      rows.push(r);
      console.log(
        `${String(n).padStart(6)} | ${r.daemonMs.toFixed(0).padStart(9)} (${r.vswitchdReadyMs.toFixed(0)} + ${(r.daemonMs - r.vswitchdReadyMs).toFixed(0)}) | ${r.byHandMs.toFixed(0).padStart(10)} (${r.ealMs.toFixed(0)} + ${r.txnMs.toFixed(0)}) | ${(r.daemonMs / r.byHandMs).toFixed(2)}x | ${(r.txnMs / n).toFixed(1)}`,
      );
    }
    const a = rows.find((r) => r.n === 8);
    const b = rows.find((r) => r.n === 16);
    if (a && b) {
      console.log(
        `per-port cost of DPDK TAP creation (by hand, slope 8→16): ${((b.txnMs - a.txnMs) / 8).toFixed(1)} ms a port; daemon's overhead goal <= 1.2x`,
      );
    }
  } finally {
    spawnSync("umount", [hugeDir], { stdio: "ignore" });
    hp.restore();
  }
  return rows;
}

if (require.main === module) {
  benchTapsDpdk().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
