-- 005: write-ahead child records and the boot they belong to.
-- A child is recorded BEFORE it is spawned (pid and start_time NULL: "being started with this argv"),
-- then confirmed with its pid and start time: a daemon killed at any instant leaves a record of every
-- process it may have started. boot_id (/proc/sys/kernel/random/boot_id) tells a record from an
-- earlier boot, whose pid means nothing now and is never adopted or signalled; NULL on rows written
-- before this migration (boot unknown: the pid, start time and argv check still applies).
-- SQLite cannot drop NOT NULL from a column: the table is rebuilt, its rows kept.

CREATE TABLE children_new (
  component  TEXT PRIMARY KEY NOT NULL,
  pid        INTEGER,           -- NULL: recorded, spawn not confirmed yet
  start_time INTEGER,           -- field 22 of /proc/PID/stat: clock ticks since boot; NULL with pid
  argv       TEXT NOT NULL,     -- JSON array of strings
  spawned_at TEXT NOT NULL,     -- ISO 8601
  log_file   TEXT NOT NULL,
  boot_id    TEXT,              -- the kernel's boot id when recorded
  CHECK ((pid IS NULL) = (start_time IS NULL))
);
INSERT INTO children_new (component, pid, start_time, argv, spawned_at, log_file, boot_id)
  SELECT component, pid, start_time, argv, spawned_at, log_file, NULL FROM children;
DROP TABLE children;
ALTER TABLE children_new RENAME TO children;
