/**
 * The pieces of `make deploy` and the images check: envsubst's rules, the kustomize image entries,
 * the CRDs the FelixConfiguration needs, a render by the real kubectl's kustomize of the upstream
 * deploy/ copy (test/fixtures/infra-offload-deploy), crictl's answers (stand-in crictl recording argv),
 * and the `images` preflight check with its fix.
 */
import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadConfig } from "../../daemon/config/load";
import { passwdEntry } from "../../daemon/host/admin-kubeconfig";
import { ContainerImages, RuntimeUnreachableError, registryOf } from "../../daemon/host/container-images";
import { ExternalTools } from "../../daemon/host/external-tools";
import { crdsNeeded, InfraDeploySource, imageEntry } from "../../daemon/host/infra-deploy-source";
import { envsubst } from "../../daemon/jobs/envsubst";
import { Preflight } from "../../daemon/preflight";
import { repoRoot, scratchDir, writeConfig } from "../helpers/daemon";
import { StandIns } from "../helpers/stand-ins";

const FIXTURE = join(repoRoot, "test/fixtures/infra-offload-deploy");
const scratches: string[] = [];
after(() => {
  for (const s of scratches) rmSync(s, { recursive: true, force: true });
});

const MANAGER = "registry.test:5000/inframanager:latest";
const AGENT = "registry.test:5000/infraagent:latest";
/** What containerd (through crictl) says when a registry does not answer. */
const REFUSED = `FATA[0000] pulling image: rpc error: code = Unknown desc = failed to pull and unpack image "${MANAGER}": failed to resolve reference "${MANAGER}": failed to do request: Head "https://registry.test:5000/v2/inframanager/manifests/latest": dial tcp 127.0.0.1:5000: connect: connection refused`;

describe("make deploy, piece by piece", () => {
  test("envsubst: $NAME and {NAME} after a $ replaced, unset ones empty, any other $ kept", () => {
    // Built from pieces: "${" in a plain string literal reads as a mistaken template to the linter.
    const ref = (n: string) => `$${"{"}${n}}`;
    const r = envsubst(`a=$A b=${ref("B")} c=$C-x d=$$ e=$1 f=${ref(" not")} g=$A`, { A: "1", B: "two" });
    assert.equal(r.text, `a=1 b=two c=-x d=$$ e=$1 f=${ref(" not")} g=1`);
    assert.deepEqual(r.used, ["A", "B", "C"]);
    assert.deepEqual(r.unset, ["C"]);
  });

  test("image references split as kustomize's images: entries want them", () => {
    assert.deepEqual(imageEntry("infraagent", "localhost:5000/infraagent:latest"), {
      name: "infraagent",
      newName: "localhost:5000/infraagent",
      newTag: "latest",
    });
    assert.deepEqual(imageEntry("x", "localhost:5000/x"), { name: "x", newName: "localhost:5000/x" });
    assert.deepEqual(imageEntry("x", `r.io/x@sha256:${"a".repeat(64)}`), {
      name: "x",
      newName: "r.io/x",
      digest: `sha256:${"a".repeat(64)}`,
    });
    assert.equal(registryOf("localhost:5000/infraagent:latest"), "localhost:5000");
    assert.equal(registryOf("infraagent:latest"), "docker.io");
  });

  test("the CRDs the FelixConfiguration needs: only felixconfigurations, found by group and kind", () => {
    const felix = readFileSync(join(FIXTURE, "felix-configuration.yaml"), "utf8");
    const calico = readFileSync(join(FIXTURE, "calico-with-grpc.yaml"), "utf8");
    assert.deepEqual(crdsNeeded(felix, calico), ["felixconfigurations.crd.projectcalico.org"]);
    assert.deepEqual(crdsNeeded("apiVersion: v1\nkind: ConfigMap\n", calico), []);
  });

  test("rendered by the real kubectl's kustomize: both images replaced, the checkout untouched", async () => {
    const dir = scratchDir("offloadd-render-");
    scratches.push(dir);
    cpSync(FIXTURE, join(dir, "checkout/deploy"), { recursive: true });
    const tools = new ExternalTools({ path: ["/usr/bin"], env: {}, timeoutMs: 60_000 });
    const src = new InfraDeploySource(join(dir, "checkout"), tools);
    assert.equal(src.dir, join(dir, "checkout/deploy"));
    const out = await src.render({ infraagent: AGENT, inframanager: MANAGER });
    const images = [...out.matchAll(/image: (\S+)/g)].map((m) => m[1]);
    assert.deepEqual(images.sort(), [AGENT, AGENT, AGENT, MANAGER]);
    assert.match(out, /name: infraagent-ds/);
    assert.deepEqual(readdirSync(join(dir, "checkout")), ["deploy"], "the overlay is removed");
    // Given the deploy/ directory itself, the same.
    assert.equal(
      new InfraDeploySource(join(dir, "checkout/deploy"), tools).dir,
      join(dir, "checkout/deploy"),
    );
    await assert.rejects(
      new InfraDeploySource(join(dir, "nowhere"), tools).render({ infraagent: AGENT, inframanager: MANAGER }),
      /nowhere\/deploy is not a directory: kubernetes\.deploy\.source names/,
    );
  });

  test("/etc/passwd lines: home, uid and gid of the named user only", () => {
    const passwd = "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:1235:A:/home/alice:/bin/sh\n";
    assert.deepEqual(passwdEntry(passwd, "alice"), {
      user: "alice",
      uid: 1234,
      gid: 1235,
      home: "/home/alice",
    });
    assert.equal(passwdEntry(passwd, "ali"), null);
  });
});

describe("images in containerd (crictl)", () => {
  const dir = scratchDir("offloadd-images-");
  scratches.push(dir);
  const tools = new StandIns(dir);
  /** crictl: the agent is there, the manager only once pulled; a pull fails as `pull` says. */
  const crictl = (pull: string) =>
    tools.add(
      "crictl",
      [
        'case "$1" in',
        `  inspecti) case "$2" in *inframanager*) [ -e '${dir}/pulled' ] || { echo "FATA[0000] no such image \\"$2\\" present" >&2; exit 1; };; esac;;`,
        `  pull) ${pull};;`,
        "esac",
      ].join("\n"),
    );

  test("present, absent, pulled; a registry that cannot be reached is named; containerd down is not 'absent'", async () => {
    const images = new ContainerImages(new ExternalTools({ path: [tools.bin], env: {}, timeoutMs: 10_000 }));
    crictl(`echo '${REFUSED}' >&2; exit 1`);
    assert.equal(await images.present(AGENT), true);
    assert.equal(await images.present(MANAGER), false);
    await assert.rejects(
      images.pull(MANAGER),
      new RegExp(
        `^Error: cannot pull ${MANAGER}: the registry registry\\.test:5000 cannot be reached \\(.*connection refused\\); start it`,
      ),
    );
    crictl(`: > '${dir}/pulled'`);
    assert.deepEqual(await images.ensure([AGENT, MANAGER]), { present: [AGENT], pulled: [MANAGER] });
    tools.add(
      "crictl",
      `echo 'FATA[0000] validate service connection: validate CRI v1 image API for endpoint "unix:///run/containerd/containerd.sock": rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: no such file or directory"' >&2; exit 1`,
    );
    await assert.rejects(images.present(AGENT), RuntimeUnreachableError);
    rmSync(join(dir, "pulled"), { force: true });
  });

  test("preflight check images: warn naming the missing image; the dry run lists the pull; the fix pulls it", async () => {
    rmSync(join(dir, "pulled"), { force: true });
    crictl(`: > '${dir}/pulled'`);
    tools.clearCalls();
    const cfgDir = scratchDir("offloadd-images-cfg-");
    scratches.push(cfgDir);
    const file = writeConfig(cfgDir, 1, {
      kubernetes: {
        toolPath: [tools.bin],
        deploy: { source: "/nowhere", infraAgentImage: AGENT, infraManagerImage: MANAGER },
      },
    });
    const pf = new Preflight(loadConfig(file), {});
    const byId = (rs: { id: string; status: string; observed: string }[]) =>
      rs.find((r) => r.id === "images") as { status: string; observed: string };
    const before = byId(await pf.run());
    assert.deepEqual(before, {
      ...before,
      status: "warn",
      observed: `not in containerd: ${MANAGER} (the fix pulls them)`,
    });
    const dry = await pf.fix(true);
    assert.deepEqual(dry.fixes.find((x) => x.id === "images")?.changes, [
      { command: `crictl pull ${MANAGER}`, action: "run" },
    ]);
    assert.ok(!tools.calls().some((c) => c.startsWith("crictl pull")), "a dry run pulls nothing");
    const real = await pf.fix(false);
    assert.equal(byId(real.checks).status, "pass");
    assert.deepEqual(
      tools.calls().filter((c) => c.startsWith("crictl pull")),
      [`crictl pull ${MANAGER}`],
    );

    // The registry down: the fix fails naming it, and the check says fail with why.
    rmSync(join(dir, "pulled"), { force: true });
    crictl(`echo '${REFUSED}' >&2; exit 1`);
    const failed = await pf.fix(false);
    assert.match(
      failed.fixes.find((x) => x.id === "images")?.error ?? "",
      /registry registry\.test:5000 cannot be reached/,
    );
    assert.equal(byId(failed.checks).status, "fail");
  });
});
