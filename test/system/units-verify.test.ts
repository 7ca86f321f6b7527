/**
 * Every unit in units/ passes `systemd-analyze verify` with nothing on stderr (verify only warns on
 * unknown keys and bad values and still exits 0), and the exposure score written at the top of
 * k8s-offloadd.service is the one `systemd-analyze security --offline=true` measures.
 *
 * verify checks that ExecStart= binaries exist, so it runs against a scratch root (--root): a copy
 * of this host's systemd units, stub executables for ours and a stand-in kubelet.service. Nothing is
 * installed into the host's /etc or /usr.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { repoRoot } from "./container";

const UNITS = join(repoRoot, "units");
const UNIT_SUFFIX = /\.(service|socket|timer|target|path|mount|slice)$/;
const SYSTEM = "/etc/systemd/system";

/** kubelet.service as the Kubernetes packages ship it (the drop-in is verified against it). */
const KUBELET_UNIT = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`;

/** Files under units/, relative: units and drop-ins (X.d/NN-name.conf). */
function unitFiles(dir = UNITS, rel = ""): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? unitFiles(p, join(rel, n)) : [join(rel, n)];
    });
}

const scratch = mkdtempSync(join(tmpdir(), "offloadd-verify-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let rootCount = 0;
/** A scratch root with the host's units, stubs for the binaries our units run, and the given files. */
function verifyRoot(extra: Record<string, string> = {}): string {
  const root = join(scratch, `root${rootCount++}`);
  cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), {
    recursive: true,
    verbatimSymlinks: true,
  });
  const files: Record<string, string> = { [`${SYSTEM}/kubelet.service`]: KUBELET_UNIT, ...extra };
  for (const f of unitFiles()) files[`${SYSTEM}/${f}`] = readFileSync(join(UNITS, f), "utf8");
  for (const [path, text] of Object.entries(files)) put(root, path, text);
  for (const bin of ["k8s-offloadd", "k8s-offloadctl", "kubelet"])
    put(root, `/usr/bin/${bin}`, "#!/bin/sh\n", 0o755);
  return root;
}

function put(root: string, path: string, text: string, mode = 0o644): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text, { mode });
}

/** The units to verify: ours, and the units our drop-ins extend. */
function unitsToVerify(): string[] {
  const names = new Set<string>();
  for (const f of unitFiles()) {
    const top = f.split("/")[0] as string;
    const unit = top.endsWith(".d") ? top.slice(0, -2) : top;
    if (UNIT_SUFFIX.test(unit)) names.add(unit);
  }
  return [...names].sort();
}

function verify(root: string, unit: string) {
  return spawnSync("systemd-analyze", ["verify", `--root=${root}`, `${SYSTEM}/${unit}`], {
    encoding: "utf8",
    cwd: scratch,
  });
}

describe("systemd-analyze verify", () => {
  const root = verifyRoot();
  const units = unitsToVerify();

  test("the units and drop-ins are there", () => {
    assert.ok(units.includes("k8s-offloadd.service"), units.join(", "));
    assert.ok(units.includes("kubelet.service"), "kubelet.service.d/ drop-in");
  });

  for (const unit of units) {
    test(`${unit} verifies with nothing on stderr`, () => {
      const r = verify(root, unit);
      assert.equal(r.stderr, "", `systemd-analyze verify ${unit}:\n${r.stderr}`);
      assert.equal(r.status, 0);
    });
  }

  test("a bad key or a missing binary does show on stderr (the checks above can fail)", () => {
    const bad = verifyRoot({
      [`${SYSTEM}/k8s-offloadd.service.d/99-bad.conf`]: "[Service]\nRestartSteps=3\n",
    });
    assert.match(verify(bad, "k8s-offloadd.service").stderr, /Unknown key.*RestartSteps/);
    rmSync(join(bad, "usr/bin/k8s-offloadctl"));
    assert.match(verify(bad, "kubelet.service").stderr, /k8s-offloadctl is not executable/);
  });
});

describe("systemd-analyze security", () => {
  test("the score in k8s-offloadd.service's header is the measured one", () => {
    const file = join(UNITS, "k8s-offloadd.service");
    const claimed = /security --offline=true` \(systemd \d+\): (\d+\.\d) ([A-Z]+)/.exec(
      readFileSync(file, "utf8"),
    );
    assert.ok(claimed, "the unit's header states the score");
    const r = spawnSync("systemd-analyze", ["security", "--offline=true", "--no-pager", file], {
      encoding: "utf8",
    });
    const measured = /Overall exposure level for k8s-offloadd\.service: (\d+\.\d) ([A-Z]+)/.exec(r.stdout);
    assert.ok(measured, `no score in:\n${r.stdout}\n${r.stderr}`);
    assert.deepEqual([measured[1], measured[2]], [claimed[1], claimed[2]]);
    // The DPDK capabilities (CAP_IPC_LOCK, CAP_NET_BROADCAST) included: still 6.0 or better.
    console.log(
      `# systemd-analyze security --offline=true k8s-offloadd.service: ${measured[1]} ${measured[2]}`,
    );
    assert.ok(Number(measured[1]) <= 6.0, `exposure ${measured[1]} is above 6.0`);
  });
});
