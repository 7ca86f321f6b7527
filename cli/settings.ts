/**
 * Where the daemon is and where its token is, from (first wins) the command line, the environment,
 * the daemon's config file, and the production defaults. The config file is read only when something
 * is still unknown, with the daemon's own loader so that defaults and relative paths resolve the
 * same way; a missing default config is not an error (the built-in defaults are the daemon's).
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { ConfigError, defaultConfigPath, loadConfig } from "../daemon/config/load";
import type { Config } from "../daemon/config/types";
import { CliError, EXIT } from "./exit-codes";

export const DEFAULT_API = "http://127.0.0.1:9300";
export const DEFAULT_TOKEN_FILE = "/var/lib/k8s-offloadd/token";

export interface GlobalOptions {
  api?: string;
  config?: string;
  tokenFile?: string;
}

export interface Settings {
  api: URL;
  tokenFile: string;
  /** The token, read on first use (only mutating requests need it). */
  token(): string;
}

export function resolveSettings(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Settings {
  let config: Config | null | undefined;
  const cfg = (): Config | null => {
    config ??= readConfig(opts.config ?? env.K8S_OFFLOADD_CONFIG);
    return config;
  };

  const apiText = opts.api ?? env.K8S_OFFLOADD_API ?? apiFromConfig(cfg());
  const api = parseApiUrl(apiText, cfg);
  const tokenFile =
    opts.tokenFile ?? env.K8S_OFFLOADD_TOKEN_FILE ?? cfg()?.api.tokenFile ?? DEFAULT_TOKEN_FILE;
  let token: string | undefined;
  return {
    api,
    tokenFile,
    token: () => {
      token ??= readToken(tokenFile);
      return token;
    },
  };
}

/** null: no config file at the default path (not an error). */
function readConfig(given: string | undefined): Config | null {
  const path = given ?? defaultConfigPath;
  try {
    return loadConfig(path);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const problem = err.problems[0] ?? "";
    if (given === undefined && problem.startsWith("no such file")) return null;
    if (given === undefined && problem.startsWith("cannot read it")) {
      // Reads work without it (a non-root user, a root-only config): say what is assumed instead.
      process.stderr.write(`k8s-offloadctl: warning: ${err.message}; using the built-in defaults\n`);
      return null;
    }
    throw new CliError(EXIT.usage, err.message);
  }
}

function apiFromConfig(c: Config | null): string {
  if (!c) return DEFAULT_API;
  // A daemon listening on a wildcard address answers on loopback.
  const wild: Record<string, string> = { "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1" };
  const host = wild[c.api.host] ?? c.api.host;
  return `http://${isIP(host) === 6 ? `[${host}]` : host}:${c.api.port}`;
}

/**
 * The API URL, which must be http and on loopback (or the configured api.host): the token must not
 * travel in clear text off the machine.
 */
function parseApiUrl(text: string, cfg: () => Config | null): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new CliError(
      EXIT.usage,
      `--api ${JSON.stringify(text)} is not a URL; expected e.g. ${DEFAULT_API}`,
    );
  }
  if (u.protocol !== "http:") {
    throw new CliError(EXIT.usage, `--api ${text}: only http:// is supported (the API listens on loopback)`);
  }
  const host = u.hostname.replace(/^\[|\]$/g, "");
  if (!isLoopback(host)) {
    let configured: string | undefined;
    try {
      configured = cfg()?.api.host;
    } catch {
      configured = undefined;
    }
    if (host !== configured) {
      throw new CliError(
        EXIT.usage,
        `--api ${text}: the daemon's API is local; use localhost, 127.0.0.1, [::1] or the configured api.host`,
      );
    }
  }
  return u;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new CliError(
      EXIT.apiError,
      `cannot read the API token file ${file} (${code}); changing the node needs it: run as root, or pass --token-file PATH`,
    );
  }
  const token = text.trim();
  if (token === "") throw new CliError(EXIT.apiError, `the API token file ${file} is empty`);
  return token;
}
