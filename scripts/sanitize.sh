#!/usr/bin/env bash
# The native test suite under the sanitizers (docs/toolchain.md, "Sanitizers"); not part
# of scripts/test.sh: each build takes about 20 minutes of both cores.
#   bash scripts/sanitize.sh address [TEST SPEC...]  build/asan: ASan + UBSan (g++), against a
#                                                    throwaway PostgreSQL cluster as in CI
#   bash scripts/sanitize.sh thread [TEST SPEC...]   build/tsan: TSan (g++), SQLite only
# The default test spec is every test case; a report fails the run (a non-zero exit status).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=${1:?usage: bash scripts/sanitize.sh address|thread [TEST SPEC...]}
shift
case "$mode" in
  address) dir=build/asan; flags=(-DDUROXIDE_SANITIZE=ON) ;;
  thread) dir=build/tsan; flags=(-DDUROXIDE_SANITIZE_THREADS=ON -DDUROXIDE_POSTGRES=OFF) ;;
  *) echo "sanitize: the mode is address or thread, not '$mode'" >&2; exit 2 ;;
esac
if [ ! -f "$dir/build.ninja" ]; then
  mkdir -p "$dir"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ "${flags[@]}" > "$dir/configure.log" 2>&1 || {
    cat "$dir/configure.log" >&2
    exit 1
  }
fi
cmake --build "$dir" -j2 --target duroxide_tests
mkdir -p build/test-logs
log=build/test-logs/sanitize-$mode.log
if [ "$mode" = address ]; then
  # An ASan or UBSan report stops the process with a non-zero status; leaks are reported at exit.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  bash scripts/with-postgres.sh "$dir/duroxide_tests" "$@" 2>&1 | tee "$log"
else
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  "$dir/duroxide_tests" "$@" 2>&1 | tee "$log"
fi
