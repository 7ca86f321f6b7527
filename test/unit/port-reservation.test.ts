/**
 * The API's port held while the API is built (daemon/host/port-reservation.ts): a taken port is
 * refused at once; a client that connected meanwhile is answered by the server that listens after.
 */
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import { createServer as createNetServer } from "node:net";
import { describe, test } from "node:test";
import { PortReservation } from "../../daemon/host/port-reservation";

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("PortReservation", () => {
  test("a port another server holds: rejected with EADDRINUSE", async () => {
    const port = await freePort();
    const other = createNetServer();
    await new Promise<void>((r) => other.listen(port, "127.0.0.1", r));
    try {
      await assert.rejects(PortReservation.take("127.0.0.1", port), { code: "EADDRINUSE" });
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  test("a request made while the port is held is answered by the server that listens next", async () => {
    const port = await freePort();
    const held = await PortReservation.take("127.0.0.1", port);
    // Sent now: accepted by the reservation, unread until it is handed over.
    const answer = new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: "/v1/status" }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve(`${res.statusCode} ${body}`));
      });
      req.on("error", reject);
      req.end();
    });
    await new Promise((r) => setTimeout(r, 50));
    const api = createServer((req, res) => res.end(`served ${req.url}`));
    try {
      const early = held.release();
      await new Promise<void>((r) => api.listen(port, "127.0.0.1", r));
      early.handOver((s) => api.emit("connection", s));
      assert.equal(await answer, "200 served /v1/status");
    } finally {
      api.closeAllConnections();
      await new Promise<void>((r) => api.close(() => r()));
    }
  });

  test("close(): the port is free again and waiting clients are closed, not left hanging", async () => {
    const port = await freePort();
    const held = await PortReservation.take("127.0.0.1", port);
    const failed = new Promise<string>((resolve) => {
      const req = request({ host: "127.0.0.1", port, path: "/" }, () => resolve("answered"));
      req.on("error", (err) => resolve((err as NodeJS.ErrnoException).code ?? String(err)));
      req.end();
    });
    await new Promise((r) => setTimeout(r, 50));
    held.close();
    assert.equal(await failed, "ECONNRESET");
    const again = await PortReservation.take("127.0.0.1", port);
    again.close();
  });
});
