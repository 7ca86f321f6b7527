#!/usr/bin/env bash
# `npm test`: lint, type-check and build, OpenAPI freshness, then every test inside a throwaway
# network + mount + pid namespace (test/harness/in-namespace.ts): the daemon, Open vSwitch and the
# TAPs the tests make live there and die with it; nothing reaches the host's own interfaces.
# Arguments filter test files by substring: `npm test -- engine`.
set -euo pipefail
cd "$(dirname "$0")/.."
npx biome check .
# From an empty dist/: tsc never deletes the output of a source that moved (preflight/checks.ts became
# preflight/checks/), and a stale dist/x.js wins over dist/x/index.js when `x` is required.
rm -rf dist
npx tsc -p tsconfig.json
# The tests run the bundles the package ships (dist/bundle/), not tsc's per-file output.
node dist/scripts/bundle.js
node dist/scripts/write-openapi.js --check
# Host packages: what `npm start` needs, then the test tools (each silent when nothing is missing).
bash scripts/host-deps.sh
bash scripts/test-deps.sh
# The system tests' Debian rootfs (cached; building it needs the network, which the namespace has not).
bash scripts/system-rootfs.sh >/dev/null
exec unshare --net --mount --propagation private --pid --fork --mount-proc --kill-child \
  node dist/test/harness/in-namespace.js "$@"
