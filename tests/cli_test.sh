#!/usr/bin/env bash
# End-to-end tests of the native `duroxide` CLI. Usage: tests/cli_test.sh BINARY
# Prints one line per check and ends with "N passed, M failed".
set -u
cli=${1:?usage: cli_test.sh path/to/duroxide}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="$work/store.db"
passed=0 failed=0

check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1"; echo "     expected: $2"; echo "     actual:   $3"
  fi
}
contains() {  # contains NAME NEEDLE HAYSTACK
  case "$3" in
    *"$2"*) passed=$((passed + 1)); echo "ok   $1" ;;
    *) failed=$((failed + 1)); echo "FAIL $1"; echo "     expected to contain: $2"; echo "     actual: $3" ;;
  esac
}
exit_code() { "$@" >/dev/null 2>&1; echo $?; }

# run: in memory and in a file, every outcome
check "run HelloWorld 1.0.0" \
  '{"executions":1,"instance":"h1","output":"Hello, Ada!","status":"Completed"}' \
  "$("$cli" run HelloWorld Ada --id h1 --version 1.0.0)"
check "run HelloWorld latest (2.0.0)" '"Hi, Ada!"' \
  "$("$cli" run HelloWorld Ada --id h2 | sed 's/.*"output":\("[^"]*"\).*/\1/')"
check "run Fails" '{"error":"boom","executions":1,"instance":"f","status":"Failed"}' \
  "$("$cli" run Fails boom --id f)"
check "run Counter counts executions" \
  '{"executions":4,"instance":"c","output":"3","status":"Completed"}' \
  "$("$cli" run Counter '{"count":0,"limit":3}' --id c --db "$db")"
check "run LongTimer times out Running" '{"executions":1,"instance":"long","status":"Running"}' \
  "$("$cli" run LongTimer '' --id long --timeout-ms 200 --db "$db")"
# A duration is read in its unit: 1s drives the runtime for a second (not 1 ms), then stops.
started_ms=$(( $(date +%s%N) / 1000000 ))
check "run takes its timeout as a duration" '"status":"Running"' \
  "$("$cli" run LongTimer '' --id long-d --timeout-ms 1s | grep -o '"status":"Running"')"
elapsed_ms=$(( $(date +%s%N) / 1000000 - started_ms ))
check "run's timeout of 1s lasts a second (took ${elapsed_ms} ms)" yes \
  "$([ "$elapsed_ms" -ge 1000 ] && [ "$elapsed_ms" -lt 10000 ] && echo yes || echo no)"
for bad in soon 1.5s -5 ''; do
  check "run refuses the timeout \"$bad\" (exit 2)" 2 "$(exit_code "$cli" run HelloWorld Ada --timeout-ms "$bad")"
done
check "resume refuses a timeout that is not a time (exit 2)" 2 "$(exit_code "$cli" resume --db "$db" --timeout-ms later)"

# every other sample of the catalog, with its documented output
output_of() { "$cli" run "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("output"))'; }
check "run FanOutFanIn" '["Hello, a!","Hello, b!","Hello, c!"]' "$(output_of FanOutFanIn '["a","b","c"]')"
check "run Chain" 15 "$(output_of Chain '{"steps":5,"value":10}')"
check "run Approval (timer first)" timeout "$(output_of Approval '{"timeout_ms":50}')"
check "run Parent" '["Hi, a!","Hi, b!"]' "$(output_of Parent '["a","b"]')"
check "run RetryFlaky (succeeds)" "ok after 2 failures" "$(output_of RetryFlaky '{"fail_times":2,"max_attempts":3}')"
check "run RetryFlaky (exhausted)" '{"error":"flaky failure 3","executions":1,"instance":"rf","status":"Failed"}' \
  "$("$cli" run RetryFlaky '{"fail_times":3,"max_attempts":3}' --id rf)"
check "run Saga (committed)" committed "$(output_of Saga '{"amount":10,"fail_credit":false}')"
check "run Saga (compensated)" compensated "$(output_of Saga '{"amount":10,"fail_credit":true}')"

# run: a name (or version) the catalog does not register fails at once
started=$(date +%s)
unknown_err=$("$cli" run NoSuchOrchestration '' --timeout-ms 3000 2>&1 >/dev/null); rc=$?
check "run of an unregistered name exits 1" 1 "$rc"
check "run of an unregistered name fails at once" yes "$([ $(( $(date +%s) - started )) -lt 2 ] && echo yes || echo no)"
contains "run of an unregistered name says so" "orchestration NoSuchOrchestration is not registered" "$unknown_err"
contains "run of an unregistered name lists the registered ones" "HelloWorld" "$unknown_err"
check "run of an unregistered version exits 1" 1 \
  "$(exit_code "$cli" run HelloWorld Ada --version 9.0.0 --timeout-ms 3000)"

# status, history, replay on the file
contains "status of a running instance" '"custom_status":"waiting"' "$("$cli" status long --db "$db")"
contains "status of a finished instance" '"output":"3"' "$("$cli" status c --db "$db")"
history=$("$cli" history c --db "$db")
contains "history is a JSON array of events" '"kind":"OrchestrationStarted"' "$history"
contains "history of an older execution" '"input":"{\"count\":0,\"limit\":3}"' \
  "$("$cli" history c --execution 1 --db "$db")"
contains "replay is deterministic" '"deterministic":true' "$("$cli" replay c --db "$db")"

# raise, enqueue and cancel on waiting instances
"$cli" run Approval '{"timeout_ms":600000}' --id a --timeout-ms 100 --db "$db" >/dev/null
check "raise an event (raise-event returns null)" null "$("$cli" raise a Approve yes --db "$db")"
"$cli" run Mailbox '{"messages":1}' --id m --timeout-ms 100 --db "$db" >/dev/null
check "enqueue a message (enqueue-event returns null)" null "$("$cli" enqueue-event m inbox --data hello --db "$db")"
check "cancel a running instance" true "$("$cli" cancel long stop --db "$db")"
# The message and the cancel wait, and nothing has taken them yet (running Mailbox took the event).
now_ms=$(( $(date +%s%N) / 1000000 ))
check "--ready-work-before lists the instances whose work waits" "long m" \
  "$("$cli" list-instances --ready-work-before $((now_ms + 1)) --db "$db" | python3 -c 'import json,sys; print(" ".join(sorted(i["instance"] for i in json.load(sys.stdin)["instances"])))')"
check "--ready-work-before a time before that work counts none" 0 \
  "$("$cli" count-instances --ready-work-before $((now_ms - 600000)) --db "$db")"
contains "resume drives everything to the end" '"running":0' "$("$cli" resume --db "$db" --timeout-ms 5000)"
contains "the event reached Approval" '"output":"approved:yes"' "$("$cli" status a --db "$db")"
contains "the message reached Mailbox" '"output":"hello"' "$("$cli" status m --db "$db")"
contains "the cancelled instance failed" '"message":"canceled: stop"' "$("$cli" status long --db "$db")"
check "cancel of a finished instance sends nothing" false "$("$cli" cancel-instance long again --db "$db")"

# replay detects a history that no longer matches the code
sqlite_edit() { python3 - "$db" "$1" <<'EOF'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1]); con.execute(sys.argv[2]); con.commit()
EOF
}
if command -v python3 >/dev/null; then
  sqlite_edit "UPDATE history SET event_json = replace(event_json, '\"name\":\"AddOne\"', '\"name\":\"AddTwo\"') WHERE instance_id = 'c' AND execution_id = 1 AND event_kind = 'ActivityScheduled'"
  out=$("$cli" replay c --execution 1 --db "$db"); rc=$?
  contains "replay reports the mismatch" '"expected":"ActivityScheduled(name=\"AddTwo\"' "$out"
  check "replay exits 1 on a mismatch" 1 "$rc"
fi

# management verbs on the same file
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }
check "count-by-status counts by status" 1 "$("$cli" count-by-status --db "$db" --status Failed | json_get '["Failed"]')"
check "count-instances takes the same filter" 1 "$("$cli" count-instances --db "$db" --status Failed)"
check "instances filters by name" c "$("$cli" instances --db "$db" --name Counter | json_get '["instances"][0]["instance"]')"
check "instances pages with a cursor" 1 \
  "$("$cli" instances --db "$db" --limit 1 | json_get '["next_cursor"]!=""' | sed 's/True/1/')"
check "--sort created-asc lists the oldest first" \
  "$("$cli" instances --db "$db" --limit 1000 | json_get '["instances"][-1]["instance"]')" \
  "$("$cli" instances --db "$db" --sort created-asc --limit 1 | json_get '["instances"][0]["instance"]')"
check "--sort updated-desc lists the latest change first" \
  "$("$cli" instances --db "$db" --sort updated-asc --limit 1000 | json_get '["instances"][-1]["instance"]')" \
  "$("$cli" instances --db "$db" --sort updated-desc --limit 1 | json_get '["instances"][0]["instance"]')"
check "an unknown --sort exits 2" 2 "$(exit_code "$cli" instances --sort duration --db "$db")"
check "show lists every execution" 4 "$("$cli" show c --db "$db" | json_get '["execution_list"].__len__()')"
"$cli" run LongTimer '' --id waits --timeout-ms 50 --db "$db" >/dev/null
check "show gives the pending timer" timer "$("$cli" show waits --db "$db" | json_get '["pending"][0]["kind"]')"
check "stats counts continue-as-new" 3 \
  "$("$cli" stats --db "$db" --name Counter | json_get '["orchestrations"][0]["continued"]')"
contains "stats lists activities" '"name":"AddOne"' "$("$cli" stats --db "$db")"
contains "get-activity-stats has the same rows" '"name":"AddOne"' "$("$cli" get-activity-stats --db "$db")"
contains "health has a score" '"score":' "$("$cli" health --db "$db")"
contains "problems has three lists" '"recently_failed":' "$("$cli" problems --db "$db")"
check "queues shows pending timers" True "$("$cli" queues --db "$db" | json_get '["timers_pending"]>0')"
sqlite_edit "INSERT INTO parked_messages (instance_id, item_json, reason, parked_at) VALUES ('ghost', '{\"instance\":\"ghost\",\"kind\":\"CancelInstance\",\"reason\":\"r\"}', 'instance does not exist', 7)"
check "parked lists what the store parked, with its item" CancelInstance \
  "$("$cli" parked --db "$db" | json_get '[0]["item"]' | json_get '["kind"]')"
parked_id=$("$cli" parked --db "$db" | json_get '[0]["id"]')
check "a read-only store refuses to delete a parked message" 1 \
  "$(exit_code "$cli" delete-parked-messages "$parked_id" --read-only --db "$db")"
check "delete-parked-messages counts what it deleted" 1 \
  "$("$cli" delete-parked-messages "$parked_id,$((parked_id + 1000))" --db "$db" | json_get '["deleted"]')"
check "nothing is left parked" 0 "$("$cli" queues --db "$db" | json_get '["parked"]')"
check "a parked message's id is a positive integer" 2 "$(exit_code "$cli" delete-parked-messages 0 --db "$db")"
"$cli" export c --db "$db" > "$work/c.json"
check "a dry-run bulk prune counts what would go" 3 \
  "$("$cli" prune-many --name Counter --keep 1 --dry-run --db "$db" | json_get '["executions_pruned"]')"
# The events of c's two oldest executions, as the instance's listing of executions counts them.
doomed_events=$("$cli" show c --db "$db" | json_get '["execution_list"][0]["events"] + d["execution_list"][1]["events"]')
"$cli" prune c --keep 2 --db "$db" > "$work/pruned.json"
check "prune keeps the newest executions" 2 "$(json_get '["pruned"]' < "$work/pruned.json")"
check "prune counts the events of what it removed" "$doomed_events" "$(json_get '["events_pruned"]' < "$work/pruned.json")"
check "prune-many prunes every match" 1 "$("$cli" prune-many --name Counter --keep 1 --db "$db" | json_get '["executions_pruned"]')"
check "delete removes an instance" 1 "$("$cli" delete c --db "$db" | json_get '["instances"]')"
check "import restores the export" c "$("$cli" import "$work/c.json" --db "$db" | json_get '')"
check "the import has every execution again" 4 "$("$cli" show c --db "$db" | json_get '["execution_list"].__len__()')"
# A document argument is read up to its limit (512 MiB), never further: a larger file is
# refused before it is read, an endless stream once the limit is passed (exit 2).
truncate -s 600M "$work/huge.json"
check "import of a file over the document limit exits 2" 2 "$(exit_code "$cli" import "$work/huge.json" --db "$db")"
contains "import of a file over the limit says so" "over the limit of 536870912 bytes" \
  "$("$cli" import "$work/huge.json" --db "$db" 2>&1)"
rm -f "$work/huge.json"
check "import of an endless stream stops at the limit (exit 2)" 2 \
  "$(ulimit -v 4000000; exit_code "$cli" import /dev/zero --db "$db")"
check "a running instance needs --force" 1 "$(exit_code "$cli" delete waits --db "$db")"
check "--force deletes a running instance" 1 "$("$cli" delete waits --force --db "$db" | json_get '["instances"]')"
# bulk verbs
for i in 1 2 3; do "$cli" run Approval '{"timeout_ms":600000}' --id "bulk-$i" --timeout-ms 50 --db "$db" >/dev/null; done
page=$("$cli" raise-many Approve many --prefix bulk- --batch 2 --one-page --db "$db")
check "--one-page runs one batch of a bulk verb" 2 "$(echo "$page" | json_get '["items"].__len__()')"
check "--one-page prints where to go on" yes "$(echo "$page" | json_get '["continuation"]!=""' | sed 's/True/yes/')"
check "a dry run counts every running match" 3 "$("$cli" cancel-many tidy --prefix bulk- --dry-run --db "$db" | json_get '["succeeded"]')"
check "a dry run cancels nothing" 3 "$("$cli" count-instances --prefix bulk- --status Running --db "$db")"
# Nothing ran in between: all three are still running, so all three get a cancel,
# one batch per call, in one command.
walked=$("$cli" cancel-many tidy --prefix bulk- --batch 1 --db "$db")
check "cancel-many walks every batch in one command" 3 "$(echo "$walked" | json_get '["succeeded"]')"
check "cancel-many counts its calls" 3 "$(echo "$walked" | json_get '["pages"]')"
check "cancel-many lists no failures" 0 "$(echo "$walked" | json_get '["failures"].__len__()')"
check "--one-page needs a paged command" 2 "$(exit_code "$cli" status bulk-1 --one-page --db "$db")"
waited=$("$cli" wait bulk-1,bulk-2,bulk-3 --db "$db" --timeout-ms 5000)
contains "wait: the event raised first wins over the later cancel" '"output":"approved:many"' "$waited"
contains "wait: the instance without an event is cancelled" '"message":"canceled: tidy"' "$waited"
contains "statuses reports unknown ids" '"status":"NotFound"' "$("$cli" statuses bulk-1,ghost --db "$db")"
"$cli" run Parent '["t1","t2"]' --id fam --db "$db" >/dev/null
check "tree nests the children" 2 "$("$cli" tree fam --db "$db" | json_get '["children"].__len__()')"
contains "metrics as JSON" '"instances":{' "$("$cli" metrics --db "$db")"
store_text=$("$cli" metrics --prometheus --db "$db")
contains "metrics as Prometheus text" 'duroxide_store_queue_items{queue="parked"}' "$store_text"
contains "metrics count the store's activities" \
  'duroxide_store_activity_executions{activity_name="AddOne",outcome="completed"}' "$store_text"
contains "metrics: upstream's active-orchestrations gauge" 'duroxide_active_orchestrations{state="all"} ' "$store_text"
contains "changes reports the deletion" '"status":"Deleted"' "$("$cli" changes --db "$db" --limit 1000)"

# get-instance-stats: an event no wait takes is queued, then sits in the history until a wait takes it
sdb="$work/stats.db"
"$cli" run Approval '{"timeout_ms":600000}' --id st --timeout-ms 50 --db "$sdb" >/dev/null
stats_of() { "$cli" get-instance-stats st --db "$sdb" | json_get "$1"; }
queued=$(stats_of '["queue_pending_count"]')  # the durable timer's message
"$cli" raise st Unrelated x --db "$sdb" >/dev/null
check "get-instance-stats: a raised event is queued first" "$((queued + 1)) 0" \
  "$(stats_of '["queue_pending_count"]') $(stats_of '["carry_forward_count"]')"
"$cli" resume --db "$sdb" --timeout-ms 100 >/dev/null
check "get-instance-stats: after a turn no wait has taken it" "$queued 1" \
  "$(stats_of '["queue_pending_count"]') $(stats_of '["carry_forward_count"]')"
"$cli" raise st Approve yes --db "$sdb" >/dev/null
"$cli" resume --db "$sdb" --timeout-ms 2000 >/dev/null
check "get-instance-stats: a finished instance carries nothing forward" "Completed 0" \
  "$("$cli" status st --db "$sdb" | json_get '["status"]') $(stats_of '["carry_forward_count"]')"

# bad input: non-zero exit and exactly one line on stderr
for bad in "frob" "run" "run HelloWorld" "status x" "run HelloWorld x --timeout-ms soon" \
           "run HelloWorld x --bogus 1"; do
  # shellcheck disable=SC2086
  err=$("$cli" $bad 2>&1 >/dev/null); rc=$?
  check "bad usage '$bad' exits 2" 2 "$rc"
  check "bad usage '$bad' prints one line" 1 "$(printf '%s\n' "$err" | wc -l)"
done
contains "status of an unknown instance is NotFound" '"status":"NotFound"' "$("$cli" status nobody --db "$db")"
check "details of an unknown instance exit 1" 1 "$(exit_code "$cli" show nobody --db "$db")"
check "an unknown argument exits 2" 2 "$(exit_code "$cli" get-status x --bogus 1 --db "$db")"
check "too many positional arguments exit 2" 2 "$(exit_code "$cli" get-status x y --db "$db")"
check "a missing required argument exits 2" 2 "$(exit_code "$cli" get-status --db "$db")"
check "a limit out of range exits 2" 2 "$(exit_code "$cli" list-instances --limit 0 --db "$db")"
check "a limit over the maximum exits 2" 2 "$(exit_code "$cli" list-instances --limit 1001 --db "$db")"
contains "the error names the argument and its range" "limit must be 1 to 1000" \
  "$("$cli" list-instances --limit 5000 --db "$db" 2>&1)"
check "a bad state in a filter exits 2" 2 "$(exit_code "$cli" list-instances --status Sleeping --db "$db")"
contains "help of one command lists its arguments" "timeoutMs (--timeout-ms, duration" "$("$cli" help wait-for-orchestration)"
contains "help of an alias shows its command" "usage: duroxide get-status <instance>" "$("$cli" help status)"
check "help of an unknown verb exits 2" 2 "$(exit_code "$cli" help frobnicate)"
check "duplicate start exits 1" 1 "$(exit_code "$cli" run HelloWorld x --id c --db "$db")"
check "an over-long id exits 1" 1 "$(exit_code "$cli" run HelloWorld x --id "$(printf 'x%.0s' $(seq 300))")"
contains "the error names the problem" "over the limit of 256" \
  "$("$cli" run HelloWorld x --id "$(printf 'x%.0s' $(seq 300))" 2>&1)"
contains "--help documents every verb" "resume --db FILE" "$("$cli" --help)"
contains "samples lists the catalog" '"name": "RetryFlaky"' "$("$cli" samples)"

# one page of a filtered delete says where to go on; --continuation goes on from there
cont="$work/continue.db"
for i in 1 2 3; do "$cli" run HelloWorld Ada --id "cont-$i" --db "$cont" >/dev/null; done
check "a dry-run delete counts and keeps" 3 "$("$cli" delete-instances --limit 1 --dry-run --db "$cont" | json_get '["instances"]')"
next=$("$cli" delete-instances --limit 1 --one-page --db "$cont" | json_get '["continuation"]')
check "a filtered delete stopped at its limit gives a continuation" yes "$([ -n "$next" ] && echo yes || echo no)"
check "--continuation goes on from there" 2 "$("$cli" delete-instances --continuation "$next" --db "$cont" | json_get '["instances"]')"
check "a made-up continuation exits 1" 1 "$(exit_code "$cli" delete-instances --continuation nonsense --db "$cont")"
check "a made-up bulk continuation exits 1" 1 "$(exit_code "$cli" cancel-many --continuation nonsense --db "$cont")"

check "purge removes finished instances" 0 \
  "$("$cli" purge --older-than-ms 0 --db "$db" >/dev/null; "$cli" instances --db "$db" --status Completed,Failed | json_get '["instances"].__len__()')"

# diagnostics: the store describes itself
diag=$("$cli" diagnostics --db "$db")
contains "diagnostics names the store" '"store_kind":"sqlite"' "$diag"
contains "diagnostics reports WAL mode" '"journal_mode":"wal"' "$diag"
contains "diagnostics is connected" '"connected":true' "$diag"
contains "diagnostics counts rows per table" '"table_rows":{"activity_stats":' "$diag"

# read-only mode: every change refused with the typed error, reads still work
"$cli" run HelloWorld ro --id ro-1 --db "$db" >/dev/null
check "read-only delete exits 1" 1 "$(exit_code "$cli" delete ro-1 --force --db "$db" --read-only)"
contains "read-only names the mode" "read-only mode: delete" "$("$cli" delete ro-1 --db "$db" --read-only 2>&1)"
check "read-only run exits 1" 1 "$(exit_code "$cli" run HelloWorld x --id ro-2 --db "$db" --read-only)"
cli_path=$(readlink -f "$cli")
# A flag with its value missing (an unset variable) does not take the next flag as its value.
check "--db followed by --read-only is a usage error (exit 2)" 2 \
  "$(cd "$work" && exit_code "$cli_path" list-instances --db --read-only)"
check "... and creates no file named --read-only" no "$([ -e "$work/--read-only" ] && echo yes || echo no)"
check "a host verb's --db followed by a flag is a usage error (exit 2)" 2 \
  "$(cd "$work" && exit_code "$cli_path" serve --db --timeout-ms 1)"
: > "$work/empty.db"
check "read-only on a file with no store exits 1" 1 "$(exit_code "$cli" status x --db "$work/empty.db" --read-only)"
check "read-only leaves a file with no store empty" 0 "$(stat -c %s "$work/empty.db")"
contains "read-only says it creates no store" "opened read-only, none is created" \
  "$("$cli" status x --db "$work/empty.db" --read-only 2>&1)"
cp "$db" "$work/old.db"
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA user_version = 20"); c.commit()' "$work/old.db"
check "read-only on an older schema exits 1" 1 "$(exit_code "$cli" status ro-1 --db "$work/old.db" --read-only)"
check "read-only leaves an older schema unmigrated" 20 \
  "$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA user_version").fetchone()[0])' "$work/old.db")"
contains "read-only reads a store of this build's schema" '"status":"Completed"' \
  "$("$cli" status ro-1 --db "$db" --read-only)"
check "purge takes an age in units" 0 "$(exit_code "$cli" purge --older-than 7d --db "$db")"
check "purge without an age exits 2" 2 "$(exit_code "$cli" purge --db "$db")"
check "a negative age exits 2" 2 "$(exit_code "$cli" purge --older-than -1d --db "$db")"
check "read-only purge exits 1" 1 "$(exit_code "$cli" purge --older-than-ms 0 --db "$db" --read-only)"
contains "the instance survived read-only deletes" '"status":"Completed"' "$("$cli" status ro-1 --db "$db" --read-only)"
contains "read-only listing works" '"instance":"ro-1"' "$("$cli" instances --prefix ro- --db "$db" --read-only)"
# Read-only runs nothing: an instance queued stays queued through waits, and resume and serve refuse.
"$cli" start ro-queued HelloWorld Ada --version 1.0.0 --db "$db" >/dev/null
check "a read-only wait does not run the instance (its start stays queued)" NotFound \
  "$("$cli" wait-for-orchestration ro-queued --timeout-ms 300 --db "$db" --read-only 2>/dev/null | json_get '["status"]')"
check "read-only resume is a usage error" 2 "$(exit_code "$cli" resume --db "$db" --read-only --timeout-ms 300)"
check "read-only serve is a usage error" 2 "$(exit_code "$cli" serve --db "$db" --read-only --timeout-ms 300)"
contains "the queued instance is still queued" '"status":"NotFound"' "$("$cli" status ro-queued --db "$db" --read-only)"
contains "and a run without --read-only then runs it" '"status":"Completed"' \
  "$("$cli" wait-for-orchestration ro-queued --timeout-ms 5000 --db "$db")"
check "an instance id over 256 bytes is a usage error" 2 "$(exit_code "$cli" status "$(printf 'x%.0s' $(seq 300))" --db "$db")"
check "read-only on a missing file exits 1" 1 "$(exit_code "$cli" status x --db "$work/typo.db" --read-only)"
check "and creates no file" absent "$([ -e "$work/typo.db" ] && echo present || echo absent)"
# A format the command has no form for is refused before it runs: nothing purged.
before=$("$cli" count-instances --db "$db")
check "purge with --format csv is a usage error" 2 "$(exit_code "$cli" purge --older-than-ms 0 --format csv --db "$db")"
check "and purged nothing" "$before" "$("$cli" count-instances --db "$db")"

# executions paged by the store
"$cli" run Counter '{"count":0,"limit":3}' --id paged-c --db "$db" >/dev/null
check "list-executions pages after an id" '"execution":2 "execution":3' \
  "$("$cli" list-executions paged-c --after 1 --limit 2 --db "$db" | grep -o '"execution":[0-9]*' | tr '\n' ' ' | sed 's/ $//')"
check "list-executions --after without --limit exits 2" 2 "$(exit_code "$cli" list-executions paged-c --after 1 --db "$db")"

# JSON lines: a tree and a filtered set exported one document per line, imported back
"$cli" run Parent '["x","y"]' --id jl-tree --db "$db" >/dev/null
"$cli" export-tree jl-tree --format jsonl --db "$db" > "$work/tree.jsonl"
check "export-tree writes the root and its children, one per line" 3 "$(wc -l < "$work/tree.jsonl")"
"$cli" delete jl-tree --db "$db" >/dev/null
contains "import-instances restores every line" '"succeeded":3' "$("$cli" import-instances "$work/tree.jsonl" --db "$db")"
contains "the restored tree has its children" '"children":[{' "$("$cli" get-instance-tree jl-tree --db "$db")"
check "a bulk verb whose items all succeed exits 0" 0 "$(exit_code "$cli" export-instances --prefix jl- --format jsonl --db "$db")"
check "import-instances of lines that exist already exits 3 (items failed)" 3 \
  "$(exit_code "$cli" import-instances "$work/tree.jsonl" --db "$db")"
check "raise-many to an id that does not exist exits 3" 3 "$(exit_code "$cli" raise-many Approve x --instances nope-1 --db "$db")"
check "export-instances --format jsonl with a failed item exits 3" 3 \
  "$(exit_code "$cli" export-instances --instances nope-1 --format jsonl --db "$db")"
check "export-instances walks the filter's pages into lines" 3 \
  "$("$cli" export-instances --prefix jl- --batch 1 --format jsonl --db "$db" 2>/dev/null | wc -l)"
check "a command without documents has no JSON-lines form" 2 "$(exit_code "$cli" count-instances --format jsonl --db "$db")"
check "stats has no JSON-lines form" 2 "$(exit_code "$cli" stats --format jsonl --db "$db")"

# callers: a tenant sees and starts only its own instances; roles grant by the standard policy
"$cli" start tn-acme HelloWorld Ada --tenant acme --db "$db" >/dev/null
"$cli" start tn-globex HelloWorld Bo --tenant globex --db "$db" >/dev/null
"$cli" resume --db "$db" --timeout-ms 5000 >/dev/null
check "a tenant counts only its own instances" 1 "$("$cli" count-instances --prefix tn- --tenant acme --db "$db")"
contains "a tenant lists its own" '"instance":"tn-acme"' "$("$cli" instances --prefix tn- --tenant acme --db "$db")"
check "a tenant's listing leaves the other out" 0 \
  "$("$cli" instances --prefix tn- --tenant acme --db "$db" | grep -c tn-globex)"
contains "an instance keeps its tenant" '"tenant":"globex"' "$("$cli" instances --prefix tn-globex --db "$db")"
contains "another tenant's instance reads as NotFound" '"status":"NotFound"' \
  "$("$cli" status tn-globex --tenant acme --db "$db")"
check "store-wide views are refused to a tenant" 1 "$(exit_code "$cli" queues --tenant acme --db "$db")"
check "a reader may read" 0 "$(exit_code "$cli" status tn-acme --roles reader --db "$db")"
check "a reader may not start" 1 "$(exit_code "$cli" start tn-r HelloWorld x --roles reader --db "$db")"
contains "the denial names the principal" "for ops-bot" \
  "$("$cli" delete tn-acme --roles operator --principal ops-bot --db "$db" 2>&1)"
check "an admin may delete" 0 "$(exit_code "$cli" delete tn-acme --roles admin --db "$db")"
check "a role the policy does not know is a usage error" 2 \
  "$(exit_code "$cli" status tn-globex --roles reader,superuser --db "$db")"
contains "the usage error names the role" '"superuser" is not a role' \
  "$("$cli" status tn-globex --roles superuser --db "$db" 2>&1)"
check "an empty --roles is a usage error, not no policy" 2 \
  "$(exit_code "$cli" delete tn-globex --force --roles "" --db "$db")"
check "an empty --tenant is a usage error" 2 "$(exit_code "$cli" instances --tenant "" --db "$db")"
contains "the instance an empty --roles tried to delete is still there" '"status":"Completed"' \
  "$("$cli" status tn-globex --db "$db")"

# CSV: a header, one row per instance, RFC 4180 quoting of commas, quotes and newlines
"$cli" run Fails 'bad, "quoted"
line' --id csv-1 --db "$db" >/dev/null
csv=$("$cli" instances --prefix csv- --format csv --db "$db")
contains "CSV has the header" "instance,orchestration,version,status,output,error" "$csv"
contains "CSV quotes commas, quotes and newlines" '"bad, ""quoted""' "$csv"
check "CSV has a header and one record" 2 "$("$cli" instances --prefix csv- --format csv --db "$db" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    let records = 0, quoted = false;
    for (let i = 0; i < s.length; i++) {
      if (s[i] === "\"") quoted = !quoted;
      else if (s[i] === "\n" && !quoted) records++;
    }
    console.log(records);
  });')"
"$cli" run HelloWorld '"x"' --id csv-2 --db "$db" >/dev/null
contains "a CSV page that is not the last names its cursor on stderr, quoted for a shell" "more instances follow: --cursor '" \
  "$("$cli" instances --prefix csv- --limit 1 --format csv --db "$db" 2>&1 >/dev/null)"
check "the last CSV page says nothing on stderr" "" \
  "$("$cli" instances --prefix csv- --limit 2 --format csv --db "$db" 2>&1 >/dev/null)"
contains "stats as CSV" "kind,name,running,completed,failed" "$("$cli" stats --format csv --db "$db")"
contains "stats CSV has activity rows" "activity,Fail," "$("$cli" stats --format csv --db "$db")"
check "a bad format is a usage error" 2 "$(exit_code "$cli" instances --format xml --db "$db")"

# time series: a fresh store, three completions and two failures in the last hour
ts="$work/timeseries.db"
for i in 1 2 3; do "$cli" run HelloWorld Ada --id "ts-h$i" --db "$ts" >/dev/null; done
for i in 1 2; do "$cli" run Fails boom --id "ts-f$i" --db "$ts" >/dev/null; done
series=$("$cli" timeseries --db "$ts")
sum() { node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const doc = JSON.parse(s); const key = process.argv[1];
    const items = doc.points || doc.deltas;
    console.log(items.reduce((n, p) => n + (p[key] || 0), 0));
  });' "$1"; }
check "timeseries counts the starts of the last hour" 5 "$(printf '%s' "$series" | sum starts)"
check "timeseries counts completions" 3 "$(printf '%s' "$series" | sum completions)"
check "timeseries counts failures" 2 "$(printf '%s' "$series" | sum failures)"
check "timeseries has one point per minute" 60 "$(printf '%s' "$series" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).points.length));')"
check "timeseries filters by orchestration" 2 \
  "$("$cli" timeseries --name Fails --metric starts --db "$ts" | sum starts)"
check "timeseries by hour sums the same" 5 \
  "$("$cli" timeseries --bucket hour --db "$ts" | sum starts)"
contains "a single metric shows only its field" '"failures":' "$("$cli" timeseries --metric failures --db "$ts")"
check "a single metric leaves the others out" 0 \
  "$("$cli" timeseries --metric failures --db "$ts" | grep -c '"starts"')"
contains "timeseries CSV header" "bucket_start_ms,starts,completions,failures,duration_count,duration_sum_ms,duration_avg_ms,le_10_ms" \
  "$("$cli" timeseries --format csv --db "$ts")"
contains "duration CSV has the histogram columns" "over_3600000_ms" \
  "$("$cli" timeseries --metric duration --bucket hour --format csv --db "$ts")"
check "watch-metrics streams the starts" 5 "$("$cli" watch-metrics --db "$ts" | sum starts)"
check "watch-metrics streams the failures" 2 "$("$cli" watch-metrics --db "$ts" | sum failures)"
cursor=$("$cli" watch-metrics --db "$ts" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).next_cursor));')
check "watch-metrics from the end is empty" 0 "$("$cli" watch-metrics --since "$cursor" --db "$ts" | sum starts)"
"$cli" run HelloWorld Bo --id ts-late --db "$ts" >/dev/null
check "watch-metrics after the cursor sees only the new instance" 1 \
  "$("$cli" watch-metrics --since "$cursor" --db "$ts" | sum starts)"
check "a bad metric is a usage error" 2 "$(exit_code "$cli" timeseries --metric latency --db "$ts")"
check "a bad bucket is a usage error" 2 "$(exit_code "$cli" timeseries --bucket day --db "$ts")"
check "a window that ends before it starts is a usage error" 2 \
  "$(exit_code "$cli" timeseries --from 2000 --to 1000 --db "$ts")"
check "an empty window is a usage error" 2 "$(exit_code "$cli" get-time-series --from-ms 10 --to-ms 10 --db "$ts")"
check "a window over the bucket limit exits 1" 1 "$(exit_code "$cli" timeseries --from 0 --db "$ts")"

# history paged and filtered in the store
"$cli" run Counter '{"count":0,"limit":1}' --id hist-c --db "$db" >/dev/null
check "history --limit pages from --from-event-id" '[2]' \
  "$("$cli" history hist-c 1 --limit 1 --from-event-id 2 --db "$db" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(JSON.parse(s).map(e=>e.event_id))))')"
check "history --limit over 10000 is a usage error" 2 "$(exit_code "$cli" history hist-c 1 --limit 10001 --db "$db")"

# search and sort
"$cli" run HelloWorld 'Grace Hopper' --id srch-1 --version 1.0.0 --db "$db" >/dev/null
check "list --contains finds the input" '["srch-1"]' \
  "$("$cli" list-instances --contains 'Grace Hop' --db "$db" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(JSON.parse(s).instances.map(i=>i.instance))))')"
check "count --contains is case-sensitive" 0 "$("$cli" count-instances --contains 'grace hop' --db "$db")"
check "list --sort duration-desc is a sort" 0 "$(exit_code "$cli" list-instances --sort duration-desc --db "$db")"
check "an over-long --contains is a usage error" 2 "$(exit_code "$cli" list-instances --contains "$(printf 'x%.0s' $(seq 300))" --db "$db")"

# wait-many: waits per batch; a still-running match fails its item
"$cli" run LongTimer '' --id wm-long --timeout-ms 50 --db "$db" >/dev/null
"$cli" run HelloWorld Ada --id wm-done --db "$db" >/dev/null
waited_many=$("$cli" wait-many --prefix wm- --timeout-ms 100 --db "$db")
check "wait-many: the finished match is ok" 1 "$(echo "$waited_many" | json_get '["succeeded"]')"
contains "wait-many: the running one fails at the deadline" '"error":"instance wm-long still running after 100 ms"' "$waited_many"

# on a terminal a paged command counts first (its dry run), then shows a bar against that count
for i in 1 2 3; do "$cli" run LongTimer '' --id "bar-$i" --timeout-ms 50 --db "$db" >/dev/null; done
shown=$(script -qec "'$cli' cancel-many tidy --prefix bar- --batch 2 --db '$db'" /dev/null | tr '\r' '\n')
contains "a terminal shows the dry run counting" "cancel-many (counting) 3 counted (2 calls)" "$shown"
contains "then a bar against the count" "cancel-many [####################----------] 2/3 66% (1 calls)" "$shown"
contains "the bar ends full" "cancel-many [##############################] 3/3 100% (2 calls)" "$shown"
contains "and the totals on stdout" '"succeeded":3' "$shown"

# serve: the long-running mode runs what other processes start, and serves upstream's metric names
sv="$work/serve.db"
"$cli" start sv-hello HelloWorld Ada --version 1.0.0 --db "$sv" >/dev/null
"$cli" start sv-fail Fails boom --db "$sv" >/dev/null
"$cli" start sv-wait LongTimer '' --db "$sv" >/dev/null
"$cli" start sv-count Counter '{"count":0,"limit":3}' --db "$sv" >/dev/null
"$cli" serve --db "$sv" --metrics-port 0 --executions-kept 1 --finished-retention 30d > "$work/serve.out" 2> "$work/serve.err" &
serve_pid=$!
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/.*"metrics":"\([^"]*\)".*/\1/p' "$work/serve.out")
  [ -n "$url" ] && break
  sleep 0.1
done
contains "serve prints its metrics URL on 127.0.0.1" "http://127.0.0.1:" "$url"
fetch() {  # fetch URL: the status line's code, then the body
  node -e 'fetch(process.argv[1]).then(async (r) => console.log(r.status + "\n" + await r.text()), (e) => console.log("error " + e.message))' "$1"
}
scrape=""
for _ in $(seq 100); do
  scrape=$(fetch "$url")
  case "$scrape" in *'initiated_by="client"} 1'*'outcome="app_error"'*'"Counter",version="1.0.0",status="success"'*) break ;; esac
  sleep 0.1
done
contains "serve: starts by upstream's name and labels" \
  'duroxide_orchestration_starts_total{orchestration_name="HelloWorld",version="1.0.0",initiated_by="client"} 1' "$scrape"
contains "serve: activity outcomes" \
  'duroxide_activity_executions_total{activity_name="Fail",outcome="app_error",retry_attempt="0",tag="default"} 1' "$scrape"
contains "serve: completions with status and turns" \
  'duroxide_orchestration_completions_total{orchestration_name="HelloWorld",version="1.0.0",status="success",final_turn_count="1-5"} 1' "$scrape"
contains "serve: the store's active gauge" 'duroxide_active_orchestrations{state="all"} 1' "$scrape"
check "serve: other paths are 404" 404 "$(fetch "${url%/metrics}/other" | head -1)"
# A client that trickles its request a byte a second holds the endpoint for 2 s at most.
port=${url#http://127.0.0.1:}; port=${port%%/*}
python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for _ in range(8):
    s.send(b"G"); time.sleep(1)' "$port" 2>/dev/null &
trickler=$!
sleep 0.3
check "serve: a scrape beside a trickling client is answered" 200 "$(timeout 5 bash -c "$(declare -f fetch); fetch '$url'" | head -1)"
kill "$trickler" 2>/dev/null; wait "$trickler" 2>/dev/null
kill -TERM "$serve_pid"
wait "$serve_pid"
check "serve stops on SIGTERM with exit 0" 0 "$?"
contains "serve prints the counts when stopped" '"completed":2,"drained":true,"failed":1,"running":1' "$(tail -1 "$work/serve.out")"
contains "serve: continue-as-new counted by upstream's name" \
  'duroxide_orchestration_continue_as_new_total{orchestration_name="Counter",execution_id="3"} 1' "$scrape"
check "serve --executions-kept 1 keeps the newest execution" 1 \
  "$("$cli" list-executions sv-count --db "$sv" | json_get '.__len__()')"
# A timeout past the 64-bit range of times waits for ever, not at all.
check "run with a timeout of 106751991167d waits for the outcome" '"status":"Completed"' \
  "$("$cli" run Approval '{"timeout_ms":100}' --id huge-timeout --timeout-ms 106751991167d --db "$work/huge.db" | grep -o '"status":"[A-Za-z]*"')"
"$cli" serve --db "$work/huge.db" --timeout-ms 106751991167d > /dev/null 2>&1 &
huge_pid=$!
sleep 1
check "serve with a timeout of 106751991167d is still serving a second later" yes \
  "$(kill -0 "$huge_pid" 2>/dev/null && echo yes || echo no)"
kill -TERM "$huge_pid" 2>/dev/null
wait "$huge_pid" 2>/dev/null
check "serve: a bad retention age is a usage error" 2 "$(exit_code "$cli" serve --db "$sv" --finished-retention soon)"
check "serve: a port over 65535 is a usage error" 2 "$(exit_code "$cli" serve --db "$sv" --metrics-port 70000)"

# serve --replay-versions: an execution a newer build started waits for a runtime that replays it
rv="$work/replay-versions.db"
"$cli" run Approval '{"timeout_ms":600000}' --id rv-src --timeout-ms 50 --db "$rv" >/dev/null
"$cli" export-instance rv-src --db "$rv" | python3 -c '
import json, sys
d = json.load(sys.stdin)
d["instance"]["instance"] = "rv-future"
d["executions"][0]["history"][0]["duroxide_version"] = "9.0.0"
print(json.dumps(d))' > "$work/rv-future.json"
"$cli" import-instance "$work/rv-future.json" --db "$rv" >/dev/null
check "an imported execution keeps the build its history names" '"9.0.0"' \
  "$("$cli" list-executions rv-future --db "$rv" | json_get '[0]["pinned_version"]' | sed 's/.*/"&"/')"
"$cli" raise rv-future Approve yes --db "$rv" >/dev/null
"$cli" serve --db "$rv" --timeout-ms 1000 >/dev/null 2>&1
contains "serve leaves an execution a newer build started" '"status":"Running"' "$("$cli" get-status rv-future --db "$rv")"
"$cli" serve --db "$rv" --timeout-ms 1000 --replay-versions 0.0.0..9.9.9 >/dev/null 2>&1
contains "serve --replay-versions 0.0.0..9.9.9 runs it" '"status":"Completed"' "$("$cli" get-status rv-future --db "$rv")"
check "serve: an empty version range is a usage error" 2 \
  "$(exit_code "$cli" serve --db "$rv" --replay-versions 2.0.0..1.0.0)"
check "serve: a version that is not MAJOR.MINOR.PATCH is a usage error" 2 \
  "$(exit_code "$cli" serve --db "$rv" --replay-versions 1.0..2.0.0)"
check "serve: versions that leave out this build (whose executions it pins) are a usage error" 2 \
  "$(exit_code "$cli" serve --db "$rv" --replay-versions 9.0.0..9.9.9)"

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
