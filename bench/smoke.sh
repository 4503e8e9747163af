#!/usr/bin/env bash
# CI's bench run: the 10-second smoke of the bench, natively and in wasm, then the
# side-by-side comparison and sanity checks (bench/compare.mjs). The full run:
#   build/native/duroxide_bench --full --out native.json --md native.md
#   node build/wasm/duroxide_bench.js --full --out wasm.json --md wasm.md
#   node bench/compare.mjs native.json wasm.json
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=build/test-logs/bench
mkdir -p "$out"
build/native/duroxide_bench --smoke --dir build/bench-tmp --out "$out/native.json" --md "$out/native.md"
node build/wasm/duroxide_bench.js --smoke --dir build/bench-tmp --out "$out/wasm.json" --md "$out/wasm.md"
node bench/compare.mjs "$out/native.json" "$out/wasm.json" "$out/wasm-vs-native.md"
