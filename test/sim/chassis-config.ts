/**
 * The part of a Stratum ChassisConfig (protobuf TEXT format, as P4-OVS reads
 * /usr/share/stratum/dpdk_port_config.pb.txt) that the simulator needs: the nodes' ids and each
 * singleton port's id, name, node and admin state. Upstream: ipdk-io/ovs v22.07
 * p4proto/p4rt/config_monitoring_service.cc PushSavedChassisConfig (ReadProtoFromTextFile), then
 * yang_parse_tree.cc ProcessPushedConfig, which adds a tree node per singleton_ports entry.
 *
 * A small tolerant reader of the text format's structure (fields `name: value`, messages
 * `name { ... }` or `name < ... >`, `#` comments, quoted strings with C escapes); fields it does not
 * need are skipped. Not a general protobuf-text parser: no type checking beyond what is read.
 */

export interface ChassisPort {
  id: number;
  name: string;
  node: number;
  /** config_params.admin_state; "" when absent (ADMIN_STATE_UNKNOWN). */
  adminState: string;
}

export interface ChassisConfig {
  nodes: number[];
  ports: ChassisPort[];
}

type Value = string | Msg;
interface Msg {
  fields: [string, Value][];
}

class Reader {
  private at = 0;
  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  private where(): string {
    const line = this.text.slice(0, this.at).split("\n").length;
    return `${this.file}:${line}`;
  }

  fail(what: string): never {
    throw new Error(`${this.where()}: ${what}`);
  }

  private skipSpace(): void {
    const space = /(?:\s+|#[^\n]*)+/y;
    space.lastIndex = this.at;
    if (space.exec(this.text)) this.at = space.lastIndex;
  }

  peek(): string {
    this.skipSpace();
    return this.text[this.at] ?? "";
  }

  private take(re: RegExp, what: string): string {
    this.skipSpace();
    re.lastIndex = this.at;
    const m = re.exec(this.text);
    if (!m) this.fail(`expected ${what}`);
    this.at = re.lastIndex;
    return m[0];
  }

  /** A message body up to `close` ("" at the top level: up to the end of the file). */
  message(close: string): Msg {
    const fields: [string, Value][] = [];
    for (;;) {
      const c = this.peek();
      if (c === close) {
        if (close) this.at++;
        return { fields };
      }
      if (c === "") this.fail(close ? `missing "${close}"` : "unexpected end");
      const name = this.take(/[A-Za-z_][A-Za-z0-9_]*/y, "a field name");
      let sep = this.peek();
      if (sep === ":") {
        this.at++;
        sep = this.peek();
      }
      if (sep === "{" || sep === "<") {
        this.at++;
        fields.push([name, this.message(sep === "{" ? "}" : ">")]);
      } else {
        fields.push([name, this.scalar()]);
      }
      const after = this.peek();
      if (after === ";" || after === ",") this.at++;
    }
  }

  private scalar(): string {
    const c = this.peek();
    if (c === '"' || c === "'") {
      let s = "";
      // Adjacent string literals concatenate, as in the text format.
      while (this.peek() === '"' || this.peek() === "'")
        s += unquote(this.take(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/y, "a string"));
      return s;
    }
    return this.take(/[-+]?[A-Za-z0-9_.+-]+/y, "a value");
  }
}

function unquote(lit: string): string {
  const body = lit.slice(1, -1);
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch !== "\\") {
      bytes.push(...Buffer.from(ch, "utf8"));
      continue;
    }
    const n = body[++i] ?? "";
    const simple: Record<string, number> = {
      n: 10,
      t: 9,
      r: 13,
      a: 7,
      b: 8,
      f: 12,
      v: 11,
      "\\": 92,
      "'": 39,
      '"': 34,
      "?": 63,
    };
    if (n in simple) bytes.push(simple[n] as number);
    else if (/[0-7]/.test(n)) {
      const m = /^[0-7]{1,3}/.exec(body.slice(i)) as RegExpExecArray;
      bytes.push(Number.parseInt(m[0], 8) & 0xff);
      i += m[0].length - 1;
    } else if (n === "x") {
      const m = /^[0-9a-fA-F]{1,2}/.exec(body.slice(i + 1));
      if (!m) throw new Error(`bad \\x escape in ${lit}`);
      bytes.push(Number.parseInt(m[0], 16));
      i += m[0].length;
    } else throw new Error(`unknown escape \\${n} in ${lit}`);
  }
  return Buffer.from(bytes).toString("utf8");
}

function one(msg: Msg, name: string): Value | undefined {
  let v: Value | undefined;
  for (const [k, x] of msg.fields) if (k === name) v = x; // the last one wins, as in the text format
  return v;
}

function uint(msg: Msg, name: string, where: string): number {
  const v = one(msg, name);
  if (v === undefined) return 0;
  if (typeof v !== "string" || !/^(0x[0-9a-fA-F]+|\d+)$/.test(v)) {
    throw new Error(
      `${where}: ${name} must be a whole number, got ${typeof v === "string" ? v : "a message"}`,
    );
  }
  return Number(v);
}

/** Parse the text of a chassis config; errors name the file, the line or the entry. */
export function parseChassisConfig(text: string, file = "chassis config"): ChassisConfig {
  const top = new Reader(text, file).message("");
  const nodes: number[] = [];
  const ports: ChassisPort[] = [];
  for (const [k, v] of top.fields) {
    if (typeof v === "string") continue;
    if (k === "nodes") nodes.push(uint(v, "id", `${file}: nodes`));
    if (k === "singleton_ports") {
      const where = `${file}: singleton_ports #${ports.length + 1}`;
      const name = one(v, "name");
      if (name !== undefined && typeof name !== "string") throw new Error(`${where}: name must be a string`);
      const params = one(v, "config_params");
      const admin = params && typeof params !== "string" ? one(params, "admin_state") : undefined;
      ports.push({
        id: uint(v, "id", where),
        name: name ?? "",
        node: uint(v, "node", where),
        adminState: typeof admin === "string" ? admin : "",
      });
    }
  }
  return { nodes, ports };
}

/**
 * A chassis config text with one singleton port per name, in the stock file's shape (node 1,
 * admin state enabled); for the benches' and tests' pools larger than the stock 32.
 */
export function renderChassisConfig(names: readonly string[], firstId = 500): string {
  const out = [
    'description: "Chassis config for tests: one TAP port per name"',
    "chassis {",
    "  platform: PLT_P4_SOFT_SWITCH",
    '  name: "DPDK"',
    "}",
    "nodes {",
    "  id: 1",
    "  slot: 1",
    "  index: 1",
    "}",
  ];
  names.forEach((name, i) => {
    out.push(
      "singleton_ports {",
      `  id: ${firstId + i}`,
      `  name: "${name}"`,
      "  slot: 1",
      `  port: ${Math.floor(i / 4) + 1}`,
      `  channel: ${(i % 4) + 1}`,
      "  speed_bps: 10000000000",
      "  config_params {",
      "    admin_state: ADMIN_STATE_ENABLED",
      "  }",
      "  node: 1",
      "}",
    );
  });
  return `${out.join("\n")}\n`;
}
