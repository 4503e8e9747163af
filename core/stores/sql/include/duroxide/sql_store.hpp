// SqlStore: what SqliteProvider and PostgresProvider share — the whole Store
// interface, written once in core/stores/sql/ over each store's Dialect
// (core/stores/sql/sql_store_impl.hpp) — plus the calls both stores offer beyond it.
//
// Contract: every Provider and ManagementProvider call behaves as
// provider.hpp and management_provider.hpp say, identically on both stores
// (tests/provider_suite.hpp runs one suite on each); a call is forwarded to the
// store's implementation, which takes its session (SQLite: the one connection under a
// mutex; PostgreSQL: a pooled connection) for the call's duration.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "duroxide/store.hpp"

namespace duroxide {

class SqlStore : public Store {
 public:
  class Impl;  // core/stores/sql/sql_store_impl.hpp

  ~SqlStore() override;
  SqlStore(const SqlStore&) = delete;
  SqlStore& operator=(const SqlStore&) = delete;

  // The schema version the database holds. Throws ProviderError.
  int schema_version();
  // The query-plan lines of the listing or count query that a filter produces:
  // diagnostics, and what tests use to prove every listing is indexed.
  enum class ListingQuery { List, Count, CountByStatus };
  std::vector<std::string> explain_listing(const InstanceFilter& filter, const PageRequest& page,
                                           ListingQuery query);
  // The query-plan lines of the statement a worker fetch with `filter` runs to find its
  // next row: diagnostics, and what tests use to prove the default fetch walks only the
  // untagged rows. InvalidInput for a filter fetches refuse and for TagFilter::none()
  // (whose fetches run no statement).
  std::vector<std::string> explain_worker_fetch(const TagFilter& filter);

  // ---- Provider
  using Provider::fetch_orchestration_item;
  using Provider::fetch_orchestration_items;
  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                            const CapabilityFilter& filter) final;
  std::vector<OrchestrationItem> fetch_orchestration_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                           const CapabilityFilter& filter) final;
  void ack_orchestration_item(const std::string& lock_token, const OrchestrationAck& ack) final;
  // Batches in one transaction each: one commit for the whole batch; every ack
  // in a savepoint of its own, so one that fails (lost lock, bad input) leaves
  // the others.
  std::vector<AckOutcome> ack_orchestration_items(const std::vector<OrchestrationAckRequest>& requests) final;
  void abandon_orchestration_item(const std::string& lock_token, std::int64_t delay_ms, bool ignore_attempt) final;
  void renew_orchestration_item_lock(const std::string& lock_token, std::int64_t extend_ms) final;
  History read(const std::string& instance) final;
  void enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) final;
  void enqueue_orchestrator_items(const std::vector<WorkItem>& items) final;
  bool enqueues_all_or_none() const final;  // true: one transaction
  void enqueue_start(const work::StartOrchestration& start) final;
  std::optional<std::string> get_kv_value(const std::string& instance, const std::string& key) final;
  std::optional<std::string> get_kv_value_seen_by(const std::string& reader, const std::string& instance,
                                                  const std::string& key) final;
  KvMap get_kv_all_values(const std::string& instance) final;
  bool instance_known(const std::string& instance) final;
  using Provider::fetch_work_item;
  using Provider::fetch_work_items;
  std::optional<WorkerItem> fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                            const SessionFetch* session) final;
  std::vector<WorkerItem> fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                           const TagFilter& filter, const SessionFetch* session) final;
  std::size_t renew_session_locks(const std::string& owner_id, const std::vector<std::string>& session_ids,
                                  std::int64_t extend_ms) final;
  std::size_t cleanup_orphaned_sessions() final;
  void ack_work_item(const std::string& lock_token, const std::optional<WorkItem>& completion) final;
  std::vector<AckOutcome> ack_work_items(const std::vector<WorkAckRequest>& requests) final;
  void renew_work_item_lock(const std::string& lock_token, std::int64_t extend_ms) final;
  void abandon_work_item(const std::string& lock_token, std::int64_t delay_ms, bool ignore_attempt) final;
  void add_queue_listener(QueueListener* listener) final;
  void remove_queue_listener(QueueListener* listener) final;
  void maintain() final;
  // Each store's own (its Dialect's kPreferredBatchSize says why).
  std::size_t preferred_batch_size() const final;

  // ---- ManagementProvider
  InstancePage list_instances(const InstanceFilter& filter, const PageRequest& page) final;
  std::uint64_t count_instances(const InstanceFilter& filter) final;
  std::map<RuntimeState, std::uint64_t> count_by_status(const InstanceFilter& filter) final;
  std::optional<InstanceInfo> get_instance_info(const std::string& instance) final;
  std::vector<ExecutionInfo> list_executions(const std::string& instance) final;
  std::vector<ExecutionInfo> list_execution_page(const std::string& instance, ExecutionId after,
                                                 std::size_t limit) final;
  std::optional<ExecutionInfo> get_execution_info(const std::string& instance, ExecutionId execution) final;
  History read_execution(const std::string& instance, ExecutionId execution) final;
  History read_events(const std::string& instance, ExecutionId execution, const EventQuery& query) final;
  SystemMetrics get_system_metrics() final;
  std::vector<OrchestrationStats> get_orchestration_stats(const std::string& name, const std::string& tenant) final;
  DurationStats get_execution_durations(const std::string& name, TimestampMs since_ms,
                                        const std::string& tenant) final;
  std::vector<ActivityStats> get_activity_stats(const std::string& name, const std::string& tenant) final;
  ChangePage changes_since(std::uint64_t cursor, std::size_t limit, const std::string& tenant) final;
  std::optional<std::string> get_instance_tenant(const std::string& instance) final;
  QueueDepths get_queue_depths() final;
  std::vector<TimeSeriesPoint> get_time_series(const TimeSeriesQuery& query) final;
  ProviderDiagnostics get_provider_diagnostics() final;
  std::vector<SessionInfo> list_sessions(const std::string& after, std::size_t limit) final;
  std::vector<ParkedMessage> list_parked_messages(std::int64_t after_id, std::size_t limit) final;
  std::uint64_t delete_parked_messages(const std::vector<std::int64_t>& ids) final;
  DeleteResult delete_instance(const std::string& instance, bool force) final;
  DeleteResult delete_instances(const BulkDeleteRequest& request) final;
  PruneResult prune_executions(const std::string& instance, const PruneOptions& options) final;
  InstanceExport export_instance(const std::string& instance) final;
  void import_instance(const InstanceExport& data) final;
  std::optional<InstanceStats> get_instance_stats(const std::string& instance) final;
  std::optional<PendingSnapshot> get_pending_work(const std::string& instance) final;
  std::optional<CustomStatus> get_custom_status(const std::string& instance,
                                                std::optional<std::uint64_t> since_version) final;

 protected:
  explicit SqlStore(std::unique_ptr<Impl> impl);
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace duroxide
