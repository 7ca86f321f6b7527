import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";

export interface ArtifactPin {
  path: string;
  sha256: string;
}

/** SHA-256 of a file, hex. Throws a clear error when the file cannot be read. */
export function sha256File(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new Error(`P4 artifact ${path} cannot be read (${code}); the shipped files are required`);
  }
  return createHash("sha256").update(bytes).digest("hex");
}

/** The pins whose file is not there (yet): "not there yet", unlike a modified file. */
export function absentArtifacts(pins: Record<string, ArtifactPin>): Array<[string, ArtifactPin]> {
  return Object.entries(pins).filter(([, pin]) => !existsSync(pin.path));
}

/**
 * The P4 artifacts must be used as shipped (k8s_dp.pb.bin, p4Info.txt, k8s_dp.conf): each is
 * checked against its pinned SHA-256. Throws naming every file that is missing or modified, with
 * both hashes.
 */
export function verifyArtifacts(pins: Record<string, ArtifactPin>): void {
  const problems: string[] = [];
  for (const [name, pin] of Object.entries(pins)) {
    try {
      const found = sha256File(pin.path);
      if (found !== pin.sha256.toLowerCase()) {
        problems.push(
          `P4 artifact ${name} (${pin.path}) is modified: sha256 expected ${pin.sha256.toLowerCase()}, found ${found}`,
        );
      }
    } catch (err) {
      problems.push(`P4 artifact ${name}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new Error(`${problems.join("; ")}; use the artifacts as shipped`);
}
