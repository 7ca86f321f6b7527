-- 009: the datapath's generations: one row each time the TAP pool found the ports it had made dead
-- (the P4 target restarted, taking every DPDK TAP with it). Written before the pool is made again, so
-- the TAPs pods held (and the netns they were in) survive a crash; the heal after it (report, or
-- recreate: delete the infra manager pod and those pods) runs at most once per generation: 'pending'
-- until it starts deleting, 'healing' while it deletes, then 'done' with what it did. A restarted
-- daemon finishes a 'pending' one and closes a 'healing' one without deleting again.

CREATE TABLE datapath_generations (
  generation  INTEGER PRIMARY KEY,  -- 1, 2, ...: counted by this node's daemon
  started_at  TEXT NOT NULL,        -- ISO 8601: when the pool found its ports dead
  lost        TEXT NOT NULL,        -- JSON array of {tap, netns}: the TAPs pods held (netns NULL: not known)
  heal_state  TEXT NOT NULL CHECK (heal_state IN ('none', 'pending', 'healing', 'done')),
  heal_message TEXT                 -- what the heal did (events say it too)
);
