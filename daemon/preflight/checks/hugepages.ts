import { hugepagesExpected, hugepagesMissing, hugepagesPlan, hugepagesState } from "../hugepages";
import type { Check } from "../types";

/**
 * hugepages: the configured huge pages are reserved on every NUMA node and hugetlbfs is mounted
 * (the state and the fix are shared with the hugepages component: daemon/preflight/hugepages.ts).
 * The component sets them at start, so not yet done is a warning.
 * Tests: test/unit/preflight.test.ts "a passing root: …", "hugepages: every NUMA node that exists
 * gets its pages, …", "the dry run lists exactly what …".
 */
export const hugepages: Check = {
  id: "hugepages",
  fixable: true,
  expected: (ctx) => hugepagesExpected(ctx.cfg.host.hugepages),
  run: ({ fs, cfg }) => {
    const h = cfg.host.hugepages;
    const s = hugepagesState(fs, h);
    if (fs.real && !s.supported) {
      return { status: "fail", observed: `the kernel offers no ${h.pageSizeKB} kB huge pages` };
    }
    const missing = hugepagesMissing(s, h);
    // The hugepages component sets them at start: not yet done is a warning, not a failure.
    if (missing.length > 0) return { status: "warn", observed: missing.join("; ") };
    return {
      status: "pass",
      observed: `${s.targets.map((t) => `${t.file}=${t.count}`).join(", ")}; hugetlbfs at ${h.mountPoint}`,
    };
  },
  plan: ({ fs, cfg }) => hugepagesPlan(fs, cfg.host.hugepages),
};
