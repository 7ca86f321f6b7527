/**
 * Builds the RPM the way `npm run package:rpm` does (scripts/package-rpm.sh: a clean copy of the
 * tree, type-checked and bundled, the native modules and the Node.js runtime beside the bundles,
 * rpmbuild), into scratch dirs, and runs rpm commands with argv arrays. Used by the packaging tests
 * and the RPM system test.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** The repository: the nearest directory up from here with scripts/package-rpm.sh (dist/ or a private build). */
export const repoRoot = (() => {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, "scripts/package-rpm.sh")) && existsSync(join(dir, "package.json"))) return dir;
  }
  throw new Error(`no repository above ${__dirname}`);
})();

export const pkgVersion = (
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }
).version;

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(argv: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Run {
  const r = spawnSync(argv[0] as string, argv.slice(1), {
    encoding: "utf8",
    cwd: opts.cwd,
    timeout: opts.timeoutMs ?? 300_000,
    killSignal: "SIGKILL",
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** run() that must exit 0. */
export function must(argv: string[], opts: { cwd?: string; timeoutMs?: number } = {}): string {
  const r = run(argv, opts);
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

export interface Builds {
  scratch: string;
  /** Release 1 with the shipped default config (profiles/p4-ovs.yaml). */
  rpm1: string;
  /** Release 2 of the same tree whose default config differs (an upgrade that brings a new default). */
  rpm2: string;
  /** The default config release 2 ships. */
  config2: string;
}

/** Line appended to the default config of release 2. */
export const CONFIG2_MARK = "# release 2 changed this default";

/** One more build from the staged tree of `b` (e.g. `--runtime system`), into its own directory. */
export function buildFromStage(b: Builds, name: string, extra: string[]): { rpm: string; stderr: string } {
  const r = run(
    [
      "bash",
      join(repoRoot, "scripts/package-rpm.sh"),
      "--out",
      join(b.scratch, name),
      "--stage",
      join(b.scratch, "stage"),
      ...extra,
    ],
    { timeoutMs: 600_000 },
  );
  if (r.status !== 0) throw new Error(`package-rpm.sh ${extra.join(" ")} failed (${r.status}):\n${r.stderr}`);
  return { rpm: r.stdout.trim(), stderr: r.stderr };
}

/** Builds release 1, then release 2 from the same staged tree with a changed default config. */
export function buildTwoReleases(): Builds {
  const scratch = mkdtempSync(join(tmpdir(), "offloadd-rpm-"));
  const out = join(scratch, "out");
  const stage = join(scratch, "stage");
  const script = join(repoRoot, "scripts/package-rpm.sh");
  const build = (extra: string[]) =>
    must(["bash", script, "--out", out, "--stage", stage, ...extra], { timeoutMs: 600_000 }).trim();
  try {
    const rpm1 = build(["--release", "1"]);
    const config2 = join(scratch, "config-2.yaml");
    writeFileSync(
      config2,
      `${readFileSync(join(repoRoot, "profiles/p4-ovs.yaml"), "utf8")}${CONFIG2_MARK}\n`,
    );
    const rpm2 = build(["--release", "2", "--config", config2]);
    return { scratch, rpm1, rpm2, config2 };
  } catch (err) {
    rmSync(scratch, { recursive: true, force: true });
    throw err;
  }
}

/** `rpm --root R --dbpath /var/lib/rpm ...`: a scratch root's own database. */
export function rpmIn(root: string, ...args: string[]): Run {
  return run(["rpm", "--root", root, "--dbpath", "/var/lib/rpm", ...args]);
}
