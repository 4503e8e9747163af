#!/usr/bin/env bash
# Fetch the SQLite amalgamation into third_party/sqlite/ (git-ignored).
# Source: the npm tarball of better-sqlite3, which vendors it under deps/sqlite3/;
# the tarball is pinned by SHA-256. Skips when the files are already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/sqlite"
pkg="better-sqlite3@12.11.1"
sha256="ebf0ed75a7a59dbcb3b24bbd014ef49d9f15bc328e4adcbf516f2a8fadfa2835"

if [ -f "$dest/sqlite3.c" ] && [ -f "$dest/sqlite3.h" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-sqlite: npm not found (run bash scripts/setup.sh)" >&2; exit 1; }

echo "fetch-sqlite: npm pack $pkg"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "$pkg" --silent --no-fund --no-audit >/dev/null </dev/null)
tarball=$(ls "$tmp"/*.tgz 2>/dev/null | head -n 1)
[ -n "$tarball" ] || { echo "fetch-sqlite: npm pack produced no tarball" >&2; exit 1; }
got=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$got" != "$sha256" ]; then
  echo "fetch-sqlite: SHA-256 MISMATCH for $pkg" >&2
  echo "  expected $sha256" >&2
  echo "  got      $got" >&2
  exit 1
fi

members=(package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h)
if tar -tzf "$tarball" | grep -qx 'package/deps/sqlite3/sqlite3ext.h'; then
  members+=(package/deps/sqlite3/sqlite3ext.h)
fi
# -m: give the files the current time, so a re-fetch makes ninja rebuild them.
tar -xmzf "$tarball" -C "$tmp" "${members[@]}"
mkdir -p "$dest"
# Headers first, sqlite3.c last: its presence marks a complete fetch.
for f in sqlite3.h sqlite3ext.h sqlite3.c; do
  if [ -f "$tmp/package/deps/sqlite3/$f" ]; then
    mv -f "$tmp/package/deps/sqlite3/$f" "$dest/$f"
  fi
done
echo "fetch-sqlite: $(grep -m1 '#define SQLITE_VERSION ' "$dest/sqlite3.h" | awk '{print $3}' | tr -d '"') in third_party/sqlite/"
