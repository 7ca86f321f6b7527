#!/usr/bin/env bash
# The Debian rootfs the system tests (test/system) boot with systemd-nspawn, built once with
# mmdebstrap and cached read-only under /var/cache/k8s-offloadd-test/rootfs-<hash>, the hash being
# of everything that shapes it (suite, package list, the steps below). Idempotent: prints the
# cached path when it is there, builds it otherwise (needs the network: scripts/test.sh calls this
# before entering the test namespace, which has none). Tests mount it as an overlay lower layer
# and never write to it.
set -euo pipefail

CACHE=${K8S_OFFLOADD_TEST_CACHE:-/var/cache/k8s-offloadd-test}
SUITE=bookworm
# libstdc++6/libgcc-s1: the host's /usr/bin/node is bind-mounted in and links them. Open vSwitch:
# the daemon's real datapath children (its own services are masked below).
# rpm: test/system/rpm-systemd.test.ts installs the k8s-offloadd RPM with it.
# openvswitch-switch-dpdk (ovs-vswitchd-dpdk, beside the plain one), librte-net-tap23 (the TAP PMD)
# and librte-mempool-ring23 (without it every mempool fails): test/system/systemd-dpdk.test.ts runs
# the shipped unit with DPDK's vswitchd as its child.
PACKAGES=systemd,systemd-sysv,dbus,iproute2,procps,libstdc++6,libgcc-s1,openvswitch-switch,rpm,openvswitch-switch-dpdk,librte-net-tap23,librte-mempool-ring23
# Units masked in the image: a getty on the container's console would fight the test for it, and
# Debian's Open vSwitch services would start the OVS the daemon supervises itself.
MASK=(console-getty.service getty@tty1.service openvswitch-switch.service ovsdb-server.service
  ovs-vswitchd.service ovs-record-hostname.service systemd-networkd-wait-online.service
  dpdk.service)
# Bump when the steps below change in a way the lists above do not show.
RECIPE=1

key=$(printf '%s\n' "$RECIPE" "$SUITE" "$PACKAGES" "${MASK[@]}" | sha256sum | cut -c1-16)
dest="$CACHE/rootfs-$key"
if [ -e "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "system-rootfs: building $dest needs root" >&2
  exit 1
fi
mkdir -p "$CACHE"
# One builder at a time; a second caller waits and then finds the cache.
exec 9>"$CACHE/.lock"
flock 9
if [ -e "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi

tmp="$CACHE/.build-$key.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
echo "system-rootfs: building $dest (mmdebstrap $SUITE: $PACKAGES)" >&2
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp" >&2
for unit in "${MASK[@]}"; do
  ln -sfn /dev/null "$tmp/etc/systemd/system/$unit"
done
# nspawn sets up the machine id; an empty file means "not yet set" without first-boot logic.
: >"$tmp/etc/machine-id"
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
