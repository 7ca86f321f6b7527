#!/usr/bin/env bash
# `npm run package:rpm`: builds k8s-offloadd-<version>-<release>.x86_64.rpm (packaging/k8s-offloadd.spec)
# from a clean tree:
#   1. the repository's tracked and unignored files (what `git status` would commit: no dist/,
#      node_modules/, .sandbox/, .build/) are copied into a scratch staging dir;
#   2. the daemon, API and CLI are compiled there (tsc; no tests, benchmarks or scripts);
#   3. production node_modules: the repository's already-built node_modules (native better-sqlite3
#      and unix-dgram compiled by `npm ci` for this node) copied and pruned offline with
#      `npm prune --omit=dev`: nothing is downloaded or recompiled; build leftovers of the native
#      modules (objects, static libraries, sources) are dropped; both modules are loaded once as a check;
#   4. rpmbuild lays the staged tree out (the spec's Requires pin the Node major the modules are for).
#
# Options:
#   --out DIR       where the .rpm goes (default .build/rpm/out, git-ignored)
#   --release N     the RPM release (default 1)
#   --config FILE   the default /etc/k8s-offloadd/config.yaml (default profiles/p4-ovs.yaml)
#   --stage DIR     keep the staged tree in DIR, and reuse it when DIR already holds a complete one
#                   (tests build a second release from the same tree without compiling again)
# Environment: K8S_OFFLOADD_PACKAGER, the Packager tag (whoever builds it for distribution).
# Prints the path of the .rpm on stdout.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/.build/rpm/out"
release=1
config="$repo/profiles/p4-ovs.yaml"
stage=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --release) release=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    *) echo "package-rpm: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$release" in
  '' | *[!0-9a-z.]*) echo "package-rpm: bad --release: $release" >&2; exit 2 ;;
esac

for tool in rpmbuild git node npm tar hardlink strip; do
  command -v "$tool" >/dev/null || { echo "package-rpm: $tool not found" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "package-rpm: node $node_major: the package is for Node.js >= 20" >&2
  exit 1
fi
if [ ! -d "$repo/node_modules/better-sqlite3" ] || [ ! -d "$repo/node_modules/typescript" ]; then
  echo "package-rpm: $repo/node_modules is incomplete: run npm ci first" >&2
  exit 1
fi
version=$(node -p 'require(process.argv[1]).version' "$repo/package.json")

work=$(mktemp -d "${TMPDIR:-/tmp}/k8s-offloadd-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
[ -n "$stage" ] || stage="$work/stage"
mkdir -p "$stage"
stage=$(cd "$stage" && pwd)
mkdir -p "$out" "$work/tmp" "$work/rpmbuild"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS}
out=$(cd "$out" && pwd)
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")

if [ ! -e "$stage/.complete" ]; then
  rm -rf "$stage"
  mkdir -p "$stage/src"
  src="$stage/src"

  # 1. The clean tree.
  git -C "$repo" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do
      if [ -f "$repo/$f" ]; then printf '%s\0' "$f"; fi
    done |
    tar -C "$repo" --null -T - -cf - | tar -C "$src" -xf -

  # 3a. node_modules as built by `npm ci` (before compiling: tsc needs @types from it).
  cp -a "$repo/node_modules" "$src/node_modules"

  # 2. Compile the shipped code only.
  cat >"$src/tsconfig.rpm.json" <<'EOF'
{
  "extends": "./tsconfig.json",
  "compilerOptions": { "outDir": "dist", "rootDir": ".", "sourceMap": false },
  "include": ["daemon", "api", "cli"]
}
EOF
  node "$src/node_modules/typescript/bin/tsc" -p "$src/tsconfig.rpm.json"
  for d in dist/daemon/main.js dist/cli/k8s-offloadctl.js dist/api; do
    [ -e "$src/$d" ] || { echo "package-rpm: $d was not built" >&2; exit 1; }
  done
  for d in dist/test dist/bench dist/scripts; do
    [ ! -e "$src/$d" ] || { echo "package-rpm: $d was built (the shipped code imports it)" >&2; exit 1; }
  done

  # 3b. Production dependencies only, offline.
  (cd "$src" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  # Scope dirs whose packages were all dev dependencies stay behind empty.
  find "$src/node_modules" -mindepth 1 -maxdepth 2 -type d -empty -delete
  # Every package the lock file marks dev-only is gone (@types/node stays: protobufjs needs it).
  node -e '
    const fs = require("node:fs");
    const src = process.argv[1];
    const lock = require(`${src}/package-lock.json`);
    const left = Object.entries(lock.packages)
      .filter(([p, e]) => p.startsWith("node_modules/") && e.dev && fs.existsSync(`${src}/${p}`))
      .map(([p]) => p);
    if (left.length) {
      console.error(`package-rpm: dev dependencies left after npm prune: ${left.join(" ")}`);
      process.exit(1);
    }
  ' "$src"
  # Build leftovers of the native modules: only build/Release/*.node is loaded (via `bindings`).
  for mod in better-sqlite3 unix-dgram; do
    m="$src/node_modules/$mod"
    find "$m/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
    find "$m/build/Release" -mindepth 1 ! -name '*.node' -exec rm -rf {} +
    rm -rf "$m/build/Release/test_extension.node" "$m/deps" "$m/src" "$m/binding.gyp"
  done
  rm -f "$src/node_modules/.package-lock.json"

  # The installed tree: what projectRoot() expects next to dist/ (package.json, migrations/,
  # proto/), the OpenAPI document and the README the unit's Documentation= points at.
  lib="$stage/lib"
  mkdir -p "$lib/dist"
  cp -a "$src/dist/daemon" "$src/dist/api" "$src/dist/cli" "$lib/dist/"
  cp -a "$src/package.json" "$src/migrations" "$src/proto" "$src/openapi" "$src/README.md" \
    "$src/node_modules" "$lib/"
  # What npm packs besides the code, never loaded at run time: the .bin links, CI and editor
  # files, the packages' own tests, benchmarks and examples, empty placeholders.
  nm="$lib/node_modules"
  find "$nm" -depth -name '.*' -exec rm -rf {} +
  find "$nm" -depth -type d \( -name test -o -name tests -o -name __tests__ -o -name benchmark \
    -o -name benchmarks -o -name example -o -name examples \) \
    -exec test -f {}/../package.json \; -exec rm -rf {} +
  find "$nm" -type f -empty ! -name '*.js' ! -name '*.cjs' ! -name '*.mjs' ! -name '*.json' -delete
  find "$nm" -name '*.node' -exec strip --strip-unneeded {} +
  # Modes as Fedora's brp-mangle-shebangs leaves them: a file with a #! line is executable and names
  # its interpreter by path (/usr/bin/env node -> /usr/bin/node), every other file is 0644.
  node -e '
    const fs = require("node:fs");
    const path = require("node:path");
    const map = { node: "/usr/bin/node", sh: "/bin/sh", bash: "/bin/bash" };
    const walk = (dir) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          fs.chmodSync(p, 0o755);
          walk(p);
        } else if (e.isFile()) {
          const buf = fs.readFileSync(p);
          if (buf[0] === 0x23 && buf[1] === 0x21) {
            const nl = buf.indexOf(10);
            const line = buf.subarray(0, nl < 0 ? buf.length : nl).toString("utf8");
            const m = /^#!\s*\/usr\/bin\/env\s+(\S+)\s*$/.exec(line);
            if (m) {
              const to = map[m[1]];
              if (!to) throw new Error(`${p}: no interpreter path for ${line}`);
              fs.writeFileSync(p, Buffer.concat([Buffer.from(`#!${to}`), buf.subarray(line.length)]));
            }
            fs.chmodSync(p, 0o755);
          } else fs.chmodSync(p, 0o644);
        }
      }
    };
    walk(process.argv[1]);
  ' "$lib"
  # Identical files of the packages (LICENSEs, .d.ts copies) stored once.
  hardlink -q -c "$lib/node_modules"
  # The native modules load with this node (the ABI the spec pins).
  node -e '
    const lib = process.argv[1];
    const Database = require(`${lib}/node_modules/better-sqlite3`);
    new Database(":memory:").prepare("select 1").get();
    require(`${lib}/node_modules/unix-dgram`);
  ' "$lib"

  mkdir -p "$stage/units"
  cp -a "$src/units/." "$stage/units/"
  cp "$src/packaging/k8s-offloadd.tmpfiles.conf" "$stage/tmpfiles.conf"
  cp "$src/packaging/k8s-offloadd.spec" "$stage/k8s-offloadd.spec"
  rm -rf "$src"
  touch "$stage/.complete"
fi

for f in units/k8s-offloadd.service units/kubelet.service.d/10-k8s-offloadd.conf tmpfiles.conf; do
  [ -f "$stage/$f" ] || { echo "package-rpm: $f missing from the tree" >&2; exit 1; }
done

# 4. rpmbuild, everything in scratch dirs.
rpmbuild -bb "$stage/k8s-offloadd.spec" --quiet \
  --define "_topdir $work/rpmbuild" \
  --define "_tmppath $work/tmp" \
  --define "_rpmdir $out" \
  --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
  --define "k8s_stage $stage/lib" \
  --define "k8s_units $stage/units" \
  --define "k8s_tmpfiles $stage/tmpfiles.conf" \
  --define "k8s_config $config" \
  --define "k8s_version $version" \
  --define "k8s_release $release" \
  --define "node_major $node_major" \
  --define "packager ${K8S_OFFLOADD_PACKAGER:-k8s-offloadd maintainers <k8s-offloadd@localhost>}" >&2

rpm="$out/k8s-offloadd-$version-$release.x86_64.rpm"
[ -f "$rpm" ] || { echo "package-rpm: rpmbuild made no $rpm" >&2; exit 1; }
echo "$rpm"
