import type { Check } from "../types";

/**
 * artifacts: the P4 artifacts are present with their pinned SHA-256. The pins come with the
 * pipeline issue; until then there is nothing to compare against and the check skips.
 * Tests: test/unit/preflight.test.ts "a passing root: …" (skip, "no artifact pins configured").
 */
export const artifacts: Check = {
  id: "artifacts",
  fixable: false,
  expected: () => "the P4 artifacts present with their pinned SHA-256",
  run: () => ({ status: "skip", observed: "no artifact pins configured" }),
};
