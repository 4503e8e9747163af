#!/usr/bin/env bash
# Scale-out: orchestrations/s with 1, 2 and 3 runtime processes (each a threaded
# runtime, 2/2 concurrency) on one store, PostgreSQL beside a SQLite file, in the
# same run. Each run seeds N HelloWorld 1.0.0 instances (one activity each), starts
# the processes together and times from their launch to the last instance's finish.
# Usage: bash scripts/with-postgres.sh bash bench/processes.sh [N] [OUT.md]
# Fails when a run leaves an instance unfinished.
# (the throwaway cluster runs with fsync=off: compare processes, not absolute rates).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
worker=build/native/duroxide-pg-worker
n=${1:-400}
out=${2:-build/test-logs/bench/processes.md}
: "${DUROXIDE_PG:?run under scripts/with-postgres.sh}"
mkdir -p "$(dirname "$out")" build/bench-tmp
sqlite_db="$root/build/bench-tmp/processes.db"

run() {  # run STORE PROCESSES -> instances/s
  local db=$1 processes=$2 start pids=() report finished last
  "$worker" reset --db "$db" --schema bench_processes >/dev/null
  "$worker" seed --db "$db" --schema bench_processes --instances "$n" --mix hello >/dev/null
  start=$(date +%s%3N)
  for _ in $(seq 1 "$processes"); do
    "$worker" work --db "$db" --schema bench_processes --seconds 300 --poll-ms 1 >/dev/null 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  report=$("$worker" finished --db "$db" --schema bench_processes)
  "$worker" reset --db "$db" --schema bench_processes >/dev/null
  finished=${report% *} last=${report#* }
  if [ "$finished" != "$n" ]; then
    echo "processes: only $finished of $n instances finished with $processes process(es) on $db" >&2
    exit 1
  fi
  # From the processes' launch to the last instance's finish (its updated_at):
  # process start counts, the workers' idle detection and shutdown do not.
  node -e "console.log(($n * 1000 / Math.max(1, $last - $start)).toFixed(1))"
}

{
  echo "| store | 1 process | 2 processes | 3 processes | 3 ÷ 1 |"
  echo "|---|---|---|---|---|"
  for store in postgres sqlite; do
    db=$DUROXIDE_PG
    [ "$store" = sqlite ] && db=$sqlite_db
    r1=$(run "$db" 1); r2=$(run "$db" 2); r3=$(run "$db" 3)
    echo "| $store | $r1/s | $r2/s | $r3/s | $(node -e "console.log(($r3 / $r1).toFixed(2))") |"
  done
} | tee "$out"
echo "($n HelloWorld instances per run; instances/s from launching the processes to the last finish)"
