/**
 * The simulator's side of gNMI Set and Get on the wire, without protobufjs: SetRequest and
 * GetRequest read into the objects @grpc/proto-loader would make (keepCase, 64-bit integers as
 * decimal strings, enums by name, oneofs by name, no defaults: gnmi-target.ts's Wire* shapes), and
 * SetResponse and GetResponse written as protobufjs writes them (test/unit/gnmi-sim-wire.test.ts
 * compares both ways with proto-loader's codecs on the same messages).
 *
 * Why: P4-OVS is C++ (Stratum's gNMI server, generated protobuf code); through protobufjs the
 * simulator spent ~20 ms of CPU per pool of 256 on its codecs alone (fromObject/toObject, Long for
 * every timestamp), a cost of the double that a real target does not have, charged to the pool it
 * makes. Nothing else changes: DoSet/DoGet get the same objects and answer the same bytes.
 *
 * Field numbers: our proto/gnmi.proto subset of upstream gnmi.proto (ipdk-io/ovs v22.07
 * external/gnmi/gnmi.proto; openconfig/gnmi proto/gnmi/gnmi.proto). Fields outside the subset are
 * skipped when read, as proto-loader skips them.
 */
import type { WireElem, WireGetRequest, WirePath, WireSetRequest, WireUpdate, WireVal } from "./gnmi-target";

const VARINT = 0;
const LEN = 2;

// ---- reading --------------------------------------------------------------------------------------

class Reader {
  at: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.at = start;
  }
  more(): boolean {
    return this.at < this.end;
  }
  /** A varint as an unsigned 64-bit bigint only when it needs more than 53 bits; else a number. */
  varint(): number | bigint {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (this.at >= this.end) throw new Error("truncated varint");
      const b = this.buf[this.at++] as number;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
    // Past 49 bits: exactly, with bigint.
    let big = BigInt(n);
    for (let i = 7; i < 10; i++) {
      if (this.at >= this.end) throw new Error("truncated varint");
      const b = this.buf[this.at++] as number;
      big += BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return BigInt.asUintN(64, big);
    }
    throw new Error("varint longer than 10 bytes");
  }
  int(): number {
    return Number(this.varint());
  }
  sub(): Reader {
    const len = this.int();
    const start = this.at;
    if (start + len > this.end) throw new Error("length-delimited field runs past its message");
    this.at = start + len;
    return new Reader(this.buf, start, start + len);
  }
  string(): string {
    const len = this.int();
    const start = this.at;
    if (start + len > this.end) throw new Error("string runs past its message");
    this.at = start + len;
    return this.buf.toString("utf8", start, start + len);
  }
  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === 1) this.at += 8;
    else if (wire === LEN) this.at += this.int();
    else if (wire === 5) this.at += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (this.at > this.end) throw new Error("field runs past its message");
  }
}

const signed64 = (v: number | bigint): string => BigInt.asIntN(64, BigInt(v)).toString();
const unsigned64 = (v: number | bigint): string => BigInt.asUintN(64, BigInt(v)).toString();

/** A repeated field's list with one more item (made on the first). */
function append<T>(list: T[] | undefined, item: T): T[] {
  const out = list ?? [];
  out.push(item);
  return out;
}

function readElem(r: Reader): WireElem {
  const e: WireElem = {};
  while (r.more()) {
    const t = r.int();
    if (t === ((1 << 3) | LEN)) e.name = r.string();
    else if (t === ((2 << 3) | LEN)) {
      const m = r.sub();
      let k = "";
      let v = "";
      while (m.more()) {
        const mt = m.int();
        if (mt === ((1 << 3) | LEN)) k = m.string();
        else if (mt === ((2 << 3) | LEN)) v = m.string();
        else m.skip(mt & 7);
      }
      e.key ??= {};
      e.key[k] = v;
    } else r.skip(t & 7);
  }
  return e;
}

/**
 * Each Path read from a request, with its bytes: the SetResponse echoes every update's path (DoSet
 * copies it, CopyFrom), written back from these bytes, as the C++ target serializes the copy.
 */
const pathBytes = new WeakMap<WirePath, Buffer>();

function readPath(r: Reader, into?: WirePath): WirePath {
  const out = into ?? {};
  // A Path repeated on the wire merges into the first: no single span of bytes is it then.
  if (into) pathBytes.delete(into);
  else pathBytes.set(out, r.buf.subarray(r.at, r.end));
  return readPathFields(r, out);
}

function readPathFields(r: Reader, into: WirePath): WirePath {
  while (r.more()) {
    const t = r.int();
    if (t === ((2 << 3) | LEN)) into.origin = r.string();
    else if (t === ((3 << 3) | LEN)) into.elem = append(into.elem, readElem(r.sub()));
    else if (t === ((4 << 3) | LEN)) into.target = r.string();
    else r.skip(t & 7);
  }
  return into;
}

/** TypedValue's oneof: the last member on the wire is the one set (protobuf's rule for oneofs). */
function readVal(r: Reader, into: WireVal = {}): WireVal {
  const only = (v: WireVal) => {
    delete into.string_val;
    delete into.int_val;
    delete into.uint_val;
    delete into.bool_val;
    Object.assign(into, v);
  };
  while (r.more()) {
    const t = r.int();
    if (t === ((1 << 3) | LEN)) only({ string_val: r.string(), value: "string_val" });
    else if (t === ((2 << 3) | VARINT)) only({ int_val: signed64(r.varint()), value: "int_val" });
    else if (t === ((3 << 3) | VARINT)) only({ uint_val: unsigned64(r.varint()), value: "uint_val" });
    else if (t === ((4 << 3) | VARINT)) only({ bool_val: r.varint() !== 0, value: "bool_val" });
    else r.skip(t & 7);
  }
  return into;
}

function readUpdate(r: Reader): WireUpdate {
  const u: WireUpdate = {};
  while (r.more()) {
    const t = r.int();
    // A sub-message repeated on the wire merges into the one before (protobuf's rule).
    if (t === ((1 << 3) | LEN)) u.path = readPath(r.sub(), u.path);
    else if (t === ((3 << 3) | LEN)) u.val = readVal(r.sub(), u.val);
    else r.skip(t & 7);
  }
  return u;
}

/** SetRequest { Path prefix = 1; repeated Path delete = 2; repeated Update replace = 3; repeated Update update = 4 }. */
export function decodeSetRequest(buf: Buffer): WireSetRequest {
  const req: WireSetRequest = {};
  const r = new Reader(buf, 0, buf.length);
  while (r.more()) {
    const t = r.int();
    if (t === ((1 << 3) | LEN)) req.prefix = readPath(r.sub(), req.prefix);
    else if (t === ((2 << 3) | LEN)) req.delete = append(req.delete, readPath(r.sub()));
    else if (t === ((3 << 3) | LEN)) req.replace = append(req.replace, readUpdate(r.sub()));
    else if (t === ((4 << 3) | LEN)) req.update = append(req.update, readUpdate(r.sub()));
    else r.skip(t & 7);
  }
  return req;
}

const DATA_TYPES = ["ALL", "CONFIG", "STATE", "OPERATIONAL"];
const ENCODINGS = ["JSON", "BYTES", "PROTO", "ASCII", "JSON_IETF"];

/** An enum by name, or its number when the .proto has no name for it (proto-loader's enums: String). */
function enumName(names: readonly string[], v: number | bigint): string {
  const n = Number(BigInt.asIntN(32, BigInt(v)));
  return names[n] ?? (n as unknown as string);
}

/** GetRequest { Path prefix = 1; repeated Path path = 2; DataType type = 3; Encoding encoding = 5 }. */
export function decodeGetRequest(buf: Buffer): WireGetRequest {
  const req: WireGetRequest = {};
  const r = new Reader(buf, 0, buf.length);
  while (r.more()) {
    const t = r.int();
    if (t === ((1 << 3) | LEN)) req.prefix = readPath(r.sub(), req.prefix);
    else if (t === ((2 << 3) | LEN)) req.path = append(req.path, readPath(r.sub()));
    else if (t === ((3 << 3) | VARINT)) req.type = enumName(DATA_TYPES, r.varint());
    else if (t === ((5 << 3) | VARINT)) req.encoding = enumName(ENCODINGS, r.varint());
    else r.skip(t & 7);
  }
  return req;
}

// ---- writing --------------------------------------------------------------------------------------

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * One growing buffer. A sub-message is written in place after its tag and a one-byte length, which
 * is patched once the body is written (the body moved along when the length needs more bytes).
 */
class Writer {
  private buf = Buffer.allocUnsafe(1024);
  private at = 0;
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  varint(n: number | bigint): void {
    this.room(10);
    if (typeof n === "number" && n >= 0 && n <= Number.MAX_SAFE_INTEGER) {
      while (n >= 0x80) {
        this.buf[this.at++] = (n % 128) | 0x80;
        n = Math.floor(n / 128);
      }
      this.buf[this.at++] = n;
      return;
    }
    // Negative (10 bytes, two's complement) or past 2^53.
    let v = BigInt.asUintN(64, BigInt(n));
    while (v >= 0x80n) {
      this.buf[this.at++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.at++] = Number(v);
  }
  tag(num: number, wire: number): void {
    this.varint((num << 3) | wire);
  }
  /** A varint field (int64, uint64, bool, enum). */
  varintField(num: number, v: number | bigint): void {
    this.tag(num, VARINT);
    this.varint(v);
  }
  bytes(b: Buffer): void {
    this.varint(b.length);
    this.raw(b);
  }
  raw(b: Buffer): void {
    this.room(b.length);
    b.copy(this.buf, this.at);
    this.at += b.length;
  }
  string(num: number, s: string): void {
    this.tag(num, LEN);
    this.bytes(Buffer.from(s, "utf8"));
  }
  /** A length-delimited sub-message written by `body`. */
  message(num: number, body: (w: Writer) => void): void {
    this.tag(num, LEN);
    this.room(1);
    const lenAt = this.at++;
    body(this);
    const len = this.at - lenAt - 1;
    if (len < 0x80) {
      this.buf[lenAt] = len;
      return;
    }
    const extra = varintSize(len) - 1;
    this.room(extra);
    this.buf.copyWithin(lenAt + 1 + extra, lenAt + 1, this.at);
    const end = this.at + extra;
    this.at = lenAt;
    this.varint(len);
    this.at = end;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }
  reset(): void {
    this.at = 0;
  }
}

/** A 64-bit integer given as proto-loader gives it (decimal string) or a number. */
function int64(v: string | number): bigint | number {
  if (typeof v === "number") return v;
  const big = BigInt(v);
  return big >= 0n && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/** The last int64 string written and its varint: every notification of a Get has the same timestamp. */
let lastInt64: { text: string; bytes: Buffer } = { text: "0", bytes: Buffer.from([0]) };

function int64Field(w: Writer, num: number, v: string): void {
  if (v !== lastInt64.text) {
    const one = new Writer();
    one.varint(int64(v));
    lastInt64 = { text: v, bytes: Buffer.from(one.done()) };
  }
  w.tag(num, VARINT);
  w.raw(lastInt64.bytes);
}

/** Encoded PathElems: a pool's paths repeat most of theirs (bounded, so odd requests keep nothing). */
const elemCache = new Map<string, Buffer>();
/** Where elemBytes writes a PathElem it has not seen (copied out). */
const scratch = new Writer();

function elemBytes(e: WireElem): Buffer {
  const keys = e.key ? Object.keys(e.key) : [];
  const name = e.name;
  // Length-prefixed parts: no two elems share an id.
  const id =
    keys.length === 0 && name !== undefined
      ? `n${name}`
      : keys.length === 1 && name !== undefined
        ? `k${name.length}:${name}${(keys[0] as string).length}:${keys[0]}${e.key?.[keys[0] as string]}`
        : `j${JSON.stringify([name ?? null, keys.map((k) => [k, e.key?.[k]])])}`;
  let b = elemCache.get(id);
  if (!b) {
    scratch.reset();
    if (name !== undefined) scratch.string(1, name);
    // protobufjs writes a map entry with both its key and its value.
    for (const k of keys)
      scratch.message(2, (m) => {
        m.string(1, k);
        m.string(2, e.key?.[k] ?? "");
      });
    b = Buffer.from(scratch.done());
    if (elemCache.size < 4096) elemCache.set(id, b);
  }
  return b;
}

/** Path { string origin = 2; repeated PathElem elem = 3; string target = 4 }. */
function writePath(w: Writer, p: WirePath): void {
  const raw = pathBytes.get(p);
  if (raw) {
    w.raw(raw);
    return;
  }
  if (p.origin !== undefined) w.string(2, p.origin);
  for (const e of p.elem ?? []) {
    w.tag(3, LEN);
    w.bytes(elemBytes(e));
  }
  if (p.target !== undefined) w.string(4, p.target);
}

/** TypedValue: the member `value` names (or the one field present), as protobufjs writes it. */
function writeVal(w: Writer, v: WireVal): void {
  if (v.string_val !== undefined) w.string(1, v.string_val);
  if (v.int_val !== undefined) w.varintField(2, int64(v.int_val));
  if (v.uint_val !== undefined) w.varintField(3, int64(v.uint_val));
  if (v.bool_val !== undefined) w.varintField(4, v.bool_val ? 1 : 0);
}

const OPS: Record<string, number> = { INVALID: 0, DELETE: 1, REPLACE: 2, UPDATE: 3 };

export interface WireSetResponse {
  prefix?: WirePath;
  response?: { path?: WirePath; op?: string }[];
  timestamp?: string;
}

/** SetResponse { Path prefix = 1; repeated UpdateResult response = 2; int64 timestamp = 4 }; UpdateResult { Path path = 2; Operation op = 4 }. */
export function encodeSetResponse(res: WireSetResponse): Buffer {
  const w = new Writer();
  if (res.prefix) w.message(1, (m) => writePath(m, res.prefix as WirePath));
  for (const r of res.response ?? []) {
    w.message(2, (m) => {
      if (r.path) m.message(2, (p) => writePath(p, r.path as WirePath));
      if (r.op !== undefined) m.varintField(4, OPS[r.op] ?? 0);
    });
  }
  if (res.timestamp !== undefined) int64Field(w, 4, res.timestamp);
  return w.done();
}

export interface WireGetResponse {
  notification?: {
    timestamp?: string;
    prefix?: WirePath;
    update?: { path?: WirePath; val?: WireVal }[];
  }[];
}

/**
 * GetResponse { repeated Notification notification = 1 }; Notification { int64 timestamp = 1;
 * Path prefix = 2; repeated Update update = 4 }; Update { Path path = 1; TypedValue val = 3 }.
 */
export function encodeGetResponse(res: WireGetResponse): Buffer {
  const w = new Writer();
  for (const n of res.notification ?? []) {
    w.message(1, (m) => {
      if (n.timestamp !== undefined) int64Field(m, 1, n.timestamp);
      if (n.prefix) m.message(2, (p) => writePath(p, n.prefix as WirePath));
      for (const u of n.update ?? []) {
        m.message(4, (um) => {
          if (u.path) um.message(1, (p) => writePath(p, u.path as WirePath));
          if (u.val) um.message(3, (v) => writeVal(v, u.val as WireVal));
        });
      }
    });
  }
  return w.done();
}
