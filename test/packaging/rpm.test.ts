/**
 * The RPM (issue 6): built from a clean copy of the tree by scripts/package-rpm.sh, then
 * - its file list, modes, config flags, requirements, scriptlets and changelog;
 * - rpmlint with packaging/rpmlint.toml: no errors, no unfiltered warnings;
 * - install, upgrade (an edited config is kept, the new default written as .rpmnew) and erase
 *   (the edited config kept as .rpmsave) in scratch roots (`rpm --root R --dbpath /var/lib/rpm`),
 *   where the scriptlets have no running systemd: with a systemctl that fails and with none at all,
 *   rpm must succeed and no scriptlet may fail.
 */
import assert from "node:assert/strict";
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type Builds,
  buildTwoReleases,
  CONFIG2_MARK,
  must,
  pkgVersion,
  repoRoot,
  rpmIn,
  run,
} from "./rpm-build";

const LIB = "/usr/lib/k8s-offloadd";
const CONFIG = "/etc/k8s-offloadd/config.yaml";
const UNIT = "/usr/lib/systemd/system/k8s-offloadd.service";
const DROPIN = "/usr/lib/systemd/system/kubelet.service.d/10-k8s-offloadd.conf";
const TMPFILES = "/usr/lib/tmpfiles.d/k8s-offloadd.conf";
const STATE = "/var/lib/k8s-offloadd";
const LOG = "/scriptlets.log";

/** rpm with Debian's "use Alien" notice silenced (the host's rpm is Debian's). */
const FORCE = ["--force-debian"];

/** Any sign of a scriptlet that failed, in rpm's output. */
function assertNoScriptletFailure(
  r: { status: number | null; stderr: string; stdout: string },
  what: string,
) {
  assert.equal(r.status, 0, `${what}: ${r.stderr}${r.stdout}`);
  assert.doesNotMatch(`${r.stderr}${r.stdout}`, /scriptlet failed|cannot create|not found|error:/i, what);
}

/**
 * A scratch root with just what the scriptlets need: /bin/sh (the host's dash and its libraries),
 * /dev/null, and with `systemctl: "failing"` a systemctl and a systemd-tmpfiles that log their
 * argv to /scriptlets.log and exit 1, plus /run/systemd/system (so the scriptlets believe systemd
 * runs); with "absent" neither tool nor /run/systemd/system.
 */
function scratchRoot(parent: string, name: string, systemctl: "failing" | "absent"): string {
  const root = join(parent, name);
  for (const d of ["bin", "usr/bin", "var/tmp", "tmp", "dev"]) mkdirSync(join(root, d), { recursive: true });
  const sh = realpathSync("/bin/sh");
  copyFileSync(sh, join(root, "bin/sh"));
  chmodSync(join(root, "bin/sh"), 0o755);
  for (const line of must(["ldd", sh]).split("\n")) {
    const m = /(\/\S+) \(0x/.exec(line);
    if (!m?.[1]) continue;
    const dest = join(root, m[1]);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(realpathSync(m[1]), dest);
  }
  must(["mknod", "-m", "666", join(root, "dev/null"), "c", "1", "3"]);
  if (systemctl === "failing") {
    mkdirSync(join(root, "run/systemd/system"), { recursive: true });
    for (const tool of ["systemctl", "systemd-tmpfiles"]) {
      const f = join(root, "usr/bin", tool);
      writeFileSync(f, `#!/bin/sh\necho "${tool} $*" >>${LOG}\nexit 1\n`);
      chmodSync(f, 0o755);
    }
  }
  return root;
}

function scriptletLog(root: string): string[] {
  const f = join(root, LOG);
  return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean) : [];
}

describe("RPM package", { timeout: 900_000 }, () => {
  let b: Builds;
  let files: string[];
  before(() => {
    b = buildTwoReleases();
    files = must(["rpm", "-qlp", b.rpm1]).split("\n").filter(Boolean);
  });
  after(() => {
    if (b) rmSync(b.scratch, { recursive: true, force: true });
  });

  test("is named k8s-offloadd-<package.json version>-<release>.x86_64.rpm", () => {
    assert.equal(b.rpm1.split("/").pop(), `k8s-offloadd-${pkgVersion}-1.x86_64.rpm`);
    assert.equal(b.rpm2.split("/").pop(), `k8s-offloadd-${pkgVersion}-2.x86_64.rpm`);
    const q = must([
      "rpm",
      "-qp",
      "--qf",
      "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{PAYLOADCOMPRESSOR}",
      b.rpm1,
    ]);
    assert.equal(q, `k8s-offloadd ${pkgVersion} 1 x86_64 zstd`);
  });

  test("rpm -qlp: daemon, CLI, runtime files and production node_modules under /usr/lib/k8s-offloadd", () => {
    for (const f of [
      `${LIB}/dist/daemon/main.js`,
      `${LIB}/dist/cli/k8s-offloadctl.js`,
      `${LIB}/dist/api/server.js`,
      `${LIB}/package.json`,
      `${LIB}/migrations/001_children_events.sql`,
      `${LIB}/proto/gnmi.proto`,
      `${LIB}/proto/p4runtime.proto`,
      `${LIB}/openapi/openapi.json`,
      `${LIB}/README.md`,
      `${LIB}/node_modules/fastify/package.json`,
      `${LIB}/node_modules/better-sqlite3/build/Release/better_sqlite3.node`,
      `${LIB}/node_modules/unix-dgram/build/Release/unix_dgram.node`,
      "/usr/bin/k8s-offloadd",
      "/usr/bin/k8s-offloadctl",
      UNIT,
      DROPIN,
      TMPFILES,
      CONFIG,
      STATE,
      "/run/k8s-offloadd",
    ]) {
      assert.ok(files.includes(f), `${f} is packaged`);
    }
    // Every migration of the tree is shipped.
    for (const m of must(["git", "-C", repoRoot, "ls-files", "-co", "--exclude-standard", "migrations"])
      .split("\n")
      .filter((l) => l.endsWith(".sql"))) {
      assert.ok(files.includes(`${LIB}/${m}`), `${m} is packaged`);
    }
    // Nothing but the daemon, API and CLI code; no dev dependencies, no build leftovers.
    const forbidden = [
      /^\/usr\/lib\/k8s-offloadd\/dist\/(test|bench|scripts)(\/|$)/,
      /^\/usr\/lib\/k8s-offloadd\/(daemon|api|cli|test|bench|src)(\/|$)/,
      /\/node_modules\/(typescript|@biomejs|supertest|autocannon|fast-check|@types\/better-sqlite3|@types\/supertest)(\/|$)/,
      /\/node_modules\/\.bin(\/|$)/,
      /\/node_modules\/better-sqlite3\/(deps|src)\//,
      /\.(o|a)$/,
      // Our TypeScript sources (packages in node_modules ship theirs; that is theirs to decide).
      /^\/usr\/lib\/k8s-offloadd\/(?!node_modules\/).*\.ts$/,
      /^\/usr\/lib\/\.build-id/,
    ];
    const bad = files.filter((f) => forbidden.some((re) => re.test(f)));
    assert.deepEqual(bad, []);
    // Everything is under the documented paths.
    const roots = [`${LIB}`, "/usr/bin/k8s-offloadd", "/usr/bin/k8s-offloadctl", UNIT, DROPIN];
    const other = files.filter(
      (f) =>
        !roots.some((r) => f === r || f.startsWith(`${r}/`)) &&
        ![TMPFILES, CONFIG, "/etc/k8s-offloadd", STATE, "/run/k8s-offloadd"].includes(f) &&
        f !== "/usr/lib/systemd/system/kubelet.service.d",
    );
    assert.deepEqual(other, []);
  });

  test("config is %config(noreplace); state and run dirs are 0700; wrappers exec node", () => {
    const dump = new Map(
      must(["rpm", "-qp", "--qf", "[%{FILEMODES:octal} %{FILEFLAGS:fflags} %{FILENAMES}\n]", b.rpm1])
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          const [mode, flags, name] = l.split(" ");
          return [name as string, { mode: mode as string, flags: flags as string }];
        }),
    );
    const cfg = dump.get(CONFIG);
    assert.ok(cfg?.flags.includes("c") && cfg.flags.includes("n"), `config flags ${cfg?.flags}`);
    assert.equal(dump.get(STATE)?.mode, "40700");
    const run = dump.get("/run/k8s-offloadd");
    assert.equal(run?.mode, "40700");
    assert.ok(run?.flags.includes("g"), "/run/k8s-offloadd is %ghost (made by tmpfiles)");
    assert.equal(dump.get("/usr/bin/k8s-offloadd")?.mode, "100755");
    assert.equal(dump.get("/usr/bin/k8s-offloadctl")?.mode, "100755");
    assert.deepEqual(must(["rpm", "-qp", "--configfiles", b.rpm1]).trim().split("\n"), [CONFIG]);
  });

  test("Requires: Node.js of the ABI the native modules were built for, /usr/bin/node, iproute", () => {
    const req = must(["rpm", "-qp", "--requires", b.rpm1]).split("\n");
    const major = process.versions.node.split(".")[0];
    assert.ok(Number(major) >= 20);
    assert.ok(req.includes(`nodejs(abi${major})`), req.join("\n"));
    assert.ok(req.includes("/usr/bin/node"));
    assert.ok(req.includes("(iproute or iproute2)"));
    assert.ok(req.includes("systemd"));
    // The generators add nothing we do not run (env/python shebangs of node_modules files).
    assert.deepEqual(
      req.filter((r) => /^\/usr\/bin\/(env|python)|^python/.test(r)),
      [],
    );
    // Private native modules provide nothing to other packages.
    const prov = must(["rpm", "-qp", "--provides", b.rpm1]);
    assert.doesNotMatch(prov, /\.node\(\)/);
  });

  test("rpm -qp --scripts: tmpfiles, preset on install, disable --now on erase, try-restart on upgrade", () => {
    const s = must(["rpm", "-qp", "--scripts", b.rpm1]);
    // "NAME scriptlet (using /bin/sh):" headers, each followed by its body.
    const parts = s.split(/^(\w+) scriptlet \(using \/bin\/sh\):$/m);
    const section = (name: string) => {
      const i = parts.indexOf(name);
      assert.ok(i > 0, `${name} scriptlet present:\n${s}`);
      return parts[i + 1] as string;
    };
    const post = section("postinstall");
    assert.match(post, /systemd-tmpfiles --create k8s-offloadd\.conf/);
    assert.match(post, /\$1 -eq 1 .*systemctl --no-reload preset k8s-offloadd\.service/);
    const preun = section("preuninstall");
    assert.match(preun, /\$1 -eq 0 .*systemctl --no-reload disable --now k8s-offloadd\.service/);
    const postun = section("postuninstall");
    assert.match(postun, /\$1 -ge 1 .*systemctl try-restart k8s-offloadd\.service/);
  });

  test("the changelog's newest entry is this version", () => {
    const cl = must(["rpm", "-qp", "--changelog", b.rpm1]);
    const first = cl.split("\n")[0] ?? "";
    assert.match(first, new RegExp(` - ${pkgVersion.replaceAll(".", "\\.")}-\\d+$`), first);
  });

  test("rpmlint with packaging/rpmlint.toml: no errors, no warnings", () => {
    const r = run(["rpmlint", "-c", join(repoRoot, "packaging/rpmlint.toml"), b.rpm1], {
      timeoutMs: 300_000,
    });
    assert.match(
      r.stdout,
      /1 packages and 0 specfiles checked; 0 errors, 0 warnings/,
      `${r.stdout}${r.stderr}`,
    );
    assert.equal(r.status, 0, r.stdout);
  });

  test("every rpmlint filter is justified by a comment above it", () => {
    const lines = readFileSync(join(repoRoot, "packaging/rpmlint.toml"), "utf8").split("\n");
    const start = lines.findIndex((l) => l.startsWith("Filters = ["));
    assert.ok(start >= 0);
    let commented = false;
    for (const line of lines.slice(start + 1)) {
      const t = line.trim();
      if (t === "]") break;
      if (t.startsWith("#")) commented = true;
      else if (t.startsWith("'")) assert.ok(commented, `no comment says why: ${t}`);
      else if (t === "") commented = false;
    }
  });

  test("install, upgrade, erase in a scratch root whose systemctl fails: scriptlets tolerant, config kept", () => {
    const parent = mkdtempSync(join(tmpdir(), "offloadd-rpmroot-"));
    try {
      const root = scratchRoot(parent, "root", "failing");
      const at = (p: string) => join(root, p);
      const shipped = readFileSync(join(repoRoot, "profiles/p4-ovs.yaml"), "utf8");

      // Install.
      assertNoScriptletFailure(rpmIn(root, ...FORCE, "-i", "--nodeps", b.rpm1), "rpm -i");
      assert.deepEqual(scriptletLog(root), [
        "systemd-tmpfiles --create k8s-offloadd.conf",
        "systemctl daemon-reload",
        "systemctl --no-reload preset k8s-offloadd.service",
      ]);
      assert.equal(readFileSync(at(CONFIG), "utf8"), shipped, "the config is profiles/p4-ovs.yaml");
      assert.equal(statSync(at(STATE)).mode & 0o7777, 0o700);
      assert.equal(statSync(at("/usr/bin/k8s-offloadd")).mode & 0o111, 0o111);
      assert.equal(
        readFileSync(at("/usr/bin/k8s-offloadd"), "utf8"),
        `#!/bin/sh\nexec /usr/bin/node ${LIB}/dist/daemon/main.js "$@"\n`,
      );
      assert.equal(
        readFileSync(at("/usr/bin/k8s-offloadctl"), "utf8"),
        `#!/bin/sh\nexec /usr/bin/node ${LIB}/dist/cli/k8s-offloadctl.js "$@"\n`,
      );
      assert.equal(
        readFileSync(at(UNIT), "utf8"),
        readFileSync(join(repoRoot, "units/k8s-offloadd.service"), "utf8"),
      );
      assert.equal(
        readFileSync(at(DROPIN), "utf8"),
        readFileSync(join(repoRoot, "units/kubelet.service.d/10-k8s-offloadd.conf"), "utf8"),
      );
      assert.match(readFileSync(at(TMPFILES), "utf8"), /^d \/run\/k8s-offloadd 0700 root root -$/m);

      // The installed tree runs with this node: it finds package.json and migrations/ next to dist/,
      // and the native modules load (the ABI the package pins).
      assert.equal(
        must([process.execPath, at(`${LIB}/dist/daemon/main.js`), "--version"]).trim(),
        pkgVersion,
      );
      must([process.execPath, at(`${LIB}/dist/cli/k8s-offloadctl.js`), "--help"]);
      must([
        process.execPath,
        "-e",
        "const D=require(process.argv[1]);new D(':memory:').prepare('select 1').get();require(process.argv[2])",
        at(`${LIB}/node_modules/better-sqlite3`),
        at(`${LIB}/node_modules/unix-dgram`),
      ]);

      // The admin edits the config; the daemon's state exists.
      appendFileSync(at(CONFIG), "# edited by the admin\n");
      const edited = readFileSync(at(CONFIG), "utf8");
      writeFileSync(at(`${STATE}/state.db`), "state");

      // Upgrade to release 2, which ships a different default config.
      writeFileSync(at(LOG), "");
      const up = rpmIn(root, ...FORCE, "-U", "--nodeps", b.rpm2);
      assertNoScriptletFailure(up, "rpm -U");
      assert.match(up.stderr, /config\.yaml created as \/etc\/k8s-offloadd\/config\.yaml\.rpmnew/);
      assert.equal(readFileSync(at(CONFIG), "utf8"), edited, "the edited config is kept");
      assert.equal(readFileSync(at(`${CONFIG}.rpmnew`), "utf8"), readFileSync(b.config2, "utf8"));
      assert.match(readFileSync(at(`${CONFIG}.rpmnew`), "utf8"), new RegExp(CONFIG2_MARK));
      assert.equal(
        must(["rpm", "--root", root, "--dbpath", "/var/lib/rpm", "-q", "k8s-offloadd"]).trim(),
        `k8s-offloadd-${pkgVersion}-2.x86_64`,
      );
      // New %post (upgrade: no preset), then the old %preun (nothing) and %postun (restart).
      assert.deepEqual(scriptletLog(root), [
        "systemd-tmpfiles --create k8s-offloadd.conf",
        "systemctl daemon-reload",
        "systemctl daemon-reload",
        "systemctl try-restart k8s-offloadd.service",
      ]);

      // Erase: stop and disable; the edited config saved; the daemon's state left alone.
      writeFileSync(at(LOG), "");
      const erase = rpmIn(root, ...FORCE, "-e", "k8s-offloadd");
      assertNoScriptletFailure(erase, "rpm -e");
      assert.deepEqual(scriptletLog(root), [
        "systemctl --no-reload disable --now k8s-offloadd.service",
        "systemctl daemon-reload",
      ]);
      assert.equal(readFileSync(at(`${CONFIG}.rpmsave`), "utf8"), edited);
      assert.ok(!existsSync(at(CONFIG)));
      for (const gone of [LIB, "/usr/bin/k8s-offloadd", "/usr/bin/k8s-offloadctl", UNIT, DROPIN, TMPFILES]) {
        assert.ok(!existsSync(at(gone)), `${gone} removed`);
      }
      assert.equal(readFileSync(at(`${STATE}/state.db`), "utf8"), "state", "the state database is kept");
      assert.equal(rpmIn(root, "-q", "k8s-offloadd").status, 1);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  test("install, upgrade, erase in a scratch root without systemctl or a running systemd", () => {
    const parent = mkdtempSync(join(tmpdir(), "offloadd-rpmroot-"));
    try {
      const root = scratchRoot(parent, "root", "absent");
      assertNoScriptletFailure(rpmIn(root, ...FORCE, "-i", "--nodeps", b.rpm1), "rpm -i");
      assert.ok(existsSync(join(root, CONFIG)));
      // Unedited config: the upgrade replaces it with the new default, no .rpmnew.
      assertNoScriptletFailure(rpmIn(root, ...FORCE, "-U", "--nodeps", b.rpm2), "rpm -U");
      assert.equal(readFileSync(join(root, CONFIG), "utf8"), readFileSync(b.config2, "utf8"));
      assert.ok(!existsSync(join(root, `${CONFIG}.rpmnew`)));
      assertNoScriptletFailure(rpmIn(root, ...FORCE, "-e", "k8s-offloadd"), "rpm -e");
      assert.ok(!existsSync(join(root, LIB)));
      assert.ok(!existsSync(join(root, `${CONFIG}.rpmsave`)), "an unedited config is not saved");
      assert.deepEqual(scriptletLog(root), []);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
