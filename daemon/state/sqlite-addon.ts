/**
 * better-sqlite3's compiled addon, named by its path. Without it the package's loader (`bindings`)
 * tries a dozen candidate directories, a stat and a path join each, before it finds the file: 5-15 ms
 * of every start on a small node (measured: first open 5-15 ms against 2-6 ms by path). Where the
 * addon is not in npm's layout, the package's own search runs as before.
 */
let found: string | null | undefined;

export function sqliteAddon(): { nativeBinding?: string } {
  if (found === undefined) {
    try {
      found = require.resolve("better-sqlite3/build/Release/better_sqlite3.node");
    } catch {
      found = null;
    }
  }
  return found ? { nativeBinding: found } : {};
}
