/** The state store: file modes, migrations (and refusing files it must not touch), round-trips. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import pino from "pino";
import { Engine } from "../../daemon/engine/engine";
import { prepareStateFile } from "../../daemon/host/state-files";
import { findMigrationsDir, loadMigrations } from "../../daemon/state/migrate";
import { StateError, StateStore } from "../../daemon/state/store";
import { Part } from "../helpers/part";

const root = mkdtempSync(join(tmpdir(), "offloadd-state-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh directory per test. */
const scratch = () => {
  const d = join(root, `t${++n}`);
  mkdirSync(d);
  return d;
};

const migrationsDir = findMigrationsDir(__dirname);
const mode = (p: string) => statSync(p).mode & 0o777;
/** Reads the database with a plain connection, closed before returning. */
function raw<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
const version = (file: string) => raw(file, (db) => db.pragma("user_version", { simple: true }) as number);
const tables = (file: string) =>
  raw(file, (db) =>
    db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .pluck()
      .all(),
  );
const ALL_TABLES = [
  "children",
  "datapath_generations",
  "desired",
  "events",
  "job_steps",
  "jobs",
  "step_processes",
  "taps",
];
/** The newest schema version (the number of files in migrations/). */
const LATEST = loadMigrations(migrationsDir).at(-1)?.version ?? 0;

/** Asserts open() refuses the file with a StateError and leaves it (and its directory) byte for byte. */
function assertRefusedUntouched(file: string, message: RegExp, opts = {}): StateError {
  const before = readFileSync(file);
  const listing = readdirSync(join(file, ".."));
  let caught: unknown;
  assert.throws(
    () => StateStore.open(file, opts),
    (err) => {
      caught = err;
      return err instanceof StateError && message.test(err.message);
    },
  );
  assert.ok(readFileSync(file).equals(before), "file bytes unchanged");
  assert.deepEqual(readdirSync(join(file, "..")), listing, "nothing renamed, nothing left beside it");
  return caught as StateError;
}

describe("opening", () => {
  test("a fresh open makes a 0700 directory and a 0600 file at the newest schema version", () => {
    const dir = join(scratch(), "nested", "state");
    const file = join(dir, "state.db");
    const store = StateStore.open(file, { prepareFile: prepareStateFile });
    try {
      assert.equal(mode(dir), 0o700);
      assert.equal(mode(file), 0o600);
      store.addEvent(null, "phase", "written through the WAL");
      for (const side of [`${file}-wal`, `${file}-shm`]) {
        if (existsSync(side)) assert.equal(mode(side), 0o600, side);
      }
      assert.ok(existsSync(`${file}-wal`), "WAL mode");
      assert.equal(store.integrityCheck(), "ok");
    } finally {
      store.close();
    }
    assert.equal(version(file), LATEST);
    assert.deepEqual(tables(file), ALL_TABLES);
    assert.equal(
      raw(file, (db) => db.pragma("journal_mode", { simple: true })),
      "wal",
    );
  });

  test("an existing file with a loose mode is tightened to 0600", () => {
    const file = join(scratch(), "state.db");
    writeFileSync(file, "", { mode: 0o644 });
    StateStore.open(file, { prepareFile: prepareStateFile }).close();
    assert.equal(mode(file), 0o600);
  });

  test("reopening after close keeps everything; close is idempotent", () => {
    const file = join(scratch(), "state.db");
    const a = StateStore.open(file);
    a.saveChild({
      component: "c",
      pid: 7,
      startTime: 70,
      argv: ["x"],
      spawnedAt: "t",
      logFile: "l",
      bootId: "b",
    });
    const ev = a.addEvent("c", "ready", "up");
    const job = a.createJob("upgrade", ["one"]);
    a.close();
    a.close();
    const b = StateStore.open(file);
    try {
      assert.equal(b.child("c")?.pid, 7);
      assert.deepEqual(b.events(0, 10), [ev]);
      assert.equal(b.lastEventId(), ev.id);
      assert.equal(b.job(job)?.steps[0]?.name, "one");
      assert.equal(b.addEvent(null, "phase", "next").id, ev.id + 1);
    } finally {
      b.close();
    }
  });
});

describe("migrations", () => {
  test("from version 0: a zero-byte file and an empty SQLite database", () => {
    const empty = join(scratch(), "empty.db");
    writeFileSync(empty, "");
    const blank = join(scratch(), "blank.db");
    const db = new Database(blank);
    db.exec("VACUUM"); // a valid header, no tables, user_version 0
    db.close();
    assert.equal(version(blank), 0);
    for (const file of [empty, blank]) {
      StateStore.open(file).close();
      assert.equal(version(file), LATEST, file);
      assert.deepEqual(tables(file), ALL_TABLES);
    }
  });

  test("from version 1 (only 001 applied, with rows): data kept, now at the latest version", () => {
    const file = join(scratch(), "v1.db");
    const db = new Database(file);
    db.exec(readFileSync(join(migrationsDir, "001_children_events.sql"), "utf8"));
    db.pragma("user_version = 1");
    db.prepare(
      "INSERT INTO children VALUES ('ovsdb-server', 42, 4200, '[\"ovsdb-server\",\"-v\"]', 'T0', '/l')",
    ).run();
    db.prepare("INSERT INTO components VALUES ('ovsdb-server', 'ready', 3, 'boom', 'T1')").run();
    db.prepare(
      "INSERT INTO events (time, component, kind, message) VALUES ('T2', NULL, 'phase', 'old')",
    ).run();
    db.close();
    assert.deepEqual(tables(file), ["children", "components", "events"]);

    const store = StateStore.open(file);
    try {
      assert.deepEqual(store.child("ovsdb-server"), {
        component: "ovsdb-server",
        pid: 42,
        startTime: 4200,
        argv: ["ovsdb-server", "-v"],
        spawnedAt: "T0",
        logFile: "/l",
        bootId: null, // written before 005: its boot is not known
      });
      assert.deepEqual(store.events(0, 10), [
        { id: 1, time: "T2", component: null, kind: "phase", message: "old" },
      ]);
      assert.equal(store.addEvent(null, "phase", "new").id, 2);
      assert.ok(store.createJob("k", []) > 0, "002 applied");
      store.recordTaps(["P4TAP_0"], "kernel");
      assert.equal(store.taps()[0]?.name, "P4TAP_0", "003 applied");
    } finally {
      store.close();
    }
    assert.equal(version(file), LATEST);
    assert.deepEqual(tables(file), ALL_TABLES);
  });

  test("from version 2 (001 and 002 applied, with a job): data kept, now at the latest version", () => {
    const file = join(scratch(), "v2.db");
    const db = new Database(file);
    for (const f of ["001_children_events.sql", "002_jobs.sql"])
      db.exec(readFileSync(join(migrationsDir, f), "utf8"));
    db.pragma("user_version = 2");
    db.prepare(
      "INSERT INTO jobs (kind, state, created_at, updated_at) VALUES ('reset', 'running', 'T0', 'T0')",
    ).run();
    db.close();
    const store = StateStore.open(file);
    try {
      assert.equal(store.runningJobs()[0]?.kind, "reset");
      store.recordTaps(["P4TAP_0", "P4TAP_1"], "gnmi");
      store.forgetTaps(["P4TAP_0"]);
      assert.deepEqual(
        store.taps().map((t) => [t.name, t.backend]),
        [["P4TAP_1", "gnmi"]],
      );
    } finally {
      store.close();
    }
    assert.equal(version(file), LATEST);
    assert.deepEqual(tables(file), ALL_TABLES);
  });

  test("from version 3 (001-003 applied, with a TAP): data kept, the datapath desired up", () => {
    const file = join(scratch(), "v3.db");
    const db = new Database(file);
    for (const f of ["001_children_events.sql", "002_jobs.sql", "003_taps.sql"])
      db.exec(readFileSync(join(migrationsDir, f), "utf8"));
    db.pragma("user_version = 3");
    db.prepare("INSERT INTO taps VALUES ('P4TAP_0', 'kernel', 'T0')").run();
    db.close();
    const store = StateStore.open(file);
    try {
      // 006 (pool) adds the TAP's state columns: an old row gets their defaults.
      assert.deepEqual(store.taps(), [
        {
          name: "P4TAP_0",
          backend: "kernel",
          createdAt: "T0",
          generation: null,
          mac: null,
          netns: null,
          placement: null,
          state: "created",
        },
      ]);
      // A node upgraded from before 004 had no way to ask for down: it stays as it was, up.
      assert.equal(store.desiredDatapath(), "up");
    } finally {
      store.close();
    }
    assert.equal(version(file), LATEST);
    assert.deepEqual(tables(file), ALL_TABLES);
  });

  test("a database from a newer k8s-offloadd is refused and left untouched", () => {
    const file = join(scratch(), "state.db");
    const store = StateStore.open(file);
    store.addEvent(null, "phase", "hello");
    store.close();
    const db = new Database(file);
    const newer = LATEST + 2;
    db.pragma(`user_version = ${newer}`);
    db.close();
    const err = assertRefusedUntouched(file, new RegExp(`schema version ${newer}`));
    assert.equal(
      err.message,
      `state database ${file} is at schema version ${newer} but this k8s-offloadd knows up to ${LATEST}; ` +
        "refusing to start (downgrade?); the file is left untouched",
    );
    assert.equal(version(file), newer);
  });

  test("a failing migration rolls back: version stays, no partial table, data kept", () => {
    const file = join(scratch(), "state.db");
    const store = StateStore.open(file);
    store.addEvent("c", "start", "kept");
    store.close();
    const dir = scratch();
    for (const f of readdirSync(migrationsDir)) copyFileSync(join(migrationsDir, f), join(dir, f));
    const broken = `${String(LATEST + 1).padStart(3, "0")}_broken.sql`;
    writeFileSync(
      join(dir, broken),
      "CREATE TABLE widgets (id INTEGER PRIMARY KEY);\nINSERT INTO widgets VALUES (1);\nINSERT INTO no_such_table VALUES (1);\n",
    );
    assert.throws(
      () => StateStore.open(file, { migrationsDir: dir }),
      (err) =>
        err instanceof StateError &&
        err.message.includes(`migration ${broken} failed`) &&
        /no such table: no_such_table/.test(err.message) &&
        err.message.includes(file) &&
        err.message.includes(`stays at schema version ${LATEST}`),
    );
    assert.equal(version(file), LATEST);
    assert.deepEqual(tables(file), ALL_TABLES, "no widgets table");
    const again = StateStore.open(file);
    assert.equal(again.events(0, 10)[0]?.message, "kept");
    again.close();
  });

  test("a fresh database with a broken 002 keeps 001 and stops at version 1", () => {
    const file = join(scratch(), "state.db");
    const dir = scratch();
    copyFileSync(join(migrationsDir, "001_children_events.sql"), join(dir, "001_children_events.sql"));
    writeFileSync(join(dir, "002_bad.sql"), "CREATE TABLE half (x);\nTHIS IS NOT SQL;\n");
    assert.throws(() => StateStore.open(file, { migrationsDir: dir }), /migration 002_bad\.sql failed/);
    assert.equal(version(file), 1);
    assert.deepEqual(tables(file), ["children", "components", "events"]);
  });

  test("badly numbered migration files are refused before the database is touched", () => {
    const file = join(scratch(), "state.db");
    const dir = scratch();
    copyFileSync(join(migrationsDir, "001_children_events.sql"), join(dir, "001_a.sql"));
    writeFileSync(join(dir, "003_c.sql"), "SELECT 1;");
    assert.throws(() => StateStore.open(file, { migrationsDir: dir }), StateError);
    assert.equal(existsSync(file), false);
    rmSync(join(dir, "003_c.sql"));
    writeFileSync(join(dir, "2_b.sql"), "SELECT 1;");
    assert.throws(() => StateStore.open(file, { migrationsDir: dir }), /NNN_name\.sql/);
  });
});

describe("corrupt files are refused and left byte for byte", () => {
  /** A real database with a few pages' worth of rows, checkpointed and closed. */
  function realDb(): string {
    const file = join(scratch(), "state.db");
    const store = StateStore.open(file);
    for (let i = 0; i < 400; i++) store.addEvent(`c${i % 7}`, "start", `event ${i} ${"x".repeat(200)}`);
    store.close();
    assert.equal(existsSync(`${file}-wal`), false, "checkpointed on close");
    return file;
  }

  test("random bytes", () => {
    const file = join(scratch(), "state.db");
    writeFileSync(file, randomBytes(16384));
    const err = assertRefusedUntouched(file, /corrupt or not an SQLite database/);
    assert.ok(err.message.includes(file), "names the file");
    assert.match(err.message, /left untouched/);
  });

  test("a truncated real database", () => {
    const file = realDb();
    const size = statSync(file).size;
    truncateSync(file, Math.floor(size / 2));
    const err = assertRefusedUntouched(file, /left untouched/);
    assert.ok(err.message.includes(file), "names the file");
  });

  test("a damaged b-tree page (readable, but quick_check finds it)", () => {
    const file = realDb();
    const db = new Database(file); // read-write: its close removes the -wal and -shm it opened
    const page = db
      .prepare("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_children_1'")
      .pluck()
      .get() as number;
    db.close();
    const bytes = readFileSync(file);
    bytes.fill(0xff, (page - 1) * 4096, (page - 1) * 4096 + 16); // the children table's primary-key index
    writeFileSync(file, bytes);
    const err = assertRefusedUntouched(file, /failed its integrity check \(/);
    assert.doesNotMatch(err.message, /\n/, "one line");
  });
});

describe("records", () => {
  const open = (opts = {}) => StateStore.open(join(scratch(), "state.db"), opts);

  test("children: upsert, list, delete", () => {
    const store = open();
    try {
      const a = {
        component: "a",
        pid: 10,
        startTime: 100,
        argv: ["a", "--x=1"],
        spawnedAt: "T",
        logFile: "/a",
        bootId: "boot-1",
      };
      store.saveChild(a);
      store.saveChild({ ...a, component: "b", pid: 11 });
      assert.deepEqual(store.child("a"), a);
      store.saveChild({ ...a, pid: 12, startTime: 120, argv: [] });
      assert.deepEqual(store.child("a"), { ...a, pid: 12, startTime: 120, argv: [] });
      assert.deepEqual(
        store.children().map((c) => c.component),
        ["a", "b"],
      );
      store.deleteChild("a");
      store.deleteChild("nope");
      assert.equal(store.child("a"), undefined);
      assert.equal(store.children().length, 1);
    } finally {
      store.close();
    }
  });

  test("desired datapath: up until set, last write wins, kept across a reopen", () => {
    const file = join(scratch(), "state.db");
    const a = StateStore.open(file);
    assert.equal(a.desiredDatapath(), "up");
    a.setDesiredDatapath("down");
    assert.equal(a.desiredDatapath(), "down");
    a.close();
    const b = StateStore.open(file);
    try {
      assert.equal(b.desiredDatapath(), "down");
      b.setDesiredDatapath("up");
      assert.equal(b.desiredDatapath(), "up");
      assert.deepEqual(
        raw(file, (db) => db.prepare("SELECT key, value FROM desired").all()),
        [{ key: "datapath", value: "up" }],
        "one row, updated in place",
      );
    } finally {
      b.close();
    }
  });

  test("a bring-up, a restart and a down write only what a restarted daemon reads back", async () => {
    const file = join(scratch(), "state.db");
    const store = StateStore.open(file);
    const parts = [new Part("a"), new Part("b", ["a"])];
    const engine = new Engine({
      components: parts,
      store,
      log: pino({ level: "silent" }),
      version: "test",
      profile: "test",
      readyTimeoutMs: 2000,
      pollIntervalMs: 5,
    });
    try {
      await engine.bringUp();
      assert.equal(engine.status().phase, "ready");
      await engine.restart("a");
      await engine.down();
      // What a restarted daemon reads back was written (the history, the desired state)...
      assert.ok(store.events(0, 100).length > 0);
      assert.equal(store.desiredDatapath(), "down");
    } finally {
      store.close();
    }
    // ...and nothing else: these components run no process and make no TAP, and no table keeps
    // component states (008 dropped `components`, which nothing read back).
    assert.deepEqual(tables(file), ALL_TABLES);
    for (const t of ["children", "taps", "jobs", "job_steps", "step_processes"]) {
      assert.equal(
        raw(file, (db) => db.prepare(`SELECT count(*) FROM ${t}`).pluck().get()),
        0,
        t,
      );
    }
  });

  test("TAP records (committed without an fsync of their own) are there after the writer's SIGKILL", () => {
    const file = join(scratch(), "state.db");
    StateStore.open(file).close();
    // A writer killed right after its commits, never closing the database: the commits are in the
    // WAL file, which the next open reads.
    const script = [
      `const { StateStore } = require(${JSON.stringify(join(__dirname, "../../daemon/state/store.js"))});`,
      `const s = StateStore.open(${JSON.stringify(file)});`,
      `s.recordTaps(["P4TAP_0", "P4TAP_1"], "gnmi", "creating");`,
      `s.confirmTaps(["P4TAP_0"], "gnmi");`,
      `s.saveTapPlacements([{ name: "P4TAP_0", mac: "02:00:00:00:00:01", placement: "available", netns: "dp" }]);`,
      `process.kill(process.pid, "SIGKILL");`,
    ].join("\n");
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    assert.equal(r.signal, "SIGKILL", r.stderr);
    const store = StateStore.open(file);
    try {
      const recs = new Map(store.taps().map((t) => [t.name, t]));
      assert.equal(recs.get("P4TAP_0")?.state, "created");
      assert.equal(recs.get("P4TAP_0")?.mac, "02:00:00:00:00:01");
      assert.equal(recs.get("P4TAP_0")?.placement, "available");
      assert.equal(
        recs.get("P4TAP_1")?.state,
        "creating",
        "the write-ahead record is there for the next start",
      );
    } finally {
      store.close();
    }
  });

  test("events: returned as stored, paged by id, capped at the newest eventCap", () => {
    const store = open({ eventCap: 5 });
    try {
      assert.equal(store.lastEventId(), 0);
      assert.deepEqual(store.events(0, 10), []);
      const first = store.addEvent(null, "phase", "m1");
      assert.equal(first.id, 1);
      assert.equal(first.component, null);
      assert.ok(!Number.isNaN(Date.parse(first.time)) && first.time.endsWith("Z"), "ISO time");
      for (let i = 2; i <= 12; i++) store.addEvent(`c${i}`, "start", `m${i}`);
      assert.equal(store.lastEventId(), 12);
      const all = store.events(0, 100);
      assert.deepEqual(
        all.map((e) => e.id),
        [8, 9, 10, 11, 12],
      );
      assert.deepEqual(all[0], { id: 8, time: all[0]?.time, component: "c8", kind: "start", message: "m8" });
      assert.deepEqual(
        store.events(8, 2).map((e) => e.id),
        [9, 10],
      );
      assert.deepEqual(
        store.events(10, 2).map((e) => e.id),
        [11, 12],
      );
      assert.deepEqual(store.events(12, 2), []);
      assert.deepEqual(store.events(0, 0), []);
      assert.deepEqual(store.events(0, -1), []);
    } finally {
      store.close();
    }
  });

  test("events: the default cap keeps 10000; paging is a rowid range seek", () => {
    const file = join(scratch(), "state.db");
    StateStore.open(file).close();
    const db = new Database(file);
    const insert = db.prepare(
      "INSERT INTO events (time, component, kind, message) VALUES ('T', NULL, 'phase', ?)",
    );
    db.transaction(() => {
      for (let i = 1; i <= 10_000; i++) insert.run(`m${i}`);
    })();
    db.close();
    const store = StateStore.open(file);
    try {
      for (let i = 0; i < 50; i++) store.addEvent(null, "phase", `new${i}`);
      assert.equal(store.events(0, 20_000).length, 10_000);
      assert.equal(store.events(0, 1)[0]?.id, 51);
      assert.equal(store.lastEventId(), 10_050);
    } finally {
      store.close();
    }
    const plan = raw(file, (db) =>
      db
        .prepare("EXPLAIN QUERY PLAN SELECT * FROM events WHERE id > 5 ORDER BY id LIMIT 10")
        .all()
        .map((r) => (r as { detail: string }).detail)
        .join("; "),
    );
    assert.match(plan, /SEARCH events USING INTEGER PRIMARY KEY \(rowid>\?\)/);
  });

  test("jobs: steps through their states; finishing closes what is left; running jobs listed", () => {
    const store = open();
    try {
      const id = store.createJob("upgrade", ["drain", "swap", "verify"]);
      let job = store.job(id);
      assert.equal(job?.kind, "upgrade");
      assert.equal(job?.state, "running");
      assert.equal(job?.message, null);
      assert.deepEqual(
        job?.steps.map((s) => [s.idx, s.name, s.state, s.startedAt, s.finishedAt]),
        [
          [0, "drain", "pending", null, null],
          [1, "swap", "pending", null, null],
          [2, "verify", "pending", null, null],
        ],
      );
      store.startStep(id, 0);
      store.finishStep(id, 0, "succeeded");
      store.startStep(id, 1);
      job = store.job(id);
      assert.equal(job?.steps[0]?.state, "succeeded");
      assert.ok(job?.steps[0]?.startedAt && job.steps[0].finishedAt);
      assert.equal(job?.steps[1]?.state, "running");
      assert.deepEqual(
        store.runningJobs().map((j) => j.id),
        [id],
      );

      const other = store.createJob("noop", ["only"]);
      store.finishStep(other, 0, "skipped", "nothing to do");
      store.finishJob(other, "succeeded", "done");
      assert.deepEqual(store.job(other)?.steps[0], {
        idx: 0,
        name: "only",
        state: "skipped",
        message: "nothing to do",
        startedAt: null,
        finishedAt: store.job(other)?.steps[0]?.finishedAt,
      });

      store.finishJob(id, "interrupted", "daemon restarted");
      job = store.job(id);
      assert.equal(job?.state, "interrupted");
      assert.equal(job?.message, "daemon restarted");
      assert.deepEqual(
        job?.steps.map((s) => [s.state, s.message]),
        [
          ["succeeded", null],
          ["failed", "job interrupted"],
          ["skipped", "job interrupted"],
        ],
      );
      assert.deepEqual(store.runningJobs(), []);
      assert.deepEqual(
        store.jobs(10).map((j) => j.id),
        [other, id],
      );
      assert.deepEqual(
        store.jobs(1).map((j) => j.id),
        [other],
      );
      assert.equal(store.job(9999), undefined);

      assert.throws(() => store.startStep(id, 7), /job \d+ has no step 7/);
      assert.throws(() => store.finishJob(id, "failed"), /already interrupted/);
      assert.throws(() => store.finishJob(9999, "failed"), /no job 9999/);
      assert.equal(store.job(id)?.state, "interrupted", "a refused change leaves the job as it was");
      assert.equal(store.integrityCheck(), "ok");
    } finally {
      store.close();
    }
  });
});
