/**
 * The config loader: shipped profiles, defaults, derived and relative paths, and error messages that
 * name the key, its line and what is allowed. Files are written into a temp dir per test run.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ConfigError, defaultConfigPath, loadConfig } from "../../daemon/config/load";
import type { Config } from "../../daemon/config/types";

/** The repo root, found from the compiled test wherever it was built to. */
function repoRoot(): string {
  for (let dir = __dirname; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, "profiles/p4-ovs.yaml"))) return dir;
  }
  throw new Error(`no profiles/p4-ovs.yaml above ${__dirname}`);
}

let tmp: string;
let seq = 0;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), "offloadd-config-"));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes text to a fresh file under the temp dir and returns its path. */
function write(text: string, name = `config-${++seq}.yaml`): string {
  const file = join(tmp, name);
  writeFileSync(file, text);
  return file;
}

/** Loads text expecting a ConfigError and returns its message. */
function failure(text: string): string {
  const file = write(text);
  try {
    loadConfig(file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${err}`);
    assert.ok(err.message.startsWith(`config ${file}: `), err.message);
    return err.message;
  }
  assert.fail(`loaded without error:\n${text}`);
}

/** Every string leaf that is a path, with its key path. */
function pathsOf(cfg: Config): [string, string | null][] {
  const { ovs } = cfg;
  return [
    ["stateDir", cfg.stateDir],
    ["runDir", cfg.runDir],
    ["logDir", cfg.logDir],
    ...(
      [
        "install",
        "sdeInstall",
        "ovsdbServer",
        "ovsVswitchd",
        "ovsVsctl",
        "ovsdbTool",
        "ovsAppctl",
        "schema",
        "dbFile",
        "runDir",
        "logDir",
      ] as const
    ).map((k): [string, string | null] => [`ovs.${k}`, ovs[k]]),
  ];
}

const DEFAULTS: Config = {
  profile: "p4-ovs",
  api: {
    host: "127.0.0.1",
    port: 9300,
    tokenFile: "/var/lib/k8s-offloadd/token",
    socket: true,
    rateLimit: 120,
  },
  stateDir: "/var/lib/k8s-offloadd",
  runDir: "/run/k8s-offloadd",
  logDir: "/var/log/k8s-offloadd",
  logs: { maxBytes: 10485760, keep: 3 },
  datapath: { stopOnExit: false, netns: null },
  ovs: {
    install: "/usr/local",
    sdeInstall: "/opt/p4/p4sde/install",
    depsInstall: null,
    recreateDb: false,
    takeOver: false,
    ovsdbServer: "/usr/local/sbin/ovsdb-server",
    ovsVswitchd: "/usr/local/sbin/ovs-vswitchd",
    ovsVsctl: "/usr/local/bin/ovs-vsctl",
    ovsdbTool: "/usr/local/bin/ovsdb-tool",
    ovsAppctl: "/usr/local/bin/ovs-appctl",
    schema: "/usr/local/share/openvswitch/vswitch.ovsschema",
    dbFile: "/usr/local/etc/openvswitch/conf.db",
    runDir: "/usr/local/var/run/openvswitch",
    logDir: "/usr/local/var/log/openvswitch",
    vswitchdExtraArgs: ["--mlockall"],
    vsctlTimeoutSec: 10,
    dpdk: null,
  },
  taps: {
    count: 8,
    prefix: "P4TAP_",
    max: 32,
    backend: "gnmi",
    dpdk: { bridge: "br0", rxQueues: 2, descriptors: 256 },
    group: 4242,
    mtu: 1500,
    pipelineName: "pipe",
    mempoolName: "MEMPOOL0",
    setBatch: 64,
    lowWatermark: 2,
  },
  target: {
    gnmi: "127.0.0.1:9339",
    p4runtime: "127.0.0.1:9559",
    simulator: false,
    chassisConfig: "/usr/share/stratum/dpdk_port_config.pb.txt",
  },
  hostInterface: { name: "TAP_0", address: "169.254.1.1/32" },
  arpProxy: { mode: "binary", binary: "/usr/local/bin/arp_proxy" },
  pipeline: {
    deviceId: 1,
    artifacts: null,
    load: false,
    loader: ["ovs-p4ctl", "set-pipe", "br0", "{pbBin}", "{p4info}"],
  },
  supervisor: {
    backoffInitialMs: 100,
    backoffMaxMs: 30000,
    stableAfterMs: 10000,
    giveUpExits: 5,
    giveUpWindowMs: 60000,
    readyTimeoutMs: 30000,
    stopTimeoutMs: 5000,
    pollIntervalMs: 200,
    healthIntervalMs: 2000,
    retryFailedAfterMs: 300000,
  },
  host: {
    root: "/",
    nodeIP: null,
    podCIDR: "10.244.0.0/16",
    serviceCIDR: "10.96.0.0/12",
    hugepages: { pages: 1024, pageSizeKB: 2048, mountPoint: "/mnt/huge" },
    preflight: { disabled: [] },
  },
  kubernetes: {
    singleNode: false,
    manifests: [],
    kubeconfig: "/etc/kubernetes/admin.conf",
    toolPath: null,
    commandTimeoutSec: 300,
    readyTimeoutSec: 600,
    calicoBgp: true,
    kubeadmInitArgs: [],
    kubeconfigUser: "root",
    nodeName: null,
    deploy: null,
    healAfterTargetRestart: "report",
  },
};

describe("loading", () => {
  test("the default path is /etc/k8s-offloadd/config.yaml", () => {
    assert.equal(defaultConfigPath, "/etc/k8s-offloadd/config.yaml");
  });

  test("an empty file gives the production defaults", () => {
    assert.deepEqual(loadConfig(write("")), DEFAULTS);
    assert.deepEqual(loadConfig(write("# only a comment\n")), DEFAULTS);
  });

  test("profiles/p4-ovs.yaml spells out exactly the defaults", () => {
    const cfg = loadConfig(join(repoRoot(), "profiles/p4-ovs.yaml"));
    assert.deepEqual(cfg, DEFAULTS);
    for (const [key, p] of pathsOf(cfg)) assert.ok(p && isAbsolute(p), `${key}: ${p}`);
  });

  test("profiles/sandbox.yaml: everything under <repo>/.sandbox, Debian's OVS binaries", () => {
    const root = repoRoot();
    const sandbox = join(root, ".sandbox");
    const cfg = loadConfig(join(root, "profiles/sandbox.yaml"));
    for (const [key, p] of pathsOf(cfg)) {
      if (key === "ovs.sdeInstall") assert.equal(p, null);
      else assert.ok(p && isAbsolute(p), `${key}: ${p}`);
    }
    assert.equal(cfg.profile, "sandbox");
    assert.deepEqual(cfg.api, {
      host: "127.0.0.1",
      port: 9300,
      tokenFile: join(sandbox, "token"),
      socket: true,
      rateLimit: 120,
    });
    assert.equal(cfg.stateDir, join(sandbox, "state"));
    assert.equal(cfg.runDir, join(sandbox, "run"));
    assert.equal(cfg.logDir, join(sandbox, "log"));
    assert.deepEqual(cfg.datapath, { stopOnExit: true, netns: "k8s-offloadd-sandbox" });
    assert.deepEqual(cfg.ovs, {
      install: join(sandbox, "ovs"),
      sdeInstall: null,
      depsInstall: null,
      recreateDb: false,
      takeOver: false,
      ovsdbServer: "/usr/sbin/ovsdb-server",
      ovsVswitchd: "/usr/sbin/ovs-vswitchd",
      ovsVsctl: "/usr/bin/ovs-vsctl",
      ovsdbTool: "/usr/bin/ovsdb-tool",
      ovsAppctl: "/usr/bin/ovs-appctl",
      schema: "/usr/share/openvswitch/vswitch.ovsschema",
      dbFile: join(sandbox, "ovs/conf.db"),
      runDir: join(sandbox, "ovs/run"),
      logDir: join(sandbox, "ovs/log"),
      vswitchdExtraArgs: [],
      vsctlTimeoutSec: 10,
      dpdk: null,
    });
    assert.deepEqual(cfg.taps, DEFAULTS.taps);
    assert.deepEqual(cfg.supervisor, { ...DEFAULTS.supervisor, readyTimeoutMs: 20000 });
    assert.equal(cfg.host.root, join(sandbox, "hostroot"));
    assert.deepEqual(cfg.host.hugepages, DEFAULTS.host.hugepages);
    assert.ok(cfg.host.preflight.disabled.includes("containerd"));
  });

  test("OVS paths not given are derived from ovs.install the way the P4-OVS guide lays them out", () => {
    const cfg = loadConfig(write("ovs:\n  install: /opt/ovs\n  ovsVsctl: /usr/bin/ovs-vsctl\n"));
    assert.deepEqual(cfg.ovs, {
      ...DEFAULTS.ovs,
      install: "/opt/ovs",
      ovsdbServer: "/opt/ovs/sbin/ovsdb-server",
      ovsVswitchd: "/opt/ovs/sbin/ovs-vswitchd",
      ovsVsctl: "/usr/bin/ovs-vsctl",
      ovsdbTool: "/opt/ovs/bin/ovsdb-tool",
      ovsAppctl: "/opt/ovs/bin/ovs-appctl",
      schema: "/opt/ovs/share/openvswitch/vswitch.ovsschema",
      dbFile: "/opt/ovs/etc/openvswitch/conf.db",
      runDir: "/opt/ovs/var/run/openvswitch",
      logDir: "/opt/ovs/var/log/openvswitch",
    });
  });

  test("relative paths are resolved against the config file's directory, not the cwd", () => {
    const text = [
      "stateDir: ../state",
      "runDir: run",
      "logDir: ./log",
      "ovs:",
      "  install: ovs",
      "  sdeInstall: ../sde",
      "  dbFile: db/conf.db",
      "",
    ].join("\n");
    const cfg = loadConfig(write(text));
    const up = dirname(tmp);
    assert.equal(cfg.stateDir, join(up, "state"));
    assert.equal(cfg.runDir, join(tmp, "run"));
    assert.equal(cfg.logDir, join(tmp, "log"));
    assert.equal(cfg.ovs.install, join(tmp, "ovs"));
    assert.equal(cfg.ovs.sdeInstall, join(up, "sde"));
    assert.equal(cfg.ovs.dbFile, join(tmp, "db/conf.db"));
    assert.equal(cfg.ovs.ovsdbServer, join(tmp, "ovs/sbin/ovsdb-server"));
  });

  test("taps: count up to max, any valid prefix and netns", () => {
    const cfg = loadConfig(
      write("taps:\n  count: 4096\n  max: 4096\n  prefix: tap\ndatapath:\n  netns: ns-1.a_b\n"),
    );
    assert.deepEqual(
      { count: cfg.taps.count, prefix: cfg.taps.prefix, max: cfg.taps.max },
      { count: 4096, prefix: "tap", max: 4096 },
    );
    assert.equal(cfg.datapath.netns, "ns-1.a_b");
  });
});

/** With the default taps.max (32, the stock chassis config's pool ports). */
const COUNT_ALLOWED = "allowed: a power of 2 greater than 4 and at most taps.max (8, 16, 32)";
const COUNT_ALLOWED_1024 = "allowed: a power of 2 greater than 4 and at most taps.max (8, 16, 32, ... 1024)";

describe("errors name the key, its line:column and what is allowed", () => {
  test("unknown top-level key", () => {
    const msg = failure("profile: x\ntapz:\n  count: 8\n");
    assert.match(
      msg,
      /: unknown key "tapz" \(line 2:1\); allowed keys here: profile, api, stateDir, runDir,/,
    );
    assert.match(
      msg,
      /datapath, ovs, taps, target, hostInterface, pipeline, arpProxy, supervisor, host, kubernetes$/,
    );
  });

  test("logs.maxBytes and logs.keep out of range say what is allowed", () => {
    assert.match(
      failure("logs:\n  maxBytes: 100\n"),
      /logs\.maxBytes \(line 2:13\) is 100; allowed: size in bytes at which a child's log file in logDir is rotated: an integer from 4096 to 1073741824/,
    );
    assert.match(
      failure("logs:\n  keep: -1\n"),
      /logs\.keep \(line 2:9\) is -1; allowed: .*an integer from 0 to 100/,
    );
  });

  test("unknown nested key", () => {
    const msg = failure("taps:\n  count: 8\n  cuont: 16\n");
    assert.match(
      msg,
      /: unknown key "taps\.cuont" \(line 3:3\); allowed keys here: count, prefix, max, backend, dpdk, group, mtu, pipelineName, mempoolName, setBatch, lowWatermark$/,
    );
  });

  test("wrong type names the expected type", () => {
    const msg = failure('api:\n  port: "abc"\n');
    assert.match(
      msg,
      /: api\.port \(line 2:9\) is a string \("abc"\), expected an integer; allowed: an integer from 1 to 65535$/,
    );
    assert.match(failure("api: 9300\n"), /: api \(line 1:6\) is an integer \(9300\), expected a mapping;/);
    assert.match(failure("- a\n"), /the top level \(line 1:1\) is a list, expected a mapping/);
    assert.match(
      failure("ovs:\n  vswitchdExtraArgs: [--mlockall, 3]\n"),
      /ovs\.vswitchdExtraArgs\[1\] \(line 2:35\) is an integer \(3\), expected a string/,
    );
    assert.match(
      failure("api:\n  port: 0\n"),
      /api\.port \(line 2:9\) is 0; allowed: an integer from 1 to 65535/,
    );
  });

  for (const n of [12, 4, 3, 1, 0]) {
    test(`taps.count ${n} is not a power of 2 greater than 4`, () => {
      const msg = failure(`# comment\ntaps:\n  count: ${n}\n`);
      assert.ok(msg.endsWith(`: taps.count (line 3:10) is ${n}; ${COUNT_ALLOWED}`), msg);
    });
  }

  test("taps.count 2048 is above taps.max 1024", () => {
    const msg = failure("taps:\n  max: 1024\n  count: 2048\n");
    assert.ok(msg.endsWith(`: taps.count (line 3:10) is 2048; ${COUNT_ALLOWED_1024}`), msg);
    assert.match(failure("taps:\n  count: 32\n  max: 16\n"), /is 32; .* at most taps\.max \(8, 16\)$/);
  });

  test("taps.backend dpdk needs ovs.dpdk; ovs.dpdk values are checked", () => {
    assert.match(
      failure("taps:\n  backend: dpdk\n"),
      /taps\.backend \(line 2:12\) is "dpdk"; allowed: gnmi or kernel while ovs\.dpdk is null; dpdk needs ovs\.dpdk set/,
    );
    assert.match(
      failure('ovs:\n  dpdk:\n    socketMem: "1 GB"\n'),
      /ovs\.dpdk\.socketMem \(line 3:16\) is "1 GB"; allowed: dpdk-socket-mem: megabytes of huge pages per NUMA node/,
    );
    assert.match(
      failure('ovs:\n  dpdk:\n    extra: ["--no-pci --log-level=8"]\n'),
      /ovs\.dpdk\.extra\[0\] .* allowed: one EAL argument without spaces/,
    );
    assert.match(failure("taps:\n  dpdk:\n    descriptors: 300\n"), /a power of 2 from 64 to 4096/);
  });

  test("profiles/sandbox-dpdk.yaml: DPDK's vswitchd, the dpdk backend, the real host's huge pages", () => {
    const cfg = loadConfig(join(repoRoot(), "profiles/sandbox-dpdk.yaml"));
    assert.equal(cfg.ovs.ovsVswitchd, "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk");
    assert.deepEqual(cfg.ovs.dpdk, { socketMem: "1024", extra: ["--no-pci"], perPortMemory: true });
    assert.equal(cfg.taps.backend, "dpdk");
    assert.deepEqual(cfg.taps.dpdk, { bridge: "br0", rxQueues: 2, descriptors: 256 });
    assert.equal(cfg.host.root, "/");
    assert.equal(cfg.host.hugepages.pages * cfg.host.hugepages.pageSizeKB, 1024 * 1024, "covers socketMem");
    assert.equal(cfg.target.simulator, false);
  });

  test("taps.max must be a power of 2", () => {
    assert.match(
      failure("taps:\n  max: 1000\n"),
      /taps\.max \(line 2:8\) is 1000; allowed: a power of 2 from 8 to 65536/,
    );
  });

  test("taps.prefix with a slash", () => {
    const msg = failure("taps:\n  prefix: P4/TAP\n");
    assert.match(msg, /: taps\.prefix \(line 2:11\) is "P4\/TAP"; allowed: 1 to 10 characters matching/);
    assert.ok(msg.includes("^[A-Za-z][A-Za-z0-9_]{0,9}$"), msg);
  });

  test("datapath.netns with a space", () => {
    const msg = failure("datapath:\n  stopOnExit: true\n  netns: my ns\n");
    assert.ok(
      msg.endsWith(
        ': datapath.netns (line 3:10) is "my ns"; allowed: null (the host\'s namespace) or a name matching ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$',
      ),
      msg,
    );
  });

  test("YAML syntax error: its line and the parser's message", () => {
    const msg = failure("api:\n  port: 9300\ntaps: [8, 16\n");
    assert.match(msg, /: YAML syntax error \(line \d+:\d+\): \S/);
    assert.match(
      failure("api:\n  port: 1\n  port: 2\n"),
      /YAML syntax error \(line 3:3\): Map keys must be unique/,
    );
  });

  test("missing file", () => {
    const file = join(tmp, "nope.yaml");
    assert.throws(
      () => loadConfig(file),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message ===
          `config ${file}: no such file; pass --config PATH (profiles/p4-ovs.yaml documents every key)`,
    );
  });

  test("all problems are reported, one per line, in file order", () => {
    const text = [
      "api:",
      '  port: "abc"', // 2
      "bogus: 1", // 3
      "taps:",
      "  count: 12", // 5
      "  prefix: a b", // 6
      "supervisor:",
      "  giveUpExits: 0", // 8
      "  stopTimeoutMs: 1.5", // 9
      "",
    ].join("\n");
    const lines = failure(text).split("\n");
    assert.equal(lines.length, 6, lines.join("\n"));
    const expected = [
      /api\.port \(line 2:9\) is a string/,
      /unknown key "bogus" \(line 3:1\)/,
      /taps\.count \(line 5:10\) is 12;/,
      /taps\.prefix \(line 6:11\) is "a b";/,
      /supervisor\.giveUpExits \(line 8:16\) is 0; allowed: a positive integer$/,
      /supervisor\.stopTimeoutMs \(line 9:18\) is a number \(1\.5\), expected an integer;/,
    ];
    for (const [i, re] of expected.entries()) assert.match(lines[i] ?? "", re);
  });
});

test("loading never creates or changes files", () => {
  const dir = mkdtempSync(join(tmp, "ro-"));
  const good = join(dir, "good.yaml");
  const bad = join(dir, "bad.yaml");
  writeFileSync(good, "stateDir: state\nrunDir: run\nlogDir: log\novs:\n  install: ovs\n");
  writeFileSync(bad, "stateDir: state\ntaps:\n  count: 3\n");
  const before = readdirSync(dir, { recursive: true }).sort();
  loadConfig(good);
  assert.throws(() => loadConfig(bad), ConfigError);
  assert.throws(() => loadConfig(join(dir, "missing.yaml")), ConfigError);
  assert.deepEqual(readdirSync(dir, { recursive: true }).sort(), before);
});
