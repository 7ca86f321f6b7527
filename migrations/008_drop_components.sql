-- 008: the `components` table of 001 goes. Nothing ever read a component's last state back: a restarted
-- daemon adopts its children from `children` and converges to `desired`; the API serves the engine's
-- own state. It was written with an fsync on every state change, then (since the cached status
-- bodies) not at all. An older k8s-offloadd refuses a file of this version (checkSchemaVersion), so
-- none of them can look for it.

DROP TABLE components;
