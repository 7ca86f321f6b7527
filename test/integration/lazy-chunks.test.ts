/**
 * What the daemon's bundle leaves out (scripts/bundle.ts LAZY_CHUNKS) is read only when used: a
 * kernel-backend daemon with no simulator never requires lazy-grpc.js, and requires lazy-prom-client.js
 * at the first scrape of /metrics, which then answers; a gNMI-backend daemon requires lazy-grpc.js.
 * Node's own module debug log (NODE_DEBUG=module) says which files the bundle's require() loaded. Also:
 * the build keeps our classes' names (assertClassNamesKept).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { Metafile } from "esbuild";
import { assertClassNamesKept, chunkFile, LAZY_CHUNKS } from "../../scripts/bundle";
import { benchCoreConfig, daemonFixture, repoRoot } from "../helpers/daemon";

type Fixture = Awaited<ReturnType<typeof daemonFixture>>;
const fixtures: Fixture[] = [];
after(async () => {
  for (const f of fixtures) await f.cleanup();
});

/** The lazy chunk files the daemon's require() loaded, from its NODE_DEBUG=module lines. */
function chunksLoaded(stderr: string): string[] {
  const names = Object.keys(LAZY_CHUNKS).map(chunkFile);
  return names.filter((n) =>
    new RegExp(`^MODULE \\d+: load "[^"]*/${n.replace(".", "\\.")}"`, "m").test(stderr),
  );
}

describe("lazy chunks", () => {
  test("the daemon bundle holds none of their packages; each chunk file does", () => {
    const meta = JSON.parse(readFileSync(join(repoRoot, "dist/bundle/meta.json"), "utf8")) as Metafile;
    const inputsOf = (out: string) => Object.keys(meta.outputs[out]?.inputs ?? {});
    const main = inputsOf("dist/bundle/k8s-offloadd.main.js");
    assert.ok(main.length > 0);
    for (const [chunk, { packages }] of Object.entries(LAZY_CHUNKS)) {
      const inChunk = inputsOf(`dist/bundle/${chunkFile(chunk)}`);
      for (const p of packages) {
        assert.ok(!main.some((f) => f.includes(`node_modules/${p}/`)), `${p} is not in the daemon bundle`);
        assert.ok(
          inChunk.some((f) => f.includes(`node_modules/${p}/`)),
          `${p} is in ${chunkFile(chunk)}`,
        );
      }
    }
  });

  test("a kernel-backend daemon never loads grpc; /metrics loads prom-client on its first scrape", async () => {
    const f = await daemonFixture(benchCoreConfig);
    fixtures.push(f);
    const d = f.start({ NODE_DEBUG: "module" });
    await d.until<{ phase: string }>("/v1/status", (s) => s.phase === "ready");
    assert.deepEqual(chunksLoaded(d.stderr), []);
    const m = await d.http("GET", "/metrics");
    assert.equal(m.status, 200);
    assert.match(m.text, /^k8s_offloadd_component_up\{component="[^"]+"\} 1$/m);
    assert.deepEqual(chunksLoaded(d.stderr), [chunkFile("prom-client")]);
  });

  test("a gNMI-backend daemon loads grpc", async () => {
    const f = await daemonFixture();
    fixtures.push(f);
    const d = f.start({ NODE_DEBUG: "module" });
    await d.until<{ phase: string }>("/v1/status", (s) => s.phase === "ready");
    assert.deepEqual(chunksLoaded(d.stderr), [chunkFile("grpc")]);
  });
});

describe("class names in the bundle", () => {
  const dir = mkdtempSync(join(tmpdir(), "bundle-names-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "a.ts"), "export class StateError extends Error {}\nclass Unused {}\n");
  const meta = { inputs: {}, outputs: { "out.js": { inputs: { "a.ts": {} } } } } as unknown as Metafile;

  test("kept, or absent (unused): accepted", () => {
    assertClassNamesKept(meta, dir, "out.js", "var x=1;class StateError extends Error{}");
    assertClassNamesKept(meta, dir, "out.js", "var x=1;StateError=class extends Error{}");
  });

  test("renamed by the bundler: the build fails naming the class and its file", () => {
    assert.throws(
      () => assertClassNamesKept(meta, dir, "out.js", "class StateError2 extends Error{}"),
      /out\.js: class StateError of a\.ts was renamed by the bundler; give it a unique name/,
    );
    assert.throws(
      () => assertClassNamesKept(meta, dir, "out.js", "StateError2=class extends Error{}"),
      /class StateError of a\.ts was renamed/,
    );
  });
});
