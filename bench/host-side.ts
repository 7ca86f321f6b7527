/**
 * bench/host-side: the host-side components' share of a start (`npm run bench -- host-side`), as
 * the daemon runs them with benchCoreConfig (kernel TAP pool, no simulator, datapath in a named
 * namespace): the kernel pool (taps.count 8) start+probe, host-if start+probe, arp-proxy (kernel
 * mode) start+probe, then one health interval (a probe and a reconcile each). For each: wall time,
 * processes spawned and the daemon's own CPU time (a spawn from a large process costs its parent
 * CPU). Reference, same run: the same changes by hand in the fewest processes, one `ip -batch -`
 * (TAPs, group, rename, up, address) and one `ip netns exec NS sysctl -w` (3 keys).
 * Every process the components run goes through execFile (daemon/host/command.ts) or, for a
 * namespace's ip reader, spawn (daemon/host/ip-session.ts): counted here.
 *
 * `--own`: the same in the daemon's own namespace (datapath.netns null, production), re-run in a
 * child node process inside a scratch namespace. BENCH_ROUNDS (default 10) fresh namespaces each.
 */
import childProcess from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { HostInterfaceComponent, KernelArpProxyComponent } from "../daemon/components/host-side";
import { KernelTapBackend } from "../daemon/components/tap-backends";
import { TapPool } from "../daemon/components/tap-pool";
import { loadConfig } from "../daemon/config/load";
import type { Config } from "../daemon/config/types";
import type { Component } from "../daemon/engine/component";
import { describeFailure, runCommand } from "../daemon/host/command";
import { deleteNetns, ensureNetns } from "../daemon/host/netns";
import { StateStore } from "../daemon/state/store";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);

let spawns = 0;
const real = childProcess.execFile;
childProcess.execFile = ((...a: unknown[]) => {
  spawns++;
  return (real as (...x: unknown[]) => unknown)(...a);
}) as unknown as typeof childProcess.execFile;
// A namespace's long-lived ip reader (daemon/host/ip-session.ts) is started with spawn.
const realSpawn = childProcess.spawn;
childProcess.spawn = ((...a: unknown[]) => {
  spawns++;
  return (realSpawn as (...x: unknown[]) => unknown)(...a);
}) as unknown as typeof childProcess.spawn;

interface Cost {
  ms: number;
  cpuMs: number;
  spawns: number;
}

async function cost(fn: () => Promise<unknown>): Promise<Cost> {
  const s0 = spawns;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: (c.user + c.system) / 1000, spawns: spawns - s0 };
}

async function must(argv: string[], input?: string): Promise<void> {
  const r = await runCommand(argv, { timeoutMs: 30_000, input });
  if (r.code !== 0) throw new Error(describeFailure(argv, r));
}

const PHASES = ["taps", "host-if", "arp-proxy", "health", "reference"] as const;
type Phase = (typeof PHASES)[number];

async function oneRound(ns: string | null, dir: string): Promise<Record<Phase, Cost>> {
  const file = join(dir, "config.yaml");
  writeFileSync(file, ns ? `datapath: {netns: ${ns}}\n` : "{}\n");
  const cfg: Config = loadConfig(file);
  const store = StateStore.open(join(dir, `state-${Date.now()}.db`));
  try {
    const pool = new TapPool({
      netns: ns,
      prefix: cfg.taps.prefix,
      count: cfg.taps.count,
      hostInterfaceName: cfg.hostInterface.name,
      backend: new KernelTapBackend(ns, cfg.taps.group),
      store,
      dependsOn: [],
      log: pino({ level: "silent" }),
    });
    const hostIf = new HostInterfaceComponent(cfg, []);
    const arp = new KernelArpProxyComponent(cfg, []);
    const up = (c: Component) =>
      cost(async () => {
        await c.start();
        const p = await c.probe();
        if (!p.ready) throw new Error(`${c.name} not ready after start: ${p.waitingFor}`);
      });
    const out = {} as Record<Phase, Cost>;
    out.taps = await up(pool);
    out["host-if"] = await up(hostIf);
    out["arp-proxy"] = await up(arp);
    out.health = await cost(async () => {
      for (const c of [pool, hostIf, arp]) {
        if (!(await c.probe()).ready) throw new Error(`${c.name} not ready`);
        await c.reconcile?.();
      }
    });
    // Undo, then the same changes by hand in the fewest processes.
    await pool.stop();
    const names = Array.from({ length: cfg.taps.count }, (_, i) => `${cfg.taps.prefix}${i}`);
    const ipArgs = ns ? ["ip", "-n", ns] : ["ip"];
    const hi = cfg.hostInterface;
    out.reference = await cost(async () => {
      const lines = [
        ...names.flatMap((n) => [
          `tuntap add dev ${n} mode tap`,
          `link set dev ${n} group ${cfg.taps.group}`,
        ]),
        `link set dev ${names[0]} name ${hi.name}`,
        `link set dev ${hi.name} up`,
        `addr add ${hi.address} dev ${hi.name}`,
      ];
      await must([...ipArgs, "-batch", "-"], `${lines.join("\n")}\n`);
      const sysctl = [
        "sysctl",
        "-q",
        "-w",
        `net.ipv4.conf.${hi.name}.proxy_arp=1`,
        `net.ipv4.conf.${hi.name}.forwarding=1`,
        `net.ipv4.neigh.${hi.name}.proxy_delay=0`,
      ];
      await must(ns ? ["ip", "netns", "exec", ns, ...sysctl] : sysctl);
    });
    await must([...ipArgs, "link", "del", "group", String(cfg.taps.group)]);
    return out;
  } finally {
    store.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

function report(label: string, rows: Array<Record<Phase, Cost>>): void {
  const load = loadavg()[0]?.toFixed(2);
  console.log(`\n## host-side (${label}), ${rows.length} rounds, medians; 1-min load ${load}`);
  console.log("phase       wall ms   own CPU ms   processes");
  for (const p of PHASES) {
    const ms = median(rows.map((r) => r[p].ms));
    const cpu = median(rows.map((r) => r[p].cpuMs));
    const n = median(rows.map((r) => r[p].spawns));
    console.log(
      `${p.padEnd(10)} ${ms.toFixed(1).padStart(8)} ${cpu.toFixed(1).padStart(12)} ${String(n).padStart(11)}`,
    );
  }
  const sum = (r: Record<Phase, Cost>, k: keyof Cost) => r.taps[k] + r["host-if"][k] + r["arp-proxy"][k];
  const ours = median(rows.map((r) => sum(r, "ms")));
  const ref = median(rows.map((r) => r.reference.ms));
  console.log(
    `start (taps + host-if + arp-proxy, each start+probe): ${ours.toFixed(1)} ms, ${median(rows.map((r) => sum(r, "spawns")))} processes, ${median(rows.map((r) => sum(r, "cpuMs"))).toFixed(1)} ms own CPU; by hand ${ref.toFixed(1)} ms (2 processes): ${(ours / ref).toFixed(2)}x`,
  );
}

export async function benchHostSide(): Promise<void> {
  const own = process.argv.includes("--own");
  const dir = mkdtempSync(join(tmpdir(), "bench-host-side-"));
  const rows: Array<Record<Phase, Cost>> = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      if (own) {
        rows.push(await oneRound(null, dir));
        continue;
      }
      const ns = `bench-hs-${process.pid}`;
      await deleteNetns(ns);
      await ensureNetns(ns);
      try {
        rows.push(await oneRound(ns, dir));
      } finally {
        await deleteNetns(ns);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report(own ? "daemon's own namespace" : "datapath in a named namespace", rows);
}

/** The own-namespace run: this script again, in a scratch namespace (the daemon's would be the host's). */
async function benchHostSideOwn(): Promise<void> {
  const ns = `bench-hso-${process.pid}`;
  await deleteNetns(ns);
  await ensureNetns(ns);
  try {
    const r = childProcess.spawnSync("ip", ["netns", "exec", ns, process.execPath, __filename, "--own"], {
      stdio: "inherit",
    });
    if (r.status !== 0) throw new Error(`own-namespace run failed (${r.status ?? r.signal})`);
  } finally {
    await deleteNetns(ns);
  }
}

export async function benchHostSideBoth(): Promise<void> {
  await benchHostSide();
  await benchHostSideOwn();
}

if (require.main === module) {
  const run = process.argv.includes("--own") ? benchHostSide : benchHostSideBoth;
  run().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
