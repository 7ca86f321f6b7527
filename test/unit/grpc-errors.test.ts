/**
 * gRPC errors in the daemon's words (daemon/host/grpc-channel.ts describeGrpcError), against real
 * sockets: nothing listening, a peer that accepts and never speaks HTTP/2, and the simulator's own
 * refusal. The code stays on the error (callers branch on it); grpc-js's internal text never reaches
 * the message that status and events show.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { GnmiClient } from "../../daemon/host/gnmi-client";
import { grpcCode } from "../../daemon/host/grpc-channel";
import { P4RuntimeClient } from "../../daemon/host/p4runtime-client";
import { freePort } from "../helpers/daemon";
import { ExternalTarget } from "../helpers/external-target";

const noRetry = { retryForMs: 0, initialBackoffMs: 10, maxBackoffMs: 10 };
const closers: Array<() => unknown> = [];
// Last in, first out: a client goes before the server it talks to (a net.Server's close waits for
// its connections to end).
after(async () => {
  for (const c of closers.reverse()) await c();
});

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail("expected the call to fail");
}

const GRPC_JS_WORDING =
  /Resolution note|No connection established|Last error|Waiting for LB pick|^\d+ [A-Z_]+:/;

describe("gRPC errors in the daemon's words", () => {
  test("nothing listening: '<service> target <address> unreachable (connection refused)', code UNAVAILABLE", async () => {
    const port = await freePort();
    const p4rt = new P4RuntimeClient({ address: `127.0.0.1:${port}`, timeoutMs: 1000, retry: noRetry });
    const gnmi = new GnmiClient({ address: `127.0.0.1:${port}`, timeoutMs: 1000, retry: noRetry });
    closers.push(
      () => p4rt.close(),
      () => gnmi.close(),
    );
    const e1 = await failure(p4rt.capabilities());
    assert.equal(e1.message, `P4Runtime target 127.0.0.1:${port} unreachable (connection refused)`);
    assert.equal(grpcCode(e1), grpc.status.UNAVAILABLE);
    const e2 = await failure(gnmi.createTapPort("P4TAP_0"));
    // A fresh channel may fail its first call before a connect attempt reported its errno.
    assert.match(
      e2.message,
      new RegExp(
        `gNMI target 127\\.0\\.0\\.1:${port} unreachable \\((connection refused|no connection established)\\)$`,
      ),
    );
    assert.equal(grpcCode(e2), grpc.status.UNAVAILABLE);
    for (const e of [e1, e2]) assert.doesNotMatch(e.message, GRPC_JS_WORDING);
  });

  test("a peer that never answers: 'did not answer within N ms (deadline exceeded)'", async () => {
    // Accepts connections and never answers; its sockets are destroyed at the end, since a client's
    // half-open HTTP/2 connection would otherwise keep close() (and this test file) waiting.
    const sockets: Socket[] = [];
    const silent: Server = createServer((sock) => {
      sockets.push(sock);
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    closers.push(
      () =>
        new Promise((r) => {
          silent.close(r);
          for (const sock of sockets) sock.destroy();
        }),
    );
    const addr = silent.address();
    assert.ok(addr && typeof addr === "object");
    const gnmi = new GnmiClient({ address: `127.0.0.1:${addr.port}`, timeoutMs: 300, retry: noRetry });
    closers.push(() => gnmi.close());
    const e = await failure(gnmi.capabilities());
    assert.equal(
      e.message,
      `gNMI target 127.0.0.1:${addr.port} did not answer within 300 ms (deadline exceeded)`,
    );
    assert.equal(grpcCode(e), grpc.status.DEADLINE_EXCEEDED);
  });

  test("the target's own refusal: 'answered <CODE>: <its message>', code kept", async () => {
    const a = { gnmi: `127.0.0.1:${await freePort()}`, p4rt: `127.0.0.1:${await freePort()}`, netns: null };
    const sim = await ExternalTarget.start(a);
    closers.push(() => sim.kill());
    const gnmi = new GnmiClient({ address: a.gnmi, timeoutMs: 2000, retry: noRetry });
    closers.push(() => gnmi.close());
    // P4-OVS 22.07 refuses an MTU over 65535 (yang_parse_tree_paths.cc); the simulator does the same.
    const e = await failure(gnmi.setLeaf("/interfaces/virtual-interface[name=GE_0]/config/mtu", 70000));
    assert.match(e.message, new RegExp(`^gNMI target ${a.gnmi} answered INVALID_ARGUMENT: .*MTU`));
    assert.equal(grpcCode(e), grpc.status.INVALID_ARGUMENT);
    assert.doesNotMatch(e.message, GRPC_JS_WORDING);
  });
});
