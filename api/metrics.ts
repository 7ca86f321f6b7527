/**
 * The API's Prometheus registry (its own, not prom-client's global one): default process metrics plus
 * gauges read from the engine when scraped.
 *
 * - k8s_offloadd_component_up{component}: 1 when the component is ready, else 0.
 * - k8s_offloadd_component_restarts_total{component}: the component's restart count as the engine
 *   reports it (a counter read at scrape time; it restarts from 0 with a new process).
 * - k8s_offloadd_node_phase{phase}: 1 for the node's current phase, 0 for the others.
 * - k8s_offloadd_component_ready_seconds{component}: seconds from this daemon process's start to the
 *   component's first "ready" event in this process's life, taken from the engine's event stream (the
 *   backlog at build time, then live). Absent until the component has been ready once; events from an
 *   earlier daemon (persisted history) are older than the process and are ignored.
 * - k8s_offloadd_taps_available / k8s_offloadd_taps_in_use / k8s_offloadd_taps_lost: pool TAPs
 *   available for pods, taken by pods, and lost (made, kernel side gone), from the pool's last look
 *   (it looks every reconcile interval; a scrape does no work). Absent without a pool.
 *
 * prom-client itself is loaded on the first scrape (a daemon nobody scrapes never loads it); the
 * ready times are recorded from the start. The default process metrics count from that first scrape.
 */
import { performance } from "node:perf_hooks";
import type { Registry } from "prom-client";
import type { EngineApi, NodeEvent } from "../daemon/engine/component";
import type { TapCountsLike } from "./routes/taps";
import { nodePhases } from "./schemas/status";

export interface ApiMetrics {
  /** The registry, made on first call. */
  registry(): Promise<Registry>;
  /** Stops listening to the engine. */
  close(): void;
}

export function createMetrics(
  engine: EngineApi,
  taps: { counts(): TapCountsLike } | null = null,
): ApiMetrics {
  const processStart = performance.timeOrigin;
  const firstReady = new Map<string, number>();
  const onEvent = (e: NodeEvent) => {
    if (e.kind !== "ready" || e.component === null || firstReady.has(e.component)) return;
    const t = Date.parse(e.time);
    if (t >= processStart) firstReady.set(e.component, (t - processStart) / 1000);
  };
  for (let page = engine.events(0, 1000); page.length > 0; ) {
    for (const e of page) onEvent(e);
    const last = page.at(-1) as NodeEvent;
    page = page.length < 1000 ? [] : engine.events(last.id, 1000);
  }
  engine.on("event", onEvent);
  let registry: Promise<Registry> | null = null;
  return {
    registry: () => {
      registry ??= import("prom-client").then((prom) => buildRegistry(prom, engine, firstReady, taps));
      return registry;
    },
    close: () => engine.off("event", onEvent),
  };
}

function buildRegistry(
  prom: typeof import("prom-client"),
  engine: EngineApi,
  firstReady: ReadonlyMap<string, number>,
  taps: { counts(): TapCountsLike } | null,
): Registry {
  const { Counter, collectDefaultMetrics, Gauge, Registry } = prom;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({
    name: "k8s_offloadd_component_up",
    help: "1 when the component is ready, else 0.",
    labelNames: ["component"] as const,
    registers,
    collect() {
      this.reset();
      for (const c of engine.status().components)
        this.set({ component: c.name }, c.state === "ready" ? 1 : 0);
    },
  });

  new Counter({
    name: "k8s_offloadd_component_restarts_total",
    help: "Restarts of the component's process, as counted by its supervisor.",
    labelNames: ["component"] as const,
    registers,
    collect() {
      this.reset();
      for (const c of engine.status().components) this.inc({ component: c.name }, c.restarts);
    },
  });

  new Gauge({
    name: "k8s_offloadd_node_phase",
    help: "1 for the node's current phase, 0 for the others.",
    labelNames: ["phase"] as const,
    registers,
    collect() {
      const current = engine.status().phase;
      for (const phase of nodePhases) this.set({ phase }, phase === current ? 1 : 0);
    },
  });

  new Gauge({
    name: "k8s_offloadd_component_ready_seconds",
    help: "Seconds from the daemon's start to the component's first ready (absent until then).",
    labelNames: ["component"] as const,
    registers,
    collect() {
      this.reset();
      for (const [component, seconds] of firstReady) this.set({ component }, seconds);
    },
  });

  if (taps) {
    const tapGauge = (name: string, help: string, pick: (c: TapCountsLike) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(pick(taps.counts()));
        },
      });
    tapGauge(
      "k8s_offloadd_taps_available",
      "Pool TAPs in the datapath's namespace, available for pods.",
      (c) => c.available,
    );
    tapGauge(
      "k8s_offloadd_taps_in_use",
      "Pool TAPs taken by pods (moved out of the datapath's namespace).",
      (c) => c.inUse,
    );
    tapGauge(
      "k8s_offloadd_taps_lost",
      "Pool TAPs made whose kernel side is gone (until the target restarts).",
      (c) => c.lost,
    );
  }

  return registry;
}
