import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The installed tree's root: the nearest directory above the compiled code holding package.json.
 * Works from the repo (dist/daemon/...) and from the RPM layout (/usr/lib/k8s-offloadd/dist/...).
 */
export function projectRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "migrations"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json with migrations/ above ${from}`);
  }
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8")) as { version: string };
  return pkg.version;
}
