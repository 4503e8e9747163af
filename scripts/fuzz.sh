#!/usr/bin/env bash
# Builds the libFuzzer targets (build/fuzz, clang, -DDUROXIDE_FUZZ=ON) and runs each one.
#
#   bash scripts/fuzz.sh smoke [TARGET...]        each target 16 s, two at a time (the CI suite)
#   bash scripts/fuzz.sh long [RUNS] [TARGET...]  each target for RUNS inputs (default
#                                                 10,000,000), one at a time, under nice
#   bash scripts/fuzz.sh seconds N [TARGET...]    each target for N seconds, one at a time
#   bash scripts/fuzz.sh list                     the targets
#   bash scripts/fuzz.sh build                    build only
#   bash scripts/fuzz.sh seeds                    rewrite fuzz/corpus/ and fuzz/dict/ from the code
#                                                 (keeps the regression-* inputs)
#
# A crash, a sanitizer report, a broken property, an input slower than FUZZ_TIMEOUT
# seconds (default 10: a hang) or a process over FUZZ_RSS_MB MiB (default 2048: unbounded
# memory) fails the target; libFuzzer saves the input under build/fuzz/artifacts/<target>/.
# Seeds: fuzz/corpus/<target>/ (read only); what long runs learn: build/fuzz/corpus/<target>/
# (the next long run starts from it).
# A smoke run first checks that the seeds are current: fuzz_seeds writes them from the
# command table, the CLI's words and the sample catalog, so a command added without
# rewriting them would be fuzzed without its seed and its words ("fuzz seeds: current",
# counted as one more passed or failed).
# Prints "fuzz <target>: N runs, ok" (or FAILED and the artifact) per target, a table line
# "fuzz <target>: N runs, E exec/s, S s, peak RSS R MiB" after long runs, and last
# "N passed, M failed" (targets). docs/fuzzing.md says how to reproduce a failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

mode=${1:-smoke}
shift || true
timeout_s=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}
bin=build/fuzz/fuzzers

all_targets() {
  sed -n 's/^set(DUROXIDE_FUZZ_TARGETS \(.*\))$/\1/p' fuzz/CMakeLists.txt
}

case "$mode" in
  smoke) budget=(-max_total_time="${FUZZ_SMOKE_SECONDS:-16}"); jobs=2 niceness=0 ;;
  long)
    runs=10000000
    if [[ ${1:-} =~ ^[0-9]+$ ]]; then runs=$1; shift; fi
    budget=(-runs="$runs"); jobs=1 niceness=10 ;;
  seconds)
    [[ ${1:-} =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh seconds N [TARGET...]" >&2; exit 2; }
    budget=(-max_total_time="$1"); shift; jobs=1 niceness=10 ;;
  list) all_targets | tr ' ' '\n'; exit 0 ;;
  build|seeds) ;;
  *) sed -n '2,22p' "$0" >&2; exit 2 ;;
esac

bash scripts/build.sh fuzz || { echo "fuzz: the build failed"; echo "0 passed, 1 failed"; exit 1; }
[ "$mode" = build ] && exit 0
if [ "$mode" = seeds ]; then exec "$bin/fuzz_seeds" fuzz; fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -ra targets <<<"$(all_targets)"

# A finding, printed whole so that a run whose files are gone (a CI machine) can still be
# reproduced: the sanitizer's or the property's report from the log, and the input in
# base64 (echo ... | base64 -d > input; build/fuzz/fuzzers/fuzz_<target> input).
report_failure() {
  local target=$1 log=$2 artifact=$3
  echo "fuzz $target: the report:"
  grep -v '^#[0-9]\|^INFO: \|^stat::' "$log" | tail -n 60 | sed 's/^/  /'
  if [ -n "$artifact" ] && [ -f "$artifact" ]; then
    echo "fuzz $target: the input ($(wc -c <"$artifact") bytes), base64:"
    head -c 65536 "$artifact" | base64 -w 100 | sed 's/^/  /'
  fi
}

# One target: runs libFuzzer, then prints its result line; the exit code is libFuzzer's.
run_target() {
  local target=$1 log="build/fuzz/logs/$1.$mode.log"  # a smoke run keeps the last long run's log
  local corpus="build/fuzz/corpus/$target" artifacts="build/fuzz/artifacts/$target/"
  # A smoke run starts from the seeds alone, so its time stays bounded whatever long runs
  # have gathered in build/fuzz/corpus/.
  if [ "$mode" = smoke ]; then corpus="build/fuzz/smoke/$target"; rm -rf "$corpus"; fi
  mkdir -p "$corpus" "$artifacts" build/fuzz/logs
  local options=(-rss_limit_mb="$rss_mb" -timeout="$timeout_s" -print_final_stats=1
                 -artifact_prefix="$artifacts" "${budget[@]}")
  [ -f "fuzz/dict/$target.dict" ] && options+=(-dict="fuzz/dict/$target.dict")
  # The store targets run tens to hundreds of inputs a second: they get their longest
  # inputs from the start instead of libFuzzer's slowly growing length limit, and the
  # plain power schedule: each of their inputs touches so many features that the entropic
  # schedule's bookkeeping took a third of the time (docs/fuzzing.md, "Measured long runs").
  case "$target" in
    database|commands) options+=(-len_control=0 -max_len=2048 -entropic=0) ;;
    import) options+=(-len_control=0 -max_len=8192 -entropic=0) ;;
  esac
  # One fuzzer at a time owns the corpus in long and timed runs: no rereading it for
  # other processes' finds. ASan records one frame per allocation instead of 30: its
  # stack collection took a fifth of the store targets' time (docs/fuzzing.md); to see
  # the full allocation stacks of a finding, run the target on the saved input. Its
  # allocator keeps the memory it frees instead of handing it back to the kernel every
  # few seconds, only to fault it in again page by page (half the `database` target's
  # page faults), and its shadow memory may live on huge pages (fewer of its shadow reads
  # miss the TLB): together about a fifth more `database` inputs a second, for about
  # 300 MiB more resident memory (docs/fuzzing.md). Neither changes
  # what ASan checks: freed memory still waits in its quarantine, poisoned.
  local env_options=()
  if [ "$mode" != smoke ]; then
    options+=(-reload=0)
    env_options=(ASAN_OPTIONS="malloc_context_size=1:allocator_release_to_os_interval_ms=-1:no_huge_pages_for_shadow=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}")
  fi
  local seeds=()
  [ -d "fuzz/corpus/$target" ] && seeds=("fuzz/corpus/$target")
  local started=$SECONDS rc
  env "${env_options[@]}" nice -n "$niceness" "$bin/fuzz_$target" "${options[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  local runs rate peak
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  peak=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz $target: ${runs:-0} runs, ok"
  else
    local artifact
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "fuzz $target: ${runs:-0} runs, FAILED (exit $rc; input: ${artifact:-none}; log: $log)"
    report_failure "$target" "$log" "$artifact"
  fi
  if [ "$mode" != smoke ]; then
    echo "fuzz $target: ${runs:-0} runs, ${rate:-0} exec/s, $((SECONDS - started)) s, peak RSS ${peak:-?} MiB"
  fi
  return "$rc"
}

# Whether fuzz/corpus/ (but its regression-* inputs) and fuzz/dict/ are what fuzz_seeds
# writes from the code now.
seeds_current() {
  local fresh differences
  fresh=$(mktemp -d)
  if ! "$bin/fuzz_seeds" "$fresh" >/dev/null; then
    rm -rf "$fresh"
    echo "fuzz seeds: FAILED (fuzz_seeds did not run)"
    return 1
  fi
  differences=$(diff -rq -x 'regression-*' fuzz/corpus "$fresh/corpus"; diff -rq fuzz/dict "$fresh/dict")
  rm -rf "$fresh"
  if [ -n "$differences" ]; then
    echo "fuzz seeds: FAILED: fuzz/corpus or fuzz/dict is not what the code writes (bash scripts/fuzz.sh seeds):"
    echo "$differences" | sed "s|$fresh|(fresh)|g" | head -n 20 | sed 's/^/  /'
    return 1
  fi
  echo "fuzz seeds: current"
}

passed=0 failed=0
if [ "$mode" = smoke ]; then
  if seeds_current; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
declare -A running=()
finish_one() {
  local pid
  wait -n -p pid
  local rc=$?
  if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  unset "running[$pid]"
}
for target in "${targets[@]}"; do
  if [ ! -x "$bin/fuzz_$target" ]; then
    echo "fuzz $target: no such target (bash scripts/fuzz.sh list)"
    failed=$((failed + 1))
    continue
  fi
  while [ ${#running[@]} -ge "$jobs" ]; do finish_one; done
  if [ "$jobs" -eq 1 ]; then
    if run_target "$target"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  else
    run_target "$target" &
    running[$!]=1
  fi
done
while [ ${#running[@]} -gt 0 ]; do finish_one; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
