/**
 * hugepages-boot against scratch host roots: the huge pages reserved again at boot as
 * create_interfaces.sh persists them (vm.nr_hugepages in the sysctl configuration, hugetlbfs in
 * /etc/fstab). The check warns until both are there; its fix writes them (dry run first, .bak of an
 * edited file, idempotent); a later sysctl file with a lower value is found and edited.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadConfig } from "../../daemon/config/load";
import type { Config } from "../../daemon/config/types";
import { BACKUP_SUFFIX } from "../../daemon/host/hostfs";
import { type CheckResult, Preflight } from "../../daemon/preflight";
import { HUGEPAGES_SYSCTL_FILE } from "../../daemon/preflight/checks/hugepages-boot";
import { makeHostRoot, put } from "../helpers/hostroot";

const scratch = mkdtempSync(join(tmpdir(), "offloadd-hugeboot-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let seq = 0;

function setup(hugepages: Record<string, unknown> = {}): { root: string; cfg: Config } {
  const dir = join(scratch, `case-${++seq}`);
  const root = makeHostRoot(join(dir, "root"));
  const file = join(dir, "config.yaml");
  writeFileSync(
    file,
    JSON.stringify({
      ovs: { sdeInstall: null, ovsdbServer: "/usr/sbin/ovsdb-server", ovsVswitchd: "/usr/sbin/ovs-vswitchd" },
      host: { root, hugepages },
    }),
  );
  return { root, cfg: loadConfig(file) };
}

const boot = (rs: CheckResult[]) => rs.find((r) => r.id === "hugepages-boot") as CheckResult;
const read = (root: string, p: string) => readFileSync(join(root, p), "utf8");
const FSTAB_BASE = "UUID=1 / ext4 defaults 0 1\n";

describe("preflight hugepages-boot", () => {
  test("nothing persisted: a warning naming both; the dry run writes nothing; the fix persists them; a second fix changes nothing", async () => {
    const { root, cfg } = setup();
    put(root, "/etc/fstab", FSTAB_BASE);
    const pf = new Preflight(cfg, {});
    const r = boot(await pf.run());
    assert.equal(r.status, "warn");
    assert.equal(r.fixable, true);
    assert.equal(
      r.observed,
      "no sysctl file sets vm.nr_hugepages (want 1024); no hugetlbfs line for /mnt/huge in /etc/fstab",
    );

    const dry = await pf.fix(true);
    const planned = dry.fixes.find((f) => f.id === "hugepages-boot");
    const sysctlText =
      "# Huge pages for the P4-OVS datapath, reserved at boot (written by k8s-offloadd).\nvm.nr_hugepages = 1024\n";
    const fstabText = `${FSTAB_BASE}nodev /mnt/huge hugetlbfs pagesize=2M 0 0\n`;
    assert.deepEqual(planned?.changes, [
      { file: HUGEPAGES_SYSCTL_FILE, action: "create", after: sysctlText },
      { file: "/etc/fstab", action: "edit", before: FSTAB_BASE, after: fstabText },
    ]);
    assert.ok(!existsSync(join(root, HUGEPAGES_SYSCTL_FILE)), "the dry run wrote nothing");
    assert.equal(read(root, "/etc/fstab"), FSTAB_BASE);

    const real = await pf.fix(false);
    assert.deepEqual(
      real.fixes.find((f) => f.id === "hugepages-boot"),
      planned,
    );
    assert.equal(read(root, HUGEPAGES_SYSCTL_FILE), sysctlText);
    assert.equal(read(root, "/etc/fstab"), fstabText);
    assert.equal(read(root, `/etc/fstab${BACKUP_SUFFIX}`), FSTAB_BASE);
    assert.equal(boot(real.checks).status, "pass", boot(real.checks).observed);
    assert.equal(
      (await pf.fix(false)).fixes.find((f) => f.id === "hugepages-boot"),
      undefined,
    );
  });

  test("pages per NUMA node: two nodes want twice the pages in vm.nr_hugepages", async () => {
    const { root, cfg } = setup({ pages: 512 });
    put(root, "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
    put(root, "/etc/fstab", "nodev /mnt/huge hugetlbfs defaults 0 0\n");
    const pf = new Preflight(cfg, {});
    assert.equal(boot(await pf.run()).observed, "no sysctl file sets vm.nr_hugepages (want 1024)");
    await pf.fix(false);
    assert.match(read(root, HUGEPAGES_SYSCTL_FILE), /^vm\.nr_hugepages = 1024$/m);
  });

  test("a sysctl file applied later with a lower value wins at boot: named, and its line gets our value (.bak kept)", async () => {
    const { root, cfg } = setup();
    put(root, "/etc/fstab", "nodev /mnt/huge hugetlbfs pagesize=2M 0 0\n");
    put(root, "/etc/sysctl.d/10-early.conf", "vm.nr_hugepages = 8\n"); // applied before ours: no matter
    const conf = "# site settings\nvm.swappiness = 10\nvm/nr_hugepages=0\n";
    put(root, "/etc/sysctl.conf", conf);
    const pf = new Preflight(cfg, {});
    assert.equal(boot(await pf.run()).observed, "/etc/sysctl.conf sets vm.nr_hugepages = 0 (want 1024)");
    const fix = await pf.fix(false);
    assert.deepEqual(
      fix.fixes.find((f) => f.id === "hugepages-boot")?.changes.map((c) => c.file),
      [HUGEPAGES_SYSCTL_FILE, "/etc/sysctl.conf"],
    );
    assert.equal(
      read(root, "/etc/sysctl.conf"),
      "# site settings\nvm.swappiness = 10\nvm/nr_hugepages=1024\n",
    );
    assert.equal(read(root, `/etc/sysctl.conf${BACKUP_SUFFIX}`), conf);
    assert.equal(
      read(root, "/etc/sysctl.d/10-early.conf"),
      "vm.nr_hugepages = 8\n",
      "an earlier file is left alone",
    );
    assert.equal(boot(fix.checks).status, "pass");
  });

  test("a higher value already set at boot passes as it is", async () => {
    const { root, cfg } = setup();
    put(root, "/etc/fstab", "nodev /mnt/huge hugetlbfs pagesize=2M 0 0\n");
    put(root, "/usr/lib/sysctl.d/50-vendor.conf", "vm.nr_hugepages = 4096\n");
    const r = boot(await new Preflight(cfg, {}).run());
    assert.equal(r.status, "pass", r.observed);
    assert.match(r.observed, /\/usr\/lib\/sysctl\.d\/50-vendor\.conf sets vm\.nr_hugepages = 4096/);
  });

  test("1 GB pages are not the default size: the kernel command line is named, only fstab is fixed", async () => {
    const { root, cfg } = setup({ pageSizeKB: 1048576, pages: 2 });
    put(root, "/proc/meminfo", "MemTotal: 1 kB\nHugepagesize:       2048 kB\n");
    put(root, "/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
    const pf = new Preflight(cfg, {});
    const r = boot(await pf.run());
    assert.equal(r.status, "warn");
    assert.match(r.observed, /add hugepagesz=1G hugepages=2 to the kernel command line/);
    const fix = await pf.fix(false);
    assert.deepEqual(
      fix.fixes.find((f) => f.id === "hugepages-boot")?.changes.map((c) => [c.file, c.action]),
      [["/etc/fstab", "create"]],
    );
    assert.equal(read(root, "/etc/fstab"), "nodev /mnt/huge hugetlbfs pagesize=1G 0 0\n");
    assert.ok(!readdirSync(join(root, "etc/sysctl.d")).includes("zz-k8s-offloadd-hugepages.conf"));
  });
});
