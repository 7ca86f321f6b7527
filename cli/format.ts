/** Human-readable renderings of the API's answers. `--json` bypasses all of this. */
import type {
  CheckResult,
  ComponentStatus,
  FixReport,
  Job,
  JobStep,
  NodeEvent,
  NodeStatus,
  TapPool,
} from "./api-types";
import { duration, table } from "./table";

export function nodeStatus(s: NodeStatus): string {
  const head = [
    `phase:   ${s.phase}`,
    `message: ${s.message}`,
    `daemon:  ${s.version}, profile ${s.profile}, up ${duration(s.uptimeSec)}`,
  ];
  return `${head.join("\n")}\n\n${components(s.components)}`;
}

export function components(list: ComponentStatus[]): string {
  return table(
    ["NAME", "STATE", "PID", "RESTARTS", "MESSAGE"],
    list.map((c) => [c.name, c.state, c.pid === null ? "-" : String(c.pid), String(c.restarts), message(c)]),
  );
}

export function componentLine(c: ComponentStatus): string {
  const pid = c.pid === null ? "" : `, pid ${c.pid}`;
  const err = c.lastError ? `: ${c.lastError}` : "";
  return `${c.name}: ${c.state}${pid}, restarts ${c.restarts}${err}`;
}

function message(c: ComponentStatus): string {
  if (c.lastError) return c.lastError;
  if (c.adopted) return "adopted from an earlier daemon";
  return "";
}

export function taps(p: TapPool): string {
  const rows = p.taps.map((t) => [
    t.name,
    t.state,
    t.kernelName ?? "-",
    t.netns ?? "-",
    t.mac ?? "-",
    t.operState ?? "-",
    t.createdByUs ? "yes" : "no",
  ]);
  const c = p.counts;
  const head = `pool: ${p.count} TAPs, backend ${p.backend}: ${c.available} available, ${c.inUse} in use, ${c.lost} lost`;
  return `${head}\n\n${table(["NAME", "STATE", "KERNEL", "NETNS", "MAC", "OPER", "OURS"], rows)}`;
}

export function event(e: NodeEvent): string {
  return [e.time, `#${e.id}`, e.kind, e.component ?? "-", e.message].join("  ");
}

export function checks(list: CheckResult[]): string {
  return table(
    ["CHECK", "STATUS", "FIX", "OBSERVED", "EXPECTED"],
    list.map((c) => [c.id, c.status, c.fixable ? "yes" : "-", c.observed, c.expected]),
  );
}

export function fixReport(r: FixReport): string {
  const lines: string[] = [];
  const verb = r.dryRun ? "would" : "did";
  if (r.fixes.length === 0) lines.push("nothing to fix");
  for (const f of r.fixes) {
    lines.push(`${f.id}:`);
    for (const c of f.changes) lines.push(`  ${verb} ${c.action} ${c.file ?? c.command ?? ""}`.trimEnd());
    if (f.error) lines.push(`  error: ${f.error}`);
  }
  lines.push("", r.dryRun ? "checks now:" : "checks after the fix:", checks(r.checks));
  return lines.join("\n");
}

/** "step 2/7 kubeadm-reset: succeeded: removed ..." */
export function step(job: Job, s: JobStep): string {
  const i = job.steps.indexOf(s) + 1;
  const msg = s.message ? `: ${s.message}` : "";
  return `step ${i}/${job.steps.length} ${s.name}: ${s.state}${msg}`;
}

export function jobs(list: Job[]): string {
  return table(
    ["ID", "KIND", "STATE", "CREATED", "MESSAGE"],
    list.map((j) => [String(j.id), j.kind, j.state, j.createdAt, j.message ?? ""]),
  );
}

export function jobEnd(job: Job): string {
  const msg = job.message ? `: ${job.message}` : "";
  return `job ${job.id} (${job.kind}) ${job.state}${msg}`;
}
