/**
 * The OVS probes' JSON-RPC client (daemon/host/ovsdb-rpc.ts) and the probes themselves
 * (daemon/host/ovsdb-probes.ts): the stream framing against a scripted peer (the one place a peer
 * must send what a real ovsdb-server sends only rarely: split values, an "echo" inactivity probe, an
 * unrequested notification), then the probes against a real Debian ovsdb-server and ovs-vswitchd
 * run in a scratch directory.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ovsdbApplied, ovsdbInit } from "../../daemon/host/ovsdb-probes";
import { JsonSplitter, OvsdbRpc } from "../../daemon/host/ovsdb-rpc";

describe("JsonSplitter: OVSDB's unframed stream", () => {
  test("values split anywhere across chunks come out whole, in order", () => {
    const msgs = [
      { id: 1, result: [{ rows: [{ a: "x" }] }], error: null },
      { method: "update", params: ["m", { T: {} }], id: null },
      { id: 2, result: [], error: null },
    ];
    const text = msgs.map((m) => JSON.stringify(m)).join("\n");
    for (let cut = 1; cut < text.length; cut += 3) {
      const s = new JsonSplitter();
      const out = [...s.push(text.slice(0, cut)), ...s.push(text.slice(cut))];
      assert.deepEqual(
        out.map((t) => JSON.parse(t)),
        msgs,
        `cut at ${cut}`,
      );
    }
  });

  test("braces, brackets, quotes and backslashes inside strings do not count", () => {
    const v = { id: 7, result: { s: '}{ ][ "quoted" \\ \\" \\\\', t: "\\", u: "{" }, error: null };
    const text = JSON.stringify(v);
    const s = new JsonSplitter();
    const out: string[] = [];
    for (const ch of text) out.push(...s.push(ch)); // one character at a time: every escape split
    assert.deepEqual(
      out.map((t) => JSON.parse(t)),
      [v],
    );
  });

  test("a UTF-8 character split between two chunks is decoded whole", () => {
    const bytes = Buffer.from(JSON.stringify({ id: 1, result: "é€😀", error: null }));
    const s = new JsonSplitter();
    const idx = bytes.indexOf(0xe2); // inside "€"
    const out = [...s.push(bytes.subarray(0, idx + 1)), ...s.push(bytes.subarray(idx + 1))];
    assert.equal(JSON.parse(out[0] as string).result, "é€😀");
  });

  test("something that is not a message between messages is an error, not silence", () => {
    assert.throws(() => new JsonSplitter().push('{"id":1} 42'), /unexpected '4' between messages/);
    assert.throws(() => new JsonSplitter().push("}"), /unbalanced/);
  });
});

describe("OvsdbRpc against a scripted peer", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ovsdb-rpc-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function peer(name: string, onConn: (c: Socket) => void): Promise<{ path: string; server: Server }> {
    const path = join(dir, name);
    const server = createServer(onConn);
    return new Promise((r) => server.listen(path, () => r({ path, server })));
  }

  test("the server's echo is answered with the same params and id; an unrequested update is ignored; the reply with our id is ours", async () => {
    let echoReply: unknown = null;
    const { path, server } = await peer("echo.sock", (c) => {
      const split = new JsonSplitter();
      c.on("data", (d) => {
        for (const t of split.push(d)) {
          const m = JSON.parse(t);
          if (m.id === "echo") {
            echoReply = m;
            // Only once the echo was answered: the reply to the client's request.
            c.write(JSON.stringify({ id: 1, result: ["pong"], error: null }));
          } else if (m.method === "list_dbs") {
            const echo = JSON.stringify({ method: "echo", params: ["probe", 3], id: "echo" });
            c.write(
              `${JSON.stringify({ method: "update", params: ["not-ours", {}], id: null })}${echo.slice(0, 9)}`,
            );
            setTimeout(() => c.write(echo.slice(9)), 20);
          }
        }
      });
    });
    try {
      const rpc = await OvsdbRpc.open(path, 5000);
      assert.deepEqual(await rpc.request("list_dbs", []), ["pong"]);
      rpc.close();
      assert.deepEqual(echoReply, { result: ["probe", 3], error: null, id: "echo" });
    } finally {
      server.close();
    }
  });

  test("an error reply rejects naming the method and the error; silence rejects at the deadline", async () => {
    const { path, server } = await peer("err.sock", (c) => {
      c.on("data", (d) => {
        const m = JSON.parse(String(d));
        if (m.method === "transact")
          c.write(
            JSON.stringify({ id: m.id, result: null, error: { error: "unknown database", details: "x" } }),
          );
      });
    });
    try {
      const rpc = await OvsdbRpc.open(path, 300);
      await assert.rejects(rpc.request("transact", ["nope"]), /transact failed: unknown database: x/);
      await assert.rejects(rpc.request("list_dbs", []), /no answer within 300 ms/);
    } finally {
      server.close();
    }
  });

  test("a missing socket rejects naming the path", async () => {
    await assert.rejects(OvsdbRpc.open(join(dir, "none.sock"), 1000), /none\.sock: connect ENOENT/);
  });
});

describe("OVS probes against a real ovsdb-server and ovs-vswitchd", () => {
  let dir: string;
  let sock: string;
  let db: ChildProcess | null = null;
  let vs: ChildProcess | null = null;
  const env = () => ({ ...process.env, OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir });

  async function startDb(): Promise<void> {
    db = spawn(
      "/usr/sbin/ovsdb-server",
      [
        join(dir, "conf.db"),
        `--remote=punix:${sock}`,
        `--pidfile=${dir}/ovsdb-server.pid`,
        `--log-file=${dir}/db.log`,
      ],
      { env: env(), stdio: "ignore" },
    );
    await until(() => existsSync(sock), "db.sock");
  }

  function rows(): Record<string, unknown>[] {
    const out = execFileSync(
      "/usr/bin/ovsdb-client",
      [
        "transact",
        `unix:${sock}`,
        JSON.stringify(["Open_vSwitch", { op: "select", table: "Open_vSwitch", where: [] }]),
      ],
      { env: env() },
    );
    return JSON.parse(String(out))[0].rows;
  }

  async function stop(p: ChildProcess | null): Promise<void> {
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await gone;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ovsdb-probe-"));
    sock = join(dir, "db.sock");
    execFileSync("/usr/bin/ovsdb-tool", [
      "create",
      join(dir, "conf.db"),
      "/usr/share/openvswitch/vswitch.ovsschema",
    ]);
    await startDb();
  });
  after(async () => {
    await stop(vs);
    await stop(db);
    rmSync(dir, { recursive: true, force: true });
  });

  test("init on an empty database makes the Open_vSwitch row exactly once, also when two probes race", async () => {
    assert.equal(rows().length, 0, "ovsdb-tool create leaves the table empty");
    const [a, b] = await Promise.all([ovsdbInit(sock, 2000), ovsdbInit(sock, 2000)]);
    assert.ok(a.ok && b.ok, JSON.stringify([a, b]));
    assert.equal(rows().length, 1);
    assert.equal([a, b].filter((r) => r.ok && r.inserted).length, 1, "one of the two inserted");
    const again = await ovsdbInit(sock, 2000);
    assert.deepEqual(again, { ok: true }, "the second probe inserts nothing");
    assert.equal(rows().length, 1);
  });

  test("without ovs-vswitchd: not ready within the bound, naming next_cfg and cur_cfg", async () => {
    const before = rows()[0]?.next_cfg as number;
    const r = await ovsdbApplied(sock, 500);
    assert.equal(r.ok, false);
    assert.match(
      (r as { why: string }).why,
      new RegExp(`^next_cfg ${before + 1}, cur_cfg 0: .*no answer within 500 ms`),
    );
    assert.equal(rows()[0]?.next_cfg, before + 1, "the probe incremented next_cfg, as ovs-vsctl does");
  });

  test("with ovs-vswitchd: ready once it has applied the database (cur_cfg caught up)", async () => {
    vs = spawn(
      "/usr/sbin/ovs-vswitchd",
      [`unix:${sock}`, `--pidfile=${dir}/ovs-vswitchd.pid`, "--no-chdir", `--log-file=${dir}/vs.log`],
      { env: env(), stdio: "ignore" },
    );
    const r = await ovsdbApplied(sock, 10000);
    assert.deepEqual(r, { ok: true });
    const row = rows()[0] as { next_cfg: number; cur_cfg: number };
    assert.ok(row.cur_cfg >= row.next_cfg, JSON.stringify(row));
    // Every probe is a real round trip: a second one moves next_cfg again and is answered again.
    assert.deepEqual(await ovsdbApplied(sock, 10000), { ok: true });
    assert.equal((rows()[0] as { next_cfg: number }).next_cfg, row.next_cfg + 1);
  });

  test("ovsdb-server killed mid-probe: not ready (connection closed), no crash; then a refused connect and a missing socket: not ready", async () => {
    await stop(vs);
    const pending = ovsdbApplied(sock, 20000);
    await new Promise((r) => setTimeout(r, 200));
    await stop(db);
    const r = await pending;
    assert.equal(r.ok, false);
    assert.match((r as { why: string }).why, /closed the connection/);
    const refused = await ovsdbInit(sock, 2000);
    assert.equal(refused.ok, false, "the socket file is left behind: the connect is refused");
    assert.match((refused as { why: string }).why, /db\.sock: connect ECONNREFUSED/);
    rmSync(sock, { force: true });
    const gone = await ovsdbInit(sock, 2000);
    assert.equal(gone.ok, false);
    assert.match((gone as { why: string }).why, /db\.sock: connect ENOENT/);
  });
});

async function until(pred: () => boolean, what: string, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
