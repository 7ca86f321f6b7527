/**
 * bench/api: GET /v1/status of the running daemon (real Open vSwitch children) against a bare
 * fastify route that returns the same bytes, each in its own process, measured in the same run.
 * Goal: ratio >= 0.5.
 */
import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import autocannon from "autocannon";
import { benchCoreConfig, daemonFixture, freePort } from "../test/helpers/daemon";

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);

async function rate(url: string): Promise<number> {
  const r = await autocannon({ url, connections: 50, duration: DURATION });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r.requests.average;
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
    await rate(bareUrl); // warm both
    await rate(daemonUrl);
    const ours: number[] = [];
    const refs: number[] = [];
    for (let i = 0; i < 2; i++) {
      refs.push(await rate(bareUrl));
      ours.push(await rate(daemonUrl));
    }
    const o = Math.max(...ours);
    const b = Math.max(...refs);
    const ratio = o / b;
    console.log(
      `bench/api: /v1/status ${o.toFixed(0)} req/s, bare fastify same bytes (${bytes.length} B) ${b.toFixed(0)} req/s, ` +
        `ratio ${ratio.toFixed(2)} (goal >= 0.5)`,
    );
    return ratio;
  } finally {
    ref?.kill();
    await f.cleanup();
  }
}

if (require.main === module) void benchApi();
