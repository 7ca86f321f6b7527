import type { Logger } from "pino";
import {
  type Component,
  type ComponentDetails,
  type ComponentSignals,
  noProcessDetails,
  type Probe,
} from "../engine/component";
import type { CreateHooks } from "../host/gnmi-client";
import { type LinkInfo, listLinks, warmLinkListing } from "../host/links";
import { type FoundTap, findTapsByMac, netnsExists } from "../host/tap-locator";
import type { StateStore, TapPlacement, TapRecord } from "../state/store";
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
  /** An event when fewer pool TAPs than this are available (0: never). */
  lowWatermark?: number;
  /**
   * The ports the pool had made died (a target restart: a new datapath generation), called before the
   * pool is made again, with the TAPs pods held (and the netns they were last seen in).
   */
  onPortsDied?: (podTaps: { tap: string; netns: string | null }[]) => void;
}

/**
 * Where one TAP of the pool is:
 * - available: in the datapath's namespace under its pool name, for the CNI agent to take;
 * - host: port 0, the host interface's (renamed TAP_0 by the host-interface component);
 * - in-use: made, and moved out of the datapath's namespace (a pod has it), or renamed there;
 * - lost: made (configured in the target), its kernel side gone (deleted, or died with a pod's
 *   netns); a gNMI port stays configured until the target restarts and cannot be made again;
 * - missing: not made (yet): being created, or the target lost it.
 */
export type TapState = "available" | "host" | "in-use" | "lost" | "missing";

export interface TapView {
  /** The pool name, P4TAP_<index>. */
  name: string;
  index: number;
  state: TapState;
  /** Its kernel name now (TAP_0, eth0 in a pod), null when not found. */
  kernelName: string | null;
  /** The named namespace holding it; null: the host's own namespace, or not known. */
  netns: string | null;
  ifindex: number | null;
  mac: string | null;
  operState: string | null;
  createdByUs: boolean;
  backend: string;
}

export interface TapCounts {
  available: number;
  inUse: number;
  lost: number;
  missing: number;
  host: number;
}

/**
 * The TAP pool P4TAP_0..N-1, made in name order (P4-OVS numbers ports in the order they are added,
 * the infra manager takes the number from the name).
 *
 * Ready when the backend has made every port: gNMI, the target reads port-type back as set for each
 * (one GetRequest); kernel, every TAP has a record of this kernel generation. NOT "every name is in
 * the datapath's namespace": the CNI agent moves TAPs into pods (in use). A TAP that left is never
 * made again while the target runs (gNMI: every port leaf is one-time until ovs-vswitchd restarts);
 * only a target restart, which takes every port with it, makes the pool whole again, in order. The
 * kernel backend makes a lost TAP (gone from every namespace) again: kernel TAPs have no one-time
 * configuration, and nothing else would give it back.
 *
 * Records are written ahead: "creating" before a TAP is made, "created" once it is; TAPs of the pool
 * found made without a record are recorded at start.
 */
export class TapPool implements Component {
  readonly name = "taps";
  readonly readiness: string;
  readonly dependsOn: string[];
  private signals: ComponentSignals | null = null;
  private count: number;
  private snapshot: TapView[] = [];
  private below = false;
  /** Where TAPs that left were found, so a routine look does not list every namespace again. */
  private readonly located = new Map<string, FoundTap>();
  private surveying: Promise<unknown> = Promise.resolve();
  /**
   * Set by a start() that ended with every port made as the backend itself read it (its answer, or
   * the read after creating them): the probe the engine makes right after start() takes that read as
   * its own instead of asking the backend again. One probe only; every later one reads.
   */
  private startRead = false;
  /** A list() look queued behind another survey and not begun yet: later list() calls join it. */
  private queuedList: Promise<TapView[]> | null = null;

  constructor(private readonly opts: TapPoolOptions) {
    this.dependsOn = opts.dependsOn;
    this.count = opts.count;
    this.readiness =
      opts.backend.kind === "gnmi"
        ? "the P4 target to have every port of the pool"
        : opts.backend.kind === "dpdk"
          ? "ovs-vswitchd to have every DPDK TAP port of the pool (EAL up, an ofport each, no error)"
          : "every TAP of the pool to be made in this kernel generation";
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
    this.startRead = false;
    const b = this.opts.backend;
    const names = this.names();
    // gNMI: the target says what is made, and stale TAPs are not ours to remove (they go with the
    // target): no listing of the namespace here; the look at the end lists it through the
    // namespace's long-lived `ip` reader, started while the target makes the ports.
    // A pool the database has no record of (the node's first start, or a lost database): nothing the
    // target's answer feeds below can exist (records to confirm, ports that died, pods that lost
    // theirs), so a backend that may (gnmi) starts making it without that read, one round trip less;
    // a port the target has already is found by its first request failing, then read back.
    const known = this.opts.store ? this.records() : null;
    const unseen = known !== null && b.presumeNone !== undefined && names.every((n) => !known.has(n));
    const said = unseen && b.presumeNone ? b.presumeNone(names) : await b.configured(names);
    const links = said === null || b.kind === "kernel" ? await listLinks(this.opts.netns) : null;
    const removed = links ? await this.removeStale(links) : false;
    const records = this.records();
    const made = await this.madeNow(names, records, links, said);
    // Made without a record (a daemon killed between the Set and its record, or a database lost):
    // ours from now on.
    const unrecorded = names.filter((n) => made.has(n) && !records.has(n));
    if (unrecorded.length > 0) {
      this.opts.store?.recordTaps(unrecorded, b.kind, "created", b.generation());
      this.opts.log.info({ component: this.name, names: unrecorded }, "recorded TAPs found without a record");
    }
    const ahead = names.filter((n) => made.has(n) && records.get(n)?.state === "creating");
    if (ahead.length > 0) this.opts.store?.confirmTaps(ahead, b.kind);
    // Made again by the target itself under a run other than the one recorded (dpdk: a restarted
    // vswitchd makes its ports from its database): new TAPs, the old ones died with the old run.
    const gen = said === null ? null : b.generation();
    const runOf = (n: string) => records.get(n)?.generation ?? null;
    const reborn = names.filter((n) => {
      const r = records.get(n);
      return gen !== null && made.has(n) && r?.state === "created" && runOf(n) !== null && runOf(n) !== gen;
    });
    // Recorded as made, not made now: the target restarted (or the kernel generation changed) and
    // every port died with it, also those pods had.
    const died = names.filter(
      (n) => (!made.has(n) && records.get(n)?.state === "created") || reborn.includes(n),
    );
    const podsLost = died.filter((n) => {
      const p = records.get(n)?.placement;
      return p === "in-use" || p === "lost";
    });
    const missing = names.filter((n) => !made.has(n));
    if (died.length > 0) {
      const netnsOf = (n: string) => {
        const r = records.get(n);
        return r ? lastPodNetns(r) : null;
      };
      this.opts.onPortsDied?.(podsLost.map((tap) => ({ tap, netns: netnsOf(tap) })));
    }
    // Fresh records of this run (where they were is of the dead TAPs); a record without a run (made
    // before runs were recorded, or found unrecorded while the run was not known) gets this one.
    if (reborn.length > 0) this.opts.store?.recordTaps(reborn, b.kind, "created", gen);
    const unstamped = names.filter((n) => gen !== null && made.has(n) && records.has(n) && runOf(n) === null);
    if (unstamped.length > 0) this.opts.store?.stampTaps(unstamped, gen as string);
    // The namespace listed for the look below while the backend reads its ports back (dpdk).
    let listed: Promise<LinkInfo[]> | undefined;
    const listNow = () => {
      listed = listLinks(this.opts.netns);
      listed.catch(() => undefined);
    };
    // After the request is handed to grpc-js (setImmediate): the reader's spawn blocks this process
    // until `ip` runs, which then overlaps the target's work instead of delaying the request.
    let warmed = false;
    const sent =
      b.kind === "gnmi"
        ? () => {
            if (warmed) return;
            warmed = true;
            setImmediate(() => warmLinkListing(this.opts.netns));
          }
        : undefined;
    if (missing.length > 0) await this.create(b.kind === "gnmi" ? names : missing, made, listNow, sent);
    // kernel: the namespace as the creating batch listed it, or as listed above when nothing changed.
    const fresh =
      b.kind !== "kernel" ? null : missing.length > 0 ? b.takeListing?.() : removed ? null : links;
    if (!listed && fresh) listed = Promise.resolve(fresh);
    if (died.length > 0) {
      this.signals?.note(
        this.name,
        "restart",
        reborn.length > 0 && missing.length === 0
          ? `ovs-vswitchd made the pool's ports again itself (${names[0]}..${names.at(-1)}): ${died.length} of them had died with its restart`
          : `made the pool again in order (${names[0]}..${names.at(-1)}): ${died.length} of its ports had died with the ${diedWith(b.kind)}`,
      );
    }
    if (podsLost.length > 0) {
      this.signals?.note(
        this.name,
        "warning",
        `pods lost their TAPs ${podsLost.join(", ")}: they died with the ${diedWith(b.kind)}; those pods need to be recreated`,
      );
    }
    for (const n of names) this.located.delete(n);
    // Every one is made now (created, or found made): the look needs no second read of the target.
    await this.survey(true, new Set(names), listed);
    this.startRead = true;
  }

  async probe(): Promise<Probe> {
    // Still the same datapath process (dpdk: the recorded vswitchd runs; no spawn to know it).
    const fromStart = this.startRead && this.opts.backend.running?.() !== false;
    this.startRead = false;
    if (fromStart) return { ready: true };
    const names = this.names();
    const made = await this.madeNow(names, this.records(), null);
    const missing = names.filter((n) => !made.has(n));
    if (missing.length === 0) return { ready: true };
    const some = missing.slice(0, 4).join(", ") + (missing.length > 4 ? ", ..." : "");
    const what = {
      gnmi: "ports to be made in the P4 target",
      dpdk: "DPDK TAP ports to be set up by ovs-vswitchd",
      kernel: "TAPs to be made",
    }[this.opts.backend.kind];
    return { ready: false, waitingFor: `${missing.length} of ${this.count} ${what} (${some})` };
  }

  /**
   * Runs while ready: looks where every TAP is (history gets TAPs lost and the low watermark). Makes
   * what the backend says is not made (the target lost its ports without the engine seeing it
   * restart), in order. The kernel backend also makes lost TAPs again; a gNMI port never.
   */
  async reconcile(): Promise<void> {
    const views = await this.survey(false);
    const missing = views.filter((v) => v.state === "missing").map((v) => v.name);
    const lost = this.opts.backend.recreatesLost
      ? views.filter((v) => v.state === "lost").map((v) => v.name)
      : [];
    if (missing.length === 0 && lost.length === 0) return;
    // The target died meanwhile (dpdk: vswitchd): nothing can be made now, and its restart is start()'s.
    if (this.opts.backend.running?.() === false) return;
    if (lost.length > 0) this.opts.store?.forgetTaps(lost);
    const again = [...missing, ...lost].sort((a, b) => this.index(a) - this.index(b));
    await this.create(this.opts.backend.kind === "gnmi" ? this.names() : again);
    this.signals?.note(
      this.name,
      "restart",
      `re-created ${again.join(", ")} (${lost.length > 0 ? "deleted behind the daemon's back" : "not made in the target"})`,
    );
    await this.survey(false);
  }

  /** Grow or shrink the pool (shrinking removes the highest-numbered TAPs). Count is validated by the caller. */
  async resize(count: number): Promise<void> {
    this.startRead = false;
    if (count > this.count) {
      const all = this.names(count);
      await this.create(this.opts.backend.kind === "gnmi" ? all : all.slice(this.count));
    } else if (count < this.count) {
      const removed = this.names().slice(count).reverse();
      await this.opts.backend.remove(removed);
      this.opts.store?.forgetTaps(removed);
    }
    this.count = count;
    await this.survey(false);
  }

  async stop(): Promise<void> {
    this.startRead = false;
    const ours = this.opts.store?.taps().map((t) => t.name) ?? [];
    const links = await listLinks(this.opts.netns);
    const present = new Set(links.map((l) => l.name));
    const zero = this.index0(links);
    const toRemove = ours.map((n) => (n === `${this.opts.prefix}0` ? zero : n)).filter((n) => present.has(n));
    if (this.opts.backend.kind === "kernel" && toRemove.length > 0) await this.opts.backend.remove(toRemove);
    this.opts.store?.forgetTaps(ours);
    this.located.clear();
    this.snapshot = [];
  }

  details(): ComponentDetails {
    return noProcessDetails();
  }

  /**
   * Every TAP of the pool and where it is now (lists namespaces to find the ones that left). Callers
   * that come while a look for an earlier one still waits its turn share that look: it starts after
   * each of them asked, so each answer is as fresh as its own would be, with one listing for all.
   */
  list(): Promise<TapView[]> {
    if (this.queuedList) return this.queuedList;
    const look = this.survey(true, undefined, undefined, () => {
      if (this.queuedList === look) this.queuedList = null;
    });
    this.queuedList = look;
    return look;
  }

  /** Counts from the last look (start, reconcile, list): for /metrics, no work at scrape time. */
  counts(): TapCounts {
    const c: TapCounts = { available: 0, inUse: 0, lost: 0, missing: 0, host: 0 };
    for (const v of this.snapshot) {
      if (v.state === "available") c.available++;
      else if (v.state === "in-use") c.inUse++;
      else if (v.state === "lost") c.lost++;
      else if (v.state === "missing") c.missing++;
      else c.host++;
    }
    return c;
  }

  private index(name: string): number {
    return Number(name.slice(this.opts.prefix.length));
  }

  private records(): Map<string, TapRecord> {
    return new Map((this.opts.store?.taps() ?? []).map((r) => [r.name, r]));
  }

  /**
   * The names the backend has made now. gNMI: the target's read-back. Kernel: a "created" record of
   * this generation, or a TAP of the pool's link group in the namespace under its name.
   */
  private async madeNow(
    names: readonly string[],
    records: Map<string, TapRecord>,
    links: LinkInfo[] | null,
    answer?: Set<string> | null,
  ): Promise<Set<string>> {
    const b = this.opts.backend;
    const said = answer === undefined ? await b.configured(names) : answer;
    if (said) return said;
    const gen = b.generation();
    const made = new Set(
      names.filter((n) => {
        const r = records.get(n);
        return r?.state === "created" && r.backend === b.kind && r.generation === gen;
      }),
    );
    if (links) {
      const zero = this.index0(links);
      const byName = new Map(links.map((l) => [l.name, l]));
      names.forEach((n, i) => {
        const l = byName.get(i === 0 ? zero : n);
        if (l && (b.owns?.(l) || l.name === zero)) made.add(n);
      });
    }
    return made;
  }

  /**
   * Make `names` (`made`: those configured() has just said are made). Records are written ahead in
   * one transaction, "creating" for every TAP this may send, before the first is sent; confirmations
   * are gathered and written once at the end (also when creation fails): a daemon killed in between
   * finds TAPs made under a "creating" record at its next start and confirms them there. A per-batch
   * write with its fsync cost more than making the TAPs it recorded.
   */
  private async create(
    names: string[],
    made?: ReadonlySet<string>,
    applied?: () => void,
    sent?: () => void,
  ): Promise<void> {
    const b = this.opts.backend;
    const store = this.opts.store;
    const gen = b.generation();
    const recs = this.records();
    // What the database says for this creation: "creating" written here, or done and to be confirmed.
    const creating = new Set(names.filter((n) => !made?.has(n) && recs.get(n)?.state !== "creating"));
    if (creating.size > 0) store?.recordTaps([...creating], b.kind, "creating", gen);
    for (const n of names) if (recs.get(n)?.state === "creating") creating.add(n);
    const toConfirm = new Set<string>();
    const confirm = () => {
      if (toConfirm.size === 0) return;
      const now = this.records();
      const fresh = [...toConfirm].filter((n) => !now.has(n));
      if (fresh.length > 0) store?.recordTaps(fresh, b.kind, "created", gen);
      const known = [...toConfirm].filter((n) => now.has(n));
      if (known.length > 0) store?.confirmTaps(known, b.kind);
      toConfirm.clear();
    };
    const hooks: CreateHooks = {
      sending: (ns) => {
        sent?.();
        // Sent again after a read-back (the target restarted): not confirmed before it is made again.
        for (const n of ns) toConfirm.delete(n);
        const fresh = ns.filter((n) => !creating.has(n));
        if (fresh.length === 0) return;
        store?.recordTaps(fresh, b.kind, "creating", gen);
        for (const n of fresh) creating.add(n);
      },
      done: (ns) => {
        for (const n of ns) toConfirm.add(n);
      },
      applied: () => applied?.(),
      recovered: (err, progress) =>
        this.opts.log.warn(
          {
            component: this.name,
            err: err instanceof Error ? err.message : String(err),
            complete: progress.filter((p) => p.complete).length,
          },
          "gNMI Set failed; read the ports back, going on from the first leaf not set",
        ),
    };
    try {
      await b.create(names, hooks, made);
    } finally {
      confirm();
    }
    this.opts.log.info({ component: this.name, count: names.length }, "made TAPs");
  }

  /**
   * One look at every TAP of the pool, one at a time (events are said once). `made`: the backend's
   * answer when the caller has just had it (start, right after making the pool). `listed`: the
   * namespace's links, listed after the pool was made (start: while the backend read its ports back).
   */
  private survey(
    fresh: boolean,
    made?: Set<string>,
    listed?: Promise<LinkInfo[]>,
    begins?: () => void,
  ): Promise<TapView[]> {
    const run = this.surveying.then(() => {
      begins?.();
      return this.surveyNow(fresh, made, listed);
    });
    this.surveying = run.catch(() => undefined);
    return run;
  }

  private async surveyNow(
    fresh: boolean,
    known?: Set<string>,
    listed?: Promise<LinkInfo[]>,
  ): Promise<TapView[]> {
    const b = this.opts.backend;
    const dp = this.opts.netns;
    const links = await (listed ?? listLinks(dp));
    const names = this.names();
    const records = this.records();
    // The target may be away (restarting, or the datapath down): then the records say what was made.
    let answered = true;
    const made = await this.madeNow(names, records, links, known).catch(() => {
      answered = false;
      return new Set(names.filter((n) => records.get(n)?.state === "created"));
    });
    const zero = this.index0(links);
    const byName = new Map(links.map((l) => [l.name, l]));
    const byMac = new Map(links.filter((l) => l.kind === "tap" && l.mac).map((l) => [l.mac as string, l]));
    const views: TapView[] = [];
    const away: TapView[] = [];
    names.forEach((name, index) => {
      const rec = records.get(name);
      const v: TapView = {
        name,
        index,
        state: "missing",
        kernelName: null,
        netns: null,
        ifindex: null,
        mac: rec?.mac ?? null,
        operState: null,
        createdByUs: rec !== undefined,
        backend: b.kind,
      };
      views.push(v);
      const kname = index === 0 ? zero : name;
      const link = byName.get(kname);
      if (link) {
        // Port 0 is the host interface's (the host-interface component renames it): never for pods.
        const host = index === 0 && this.opts.hostInterfaceName !== null;
        Object.assign(v, this.at(link, dp), { state: host ? "host" : "available" });
      } else if (made.has(name)) {
        away.push(v);
      }
    });
    const unknown: TapView[] = [];
    for (const v of away) {
      const renamed = v.mac ? byMac.get(v.mac) : undefined;
      const cached = this.located.get(v.name);
      if (renamed) Object.assign(v, this.at(renamed, dp), { state: "in-use" });
      else if (cached && !fresh && netnsExists(cached.netns))
        Object.assign(v, { state: "in-use", kernelName: cached.name, netns: cached.netns });
      else unknown.push(v);
    }
    const macs = new Set(unknown.flatMap((v) => (v.mac ? [v.mac] : [])));
    const found = macs.size > 0 ? await findTapsByMac(macs, dp) : new Map<string, FoundTap>();
    for (const v of unknown) {
      const f = v.mac ? found.get(v.mac) : undefined;
      if (f) {
        this.located.set(v.name, f);
        Object.assign(v, {
          state: "in-use",
          kernelName: f.name,
          netns: f.netns,
          ifindex: f.ifindex,
          operState: f.operState,
        });
      } else {
        this.located.delete(v.name);
        // Without the MAC it had here (made and taken before this daemon ever saw it) it cannot be
        // looked for: in use somewhere, not lost.
        v.state = v.mac ? "lost" : "in-use";
      }
    }
    this.snapshot = views;
    // TAPs newly gone are lost only if the target answered after the look: one being killed takes its
    // TAPs down first, while it still shows as running (seen with ovs-vswitchd-dpdk under load), and
    // the pods' TAPs that die with it must stay "in use" for the report after its restart.
    // Nor are TAPs made by an earlier run of the target: they died with its restart, and a new run
    // that answers may not have made its own yet (ovs-vswitchd-dpdk makes them from its database);
    // the pool's next start says which pods lost theirs. Read after answers(): the run that answered.
    const gone = views.filter((v) => v.state === "lost" && records.get(v.name)?.placement !== "lost");
    if (gone.length > 0) {
      const answers = answered && ((await b.answers?.()) ?? true);
      const run = answers ? b.generation() : null;
      const earlier = gone.filter((v) => {
        const madeIn = records.get(v.name)?.generation ?? null;
        return run !== null && madeIn !== null && madeIn !== run;
      });
      if (!answers || earlier.length > 0) {
        this.opts.log.info(
          { component: this.name, names: gone.map((v) => v.name) },
          answers
            ? "TAPs gone with an earlier run of the target: not taken for lost (they died with its restart)"
            : "TAPs gone while the target did not answer: not taken for lost (it may be going away)",
        );
        return views;
      }
    }
    this.remember(views, records);
    this.watermark(views);
    return views;
  }

  private at(link: LinkInfo, netns: string | null): Partial<TapView> {
    return {
      kernelName: link.name,
      netns,
      ifindex: link.ifindex,
      mac: link.mac,
      operState: link.operState,
    };
  }

  /** Persist where TAPs are (the next daemon names the TAPs pods lose to a target restart); say losses. */
  private remember(views: TapView[], records: Map<string, TapRecord>): void {
    const changed: TapPlacement[] = [];
    const lost: TapView[] = [];
    for (const v of views) {
      const r = records.get(v.name);
      if (!r || v.state === "missing") continue;
      const mac = v.state === "available" || v.state === "host" ? v.mac : null;
      // A lost TAP's record keeps the pod's namespace it was last seen in (null: it was not in one):
      // the report after a target restart looks up that pod (heal-after-restart.ts).
      const netns = v.state === "lost" ? lastPodNetns(r) : v.netns;
      if (r.placement !== v.state || r.netns !== netns || (mac !== null && mac !== r.mac)) {
        changed.push({ name: v.name, mac, placement: v.state, netns });
        if (v.state === "lost" && r.placement !== "lost") lost.push({ ...v, netns });
      }
    }
    if (changed.length > 0) this.opts.store?.saveTapPlacements(changed);
    if (lost.length > 0) {
      const words = lost.map((v) => (v.netns ? `${v.name} (was in netns ${v.netns})` : v.name)).join(", ");
      const after =
        this.opts.backend.kind === "gnmi"
          ? "its port stays configured in the P4 target and cannot be made again until the target restarts"
          : this.opts.backend.kind === "dpdk"
            ? "its DPDK port stays in ovs-vswitchd and comes back when ovs-vswitchd restarts"
            : "it is made again";
      this.signals?.note(this.name, "warning", `lost ${words}: the kernel side is gone; ${after}`);
    }
  }

  private watermark(views: TapView[]): void {
    const mark = this.opts.lowWatermark ?? 0;
    const available = views.filter((v) => v.state === "available").length;
    const below = available < mark;
    if (below === this.below) return;
    this.below = below;
    const inUse = views.filter((v) => v.state === "in-use").length;
    const lost = views.filter((v) => v.state === "lost").length;
    this.signals?.note(
      this.name,
      below ? "warning" : "restart",
      below
        ? `available TAPs fell below taps.lowWatermark (${mark}): ${available} available, ${inUse} in use, ${lost} lost of ${this.count}`
        : `available TAPs back at taps.lowWatermark (${mark}) or above: ${available} available of ${this.count}`,
    );
  }

  /**
   * TAPs of ours outside the pool: a resize a killed daemon did not finish, a pool that grew before a
   * restart (a resize lasts until then) or a taps.count lowered in the config. Ours: recorded, or in
   * the kernel pool's link group (a daemon killed after `ip -batch` made them but before it recorded
   * them). A kernel pool removes them; a gNMI pool cannot (they go with the target).
   */
  private async removeStale(links: LinkInfo[]): Promise<boolean> {
    if (this.opts.backend.kind !== "kernel") return false;
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
    return gone.length > 0;
  }

  /** The kernel name of port 0: the host interface name once it has been renamed. */
  private index0(links: LinkInfo[]): string {
    const first = `${this.opts.prefix}0`;
    const hi = this.opts.hostInterfaceName;
    return hi && !links.some((l) => l.name === first) && links.some((l) => l.name === hi) ? hi : first;
  }
}

/** What a backend's ports die with. */
function diedWith(kind: string): string {
  if (kind === "gnmi") return "P4 target's restart";
  if (kind === "dpdk") return "restart of ovs-vswitchd";
  return "previous kernel generation";
}

/** The namespace a TAP was last seen in while a pod had it (kept once it is lost); null: none known. */
function lastPodNetns(r: TapRecord): string | null {
  return r.placement === "in-use" || r.placement === "lost" ? r.netns : null;
}
