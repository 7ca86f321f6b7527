#!/usr/bin/env node
/**
 * The k8s-offloadd process: signal and error handlers first, then arguments, then the Daemon
 * (daemon/daemon.ts) until it stops; its exit code is the process's.
 *
 * Only node's own modules are imported here: loading the daemon's (fastify, grpc, SQLite...) takes
 * hundreds of milliseconds on a busy node, and a signal in that time must not find Node's default
 * action (die at once) but our handler, which then lets nothing start.
 */
import { parseArgs } from "node:util";
import type { Daemon } from "./daemon";

/** What main's handlers need of the daemon before (and after) it is loaded. */
interface Handle {
  daemon: Daemon | null;
  stopAsked: string | null;
}
const handle: Handle = { daemon: null, stopAsked: null };

const usage = (
  defaultConfigPath: string,
) => `usage: k8s-offloadd [--config PATH] [--check-config | --warm-up] [--version]
  --config PATH    YAML configuration (default ${defaultConfigPath}); profiles/ ships p4-ovs.yaml and sandbox.yaml
  --check-config   check the configuration as a start would (syntax, every key, the TAP pool's room in
                   the chassis config, the modes of the daemon's files), print "config OK" or what is
                   wrong, and exit 0 or 2; starts and changes nothing (like sshd -t, nginx -t)
  --warm-up        for the build's code cache (scripts/bundle.ts): --check-config, then the state
                   database, engine and API made in memory and asked their polled GETs; starts and
                   changes nothing
exit codes: 0 stopped cleanly (or config OK), 1 runtime error (instance lock held, state database, API
port, a second signal during a stop), 2 bad configuration or usage`;

// Signals from the first line: the first SIGINT/SIGTERM stops what was started so far (at any moment
// of the bring-up too); a second one exits at once and says what it leaves running.
let signalled = 0;
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    if (++signalled === 1) {
      handle.stopAsked = sig;
      handle.daemon?.stop(sig);
      return;
    }
    const left = handle.daemon?.leftRunning() ?? "nothing";
    process.stderr.write(
      `k8s-offloadd: second signal (${sig}) while stopping: exiting now; left running: ${left}\n`,
    );
    process.exit(1);
  });
}
// No unhandled rejection or exception lets the process run on in an unknown state, nor dies without
// a word: said, and the daemon ends with exit 1, leaving the datapath to the next daemon.
const crash = (what: string) => (err: unknown) => {
  if (handle.daemon) handle.daemon.fail(what, err);
  process.stderr.write(
    `k8s-offloadd: ${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
};
process.on("unhandledRejection", crash("unhandled rejection"));
process.on("uncaughtException", crash("uncaught exception"));

async function main(): Promise<number> {
  let args: {
    config?: string;
    version?: boolean;
    help?: boolean;
    "check-config"?: boolean;
    "warm-up"?: boolean;
  };
  try {
    args = parseArgs({
      options: {
        config: { type: "string" },
        version: { type: "boolean" },
        help: { type: "boolean" },
        "check-config": { type: "boolean" },
        "warm-up": { type: "boolean" },
      },
    }).values;
  } catch (err) {
    const { defaultConfigPath } = await import("./config/load");
    process.stderr.write(`k8s-offloadd: ${(err as Error).message}\n${usage(defaultConfigPath)}\n`);
    return 2;
  }
  const { defaultConfigPath } = await import("./config/load");
  if (args.help) return print(usage(defaultConfigPath));
  const { packageVersion } = await import("./paths");
  if (args.version) return print(packageVersion());
  const { Daemon, checkConfig } = await import("./daemon");
  if (args["check-config"] || args["warm-up"]) {
    const file = args.config ?? defaultConfigPath;
    const checked = checkConfig(file);
    if (typeof checked === "string") {
      process.stderr.write(
        `k8s-offloadd: ${checked}\nconfig ${file}: NOT OK (nothing was started or changed)\n`,
      );
      return 2;
    }
    if (args["warm-up"]) {
      await (await import("./warm-up")).warmUp(checked, packageVersion());
      return print("warm-up done (nothing was started or changed)");
    }
    return print(`config ${file}: OK (profile ${checked.profile})`);
  }
  const daemon = new Daemon(packageVersion());
  handle.daemon = daemon;
  // A signal that came while loading: nothing is started, and run() returns at its first step.
  if (handle.stopAsked) daemon.stop(handle.stopAsked);
  return daemon.run(args.config ?? defaultConfigPath);
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

main().then((code) => process.exit(code), crash("start-up failed"));
