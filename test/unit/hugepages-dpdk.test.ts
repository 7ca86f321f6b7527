/**
 * dpdkHugepagesShortfall (daemon/preflight/hugepages.ts): what dpdk-socket-mem needs of the huge
 * pages, per NUMA node, against a fake host root (test/helpers/hostroot.ts).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { HostFs } from "../../daemon/host/hostfs";
import { dpdkHugepagesShortfall } from "../../daemon/preflight/hugepages";
import { makeHostRoot } from "../helpers/hostroot";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const H = { pages: 1024, pageSizeKB: 2048, mountPoint: "/mnt/huge" };
const NODE = (n: number) => `/sys/devices/system/node/node${n}/hugepages/hugepages-2048kB`;

function root(files: Record<string, string>): HostFs {
  const dir = mkdtempSync(join(tmpdir(), "offloadd-hp-"));
  dirs.push(dir);
  makeHostRoot(dir);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  return new HostFs(dir);
}

describe("dpdkHugepagesShortfall", () => {
  test("1024 MB on node 0 needs 512 pages of 2 MB: enough is [], fewer names the shortfall", () => {
    const fs = root({ [`${NODE(0)}/nr_hugepages`]: "512\n", [`${NODE(0)}/free_hugepages`]: "100\n" });
    assert.deepEqual(dpdkHugepagesShortfall(fs, H, "1024", "reserved"), []);
    assert.deepEqual(dpdkHugepagesShortfall(fs, H, "1024", "free"), [
      `ovs.dpdk.socketMem "1024" asks 1024 MB on NUMA node 0: 512 pages of 2048 kB free, ${NODE(0)}/free_hugepages is 100 (short by 412 pages)`,
    ]);
  });

  test("per node: node 1 short, node 0 fine; 0 MB asks nothing", () => {
    const fs = root({
      [`${NODE(0)}/nr_hugepages`]: "600\n",
      [`${NODE(1)}/nr_hugepages`]: "10\n",
    });
    const short = dpdkHugepagesShortfall(fs, H, "1024,512", "reserved");
    assert.equal(short.length, 1);
    assert.match(short[0] as string, /asks 512 MB on NUMA node 1: 256 pages .* is 10 \(short by 246 pages\)/);
    assert.deepEqual(dpdkHugepagesShortfall(fs, H, "1024,0", "reserved"), []);
  });

  test("1 GB pages: 1024 MB is one page", () => {
    const g = { ...H, pageSizeKB: 1048576 };
    const dir = "/sys/devices/system/node/node0/hugepages/hugepages-1048576kB";
    const fs = root({ [`${dir}/nr_hugepages`]: "0\n" });
    assert.match(
      dpdkHugepagesShortfall(fs, g, "1024", "reserved")[0] as string,
      /1 pages of 1048576 kB reserved/,
    );
  });
});
