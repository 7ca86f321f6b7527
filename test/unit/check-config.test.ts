/**
 * `k8s-offloadd --check-config` (the bundle, as shipped): checks a config as a start would and says
 * "OK" (exit 0) or what is wrong (exit 2), and starts, writes and changes nothing either way.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { daemonMain, repoRoot } from "../helpers/daemon";

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), "offloadd-check-config-"));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A fresh directory holding only config.yaml with `text`; relative paths in it stay inside. */
function configIn(name: string, text: string): { dir: string; file: string } {
  const dir = join(tmp, name);
  const file = join(dir, "config.yaml");
  mkdirSync(dir);
  writeFileSync(file, text, { mode: 0o644 });
  return { dir, file };
}

function check(file: string) {
  const r = spawnSync(process.execPath, [daemonMain, "--check-config", "--config", file], {
    encoding: "utf8",
    env: { ...process.env, NOTIFY_SOCKET: "" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const sandbox = () => readFileSync(join(repoRoot, "profiles/sandbox.yaml"), "utf8");

describe("k8s-offloadd --check-config", () => {
  test("a good config: exit 0, config OK, nothing made (no state, run or log directory, no token)", () => {
    const { dir, file } = configIn("good", sandbox());
    const r = check(file);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `config ${file}: OK (profile sandbox)\n`);
    assert.equal(r.stderr, "");
    assert.deepEqual(readdirSync(dir), ["config.yaml"]);
    // The profile's paths (../.sandbox/state, run, log, token) point beside dir: none was made.
    assert.equal(existsSync(join(tmp, ".sandbox")), false);
  });

  test("a bad value: exit 2 naming the key, its line and what is allowed; nothing made", () => {
    const { dir, file } = configIn("bad", sandbox().replace("port: 9300", "port: 99999"));
    const r = check(file);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /config \S+config\.yaml: api\.port \(line \d+:\d+\) is 99999; allowed: an integer from 1 to 65535/,
    );
    assert.match(r.stderr, /NOT OK \(nothing was started or changed\)/);
    assert.deepEqual(readdirSync(dir), ["config.yaml"]);
  });

  test("an unknown key and a YAML syntax error are named too", () => {
    const unknown = check(configIn("unknown", `${sandbox()}\nbogus: 1\n`).file);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /bogus/);
    const syntax = check(configIn("syntax", "api:\n  port: [1\n").file);
    assert.equal(syntax.code, 2);
    assert.match(syntax.stderr, /YAML syntax error \(line \d+:\d+\)/);
  });

  test("what a start refuses beyond the schema: a config file writable by others, a missing file", () => {
    const { file } = configIn("writable", sandbox());
    chmodSync(file, 0o666);
    const r = check(file);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /config file \S+config\.yaml has mode 0666; allowed: not writable by group or others/,
    );
    const missing = check(join(tmp, "no-such.yaml"));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no-such\.yaml: no such file/);
  });
});

describe("k8s-offloadd --warm-up (the build's run for the code cache)", () => {
  const warmUp = (file: string) =>
    spawnSync(process.execPath, [daemonMain, "--warm-up", "--config", file], {
      encoding: "utf8",
      env: { ...process.env, NOTIFY_SOCKET: "" },
    });

  test("builds the state database, engine and API in memory and asks the API: exit 0, nothing made", () => {
    const { dir, file } = configIn("warm-good", sandbox());
    const r = warmUp(file);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "warm-up done (nothing was started or changed)\n");
    assert.deepEqual(readdirSync(dir), ["config.yaml"]);
    assert.equal(existsSync(join(tmp, ".sandbox")), false);
    // No file named after SQLite's in-memory database either.
    assert.equal(existsSync(":memory:"), false);
  });

  test("a bad config ends it as --check-config does: exit 2, nothing made", () => {
    const { dir, file } = configIn("warm-bad", sandbox().replace("port: 9300", "port: 99999"));
    const r = warmUp(file);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /NOT OK/);
    assert.deepEqual(readdirSync(dir), ["config.yaml"]);
  });
});
