/**
 * The API's bearer token: 32 random bytes as 64 lowercase hex characters and a newline, in a file only
 * the daemon's user can read. Made at first start, read by the CLI and by tests.
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

/** The token file cannot be made or holds something that is not a token. Meant for an admin. */
export class TokenError extends Error {
  override readonly name = "TokenError";
}

/**
 * Returns the token in `file`, creating the file when it is missing. O_EXCL with mode 0600: the file
 * is never readable by others, not even between create and chmod, and a file made concurrently (or a
 * symlink planted there) is never written through.
 */
export function ensureToken(file: string): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let fd: number | null = null;
  try {
    fd = openSync(
      file,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
      throw new TokenError(`cannot create the API token file ${file}: ${(err as Error).message}`);
    }
  }
  if (fd !== null) {
    try {
      writeSync(fd, `${randomBytes(32).toString("hex")}\n`);
    } finally {
      closeSync(fd);
    }
  }
  return readToken(file);
}

/** Reads and checks a token file (64 lowercase hex characters, an optional trailing newline). */
export function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new TokenError(`cannot read the API token file ${file}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (!TOKEN_PATTERN.test(token)) {
    throw new TokenError(
      `the API token file ${file} does not hold a token; allowed: 64 lowercase hex characters (delete the file and the daemon makes a new one)`,
    );
  }
  return token;
}
