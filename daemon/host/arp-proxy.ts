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
 * In a named namespace (the sandbox's datapath) the settings are written and read back by ONE
 * `ip netns exec NS sysctl k1=v1 k2=v2 k3=v3 k1 k2 k3` (procps' sysctl sets an argument with '=' and
 * reads one without, in order; a failing key is named on stderr, the others still done, exit
 * non-zero): `ip netns exec` enters the namespace and remounts /sys for it, and /proc/sys/net is per
 * network namespace, so only that namespace's settings change. A daemon process never setns()es
 * itself. A routine read there (probe, reconcile) asks the namespace's long-lived ip reader instead
 * (kernelArpProxyState: netconf and ntable, no process). In the daemon's own namespace (production) they are the files under /proc/sys/net,
 * written and read in-process: /proc/sys/net shows the namespace of the process that opens it,
 * whatever the mount namespace.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { describeFailure, runCommand } from "./command";
import { ipSessionLinkNames, ipSessionShow, renewIpSession } from "./ip-session";
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

/** A setting's file under /proc/sys (the key's own separators; the interface name verbatim). */
function procPath(ifname: string, key: string): string {
  // net.<table>.<conf|neigh>.<ifname, '.' written '/'>.<leaf>
  const parts = key.split(".");
  return `/proc/sys/net/${parts[1]}/${parts[2]}/${ifname}/${parts.at(-1)}`;
}

function stateOf(keys: readonly string[], values: Map<string, string>): KernelArpProxyState {
  const [kProxy, kFwd, kDelay] = keys as [string, string, string];
  const proxyArp = values.get(kProxy) === "1";
  const forwarding = values.get(kFwd) === "1";
  const d = values.get(kDelay);
  const proxyDelay = d === undefined ? null : Number(d);
  return { exists: true, proxyArp, forwarding, proxyDelay, ok: proxyArp && forwarding && proxyDelay === 0 };
}

const GONE: KernelArpProxyState = {
  exists: false,
  proxyArp: false,
  forwarding: false,
  proxyDelay: null,
  ok: false,
};

/** "key = value" lines of sysctl's output; a key printed twice (set, then read) keeps the read. */
function sysctlValues(stdout: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const m = /^\s*(\S+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) values.set(m[1], m[2]);
  }
  return values;
}

/** The keys sysctl's stderr names (by key, or by its /proc/sys path), in our order. */
function failedKeys(ifname: string, pairs: Array<[string, string]>, stderr: string): string[] {
  return pairs
    .map(([k]) => k)
    .filter((k) => stderr.includes(`"${k}"`) || stderr.includes(`${procPath(ifname, k)}:`));
}

/**
 * Apply the kernel mode on `ifname` and read it back: in `netns`, ONE `ip netns exec NS sysctl ...`;
 * in the daemon's own namespace (null), the /proc/sys files, no process. A setting that cannot be
 * written is named, with why.
 */
export async function enableKernelArpProxy(
  netns: string | null,
  ifname: string,
): Promise<KernelArpProxyState> {
  const pairs = kernelArpProxySysctls(ifname);
  const keys = pairs.map(([k]) => k);
  let st: KernelArpProxyState;
  if (netns === null) {
    const failed: string[] = [];
    for (const [k, v] of pairs) {
      const file = procPath(ifname, k);
      try {
        writeFileSync(file, v);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        failed.push(`${k} (${file}: ${e.code ?? e.message})`);
      }
    }
    if (failed.length > 0) {
      throw new Error(
        `kernel ARP proxy on ${ifname}: cannot set ${failed.join(", ")}${hintMissing(failed.join())}`,
      );
    }
    st = readProcState(ifname, keys);
  } else {
    const argv = inNetns(netns, ["sysctl", ...pairs.map(([k, v]) => `${k}=${v}`), ...keys]);
    const r = await runCommand(argv, { timeoutMs: 10_000 });
    // sysctl goes on past a failing key and exits non-zero; stderr names it.
    if (r.code !== 0 || r.stderr.trim()) {
      const bad = failedKeys(ifname, pairs, r.stderr);
      const which = bad.length > 0 ? `cannot set ${bad.join(", ")}${hintMissing(r.stderr)}: ` : "";
      throw new Error(`kernel ARP proxy on ${ifname}: ${which}${describeFailure(argv, r)}`);
    }
    st = stateOf(keys, sysctlValues(r.stdout));
  }
  if (!st.ok) {
    throw new Error(`kernel ARP proxy on ${ifname}: written but reads back ${JSON.stringify(st)}`);
  }
  return st;
}

function hintMissing(text: string): string {
  return /No such file|ENOENT/i.test(text) ? " (no such interface?)" : "";
}

/** The three settings from /proc/sys in the daemon's own namespace (no process). */
function readProcState(ifname: string, keys: readonly string[]): KernelArpProxyState {
  const values = new Map<string, string>();
  for (const k of keys) {
    try {
      values.set(k, readFileSync(procPath(ifname, k), "utf8").trim());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { ...GONE };
      throw new Error(`kernel ARP proxy on ${ifname}: cannot read ${k}: ${(err as Error).message}`);
    }
  }
  return stateOf(keys, values);
}

/** iproute2 prints a netconf switch as a JSON boolean (6.x); older ones print "on"/"off". */
const isOn = (v: unknown) => v === true || v === "on" || v === 1;

interface NetconfJson {
  family?: string;
  interface?: string;
  forwarding?: unknown;
  proxy_neigh?: unknown;
}

interface NtableJson {
  family?: string;
  dev?: string;
  proxy_delay?: number;
}

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));

/**
 * The three settings from the namespace's long-lived ip (host/ip-session.ts, no process): the
 * `netconf show` dump (forwarding; proxy_neigh, which is IPv4's proxy_arp:
 * net/ipv4/devinet.c inet_netconf_fill_devconf) and the `ntable show name arp_cache` dump
 * (proxy_delay in ms). Both print device names from ip's own cache, which a rename behind its
 * back leaves stale: the names they print must be exactly the links a `link show` dump (names
 * from the kernel) lists right after, else "stale". null: no session can answer now.
 */
async function sessionState(
  netns: string,
  ifname: string,
  keys: readonly string[],
): Promise<KernelArpProxyState | "stale" | null> {
  const conf = await ipSessionShow(netns, ["netconf", "show"], 10_000);
  const tables = conf && (await ipSessionShow(netns, ["ntable", "show", "name", "arp_cache"], 10_000));
  const live = tables && (await ipSessionLinkNames(netns, 10_000));
  if (!conf || !tables || !live) return null;
  for (const r of [conf, tables]) if (r.code !== 0) throw new Error(describeFailure(r.argv, r));
  const v4 = (JSON.parse(conf.stdout) as NetconfJson[]).filter(
    (e) => e.family === "inet" && e.interface !== "all" && e.interface !== "default",
  );
  const arp = (JSON.parse(tables.stdout) as NtableJson[]).filter(
    (t) => t.family === "inet" && t.dev !== undefined,
  );
  if (!sameSet(new Set(v4.map((e) => e.interface ?? "")), live)) return "stale";
  if (!sameSet(new Set(arp.map((t) => t.dev ?? "")), live)) return "stale";
  const c = v4.find((e) => e.interface === ifname);
  if (!c) return { ...GONE };
  const delay = arp.find((t) => t.dev === ifname)?.proxy_delay;
  const [kProxy, kFwd, kDelay] = keys as [string, string, string];
  const values = new Map<string, string>([
    [kProxy, isOn(c.proxy_neigh) ? "1" : "0"],
    [kFwd, isOn(c.forwarding) ? "1" : "0"],
  ]);
  // ntable says milliseconds; the sysctl (and this state) jiffies of USER_HZ 100.
  if (typeof delay === "number") values.set(kDelay, String(Math.round(delay / 10)));
  return stateOf(keys, values);
}

/**
 * Read back the three settings: none in the daemon's own namespace (null: the /proc/sys files); in
 * `netns`, through the namespace's long-lived ip (sessionState; a stale name cache starts a fresh
 * ip once), else ONE `sysctl` process.
 */
export async function kernelArpProxyState(
  netns: string | null,
  ifname: string,
): Promise<KernelArpProxyState> {
  const keys = kernelArpProxySysctls(ifname).map(([k]) => k);
  if (netns === null) return readProcState(ifname, keys);
  for (let attempt = 0; attempt < 2; attempt++) {
    const st = await sessionState(netns, ifname, keys);
    if (st === null) break;
    if (st !== "stale") return st;
    await renewIpSession(netns); // a new ip, with an empty cache
  }
  const argv = inNetns(netns, ["sysctl", ...keys]);
  const r = await runCommand(argv, { timeoutMs: 10_000 });
  const values = sysctlValues(r.stdout);
  if (r.code !== 0 && values.size === 0) {
    if (/cannot stat|No such file/i.test(r.stderr)) return { ...GONE };
    throw new Error(describeFailure(argv, r));
  }
  return stateOf(keys, values);
}
