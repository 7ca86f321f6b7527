/**
 * The ovsdb-server and ovs-vswitchd components (daemon/components/ovs.ts) run as the daemon runs them
 * (Debian's OVS, a scratch directory, the test namespace of scripts/test.sh), counting every process
 * the daemon's code starts: host/command.ts runCommand goes through execFile, the supervisor's children
 * through spawn. Each fork of the ~80 MB daemon blocks its event loop 9-22 ms (issue 13), so the
 * readiness and health probes must fork nothing: they speak OVSDB JSON-RPC on db.sock.
 */
import assert from "node:assert/strict";
import childProcess from "node:child_process";
import { after, describe, test } from "node:test";
import pino from "pino";
import { ovsdbServer, ovsVswitchd } from "../../daemon/components/ovs";
import { loadConfig } from "../../daemon/config/load";
import type { Probe } from "../../daemon/engine/component";
import { OvsTools } from "../../daemon/host/ovs";
import { freePort, scratchDir, writeConfig } from "../helpers/daemon";

type Counted = { programs: string[] };

/** Runs fn and returns the program of every process started meanwhile (execFile and spawn). */
async function counting<T>(fn: () => Promise<T>): Promise<{ value: T } & Counted> {
  const programs: string[] = [];
  const realExecFile = childProcess.execFile;
  const realSpawn = childProcess.spawn;
  childProcess.execFile = ((file: string, ...rest: unknown[]) => {
    programs.push(file);
    return (realExecFile as (...a: unknown[]) => unknown)(file, ...rest);
  }) as unknown as typeof childProcess.execFile;
  childProcess.spawn = ((file: string, ...rest: unknown[]) => {
    programs.push(file);
    return (realSpawn as (...a: unknown[]) => unknown)(file, ...rest);
  }) as unknown as typeof childProcess.spawn;
  try {
    return { value: await fn(), programs };
  } finally {
    childProcess.execFile = realExecFile;
    childProcess.spawn = realSpawn;
  }
}

/** start(), then probe() every 10 ms until ready, as the engine brings a component up. */
async function bringUp(c: { start(): Promise<void>; probe(): Promise<Probe> }): Promise<number> {
  await c.start();
  for (let probes = 1; probes < 1000; probes++) {
    if ((await c.probe()).ready) return probes;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("not ready after 1000 probes");
}

describe("OVS components: processes per start and per health pass", () => {
  const dir = scratchDir("offloadd-ovsprobe-");
  const stops: Array<() => Promise<void>> = [];
  after(async () => {
    for (const s of stops.reverse()) await s();
  });

  test("start forks only ovsdb-tool create and the two daemons; the probes until ready and every health pass fork nothing", async (t) => {
    const cfg = loadConfig(
      writeConfig(dir, await freePort(), { datapath: { netns: null, stopOnExit: true } }),
    );
    const tools = new OvsTools(cfg.ovs, process.env);
    const deps = { cfg, tools, store: null, log: pino({ level: "silent" }) };
    const db = ovsdbServer(deps, []);
    const vs = ovsVswitchd(deps, ["ovsdb-server"]);
    stops.push(
      () => db.stop(),
      () => vs.stop(),
    );

    const dbUp = await counting(() => bringUp(db));
    const vsUp = await counting(() => bringUp(vs));
    const health = await counting(async () => [await db.probe(), await vs.probe()]);
    t.diagnostic(
      `ovsdb-server start: ${dbUp.value} probes, ${dbUp.programs.length} processes (${dbUp.programs.join(" ")}); ` +
        `ovs-vswitchd start: ${vsUp.value} probes, ${vsUp.programs.length} processes (${vsUp.programs.join(" ")}); ` +
        `health pass: ${health.programs.length} processes (${health.programs.join(" ")})`,
    );

    assert.deepEqual(
      dbUp.programs,
      [cfg.ovs.ovsdbTool, cfg.ovs.ovsdbServer],
      "ovsdb-tool create, then the server",
    );
    assert.deepEqual(vsUp.programs, [cfg.ovs.ovsVswitchd], "the daemon only");
    assert.deepEqual(
      health.value.map((p) => p.ready),
      [true, true],
    );
    assert.deepEqual(health.programs, [], "a health pass forks nothing");
  });
});
