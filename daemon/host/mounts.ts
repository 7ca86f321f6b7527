/**
 * Mount points as the kernel lists them (/proc/self/mountinfo, proc(5)) and the two mount(8) calls a
 * preflight fix makes: a directory bound onto itself (so it is a mount point) and a mount made
 * shared. Argument arrays only, never a shell. Under a fake root nothing is mounted: the fake
 * /proc/self/mountinfo gets the line the kernel would then show (the fake root plays the kernel).
 */
import type { HostFs } from "./hostfs";

export const MOUNTINFO = "/proc/self/mountinfo";

export interface MountEntry {
  id: number;
  parent: number;
  mountPoint: string;
  /** The optional fields: shared:N, master:N, propagate_from:N, unbindable. */
  optional: string[];
  fsType: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040). */
const unoctal = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-", 6);
    if (f.length < 10 || dash < 0) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      mountPoint: unoctal(f[4] ?? ""),
      optional: f.slice(6, dash),
      fsType: f[dash + 1] ?? "",
      source: unoctal(f[dash + 2] ?? ""),
    });
  }
  return out;
}

/** The mount that is seen at `path` (the last one listed there: later mounts cover earlier ones), or null. */
export function mountAt(entries: readonly MountEntry[], path: string): MountEntry | null {
  return entries.filter((e) => e.mountPoint === path).at(-1) ?? null;
}

export const isShared = (e: MountEntry) => e.optional.some((o) => o.startsWith("shared:"));

export class Mounts {
  constructor(private readonly fs: HostFs) {}

  /** The mount table of the daemon's mount namespace (host paths). */
  list(): MountEntry[] {
    return parseMountinfo(this.fs.read(MOUNTINFO) ?? "");
  }

  /** `mount --bind P P`: P becomes a mount point of its own (its propagation can then be set). */
  async bindSelf(path: string): Promise<void> {
    if (this.fs.real) return this.fs.run(["mount", "--bind", path, path]);
    const entries = this.list();
    const id = Math.max(0, ...entries.map((e) => e.id)) + 1;
    this.fakeLine(`${id} 1 0:1 ${path} ${path} rw,relatime - none ${path} rw`);
  }

  /** `mount --make-shared P`: mounts below P propagate to peers (what mountPropagation: Bidirectional needs). */
  async makeShared(path: string): Promise<void> {
    if (this.fs.real) return this.fs.run(["mount", "--make-shared", path]);
    const e = mountAt(this.list(), path);
    if (!e) throw new Error(`mount: ${path}: not mount point or bad option`);
    const text = this.fs.read(MOUNTINFO) ?? "";
    const lines = text.split("\n");
    let at = lines.length - 1;
    while (at >= 0 && lines[at]?.split(" ")[4] !== path) at--;
    const f = (lines[at] ?? "").split(" ");
    f.splice(6, 0, `shared:${e.id}`);
    lines[at] = f.join(" ");
    this.fs.writeKernel(MOUNTINFO, lines.join("\n"));
  }

  private fakeLine(line: string): void {
    const text = this.fs.read(MOUNTINFO) ?? "";
    this.fs.writeKernel(MOUNTINFO, `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${line}\n`);
  }
}
