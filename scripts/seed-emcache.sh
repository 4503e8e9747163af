#!/usr/bin/env bash
# Seed the project-local Emscripten cache (.emcache/) from Debian's prebuilt, frozen
# system cache. Emscripten 3.1.6 as packaged by Debian runs with FROZEN_CACHE=True: an
# empty EM_CACHE makes every emcc call fail ("cache file is missing: sysroot_install.stamp"),
# and unfreezing it rebuilds libc/libc++/... from source (minutes). A copy of the system
# cache (~750 MB, a few seconds) is complete and stays frozen. Idempotent: skips when the
# copy matches the installed emscripten version.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.emcache"
src=/usr/share/emscripten/cache
version_file=/usr/share/emscripten/emscripten-version.txt

if [ ! -f "$src/sysroot_install.stamp" ] || [ ! -f "$version_file" ]; then
  echo "seed-emcache: $src is missing; install emscripten first (bash scripts/setup.sh)" >&2
  exit 1
fi
want="emscripten $(tr -d '"\n' < "$version_file")"
if [ -f "$dest/.seeded" ] && [ "$(cat "$dest/.seeded")" = "$want" ]; then
  exit 0
fi

echo "seed-emcache: copying $src to .emcache/ ($want)"
tmp="$dest.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
cp -a --reflink=auto "$src" "$tmp"
printf '%s\n' "$want" > "$tmp/.seeded"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
