#!/usr/bin/env bash
# Three runtime processes on one PostgreSQL database run 1,000 mixed catalog
# instances; one is killed (SIGKILL) mid-run. Every instance must end exactly as
# a single-process SQLite run of the same workload ends, every history must be
# well-formed (no completion applied twice) and replay, the change feed must
# hold one start and one finish per instance, and the queues must be empty.
# Usage (under scripts/with-postgres.sh): tests/postgres_multiprocess.sh build/native/duroxide-pg-worker
# Prints "ok   ..." / "FAIL ..." lines and "N passed, M failed".
set -u
worker=${1:?usage: postgres_multiprocess.sh path/to/duroxide-pg-worker path/to/duroxide}
cli=${2:?usage: postgres_multiprocess.sh path/to/duroxide-pg-worker path/to/duroxide}
: "${DUROXIDE_PG:?run under scripts/with-postgres.sh}"
instances=${INSTANCES:-1000}
schema=mp_test
passed=0 failed=0
check() {  # check NAME COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
log=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$log"' EXIT

"$worker" reset --db "$DUROXIDE_PG" --schema $schema >/dev/null
check "seed $instances instances" "$worker" seed --db "$DUROXIDE_PG" --schema $schema --instances "$instances"
start=$(date +%s%N)
pids=()
for n in 1 2 3; do
  "$worker" work --db "$DUROXIDE_PG" --schema $schema --seconds 240 >"$log/w$n.log" 2>&1 &
  pids+=($!)
done
# Kill process 2 once about a fifth of the instances have finished.
for _ in $(seq 1 600); do
  done_count=$(psql "$DUROXIDE_PG" -tA -c "SELECT COUNT(*) FROM $schema.instances WHERE status <> 'Running'" 2>/dev/null || echo 0)
  [ "${done_count:-0}" -ge $((instances / 5)) ] && break
  sleep 0.1
done
kill -9 "${pids[1]}"
echo "killed process 2 (pid ${pids[1]}) after $done_count instances finished"
wait "${pids[0]}"; s1=$?
wait "${pids[2]}"; s3=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "process 1 finished cleanly" test "$s1" -eq 0
check "process 3 finished cleanly" test "$s3" -eq 0
verify=$("$worker" verify --db "$DUROXIDE_PG" --schema $schema --instances "$instances")
echo "$verify"
check "every instance ended as the single-process reference, exactly once, histories sound" \
  grep -q '"ok":true' <<<"$verify"
# The CLI takes the connection string wherever it takes --db (schema "duroxide").
contains() { case "$3" in *"$2"*) passed=$((passed + 1)); echo "ok   $1" ;; *) failed=$((failed + 1)); echo "FAIL $1: $3" ;; esac; }
contains "CLI run on PostgreSQL" '"status":"Completed"' "$("$cli" run HelloWorld Pg --id cli-pg-1 --db "$DUROXIDE_PG")"
contains "CLI status on PostgreSQL" '"output":"Hi, Pg!"' "$("$cli" status cli-pg-1 --db "$DUROXIDE_PG")"
contains "CLI instances on PostgreSQL" '"instance":"cli-pg-1"' "$("$cli" instances --db "$DUROXIDE_PG")"
contains "CLI diagnostics names the store" '"store_kind":"postgres"' "$("$cli" diagnostics --db "$DUROXIDE_PG")"
contains "CLI timeseries on PostgreSQL" '"starts":1' "$("$cli" timeseries --metric starts --bucket hour --db "$DUROXIDE_PG")"
echo "multiprocess: $instances instances (+ children) in ${elapsed_ms} ms with 3 processes, one killed"
"$worker" reset --db "$DUROXIDE_PG" --schema $schema >/dev/null
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
