-- 003: the TAPs the daemon created (so teardown removes only ours and a restarted daemon knows them).

CREATE TABLE taps (
  name       TEXT PRIMARY KEY,  -- kernel name when created (P4TAP_<i>)
  backend    TEXT NOT NULL CHECK (backend IN ('gnmi', 'kernel')),
  created_at TEXT NOT NULL      -- ISO 8601
);
