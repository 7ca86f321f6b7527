/** `npm run bench`: every benchmark, in the throwaway namespace of scripts/bench.sh. */
import { benchApi } from "./api";
import { benchApiHooks } from "./api-hooks";
import { benchHostSideBoth } from "./host-side";
import { benchOvsProbe } from "./ovs-probe";
import { benchPackage } from "./package";
import { benchRecovery } from "./recovery";
import { benchStartup } from "./startup";
import { benchTaps } from "./taps";
import { benchTapsDpdk } from "./taps-dpdk";
import { benchTapsKernel } from "./taps-kernel";
import { benchTapsPhases } from "./taps-phases";

async function main() {
  const only = process.argv.slice(2);
  const all: Array<[string, () => Promise<unknown>]> = [
    ["startup", benchStartup],
    ["recovery", benchRecovery],
    ["api", benchApi],
    ["api-hooks", benchApiHooks],
    ["package", benchPackage],
    ["ovs-probe", benchOvsProbe],
    ["taps-kernel", benchTapsKernel],
    ["host-side", benchHostSideBoth],
    ["taps", benchTaps],
    ["taps-dpdk", benchTapsDpdk],
  ];
  // Diagnostics, only when named: where the time of bench/taps's "ours" goes.
  const named: Array<[string, () => Promise<unknown>]> = [["taps-phases", benchTapsPhases]];
  for (const [name, run] of named) if (only.includes(name)) await run();
  for (const [name, run] of all) if (only.length === 0 || only.includes(name)) await run();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
