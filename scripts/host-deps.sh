#!/usr/bin/env bash
# Installs the Debian packages the sandbox profile and the tests need, idempotently: nothing is
# done when every tool is already there. Open vSwitch is run by hand by the daemon (own run/db/log
# dirs) and containerd is only asked for its default config, so neither package's service may start
# here: a temporary policy-rc.d denies it.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have ovs-vswitchd || need+=(openvswitch-switch)
have ip || need+=(iproute2)
have unshare || need+=(util-linux)
have mount || need+=(mount)
# The containerd preflight tests fix the distribution's own `containerd config default` output.
have containerd || need+=(containerd)
# The system tests boot a real systemd in a container (test/system): a Debian rootfs and nspawn.
have mmdebstrap || need+=(mmdebstrap)
have systemd-nspawn || need+=(systemd-container)
# The dpdk TAP backend's tests and bench (test/integration/taps-dpdk.test.ts, bench/taps-dpdk.ts,
# profiles/sandbox-dpdk.yaml): Debian's Open vSwitch built with DPDK (installed beside the plain one;
# the ovs-vswitchd alternative stays the plain one), the TAP PMD, and the ring mempool driver
# (without it every mempool fails with EINVAL). Test-side packages.
[ -x /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk ] || need+=(openvswitch-switch-dpdk)
[ -e /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/librte_net_tap.so.23 ] || need+=(librte-net-tap23)
[ -e /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/librte_mempool_ring.so.23 ] || need+=(librte-mempool-ring23)
# The RPM build and its checks (packaging/, npm run package:rpm).
have rpmbuild || need+=(rpm)
have rpmlint || need+=(rpmlint)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "host-deps: missing ${need[*]}; run as root to install them" >&2
  exit 1
fi
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# k8s-offloadd host-deps: do not start services while installing\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
echo "host-deps: installing ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
