/**
 * The chassis config (P4-OVS 22.07's /usr/share/stratum/dpdk_port_config.pb.txt) against scratch host
 * roots: the tolerant singleton_ports reader on the stock file, the rename compared with GNU sed
 * running create_interfaces.sh's own command, the chassis-config preflight check, its fix (atomic,
 * .bak kept, dry run, idempotent) and the pool limit the file sets.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadConfig } from "../../daemon/config/load";
import type { Config } from "../../daemon/config/types";
import {
  chassisRoomProblem,
  poolCapacity,
  renameLikeUpstream,
  singletonPortNames,
} from "../../daemon/host/chassis-config";
import { BACKUP_SUFFIX } from "../../daemon/host/hostfs";
import { type CheckResult, Preflight } from "../../daemon/preflight";
import { CHASSIS_PATH, makeHostRoot, put, putStockChassis, STOCK_CHASSIS } from "../helpers/hostroot";

const scratch = mkdtempSync(join(tmpdir(), "offloadd-chassis-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let seq = 0;
const stock = readFileSync(STOCK_CHASSIS, "utf8");

/** GNU sed running create_interfaces.sh's command on a copy of text: the reference for the rename. */
function sedRename(text: string): string {
  const f = join(scratch, `sed-${++seq}.txt`);
  writeFileSync(f, text);
  const r = spawnSync("sed", ["-i", "s/\\bTAP/P4TAP_/g", f], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(f, "utf8");
}

function setup(extra: Record<string, unknown> = {}): { root: string; cfg: Config } {
  const dir = join(scratch, `case-${++seq}`);
  const root = makeHostRoot(join(dir, "root"));
  const file = join(dir, "config.yaml");
  writeFileSync(
    file,
    JSON.stringify({
      ovs: { sdeInstall: null, ovsdbServer: "/usr/sbin/ovsdb-server", ovsVswitchd: "/usr/sbin/ovs-vswitchd" },
      host: { root },
      ...extra,
    }),
  );
  return { root, cfg: loadConfig(file) };
}

const check = (rs: CheckResult[]) => rs.find((r) => r.id === "chassis-config") as CheckResult;
const read = (root: string, p: string) => readFileSync(join(root, p), "utf8");

describe("the chassis config file", () => {
  test("the stock file: 56 singleton ports in file order, TAP0..TAP31 among them; 32 pool ports once renamed", () => {
    const names = singletonPortNames(stock);
    assert.equal(names.length, 56);
    assert.deepEqual(names.slice(0, 2), ["net_vhost0", "net_vhost1"]);
    assert.deepEqual(
      names.filter((n) => n.startsWith("TAP")),
      Array.from({ length: 32 }, (_, i) => `TAP${i}`),
    );
    assert.ok(!names.includes("DPDK"), "the chassis' own name is not a port");
    assert.equal(poolCapacity(stock, "P4TAP_"), 32);
    assert.equal(poolCapacity(sedRename(stock), "P4TAP_"), 32);
  });

  test("the reader is tolerant: comments, `singleton_ports: {`, single quotes, nested names, one line", () => {
    const text = [
      '# singleton_ports { name: "COMMENTED" }',
      "singleton_ports: {",
      "  id: 1",
      '  config_params { name: "NESTED" admin_state: ADMIN_STATE_ENABLED }',
      "  name: 'P4TAP_0'  # trailing comment",
      "}",
      'singleton_ports { id: 2 name: "P4TAP_1" slot: 1 }',
      'trunk_ports { name: "NOT_A_SINGLETON" }',
      'singleton_ports {\n  name:\n    "P4TAP_2"\n}',
    ].join("\n");
    assert.deepEqual(singletonPortNames(text), ["P4TAP_0", "P4TAP_1", "P4TAP_2"]);
    assert.equal(poolCapacity(text, "P4TAP_"), 3);
  });

  test("the rename is upstream's sed, byte for byte, and idempotent", () => {
    const tricky = [
      "TAP0 TAPx xTAP _TAP -TAP P4TAP_3 (TAP) TAP_0 tap0 TAPTAP",
      "\tTAP\n",
      'name: "TAP31"',
      "",
    ].join("\n");
    for (const text of [stock, tricky]) {
      const once = renameLikeUpstream(text);
      assert.equal(once, sedRename(text));
      assert.equal(renameLikeUpstream(once), once, "a second rename changes nothing");
      assert.equal(sedRename(once), once, "sed agrees it is idempotent");
    }
    // Every line that had no TAP is kept as it was.
    const before = stock.split("\n");
    const afterLines = renameLikeUpstream(stock).split("\n");
    assert.equal(afterLines.length, before.length);
    before.forEach((l, i) => {
      if (!l.includes("TAP")) assert.equal(afterLines[i], l);
    });
  });
});

describe("preflight chassis-config", () => {
  test("the renamed file passes", async () => {
    const { cfg } = setup();
    const r = check(await new Preflight(cfg, {}).run());
    assert.equal(r.status, "pass", r.observed);
    assert.match(r.observed, /names P4TAP_0\.\.P4TAP_7 \(32 pool ports in all\)/);
  });

  test("the stock file fails naming the file and the missing names; the dry run writes nothing; the fix renames like sed, keeps a .bak, then passes; a second fix changes nothing", async () => {
    const { root, cfg } = setup();
    putStockChassis(root);
    const pf = new Preflight(cfg, {});
    const r1 = check(await pf.run());
    assert.equal(r1.status, "fail");
    assert.equal(r1.fixable, true);
    assert.equal(
      r1.observed,
      `${CHASSIS_PATH} lacks P4TAP_0..P4TAP_7 (the fix renames TAP<n> to P4TAP_<n> as create_interfaces.sh does)`,
    );

    const dry = await pf.fix(true);
    const planned = dry.fixes.find((f) => f.id === "chassis-config");
    assert.deepEqual(planned?.changes, [
      { file: CHASSIS_PATH, action: "edit", before: stock, after: sedRename(stock) },
    ]);
    assert.equal(read(root, CHASSIS_PATH), stock, "the dry run wrote nothing");
    assert.ok(!readdirSync(join(root, "usr/share/stratum")).some((n) => n.endsWith(BACKUP_SUFFIX)));

    const real = await pf.fix(false);
    assert.deepEqual(
      real.fixes.find((f) => f.id === "chassis-config"),
      planned,
      "the real run made the change the dry run listed",
    );
    assert.equal(read(root, CHASSIS_PATH), sedRename(stock));
    assert.equal(read(root, `${CHASSIS_PATH}${BACKUP_SUFFIX}`), stock, "the original kept as .bak");
    // Atomic: no temporary file left beside it.
    assert.deepEqual(readdirSync(join(root, "usr/share/stratum")).sort(), [
      "dpdk_port_config.pb.txt",
      `dpdk_port_config.pb.txt${BACKUP_SUFFIX}`,
    ]);
    assert.equal(check(real.checks).status, "pass");
    assert.equal(
      (await pf.fix(false)).fixes.find((f) => f.id === "chassis-config"),
      undefined,
    );
  });

  test("a missing file fails naming it; its fix says there is nothing to rename", async () => {
    const { root, cfg } = setup();
    rmSync(join(root, CHASSIS_PATH));
    const pf = new Preflight(cfg, {});
    const r = check(await pf.run());
    assert.equal(r.status, "fail");
    assert.equal(r.observed, `${CHASSIS_PATH} missing (P4-OVS reads its ports from it at start)`);
    const fix = await pf.fix(false);
    assert.match(fix.fixes.find((f) => f.id === "chassis-config")?.error ?? "", /missing: nothing to rename/);
  });

  test("a pool larger than the file holds fails saying how many it holds; the kernel backend skips", async () => {
    const { cfg } = setup({ taps: { count: 64, max: 64 } });
    const r = check(await new Preflight(cfg, {}).run());
    assert.equal(r.status, "fail");
    assert.match(
      r.observed,
      /lacks P4TAP_32\.\.P4TAP_63 \(it can hold at most 32 pool ports, taps\.count is 64\)/,
    );
    const k = setup({ taps: { backend: "kernel" } });
    rmSync(join(k.root, CHASSIS_PATH));
    assert.equal(check(await new Preflight(k.cfg, {}).run()).status, "skip");
  });

  test("a chassis config of the wrong names (a changed file): the fix cannot help and says so", async () => {
    const { root, cfg } = setup();
    put(root, CHASSIS_PATH, 'singleton_ports { id: 1 name: "PORT0" }\n');
    const fix = await new Preflight(cfg, {}).fix(false);
    assert.match(
      fix.fixes.find((f) => f.id === "chassis-config")?.error ?? "",
      /has no TAP<n> port left to rename and still lacks P4TAP_0\.\.P4TAP_7/,
    );
    assert.equal(read(root, CHASSIS_PATH), 'singleton_ports { id: 1 name: "PORT0" }\n');
  });
});

describe("the pool limit of the chassis config", () => {
  test("32 fit the stock and the renamed file, 64 do not: the message names the file and the count", () => {
    const { root, cfg } = setup();
    assert.equal(chassisRoomProblem(cfg, 32), null);
    const p = chassisRoomProblem(cfg, 64);
    assert.equal(p?.capacity, 32);
    assert.equal(
      p?.message,
      `64 TAPs are more than the chassis config ${CHASSIS_PATH} holds: it names 32 pool ports (P4TAP_0..P4TAP_31), and P4-OVS accepts gNMI Sets only for ports named there; allowed: at most 32`,
    );
    putStockChassis(root);
    assert.equal(chassisRoomProblem(cfg, 64)?.capacity, 32, "the stock file counts as renamed");
    // A file with 8 pool ports only.
    put(root, CHASSIS_PATH, stock.replace(/"TAP([89]|[1-3]\d)"/g, '"X$1"'));
    assert.equal(chassisRoomProblem(cfg, 16)?.capacity, 8);
  });

  test("no limit for the kernel backend, nor when the file is missing (preflight reports that)", () => {
    const { root, cfg } = setup({ taps: { backend: "kernel", count: 64, max: 64 } });
    assert.equal(chassisRoomProblem(cfg, 64), null);
    const g = setup();
    rmSync(join(g.root, CHASSIS_PATH));
    assert.equal(chassisRoomProblem(g.cfg, 64), null);
    assert.ok(root);
  });
});
