/**
 * Golden bytes: what daemon/host/gnmi-client.ts actually puts on the wire for a gNMI Set and Get,
 * captured by a gRPC server that keeps the raw request bytes, against bytes written out here by
 * hand from the field numbers of upstream gnmi.proto: ipdk-io/ovs v22.07
 * (a0a623af26347d9fc441c35cd1126a12e75d8d97) external/gnmi/gnmi.proto, the copy P4-OVS is built
 * with (openconfig/gnmi's proto/gnmi/gnmi.proto):
 *
 *   SetRequest  { Path prefix = 1; repeated Path delete = 2; repeated Update replace = 3;
 *                 repeated Update update = 4; }
 *   Update      { Path path = 1; Value value = 2 [deprecated]; TypedValue val = 3; }
 *   Path        { repeated string element = 1 [deprecated]; string origin = 2;
 *                 repeated PathElem elem = 3; string target = 4; }
 *   PathElem    { string name = 1; map<string, string> key = 2; }   (map entry: key = 1, value = 2)
 *   TypedValue  { oneof value { string string_val = 1; int64 int_val = 2; uint64 uint_val = 3; ... } }
 *   GetRequest  { Path prefix = 1; repeated Path path = 2; DataType type = 3; Encoding encoding = 5; }
 *   Encoding    { JSON = 0; BYTES = 1; PROTO = 2; ASCII = 3; JSON_IETF = 4; }
 *
 * Not derived from our proto/ files: a wrong field number there fails this test.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { GnmiClient } from "../../daemon/host/gnmi-client";

/** Tag byte: field number << 3 | wire type (0 varint, 2 length-delimited). */
const tag = (field: number, wire: 0 | 2) => ((field << 3) | wire).toString(16).padStart(2, "0");
const hex = (s: string) => Buffer.from(s, "utf8").toString("hex");
/** A length-delimited field; its length a varint (one byte below 128, then 7 bits a byte). */
function ld(field: number, bodyHex: string): string {
  let len = bodyHex.length / 2;
  let lenHex = "";
  while (len >= 0x80) {
    lenHex += ((len & 0x7f) | 0x80).toString(16).padStart(2, "0");
    len >>= 7;
  }
  lenHex += len.toString(16).padStart(2, "0");
  return tag(field, 2) + lenHex + bodyHex;
}
const str = (field: number, s: string) => ld(field, hex(s));

// PathElem { name = 1; key = 2 (entry: key 1, value 2) }
const elem = (name: string, key?: [string, string]) =>
  ld(3, str(1, name) + (key ? ld(2, str(1, key[0]) + str(2, key[1])) : ""));
const portPath = (port: string, leaf: string) =>
  elem("interfaces") + elem("virtual-interface", ["name", port]) + elem("config") + elem(leaf);

const captured: Buffer[] = [];
/** What the server answers a Get with (raw GetResponse bytes); empty by default. */
let getAnswer = Buffer.alloc(0);
const server = new grpc.Server();
const keep = (b: Buffer) => b;
const empty = () => Buffer.alloc(0);
server.addService(
  {
    Set: {
      path: "/gnmi.gNMI/Set",
      requestStream: false,
      responseStream: false,
      requestSerialize: keep,
      requestDeserialize: keep,
      responseSerialize: empty,
      responseDeserialize: keep,
    },
    Get: {
      path: "/gnmi.gNMI/Get",
      requestStream: false,
      responseStream: false,
      requestSerialize: keep,
      requestDeserialize: keep,
      responseSerialize: keep,
      responseDeserialize: keep,
    },
  },
  {
    Set: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      captured.push(call.request);
      cb(null, Buffer.alloc(0));
    },
    Get: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      captured.push(call.request);
      cb(null, getAnswer);
    },
  },
);
const port = new Promise<number>((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
    err ? reject(err) : resolve(p),
  ),
);
after(() => server.forceShutdown());

test("SetRequest for one port: four requests, one update each, path elems with the name key, string_val / int_val", async () => {
  const c = new GnmiClient({ address: `127.0.0.1:${await port}`, timeoutMs: 3000 });
  try {
    captured.length = 0;
    await c.createTapPort("P4TAP_0");
    const update = (leaf: string, valHex: string) => ld(4, ld(1, portPath("P4TAP_0", leaf)) + ld(3, valHex));
    const want = [
      update("pipeline-name", str(1, "pipe")),
      update("mempool-name", str(1, "MEMPOOL0")),
      // int_val = 2, varint 1500 = 0xdc 0x0b
      update("mtu", `${tag(2, 0)}dc0b`),
      update("port-type", str(1, "TAP")),
    ];
    assert.deepEqual(
      captured.map((b) => b.toString("hex")),
      want,
    );
    // One written out in full, byte by byte, to read against the proto:
    // 22 4c                       update (4, LEN 76)
    //   0a 45                     path (1, LEN 69)
    //     1a 0c 0a 0a "interfaces"                       elem (3) { name (1) }
    //     1a 24 0a 11 "virtual-interface"                elem (3) { name (1),
    //           12 0f 0a 04 "name" 12 07 "P4TAP_0"         key (2) { key (1), value (2) } }
    //     1a 08 0a 06 "config"
    //     1a 05 0a 03 "mtu"
    //   1a 03 10 dc 0b            val (3) { int_val (2) = 1500 }
    assert.equal(
      captured[2]?.toString("hex"),
      `224c0a451a0c0a0a${hex("interfaces")}1a240a11${hex("virtual-interface")}120f0a04${hex("name")}1207${hex("P4TAP_0")}1a080a06${hex("config")}1a050a03${hex("mtu")}1a0310dc0b`,
    );
  } finally {
    c.close();
  }
});

test("GetRequest: the paths, type ALL (3 = 0, written out), encoding PROTO (5 = 2)", async () => {
  const c = new GnmiClient({ address: `127.0.0.1:${await port}`, timeoutMs: 3000 });
  try {
    captured.length = 0;
    await c.get([
      "/interfaces/virtual-interface[name=P4TAP_1]/config/mtu",
      "/interfaces/virtual-interface[name=P4TAP_1]/config/port-type",
    ]);
    const want = `${ld(2, portPath("P4TAP_1", "mtu")) + ld(2, portPath("P4TAP_1", "port-type"))}${tag(3, 0)}00${tag(5, 0)}02`;
    assert.equal(captured[0]?.toString("hex"), want);
  } finally {
    c.close();
  }
});

test("a pool's SetRequest: consecutive ports in ONE request, their leaves in gnmi-cli's order, port-type last", async () => {
  const c = new GnmiClient({ address: `127.0.0.1:${await port}`, timeoutMs: 3000 });
  try {
    captured.length = 0;
    // The target answers every port-type as not set (uint_val 0, field 3): the pool starts at P4TAP_0.
    getAnswer = Buffer.alloc(0);
    await c.createPool(["P4TAP_0", "P4TAP_1"], 64, { mtu: 9000, added: new Set(), first: null });
    const update = (name: string, leaf: string, valHex: string) =>
      ld(4, ld(1, portPath(name, leaf)) + ld(3, valHex));
    const port = (name: string) =>
      update(name, "pipeline-name", str(1, "pipe")) +
      update(name, "mempool-name", str(1, "MEMPOOL0")) +
      // int_val = 2, varint 9000 = 0xa8 0x46
      update(name, "mtu", `${tag(2, 0)}a846`) +
      update(name, "port-type", str(1, "TAP"));
    // The first captured request is createPool's read of P4TAP_0's leaves (a Get): the Set follows.
    assert.equal(captured.at(-1)?.toString("hex"), port("P4TAP_0") + port("P4TAP_1"));
  } finally {
    c.close();
  }
});

test("GetResponse read from its bytes: prefix + path, string/int/uint/bool values, unknown fields skipped", async () => {
  const c = new GnmiClient({ address: `127.0.0.1:${await port}`, timeoutMs: 3000 });
  /** A varint field (every value here fits the bytes given). */
  const vi = (field: number, bytesHex: string) => tag(field, 0) + bytesHex;
  // Update { path (1), val (3) }
  const upd = (pathHex: string, valHex: string) => ld(4, ld(1, pathHex) + ld(3, valHex));
  try {
    getAnswer = Buffer.from(
      // Notification 1: timestamp (1, varint), prefix (2) /interfaces, then updates.
      ld(
        1,
        vi(1, "8094ebdc03") +
          ld(2, elem("interfaces")) +
          // mtu: int_val (2) = -1: ten bytes of two's complement
          upd(
            elem("virtual-interface", ["name", "P4TAP_3"]) + elem("config") + elem("mtu"),
            vi(2, "ffffffffffffffffff01"),
          ) +
          // port-type: uint_val (3) = 300 (0xac 0x02); an unknown field 9 (varint) before it
          upd(
            elem("virtual-interface", ["name", "P4TAP_3"]) + elem("config") + elem("port-type"),
            vi(9, "07") + vi(3, "ac02"),
          ) +
          // enabled: bool_val (4) = true
          upd(elem("virtual-interface", ["name", "P4TAP_3"]) + elem("config") + elem("enabled"), vi(4, "01")),
      ) +
        // Notification 2: no prefix; a string_val (1), an unknown length-delimited field 7 in the update.
        ld(1, upd(elem("system") + elem("name"), str(1, "héllo")) + ld(7, hex("x"))),
      "hex",
    );
    const got = await c.get(["/interfaces/virtual-interface[name=P4TAP_3]/config/mtu"]);
    assert.deepEqual(got, [
      { path: "/interfaces/virtual-interface[name=P4TAP_3]/config/mtu", value: -1 },
      { path: "/interfaces/virtual-interface[name=P4TAP_3]/config/port-type", value: 300 },
      { path: "/interfaces/virtual-interface[name=P4TAP_3]/config/enabled", value: true },
      { path: "/system/name", value: "héllo" },
    ]);
    // A message cut short is an error naming the call, not a wrong answer.
    getAnswer = Buffer.from(ld(1, ld(2, elem("interfaces"))).slice(0, 6), "hex");
    await assert.rejects(c.get(["/system/name"]), /gNMI target .* answered/);
  } finally {
    getAnswer = Buffer.alloc(0);
    c.close();
  }
});
