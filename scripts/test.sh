#!/usr/bin/env bash
# The README's test command: set up, build, run every test suite, print a summary.
# Each suite's output is also written to build/test-logs/<suite>.log. Exits non-zero if
# any suite failed (or could not be built); the last line is "total: N passed, M failed"
# counting test cases over all suites.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh || { echo "test: setup failed" >&2; exit 1; }

# One row per suite: name | build target (scripts/build.sh argument, or - for none) |
# summary format (a parse_<format> function below) | command, run from the repo root.
# To add a suite (simulation seeds, Playwright...), append a row, and a parser if its
# output is not Catch2's.
suites=(
  "native|native|catch2|bash scripts/with-postgres.sh build/native/duroxide_tests --use-colour no"
  "wasm|wasm|catch2|node build/wasm/duroxide_tests.js --use-colour no"
  "cli|native|plain|bash tests/cli_test.sh build/native/duroxide"
  "postgres|native|plain|bash scripts/with-postgres.sh bash tests/postgres_multiprocess.sh build/native/duroxide-pg-worker build/native/duroxide"
  "js|wasm|plain|node tests/js/api_test.mjs build/wasm/web"
  "commands|all|plain|node tests/js/commands_agree.mjs build/native/duroxide build/wasm/web"
  "js-package|wasm|plain|bash tests/js-package/run.sh"
  "sim|all|plain|node tests/sim_seeds.mjs build/native/duroxide-sim build/wasm/duroxide-sim.js --with-scenarios"
  "browser|all|playwright|bash tests/browser/run.sh"
  "bench|all|plain|bash scripts/with-postgres.sh bash bench/smoke.sh"
  "function-length|-|plain|python3 scripts/check-function-length.py"
  "layers|-|plain|python3 scripts/check-layers.py"
  "examples|native|plain|bash tests/examples.sh"
)

# Parsers read a log and set `passed` and `failed` (test cases); they return 1 when the
# log holds no summary (crash, abort).
parse_catch2() {
  local line field
  line=$(grep -E '^(All tests passed \(|test cases:)' "$1" | tail -n 1)
  if [[ $line =~ ^All\ tests\ passed\ \([0-9]+\ assertions?\ in\ ([0-9]+)\ test\ cases?\) ]]; then
    passed=${BASH_REMATCH[1]} failed=0
    return 0
  fi
  [[ $line == "test cases:"* ]] || return 1
  # e.g. "test cases: 42 | 40 passed | 2 failed" or "test cases: 3 | 3 failed"
  passed=0 failed=0
  IFS='|' read -ra fields <<<"${line#test cases:}"
  for field in "${fields[@]}"; do
    if [[ $field =~ ^\ *([0-9]+)\ passed\ *$ ]]; then passed=${BASH_REMATCH[1]}
    elif [[ $field =~ ^\ *([0-9]+)\ failed\ *$ ]]; then failed=${BASH_REMATCH[1]}
    fi
  done
  return 0
}

# A script that ends with the plain line "N passed, M failed" (counting checks).
parse_plain() {
  local line
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1)
  [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]] || return 1
  passed=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]}
}

# Playwright's list reporter ends with "  N passed (..s)" and, when any, "  M failed" /
# "  K skipped" lines; a skipped test counts as failed (every flow must run).
parse_playwright() {
  local line
  passed=0 failed=0
  line=$(grep -E '^ +[0-9]+ passed' "$1" | tail -n 1) || true
  [[ $line =~ ([0-9]+)\ passed ]] && passed=${BASH_REMATCH[1]}
  line=$(grep -E '^ +[0-9]+ (failed|flaky|skipped|did not run)' "$1" | awk '{n+=$1} END {print n+0}')
  failed=$line
  [ $((passed + failed)) -gt 0 ]
}

logs=build/test-logs
mkdir -p "$logs"

# Build each target the suites need once; a failed build fails its suites, not the others.
declare -A built
for row in "${suites[@]}"; do
  IFS='|' read -r name target format cmd <<<"$row"
  [ "$target" = "-" ] || [ -n "${built[$target]+set}" ] && continue
  if bash scripts/build.sh "$target"; then built[$target]=yes; else built[$target]=no; fi
done

summary=()
total_passed=0 total_failed=0
for row in "${suites[@]}"; do
  IFS='|' read -r name target format cmd <<<"$row"
  log="$logs/$name.log"
  passed=0 failed=0
  if [ "$target" != "-" ] && [ "${built[$target]}" != yes ]; then
    echo "build of $target failed; suite not run" > "$log"
    summary+=("$name: build failed")
    failed=1
  else
    echo "test: $name: $cmd"
    bash -c "$cmd" </dev/null 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if ! "parse_$format" "$log"; then
      summary+=("$name: no test summary (exit code $rc; crashed?), counted as 1 failed")
      passed=0 failed=1
    elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
      summary+=("$name: exit code $rc although no test failed, counted as 1 failed")
      failed=1
    fi
  fi
  summary+=("$name: $passed passed, $failed failed")
  total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
done

echo
printf '%s\n' "${summary[@]}"
echo "total: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
