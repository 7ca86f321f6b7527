/**
 * The containerd fix proved on the real thing: Debian's containerd (and ctr) started on
 * containerd.io's stock config.toml (test/fixtures/containerd/) has no CRI plugin; after the
 * preflight fix, started again on the fixed file, it loads CRI ("ok").
 *
 * Scratch only: containerd gets its own --root, --state and --address in a temp dir. The least it
 * needs besides, found by running it: the `opt` plugin's path (it creates /opt/containerd) and the
 * CRI plugin's CNI conf_dir (it creates /etc/cni/net.d) pointed into the temp dir too, which the test
 * adds to the stock file as an admin's own settings would be (the fix must keep them). Neither a
 * tmpfs nor cgroups are needed: the overlayfs and native snapshotters load on the temp dir's
 * filesystem, and the CRI plugin does not touch cgroups until a pod runs. Inside the test
 * namespace its stream server listens on the namespace's own loopback. Stopped by its PID.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { loadConfig } from "../../daemon/config/load";
import { BACKUP_SUFFIX } from "../../daemon/host/hostfs";
import { Preflight } from "../../daemon/preflight";
import { makeHostRoot, put } from "../helpers/hostroot";
import { inTestNamespace as inTestNamespaceNow } from "../helpers/test-namespace";

const scratch = mkdtempSync(join(tmpdir(), "offloadd-containerd-"));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children)
    if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, "SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
});

const STOCK = readFileSync(
  resolve(__dirname, "../../../test/fixtures/containerd/containerd.io-config.toml"),
  "utf8",
);

const inTestNamespace = inTestNamespaceNow();
const haveContainerd =
  spawnSync("containerd", ["--version"]).status === 0 && spawnSync("ctr", ["--version"]).status === 0;

interface Plugin {
  type: string;
  id: string;
  status: string;
}

/** Starts containerd on `config` with scratch root/state/socket, lists its plugins with ctr, stops it by PID. */
async function pluginsOf(config: string, run: string): Promise<Plugin[]> {
  const sock = join(scratch, `${run}.sock`);
  const log = join(scratch, `${run}.log`);
  const child = spawn(
    "containerd",
    [
      "--config",
      config,
      "--root",
      join(scratch, `${run}-root`),
      "--state",
      join(scratch, `${run}-state`),
      "--address",
      sock,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  children.push(child);
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  try {
    let listed: ReturnType<typeof spawnSync> | null = null;
    for (let i = 0; i < 200 && child.exitCode === null; i++) {
      if (existsSync(sock)) {
        const r = spawnSync("ctr", ["--address", sock, "plugins", "ls"], {
          encoding: "utf8",
          timeout: 10_000,
        });
        if (r.status === 0) {
          listed = r;
          break;
        }
      }
      await sleep(50);
    }
    assert.ok(
      listed,
      `containerd did not answer on ${sock} (exit ${child.exitCode}): ${stderr.slice(-2000)}`,
    );
    return String(listed.stdout)
      .split("\n")
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 3)
      .map((f) => ({ type: f[0] as string, id: f[1] as string, status: f.at(-1) as string }));
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    if (child.exitCode === null && child.pid) process.kill(child.pid, "SIGTERM");
    await exited;
    writeFileSync(log, stderr);
  }
}

describe("containerd with containerd.io's stock config, before and after the preflight fix", () => {
  const skip = !inTestNamespace
    ? "not inside the test namespace"
    : !haveContainerd
      ? "containerd or ctr missing"
      : false;

  test("CRI is absent on the stock file; the fix re-enables it and the same containerd loads it (ok)", {
    skip,
  }, async () => {
    const root = makeHostRoot(join(scratch, "root"));
    // The admin's own settings beside the stock line: scratch paths for what would otherwise touch the host.
    const text = `${STOCK}
[plugins.opt]
  path = "${join(scratch, "opt")}"

[plugins.cri.cni]
  conf_dir = "${join(scratch, "cni-net.d")}"
`;
    const file = put(root, "/etc/containerd/config.toml", text);
    const cfgFile = join(scratch, "config.yaml");
    writeFileSync(
      cfgFile,
      JSON.stringify({ ovs: { sdeInstall: null }, host: { root }, kubernetes: { toolPath: [] } }),
    );
    const pf = new Preflight(loadConfig(cfgFile), {});

    const before = await pluginsOf(file, "stock");
    assert.ok(
      before.some((p) => p.id === "content" && p.status === "ok"),
      JSON.stringify(before),
    );
    assert.equal(
      before.find((p) => p.id === "cri" && p.status === "ok"),
      undefined,
      "CRI is not loaded on the stock file",
    );
    assert.match((await pf.run()).find((r) => r.id === "containerd")?.observed ?? "", /CRI disabled/);

    const fix = await pf.fix(false);
    assert.equal(fix.checks.find((r) => r.id === "containerd")?.status, "pass");
    assert.equal(readFileSync(`${file}${BACKUP_SUFFIX}`, "utf8"), text);
    assert.match(
      readFileSync(file, "utf8"),
      new RegExp(`path = "${join(scratch, "opt")}"`),
      "the admin's settings kept",
    );

    const fixed = await pluginsOf(file, "fixed");
    assert.deepEqual(
      fixed.filter((p) => p.id === "cri"),
      [{ type: "io.containerd.grpc.v1", id: "cri", status: "ok" }],
    );
    assert.ok(existsSync(join(scratch, "cni-net.d")), "the CNI conf_dir setting was kept and used");
    assert.match(readFileSync(join(scratch, "fixed.log"), "utf8"), /Options:map\[SystemdCgroup:true\]/);
  });
});
