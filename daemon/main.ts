#!/usr/bin/env node
/**
 * The k8s-offloadd process: signal and error handlers first (before anything else can start), then
 * arguments, then the Daemon (daemon/daemon.ts) until it stops; its exit code is the process's.
 */
import { parseArgs } from "node:util";
import { defaultConfigPath } from "./config/load";
import { Daemon } from "./daemon";
import { packageVersion } from "./paths";

const USAGE = `usage: k8s-offloadd [--config PATH] [--version]
  --config PATH   YAML configuration (default ${defaultConfigPath}); profiles/ ships p4-ovs.yaml and sandbox.yaml
exit codes: 0 stopped cleanly, 1 runtime error (instance lock held, state database, API port, a second
signal during a stop), 2 bad configuration or usage`;

const version = packageVersion();
const daemon = new Daemon(version);

// Signals from the first line: the first SIGINT/SIGTERM stops what was started so far (at any moment
// of the bring-up too); a second one exits at once and says what it leaves running.
let signalled = 0;
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    if (++signalled === 1) return daemon.stop(sig);
    process.stderr.write(
      `k8s-offloadd: second signal (${sig}) while stopping: exiting now; left running: ${daemon.leftRunning()}\n`,
    );
    process.exit(1);
  });
}
// No unhandled rejection or exception lets the process run on in an unknown state, nor dies without
// a word: said, and the daemon ends with exit 1, leaving the datapath to the next daemon.
process.on("unhandledRejection", (err) => daemon.fail("unhandled rejection", err));
process.on("uncaughtException", (err) => daemon.fail("uncaught exception", err));

async function main(): Promise<number> {
  let args: { config?: string; version?: boolean; help?: boolean };
  try {
    args = parseArgs({
      options: { config: { type: "string" }, version: { type: "boolean" }, help: { type: "boolean" } },
    }).values;
  } catch (err) {
    process.stderr.write(`k8s-offloadd: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) return print(USAGE);
  if (args.version) return print(version);
  return daemon.run(args.config ?? defaultConfigPath);
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => daemon.fail("start-up failed", err),
);
