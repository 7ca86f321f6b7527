-- 001: supervised children, component states, the node's event history.
-- Each migration runs in one transaction together with PRAGMA user_version (daemon/state/migrate.ts):
-- no BEGIN/COMMIT here. Plain (non-STRICT) tables so an older sqlite3 shell on the host can read the file.

-- One row per supervised component whose process is running: what a restarted daemon needs to adopt
-- the child, or to tell that its pid has since been reused.
CREATE TABLE children (
  component  TEXT PRIMARY KEY NOT NULL,
  pid        INTEGER NOT NULL,
  start_time INTEGER NOT NULL,  -- field 22 of /proc/PID/stat: clock ticks since boot
  argv       TEXT NOT NULL,     -- JSON array of strings
  spawned_at TEXT NOT NULL,     -- ISO 8601
  log_file   TEXT NOT NULL
);

-- Last known state of each component (ComponentState in daemon/engine/component.ts; no CHECK, so a
-- new state needs no migration).
CREATE TABLE components (
  name       TEXT PRIMARY KEY NOT NULL,
  state      TEXT NOT NULL,
  restarts   INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  since      TEXT NOT NULL      -- ISO 8601 of the last state change
);

-- The node's history, capped by the store (newest rows kept). `id INTEGER PRIMARY KEY` is the rowid,
-- i.e. the key of the table's own b-tree: paging with `WHERE id > ? ORDER BY id LIMIT ?` and pruning
-- with `DELETE ... WHERE id <= ?` are range seeks on it, so no separate index is needed (one on id
-- would be a redundant copy). AUTOINCREMENT: ids are never reused after pruning, so a client's
-- "after" cursor stays valid.
CREATE TABLE events (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  time      TEXT NOT NULL,      -- ISO 8601
  component TEXT,               -- NULL: about the node as a whole
  kind      TEXT NOT NULL,      -- EventKind
  message   TEXT NOT NULL
);
