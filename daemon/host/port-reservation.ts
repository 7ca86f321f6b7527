/**
 * The API's TCP port, held from before anything of the datapath is touched until the API is built:
 * a port another process holds ends the daemon with nothing started, while the datapath's children
 * boot during the API's build (daemon.ts). Connections made meanwhile wait, unread, and are handed to
 * the API once it listens: a client polling /v1/status during start-up waits some tens of ms instead
 * of being refused.
 */
import { createServer, type Server, type Socket } from "node:net";

export class PortReservation {
  private readonly early = new Set<Socket>();

  private constructor(private readonly server: Server) {
    server.on("connection", (s) => {
      this.early.add(s);
      s.on("error", () => s.destroy()); // a client gone meanwhile: nothing to hand over
      s.once("close", () => this.early.delete(s));
    });
  }

  /** Listens on host:port (rejects with the listen error, e.g. EADDRINUSE). */
  static async take(host: string, port: number): Promise<PortReservation> {
    const server = createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new PortReservation(server);
  }

  /**
   * Stops listening (the port is free again as this returns: close() shuts the listening socket at
   * once) and gives the connections accepted meanwhile, still unread, to `hand` (the API's server).
   */
  release(): { handOver(hand: (s: Socket) => void): void } {
    this.server.close();
    const early = [...this.early];
    this.early.clear();
    return {
      handOver: (hand) => {
        for (const s of early) {
          if (s.destroyed) continue;
          s.removeAllListeners("error");
          hand(s);
          s.resume(); // paused since it was accepted (pauseOnConnect)
        }
      },
    };
  }

  /** Start-up ended before the API listened: the waiting clients are closed with the port. */
  close(): void {
    this.server.close();
    for (const s of this.early) s.destroy();
    this.early.clear();
  }
}
