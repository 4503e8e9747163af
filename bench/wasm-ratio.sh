#!/usr/bin/env bash
# wasm ÷ native from runs that alternate: ROUNDS times the native bench, then the wasm
# bench with the same arguments, then bench/compare.mjs over every pair (each row's
# median ratio, and each pair's). On a machine whose speed drifts over minutes, a lone
# native run and a lone wasm run minutes apart differ by more than wasm costs.
# Usage: bash bench/wasm-ratio.sh ROUNDS [bench arguments, e.g. --full or --only replay]
# Writes build/test-logs/bench/ratio/{native,wasm}-N.json and wasm-vs-native.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source bench/v8-flags.sh
rounds=${1:?usage: bash bench/wasm-ratio.sh ROUNDS [bench arguments]}
shift
for argument in "$@"; do  # both builds take the same arguments; PostgreSQL is native only
  [ "$argument" != --db ] || { echo "wasm-ratio: --db is for the native bench alone" >&2; exit 2; }
done
out=build/test-logs/bench/ratio
tmp=build/bench-tmp/ratio
mkdir -p "$out"
pairs=()
for round in $(seq 1 "$rounds"); do
  for build in native wasm; do
    rm -rf "$tmp" && mkdir -p "$tmp"
    echo "wasm-ratio: round $round of $rounds, $build" >&2
    if [ "$build" = native ]; then
      build/native/duroxide_bench "$@" --dir "$tmp" --out "$out/native-$round.json" >/dev/null
    else
      node "${v8_flags[@]}" build/wasm/duroxide_bench.js "$@" --dir "$tmp" --out "$out/wasm-$round.json" >/dev/null
    fi
    pairs+=("$out/$build-$round.json")
  done
done
rm -rf "$tmp"
node bench/compare.mjs "${pairs[@]}" "$out/wasm-vs-native.md"
