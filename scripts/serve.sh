#!/usr/bin/env bash
# The README's main command: set up, build the wasm target, serve playground/ on
# 127.0.0.1 (port from $PORT, default 8080) until interrupted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${PORT:-8080}

bash scripts/setup.sh
bash scripts/build.sh wasm
# Prints "Playground: http://127.0.0.1:<port>/" once listening.
exec node scripts/static-server.mjs "$port"
