/**
 * Config sections every test daemon shares, wherever it runs (the namespace harness or a system-test
 * container): Debian's openvswitch-switch binaries with the given data directories, and supervisor
 * timings short enough for tests.
 */

/** Debian's Open vSwitch run by hand, its db, run and log directories where the caller says. */
export function debianOvs(dirs: { install: string; dbFile: string; runDir: string; logDir: string }) {
  return {
    install: dirs.install,
    sdeInstall: null,
    ovsdbServer: "/usr/sbin/ovsdb-server",
    ovsVswitchd: "/usr/sbin/ovs-vswitchd",
    ovsVsctl: "/usr/bin/ovs-vsctl",
    ovsdbTool: "/usr/bin/ovsdb-tool",
    ovsAppctl: "/usr/bin/ovs-appctl",
    schema: "/usr/share/openvswitch/vswitch.ovsschema",
    dbFile: dirs.dbFile,
    runDir: dirs.runDir,
    logDir: dirs.logDir,
    vswitchdExtraArgs: [],
    vsctlTimeoutSec: 5,
  };
}

/** Fast backoff and short timeouts: failures show within a test's patience. */
export const testSupervisor = {
  backoffInitialMs: 100,
  backoffMaxMs: 2000,
  stableAfterMs: 10000,
  giveUpExits: 5,
  giveUpWindowMs: 60000,
  readyTimeoutMs: 15000,
  stopTimeoutMs: 3000,
  pollIntervalMs: 100,
};
