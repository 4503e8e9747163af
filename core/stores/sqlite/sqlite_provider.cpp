// SqliteProvider: opening, and the hot path (orchestrator and worker queues).
#include "duroxide/sqlite_provider.hpp"

#include <algorithm>
#include <functional>

#include "duroxide/assert.hpp"
#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include <sqlite3.h>

#include "sqlite_connection.hpp"
#include "sqlite_dialect.hpp"
#include "sqlite_schema.hpp"
#include "queue_core.hpp"
#include "store_sql.hpp"

namespace duroxide {

using sqlite::Statement;
using sqlite::Transaction;
using Queues = store_sql::Queues<sqlite::Dialect>;
using store_sql::kInstanceLockLost;
using store_sql::kWorkItemLockLost;

namespace {

const char* synchronous_pragma(SqliteOptions::Synchronous mode) {
  switch (mode) {
    case SqliteOptions::Synchronous::Off: return "PRAGMA synchronous = OFF";
    case SqliteOptions::Synchronous::Normal: return "PRAGMA synchronous = NORMAL";
    case SqliteOptions::Synchronous::Full: return "PRAGMA synchronous = FULL";
  }
  return "PRAGMA synchronous = NORMAL";
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
    store_sql::count_table_rows(*db_, d);
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

std::optional<OrchestrationItem> SqliteProvider::fetch_orchestration_item(
    std::int64_t lock_timeout_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("fetch_orchestration_item");
  store_sql::check_delay(lock_timeout_ms, "lock timeout", db_->operation());
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
  store_sql::check_delay(lock_timeout_ms, "lock timeout", db_->operation());
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
    Queues::read_messages(*db_, now, item, message_ids, corruption);

    const bool exists = Queues::read_instance(*db_, item);
    if (Queues::orphaned(item, exists, corruption)) {
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
    Queues::read_item_history(*db_, item, exists, corruption);
    return item;
  }
  return std::nullopt;
}

void SqliteProvider::ack_orchestration_item(const std::string& lock_token,
                                            const OrchestrationAck& ack) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("ack_orchestration_item");
  store_sql::RollUp roll_up{last_rollup_minute_, minute_retention_ms_};
  Queues::ack_orchestration_committed(*db_, lock_token, ack, clock_.now_ms(), roll_up);
  last_rollup_minute_ = roll_up.last_minute;
}

std::vector<AckOutcome> SqliteProvider::ack_orchestration_items(
    const std::vector<OrchestrationAckRequest>& requests) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_batch_size(requests.size(), "ack_orchestration_items");
  db_->set_operation("ack_orchestration_item");
  store_sql::RollUp roll_up{last_rollup_minute_, minute_retention_ms_};
  std::vector<AckOutcome> outcomes = Queues::ack_orchestrations(*db_, requests, clock_.now_ms(), roll_up);
  last_rollup_minute_ = roll_up.last_minute;
  return outcomes;
}

void SqliteProvider::abandon_orchestration_item(const std::string& lock_token,
                                                std::int64_t delay_ms, bool ignore_attempt) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("abandon_orchestration_item");
  Queues::abandon_orchestration(*db_, lock_token, delay_ms, ignore_attempt, clock_.now_ms());
}

void SqliteProvider::renew_orchestration_item_lock(const std::string& lock_token,
                                                   std::int64_t extend_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("renew_orchestration_item_lock");
  Queues::renew_lock(*db_, /*work_item=*/false, lock_token, extend_ms, clock_.now_ms());
}

History SqliteProvider::read(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("read");
  return Queues::read_current(*db_, instance);
}

void SqliteProvider::enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("enqueue_orchestrator_item");
  Queues::enqueue_orchestrator_item(*db_, item, delay_ms, clock_.now_ms());
}

// The write transaction (BEGIN IMMEDIATE) serializes the check and the insert
// with every other writer, in this process or another.
void SqliteProvider::enqueue_start(const work::StartOrchestration& start) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("enqueue_start");
  Transaction transaction(*db_);
  Queues::enqueue_start(*db_, start, clock_.now_ms());
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
  store_sql::check_delay(lock_timeout_ms, "lock timeout", db_->operation());
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
  store_sql::check_delay(lock_timeout_ms, "lock timeout", db_->operation());
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
    std::optional<Queues::WorkerRow> row = Queues::next_worker_row(*db_, now);
    if (!row) break;
    std::string problem;
    std::optional<work::ActivityExecute> execute = store_sql::decode_worker_item(row->json, problem);
    if (!execute) {
      if (park_corrupted) parked = Queues::park_worker_row(*db_, *row, problem, now);
      return std::nullopt;
    }
    return Queues::claim_worker_row(*db_, *row, std::move(*execute), ids_.next_id(), now + lock_timeout_ms);
  }
  return std::nullopt;
}

void SqliteProvider::ack_work_item(const std::string& lock_token,
                                   const std::optional<WorkItem>& completion) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("ack_work_item");
  Transaction transaction(*db_);
  Queues::ack_work(*db_, lock_token, completion, clock_.now_ms());
  transaction.commit();
}

std::vector<AckOutcome> SqliteProvider::ack_work_items(const std::vector<WorkAckRequest>& requests) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_batch_size(requests.size(), "ack_work_items");
  db_->set_operation("ack_work_item");
  return Queues::ack_works(*db_, requests, clock_.now_ms());
}

void SqliteProvider::renew_work_item_lock(const std::string& lock_token, std::int64_t extend_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("renew_work_item_lock");
  Queues::renew_lock(*db_, /*work_item=*/true, lock_token, extend_ms, clock_.now_ms());
}

void SqliteProvider::abandon_work_item(const std::string& lock_token, std::int64_t delay_ms,
                                       bool ignore_attempt) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("abandon_work_item");
  Queues::abandon_work(*db_, lock_token, delay_ms, ignore_attempt, clock_.now_ms());
}

}  // namespace duroxide
