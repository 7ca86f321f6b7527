/** Plain-text tables: columns padded to their widest cell, the last column left ragged. */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows].map((r) => r.map((c) => oneLine(c)));
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** Cells stay on one line: a multi-line message shows its first line and how many more there are. */
function oneLine(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  if (lines.length <= 1) return lines[0] ?? "";
  return `${lines[0]} (+${lines.length - 1} lines)`;
}

/** "3d 4h", "2h 5m", "4m 10s", "12s". */
export function duration(sec: number): string {
  const units: [number, string][] = [
    [86400, "d"],
    [3600, "h"],
    [60, "m"],
    [1, "s"],
  ];
  const parts: string[] = [];
  let rest = Math.max(0, Math.floor(sec));
  for (const [size, name] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || (size === 1 && parts.length === 0)) parts.push(`${n}${name}`);
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}
