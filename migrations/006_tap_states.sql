-- 006: TAP records are written ahead (state 'creating' before the TAP or port is made, 'created'
-- once it is), carry the kernel generation they were made in (kernel backend: boot id and datapath
-- namespace), the MAC they had in the datapath namespace (how a TAP handed to a pod is found again)
-- and where they were last seen: available, in-use, lost or host (port 0 as the host interface).

ALTER TABLE taps ADD COLUMN state TEXT NOT NULL DEFAULT 'created' CHECK (state IN ('creating', 'created'));
ALTER TABLE taps ADD COLUMN generation TEXT;
ALTER TABLE taps ADD COLUMN mac TEXT;
ALTER TABLE taps ADD COLUMN placement TEXT;
ALTER TABLE taps ADD COLUMN netns TEXT;
