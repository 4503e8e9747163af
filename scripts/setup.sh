#!/usr/bin/env bash
# Idempotent setup on Debian 12: system packages (only those missing), the SQLite
# amalgamation (third_party/sqlite/) and the project-local Emscripten cache (.emcache/).
# A second run does nothing and takes well under a second.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# Debian package -> what the build needs from it (a command, or a file path). Probing what is
# needed rather than asking dpkg accepts equivalent installs, e.g. NodeSource's nodejs, which
# bundles npm and conflicts with Debian's npm package.
requirements=(
  "emscripten:/usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake"
  "nlohmann-json3-dev:/usr/include/nlohmann/json.hpp"
  "catch2:/usr/include/catch2/catch.hpp"
  "ninja-build:ninja"
  "cmake:cmake"
  "g++:g++"
  "nodejs:node"
  "npm:npm"
  "python3:python3"
  "ca-certificates:/etc/ssl/certs/ca-certificates.crt"
  "chromium:/usr/bin/chromium"
  "libpq-dev:/usr/include/postgresql/libpq-fe.h"
  "postgresql:/usr/lib/postgresql/15/bin/initdb"
)

missing=()
for r in "${requirements[@]}"; do
  pkg=${r%%:*} probe=${r#*:}
  if [[ $probe == /* ]]; then [ -e "$probe" ] && continue
  else command -v "$probe" >/dev/null && continue
  fi
  missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=(env DEBIAN_FRONTEND=noninteractive)
  elif command -v sudo >/dev/null; then
    as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
  else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: apt-get update"
  "${as_root[@]}" apt-get update -qq </dev/null
  echo "setup: apt-get install ${missing[*]} (can take a few minutes)"
  "${as_root[@]}" apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
  echo "setup: packages installed"
fi

bash "$root/scripts/fetch-sqlite.sh"
bash "$root/scripts/seed-emcache.sh"

# Playwright for the browser tests: the npm packages pinned by tests/browser/package-lock.json,
# driving Debian's /usr/bin/chromium (never `npx playwright install`: no browser download).
browser_dir="$root/tests/browser"
if [ ! -f "$browser_dir/node_modules/.package-lock.json" ] ||
   [ "$browser_dir/package-lock.json" -nt "$browser_dir/node_modules/.package-lock.json" ]; then
  echo "setup: npm ci in tests/browser"
  (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
# TypeScript for the package suite's type check: tests/js-package/package-lock.json.
package_tests_dir="$root/tests/js-package"
if [ ! -f "$package_tests_dir/node_modules/.package-lock.json" ] ||
   [ "$package_tests_dir/package-lock.json" -nt "$package_tests_dir/node_modules/.package-lock.json" ]; then
  echo "setup: npm ci in tests/js-package"
  (cd "$package_tests_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: ok"
