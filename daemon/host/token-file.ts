/**
 * The API's bearer token: 32 random bytes as 64 lowercase hex characters and a newline, in a file only
 * the daemon's user can read. Made at first start, read by the CLI and by tests.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

export const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

/** The token file cannot be made or holds something that is not a token. Meant for an admin. */
export class TokenError extends Error {
  override readonly name = "TokenError";
}

/**
 * Returns the token in `file`, creating the file when it is missing. The token is written and
 * fsynced under a temporary name first, then linked into place: a crash or power loss never leaves an
 * empty or partial token file behind (which would keep every later start from succeeding). O_EXCL
 * with mode 0600: the file is never readable by others, and a symlink planted at either name is never
 * written through; link() never replaces a token another start made meanwhile.
 */
export function ensureToken(file: string): string {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) {
    const tmp = `${file}.tmp`;
    try {
      rmSync(tmp, { force: true }); // a previous start's leftover (it died before the link)
      const fd = openSync(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      try {
        writeSync(fd, `${randomBytes(32).toString("hex")}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      try {
        linkSync(tmp, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      rmSync(tmp, { force: true });
      const dfd = openSync(dir, constants.O_RDONLY);
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch (err) {
      throw new TokenError(`cannot create the API token file ${file}: ${(err as Error).message}`);
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
