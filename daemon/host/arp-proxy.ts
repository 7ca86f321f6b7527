/**
 * ARP proxy on the host interface (docs/architecture.md#host-interface-and-arp-proxy), two modes:
 *
 * - production: the vendor's `arp_proxy` binary as a supervised child, `ARP_PROXY_IF=TAP_0
 *   arp_proxy` (it exits 1 when the variable is empty). arpProxyCommand builds its argv and env.
 * - kernel: no binary; the kernel answers. Per interface: conf.<if>.proxy_arp=1 (answer for
 *   addresses routed through another interface), conf.<if>.forwarding=1 (proxy ARP is only done on
 *   an interface that forwards; the per-interface switch, not the namespace-wide ip_forward, so
 *   nothing else in the namespace starts forwarding) and neigh.<if>.proxy_delay=0 (else a proxied
 *   reply to a broadcast request waits up to 0.8 s). 169.254.1.1 itself, being TAP_0's own
 *   address, is answered in either case.
 *
 * The settings are written with `ip netns exec NS sysctl -w key=value ...` (procps' sysctl, one
 * process for all keys): `ip netns exec` enters the namespace and remounts /sys for it, and
 * /proc/sys/net is per network namespace, so only that namespace's settings change. A daemon
 * process never setns()es itself.
 */
import { describeFailure, runCommand } from "./command";
import { assertIfnames } from "./links";
import { inNetns } from "./netns";

export interface ArpProxyCommand {
  argv: string[];
  env: Record<string, string>;
}

/** The production mode's child: `ARP_PROXY_IF=<ifname> <binary>`. */
export function arpProxyCommand(binary: string, ifname: string): ArpProxyCommand {
  if (!binary) throw new Error("arp_proxy: no binary path given");
  assertIfnames([ifname]);
  return { argv: [binary], env: { ARP_PROXY_IF: ifname } };
}

/** sysctl's key syntax uses '.' as separator, so a '.' inside an interface name is written '/'. */
const ifKey = (ifname: string) => ifname.replace(/\./g, "/");

/** The kernel mode's settings for `ifname`, as [key, value] pairs. */
export function kernelArpProxySysctls(ifname: string): Array<[string, string]> {
  assertIfnames([ifname]);
  const k = ifKey(ifname);
  return [
    [`net.ipv4.conf.${k}.proxy_arp`, "1"],
    [`net.ipv4.conf.${k}.forwarding`, "1"],
    [`net.ipv4.neigh.${k}.proxy_delay`, "0"],
  ];
}

export interface KernelArpProxyState {
  /** The interface's sysctl directory exists in the namespace. */
  exists: boolean;
  proxyArp: boolean;
  forwarding: boolean;
  /** In jiffies as the kernel reports it (USER_HZ: 100 per second); 0 is what we want. */
  proxyDelay: number | null;
  /** All three as the kernel mode wants them. */
  ok: boolean;
}

/** Apply the kernel mode on `ifname` inside `netns` (ONE `ip netns exec NS sysctl -w ...`). */
export async function enableKernelArpProxy(
  netns: string | null,
  ifname: string,
): Promise<KernelArpProxyState> {
  const argv = inNetns(netns, [
    "sysctl",
    "-w",
    ...kernelArpProxySysctls(ifname).map(([k, v]) => `${k}=${v}`),
  ]);
  const r = await runCommand(argv, { timeoutMs: 10_000 });
  // sysctl -w goes on past a failing key and exits non-zero; stderr names it.
  if (r.code !== 0 || r.stderr.trim()) {
    throw new Error(`kernel ARP proxy on ${ifname}: ${describeFailure(argv, r)}`);
  }
  const st = await kernelArpProxyState(netns, ifname);
  if (!st.ok) {
    throw new Error(`kernel ARP proxy on ${ifname}: written but reads back ${JSON.stringify(st)}`);
  }
  return st;
}

/** Read back the three settings (ONE `sysctl` process). */
export async function kernelArpProxyState(
  netns: string | null,
  ifname: string,
): Promise<KernelArpProxyState> {
  const keys = kernelArpProxySysctls(ifname).map(([k]) => k);
  const argv = inNetns(netns, ["sysctl", ...keys]);
  const r = await runCommand(argv, { timeoutMs: 10_000 });
  const values = new Map<string, string>();
  for (const line of r.stdout.split("\n")) {
    const m = /^\s*(\S+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) values.set(m[1], m[2]);
  }
  if (r.code !== 0 && values.size === 0) {
    if (/cannot stat|No such file/i.test(r.stderr)) {
      return { exists: false, proxyArp: false, forwarding: false, proxyDelay: null, ok: false };
    }
    throw new Error(describeFailure(argv, r));
  }
  const [kProxy, kFwd, kDelay] = keys as [string, string, string];
  const proxyArp = values.get(kProxy) === "1";
  const forwarding = values.get(kFwd) === "1";
  const d = values.get(kDelay);
  const proxyDelay = d === undefined ? null : Number(d);
  return { exists: true, proxyArp, forwarding, proxyDelay, ok: proxyArp && forwarding && proxyDelay === 0 };
}
