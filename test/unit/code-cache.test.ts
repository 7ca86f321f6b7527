/**
 * The code caches the build makes (scripts/bundle.ts codeCaches) are accepted by V8 when each bundle
 * runs the way it is shipped: the daemon under DAEMON_NODE_OPTIONS (its wrapper, npm start, the
 * tests), the CLI with none. V8 rejects a cache made under other flags, silently: the loader then
 * compiles the whole bundle at every start, and only a slower start would show it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { DAEMON_NODE_OPTIONS } from "../../scripts/daemon-node-options";
import { repoRoot } from "../helpers/daemon";

/** Compiles BUNDLE with BUNDLE.cache as the loader does, in a node started with `options`. */
function rejected(bundle: string, options: readonly string[]): boolean {
  const probe = `
    const { readFileSync } = require("node:fs");
    const Module = require("node:module");
    const { Script } = require("node:vm");
    const f = process.argv[1];
    const s = new Script(Module.wrap(readFileSync(f, "utf8")), { filename: f, cachedData: readFileSync(f + ".cache") });
    process.stdout.write(String(s.cachedDataRejected));`;
  const r = spawnSync(process.execPath, [...options, "-e", probe, bundle], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout === "true";
}

const bundleDir = join(repoRoot, "dist/bundle");

test("the daemon's code cache is accepted under the options the daemon runs with", () => {
  const bundle = join(bundleDir, "k8s-offloadd.main.js");
  assert.equal(rejected(bundle, DAEMON_NODE_OPTIONS), false);
  // The check can fail: under other flags V8 refuses the same cache.
  if (DAEMON_NODE_OPTIONS.length > 0) assert.equal(rejected(bundle, []), true);
});

test("the CLI's code cache is accepted as the CLI runs (no options)", () => {
  assert.equal(rejected(join(bundleDir, "k8s-offloadctl.main.js"), []), false);
});
