import { existsSync } from "node:fs";
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

/** True when the named namespace exists (its /run/netns file is there). */
export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name));
}

/** Create the namespace unless it exists; returns true when this call created it. */
export async function ensureNetns(name: string): Promise<boolean> {
  if (existsSync(netnsPath(name))) return false;
  const argv = ["ip", "netns", "add", name];
  const r = await runCommand(argv, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(describeFailure(argv, r));
  // A fresh namespace has lo down; loopback must work for the gRPC endpoints inside it.
  const up = ["ip", "-n", name, "link", "set", "lo", "up"];
  const r2 = await runCommand(up, { timeoutMs: 10_000 });
  if (r2.code !== 0) throw new Error(describeFailure(up, r2));
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
