/**
 * The host interface (docs/architecture.md#host-interface-and-arp-proxy):
 * `ip link set P4TAP_0 name TAP_0; ip link set TAP_0 up; ip addr add 169.254.1.1/32 dev TAP_0`, made
 * idempotent (already renamed, up or addressed is success) and probed (hostInterfaceState: the
 * namespace's long-lived ip reader, no process) so a removed address can be restored. Ensuring is
 * one read and, only when something is missing,
 * ONE `ip -j -batch -` that makes the changes and reads the result back (its last line is the show).
 * In the daemon's own namespace a probe first asks the kernel in-process (getifaddrs, no spawn).
 */
import { networkInterfaces } from "node:os";
import { describeFailure, runCommand } from "./command";
import { ipSessionShow, renewIpSession } from "./ip-session";
import { assertIfnames, describeBatchFailure, ipArgv, lastJsonLine, runIpBatch } from "./links";

export interface HostInterfaceSpec {
  /** The pool's first TAP as the target made it (P4TAP_0). */
  from: string;
  /** The host interface name (TAP_0). */
  name: string;
  /** Address with prefix, e.g. 169.254.1.1/32 (a bare address means /32, or /128 for IPv6). */
  address: string;
}

export interface HostInterfaceState {
  exists: boolean;
  /** Administratively up (IFF_UP); a TAP nobody holds open is up but has no carrier. */
  up: boolean;
  hasAddress: boolean;
  ifindex: number | null;
  mac: string | null;
  operState: string | null;
}

export interface EnsureResult {
  renamed: boolean;
  broughtUp: boolean;
  addressAdded: boolean;
  state: HostInterfaceState;
}

interface ParsedAddress {
  family: "inet" | "inet6";
  local: string;
  prefixlen: number;
  /** Normalised "local/prefixlen" for `ip addr add`. */
  cidr: string;
}

export function parseAddress(address: string): ParsedAddress {
  const m = /^([0-9A-Fa-f.:]+)(?:\/(\d{1,3}))?$/.exec(address.trim());
  const local = m?.[1] ?? "";
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(local);
  const family = v4 ? "inet" : local.includes(":") ? "inet6" : null;
  const max = family === "inet" ? 32 : 128;
  const prefixlen = m?.[2] === undefined ? max : Number(m[2]);
  const octetsOk = !v4 || v4.slice(1).every((o) => Number(o) <= 255);
  if (!m || !family || !octetsOk || prefixlen > max) {
    throw new Error(
      `invalid host interface address ${JSON.stringify(address)}: expected an IPv4 or IPv6 address with an optional /prefix, e.g. 169.254.1.1/32`,
    );
  }
  return { family, local: local.toLowerCase(), prefixlen, cidr: `${local}/${prefixlen}` };
}

interface IpAddrJson {
  ifindex: number;
  ifname: string;
  flags?: string[];
  operstate?: string;
  address?: string;
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

const MISSING = /does not exist|Cannot find device/i;
/** `ip addr add` of an address the link already has: "File exists", or with extended ack (iproute2 6) "Address already assigned". */
const ADDRESS_THERE = /File exists|already assigned/i;

const NOT_THERE: HostInterfaceState = {
  exists: false,
  up: false,
  hasAddress: false,
  ifindex: null,
  mac: null,
  operState: null,
};

function stateOf(json: string, name: string, want: ParsedAddress): HostInterfaceState {
  const link = (JSON.parse(json || "[]") as IpAddrJson[]).find((l) => l.ifname === name);
  if (!link) return { ...NOT_THERE };
  const hasAddress = (link.addr_info ?? []).some(
    (a) =>
      a.family === want.family &&
      (a.local ?? "").toLowerCase() === want.local &&
      a.prefixlen === want.prefixlen,
  );
  return {
    exists: true,
    up: (link.flags ?? []).includes("UP"),
    hasAddress,
    ifindex: link.ifindex,
    mac: link.address ?? null,
    operState: link.operstate ?? null,
  };
}

/**
 * {exists, up, hasAddress} of `name`. Through the namespace's long-lived ip (host/ip-session.ts: no
 * process per probe) the whole `addr show` dump is asked and `name` found in it: a dump prints
 * each link's name from the kernel's message, whereas `addr show dev NAME` would resolve NAME
 * through that process's name cache, which a rename or a delete behind its back leaves stale.
 * Without a session: ONE `ip -j addr show dev NAME`.
 */
export async function hostInterfaceState(
  netns: string | null,
  name: string,
  address: string,
): Promise<HostInterfaceState> {
  assertIfnames([name]);
  const want = parseAddress(address);
  const dump = await ipSessionShow(netns, ["addr", "show"], 10_000);
  if (dump !== null) {
    if (dump.code !== 0) throw new Error(describeFailure(dump.argv, dump));
    return stateOf(dump.stdout, name, want);
  }
  const argv = ipArgv(netns, ["-j", "addr", "show", "dev", name]);
  const r = await runCommand(argv, { timeoutMs: 10_000 });
  if (r.code !== 0) {
    if (MISSING.test(r.stderr)) return { ...NOT_THERE };
    throw new Error(describeFailure(argv, r));
  }
  return stateOf(r.stdout, name, want);
}

/**
 * True when `name` is up, running and has `address`, asked in-process in the daemon's OWN network
 * namespace (getifaddrs through os.networkInterfaces(): libuv lists only interfaces that are IFF_UP
 * and IFF_RUNNING). False means "cannot tell this way" (down, no carrier, no such address, or a
 * differently spelled IPv6 address): ask hostInterfaceState. No process is spawned.
 */
export function hostInterfaceListedHere(name: string, address: string): boolean {
  const want = parseAddress(address);
  const family = want.family === "inet" ? "IPv4" : "IPv6";
  return (networkInterfaces()[name] ?? []).some((a) => {
    const prefix = a.cidr === null ? null : Number(a.cidr.slice(a.cidr.lastIndexOf("/") + 1));
    return a.family === family && a.address.toLowerCase() === want.local && prefix === want.prefixlen;
  });
}

/**
 * Rename `from` to `name` (when `name` does not exist yet; a rename needs the link down), set it
 * up, add the address when missing. Every step is skipped when already true, so calling it again
 * (or after someone removed the address) is the repair. Processes: one read when nothing is
 * missing; else one read and one `ip -j -batch -` (the changes, then `addr show` as read-back).
 */
export async function ensureHostInterface(
  netns: string | null,
  spec: HostInterfaceSpec,
): Promise<EnsureResult> {
  assertIfnames([spec.from, spec.name]);
  const addr = parseAddress(spec.address);
  const before = await hostInterfaceState(netns, spec.name, spec.address);
  if (before.exists && before.up && before.hasAddress) {
    return { renamed: false, broughtUp: false, addressAdded: false, state: before };
  }
  const renamed = !before.exists;
  const broughtUp = renamed || !before.up;
  const lines: string[] = renamed
    ? // down (a rename needs it), rename, up.
      [
        `link set dev ${spec.from} down`,
        `link set dev ${spec.from} name ${spec.name}`,
        `link set dev ${spec.name} up`,
      ]
    : before.up
      ? []
      : [`link set dev ${spec.name} up`];
  const addLine = lines.length + 1;
  if (!before.hasAddress) lines.push(`addr add ${addr.cidr} dev ${spec.name}`);
  lines.push(`addr show dev ${spec.name}`);
  const r = await runIpBatch(netns, lines, ["-j"]);
  // A rename (batch lines 1-2: down, rename) leaves the name cache of the namespace's ip reader
  // stale (the ARP proxy's reads print names from it): a new reader.
  if (renamed && (r.code === 0 || (r.failedLine ?? 0) > 2)) await renewIpSession(netns);
  let addressAdded = !before.hasAddress;
  let st: HostInterfaceState;
  if (r.code === 0) {
    st = stateOf(lastJsonLine(r.stdout), spec.name, addr);
  } else if (renamed && r.failedLine === 1 && MISSING.test(r.stderr)) {
    throw new Error(
      `host interface: neither ${spec.name} nor ${spec.from} exists${netns ? ` in network namespace ${netns}` : ""} (the pool's first TAP must exist before it is renamed)`,
    );
  } else if (!before.hasAddress && r.failedLine === addLine && ADDRESS_THERE.test(r.stderr)) {
    // EEXIST: added meanwhile by someone else (or `from` had it), which is the state we want; the
    // batch stopped before its read-back.
    addressAdded = false;
    st = await hostInterfaceState(netns, spec.name, spec.address);
  } else {
    throw new Error(`host interface ${spec.name}: ${describeBatchFailure(r, lines)}`);
  }
  if (!st.exists || !st.up || !st.hasAddress) {
    throw new Error(
      `host interface ${spec.name}: still not as wanted after ensure (exists ${st.exists}, up ${st.up}, has ${addr.cidr} ${st.hasAddress})`,
    );
  }
  return { renamed, broughtUp, addressAdded, state: st };
}
