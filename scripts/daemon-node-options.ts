/**
 * Node.js options the daemon is started with, wherever it runs (the RPM's /usr/bin/k8s-offloadd wrapper
 * through package-rpm.sh; `npm start`, whose script in package.json spells them out; the tests' and
 * benches' daemons: test/helpers/daemon.ts).
 * A young generation of 1 MB semi-spaces instead of V8's default, which grows up to 16 MB ones under a
 * burst of requests and stays resident: measured with bench/api, RSS idle 76 -> 72 MB and after load
 * 89 -> 78 MB, at no measurable cost in CPU per request (a daemon's live set is small, scavenges of
 * 1 MB are short). They cannot be set from inside the process: V8 sizes the heap at start.
 * What it costs: the flag changes V8's flag hash, so Node's own embedded code cache of its built-in
 * modules is rejected and they are compiled at each start: bench/startup spawn -> READY=1 255 ms
 * without, 277 ms with (same period, load ~1.5). Our bundle's cache is made under the same options
 * (scripts/bundle.ts WARM_UP, checked by test/unit/code-cache.test.ts), so only the built-ins pay.
 */
export const DAEMON_NODE_OPTIONS = ["--max-semi-space-size=1"] as const;
