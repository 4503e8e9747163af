#!/usr/bin/env bash
# DBOS Transact beside Duroxide on one PostgreSQL cluster, in one run: N one-step
# DBOS workflows (bench/peers/dbos_one_step.mjs) and N HelloWorld 1.0.0 instances
# (one activity) on a threaded 2/2 runtime at default options, each with its starts
# inside the timed window, alternating for ROUNDS rounds. Prints a markdown table
# with each round's rates and Duroxide ÷ DBOS, and the cluster's raw autocommit
# rate. Not part of the test command: it installs DBOS from npm into build/peers.
# Usage: bash scripts/with-postgres.sh bash bench/peers/run.sh [N] [ROUNDS] [OUT.md]
# A durable cluster (each commit flushed to disk) instead of the default throwaway one:
#   DUROXIDE_PG_SERVER_OPTIONS="-c fsync=on" bash scripts/with-postgres.sh bash bench/peers/run.sh
# Needs a native build with PostgreSQL (bash scripts/build.sh native).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
n=${1:-5000}
rounds=${2:-2}
out=${3:-build/test-logs/bench/peers.md}
: "${DUROXIDE_PG:?run under scripts/with-postgres.sh}"
bench=build/native/duroxide_bench
[ -x "$bench" ] || { echo "peers: $bench is missing (bash scripts/build.sh native)" >&2; exit 1; }

peers=build/peers
mkdir -p "$peers" "$(dirname "$out")" build/bench-tmp
cp bench/peers/package.json bench/peers/dbos_one_step.mjs "$peers/"
(cd "$peers" && npm install --no-audit --no-fund --loglevel=error >/dev/null)

# DBOS takes a URL; the cluster's conninfo names host, port and user.
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$DUROXIDE_PG"; }
url="postgresql://$(field user)@$(field host):$(field port)/dbos_peers"

# The cluster's own word on whether a commit waits for the disk.
fsync=$(psql "$DUROXIDE_PG" -Atc "SHOW fsync")

json_field() { node -e "const r=JSON.parse(require('fs').readFileSync(0,'utf8'));console.log($1)"; }

{
  echo "| round | DBOS $(node -e "console.log(require('./$peers/node_modules/@dbos-inc/dbos-sdk/package.json').version)") one-step workflows/s | Duroxide HelloWorld 1.0.0/s (threaded 2/2, defaults) | Duroxide ÷ DBOS | Duroxide ÷ (raw autocommit rate ÷ 4) |"
  echo "|---|---|---|---|---|"
  for round in $(seq 1 "$rounds"); do
    dbos=$(node --no-deprecation "$peers/dbos_one_step.mjs" "$url" "$n" | json_field 'r.workflows_per_s.toFixed(1)')
    "$bench" --db "$DUROXIDE_PG" --only throughput --workload "HelloWorld 1.0.0" --driver "threaded 2/2" \
      --sync NORMAL --instances "$n" --dir build/bench-tmp --out build/bench-tmp/peers.json 2>/dev/null >/dev/null
    # The row with its starts timed: instances finished, orchestrations/s, ÷ (commit ÷ 4).
    read -r finished ours ratio < <(json_field '(t => [t.finished, t.orchestrations_per_s.toFixed(1),
      t.ratio_to_quarter_commit_rate.toFixed(2)].join(" "))(r.postgres.throughput.find(t => t.starts === "inside the timed window"))' \
      < build/bench-tmp/peers.json)
    [ "$finished" = "$n" ] || { echo "peers: Duroxide finished $finished of $n instances" >&2; exit 1; }
    echo "| $round | $dbos | $ours | $(node -e "console.log(($ours / $dbos).toFixed(2))") | $ratio |"
  done
  echo
  echo "$n of each per round, one process each, on one throwaway cluster (fsync $fsync); raw autocommit" \
       "rate $(json_field 'r.postgres.commit_rate.toFixed(0)' < build/bench-tmp/peers.json)/s in the last round."
} | tee "$out"
