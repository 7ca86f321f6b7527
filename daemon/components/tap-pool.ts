import type { Logger } from "pino";
import {
  type Component,
  type ComponentDetails,
  type ComponentSignals,
  noProcessDetails,
  type Probe,
} from "../engine/component";
import { type LinkInfo, listLinks } from "../host/links";
import type { StateStore } from "../state/store";
import type { TapBackend } from "./tap-backends";

export interface TapPoolOptions {
  netns: string | null;
  prefix: string;
  count: number;
  /** Index 0 renamed by the host-interface component (P4TAP_0 → TAP_0) still counts as port 0. */
  hostInterfaceName: string | null;
  backend: TapBackend;
  store: StateStore | null;
  dependsOn: string[];
  log: Logger;
}

/**
 * The TAP pool P4TAP_0..N-1. Ready when every TAP exists in the kernel, checked with ONE link
 * listing (not a process per TAP). start() creates what is missing (all of it after the target
 * restarted: DPDK TAPs die with it); reconcile() re-creates a TAP deleted behind our back.
 */
export class TapPool implements Component {
  readonly name = "taps";
  readonly readiness = "every TAP of the pool to exist in the kernel";
  readonly dependsOn: string[];
  private signals: ComponentSignals | null = null;
  private count: number;

  constructor(private readonly opts: TapPoolOptions) {
    this.dependsOn = opts.dependsOn;
    this.count = opts.count;
  }

  attach(signals: ComponentSignals): void {
    this.signals = signals;
  }

  get size(): number {
    return this.count;
  }

  get backendKind(): string {
    return this.opts.backend.kind;
  }

  names(count = this.count): string[] {
    return Array.from({ length: count }, (_, i) => `${this.opts.prefix}${i}`);
  }

  async start(): Promise<void> {
    const links = await listLinks(this.opts.netns);
    await this.removeStale(links);
    const missing = this.missing(links);
    if (missing.length > 0) await this.create(missing);
  }

  async probe(): Promise<Probe> {
    const missing = this.missing(await listLinks(this.opts.netns));
    if (missing.length === 0) return { ready: true };
    const some = missing.slice(0, 4).join(", ") + (missing.length > 4 ? ", ..." : "");
    return { ready: false, waitingFor: `${missing.length} of ${this.count} TAPs to exist (${some})` };
  }

  /** Runs while ready: a TAP deleted by hand is created again, and the history says so. */
  async reconcile(): Promise<void> {
    const missing = this.missing(await listLinks(this.opts.netns));
    if (missing.length === 0) return;
    await this.create(missing);
    this.signals?.note(
      this.name,
      "restart",
      `re-created ${missing.join(", ")} (deleted behind the daemon's back)`,
    );
  }

  /** Grow or shrink the pool (shrinking removes the highest-numbered TAPs). Count is validated by the caller. */
  async resize(count: number): Promise<void> {
    if (count > this.count) {
      const added = this.names(count).slice(this.count);
      await this.create(added);
    } else if (count < this.count) {
      const removed = this.names().slice(count).reverse();
      await this.opts.backend.remove(removed);
      this.opts.store?.forgetTaps(removed);
    }
    this.count = count;
  }

  async stop(): Promise<void> {
    const ours = this.opts.store?.taps().map((t) => t.name) ?? [];
    const links = await listLinks(this.opts.netns);
    const present = new Set(links.map((l) => l.name));
    const zero = this.index0(links);
    const toRemove = ours.map((n) => (n === `${this.opts.prefix}0` ? zero : n)).filter((n) => present.has(n));
    if (this.opts.backend.kind === "kernel" && toRemove.length > 0) await this.opts.backend.remove(toRemove);
    this.opts.store?.forgetTaps(ours);
  }

  details(): ComponentDetails {
    return noProcessDetails();
  }

  /** The pool's TAPs as the kernel shows them now, with created-by-us from the records. */
  async list(): Promise<Array<LinkInfo & { createdByUs: boolean; backend: string }>> {
    const links = await listLinks(this.opts.netns);
    const ours = new Set(this.opts.store?.taps().map((t) => t.name));
    const zero = this.index0(links);
    // Records keep the name a TAP was created with: port 0 may show as the host interface now.
    const recordName = (n: string) => (n === zero ? `${this.opts.prefix}0` : n);
    const wanted = new Set(this.names().map((n, i) => (i === 0 ? zero : n)));
    return links
      .filter((l) => wanted.has(l.name))
      .map((l) => ({ ...l, createdByUs: ours.has(recordName(l.name)), backend: this.opts.backend.kind }));
  }

  private async create(names: string[]): Promise<void> {
    await this.opts.backend.create(names);
    this.opts.store?.recordTaps(names, this.opts.backend.kind);
    this.opts.log.info({ component: this.name, count: names.length }, "created TAPs");
  }

  /**
   * TAPs of ours outside the pool: a resize a killed daemon did not finish, a pool that grew before a
   * restart (a resize lasts until then) or a taps.count lowered in the config. Ours: recorded, or in
   * the kernel pool's link group (a daemon killed after `ip -batch` made them but before it recorded
   * them). A kernel pool removes them; a gNMI pool cannot (they go with the target).
   */
  private async removeStale(links: LinkInfo[]): Promise<void> {
    if (this.opts.backend.kind !== "kernel") return;
    const wanted = new Set(this.names());
    const zero = this.index0(links);
    const recorded = (this.opts.store?.taps() ?? []).map((t) => t.name).filter((n) => !wanted.has(n));
    const present = new Set(links.map((l) => l.name));
    const owned = links
      .filter((l) => this.opts.backend.owns?.(l) && !wanted.has(l.name) && l.name !== zero)
      .map((l) => l.name);
    const gone = [...new Set([...recorded.filter((n) => present.has(n)), ...owned])];
    if (gone.length > 0) await this.opts.backend.remove(gone);
    if (recorded.length > 0) this.opts.store?.forgetTaps(recorded);
    if (gone.length > 0) {
      const some = gone.slice(0, 4).join(", ") + (gone.length > 4 ? ", ..." : "");
      this.signals?.note(
        this.name,
        "stop",
        `removed ${gone.length} TAPs outside the pool of ${this.count} (${some})`,
      );
    }
  }

  /** The kernel name of port 0: the host interface name once it has been renamed. */
  private index0(links: LinkInfo[]): string {
    const first = `${this.opts.prefix}0`;
    const hi = this.opts.hostInterfaceName;
    return hi && !links.some((l) => l.name === first) && links.some((l) => l.name === hi) ? hi : first;
  }

  private missing(links: LinkInfo[]): string[] {
    const present = new Set(links.map((l) => l.name));
    const zero = this.index0(links);
    return this.names().filter((n, i) => !present.has(i === 0 ? zero : n));
  }
}
