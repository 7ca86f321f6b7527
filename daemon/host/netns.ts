import { existsSync, statfsSync, unlinkSync } from "node:fs";
import { describeFailure, runCommand } from "./command";
import { endIpSession } from "./ip-session";

/** Network namespaces by name (iproute2's /run/netns). Used by the sandbox profile and tests. */
export const netnsPath = (name: string) => `/run/netns/${assertNetnsName(name)}`;

/**
 * The config schema allows the same; checked again here because the name becomes a path under
 * /run/netns and an argument of ip: no '/', no leading '.' or '-', nothing outside [A-Za-z0-9_.-].
 */
export function assertNetnsName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/.test(name)) {
    throw new Error(
      `invalid network namespace name ${JSON.stringify(name)}: allowed: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`,
    );
  }
  return name;
}

/** statfs(2) f_type of nsfs: what a namespace bind-mounted by `ip netns add` shows. */
const NSFS_MAGIC = 0x6e736673;

/**
 * True when the named namespace exists: its /run/netns file is a mounted namespace. A plain file
 * there is not one: `ip netns add` run inside a private mount namespace (a test, a sandboxed unit)
 * leaves its file behind on the shared /run without the mount, and setns() on it fails (EINVAL).
 */
export function netnsExists(name: string): boolean {
  return isNetnsMount(netnsPath(name));
}

/** True when `path` is a mounted network namespace (not a plain file, not missing). */
export function isNetnsMount(path: string): boolean {
  try {
    return statfsSync(path).type === NSFS_MAGIC;
  } catch {
    return false; // no such file
  }
}

/** Create the namespace unless it exists; returns true when this call created it. */
export async function ensureNetns(name: string): Promise<boolean> {
  if (netnsExists(name)) return false;
  // A stale plain file (see netnsExists) would make `ip netns add` fail with "File exists".
  if (existsSync(netnsPath(name))) unlinkSync(netnsPath(name));
  // One process, not two: a fresh namespace has lo down, and loopback must work for the gRPC
  // endpoints inside it. In a batch `netns exec` forks (a small ip, not the daemon) and waits; the
  // batch stops at the first failing line and says which ("Command failed -:N").
  const argv = ["ip", "-batch", "-"];
  const input = `netns add ${name}\nnetns exec ${name} ip link set lo up\n`;
  const r = await runCommand(argv, { timeoutMs: 10_000, input });
  const what = `ip -batch - (netns add ${name}; netns exec ${name} ip link set lo up)`;
  if (r.code !== 0) throw new Error(describeFailure([what], r));
  return true;
}

export async function deleteNetns(name: string): Promise<void> {
  // Its long-lived ip reader (host/ip-session.ts) would keep it alive, TAPs and all.
  endIpSession(name);
  if (!existsSync(netnsPath(name))) return;
  const argv = ["ip", "netns", "del", name];
  const r = await runCommand(argv, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(describeFailure(argv, r));
}

/**
 * argv that runs a program inside the namespace. `ip netns exec` execs the program in place, so
 * the pid, start time and /proc/PID/cmdline are the program's own: adoption checks still hold.
 */
export function inNetns(name: string | null, argv: readonly string[]): string[] {
  return name ? ["ip", "netns", "exec", assertNetnsName(name), ...argv] : [...argv];
}
