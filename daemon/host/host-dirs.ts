/**
 * Removal of whole host directories below host.root (the guide's teardown: /etc/kubernetes,
 * /var/lib/kubelet, ...). Only the exact paths given are removed; a symlink is removed itself, never
 * followed, and a path whose parent resolves outside the root is refused.
 */
import { lstatSync, realpathSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, normalize, resolve, sep } from "node:path";

export interface DirsRemoved {
  removed: string[];
  absent: string[];
  /** One line per path that could not be removed; the others were still tried. */
  errors: string[];
}

/** The daemon's own home directory ($HOME, else the password database's): the guide's $HOME/.kube. */
export function daemonHome(): string {
  return homedir();
}

/** Removes each host path (absolute, normalized) below root, going on past the ones it cannot remove. */
export function removeHostDirs(root: string, paths: readonly string[]): DirsRemoved {
  const realRoot = realpathSync(resolve(root));
  const out: DirsRemoved = { removed: [], absent: [], errors: [] };
  for (const p of paths) {
    try {
      if (removeOne(realRoot, p)) out.removed.push(p);
      else out.absent.push(p);
    } catch (err) {
      out.errors.push((err as Error).message);
    }
  }
  return out;
}

/** true: removed; false: it was not there. */
function removeOne(realRoot: string, p: string): boolean {
  if (!p.startsWith("/") || normalize(p) !== p || p === "/" || p.endsWith("/"))
    throw new Error(`refusing to remove ${JSON.stringify(p)}: not a normalized absolute path below /`);
  const target = join(realRoot, p);
  let parent: string;
  try {
    lstatSync(target);
    parent = realpathSync(dirname(target));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw new Error(`cannot remove ${p}: ${code ?? (err as Error).message}`);
  }
  // /var/run is often a symlink to /run: fine below the root, refused when it leads out of it.
  if (realRoot !== sep && parent !== realRoot && !parent.startsWith(`${realRoot}${sep}`))
    throw new Error(`refusing to remove ${p}: its parent resolves to ${parent}, outside ${realRoot}`);
  try {
    rmSync(join(parent, basename(target)), { recursive: true, force: true });
  } catch (err) {
    throw new Error(`cannot remove ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return true;
}
