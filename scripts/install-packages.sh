#!/usr/bin/env bash
# `install-packages.sh WHO PACKAGE...`: installs the given Debian packages (the caller found them
# missing) quietly, as root, with the packages' own services kept from starting: a temporary
# policy-rc.d denies every start while apt runs (Open vSwitch is run by hand by the daemon, containerd
# is only asked for its default config by the tests). WHO names the caller in messages. Shared by
# host-deps.sh (`npm start`) and test-deps.sh (`npm test`).
set -euo pipefail
who=$1
shift
[ $# -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "$who: missing $*; run as root to install them" >&2
  exit 1
fi
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# k8s-offloadd %s: do not start services while installing\nexit 101\n' "$who" >/usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
echo "$who: installing $*" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
