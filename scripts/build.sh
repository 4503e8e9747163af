#!/usr/bin/env bash
# Configure (first time only; ninja re-runs cmake itself when CMakeLists.txt changes)
# and build.   bash scripts/build.sh [native|wasm|all|fuzz]   (default: all = native + wasm)
#   (wasm also assembles build/playground-site/, the playground as static files)
#   build/native  g++, RelWithDebInfo
#   build/wasm    Emscripten 3.1.6 via its toolchain file (not emcmake: docs/toolchain.md, note 6), Release
#   build/fuzz    clang, the libFuzzer targets only (bash scripts/build.sh fuzz; docs/fuzzing.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

configure_native() {
  cmake -S . -B build/native -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++
}
configure_fuzz() {
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDUROXIDE_FUZZ=ON -DDUROXIDE_POSTGRES=OFF "${launcher[@]}"
}
configure_wasm() {
  cmake -S . -B build/wasm -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE=/usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake \
    -DCMAKE_CROSSCOMPILING_EMULATOR=/usr/bin/node
}

build() {
  local name=$1
  echo "build: $name"
  if [ ! -f "build/$name/build.ninja" ]; then
    mkdir -p "build/$name"
    "configure_$name" > "build/$name/configure.log" 2>&1 || {
      cat "build/$name/configure.log" >&2
      echo "build: configuring build/$name failed" >&2
      return 1
    }
  fi
  if [ "$name" = fuzz ]; then
    cmake --build build/fuzz -j2 --target fuzzers
  else
    cmake --build "build/$name" -j2
  fi
}

# The playground as a folder of static files for any static host (docs/playground.md):
# playground/ with the npm package beside it in package/, as the pages import it.
assemble_site() {
  local site=build/playground-site
  rm -rf "$site" && mkdir -p "$site/package"
  cp -r playground/. "$site/"
  cp build/wasm/package/index.mjs build/wasm/package/duroxide.mjs build/wasm/package/duroxide_core.mjs \
     build/wasm/package/duroxide_core.wasm build/wasm/package/package.json "$site/package/"
  echo "build: the static playground is $site/"
}

target=${1:-all}
mkdir -p build
case "$target" in
  native|fuzz) build "$target" ;;
  wasm) build wasm; assemble_site ;;
  all) build native; build wasm; assemble_site ;;
  *) echo "usage: bash scripts/build.sh [native|wasm|all|fuzz]" >&2; exit 2 ;;
esac
