/**
 * bench/taps-kernel: creating and deleting N kernel TAPs with ONE `ip -batch -` (daemon/host/
 * links.ts; deletion by link group, and by a batch of dels) against one process per TAP (`ip
 * tuntap add` / `ip link del` each, the way a shell loop does it), same run, N = 8, 64, 256, 1024.
 * Runs in a network namespace it creates and deletes; run it inside the test namespace:
 *
 *     npx tsc -p tsconfig.json && unshare --net --mount --propagation private --pid --fork \
 *       --mount-proc --kill-child node dist/test/harness/in-namespace.js --run dist/bench/taps-kernel.js
 *
 * Reference (docs/architecture.md#measurements): 256 TAPs 632 ms one process each, 65 ms with one
 * batch; deleting one by one ~20 ms each; 1024 by group in ~0.3 s.
 */
import { describeFailure, runCommand } from "../daemon/host/command";
import { createTaps, deleteGroup, deleteTaps, listLinks } from "../daemon/host/links";
import { deleteNetns, ensureNetns } from "../daemon/host/netns";

const GROUP = 77;
const SIZES = (process.env.BENCH_TAPS_N ?? "8,64,256,1024").split(",").map(Number);

async function must(argv: string[]): Promise<void> {
  const r = await runCommand(argv, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(describeFailure(argv, r));
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function expectTaps(ns: string, n: number): Promise<void> {
  const got = (await listLinks(ns)).filter((l) => l.kind === "tap").length;
  if (got !== n) throw new Error(`expected ${n} TAPs in ${ns}, found ${got}`);
}

export interface TapsKernelRow {
  n: number;
  createOneEachMs: number;
  createBatchMs: number;
  deleteOneEachMs: number;
  deleteGroupMs: number;
  deleteBatchMs: number;
  deleteViaGroupMs: number;
}

export async function benchTapsKernel(): Promise<TapsKernelRow[]> {
  const ns = `bench-taps-${process.pid}`;
  await deleteNetns(ns);
  await ensureNetns(ns);
  const rows: TapsKernelRow[] = [];
  try {
    console.log("bench/taps-kernel: N kernel TAPs, one `ip -batch -` vs one `ip` process per TAP (same run)");
    console.log(
      "     N | create: each ms  batch ms  ratio | delete: each ms  group ms  ratio  batch-del ms  by-name-via-group ms",
    );
    for (const n of SIZES) {
      const names = Array.from({ length: n }, (_, i) => `P4TAP_${i}`);

      // Reference: one process per TAP, then one process per deletion.
      const createOneEachMs = await timed(async () => {
        for (const x of names) await must(["ip", "-n", ns, "tuntap", "add", "dev", x, "mode", "tap"]);
      });
      await expectTaps(ns, n);
      const deleteOneEachMs = await timed(async () => {
        for (const x of names) await must(["ip", "-n", ns, "link", "del", "dev", x]);
      });
      await expectTaps(ns, 0);

      // One batch, removed by group.
      const createBatchMs = await timed(() => createTaps(ns, names, GROUP));
      await expectTaps(ns, n);
      const deleteGroupMs = await timed(() => deleteGroup(ns, GROUP));
      await expectTaps(ns, 0);

      // One batch, removed by a batch of dels.
      await createTaps(ns, names, GROUP);
      const deleteBatchMs = await timed(() => deleteTaps(ns, names));
      await expectTaps(ns, 0);

      // One batch, removed by name through a scratch group (how a pool shrinks).
      await createTaps(ns, names, GROUP);
      const deleteViaGroupMs = await timed(() => deleteTaps(ns, names, { viaGroup: GROUP + 1 }));
      await expectTaps(ns, 0);

      const row = {
        n,
        createOneEachMs,
        createBatchMs,
        deleteOneEachMs,
        deleteGroupMs,
        deleteBatchMs,
        deleteViaGroupMs,
      };
      rows.push(row);
      const f = (x: number) => x.toFixed(1).padStart(8);
      console.log(
        `${String(n).padStart(6)} | ${f(createOneEachMs)}  ${f(createBatchMs)}  ${(createOneEachMs / createBatchMs).toFixed(1).padStart(5)}x | ${f(deleteOneEachMs)}  ${f(deleteGroupMs)}  ${(deleteOneEachMs / deleteGroupMs).toFixed(1).padStart(5)}x  ${f(deleteBatchMs)}  ${f(deleteViaGroupMs)}`,
      );
    }
  } finally {
    await deleteNetns(ns);
  }
  return rows;
}

if (require.main === module) {
  benchTapsKernel().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
