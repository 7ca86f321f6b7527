/**
 * host/ip-session.ts: a namespace's long-lived `ip -batch` reader against the real kernel, in
 * network namespaces the test makes (inside the test namespace of scripts/test.sh). Each answer
 * is a fresh read (what changes behind it is seen at the next question), with no process per
 * question; a reader that dies, or whose namespace is made again, is replaced.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { hostInterfaceState } from "../../daemon/host/host-interface";
import { ipSession, ipSessionShow, ipShow } from "../../daemon/host/ip-session";
import { createTaps, listLinks, parseLinks, warmLinkListing } from "../../daemon/host/links";
import { deleteNetns, ensureNetns } from "../../daemon/host/netns";
import { sleep } from "../helpers/daemon";

const T = 10_000;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

async function names(ns: string): Promise<string[]> {
  const r = await ipSessionShow(ns, ["link", "show"], T);
  assert.ok(r, "the reader answers");
  assert.equal(r.code, 0, r.stderr);
  return parseLinks(r.stdout).map((l) => l.name);
}

/** Waits (bounded, generously) until pred holds. */
async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe("a namespace's long-lived ip reader", () => {
  const ns = `ips-${process.pid}`;
  before(async () => {
    await deleteNetns(ns);
    await ensureNetns(ns);
    await createTaps(ns, ["P4TAP_0", "P4TAP_1"], 42);
  });
  after(() => deleteNetns(ns));

  test("answers with no process per question; a TAP deleted behind its back is gone at the next one", async () => {
    const s = ipSession(ns);
    const starts = s.starts;
    assert.deepEqual(await names(ns), ["lo", "P4TAP_0", "P4TAP_1"]);
    const pid = s.pid;
    assert.ok(pid, "a reader runs");
    ip("-n", ns, "link", "del", "P4TAP_1");
    assert.deepEqual(await names(ns), ["lo", "P4TAP_0"]);
    ip("-n", ns, "tuntap", "add", "dev", "P4TAP_1", "mode", "tap");
    assert.deepEqual(await names(ns), ["lo", "P4TAP_0", "P4TAP_1"]);
    assert.equal(s.pid, pid, "the same reader");
    assert.equal(s.starts, starts + 1, "started once");
  });

  test("a failing command answers its reason; the reader goes on", async () => {
    const pid = ipSession(ns).pid;
    const bad = await ipSessionShow(ns, ["addr", "show", "dev", "NOPE_0"], T);
    assert.equal(bad?.code, 1);
    assert.match(bad?.stderr ?? "", /Device "NOPE_0" does not exist/);
    assert.deepEqual(await names(ns), ["lo", "P4TAP_0", "P4TAP_1"]);
    assert.equal(ipSession(ns).pid, pid);
  });

  test("TAP_0 deleted and made again (a new ifindex): the host interface's state follows", async () => {
    ip("-n", ns, "link", "set", "dev", "P4TAP_0", "name", "TAP_0");
    ip("-n", ns, "link", "set", "dev", "TAP_0", "up");
    ip("-n", ns, "addr", "add", "169.254.1.1/32", "dev", "TAP_0");
    const was = await hostInterfaceState(ns, "TAP_0", "169.254.1.1/32");
    assert.deepEqual([was.exists, was.up, was.hasAddress], [true, true, true]);
    ip("-n", ns, "link", "del", "TAP_0");
    assert.equal((await hostInterfaceState(ns, "TAP_0", "169.254.1.1/32")).exists, false);
    ip("-n", ns, "tuntap", "add", "dev", "TAP_0", "mode", "tap");
    const now = await hostInterfaceState(ns, "TAP_0", "169.254.1.1/32");
    assert.deepEqual([now.exists, now.up, now.hasAddress], [true, false, false]);
    assert.notEqual(now.ifindex, was.ifindex);
  });

  test("killed: the next question after it is gone starts another", async () => {
    const s = ipSession(ns);
    await names(ns);
    const pid = s.pid as number;
    process.kill(pid, "SIGKILL");
    await until(() => s.pid === null, "the session to see its reader exit");
    assert.ok((await names(ns)).includes("TAP_0"));
    assert.ok(s.pid !== null && s.pid !== pid, "a new reader");
  });

  test("warmed: the reader is started before any question, and the next listing is its answer", async () => {
    const s = ipSession(ns);
    s.end();
    assert.equal(s.pid, null);
    const starts = s.starts;
    warmLinkListing(ns);
    await until(() => s.pid !== null, "the warmed reader to start");
    const pid = s.pid;
    warmLinkListing(ns); // a second warm-up starts nothing
    const answered = s.answered;
    const links = await listLinks(ns);
    assert.ok(
      links.some((l) => l.name === "TAP_0"),
      "the listing answers",
    );
    assert.equal(s.answered, answered + 1, "answered by the reader");
    assert.equal(s.pid, pid, "the warmed reader, not another");
    assert.equal(s.starts, starts + 1, "started once");
  });

  test("the namespace made again under the same name: the reader follows it", async () => {
    const s = ipSession(ns);
    await names(ns);
    const pid = s.pid;
    // Not through deleteNetns (it ends the reader): behind the daemon's back.
    ip("netns", "del", ns);
    ip("netns", "add", ns);
    ip("-n", ns, "tuntap", "add", "dev", "NEW_0", "mode", "tap");
    assert.deepEqual(await names(ns), ["lo", "NEW_0"]);
    assert.notEqual(s.pid, pid, "a reader in the new namespace");
  });

  test("no namespace: no reader; one plain process says why", async () => {
    const gone = `ips-gone-${process.pid}`;
    assert.equal(await ipSessionShow(gone, ["link", "show"], T), null);
    assert.equal(ipSession(gone).pid, null);
    const r = await ipShow(gone, ["link", "show"], T);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`Cannot open network namespace "${gone}"`));
  });

  test("deleteNetns ends the namespace's reader first", async () => {
    const other = `ips-del-${process.pid}`;
    await ensureNetns(other);
    await names(other);
    const pid = ipSession(other).pid as number;
    await deleteNetns(other);
    assert.equal(ipSession(other).pid, null);
    await until(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, "the reader to exit");
  });
});
