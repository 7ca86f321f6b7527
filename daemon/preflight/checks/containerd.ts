import { stringify as stringifyToml } from "smol-toml";
import { fileChange } from "../file-change";
import { getIn, parseTomlFile, type Table } from "../parsers";
import type { Check, CheckContext, Planned } from "../types";

const CONTAINERD_CONFIG = "/etc/containerd/config.toml";

/** Where the runc options table is, by config version (1: containerd 1.x without version, 2, 3). */
function runcOptionsPath(version: unknown): string[] {
  if (version === 3)
    return ["plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runc", "options"];
  if (version === 2)
    return ["plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options"];
  return ["plugins", "cri", "containerd", "runtimes", "runc", "options"];
}

/**
 * The names `disabled_plugins` turns CRI off with: the short id ("cri", what containerd.io's stock
 * config.toml lists), the 1.x/2.x grpc id, and containerd 2's split CRI plugins.
 */
const CRI_IDS = new Set([
  "cri",
  "io.containerd.grpc.v1.cri",
  "io.containerd.cri.v1.runtime",
  "io.containerd.cri.v1.images",
]);

const parseContainerd = (text: string) => parseTomlFile(CONTAINERD_CONFIG, text);

function state({ fs }: CheckContext) {
  const text = fs.read(CONTAINERD_CONFIG);
  const t: Table | null = text === null ? null : parseContainerd(text);
  const disabled = Array.isArray(t?.disabled_plugins) ? (t.disabled_plugins as unknown[]) : [];
  const path = runcOptionsPath(t?.version);
  return {
    text,
    t,
    path,
    criDisabled: disabled.filter((p): p is string => typeof p === "string" && CRI_IDS.has(p)),
    systemdCgroup: t === null ? undefined : getIn(t, [...path, "SystemdCgroup"]),
  };
}

/**
 * containerd: config.toml leaves CRI on (kubelet talks to containerd through it; containerd.io's
 * stock file has `disabled_plugins = ["cri"]`) and sets SystemdCgroup = true in the runc options
 * table (kubelet's cgroup driver is systemd). The fix parses the TOML, drops the CRI ids from
 * disabled_plugins, sets SystemdCgroup and writes every other setting back (comments and layout
 * are not kept; the original stays as config.toml.k8s-offloadd.bak). A running containerd reads it
 * only when it starts: the fix report says whether it must be restarted.
 * Tests: test/unit/preflight.test.ts "containerd without SystemdCgroup: …" (the scenario loop),
 * "the containerd fix keeps every other setting (…)", "containerd: the distribution's `containerd
 * config default`, fixed, read back by containerd", "a fix that cannot be written (read-only
 * mount): …", "the dry run lists exactly what …"; test/unit/containerd-cri.test.ts (the stock
 * containerd.io file: CRI off in a real containerd before the fix, loaded after it).
 */
export const containerd: Check = {
  id: "containerd",
  fixable: true,
  expected: () =>
    `${CONTAINERD_CONFIG} leaves CRI enabled (not in disabled_plugins) and sets SystemdCgroup = true in the runc options table`,
  run: (ctx) => {
    let s: ReturnType<typeof state>;
    try {
      s = state(ctx);
    } catch (err) {
      return { status: "fail", observed: (err as Error).message };
    }
    if (s.text === null)
      return {
        status: "fail",
        observed: `${CONTAINERD_CONFIG} missing (containerd's default is SystemdCgroup = false)`,
      };
    const where = `${s.path.map((k) => (k.includes(".") ? `"${k}"` : k)).join(".")}.SystemdCgroup`;
    const v = s.systemdCgroup;
    const seen = [`${where} = ${v === undefined ? "(not set)" : String(v)}`];
    if (s.criDisabled.length > 0)
      seen.unshift(`CRI disabled: disabled_plugins lists ${s.criDisabled.map((p) => `"${p}"`).join(", ")}`);
    return { status: v === true && s.criDisabled.length === 0 ? "pass" : "fail", observed: seen.join("; ") };
  },
  plan: (ctx): Planned[] => {
    const s = state(ctx);
    if (s.systemdCgroup === true && s.criDisabled.length === 0) return [];
    const t: Table = s.t ?? { version: 2 };
    if (s.criDisabled.length > 0) {
      t.disabled_plugins = (t.disabled_plugins as unknown[]).filter(
        (p) => !(typeof p === "string" && CRI_IDS.has(p)),
      );
    }
    let cur = t;
    for (const k of s.path) {
      const next = cur[k];
      if (next === undefined) cur[k] = {};
      else if (typeof next !== "object" || next === null || Array.isArray(next)) {
        throw new Error(`${CONTAINERD_CONFIG}: ${k} is not a table`);
      }
      cur = cur[k] as Table;
    }
    cur.SystemdCgroup = true;
    // Every setting is kept (parsed and written back); comments and layout are not, which is why
    // the original stays beside it as config.toml.k8s-offloadd.bak.
    const change = fileChange(ctx.fs, CONTAINERD_CONFIG, s.text, `${stringifyToml(t)}\n`);
    return [{ ...change, readBy: "containerd" }];
  },
};
