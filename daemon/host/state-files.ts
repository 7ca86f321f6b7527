/**
 * The state database's file on the host: its directory 0700 and the file 0600 before SQLite opens it,
 * so there is no window with a umask-derived mode. Passed to StateStore.open (daemon/state/store.ts)
 * as its prepareFile by the daemon; the store itself only speaks SQL.
 */
import { chmodSync, closeSync, constants, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Makes the directory (0700, tightened when this call made it) and the file (0600, O_CREAT: never
 * truncates). SQLite gives its -wal/-shm files the main file's mode; leftovers from a looser past are
 * tightened too. Throws the filesystem's error.
 */
export function prepareStateFile(file: string): void {
  if (mkdirSync(dirname(file), { recursive: true, mode: 0o700 }) !== undefined)
    chmodSync(dirname(file), 0o700);
  closeSync(openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}
