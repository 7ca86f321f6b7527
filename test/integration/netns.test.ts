/**
 * host/netns.ts against the real kernel, in the test namespace's private /run/netns (a tmpfs that
 * scripts/test.sh's harness mounted): a namespace exists only when its file is a mounted nsfs, and a
 * plain file left behind (an `ip netns add` run in a private mount namespace leaves one on the
 * shared /run) is replaced, not taken for the namespace.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { deleteNetns, ensureNetns, netnsExists, netnsPath } from "../../daemon/host/netns";
import { netnsExists as locatorSeesNetns } from "../../daemon/host/tap-locator";

describe("named network namespaces", () => {
  test("a stale plain file is not a namespace; ensureNetns replaces it with a working one", async () => {
    const ns = `stale-${process.pid}`;
    writeFileSync(netnsPath(ns), "");
    try {
      assert.equal(netnsExists(ns), false, "a plain file is not a namespace");
      assert.equal(locatorSeesNetns(ns), false, "nor for the TAP locator");
      // What the old check did with it: setns() on a plain file fails.
      const before = spawnSync("ip", ["-n", ns, "link", "show", "lo"], { encoding: "utf8" });
      assert.notEqual(before.status, 0, "ip cannot enter a plain file");

      assert.equal(await ensureNetns(ns), true, "made anew");
      assert.equal(netnsExists(ns), true);
      assert.equal(locatorSeesNetns(ns), true);
      const lo = JSON.parse(execFileSync("ip", ["-n", ns, "-j", "link", "show", "lo"], { encoding: "utf8" }));
      assert.ok(lo[0].flags.includes("UP"), "lo is up in the new namespace");
      assert.equal(await ensureNetns(ns), false, "a second call finds it");
    } finally {
      await deleteNetns(ns);
    }
    assert.equal(existsSync(netnsPath(ns)), false, "deleted, file and all");
    assert.equal(netnsExists(ns), false);
  });

  test("deleteNetns removes a stale plain file too", async () => {
    const ns = `stale-del-${process.pid}`;
    writeFileSync(netnsPath(ns), "");
    await deleteNetns(ns);
    assert.equal(existsSync(netnsPath(ns)), false);
  });
});
