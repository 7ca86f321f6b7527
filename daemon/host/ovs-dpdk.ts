import type { OvsConfig, OvsDpdkConfig } from "../config/types";
import { type CommandResult, describeFailure, runCommand } from "./command";
import { ovsdbApplied } from "./ovsdb-probes";

/** One row of the Interface table, as the dpdk backend reads it. */
export interface OvsInterface {
  name: string;
  /** null: not assigned (yet), or -1 (OVS could not add it). */
  ofport: number | null;
  /** OVS's own text when it could not set the interface up; null: none. */
  error: string | null;
}

/** What the dpdk backend reads of vswitchd in one call: EAL, and every Interface row by name. */
export interface OvsDpdkState {
  eal: { ok: boolean; why: string };
  interfaces: Map<string, OvsInterface>;
}

/** A DPDK TAP port to add: its pool name and index (net_tap<index>, ofport <index + 1>). */
export interface DpdkPort {
  name: string;
  index: number;
}

export interface DpdkPortOptions {
  bridge: string;
  rxQueues: number;
  descriptors: number;
  mtu: number;
}

/**
 * Open vSwitch built with DPDK, through ovs-vsctl against the daemon's own db.sock: the DPDK keys of
 * Open_vSwitch other_config, EAL's `dpdk_initialized`, and the dpdk backend's ports (type=dpdk on a
 * netdev bridge, the TAP PMD per port). Every call carries --timeout (DESIGN.md §5).
 */
export class OvsDpdkTools {
  private readonly dbSock: string;
  constructor(
    private readonly cfg: OvsConfig,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.dbSock = `${cfg.runDir}/db.sock`;
  }

  /**
   * The DPDK keys vswitchd reads once, at its start (EAL cannot be initialised twice): dpdk-init and
   * the memory keys, dpdk-hugepage-dir the hugetlbfs the hugepages component mounted. dpdk-extra is
   * removed when the list is empty. --no-wait: vswitchd is not running yet.
   */
  async writeOtherConfig(dpdk: OvsDpdkConfig, hugeDir: string): Promise<void> {
    // Quoted as ovsdb strings (JSON syntax): a value is one argv element, never a shell word.
    const kv = (k: string, v: string) => `other_config:${k}=${JSON.stringify(v)}`;
    const set = [
      kv("dpdk-init", "true"),
      kv("dpdk-socket-mem", dpdk.socketMem),
      kv("per-port-memory", String(dpdk.perPortMemory)),
      kv("dpdk-hugepage-dir", hugeDir),
    ];
    if (dpdk.extra.length > 0) set.push(kv("dpdk-extra", dpdk.extra.join(" ")));
    const argv = ["--no-wait", "set", "Open_vSwitch", ".", ...set];
    if (dpdk.extra.length === 0) argv.push("--", "remove", "Open_vSwitch", ".", "other_config", "dpdk-extra");
    await this.must(argv);
  }

  /** ovs-vswitchd applies a waiting write within timeoutMs (as a waiting ovs-vsctl; host/ovsdb-probes.ts). */
  async vswitchdAnswers(timeoutMs: number): Promise<boolean> {
    return (await ovsdbApplied(this.dbSock, timeoutMs)).ok;
  }

  /** EAL is up: vswitchd sets Open_vSwitch dpdk_initialized once rte_eal_init returned. */
  async initialized(): Promise<{ ok: boolean; why: string }> {
    const argv = ["--no-wait", "get", "Open_vSwitch", ".", "dpdk_initialized"];
    const r = await this.vsctl(argv);
    if (r.code !== 0) return { ok: false, why: describeFailure(["ovs-vsctl", ...argv], r) };
    const v = r.stdout.trim();
    return { ok: v === "true", why: `dpdk_initialized is ${v || "empty"}` };
  }

  /**
   * EAL's `dpdk_initialized` and every Interface row by name, in ONE ovs-vsctl call (two `list`
   * commands of one read: one process, one ovsdb round trip, one view of the database).
   */
  async state(): Promise<OvsDpdkState> {
    const argv = [
      "--no-wait",
      "--format=json",
      "--",
      "--columns=dpdk_initialized",
      "list",
      "Open_vSwitch",
      "--",
      "--columns=name,ofport,error",
      "list",
      "Interface",
    ];
    const r = await this.vsctl(argv);
    if (r.code !== 0) throw new Error(describeFailure(["ovs-vsctl", ...argv], r));
    // One JSON table a line, in command order.
    const [ovs, ifaces] = r.stdout
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as { data: unknown[][] });
    if (!ovs || !ifaces)
      throw new Error(
        `ovs-vsctl ${argv.join(" ")}: expected two JSON tables, got ${JSON.stringify(r.stdout)}`,
      );
    const v = ovs.data[0]?.[0];
    const eal = {
      ok: v === true,
      why: `dpdk_initialized is ${v === undefined ? "empty (no Open_vSwitch row)" : String(v)}`,
    };
    const interfaces = new Map<string, OvsInterface>();
    for (const [name, ofport, error] of ifaces.data) {
      // An empty optional column is ["set", []] in OVSDB's JSON.
      const port = typeof ofport === "number" && ofport > 0 ? ofport : null;
      interfaces.set(String(name), {
        name: String(name),
        ofport: port,
        error: typeof error === "string" ? error : null,
      });
    }
    return { eal, interfaces };
  }

  /**
   * The ports in ONE ovsdb transaction (the bridge made too, if missing), waited for until vswitchd
   * applied it. P4TAP_k gets ofport_request k+1 (OpenFlow has no port 0): port numbers follow the
   * pool's names whatever order vswitchd adds them in. --may-exist: a port already there stays (a
   * restarted daemon never adds one twice). The TAP PMD needs as many rx as tx queues (n_rxq).
   */
  async addPorts(ports: readonly DpdkPort[], o: DpdkPortOptions): Promise<CommandResult> {
    const argv = ["--may-exist", "add-br", o.bridge, "--", "set", "Bridge", o.bridge, "datapath_type=netdev"];
    for (const p of ports) {
      argv.push("--", "--may-exist", "add-port", o.bridge, p.name);
      argv.push("--", "set", "Interface", p.name, "type=dpdk");
      argv.push(`options:dpdk-devargs=net_tap${p.index},iface=${p.name}`);
      argv.push(`options:n_rxq=${o.rxQueues}`, `options:n_rxq_desc=${o.descriptors}`);
      argv.push(`options:n_txq_desc=${o.descriptors}`, `ofport_request=${p.index + 1}`);
      argv.push(`mtu_request=${o.mtu}`);
    }
    return this.vsctl(argv);
  }

  /** Removes the ports (one transaction); a port not there is no error. */
  async deletePorts(bridge: string, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const argv: string[] = [];
    for (const n of names) argv.push("--", "--if-exists", "del-port", bridge, n);
    await this.must(argv);
  }

  private vsctl(args: string[]): Promise<CommandResult> {
    const t = `--timeout=${this.cfg.vsctlTimeoutSec}`;
    return runCommand([this.cfg.ovsVsctl, `--db=unix:${this.dbSock}`, t, ...args], {
      timeoutMs: (this.cfg.vsctlTimeoutSec + 5) * 1000,
      env: this.env,
    });
  }

  private async must(args: string[]): Promise<void> {
    const r = await this.vsctl(args);
    if (r.code !== 0) throw new Error(describeFailure([this.cfg.ovsVsctl, ...args], r));
  }
}
