#!/usr/bin/env node
/**
 * A stand-in for IPDK's `arp_proxy` (k8s-infra-offload), which is not available here, behaving as
 * the guide describes it: `ARP_PROXY_IF=TAP_0 arp_proxy`; exits 1 when the variable is empty; waits
 * for the interface to exist; answers EVERY ARP request arriving on it with the interface's MAC. No
 * signal handling of its own (SIGTERM ends it). Used by the tests of the daemon's binary ARP proxy
 * mode (supervision, environment, the answer on the wire).
 *
 * Node cannot open AF_PACKET sockets; Perl (perl-base is Essential in Debian) can, so the packet
 * loop is a short Perl child in this process's group (the supervisor signals the whole group).
 */
import { spawnSync } from "node:child_process";

const LOOP = String.raw`
use strict; use warnings; use Socket;
my $if = $ENV{ARP_PROXY_IF} // "";
if ($if eq "") { print STDERR "ARP_PROXY_IF is empty\n"; exit 1; }
my $sys = "/sys/class/net/$if";
until (-e "$sys/ifindex") { select(undef, undef, undef, 0.1); }   # waits forever, like the real one
open(my $fi, "<", "$sys/ifindex") or die; my $ifindex = <$fi>; chomp $ifindex;
open(my $fm, "<", "$sys/address") or die; my $mac = <$fm>; chomp $mac;
my $macb = pack("H12", join("", split(/:/, $mac)));
socket(my $s, 17, 3, unpack("n", pack("S", 0x0806))) or die "AF_PACKET: $!\n";     # AF_PACKET, SOCK_RAW, ETH_P_ARP
bind($s, pack("S n i S C C a8", 17, 0x0806, $ifindex, 0, 0, 0, "")) or die "bind $if: $!\n";
$| = 1; print "arp_proxy: answering ARP on $if ($mac)\n";
while (1) {
  defined(recv($s, my $f, 2048, 0)) or next;
  next if length($f) < 42;
  my ($dst, $src, $type, $htype, $ptype, $hlen, $plen, $op, $sha, $spa, $tha, $tpa) =
    unpack("a6 a6 n n n C C n a6 a4 a6 a4", $f);
  next unless $type == 0x0806 && $op == 1 && $src ne $macb;
  my $reply = pack("a6 a6 n n n C C n a6 a4 a6 a4", $src, $macb, 0x0806, 1, 0x0800, 6, 4, 2, $macb, $tpa, $sha, $spa);
  send($s, $reply, 0);
}
`;

const r = spawnSync("perl", ["-e", LOOP], { stdio: "inherit" });
process.exit(r.status ?? 1);
