import { ToolNotFoundError } from "../../host/external-tools";
import type { Check, CheckContext } from "../types";

/** What a control-plane node must let in (the kubeadm "Ports and Protocols" list), all tcp. */
const CONTROL_PLANE: { ports: [number, number]; what: string }[] = [
  { ports: [6443, 6443], what: "kube-apiserver" },
  { ports: [10250, 10250], what: "kubelet" },
  { ports: [2379, 2380], what: "etcd" },
  { ports: [10257, 10257], what: "kube-controller-manager" },
  { ports: [10259, 10259], what: "kube-scheduler" },
];
const BGP = { ports: [179, 179] as [number, number], what: "Calico BGP" };

const needed = (ctx: CheckContext) => [...CONTROL_PLANE, ...(ctx.cfg.kubernetes.calicoBgp ? [BGP] : [])];
const show = ([lo, hi]: [number, number]) => (lo === hi ? `${lo}` : `${lo}-${hi}`);
/** A firewalld service name as `--list-services` prints them; nothing that reads as a flag. */
const SERVICE = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;

/** The tcp port ranges in firewall-cmd's "6443/tcp 2379-2380/tcp 53/udp" lists. */
function tcpRanges(words: string): [number, number][] {
  const out: [number, number][] = [];
  for (const w of words.split(/\s+/)) {
    const m = /^(\d+)(?:-(\d+))?\/tcp$/.exec(w);
    if (m) out.push([Number(m[1]), Number(m[2] ?? m[1])]);
  }
  return out;
}

/**
 * firewall: when firewalld runs (`firewall-cmd --state`), its default zone opens what a
 * control-plane node must (6443, 10250, 2379-2380, 10257, 10259; 179 with kubernetes.calicoBgp), as
 * ports (`--list-ports`) or through services (`--list-services`, each `--info-service=S`). Each
 * closed one is named in a warning. No fix: the admin owns the firewall. firewall-cmd is found in
 * kubernetes.toolPath; not there means no firewalld.
 * Tests: test/unit/preflight-node.test.ts "firewall: …" (a stand-in firewall-cmd that records its
 * argv and answers as the real one does), test/unit/preflight.test.ts "a passing root: …".
 */
export const firewall: Check = {
  id: "firewall",
  fixable: false,
  expected: (ctx) =>
    `firewalld not running, or its default zone opens tcp ${needed(ctx)
      .map((n) => `${show(n.ports)} (${n.what})`)
      .join(", ")}`,
  run: async (ctx) => {
    const fc = (args: string[]) => ctx.tools.run("firewall-cmd", args);
    let state: Awaited<ReturnType<typeof fc>>;
    try {
      state = await fc(["--state"]);
    } catch (err) {
      if (err instanceof ToolNotFoundError)
        return { status: "pass", observed: `no firewalld (${err.message})` };
      throw err;
    }
    // firewall-cmd --state: "running" and 0, or "not running" and 252.
    if (state.code !== 0) return { status: "pass", observed: "firewalld not running" };
    const must = async (args: string[]) => {
      const r = await fc(args);
      if (r.code !== 0)
        throw new Error(`firewall-cmd ${args.join(" ")} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
      return r.stdout;
    };
    const open = tcpRanges(await must(["--list-ports"]));
    const services = (await must(["--list-services"])).split(/\s+/).filter((s) => SERVICE.test(s));
    for (const s of services) {
      const info = await must([`--info-service=${s}`]);
      open.push(...tcpRanges(/^\s*ports:(.*)$/m.exec(info)?.[1] ?? ""));
    }
    const closed = needed(ctx).filter((n) => {
      for (let p = n.ports[0]; p <= n.ports[1]; p++)
        if (!open.some(([lo, hi]) => p >= lo && p <= hi)) return true;
      return false;
    });
    if (closed.length === 0)
      return {
        status: "pass",
        observed: "firewalld running; its default zone opens the control-plane ports",
      };
    return {
      status: "warn",
      observed: `firewalld running; its default zone does not open tcp ${closed.map((n) => `${show(n.ports)} (${n.what})`).join(", ")}`,
    };
  },
};
