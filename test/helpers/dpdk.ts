/**
 * A daemon config for the dpdk TAP backend (tests and bench): Debian's Open vSwitch built with DPDK,
 * the real host's huge pages (reserved by test/helpers/hugepages.ts), hugetlbfs mounted by the
 * daemon's hugepages component at `mountPoint` inside the caller's own mount namespace.
 */
export const DPDK_VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk";

/** 1024 MB of dpdk-socket-mem in 2 MB pages: what the DPDK tests reserve. */
export const DPDK_PAGES = 512;

export function dpdkOverrides(count: number, mountPoint: string, pages: number, socketMem = "1024") {
  return {
    ovs: { ovsVswitchd: DPDK_VSWITCHD, vswitchdExtraArgs: ["--mlockall"], dpdk: { socketMem } },
    taps: { count, backend: "dpdk", max: 1024 },
    target: { simulator: false },
    host: {
      // The real host, for its huge pages; every check that is not about them is off.
      root: "/",
      hugepages: { pages, pageSizeKB: 2048, mountPoint },
      preflight: {
        disabled: [
          "kernel",
          "swap",
          "modules",
          "sysctl",
          "selinux",
          "firewall",
          "containerd",
          "crictl",
          "hugepages-boot",
          "artifacts",
          "proxy",
        ],
      },
    },
  };
}
