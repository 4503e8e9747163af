#!/usr/bin/env bash
# The duroxide-wasm package suite: packs build/wasm/package with npm, installs the
# tarball into an empty folder, runs the node:test scenarios (sdk.test.mjs) there
# against the installed package, then type-checks the package's declarations and a
# typed example with tsc (TypeScript from this folder's lock file: scripts/setup.sh).
#   bash tests/js-package/run.sh     (from the repo root, after bash scripts/build.sh wasm)
# Ends with "N passed, M failed" (the tsc check counts as one).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/duroxide-wasm-package.XXXXXX")
trap 'rm -rf "$work"' EXIT

tarball=$(cd "$work" && npm pack "$root/build/wasm/package" --silent 2>/dev/null | tail -1)
if [ -z "$tarball" ] || [ ! -f "$work/$tarball" ]; then
  echo "js-package: npm pack build/wasm/package failed"
  echo "0 passed, 1 failed"
  exit 1
fi
mkdir -p "$work/app"
printf '{ "name": "duroxide-wasm-consumer", "private": true, "type": "module" }\n' > "$work/app/package.json"
if ! (cd "$work/app" && npm install --offline --no-audit --no-fund --silent "../$tarball"); then
  echo "js-package: installing $tarball failed"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "js-package: installed $tarball into an empty folder"
cp "$here/sdk.test.mjs" "$here/typed-example.ts" "$here/tsconfig.json" "$work/app/"

cd "$work/app"
node --test --test-reporter=spec --test-concurrency=1 sdk.test.mjs 2>&1 | tee "$work/tests.log"
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$work/tests.log" | tail -1)
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$work/tests.log" | tail -1)
passed=${passed:-0}
failed=${failed:-1}

if [ -x "$here/node_modules/.bin/tsc" ] && "$here/node_modules/.bin/tsc" -p tsconfig.json; then
  echo "js-package: tsc accepts the package types and the typed example"
  passed=$((passed + 1))
else
  echo "js-package: tsc failed (or is missing: bash scripts/setup.sh installs it)"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
