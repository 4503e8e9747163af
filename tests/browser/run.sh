#!/usr/bin/env bash
# The browser suite: Playwright in Debian's Chromium against the playground.
#   bash tests/browser/run.sh   (from the repo root, after native and wasm builds)
# Gives the tests a database written by the native CLI (to open in the browser)
# and the native simulator's hash for seed 77 (the browser must compute the same).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=build/test-logs/browser-input
rm -rf "$work" && mkdir -p "$work"
build/native/duroxide run HelloWorld Native --db "$work/native.db" --id native-1 > "$work/native-run.json"
# And one parked message, as a fetch parks an event for an instance that does not exist.
# Parked now: the store's retention deletes parked messages older than 30 days.
python3 - "$work/native.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("""INSERT INTO parked_messages (instance_id, item_json, reason, parked_at)
  VALUES ('gone-1', '{"data":"late","instance":"gone-1","kind":"ExternalRaised","name":"Approve"}',
          'instance does not exist', ?)""", (int(time.time() * 1000),))
db.commit()
db.close()
PY
export NATIVE_DB="$root/$work/native.db"
# The same store with 51,000 more finished instances, one a millisecond; only the oldest
# holds the text "needle": more than one search window (kMaxContainsScan) from the newest.
python3 - "$work/native.db" "$work/search.db" <<'PY'
import sqlite3, sys
source = sqlite3.connect(sys.argv[1])
source.execute("VACUUM INTO ?", (sys.argv[2],))
source.close()
db = sqlite3.connect(sys.argv[2])
db.execute("""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 51000)
  INSERT INTO instances (instance_id, orchestration_name, orchestration_version, current_execution_id,
                         status, created_at, updated_at, input)
  SELECT printf('s-%06d', i), 'HelloWorld', '1.0.0', 1, 'Completed', 1000 + i, 1000 + i,
         CASE WHEN i = 0 THEN '"needle"' ELSE '"hay"' END FROM n""")
# Rows written behind the store's back are counted as the store's writers count them
# (docs/management.md: the status counts).
db.execute("""INSERT INTO instance_counts (orchestration_name, orchestration_version, is_root, status, tenant, count)
  VALUES ('HelloWorld', '1.0.0', 1, 'Completed', '', 51000)
  ON CONFLICT DO UPDATE SET count = count + excluded.count""")
db.commit()
db.close()
PY
export SEARCH_DB="$root/$work/search.db"
export SEED77_HASH=$(build/native/duroxide-sim --seed 77 --quiet |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).runs[0].hash))')
echo "browser: native database $NATIVE_DB, seed 77 hash $SEED77_HASH"
cd tests/browser
exec node node_modules/@playwright/test/cli.js test
