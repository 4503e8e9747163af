#!/usr/bin/env bash
# wasm ÷ native from runs that alternate, section by section: each round runs every
# bench section (--only SECTION) in both builds, one right after the other, the build
# that goes first changing from round to round; bench/merge-reports.mjs joins each
# round's parts into one report per build, and bench/compare.mjs puts the rounds side
# by side (each row's median ratio, and each round's). On a machine whose speed drifts
# over minutes, runs of the two builds minutes apart differ by more than wasm costs;
# a section's two runs are seconds to a minute apart.
# Usage: bash bench/wasm-ratio.sh ROUNDS [bench arguments, e.g. --full or --only replay]
# Writes build/test-logs/bench/ratio/{native,wasm}-N.json and wasm-vs-native.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source bench/v8-flags.sh
rounds=${1:?usage: bash bench/wasm-ratio.sh ROUNDS [bench arguments]}
shift
sections=(throughput latency replay management simulation soak)
args=()
while [ $# -gt 0 ]; do  # both builds take the same arguments; PostgreSQL is native only
  case "$1" in
    --db) echo "wasm-ratio: --db is for the native bench alone" >&2; exit 2 ;;
    --only) [ $# -ge 2 ] || { echo "wasm-ratio: --only takes a section list" >&2; exit 2; }
            IFS=, read -r -a sections <<<"$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
out=build/test-logs/bench/ratio
tmp=build/bench-tmp/ratio
parts=build/bench-tmp/ratio-parts
mkdir -p "$out"
rm -rf "$parts" && mkdir -p "$parts"
run() {  # run BUILD ROUND SECTION
  rm -rf "$tmp" && mkdir -p "$tmp"
  echo "wasm-ratio: round $2 of $rounds, $3, $1" >&2
  if [ "$1" = native ]; then
    build/native/duroxide_bench "${args[@]}" --only "$3" --dir "$tmp" --out "$parts/$1-$2-$3.json" >/dev/null
  else
    node "${v8_flags[@]}" build/wasm/duroxide_bench.js "${args[@]}" --only "$3" --dir "$tmp" \
      --out "$parts/$1-$2-$3.json" >/dev/null
  fi
}
pairs=()
for round in $(seq 1 "$rounds"); do
  order=(native wasm)
  [ $((round % 2)) -eq 1 ] || order=(wasm native)
  for section in "${sections[@]}"; do
    for build in "${order[@]}"; do run "$build" "$round" "$section"; done
  done
  for build in native wasm; do
    files=()
    for section in "${sections[@]}"; do files+=("$parts/$build-$round-$section.json"); done
    node bench/merge-reports.mjs "$out/$build-$round.json" "${files[@]}"
  done
  pairs+=("$out/native-$round.json" "$out/wasm-$round.json")
done
rm -rf "$tmp" "$parts"
node bench/compare.mjs "${pairs[@]}" "$out/wasm-vs-native.md"
