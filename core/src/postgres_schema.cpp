// The PostgreSQL schema: the same tables, columns and indexes as SQLite's
// version 5 (core/src/sqlite_schema.cpp), in PostgreSQL types. Times are BIGINT
// milliseconds from the injected clock, as in SQLite. Every text column is
// COLLATE "C": byte order, as SQLite's BINARY, whatever the database's locale,
// so listings page in the same order on both stores and the indexes serve the
// ORDER BY ... COLLATE "C" of the keyset queries.
#include "postgres_schema.hpp"

#include "duroxide/provider.hpp"

namespace duroxide::pg {

namespace {

constexpr int kLatest = 5;

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
  if (version == 0) {
    db.exec(kSchema);
    db.prepare(has_row ? "UPDATE schema_version SET version = ?1"
                       : "INSERT INTO schema_version (version) VALUES (?1)")
        .bind(1, kLatest)
        .run();
  } else if (version < kLatest) {
    throw ProviderError(ProviderErrorKind::Permanent, "migrate",
                        "schema version " + std::to_string(version) + " has no migration path");
  }
  transaction.commit();
  db.exec("SET search_path TO " + schema);
}

}  // namespace duroxide::pg
