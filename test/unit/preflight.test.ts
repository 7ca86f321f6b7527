/**
 * Host preflight against fake roots (test/helpers/hostroot.ts): each scenario breaks one thing, the
 * check says what it saw, a fix makes the next run pass and a second fix changes nothing. Also the
 * distribution's own containerd config, a fix that cannot be written (a read-only bind mount in the
 * test namespace's private mount namespace), the dry run, the components and the API.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import pino from "pino";
import { parse as parseToml } from "smol-toml";
import request from "supertest";
import { buildServer } from "../../api/server";
import { hugepagesComponent, preflightComponent } from "../../daemon/components/host";
import { loadConfig } from "../../daemon/config/load";
import { CHECK_IDS } from "../../daemon/config/schema";
import type { Config } from "../../daemon/config/types";
import { Engine } from "../../daemon/engine/engine";
import { ExternalTools } from "../../daemon/host/external-tools";
import { BACKUP_SUFFIX, HostFs } from "../../daemon/host/hostfs";
import { Mounts } from "../../daemon/host/mounts";
import { type CheckResult, type FixReport, Preflight } from "../../daemon/preflight";
import { CHECKS } from "../../daemon/preflight/checks";
import { makeHostRoot, put, SWAPS_HEADER } from "../helpers/hostroot";
import { StandIns } from "../helpers/stand-ins";
import { inTestNamespace as inTestNamespaceNow } from "../helpers/test-namespace";

const scratch = mkdtempSync(join(tmpdir(), "offloadd-preflight-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let seq = 0;

/**
 * A config whose host root is a fresh passing fake root (Debian's OVS for the binaries check). Its
 * tools are stand-ins only: a systemctl that says containerd is running (the proxy fix reloads
 * systemd), no firewall-cmd (no firewalld).
 */
function setup(host: Record<string, unknown> = {}): { root: string; cfg: Config; tools: StandIns } {
  const dir = join(scratch, `case-${++seq}`);
  const root = makeHostRoot(join(dir, "root"));
  const tools = new StandIns(join(dir, "tools"));
  tools.add("systemctl");
  const file = join(dir, "config.yaml");
  writeFileSync(
    file,
    JSON.stringify({
      ovs: { sdeInstall: null, ovsdbServer: "/usr/sbin/ovsdb-server", ovsVswitchd: "/usr/sbin/ovs-vswitchd" },
      host: { root, ...host },
      kubernetes: { toolPath: [tools.bin] },
    }),
  );
  return { root, cfg: loadConfig(file), tools };
}

/** The runc options table of a version 2 containerd config. */
function runcOptions(t: unknown): Record<string, unknown> {
  let cur = t;
  for (const k of ["plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options"]) {
    cur = (cur as Record<string, unknown>)[k];
    assert.equal(typeof cur, "object", `no table ${k}`);
  }
  return cur as Record<string, unknown>;
}

const byId = (rs: CheckResult[], id: string) => rs.find((r) => r.id === id) as CheckResult;
const read = (root: string, p: string) => readFileSync(join(root, p), "utf8");

/** Every file below dir with its content: to prove a dry run writes nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, n);
    if (statSync(p).isFile()) out[n] = readFileSync(p, "utf8");
  }
  return out;
}

const CONTAINERD_NO_SYSTEMD = `# containerd config, as an admin left it
version = 2
root = "/var/lib/containerd"
oom_score = -999

[grpc]
  address = "/run/containerd/containerd.sock"
  max_recv_message_size = 16777216

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  BinaryName = "/usr/bin/runc"
  SystemdCgroup = false

[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.example"]
`;

interface Scenario {
  name: string;
  id: string;
  break(root: string): void;
  observed: RegExp;
}

const scenarios: Scenario[] = [
  {
    name: "swap on",
    id: "swap",
    break: (r) => put(r, "/proc/swaps", `${SWAPS_HEADER}/dev/sda2 partition\t4194300\t0\t-2\n`),
    observed: /active swap: \/dev\/sda2/,
  },
  {
    name: "zram device",
    id: "swap",
    break: (r) => {
      put(r, "/proc/swaps", `${SWAPS_HEADER}/dev/zram0 partition\t4194300\t0\t100\n`);
      put(r, "/sys/block/zram0/disksize", "4294967296\n");
    },
    observed: /active swap: \/dev\/zram0; zram devices: zram0/,
  },
  {
    name: "missing module file",
    id: "modules",
    break: (r) => {
      unlinkSync(join(r, "etc/modules-load.d/k8s.conf"));
      put(r, "/proc/modules", "overlay 151552 0 - Live 0x0\n");
    },
    observed: /not loaded: br_netfilter; \/etc\/modules-load.d\/k8s.conf missing/,
  },
  {
    name: "wrong sysctl",
    id: "sysctl",
    break: (r) => {
      put(r, "/proc/sys/net/ipv4/ip_forward", "0\n");
      put(
        r,
        "/etc/sysctl.d/kubernetes.conf",
        "# site settings\nvm.max_map_count = 262144\nnet.ipv4.ip_forward = 0\nnet.bridge.bridge-nf-call-iptables = 1\n",
      );
    },
    observed:
      /net\.ipv4\.ip_forward=0; not set to 1 in \/etc\/sysctl.d\/kubernetes.conf: net.bridge.bridge-nf-call-ip6tables, net.ipv4.ip_forward/,
  },
  {
    name: "enforcing SELinux",
    id: "selinux",
    break: (r) => {
      put(r, "/sys/fs/selinux/enforce", "1\n");
      put(r, "/etc/selinux/config", "# SELinux\nSELINUX=enforcing\nSELINUXTYPE=targeted\n");
    },
    observed: /running enforcing; \/etc\/selinux\/config: SELINUX=enforcing/,
  },
  {
    name: "containerd without SystemdCgroup",
    id: "containerd",
    break: (r) => put(r, "/etc/containerd/config.toml", CONTAINERD_NO_SYSTEMD),
    observed: /runc\.options\.SystemdCgroup = false/,
  },
  {
    name: "missing crictl.yaml",
    id: "crictl",
    break: (r) => unlinkSync(join(r, "etc/crictl.yaml")),
    observed: /\/etc\/crictl.yaml missing/,
  },
  {
    name: "containerd proxy without the node in NO_PROXY",
    id: "proxy",
    break: (r) =>
      put(
        r,
        "/etc/systemd/system/containerd.service.d/http-proxy.conf",
        '[Service]\nEnvironment="HTTP_PROXY=http://proxy.example:3128" "NO_PROXY=localhost,10.0.0.0/8"\n',
      ),
    // 10.0.0.0/8 covers both CIDRs.
    observed: /^containerd drop-ins: NO_PROXY lacks 127\.0\.0\.1, 0\.0\.0\.0$/,
  },
];

describe("preflight checks against fake roots", () => {
  test("a passing root: every check passes but hugepages (not yet set) and artifacts (no pins)", async () => {
    const { cfg } = setup();
    const rs = await new Preflight(cfg, {}).run();
    assert.deepEqual(
      rs.map((r) => r.id),
      [
        "kernel",
        "swap",
        "modules",
        "sysctl",
        "selinux",
        "firewall",
        "hugepages",
        "containerd",
        "crictl",
        "proxy",
        "cni-host-paths",
        "binaries",
        "artifacts",
        "chassis-config",
        "hugepages-boot",
        "images",
      ],
    );
    for (const r of rs) {
      const want = ["hugepages", "hugepages-boot"].includes(r.id)
        ? "warn"
        : ["artifacts", "images"].includes(r.id)
          ? "skip"
          : "pass";
      assert.equal(r.status, want, `${r.id}: ${r.observed}`);
    }
    assert.match(byId(rs, "kernel").observed, /6\.1\.0-test-amd64/);
    assert.match(byId(rs, "artifacts").observed, /no artifact pins configured/);
  });

  for (const s of scenarios) {
    test(`${s.name}: reported, fixed, then passing; a second fix changes nothing`, async () => {
      const { root, cfg } = setup();
      s.break(root);
      const pf = new Preflight(cfg, {});
      const r1 = byId(await pf.run(), s.id);
      assert.equal(r1.status, "fail");
      assert.equal(r1.fixable, true);
      assert.match(r1.observed, s.observed);

      const fix = await pf.fix(false);
      const mine = fix.fixes.find((f) => f.id === s.id);
      assert.ok(mine && mine.changes.length > 0 && mine.error === null, JSON.stringify(fix.fixes));
      for (const c of mine.changes) {
        if (c.action === "edit" && c.file) {
          assert.equal(read(root, `${c.file}${BACKUP_SUFFIX}`), c.before, `backup of ${c.file}`);
          assert.equal(read(root, c.file), c.after);
        }
      }
      for (const r of fix.checks)
        assert.ok(r.status === "pass" || r.status === "skip", `${r.id}: ${r.observed}`);
      assert.deepEqual(fix.checks, await pf.run());

      const again = await pf.fix(false);
      assert.deepEqual(again.fixes, [], "a second fix changes nothing");
    });
  }

  test("swap: fstab lines and zram-generator are reported, not edited", async () => {
    const { root, cfg } = setup();
    put(root, "/etc/fstab", "UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n");
    put(root, "/usr/lib/systemd/zram-generator.conf", "[zram0]\n");
    const pf = new Preflight(cfg, {});
    const r = byId(await pf.run(), "swap");
    assert.equal(r.status, "warn");
    assert.match(
      r.observed,
      /\/swapfile none swap sw 0 0.*zram-generator config \/usr\/lib\/systemd\/zram-generator.conf/,
    );
    const fix = await pf.fix(false);
    assert.equal(
      fix.fixes.find((f) => f.id === "swap"),
      undefined,
    );
    assert.match(read(root, "etc/fstab"), /\/swapfile none swap/);
  });

  test("old kernel: fail, not fixable; fix leaves it failing", async () => {
    const { root, cfg } = setup();
    put(root, "/proc/sys/kernel/osrelease", "4.19.0-26-amd64\n");
    const pf = new Preflight(cfg, {});
    const r = byId(await pf.run(), "kernel");
    assert.deepEqual(
      { status: r.status, observed: r.observed, fixable: r.fixable },
      { status: "fail", observed: "kernel 4.19.0-26-amd64", fixable: false },
    );
    assert.match(r.expected, /5\.4 or newer/);
    const fix = await pf.fix(false);
    assert.equal(
      fix.fixes.find((f) => f.id === "kernel"),
      undefined,
    );
    assert.equal(byId(fix.checks, "kernel").status, "fail");
  });

  test("disabled checks are skip and are not fixed", async () => {
    const { root, cfg } = setup({ preflight: { disabled: ["kernel", "crictl"] } });
    put(root, "/proc/sys/kernel/osrelease", "3.10.0\n");
    unlinkSync(join(root, "etc/crictl.yaml"));
    const pf = new Preflight(cfg, {});
    const rs = await pf.run();
    for (const id of ["kernel", "crictl"]) {
      assert.equal(byId(rs, id).status, "skip");
      assert.match(byId(rs, id).observed, /disabled in config/);
    }
    await pf.fix(false);
    assert.ok(!existsSync(join(root, "etc/crictl.yaml")));
  });

  test("the containerd fix keeps every other setting (and the backup is the original)", async () => {
    const { root, cfg } = setup();
    put(root, "/etc/containerd/config.toml", CONTAINERD_NO_SYSTEMD, 0o600);
    await new Preflight(cfg, {}).fix(false);
    assert.equal(statSync(join(root, "etc/containerd/config.toml")).mode & 0o777, 0o600, "mode kept");
    const before = parseToml(CONTAINERD_NO_SYSTEMD);
    const after = parseToml(read(root, "etc/containerd/config.toml"));
    assert.equal(runcOptions(after).SystemdCgroup, true);
    runcOptions(before).SystemdCgroup = true;
    assert.deepEqual(after, before);
    assert.equal(read(root, `etc/containerd/config.toml${BACKUP_SUFFIX}`), CONTAINERD_NO_SYSTEMD);
  });

  test("containerd: the distribution's `containerd config default`, fixed, read back by containerd", async () => {
    const def = spawnSync("containerd", ["config", "default"], { encoding: "utf8" });
    assert.equal(def.status, 0, `containerd config default: ${def.stderr}`);
    const { root, cfg } = setup();
    put(root, "/etc/containerd/config.toml", def.stdout);
    const pf = new Preflight(cfg, {});
    assert.match(byId(await pf.run(), "containerd").observed, /SystemdCgroup = false/);
    const fix = await pf.fix(false);
    assert.equal(byId(fix.checks, "containerd").status, "pass");
    const file = join(root, "etc/containerd/config.toml");
    const original = parseToml(def.stdout);
    const fixed = parseToml(readFileSync(file, "utf8"));
    assert.equal(runcOptions(fixed).SystemdCgroup, true);
    runcOptions(original).SystemdCgroup = true;
    assert.deepEqual(fixed, original, "every other setting kept");
    // containerd itself reads the file back (config dump needs no running containerd).
    const dump = spawnSync("containerd", ["--config", file, "config", "dump"], { encoding: "utf8" });
    assert.equal(dump.status, 0, dump.stderr);
    assert.equal(runcOptions(parseToml(dump.stdout)).SystemdCgroup, true);
    assert.deepEqual((await pf.fix(false)).fixes, []);
  });

  test("the dry run lists exactly what the real run then changes, and writes nothing", async () => {
    const { root, cfg } = setup();
    for (const s of scenarios) s.break(root);
    const pf = new Preflight(cfg, {});
    const files = snapshot(root);
    const dry = await pf.fix(true);
    assert.equal(dry.dryRun, true);
    assert.deepEqual(snapshot(root), files, "the dry run changed no file");
    assert.deepEqual(
      dry.fixes.map((f) => f.id),
      [
        "swap",
        "modules",
        "sysctl",
        "selinux",
        "hugepages",
        "containerd",
        "crictl",
        "proxy",
        "hugepages-boot",
      ],
    );
    const real = await pf.fix(false);
    assert.equal(real.dryRun, false);
    assert.deepEqual(real.fixes, dry.fixes);
    for (const r of real.checks)
      assert.ok(r.status === "pass" || r.status === "skip", `${r.id}: ${r.observed}`);
    assert.deepEqual((await pf.fix(true)).fixes, []);
  });

  test("a fix that cannot be written (read-only mount): that check fails naming why; the file is unchanged", async (t) => {
    const { root, cfg } = setup();
    put(root, "/etc/containerd/config.toml", CONTAINERD_NO_SYSTEMD);
    unlinkSync(join(root, "etc/crictl.yaml"));
    const dir = join(root, "etc/containerd");
    // Root ignores file modes: a read-only bind mount (the test namespace's own mounts) is what stops it.
    const bind = spawnSync("mount", ["--bind", dir, dir]);
    assert.equal(bind.status, 0, String(bind.stderr));
    t.after(() => spawnSync("umount", [dir]));
    const ro = spawnSync("mount", ["-o", "remount,bind,ro", dir]);
    assert.equal(ro.status, 0, String(ro.stderr));

    const pf = new Preflight(cfg, {});
    const fix: FixReport = await pf.fix(false);
    const c = fix.fixes.find((f) => f.id === "containerd");
    assert.deepEqual(c?.changes, []);
    assert.match(c?.error ?? "", /^cannot write \/etc\/containerd\/config\.toml: EROFS$/);
    const r = byId(fix.checks, "containerd");
    assert.equal(r.status, "fail");
    assert.match(
      r.observed,
      /SystemdCgroup = false; fix failed: cannot write \/etc\/containerd\/config.toml: EROFS/,
    );
    assert.equal(read(root, "etc/containerd/config.toml"), CONTAINERD_NO_SYSTEMD);
    assert.deepEqual(readdirSync(dir), ["config.toml"], "no backup, no temp file left");
    // The other fixes still went through.
    assert.equal(byId(fix.checks, "crictl").status, "pass");
  });

  test("a fix whose directory is a file fails clearly and leaves that file as it was", async () => {
    const { root, cfg } = setup();
    rmSync(join(root, "etc/modules-load.d"), { recursive: true });
    put(root, "/etc/modules-load.d", "not a directory\n");
    const fix = await new Preflight(cfg, {}).fix(false);
    const m = fix.fixes.find((f) => f.id === "modules");
    assert.match(m?.error ?? "", /^cannot write \/etc\/modules-load.d\/k8s.conf: (ENOTDIR|EEXIST)$/);
    assert.equal(byId(fix.checks, "modules").status, "fail");
    assert.equal(read(root, "etc/modules-load.d"), "not a directory\n");
  });

  test("proxy: a proxy only in the environment without the node in NO_PROXY is a warning", async () => {
    const { cfg } = setup({ nodeIP: "192.168.1.10" });
    const env = {
      https_proxy: "http://proxy:3128",
      no_proxy: "localhost,127.0.0.1,0.0.0.0,192.168.0.0/16,10.0.0.0/8",
    };
    assert.equal(byId(await new Preflight(cfg, env).run(), "proxy").status, "pass");
    const r = byId(
      await new Preflight(cfg, { https_proxy: "http://proxy:3128", no_proxy: "localhost" }).run(),
      "proxy",
    );
    assert.equal(r.status, "warn");
    assert.match(
      r.observed,
      /daemon environment: NO_PROXY lacks 127\.0\.0\.1, 0\.0\.0\.0, 192\.168\.1\.10, 10\.244/,
    );
  });

  test("binaries: a missing OVS binary fails, missing Kubernetes tools warn", async () => {
    const { root, cfg } = setup();
    const pf = new Preflight(
      { ...cfg, ovs: { ...cfg.ovs, ovsVswitchd: join(root, "nope/ovs-vswitchd") } },
      {},
    );
    const r = byId(await pf.run(), "binaries");
    assert.equal(r.status, "fail");
    assert.match(r.observed, /missing .*nope\/ovs-vswitchd/);
    unlinkSync(join(root, "usr/bin/kubelet"));
    const w = byId(await new Preflight(cfg, {}).run(), "binaries");
    assert.equal(w.status, "warn");
    assert.match(w.observed, /^kubelet not in \/usr\/local\/sbin:/);
  });
});

describe("preflight on the real root, inside the test namespace", () => {
  // Only where PID 1 is the test harness (scripts/test.sh): its network namespace is private.
  const inTestNamespace = inTestNamespaceNow();

  test("the sysctl fix runs `sysctl -w` with an argument array (net.ipv4.ip_forward, private netns)", {
    skip: inTestNamespace ? false : "not inside the test namespace",
  }, async () => {
    const ipForward = "/proc/sys/net/ipv4/ip_forward";
    writeFileSync(ipForward, "0\n");
    const { cfg } = setup();
    const fs = new HostFs("/");
    const tools = new ExternalTools({ path: [], env: {}, timeoutMs: 1000 });
    const ctx = { fs, cfg, env: {}, tools, mounts: new Mounts(fs) };
    const sysctl = CHECKS.find((c) => c.id === "sysctl");
    // Planning only reads; of the plan only the command for ip_forward is applied here (the
    // other changes would write the host's /etc).
    const planned = (await sysctl?.plan?.(ctx)) ?? [];
    const cmd = planned.find((p) => p.change.command === "sysctl -w net.ipv4.ip_forward=1");
    assert.ok(cmd, JSON.stringify(planned.map((p) => p.change)));
    assert.equal(cmd.change.action, "run");
    await cmd.apply();
    assert.equal(readFileSync(ipForward, "utf8"), "1\n");
    writeFileSync(ipForward, "0\n");
  });

  test("commands are refused under a fake root", async () => {
    const { root } = setup();
    await assert.rejects(
      new HostFs(root).run(["swapoff", "-a"]),
      /refusing to run swapoff -a under the fake root/,
    );
  });
});

describe("preflight and hugepages components", () => {
  const log = pino({ level: "silent" });
  const engine = (cfg: Config, readyTimeoutMs: number) =>
    new Engine({
      components: [
        preflightComponent(new Preflight(cfg, {}), []),
        hugepagesComponent(cfg.host, ["preflight"]),
      ],
      store: null,
      log,
      version: "test",
      profile: "test",
      readyTimeoutMs,
      pollIntervalMs: 10,
    });

  test("hugepages: every NUMA node that exists gets its pages, hugetlbfs 'mounted' in the fake root", async () => {
    const { root, cfg } = setup();
    put(root, "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
    put(root, "/sys/devices/system/node/online", "0-1\n");
    const e = engine(cfg, 2000);
    await e.bringUp();
    const s = e.status();
    assert.equal(s.phase, "ready", s.message);
    for (const n of ["node0", "node1"]) {
      assert.equal(
        read(root, `sys/devices/system/node/${n}/hugepages/hugepages-2048kB/nr_hugepages`),
        "1024\n",
      );
    }
    assert.match(read(root, "proc/mounts"), /^nodev \/mnt\/huge hugetlbfs rw,relatime,pagesize=2M 0 0$/m);
    assert.ok(statSync(join(root, "mnt/huge")).isDirectory());
    assert.equal(byId(await new Preflight(cfg, {}).run(), "hugepages").status, "pass");
  });

  test("a failing check keeps the node out of ready, naming the check and what it saw", async () => {
    const { root, cfg } = setup();
    put(root, "/proc/sys/kernel/osrelease", "4.19.0\n");
    const e = engine(cfg, 100);
    await e.bringUp();
    const s = e.status();
    assert.equal(s.phase, "failed");
    assert.match(
      s.message,
      /preflight: not ready after 100 ms: waited for preflight check kernel to pass \(observed: kernel 4\.19\.0; expected: kernel 5\.4 or newer\)/,
    );
    assert.equal(s.components.find((c) => c.name === "hugepages")?.state, "blocked");
  });

  test("the same check disabled in config: ready", async () => {
    const { root, cfg } = setup({ preflight: { disabled: ["kernel"] } });
    put(root, "/proc/sys/kernel/osrelease", "4.19.0\n");
    const e = engine(cfg, 2000);
    await e.bringUp();
    assert.equal(e.status().phase, "ready", e.status().message);
  });
});

describe("preflight API", () => {
  test("GET /v1/preflight and POST /v1/preflight/fix against the real engine", async () => {
    const { root, cfg } = setup();
    unlinkSync(join(root, "etc/crictl.yaml"));
    const preflight = new Preflight(cfg, {});
    const e = new Engine({
      components: [preflightComponent(preflight, [])],
      store: null,
      log: pino({ level: "silent" }),
      version: "test",
      profile: "test",
      readyTimeoutMs: 1000,
      pollIntervalMs: 10,
    });
    const app = await buildServer({ engine: e, preflight, version: "test" });
    await app.ready();
    try {
      const g = await request(app.server).get("/v1/preflight").expect(200);
      // Every check, in the config's order (CHECK_IDS): none dropped by the route.
      assert.deepEqual(
        g.body.checks.map((c: CheckResult) => c.id),
        [...CHECK_IDS],
      );
      assert.equal(byId(g.body.checks, "crictl").status, "fail");

      const dry = await request(app.server).post("/v1/preflight/fix?dryRun=true").expect(200);
      assert.equal(dry.body.dryRun, true);
      assert.ok(!existsSync(join(root, "etc/crictl.yaml")));
      const real = await request(app.server).post("/v1/preflight/fix").expect(200);
      assert.equal(real.body.dryRun, false);
      assert.deepEqual(real.body.fixes, dry.body.fixes);
      assert.deepEqual(
        real.body.fixes
          .find((f: { id: string }) => f.id === "crictl")
          .changes.map((c: { file: string; action: string }) => [c.file, c.action]),
        [["/etc/crictl.yaml", "create"]],
      );
      const again = await request(app.server).get("/v1/preflight").expect(200);
      assert.ok(again.body.checks.every((r: CheckResult) => r.status !== "fail"));

      const bad = await request(app.server).post("/v1/preflight/fix?dryRun=maybe").expect(400);
      assert.match(bad.body.message, /query parameter "dryRun" must be boolean/);
      const unknown = await request(app.server).post("/v1/preflight/fix?dry=1").expect(400);
      assert.match(unknown.body.message, /unknown query parameter "dry"; allowed: dryRun/);
    } finally {
      await app.close();
    }
  });

  test("a server built without preflight answers 503", async () => {
    const e = new Engine({
      components: [],
      store: null,
      log: pino({ level: "silent" }),
      version: "test",
      profile: "test",
      readyTimeoutMs: 1000,
      pollIntervalMs: 10,
    });
    const app = await buildServer({ engine: e, version: "test" });
    await app.ready();
    try {
      const r = await request(app.server).get("/v1/preflight").expect(503);
      assert.equal(r.body.error, "unavailable");
    } finally {
      await app.close();
    }
  });
});
