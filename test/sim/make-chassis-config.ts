/**
 * Write a chassis config (protobuf text, the stock file's shape) with one TAP port per name:
 *
 *   node dist/test/sim/make-chassis-config.js COUNT [PREFIX] > file
 *
 * names PREFIX0..PREFIX<COUNT-1> (PREFIX default "P4TAP_"). Made
 * test/fixtures/chassis/dpdk_port_config.P4TAP_256.pb.txt; the benches and tests that need other
 * sizes call renderChassisConfig() directly.
 */
import { renderChassisConfig } from "./chassis-config";

export function poolNames(count: number, prefix = "P4TAP_"): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

if (require.main === module) {
  const count = Number(process.argv[2]);
  if (!Number.isInteger(count) || count < 1 || count > 65536) {
    process.stderr.write("usage: make-chassis-config COUNT [PREFIX]  (COUNT: 1..65536)\n");
    process.exit(2);
  }
  process.stdout.write(renderChassisConfig(poolNames(count, process.argv[3] ?? "P4TAP_")));
}
