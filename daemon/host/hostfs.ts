import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describeFailure, runCommand } from "./command";

/** Suffix of the copy kept of a file before the daemon edits it. */
export const BACKUP_SUFFIX = ".k8s-offloadd.bak";

/**
 * The host's files (/etc, /proc, /sys) below a configurable root. With root "/" this is the real
 * host; anything else is a fake root (sandbox, tests): commands are never run there, and the callers
 * write the effect a command would have had into the fake /proc or /sys file instead.
 *
 * Paths given to every method are host paths ("/etc/crictl.yaml"); errors name them as such.
 */
export class HostFs {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** True when root is the real "/": commands may run. */
  get real(): boolean {
    return this.root === "/";
  }

  /** Where a host path is on this machine. */
  path(p: string): string {
    return join(this.root, p);
  }

  /** File text, or null when it does not exist. */
  read(p: string): string | null {
    try {
      return readFileSync(this.path(p), "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return null;
      throw new Error(`cannot read ${p}: ${(err as Error).message}`);
    }
  }

  exists(p: string): boolean {
    return existsSync(this.path(p));
  }

  isDir(p: string): boolean {
    return isDirectory(this.path(p));
  }

  /** Entry names of a directory, sorted; [] when it does not exist. */
  list(p: string): string[] {
    try {
      return readdirSync(this.path(p)).sort();
    } catch {
      return [];
    }
  }

  /**
   * Replaces a configuration file atomically: the new text goes to a temporary file in the same
   * directory, which is then renamed over the file. An existing file is first copied (also
   * atomically) to FILE.k8s-offloadd.bak, replacing an older backup. Any failure leaves the file
   * as it was and throws an error naming the file.
   */
  writeFile(p: string, text: string, mode = 0o644): void {
    const target = this.path(p);
    try {
      mkdirSync(dirname(target), { recursive: true });
      const old = this.read(p);
      // An edited file keeps its mode (a 0600 config stays 0600); mode is for a new one.
      const keep = old === null ? mode : statSync(target).mode & 0o7777;
      if (old !== null) atomicWrite(`${target}${BACKUP_SUFFIX}`, old, keep);
      atomicWrite(target, text, keep);
    } catch (err) {
      throw new Error(`cannot write ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  /**
   * Writes a kernel file (/proc/sys, /sys) in place, as `echo V > FILE` does. Under a fake root the
   * file and its directory are created when missing (the fake root plays the kernel).
   */
  writeKernel(p: string, value: string): void {
    const target = this.path(p);
    try {
      if (!this.real) mkdirSync(dirname(target), { recursive: true });
      const fd = openSync(target, "w", 0o644);
      try {
        writeSync(fd, value);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      throw new Error(`cannot write ${value.trim()} to ${p}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }

  /** Appends a line to a fake kernel file (only under a fake root: emulating a command's effect). */
  appendFake(p: string, line: string): void {
    if (this.real) throw new Error(`refusing to append to the real ${p}`);
    mkdirSync(dirname(this.path(p)), { recursive: true });
    appendFileSync(this.path(p), `${line}\n`);
  }

  /** Creates a directory (and its parents) below root. */
  mkdir(p: string): void {
    try {
      mkdirSync(this.path(p), { recursive: true });
    } catch (err) {
      throw new Error(`cannot create ${p}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }

  /**
   * Runs a command (argument array, never a shell) on the real host; throws when it fails. Never
   * called under a fake root: the callers emulate the effect there.
   */
  async run(argv: readonly string[], timeoutMs = 15000): Promise<void> {
    if (!this.real) throw new Error(`refusing to run ${argv.join(" ")} under the fake root ${this.root}`);
    const r = await runCommand(argv, { timeoutMs });
    if (r.code !== 0) throw new Error(describeFailure(argv, r));
  }
}

/** A regular file with an execute bit (a path on this machine, not below a root). */
export function isExecutable(p: string): boolean {
  try {
    const st = statSync(p);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** A directory (a path on this machine, not below a root). */
export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Temp file in the same directory, fsync, rename: readers see the old or the new text, never half. */
function atomicWrite(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, "w", mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
}
