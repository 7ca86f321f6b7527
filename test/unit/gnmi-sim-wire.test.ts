/**
 * The simulator's own gNMI codec (test/sim/gnmi-sim-wire.ts) against @grpc/proto-loader's, which
 * served the simulator before: every request reads into the same object, every response writes the
 * same bytes. The messages cover what tests and the daemon send: the pool's Sets and Gets, and the
 * odd ones the strict-simulator tests send (prefix, origin, target, delete, replace, every TypedValue
 * member, negative and 64-bit numbers, enums, an elem without a name, several keys).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type * as grpc from "@grpc/grpc-js";
import { loadProto, lookup } from "../../daemon/host/grpc-channel";
import {
  decodeGetRequest,
  decodeSetRequest,
  encodeGetResponse,
  encodeSetResponse,
} from "../sim/gnmi-sim-wire";

const svc = lookup<{ service: grpc.ServiceDefinition }>(loadProto("gnmi.proto"), "gnmi.gNMI").service;
const SetM = svc.Set as grpc.MethodDefinition<unknown, unknown>;
const GetM = svc.Get as grpc.MethodDefinition<unknown, unknown>;

const port = (name: string, leaf: string) => ({
  elem: [
    { name: "interfaces" },
    { name: "virtual-interface", key: { name } },
    { name: "config" },
    { name: leaf },
  ],
});

const odd = {
  origin: "openconfig",
  elem: [{ name: "" }, {}, { name: "a", key: { z: "1", a: "", ü: "ß" } }],
  target: "",
};

const setRequests: unknown[] = [
  {},
  {
    update: Array.from({ length: 64 }, (_, i) => `P4TAP_${i}`).flatMap((n) => [
      { path: port(n, "pipeline-name"), val: { string_val: "pipe" } },
      { path: port(n, "mempool-name"), val: { string_val: "MEMPOOL0" } },
      { path: port(n, "mtu"), val: { int_val: "1500" } },
      { path: port(n, "port-type"), val: { string_val: "TAP" } },
    ]),
  },
  {
    prefix: { elem: [{ name: "interfaces" }] },
    delete: [port("P4TAP_0", "mtu"), {}],
    replace: [{ path: { elem: [] } }, { path: odd, val: { bool_val: false } }],
    update: [
      { path: port("x", "mtu"), val: { int_val: "-1" } },
      { path: port("x", "mtu"), val: { int_val: "-9223372036854775808" } },
      { path: port("x", "queues"), val: { uint_val: "18446744073709551615" } },
      { path: port("x", "queues"), val: { uint_val: "9007199254740993" } },
      { path: port("x", "enabled"), val: { bool_val: true } },
      { path: port("x", "host"), val: { string_val: "" } },
      { path: port("x", "host"), val: {} },
      { path: port("x", "host") },
      {},
    ],
  },
];

test("SetRequest: read into the object proto-loader makes", () => {
  for (const req of setRequests) {
    const bytes = SetM.requestSerialize(req);
    assert.deepEqual(decodeSetRequest(bytes), SetM.requestDeserialize(bytes));
  }
});

test("GetRequest: read into the object proto-loader makes, enums by name", () => {
  const reqs: unknown[] = [
    {},
    { path: [port("P4TAP_0", "port-type"), port("P4TAP_1", "port-type")], type: "ALL", encoding: "PROTO" },
    { prefix: odd, path: [{}], type: "CONFIG", encoding: "JSON" },
    { path: [{ elem: [] }], type: "OPERATIONAL", encoding: "JSON_IETF" },
    { type: "STATE", encoding: "ASCII" },
  ];
  for (const req of reqs) {
    const bytes = GetM.requestSerialize(req);
    assert.deepEqual(decodeGetRequest(bytes), GetM.requestDeserialize(bytes));
  }
});

test("a message cut short or with a wire type protobuf does not have is refused", () => {
  const bytes = SetM.requestSerialize(setRequests[1]);
  assert.throws(() => decodeSetRequest(bytes.subarray(0, bytes.length - 3)), /runs past|truncated/);
  assert.throws(() => decodeSetRequest(Buffer.from([0x0b])), /wire type 3/);
});

test("SetResponse and GetResponse: the bytes protobufjs writes", () => {
  const setResponses = [
    { response: [], timestamp: "0" },
    {
      prefix: { elem: [{ name: "interfaces" }] },
      response: [
        { path: port("P4TAP_0", "mtu"), op: "UPDATE" },
        { path: odd, op: "REPLACE" },
        { path: {}, op: "DELETE" },
      ],
      timestamp: "1764790000123456789",
    },
  ];
  for (const res of setResponses) {
    assert.deepEqual(encodeSetResponse(res), SetM.responseSerialize(res));
  }
  const ts = "1764790000123456789";
  const getResponses = [
    { notification: [] },
    { notification: [{ timestamp: "0", update: [{ path: { elem: [] } }] }] },
    {
      notification: [
        {
          timestamp: ts,
          update: [{ path: port("P4TAP_0", "port-type"), val: { value: "uint_val", uint_val: "0" } }],
        },
        {
          timestamp: ts,
          update: [{ path: port("P4TAP_0", "mtu"), val: { value: "uint_val", uint_val: "1500" } }],
        },
        {
          timestamp: ts,
          update: [{ path: port("P4TAP_0", "host"), val: { value: "string_val", string_val: "" } }],
        },
        { timestamp: ts, update: [{ path: port("P4TAP_0", "x"), val: { value: "int_val", int_val: "-3" } }] },
        { timestamp: ts, update: [{ path: odd, val: { value: "bool_val", bool_val: true } }] },
        { timestamp: ts, prefix: odd, update: [] },
      ],
    },
  ];
  for (const res of getResponses) {
    assert.deepEqual(encodeGetResponse(res), GetM.responseSerialize(res));
  }
});

test("SetResponse echoing the paths of a request read here: the bytes protobufjs writes for them", () => {
  for (const req of setRequests) {
    const bytes = SetM.requestSerialize(req);
    const mine = decodeSetRequest(bytes);
    const theirs = SetM.requestDeserialize(bytes) as typeof mine;
    const echo = (r: typeof mine) => ({
      prefix: r.prefix,
      response: [
        ...(r.delete ?? []).map((path) => ({ path, op: "DELETE" })),
        ...(r.replace ?? []).map((u) => ({ path: u.path, op: "REPLACE" })),
        ...(r.update ?? []).map((u) => ({ path: u.path, op: "UPDATE" })),
      ],
      timestamp: "1764790000123456789",
    });
    assert.deepEqual(encodeSetResponse(echo(mine)), SetM.responseSerialize(echo(theirs)));
  }
});
