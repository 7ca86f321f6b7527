/**
 * The API on a unix socket too (`<runDir>/api.sock`, mode 0600): local tools reach it without a TCP
 * port, and only the daemon's user can connect. The same fastify instance serves it, so every hook
 * (token, Origin, rate limit) applies; the Host rule does not (no browser reaches a unix socket, and
 * curl --unix-socket sends a Host of its own choosing). It has no fast path for the cached GETs
 * (api/cached-gets.ts): every request goes through fastify's routing.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { dirname, join } from "node:path";
import type { FastifyInstance } from "fastify";

/** Set on the connections of the unix socket server: the access rules tell them apart by it. */
export const UNIX_SOCKET = Symbol("k8s-offloadd unix socket");

/**
 * Listens on `path` for `app` (which must be ready). The socket is bound in a fresh 0700 directory,
 * made 0600, then renamed into place: it is never reachable with a looser mode, with no umask games
 * in a multi-threaded process. A stale socket at `path` (a killed daemon's) is replaced; anything
 * else there is refused. close() closes it and removes the file (call it before app.close()).
 */
export async function serveUnixSocket(
  app: FastifyInstance,
  path: string,
): Promise<{ close(): Promise<void> }> {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  try {
    if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket; remove it`);
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const tmp = mkdtempSync(join(dir, ".api-sock-"));
  const server: Server = createServer((req, res) => app.routing(req, res));
  server.on("connection", (sock) => {
    (sock as unknown as Record<symbol, boolean>)[UNIX_SOCKET] = true;
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(join(tmp, "s"), () => {
        server.off("error", reject);
        resolve();
      });
    });
    chmodSync(join(tmp, "s"), 0o600);
    renameSync(join(tmp, "s"), path);
  } catch (err) {
    server.close();
    throw err;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return {
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(path, { force: true });
    },
  };
}
