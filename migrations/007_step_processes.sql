-- 007: the processes of job steps (kubeadm, kubectl, crictl, systemctl), so that daemon stop ends them
-- and a restarted daemon ends what an earlier one left running before it runs the step again
-- (daemon/host/step-process.ts). A row is written BEFORE the spawn (pid NULL), confirmed with pid and
-- start time right after it, and deleted once the process has exited: a kill -9 at any instant leaves
-- a row that names the process, by pid + start time or by the marker in its environment.

CREATE TABLE step_processes (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id     INTEGER,           -- the job and step it ran for (NULL: outside a job); no foreign key:
  step_idx   INTEGER,           -- a record must outlive anything that would cascade it away
  argv       TEXT NOT NULL,     -- JSON array of strings
  marker     TEXT NOT NULL,     -- K8S_OFFLOADD_STEP=<marker> in its environment: a random UUID
  boot_id    TEXT NOT NULL,     -- /proc/sys/kernel/random/boot_id when spawned: other boots are ignored
  pid        INTEGER,           -- NULL until confirmed
  start_time INTEGER,           -- field 22 of /proc/PID/stat: clock ticks since boot
  created_at TEXT NOT NULL      -- ISO 8601
);
