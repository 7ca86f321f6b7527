-- 010: the dpdk TAP backend (DPDK TAP ports of Debian's DPDK Open vSwitch, added through the ovsdb).
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt with the same columns and
-- rows, the backend check widened to 'dpdk'.

CREATE TABLE taps_new (
  name       TEXT PRIMARY KEY,
  backend    TEXT NOT NULL CHECK (backend IN ('gnmi', 'kernel', 'dpdk')),
  created_at TEXT NOT NULL,
  state      TEXT NOT NULL DEFAULT 'created' CHECK (state IN ('creating', 'created')),
  generation TEXT,
  mac        TEXT,
  placement  TEXT,
  netns      TEXT
);
INSERT INTO taps_new (name, backend, created_at, state, generation, mac, placement, netns)
  SELECT name, backend, created_at, state, generation, mac, placement, netns FROM taps;
DROP TABLE taps;
ALTER TABLE taps_new RENAME TO taps;
