/**
 * `npm run build` (after tsc, which stays the type check): one esbuild bundle per entry point,
 *   dist/bundle/k8s-offloadd.js     the daemon (daemon/main.ts)
 *   dist/bundle/k8s-offloadctl.js   the CLI (cli/k8s-offloadctl.ts)
 * `npm start`, the tests and the RPM all run these files: what is tested is what is shipped.
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
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
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
    entryPoints: Object.fromEntries(Object.entries(ENTRY_POINTS).map(([k, v]) => [k, join(root, v)])),
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
    // The entry points' `#!/usr/bin/env node` lines are kept by esbuild.
  });
  writeFileSync(join(outdir, "meta.json"), JSON.stringify(result.metafile));
  return result.metafile;
}

if (require.main === module) {
  bundle().then(
    (meta) => {
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
