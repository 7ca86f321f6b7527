import type { Logger } from "pino";
import type { Config } from "../config/types";
import {
  type Component,
  type ComponentDetails,
  type ComponentSignals,
  noProcessDetails,
  type Probe,
} from "../engine/component";
import { arpProxyCommand, enableKernelArpProxy, kernelArpProxyState } from "../host/arp-proxy";
import { ensureHostInterface, hostInterfaceListedHere, hostInterfaceState } from "../host/host-interface";
import type { StateStore } from "../state/store";
import { ProcessComponent } from "./process-component";

/**
 * host-if: the guide's `ip link set P4TAP_0 name TAP_0; ip link set TAP_0 up; ip addr add
 * 169.254.1.1/32 dev TAP_0`, idempotent. Ready when TAP_0 exists, is up and has its address;
 * reconcile puts back an address or an up flag someone removed.
 *
 * Processes: a read asks the namespace's long-lived ip reader (host/ip-session.ts: none per read);
 * a change is one `ip -batch`; the probe right after a start takes start's read-back. In the
 * daemon's own namespace a probe or reconcile that finds TAP_0 up and running with its address
 * asks only getifaddrs.
 */
export class HostInterfaceComponent implements Component {
  readonly name = "host-if";
  readonly readiness: string;
  private signals: ComponentSignals | null = null;

  constructor(
    private readonly cfg: Config,
    readonly dependsOn: string[],
  ) {
    const hi = cfg.hostInterface;
    this.readiness = `${hi.name} to be up with ${hi.address}`;
  }

  attach(signals: ComponentSignals): void {
    this.signals = signals;
  }

  /** Set by start() (which verified its work by a read-back): the next probe takes that read. */
  private startRead = false;

  async start(): Promise<void> {
    this.startRead = false;
    await this.ensure();
    this.startRead = true;
  }

  async probe(): Promise<Probe> {
    const fromStart = this.startRead;
    this.startRead = false;
    if (fromStart || this.listedHere()) return { ready: true };
    const hi = this.cfg.hostInterface;
    const s = await hostInterfaceState(this.cfg.datapath.netns, hi.name, hi.address);
    if (s.exists && s.up && s.hasAddress) return { ready: true };
    const what = !s.exists ? "missing" : !s.up ? "down" : `without ${hi.address}`;
    return { ready: false, waitingFor: `${this.readiness} (it is ${what})` };
  }

  async reconcile(): Promise<void> {
    if (this.listedHere()) return;
    const r = await this.ensure();
    if (r.addressAdded || r.broughtUp) {
      const what = [r.addressAdded && `address ${this.cfg.hostInterface.address}`, r.broughtUp && "up state"];
      this.signals?.note(
        this.name,
        "restart",
        `restored ${what.filter(Boolean).join(" and ")} (changed behind the daemon's back)`,
      );
    }
  }

  async stop(): Promise<void> {
    this.startRead = false;
  }

  details(): ComponentDetails {
    return noProcessDetails();
  }

  /** Up, running and addressed as seen in-process; only in the daemon's own namespace. */
  private listedHere(): boolean {
    const hi = this.cfg.hostInterface;
    return this.cfg.datapath.netns === null && hostInterfaceListedHere(hi.name, hi.address);
  }

  private ensure() {
    const hi = this.cfg.hostInterface;
    return ensureHostInterface(this.cfg.datapath.netns, {
      from: `${this.cfg.taps.prefix}0`,
      name: hi.name,
      address: hi.address,
    });
  }
}

/**
 * arp-proxy, kernel mode: proxy_arp, forwarding and proxy_delay=0 on the host interface, so the
 * kernel answers ARP on it with its MAC; no binary needed. Reconcile re-applies changed settings.
 * Processes: none in the daemon's own namespace (/proc/sys files); in a datapath namespace one
 * `sysctl` to set and read back, and a probe or reconcile asks the namespace's long-lived ip
 * reader (none per read); the probe right after a start takes start's read-back.
 */
export class KernelArpProxyComponent implements Component {
  readonly name = "arp-proxy";
  readonly readiness: string;
  private signals: ComponentSignals | null = null;

  constructor(
    private readonly cfg: Config,
    readonly dependsOn: string[],
  ) {
    this.readiness = `proxy_arp, forwarding and proxy_delay=0 on ${cfg.hostInterface.name}`;
  }

  attach(signals: ComponentSignals): void {
    this.signals = signals;
  }

  /** Set by start() (enableKernelArpProxy reads its writes back): the next probe takes that read. */
  private startRead = false;

  async start(): Promise<void> {
    this.startRead = false;
    await enableKernelArpProxy(this.cfg.datapath.netns, this.cfg.hostInterface.name);
    this.startRead = true;
  }

  async probe(): Promise<Probe> {
    const fromStart = this.startRead;
    this.startRead = false;
    if (fromStart) return { ready: true };
    return this.read();
  }

  async reconcile(): Promise<void> {
    if ((await this.read()).ready) return;
    await this.start();
    this.signals?.note(
      this.name,
      "restart",
      `re-applied ${this.readiness} (changed behind the daemon's back)`,
    );
  }

  async stop(): Promise<void> {
    this.startRead = false;
  }

  details(): ComponentDetails {
    return noProcessDetails();
  }

  private async read(): Promise<Probe> {
    const s = await kernelArpProxyState(this.cfg.datapath.netns, this.cfg.hostInterface.name);
    return s.ok ? { ready: true } : { ready: false, waitingFor: this.readiness };
  }
}

/**
 * arp-proxy, binary mode: `ARP_PROXY_IF=TAP_0 arp_proxy` as a supervised child (the guide starts it
 * with `&`). It has no readiness signal of its own: ready when it runs (its interface is ready
 * before it starts, by dependency).
 */
export function binaryArpProxy(
  cfg: Config,
  dependsOn: string[],
  env: NodeJS.ProcessEnv,
  store: StateStore | null,
  log: Logger,
): ProcessComponent {
  const cmd = arpProxyCommand(cfg.arpProxy.binary, cfg.hostInterface.name);
  return new ProcessComponent(
    {
      name: "arp-proxy",
      dependsOn,
      readiness: `arp_proxy to run on ${cfg.hostInterface.name}`,
      argv: cmd.argv,
      env: { ...env, ...cmd.env },
      netns: cfg.datapath.netns,
      logFile: `${cfg.logDir}/arp-proxy.log`,
      pidFile: `${cfg.runDir}/arp-proxy.pid`,
      probe: async () => ({ ready: true }),
    },
    cfg.supervisor,
    store,
    log,
  );
}
