/**
 * Kernel links through iproute2 (netlink), optionally inside a named network namespace
 * (`ip -n NS ...`). Argument arrays only, never a shell. Bulk work is ONE process: a listing is one
 * `ip -j -d link show`; creating or deleting many TAPs is one `ip -batch -` reading its commands
 * from stdin (docs/architecture.md#measurements: 256 TAPs ~65 ms with one batch against ~630 ms
 * one process each); with `-j` a batch may end with a `show` line, so changes and their read-back
 * are one process too.
 * A pool lives in a link group so `ip link del group G` removes all of it in one call (checked on
 * this kernel for tun/tap devices: test/integration/taps-kernel.test.ts).
 */
import { type CommandResult, describeFailure, runCommand } from "./command";
import { ipSession, ipShow } from "./ip-session";

export interface LinkInfo {
  name: string;
  ifindex: number;
  /** Hardware address, or null for links without one. */
  mac: string | null;
  /** Kernel operstate: UP, DOWN, UNKNOWN, LOWERLAYERDOWN... (a TAP nobody holds open is DOWN). */
  operState: string;
  /** Link group number (iproute2 prints 0 as "default"). */
  group: number;
  /** "tap" or "tun" for tun devices, else linkinfo's kind (veth, bridge...), null for none. */
  kind: string | null;
  /** Interface flags as iproute2 prints them: UP, LOWER_UP, NO-CARRIER, BROADCAST... */
  flags: string[];
}

/** What a Linux interface name may be (net/core/dev.c dev_valid_name), kept to a safe charset. */
export const IFNAME_RULE =
  "1 to 15 characters from [A-Za-z0-9_.-], not '.' or '..' (Linux IFNAMSIZ is 16 with the NUL; no '/', ':' or whitespace)";

/** Why `name` is not an acceptable interface name, or null when it is. */
export function ifnameProblem(name: string): string | null {
  if (typeof name !== "string" || name.length === 0) return "is empty";
  if (name.length > 15) return `is ${name.length} characters long (at most 15)`;
  if (name === "." || name === "..") return `is '${name}'`;
  if (name.includes("/")) return "contains '/'";
  const bad = /[^A-Za-z0-9_.-]/.exec(name);
  if (bad) return `contains ${JSON.stringify(bad[0])}`;
  return null;
}

/** Throws naming every bad name and the rule; runs nothing. */
export function assertIfnames(names: readonly string[]): void {
  const bad = names.flatMap((n) => {
    const p = ifnameProblem(n);
    return p ? [`${JSON.stringify(n)} ${p}`] : [];
  });
  if (bad.length > 0)
    throw new Error(`invalid interface name: ${bad.join("; ")}; a name must be ${IFNAME_RULE}`);
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new Error(`interface name ${JSON.stringify(n)} given twice`);
    seen.add(n);
  }
}

/** Link groups we accept for a pool: never 0 (the default group, which holds every other link). */
export function assertGroup(group: number): void {
  if (!Number.isInteger(group) || group < 1 || group > 0x7fffffff) {
    throw new Error(
      `invalid link group ${group}: must be an integer from 1 to 2147483647 (0 is the default group)`,
    );
  }
}

const TIMEOUT_MS = 60_000;

/** `ip [-n NS] ARGS...` */
export function ipArgv(netns: string | null, args: readonly string[]): string[] {
  return netns ? ["ip", "-n", netns, ...args] : ["ip", ...args];
}

async function ip(netns: string | null, args: readonly string[], input?: string): Promise<CommandResult> {
  const argv = ipArgv(netns, args);
  const r = await runCommand(argv, { timeoutMs: TIMEOUT_MS, input });
  if (r.code !== 0) throw new Error(describeFailure(argv, r));
  return r;
}

/** Run `ip [-n NS] -batch -` over these command lines (one process). */
export async function ipBatch(netns: string | null, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await ip(netns, ["-batch", "-"], `${lines.join("\n")}\n`);
}

/** What one `ip -batch -` answered, failing or not: the caller decides what a failure means. */
export interface IpBatchResult extends CommandResult {
  argv: string[];
  /** The 1-based batch line that failed (iproute2 says "Command failed -:N"), null when none did. */
  failedLine: number | null;
}

/**
 * Run `ip [-n NS] [FLAGS] -batch -` over these lines (one process) and return its answer. With
 * FLAGS `-j` a `show` line prints its JSON document on its own line; other lines print nothing. The
 * batch stops at the first failing line.
 */
export async function runIpBatch(
  netns: string | null,
  lines: readonly string[],
  flags: readonly string[] = [],
): Promise<IpBatchResult> {
  const argv = ipArgv(netns, [...flags, "-batch", "-"]);
  const r = await runCommand(argv, { timeoutMs: TIMEOUT_MS, input: `${lines.join("\n")}\n` });
  const m = /Command failed -:(\d+)/.exec(r.stderr);
  return { ...r, argv, failedLine: r.code === 0 ? null : m ? Number(m[1]) : null };
}

/** How a batch failed, naming the line that did. */
export function describeBatchFailure(r: IpBatchResult, lines: readonly string[]): string {
  const line = r.failedLine === null ? undefined : lines[r.failedLine - 1];
  return `${describeFailure(r.argv, r)}${line === undefined ? "" : ` (batch line ${r.failedLine}: ${line})`}`;
}

/** The last JSON document a `-j` batch printed ("[]" when none). */
export function lastJsonLine(stdout: string): string {
  const docs = stdout.split("\n").filter((l) => l.startsWith("["));
  return docs.at(-1) ?? "[]";
}

interface IpLinkJson {
  ifindex: number;
  ifname: string;
  flags?: string[];
  operstate?: string;
  group?: string | number;
  address?: string;
  link_type?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string } };
}

export function parseLinks(json: string): LinkInfo[] {
  const raw = JSON.parse(json || "[]") as IpLinkJson[];
  return raw.map((l) => {
    const g = l.group ?? "default";
    const group = g === "default" ? 0 : Number(g);
    const kindRaw = l.linkinfo?.info_kind ?? null;
    const kind = kindRaw === "tun" ? (l.linkinfo?.info_data?.type ?? "tun") : kindRaw;
    const noMac = l.link_type === "loopback" || l.link_type === "none" || !l.address;
    return {
      name: l.ifname,
      ifindex: l.ifindex,
      mac: noMac ? null : (l.address as string),
      operState: l.operstate ?? "UNKNOWN",
      group: Number.isFinite(group) ? group : -1,
      kind,
      flags: l.flags ?? [],
    };
  });
}

/**
 * Every link in the namespace from ONE `ip -j -d link show`, asked through the namespace's
 * long-lived ip (host/ip-session.ts: no process per look) for namespaces the daemon reads again
 * and again (the datapath's); `once` runs its own process (a pod's namespace, listed once).
 */
export async function listLinks(netns: string | null, opts: { once?: boolean } = {}): Promise<LinkInfo[]> {
  if (opts.once) return parseLinks((await ip(netns, ["-j", "-d", "link", "show"])).stdout);
  const r = await ipShow(netns, ["link", "show"], TIMEOUT_MS);
  if (r.code !== 0) throw new Error(describeFailure(r.argv, r));
  return parseLinks(r.stdout);
}

/**
 * Have the namespace's long-lived `ip` reader running before the next listLinks(netns), started now
 * while the caller waits for something else: that listing then costs no process start.
 */
export function warmLinkListing(netns: string | null): void {
  ipSession(netns).warm();
}

/** The batch lines that create `names` as TAPs in `group` (exported for tests and the bench). */
export function createTapLines(names: readonly string[], group: number): string[] {
  return names.flatMap((n) => [`tuntap add dev ${n} mode tap`, `link set dev ${n} group ${group}`]);
}

/**
 * Create TAPs `names` (persistent, no packet-info header) in link `group`, ONE `ip -batch -`.
 * Every name is checked before anything runs. The batch stops at the first failing line (a name
 * that already exists, say); what it made before that stays, in the group, for the caller to
 * reconcile or remove with deleteGroup.
 */
export async function createTaps(
  netns: string | null,
  names: readonly string[],
  group: number,
): Promise<void> {
  assertIfnames(names);
  assertGroup(group);
  await ipBatch(netns, createTapLines(names, group));
}

/**
 * createTaps, and the namespace's links as they are right after (one `ip -j -d -batch -` whose last
 * line is `link show`): the pool needs that listing anyway, and a second process would cost more
 * than making the TAPs.
 */
export async function createTapsAndList(
  netns: string | null,
  names: readonly string[],
  group: number,
): Promise<LinkInfo[]> {
  assertIfnames(names);
  assertGroup(group);
  const lines = [...createTapLines(names, group), "link show"];
  const r = await runIpBatch(netns, lines, ["-j", "-d"]);
  if (r.code !== 0) throw new Error(describeBatchFailure(r, lines));
  return parseLinks(lastJsonLine(r.stdout));
}

/**
 * Delete the links `names`. Plain: ONE `ip -batch -` of `link del dev X` lines; but the kernel
 * waits for an RCU grace period per deleted link (~18 ms each here, measured by
 * bench/taps-kernel: a batch of dels is no faster than one process per del). With `viaGroup` (a
 * group used for nothing else) the links are first moved into that group with one batch and then
 * removed together by `ip link del group` (one unregister for all of them: 256 in ~50 ms).
 */
export async function deleteTaps(
  netns: string | null,
  names: readonly string[],
  opts: { viaGroup?: number } = {},
): Promise<void> {
  assertIfnames(names);
  if (opts.viaGroup !== undefined) assertGroup(opts.viaGroup);
  if (names.length === 0) return;
  if (opts.viaGroup === undefined) {
    await ipBatch(
      netns,
      names.map((n) => `link del dev ${n}`),
    );
    return;
  }
  const g = opts.viaGroup;
  await ipBatch(
    netns,
    names.map((n) => `link set dev ${n} group ${g}`),
  );
  await deleteGroup(netns, g);
}

/**
 * Delete every link in `group` with ONE `ip link del group G` (checked to work for tun/tap
 * devices on this kernel). An empty group is success: the kernel answers ENODEV ("No such
 * device") when no link matched, which is the state wanted.
 */
export async function deleteGroup(netns: string | null, group: number): Promise<void> {
  assertGroup(group);
  const argv = ipArgv(netns, ["link", "del", "group", String(group)]);
  const r = await runCommand(argv, { timeoutMs: TIMEOUT_MS });
  if (r.code !== 0 && !/No such device/i.test(r.stderr)) throw new Error(describeFailure(argv, r));
}
