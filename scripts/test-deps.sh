#!/usr/bin/env bash
# The Debian packages `npm test` needs beyond host-deps.sh's, installed only when missing; silent
# when nothing is. Run by scripts/test.sh before the tests. Add a test's packages here, each with why.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
# The test harness runs every test in a throwaway namespace (unshare).
have unshare || need+=(util-linux)
# The containerd preflight tests fix the distribution's own `containerd config default` output, and
# start containerd (and ask it with ctr, same package) on a config before and after the fix.
have containerd || need+=(containerd)
have ctr || need+=(containerd)
# The system tests boot a real systemd in a container (test/system): a Debian rootfs and nspawn.
have mmdebstrap || need+=(mmdebstrap)
have systemd-nspawn || need+=(systemd-container)
# The RPM build and its checks (packaging/, npm run package:rpm).
have rpmbuild || need+=(rpm)
have rpmlint || need+=(rpmlint)
# The kubeadm hook and reset tests run kubectl; any kubectl will do (Debian's is 1.20).
have kubectl || need+=(kubernetes-client)
# The DPDK TAP backend's tests: Debian's DPDK-enabled ovs-vswitchd and the DPDK drivers it loads.
installed openvswitch-switch-dpdk || need+=(openvswitch-switch-dpdk)
installed librte-net-tap23 || need+=(librte-net-tap23)
installed librte-mempool-ring23 || need+=(librte-mempool-ring23)
# test/integration/idle-daemon.test.ts watches the idle daemon's execve calls (strace -f).
have strace || need+=(strace)
exec bash scripts/install-packages.sh test-deps "${need[@]}"
