// SqliteProvider's implementation: the shared SQL store (core/stores/sql/
// sql_store_impl.hpp) over one SQLite connection, plus what only SQLite does —
// opening in WAL mode, checkpoints, the diagnostics it can read, and fetches
// that claim under the one writer. Not a public header.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "duroxide/sqlite_provider.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_dialect.hpp"
#include "sql_store_impl.hpp"

struct sqlite3;

namespace duroxide::sqlite {

class StoreImpl final : public store_sql::SqlStoreImpl<Dialect> {
 public:
  StoreImpl(const std::string& path, Clock& clock, IdSource& ids, const SqliteOptions& options);

  int schema_version() override;
  void checkpoint();

  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                            const CapabilityFilter& filter) override;
  std::vector<OrchestrationItem> fetch_orchestration_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                           const CapabilityFilter& filter) override;
  std::optional<WorkerItem> fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                            const SessionFetch* session_fetch) override;
  std::vector<WorkerItem> fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                           const TagFilter& filter, const SessionFetch* session_fetch) override;
  ProviderDiagnostics get_provider_diagnostics() override;
  // Checkpoints the log once it passes kCheckpointFrames, through a connection of its
  // own when the file allows one (a passive checkpoint never waits for the writer, and
  // this one never for a management read).
  void maintain_files() override;

 protected:
  Session session(const char* operation) override { return Session(mutex_, *db_, operation); }
  Session read_session(const char* operation) override {
    return read_db_ ? Session(read_mutex_, *read_db_, operation) : session(operation);
  }

 private:
  // Where a batch's scan of a queue has come to (queue_core.hpp): for the orchestrator
  // queue, every message ordered before it belongs to an instance that is locked now
  // (by this batch or before it) or was parked, so the next candidate is searched after it.
  using QueueCursor = Queues::QueueCursor;
  using WorkerScan = Queues::WorkerScan;
  // The bodies of the fetches, run with the mutex held inside an open
  // transaction that the caller commits (once per call, or once per batch).
  // `after`: the batch's cursor, moved past each message chosen (empty: from the start).
  std::optional<OrchestrationItem> fetch_orchestration_in_transaction(Connection& db, std::int64_t lock_timeout_ms,
                                                                      TimestampMs now,
                                                                      const CapabilityFilter& filter,
                                                                      std::optional<QueueCursor>& after);
  // The next row whose tag `filter` and session `session_fetch` take (claiming its
  // session). With `park_corrupted`, an undecodable row is
  // parked and described in `parked`; without, it ends the fetch untouched. `scan`: the
  // batch's place in the worker queue (queue_core.hpp).
  std::optional<WorkerItem> fetch_work_in_transaction(Connection& db, std::int64_t lock_timeout_ms, TimestampMs now,
                                                      const TagFilter& filter, const SessionFetch* session_fetch,
                                                      bool park_corrupted, std::optional<std::string>& parked,
                                                      WorkerScan& scan);
  void read_file_facts(Connection& db, ProviderDiagnostics& d);
  // The read connection (SqliteOptions::read_connection), when the file allows one.
  void open_read_connection(const std::string& path, const SqliteOptions& options);

  static int on_wal_commit(void* self, ::sqlite3* db, const char* schema, int frames);
  // A passive checkpoint through `db`, counted in the diagnostics when it ran.
  void checkpoint_passive(Connection& db);

  // SQLite's default: a checkpoint once the log passes this many frames; with
  // maintain() doing them, the committing call still does one past the backstop.
  static constexpr int kCheckpointFrames = 1000;
  static constexpr int kCheckpointBackstopFrames = 8 * kCheckpointFrames;
  std::atomic<bool> maintained_{false};
  std::atomic<int> wal_frames_{0};

  std::mutex mutex_;
  std::unique_ptr<Connection> db_;
  std::mutex read_mutex_;
  std::unique_ptr<Connection> read_db_;  // null: reads share db_
  std::mutex checkpoint_mutex_;
  std::unique_ptr<Connection> checkpoint_db_;  // with read_db_; null: checkpoints go through db_
  std::string path_;
  std::atomic<TimestampMs> last_checkpoint_ms_{0};
  std::atomic<std::uint64_t> checkpoints_{0};
  IdSource& ids_;
};

}  // namespace duroxide::sqlite
