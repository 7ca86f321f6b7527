/**
 * One daemon per state directory: an exclusive lock taken before anything is read or started.
 *
 * Node has no flock(2). The lock is an fcntl(2) lock held through SQLite: `<stateDir>/daemon.lock` is
 * a small SQLite file opened with `locking_mode=EXCLUSIVE` and written once, after which SQLite's
 * unix VFS keeps its exclusive fcntl lock on the file until the connection closes. Why this and not
 * the npm `fs-ext` (native flock):
 * - no new native dependency (better-sqlite3 is already built and shipped; fs-ext is another
 *   node-gyp build for `npm ci` on a fresh machine);
 * - the kernel drops the lock when the process dies, SIGKILL included, as with flock;
 * - an fcntl lock is never inherited by children, so a supervised child that outlives the daemon
 *   (KillMode=process) can never keep the next daemon out.
 * Its one trap (closing any descriptor of the file in this process drops the lock) does not apply:
 * only this module opens the file.
 *
 * The holder's pid is written beside it (`daemon.pid`) after the lock is taken, so a refused daemon
 * can name who holds it.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { sqliteAddon } from "../state/sqlite-addon";

/** Another daemon holds the state directory, or the lock file cannot be used. */
export class InstanceLockError extends Error {
  override readonly name = "InstanceLockError";
}

export class InstanceLock {
  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
    readonly pidFile: string,
  ) {}

  static acquire(stateDir: string): InstanceLock {
    const file = join(stateDir, "daemon.lock");
    const pidFile = join(stateDir, "daemon.pid");
    let db: Database.Database;
    try {
      if (mkdirSync(stateDir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(stateDir, 0o700);
      // timeout 0: a held lock is an answer, not something to wait for.
      db = new Database(file, { timeout: 0, ...sqliteAddon() });
      chmodSync(file, 0o600);
    } catch (err) {
      throw new InstanceLockError(`cannot open the instance lock ${file}: ${(err as Error).message}`);
    }
    try {
      db.pragma("locking_mode = EXCLUSIVE");
      // A write takes SQLite's EXCLUSIVE lock, which locking_mode=EXCLUSIVE then never releases.
      db.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL); DELETE FROM holder;");
      db.prepare("INSERT INTO holder (pid) VALUES (?)").run(process.pid);
    } catch (err) {
      db.close();
      const code = (err as { code?: string }).code ?? "";
      if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
        throw new InstanceLockError(
          `another k8s-offloadd (${holderOf(pidFile)}) holds ${file}: one daemon per state directory; ` +
            "stop it first (systemctl stop k8s-offloadd)",
        );
      }
      throw new InstanceLockError(`cannot take the instance lock ${file}: ${(err as Error).message}`);
    }
    // Written whole under a temporary name, then renamed: a reader never sees a partial pid.
    const tmp = `${pidFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
    renameSync(tmp, pidFile);
    return new InstanceLock(db, file, pidFile);
  }

  /** Drops the lock (and the pid file, while it is still ours). Idempotent. */
  release(): void {
    if (!this.db.open) return;
    if (holderPid(this.pidFile) === process.pid) rmSync(this.pidFile, { force: true });
    this.db.close();
  }
}

function holderPid(pidFile: string): number | null {
  try {
    const n = Number(readFileSync(pidFile, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function holderOf(pidFile: string): string {
  const pid = holderPid(pidFile);
  return pid === null ? `pid not known yet: ${pidFile} not written` : `pid ${pid}`;
}
