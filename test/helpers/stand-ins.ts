/**
 * Stand-ins for the node's Kubernetes tools (kubeadm, kubectl, crictl, systemctl): tiny sh scripts in
 * a scratch bin directory that append "NAME ARGS..." to one calls file, then do what the test says.
 * Tests point the daemon's kubernetes.toolPath at that directory ONLY, so the host's real tools can
 * never be reached from a test.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export class StandIns {
  readonly bin: string;
  readonly callsFile: string;

  constructor(readonly dir: string) {
    this.bin = join(dir, "bin");
    this.callsFile = join(dir, "calls.log");
    mkdirSync(this.bin, { recursive: true });
  }

  /** A tool that records its call, then runs `body` (sh; default: exit 0). */
  add(name: string, body = "exit 0"): void {
    const file = join(this.bin, name);
    writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' "${name} $*" >> '${this.callsFile}'\n${body}\n`);
    chmodSync(file, 0o755);
  }

  remove(name: string): void {
    rmSync(join(this.bin, name), { force: true });
  }

  /** Every call so far, oldest first. */
  calls(): string[] {
    if (!existsSync(this.callsFile)) return [];
    return readFileSync(this.callsFile, "utf8").split("\n").filter(Boolean);
  }

  clearCalls(): void {
    rmSync(this.callsFile, { force: true });
  }
}
