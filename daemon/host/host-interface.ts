/**
 * The host interface (docs/architecture.md#host-interface-and-arp-proxy):
 * `ip link set P4TAP_0 name TAP_0; ip link set TAP_0 up; ip addr add 169.254.1.1/32 dev TAP_0`, made
 * idempotent (already renamed, up or addressed is success) and probed with ONE `ip -j addr show dev X`
 * so a removed address can be restored.
 */
import { describeFailure, runCommand } from "./command";
import { assertIfnames, ipArgv, ipBatch } from "./links";

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

/** {exists, up, hasAddress} of `name` from ONE `ip -j addr show dev NAME`. */
export async function hostInterfaceState(
  netns: string | null,
  name: string,
  address: string,
): Promise<HostInterfaceState> {
  assertIfnames([name]);
  const want = parseAddress(address);
  const argv = ipArgv(netns, ["-j", "addr", "show", "dev", name]);
  const r = await runCommand(argv, { timeoutMs: 10_000 });
  if (r.code !== 0) {
    if (MISSING.test(r.stderr)) {
      return { exists: false, up: false, hasAddress: false, ifindex: null, mac: null, operState: null };
    }
    throw new Error(describeFailure(argv, r));
  }
  const link = (JSON.parse(r.stdout || "[]") as IpAddrJson[]).find((l) => l.ifname === name);
  if (!link)
    return { exists: false, up: false, hasAddress: false, ifindex: null, mac: null, operState: null };
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
 * Rename `from` to `name` (when `name` does not exist yet; a rename needs the link down), set it
 * up, add the address when missing. Every step is skipped when already true, so calling it again
 * (or after someone removed the address) is the repair.
 */
export async function ensureHostInterface(
  netns: string | null,
  spec: HostInterfaceSpec,
): Promise<EnsureResult> {
  assertIfnames([spec.from, spec.name]);
  const addr = parseAddress(spec.address);
  let st = await hostInterfaceState(netns, spec.name, spec.address);
  let renamed = false;
  let broughtUp = false;
  if (!st.exists) {
    const src = await hostInterfaceState(netns, spec.from, spec.address);
    if (!src.exists) {
      throw new Error(
        `host interface: neither ${spec.name} nor ${spec.from} exists${netns ? ` in network namespace ${netns}` : ""} (the pool's first TAP must exist before it is renamed)`,
      );
    }
    // One process: down (a rename needs it), rename, up.
    await ipBatch(netns, [
      `link set dev ${spec.from} down`,
      `link set dev ${spec.from} name ${spec.name}`,
      `link set dev ${spec.name} up`,
    ]);
    renamed = true;
    broughtUp = true;
    st = await hostInterfaceState(netns, spec.name, spec.address);
  }
  if (!st.up) {
    await mustIp(netns, ["link", "set", "dev", spec.name, "up"]);
    broughtUp = true;
  }
  let addressAdded = false;
  if (!st.hasAddress) {
    const argv = ipArgv(netns, ["addr", "add", addr.cidr, "dev", spec.name]);
    const r = await runCommand(argv, { timeoutMs: 10_000 });
    // EEXIST: added meanwhile by someone else, which is the state we want.
    if (r.code !== 0 && !/File exists/i.test(r.stderr)) throw new Error(describeFailure(argv, r));
    addressAdded = r.code === 0;
  }
  if (renamed || broughtUp || addressAdded) st = await hostInterfaceState(netns, spec.name, spec.address);
  if (!st.exists || !st.up || !st.hasAddress) {
    throw new Error(
      `host interface ${spec.name}: still not as wanted after ensure (exists ${st.exists}, up ${st.up}, has ${addr.cidr} ${st.hasAddress})`,
    );
  }
  return { renamed, broughtUp, addressAdded, state: st };
}

async function mustIp(netns: string | null, args: string[]): Promise<void> {
  const argv = ipArgv(netns, args);
  const r = await runCommand(argv, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(describeFailure(argv, r));
}
