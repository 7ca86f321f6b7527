/**
 * A real ARP exchange on a kernel TAP, for tests, with no extra package.
 *
 * Why this design. The issue wants "an ARP request for 169.254.1.1 gets TAP_0's MAC". The kernel
 * answers an ARP request (for its own address, or by proxy_arp) with the MAC of the interface the
 * request ARRIVED ON. So a peer behind a veth in another namespace, routed to 169.254.1.1, is
 * answered with the veth's MAC, never TAP_0's: that would prove nothing about TAP_0. For the answer
 * to carry TAP_0's MAC the request must arrive on TAP_0, i.e. be written into the TAP's file
 * descriptor, which is exactly what happens in production: the P4 pipeline sends ARP for
 * 169.254.1.1 to port 0 and the DPDK TAP PMD writes it into TAP_0's fd.
 *   - tc `mirred ingress redirect` from a veth into TAP_0 was tried (u32 + mirred exist on this
 *     kernel): the kernel refuses to redirect into a TAP without carrier (counted as overlimit,
 *     nothing delivered), and a TAP has carrier only while a process holds it open. `ip link set
 *     carrier on` is not supported by tun. So something must hold the TAP open anyway.
 *   - Node cannot ioctl(TUNSETIFF) nor open AF_PACKET sockets; ping/arping are not installed.
 *   - Perl is Essential in Debian (perl-base, always installed) and has ioctl(): a 20-line Perl
 *     program opens /dev/net/tun, attaches to the existing TAP with TUNSETIFF (IFF_TAP|IFF_NO_PI,
 *     which matches `ip tuntap add ... mode tap`), and relays frames as hex lines: stdin → TAP
 *     (received by the kernel on TAP_0), TAP → stdout (what the kernel transmits on TAP_0).
 * Node builds the Ethernet+ARP request frame itself and parses the reply: sender MAC must be
 * TAP_0's (from `ip -j link`), sender IP the asked address, opcode 2. Holding the TAP open also
 * gives it carrier (operstate UP) for as long as the holder runs; the TAP is persistent, so it
 * stays when the holder exits.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { inNetns } from "../../daemon/host/netns";

const HOLDER = String.raw`
use strict; use warnings;
my $name = shift @ARGV;
sysopen(my $tap, "/dev/net/tun", 2) or die "open /dev/net/tun: $!\n";
# TUNSETIFF = _IOW('T', 202, int); struct ifreq: name[16], flags (short), padding to 40 bytes.
ioctl($tap, 0x400454ca, pack("Z16 s x22", $name, 0x0002 | 0x1000)) or die "TUNSETIFF $name: $!\n";
$| = 1; print "ready\n";
my $buf = ""; my $rin = "";
vec($rin, fileno(STDIN), 1) = 1; vec($rin, fileno($tap), 1) = 1;
while (1) {
  select(my $rout = $rin, undef, undef, undef) > 0 or next;
  if (vec($rout, fileno($tap), 1)) { my $n = sysread($tap, my $f, 65536); exit 0 unless $n; print unpack("H*", $f), "\n"; }
  if (vec($rout, fileno(STDIN), 1)) {
    my $n = sysread(STDIN, my $d, 65536); exit 0 unless $n; $buf .= $d;
    while ($buf =~ s/^([^\n]*)\n//) { my $l = $1; syswrite($tap, pack("H*", $l)) if $l =~ /^(?:[0-9a-f]{2})+$/; }
  }
}
`;

/** Perl is there (it is on every Debian: perl-base is Essential). */
export function perlAvailable(): boolean {
  return spawnSync("perl", ["-e", "exit 0"]).status === 0;
}

/** A process holding a kernel TAP open: frames written here arrive on the TAP; frames it sends come back. */
export class TapHolder {
  private frames: Buffer[] = [];
  private waiters: Array<() => void> = [];
  private lineBuf = "";
  private exited = false;
  stderr = "";

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => {
      this.stderr += d;
    });
    child.stdout.on("data", (d: string) => {
      this.lineBuf += d;
      let i = this.lineBuf.indexOf("\n");
      while (i >= 0) {
        const line = this.lineBuf.slice(0, i);
        this.lineBuf = this.lineBuf.slice(i + 1);
        if (line === "ready") this.frames.push(Buffer.alloc(0));
        else if (/^[0-9a-f]+$/.test(line)) this.frames.push(Buffer.from(line, "hex"));
        i = this.lineBuf.indexOf("\n");
      }
      this.wake();
    });
    child.on("exit", () => {
      this.exited = true;
      this.wake();
    });
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Attach to the existing TAP `ifname` in `netns` (runs `ip netns exec NS perl -e ...`). */
  static async open(netns: string | null, ifname: string, timeoutMs = 5000): Promise<TapHolder> {
    const [file, ...args] = inNetns(netns, ["perl", "-e", HOLDER, ifname]);
    const h = new TapHolder(spawn(file as string, args, { stdio: ["pipe", "pipe", "pipe"] }));
    const ready = await h.next((f) => f.length === 0, timeoutMs);
    if (!ready) {
      h.close();
      throw new Error(`cannot hold TAP ${ifname} open: ${h.stderr.trim() || "no answer"}`);
    }
    return h;
  }

  send(frame: Buffer): void {
    this.child.stdin.write(`${frame.toString("hex")}\n`);
  }

  /** The next frame (from now on or already queued) matching `pred`, or null after timeoutMs. */
  async next(pred: (f: Buffer) => boolean, timeoutMs: number): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0] as Buffer;
      this.frames = [];
      const left = deadline - Date.now();
      if (left <= 0 || this.exited) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.stdin.end();
      this.child.kill("SIGTERM");
    });
  }
}

const macBytes = (mac: string) => Buffer.from(mac.split(":").map((h) => Number.parseInt(h, 16)));
const ipBytes = (ip: string) => Buffer.from(ip.split(".").map(Number));
const macText = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
const ipText = (b: Buffer) => [...b].join(".");

/** Ethernet broadcast + ARP request (RFC 826: htype 1, ptype 0x0800, op 1) "who has targetIp". */
export function arpRequestFrame(o: { senderMac: string; senderIp: string; targetIp: string }): Buffer {
  const eth = Buffer.concat([Buffer.alloc(6, 0xff), macBytes(o.senderMac), Buffer.from([0x08, 0x06])]);
  const arp = Buffer.concat([
    Buffer.from([0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]),
    macBytes(o.senderMac),
    ipBytes(o.senderIp),
    Buffer.alloc(6),
    ipBytes(o.targetIp),
  ]);
  return Buffer.concat([eth, arp]);
}

export interface ArpPacket {
  ethDst: string;
  ethSrc: string;
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

/** The ARP packet in an Ethernet frame, or null when it is something else. */
export function parseArp(f: Buffer): ArpPacket | null {
  if (f.length < 42 || f.readUInt16BE(12) !== 0x0806) return null;
  const a = f.subarray(14);
  if (a.readUInt16BE(0) !== 1 || a.readUInt16BE(2) !== 0x0800 || a[4] !== 6 || a[5] !== 4) return null;
  return {
    ethDst: macText(f.subarray(0, 6)),
    ethSrc: macText(f.subarray(6, 12)),
    op: a.readUInt16BE(6),
    senderMac: macText(a.subarray(8, 14)),
    senderIp: ipText(a.subarray(14, 18)),
    targetMac: macText(a.subarray(18, 24)),
    targetIp: ipText(a.subarray(24, 28)),
  };
}

export interface ArpAnswer {
  reply: ArpPacket;
  ms: number;
}

/**
 * Ask on the held TAP "who has targetIp" as the peer (senderMac, senderIp) and wait for the
 * kernel's reply to that question; null when none comes within timeoutMs.
 */
export async function arpAsk(
  tap: TapHolder,
  o: { targetIp: string; senderIp?: string; senderMac?: string; timeoutMs?: number },
): Promise<ArpAnswer | null> {
  const senderMac = o.senderMac ?? "02:00:00:00:00:02";
  const senderIp = o.senderIp ?? "169.254.1.2";
  const t0 = performance.now();
  tap.send(arpRequestFrame({ senderMac, senderIp, targetIp: o.targetIp }));
  const f = await tap.next((x) => {
    const p = parseArp(x);
    return p !== null && p.op === 2 && p.senderIp === o.targetIp && p.targetIp === senderIp;
  }, o.timeoutMs ?? 2000);
  if (!f) return null;
  return { reply: parseArp(f) as ArpPacket, ms: performance.now() - t0 };
}
