/**
 * True where PID 1 is the test harness (test/harness/in-namespace.ts, started by scripts/test.sh):
 * its mount and network namespaces and its /run/netns are private, so a test may change them. Tests
 * that do skip elsewhere (a plain `node --test` on the host), naming why.
 */
import { readFileSync } from "node:fs";

export function inTestNamespace(): boolean {
  try {
    return readFileSync("/proc/1/cmdline", "utf8").includes("in-namespace.js");
  } catch {
    return false;
  }
}
