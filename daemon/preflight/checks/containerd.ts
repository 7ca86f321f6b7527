import { stringify as stringifyToml } from "smol-toml";
import { fileChange } from "../file-change";
import { getIn, parseTomlFile, type Table } from "../parsers";
import type { Check } from "../types";

const CONTAINERD_CONFIG = "/etc/containerd/config.toml";

/** Where the runc options table is, by config version (1: containerd 1.x without version, 2, 3). */
function runcOptionsPath(version: unknown): string[] {
  if (version === 3)
    return ["plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runc", "options"];
  if (version === 2)
    return ["plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options"];
  return ["plugins", "cri", "containerd", "runtimes", "runc", "options"];
}

const parseContainerd = (text: string) => parseTomlFile(CONTAINERD_CONFIG, text);

/**
 * containerd: config.toml sets SystemdCgroup = true in the runc options table (kubelet's cgroup
 * driver is systemd). The fix parses the TOML, sets it and writes every setting back (comments and
 * layout are not kept; the original stays as config.toml.k8s-offloadd.bak).
 * Tests: test/unit/preflight.test.ts "containerd without SystemdCgroup: …" (the scenario loop),
 * "the containerd fix keeps every other setting (…)", "containerd: the distribution's `containerd
 * config default`, fixed, read back by containerd", "a fix that cannot be written (read-only
 * mount): …", "the dry run lists exactly what …".
 */
export const containerd: Check = {
  id: "containerd",
  fixable: true,
  expected: () => `${CONTAINERD_CONFIG} sets SystemdCgroup = true in the runc options table`,
  run: ({ fs }) => {
    const text = fs.read(CONTAINERD_CONFIG);
    if (text === null)
      return {
        status: "fail",
        observed: `${CONTAINERD_CONFIG} missing (containerd's default is SystemdCgroup = false)`,
      };
    let t: Table;
    try {
      t = parseContainerd(text);
    } catch (err) {
      return { status: "fail", observed: (err as Error).message };
    }
    const path = runcOptionsPath(t.version);
    const v = getIn(t, [...path, "SystemdCgroup"]);
    const where = `${path.map((k) => (k.includes(".") ? `"${k}"` : k)).join(".")}.SystemdCgroup`;
    return {
      status: v === true ? "pass" : "fail",
      observed: `${where} = ${v === undefined ? "(not set)" : String(v)}`,
    };
  },
  plan: (ctx) => {
    const before = ctx.fs.read(CONTAINERD_CONFIG);
    const t: Table = before === null ? { version: 2 } : parseContainerd(before);
    const path = runcOptionsPath(t.version);
    if (getIn(t, [...path, "SystemdCgroup"]) === true) return [];
    let cur = t;
    for (const k of path) {
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
    return [fileChange(ctx.fs, CONTAINERD_CONFIG, before, `${stringifyToml(t)}\n`)];
  },
};
