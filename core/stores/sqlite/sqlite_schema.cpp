// The SQLite schema and its forward migrations.
//
// Each migration takes the database from version N-1 to N; `migrate` applies
// the missing ones in one transaction and records the version in
// PRAGMA user_version. A new database (version 0) gets what the whole chain
// leaves, as one script. A database newer than this build is refused untouched.
#include "sqlite_schema.hpp"

#include <string>
#include <vector>

#include "duroxide/provider.hpp"
#include "store_sql.hpp"

namespace duroxide::sqlite {

namespace {

// Version 1. Indexes serve the management queries: listing by status, name,
// created/updated time and parent, newest first with the id as tie-breaker.
constexpr const char* kMigration1 = R"sql(
CREATE TABLE instances (
  instance_id           TEXT PRIMARY KEY,
  orchestration_name    TEXT NOT NULL,
  orchestration_version TEXT NOT NULL,
  current_execution_id  INTEGER NOT NULL,
  status                TEXT NOT NULL,
  output                TEXT,
  error_json            TEXT,
  custom_status         TEXT,
  custom_status_version INTEGER NOT NULL DEFAULT 0,
  parent_instance_id    TEXT,
  parent_id             INTEGER NOT NULL DEFAULT 0,
  created_at            INTEGER NOT NULL,
  updated_at            INTEGER NOT NULL
);
CREATE INDEX instances_by_created ON instances (created_at DESC, instance_id);
CREATE INDEX instances_by_status ON instances (status, created_at DESC, instance_id);
CREATE INDEX instances_by_name ON instances (orchestration_name, created_at DESC, instance_id);
CREATE INDEX instances_by_updated ON instances (updated_at);
CREATE INDEX instances_by_parent ON instances (parent_instance_id);

CREATE TABLE executions (
  instance_id      TEXT NOT NULL,
  execution_id     INTEGER NOT NULL,
  status           TEXT NOT NULL,
  output           TEXT,
  error_json       TEXT,
  started_at       INTEGER NOT NULL,
  completed_at     INTEGER,
  event_count      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (instance_id, execution_id)
) WITHOUT ROWID;

CREATE TABLE history (
  instance_id  TEXT NOT NULL,
  execution_id INTEGER NOT NULL,
  event_id     INTEGER NOT NULL,
  event_kind   TEXT NOT NULL,
  timestamp    INTEGER NOT NULL,
  event_json   TEXT NOT NULL,
  PRIMARY KEY (instance_id, execution_id, event_id)
) WITHOUT ROWID;

CREATE TABLE orchestrator_queue (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id   TEXT NOT NULL,
  kind          TEXT NOT NULL,
  item_json     TEXT NOT NULL,
  visible_at    INTEGER NOT NULL,
  lock_token    TEXT,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  enqueued_at   INTEGER NOT NULL
);
CREATE INDEX orchestrator_queue_by_visible ON orchestrator_queue (visible_at, id);
CREATE INDEX orchestrator_queue_by_instance ON orchestrator_queue (instance_id, visible_at);
CREATE INDEX orchestrator_queue_by_token ON orchestrator_queue (lock_token);

CREATE TABLE worker_queue (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id   TEXT NOT NULL,
  execution_id  INTEGER NOT NULL,
  activity_id   INTEGER NOT NULL,
  item_json     TEXT NOT NULL,
  visible_at    INTEGER NOT NULL,
  lock_token    TEXT,
  locked_until  INTEGER,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  enqueued_at   INTEGER NOT NULL
);
CREATE INDEX worker_queue_by_visible ON worker_queue (visible_at, id);
CREATE UNIQUE INDEX worker_queue_by_token ON worker_queue (lock_token);
CREATE INDEX worker_queue_by_activity ON worker_queue (instance_id, execution_id, activity_id);

CREATE TABLE instance_locks (
  instance_id  TEXT PRIMARY KEY,
  lock_token   TEXT NOT NULL UNIQUE,
  locked_until INTEGER NOT NULL,
  locked_at    INTEGER NOT NULL
);

CREATE TABLE parked_messages (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id TEXT NOT NULL,
  item_json   TEXT NOT NULL,
  reason      TEXT NOT NULL,
  parked_at   INTEGER NOT NULL
);
)sql";

// Version 2: activity counters, maintained by every orchestration ack.
constexpr const char* kMigration2 = R"sql(
CREATE TABLE activity_stats (
  activity_name     TEXT PRIMARY KEY,
  scheduled         INTEGER NOT NULL DEFAULT 0,
  completed         INTEGER NOT NULL DEFAULT 0,
  failed            INTEGER NOT NULL DEFAULT 0,
  total_duration_ms INTEGER NOT NULL DEFAULT 0
);
)sql";

// Version 3: the change feed, one row per instance status change, in commit order.
constexpr const char* kMigration3 = R"sql(
CREATE TABLE changes (
  seq                   INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id           TEXT NOT NULL,
  status                TEXT NOT NULL,
  execution_id          INTEGER NOT NULL,
  custom_status_version INTEGER NOT NULL,
  changed_at            INTEGER NOT NULL
);
)sql";

// Version 4: listing by version alone is indexed too.
constexpr const char* kMigration4 = R"sql(
CREATE INDEX instances_by_version ON instances (orchestration_version, created_at DESC, instance_id);
)sql";

// Version 5: time series per orchestration in minute and hour buckets, written by
// the acks that change status; the change feed learns creations and names.
// Existing instances are counted in from the instances table.
constexpr const char* kMigration5 = R"sql(
CREATE TABLE metric_buckets (
  resolution         TEXT NOT NULL,
  bucket_start       INTEGER NOT NULL,
  orchestration_name TEXT NOT NULL,
  starts             INTEGER NOT NULL DEFAULT 0,
  completions        INTEGER NOT NULL DEFAULT 0,
  failures           INTEGER NOT NULL DEFAULT 0,
  duration_sum_ms    INTEGER NOT NULL DEFAULT 0,
  duration_count     INTEGER NOT NULL DEFAULT 0,
  d0 INTEGER NOT NULL DEFAULT 0, d1 INTEGER NOT NULL DEFAULT 0, d2 INTEGER NOT NULL DEFAULT 0,
  d3 INTEGER NOT NULL DEFAULT 0, d4 INTEGER NOT NULL DEFAULT 0, d5 INTEGER NOT NULL DEFAULT 0,
  d6 INTEGER NOT NULL DEFAULT 0, d7 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (resolution, bucket_start, orchestration_name)
) WITHOUT ROWID;
ALTER TABLE changes ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
ALTER TABLE changes ADD COLUMN orchestration_name TEXT NOT NULL DEFAULT '';
ALTER TABLE changes ADD COLUMN instance_created_at INTEGER;
ALTER TABLE changes ADD COLUMN finished_duration_ms INTEGER;
INSERT INTO metric_buckets (resolution, bucket_start, orchestration_name, starts)
  SELECT 'minute', (created_at / 60000) * 60000, orchestration_name, COUNT(*)
  FROM instances WHERE 1 GROUP BY 2, 3;
INSERT INTO metric_buckets (resolution, bucket_start, orchestration_name, completions, failures,
                            duration_sum_ms, duration_count, d0, d1, d2, d3, d4, d5, d6, d7)
  SELECT 'minute', (updated_at / 60000) * 60000, orchestration_name,
         SUM(status = 'Completed'), SUM(status = 'Failed'), SUM(updated_at - created_at), COUNT(*),
         SUM(updated_at - created_at <= 10), SUM(updated_at - created_at > 10 AND updated_at - created_at <= 100),
         SUM(updated_at - created_at > 100 AND updated_at - created_at <= 1000),
         SUM(updated_at - created_at > 1000 AND updated_at - created_at <= 10000),
         SUM(updated_at - created_at > 10000 AND updated_at - created_at <= 60000),
         SUM(updated_at - created_at > 60000 AND updated_at - created_at <= 600000),
         SUM(updated_at - created_at > 600000 AND updated_at - created_at <= 3600000),
         SUM(updated_at - created_at > 3600000)
  FROM instances WHERE status IN ('Completed', 'Failed') GROUP BY 2, 3
  ON CONFLICT (resolution, bucket_start, orchestration_name) DO UPDATE SET
    completions = completions + excluded.completions, failures = failures + excluded.failures,
    duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms,
    duration_count = duration_count + excluded.duration_count,
    d0 = d0 + excluded.d0, d1 = d1 + excluded.d1, d2 = d2 + excluded.d2, d3 = d3 + excluded.d3,
    d4 = d4 + excluded.d4, d5 = d5 + excluded.d5, d6 = d6 + excluded.d6, d7 = d7 + excluded.d7;
)sql";

// Version 6: instance counts per (name, version, root or not, status), kept by
// triggers on the instances table so that every write path (acks, imports,
// deletions, purges) keeps them exact in its own transaction; the status counts
// of a dashboard then read a handful of rows instead of scanning an index whose
// size is the number of instances. Existing instances are counted in.
constexpr const char* kMigration6 = R"sql(
CREATE TABLE instance_counts (
  orchestration_name    TEXT NOT NULL,
  orchestration_version TEXT NOT NULL,
  is_root               INTEGER NOT NULL,
  status                TEXT NOT NULL,
  count                 INTEGER NOT NULL,
  PRIMARY KEY (orchestration_name, orchestration_version, is_root, status)
) WITHOUT ROWID;
INSERT INTO instance_counts
  SELECT orchestration_name, orchestration_version, parent_instance_id IS NULL, status, COUNT(*)
  FROM instances WHERE 1 GROUP BY 1, 2, 3, 4;
CREATE TRIGGER instance_counts_on_insert AFTER INSERT ON instances BEGIN
  INSERT INTO instance_counts VALUES
    (NEW.orchestration_name, NEW.orchestration_version, NEW.parent_instance_id IS NULL, NEW.status, 1)
    ON CONFLICT DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER instance_counts_on_delete AFTER DELETE ON instances BEGIN
  UPDATE instance_counts SET count = count - 1
    WHERE orchestration_name = OLD.orchestration_name
      AND orchestration_version = OLD.orchestration_version
      AND is_root = (OLD.parent_instance_id IS NULL) AND status = OLD.status;
END;
CREATE TRIGGER instance_counts_on_update
  AFTER UPDATE OF orchestration_name, orchestration_version, parent_instance_id, status ON instances
  WHEN OLD.status IS NOT NEW.status OR OLD.orchestration_name IS NOT NEW.orchestration_name
    OR OLD.orchestration_version IS NOT NEW.orchestration_version
    OR (OLD.parent_instance_id IS NULL) IS NOT (NEW.parent_instance_id IS NULL)
BEGIN
  UPDATE instance_counts SET count = count - 1
    WHERE orchestration_name = OLD.orchestration_name
      AND orchestration_version = OLD.orchestration_version
      AND is_root = (OLD.parent_instance_id IS NULL) AND status = OLD.status;
  INSERT INTO instance_counts VALUES
    (NEW.orchestration_name, NEW.orchestration_version, NEW.parent_instance_id IS NULL, NEW.status, 1)
    ON CONFLICT DO UPDATE SET count = count + 1;
END;
)sql";

// Version 7: each instance's key-value store (OrchestrationContext::set_value),
// written by the acks from the turn's KvMutations (core/stores/sql/store_sql.hpp).
constexpr const char* kMigration7 = R"sql(
CREATE TABLE kv_values (
  instance_id TEXT NOT NULL,
  kv_key      TEXT NOT NULL,
  kv_value    TEXT NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (instance_id, kv_key)
) WITHOUT ROWID;
)sql";

// Version 8: the messages delivered to the current execution that no wait has
// taken, as the engine counted them at the instance's last turn (written by acks).
constexpr const char* kMigration8 = R"sql(
ALTER TABLE instances ADD COLUMN unconsumed_messages INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 9: what the store-wide views read stays small at millions of instances.
// - The totals of executions and their events, kept by triggers on executions (every
//   write path keeps them exact in its own transaction; one writer, so one row): system
//   metrics and diagnostics read a row instead of counting tables that grow with the store.
// - Executions that continued as new are indexed apart, so per-name statistics read those
//   rows alone.
// - Status with update time indexed: the health checks (running without progress since,
//   failed since) read the instances they count, not every instance of the status.
// - The parent index holds children only: with every root's NULL in it, a filter on
//   roots walked it and then sorted what it found.
constexpr const char* kMigration9 = R"sql(
CREATE TABLE execution_totals (
  executions INTEGER NOT NULL,
  events     INTEGER NOT NULL
);
INSERT INTO execution_totals SELECT COUNT(*), COALESCE(SUM(event_count), 0) FROM executions;
CREATE TRIGGER execution_totals_on_insert AFTER INSERT ON executions BEGIN
  UPDATE execution_totals SET executions = executions + 1, events = events + NEW.event_count;
END;
CREATE TRIGGER execution_totals_on_delete AFTER DELETE ON executions BEGIN
  UPDATE execution_totals SET executions = executions - 1, events = events - OLD.event_count;
END;
CREATE TRIGGER execution_totals_on_update AFTER UPDATE OF event_count ON executions
  WHEN OLD.event_count IS NOT NEW.event_count
BEGIN
  UPDATE execution_totals SET events = events + NEW.event_count - OLD.event_count;
END;
CREATE INDEX executions_continued ON executions (instance_id) WHERE status = 'ContinuedAsNew';
CREATE INDEX instances_by_status_updated ON instances (status, updated_at);
DROP INDEX instances_by_parent;
CREATE INDEX instances_by_parent ON instances (parent_instance_id) WHERE parent_instance_id IS NOT NULL;
)sql";

// Version 10: the histogram of execution durations the percentiles read (see
// record_execution_duration in core/stores/sql/store_sql.hpp), filled from the
// executions already finished; its bucket expression is DUROXIDE_DURATION_BUCKET_SQL.
constexpr const char* kMigration10 = R"sql(
CREATE TABLE execution_durations (
  orchestration_name TEXT NOT NULL,
  started_hour       INTEGER NOT NULL,
  bucket             INTEGER NOT NULL,
  count              INTEGER NOT NULL,
  sum_ms             INTEGER NOT NULL,
  min_ms             INTEGER NOT NULL,
  max_ms             INTEGER NOT NULL,
  PRIMARY KEY (orchestration_name, started_hour, bucket)
) WITHOUT ROWID;
)sql" DUROXIDE_EXECUTION_DURATIONS_BACKFILL;

// Version 11: search and sort (InstanceFilter::contains, InstanceOrder::Duration*).
// The current execution's input on the instances row (written by the acks that start an
// execution and by imports), filled here from each instance's stored start; an index on
// the duration, ordered as the listing walks it.
constexpr const char* kMigration11 = R"sql(
ALTER TABLE instances ADD COLUMN input TEXT;
UPDATE instances SET input = (
  SELECT json_extract(h.event_json, '$.input') FROM history h
  WHERE h.instance_id = instances.instance_id AND h.execution_id = instances.current_execution_id
    AND h.event_id = 1 AND h.event_kind = 'OrchestrationStarted');
CREATE INDEX instances_by_duration ON instances ((updated_at - created_at) DESC, instance_id);
)sql";

// Version 12: tenants (access by caller, core/clients/include/duroxide/access_policy.hpp).
// Each instance's tenant, set by the ack that creates its row; the change feed and every
// aggregate (status counts, activity counters, time series, duration histogram) are kept
// per tenant too, so a tenant's views read only its own rows. Rows written before count
// for the empty tenant ("none"). The aggregate tables are rebuilt with the tenant in
// their keys (SQLite cannot change a primary key in place).
constexpr const char* kMigration12 = R"sql(
ALTER TABLE instances ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
CREATE INDEX instances_by_tenant ON instances (tenant, created_at DESC, instance_id);
ALTER TABLE changes ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
CREATE INDEX changes_by_tenant ON changes (tenant, seq);

DROP TRIGGER instance_counts_on_insert;
DROP TRIGGER instance_counts_on_delete;
DROP TRIGGER instance_counts_on_update;
CREATE TABLE instance_counts_new (
  orchestration_name    TEXT NOT NULL,
  orchestration_version TEXT NOT NULL,
  is_root               INTEGER NOT NULL,
  status                TEXT NOT NULL,
  tenant                TEXT NOT NULL,
  count                 INTEGER NOT NULL,
  PRIMARY KEY (orchestration_name, orchestration_version, is_root, status, tenant)
) WITHOUT ROWID;
INSERT INTO instance_counts_new
  SELECT orchestration_name, orchestration_version, is_root, status, '', count FROM instance_counts;
DROP TABLE instance_counts;
ALTER TABLE instance_counts_new RENAME TO instance_counts;
CREATE TRIGGER instance_counts_on_insert AFTER INSERT ON instances BEGIN
  INSERT INTO instance_counts VALUES
    (NEW.orchestration_name, NEW.orchestration_version, NEW.parent_instance_id IS NULL, NEW.status, NEW.tenant, 1)
    ON CONFLICT DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER instance_counts_on_delete AFTER DELETE ON instances BEGIN
  UPDATE instance_counts SET count = count - 1
    WHERE orchestration_name = OLD.orchestration_name
      AND orchestration_version = OLD.orchestration_version
      AND is_root = (OLD.parent_instance_id IS NULL) AND status = OLD.status AND tenant = OLD.tenant;
END;
CREATE TRIGGER instance_counts_on_update
  AFTER UPDATE OF orchestration_name, orchestration_version, parent_instance_id, status, tenant ON instances
  WHEN OLD.status IS NOT NEW.status OR OLD.orchestration_name IS NOT NEW.orchestration_name
    OR OLD.orchestration_version IS NOT NEW.orchestration_version
    OR (OLD.parent_instance_id IS NULL) IS NOT (NEW.parent_instance_id IS NULL)
    OR OLD.tenant IS NOT NEW.tenant
BEGIN
  UPDATE instance_counts SET count = count - 1
    WHERE orchestration_name = OLD.orchestration_name
      AND orchestration_version = OLD.orchestration_version
      AND is_root = (OLD.parent_instance_id IS NULL) AND status = OLD.status AND tenant = OLD.tenant;
  INSERT INTO instance_counts VALUES
    (NEW.orchestration_name, NEW.orchestration_version, NEW.parent_instance_id IS NULL, NEW.status, NEW.tenant, 1)
    ON CONFLICT DO UPDATE SET count = count + 1;
END;

CREATE TABLE activity_stats_new (
  activity_name     TEXT NOT NULL,
  tenant            TEXT NOT NULL,
  scheduled         INTEGER NOT NULL DEFAULT 0,
  completed         INTEGER NOT NULL DEFAULT 0,
  failed            INTEGER NOT NULL DEFAULT 0,
  total_duration_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (activity_name, tenant)
) WITHOUT ROWID;
INSERT INTO activity_stats_new
  SELECT activity_name, '', scheduled, completed, failed, total_duration_ms FROM activity_stats;
DROP TABLE activity_stats;
ALTER TABLE activity_stats_new RENAME TO activity_stats;

CREATE TABLE metric_buckets_new (
  resolution         TEXT NOT NULL,
  bucket_start       INTEGER NOT NULL,
  orchestration_name TEXT NOT NULL,
  tenant             TEXT NOT NULL,
  starts             INTEGER NOT NULL DEFAULT 0,
  completions        INTEGER NOT NULL DEFAULT 0,
  failures           INTEGER NOT NULL DEFAULT 0,
  duration_sum_ms    INTEGER NOT NULL DEFAULT 0,
  duration_count     INTEGER NOT NULL DEFAULT 0,
  d0 INTEGER NOT NULL DEFAULT 0, d1 INTEGER NOT NULL DEFAULT 0, d2 INTEGER NOT NULL DEFAULT 0,
  d3 INTEGER NOT NULL DEFAULT 0, d4 INTEGER NOT NULL DEFAULT 0, d5 INTEGER NOT NULL DEFAULT 0,
  d6 INTEGER NOT NULL DEFAULT 0, d7 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (resolution, bucket_start, orchestration_name, tenant)
) WITHOUT ROWID;
INSERT INTO metric_buckets_new
  SELECT resolution, bucket_start, orchestration_name, '', starts, completions, failures, duration_sum_ms,
         duration_count, d0, d1, d2, d3, d4, d5, d6, d7 FROM metric_buckets;
DROP TABLE metric_buckets;
ALTER TABLE metric_buckets_new RENAME TO metric_buckets;

CREATE TABLE execution_durations_new (
  orchestration_name TEXT NOT NULL,
  started_hour       INTEGER NOT NULL,
  bucket             INTEGER NOT NULL,
  tenant             TEXT NOT NULL,
  count              INTEGER NOT NULL,
  sum_ms             INTEGER NOT NULL,
  min_ms             INTEGER NOT NULL,
  max_ms             INTEGER NOT NULL,
  PRIMARY KEY (orchestration_name, started_hour, bucket, tenant)
) WITHOUT ROWID;
INSERT INTO execution_durations_new
  SELECT orchestration_name, started_hour, bucket, '', count, sum_ms, min_ms, max_ms FROM execution_durations;
DROP TABLE execution_durations;
ALTER TABLE execution_durations_new RENAME TO execution_durations;
)sql";

// Version 13: the pending work of a running instance, kept by its acks
// (ExecutionMetadata::pending); NULL where none is kept, rows written before included.
constexpr const char* kMigration13 = R"sql(
ALTER TABLE instances ADD COLUMN pending_json TEXT;
)sql";

// Version 14: the timers in the orchestrator queue, indexed apart (only their rows pay
// for it), so queue depths count them without reading every queued message.
constexpr const char* kMigration14 = R"sql(
CREATE INDEX orchestrator_queue_timers ON orchestrator_queue (visible_at) WHERE kind = 'TimerFired';
)sql";

// Version 15: the status counts of inserted and updated instance rows are kept by the
// code that writes the rows (sqlite_dialect.hpp, kWritersKeepInstanceCounts), not by
// triggers; a delete still counts by trigger. The counts the triggers kept stay as they are.
constexpr const char* kMigration15 = R"sql(
DROP TRIGGER instance_counts_on_insert;
DROP TRIGGER instance_counts_on_update;
)sql";

// Version 16: each worker row's activity tag (ActivityExecute::tag; NULL: untagged), for
// the fetches' TagFilter. Rows written before are untagged, as their items are.
constexpr const char* kMigration16 = R"sql(
ALTER TABLE worker_queue ADD COLUMN tag TEXT;
)sql";

// Version 17: the version each execution is pinned to (ExecutionMetadata::pinned_version:
// the build of the runtime that started it), for the fetches' CapabilityFilter. NULL where
// none is known, rows written before included: every filter takes those.
constexpr const char* kMigration17 = R"sql(
ALTER TABLE executions ADD COLUMN pinned_major INTEGER;
ALTER TABLE executions ADD COLUMN pinned_minor INTEGER;
ALTER TABLE executions ADD COLUMN pinned_patch INTEGER;
)sql";

// Version 18: activity sessions. Each worker row's session (ActivityExecute::session_id;
// NULL: none), and the sessions held: which owner (RuntimeOptions::worker_node_id) holds
// each, until when, and since when. Rows written before run outside sessions, as their
// items do. The partial index serves the cleanup's search for a session's queued items.
constexpr const char* kMigration18 = R"sql(
ALTER TABLE worker_queue ADD COLUMN session_id TEXT;
CREATE INDEX worker_queue_by_session ON worker_queue (session_id) WHERE session_id IS NOT NULL;
CREATE TABLE sessions (
  session_id TEXT PRIMARY KEY,
  owner_id TEXT NOT NULL,
  locked_until INTEGER NOT NULL,
  claimed_at INTEGER NOT NULL
);
)sql";

// Version 19: the untagged worker rows by visible time, for the default fetch (TagFilter
// DefaultOnly), so that rows of a tag no running worker takes are not walked past by every
// fetch (queue_core.hpp, worker_index).
constexpr const char* kMigration19 = R"sql(
CREATE INDEX worker_queue_untagged ON worker_queue (visible_at, id) WHERE tag IS NULL;
)sql";

// Version 20: the tagged worker rows by tag and visible time, for a fetch of one tag
// (TagFilter::only with one tag), so that untagged rows and rows of other tags are not
// walked past by every fetch of a tagged pool (queue_core.hpp, worker_index).
constexpr const char* kMigration20 = R"sql(
CREATE INDEX worker_queue_by_tag ON worker_queue (tag, visible_at, id) WHERE tag IS NOT NULL;
)sql";

// Version 21: the lock-token indexes hold the locked rows only. A queued row has no
// token, and every statement that reads by token names one (`lock_token = ?` or
// `>= ''`), which SQLite takes as implying NOT NULL; so a queued message is not in the
// index: it enters when locked and leaves when acked or released (docs/bench.md,
// "Lock-token indexes of locked rows only").
constexpr const char* kMigration21 = R"sql(
DROP INDEX orchestrator_queue_by_token;
CREATE INDEX orchestrator_queue_by_token ON orchestrator_queue (lock_token) WHERE lock_token IS NOT NULL;
DROP INDEX worker_queue_by_token;
CREATE UNIQUE INDEX worker_queue_by_token ON worker_queue (lock_token) WHERE lock_token IS NOT NULL;
)sql";

constexpr const char* kMigrations[] = {kMigration1,  kMigration2,  kMigration3,  kMigration4,  kMigration5,
                                       kMigration6,  kMigration7,  kMigration8,  kMigration9,  kMigration10,
                                       kMigration11, kMigration12, kMigration13, kMigration14, kMigration15,
                                       kMigration16, kMigration17, kMigration18, kMigration19, kMigration20,
                                       kMigration21};
constexpr int kLatest = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));

int read_user_version(Connection& db) {
  Statement statement = db.prepare("PRAGMA user_version");
  return statement.step() ? static_cast<int>(statement.integer(0)) : 0;
}

void run_migrations_after(Connection& db, int version) {
  for (int next = version + 1; next <= kLatest; ++next) {
    db.exec(kMigrations[next - 1]);
  }
}

// The rows of `table` as INSERT statements with SQL literals (quote()), in the order a scan
// of the table gives (tables WITHOUT ROWID have no rowid to order by).
std::string rows_as_sql(Connection& db, const std::string& table) {
  std::string values;
  Statement columns = db.prepare_once("SELECT name FROM pragma_table_info(?1) ORDER BY cid");
  columns.bind(1, table);
  while (columns.step()) {
    values += std::string(values.empty() ? "" : " || ', ' || ") + "quote(\"" + columns.text(0) + "\")";
  }
  std::string out;
  if (values.empty()) return out;
  Statement rows = db.prepare_once("SELECT 'INSERT INTO \"" + table + "\" VALUES (' || " + values + " || ')' FROM \"" +
                                   table + "\"");
  while (rows.step()) out += rows.text(0) + ";\n";
  return out;
}

}  // namespace

// What the migrations leave in an empty database, as one SQL script: the CREATE
// statements SQLite keeps (sqlite_master, in creation order; SQLite's own objects,
// such as sqlite_sequence, come with them) and the rows the migrations wrote (the
// one-row totals of version 9). Read once per process from a scratch in-memory
// database that ran every migration, so it is the chain's result by construction. A
// new database runs it instead of the chain: each of the chain's ALTERs and DROPs
// makes SQLite parse the whole schema again, which made opening a new store several
// times dearer (docs/bench.md, "A new database from the migrations' result").
const std::string& schema_of_new_database() {
  static const std::string script = [] {
    Connection scratch(":memory:", 0, "");
    run_migrations_after(scratch, 0);
    std::string ddl;
    std::vector<std::string> tables;
    Statement objects = scratch.prepare_once(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "ORDER BY rowid");
    while (objects.step()) {
      ddl += objects.text(2) + ";\n";
      if (objects.text(0) == "table") tables.push_back(objects.text(1));
    }
    for (const std::string& table : tables) ddl += rows_as_sql(scratch, table);
    return ddl;
  }();
  return script;
}

void run_every_migration(Connection& db) { run_migrations_after(db, 0); }

int latest_schema_version() { return kLatest; }

int schema_version(Connection& db) { return read_user_version(db); }

void require_latest_schema(Connection& db) {
  const int version = read_user_version(db);
  if (version == kLatest) return;
  throw ProviderError(ProviderErrorKind::Permanent, "open",
                      version == 0 ? std::string("the file holds no duroxide store; opened read-only, none is created")
                                   : "the file's schema is version " + std::to_string(version) + ", this build's " +
                                         std::to_string(kLatest) + "; opened read-only, it is not migrated");
}

void migrate(Connection& db) {
  db.set_operation("migrate");
  Transaction transaction(db);
  int version = read_user_version(db);
  if (version < 0) {
    throw ProviderError(ProviderErrorKind::Corrupted, "migrate",
                        "the database has schema version " + std::to_string(version) +
                            ", which no build writes; refusing to open it");
  }
  if (version > kLatest) {
    throw ProviderError(ProviderErrorKind::Permanent, "migrate",
                        "the database has schema version " + std::to_string(version) +
                            ", newer than this build's " + std::to_string(kLatest) +
                            "; refusing to open it");
  }
  if (version == 0) {
    db.exec(schema_of_new_database().c_str());
  } else {
    run_migrations_after(db, version);
  }
  if (version != kLatest) {
    // PRAGMA takes no bound parameters; the value is this build's own constant.
    db.exec(("PRAGMA user_version = " + std::to_string(kLatest)).c_str());
  }
  transaction.commit();
}

}  // namespace duroxide::sqlite
