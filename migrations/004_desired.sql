-- 004: the node's desired state, what a restarted daemon converges to. Without it a restart (systemd,
-- a crash, a reboot) after `POST /v1/datapath/down` or a finished reset brought the datapath back up.
-- Written when an operation starts applying (not when it ends), so a crash mid-way still converges
-- to what was asked. Key/value: a new desired setting needs no migration.

CREATE TABLE desired (
  key   TEXT PRIMARY KEY NOT NULL,  -- 'datapath'
  value TEXT NOT NULL               -- for 'datapath': 'up' or 'down'; no row: 'up'
);
