/**
 * Huge pages for the DPDK tests and bench: the one host setting they may change. reserveHugepages()
 * raises nr_hugepages (2 MB pages, NUMA node 0 when the kernel shows nodes, else the global file) so
 * that `need` pages are free, and the returned restore() puts the previous value back. restore() runs
 * from the caller's after()/finally AND from a process 'exit' handler, so a failing test or an
 * exception still restores; it is idempotent.
 *
 * SIGKILL of the harness (or of this process) runs no handler: the pages stay reserved. For that
 * case the previous value is written first to a record file (RECORD) under a lock held for the whole
 * run (InstanceLock: an fcntl lock the kernel drops when the process dies, SIGKILL included). The
 * next reserveHugepages() takes the lock, finds the record of a run that was killed, puts that value
 * back, and only then reserves. A lock still held means another DPDK test run holds the pages:
 * refused, naming it.
 *
 * When the host cannot give the pages (not enough free memory, fragmentation, no 2 MB pages), the
 * call throws with the numbers, after restoring: the DPDK tests FAIL with that reason rather than
 * skip, since a skip in a long test log reads as a pass and the dpdk backend ships.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InstanceLock } from "../../daemon/host/instance-lock";

const SIZE = "hugepages-2048kB";
const LOCK_DIR = join(tmpdir(), "k8s-offloadd-test-hugepages");
export const RECORD = join(LOCK_DIR, "reserved.json");

interface Record {
  file: string;
  previous: number;
}

function dirOf(): string {
  const node0 = `/sys/devices/system/node/node0/hugepages/${SIZE}`;
  return existsSync(node0) ? node0 : `/sys/kernel/mm/hugepages/${SIZE}`;
}

const readNum = (f: string) => Number.parseInt(readFileSync(f, "utf8").trim(), 10);

let lock: InstanceLock | null = null;

/** The run's lock; a record under it was left by a run that was SIGKILLed: its value is put back. */
export function recoverLeftReservation(): string | null {
  if (!lock) {
    try {
      lock = InstanceLock.acquire(LOCK_DIR);
    } catch (err) {
      // The lock's own message speaks of daemons; here it is another test run (this machine's pids).
      const holder = /\(pid (\d+)\)/.exec((err as Error).message)?.[1];
      throw new Error(
        `huge pages: another DPDK test or bench run${holder ? ` (pid ${holder} in its namespace)` : ""} holds the reservation lock in ${LOCK_DIR}: run one at a time`,
      );
    }
  }
  if (!existsSync(RECORD)) return null;
  const r = JSON.parse(readFileSync(RECORD, "utf8")) as Record;
  writeFileSync(r.file, `${r.previous}\n`);
  rmSync(RECORD, { force: true });
  return `put ${r.file} back to ${r.previous} (left by a run that did not end cleanly)`;
}

export interface Reservation {
  file: string;
  previous: number;
  reserved: number;
  restore(): void;
}

export function reserveHugepages(need: number): Reservation {
  const recovered = recoverLeftReservation();
  if (recovered) console.log(`# huge pages: ${recovered}`);
  const dir = dirOf();
  if (!existsSync(dir)) throw new Error(`huge pages: the kernel offers no 2 MB huge pages (no ${dir})`);
  const file = `${dir}/nr_hugepages`;
  const previous = readNum(file);
  const free = readNum(`${dir}/free_hugepages`);
  let done = false;
  const restore = () => {
    if (done) return;
    done = true;
    process.removeListener("exit", restore);
    writeFileSync(file, `${previous}\n`);
    rmSync(RECORD, { force: true });
  };
  if (free >= need) {
    // Nothing to change: restore() has nothing to put back but stays harmless.
    done = true;
    return { file, previous, reserved: previous, restore };
  }
  writeFileSync(RECORD, JSON.stringify({ file, previous } satisfies Record));
  process.on("exit", restore);
  const want = previous + (need - free);
  writeFileSync(file, `${want}\n`);
  const got = readNum(file);
  const freeNow = readNum(`${dir}/free_hugepages`);
  if (freeNow < need) {
    restore();
    const mem = /MemAvailable:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
    throw new Error(
      `huge pages: the DPDK tests need ${need} free pages of 2 MB; writing ${want} to ${file} gave ${got} ` +
        `(${freeNow} free; MemAvailable ${mem ?? "?"} kB). The host cannot give them (memory too ` +
        `fragmented or too small); ${file} was put back to ${previous}`,
    );
  }
  return { file, previous, reserved: got, restore };
}
