// The PostgreSQL schema: the same tables, columns, indexes and counting
// triggers as SQLite's version 6 (core/stores/sqlite/sqlite_schema.cpp), in PostgreSQL types. Times are BIGINT
// milliseconds from the injected clock, as in SQLite. Every text column is
// COLLATE "C": byte order, as SQLite's BINARY, whatever the database's locale,
// so listings page in the same order on both stores and the indexes serve the
// ORDER BY ... COLLATE "C" of the keyset queries.
#include "postgres_schema.hpp"

#include <algorithm>

#include "duroxide/provider.hpp"
#include "store_sql.hpp"

namespace duroxide::pg {

namespace {

constexpr int kLatest = 20;

// Version 5: the first PostgreSQL schema.

constexpr const char* kSchema = R"sql(
CREATE TABLE instances (
  instance_id           TEXT COLLATE "C" PRIMARY KEY,
  orchestration_name    TEXT COLLATE "C" NOT NULL,
  orchestration_version TEXT COLLATE "C" NOT NULL,
  current_execution_id  BIGINT NOT NULL,
  status                TEXT COLLATE "C" NOT NULL,
  output                TEXT COLLATE "C",
  error_json            TEXT COLLATE "C",
  custom_status         TEXT COLLATE "C",
  custom_status_version BIGINT NOT NULL DEFAULT 0,
  parent_instance_id    TEXT COLLATE "C",
  parent_id             BIGINT NOT NULL DEFAULT 0,
  created_at            BIGINT NOT NULL,
  updated_at            BIGINT NOT NULL
);
CREATE INDEX instances_by_created ON instances (created_at DESC, instance_id);
CREATE INDEX instances_by_status ON instances (status, created_at DESC, instance_id);
CREATE INDEX instances_by_name ON instances (orchestration_name, created_at DESC, instance_id);
CREATE INDEX instances_by_updated ON instances (updated_at);
CREATE INDEX instances_by_parent ON instances (parent_instance_id);
CREATE INDEX instances_by_version ON instances (orchestration_version, created_at DESC, instance_id);

CREATE TABLE executions (
  instance_id      TEXT COLLATE "C" NOT NULL,
  execution_id     BIGINT NOT NULL,
  status           TEXT COLLATE "C" NOT NULL,
  output           TEXT COLLATE "C",
  error_json       TEXT COLLATE "C",
  started_at       BIGINT NOT NULL,
  completed_at     BIGINT,
  event_count      BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (instance_id, execution_id)
);

CREATE TABLE history (
  instance_id  TEXT COLLATE "C" NOT NULL,
  execution_id BIGINT NOT NULL,
  event_id     BIGINT NOT NULL,
  event_kind   TEXT COLLATE "C" NOT NULL,
  timestamp    BIGINT NOT NULL,
  event_json   TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (instance_id, execution_id, event_id)
);

CREATE TABLE orchestrator_queue (
  id            BIGSERIAL PRIMARY KEY,
  instance_id   TEXT COLLATE "C" NOT NULL,
  kind          TEXT COLLATE "C" NOT NULL,
  item_json     TEXT COLLATE "C" NOT NULL,
  visible_at    BIGINT NOT NULL,
  lock_token    TEXT COLLATE "C",
  attempt_count BIGINT NOT NULL DEFAULT 0,
  enqueued_at   BIGINT NOT NULL
);
CREATE INDEX orchestrator_queue_by_visible ON orchestrator_queue (visible_at, id);
CREATE INDEX orchestrator_queue_by_instance ON orchestrator_queue (instance_id, visible_at);
CREATE INDEX orchestrator_queue_by_token ON orchestrator_queue (lock_token);

CREATE TABLE worker_queue (
  id            BIGSERIAL PRIMARY KEY,
  instance_id   TEXT COLLATE "C" NOT NULL,
  execution_id  BIGINT NOT NULL,
  activity_id   BIGINT NOT NULL,
  item_json     TEXT COLLATE "C" NOT NULL,
  visible_at    BIGINT NOT NULL,
  lock_token    TEXT COLLATE "C",
  locked_until  BIGINT,
  attempt_count BIGINT NOT NULL DEFAULT 0,
  enqueued_at   BIGINT NOT NULL
);
CREATE INDEX worker_queue_by_visible ON worker_queue (visible_at, id);
CREATE UNIQUE INDEX worker_queue_by_token ON worker_queue (lock_token);
CREATE INDEX worker_queue_by_activity ON worker_queue (instance_id, execution_id, activity_id);

CREATE TABLE instance_locks (
  instance_id  TEXT COLLATE "C" PRIMARY KEY,
  lock_token   TEXT COLLATE "C" NOT NULL UNIQUE,
  locked_until BIGINT NOT NULL,
  locked_at    BIGINT NOT NULL
);

CREATE TABLE parked_messages (
  id          BIGSERIAL PRIMARY KEY,
  instance_id TEXT COLLATE "C" NOT NULL,
  item_json   TEXT COLLATE "C" NOT NULL,
  reason      TEXT COLLATE "C" NOT NULL,
  parked_at   BIGINT NOT NULL
);

CREATE TABLE activity_stats (
  activity_name     TEXT COLLATE "C" PRIMARY KEY,
  scheduled         BIGINT NOT NULL DEFAULT 0,
  completed         BIGINT NOT NULL DEFAULT 0,
  failed            BIGINT NOT NULL DEFAULT 0,
  total_duration_ms BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE changes (
  seq                   BIGSERIAL PRIMARY KEY,
  instance_id           TEXT COLLATE "C" NOT NULL,
  status                TEXT COLLATE "C" NOT NULL,
  execution_id          BIGINT NOT NULL,
  custom_status_version BIGINT NOT NULL,
  changed_at            BIGINT NOT NULL,
  created               BIGINT NOT NULL DEFAULT 0,
  orchestration_name    TEXT COLLATE "C" NOT NULL DEFAULT '',
  instance_created_at   BIGINT,
  finished_duration_ms  BIGINT
);

CREATE TABLE metric_buckets (
  resolution         TEXT COLLATE "C" NOT NULL,
  bucket_start       BIGINT NOT NULL,
  orchestration_name TEXT COLLATE "C" NOT NULL,
  starts             BIGINT NOT NULL DEFAULT 0,
  completions        BIGINT NOT NULL DEFAULT 0,
  failures           BIGINT NOT NULL DEFAULT 0,
  duration_sum_ms    BIGINT NOT NULL DEFAULT 0,
  duration_count     BIGINT NOT NULL DEFAULT 0,
  d0 BIGINT NOT NULL DEFAULT 0, d1 BIGINT NOT NULL DEFAULT 0, d2 BIGINT NOT NULL DEFAULT 0,
  d3 BIGINT NOT NULL DEFAULT 0, d4 BIGINT NOT NULL DEFAULT 0, d5 BIGINT NOT NULL DEFAULT 0,
  d6 BIGINT NOT NULL DEFAULT 0, d7 BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (resolution, bucket_start, orchestration_name)
);
)sql";

// Version 6: instance counts per (name, version, root or not, status) kept by a
// trigger on instances, as in SQLite (see kMigration6 there for why). The
// function keeps the schema it was created in, so it updates this schema's
// counts whatever the session's search_path. Existing instances are counted in.
constexpr const char* kMigration6 = R"sql(
CREATE TABLE instance_counts (
  orchestration_name    TEXT COLLATE "C" NOT NULL,
  orchestration_version TEXT COLLATE "C" NOT NULL,
  is_root               INTEGER NOT NULL,
  status                TEXT COLLATE "C" NOT NULL,
  count                 BIGINT NOT NULL,
  PRIMARY KEY (orchestration_name, orchestration_version, is_root, status)
);
INSERT INTO instance_counts
  SELECT orchestration_name, orchestration_version, (parent_instance_id IS NULL)::integer, status,
         COUNT(*)
  FROM instances GROUP BY 1, 2, 3, 4;
CREATE FUNCTION instance_counts_keep() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE instance_counts SET count = count - 1
      WHERE orchestration_name = OLD.orchestration_name
        AND orchestration_version = OLD.orchestration_version
        AND is_root = (OLD.parent_instance_id IS NULL)::integer AND status = OLD.status;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO instance_counts VALUES (NEW.orchestration_name, NEW.orchestration_version,
                                        (NEW.parent_instance_id IS NULL)::integer, NEW.status, 1)
      ON CONFLICT (orchestration_name, orchestration_version, is_root, status)
      DO UPDATE SET count = instance_counts.count + 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER instance_counts_on_insert_delete AFTER INSERT OR DELETE ON instances
  FOR EACH ROW EXECUTE FUNCTION instance_counts_keep();
CREATE TRIGGER instance_counts_on_update
  AFTER UPDATE OF orchestration_name, orchestration_version, parent_instance_id, status ON instances
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                     OR OLD.orchestration_name IS DISTINCT FROM NEW.orchestration_name
                     OR OLD.orchestration_version IS DISTINCT FROM NEW.orchestration_version
                     OR (OLD.parent_instance_id IS NULL) IS DISTINCT FROM (NEW.parent_instance_id IS NULL))
  EXECUTE FUNCTION instance_counts_keep();
)sql";

// Version 7: each instance's key-value store (OrchestrationContext::set_value),
// written by the acks from the turn's KvMutations (core/stores/sql/store_sql.hpp).
constexpr const char* kMigration7 = R"sql(
CREATE TABLE kv_values (
  instance_id TEXT COLLATE "C" NOT NULL,
  kv_key      TEXT COLLATE "C" NOT NULL,
  kv_value    TEXT COLLATE "C" NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (instance_id, kv_key)
);
)sql";

// The migrations past the first schema, indexed by the version they reach.
struct Migration {
  int version;
  const char* sql;
};
// Version 8: as SQLite's version 8.
constexpr const char* kMigration8 = R"sql(
ALTER TABLE instances ADD COLUMN unconsumed_messages BIGINT NOT NULL DEFAULT 0;
)sql";

// Version 9: SQLite's version 9 without the totals table: its one row would be a lock
// every concurrent ack takes (the dialect counts instead: Dialect::kExecutionTotalsSql).
constexpr const char* kMigration9 = R"sql(
CREATE INDEX executions_continued ON executions (instance_id) WHERE status = 'ContinuedAsNew';
CREATE INDEX instances_by_status_updated ON instances (status, updated_at);
DROP INDEX instances_by_parent;
CREATE INDEX instances_by_parent ON instances (parent_instance_id) WHERE parent_instance_id IS NOT NULL;
)sql";

// Version 10: as SQLite's version 10.
constexpr const char* kMigration10 = R"sql(
CREATE TABLE execution_durations (
  orchestration_name TEXT COLLATE "C" NOT NULL,
  started_hour       BIGINT NOT NULL,
  bucket             BIGINT NOT NULL,
  count              BIGINT NOT NULL,
  sum_ms             BIGINT NOT NULL,
  min_ms             BIGINT NOT NULL,
  max_ms             BIGINT NOT NULL,
  PRIMARY KEY (orchestration_name, started_hour, bucket)
);
)sql" DUROXIDE_EXECUTION_DURATIONS_BACKFILL;

// Version 11: as SQLite's version 11.
constexpr const char* kMigration11 = R"sql(
ALTER TABLE instances ADD COLUMN input TEXT COLLATE "C";
UPDATE instances SET input = CAST(h.event_json AS jsonb) ->> 'input' FROM history h
  WHERE h.instance_id = instances.instance_id AND h.execution_id = instances.current_execution_id
    AND h.event_id = 1 AND h.event_kind = 'OrchestrationStarted';
CREATE INDEX instances_by_duration ON instances ((updated_at - created_at) DESC, instance_id);
)sql";

// Version 12: as SQLite's version 12; here the keys change in place.
constexpr const char* kMigration12 = R"sql(
ALTER TABLE instances ADD COLUMN tenant TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX instances_by_tenant ON instances (tenant, created_at DESC, instance_id);
ALTER TABLE changes ADD COLUMN tenant TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX changes_by_tenant ON changes (tenant, seq);
ALTER TABLE instance_counts ADD COLUMN tenant TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE instance_counts DROP CONSTRAINT instance_counts_pkey;
ALTER TABLE instance_counts ADD PRIMARY KEY (orchestration_name, orchestration_version, is_root, status, tenant);
CREATE OR REPLACE FUNCTION instance_counts_keep() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE instance_counts SET count = count - 1
      WHERE orchestration_name = OLD.orchestration_name
        AND orchestration_version = OLD.orchestration_version
        AND is_root = (OLD.parent_instance_id IS NULL)::integer AND status = OLD.status
        AND tenant = OLD.tenant;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO instance_counts (orchestration_name, orchestration_version, is_root, status, tenant, count)
      VALUES (NEW.orchestration_name, NEW.orchestration_version,
              (NEW.parent_instance_id IS NULL)::integer, NEW.status, NEW.tenant, 1)
      ON CONFLICT (orchestration_name, orchestration_version, is_root, status, tenant)
      DO UPDATE SET count = instance_counts.count + 1;
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER instance_counts_on_update ON instances;
CREATE TRIGGER instance_counts_on_update
  AFTER UPDATE OF orchestration_name, orchestration_version, parent_instance_id, status, tenant ON instances
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                     OR OLD.orchestration_name IS DISTINCT FROM NEW.orchestration_name
                     OR OLD.orchestration_version IS DISTINCT FROM NEW.orchestration_version
                     OR (OLD.parent_instance_id IS NULL) IS DISTINCT FROM (NEW.parent_instance_id IS NULL)
                     OR OLD.tenant IS DISTINCT FROM NEW.tenant)
  EXECUTE FUNCTION instance_counts_keep();
ALTER TABLE activity_stats ADD COLUMN tenant TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE activity_stats DROP CONSTRAINT activity_stats_pkey;
ALTER TABLE activity_stats ADD PRIMARY KEY (activity_name, tenant);
ALTER TABLE metric_buckets ADD COLUMN tenant TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE metric_buckets DROP CONSTRAINT metric_buckets_pkey;
ALTER TABLE metric_buckets ADD PRIMARY KEY (resolution, bucket_start, orchestration_name, tenant);
ALTER TABLE execution_durations ADD COLUMN tenant TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE execution_durations DROP CONSTRAINT execution_durations_pkey;
ALTER TABLE execution_durations ADD PRIMARY KEY (orchestration_name, started_hour, bucket, tenant);
)sql";

// Version 13: as SQLite's version 13.
constexpr const char* kMigration13 = R"sql(
ALTER TABLE instances ADD COLUMN pending_json TEXT;
)sql";

// Version 14: as SQLite's version 14.
constexpr const char* kMigration14 = R"sql(
CREATE INDEX orchestrator_queue_timers ON orchestrator_queue (visible_at) WHERE kind = 'TimerFired';
)sql";

// Version 15 (PostgreSQL only): the status counts are kept at COMMIT (deferred
// constraint triggers), after the rest of the transaction's writes. A batch of acks
// then takes the lock that orders writers of the shared rows
// (Dialect::serialize_orchestration_acks) only for its last statements.
constexpr const char* kMigration15 = R"sql(
DROP TRIGGER instance_counts_on_insert_delete ON instances;
DROP TRIGGER instance_counts_on_update ON instances;
CREATE CONSTRAINT TRIGGER instance_counts_on_insert_delete AFTER INSERT OR DELETE ON instances
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION instance_counts_keep();
CREATE CONSTRAINT TRIGGER instance_counts_on_update
  AFTER UPDATE OF orchestration_name, orchestration_version, parent_instance_id, status, tenant ON instances
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                     OR OLD.orchestration_name IS DISTINCT FROM NEW.orchestration_name
                     OR OLD.orchestration_version IS DISTINCT FROM NEW.orchestration_version
                     OR (OLD.parent_instance_id IS NULL) IS DISTINCT FROM (NEW.parent_instance_id IS NULL)
                     OR OLD.tenant IS DISTINCT FROM NEW.tenant)
  EXECUTE FUNCTION instance_counts_keep();
)sql";

// Version 16: as SQLite's version 16.
constexpr const char* kMigration16 = R"sql(
ALTER TABLE worker_queue ADD COLUMN tag TEXT;
)sql";

// Version 17: as SQLite's version 17.
constexpr const char* kMigration17 = R"sql(
ALTER TABLE executions ADD COLUMN pinned_major INTEGER;
ALTER TABLE executions ADD COLUMN pinned_minor INTEGER;
ALTER TABLE executions ADD COLUMN pinned_patch INTEGER;
)sql";

// Version 18: as SQLite's version 18.
constexpr const char* kMigration18 = R"sql(
ALTER TABLE worker_queue ADD COLUMN session_id TEXT;
CREATE INDEX worker_queue_by_session ON worker_queue (session_id) WHERE session_id IS NOT NULL;
CREATE TABLE sessions (
  session_id TEXT PRIMARY KEY,
  owner_id TEXT NOT NULL,
  locked_until BIGINT NOT NULL,
  claimed_at BIGINT NOT NULL
);
)sql";

// Version 19: as SQLite's version 19.
constexpr const char* kMigration19 = R"sql(
CREATE INDEX worker_queue_untagged ON worker_queue (visible_at, id) WHERE tag IS NULL;
)sql";

// Version 20: as SQLite's version 20.
constexpr const char* kMigration20 = R"sql(
CREATE INDEX worker_queue_by_tag ON worker_queue (tag, visible_at, id) WHERE tag IS NOT NULL;
)sql";

constexpr Migration kMigrations[] = {{6, kMigration6},   {7, kMigration7},   {8, kMigration8},
                                     {9, kMigration9},   {10, kMigration10}, {11, kMigration11},
                                     {12, kMigration12}, {13, kMigration13}, {14, kMigration14},
                                     {15, kMigration15}, {16, kMigration16}, {17, kMigration17},
                                     {18, kMigration18}, {19, kMigration19}, {20, kMigration20}};

}  // namespace

bool valid_schema_name(const std::string& schema) {
  if (schema.empty() || schema.size() > 63) return false;
  if (!(schema[0] == '_' || (schema[0] >= 'a' && schema[0] <= 'z'))) return false;
  for (char c : schema) {
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

int schema_version(Connection& db) {
  Statement row = db.prepare("SELECT version FROM schema_version");
  return row.step() ? static_cast<int>(row.integer(0)) : 0;
}

void require_latest_schema(Connection& db, const std::string& schema) {
  db.set_operation("open");
  if (!valid_schema_name(schema)) {
    throw ProviderError(ProviderErrorKind::InvalidInput, "open",
                        "schema name must match [a-z_][a-z0-9_]* and be at most 63 bytes");
  }
  Statement table = db.prepare("SELECT CASE WHEN to_regclass(CAST(?1 AS TEXT)) IS NULL THEN 0 ELSE 1 END");
  table.bind(1, schema + ".schema_version");
  if (!table.step() || table.integer(0) == 0) {
    throw ProviderError(ProviderErrorKind::Permanent, "open",
                        "the database has no duroxide schema " + schema + "; opened read-only, none is created");
  }
  // Identifiers cannot be bound; the name was validated above.
  db.exec("SET search_path TO " + schema);
  const int version = schema_version(db);
  if (version != kLatest) {
    throw ProviderError(ProviderErrorKind::Permanent, "open",
                        "the schema " + schema + " is version " + std::to_string(version) + ", this build's " +
                            std::to_string(kLatest) + "; opened read-only, it is not migrated");
  }
}

void migrate(Connection& db, const std::string& schema) {
  db.set_operation("migrate");
  if (!valid_schema_name(schema)) {
    throw ProviderError(ProviderErrorKind::InvalidInput, "migrate",
                        "schema name must match [a-z_][a-z0-9_]* and be at most 63 bytes");
  }
  Transaction transaction(db);
  // One migrating process at a time, whatever the schema (the key is a constant).
  db.exec("SELECT pg_advisory_xact_lock(7365820931)");
  // Identifiers cannot be bound; the name was validated above.
  db.exec("CREATE SCHEMA IF NOT EXISTS " + schema);
  db.exec("SET LOCAL search_path TO " + schema);
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)");
  Statement read = db.prepare("SELECT version FROM schema_version");
  const bool has_row = read.step();
  const int version = has_row ? static_cast<int>(read.integer(0)) : 0;
  if (version > kLatest) {
    throw ProviderError(ProviderErrorKind::Permanent, "migrate",
                        "the schema " + schema + " has version " + std::to_string(version) +
                            ", newer than this build's " + std::to_string(kLatest) +
                            "; refusing to open it");
  }
  if (version != 0 && version < 5) {
    throw ProviderError(ProviderErrorKind::Permanent, "migrate",
                        "schema version " + std::to_string(version) + " has no migration path");
  }
  if (version == 0) db.exec(kSchema);
  for (const Migration& migration : kMigrations) {
    if (migration.version > std::max(version, 5)) db.exec(migration.sql);
  }
  if (version != kLatest) {
    db.prepare(has_row ? "UPDATE schema_version SET version = ?1"
                       : "INSERT INTO schema_version (version) VALUES (?1)")
        .bind(1, kLatest)
        .run();
  }
  transaction.commit();
  db.exec("SET search_path TO " + schema);
}

}  // namespace duroxide::pg
