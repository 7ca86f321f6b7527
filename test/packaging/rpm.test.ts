/**
 * The RPM (issues 6, 13): built from a clean copy of the tree by scripts/package-rpm.sh, then
 * - its file list (the two bundles, the native modules, the Node.js runtime: under 100 files), modes,
 *   config flags, requirements (glibc, not Node.js; the --runtime system build: Node.js), scriptlets
 *   and changelog;
 * - rpmlint with packaging/rpmlint.toml: no errors, no unfiltered warnings;
 * - install, upgrade (an edited config is kept, the new default written as .rpmnew) and erase
 *   (the edited config kept as .rpmsave) in scratch roots (`rpm --root R --dbpath /var/lib/rpm`),
 *   where the scriptlets have no running systemd: with a systemctl that fails and with none at all,
 *   rpm must succeed and no scriptlet may fail; in such a root, which has no Node.js at all (only the C
 *   and C++ libraries the runtime links), the daemon and the CLI start with the packaged runtime.
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
import { DAEMON_NODE_OPTIONS } from "../../scripts/daemon-node-options";
import {
  type Builds,
  buildFromStage,
  buildTwoReleases,
  CONFIG2_MARK,
  must,
  pkgVersion,
  repoRoot,
  rpmIn,
  run,
} from "./rpm-build";

const LIB = "/usr/lib/k8s-offloadd";
/** The packaged Node.js runtime (--runtime bundled, the default). */
const NODE = `${LIB}/node`;
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

/** Copies the shared libraries `binary` links (ldd) into root at the same paths. */
function copyLibraries(root: string, binary: string): void {
  for (const line of must(["ldd", binary]).split("\n")) {
    const m = /(\/\S+) \(0x/.exec(line);
    if (!m?.[1]) continue;
    const dest = join(root, m[1]);
    if (existsSync(dest)) continue;
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(realpathSync(m[1]), dest);
  }
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

  test("rpm -qlp: the two bundles, the runtime, the native modules; under 100 files", () => {
    for (const f of [
      NODE,
      `${LIB}/k8s-offloadd.js`,
      `${LIB}/k8s-offloadctl.js`,
      `${LIB}/k8s-offloadd.main.js`,
      `${LIB}/k8s-offloadctl.main.js`,
      `${LIB}/k8s-offloadd.main.js.cache`,
      `${LIB}/k8s-offloadctl.main.js.cache`,
      `${LIB}/k8s-offloadd.main.js.LEGAL.txt`,
      `${LIB}/lazy-grpc.js`,
      `${LIB}/lazy-prom-client.js`,
      `${LIB}/lazy-swagger.js`,
      `${LIB}/package.json`,
      `${LIB}/migrations/001_children_events.sql`,
      `${LIB}/proto/gnmi.proto`,
      `${LIB}/proto/p4runtime.proto`,
      `${LIB}/openapi/openapi.json`,
      `${LIB}/README.md`,
      `${LIB}/node_modules/better-sqlite3/package.json`,
      `${LIB}/node_modules/better-sqlite3/lib/index.js`,
      `${LIB}/node_modules/better-sqlite3/build/Release/better_sqlite3.node`,
      `${LIB}/node_modules/unix-dgram/build/Release/unix_dgram.node`,
      `${LIB}/node_modules/bindings/bindings.js`,
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
    // Every entry of the payload (directories too) counts; the goal is < 100 (was 3 940).
    console.log(`# RPM: ${files.length} files and directories (${statSync(b.rpm1).size} bytes)`);
    assert.ok(files.length < 100, `${files.length} files:\n${files.join("\n")}`);
    // node_modules holds the native modules and their loader only: everything else is in the bundles.
    const packages = new Set(
      files.map((f) => /\/node_modules\/([^/]+)/.exec(f)?.[1]).filter((p): p is string => p !== undefined),
    );
    assert.deepEqual([...packages].sort(), ["better-sqlite3", "bindings", "file-uri-to-path", "unix-dgram"]);
    // Every migration of the tree is shipped.
    for (const m of must(["git", "-C", repoRoot, "ls-files", "-co", "--exclude-standard", "migrations"])
      .split("\n")
      .filter((l) => l.endsWith(".sql"))) {
      assert.ok(files.includes(`${LIB}/${m}`), `${m} is packaged`);
    }
    // Nothing but the daemon, API and CLI code; no dev dependencies, no build leftovers.
    const forbidden = [
      /^\/usr\/lib\/k8s-offloadd\/(dist|daemon|api|cli|test|bench|src)(\/|$)/,
      /\/node_modules\/(typescript|@biomejs|supertest|autocannon|fast-check|@types\/better-sqlite3|@types\/supertest)(\/|$)/,
      /\/node_modules\/\.bin(\/|$)/,
      /\/node_modules\/better-sqlite3\/(deps|src)\//,
      /\/node_modules\/\S+\.(map|ts|gyp|h|c|cc)$/,
      /\/node_modules\/[^/]+\/(README|CHANGELOG|History)[^/]*$/,
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

  test("config is %config(noreplace); state and run dirs are 0700; wrappers and the runtime executable", () => {
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
    assert.equal(dump.get(NODE)?.mode, "100755");
    assert.equal(dump.get(`${LIB}/k8s-offloadd.js`)?.mode, "100644");
    assert.deepEqual(must(["rpm", "-qp", "--configfiles", b.rpm1]).trim().split("\n"), [CONFIG]);
  });

  test("Requires: the glibc the runtime and native modules need, systemd, iproute; no Node.js", () => {
    const req = must(["rpm", "-qp", "--requires", b.rpm1]).split("\n").filter(Boolean);
    // The highest GLIBC_ symbol version of this node and of the built native modules.
    const natives = [
      process.execPath,
      join(repoRoot, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"),
      join(repoRoot, "node_modules/unix-dgram/build/Release/unix_dgram.node"),
    ];
    const versions = [...must(["objdump", "-T", ...natives]).matchAll(/GLIBC_(\d+(?:\.\d+)+)/g)].map(
      (m) => m[1] as string,
    );
    const cmp = (a: string, c: string) => {
      const [x, y] = [a.split(".").map(Number), c.split(".").map(Number)];
      for (let i = 0; i < Math.max(x.length, y.length); i++) {
        const d = (x[i] ?? 0) - (y[i] ?? 0);
        if (d !== 0) return d;
      }
      return 0;
    };
    const glibc = versions.sort(cmp).at(-1);
    assert.ok(glibc, "GLIBC_ versions found");
    assert.ok(req.includes(`glibc >= ${glibc}`), req.join("\n"));
    assert.ok(req.includes("(iproute or iproute2)"));
    assert.ok(req.includes("systemd"));
    // No Node.js from the host, and nothing we do not run (env/python shebangs).
    assert.deepEqual(
      req.filter((r) => /node|^\/usr\/bin\/(env|python)|^python/.test(r)),
      [],
    );
    // What else the generator found is the runtime's own shared libraries: C, C++, gcc runtime.
    const other = req.filter(
      (r) =>
        !/^(glibc >=|\(iproute|systemd$|\/bin\/sh$|config\(|rpmlib\(|rtld\()/.test(r) &&
        !/^(libc|libm|libdl|libpthread|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so/.test(r),
    );
    assert.deepEqual(other, []);
    // Private native code provides nothing to other packages; the runtime is declared as bundled.
    const prov = must(["rpm", "-qp", "--provides", b.rpm1]);
    assert.doesNotMatch(prov, /\.node\(\)|^lib/m);
    assert.match(
      prov,
      new RegExp(`^bundled\\(nodejs\\) = ${process.versions.node.replaceAll(".", "\\.")}$`, "m"),
    );
  });

  test("--runtime system: today's package, run by the system's Node.js of the modules' ABI", () => {
    const { rpm, stderr } = buildFromStage(b, "system", ["--runtime", "system"]);
    assert.match(stderr, /package-rpm: \d+ files under \/usr\/lib\/k8s-offloadd \(runtime: system\)/);
    const req = must(["rpm", "-qp", "--requires", rpm]).split("\n");
    const major = process.versions.node.split(".")[0];
    assert.ok(req.includes(`nodejs(abi${major})`), req.join("\n"));
    assert.ok(req.includes("/usr/bin/node"));
    assert.ok(!req.some((r) => r.startsWith("glibc >=")), "the system's node brings its own C library needs");
    const list = must(["rpm", "-qlp", rpm]).split("\n");
    assert.ok(!list.includes(NODE), "no runtime inside");
    assert.ok(list.includes(`${LIB}/k8s-offloadd.js`));
    const parent = mkdtempSync(join(tmpdir(), "offloadd-rpmroot-"));
    try {
      const root = scratchRoot(parent, "root", "absent");
      assertNoScriptletFailure(rpmIn(root, ...FORCE, "-i", "--nodeps", rpm), "rpm -i");
      assert.equal(
        readFileSync(join(root, "/usr/bin/k8s-offloadd"), "utf8"),
        `#!/bin/sh\nexec /usr/bin/node ${DAEMON_NODE_OPTIONS.join(" ")} ${LIB}/k8s-offloadd.js "$@"\n`,
      );
      // The bundles run with this (the system's) node.
      assert.equal(
        must([process.execPath, join(root, LIB, "k8s-offloadd.js"), "--version"]).trim(),
        pkgVersion,
      );
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
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
        // The daemon with its Node.js options (scripts/daemon-node-options.ts); the CLI with none.
        `#!/bin/sh\nexec ${NODE} ${DAEMON_NODE_OPTIONS.join(" ")} ${LIB}/k8s-offloadd.js "$@"\n`,
      );
      assert.equal(
        readFileSync(at("/usr/bin/k8s-offloadctl"), "utf8"),
        `#!/bin/sh\nexec ${NODE} ${LIB}/k8s-offloadctl.js "$@"\n`,
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

      // A host without Node.js: the root has no node anywhere, only the C and C++ libraries the packaged
      // runtime links (as glibc, libstdc++ and libgcc would give). In it, the daemon starts (it finds
      // package.json and migrations/ beside its bundle, and better-sqlite3 loads at start-up) and so
      // does the CLI, both through the installed wrappers.
      copyLibraries(root, at(NODE));
      assert.ok(
        !existsSync(at("/usr/bin/node")) && !existsSync(at("/usr/local/bin/node")),
        "no node in the root",
      );
      const inRoot = (argv: string[]) => must(["chroot", root, ...argv]);
      assert.equal(inRoot(["/usr/bin/k8s-offloadd", "--version"]).trim(), pkgVersion);
      assert.match(inRoot(["/usr/bin/k8s-offloadctl", "--help"]), /k8s-offloadctl/);
      inRoot([
        NODE,
        "-e",
        "const D=require(process.argv[1]);new D(':memory:').prepare('select 1').get();require(process.argv[2])",
        `${LIB}/node_modules/better-sqlite3`,
        `${LIB}/node_modules/unix-dgram`,
      ]);
      // A bad config is refused with exit 2 before anything is written: the bundle runs main.
      const bad = run(["chroot", root, "/usr/bin/k8s-offloadd", "--config", "/nonexistent.yaml"]);
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, /no such file/);

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
