/**
 * Reads, validates and completes the YAML configuration. It only reads: a bad file must leave the
 * host exactly as it was, so main.ts loads the config before touching anything else.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { AnySchemaObject, ErrorObject } from "ajv";
import { type Document, isMap, isScalar, LineCounter, type Node, parseDocument } from "yaml";
import { DEFAULT_TAPS_MAX, powersOf2 } from "./schema";
import type { Config, OvsConfig } from "./types";
import { configValidator } from "./validator";

export const defaultConfigPath = "/etc/k8s-offloadd/config.yaml";

/** A bad or unreadable config file. The message is ready to print: one line per problem. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly file: string,
    /** The problems without the "config FILE: " prefix, in file order. */
    readonly problems: string[],
  ) {
    super(problems.map((p) => `config ${file}: ${p}`).join("\n"));
  }
}

/** Where P4-OVS 22.07 keeps things under OVS_INSTALL (run_ovs.sh: RUN_OVS=${OVS_INSTALL:-/usr/local}). */
const OVS_LAYOUT = {
  ovsdbServer: "sbin/ovsdb-server",
  ovsVswitchd: "sbin/ovs-vswitchd",
  ovsVsctl: "bin/ovs-vsctl",
  ovsdbTool: "bin/ovsdb-tool",
  ovsAppctl: "bin/ovs-appctl",
  schema: "share/openvswitch/vswitch.ovsschema",
  dbFile: "etc/openvswitch/conf.db",
  runDir: "var/run/openvswitch",
  logDir: "var/log/openvswitch",
} as const satisfies Partial<Record<keyof OvsConfig, string>>;

export function loadConfig(path: string): Config {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === "ENOENT"
        ? `no such file; pass --config PATH (profiles/p4-ovs.yaml documents every key)`
        : `cannot read it (${e.code ?? e.message})`;
    throw new ConfigError(file, [why]);
  }

  const lines = new LineCounter();
  // prettyErrors off: the parser's messages stay one line; positions come from the LineCounter.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `YAML syntax error (${at(e.pos[0])}): ${e.message}`),
    );
  }

  const data: unknown = doc.toJS() ?? {}; // an empty file (or only comments) means "all defaults"
  const problems = check(data, doc, at);
  if (problems.length > 0) {
    problems.sort((a, b) => a.offset - b.offset);
    throw new ConfigError(
      file,
      problems.map((p) => p.text),
    );
  }
  return complete(data as Raw, dirname(file));
}

/** The validated data: defaults filled, OVS paths not yet derived, paths not yet resolved. */
type Raw = Omit<Config, "ovs" | "api"> & {
  api: Omit<Config["api"], "tokenFile"> & { tokenFile: string | null };
  ovs: Omit<OvsConfig, keyof typeof OVS_LAYOUT> & Partial<OvsConfig>;
};

function complete(raw: Raw, dir: string): Config {
  const abs = (p: string) => resolve(dir, p);
  const install = abs(raw.ovs.install);
  const ovs = {
    ...raw.ovs,
    install,
    sdeInstall: raw.ovs.sdeInstall === null ? null : abs(raw.ovs.sdeInstall),
    depsInstall: raw.ovs.depsInstall === null ? null : abs(raw.ovs.depsInstall),
  };
  for (const [key, rel] of Object.entries(OVS_LAYOUT) as [keyof typeof OVS_LAYOUT, string][]) {
    const given = raw.ovs[key];
    ovs[key] = given === undefined ? resolve(install, rel) : abs(given);
  }
  return {
    ...raw,
    stateDir: abs(raw.stateDir),
    api: {
      ...raw.api,
      tokenFile: raw.api.tokenFile === null ? resolve(abs(raw.stateDir), "token") : abs(raw.api.tokenFile),
    },
    runDir: abs(raw.runDir),
    logDir: abs(raw.logDir),
    ovs: ovs as OvsConfig,
    host: { ...raw.host, root: abs(raw.host.root) },
    arpProxy: { ...raw.arpProxy, binary: abs(raw.arpProxy.binary) },
    pipeline: { ...raw.pipeline, artifacts: pinsResolved(raw.pipeline.artifacts, abs) },
  };
}

function pinsResolved(a: Config["pipeline"]["artifacts"], abs: (p: string) => string) {
  if (!a) return null;
  const one = (p: { path: string; sha256: string }) => ({ path: abs(p.path), sha256: p.sha256 });
  return { pbBin: one(a.pbBin), p4info: one(a.p4info), conf: one(a.conf) };
}

interface Problem {
  /** Offset in the file, to report problems in file order. */
  offset: number;
  text: string;
}

type At = (offset: number) => string;

function check(data: unknown, doc: Document, at: At): Problem[] {
  const problems: Problem[] = [];
  const bad = new Set<string>(); // instance paths already reported: one problem per value
  const validate = configValidator();
  validate(data);
  const errors = validate.errors ?? [];
  // allErrors may report a value twice (e.g. "x" for taps.count: type and enum); the type says most.
  errors.sort((a, b) => Number(b.keyword === "type") - Number(a.keyword === "type"));
  for (const e of errors) {
    const segs = e.instancePath.split("/").slice(1).map(unescapePointer);
    if (e.keyword === "additionalProperties") {
      const key = String(e.params.additionalProperty);
      const allowed = Object.keys(e.parentSchema?.properties ?? {}).join(", ");
      const offset = keyOffset(doc, segs, key);
      const name = displayPath(data, [...segs, key]);
      problems.push({ offset, text: `unknown key "${name}" (${at(offset)}); allowed keys here: ${allowed}` });
      continue;
    }
    if (bad.has(e.instancePath)) continue;
    bad.add(e.instancePath);
    problems.push(valueProblem(doc, at, data, segs, e.data, allowedText(e, data, bad), typeNote(e)));
  }

  // The rule the schema cannot say: count <= max (both already known to be powers of 2).
  const taps = (data as Partial<Raw>).taps;
  if (taps && !bad.has("/taps/count") && !bad.has("/taps/max") && taps.count > taps.max) {
    problems.push(valueProblem(doc, at, data, ["taps", "count"], taps.count, countAllowed(taps.max)));
  }
  // The dpdk backend adds DPDK ports: a vswitchd without DPDK initialised would refuse every one.
  const ovs = (data as Partial<Raw>).ovs;
  if (taps?.backend === "dpdk" && !bad.has("/taps/backend") && !ovs?.dpdk) {
    problems.push(
      valueProblem(
        doc,
        at,
        data,
        ["taps", "backend"],
        taps.backend,
        "gnmi or kernel while ovs.dpdk is null; dpdk needs ovs.dpdk set (an object: socketMem, extra, perPortMemory) and ovs.ovsVswitchd built with DPDK",
      ),
    );
  }
  return problems;
}

function valueProblem(
  doc: Document,
  at: At,
  data: unknown,
  segs: string[],
  value: unknown,
  allowed: string,
  note = "",
): Problem {
  const shown = note ? `${describe(value)}${note}` : JSON.stringify(value);
  const offset = nodeOffset(doc, segs);
  return { offset, text: `${displayPath(data, segs)} (${at(offset)}) is ${shown}; allowed: ${allowed}` };
}

function allowedText(e: ErrorObject, data: unknown, bad: Set<string>): string {
  if (e.instancePath === "/taps/count") {
    const max = (data as Partial<Raw>).taps?.max;
    return countAllowed(!bad.has("/taps/max") && typeof max === "number" ? max : DEFAULT_TAPS_MAX);
  }
  const s: AnySchemaObject | undefined = e.parentSchema;
  if (s?.description) return s.description;
  if (s?.type === "object") return `a mapping with the keys ${Object.keys(s.properties ?? {}).join(", ")}`;
  return e.message ?? "see profiles/p4-ovs.yaml";
}

function countAllowed(max: number): string {
  const all = powersOf2(8, max);
  const list = all.length <= 4 ? all.join(", ") : `8, 16, 32, ... ${max}`;
  return `a power of 2 greater than 4 and at most taps.max (${list})`;
}

const TYPE_NAMES: Record<string, string> = {
  object: "a mapping",
  array: "a list",
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "a boolean",
  null: "null",
};

/** ", expected an integer" for a wrong type, "" otherwise. */
function typeNote(e: ErrorObject): string {
  if (e.keyword !== "type") return "";
  const types = String(e.params.type).split(",");
  return `, expected ${types.map((t) => TYPE_NAMES[t] ?? t).join(" or ")}`;
}

/** A value named with its type, for wrong-type messages: `a string ("abc")`. */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "number") return `${Number.isInteger(v) ? "an integer" : "a number"} (${v})`;
  if (typeof v === "string") return `a string (${JSON.stringify(v)})`;
  return `${TYPE_NAMES[typeof v] ?? typeof v} (${String(v)})`;
}

/** "ovs.vswitchdExtraArgs[1]" for ["ovs", "vswitchdExtraArgs", "1"]; "the top level" for []. */
function displayPath(data: unknown, segs: string[]): string {
  let out = "";
  let cur = data;
  for (const s of segs) {
    out += Array.isArray(cur) ? `[${s}]` : out ? `.${s}` : s;
    cur = (cur as Record<string, unknown> | undefined)?.[s];
  }
  return out || "the top level";
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** Start of the YAML node at segs, or of its nearest ancestor present in the file. */
function nodeOffset(doc: Document, segs: string[]): number {
  for (let n = segs.length; n > 0; n--) {
    const node = doc.getIn(segs.slice(0, n), true) as Node | undefined;
    if (node?.range) return node.range[0];
  }
  return (doc.contents as Node | null)?.range?.[0] ?? 0;
}

/** Start of the key `key` in the mapping at segs. */
function keyOffset(doc: Document, segs: string[], key: string): number {
  const map = segs.length === 0 ? doc.contents : doc.getIn(segs, true);
  if (isMap(map)) {
    const pair = map.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
  }
  return nodeOffset(doc, segs);
}
