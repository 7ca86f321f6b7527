/** What every command gets: the API client and where its output goes. */
import type { ApiClient } from "./client";

export interface Output {
  /** Results (stdout). */
  print(text: string): void;
  /** Progress of a long operation: stdout, or stderr when stdout carries JSON. */
  progress(text: string): void;
  /** Warnings and failures (stderr). */
  warn(text: string): void;
}

export interface Context {
  client: ApiClient;
  out: Output;
}

export function consoleOutput(json: boolean): Output {
  const stdout = (t: string) => process.stdout.write(`${t}\n`);
  const stderr = (t: string) => process.stderr.write(`${t}\n`);
  return { print: stdout, progress: json ? stderr : stdout, warn: stderr };
}

export const printJson = (out: Output, value: unknown): void => out.print(JSON.stringify(value, null, 2));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
