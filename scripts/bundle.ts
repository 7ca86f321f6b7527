/**
 * `npm run build` (after tsc, which stays the type check): one esbuild bundle per entry point,
 *   dist/bundle/k8s-offloadd.main.js     the daemon (daemon/main.ts)
 *   dist/bundle/k8s-offloadctl.main.js   the CLI (cli/k8s-offloadctl.ts)
 * each run by a small loader beside it (dist/bundle/k8s-offloadd.js, k8s-offloadctl.js: loader()) that
 * hands V8 the code cache made here by running the bundle's start-up once (scripts/code-cache.ts):
 * most of a start is otherwise parsing and compiling the bundle. `npm start`, the tests and the RPM all
 * run these files: what is tested is what is shipped.
 *
 * The native modules (better-sqlite3, unix-dgram) stay external: they are loaded at run time from the
 * node_modules/ beside the bundle (the repository's, or the one the RPM ships with only those two
 * packages and `bindings`, their loader, in it). Their own loaders find their .node file as they always
 * do; nothing is patched, and a .node file stays next to the package.json that says which it is.
 *
 * The config validator is compiled here, ahead of time (precompiledConfigValidator); Ajv compiles
 * the API's route schemas on each route's first request (api/server.ts).
 *
 * What is needed only sometimes is not in these bundles at all but in files of its own beside them
 * (LAZY_CHUNKS: dist/bundle/lazy-grpc.js with grpc-js, proto-loader and protobufjs; lazy-prom-client.js;
 * lazy-swagger.js), read by require() on first use: a node that never talks gRPC nor is scraped never
 * reads, parses or keeps their source (the bundle's source stays in the heap for as long as the process
 * runs).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import Ajv from "ajv";
import standaloneCode from "ajv/dist/standalone";
import { type BuildOptions, build, type Metafile, type Plugin } from "esbuild";
import { configSchema } from "../daemon/config/schema";
import { CONFIG_AJV_OPTIONS } from "../daemon/config/validator";

/** The repository root: the nearest directory above this file holding package.json. */
function repoRoot(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/**
 * Packages bundled into a file of their own (dist/bundle/lazy-NAME.js), required on first use:
 * - grpc: grpc-js and, through proto-loader, protobufjs (a kernel-backend node never talks gRPC). They
 *   are imported statically, so the bundles get a stand-in with one getter per export name (the names
 *   are read here, at build time); the first getter read requires the chunk (`getters`).
 * - prom-client (the first scrape of /metrics) and @fastify/swagger (only when the OpenAPI document is
 *   generated, never by the daemon, which serves the committed file): reached through `await import()`
 *   only, whose stand-in is the chunk's export itself, required when the import runs.
 * Works whoever imports them, however (lazyPackages).
 */
export const LAZY_CHUNKS: Record<string, { packages: readonly string[]; getters: boolean }> = {
  grpc: { packages: ["@grpc/grpc-js", "@grpc/proto-loader"], getters: true },
  "prom-client": { packages: ["prom-client"], getters: false },
  swagger: { packages: ["@fastify/swagger"], getters: false },
};

/** The file of a lazy chunk, beside the bundles. */
export const chunkFile = (chunk: string) => `lazy-${chunk}.js`;

/** Run-time external modules: native code, loaded from node_modules beside the bundle. */
export const NATIVE_MODULES = ["better-sqlite3", "unix-dgram"] as const;

import { DAEMON_NODE_OPTIONS } from "./daemon-node-options";

export { DAEMON_NODE_OPTIONS };

export const ENTRY_POINTS = {
  "k8s-offloadd": "daemon/main.ts",
  "k8s-offloadctl": "cli/k8s-offloadctl.ts",
} as const;

/**
 * Arguments that run an entry point's start-up and nothing else, and the exit code they end with:
 * what ran is what the code cache holds. The daemon runs `--warm-up` (daemon/warm-up.ts) on a copy
 * of profiles/sandbox.yaml in a scratch directory (`dir`): it loads every module of the daemon
 * (fastify, pino, SQLite, the engine; their top-level code runs), parses and validates that config the
 * way every start does (the YAML parser, the validator, the chassis-room and file-mode checks), then
 * opens a state database, makes an engine and builds the API, all in memory, asks the API its polled
 * GETs, and exits 0 having started and written nothing. The copy's relative paths point into the scratch
 * directory, where nothing exists: what the build host holds changes nothing. `--version` alone would
 * cache only main.ts, and V8 would compile all of those again at every start.
 */
const WARM_UP: Record<
  keyof typeof ENTRY_POINTS,
  (dir: string) => { args: string[]; env?: NodeJS.ProcessEnv; exit: number; nodeOptions?: readonly string[] }
> = {
  "k8s-offloadd": (dir) => {
    const config = join(dir, "warm-up", "config.yaml");
    mkdirSync(dirname(config), { recursive: true });
    writeFileSync(config, readFileSync(join(repoRoot(), "profiles/sandbox.yaml")), { mode: 0o644 });
    // Made under the options the daemon runs with: V8 rejects a cache made under other flags
    // (--max-semi-space-size included) and would compile the whole bundle at every start.
    return { args: ["--warm-up", "--config", config], exit: 0, nodeOptions: DAEMON_NODE_OPTIONS };
  },
  // What kubelet's ExecStartPre and the hooks run: the config read (YAML, validation, defaults) and a
  // request, here to a closed port (exit 3, "cannot reach"). The cache is twice --help's (455 KB against
  // 210 KB) but `k8s-offloadctl status` with a config file took 185 ms of CPU instead of 204 (means of
  // 30 runs each, alternated, load ~12): without it the YAML parser and the validator are compiled at
  // every run. --help itself is a little slower (its formatting is compiled at run time).
  "k8s-offloadctl": () => ({
    args: ["--config", join(repoRoot(), "profiles/sandbox.yaml"), "--api", "http://127.0.0.1:1", "status"],
    exit: 3,
  }),
};

/**
 * The loader of NAME.main.js: the same CommonJS wrapper and module object Node would give it, compiled
 * with NAME.main.js.cache when there is one (V8 checks that it fits this source and this runtime, and
 * compiles as usual when not).
 */
export const loader = (name: string) => `#!/usr/bin/env node
"use strict";
// Runs the bundle beside this file with V8's code cache made at build time (scripts/bundle.ts).
const { readFileSync } = require("node:fs");
const Module = require("node:module");
const { join } = require("node:path");
const { constants, Script } = require("node:vm");
const file = join(__dirname, ${JSON.stringify(`${name}.main.js`)});
let cachedData;
try {
  cachedData = readFileSync(\`\${file}.cache\`);
} catch {}
const script = new Script(Module.wrap(readFileSync(file, "utf8")), {
  filename: file,
  cachedData,
  importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
// Compiled: the cache is not needed again.
cachedData = undefined;
const m = new Module(file, module);
m.filename = file;
m.paths = Module._nodeModulePaths(__dirname);
script.runInThisContext().call(m.exports, m.exports, Module.createRequire(file), m, file, __dirname);
`;

/**
 * Replaces daemon/config/validator.ts in the bundle with Ajv standalone code of the same schema and
 * options: the same checks, the same error objects, nothing compiled at start-up.
 */
export function precompiledConfigValidator(root: string): Plugin {
  return {
    name: "precompiled-config-validator",
    setup(b) {
      b.onLoad({ filter: /[/\\]daemon[/\\]config[/\\]validator\.ts$/ }, () => {
        const ajv = new Ajv({ ...CONFIG_AJV_OPTIONS, code: { source: true } });
        const validate = standaloneCode(ajv, ajv.compile(configSchema));
        return {
          contents: `${validate}\nconst compiled = module.exports;\nmodule.exports = { configValidator: () => compiled };\n`,
          loader: "js",
          resolveDir: root,
        };
      });
    },
  };
}

/**
 * An import of a LAZY_CHUNKS package resolves to a stand-in requiring the chunk that holds it (an
 * external file beside the bundle, resolved by the bundle's require at run time); see LAZY_CHUNKS.
 * `__esModule` is a plain value so esbuild's interop reads no getter when importing.
 */
export function lazyPackages(root: string): Plugin {
  const chunkOf = new Map(
    Object.entries(LAZY_CHUNKS).flatMap(([chunk, c]) => c.packages.map((p) => [p, chunk] as const)),
  );
  return {
    name: "lazy-packages",
    setup(b) {
      const names = [...chunkOf.keys()].map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      b.onResolve({ filter: new RegExp(`^(${names.join("|")})$`) }, (args) => ({
        path: args.path,
        namespace: "lazy",
      }));
      b.onResolve({ filter: /^\.\/lazy-[a-z-]+\.js$/ }, (args) => ({ path: args.path, external: true }));
      b.onLoad({ filter: /.*/, namespace: "lazy" }, (args) => {
        const chunk = chunkOf.get(args.path) as string;
        const load = `require(${JSON.stringify(`./${chunkFile(chunk)}`)})[${JSON.stringify(args.path)}]`;
        if (!LAZY_CHUNKS[chunk]?.getters) return { contents: `module.exports = ${load};`, loader: "js" };
        const real = require(require.resolve(args.path, { paths: [root] })) as Record<string, unknown>;
        const keys = Object.getOwnPropertyNames(real).filter((k) => k !== "__esModule");
        return {
          contents: [
            `let real;`,
            `const load = () => (real ??= ${load});`,
            `Object.defineProperty(exports, "__esModule", { value: ${real.__esModule === true} });`,
            `for (const k of ${JSON.stringify(keys)}) Object.defineProperty(exports, k, { enumerable: true, get: () => load()[k] });`,
          ].join("\n"),
          loader: "js",
        };
      });
    },
  };
}

/**
 * Every class of our own code keeps its name in the bundle: esbuild renames a top-level name that two
 * modules share (Foo, Foo2), and without keepNames (whose __name() calls cost a defineProperty for each
 * closure made, on every request) the class's `name` would change with it. Error classes are reported by
 * name (MigrationError, StateError, ...): a collision fails the build, naming the class.
 */
export function assertClassNamesKept(meta: Metafile, root: string, output: string, code: string): void {
  const inputs = Object.keys(meta.outputs[output]?.inputs ?? {}).filter(
    (f) => f.endsWith(".ts") && !f.includes("node_modules/"),
  );
  for (const input of inputs) {
    for (const m of readFileSync(join(root, input), "utf8").matchAll(
      /^(?:export )?(?:abstract )?class (\w+)/gm,
    )) {
      const name = m[1] as string;
      // `class Foo {`, or `Foo=class {` (a module evaluated on first import): both name the class Foo.
      // A class nothing uses is not in the bundle at all.
      const declared = (suffix: string) =>
        new RegExp(`(\\bclass ${name}${suffix}|(?<![\\w$.])${name}${suffix}=class)[ {]`).test(code);
      if (!declared("") && declared("\\d+"))
        throw new Error(
          `${output}: class ${name} of ${input} was renamed by the bundler; give it a unique name`,
        );
    }
  }
}

/** The shared esbuild options of the bundles and the lazy chunks. */
const COMMON: BuildOptions & { metafile: true } = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  external: [...NATIVE_MODULES],
  // Names are not renamed (identifiers are not minified); assertClassNamesKept checks our classes'.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: "linked",
  sourcesContent: false,
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
};

export async function bundle(root = repoRoot(), outdir = join(root, "dist/bundle")): Promise<Metafile> {
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    ...COMMON,
    absWorkingDir: root,
    entryPoints: Object.fromEntries(
      Object.entries(ENTRY_POINTS).map(([k, v]) => [`${k}.main`, join(root, v)]),
    ),
    outdir,
    plugins: [precompiledConfigValidator(root), lazyPackages(root)],
  });
  const meta = result.metafile;
  for (const [chunk, { packages }] of Object.entries(LAZY_CHUNKS)) {
    const r = await build({
      ...COMMON,
      absWorkingDir: root,
      stdin: {
        contents: `module.exports = {${packages.map((p) => `${JSON.stringify(p)}: require(${JSON.stringify(p)})`).join(", ")}};`,
        resolveDir: root,
        sourcefile: `lazy-${chunk}-entry.js`,
      },
      outfile: join(outdir, chunkFile(chunk)),
    });
    Object.assign(meta.inputs, r.metafile.inputs);
    Object.assign(meta.outputs, r.metafile.outputs);
  }
  writeFileSync(join(outdir, "meta.json"), JSON.stringify(meta));
  for (const name of Object.keys(ENTRY_POINTS)) {
    // The entry points' `#!` line ends up first in the bundle; the loader compiles the bundle inside a
    // function wrapper, where it is a syntax error. A comment keeps the line (and the source map) in place.
    const main = join(outdir, `${name}.main.js`);
    const code = readFileSync(main, "utf8").replace(/^#![^\n]*/, "// bundled by scripts/bundle.ts");
    assertClassNamesKept(meta, root, relative(root, main), code);
    writeFileSync(main, code);
    writeFileSync(join(outdir, `${name}.js`), loader(name), { mode: 0o755 });
  }
  return meta;
}

/** Makes NAME.main.js.cache for each entry point with `node` (the runtime that will run them). */
export function codeCaches(outdir: string, node = process.execPath): void {
  const scratch = mkdtempSync(join(tmpdir(), "k8s-offloadd-warm-up-"));
  try {
    for (const [name, warmUp] of Object.entries(WARM_UP)) codeCache(outdir, name, warmUp(scratch), node);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function codeCache(
  outdir: string,
  name: string,
  {
    args,
    env,
    exit,
    nodeOptions = [],
  }: { args: string[]; env?: NodeJS.ProcessEnv; exit: number; nodeOptions?: readonly string[] },
  node: string,
): void {
  const script = [join(__dirname, "code-cache.js"), join(outdir, `${name}.main.js`)];
  const r = spawnSync(node, [...nodeOptions, ...script, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  if (r.status !== exit)
    throw new Error(`code cache of ${name}: exit ${r.status} (expected ${exit}): ${r.stderr}`);
}

if (require.main === module) {
  const outdir = join(repoRoot(), "dist/bundle");
  bundle(repoRoot(), outdir).then(
    (meta) => {
      codeCaches(outdir);
      for (const [file, o] of Object.entries(meta.outputs)) {
        if (file.endsWith(".js"))
          process.stderr.write(`bundle: ${file} ${(o.bytes / 1024).toFixed(0)} KiB\n`);
      }
    },
    (err) => {
      process.stderr.write(`bundle: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
