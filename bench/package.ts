/**
 * bench/package: the RPM as `npm run package:rpm` builds it (its own runtime inside), against the
 * `--runtime system` package from the same staged tree, same run: entries in the payload, size, and
 * whether it requires a Node.js from the host (goal: < 100 files; installs on a host with no Node.js).
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { must, repoRoot } from "../test/packaging/rpm-build";

export async function benchPackage(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), "offloadd-bench-rpm-"));
  try {
    const build = (name: string, extra: string[]) =>
      must(
        [
          "bash",
          join(repoRoot, "scripts/package-rpm.sh"),
          "--out",
          join(scratch, name),
          "--stage",
          join(scratch, "stage"),
          ...extra,
        ],
        { timeoutMs: 600_000 },
      ).trim();
    const describe = (rpm: string) => {
      const files = must(["rpm", "-qlp", rpm]).split("\n").filter(Boolean).length;
      const node = must(["rpm", "-qp", "--requires", rpm])
        .split("\n")
        .filter((r) => /node/.test(r));
      return { files, mb: statSync(rpm).size / 1e6, node };
    };
    const own = describe(build("bundled", []));
    const sys = describe(build("system", ["--runtime", "system"]));
    console.log(
      `bench/package: RPM ${own.files} files, ${own.mb.toFixed(1)} MB, Node.js required: ${own.node.join(", ") || "none"}; ` +
        `--runtime system ${sys.files} files, ${sys.mb.toFixed(1)} MB, requires ${sys.node.join(", ")}; ` +
        `files ratio ${(own.files / sys.files).toFixed(2)} (goal < 100 files, no Node.js from the host)`,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (require.main === module) void benchPackage();
