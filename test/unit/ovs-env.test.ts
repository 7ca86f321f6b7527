/**
 * The OVS children's environment as p4ovs_env_setup.sh <SDE_INSTALL> [P4OVS_DEPS_INSTALL] builds it
 * (ipdk-io/ovs v22.07): the expected lists are written out here from the script, line by line.
 * The real processes' environment is checked in test/integration/ovs-node.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { OvsConfig } from "../../daemon/config/types";
import { ovsEnv } from "../../daemon/host/ovs";

const base: OvsConfig = {
  install: "/usr/local",
  sdeInstall: null,
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
  vswitchdExtraArgs: [],
  vsctlTimeoutSec: 10,
  dpdk: null,
};

describe("ovsEnv: p4ovs_env_setup.sh's environment", () => {
  test("SDE only, nothing inherited: the SDE's lib dirs then /usr/local's, no empty entry (the loader's current directory)", () => {
    const env = ovsEnv({ ...base, sdeInstall: "/opt/sde" }, { PATH: "/usr/bin:/bin" });
    assert.equal(
      env.LD_LIBRARY_PATH,
      "/opt/sde/lib:/opt/sde/lib64:/opt/sde/lib/x86_64-linux-gnu:/usr/local/lib:/usr/local/lib64",
    );
    assert.equal(env.SDE_INSTALL, "/opt/sde");
    assert.equal(env.PATH, "/usr/bin:/bin", "PATH changes only with a dependency dir");
    assert.equal(env.P4OVS_DEPS_INSTALL, undefined);
  });

  test("SDE and deps: deps' lib, lib64 first, then inherited, then the SDE's; deps' bin, sbin first on PATH", () => {
    const env = ovsEnv(
      { ...base, sdeInstall: "/opt/sde", depsInstall: "/opt/deps" },
      { PATH: "/usr/bin", LD_LIBRARY_PATH: "/x/lib" },
    );
    assert.equal(
      env.LD_LIBRARY_PATH,
      "/opt/deps/lib:/opt/deps/lib64:/x/lib:/opt/sde/lib:/opt/sde/lib64:/opt/sde/lib/x86_64-linux-gnu:/usr/local/lib:/usr/local/lib64",
    );
    assert.equal(env.PATH, "/opt/deps/bin:/opt/deps/sbin:/usr/bin");
    assert.equal(env.P4OVS_DEPS_INSTALL, "/opt/deps");
  });

  test("neither: the inherited library path untouched; OVS_* point at the configured dirs", () => {
    assert.equal(ovsEnv(base, {}).LD_LIBRARY_PATH, undefined);
    const env = ovsEnv(base, { LD_LIBRARY_PATH: "/x/lib" });
    assert.equal(env.LD_LIBRARY_PATH, "/x/lib");
    assert.deepEqual(
      [env.OVS_RUNDIR, env.OVS_DBDIR, env.OVS_LOGDIR, env.OVS_INSTALL],
      [
        "/usr/local/var/run/openvswitch",
        "/usr/local/etc/openvswitch",
        "/usr/local/var/log/openvswitch",
        "/usr/local",
      ],
    );
  });
});
