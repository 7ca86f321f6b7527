import { isAlive } from "../../host/proc";
import type { Check, CheckContext } from "../types";

function neededPorts(ctx: CheckContext): number[] {
  return [9339, 9559, ctx.cfg.api.port];
}

/**
 * firewall: when firewalld runs, its default zone opens the ports the node needs. Report only: the
 * admin owns the firewall.
 * Tests: test/unit/preflight.test.ts "firewall: firewalld running without the ports is a warning
 * naming them", "a passing root: …".
 */
export const firewall: Check = {
  id: "firewall",
  fixable: false,
  expected: (ctx) =>
    `firewalld inactive, or tcp ports ${neededPorts(ctx).join(", ")} open in its default zone`,
  run: (ctx) => {
    const { fs } = ctx;
    const pidText = fs.read("/run/firewalld.pid")?.trim();
    const pid = Number(pidText);
    const active = pidText !== undefined && (!fs.real || (Number.isInteger(pid) && pid > 0 && isAlive(pid)));
    if (!active) return { status: "pass", observed: "firewalld not running" };
    const zone =
      /^\s*DefaultZone\s*=\s*(\S+)/m.exec(fs.read("/etc/firewalld/firewalld.conf") ?? "")?.[1] ?? "public";
    const xml = fs.read(`/etc/firewalld/zones/${zone}.xml`) ?? "";
    const open: [number, number][] = [];
    for (const m of xml.matchAll(/<port\b[^>]*>/g)) {
      const attr = (n: string) => new RegExp(`\\b${n}="([^"]*)"`).exec(m[0])?.[1];
      if (attr("protocol") !== "tcp") continue;
      const [lo, hi] = (attr("port") ?? "").split("-").map(Number);
      if (lo !== undefined && Number.isFinite(lo))
        open.push([lo, hi !== undefined && Number.isFinite(hi) ? hi : lo]);
    }
    const closed = neededPorts(ctx).filter((p) => !open.some(([lo, hi]) => p >= lo && p <= hi));
    if (closed.length === 0)
      return { status: "pass", observed: `firewalld running, zone ${zone} opens the ports` };
    return {
      status: "warn",
      observed: `firewalld running; zone ${zone} does not open tcp ${closed.join(", ")}`,
    };
  },
};
