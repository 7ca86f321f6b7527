import { HostFs } from "./hostfs";

/**
 * The chassis config of P4-OVS 22.07 (/usr/share/stratum/dpdk_port_config.pb.txt, protobuf text of
 * a ChassisConfig). Its gNMI server has tree nodes only for the ports named in `singleton_ports`
 * (ipdk-io/ovs v22.07 p4proto/p4rt/yang_parse_tree.cc, FindNodeOrNull), so a Set for any other
 * name is INVALID_ARGUMENT "The path (...) is unsupported!". The stock file names TAP0..TAP31;
 * k8s-infra-offload's scripts/create_interfaces.sh renames them before starting P4-OVS with
 * `sed -i 's/\bTAP/P4TAP_/g'`, which is the only edit the daemon makes to this file.
 */

/**
 * The `name` of every `singleton_ports { ... }` block, in file order. Tolerant: comments (# to end of
 * line) are skipped, nested blocks (config_params { ... }) are stepped over, and a name is taken
 * only at the block's own level. Not a protobuf text parser: it reads the one thing we need.
 */
export function singletonPortNames(text: string): string[] {
  const names: string[] = [];
  // Tokens: strings, braces, identifiers followed by an optional colon, anything else.
  const tokens =
    text.replace(/#[^\n]*/g, "").match(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[{}]|[^\s{}:"']+|:/g) ?? [];
  let depth = 0;
  /** Depth at which the current singleton_ports block's own fields are; -1: not inside one. */
  let portDepth = -1;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    if (t === "{") {
      depth++;
      continue;
    }
    if (t === "}") {
      if (depth === portDepth) portDepth = -1;
      depth--;
      continue;
    }
    if (t === "singleton_ports" && portDepth === -1) {
      // `singleton_ports {` or `singleton_ports: {`
      let j = i + 1;
      if (tokens[j] === ":") j++;
      if (tokens[j] === "{") {
        depth++;
        portDepth = depth;
        i = j;
      }
      continue;
    }
    if (t === "name" && depth === portDepth && tokens[i + 1] === ":") {
      const v = tokens[i + 2];
      if (v && /^["']/.test(v)) names.push(unquote(v));
      i += 2;
    }
  }
  return names;
}

function unquote(s: string): string {
  return s.slice(1, -1).replace(/\\(.)/g, "$1");
}

/**
 * `sed 's/\bTAP/P4TAP_/g'` on the text: every "TAP" that starts a word (a word boundary before it:
 * start of line, or a non-word character) becomes "P4TAP_". Idempotent: the "TAP" in "P4TAP_" follows
 * "4", a word character. Every other byte stays as it was. Word characters are GNU sed's in the C
 * locale, [A-Za-z0-9_], which is also what JavaScript's \b uses.
 */
export function renameLikeUpstream(text: string): string {
  return text.replace(/\bTAP/g, "P4TAP_");
}

/** The pool names P4TAP_0..P4TAP_<count-1> (prefix + index). */
export function poolNames(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

/**
 * How many pool ports the file can hold: the length of the run prefix0, prefix1, ... named there.
 * Counted on the renamed text, so a stock file (TAP0..TAP31, not yet renamed) counts what it will
 * hold once the preflight fix has run: 32.
 */
export function poolCapacity(text: string, prefix: string): number {
  const names = new Set(singletonPortNames(renameLikeUpstream(text)));
  let n = 0;
  while (names.has(`${prefix}${n}`)) n++;
  return n;
}

/** What the chassis config says about a pool, read below host.root. */
export interface ChassisState {
  /** The host path (as configured). */
  file: string;
  /** null: the file does not exist. */
  text: string | null;
  /** Pool names not in singleton_ports, as the file is now. */
  missing: string[];
  /** Pool ports the file holds after the rename (see poolCapacity). */
  capacity: number;
}

export function chassisState(fs: HostFs, file: string, prefix: string, count: number): ChassisState {
  const text = fs.read(file);
  if (text === null) return { file, text, missing: poolNames(prefix, count), capacity: 0 };
  const names = new Set(singletonPortNames(text));
  return {
    file,
    text,
    missing: poolNames(prefix, count).filter((n) => !names.has(n)),
    capacity: poolCapacity(text, prefix),
  };
}

/** "P4TAP_0..P4TAP_31" style ranges for messages: consecutive indexes are joined. */
export function describeNames(names: string[], prefix: string): string {
  const idx = names.map((n) => Number(n.slice(prefix.length)));
  if (names.length === 0) return "none";
  if (idx.every((x, i) => Number.isInteger(x) && (i === 0 || x === (idx[i - 1] as number) + 1))) {
    return names.length === 1 ? (names[0] as string) : `${names[0]}..${names.at(-1)}`;
  }
  return names.length <= 6
    ? names.join(", ")
    : `${names.slice(0, 5).join(", ")}, ... (${names.length} names)`;
}

/**
 * Why a pool of `count` ports cannot be made on this node, or null when it can (or the target is not
 * P4-OVS: the kernel backend has no chassis config). A missing file is not refused here: preflight
 * reports it (and the node stays not ready), and the daemon must stay up to be asked about it.
 */
export function chassisRoomProblem(
  cfg: {
    host: { root: string };
    taps: { backend: string; prefix: string };
    target: { chassisConfig: string };
  },
  count: number,
): { capacity: number; message: string } | null {
  if (cfg.taps.backend !== "gnmi") return null;
  const fs = new HostFs(cfg.host.root);
  const file = cfg.target.chassisConfig;
  let text: string | null;
  try {
    text = fs.read(file);
  } catch {
    return null; // unreadable: preflight names the error
  }
  if (text === null) return null;
  const capacity = poolCapacity(text, cfg.taps.prefix);
  if (count <= capacity) return null;
  const held =
    capacity === 0
      ? "no pool ports"
      : `${capacity} pool ports (${cfg.taps.prefix}0..${cfg.taps.prefix}${capacity - 1})`;
  return {
    capacity,
    message:
      `${count} TAPs are more than the chassis config ${file} holds: it names ${held}, and P4-OVS ` +
      `accepts gNMI Sets only for ports named there; allowed: at most ${capacity}`,
  };
}
