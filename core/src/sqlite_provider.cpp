// SqliteProvider: opening, and the hot path (orchestrator and worker queues).
#include "duroxide/sqlite_provider.hpp"

#include <algorithm>
#include <functional>

#include "duroxide/assert.hpp"
#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include <sqlite3.h>

#include "sqlite_connection.hpp"
#include "sqlite_provider_internal.hpp"
#include "sqlite_schema.hpp"
#include "store_sql.hpp"

namespace duroxide {

using sqlite::Statement;
using sqlite::Transaction;

namespace sqlite {

std::string status_text(const ExecutionMetadata& metadata) {
  if (metadata.continued_as_new) return "ContinuedAsNew";
  return std::string(to_string(metadata.state));
}

void check_token(const std::string& token, const std::string& operation) {
  if (token.empty() || token.size() > 256) {
    throw ProviderError(ProviderErrorKind::InvalidLock, operation, "malformed lock token");
  }
}

void check_delay(std::int64_t ms, const char* what, const std::string& operation) {
  if (ms < 0 || ms > limits::kMaxDelayMs) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        std::string(what) + " must be 0 to " + std::to_string(limits::kMaxDelayMs) +
                            " ms, got " + std::to_string(ms));
  }
}

void record_change(Connection& db, const std::string& instance, const std::string& status,
                   std::int64_t execution_id, std::int64_t custom_status_version,
                   std::int64_t now, const MetricDelta& delta, const std::string& orchestration) {
  Statement insert = db.prepare(
        "INSERT INTO changes (instance_id, status, execution_id, custom_status_version, "
        "  changed_at, created, orchestration_name, instance_created_at, finished_duration_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  insert
      .bind(1, instance)
      .bind(2, status)
      .bind(3, execution_id)
      .bind(4, custom_status_version)
      .bind(5, now)
      .bind(6, delta.starts ? 1 : 0)
      .bind(7, orchestration);
  if (delta.starts || delta.duration_ms) insert.bind(8, delta.created_at);
  if (delta.duration_ms) insert.bind(9, *delta.duration_ms);
  insert.run();
}

void record_metrics(Connection& db, const std::string& orchestration, TimestampMs at,
                    const MetricDelta& delta) {
  std::int64_t histogram[kDurationBuckets] = {};
  if (delta.duration_ms) {
    std::size_t bucket = 0;
    while (bucket < kDurationBuckets - 1 && *delta.duration_ms > kDurationBucketBoundsMs[bucket]) ++bucket;
    histogram[bucket] = 1;
  }
  Statement upsert = db.prepare(
      "INSERT INTO metric_buckets (resolution, bucket_start, orchestration_name, starts, "
      "  completions, failures, duration_sum_ms, duration_count, d0, d1, d2, d3, d4, d5, d6, d7) "
      "VALUES ('minute', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
      "ON CONFLICT (resolution, bucket_start, orchestration_name) DO UPDATE SET "
      "  starts = starts + excluded.starts, completions = completions + excluded.completions, "
      "  failures = failures + excluded.failures, "
      "  duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms, "
      "  duration_count = duration_count + excluded.duration_count, "
      "  d0 = d0 + excluded.d0, d1 = d1 + excluded.d1, d2 = d2 + excluded.d2, "
      "  d3 = d3 + excluded.d3, d4 = d4 + excluded.d4, d5 = d5 + excluded.d5, "
      "  d6 = d6 + excluded.d6, d7 = d7 + excluded.d7");
  upsert.bind(1, (at / 60'000) * 60'000)
      .bind(2, orchestration)
      .bind(3, delta.starts)
      .bind(4, delta.completions)
      .bind(5, delta.failures)
      .bind(6, delta.duration_ms.value_or(0))
      .bind(7, delta.duration_ms ? 1 : 0);
  for (std::size_t i = 0; i < kDurationBuckets; ++i) upsert.bind(static_cast<int>(8 + i), histogram[i]);
  upsert.run();
}

void roll_up_minutes(Connection& db, TimestampMs before) {
  db.prepare(
        "INSERT INTO metric_buckets (resolution, bucket_start, orchestration_name, starts, "
        "  completions, failures, duration_sum_ms, duration_count, d0, d1, d2, d3, d4, d5, d6, d7) "
        "SELECT 'hour', (bucket_start / 3600000) * 3600000, orchestration_name, SUM(starts), "
        "  SUM(completions), SUM(failures), SUM(duration_sum_ms), SUM(duration_count), SUM(d0), "
        "  SUM(d1), SUM(d2), SUM(d3), SUM(d4), SUM(d5), SUM(d6), SUM(d7) "
        "FROM metric_buckets WHERE resolution = 'minute' AND bucket_start < ?1 GROUP BY 2, 3 "
        "ON CONFLICT (resolution, bucket_start, orchestration_name) DO UPDATE SET "
        "  starts = starts + excluded.starts, completions = completions + excluded.completions, "
        "  failures = failures + excluded.failures, "
        "  duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms, "
        "  duration_count = duration_count + excluded.duration_count, "
        "  d0 = d0 + excluded.d0, d1 = d1 + excluded.d1, d2 = d2 + excluded.d2, "
        "  d3 = d3 + excluded.d3, d4 = d4 + excluded.d4, d5 = d5 + excluded.d5, "
        "  d6 = d6 + excluded.d6, d7 = d7 + excluded.d7")
      .bind(1, before)
      .run();
  db.prepare("DELETE FROM metric_buckets WHERE resolution = 'minute' AND bucket_start < ?1")
      .bind(1, before)
      .run();
}

}  // namespace sqlite

namespace {

constexpr const char* kInstanceLockLost = "the lock token is unknown or its lock expired";
constexpr const char* kWorkItemLockLost =
    "the work item is gone (cancelled or acked) or its lock expired";

// The statement just run must have touched a row that holds the caller's lock.
void require_changed(sqlite::Connection& db, const char* lost) {
  if (db.changes() == 0) throw ProviderError(ProviderErrorKind::InvalidLock, db.operation(), lost);
}

bool starts_execution(const WorkItem& item) {
  return std::holds_alternative<work::StartOrchestration>(item) ||
         std::holds_alternative<work::ContinueAsNew>(item);
}

const char* synchronous_pragma(SqliteOptions::Synchronous mode) {
  switch (mode) {
    case SqliteOptions::Synchronous::Off: return "PRAGMA synchronous = OFF";
    case SqliteOptions::Synchronous::Normal: return "PRAGMA synchronous = NORMAL";
    case SqliteOptions::Synchronous::Full: return "PRAGMA synchronous = FULL";
  }
  return "PRAGMA synchronous = NORMAL";
}

void insert_orchestrator_item(sqlite::Connection& db, const WorkItem& item, TimestampMs visible_at,
                              TimestampMs now) {
  const std::string& instance = target_instance(item);
  if (instance.empty() || instance.size() > limits::kMaxIdentifierBytes) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                        "a work item's target instance id must be 1 to " +
                            std::to_string(limits::kMaxIdentifierBytes) + " bytes");
  }
  db.prepare(
        "INSERT INTO orchestrator_queue (instance_id, kind, item_json, visible_at, enqueued_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, instance)
      .bind(2, to_string(kind_of(item)))
      .bind(3, store_sql::encoded(db.operation(), [&] { return encode_work_item(item); }))
      .bind(4, std::max(visible_at, now))
      .bind(5, now)
      .run();
}

}  // namespace

SqliteProvider::SqliteProvider(const std::string& path, Clock& clock, IdSource& ids,
                               SqliteOptions options)
    : db_(std::make_unique<sqlite::Connection>(path, options.busy_timeout_ms, options.vfs)),
      path_(path),
      minute_retention_ms_(std::max<std::int64_t>(options.minute_retention_ms, 60'000)),
      clock_(clock),
      ids_(ids) {
  db_->set_clock(&clock_);
  db_->set_operation("open " + path);
  if (path != ":memory:") db_->exec("PRAGMA journal_mode = WAL");
  // SQLite's automatic checkpoint, done here so diagnostics know when it last ran.
  sqlite3_wal_hook(db_->handle(), &SqliteProvider::on_wal_commit, this);
  db_->exec(synchronous_pragma(options.synchronous));
  db_->exec("PRAGMA foreign_keys = OFF");
  // Savepoint and statement journals in memory: a batched ack's savepoints
  // would otherwise spill pages to a temporary file created for each batch.
  db_->exec("PRAGMA temp_store = MEMORY");
  sqlite::migrate(*db_);
}

SqliteProvider::~SqliteProvider() = default;

void SqliteProvider::checkpoint() {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("checkpoint");
  db_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  last_checkpoint_ms_ = clock_.now_ms();
  ++checkpoints_;
}

// Called after each commit in WAL mode (under mutex_, by the committing call):
// a passive checkpoint once the log passes SQLite's default of 1000 frames.
int SqliteProvider::on_wal_commit(void* self, sqlite3* db, const char* schema, int frames) {
  if (frames < 1000) return SQLITE_OK;
  auto* provider = static_cast<SqliteProvider*>(self);
  if (sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) == SQLITE_OK) {
    provider->last_checkpoint_ms_ = provider->clock_.now_ms();
    ++provider->checkpoints_;
  }
  return SQLITE_OK;  // a failed checkpoint is retried after the next commit
}

ProviderDiagnostics SqliteProvider::get_provider_diagnostics() {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_provider_diagnostics");
  ProviderDiagnostics d;
  d.store_kind = "sqlite";
  d.store_version = sqlite3_libversion();
  d.location = path_;
  const std::int64_t started_us = clock_.monotonic_us();
  try {
    auto probe = db_->prepare("SELECT 1");
    d.connected = probe.step() && probe.integer(0) == 1;
  } catch (const ProviderError&) {
    d.connected = false;
  }
  d.round_trip_us = clock_.monotonic_us() - started_us;
  if (d.connected) {
    d.schema_version = sqlite::schema_version(*db_);
    auto pragma = [&](const char* sql) {
      auto statement = db_->prepare(sql);
      return statement.step() ? statement.integer(0) : 0;
    };
    d.page_size = static_cast<std::uint64_t>(pragma("PRAGMA page_size"));
    d.page_count = static_cast<std::uint64_t>(pragma("PRAGMA page_count"));
    d.free_pages = static_cast<std::uint64_t>(pragma("PRAGMA freelist_count"));
    d.database_bytes = d.page_size * d.page_count;
    {
      auto mode = db_->prepare("PRAGMA journal_mode");
      if (mode.step()) d.journal_mode = mode.text(0);
    }
    // Table names come from this fixed list, never from input.
    static const char* const kCounts[][2] = {
        {"instances", "SELECT COUNT(*) FROM instances"},
        {"executions", "SELECT COUNT(*) FROM executions"},
        {"history", "SELECT COUNT(*) FROM history"},
        {"orchestrator_queue", "SELECT COUNT(*) FROM orchestrator_queue"},
        {"worker_queue", "SELECT COUNT(*) FROM worker_queue"},
        {"instance_locks", "SELECT COUNT(*) FROM instance_locks"},
        {"parked_messages", "SELECT COUNT(*) FROM parked_messages"},
        {"activity_stats", "SELECT COUNT(*) FROM activity_stats"},
        {"changes", "SELECT COUNT(*) FROM changes"},
    };
    for (const auto& entry : kCounts) d.table_rows[entry[0]] = static_cast<std::uint64_t>(pragma(entry[1]));
    sqlite3_file* wal = nullptr;
    if (d.journal_mode == "wal" &&
        sqlite3_file_control(db_->handle(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK && wal &&
        wal->pMethods) {
      sqlite3_int64 size = 0;
      if (wal->pMethods->xFileSize(wal, &size) == SQLITE_OK) d.wal_bytes = static_cast<std::uint64_t>(size);
    }
  }
  d.last_checkpoint_ms = last_checkpoint_ms_;
  d.checkpoints = checkpoints_;
  if (const auto& error = db_->last_error()) {
    d.last_error = error->message;
    d.last_error_ms = error->at_ms;
  }
  d.error_count = db_->error_count();
  return d;
}

int SqliteProvider::schema_version() {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("schema_version");
  return sqlite::schema_version(*db_);
}

// ---------------------------------------------------------------- orchestrator queue

History SqliteProvider::read_history_locked(const std::string& instance, ExecutionId execution,
                                            std::string* corruption) {
  History history;
  Statement rows = db_->prepare(
      "SELECT event_id, event_json FROM history WHERE instance_id = ?1 AND execution_id = ?2 "
      "ORDER BY event_id");
  rows.bind(1, instance).bind(2, static_cast<std::int64_t>(execution));
  while (rows.step()) {
    try {
      history.push_back(decode_event(rows.text(1)));
    } catch (const CodecError& error) {
      std::string problem = "history row " + instance + "/" + std::to_string(execution) + "/" +
                            std::to_string(rows.integer(0)) + " does not decode: " + error.what();
      if (!corruption) throw ProviderError(ProviderErrorKind::Corrupted, db_->operation(), problem);
      if (corruption->empty()) *corruption = problem;
    }
  }
  return history;
}

std::optional<OrchestrationItem> SqliteProvider::fetch_orchestration_item(
    std::int64_t lock_timeout_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("fetch_orchestration_item");
  sqlite::check_delay(lock_timeout_ms, "lock timeout", db_->operation());
  Transaction transaction(*db_);
  std::optional<OrchestrationItem> item = fetch_orchestration_in_transaction(lock_timeout_ms, clock_.now_ms());
  transaction.commit();
  return item;
}

std::vector<OrchestrationItem> SqliteProvider::fetch_orchestration_items(std::int64_t lock_timeout_ms,
                                                                         std::size_t max_items) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("fetch_orchestration_item");
  check_batch_size(max_items, "fetch_orchestration_items");
  sqlite::check_delay(lock_timeout_ms, "lock timeout", db_->operation());
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db_);
  std::vector<OrchestrationItem> items;
  while (items.size() < max_items) {
    // An instance locked by this batch is no candidate for the next fetch of it.
    std::optional<OrchestrationItem> item = fetch_orchestration_in_transaction(lock_timeout_ms, now);
    if (!item) break;
    items.push_back(std::move(*item));
  }
  transaction.commit();
  return items;
}

std::optional<OrchestrationItem> SqliteProvider::fetch_orchestration_in_transaction(
    std::int64_t lock_timeout_ms, TimestampMs now) {
  // Orphans (no instance, no start) are parked; a bounded number per call keeps
  // one fetch short even when many arrive at once.
  for (int candidate = 0; candidate < 64; ++candidate) {
    std::string instance;
    {
      Statement next = db_->prepare(
          "SELECT q.instance_id FROM orchestrator_queue q "
          "WHERE q.visible_at <= ?1 AND NOT EXISTS ("
          "  SELECT 1 FROM instance_locks l WHERE l.instance_id = q.instance_id "
          "  AND l.locked_until > ?1) "
          "ORDER BY q.visible_at, q.id LIMIT 1");
      next.bind(1, now);
      if (!next.step()) break;
      instance = next.text(0);
    }

    OrchestrationItem item;
    item.instance = instance;
    std::string corruption;
    std::vector<std::int64_t> message_ids;
    {
      Statement messages = db_->prepare(
          "SELECT id, item_json, attempt_count FROM orchestrator_queue "
          "WHERE instance_id = ?1 AND visible_at <= ?2 ORDER BY id");
      messages.bind(1, instance).bind(2, now);
      while (messages.step()) {
        message_ids.push_back(messages.integer(0));
        item.attempt_count = std::max<std::uint32_t>(
            item.attempt_count, static_cast<std::uint32_t>(messages.integer(2) + 1));
        try {
          item.messages.push_back(decode_work_item(messages.text(1)));
        } catch (const CodecError& error) {
          if (corruption.empty()) {
            corruption = "queue row " + std::to_string(messages.integer(0)) +
                         " does not decode: " + error.what();
          }
        }
      }
    }

    bool exists = false;
    {
      Statement row = db_->prepare(
          "SELECT current_execution_id, orchestration_name, orchestration_version, status, "
          "  parent_instance_id, parent_id "
          "FROM instances WHERE instance_id = ?1");
      row.bind(1, instance);
      if (row.step()) {
        exists = true;
        item.execution_id = static_cast<ExecutionId>(row.integer(0));
        item.orchestration_name = row.text(1);
        item.orchestration_version = row.text(2);
        const std::string status = row.text(3);
        item.finished = status == "Completed" || status == "Failed";
        item.parent_instance = row.optional_text(4).value_or("");
        item.parent_id = static_cast<EventId>(row.integer(5));
      }
    }
    bool has_start = std::any_of(item.messages.begin(), item.messages.end(), starts_execution);
    if (!exists && !has_start && corruption.empty()) {
      // Nobody will ever process these: park them where operators can see them.
      db_->prepare(
            "INSERT INTO parked_messages (instance_id, item_json, reason, parked_at) "
            "SELECT instance_id, item_json, 'instance does not exist', ?2 "
            "FROM orchestrator_queue WHERE instance_id = ?1 AND visible_at <= ?2")
          .bind(1, instance)
          .bind(2, now)
          .run();
      db_->prepare("DELETE FROM orchestrator_queue WHERE instance_id = ?1 AND visible_at <= ?2")
          .bind(1, instance)
          .bind(2, now)
          .run();
      continue;
    }

    item.lock_token = ids_.next_id();
    db_->prepare(
          "INSERT OR REPLACE INTO instance_locks (instance_id, lock_token, locked_until, locked_at) "
          "VALUES (?1, ?2, ?3, ?4)")
        .bind(1, instance)
        .bind(2, item.lock_token)
        .bind(3, now + lock_timeout_ms)
        .bind(4, now)
        .run();
    for (std::int64_t id : message_ids) {
      db_->prepare(
            "UPDATE orchestrator_queue SET lock_token = ?1, attempt_count = attempt_count + 1 "
            "WHERE id = ?2")
          .bind(1, item.lock_token)
          .bind(2, id)
          .run();
    }
    if (exists) item.history = read_history_locked(instance, item.execution_id, &corruption);
    if (!corruption.empty()) {
      item.corruption = corruption;
      Statement last = db_->prepare(
          "SELECT COALESCE(MAX(event_id), 0) FROM history WHERE instance_id = ?1 AND execution_id = ?2");
      last.bind(1, instance).bind(2, static_cast<std::int64_t>(item.execution_id));
      if (last.step()) item.last_event_id = static_cast<EventId>(last.integer(0));
    }
    return item;
  }
  return std::nullopt;
}

void SqliteProvider::ack_orchestration_item(const std::string& lock_token,
                                            const OrchestrationAck& ack) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("ack_orchestration_item");
  sqlite::check_token(lock_token, db_->operation());
  Transaction transaction(*db_);
  TimestampMs rolled_up_minute = 0;
  ack_orchestration_in_transaction(lock_token, ack, clock_.now_ms(), rolled_up_minute);
  transaction.commit();
  if (rolled_up_minute) last_rollup_minute_ = rolled_up_minute;
}

std::vector<AckOutcome> SqliteProvider::ack_orchestration_items(
    const std::vector<OrchestrationAckRequest>& requests) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_batch_size(requests.size(), "ack_orchestration_items");
  db_->set_operation("ack_orchestration_item");
  const TimestampMs now = clock_.now_ms();
  TimestampMs rolled_up_minute = 0;
  std::vector<AckOutcome> outcomes = acks_in_one_transaction(requests.size(), [&](std::size_t i) {
    sqlite::check_token(requests[i].lock_token, db_->operation());
    const TimestampMs before = rolled_up_minute;  // a rolled-back ack takes its roll-up along
    try {
      ack_orchestration_in_transaction(requests[i].lock_token, requests[i].ack, now, rolled_up_minute);
    } catch (const ProviderError&) {
      rolled_up_minute = before;
      throw;
    }
  });
  const bool committed = std::any_of(outcomes.begin(), outcomes.end(),
                                     [](const AckOutcome& outcome) { return !outcome.has_value(); });
  if (committed && rolled_up_minute) last_rollup_minute_ = std::max(last_rollup_minute_, rolled_up_minute);
  return outcomes;
}

std::vector<AckOutcome> SqliteProvider::acks_in_one_transaction(
    std::size_t count, const std::function<void(std::size_t)>& ack_one) {
  // Errors that concern one ack alone: its savepoint is rolled back and the
  // others go on. Anything else (I/O, busy, a failed commit) fails the batch.
  auto concerns_one_ack = [](ProviderErrorKind kind) {
    return kind == ProviderErrorKind::InvalidLock || kind == ProviderErrorKind::InvalidInput ||
           kind == ProviderErrorKind::Conflict || kind == ProviderErrorKind::NotFound;
  };
  std::vector<AckOutcome> outcomes(count);
  try {
    Transaction transaction(*db_);
    for (std::size_t i = 0; i < count; ++i) {
      db_->exec("SAVEPOINT batched_ack");
      try {
        ack_one(i);
      } catch (const ProviderError& error) {
        if (!concerns_one_ack(error.kind())) throw;
        db_->exec("ROLLBACK TO batched_ack");
        outcomes[i] = error;
      }
      db_->exec("RELEASE batched_ack");
    }
    transaction.commit();
  } catch (const ProviderError& error) {
    for (AckOutcome& outcome : outcomes) outcome = error;  // nothing of the batch was written
  }
  return outcomes;
}

void SqliteProvider::ack_orchestration_in_transaction(const std::string& lock_token,
                                                      const OrchestrationAck& ack, TimestampMs now,
                                                      TimestampMs& rolled_up_minute) {
  std::string instance;
  {
    Statement held = db_->prepare(
        "SELECT instance_id FROM instance_locks WHERE lock_token = ?1 AND locked_until > ?2");
    held.bind(1, lock_token).bind(2, now);
    if (!held.step()) {
      throw ProviderError(ProviderErrorKind::InvalidLock, db_->operation(), kInstanceLockLost);
    }
    instance = held.text(0);
  }

  ExecutionId current = 0;
  bool exists = false;
  std::string previous_status;
  TimestampMs created_at = now;
  {
    Statement row = db_->prepare(
        "SELECT current_execution_id, status, created_at FROM instances WHERE instance_id = ?1");
    row.bind(1, instance);
    if (row.step()) {
      exists = true;
      current = static_cast<ExecutionId>(row.integer(0));
      previous_status = row.text(1);
      created_at = row.integer(2);
    }
  }
  if (ack.execution_id == 0 || ack.execution_id < current) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(),
                        "execution " + std::to_string(ack.execution_id) +
                            " is older than the current execution " + std::to_string(current));
  }

  const bool writes_instance = exists || !ack.history_delta.empty();
  if (writes_instance) {
    const ExecutionMetadata& meta = ack.metadata;
    if (meta.orchestration_name.empty() && !exists) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(),
                          "the first ack of an instance needs its orchestration name");
    }
    std::string status = sqlite::status_text(meta);
    std::optional<std::string> output;
    if (meta.state == RuntimeState::Completed) output = meta.output;
    std::optional<std::string> error_json;
    if (meta.error) {
      error_json = store_sql::encoded(db_->operation(), [&] { return encode_error_details(*meta.error); });
    }

    // Instance status: a continued-as-new instance is still running.
    std::string instance_status =
        meta.continued_as_new ? std::string("Running") : std::string(to_string(meta.state));
    // A message that changes nothing (say, an event for a finished instance)
    // leaves updated_at alone: for a finished instance it stays its finish time.
    const bool changes_instance = !exists || instance_status != previous_status ||
                                  ack.execution_id != current || meta.custom_status_changed ||
                                  !ack.history_delta.empty();
    db_->prepare(
          "INSERT INTO instances (instance_id, orchestration_name, orchestration_version, "
          "  current_execution_id, status, output, error_json, custom_status, "
          "  custom_status_version, parent_instance_id, parent_id, created_at, updated_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12) "
          "ON CONFLICT (instance_id) DO UPDATE SET "
          "  orchestration_name = excluded.orchestration_name, "
          "  orchestration_version = excluded.orchestration_version, "
          "  current_execution_id = excluded.current_execution_id, "
          "  status = excluded.status, output = excluded.output, "
          "  error_json = excluded.error_json, "
          "  custom_status = CASE WHEN ?13 THEN excluded.custom_status ELSE custom_status END, "
          "  custom_status_version = custom_status_version + ?13, "
          "  updated_at = CASE WHEN ?14 THEN excluded.updated_at ELSE updated_at END")
        .bind(1, instance)
        .bind(2, meta.orchestration_name)
        .bind(3, meta.orchestration_version)
        .bind(4, static_cast<std::int64_t>(ack.execution_id))
        .bind(5, instance_status)
        .bind_optional(6, meta.continued_as_new ? std::nullopt : output)
        .bind_optional(7, error_json)
        .bind_optional(8, meta.custom_status_changed ? meta.custom_status : std::nullopt)
        .bind(9, meta.custom_status_changed ? 1 : 0)
        .bind_optional(10, meta.parent_instance.empty()
                               ? std::nullopt
                               : std::optional<std::string>(meta.parent_instance))
        .bind(11, static_cast<std::int64_t>(meta.parent_id))
        .bind(12, now)
        .bind(13, meta.custom_status_changed ? 1 : 0)
        .bind(14, changes_instance ? 1 : 0)
        .run();
    // The time series, in this same transaction: a start when the instance is
    // created, a completion or failure when it finishes.
    sqlite::MetricDelta delta;
    delta.starts = exists ? 0 : 1;
    delta.created_at = created_at;
    const bool was_finished = previous_status == "Completed" || previous_status == "Failed";
    if (!was_finished && (instance_status == "Completed" || instance_status == "Failed")) {
      (instance_status == "Completed" ? delta.completions : delta.failures) = 1;
      delta.duration_ms = now - created_at;
    }
    if (!exists || instance_status != previous_status || ack.execution_id != current ||
        meta.custom_status_changed) {
      Statement version = db_->prepare(
          "SELECT custom_status_version FROM instances WHERE instance_id = ?1");
      version.bind(1, instance);
      std::int64_t custom_version = version.step() ? version.integer(0) : 0;
      sqlite::record_change(*db_, instance, instance_status,
                            static_cast<std::int64_t>(ack.execution_id), custom_version, now,
                            delta, meta.orchestration_name);
    }
    if (delta.starts || delta.completions || delta.failures) {
      sqlite::record_metrics(*db_, meta.orchestration_name, now, delta);
    }
    const TimestampMs minute = (now / 60'000) * 60'000;
    if (minute > std::max(last_rollup_minute_, rolled_up_minute)) {
      sqlite::roll_up_minutes(*db_, minute - minute_retention_ms_);
      rolled_up_minute = minute;  // remembered once the transaction commits
    }

    const bool terminal = meta.state != RuntimeState::Running || meta.continued_as_new;
    db_->prepare(
          "INSERT INTO executions (instance_id, execution_id, status, output, error_json, "
          "  started_at, completed_at, event_count) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
          "ON CONFLICT (instance_id, execution_id) DO UPDATE SET "
          "  status = excluded.status, output = excluded.output, "
          "  error_json = excluded.error_json, completed_at = excluded.completed_at, "
          "  event_count = event_count + excluded.event_count")
        .bind(1, instance)
        .bind(2, static_cast<std::int64_t>(ack.execution_id))
        .bind(3, status)
        .bind_optional(4, output)
        .bind_optional(5, error_json)
        .bind(6, now)
        .bind_optional(7, std::nullopt)
        .bind(8, static_cast<std::int64_t>(ack.history_delta.size()))
        .run();
    if (terminal) {
      db_->prepare(
            "UPDATE executions SET completed_at = ?3 WHERE instance_id = ?1 AND execution_id = ?2")
          .bind(1, instance)
          .bind(2, static_cast<std::int64_t>(ack.execution_id))
          .bind(3, now)
          .run();
    }

    for (const Event& event : ack.history_delta) {
      try {
        db_->prepare(
              "INSERT INTO history (instance_id, execution_id, event_id, event_kind, timestamp, "
              "  event_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .bind(1, instance)
            .bind(2, static_cast<std::int64_t>(ack.execution_id))
            .bind(3, static_cast<std::int64_t>(event.event_id))
            .bind(4, to_string(event.kind()))
            .bind(5, event.timestamp_ms)
            .bind(6, encode_event(event))
            .run();
      } catch (const ProviderError& error) {
        if (error.kind() != ProviderErrorKind::Conflict) throw;
        throw ProviderError(ProviderErrorKind::Conflict, db_->operation(),
                            "event id " + std::to_string(event.event_id) +
                                " already exists in execution " +
                                std::to_string(ack.execution_id) + " of " + instance);
      } catch (const CodecError& error) {
        throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(), error.what());
      }
    }
    store_sql::apply_kv_mutations(*db_, instance, ack.kv_mutations);
  }

  for (const WorkItem& item : ack.worker_items) {
    const auto* execute = std::get_if<work::ActivityExecute>(&item);
    if (!execute) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(),
                          "worker items must be ActivityExecute, got " +
                              std::string(to_string(kind_of(item))));
    }
    db_->prepare(
          "INSERT INTO worker_queue (instance_id, execution_id, activity_id, item_json, "
          "  visible_at, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)")
        .bind(1, execute->instance)
        .bind(2, static_cast<std::int64_t>(execute->execution_id))
        .bind(3, static_cast<std::int64_t>(execute->id))
        .bind(4, store_sql::encoded(db_->operation(), [&] { return encode_work_item(item); }))
        .bind(5, now)
        .run();
  }
  for (const OrchestratorItem& scheduled : ack.orchestrator_items) {
    insert_orchestrator_item(*db_, scheduled.item, scheduled.visible_at_ms, now);
  }
  // Removals after insertions: an activity scheduled and cancelled in one turn goes too.
  for (const CancelledActivity& cancelled : ack.cancelled_activities) {
    db_->prepare(
          "DELETE FROM worker_queue WHERE instance_id = ?1 AND execution_id = ?2 "
          "AND activity_id = ?3")
        .bind(1, cancelled.instance)
        .bind(2, static_cast<std::int64_t>(cancelled.execution_id))
        .bind(3, static_cast<std::int64_t>(cancelled.activity_id))
        .run();
  }
  for (const ActivityOutcome& outcome : ack.activity_outcomes) {
    const bool finished = outcome.kind != ActivityOutcome::Kind::Scheduled;
    db_->prepare(
          "INSERT INTO activity_stats (activity_name, scheduled, completed, failed, "
          "  total_duration_ms) VALUES (?1, ?2, ?3, ?4, ?5) "
          "ON CONFLICT (activity_name) DO UPDATE SET "
          "  scheduled = scheduled + excluded.scheduled, "
          "  completed = completed + excluded.completed, failed = failed + excluded.failed, "
          "  total_duration_ms = total_duration_ms + excluded.total_duration_ms")
        .bind(1, outcome.name)
        .bind(2, outcome.kind == ActivityOutcome::Kind::Scheduled ? 1 : 0)
        .bind(3, outcome.kind == ActivityOutcome::Kind::Completed ? 1 : 0)
        .bind(4, outcome.kind == ActivityOutcome::Kind::Failed ? 1 : 0)
        .bind(5, finished ? std::max<std::int64_t>(outcome.duration_ms, 0) : 0)
        .run();
  }
  db_->prepare("DELETE FROM orchestrator_queue WHERE lock_token = ?1").bind(1, lock_token).run();
  db_->prepare("DELETE FROM instance_locks WHERE lock_token = ?1").bind(1, lock_token).run();
  DUROXIDE_ASSERT(db_->changes() == 1, "the ack's transaction still holds the lock it checked");
}

void SqliteProvider::abandon_orchestration_item(const std::string& lock_token,
                                                std::int64_t delay_ms, bool ignore_attempt) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("abandon_orchestration_item");
  sqlite::check_token(lock_token, db_->operation());
  sqlite::check_delay(delay_ms, "delay", db_->operation());
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db_);
  db_->prepare("DELETE FROM instance_locks WHERE lock_token = ?1 AND locked_until > ?2")
      .bind(1, lock_token)
      .bind(2, now)
      .run();
  require_changed(*db_, kInstanceLockLost);
  db_->prepare(
        "UPDATE orchestrator_queue SET lock_token = NULL, "
        "  visible_at = CASE WHEN ?2 > 0 THEN ?3 + ?2 ELSE visible_at END, "
        "  attempt_count = CASE WHEN ?4 THEN MAX(attempt_count - 1, 0) ELSE attempt_count END "
        "WHERE lock_token = ?1")
      .bind(1, lock_token)
      .bind(2, delay_ms)
      .bind(3, now)
      .bind(4, ignore_attempt ? 1 : 0)
      .run();
  transaction.commit();
}

void SqliteProvider::renew_orchestration_item_lock(const std::string& lock_token,
                                                   std::int64_t extend_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("renew_orchestration_item_lock");
  sqlite::check_token(lock_token, db_->operation());
  sqlite::check_delay(extend_ms, "extension", db_->operation());
  const TimestampMs now = clock_.now_ms();
  db_->prepare(
        "UPDATE instance_locks SET locked_until = ?3 WHERE lock_token = ?1 AND locked_until > ?2")
      .bind(1, lock_token)
      .bind(2, now)
      .bind(3, now + extend_ms)
      .run();
  require_changed(*db_, kInstanceLockLost);
}

History SqliteProvider::read(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("read");
  Statement row =
      db_->prepare("SELECT current_execution_id FROM instances WHERE instance_id = ?1");
  row.bind(1, instance);
  if (!row.step()) return {};
  auto execution = static_cast<ExecutionId>(row.integer(0));
  return read_history_locked(instance, execution, nullptr);
}

void SqliteProvider::enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("enqueue_orchestrator_item");
  sqlite::check_delay(delay_ms, "delay", db_->operation());
  if (std::holds_alternative<work::ActivityExecute>(item)) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(),
                        "ActivityExecute belongs on the worker queue");
  }
  const TimestampMs now = clock_.now_ms();
  insert_orchestrator_item(*db_, item, now + delay_ms, now);
}

// The write transaction (BEGIN IMMEDIATE) serializes the check and the insert
// with every other writer, in this process or another.
void SqliteProvider::enqueue_start(const work::StartOrchestration& start) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("enqueue_start");
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db_);
  if (store_sql::known_instance(*db_, start.instance)) {
    throw ProviderError(ProviderErrorKind::Conflict, db_->operation(),
                        "instance " + start.instance + " already exists");
  }
  insert_orchestrator_item(*db_, start, now, now);
  transaction.commit();
}

std::optional<std::string> SqliteProvider::get_kv_value(const std::string& instance,
                                                        const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_kv_value");
  return store_sql::read_kv_value(*db_, instance, key);
}

KvMap SqliteProvider::get_kv_all_values(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_kv_all_values");
  return store_sql::read_kv_values(*db_, instance);
}

bool SqliteProvider::instance_known(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("instance_known");
  return store_sql::known_instance(*db_, instance);
}

// ---------------------------------------------------------------- worker queue

std::optional<WorkerItem> SqliteProvider::fetch_work_item(std::int64_t lock_timeout_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("fetch_work_item");
  sqlite::check_delay(lock_timeout_ms, "lock timeout", db_->operation());
  Transaction transaction(*db_);
  std::optional<std::string> parked;
  std::optional<WorkerItem> item = fetch_work_in_transaction(lock_timeout_ms, clock_.now_ms(), true, parked);
  transaction.commit();  // a parked row stays parked
  if (parked) throw ProviderError(ProviderErrorKind::Corrupted, db_->operation(), *parked);
  return item;
}

std::vector<WorkerItem> SqliteProvider::fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("fetch_work_item");
  check_batch_size(max_items, "fetch_work_items");
  sqlite::check_delay(lock_timeout_ms, "lock timeout", db_->operation());
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db_);
  std::vector<WorkerItem> items;
  std::optional<std::string> parked;
  while (items.size() < max_items) {
    // A corrupted row is parked and reported only when it comes first; later
    // in a batch it ends the batch and comes first in the next fetch.
    std::optional<WorkerItem> item = fetch_work_in_transaction(lock_timeout_ms, now, items.empty(), parked);
    if (!item) break;
    items.push_back(std::move(*item));
  }
  transaction.commit();
  if (parked) throw ProviderError(ProviderErrorKind::Corrupted, db_->operation(), *parked);
  return items;
}

std::optional<WorkerItem> SqliteProvider::fetch_work_in_transaction(std::int64_t lock_timeout_ms,
                                                                    TimestampMs now, bool park_corrupted,
                                                                    std::optional<std::string>& parked) {
  for (int candidate = 0; candidate < 64; ++candidate) {
    std::int64_t id = 0;
    std::string json;
    std::int64_t attempts = 0;
    work::ActivityFailed failed;  // what the orchestration gets if the row does not decode
    {
      Statement next = db_->prepare(
          "SELECT id, item_json, attempt_count, instance_id, execution_id, activity_id FROM worker_queue "
          "WHERE visible_at <= ?1 AND (lock_token IS NULL OR locked_until <= ?1) "
          "ORDER BY visible_at, id LIMIT 1");
      next.bind(1, now);
      if (!next.step()) break;
      id = next.integer(0);
      json = next.text(1);
      attempts = next.integer(2);
      failed.instance = next.text(3);
      failed.execution_id = static_cast<ExecutionId>(next.integer(4));
      failed.id = static_cast<EventId>(next.integer(5));
    }
    std::string problem;
    std::optional<work::ActivityExecute> execute = store_sql::decode_worker_item(json, problem);
    if (!execute) {
      if (!park_corrupted) return std::nullopt;
      // An unreadable row must not block the queue: park it, then report it.
      db_->prepare(
            "INSERT INTO parked_messages (instance_id, item_json, reason, parked_at) "
            "SELECT instance_id, item_json, ?2, ?3 FROM worker_queue WHERE id = ?1")
          .bind(1, id)
          .bind(2, "corrupted worker item: " + problem)
          .bind(3, now)
          .run();
      db_->prepare("DELETE FROM worker_queue WHERE id = ?1").bind(1, id).run();
      parked = "worker queue row " + std::to_string(id) + " " + problem + " (moved to parked_messages)";
      failed.details = ErrorDetails::provider(db_->operation(), *parked, false);
      insert_orchestrator_item(*db_, failed, now, now);
      return std::nullopt;
    }
    WorkerItem fetched{std::move(*execute), ids_.next_id(),
                       static_cast<std::uint32_t>(attempts + 1)};
    db_->prepare(
          "UPDATE worker_queue SET lock_token = ?2, locked_until = ?3, "
          "attempt_count = attempt_count + 1 WHERE id = ?1")
        .bind(1, id)
        .bind(2, fetched.lock_token)
        .bind(3, now + lock_timeout_ms)
        .run();
    return fetched;
  }
  return std::nullopt;
}

void SqliteProvider::ack_work_item(const std::string& lock_token,
                                   const std::optional<WorkItem>& completion) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("ack_work_item");
  sqlite::check_token(lock_token, db_->operation());
  Transaction transaction(*db_);
  ack_work_in_transaction(lock_token, completion, clock_.now_ms());
  transaction.commit();
}

std::vector<AckOutcome> SqliteProvider::ack_work_items(const std::vector<WorkAckRequest>& requests) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_batch_size(requests.size(), "ack_work_items");
  db_->set_operation("ack_work_item");
  const TimestampMs now = clock_.now_ms();
  return acks_in_one_transaction(requests.size(), [&](std::size_t i) {
    sqlite::check_token(requests[i].lock_token, db_->operation());
    ack_work_in_transaction(requests[i].lock_token, requests[i].completion, now);
  });
}

void SqliteProvider::ack_work_in_transaction(const std::string& lock_token,
                                             const std::optional<WorkItem>& completion, TimestampMs now) {
  db_->prepare("DELETE FROM worker_queue WHERE lock_token = ?1 AND locked_until > ?2")
      .bind(1, lock_token)
      .bind(2, now)
      .run();
  require_changed(*db_, kWorkItemLockLost);
  if (completion) insert_orchestrator_item(*db_, *completion, now, now);
}

void SqliteProvider::renew_work_item_lock(const std::string& lock_token, std::int64_t extend_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("renew_work_item_lock");
  sqlite::check_token(lock_token, db_->operation());
  sqlite::check_delay(extend_ms, "extension", db_->operation());
  const TimestampMs now = clock_.now_ms();
  db_->prepare(
        "UPDATE worker_queue SET locked_until = ?3 WHERE lock_token = ?1 AND locked_until > ?2")
      .bind(1, lock_token)
      .bind(2, now)
      .bind(3, now + extend_ms)
      .run();
  require_changed(*db_, kWorkItemLockLost);
}

void SqliteProvider::abandon_work_item(const std::string& lock_token, std::int64_t delay_ms,
                                       bool ignore_attempt) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("abandon_work_item");
  sqlite::check_token(lock_token, db_->operation());
  sqlite::check_delay(delay_ms, "delay", db_->operation());
  const TimestampMs now = clock_.now_ms();
  db_->prepare(
        "UPDATE worker_queue SET lock_token = NULL, locked_until = NULL, "
        "  visible_at = CASE WHEN ?2 > 0 THEN ?3 + ?2 ELSE visible_at END, "
        "  attempt_count = CASE WHEN ?4 THEN MAX(attempt_count - 1, 0) ELSE attempt_count END "
        "WHERE lock_token = ?1 AND locked_until > ?3")
      .bind(1, lock_token)
      .bind(2, delay_ms)
      .bind(3, now)
      .bind(4, ignore_attempt ? 1 : 0)
      .run();
  require_changed(*db_, kWorkItemLockLost);
}

}  // namespace duroxide
