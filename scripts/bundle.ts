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
 * What is needed only sometimes (grpc-js and the protos, prom-client, @fastify/swagger) is reached
 * through `await import()` in the code: esbuild keeps such a module in the bundle but wrapped, so it is
 * evaluated on first use only.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Ajv from "ajv";
import standaloneCode from "ajv/dist/standalone";
import { build, type Metafile, type Plugin } from "esbuild";
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
 * Packages whose code is evaluated on first use of one of their exports rather than when a module
 * importing them is (a kernel-backend node never talks gRPC): grpc-js and, through proto-loader,
 * protobufjs and the protos. Works whoever imports them, however (lazyPackages).
 */
export const LAZY_PACKAGES = ["@grpc/grpc-js", "@grpc/proto-loader"] as const;

/** Run-time external modules: native code, loaded from node_modules beside the bundle. */
export const NATIVE_MODULES = ["better-sqlite3", "unix-dgram"] as const;

export const ENTRY_POINTS = {
  "k8s-offloadd": "daemon/main.ts",
  "k8s-offloadctl": "cli/k8s-offloadctl.ts",
} as const;

/**
 * Arguments that run an entry point's start-up and nothing else, and the exit code they end with:
 * what ran is what the code cache holds. The daemon runs `--check-config` on a copy of
 * profiles/sandbox.yaml in a scratch directory (`dir`): it loads every module of the daemon (fastify,
 * pino, SQLite, the engine; their top-level code runs), then parses and validates that config the
 * way every start does (the YAML parser, the validator, the chassis-room and file-mode checks) and
 * exits 0 having started and written nothing. The copy's relative paths point into the scratch
 * directory, where nothing exists: what the build host holds changes nothing. `--version` alone would
 * cache only main.ts, and V8 would compile all of those again at every start.
 */
const WARM_UP: Record<
  keyof typeof ENTRY_POINTS,
  (dir: string) => { args: string[]; env?: NodeJS.ProcessEnv; exit: number }
> = {
  "k8s-offloadd": (dir) => {
    const config = join(dir, "warm-up", "config.yaml");
    mkdirSync(dirname(config), { recursive: true });
    writeFileSync(config, readFileSync(join(repoRoot(), "profiles/sandbox.yaml")), { mode: 0o644 });
    return { args: ["--check-config", "--config", config], exit: 0 };
  },
  // `--help` only: a warm-up running `status` (config read, request made) doubled the cache and
  // measured no faster (CPU time of 24 runs each, alternated: the larger cache costs what it saves).
  "k8s-offloadctl": () => ({ args: ["--help"], exit: 0 }),
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
 * An import of a LAZY_PACKAGES package resolves to a stand-in with one getter per export name (the
 * names are read here, at build time); the first getter read evaluates the real package, which stays in
 * the bundle. `__esModule` is a plain value so esbuild's interop reads no getter when importing.
 */
export function lazyPackages(root: string): Plugin {
  const names = new Set<string>(LAZY_PACKAGES);
  return {
    name: "lazy-packages",
    setup(b) {
      b.onResolve({ filter: /^@grpc\/(grpc-js|proto-loader)$/ }, (args) => {
        if (!names.has(args.path) || args.namespace === "lazy-real") return undefined;
        if (args.pluginData === "real") return undefined;
        return { path: args.path, namespace: "lazy" };
      });
      b.onLoad({ filter: /.*/, namespace: "lazy" }, (args) => {
        const real = require(require.resolve(args.path, { paths: [root] })) as Record<string, unknown>;
        const keys = Object.getOwnPropertyNames(real).filter((k) => k !== "__esModule");
        return {
          contents: [
            `let real;`,
            `const load = () => (real ??= require(${JSON.stringify(`${args.path}?real`)}));`,
            `Object.defineProperty(exports, "__esModule", { value: ${real.__esModule === true} });`,
            `for (const k of ${JSON.stringify(keys)}) Object.defineProperty(exports, k, { enumerable: true, get: () => load()[k] });`,
          ].join("\n"),
          loader: "js",
          resolveDir: root,
        };
      });
      b.onResolve({ filter: /\?real$/ }, async (args) => {
        const r = await b.resolve(args.path.slice(0, -"?real".length), {
          kind: "require-call",
          resolveDir: root,
          pluginData: "real",
        });
        return { path: r.path, external: r.external };
      });
    },
  };
}

export async function bundle(root = repoRoot(), outdir = join(root, "dist/bundle")): Promise<Metafile> {
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(
      Object.entries(ENTRY_POINTS).map(([k, v]) => [`${k}.main`, join(root, v)]),
    ),
    outdir,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    external: [...NATIVE_MODULES],
    // Names kept: error classes are reported by name (MigrationError, StateError, ...).
    keepNames: true,
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: "linked",
    sourcesContent: false,
    legalComments: "linked",
    plugins: [precompiledConfigValidator(root), lazyPackages(root)],
    metafile: true,
    logLevel: "warning",
  });
  writeFileSync(join(outdir, "meta.json"), JSON.stringify(result.metafile));
  for (const name of Object.keys(ENTRY_POINTS)) {
    // The entry points' `#!` line ends up first in the bundle; the loader compiles the bundle inside a
    // function wrapper, where it is a syntax error. A comment keeps the line (and the source map) in place.
    const main = join(outdir, `${name}.main.js`);
    writeFileSync(main, readFileSync(main, "utf8").replace(/^#![^\n]*/, "// bundled by scripts/bundle.ts"));
    writeFileSync(join(outdir, `${name}.js`), loader(name), { mode: 0o755 });
  }
  return result.metafile;
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
  { args, env, exit }: { args: string[]; env?: NodeJS.ProcessEnv; exit: number },
  node: string,
): void {
  const r = spawnSync(node, [join(__dirname, "code-cache.js"), join(outdir, `${name}.main.js`), ...args], {
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
