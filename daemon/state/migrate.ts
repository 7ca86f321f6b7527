/**
 * Schema migrations: numbered files `NNN_name.sql` in the project's migrations/ directory, applied in
 * order, each in one transaction together with `PRAGMA user_version = NNN`. A migration either lands
 * whole (with its version) or not at all. Migration files must not contain BEGIN/COMMIT.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { projectRoot } from "../paths";

export interface Migration {
  version: number;
  /** File name, e.g. "001_children_events.sql". */
  file: string;
  sql: string;
}

/** A problem with the migration files or with applying them; StateStore turns it into a StateError. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

const FILE_NAME = /^(\d{3})_[A-Za-z0-9_-]+\.sql$/;

/**
 * The migrations/ directory of the installed tree: walks up from `from` (the compiled code's directory:
 * dist/daemon/state in the repo, /usr/lib/k8s-offloadd/dist/daemon/state from the RPM) to the first
 * directory holding both package.json and migrations/.
 */
export function findMigrationsDir(from: string = __dirname): string {
  try {
    return join(projectRoot(from), "migrations");
  } catch (err) {
    throw new MigrationError(`cannot find the migrations directory: ${(err as Error).message}`);
  }
}

/** Reads and validates every migration in `dir`: versions 1..N, no gaps, no duplicates. */
export function loadMigrations(dir: string): Migration[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".sql"));
  } catch (err) {
    throw new MigrationError(`cannot read migrations directory ${dir}: ${(err as Error).message}`);
  }
  const migrations = names
    .map((file) => {
      const m = FILE_NAME.exec(file);
      if (!m?.[1]) throw new MigrationError(`migration ${join(dir, file)}: name must look like NNN_name.sql`);
      return { version: Number(m[1]), file, sql: readFileSync(join(dir, file), "utf8") };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new MigrationError(
        `migrations in ${dir} must be numbered 001, 002, ... without gaps or duplicates; found ${m.file} at position ${i + 1}`,
      );
    }
  });
  return migrations;
}

export function userVersion(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/** Refuses a database written by a newer k8s-offloadd. Reads only; `label` names the file in the message. */
export function checkSchemaVersion(
  db: Database.Database,
  migrations: readonly Migration[],
  label: string,
): void {
  const current = userVersion(db);
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new MigrationError(
      `state database ${label} is at schema version ${current} but this k8s-offloadd knows up to ${latest}; ` +
        "refusing to start (downgrade?); the file is left untouched",
    );
  }
}

/** Applies the pending migrations in order. Returns the schema version before and after. */
export function migrate(
  db: Database.Database,
  migrations: readonly Migration[],
  label: string,
): { from: number; to: number } {
  checkSchemaVersion(db, migrations, label);
  const from = userVersion(db);
  let at = from;
  for (const m of migrations) {
    if (m.version <= at) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        if (!db.inTransaction)
          throw new Error("the migration ended the transaction (BEGIN/COMMIT in the file?)");
        db.pragma(`user_version = ${m.version}`);
      })();
    } catch (err) {
      throw new MigrationError(
        `migration ${m.file} failed on state database ${label}: ${(err as Error).message}; ` +
          `rolled back, the database stays at schema version ${at}`,
      );
    }
    at = m.version;
  }
  return { from, to: at };
}
