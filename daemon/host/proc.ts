import { readdirSync, readFileSync, statSync } from "node:fs";

/** What /proc says about a pid: enough to tell whether it is still the process we started. */
export interface ProcInfo {
  /** Single-letter state (R, S, D, Z, ...). Z and X are dead for our purposes. */
  state: string;
  /** Field 22 of /proc/PID/stat: start time in clock ticks after boot. Survives exec. */
  startTime: number;
}

export function procInfo(pid: number): ProcInfo | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses: parse after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); field 22 is rest[19].
  const state = rest[0] ?? "?";
  const startTime = Number(rest[19]);
  return Number.isFinite(startTime) ? { state, startTime } : null;
}

export function procCmdline(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return raw.split("\0").slice(0, -1);
  } catch {
    return null;
  }
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  const info = procInfo(pid);
  return info !== null && info.state !== "Z" && info.state !== "X";
}

/** Every pid in /proc but the daemon's own: one directory read, for the scans below. */
export function otherPids(): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  return entries
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/**
 * Live processes (not zombies) running exactly `argv`, lowest pid first: a child a killed daemon
 * spawned but had not recorded yet. One /proc pass, only at start-up when there is no record.
 */
export function findByArgv(argv: readonly string[]): Array<{ pid: number; startTime: number }> {
  const out: Array<{ pid: number; startTime: number }> = [];
  for (const pid of otherPids()) {
    const cmd = procCmdline(pid);
    if (!cmd || cmd.length !== argv.length || !cmd.every((a, i) => a === argv[i])) continue;
    const info = procInfo(pid);
    if (info && info.state !== "Z" && info.state !== "X") out.push({ pid, startTime: info.startTime });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/**
 * Still exiting: the thread group's leader is a zombie (its /proc entry says Z and has no cmdline)
 * while other threads of it still run their exit, holding the process's files (a DPDK vswitchd's
 * TAP fds, its huge pages) until the last one ends. Such a process has not gone yet: what it holds
 * is still held.
 */
export function stillExiting(pid: number, startTime: number): boolean {
  const info = procInfo(pid);
  if (!info || info.startTime !== startTime || (info.state !== "Z" && info.state !== "X")) return false;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tids.some((t) => {
    if (t === String(pid)) return false;
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      return state !== "Z" && state !== "X";
    } catch {
      return false;
    }
  });
}

/**
 * The identity check for adoption: the pid is alive, started at the recorded time and runs the
 * recorded argv. A pid that fails it may belong to another program now and is never touched.
 */
export function isSameProcess(pid: number, startTime: number, argv: readonly string[]): boolean {
  const info = procInfo(pid);
  if (!info || info.state === "Z" || info.state === "X" || info.startTime !== startTime) return false;
  const cmd = procCmdline(pid);
  return cmd !== null && cmd.length === argv.length && cmd.every((a, i) => a === argv[i]);
}

/** The program name the kernel shows for a pid (/proc/PID/comm, at most 15 characters), or null. */
export function procComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}

/** Live processes (not zombies) whose comm is one of `names`, lowest pid first. One /proc pass. */
export function findByComm(
  names: readonly string[],
): Array<{ pid: number; comm: string; startTime: number; argv: string[] }> {
  const out: Array<{ pid: number; comm: string; startTime: number; argv: string[] }> = [];
  for (const pid of otherPids()) {
    const comm = procComm(pid);
    if (comm === null || !names.includes(comm)) continue;
    const info = procInfo(pid);
    if (!info || info.state === "Z" || info.state === "X") continue;
    out.push({ pid, comm, startTime: info.startTime, argv: procCmdline(pid) ?? [] });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/** Inode of the network namespace a pid is in (/proc/PID/ns/net), or null when it cannot be read. */
export function netnsInode(pid: number | "self"): number | null {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino;
  } catch {
    return null;
  }
}

/** One variable of a process's initial environment (/proc/PID/environ), or null. */
export function procEnv(pid: number, name: string): string | null {
  try {
    const raw = readFileSync(`/proc/${pid}/environ`, "utf8");
    for (const kv of raw.split("\0")) if (kv.startsWith(`${name}=`)) return kv.slice(name.length + 1);
  } catch {}
  return null;
}

let cachedBootId: string | null = null;

/**
 * The kernel's id of this boot (/proc/sys/kernel/random/boot_id): a child record written in another
 * boot names a pid and start time that mean nothing now. Read once: it cannot change while we run.
 */
export function bootId(): string {
  cachedBootId ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  return cachedBootId;
}
