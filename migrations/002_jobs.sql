-- 002: long-running operations (jobs) and their steps, so a restarted daemon can see what a crash
-- interrupted (StateStore.runningJobs()).

CREATE TABLE jobs (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  kind       TEXT NOT NULL,
  state      TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'interrupted')),
  created_at TEXT NOT NULL,     -- ISO 8601
  updated_at TEXT NOT NULL,     -- ISO 8601
  message    TEXT
);

-- Only the few unfinished jobs are indexed; finished ones are looked up by id.
CREATE INDEX jobs_running ON jobs (id) WHERE state = 'running';

CREATE TABLE job_steps (
  job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  idx         INTEGER NOT NULL,  -- 0-based position in the job
  name        TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
  message     TEXT,
  started_at  TEXT,              -- ISO 8601; NULL until started
  finished_at TEXT,              -- ISO 8601; NULL until finished
  PRIMARY KEY (job_id, idx)
);
