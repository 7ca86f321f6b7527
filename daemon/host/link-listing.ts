/**
 * A listing of a namespace's links whose `ip` process is started ahead: `ip [-n NS] -j -d -batch -`
 * reads its commands from stdin and does nothing before a line comes, so its start (a fork and exec
 * of the daemon's process, the larger part of a listing: ~5 ms quiet, tens of ms on 2 busy cores)
 * runs while the caller waits for something else (the P4 target making the pool's TAPs). take()
 * then asks for the links as they are at that moment: the answer is the same as listLinks()'s.
 */
import { spawn } from "node:child_process";
import { ipArgv, type LinkInfo, parseLinks } from "./links";

const TIMEOUT_MS = 60_000;

export class EarlyListing {
  private readonly result: Promise<LinkInfo[]>;
  private readonly send: (line: string) => void;
  private used = false;

  constructor(netns: string | null) {
    const argv = ipArgv(netns, ["-j", "-d", "-batch", "-"]);
    const [file, ...args] = argv as [string, ...string[]];
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    // `ip -j -batch` writes (and flushes) each `show` as one JSON line: the answer is complete at
    // its newline, before the process exits and its exit is reaped (another wake-up or two).
    let answered: ((links: LinkInfo[]) => void) | null = null;
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (!answered || !d.includes("\n")) return;
      const line = out.slice(0, out.indexOf("\n")).trim();
      if (!line.startsWith("[")) return;
      try {
        const links = parseLinks(line);
        answered(links);
        answered = null;
      } catch {
        // Left to the exit, which says what was wrong.
      }
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    // A dead reader must not throw EPIPE at the writer: its exit says what went wrong.
    child.stdin.on("error", () => undefined);
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    this.result = new Promise<LinkInfo[]>((resolve, reject) => {
      answered = (links) => {
        clearTimeout(timer);
        resolve(links);
      };
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${file}: ${e.message}`));
      });
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        if (!answered) return;
        if (code !== 0) {
          const why = signal ? `killed by ${signal}` : `exit ${code}`;
          reject(new Error(`${argv.join(" ")} (link show) failed (${why}): ${err.trim() || "no output"}`));
          return;
        }
        try {
          resolve(parseLinks(out.trim()));
        } catch (e) {
          reject(new Error(`${argv.join(" ")}: unreadable link listing: ${(e as Error).message}`));
        }
      });
    });
    // Never an unhandled rejection for a listing nobody took (cancel(), or a creation that failed).
    this.result.catch(() => undefined);
    this.send = (line) => child.stdin.end(line);
  }

  /** The links now (one `link show` in the process already running). Once only. */
  take(): Promise<LinkInfo[]> {
    if (this.used) return Promise.reject(new Error("this link listing was already taken"));
    this.used = true;
    this.send("link show\n");
    return this.result;
  }

  /** Not needed after all: the process ends without listing. */
  cancel(): void {
    if (this.used) return;
    this.used = true;
    this.send("");
  }
}
