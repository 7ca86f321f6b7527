import { fileChange } from "../file-change";
import { covered, dropinEnv, noProxyOf, proxyOf } from "../parsers";
import type { Check, CheckContext, Planned } from "../types";

/** Drop-ins apply in file name order (later wins): this one sorts after the usual names. */
const PROXY_DROPIN = "/etc/systemd/system/containerd.service.d/zz-k8s-offloadd-no-proxy.conf";

function proxyState(ctx: CheckContext) {
  const h = ctx.cfg.host;
  const wanted = [
    "localhost",
    "127.0.0.1",
    "0.0.0.0",
    ...(h.nodeIP ? [h.nodeIP] : []),
    h.podCIDR,
    h.serviceCIDR,
  ];
  const sources = [
    { name: "daemon environment", env: ctx.env as Record<string, string | undefined> },
    { name: "containerd drop-ins", env: dropinEnv(ctx.fs, "containerd.service") },
    { name: "docker drop-ins", env: dropinEnv(ctx.fs, "docker.service") },
  ].map((s) => {
    const entries = noProxyOf(s.env);
    return { ...s, proxied: proxyOf(s.env), entries, missing: wanted.filter((w) => !covered(w, entries)) };
  });
  return { wanted, sources };
}

/**
 * proxy: where a proxy is set (the daemon's environment, containerd's or docker's drop-ins, read
 * from /usr/lib/systemd/system and /etc/systemd/system as systemd does),
 * NO_PROXY covers the node's own addresses and CIDRs, or kubeadm and containerd send node traffic to
 * the proxy. Only containerd's drop-in is ours to write (a missing entry there fails; elsewhere it
 * warns): the fix adds a drop-in that sorts last, then runs `systemctl daemon-reload` (so systemd
 * reads it) and says whether containerd runs and must be restarted.
 * Tests: test/unit/preflight.test.ts "containerd proxy without the node in NO_PROXY: …" (the
 * scenario loop), "proxy: a proxy only in the environment without the node in NO_PROXY is a
 * warning", "the dry run lists exactly what …"; test/unit/preflight-node.test.ts "proxy: a drop-in in
 * /usr/lib/systemd/system is read; the fix reloads systemd and says containerd must be restarted".
 */
export const proxy: Check = {
  id: "proxy",
  fixable: true,
  expected: (ctx) => `where a proxy is set, NO_PROXY covers ${proxyState(ctx).wanted.join(", ")}`,
  run: (ctx) => {
    const { sources } = proxyState(ctx);
    const proxied = sources.filter((s) => s.proxied);
    if (proxied.length === 0) return { status: "pass", observed: "no proxy set" };
    const short = proxied.filter((s) => s.missing.length > 0);
    if (short.length === 0)
      return {
        status: "pass",
        observed: `proxy set (${proxied.map((s) => s.name).join(", ")}); NO_PROXY covers the node`,
      };
    const observed = short.map((s) => `${s.name}: NO_PROXY lacks ${s.missing.join(", ")}`).join("; ");
    // Only containerd's drop-in is ours to write; the others are reported.
    return { status: short.some((s) => s.name === "containerd drop-ins") ? "fail" : "warn", observed };
  },
  plan: (ctx): Planned[] => {
    const c = proxyState(ctx).sources.find((s) => s.name === "containerd drop-ins");
    if (!c?.proxied || c.missing.length === 0) return [];
    const list = [...c.entries, ...c.missing].join(",");
    const text =
      "# Written by k8s-offloadd preflight: NO_PROXY must cover the node's own addresses and CIDRs.\n" +
      "# Takes effect after `systemctl daemon-reload && systemctl restart containerd`.\n" +
      `[Service]\nEnvironment="NO_PROXY=${list}" "no_proxy=${list}"\n`;
    const reload = ["daemon-reload"];
    return [
      { ...fileChange(ctx.fs, PROXY_DROPIN, ctx.fs.read(PROXY_DROPIN), text), readBy: "containerd" },
      {
        change: { command: `systemctl ${reload.join(" ")}`, action: "run" },
        apply: async () => {
          await ctx.tools.must("systemctl", reload);
        },
      },
    ];
  },
};
