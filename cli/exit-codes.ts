/** The CLI's exit codes (also in `--help` and README) and the error that carries one. */
export const EXIT = {
  ok: 0,
  /** The API answered an error (its message is printed), or the token file cannot be read. */
  apiError: 1,
  /** Bad usage: unknown command or option, bad option value, unreadable or invalid config file. */
  usage: 2,
  /** The daemon cannot be reached at the API URL. */
  unreachable: 3,
  /** The request worked but the node did not get there: not ready in time, job failed, and so on. */
  notDone: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_HELP = `Exit codes:
  0  done
  1  the API answered an error (its message is printed), or the token file cannot be read
  2  usage error (unknown command or option, bad value, unreadable or invalid config file)
  3  cannot reach the daemon (the URL tried is printed)
  4  done, but not the outcome asked for: wait-ready timed out, a hook or reset job ended failed or
     interrupted, a restarted component is not ready, preflight has a failing check`;

/** An expected failure: printed as its message alone (no stack trace) and exited with its code. */
export class CliError extends Error {
  constructor(
    readonly code: ExitCode,
    message: string,
  ) {
    super(message);
  }
}
