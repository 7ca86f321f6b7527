/**
 * P4-OVS as run_ovs.sh runs it, shown with Debian's real Open vSwitch inside the test namespace:
 * the environment p4ovs_env_setup.sh builds, `ovs-appctl -t <program>` against the daemon's OVS run
 * dir, a conf.db with an older schema converted after a backup (as ovs-lib does) or recreated, an
 * ovsdb-server/ovs-vswitchd left running by someone else refused and then taken over; and the pool
 * limit of the chassis config at start and over the API.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parse } from "yaml";
import type { NodeEvent, NodeStatus } from "../../daemon/engine/component";
import { isAlive, procEnv } from "../../daemon/host/proc";
import { daemonFixture, scratchDir, writeConfig } from "../helpers/daemon";
import { putStockChassis } from "../helpers/hostroot";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
const foreign: ChildProcess[] = [];
const scratch = scratchDir();
after(async () => {
  for (const p of foreign) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  for (const f of fixtures) await f.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});
async function fixture(overrides = {}): Promise<Fixture> {
  const f = await daemonFixture(overrides);
  fixtures.push(f);
  return f;
}

const SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema";
const isReady = (s: NodeStatus) => s.phase === "ready";

async function events(d: {
  http: (m: string, p: string) => Promise<{ body: unknown }>;
}): Promise<NodeEvent[]> {
  return ((await d.http("GET", "/v1/events?limit=1000")).body as { events: NodeEvent[] }).events;
}
const byName = (s: NodeStatus, n: string) => s.components.find((c) => c.name === n);

function run(argv: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8", env });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

function must(argv: string[], env?: NodeJS.ProcessEnv): string {
  const r = run(argv, env);
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.err}`);
  return r.out;
}

async function waitFor(what: string, pred: () => boolean, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("P4-OVS as run_ovs.sh runs it (Debian OVS)", () => {
  test("ovs-appctl -t ovs-vswitchd / -t ovsdb-server version answer with the node's OVS_RUNDIR; children get p4ovs_env_setup.sh's environment", async () => {
    const dir = scratchDir("offloadd-env-");
    const sde = join(dir, "sde");
    const deps = join(dir, "deps");
    mkdirSync(join(sde, "lib"), { recursive: true });
    mkdirSync(join(deps, "bin"), { recursive: true });
    const f = await fixture({ ovs: { sdeInstall: sde, depsInstall: deps } });
    // An ovsdb-server in another network namespace is not in the datapath's way: not foreign to us.
    const elsewhereNs = `offloadd-other-${f.port}`;
    must(["ip", "netns", "add", elsewhereNs]);
    must(["/usr/bin/ovsdb-tool", "create", join(dir, "other.db"), SCHEMA]);
    const neighbour = spawn(
      "ip",
      [
        "netns",
        "exec",
        elsewhereNs,
        "/usr/sbin/ovsdb-server",
        join(dir, "other.db"),
        `--remote=punix:${dir}/other.sock`,
        `--unixctl=${dir}/other.ctl`,
      ],
      { stdio: "ignore" },
    );
    foreign.push(neighbour);
    await waitFor("the neighbour's socket", () => existsSync(`${dir}/other.sock`));
    const d = f.start({ LD_LIBRARY_PATH: "/opt/inherited/lib" });
    const s = await d.until<NodeStatus>("/v1/status", isReady);
    assert.ok(isAlive(neighbour.pid as number), "the neighbour was left alone");

    const env = { ...process.env, OVS_RUNDIR: join(f.dir, "ovs/run") };
    for (const program of ["ovs-vswitchd", "ovsdb-server"]) {
      const out = must(["/usr/bin/ovs-appctl", "--timeout=5", "-t", program, "version"], env);
      assert.match(out, new RegExp(`^${program} \\(Open vSwitch\\) \\d+\\.\\d+`), out);
    }
    // Without the node's run dir the same command does not reach them (it is the run dir that matters).
    const elsewhere = run(["/usr/bin/ovs-appctl", "--timeout=2", "-t", "ovs-vswitchd", "version"], {
      ...process.env,
      OVS_RUNDIR: join(f.dir, "nowhere"),
    });
    assert.notEqual(elsewhere.code, 0);

    // p4ovs_env_setup.sh <sde> <deps> (ipdk-io/ovs v22.07): deps' lib, lib64 first, then the
    // inherited path, then the SDE's lib, lib64, lib/x86_64-linux-gnu and /usr/local/lib, lib64;
    // deps' bin and sbin first on PATH.
    const wantLibs = [
      `${deps}/lib`,
      `${deps}/lib64`,
      "/opt/inherited/lib",
      `${sde}/lib`,
      `${sde}/lib64`,
      `${sde}/lib/x86_64-linux-gnu`,
      "/usr/local/lib",
      "/usr/local/lib64",
    ].join(":");
    for (const name of ["ovsdb-server", "ovs-vswitchd"]) {
      const pid = byName(s, name)?.pid as number;
      assert.equal(procEnv(pid, "LD_LIBRARY_PATH"), wantLibs, name);
      assert.ok(procEnv(pid, "PATH")?.startsWith(`${deps}/bin:${deps}/sbin:`), `${name} PATH`);
      assert.equal(procEnv(pid, "SDE_INSTALL"), sde);
      assert.equal(procEnv(pid, "OVS_RUNDIR"), join(f.dir, "ovs/run"));
    }
    // The polite stop uses the same way in: the children leave by `ovs-appctl -t <program> exit`.
    await d.stop();
    assert.match(d.stdout, /"component":"ovs-vswitchd".*stopped \(polite request\)/);
    assert.match(d.stdout, /"component":"ovsdb-server".*stopped \(polite request\)/);
    neighbour.kill("SIGTERM");
    run(["ip", "netns", "del", elsewhereNs]);
    rmSync(dir, { recursive: true, force: true });
  });

  test("a conf.db with an older schema is converted after a backup (ovs-lib's naming); its data is kept", async () => {
    const f = await fixture();
    // An older schema, derived from the installed one: a lower version and one column fewer.
    const schema = JSON.parse(readFileSync(SCHEMA, "utf8"));
    const newVersion: string = schema.version;
    schema.version = "7.0.0";
    assert.ok(schema.tables.Open_vSwitch.columns.datapath_types, "the column to drop exists");
    delete schema.tables.Open_vSwitch.columns.datapath_types;
    const oldSchema = join(f.dir, "old.ovsschema");
    writeFileSync(oldSchema, JSON.stringify(schema));
    const db = join(f.dir, "ovs/conf.db");
    mkdirSync(join(f.dir, "ovs"), { recursive: true });
    must(["/usr/bin/ovsdb-tool", "create", db, oldSchema]);
    must([
      "/usr/bin/ovsdb-tool",
      "transact",
      db,
      JSON.stringify([
        "Open_vSwitch",
        { op: "insert", table: "Open_vSwitch", row: { external_ids: ["map", [["marker", "kept"]]] } },
      ]),
    ]);
    const cksum = must(["/usr/bin/ovsdb-tool", "db-cksum", db]).split(/\s+/)[0];
    const original = readFileSync(db);
    assert.equal(must(["/usr/bin/ovsdb-tool", "needs-conversion", db, SCHEMA]), "yes");

    const d = f.start();
    await d.until<NodeStatus>("/v1/status", isReady);
    assert.equal(must(["/usr/bin/ovsdb-tool", "db-version", db]), newVersion);
    const backup = `${db}.backup7.0.0-${cksum}`;
    assert.ok(existsSync(backup), `backup ${backup}; dir has ${readdirSync(join(f.dir, "ovs")).join(", ")}`);
    assert.deepEqual(readFileSync(backup), original, "the backup is the database as it was");
    assert.equal(must(["/usr/bin/ovsdb-tool", "db-version", backup]), "7.0.0");
    const vsctl = ["/usr/bin/ovs-vsctl", `--db=unix:${join(f.dir, "ovs/run/db.sock")}`, "--timeout=5"];
    const converted = (await events(d)).filter((e) => e.component === "ovsdb-server" && e.kind === "start");
    assert.ok(
      converted.some(
        (e) => e.message === `converted ${db} from schema 7.0.0 to ${newVersion}; backup ${backup}`,
      ),
      JSON.stringify(converted),
    );
    const marker = () =>
      must([...vsctl, "get", "Open_vSwitch", ".", "external_ids:marker"]).replace(/"/g, "");
    assert.equal(marker(), "kept");
    // The new column is there now.
    must([...vsctl, "get", "Open_vSwitch", ".", "datapath_types"]);

    // Started again over the converted database: nothing to convert, no second backup.
    await d.stop();
    const d2 = f.start();
    await d2.until<NodeStatus>("/v1/status", isReady);
    assert.deepEqual(
      readdirSync(join(f.dir, "ovs")).filter((n) => n.includes(".backup")),
      [`conf.db.backup7.0.0-${cksum}`],
    );
    assert.equal(marker(), "kept");
    await d2.stop();
  });

  test("ovs.recreateDb: conf.db is created empty at every start, as run_ovs.sh does", async () => {
    const f = await fixture({ ovs: { recreateDb: true } });
    const d = f.start();
    await d.until<NodeStatus>("/v1/status", isReady);
    const vsctl = ["/usr/bin/ovs-vsctl", `--db=unix:${join(f.dir, "ovs/run/db.sock")}`, "--timeout=5"];
    must([...vsctl, "set", "Open_vSwitch", ".", "external_ids:marker=old"]);
    await d.stop();
    const d2 = f.start();
    await d2.until<NodeStatus>("/v1/status", isReady);
    const r = run([...vsctl, "get", "Open_vSwitch", ".", "external_ids:marker"]);
    assert.notEqual(r.code, 0, `the old record is gone (${r.out})`);
    assert.match(r.err, /no key "marker"/);
    await d2.stop();
  });

  test("an ovsdb-server and ovs-vswitchd not started by the daemon: not ready, named with their pids; ovs.takeOver stops them and starts ours", async () => {
    // The datapath in the daemon's own namespace (the test namespace), as in production (netns: null):
    // a named one would be deleted with the first daemon's stop, and the processes in it with it.
    const datapath = { stopOnExit: true, netns: null };
    const f = await fixture({ datapath, supervisor: { readyTimeoutMs: 15000, stopTimeoutMs: 2000 } });
    // run_ovs.sh's processes, left running in the datapath's namespace with their own files.
    const other = join(f.dir, "run_ovs");
    mkdirSync(other, { recursive: true });
    must(["/usr/bin/ovsdb-tool", "create", join(other, "conf.db"), SCHEMA]);
    const env = { ...process.env, OVS_RUNDIR: other, OVS_DBDIR: other, OVS_LOGDIR: other };
    const start = (argv: string[]) => {
      const p = spawn(argv[0] as string, argv.slice(1), { env, stdio: "ignore" });
      foreign.push(p);
      return p;
    };
    const db = start([
      "/usr/sbin/ovsdb-server",
      join(other, "conf.db"),
      `--remote=punix:${other}/db.sock`,
      "--pidfile",
      `--log-file=${other}/ovsdb-server.log`,
    ]);
    await waitFor("the foreign db.sock", () => existsSync(`${other}/db.sock`));
    must(["/usr/bin/ovs-vsctl", `--db=unix:${other}/db.sock`, "--timeout=5", "--no-wait", "init"]);
    const vs = start([
      "/usr/sbin/ovs-vswitchd",
      `unix:${other}/db.sock`,
      "--pidfile",
      "--no-chdir",
      `--log-file=${other}/ovs-vswitchd.log`,
    ]);
    await waitFor("the foreign vswitchd's pidfile", () => existsSync(`${other}/ovs-vswitchd.pid`));

    const d = f.start();
    const s = await d.until<NodeStatus>("/v1/status", (x) => byName(x, "ovsdb-server")?.state === "failed");
    assert.notEqual(s.phase, "ready");
    assert.match(s.message, new RegExp(`ovsdb-server pid ${db.pid} `));
    assert.match(s.message, new RegExp(`ovs-vswitchd pid ${vs.pid} `));
    assert.match(s.message, /was not started by k8s-offloadd/);
    assert.match(s.message, /ovs\.takeOver: true/);
    assert.match(s.message, /stop it, then POST \/v1\/components\/ovsdb-server\/restart/);
    assert.ok(isAlive(db.pid as number) && isAlive(vs.pid as number), "refusing touches nothing");
    assert.equal(byName(s, "ovsdb-server")?.pid, null, "ours was not started");
    await d.stop();

    // Handed over: the same node with ovs.takeOver.
    writeConfig(
      f.dir,
      f.port,
      { datapath, ovs: { ...ovsOf(f.configFile), takeOver: true } },
      targetOf(f.configFile),
    );
    const d2 = f.start();
    const s2 = await d2.until<NodeStatus>("/v1/status", isReady);
    const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;
    await waitFor("the foreign processes to be reaped", () => exited(db) && exited(vs));
    // ovs-appctl exit is the first rung: both leave cleanly (exit code 0, no signal).
    assert.deepEqual([db.exitCode, vs.exitCode], [0, 0]);
    const ours = byName(s2, "ovsdb-server")?.pid;
    assert.ok(ours && ours !== db.pid && isAlive(ours));
    // The node's history says what was stopped and how, vswitchd first.
    const took = (await events(d2)).filter((e) => e.kind === "stop" && /^took over/.test(e.message));
    assert.deepEqual(
      took.map((e) => [e.component, /^took over: (\S+) pid (\d+)/.exec(e.message)?.slice(1).join(" ")]),
      [
        ["ovsdb-server", `ovs-vswitchd ${vs.pid}`],
        ["ovsdb-server", `ovsdb-server ${db.pid}`],
      ],
    );
    for (const e of took)
      assert.match(
        e.message,
        /was not started by k8s-offloadd; stopped by ovs-appctl -t \S+\.ctl exit \(ovs\.takeOver\)$/,
      );
    await d2.stop();
  });
});

describe("the chassis config bounds the pool", () => {
  test("PUT /v1/taps above the chassis config's 32 pool ports is 400 naming the file and the count; nothing changes", async () => {
    const f = await fixture();
    const d = f.start();
    await d.until<NodeStatus>("/v1/status", isReady);
    const before = await d.http("GET", "/v1/taps");
    const r = await d.http("PUT", "/v1/taps", { count: 64 });
    assert.equal(r.status, 400, r.text);
    const msg = (r.body as { message: string }).message;
    assert.match(msg, /chassis config \/usr\/share\/stratum\/dpdk_port_config\.pb\.txt/);
    assert.match(msg, /names 32 pool ports \(P4TAP_0\.\.P4TAP_31\)/);
    assert.match(msg, /allowed: at most 32/);
    assert.deepEqual((await d.http("GET", "/v1/taps")).body, before.body);
    await d.stop();
  });

  test("taps.count above the chassis config's pool ports: the daemon refuses to start (exit 2), naming the file and the count", async () => {
    const f = await fixture({ taps: { count: 64, backend: "gnmi", max: 1024 } });
    // The stock file (TAP0..TAP31) counts as what the rename makes of it: 32.
    putStockChassis(join(f.dir, "hostroot"));
    const d = f.start();
    const { code } = await d.exited;
    assert.equal(code, 2);
    assert.match(
      d.stderr,
      /taps\.count: 64 TAPs are more than the chassis config \/usr\/share\/stratum\/dpdk_port_config\.pb\.txt holds: it names 32 pool ports/,
    );
    assert.match(d.stderr, /nothing was started/);
    assert.ok(!existsSync(join(f.dir, "state/state.db")), "no state database was made");
  });
});

/** The ovs section of a writeConfig'd file (to write it again with one key changed). */
function ovsOf(configFile: string): Record<string, unknown> {
  return parse(readFileSync(configFile, "utf8")).ovs;
}

function targetOf(configFile: string): { gnmi: number; p4rt: number } {
  const t = parse(readFileSync(configFile, "utf8")).target;
  return { gnmi: Number(t.gnmi.split(":")[1]), p4rt: Number(t.p4runtime.split(":")[1]) };
}
