/**
 * A P4 target the daemon did not start (as P4-OVS's gNMI/P4Runtime service is to the daemon in
 * production, served by a process it does not own): the simulator (test/sim/p4-target-sim.ts) run
 * by the test itself, on the addresses the daemon's config names, making its TAPs in the daemon's
 * datapath namespace. Killing it is what a target crash looks like to the daemon: its endpoints stop
 * answering and its TAPs vanish, with no child exit to tell the daemon.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { repoRoot, sleep } from "./daemon";

const SIM = join(repoRoot, "dist/test/sim/p4-target-sim.js");

export interface TargetAddresses {
  gnmi: string;
  p4rt: string;
  /** The daemon's datapath namespace (where the TAPs go); null: the test's own. */
  netns: string | null;
}

/** The target addresses and datapath namespace a writeConfig'd config file names. */
export function targetOf(configFile: string): TargetAddresses {
  const cfg = parse(readFileSync(configFile, "utf8")) as {
    target: { gnmi: string; p4runtime: string };
    datapath: { netns: string | null };
  };
  return { gnmi: cfg.target.gnmi, p4rt: cfg.target.p4runtime, netns: cfg.datapath.netns };
}

export class ExternalTarget {
  private constructor(
    readonly proc: ChildProcess,
    readonly exited: Promise<void>,
  ) {}

  /** Start the simulator; resolves once it printed `listening` (both servers bound). */
  static async start(a: TargetAddresses): Promise<ExternalTarget> {
    // The daemon makes its datapath namespace at start: the target's TAPs go there.
    if (a.netns) {
      const end = Date.now() + 30_000;
      while (!existsSync(`/run/netns/${a.netns}`)) {
        if (Date.now() > end) throw new Error(`namespace ${a.netns} not made by the daemon within 30 s`);
        await sleep(20);
      }
    }
    const args = [SIM, "--gnmi", a.gnmi, "--p4rt", a.p4rt, ...(a.netns ? ["--netns", a.netns] : [])];
    const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    let err = "";
    proc.stderr?.on("data", (d) => {
      err += String(d);
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`simulator not listening within 15 s: ${err}`)), 15_000);
      proc.stdout?.on("data", (d) => {
        if (String(d).includes("listening")) {
          clearTimeout(t);
          resolve();
        }
      });
      proc.once("exit", (code) => {
        clearTimeout(t);
        reject(new Error(`simulator exited (${code}): ${err}`));
      });
    });
    return new ExternalTarget(proc, exited);
  }

  /** SIGKILL (a crash: its TAPs die with it) and wait for it to be gone. */
  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
    await this.exited;
  }
}
