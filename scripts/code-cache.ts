/**
 * `node dist/scripts/code-cache.js BUNDLE [ARGS...]`: runs BUNDLE (an esbuild bundle, e.g.
 * dist/bundle/k8s-offloadd.main.js) with ARGS (scripts/bundle.ts WARM_UP: its whole start-up, nothing
 * else) the way its loader does, and as the process exits writes V8's code cache of everything compiled
 * so far to BUNDLE.cache. The loader (scripts/bundle.ts LOADER) hands that cache to V8, which then
 * neither parses the bundle nor compiles its start-up functions again. A cache made by another Node.js
 * build is rejected by V8 and the loader simply compiles (nothing breaks, it is only slower).
 */
import { readFileSync, writeFileSync } from "node:fs";
import Module from "node:module";
import { dirname, resolve } from "node:path";
import { constants, Script } from "node:vm";

const [file, ...args] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: code-cache BUNDLE [ARGS...]\n");
  process.exit(2);
}
const bundle = resolve(file);
const script = new Script(Module.wrap(readFileSync(bundle, "utf8")), {
  filename: bundle,
  importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
process.argv = [process.argv[0] as string, bundle, ...args];
process.on("exit", () => writeFileSync(`${bundle}.cache`, script.createCachedData()));
const m = new Module(bundle);
m.filename = bundle;
m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(
  dirname(bundle),
);
script.runInThisContext()(m.exports, Module.createRequire(bundle), m, bundle, dirname(bundle));
