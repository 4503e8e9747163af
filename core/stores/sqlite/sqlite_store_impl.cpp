// SQLite's part of the store: opening, checkpoints, diagnostics and the fetches.
#include "sqlite_store_impl.hpp"

#include <algorithm>
#include <functional>

#include "duroxide/assert.hpp"
#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include <sqlite3.h>

#include "sqlite_pragmas.hpp"
#include "sqlite_schema.hpp"

namespace duroxide::sqlite {

StoreImpl::StoreImpl(const std::string& path, Clock& clock, IdSource& ids, const SqliteOptions& options)
    : SqlStoreImpl(clock, {options.minute_retention_ms, options.change_retention_ms, options.parked_retention_ms,
                           options.finished_retention_ms}),
      db_(std::make_unique<Connection>(path, options.busy_timeout_ms, options.vfs, !options.read_only)),
      path_(path),
      ids_(ids) {
  db_->set_clock(&clock_);
  db_->set_operation("open " + path);
  if (path != ":memory:" && !options.read_only) db_->exec("PRAGMA journal_mode = WAL");
  // SQLite's automatic checkpoint, done here so diagnostics know when it last ran.
  sqlite3_wal_hook(db_->handle(), &StoreImpl::on_wal_commit, this);
  db_->exec(synchronous_pragma(options.synchronous));
  db_->exec("PRAGMA foreign_keys = OFF");
  // Savepoint and statement journals in memory: a batched ack's savepoints
  // would otherwise spill pages to a temporary file created for each batch.
  db_->exec("PRAGMA temp_store = MEMORY");
  db_->exec(cache_size_pragma(options.cache_kib).c_str());
  if (options.read_only) {
    require_latest_schema(*db_);
  } else {
    migrate(*db_);
  }
  open_read_connection(path, options);
}

void StoreImpl::open_read_connection(const std::string& path, const SqliteOptions& options) {
  if (!options.read_connection || !options.vfs.empty() || path.empty() || path == ":memory:" ||
      path.rfind("file:", 0) == 0) {
    return;
  }
  {
    auto mode = db_->prepare("PRAGMA journal_mode");
    if (!mode.step() || mode.text(0) != "wal") return;  // readers would wait for the writer anyway
  }
  read_db_ = std::make_unique<Connection>(path, options.busy_timeout_ms, options.vfs);
  read_db_->set_clock(&clock_);
  read_db_->set_operation("open " + path + " for reads");
  read_db_->exec("PRAGMA query_only = 1");  // a write through it is a bug: refused, not done
  read_db_->exec("PRAGMA temp_store = MEMORY");
  read_db_->exec(cache_size_pragma(options.cache_kib).c_str());
  // The checkpoints' own: behind the read connection's mutex, a slow management read would
  // hold them back, the log would pass the backstop, and every commit would checkpoint.
  checkpoint_db_ = std::make_unique<Connection>(path, options.busy_timeout_ms, options.vfs);
  checkpoint_db_->set_clock(&clock_);
  checkpoint_db_->set_operation("open " + path + " for checkpoints");
  checkpoint_db_->exec("PRAGMA query_only = 1");
}

void StoreImpl::checkpoint() {
  Session db = session("checkpoint");
  db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  last_checkpoint_ms_ = clock_.now_ms();
  ++checkpoints_;
}

// Called after each commit in WAL mode (under mutex_, by the committing call):
// a passive checkpoint once the log passes SQLite's default of 1000 frames, or,
// while maintain() does them, only past the backstop.
int StoreImpl::on_wal_commit(void* self, sqlite3* db, const char* schema, int frames) {
  auto* provider = static_cast<StoreImpl*>(self);
  provider->wal_frames_ = frames;
  if (frames < (provider->maintained_ ? kCheckpointBackstopFrames : kCheckpointFrames)) return SQLITE_OK;
  if (sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) == SQLITE_OK) {
    provider->last_checkpoint_ms_ = provider->clock_.now_ms();
    ++provider->checkpoints_;
  }
  return SQLITE_OK;  // a failed checkpoint is retried after the next commit
}

void StoreImpl::maintain_files() {
  maintained_ = true;
  if (wal_frames_ < kCheckpointFrames) return;
  if (checkpoint_db_) {
    std::lock_guard<std::mutex> lock(checkpoint_mutex_);
    checkpoint_passive(*checkpoint_db_);
  } else {
    Session db = session("maintain");
    checkpoint_passive(*db);
  }
}

void StoreImpl::checkpoint_passive(Connection& db) {
  int log_frames = 0;
  int copied = 0;
  if (sqlite3_wal_checkpoint_v2(db.handle(), "main", SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied) != SQLITE_OK) {
    return;  // tried again at the next call
  }
  wal_frames_ = 0;  // the next commit tells the log's length again
  last_checkpoint_ms_ = clock_.now_ms();
  ++checkpoints_;
}

// The file's facts come through the read connection (counting rows takes a
// while on a large database); the errors are the writer's.
ProviderDiagnostics StoreImpl::get_provider_diagnostics() {
  ProviderDiagnostics d;
  d.store_kind = "sqlite";
  d.store_version = sqlite3_libversion();
  d.location = path_;
  {
    Session db = read_session("get_provider_diagnostics");
    const std::int64_t started_us = clock_.monotonic_us();
    try {
      auto probe = db->prepare("SELECT 1");
      d.connected = probe.step() && probe.integer(0) == 1;
    } catch (const ProviderError&) {
      d.connected = false;
    }
    d.round_trip_us = clock_.monotonic_us() - started_us;
    if (d.connected) read_file_facts(*db, d);
  }
  // The writer's error record, read without its session: diagnostics never wait for the
  // hot path's connection, nor hold it.
  d.last_checkpoint_ms = last_checkpoint_ms_;
  d.checkpoints = checkpoints_;
  if (const auto error = db_->last_error()) {
    d.last_error = error->message;
    d.last_error_ms = error->at_ms;
  }
  d.error_count = db_->error_count();
  return d;
}

// Schema version, pages, journal mode, the log's size and the rows per table.
void StoreImpl::read_file_facts(Connection& db, ProviderDiagnostics& d) {
  d.schema_version = sqlite::schema_version(db);
  auto pragma = [&](const char* sql) {
    auto statement = db.prepare(sql);
    return statement.step() ? statement.integer(0) : 0;
  };
  d.page_size = static_cast<std::uint64_t>(pragma("PRAGMA page_size"));
  d.page_count = static_cast<std::uint64_t>(pragma("PRAGMA page_count"));
  d.free_pages = static_cast<std::uint64_t>(pragma("PRAGMA freelist_count"));
  d.database_bytes = d.page_size * d.page_count;
  // cache_size: negative in KiB, positive in pages.
  const std::int64_t cache = pragma("PRAGMA cache_size");
  d.cache_bytes = static_cast<std::uint64_t>(cache < 0 ? -cache * 1024 : cache * static_cast<std::int64_t>(d.page_size));
  {
    auto mode = db.prepare("PRAGMA journal_mode");
    if (mode.step()) d.journal_mode = mode.text(0);
  }
  store_sql::count_table_rows<Dialect>(db, d);
  sqlite3_file* wal = nullptr;
  if (d.journal_mode == "wal" &&
      sqlite3_file_control(db.handle(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK && wal &&
      wal->pMethods) {
    sqlite3_int64 size = 0;
    if (wal->pMethods->xFileSize(wal, &size) == SQLITE_OK) d.wal_bytes = static_cast<std::uint64_t>(size);
  }
}

int StoreImpl::schema_version() {
  Session db = session("schema_version");
  return sqlite::schema_version(*db);
}

// ---------------------------------------------------------------- orchestrator queue

std::optional<OrchestrationItem> StoreImpl::fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                                     const CapabilityFilter& filter) {
  Session db = session("fetch_orchestration_item");
  store_sql::check_lock_timeout(lock_timeout_ms, "lock timeout", db->operation());
  store_sql::check_capability_filter(filter, db->operation());
  Transaction transaction(*db);
  std::optional<QueueCursor> from_start;
  std::optional<OrchestrationItem> item =
      fetch_orchestration_in_transaction(*db, lock_timeout_ms, clock_.now_ms(), filter, from_start);
  transaction.commit();
  return item;
}

std::vector<OrchestrationItem> StoreImpl::fetch_orchestration_items(std::int64_t lock_timeout_ms,
                                                                    std::size_t max_items,
                                                                    const CapabilityFilter& filter) {
  check_batch_size(max_items, "fetch_orchestration_items");
  Session db = session("fetch_orchestration_item");
  store_sql::check_lock_timeout(lock_timeout_ms, "lock timeout", db->operation());
  store_sql::check_capability_filter(filter, db->operation());
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db);
  std::vector<OrchestrationItem> items;
  std::optional<QueueCursor> cursor;
  while (items.size() < max_items) {
    // An instance locked by this batch is no candidate for the next fetch of it; the
    // cursor keeps each fetch from scanning the messages of those before it again.
    std::optional<OrchestrationItem> item = fetch_orchestration_in_transaction(*db, lock_timeout_ms, now, filter, cursor);
    if (!item) break;
    items.push_back(std::move(*item));
  }
  transaction.commit();
  return items;
}

namespace {

// The first visible message, by (visible_at, id), of an instance nobody holds
// locked and whose start is not queued for later (Queues::kNoStartLater) (and, when `ranges` is set, whose current execution a capability filter of
// that many ranges takes: Queues::capability_condition); after a cursor (?2, ?3), the
// first such message past it. One text per kind and number of ranges, built once.
const std::string& next_candidate_sql(bool after, std::optional<std::size_t> ranges) {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> out;
    for (bool seek : {false, true}) {
      const int first = seek ? 4 : 2;
      for (std::size_t n = 0; n <= limits::kMaxSupportedVersionRanges + 1; ++n) {
        // n = 0: no filter; n = k + 1: a filter of k ranges.
        const std::string unlocked =
            "NOT EXISTS (SELECT 1 FROM instance_locks l WHERE l.instance_id = q.instance_id AND " DUROXIDE_LOCK_EXPIRY(
            "l.locked_until") " > ?1) "
            "AND " + std::string(store_sql::Queues<Dialect>::kNoStartLater) +
            (n == 0 ? std::string() : " AND " + store_sql::Queues<Dialect>::capability_condition("q.instance_id", n - 1, first));
        if (!seek) {
          out.push_back("SELECT q.instance_id, q.visible_at, q.id FROM orchestrator_queue q WHERE q.visible_at <= ?1 AND " +
                        unlocked + " ORDER BY q.visible_at, q.id LIMIT 1");
        } else {
          out.push_back("SELECT * FROM (SELECT q.instance_id, q.visible_at, q.id FROM orchestrator_queue q "
                        "  WHERE q.visible_at = ?2 AND q.id > ?3 AND " + unlocked + " ORDER BY q.id LIMIT 1) "
                        "UNION ALL "
                        "SELECT * FROM (SELECT q.instance_id, q.visible_at, q.id FROM orchestrator_queue q "
                        "  WHERE q.visible_at > ?2 AND q.visible_at <= ?1 AND " + unlocked +
                        "  ORDER BY q.visible_at, q.id LIMIT 1) "
                        "LIMIT 1");
        }
      }
    }
    return out;
  }();
  const std::size_t per_kind = limits::kMaxSupportedVersionRanges + 2;
  return texts[(after ? per_kind : 0) + (ranges ? *ranges + 1 : 0)];
}

}  // namespace

std::optional<OrchestrationItem> StoreImpl::fetch_orchestration_in_transaction(Connection& db,
                                                                               std::int64_t lock_timeout_ms,
                                                                               TimestampMs now,
                                                                               const CapabilityFilter& filter,
                                                                               std::optional<QueueCursor>& after) {
  std::optional<std::size_t> ranges;
  if (filter.filters) ranges = filter.supported_versions.size();
  // Orphans (no instance, no start) are parked; a bounded number per call keeps
  // one fetch short even when many arrive at once.
  for (int candidate = 0; candidate < 64; ++candidate) {
    std::string instance;
    {
      Statement next = db.prepare(next_candidate_sql(after.has_value(), ranges));
      next.bind(1, now);
      if (after) next.bind(2, after->visible_at).bind(3, after->id);
      if (ranges) Queues::bind_capability_filter(next, after ? 4 : 2, filter);
      if (!next.step()) break;
      instance = next.text(0);
      after = QueueCursor{next.integer(1), next.integer(2)};
    }

    OrchestrationItem item;
    item.instance = instance;
    std::string corruption;
    std::vector<std::int64_t> message_ids;
    Queues::read_messages(db, now, item, message_ids, corruption);

    const bool exists = Queues::read_instance(db, item);
    if (Queues::orphaned(item, exists, corruption)) {
      // Nobody will ever process these: park them where operators can see them.
      db.prepare(
            "INSERT INTO parked_messages (instance_id, item_json, reason, parked_at) "
            "SELECT instance_id, item_json, 'instance does not exist', ?2 "
            "FROM orchestrator_queue WHERE instance_id = ?1 AND visible_at <= ?2")
          .bind(1, instance)
          .bind(2, now)
          .run();
      db.prepare("DELETE FROM orchestrator_queue WHERE instance_id = ?1 AND visible_at <= ?2")
          .bind(1, instance)
          .bind(2, now)
          .run();
      continue;
    }

    item.lock_token = ids_.next_id();
    db.prepare(
          "INSERT OR REPLACE INTO instance_locks (instance_id, lock_token, locked_until, locked_at) "
          "VALUES (?1, ?2, ?3, ?4)")
        .bind(1, instance)
        .bind(2, item.lock_token)
        .bind(3, now + lock_timeout_ms)
        .bind(4, now)
        .run();
    for (std::int64_t id : message_ids) {
      db.prepare("UPDATE orchestrator_queue SET lock_token = ?1, attempt_count = attempt_count + 1 WHERE id = ?2")
          .bind(1, item.lock_token)
          .bind(2, id)
          .run();
    }
    Queues::read_item_history(db, item, exists, corruption);
    return item;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- worker queue

std::optional<WorkerItem> StoreImpl::fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                                     const SessionFetch* session_fetch) {
  Session db = session("fetch_work_item");
  store_sql::check_lock_timeout(lock_timeout_ms, "lock timeout", db->operation());
  store_sql::check_tag_filter(filter, db->operation());
  store_sql::check_session_fetch(session_fetch, db->operation());
  if (filter.mode == TagFilter::Mode::None) return std::nullopt;
  Transaction transaction(*db);
  std::optional<std::string> parked;
  WorkerScan from_start;
  std::optional<WorkerItem> item =
      fetch_work_in_transaction(*db, lock_timeout_ms, clock_.now_ms(), filter, session_fetch, true, parked, from_start);
  transaction.commit();  // a parked row stays parked
  if (parked) throw ProviderError(ProviderErrorKind::Corrupted, db->operation(), *parked);
  return item;
}

std::vector<WorkerItem> StoreImpl::fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                    const TagFilter& filter, const SessionFetch* session_fetch) {
  check_batch_size(max_items, "fetch_work_items");
  Session db = session("fetch_work_item");
  store_sql::check_lock_timeout(lock_timeout_ms, "lock timeout", db->operation());
  store_sql::check_tag_filter(filter, db->operation());
  store_sql::check_session_fetch(session_fetch, db->operation());
  if (filter.mode == TagFilter::Mode::None) return {};
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db);
  std::vector<WorkerItem> items;
  std::optional<std::string> parked;
  WorkerScan scan;
  while (items.size() < max_items) {
    // A corrupted row is parked and reported only when it comes first; later
    // in a batch it ends the batch and comes first in the next fetch.
    std::optional<WorkerItem> item =
        fetch_work_in_transaction(*db, lock_timeout_ms, now, filter, session_fetch, items.empty(), parked, scan);
    if (!item) break;
    items.push_back(std::move(*item));
  }
  transaction.commit();
  if (parked) throw ProviderError(ProviderErrorKind::Corrupted, db->operation(), *parked);
  return items;
}

std::optional<WorkerItem> StoreImpl::fetch_work_in_transaction(Connection& db, std::int64_t lock_timeout_ms,
                                                               TimestampMs now, const TagFilter& filter,
                                                               const SessionFetch* session_fetch,
                                                               bool park_corrupted,
                                                               std::optional<std::string>& parked,
                                                               WorkerScan& scan) {
  for (;;) {
    std::optional<Queues::WorkerRow> row = Queues::next_worker_row(db, now, filter, session_fetch, scan);
    if (!row) return std::nullopt;
    std::string problem;
    std::optional<work::ActivityExecute> execute = Queues::decode_worker_row(*row, problem);
    if (!execute) {
      if (park_corrupted) parked = Queues::park_worker_row(db, *row, problem, now);
      return std::nullopt;
    }
    if (row->session_id) {
      DUROXIDE_ASSERT(session_fetch != nullptr, "a fetch without a session takes no session's row");
      // With one writer the row's condition and the claim see the same sessions, so only
      // a sessions row the file holds damaged (a lock that is not a time) refuses it:
      // that session's items are passed by, never the rest of the queue.
      if (!Queues::take_session(db, *row->session_id, *session_fetch, now, now + session_fetch->lock_timeout_ms)) {
        continue;
      }
    }
    return Queues::claim_worker_row(db, *row, std::move(*execute), ids_.next_id(), now + lock_timeout_ms);
  }
}

}  // namespace duroxide::sqlite
