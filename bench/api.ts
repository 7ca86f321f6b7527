/**
 * bench/api: the running daemon (the bundle, real Open vSwitch children), each row against a
 * reference measured in the same run:
 * - GET /v1/status req/s and p99 at 50 connections against a bare fastify route serving the same
 *   bytes in its own process (goal: ratio >= 0.8, p99 <= 2 ms);
 * - the daemon's RSS idle and after the load (goal <= 70 MB / <= 90 MB), the bare server's beside it;
 * - `k8s-offloadctl status` wall time against `node -e 0`, the runtime's own floor (goal <= 1.5x),
 *   with a plain HTTP GET of the same route from this process for scale.
 */
import { fork, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import autocannon from "autocannon";
import { benchCoreConfig, daemonFixture, freePort, repoRoot } from "../test/helpers/daemon";

const DURATION = Number(process.env.BENCH_SECONDS ?? 4);
const CLI_RUNS = Number(process.env.BENCH_CLI_RUNS ?? 9);
const CLI = join(repoRoot, "dist/bundle/k8s-offloadctl.js");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

interface Load {
  rps: number;
  p99: number;
  /** The server's CPU time (user + system, every thread) per request answered, µs. */
  cpuUs: number;
}

/** CPU time a process has used, ms (utime + stime of /proc/PID/stat, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * 50 connections for DURATION seconds against `url`, served by process `pid`. Besides req/s, the
 * server's CPU time per request: on this shared 2-core machine req/s moves with whatever else runs,
 * the CPU a request costs much less.
 */
async function load(url: string, pid: number): Promise<Load> {
  const cpu0 = cpuMs(pid);
  const r = await autocannon({ url, connections: 50, duration: DURATION });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return {
    rps: r.requests.average,
    p99: r.latency.p99,
    cpuUs: ((cpuMs(pid) - cpu0) * 1000) / r.requests.total,
  };
}

/** Resident set size of a process, MB (VmRSS of /proc/PID/status). */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? Number.NaN) / 1024;
}

/** Wall time of one run of argv, ms; it must exit 0. */
function wallOnce(argv: string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(argv[0] as string, argv.slice(1), { env, stdio: ["ignore", "ignore", "pipe"] });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: exit ${r.status}: ${r.stderr}`);
  return ms;
}

/**
 * Median wall times of `a` and `b` over `runs` runs each, taken in turn (a, b, a, b...): on this
 * shared machine one block of runs and then the other would compare two different moments.
 */
function wallAlternated(a: string[], b: string[], env: NodeJS.ProcessEnv, runs = CLI_RUNS): [number, number] {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    ta.push(wallOnce(a, env));
    tb.push(wallOnce(b, env));
  }
  return [median(ta), median(tb)];
}

export async function benchApi(): Promise<number> {
  const f = await daemonFixture(benchCoreConfig);
  let ref: ReturnType<typeof fork> | null = null;
  try {
    const d = f.start();
    await d.until<{ phase: string }>("/v1/status", (s) => s.phase === "ready");
    const bytes = (await d.http("GET", "/v1/status")).text;
    const file = join(f.dir, "status.json");
    writeFileSync(file, bytes);
    const port = await freePort();
    const server = fork(join(__dirname, "bare-server.js"), [String(port), file], { stdio: "inherit" });
    ref = server;
    await new Promise((r) => server.once("message", r));
    const daemonUrl = `http://127.0.0.1:${f.port}/v1/status`;
    const bareUrl = `http://127.0.0.1:${port}/v1/status`;

    // Idle: ready, a few requests served (the first answers compile their routes), then 2 s of quiet.
    await new Promise((r) => setTimeout(r, 2000));
    const idle = rssMb(d.pid);
    const bareIdle = rssMb(server.pid as number);

    // CLI: the bundle, the same way kubelet's ExecStartPre runs it (its own process, a fresh runtime).
    const env = { ...process.env, K8S_OFFLOADD_CONFIG: f.configFile };
    const [cli, floor] = wallAlternated(
      [process.execPath, CLI, "status"],
      [process.execPath, "-e", "0"],
      env,
    );
    const getTimes: number[] = [];
    for (let i = 0; i < CLI_RUNS; i++) {
      const t0 = performance.now();
      await d.http("GET", "/v1/status");
      getTimes.push(performance.now() - t0);
    }

    // Load: warm both, then alternate, best of two each (same machine, same moment).
    const loadStart = performance.now();
    const barePid = server.pid as number;
    await load(bareUrl, barePid);
    await load(daemonUrl, d.pid);
    const ours: Load[] = [];
    const refs: Load[] = [];
    for (let i = 0; i < 2; i++) {
      refs.push(await load(bareUrl, barePid));
      ours.push(await load(daemonUrl, d.pid));
    }
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const loaded = rssMb(d.pid);
    const bareLoaded = rssMb(server.pid as number);
    const o = ours.reduce((a, b) => (b.rps > a.rps ? b : a));
    const b = refs.reduce((a, c) => (c.rps > a.rps ? c : a));
    const ratio = o.rps / b.rps;
    const mb = (x: number) => `${x.toFixed(0)} MB`;
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    const cpuOurs = mean(ours.map((l) => l.cpuUs));
    const cpuRef = mean(refs.map((l) => l.cpuUs));
    console.log(
      `bench/api: /v1/status ${o.rps.toFixed(0)} req/s p99 ${o.p99} ms; bare fastify, same bytes (${bytes.length} B), ` +
        `${b.rps.toFixed(0)} req/s p99 ${b.p99} ms; ratio ${ratio.toFixed(2)} (goal >= 0.8, p99 <= 2 ms at 50 connections)`,
    );
    console.log(
      `bench/api: CPU per request (server process, every thread) ${cpuOurs.toFixed(1)} µs; bare fastify ` +
        `${cpuRef.toFixed(1)} µs; ratio bare/ours ${(cpuRef / cpuOurs).toFixed(2)} (means of the two rounds; less moved by the shared machine than req/s)`,
    );
    console.log(
      `bench/api: RSS idle ${mb(idle)} (bare fastify ${mb(bareIdle)}, ratio ${(idle / bareIdle).toFixed(2)}), ` +
        `after ${loadSeconds.toFixed(0)} s of load ${mb(loaded)} (bare ${mb(bareLoaded)}, ratio ${(loaded / bareLoaded).toFixed(2)}) ` +
        `(goal <= 70 MB / <= 90 MB)`,
    );
    console.log(
      `bench/api: k8s-offloadctl status ${cli.toFixed(0)} ms; node -e 0 ${floor.toFixed(0)} ms; ratio ` +
        `${(cli / floor).toFixed(2)} (goal <= 1.5); an HTTP GET of the route from a running process ` +
        `${median(getTimes).toFixed(1)} ms (medians of ${CLI_RUNS})`,
    );
    return ratio;
  } finally {
    ref?.kill();
    await f.cleanup();
  }
}

if (require.main === module) void benchApi();
