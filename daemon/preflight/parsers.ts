/**
 * Text parsers more than one preflight check reads the host's files with (line lists, systemd
 * drop-in Environment= lines, NO_PROXY entries and IPv4 networks, containerd's TOML). They only
 * parse: reading the files and judging the result is the checks' (daemon/preflight/checks/).
 */
import { parse as parseToml } from "smol-toml";
import type { HostFs } from "../host/hostfs";

/** The text with a final newline (an empty text stays empty), so a line can be appended. */
export const withNewline = (s: string) => (s === "" || s.endsWith("\n") ? s : `${s}\n`);

/** The names a one-name-per-line file lists (modules-load.d), without comments (`#`, `;`) and blanks. */
export const listed = (text: string | null) =>
  new Set(
    (text ?? "")
      .split("\n")
      .map((l) => l.replace(/[#;].*/, "").trim())
      .filter(Boolean),
  );

/** fstab's entries, each split into its fields; comments and blank lines dropped. */
export function fstabLines(text: string | null): string[][] {
  return (text ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(/\s+/));
}

/** The variables the Environment= lines of one drop-in file set (`"A=b c" D=e`), in order. */
export function environmentLines(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*Environment\s*=\s*(.*)$/.exec(line);
    if (!m?.[1]) continue;
    for (const w of m[1].match(/"[^"]*"|\S+/g) ?? []) {
      const a = w.startsWith('"') ? w.slice(1, -1) : w;
      const eq = a.indexOf("=");
      if (eq > 0) env[a.slice(0, eq)] = a.slice(eq + 1);
    }
  }
  return env;
}

/**
 * Where systemd reads a system unit's drop-ins (systemd.unit(5)): /usr/lib/systemd/system (the
 * package's; the guide puts containerd's proxy drop-in there) and /etc/systemd/system (the admin's).
 * Files apply in name order across both; a name in /etc hides the same name in /usr/lib.
 */
export const DROPIN_DIRS = ["/usr/lib/systemd/system", "/etc/systemd/system"] as const;

/** The drop-in files of a unit (host paths) in the order systemd applies them. */
export function dropinFiles(fs: HostFs, unit: string): string[] {
  const byName = new Map<string, string>();
  for (const base of DROPIN_DIRS) {
    const dir = `${base}/${unit}.d`;
    for (const n of fs.list(dir).filter((x) => x.endsWith(".conf"))) byName.set(n, `${dir}/${n}`);
  }
  return [...byName.keys()].sort().map((n) => byName.get(n) as string);
}

/** The variables a unit's drop-ins set (later files win). */
export function dropinEnv(fs: HostFs, unit: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const f of dropinFiles(fs, unit)) Object.assign(env, environmentLines(fs.read(f) ?? ""));
  return env;
}

/** A proxy is set in this environment (either spelling). */
export const proxyOf = (env: Record<string, string | undefined>) =>
  ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"].some((k) => env[k]);

/** The NO_PROXY (or no_proxy) entries of this environment. */
export const noProxyOf = (env: Record<string, string | undefined>) =>
  (env.NO_PROXY ?? env.no_proxy ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

function ipv4(s: string): number | null {
  const p = s.split(".");
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return null;
  return p.reduce((a, x) => a * 256 + Number(x), 0);
}

/** IPv4 network of "a.b.c.d/n" (or a bare address as /32), null for anything else. */
function net4(s: string): { base: number; bits: number } | null {
  const [a, n] = s.split("/");
  const ip = ipv4(a ?? "");
  const bits = n === undefined ? 32 : Number(n);
  if (ip === null || !Number.isInteger(bits) || bits < 0 || bits > 32) return null;
  const size = 2 ** (32 - bits);
  return { base: Math.floor(ip / size) * size, bits };
}

/** An entry covers a wanted address or CIDR when equal, "*", or an IPv4 network containing it. */
export function covered(want: string, entries: string[]): boolean {
  const w = net4(want);
  return entries.some((e) => {
    if (e === want || e === "*") return true;
    const n = net4(e);
    if (!w || !n || n.bits > w.bits) return false;
    const size = 2 ** (32 - n.bits);
    return Math.floor(w.base / size) * size === n.base;
  });
}

export type Table = Record<string, unknown>;

/** A TOML file's tables; an error names the file and the parser's first line. */
export function parseTomlFile(file: string, text: string): Table {
  try {
    return parseToml(text) as Table;
  } catch (err) {
    throw new Error(`cannot parse ${file} as TOML: ${(err as Error).message.split("\n")[0]}`);
  }
}

/** The value at a path of keys in parsed TOML (undefined where a table is missing). */
export function getIn(t: Table, path: readonly string[]): unknown {
  let cur: unknown = t;
  for (const k of path) cur = cur && typeof cur === "object" ? (cur as Table)[k] : undefined;
  return cur;
}
