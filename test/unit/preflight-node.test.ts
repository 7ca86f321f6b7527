/**
 * The node-side preflight checks of the Kubernetes half: the firewall as a control-plane node needs
 * it (a stand-in firewall-cmd that records its argv and answers as the real one does), the infra
 * agent's host paths (fake roots, then the test namespace's own /run/netns made shared), containerd
 * with CRI disabled (containerd.io's stock config.toml), and the proxy drop-ins in both systemd
 * directories with the daemon-reload a changed drop-in needs.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { parse as parseToml } from "smol-toml";
import { loadConfig } from "../../daemon/config/load";
import type { Config } from "../../daemon/config/types";
import { ExternalTools } from "../../daemon/host/external-tools";
import { BACKUP_SUFFIX, HostFs } from "../../daemon/host/hostfs";
import { isShared, Mounts, mountAt, parseMountinfo } from "../../daemon/host/mounts";
import { type CheckResult, Preflight } from "../../daemon/preflight";
import { CHECKS } from "../../daemon/preflight/checks";
import { makeHostRoot, NETNS_SHARED, put, ROOT_MOUNTINFO } from "../helpers/hostroot";
import { StandIns } from "../helpers/stand-ins";
import { inTestNamespace as inTestNamespaceNow } from "../helpers/test-namespace";

const scratch = mkdtempSync(join(tmpdir(), "offloadd-preflight-node-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let seq = 0;

/** containerd.io's stock config.toml (test/fixtures/containerd/README.md says where it comes from). */
const STOCK_CONTAINERD = readFileSync(
  resolve(__dirname, "../../../test/fixtures/containerd/containerd.io-config.toml"),
  "utf8",
);

function setup(
  over: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = {},
): { root: string; cfg: Config; tools: StandIns; pf: Preflight } {
  const dir = join(scratch, `case-${++seq}`);
  const root = makeHostRoot(join(dir, "root"));
  const tools = new StandIns(join(dir, "tools"));
  const file = join(dir, "config.yaml");
  const { kubernetes, ...rest } = over as { kubernetes?: Record<string, unknown> };
  writeFileSync(
    file,
    JSON.stringify({
      ovs: { sdeInstall: null, ovsdbServer: "/usr/sbin/ovsdb-server", ovsVswitchd: "/usr/sbin/ovs-vswitchd" },
      host: { root },
      kubernetes: { toolPath: [tools.bin], ...kubernetes },
      ...rest,
    }),
  );
  const cfg = loadConfig(file);
  return { root, cfg, tools, pf: new Preflight(cfg, env) };
}

const byId = (rs: CheckResult[], id: string) => rs.find((r) => r.id === id) as CheckResult;
const read = (root: string, p: string) => readFileSync(join(root, p), "utf8");

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, n);
    const st = statSync(p);
    out[n] = st.isFile() ? readFileSync(p, "utf8") : "(dir)";
  }
  return out;
}

/**
 * A stand-in firewall-cmd answering as firewalld 1.x does: `--state` prints "running" (0) or "not
 * running" (252); `--list-ports` and `--list-services` one line; `--info-service=S` the service's
 * block with its "  ports:" line.
 */
function firewallCmd(
  tools: StandIns,
  running: boolean,
  ports: string,
  services: Record<string, string>,
): void {
  const info = Object.entries(services)
    .map(
      ([s, p]) =>
        `  --info-service=${s}) printf '%s\\n' '${s}' '  ports: ${p}' '  protocols: ' '  source-ports: ' '  modules: ' '  destination: ';;`,
    )
    .join("\n");
  tools.add(
    "firewall-cmd",
    [
      'case "$1" in',
      running ? "  --state) echo running;;" : "  --state) echo 'not running'; exit 252;;",
      `  --list-ports) echo '${ports}';;`,
      `  --list-services) echo '${Object.keys(services).join(" ")}';;`,
      info,
      '  *) echo "usage: see firewall-cmd -h" >&2; exit 2;;',
      "esac",
    ].join("\n"),
  );
}

describe("preflight firewall: the control-plane ports when firewalld runs", () => {
  test("no firewall-cmd in the tool path: no firewalld, pass", async () => {
    const { pf } = setup();
    const r = byId(await pf.run(), "firewall");
    assert.equal(r.status, "pass");
    assert.match(r.observed, /^no firewalld \(firewall-cmd not found in PATH/);
    assert.equal(r.fixable, false);
  });

  test("firewalld not running: pass, after `firewall-cmd --state` only", async () => {
    const { pf, tools } = setup();
    firewallCmd(tools, false, "", {});
    const r = byId(await pf.run(), "firewall");
    assert.deepEqual([r.status, r.observed], ["pass", "firewalld not running"]);
    assert.deepEqual(tools.calls(), ["firewall-cmd --state"]);
  });

  test("running: ports and services both count; each closed port is named (179 with Calico BGP); no fix", async () => {
    const { pf, tools } = setup();
    firewallCmd(tools, true, "10250/tcp 2379-2380/tcp 10257/udp 53/udp", {
      ssh: "22/tcp",
      "kube-apiserver": "6443/tcp",
    });
    const r = byId(await pf.run(), "firewall");
    assert.equal(r.status, "warn");
    assert.equal(
      r.observed,
      "firewalld running; its default zone does not open tcp 10257 (kube-controller-manager), 10259 (kube-scheduler), 179 (Calico BGP)",
    );
    assert.match(
      r.expected,
      /6443 \(kube-apiserver\), 10250 \(kubelet\), 2379-2380 \(etcd\), .*179 \(Calico BGP\)/,
    );
    assert.deepEqual(tools.calls(), [
      "firewall-cmd --state",
      "firewall-cmd --list-ports",
      "firewall-cmd --list-services",
      "firewall-cmd --info-service=ssh",
      "firewall-cmd --info-service=kube-apiserver",
    ]);
    tools.clearCalls();
    const fix = await pf.fix(false);
    assert.equal(
      fix.fixes.find((f) => f.id === "firewall"),
      undefined,
      "the admin owns the firewall",
    );
    assert.ok(
      tools.calls().every((c) => /^firewall-cmd --(state|list-ports|list-services|info-service=)/.test(c)),
      "only queries",
    );
  });

  test("half a range open is closed; without Calico BGP 179 is not wanted; all open passes", async () => {
    const { pf, tools } = setup({ kubernetes: { calicoBgp: false } });
    firewallCmd(tools, true, "6443/tcp 10250/tcp 2379/tcp 10257/tcp 10259/tcp", {});
    const r = byId(await pf.run(), "firewall");
    assert.equal(r.observed, "firewalld running; its default zone does not open tcp 2379-2380 (etcd)");
    assert.doesNotMatch(r.expected, /179/);
    firewallCmd(tools, true, "6443/tcp 10250/tcp 2379-2380/tcp 10257/tcp 10259/tcp", {});
    assert.equal(byId(await pf.run(), "firewall").status, "pass");
  });

  test("a failing query is named", async () => {
    const { pf, tools } = setup();
    tools.add(
      "firewall-cmd",
      'case "$1" in --state) echo running;; *) echo "Authorization failed." >&2; exit 11;; esac',
    );
    const r = byId(await pf.run(), "firewall");
    assert.equal(r.status, "fail");
    assert.equal(r.observed, "firewall-cmd --list-ports failed: Authorization failed.");
  });
});

describe("preflight cni-host-paths", () => {
  test("the agent's directories and a shared /run/netns pass; the mountinfo parser reads propagation", async () => {
    const { pf } = setup();
    const r = byId(await pf.run(), "cni-host-paths");
    assert.deepEqual([r.status, r.observed], ["pass", "all present; /run/netns is a shared mount"]);
    const m = mountAt(parseMountinfo(`${ROOT_MOUNTINFO}${NETNS_SHARED}`), "/run/netns");
    assert.equal(m?.fsType, "tmpfs");
    assert.ok(m && isShared(m));
    assert.equal(mountAt(parseMountinfo(ROOT_MOUNTINFO), "/run/netns"), null);
  });

  test("missing directories and /run/netns not a mount point: warned; the dry run lists the mkdirs, the bind and make-shared; the fix makes them", async () => {
    const { root, pf } = setup();
    rmSync(join(root, "etc/cni"), { recursive: true });
    rmSync(join(root, "var/lib/cni"), { recursive: true });
    put(root, "/proc/self/mountinfo", ROOT_MOUNTINFO);
    const r = byId(await pf.run(), "cni-host-paths");
    assert.equal(r.status, "warn", "a reset removes /etc/cni: the node must still come up");
    assert.equal(r.fixable, true);
    assert.equal(
      r.observed,
      "missing: /etc/cni/net.d, /var/lib/cni/infraagent, /var/lib/cni/networks; /run/netns is not a mount point (/proc/self/mountinfo)",
    );
    const files = snapshot(root);
    const dry = await pf.fix(true);
    assert.deepEqual(snapshot(root), files, "the dry run changed nothing");
    const want = [
      { file: "/etc/cni/net.d", action: "create" },
      { file: "/var/lib/cni/infraagent", action: "create" },
      { file: "/var/lib/cni/networks", action: "create" },
      { command: "mount --bind /run/netns /run/netns", action: "run" },
      { command: "mount --make-shared /run/netns", action: "run" },
    ];
    assert.deepEqual(dry.fixes.find((f) => f.id === "cni-host-paths")?.changes, want);
    const real = await pf.fix(false);
    assert.deepEqual(real.fixes, dry.fixes);
    assert.equal(byId(real.checks, "cni-host-paths").status, "pass");
    for (const d of ["etc/cni/net.d", "var/lib/cni/infraagent", "var/lib/cni/networks"])
      assert.ok(statSync(join(root, d)).isDirectory(), d);
    // The fake root plays the kernel: the mount table now shows /run/netns, shared.
    const m = mountAt(parseMountinfo(read(root, "proc/self/mountinfo")), "/run/netns");
    assert.ok(m && isShared(m), read(root, "proc/self/mountinfo"));
    assert.deepEqual((await pf.fix(false)).fixes, [], "a second fix changes nothing");
  });

  test("a mount point that is not shared: only make-shared", async () => {
    const { root, pf } = setup();
    put(root, "/proc/self/mountinfo", `${ROOT_MOUNTINFO}${NETNS_SHARED.replace(" shared:150", "")}`);
    const r = byId(await pf.run(), "cni-host-paths");
    assert.equal(r.observed, "/run/netns is a mount point but not shared");
    const fix = await pf.fix(false);
    assert.deepEqual(fix.fixes.find((f) => f.id === "cni-host-paths")?.changes, [
      { command: "mount --make-shared /run/netns", action: "run" },
    ]);
    assert.equal(byId(fix.checks, "cni-host-paths").status, "pass");
  });
});

describe("preflight cni-host-paths on the real root, inside the test namespace", () => {
  // Only where PID 1 is the test harness (scripts/test.sh): its mount namespace is private, and so
  // is its /run/netns (a tmpfs of its own, test/harness/in-namespace.ts). The host's mounts are never touched.
  const inTestNamespace = inTestNamespaceNow();
  const skip = inTestNamespace ? false : "not inside the test namespace";
  const netns = () => mountAt(parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8")), "/run/netns");
  const must = (argv: string[]) => {
    const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
    assert.equal(r.status, 0, `${argv.join(" ")}: ${r.stderr}`);
  };

  test("the test namespace's /run/netns, made private, is made shared by the fix's command (mount --make-shared)", {
    skip,
  }, async () => {
    must(["mount", "--make-private", "/run/netns"]);
    const before = netns();
    assert.ok(before && !isShared(before), "private to begin with");
    const dir = join(scratch, "real");
    const file = join(dir, "config.yaml");
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, JSON.stringify({ ovs: { sdeInstall: null }, kubernetes: { toolPath: [] } }));
    const cfg = loadConfig(file);
    const fs = new HostFs("/");
    const ctx = {
      fs,
      cfg,
      env: {},
      tools: new ExternalTools({ path: [], env: {}, timeoutMs: 1000 }),
      mounts: new Mounts(fs),
    };
    const check = CHECKS.find((c) => c.id === "cni-host-paths");
    assert.match((await check?.run(ctx))?.observed ?? "", /\/run\/netns is a mount point but not shared/);
    // Planning only reads; of the plan only the mount commands are applied here (creating the
    // directories would write the host's /etc and /var).
    const planned = (await check?.plan?.(ctx)) ?? [];
    const mounts = planned.filter((p) => p.change.command?.startsWith("mount "));
    assert.deepEqual(
      mounts.map((p) => p.change),
      [{ command: "mount --make-shared /run/netns", action: "run" }],
    );
    for (const p of mounts) await p.apply();
    const after = netns();
    assert.ok(after && isShared(after), "shared: in /proc/self/mountinfo");
    assert.doesNotMatch((await check?.run(ctx))?.observed ?? "", /netns/);
  });

  test("a directory that is not a mount point is bound onto itself, then made shared", { skip }, async () => {
    const dir = join(scratch, "not-a-mount");
    mkdirSync(dir, { recursive: true });
    const mounts = new Mounts(new HostFs("/"));
    assert.equal(mountAt(mounts.list(), dir), null);
    await mounts.bindSelf(dir);
    try {
      await mounts.makeShared(dir);
      const m = mountAt(mounts.list(), dir);
      assert.ok(m && isShared(m), readFileSync("/proc/self/mountinfo", "utf8"));
    } finally {
      must(["umount", dir]);
    }
  });
});

describe("preflight containerd: CRI disabled", () => {
  test("containerd.io's stock config: CRI disabled is a failure; the fix drops it from disabled_plugins, adds SystemdCgroup, says containerd must be restarted", async () => {
    const { root, pf, tools } = setup();
    tools.add("systemctl");
    put(root, "/etc/containerd/config.toml", STOCK_CONTAINERD);
    const r = byId(await pf.run(), "containerd");
    assert.equal(r.status, "fail");
    assert.equal(
      r.observed,
      'CRI disabled: disabled_plugins lists "cri"; plugins.cri.containerd.runtimes.runc.options.SystemdCgroup = (not set)',
    );
    const fix = await pf.fix(false);
    const mine = fix.fixes.find((f) => f.id === "containerd");
    assert.equal(mine?.error, null);
    assert.equal(
      mine?.restart,
      "containerd is running: restart it (systemctl restart containerd) for the change to take effect",
    );
    assert.deepEqual(tools.calls(), ["systemctl is-active --quiet containerd"]);
    // Plain objects (smol-toml's tables have no prototype).
    const after = JSON.parse(JSON.stringify(parseToml(read(root, "etc/containerd/config.toml"))));
    assert.deepEqual(after, {
      disabled_plugins: [],
      plugins: { cri: { containerd: { runtimes: { runc: { options: { SystemdCgroup: true } } } } } },
    });
    assert.equal(read(root, `etc/containerd/config.toml${BACKUP_SUFFIX}`), STOCK_CONTAINERD);
    assert.equal(byId(fix.checks, "containerd").status, "pass");
    assert.deepEqual((await pf.fix(false)).fixes, []);
  });

  test("a version 2 config with the grpc id among other disabled plugins: only CRI is re-enabled; containerd not running is said", async () => {
    const { root, pf, tools } = setup();
    tools.add("systemctl", "exit 3");
    const text = `version = 2
disabled_plugins = ["io.containerd.internal.v1.restart", "io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs"]
oom_score = -999

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
`;
    put(root, "/etc/containerd/config.toml", text);
    assert.equal(
      byId(await pf.run(), "containerd").observed,
      'CRI disabled: disabled_plugins lists "io.containerd.grpc.v1.cri"; plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options.SystemdCgroup = true',
    );
    const fix = await pf.fix(false);
    assert.equal(
      fix.fixes.find((f) => f.id === "containerd")?.restart,
      "containerd is not running: it reads the change when it starts",
    );
    const want = parseToml(text) as Record<string, unknown>;
    want.disabled_plugins = ["io.containerd.internal.v1.restart", "io.containerd.snapshotter.v1.btrfs"];
    assert.deepEqual(parseToml(read(root, "etc/containerd/config.toml")), want);
  });
});

describe("preflight proxy: both drop-in directories, daemon-reload", () => {
  const PROXY = '[Service]\nEnvironment="HTTP_PROXY=http://proxy.example:3128" "NO_PROXY=localhost"\n';

  test("the guide's drop-in in /usr/lib/systemd/system is read; the fix writes ours, reloads systemd and says containerd must be restarted", async () => {
    const { root, pf, tools } = setup();
    tools.add("systemctl");
    put(root, "/usr/lib/systemd/system/containerd.service.d/http-proxy.conf", PROXY);
    const r = byId(await pf.run(), "proxy");
    assert.equal(r.status, "fail");
    assert.match(
      r.observed,
      /^containerd drop-ins: NO_PROXY lacks 127\.0\.0\.1, 0\.0\.0\.0, 10\.244\.0\.0\/16/,
    );
    const dry = await pf.fix(true);
    const planned = dry.fixes.find((f) => f.id === "proxy");
    assert.deepEqual(
      planned?.changes.map((c) => [c.file ?? c.command, c.action]),
      [
        ["/etc/systemd/system/containerd.service.d/zz-k8s-offloadd-no-proxy.conf", "create"],
        ["systemctl daemon-reload", "run"],
      ],
    );
    assert.deepEqual(
      tools.calls(),
      ["systemctl is-active --quiet containerd"],
      "the dry run reloads nothing",
    );
    tools.clearCalls();
    const fix = await pf.fix(false);
    assert.deepEqual(fix.fixes, dry.fixes);
    assert.equal(
      fix.fixes.find((f) => f.id === "proxy")?.restart,
      "containerd is running: restart it (systemctl restart containerd) for the change to take effect",
    );
    assert.deepEqual(tools.calls(), ["systemctl daemon-reload", "systemctl is-active --quiet containerd"]);
    assert.equal(byId(fix.checks, "proxy").status, "pass");
    assert.match(
      read(root, "etc/systemd/system/containerd.service.d/zz-k8s-offloadd-no-proxy.conf"),
      /^Environment="NO_PROXY=localhost,127\.0\.0\.1,0\.0\.0\.0,10\.244\.0\.0\/16,10\.96\.0\.0\/12"/m,
    );
  });

  test("a drop-in of the same name in /etc hides the one in /usr/lib, as systemd does", async () => {
    const { root, pf } = setup();
    put(root, "/usr/lib/systemd/system/containerd.service.d/http-proxy.conf", PROXY);
    put(root, "/etc/systemd/system/containerd.service.d/http-proxy.conf", "[Service]\n");
    assert.deepEqual(
      [byId(await pf.run(), "proxy").status, byId(await pf.run(), "proxy").observed],
      ["pass", "no proxy set"],
    );
  });

  test("a failed daemon-reload stops the fix and is named", async () => {
    const { root, pf, tools } = setup();
    tools.add(
      "systemctl",
      '[ "$1" = daemon-reload ] && { echo "Failed to connect to bus" >&2; exit 1; }; exit 0',
    );
    put(root, "/etc/systemd/system/containerd.service.d/http-proxy.conf", PROXY);
    const fix = await pf.fix(false);
    const p = fix.fixes.find((f) => f.id === "proxy");
    assert.match(p?.error ?? "", /systemctl daemon-reload.*Failed to connect to bus/);
    assert.equal(p?.changes.length, 1, "the drop-in was written, the reload failed");
    assert.equal(byId(fix.checks, "proxy").status, "fail");
  });
});
