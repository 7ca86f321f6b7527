/**
 * HTTP client of the daemon's API over node:http: loopback only, no proxy (node:http never reads
 * http_proxy), and no client-side timeouts beyond those a caller asks for (wait-ready holds a request
 * for up to 300 s). Errors become CliErrors: an API error answer exits 1 with the API's message; a
 * refused or broken connection exits 3 naming the URL.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import type { ApiErrorBody } from "./api-types";
import { CliError, EXIT } from "./exit-codes";

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Statuses answered as data rather than errors (e.g. 503 of GET /v1/ready). */
  accept?: number[];
  /** Give up on the whole request after this long (exit 3). */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export interface Answer<T> {
  status: number;
  body: T;
}

/** Gets the token only when a mutating request needs it: reads work without a readable token file. */
export type TokenSource = () => string;

export class ApiClient {
  constructor(
    readonly base: URL,
    private readonly token: TokenSource,
  ) {}

  url(path: string, query: RequestOptions["query"] = {}): URL {
    const u = new URL(path, this.base);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  async get<T>(path: string, opts: RequestOptions = {}): Promise<Answer<T>> {
    return this.send<T>("GET", path, opts);
  }

  async send<T>(method: string, path: string, opts: RequestOptions = {}): Promise<Answer<T>> {
    const res = await this.open(method, path, opts);
    return this.answer<T>(method, path, res, opts.accept);
  }

  /** Reads an answer: data for a 2xx (or an accepted status), else the API's error as a CliError. */
  async answer<T>(
    method: string,
    path: string,
    res: IncomingMessage,
    accept: number[] = [],
  ): Promise<Answer<T>> {
    let text: string;
    try {
      text = await readAll(res);
    } catch (err) {
      throw this.unreachable(`the answer broke off: ${(err as Error).message}`);
    }
    const status = res.statusCode ?? 0;
    const body = parseJson(text);
    if ((status >= 200 && status < 300) || accept.includes(status)) {
      if (body === undefined) throw this.unexpected(method, path, status, text);
      return { status, body: body as T };
    }
    if (isErrorBody(body)) throw new CliError(EXIT.apiError, body.message);
    throw this.unexpected(method, path, status, text);
  }

  /** The response once its headers arrived, for streams (Server-Sent Events). */
  async open(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { accept: "application/json", ...opts.headers };
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (payload !== undefined) headers["content-type"] = "application/json";
    if (method !== "GET" && method !== "HEAD") headers.authorization = `Bearer ${this.token()}`;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(url, { method, headers, agent: false }, resolve);
      const fail = (why: string) => reject(this.unreachable(why));
      req.on("error", (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
      if (opts.timeoutMs !== undefined) {
        req.setTimeout(opts.timeoutMs, () => {
          req.destroy();
          fail(`no answer within ${Math.round((opts.timeoutMs as number) / 1000)} s`);
        });
      }
      req.end(payload);
    });
  }

  unreachable(why: string): CliError {
    return new CliError(
      EXIT.unreachable,
      `cannot reach k8s-offloadd at ${this.base.origin} (${why}); is it running? (systemctl status k8s-offloadd)`,
    );
  }

  private unexpected(method: string, path: string, status: number, text: string): CliError {
    const shown = text.length > 200 ? `${text.slice(0, 200)}...` : text;
    return new CliError(
      EXIT.apiError,
      `unexpected answer to ${method} ${path} from ${this.base.origin}: HTTP ${status} ${JSON.stringify(shown)}`,
    );
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (d: string) => {
      text += d;
    });
    res.on("end", () => resolve(text));
    res.on("error", reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isErrorBody(b: unknown): b is ApiErrorBody {
  const o = b as Partial<ApiErrorBody> | null;
  return typeof o === "object" && o !== null && typeof o.message === "string" && typeof o.error === "string";
}
