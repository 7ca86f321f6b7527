import type { CreateHooks } from "../host/gnmi-client";
import type { DpdkPortOptions, OvsDpdkTools, OvsInterface } from "../host/ovs-dpdk";
import type { TapBackend } from "./tap-backends";

/** How long answers() waits for ovs-vswitchd: well inside a health probe's own bound. */
const ANSWER_MS = 1000;

/**
 * DPDK TAP ports of Open vSwitch with DPDK (Debian's ovs-vswitchd-dpdk), added through the ovsdb:
 * type=dpdk, `dpdk-devargs=net_tap<k>,iface=P4TAP_k`, on a netdev bridge, all in one transaction.
 * Like P4-OVS's ports they live in vswitchd: its TAPs die with it. Unlike a gNMI port the
 * configuration is the database's, so a vswitchd that starts again makes every port again by itself;
 * the pool waits for that (every port with an ofport and no error). A port made again that way is a new
 * TAP (a pod that held the old one lost it): the records carry the run of ovs-vswitchd that made them
 * (generation()), so the pool tells a restart from an adoption and reports the pods' TAPs as lost.
 */
export class DpdkTapBackend implements TapBackend {
  readonly kind = "dpdk";
  /** A port whose kernel side left stays in vswitchd (a pod has it, or had): never made twice. */
  readonly recreatesLost = false;
  constructor(
    private readonly tools: OvsDpdkTools,
    private readonly prefix: string,
    private readonly port: DpdkPortOptions,
    /**
     * The run of ovs-vswitchd now (its child record's identity); null when that process does not run
     * (died, not yet confirmed): the database's ofports are stale then, and its TAPs are gone.
     */
    private readonly vswitchdRun: () => string | null,
  ) {}

  /** EAL as configured() last read it, for the create() that follows with its answer (one read less). */
  private eal: { ok: boolean; why: string } | null = null;

  /** The recorded ovs-vswitchd runs (not dead, not a zombie, the same start time). */
  running(): boolean {
    return this.vswitchdRun() !== null;
  }

  /** The recorded ovs-vswitchd runs and applies a waiting write within ANSWER_MS. */
  async answers(): Promise<boolean> {
    return this.running() && (await this.tools.vswitchdAnswers(ANSWER_MS)) && this.running();
  }

  /**
   * Made: the recorded vswitchd runs, EAL is up and the Interface row has an ofport and no error
   * (vswitchd set it up). One ovsdb read (EAL and the Interface rows in one ovs-vsctl call).
   */
  async configured(names: readonly string[]): Promise<Set<string>> {
    this.eal = null;
    // A dead vswitchd leaves its Interface rows (ofport, no error) and dpdk_initialized as they were:
    // nothing is made then (a look in that window must not take the pool's vanished TAPs for lost).
    if (!this.running()) return new Set();
    const { eal, interfaces } = await this.tools.state();
    this.eal = eal;
    return eal.ok ? this.setUp(names, interfaces) : new Set();
  }

  /**
   * One transaction for all `names` (ovs-vsctl waits until vswitchd applied it), then one read: a
   * port OVS could not set up fails the call with OVS's own text (Interface error), e.g. a mempool
   * that did not fit in dpdk-socket-mem. With `made` (configured() has just read), EAL is taken from
   * that read instead of reading it again.
   */
  async create(names: readonly string[], hooks: CreateHooks, made?: ReadonlySet<string>): Promise<void> {
    if (names.length === 0) return;
    const fresh = made !== undefined ? this.eal : null;
    this.eal = null;
    const eal = fresh ?? (await this.tools.state()).eal;
    if (!eal.ok)
      throw new Error(`cannot add DPDK ports: DPDK is not initialised in ovs-vswitchd (${eal.why})`);
    hooks.sending?.(names);
    const ports = names.map((name) => ({ name, index: Number(name.slice(this.prefix.length)) }));
    const r = await this.tools.addPorts(ports, this.port);
    hooks.applied?.(names);
    const rows = (await this.tools.state()).interfaces;
    const up = this.setUp(names, rows);
    const ok = names.filter((n) => up.has(n));
    if (ok.length > 0) hooks.done?.(ok);
    const failed = names.filter((n) => !up.has(n)).map((n) => `${n}: ${rows.get(n)?.error ?? "no ofport"}`);
    if (failed.length > 0) {
      const tail = r.code === 0 ? "" : ` (ovs-vsctl: ${r.stderr.trim().split("\n")[0]})`;
      throw new Error(
        `ovs-vswitchd could not add ${failed.length} of ${names.length} DPDK TAP ports: ${failed.join("; ")}${tail}`,
      );
    }
  }

  /** The names whose Interface row has an ofport and no error. */
  private setUp(names: readonly string[], rows: Map<string, OvsInterface>): Set<string> {
    return new Set(
      names.filter((n) => {
        const r = rows.get(n);
        return r !== undefined && r.ofport !== null && r.error === null;
      }),
    );
  }

  remove(names: readonly string[]): Promise<void> {
    return this.tools.deletePorts(this.port.bridge, names);
  }

  /** The run of ovs-vswitchd the ports are in now: a record of another run is of a dead TAP. */
  generation(): string | null {
    return this.vswitchdRun();
  }
}
