/**
 * PID 1 of the test namespace (see scripts/test.sh): brings loopback up, gives `ip netns` a
 * private /run/netns, then runs node's test runner over the compiled tests (or, with --run, one
 * script: the benchmarks). When this process
 * exits, the kernel ends everything left in the namespace.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

function must(argv: string[]): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (${r.status ?? r.signal})`);
}

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) return testFiles(p);
      return n.endsWith(".test.js") ? [p] : [];
    });
}

must(["ip", "link", "set", "lo", "up"]);
mkdirSync("/run/netns", { recursive: true });
must(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run/netns"]);

const root = resolve(__dirname, "..");
const args = process.argv.slice(2);
let argv: string[];
if (args[0] === "--run") {
  // Benchmarks (scripts/bench.sh): run one script with its arguments.
  argv = args.slice(1);
} else {
  const files = testFiles(root).filter((f) => args.length === 0 || args.some((x) => f.includes(x)));
  argv = ["--test", "--test-concurrency=1", ...files];
}
const child = spawn(process.execPath, argv, { stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
