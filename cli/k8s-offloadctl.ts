#!/usr/bin/env node
/**
 * k8s-offloadctl: a thin client of k8s-offloadd's local API. Every command is one API call (or a
 * watched sequence of them); the answers are printed as tables, or as the API's JSON with --json.
 */
import { CommanderError } from "commander";
import { CliError, EXIT } from "./exit-codes";
import { buildProgram } from "./program";

// `k8s-offloadctl events --follow | head`: a closed pipe ends the command quietly, not with a trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) =>
    process.exit(err.code === "EPIPE" ? EXIT.ok : EXIT.apiError),
  );
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end parsing with a CommanderError too; anything else is a usage error.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof CliError) {
      process.stderr.write(`k8s-offloadctl: ${err.message}\n`);
      return err.code;
    }
    // A bug in the CLI itself: say so in one line; the stack only on demand.
    const e = err as Error;
    process.stderr.write(`k8s-offloadctl: internal error: ${e.message ?? String(err)}\n`);
    if (process.env.K8S_OFFLOADCTL_DEBUG) process.stderr.write(`${e.stack ?? ""}\n`);
    return EXIT.apiError;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = EXIT.apiError;
  },
);
