#!/usr/bin/env bash
# The Debian packages `npm start` (the sandbox profile) needs, installed only when missing; silent
# when nothing is: Open vSwitch (the daemon runs the distribution's ovsdb-server and ovs-vswitchd by
# hand, with its own run/db/log dirs; the package's own service is kept from starting), iproute2
# (ip netns/link/addr) and mount. The test tools are test-deps.sh's (`npm test`).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have ovs-vswitchd || need+=(openvswitch-switch)
have ip || need+=(iproute2)
have mount || need+=(mount)
exec bash scripts/install-packages.sh host-deps "${need[@]}"
