/**
 * The daemon refuses to start on files others could change: whoever can write the config, the state
 * directory or database, or the token file (or read the token) can drive the node as root.
 */
import { type Stats, statSync } from "node:fs";

/** Files of the daemon that are not safe; the message names each, its mode and what is allowed. */
export class UnsafeFileError extends Error {
  override readonly name = "UnsafeFileError";
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

export interface FileRule {
  /** What the file is, for the message ("config file", "state directory", ...). */
  what: string;
  path: string;
  /** Permission bits that must not be set, e.g. 0o022 (writable by group/others). */
  forbidden: number;
  /** The words for what is allowed, e.g. "not writable by group or others (chmod go-w)". */
  allowed: string;
}

const octal = (mode: number) => `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;

/**
 * Checks each existing path (a missing one is made by the daemon with a safe mode): owned by `uid` (or
 * root, whom the daemon trusts anyway), none of the forbidden bits. A symlink is judged by its target
 * (/etc configs are often links into a config-management tree).
 */
export function checkFiles(rules: FileRule[], uid: number = process.getuid?.() ?? 0): string[] {
  const problems: string[] = [];
  for (const r of rules) {
    let st: Stats;
    try {
      st = statSync(r.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      problems.push(`${r.what} ${r.path}: cannot check it (${(err as NodeJS.ErrnoException).code})`);
      continue;
    }
    if (st.uid !== uid && st.uid !== 0) {
      problems.push(
        `${r.what} ${r.path} is owned by uid ${st.uid}; allowed: owned by the daemon's user (uid ${uid}) or root`,
      );
    }
    if ((st.mode & r.forbidden) !== 0) {
      problems.push(`${r.what} ${r.path} has mode ${octal(st.mode)}; allowed: ${r.allowed}`);
    }
  }
  return problems;
}

const NOT_WRITABLE = { forbidden: 0o022, allowed: "not writable by group or others (chmod go-w)" };

/** The rules for the daemon's own files. */
export function daemonFileRules(files: {
  configFile: string;
  stateDir: string;
  tokenFile: string;
}): FileRule[] {
  return [
    { what: "config file", path: files.configFile, ...NOT_WRITABLE },
    { what: "state directory", path: files.stateDir, ...NOT_WRITABLE },
    { what: "state database", path: `${files.stateDir}/state.db`, ...NOT_WRITABLE },
    {
      what: "API token file",
      path: files.tokenFile,
      forbidden: 0o066,
      allowed: "readable and writable by its owner only (chmod 0600)",
    },
  ];
}
