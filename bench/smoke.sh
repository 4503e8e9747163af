#!/usr/bin/env bash
# CI's bench run: the 10-second smoke of the bench, natively and in wasm, then the
# side-by-side comparison and sanity checks (bench/compare.mjs). The full run:
#   build/native/duroxide_bench --full --out native.json --md native.md
#   bash bench/wasm-ratio.sh 3 --full    (native and wasm alternating, bench/v8-flags.sh)
#   (PostgreSQL: add --db CONNINFO to the native run; processes: bench/processes.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=build/test-logs/bench
mkdir -p "$out"
# Under scripts/with-postgres.sh (as the test command runs it) the native run also
# measures PostgreSQL, and 1, 2 and 3 processes run beside SQLite.
pg=()
[ -n "${DUROXIDE_PG:-}" ] && pg=(--db "$DUROXIDE_PG")
build/native/duroxide_bench --smoke --dir build/bench-tmp "${pg[@]}" --out "$out/native.json" --md "$out/native.md"
source bench/v8-flags.sh  # v8_flags: what the timed wasm runs take, and why
node "${v8_flags[@]}" build/wasm/duroxide_bench.js --smoke --dir build/bench-tmp --out "$out/wasm.json" --md "$out/wasm.md"
if [ -n "${DUROXIDE_PG:-}" ]; then  # exits non-zero (no summary: the suite fails) if a run is incomplete
  bash bench/processes.sh 200 "$out/processes.md"
fi
node bench/compare.mjs "$out/native.json" "$out/wasm.json" "$out/wasm-vs-native.md" | tee "$out/compare.log"
# The JavaScript SDK (a JS HelloWorld with one async activity) beside the step driver's
# C++ HelloWorld 1.0.0, in one node process; the JSON holds both rates and their ratio.
node bench/js_sdk.mjs build/wasm/package 200 | tee "$out/js-sdk.json"
# The comparison of runs that alternate, as a long run makes it, over two rounds of the
# smoke: every pair's sanity checks and that each measured the same rows.
bash bench/wasm-ratio.sh 2 --smoke | tee "$out/ratio.log"
# ... and refuses pairs that did not measure the same rows: the second wasm report
# without its last replay row.
ratio=build/test-logs/bench/ratio
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); r.replay.pop();
  console.log(JSON.stringify(r))' "$ratio/wasm-2.json" > "$ratio/wasm-short.json"
if node bench/compare.mjs "$ratio/native-1.json" "$ratio/wasm-1.json" "$ratio/native-2.json" "$ratio/wasm-short.json" \
    > "$out/mismatch.log"; then
  echo "FAIL compare.mjs passed pairs that measured different rows" | tee "$out/refusal.log"
  echo "0 passed, 1 failed" | tee -a "$out/refusal.log"
else
  grep -q "^FAIL every pair measured the same rows" "$out/mismatch.log" && refused=1 || refused=0
  echo "$refused passed, $((1 - refused)) failed" | tee "$out/refusal.log"
fi
# ... and compares reports of some sections alone (wasm-ratio.sh --only ...): the first
# pair with its throughput rows and nothing else measured.
for build in native wasm; do
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const section of ["latency", "replay", "management", "simulation", "soak", "beside_management", "beside_stranded_tag"]) delete r[section];
    console.log(JSON.stringify(r))' "$ratio/$build-1.json" > "$ratio/$build-throughput.json"
done
if node bench/compare.mjs "$ratio/native-throughput.json" "$ratio/wasm-throughput.json" > "$out/partial.log" 2>&1; then
  tail -n 1 "$out/partial.log" | tee "$out/partial-summary.log"
else
  echo "FAIL compare.mjs did not compare reports of the throughput section alone: $(tail -n 3 "$out/partial.log")" |
    tee "$out/partial-summary.log"
  echo "0 passed, 1 failed" | tee -a "$out/partial-summary.log"
fi
# bench/merge-reports.mjs, which joins a round's sections, refuses parts of two builds
# and a section that two parts both hold.
merge_refuses() {  # merge_refuses WHAT EXPECTED-MESSAGE PART...
  local what=$1 expected=$2
  shift 2
  if node bench/merge-reports.mjs build/bench-tmp/merge-refused.json "$@" 2> "$out/merge-refused.log"; then
    echo "FAIL merge-reports.mjs joined $what"
  elif grep -q "$expected" "$out/merge-refused.log"; then
    echo "ok   merge-reports.mjs refused $what"
  else
    echo "FAIL merge-reports.mjs refused $what, but not with \"$expected\": $(cat "$out/merge-refused.log")"
  fi
}
{
  merge_refuses "a native and a wasm report" "platform" "$ratio/native-1.json" "$ratio/wasm-1.json"
  merge_refuses "two reports of the same sections" "is also in an earlier part" "$ratio/native-1.json" "$ratio/native-2.json"
} > "$out/merge.log"
cat "$out/merge.log"
awk '/^ok /{p++} /^FAIL/{f++} END {printf "%d passed, %d failed\n", p, f}' "$out/merge.log" | tee -a "$out/merge.log"
# The suite's summary: the checks of the comparisons, of the refusal and of the merges.
cat "$out/compare.log" "$out/ratio.log" "$out/refusal.log" "$out/partial-summary.log" "$out/merge.log" |
  awk '/^[0-9]+ passed, [0-9]+ failed$/ { passed += $1; failed += $3 }
       END { printf "%d passed, %d failed\n", passed, failed; exit failed > 0 }'
