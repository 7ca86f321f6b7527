import { chassisState, describeNames, poolNames, renameLikeUpstream } from "../../host/chassis-config";
import type { Check, CheckContext, Planned } from "../types";

/** The names create_interfaces.sh renames the stock TAPn ports to (its `sed`), and the infra agent looks for. */
const UPSTREAM_PREFIX = "P4TAP_";

function state({ fs, cfg }: CheckContext) {
  return chassisState(fs, cfg.target.chassisConfig, cfg.taps.prefix, cfg.taps.count);
}

/**
 * chassis-config: every pool name is a port of the chassis config P4-OVS reads at start; otherwise
 * every gNMI Set for it fails. The fix is create_interfaces.sh's `sed -i 's/\bTAP/P4TAP_/g'` on the
 * file, written atomically with the .k8s-offloadd.bak copy the other fixes keep. ovs-vswitchd reads
 * the file when it starts: preflight runs before it, so a fix at bring-up needs no restart.
 * Tests: test/unit/chassis-config.test.ts "preflight chassis-config" (the renamed file passes; the
 * stock file fails, is fixed like sed, then passes; a missing file; a pool larger than the file; a
 * file of the wrong names).
 */
export const chassisConfig: Check = {
  id: "chassis-config",
  fixable: true,
  expected: ({ cfg }) => {
    const names = poolNames(cfg.taps.prefix, cfg.taps.count);
    return `${describeNames(names, cfg.taps.prefix)} named in singleton_ports of ${cfg.target.chassisConfig}`;
  },
  run: (ctx) => {
    const { cfg } = ctx;
    if (cfg.taps.backend !== "gnmi") {
      return { status: "skip", observed: "taps.backend is kernel: no P4 target reads a chassis config" };
    }
    const s = state(ctx);
    if (s.text === null) {
      return { status: "fail", observed: `${s.file} missing (P4-OVS reads its ports from it at start)` };
    }
    const prefix = cfg.taps.prefix;
    if (s.missing.length === 0) {
      return {
        status: "pass",
        observed: `${s.file} names ${describeNames(poolNames(prefix, cfg.taps.count), prefix)} (${s.capacity} pool ports in all)`,
      };
    }
    const notes: string[] = [];
    if (cfg.taps.count > s.capacity) {
      notes.push(`it can hold at most ${s.capacity} pool ports, taps.count is ${cfg.taps.count}`);
    } else if (prefix === UPSTREAM_PREFIX && renameLikeUpstream(s.text) !== s.text) {
      notes.push("the fix renames TAP<n> to P4TAP_<n> as create_interfaces.sh does");
    }
    return {
      status: "fail",
      observed: `${s.file} lacks ${describeNames(s.missing, prefix)}${notes.length > 0 ? ` (${notes.join("; ")})` : ""}`,
    };
  },
  plan: (ctx): Planned[] => {
    const s = state(ctx);
    if (s.text === null) throw new Error(`${s.file} missing: nothing to rename (it comes with P4-OVS)`);
    if (ctx.cfg.taps.prefix !== UPSTREAM_PREFIX) {
      throw new Error(
        `the fix renames TAP<n> to ${UPSTREAM_PREFIX}<n> as create_interfaces.sh does; taps.prefix is ${ctx.cfg.taps.prefix}`,
      );
    }
    const after = renameLikeUpstream(s.text);
    if (after === s.text) {
      if (s.missing.length === 0) return [];
      throw new Error(
        `${s.file} has no TAP<n> port left to rename and still lacks ${describeNames(s.missing, ctx.cfg.taps.prefix)}`,
      );
    }
    return [
      {
        change: { file: s.file, action: "edit", before: s.text, after },
        apply: () => ctx.fs.writeFile(s.file, after),
      },
    ];
  },
};
