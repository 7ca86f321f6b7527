/**
 * The RPM under a real systemd (systemd-nspawn, test/system/container.ts; the rootfs has Debian's
 * rpm): the package built by scripts/package-rpm.sh is installed with rpm inside the container,
 * so its scriptlets talk to the container's systemd.
 *
 * - the container has no Node.js at all (the host's node is not bound in): the package brings its runtime;
 * - `rpm -i`, then `systemctl start k8s-offloadd` with a test config returns once READY=1 came;
 * - `rpm -U` to a newer build restarts the daemon (%postun: try-restart) but neither kubelet nor
 *   the datapath children, which the new daemon adopts;
 * - `rpm -e` stops and disables it and leaves the datapath as the config says: running with
 *   datapath.stopOnExit: false (production), stopped with true.
 */
import assert from "node:assert/strict";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NodeStatus } from "../../daemon/engine/component";
import { DAEMON_NODE_OPTIONS } from "../../scripts/daemon-node-options";
import { makeHostRoot } from "../helpers/hostroot";
import { type Builds, buildTwoReleases, pkgVersion } from "../packaging/rpm-build";
import { Container, PROJECT_DIR } from "./container";
import { API_PORT, systemConfig } from "./offloadd";

const D = "k8s-offloadd.service";
const K = "kubelet.service";
const HOST_ROOT = "/var/lib/k8s-offloadd-rpm-test/hostroot";
const STARTS = "/var/lib/kubelet-standin/starts";
const RPM = ["rpm", "--force-debian", "--dbpath", "/var/lib/rpm"];

/** A kubelet stand-in that records each start and idles (the RPM's drop-in orders it after the daemon). */
const KUBELET_STANDIN = `#!/bin/sh
mkdir -p /var/lib/kubelet-standin
echo "$$ $(systemctl is-active ${D})" >>${STARTS}
exec sleep infinity
`;
const KUBELET_UNIT = `[Unit]
Description=kubelet stand-in (test/system/rpm-systemd)

[Service]
ExecStart=/usr/local/bin/kubelet-standin
Restart=always
RestartSec=10
`;

describe("the RPM under systemd: install, start, upgrade, erase", { timeout: 900_000 }, () => {
  let b: Builds;
  let c: Container;
  const datapath = () => ({ ovsdb: c.pids("ovsdb-server"), vswitchd: c.pids("ovs-vswitchd") });
  const kubeletStarts = () => (c.read(STARTS) ?? "").split("\n").filter(Boolean);
  /** Copies a built rpm into the container and runs rpm with it there. */
  const rpmInContainer = (args: string[], file?: string) => {
    if (file) copyFileSync(file, join(c.root, "root", file.split("/").pop() as string));
    const argv = [...RPM, ...args, ...(file ? [`/root/${file.split("/").pop()}`] : [])];
    return c.exec(argv, 300_000);
  };

  before(async () => {
    b = buildTwoReleases();
    c = Container.create({ hostNode: false });
    c.put("/etc/systemd/system/kubelet.service", KUBELET_UNIT);
    c.put("/usr/local/bin/kubelet-standin", KUBELET_STANDIN, 0o755);
    makeHostRoot(join(c.root, HOST_ROOT));
    await c.boot();
    // The harness binds the repository at /usr/lib/k8s-offloadd for its own tests: here the RPM
    // provides that directory, so the bind goes.
    c.run(["umount", PROJECT_DIR]);
    assert.equal(c.exec(["ls", "-A", PROJECT_DIR]).stdout, "", `${PROJECT_DIR} empty before the install`);
    for (const node of ["/usr/bin/node", "/usr/local/bin/node", "/bin/node"]) {
      assert.notEqual(c.exec(["test", "-e", node]).status, 0, `no ${node} in the container`);
    }
  });
  after(async () => {
    await c?.cleanup();
    if (b) rmSync(b.scratch, { recursive: true, force: true });
  });

  test("rpm -i: scriptlets run against the running systemd; the units are loaded", () => {
    const r = rpmInContainer(["-i", "--nodeps"], b.rpm1);
    assert.equal(r.status, 0, `${r.stderr}${r.stdout}`);
    assert.doesNotMatch(`${r.stderr}${r.stdout}`, /scriptlet failed|error/i);
    assert.equal(c.run([...RPM, "-q", "k8s-offloadd"]).trim(), `k8s-offloadd-${pkgVersion}-1.x86_64`);
    // %post: systemd-tmpfiles made the run dir; daemon-reload made kubelet see the drop-in.
    assert.equal(c.run(["stat", "-c", "%a", "/run/k8s-offloadd"]).trim(), "700");
    const k = c.show(K, "DropInPaths", "Wants", "After");
    assert.match(
      k.DropInPaths ?? "",
      /\/usr\/lib\/systemd\/system\/kubelet\.service\.d\/10-k8s-offloadd\.conf/,
    );
    assert.match(k.Wants ?? "", new RegExp(D));
    assert.match(k.After ?? "", new RegExp(D));
    // Debian's systemd names /usr/lib/systemd/system by its /lib alias (a symlink to usr/lib).
    const unit = c.show(D, "LoadState", "FragmentPath");
    assert.equal(unit.LoadState, "loaded");
    assert.match(unit.FragmentPath ?? "", /^(\/usr)?\/lib\/systemd\/system\/k8s-offloadd\.service$/);
    // Not started by the package: that is the admin's `systemctl enable --now`.
    assert.equal(c.show(D, "ActiveState").ActiveState, "inactive");
  });

  test("systemctl start k8s-offloadd with a test config: active after READY=1; kubelet follows", async () => {
    c.put("/etc/k8s-offloadd/config.yaml", systemConfig({ host: { root: HOST_ROOT } }), 0o600);
    const r = c.systemctl("start", D);
    assert.equal(r.status, 0, `${r.stderr}\n${c.diagnostics()}`);
    const d = c.show(D, "ActiveState", "StatusText", "ActiveEnterTimestampMonotonic", "ExecMainPID");
    assert.equal(d.ActiveState, "active");
    // Type=notify: active means systemd got READY=1, which the daemon sends only when ready.
    assert.match(d.StatusText ?? "", /^ready: /);
    const status = c.api("/v1/status", API_PORT) as NodeStatus;
    assert.ok(
      status.components.every((x) => x.state === "ready"),
      JSON.stringify(status.components),
    );
    // The packaged wrapper runs the packaged bundle with the packaged runtime and the daemon's options.
    assert.equal(
      c
        .run(["cat", `/proc/${d.ExecMainPID}/cmdline`])
        .split("\0")
        .slice(0, 2 + DAEMON_NODE_OPTIONS.length)
        .join(" "),
      [`${PROJECT_DIR}/node`, ...DAEMON_NODE_OPTIONS, `${PROJECT_DIR}/k8s-offloadd.js`].join(" "),
    );

    const k = c.systemctl("start", K);
    assert.equal(k.status, 0, `${k.stderr}\n${c.diagnostics()}`);
    assert.equal(c.show(K, "ActiveState").ActiveState, "active");
    assert.equal(kubeletStarts().length, 1);
    assert.equal(datapath().ovsdb.length, 1);
    assert.equal(datapath().vswitchd.length, 1);
  });

  test("rpm -U to a newer build restarts the daemon, not kubelet or the datapath children", () => {
    const d0 = c.show(D, "MainPID");
    const k0 = c.show(K, "ExecMainPID", "InactiveExitTimestampMonotonic");
    const dp0 = datapath();

    // The old package's %postun runs `systemctl try-restart`, which returns once the new daemon is ready.
    const r = rpmInContainer(["-U", "--nodeps"], b.rpm2);
    assert.equal(r.status, 0, `${r.stderr}${r.stdout}\n${c.diagnostics()}`);
    assert.doesNotMatch(`${r.stderr}${r.stdout}`, /scriptlet failed|error/i);
    assert.equal(c.run([...RPM, "-q", "k8s-offloadd"]).trim(), `k8s-offloadd-${pkgVersion}-2.x86_64`);
    // The test config was edited (it is not the package's): kept, the new default beside it.
    assert.match(c.read("/etc/k8s-offloadd/config.yaml") ?? "", /profile: system-test/);
    assert.ok(c.read("/etc/k8s-offloadd/config.yaml.rpmnew") !== null);

    const d1 = c.show(D, "MainPID", "ActiveState", "StatusText");
    assert.equal(d1.ActiveState, "active");
    assert.notEqual(d1.MainPID, d0.MainPID, "the daemon was restarted");
    assert.match(d1.StatusText ?? "", /^ready: /);
    assert.deepEqual(c.show(K, "ExecMainPID", "InactiveExitTimestampMonotonic"), k0, "kubelet untouched");
    assert.equal(kubeletStarts().length, 1);
    assert.deepEqual(datapath(), dp0, "ovsdb-server and ovs-vswitchd untouched");
    const status = c.api("/v1/status", API_PORT) as NodeStatus;
    for (const name of ["ovsdb-server", "ovs-vswitchd"]) {
      const comp = status.components.find((x) => x.name === name);
      assert.equal(comp?.state, "ready", name);
      assert.equal(comp?.adopted, true, `${name} adopted by the new daemon`);
    }
  });

  test("rpm -e stops and disables the daemon and leaves the datapath running (stopOnExit: false)", () => {
    // %post's preset enabled it (Debian's default preset policy enables).
    assert.equal(c.systemctl("is-enabled", D).stdout.trim(), "enabled");
    assert.equal(c.exec(["test", "-L", `/etc/systemd/system/multi-user.target.wants/${D}`]).status, 0);
    const dp0 = datapath();
    const r = rpmInContainer(["-e", "k8s-offloadd"]);
    assert.equal(r.status, 0, `${r.stderr}${r.stdout}\n${c.diagnostics()}`);
    assert.doesNotMatch(`${r.stderr}${r.stdout}`, /scriptlet failed|error/i);
    assert.notEqual(c.exec([...RPM, "-q", "k8s-offloadd"]).status, 0);

    const d = c.show(D, "ActiveState", "MainPID", "LoadState");
    assert.equal(d.ActiveState, "inactive");
    assert.equal(d.MainPID, "0");
    assert.equal(d.LoadState, "not-found", "unit file removed and systemd reloaded");
    const wants = `/etc/systemd/system/multi-user.target.wants/${D}`;
    assert.notEqual(c.exec(["test", "-L", wants]).status, 0, `disabled: ${wants} removed`);
    assert.match(c.journal(D), /Stopped /);
    assert.deepEqual(datapath(), dp0, "the datapath keeps running");
    assert.equal(c.read("/etc/k8s-offloadd/config.yaml.rpmsave") !== null, true, "the edited config saved");
  });
  test("with datapath.stopOnExit: true, rpm -e stops the datapath with the daemon", () => {
    // Installed again (the edited config is config.yaml.rpmsave now: the default comes back).
    const r = rpmInContainer(["-i", "--nodeps"], b.rpm1);
    assert.equal(r.status, 0, `${r.stderr}${r.stdout}`);
    c.put(
      "/etc/k8s-offloadd/config.yaml",
      systemConfig({ host: { root: HOST_ROOT }, datapath: { stopOnExit: true } }),
      0o600,
    );
    const start = c.systemctl("start", D);
    assert.equal(start.status, 0, `${start.stderr}\n${c.diagnostics()}`);
    assert.equal(c.show(D, "ActiveState").ActiveState, "active");
    assert.equal(datapath().ovsdb.length, 1);
    assert.equal(datapath().vswitchd.length, 1);

    const e = rpmInContainer(["-e", "k8s-offloadd"]);
    assert.equal(e.status, 0, `${e.stderr}${e.stdout}\n${c.diagnostics()}`);
    assert.equal(c.show(D, "ActiveState").ActiveState, "inactive");
    assert.deepEqual(datapath(), { ovsdb: [], vswitchd: [] }, "the datapath stopped with the daemon");
  });
});
