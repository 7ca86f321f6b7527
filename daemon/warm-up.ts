/**
 * `k8s-offloadd --warm-up`: the build's run of the daemon's start-up code for its V8 code cache
 * (scripts/bundle.ts WARM_UP, scripts/code-cache.ts). A function the cache holds is neither parsed nor
 * compiled when the daemon starts; one it lacks is compiled on its first call, at every start. So
 * besides the config check (what --check-config runs), this runs what every start runs next, all in
 * memory: the state database's opening and migrations (SQLite's :memory:), an engine, and the API
 * built and asked its polled GETs, through fastify's inject (no port, no socket). It touches no
 * file, process or interface of the host. Measured against the cache of --check-config alone (the
 * same bundle, 11 starts each, alternated in one fixture, load 2.6-3.4): spawn -> READY=1 median 497
 * against 520 ms and 478 against 510 ms; the stretch from the datapath's start to READY=1 ~30 ms
 * shorter; CPU to READY=1 ~20-27 ms less. The cache grows from 1.1 to 1.6 MB.
 */
import pino from "pino";
import { buildServer } from "../api/server";
import type { Config } from "./config/types";
import { Engine } from "./engine/engine";
import { StateStore } from "./state/store";

/** The GETs a node's tools poll (kubelet's ExecStartPre, health checks, scrapes of status). */
const POLLED = ["/v1/status", "/v1/ready", "/healthz"];

export async function warmUp(cfg: Config, version: string): Promise<void> {
  const store = StateStore.open(":memory:");
  const engine = new Engine({
    components: [],
    store,
    log: pino({ level: "silent" }),
    version,
    profile: cfg.profile,
    readyTimeoutMs: cfg.supervisor.readyTimeoutMs,
    pollIntervalMs: cfg.supervisor.pollIntervalMs,
  });
  const app = await buildServer({
    engine,
    version,
    logger: false,
    // The access rules as a start sets them up (the token is a stand-in: no mutating request is made).
    access: { token: "0".repeat(64), port: cfg.api.port, host: cfg.api.host, rateLimit: cfg.api.rateLimit },
    openapiFile: "/dev/null",
  });
  try {
    await app.ready();
    const host = `127.0.0.1:${cfg.api.port}`;
    // Twice: the first answer compiles the route's serializers, the second is the steady path.
    for (let i = 0; i < 2; i++) {
      for (const url of POLLED) {
        const r = await app.inject({ method: "GET", url, headers: { host } });
        if (r.statusCode !== 200 && !(url === "/v1/ready" && r.statusCode === 503))
          throw new Error(`warm-up: GET ${url} answered ${r.statusCode}: ${r.body}`);
      }
    }
  } finally {
    await app.close();
    store.close();
  }
}
