// SqliteProvider: Provider and ManagementProvider over one SQLite connection.
//
// Contract (beyond provider.hpp and management_provider.hpp):
// - a file database runs in WAL mode; ":memory:" is a private in-memory database;
// - the schema version lives in the database (`PRAGMA user_version`); opening
//   applies every forward migration in one transaction and refuses a database
//   from a newer version (Permanent error) instead of touching it;
// - calls are serialised by one mutex, so one provider may be shared by threads;
//   several providers (processes) may share one file, SQLite's locks and the
//   busy timeout arbitrate between them;
// - time for locks and visibility comes only from the injected Clock, lock
//   tokens only from the injected IdSource; both must outlive the provider;
// - behaves identically natively and in WebAssembly.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "duroxide/environment.hpp"
#include "duroxide/management_provider.hpp"
#include "duroxide/provider.hpp"
#include "duroxide/store.hpp"

struct sqlite3;  // the SQLite connection type, for the commit hook's signature

namespace duroxide {

namespace sqlite {
class Connection;
}

struct SqliteOptions {
  enum class Synchronous { Off, Normal, Full };
  Synchronous synchronous = Synchronous::Normal;
  int busy_timeout_ms = 5000;  // 0: fail at once with a Transient error when locked
  // The name of a registered SQLite VFS to open the file through; empty: the
  // default. The seam the simulator uses for an in-memory, fault-injecting disk.
  std::string vfs;
  // Minute buckets of the time series older than this roll up into hour buckets
  // (done by the first ack of each new minute, in its transaction).
  std::int64_t minute_retention_ms = 24LL * 3600 * 1000;
};

class SqliteProvider final : public Store {
 public:
  static constexpr int kSchemaVersion = 7;

  // path ":memory:" for an in-memory database. Throws ProviderError.
  SqliteProvider(const std::string& path, Clock& clock, IdSource& ids, SqliteOptions options = {});
  ~SqliteProvider() override;
  SqliteProvider(const SqliteProvider&) = delete;
  SqliteProvider& operator=(const SqliteProvider&) = delete;

  int schema_version();
  // Single-row write transactions in a loop for `duration_ms` (WAL, `options.synchronous`,
  // a scratch table created and dropped in the database at `path`): commits per second,
  // the ceiling for anything that commits once per step. Throws ProviderError.
  static double measure_commit_rate(const std::string& path, const SqliteOptions& options, Clock& clock,
                                    std::int64_t duration_ms);
  // Copies the write-ahead log into the main file (and truncates the log), so
  // the main file alone holds the whole database: before copying it elsewhere.
  void checkpoint();

  // The EXPLAIN QUERY PLAN lines of the listing or count query that a filter
  // produces: diagnostics, and what tests use to prove every listing is indexed.
  enum class ListingQuery { List, Count, CountByStatus };
  std::vector<std::string> explain_listing(const InstanceFilter& filter, const PageRequest& page,
                                           ListingQuery query);

  // ---- Provider
  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms) override;
  void ack_orchestration_item(const std::string& lock_token, const OrchestrationAck& ack) override;
  void abandon_orchestration_item(const std::string& lock_token, std::int64_t delay_ms,
                                  bool ignore_attempt) override;
  void renew_orchestration_item_lock(const std::string& lock_token,
                                     std::int64_t extend_ms) override;
  History read(const std::string& instance) override;
  void enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) override;
  void enqueue_start(const work::StartOrchestration& start) override;
  std::optional<std::string> get_kv_value(const std::string& instance,
                                          const std::string& key) override;
  KvMap get_kv_all_values(const std::string& instance) override;
  bool instance_known(const std::string& instance) override;
  std::optional<WorkerItem> fetch_work_item(std::int64_t lock_timeout_ms) override;
  void ack_work_item(const std::string& lock_token,
                     const std::optional<WorkItem>& completion) override;
  void renew_work_item_lock(const std::string& lock_token, std::int64_t extend_ms) override;
  void abandon_work_item(const std::string& lock_token, std::int64_t delay_ms,
                         bool ignore_attempt) override;
  // Batches in one transaction each: one commit for the whole batch; every ack
  // in a savepoint of its own, so one that fails (lost lock, bad input) leaves
  // the others.
  std::vector<OrchestrationItem> fetch_orchestration_items(std::int64_t lock_timeout_ms,
                                                           std::size_t max_items) override;
  std::vector<AckOutcome> ack_orchestration_items(
      const std::vector<OrchestrationAckRequest>& requests) override;
  std::vector<WorkerItem> fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items) override;
  std::vector<AckOutcome> ack_work_items(const std::vector<WorkAckRequest>& requests) override;

  // ---- ManagementProvider
  InstancePage list_instances(const InstanceFilter& filter, const PageRequest& page) override;
  std::uint64_t count_instances(const InstanceFilter& filter) override;
  std::map<RuntimeState, std::uint64_t> count_by_status(const InstanceFilter& filter) override;
  std::optional<InstanceInfo> get_instance_info(const std::string& instance) override;
  std::vector<ExecutionInfo> list_executions(const std::string& instance) override;
  std::optional<ExecutionInfo> get_execution_info(const std::string& instance,
                                                  ExecutionId execution) override;
  History read_execution(const std::string& instance, ExecutionId execution) override;
  SystemMetrics get_system_metrics() override;
  std::vector<OrchestrationStats> get_orchestration_stats(const std::string& name) override;
  DurationStats get_execution_durations(const std::string& name, TimestampMs since_ms) override;
  std::vector<ActivityStats> get_activity_stats(const std::string& name) override;
  ChangePage changes_since(std::uint64_t cursor, std::size_t limit) override;
  QueueDepths get_queue_depths() override;
  std::vector<TimeSeriesPoint> get_time_series(const TimeSeriesQuery& query) override;
  ProviderDiagnostics get_provider_diagnostics() override;
  DeleteResult delete_instance(const std::string& instance, bool force) override;
  DeleteResult delete_instances(const BulkDeleteRequest& request) override;
  std::uint64_t prune_executions(const std::string& instance, std::size_t keep_last) override;
  InstanceExport export_instance(const std::string& instance) override;
  void import_instance(const InstanceExport& data) override;
  std::optional<InstanceStats> get_instance_stats(const std::string& instance) override;
  std::optional<CustomStatus> get_custom_status(
      const std::string& instance, std::optional<std::uint64_t> since_version) override;

 private:
  // The bodies of the fetches, run with the mutex held inside an open
  // transaction that the caller commits (once per call, or once per batch).
  std::optional<OrchestrationItem> fetch_orchestration_in_transaction(std::int64_t lock_timeout_ms,
                                                                      TimestampMs now);
  // With `park_corrupted`, an undecodable row is parked and described in
  // `parked`; without, it ends the fetch untouched.
  std::optional<WorkerItem> fetch_work_in_transaction(std::int64_t lock_timeout_ms, TimestampMs now,
                                                      bool park_corrupted, std::optional<std::string>& parked);

  static int on_wal_commit(void* self, ::sqlite3* db, const char* schema, int frames);

  std::mutex mutex_;
  std::unique_ptr<sqlite::Connection> db_;
  std::string path_;
  TimestampMs last_checkpoint_ms_ = 0;
  std::uint64_t checkpoints_ = 0;
  std::int64_t minute_retention_ms_;
  TimestampMs last_rollup_minute_ = 0;
  Clock& clock_;
  IdSource& ids_;
};

}  // namespace duroxide
