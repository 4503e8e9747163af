// PostgresProvider: Provider and ManagementProvider over a small pool of
// PostgreSQL connections, for several runtime processes (on several machines) sharing one
// database. Native builds only (CMake option DUROXIDE_POSTGRES, libpq).
//
// Contract (beyond provider.hpp and management_provider.hpp):
// - the same tables, indexes and semantics as SqliteProvider; the schema lives
//   in its own PostgreSQL schema (`PostgresOptions::schema`) with its version in
//   a one-row table; opening applies forward migrations in one transaction
//   (serialised across processes by an advisory lock) and refuses a newer schema;
// - no message is handed to two processes: a worker item is claimed with
//   `FOR UPDATE SKIP LOCKED`, an instance by an upsert of its lock row that only
//   succeeds when the lock is free or expired (a racing process waits for the
//   winner's commit, then sees the lock and moves on); acks lock the lock row
//   first, so an expired lock cannot be taken over in the middle of an ack;
// - every ack is one transaction; a failed ack writes nothing;
// - lock expiry and visibility use the injected Clock of each process (all
//   processes must agree on time, e.g. SystemClock on NTP-synced machines);
// - a lost connection surfaces as a Transient (retryable) ProviderError and the
//   next call on that connection reconnects;
// - thread-safe: each call holds one pooled connection (at most
//   `PostgresOptions::connections`, opened on demand) for its duration, so the
//   dispatcher threads of one process work in parallel, as separate processes do.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "duroxide/environment.hpp"
#include "duroxide/management_provider.hpp"
#include "duroxide/provider.hpp"
#include "duroxide/store.hpp"

namespace duroxide {

namespace pg {
class Connection;
struct ErrorLog;
}

struct PostgresOptions {
  // A PostgreSQL schema name ([a-z_][a-z0-9_]*, at most 63 bytes): several
  // independent stores can share one database.
  std::string schema = "duroxide";
  std::int64_t minute_retention_ms = 24LL * 3600 * 1000;  // as SqliteOptions
  // Sessions this provider may open (1..64); a call waits for a free one.
  std::size_t connections = 4;
};

class PostgresProvider final : public Store {
 public:
  static constexpr int kSchemaVersion = 7;  // the same tables as SqliteProvider 7

  // Throws ProviderError (Transient when the server is unreachable).
  PostgresProvider(const std::string& conninfo, Clock& clock, IdSource& ids,
                   PostgresOptions options = {});
  ~PostgresProvider() override;
  PostgresProvider(const PostgresProvider&) = delete;
  PostgresProvider& operator=(const PostgresProvider&) = delete;

  int schema_version();
  // Single-row autocommit inserts over one connection for `duration_ms` (a scratch table
  // created and dropped): commits per second, one per round trip — the ceiling for
  // anything that commits once per step on this server. Throws ProviderError.
  static double measure_commit_rate(const std::string& conninfo, Clock& clock, std::int64_t duration_ms);
  // Drops the schema and everything in it (tests and `duroxide` reset tools).
  void drop_schema();

  // The EXPLAIN lines of the listing or count query that a filter produces:
  // diagnostics, and what tests use to prove every listing is indexed.
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
  // Batched acks in one transaction each: one commit for the whole batch; every
  // ack in a savepoint of its own, so one that fails (lost lock, bad input)
  // leaves the others. Batched fetches are the defaults (one claim at a time).
  std::vector<AckOutcome> ack_orchestration_items(
      const std::vector<OrchestrationAckRequest>& requests) override;
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
  // One pooled connection for the duration of a call (postgres_provider_internal.hpp).
  class Lease;
  Lease lease(const char* operation);
  void give_back(std::unique_ptr<pg::Connection> connection);
  std::string next_token();

  std::string conninfo_;
  std::string schema_;
  std::int64_t minute_retention_ms_;
  std::size_t max_connections_;
  std::atomic<TimestampMs> last_rollup_minute_{0};
  Clock& clock_;
  IdSource& ids_;
  std::mutex ids_mutex_;  // IdSource makes no thread-safety promise
  std::shared_ptr<pg::ErrorLog> errors_;  // the last error of any pooled connection

  std::mutex pool_mutex_;
  std::condition_variable pool_available_;
  std::vector<std::unique_ptr<pg::Connection>> idle_;
  std::size_t open_connections_ = 0;
};

}  // namespace duroxide
