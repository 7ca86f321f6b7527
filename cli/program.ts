/** The command line: global options, commands and their options, mapped onto cli/commands. */
import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { HOOK_NAMES } from "../daemon/jobs/kinds";
import { packageVersion } from "../daemon/paths";
import { ApiClient } from "./client";
import * as events from "./commands/events";
import * as jobs from "./commands/jobs";
import * as node from "./commands/node";
import { preflight } from "./commands/preflight";
import { taps } from "./commands/taps";
import { type Context, consoleOutput } from "./context";
import { CliError, EXIT, EXIT_HELP, type ExitCode } from "./exit-codes";
import { DEFAULT_API, DEFAULT_TOKEN_FILE, type GlobalOptions, resolveSettings } from "./settings";

export function buildProgram(): Command {
  const program = new Command("k8s-offloadctl")
    .description("Control k8s-offloadd, the node's datapath-offload daemon, through its local API.")
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError("(k8s-offloadctl --help lists the commands and options)")
    .addOption(
      new Option(
        "--api <url>",
        `API URL (else $K8S_OFFLOADD_API, else the config's api.host/port, else ${DEFAULT_API})`,
      ),
    )
    .addOption(
      new Option(
        "--config <path>",
        "daemon config file (else $K8S_OFFLOADD_CONFIG, else /etc/k8s-offloadd/config.yaml if present)",
      ),
    )
    .addOption(
      new Option(
        "--token-file <path>",
        `API token file, for commands that change the node (else $K8S_OFFLOADD_TOKEN_FILE, else the config's api.tokenFile, else ${DEFAULT_TOKEN_FILE})`,
      ),
    )
    .addHelpText("after", `\n${EXIT_HELP}`);
  program.configureHelp({ sortSubcommands: false });

  // Subcommands inherit exitOverride: parse errors reach main() as CommanderErrors (exit 2).
  const command = (name: string, description: string) => program.command(name).description(description);
  /** An action that builds the context from the global options and sets the exit code it returns. */
  const run =
    <A extends unknown[]>(fn: (ctx: Context, ...args: A) => Promise<ExitCode>) =>
    async (...args: A) => {
      // commander passes (...arguments, options, command): the command is last.
      const cmd = args.at(-1) as Command;
      const opts = cmd.optsWithGlobals() as GlobalOptions & { json?: boolean };
      const settings = resolveSettings(opts);
      const ctx: Context = {
        client: new ApiClient(settings.api, settings.token),
        out: consoleOutput(!!opts.json),
      };
      process.exitCode = await fn(ctx, ...args);
    };

  command("status", "the node's phase and a table of its components")
    .option("--json", "print the API's JSON (GET /v1/status)")
    .action(run((ctx, o: { json?: boolean }) => node.status(ctx, !!o.json)));

  command("components", "every component, in start order")
    .option("--json", "print the API's JSON (GET /v1/components)")
    .action(run((ctx, o: { json?: boolean }) => node.components(ctx, !!o.json)));

  command("restart", "restart one component and wait for the outcome (exit 4 if it is not ready)")
    .argument("<name>", "component name, as listed by `components`")
    .option("--json", "print the component's status as JSON")
    .action(run((ctx, name: string, o: { json?: boolean }) => node.restart(ctx, name, !!o.json)));

  command("wait-ready", "wait until the node is ready (exit 0), or exit 4 at the timeout")
    .option("--timeout <seconds>", "give up after this many seconds", seconds, 60)
    .option("--json", "print the last answer of GET /v1/ready as JSON")
    .action(run((ctx, o: { timeout: number; json?: boolean }) => node.waitReady(ctx, o.timeout, !!o.json)));

  command(
    "down",
    "stop the datapath (every component, in reverse order); the daemon keeps running, and the datapath stays down across daemon restarts until `up` or `hook pre-init`",
  )
    .option("--json", "print the node's status afterwards as JSON")
    .action(run((ctx, o: { json?: boolean }) => node.down(ctx, !!o.json)));

  command("up", "bring the datapath back up after `down` (exit 4 if the bring-up does not end ready)")
    .option("--json", "print the node's status afterwards as JSON")
    .action(run((ctx, o: { json?: boolean }) => node.up(ctx, !!o.json)));

  command("taps", "the TAP pool; with --count, resize it first")
    .option("--count <n>", "set the pool's size (a power of 2 above 4, at most taps.max)", integer)
    .option("--json", "print the API's JSON (GET or PUT /v1/taps)")
    .action(run((ctx, o: { count?: number; json?: boolean }) => taps(ctx, o.count, !!o.json)));

  command("events", "the node's history, oldest first; --follow keeps printing new events")
    .option("--follow", "stream events as they happen until interrupted")
    .option("--after <id>", "only events after this id (the `next` of an earlier page)", integer)
    .option("--limit <n>", "at most this many events (1..1000; not with --follow)", integer)
    .option("--json", "print the API's JSON (with --follow: one event per line)")
    .action(
      run((ctx, o: { follow?: boolean; after?: number; limit?: number; json?: boolean }) => {
        const opts = { after: o.after, limit: o.limit, json: !!o.json };
        if (o.follow && o.limit !== undefined)
          throw new CliError(EXIT.usage, "--limit does not go with --follow");
        return o.follow ? events.follow(ctx, opts) : events.events(ctx, opts);
      }),
    );

  command("preflight", "run the host checks (exit 4 if one fails); --fix fixes what is safely fixable")
    .option("--fix", "apply the safe fixes, then show the checks")
    .option("--dry-run", "show what --fix would change, changing nothing (implies --fix)")
    .option("--json", "print the API's JSON")
    .action(
      run((ctx, o: { fix?: boolean; dryRun?: boolean; json?: boolean }) =>
        preflight(ctx, { fix: !!o.fix, dryRun: !!o.dryRun, json: !!o.json }),
      ),
    );

  command("hook", "run a kubeadm hook as a job and follow its steps (exit 4 if it fails)")
    .addArgument(new Argument("<name>", "the hook").choices(HOOK_NAMES))
    .option("--no-wait", "print the started job and return without following it")
    .option("--json", "print the job (at its end) as JSON; progress goes to stderr")
    .action(
      run((ctx, name: string, o: { wait: boolean; json?: boolean }) =>
        jobs.hook(ctx, name, { json: !!o.json, noWait: !o.wait }),
      ),
    );

  command(
    "init",
    "make this node a cluster's control plane (the init job: preflight, datapath, containerd, kubeadm init, kubeconfig, untaint, deploy) and follow its steps (exit 4 if one fails)",
  )
    .option("--no-wait", "print the started job and return without following it")
    .option("--json", "print the job (at its end) as JSON; progress goes to stderr")
    .action(
      run((ctx, o: { wait: boolean; json?: boolean }) => jobs.init(ctx, { json: !!o.json, noWait: !o.wait })),
    );

  command("reset", "tear the node down (the reset job) and follow its steps (exit 4 if one fails)")
    .option("--yes", "confirm: reset runs kubeadm reset -f, removes Kubernetes state and the datapath")
    .option("--no-wait", "print the started job and return without following it")
    .option("--json", "print the job (at its end) as JSON; progress goes to stderr")
    .action(
      run((ctx, o: { yes?: boolean; wait: boolean; json?: boolean }) => {
        if (!o.yes) throw new CliError(EXIT.usage, "reset tears the node down; pass --yes to confirm");
        return jobs.reset(ctx, { json: !!o.json, noWait: !o.wait });
      }),
    );

  command("jobs", "the newest hook and reset jobs; with an ID, follow that job to its end")
    .argument("[id]", "a job id, as listed", integer)
    .option("--json", "print the API's JSON (with an ID: the finished job; progress on stderr)")
    .action(
      run((ctx, id: number | undefined, o: { json?: boolean }) =>
        id === undefined ? jobs.list(ctx, !!o.json) : jobs.follow(ctx, id, { json: !!o.json, noWait: false }),
      ),
    );

  return program;
}

function integer(text: string): number {
  if (!/^-?\d+$/.test(text.trim())) throw new InvalidArgumentError("expected an integer");
  return Number(text);
}

function seconds(text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !Number.isFinite(n)) {
    throw new InvalidArgumentError("expected a number of seconds (0 or more)");
  }
  return n;
}
