#!/usr/bin/env bash
# `npm run bench [-- NAME...]`: build, then the benchmarks in a throwaway network + mount + pid
# namespace, like the tests. Each prints a ratio against a reference measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
node dist/scripts/bundle.js
bash scripts/host-deps.sh
exec unshare --net --mount --propagation private --pid --fork --mount-proc --kill-child \
  node dist/test/harness/in-namespace.js --run dist/bench/run-all.js "$@"
