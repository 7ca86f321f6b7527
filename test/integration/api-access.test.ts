/**
 * Who may use the API of a real daemon: the token file it makes, the bearer check on mutating routes,
 * Origin and Host refusals (CSRF, DNS rebinding), the body limit, the rate limit, and the refusal to
 * start on files others could change.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { bearerMatches } from "../../api/plugins/access";
import { checkFiles, daemonFileRules } from "../../daemon/host/file-modes";
import { ensureToken, TokenError } from "../../daemon/host/token-file";
import { benchCoreConfig, type DaemonProcess, daemonFixture, type HttpAnswer } from "../helpers/daemon";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
after(async () => {
  for (const f of fixtures) await f.cleanup();
});
async function fixture(overrides: Record<string, unknown> = {}): Promise<Fixture> {
  const f = await daemonFixture({ ...benchCoreConfig, ...overrides });
  fixtures.push(f);
  return f;
}

/** A harmless mutating request: the fixes the preflight would apply, applying none. */
const DRY_FIX = "/v1/preflight/fix?dryRun=true";

/** Every error answer: the one shape, and nothing from a stack trace or the file system. */
function assertError(r: HttpAnswer, status: number, code: string): string {
  assert.equal(r.status, status, r.text);
  const body = r.body as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ["error", "message"], r.text);
  assert.equal(body.error, code, r.text);
  assert.equal(typeof body.message, "string");
  assert.doesNotMatch(r.text, /\bat \S+ \(|:\d+:\d+\)/, "no stack lines");
  assert.doesNotMatch(r.text, /\/work\/|\/tmp\/|node_modules|\.js:\d+/, "no paths");
  return body.message as string;
}

/** node:http, not fetch: fetch does not let a caller set Host. */
function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, body: parsed, text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("API access of a real daemon", () => {
  let f: Fixture;
  let d: DaemonProcess;
  before(async () => {
    f = await fixture();
    d = f.start();
    await d.until("/healthz", (b) => typeof b === "object" && b !== null);
  });

  test("the token file: 32 random bytes as 64 hex characters and a newline, mode 0600", () => {
    const text = readFileSync(f.tokenFile, "utf8");
    assert.match(text, /^[0-9a-f]{64}\n$/);
    assert.equal(statSync(f.tokenFile).mode & 0o777, 0o600);
    assert.equal(f.token, text.trim());
    assert.equal(statSync(join(f.dir, "state")).mode & 0o777, 0o700, "state dir 0700");
  });

  test("reads are open without a token", async () => {
    for (const path of ["/healthz", "/v1/status", "/v1/ready", "/metrics", "/v1/openapi.json", "/v1/taps"]) {
      const r = await d.http("GET", path, undefined, { token: null });
      assert.ok(r.status === 200 || r.status === 503, `${path}: ${r.status} ${r.text}`);
    }
  });

  test("a mutating route without a token: 401, nothing done", async () => {
    const msg = assertError(await d.http("POST", DRY_FIX, undefined, { token: null }), 401, "unauthorized");
    assert.match(msg, /Authorization: Bearer/);
    assertError(await d.http("PUT", "/v1/taps", { count: 16 }, { token: null }), 401, "unauthorized");
    const taps = await d.http("GET", "/v1/taps");
    assert.equal((taps.body as { count: number }).count, 8, "the pool was not resized");
  });

  test("a wrong token, a token of another length, another scheme: 401", async () => {
    const wrong = f.token.replace(/^./, (c) => (c === "0" ? "1" : "0"));
    assertError(await d.http("POST", DRY_FIX, undefined, { token: wrong }), 401, "unauthorized");
    assertError(
      await d.http("POST", DRY_FIX, undefined, { token: f.token.slice(0, 10) }),
      401,
      "unauthorized",
    );
    assertError(await d.http("POST", DRY_FIX, undefined, { token: `${f.token}0` }), 401, "unauthorized");
    assertError(await d.http("POST", DRY_FIX, undefined, { token: "" }), 401, "unauthorized");
    const basic = await d.http("POST", DRY_FIX, undefined, {
      token: null,
      headers: { authorization: `Basic ${f.token}` },
    });
    assertError(basic, 401, "unauthorized");
    assert.equal((await d.http("POST", DRY_FIX)).status, 200, "the right token works");
  });

  test("an unknown mutating route without a token is a 401, not a map of the routes", async () => {
    assertError(await d.http("DELETE", "/v1/nothing", undefined, { token: null }), 401, "unauthorized");
    assertError(await d.http("DELETE", "/v1/nothing"), 404, "not_found");
  });

  test("a request with an Origin header: 403, even with the token", async () => {
    for (const origin of ["http://evil.example", "null", `http://127.0.0.1:${f.port}`]) {
      assertError(await d.http("GET", "/v1/status", undefined, { headers: { origin } }), 403, "forbidden");
      assertError(await d.http("POST", DRY_FIX, undefined, { headers: { origin } }), 403, "forbidden");
    }
  });

  test("a Host other than the loopback names with the daemon's port: 403", async () => {
    const auth = { authorization: `Bearer ${f.token}` };
    for (const host of [
      `evil.example:${f.port}`,
      `rebound.attacker.test:${f.port}`,
      "localhost",
      "127.0.0.1",
      `127.0.0.1:${f.port + 1}`,
      `127.0.0.2:${f.port}`,
      `localhost.:${f.port}`,
    ]) {
      const r = await raw(f.port, "GET", "/v1/status", { host });
      assertError(r, 403, "forbidden");
      assertError(await raw(f.port, "POST", DRY_FIX, { host, ...auth }), 403, "forbidden");
    }
    for (const host of [
      `localhost:${f.port}`,
      `LOCALHOST:${f.port}`,
      `127.0.0.1:${f.port}`,
      `[::1]:${f.port}`,
    ]) {
      assert.equal((await raw(f.port, "GET", "/healthz", { host })).status, 200, host);
      assert.equal((await raw(f.port, "POST", DRY_FIX, { host, ...auth })).status, 200, host);
    }
  });

  test("a body over 16 KiB: 413 in the common error shape; without a token: 401 before it is read", async () => {
    const big = JSON.stringify({ count: 8, pad: "x".repeat(20 * 1024) });
    const headers = { host: `127.0.0.1:${f.port}`, "content-type": "application/json" };
    const r = await raw(f.port, "PUT", "/v1/taps", { ...headers, authorization: `Bearer ${f.token}` }, big);
    assertError(r, 413, "payload_too_large");
    assertError(await raw(f.port, "PUT", "/v1/taps", headers, big), 401, "unauthorized");
  });

  test("the OpenAPI document: a bearer scheme, required by every mutating route and no read", async () => {
    const doc = (await d.http("GET", "/v1/openapi.json")).body as {
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
    };
    assert.deepEqual(
      {
        type: doc.components.securitySchemes.bearerAuth?.type,
        scheme: doc.components.securitySchemes.bearerAuth?.scheme,
      },
      { type: "http", scheme: "bearer" },
    );
    let mutating = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (method === "get" || method === "head") {
          assert.equal(op.security, undefined, `${method} ${path}`);
        } else {
          mutating++;
          assert.deepEqual(op.security, [{ bearerAuth: [] }], `${method} ${path}`);
          for (const code of ["401", "413", "429"])
            assert.ok(op.responses[code], `${method} ${path} ${code}`);
        }
        assert.ok(op.responses["403"], `${method} ${path} 403`);
      }
    }
    assert.ok(mutating >= 4, `mutating routes documented: ${mutating}`);
  });

  test("the unix socket <runDir>/api.sock: mode 0600, same rules but Host", async () => {
    const sock = join(f.dir, "run", "api.sock");
    const st = lstatSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    const viaSocket = (method: string, path: string, headers: Record<string, string>) =>
      new Promise<HttpAnswer>((resolve, reject) => {
        const req = http.request({ socketPath: sock, method, path, headers }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            text += c;
          });
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || "null"), text }),
          );
        });
        req.on("error", reject);
        req.end();
      });
    assert.equal((await viaSocket("GET", "/healthz", { host: "localhost" })).status, 200);
    assertError(await viaSocket("POST", DRY_FIX, { host: "localhost" }), 401, "unauthorized");
    const auth = { host: "localhost", authorization: `Bearer ${f.token}` };
    assert.equal((await viaSocket("POST", DRY_FIX, auth)).status, 200);
    assertError(
      await viaSocket("POST", DRY_FIX, { ...auth, origin: "http://evil.example" }),
      403,
      "forbidden",
    );
  });

  test("the token outlives a restart; the socket goes with the daemon", async () => {
    const first = f.token;
    await d.stop();
    assert.equal(existsSync(join(f.dir, "run", "api.sock")), false, "socket removed");
    d = f.start();
    await d.until("/healthz", (b) => typeof b === "object" && b !== null);
    assert.equal(f.token, first);
    assert.equal((await d.http("POST", DRY_FIX)).status, 200);
  });
});

describe("rate limit on mutating routes", () => {
  test("api.rateLimit authenticated mutations a minute, then 429; reads and refused requests do not count", async () => {
    const f = await fixture({ api: { rateLimit: 3 } });
    const d = f.start();
    await d.until("/healthz", (b) => typeof b === "object" && b !== null);
    for (let i = 0; i < 10; i++) {
      assertError(await d.http("POST", DRY_FIX, undefined, { token: null }), 401, "unauthorized");
      await d.http("GET", "/v1/status");
    }
    for (let i = 0; i < 3; i++) assert.equal((await d.http("POST", DRY_FIX)).status, 200, `request ${i + 1}`);
    const msg = assertError(await d.http("POST", DRY_FIX), 429, "rate_limited");
    assert.match(msg, /at most 3 a minute/);
    assert.equal((await d.http("GET", "/healthz")).status, 200, "reads are not limited");
  });
});

describe("files others could change: the daemon refuses to start (exit 2)", () => {
  async function refused(f: Fixture, pattern: RegExp): Promise<void> {
    const d = f.start();
    const { code } = await d.exited;
    assert.equal(code, 2, d.stderr);
    assert.match(d.stderr, pattern);
    assert.match(d.stderr, /nothing was started/);
    assert.equal(f.notify.messages.length, 0, "nothing told to systemd");
  }

  test("a config file writable by others", async () => {
    const f = await fixture();
    chmodSync(f.configFile, 0o666);
    await refused(f, /config file \S+config\.yaml has mode 0666; allowed: not writable by group or others/);
  });

  test("a state directory writable by group", async () => {
    const f = await fixture();
    mkdirSync(join(f.dir, "state"));
    chmodSync(join(f.dir, "state"), 0o770);
    await refused(f, /state directory \S+state has mode 0770; allowed: not writable by group or others/);
  });

  test("a state database writable by others", async () => {
    const f = await fixture();
    mkdirSync(join(f.dir, "state"), { mode: 0o700 });
    writeFileSync(join(f.dir, "state/state.db"), "", { mode: 0o602 });
    chmodSync(join(f.dir, "state/state.db"), 0o602);
    await refused(f, /state database \S+state\.db has mode 0602/);
  });

  test("a token file readable by others, or owned by another user", async () => {
    const f = await fixture();
    mkdirSync(join(f.dir, "state"), { mode: 0o700 });
    writeFileSync(f.tokenFile, `${"ab".repeat(32)}\n`, { mode: 0o644 });
    chmodSync(f.tokenFile, 0o644);
    await refused(
      f,
      /API token file \S+token has mode 0644; allowed: readable and writable by its owner only \(chmod 0600\)/,
    );
    chmodSync(f.tokenFile, 0o600);
    chownSync(f.tokenFile, 65534, 65534);
    await refused(
      f,
      /API token file \S+token is owned by uid 65534; allowed: owned by the daemon's user \(uid 0\) or root/,
    );
  });

  test("checkFiles lists every problem; missing files are fine (the daemon makes them safe)", () => {
    const problems = checkFiles(
      daemonFileRules({
        configFile: "/nonexistent/c.yaml",
        stateDir: "/nonexistent/s",
        tokenFile: "/nonexistent/t",
      }),
    );
    assert.deepEqual(problems, []);
  });
});

describe("the token file", () => {
  test("made once with mode 0600 whatever the umask, then read back; a file without a token is refused", () => {
    const dir = mkdtempSync(join(tmpdir(), "offloadd-token-"));
    try {
      const file = join(dir, "sub", "token");
      const old = process.umask(0);
      let token: string;
      try {
        token = ensureToken(file);
      } finally {
        process.umask(old);
      }
      assert.match(token, /^[0-9a-f]{64}$/);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(join(dir, "sub")).mode & 0o777, 0o700);
      assert.equal(ensureToken(file), token, "kept");
      writeFileSync(file, "not a token\n");
      assert.throws(
        () => ensureToken(file),
        (e: Error) => e instanceof TokenError && /64 lowercase hex/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a start that died while making the token (an empty temporary file) does not block the next", () => {
    const dir = mkdtempSync(join(tmpdir(), "offloadd-token-"));
    try {
      const file = join(dir, "token");
      writeFileSync(`${file}.tmp`, "", { mode: 0o600 });
      assert.match(ensureToken(file), /^[0-9a-f]{64}$/);
      assert.deepEqual(readdirSync(dir), ["token"], "the leftover is gone, the token in place");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bearerMatches", () => {
  const token = "0123456789abcdef".repeat(4);
  const digest = createHash("sha256").update(token).digest();
  test("only 'Bearer <the token>' matches", () => {
    assert.equal(bearerMatches(`Bearer ${token}`, digest), true);
    assert.equal(bearerMatches(`bearer ${token}`, digest), true);
    for (const h of [
      undefined,
      "",
      token,
      `Bearer`,
      `Bearer ${token}x`,
      `Bearer ${token} x`,
      `Basic ${token}`,
    ]) {
      assert.equal(bearerMatches(h, digest), false, String(h));
    }
  });
});
