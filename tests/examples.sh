#!/usr/bin/env bash
# examples/hello (hello, and simulate: the simulator as a library) built the two ways a
# project consumes duroxide, then run:
#   1. find_package(duroxide) against `cmake --install build/native` (a prefix in build/);
#   2. add_subdirectory of this source tree.
# Needs build/native built (scripts/build.sh native). Ends with "N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
passed=0 failed=0
check() {  # check NAME COMMAND...: one counted check
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $name"; else failed=$((failed + 1)); echo "FAILED: $name"; fi
}
runs_hello() {  # the example prints the orchestration's output
  local output
  output=$("$1") || return 1
  [ "$output" = '"Hello, world!"' ] || { echo "unexpected output: $output"; return 1; }
}
runs_simulate() {  # the simulator example passes its seeds
  local output
  output=$("$1") || return 1
  [ "$output" = '20 seeds passed' ] || { echo "unexpected output: $output"; return 1; }
}
prefix=build/install
rm -rf "$prefix" build/examples
check "cmake --install" cmake --install build/native --prefix "$prefix"
check "installed package config" test -f "$prefix/lib/cmake/duroxide/duroxideConfig.cmake"
check "installed public headers" test -f "$prefix/include/duroxide/open_store.hpp"
check "installed simulator headers" test -f "$prefix/include/duroxide/sim/user_workload.hpp"
check "private store headers stay out" test ! -e "$prefix/include/sqlite3.h"
configure() {  # configure DIR EXTRA-ARGS...
  local dir=$1; shift
  cmake -S examples/hello -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" > "$dir.log" 2>&1 || { cat "$dir.log"; return 1; }
}
mkdir -p build/examples
check "find_package: configure" configure build/examples/installed -DCMAKE_PREFIX_PATH="$root/$prefix"
check "find_package: build" cmake --build build/examples/installed -j2
check "find_package: run" runs_hello build/examples/installed/hello
check "find_package: simulate" runs_simulate build/examples/installed/simulate
check "add_subdirectory: configure" configure build/examples/subdirectory -DDUROXIDE_SOURCE_DIR="$root"
check "add_subdirectory: build" cmake --build build/examples/subdirectory -j2
check "add_subdirectory: run" runs_hello build/examples/subdirectory/hello
check "add_subdirectory: simulate" runs_simulate build/examples/subdirectory/simulate
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
