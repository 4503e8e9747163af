#!/usr/bin/env bash
# The browser suite: Playwright in Debian's Chromium against the playground.
#   bash tests/browser/run.sh   (from the repo root, after native and wasm builds)
# Gives the tests a database written by the native CLI (to open in the browser)
# and the native simulator's hash for seed 77 (the browser must compute the same).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=build/test-logs/browser-input
rm -rf "$work" && mkdir -p "$work"
build/native/duroxide run HelloWorld Native --db "$work/native.db" --id native-1 > "$work/native-run.json"
export NATIVE_DB="$root/$work/native.db"
export SEED77_HASH=$(build/native/duroxide-sim --seed 77 --quiet |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).runs[0].hash))')
echo "browser: native database $NATIVE_DB, seed 77 hash $SEED77_HASH"
cd tests/browser
exec node node_modules/@playwright/test/cli.js test
