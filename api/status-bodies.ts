/**
 * The bytes of GET /v1/status and GET /v1/ready, serialized once per change of the engine's status
 * (EngineApi.statusVersion: a state, phase, pid, restart count or log tail moved) and served as the same
 * Buffer until the next one: a request does no JSON work and no I/O. uptimeSec is whole seconds, so a
 * body is also made again once it is a second old (at most one serialization a second under load).
 */
import type { EngineApi } from "../daemon/engine/component";

export const JSON_TYPE = "application/json; charset=utf-8";

export interface ReadyBody {
  code: 200 | 503;
  body: Buffer;
}

export class StatusBodies {
  /** How many times the status was serialized (for tests: requests alone never add to it). */
  serializations = 0;
  private version = Number.NaN;
  private madeAt = 0;
  private statusBody = Buffer.alloc(0);
  private readyBody: ReadyBody = { code: 503, body: Buffer.alloc(0) };

  constructor(
    private readonly engine: EngineApi,
    private readonly maxAgeMs = 1000,
  ) {}

  status(): Buffer {
    this.refresh();
    return this.statusBody;
  }

  ready(): ReadyBody {
    this.refresh();
    return this.readyBody;
  }

  private refresh(): void {
    const version = this.engine.statusVersion();
    const now = Date.now();
    if (version === this.version && now - this.madeAt < this.maxAgeMs) return;
    // Read the version first: a change during status() leaves the next request to serialize again.
    const s = this.engine.status();
    this.statusBody = Buffer.from(JSON.stringify(s));
    this.readyBody =
      s.phase === "ready"
        ? { code: 200, body: Buffer.from(JSON.stringify({ ready: true, phase: s.phase })) }
        : {
            code: 503,
            body: Buffer.from(JSON.stringify({ ready: false, phase: s.phase, reason: s.message })),
          };
    this.version = version;
    this.madeAt = now;
    this.serializations++;
  }
}
