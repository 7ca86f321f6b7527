/**
 * The simulator's TAPs, made like DPDK's TAP PMD makes them inside ovs-vswitchd: non-persistent
 * (TUNSETIFF on /dev/net/tun, no TUNSETPERSIST) and held open by one process, so they live and die
 * with it. Node cannot ioctl, so a small python3 helper holds the file descriptors; it reads
 * requests on a pipe from the simulator and exits when the pipe closes, so the kernel destroys every
 * TAP when the simulator exits for any reason, SIGKILL included.
 *
 * The TAPs are real tun devices: they can be renamed, moved into another netns (the CNI agent's
 * pkg/netconf/tap.go does both) and die with that netns. Where each one is now is read from the
 * helper's fd: /proc/<helper>/fdinfo/<fd> has an `iff:` line with the device's current name, in
 * whatever netns it is, and an empty one once the device is gone (deleted, or destroyed with its
 * netns).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const TAP_HELPER = String.raw`
import sys, os, fcntl, struct, socket, resource, subprocess
TUNSETIFF = 0x400454ca
TUNGETIFF = 0x800454d2
SIOCSIFMTU = 0x8922
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
try:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
except Exception:
    pass
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fds = []
def ifindex(name):
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return 0
out = sys.stdout
def add(name, mtu):
    try:
        mtu = int(mtu)
        if ifindex(name):
            raise OSError(17, "an interface named %s already exists" % name)
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
            fcntl.ioctl(sock, SIOCSIFMTU, struct.pack("16si20x", name.encode(), mtu))
        except Exception:
            os.close(fd)
            raise
        fds.append(fd)
        return "ok %s %d %d\n" % (name, ifindex(name), fd)
    except OSError as e:
        return "err %s %s\n" % (name, e.strerror or str(e))
    except Exception as e:
        return "err %s %s\n" % (name, str(e))
# Tell the simulator we can take requests: it serves gNMI only after this, so the first port-type
# Set does not wait for python3 to start, which a real target never does.
out.write("ready\n")
out.flush()
while True:
    line = sys.stdin.readline()
    if not line:
        break
    parts = line.split()
    if not parts:
        continue
    op = parts[0]
    if op == "adds":
        # Several adds in order, stopping at the first that fails (the rest are not made); "end" last.
        for item in parts[1:]:
            name, _, mtu = item.rpartition(":")
            reply = add(name, mtu)
            out.write(reply)
            if reply.startswith("err"):
                break
        out.write("end\n")
    elif op == "add":
        out.write(add(parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""))
    else:
        out.write("err %s unknown op %s\n" % (parts[1] if len(parts) > 1 else "", op))
    out.flush()
# Our end of the pipe closed (the simulator stopped or died): remove every TAP. Closing the fds
# alone would do it, one unregister (with its RCU wait, ~15 ms) per TAP; deleting the ones still in
# our netns as one link group first lets the kernel unregister them in one batch. Names are read
# back from the fds, so TAPs renamed since (TAP_0) are included.
names = []
for fd in fds:
    try:
        ifr = fcntl.ioctl(fd, TUNGETIFF, bytes(40))
        n = ifr[:16].split(b"\0", 1)[0].decode()
        if n and ifindex(n):
            names.append(n)
    except OSError:
        pass
if names:
    group = 0x7E000000 | (os.getpid() & 0xFFFFFF)
    script = "".join("link set dev %s group %d\n" % (n, group) for n in names)
    script += "link del group %d\n" % group
    try:
        subprocess.run(["ip", "-force", "-batch", "-"], input=script.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    except Exception:
        pass
for fd in fds:
    os.close(fd)
`;

export interface MadeTap {
  ifindex: number;
  /** The helper's fd holding the TAP (for fdinfo). */
  fd: number;
}

/** A helper's answer to one add: the TAP, or its error. */
function made(line: string): MadeTap {
  const m = /^ok \S+ (\d+) (\d+)$/.exec(line);
  if (!m) throw new Error(line.replace(/^err \S+ /, ""));
  return { ifindex: Number(m[1]), fd: Number(m[2]) };
}

export class TapHelper {
  private readonly child: ChildProcess;
  private readonly waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private exited = false;
  readonly done: Promise<void>;
  /** Resolves when the helper said `ready`; rejects if it exits before. */
  readonly ready: Promise<void>;
  private onReady: (() => void) | null = null;

  constructor(netns?: string) {
    const argv = ["python3", "-u", "-c", TAP_HELPER];
    // `ip netns exec` execs python3 in place: the child's pid is the helper's.
    const [file, ...args] = netns ? ["ip", "netns", "exec", netns, ...argv] : argv;
    this.child = spawn(file as string, args, { stdio: ["pipe", "pipe", "inherit"] });
    this.done = new Promise((resolve) => {
      this.child.on("exit", () => {
        this.exited = true;
        for (const w of this.waiting.splice(0)) w.reject(new Error("TAP helper exited"));
        resolve();
      });
      this.child.on("error", (err) => {
        process.stderr.write(`p4-target-sim: cannot run the TAP helper (python3): ${err.message}\n`);
        this.exited = true;
        for (const w of this.waiting.splice(0)) w.reject(err);
        resolve();
      });
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.onReady = resolve;
      void this.done.then(() => reject(new Error("the TAP helper (python3) exited before it was ready")));
    });
    this.ready.catch(() => undefined); // the caller awaits it; never an unhandled rejection
    if (this.child.stdout) {
      createInterface({ input: this.child.stdout }).on("line", (line) => {
        if (this.onReady) {
          // The helper's first line is its `ready`.
          this.onReady();
          this.onReady = null;
          return;
        }
        this.waiting.shift()?.resolve(line);
      });
    }
  }

  private request(line: string): Promise<string> {
    if (this.exited || !this.child.stdin) return Promise.reject(new Error("TAP helper is not running"));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin?.write(`${line}\n`);
    });
  }

  /** Create a non-persistent TAP named `name` with `mtu`. */
  async add(name: string, mtu: number): Promise<MadeTap> {
    if (!/^\S+$/.test(name)) throw new Error(`${JSON.stringify(name)} is not a valid interface name`);
    return made(await this.request(`add ${name} ${mtu}`));
  }

  /**
   * Create TAPs in order, in ONE exchange with the helper, which stops at the first that fails: the
   * results, in order, up to and including that failure (an Error); the TAPs after it are not made.
   * One wake-up of the helper for a whole SetRequest instead of one per TAP: on a busy machine each
   * wake-up waits for a CPU, which a target making its TAPs in its own process never does.
   */
  async addMany(taps: readonly { name: string; mtu: number }[]): Promise<(MadeTap | Error)[]> {
    for (const t of taps) {
      // Names never hold ":" or spaces (validIfName); checked again, since the line format relies on it.
      if (!/^[^\s:]+$/.test(t.name))
        throw new Error(`${JSON.stringify(t.name)} is not a valid interface name`);
    }
    if (taps.length === 0) return [];
    const lines = await this.requestUntilEnd(`adds ${taps.map((t) => `${t.name}:${t.mtu}`).join(" ")}`);
    return lines.map((l) => {
      try {
        return made(l);
      } catch (err) {
        return err as Error;
      }
    });
  }

  /** A request whose answer is several lines, the last one "end" (not returned). */
  private async requestUntilEnd(line: string): Promise<string[]> {
    if (this.exited || !this.child.stdin) throw new Error("TAP helper is not running");
    const out: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const next = {
        resolve: (l: string) => {
          if (l === "end") resolve();
          else {
            out.push(l);
            this.waiting.unshift(next);
          }
        },
        reject,
      };
      this.waiting.push(next);
      this.child.stdin?.write(`${line}\n`);
    });
    return out;
  }

  /**
   * The current kernel name of the TAP held on `fd`, wherever it is now (renamed, another netns);
   * null once the device is gone. Read from the helper's fdinfo (`iff:`), without a round trip.
   */
  kernelName(fd: number): string | null {
    if (this.exited || this.child.pid === undefined) return null;
    try {
      const info = readFileSync(`/proc/${this.child.pid}/fdinfo/${fd}`, "utf8");
      const m = /^iff:\t(.*)$/m.exec(info);
      return m?.[1] ? m[1] : null;
    } catch {
      return null;
    }
  }

  /** Close the pipe: the helper exits and the kernel removes every TAP it held. */
  async stop(): Promise<void> {
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await this.done;
    clearTimeout(t);
  }
}
