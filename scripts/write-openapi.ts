/**
 * Writes openapi/openapi.json from the routes' schemas; `--check` exits 1 when the committed file is stale.
 * The server is built with an engine placeholder that is never called: only the schemas matter.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { buildServer, openapiDocument } from "../api/server";
import type { EngineApi } from "../daemon/engine/component";

/** The repository root: the nearest directory above this file holding package.json. */
export function repoRoot(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** An EngineApi whose every method throws: building the server must not call the engine. */
export function placeholderEngine(): EngineApi {
  const never = (name: string) => () => {
    throw new Error(`write-openapi: the engine placeholder was called (${name})`);
  };
  const engine: EngineApi = {
    status: never("status"),
    statusVersion: never("statusVersion"),
    component: never("component"),
    restart: never("restart"),
    down: never("down"),
    up: never("up"),
    waitReady: never("waitReady"),
    // The metrics collector reads the backlog and subscribes at build time: an empty history.
    events: () => [],
    on: () => engine,
    off: () => engine,
  };
  return engine;
}

/** The OpenAPI document as committed: 2-space JSON with a trailing newline. */
export async function generateOpenapi(root = repoRoot()): Promise<string> {
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  const app = await buildServer({ engine: placeholderEngine(), logger: false, version });
  try {
    await app.ready();
    return `${JSON.stringify(openapiDocument(app), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

/** Writes the document under root, or with --check compares it; returns the exit code. */
export async function main(
  argv: string[],
  root = repoRoot(),
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<number> {
  const file = join(root, "openapi/openapi.json");
  const text = await generateOpenapi(root);
  if (argv.includes("--check")) {
    const current = existsSync(file) ? readFileSync(file, "utf8") : "";
    if (current !== text) {
      say("openapi/openapi.json is stale; run npm run openapi");
      return 1;
    }
    return 0;
  }
  writeFileSync(file, text);
  say(`wrote ${file}`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`write-openapi: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
