#!/usr/bin/env bash
# Seeds the sandbox's fake host root (.sandbox/hostroot, profiles/sandbox.yaml host.root) with the
# host files a P4-OVS node has and the daemon does not make itself, only when missing: P4-OVS's
# chassis config as create_interfaces.sh leaves it (the stock file, test/fixtures/chassis/, renamed
# by that script's own `sed -i 's/\bTAP/P4TAP_/g'`). The other fake files (hugepages, mounts) are
# written by the daemon's components and fixes.
set -euo pipefail
cd "$(dirname "$0")/.."
chassis=.sandbox/hostroot/usr/share/stratum/dpdk_port_config.pb.txt
if [ ! -e "$chassis" ]; then
  mkdir -p "$(dirname "$chassis")"
  cp test/fixtures/chassis/dpdk_port_config.pb.txt "$chassis.tmp"
  sed -i 's/\bTAP/P4TAP_/g' "$chassis.tmp"
  mv "$chassis.tmp" "$chassis"
fi
