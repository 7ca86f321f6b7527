#!/usr/bin/env bash
# `npm run package:rpm`: builds k8s-offloadd-<version>-<release>.x86_64.rpm (packaging/k8s-offloadd.spec)
# from a clean tree:
#   1. the repository's tracked and unignored files (what `git status` would commit: no dist/,
#      node_modules/, .sandbox/, .build/) are copied into a scratch staging dir;
#   2. tsc type-checks and compiles the shipped code and scripts/bundle.ts; esbuild makes the two
#      bundles (dist/bundle/k8s-offloadd.js, dist/bundle/k8s-offloadctl.js): the same files npm start
#      and the tests run;
#   3. the installed tree is laid out: the bundles, what projectRoot() expects beside them
#      (package.json, migrations/, proto/), the OpenAPI document, the README, and the native modules
#      (better-sqlite3, unix-dgram, and `bindings`, their loader) as files beside the bundles: their
#      JavaScript, package.json, licence and the .node built by `npm ci` for this node; nothing is
#      downloaded or recompiled;
#   4. with --runtime bundled (the default) the Node.js runtime that ran this script (process.execPath:
#      the one the native modules were built for and the tests ran with) goes in as
#      /usr/lib/k8s-offloadd/node, stripped; the host needs no nodejs package;
#   5. the daemon and the CLI are started once from the laid-out tree with that runtime as a check;
#      the file count is printed (stderr);
#   6. rpmbuild lays the staged tree out.
#
# Options:
#   --out DIR          where the .rpm goes (default .build/rpm/out, git-ignored)
#   --release N        the RPM release (default 1)
#   --config FILE      the default /etc/k8s-offloadd/config.yaml (default profiles/p4-ovs.yaml)
#   --runtime KIND     bundled (default): the package carries its Node.js runtime and Requires only
#                      glibc (the version the runtime and native modules need), systemd and iproute;
#                      system: today's package for distributions that want their own Node.js: no
#                      runtime inside, Requires nodejs(abiN) and /usr/bin/node
#   --stage DIR        keep the staged tree in DIR, and reuse it when DIR already holds a complete one
#                      (tests build a second release, or the other runtime, without compiling again)
# Environment: K8S_OFFLOADD_PACKAGER, the Packager tag (whoever builds it for distribution).
# Prints the path of the .rpm on stdout.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/.build/rpm/out"
release=1
config="$repo/profiles/p4-ovs.yaml"
runtime=bundled
stage=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --release) release=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    *) echo "package-rpm: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$release" in
  '' | *[!0-9a-z.]*) echo "package-rpm: bad --release: $release" >&2; exit 2 ;;
esac
case "$runtime" in
  bundled | system) ;;
  *) echo "package-rpm: bad --runtime: $runtime (allowed: bundled, system)" >&2; exit 2 ;;
esac

for tool in rpmbuild git node tar strip objdump; do
  command -v "$tool" >/dev/null || { echo "package-rpm: $tool not found" >&2; exit 1; }
done
node_bin=$(node -p 'process.execPath')
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "package-rpm: node $node_major: the package is for Node.js >= 20" >&2
  exit 1
fi
for m in better-sqlite3 unix-dgram bindings file-uri-to-path typescript esbuild; do
  if [ ! -d "$repo/node_modules/$m" ]; then
    echo "package-rpm: $repo/node_modules is incomplete ($m missing): run npm ci first" >&2
    exit 1
  fi
done
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
  # node_modules as built by `npm ci` (tsc needs @types, esbuild the packages; read only).
  ln -s "$repo/node_modules" "$src/node_modules"

  # 2. Type-check and compile the shipped code (no tests, benchmarks or other scripts), then bundle.
  cat >"$src/tsconfig.rpm.json" <<'EOF'
{
  "extends": "./tsconfig.json",
  "compilerOptions": { "outDir": "dist", "rootDir": ".", "sourceMap": false },
  "include": ["daemon", "api", "cli", "scripts/bundle.ts", "scripts/code-cache.ts"]
}
EOF
  node "$src/node_modules/typescript/bin/tsc" -p "$src/tsconfig.rpm.json"
  for d in dist/test dist/bench; do
    [ ! -e "$src/$d" ] || { echo "package-rpm: $d was built (the shipped code imports it)" >&2; exit 1; }
  done
  node -e 'require(process.argv[1]).bundle(process.argv[2], process.argv[3]).catch((e) => {
    console.error(e); process.exit(1); })' "$src/dist/scripts/bundle.js" "$src" "$src/dist/bundle"

  # 3. The installed tree.
  lib="$stage/lib"
  mkdir -p "$lib"
  for name in k8s-offloadd k8s-offloadctl; do
    cp "$src/dist/bundle/$name.js" "$src/dist/bundle/$name.main.js" "$lib/"
  done
  # What the bundles require only on first use (scripts/bundle.ts LAZY_CHUNKS).
  cp "$src"/dist/bundle/lazy-*.js "$lib/"
  # The wrappers name the runtime: the `#!/usr/bin/env node` lines go (nothing runs these directly).
  sed -i '1{/^#!/d}' "$lib"/*.js
  # The licence texts of the bundled packages (esbuild collects their legal comments).
  for f in "$src"/dist/bundle/*.LEGAL.txt; do [ -e "$f" ] && cp "$f" "$lib/"; done
  node -e '
    const p = require(process.argv[1]);
    const keep = { name: p.name, version: p.version, description: p.description, license: p.license, private: true };
    require("node:fs").writeFileSync(process.argv[2], `${JSON.stringify(keep, null, 2)}\n`);
  ' "$src/package.json" "$lib/package.json"
  cp -a "$src/migrations" "$src/proto" "$src/openapi" "$src/README.md" "$lib/"
  # The native modules and their loader: package.json, licence, JavaScript, the .node (stripped).
  nm="$lib/node_modules"
  for mod in better-sqlite3 unix-dgram bindings file-uri-to-path; do
    from="$repo/node_modules/$mod"
    mkdir -p "$nm/$mod"
    cp "$from/package.json" "$nm/$mod/"
    for f in "$from"/LICENSE*; do [ -e "$f" ] && cp "$f" "$nm/$mod/"; done
    (cd "$from" && find . -maxdepth 1 -name '*.js' -print0 | xargs -0 -r cp --parents -t "$nm/$mod")
    [ ! -d "$from/lib" ] || (cd "$from" && find lib -name '*.js' -print0 | xargs -0 -r cp --parents -t "$nm/$mod")
    if [ -d "$from/build/Release" ]; then
      mkdir -p "$nm/$mod/build/Release"
      find "$from/build/Release" -maxdepth 1 -name '*.node' ! -name 'test_extension.node' \
        -exec cp -t "$nm/$mod/build/Release" {} +
      find "$nm/$mod/build/Release" -name '*.node' -exec strip --strip-unneeded {} +
    fi
  done
  # 4. The runtime, kept beside the tree (the spec installs it only for --runtime bundled).
  mkdir -p "$stage/runtime"
  cp "$node_bin" "$stage/runtime/node"
  strip --strip-unneeded "$stage/runtime/node"
  # The glibc the runtime and the native modules need: the highest GLIBC_ symbol version they use.
  glibc_min=$(objdump -T "$stage/runtime/node" $(find "$nm" -name '*.node') |
    grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -1)
  [ -n "$glibc_min" ] || { echo "package-rpm: no GLIBC_ versions found in the runtime" >&2; exit 1; }
  echo "$glibc_min" >"$stage/glibc-min"
  echo "$node_major" >"$stage/node-major"
  # The daemon's Node.js options, for its wrapper (scripts/bundle.ts DAEMON_NODE_OPTIONS).
  node -p 'require(process.argv[1]).DAEMON_NODE_OPTIONS.join(" ")' "$src/dist/scripts/bundle.js" \
    >"$stage/daemon-node-options"
  find "$lib" -type d -exec chmod 0755 {} +
  find "$lib" -type f -exec chmod 0644 {} +
  chmod 0755 "$stage/runtime/node"

  # V8's code cache of each bundle's start-up, made by the runtime that will use it (the bundled one;
  # with --runtime system a different node rejects it and compiles as usual).
  node -e 'require(process.argv[1]).codeCaches(process.argv[2], process.argv[3])' \
    "$src/dist/scripts/bundle.js" "$lib" "$stage/runtime/node"
  chmod 0644 "$lib"/*.cache
  # Each checked as it runs: the daemon under its options (V8 rejects a cache made under other flags).
  accepts_cache='
    const { readFileSync } = require("node:fs");
    const Module = require("node:module");
    const { Script } = require("node:vm");
    for (const f of process.argv.slice(1)) {
      const s = new Script(Module.wrap(readFileSync(f, "utf8")), { cachedData: readFileSync(`${f}.cache`) });
      if (s.cachedDataRejected) throw new Error(`package-rpm: the runtime rejects the code cache of ${f}`);
    }
  '
  read -ra daemon_opts <"$stage/daemon-node-options"
  "$stage/runtime/node" "${daemon_opts[@]}" -e "$accepts_cache" "$lib/k8s-offloadd.main.js"
  "$stage/runtime/node" -e "$accepts_cache" "$lib/k8s-offloadctl.main.js"

  # 5. The laid-out tree runs with the runtime it ships with: the daemon finds package.json and
  # migrations/ beside it, the CLI answers, the native modules load.
  [ "$("$stage/runtime/node" "$lib/k8s-offloadd.js" --version)" = "$version" ] ||
    { echo "package-rpm: the bundled daemon does not start" >&2; exit 1; }
  "$stage/runtime/node" "$lib/k8s-offloadctl.js" --help >/dev/null
  "$stage/runtime/node" -e '
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

for f in units/k8s-offloadd.service units/kubelet.service.d/10-k8s-offloadd.conf tmpfiles.conf \
  runtime/node glibc-min node-major daemon-node-options; do
  [ -f "$stage/$f" ] || { echo "package-rpm: $f missing from the tree" >&2; exit 1; }
done
files=$(find "$stage/lib" -type f | wc -l)
[ "$runtime" = system ] || files=$((files + 1))
echo "package-rpm: $files files under /usr/lib/k8s-offloadd (runtime: $runtime)" >&2

# 6. rpmbuild, everything in scratch dirs.
rpmbuild -bb "$stage/k8s-offloadd.spec" --quiet \
  --define "_topdir $work/rpmbuild" \
  --define "_tmppath $work/tmp" \
  --define "_rpmdir $out" \
  --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
  --define "k8s_stage $stage/lib" \
  --define "k8s_runtime $runtime" \
  --define "k8s_node $stage/runtime/node" \
  --define "k8s_units $stage/units" \
  --define "k8s_tmpfiles $stage/tmpfiles.conf" \
  --define "k8s_config $config" \
  --define "k8s_daemon_node_options $(cat "$stage/daemon-node-options")" \
  --define "k8s_version $version" \
  --define "k8s_release $release" \
  --define "glibc_min $(cat "$stage/glibc-min")" \
  --define "node_major $(cat "$stage/node-major")" \
  --define "node_version $("$stage/runtime/node" -p 'process.versions.node')" \
  --define "packager ${K8S_OFFLOADD_PACKAGER:-k8s-offloadd maintainers <k8s-offloadd@localhost>}" >&2

rpm="$out/k8s-offloadd-$version-$release.x86_64.rpm"
[ -f "$rpm" ] || { echo "package-rpm: rpmbuild made no $rpm" >&2; exit 1; }
echo "$rpm"
