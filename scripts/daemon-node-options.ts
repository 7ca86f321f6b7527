/**
 * Node.js options the daemon is started with, wherever it runs (the RPM's /usr/bin/k8s-offloadd wrapper
 * through package-rpm.sh; `npm start`, whose script in package.json spells them out; the tests' and
 * benches' daemons: test/helpers/daemon.ts).
 * A young generation of 1 MB semi-spaces instead of V8's default, which grows up to 16 MB ones under a
 * burst of requests and stays resident: measured with bench/api, RSS idle 76 -> 72 MB and after load
 * 89 -> 78 MB, at no measurable cost in CPU per request (a daemon's live set is small, scavenges of
 * 1 MB are short). They cannot be set from inside the process: V8 sizes the heap at start.
 */
export const DAEMON_NODE_OPTIONS = ["--max-semi-space-size=1"] as const;
