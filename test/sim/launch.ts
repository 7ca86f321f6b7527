/**
 * Start the P4 target simulator as a real child process, for tests and benches: free loopback
 * ports, extra arguments (--chassis-config, --ports-file, --netns ...), resolves once it printed
 * `listening`; `stop()` sends a signal and waits for the exit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { projectRoot } from "../../daemon/paths";

export const SIM_MAIN = join(projectRoot(), "dist/test/sim/p4-target-sim.js");
export const CHASSIS_DIR = join(projectRoot(), "test/fixtures/chassis");
/** The stock file, TAP0..TAP31 (ipdk-io/ovs v22.07 external/dpdk_port_config.pb.txt). */
export const STOCK_CHASSIS = join(CHASSIS_DIR, "dpdk_port_config.pb.txt");
/** The stock file after create_interfaces.sh's sed: P4TAP_0..P4TAP_31. */
export const RENAMED_CHASSIS = join(CHASSIS_DIR, "dpdk_port_config.P4TAP.pb.txt");
/** P4TAP_0..P4TAP_255. */
export const CHASSIS_256 = join(CHASSIS_DIR, "dpdk_port_config.P4TAP_256.pb.txt");

export interface RunningSim {
  proc: ChildProcess;
  gnmi: string;
  p4rt: string;
  exited: Promise<number | null>;
  /** Everything it wrote on stderr so far. */
  stderr(): string;
  stop(sig?: NodeJS.Signals): Promise<number | null>;
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (a && typeof a === "object" ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

export async function startSim(extra: readonly string[] = [], timeoutMs = 10_000): Promise<RunningSim> {
  const gnmi = `127.0.0.1:${await freeLoopbackPort()}`;
  const p4rt = `127.0.0.1:${await freeLoopbackPort()}`;
  const proc = spawn(process.execPath, [SIM_MAIN, "--gnmi", gnmi, "--p4rt", p4rt, ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  proc.stderr?.on("data", (d) => {
    err += String(d);
  });
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`simulator not listening within ${timeoutMs} ms: ${err}`)),
      timeoutMs,
    );
    proc.stdout?.on("data", (d) => {
      if (String(d).includes("listening")) {
        clearTimeout(t);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`simulator exited (${code}): ${err}`));
    });
  });
  return {
    proc,
    gnmi,
    p4rt,
    exited,
    stderr: () => err,
    async stop(sig: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
      return exited;
    },
  };
}
