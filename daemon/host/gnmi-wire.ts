/**
 * The gNMI messages of the pool's hot path, written and read directly in protobuf wire format: the
 * SetRequests that make the pool, the GetRequests that read it back, and their GetResponses.
 * Through @grpc/proto-loader each one goes via protobufjs's fromObject/toObject (objects, Long for
 * every int64 timestamp): ~1-3 ms per 64-port SetRequest or pool-sized Get once V8 has optimised
 * it, tens of ms on first use, which is when the daemon makes its pool (bench/taps-phases).
 *
 * Field numbers from upstream gnmi.proto (ipdk-io/ovs v22.07 external/gnmi/gnmi.proto, the copy
 * P4-OVS is built with; openconfig/gnmi proto/gnmi/gnmi.proto), the same as our proto/gnmi.proto:
 *   SetRequest   { Path prefix = 1; repeated Path delete = 2; repeated Update replace = 3;
 *                  repeated Update update = 4; }
 *   GetRequest   { Path prefix = 1; repeated Path path = 2; DataType type = 3; Encoding encoding = 5; }
 *   GetResponse  { repeated Notification notification = 1; }
 *   Notification { int64 timestamp = 1; Path prefix = 2; repeated Update update = 4; repeated Path delete = 5; }
 *   Update       { Path path = 1; TypedValue val = 3; }
 *   Path         { string origin = 2; repeated PathElem elem = 3; string target = 4; }
 *   PathElem     { string name = 1; map<string, string> key = 2; }   (map entry: key = 1, value = 2)
 *   TypedValue   { oneof value { string string_val = 1; int64 int_val = 2; uint64 uint_val = 3;
 *                  bool_val = 4; ... } }
 * Bytes as protobufjs writes them (test/unit/gnmi-wire.test.ts pins them to hand-written ones):
 * fields in number order, a map entry with both key and value, GetRequest's type written even when
 * ALL (0). Decoding skips fields it does not know (every wire type but groups), as protobuf does.
 */
import type { PathElem } from "./gnmi-client";

/** A value as gnmi-cli sends it: a whole number as int_val, anything else as string_val. */
export type LeafValue = string | number;

const LEN = 2;
const VARINT = 0;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A protobuf writer into one buffer: sizes are known before writing (sub-messages come pre-built). */
class GnmiWireWriter {
  readonly buf: Buffer;
  at = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.at++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.at++] = n;
  }
  bytes(b: Buffer): void {
    b.copy(this.buf, this.at);
    this.at += b.length;
  }
}

/** One length-delimited field (tag, length, body). */
function field(num: number, body: Buffer): Buffer {
  const tag = (num << 3) | LEN;
  const out = new GnmiWireWriter(varintSize(tag) + varintSize(body.length) + body.length);
  out.varint(tag);
  out.varint(body.length);
  out.bytes(body);
  return out.buf;
}

function str(num: number, s: string): Buffer {
  return field(num, Buffer.from(s, "utf8"));
}

/** Encoded PathElem fields (`elem`, 3, of a Path), per elem: a pool's paths repeat most of them. */
const elemCache = new Map<string, Buffer>();

function elemField(e: PathElem): Buffer {
  const keys = e.key ? Object.keys(e.key) : [];
  const id = keys.length === 0 ? e.name : JSON.stringify([e.name, keys.map((k) => [k, e.key?.[k]])]);
  let b = elemCache.get(id);
  if (!b) {
    const parts = [str(1, e.name)];
    for (const k of keys) parts.push(field(2, Buffer.concat([str(1, k), str(2, e.key?.[k] ?? "")])));
    b = field(3, Buffer.concat(parts));
    // Bounded: a daemon's paths are its pool's (a few per port); anything else is not kept.
    if (elemCache.size < 4096) elemCache.set(id, b);
  }
  return b;
}

/** A Path message body: its elems (no origin, no target: the daemon sends neither). */
export function pathBody(elems: readonly PathElem[]): Buffer {
  return Buffer.concat(elems.map(elemField));
}

/** A TypedValue message body: int_val (2) for a whole number, else string_val (1). */
function typedValueBody(value: LeafValue): Buffer {
  if (typeof value === "string") return str(1, value);
  if (!Number.isSafeInteger(value)) throw new Error(`gNMI int_val must be a whole number, got ${value}`);
  // int64 as a varint; a negative one is its 64-bit two's complement (10 bytes).
  const big = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [(2 << 3) | VARINT];
  let v = big;
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Buffer.from(bytes);
}

/** SetRequest with `update` (4) only, in the order given: sized first, then written into one buffer. */
export function encodeSetRequest(
  updates: readonly { path: readonly PathElem[]; value: LeafValue }[],
): Buffer {
  const parts = updates.map((u) => {
    const elems = u.path.map(elemField);
    const pathLen = elems.reduce((a, b) => a + b.length, 0);
    const val = typedValueBody(u.value);
    // Update { path (1), val (3) }
    const body = 1 + varintSize(pathLen) + pathLen + 1 + varintSize(val.length) + val.length;
    return { elems, pathLen, val, body };
  });
  const out = new GnmiWireWriter(parts.reduce((a, p) => a + 1 + varintSize(p.body) + p.body, 0));
  for (const p of parts) {
    out.varint((4 << 3) | LEN);
    out.varint(p.body);
    out.varint((1 << 3) | LEN);
    out.varint(p.pathLen);
    for (const e of p.elems) out.bytes(e);
    out.varint((3 << 3) | LEN);
    out.varint(p.val.length);
    out.bytes(p.val);
  }
  return out.buf;
}

/** GetRequest { path (2)..., type ALL (3 = 0), encoding PROTO (5 = 2) }, as gnmi-cli asks. */
export function encodeGetRequest(paths: readonly (readonly PathElem[])[]): Buffer {
  return Buffer.concat([...paths.map((p) => field(2, pathBody(p))), Buffer.from([3 << 3, 0, 5 << 3, 2])]);
}

// ---- reading --------------------------------------------------------------------------------------

export type ReadValue = string | number | boolean | undefined;

/** One update of a GetResponse: its path (the notification's prefix first) and value. */
export interface ReadLeaf {
  path: PathElem[];
  value: ReadValue;
}

class GnmiWireReader {
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
  /** A varint up to 64 bits, as a number (exact up to 2^53) and, past that, a bigint. */
  varint(): number | bigint {
    // One byte: every tag and length of the pool's messages but the largest.
    if (this.at < this.end && (this.buf[this.at] as number) < 0x80) return this.buf[this.at++] as number;
    let lo = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new Error("truncated varint");
      const b = this.buf[this.at++] as number;
      if (i < 7) {
        lo += (b & 0x7f) * mul;
        mul *= 128;
        if (b < 0x80) return lo;
      } else {
        // Past 49 bits: finish exactly with bigint.
        let big = BigInt(lo) + (BigInt(b & 0x7f) << BigInt(7 * i));
        let j = i;
        let cur = b;
        while (cur >= 0x80) {
          j++;
          if (j >= 10 || this.at >= this.end) throw new Error("truncated varint");
          cur = this.buf[this.at++] as number;
          big += BigInt(cur & 0x7f) << BigInt(7 * j);
        }
        big = BigInt.asUintN(64, big);
        return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      }
    }
    throw new Error("varint longer than 10 bytes");
  }
  /**
   * A length-delimited field's body: returns where it starts, `subEnd` says where it ends; moves past
   * it. (No [start, end] pair: destructuring runs the iterator protocol, slow in V8's interpreter,
   * where the daemon's one pool read-back runs.)
   */
  sub(): number {
    const len = Number(this.varint());
    const start = this.at;
    if (start + len > this.end) throw new Error("length-delimited field runs past its message");
    this.at = start + len;
    this.subEnd = start + len;
    return start;
  }
  subEnd = 0;
  string(): string {
    const s = this.sub();
    return this.buf.toString("utf8", s, this.subEnd);
  }
  skip(wire: number): void {
    if (wire === 0) {
      // Past it without its value: a 64-bit timestamp would otherwise take the bigint path.
      for (let i = 0; ; i++) {
        if (i >= 10) throw new Error("varint longer than 10 bytes");
        if (this.at >= this.end) throw new Error("truncated varint");
        if ((this.buf[this.at++] as number) < 0x80) break;
      }
    } else if (wire === 1) this.at += 8;
    else if (wire === 2) this.sub();
    else if (wire === 5) this.at += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (this.at > this.end) throw new Error("field runs past its message");
  }
  /** The next tag: field number << 3 | wire type. */
  tag(): number {
    return Number(this.varint());
  }
}

const ELEM_NAME = (1 << 3) | LEN;
const ELEM_KEY = (2 << 3) | LEN;
const ENTRY_KEY = (1 << 3) | LEN;
const ENTRY_VALUE = (2 << 3) | LEN;
const PATH_ELEM = (3 << 3) | LEN;

function readElem(buf: Buffer, start: number, end: number): PathElem {
  const m = new GnmiWireReader(buf, start, end);
  let name = "";
  let key: Record<string, string> | undefined;
  while (m.more()) {
    const t = m.tag();
    if (t === ELEM_NAME) name = m.string();
    else if (t === ELEM_KEY) {
      const s = m.sub();
      const entry = new GnmiWireReader(buf, s, m.subEnd);
      let k = "";
      let v = "";
      while (entry.more()) {
        const et = entry.tag();
        if (et === ENTRY_KEY) k = entry.string();
        else if (et === ENTRY_VALUE) v = entry.string();
        else entry.skip(et & 7);
      }
      key ??= {};
      key[k] = v;
    } else m.skip(t & 7);
  }
  return key && Object.keys(key).length > 0 ? { name, key } : { name };
}

function readPath(buf: Buffer, start: number, end: number): PathElem[] {
  const m = new GnmiWireReader(buf, start, end);
  const elems: PathElem[] = [];
  while (m.more()) {
    const t = m.tag();
    if (t === PATH_ELEM) {
      const s = m.sub();
      elems.push(readElem(buf, s, m.subEnd));
    } else m.skip(t & 7);
  }
  return elems;
}

/** TypedValue: string_val, int_val (signed 64), uint_val, bool_val; anything else is undefined. */
function readValue(buf: Buffer, start: number, end: number): ReadValue {
  const m = new GnmiWireReader(buf, start, end);
  let out: ReadValue;
  while (m.more()) {
    const t = m.tag();
    const f = t >>> 3;
    const w = t & 7;
    if (f === 1 && w === LEN) out = m.string();
    else if ((f === 2 || f === 3 || f === 4) && w === VARINT) {
      const v = m.varint();
      if (f === 4) out = v !== 0;
      else if (f === 3) out = Number(v);
      else out = typeof v === "bigint" ? Number(BigInt.asIntN(64, v)) : v;
    } else {
      // Another member of the oneof: the last one on the wire wins, so it replaces any earlier.
      out = undefined;
      m.skip(w);
    }
  }
  return out;
}

/** Every update of a GetResponse, with its notification's prefix in front of its path. */
export function decodeGetResponse(buf: Buffer): ReadLeaf[] {
  const out: ReadLeaf[] = [];
  const r = new GnmiWireReader(buf, 0, buf.length);
  const NOTIFICATION = (1 << 3) | LEN;
  const PREFIX = (2 << 3) | LEN;
  const UPDATE = (4 << 3) | LEN;
  const UPDATE_PATH = (1 << 3) | LEN;
  const UPDATE_VAL = (3 << 3) | LEN;
  while (r.more()) {
    const t = r.tag();
    if (t !== NOTIFICATION) {
      r.skip(t & 7);
      continue;
    }
    const ns = r.sub();
    const n = new GnmiWireReader(buf, ns, r.subEnd);
    let prefix: PathElem[] = [];
    // Each update's bounds, start then end: read after the whole notification, whose prefix may come last.
    const updates: number[] = [];
    while (n.more()) {
      const nt = n.tag();
      if (nt === PREFIX) {
        const s = n.sub();
        prefix = readPath(buf, s, n.subEnd);
      } else if (nt === UPDATE) {
        const s = n.sub();
        updates.push(s, n.subEnd);
      } else n.skip(nt & 7);
    }
    for (let i = 0; i < updates.length; i += 2) {
      const u = new GnmiWireReader(buf, updates[i] as number, updates[i + 1] as number);
      let path: PathElem[] = [];
      let value: ReadValue;
      while (u.more()) {
        const ut = u.tag();
        if (ut === UPDATE_PATH) {
          const s = u.sub();
          path = readPath(buf, s, u.subEnd);
        } else if (ut === UPDATE_VAL) {
          const s = u.sub();
          value = readValue(buf, s, u.subEnd);
        } else u.skip(ut & 7);
      }
      out.push({ path: prefix.length > 0 ? [...prefix, ...path] : path, value });
    }
  }
  return out;
}
