// The Store written once for both SQL stores: SqlStoreImpl<Dialect> runs each
// Provider and ManagementProvider call on a session of the store (its one
// connection under a mutex for SQLite, a pooled connection for PostgreSQL)
// through the shared bodies of queue_core.hpp and management_core.hpp.
//
// A store supplies, by deriving from SqlStoreImpl<its Dialect>:
// - session(operation): the connection for one call, held until the Session ends;
// - the fetches, because how an item is claimed is what truly differs (SQLite's
//   one writer; PostgreSQL's lock-row upserts and FOR UPDATE SKIP LOCKED);
// - get_provider_diagnostics() and schema_version(), which read store-specific facts.
// The Dialect adds to what queue_core.hpp lists:
// - Session: movable, used like a pointer to the Connection;
// - serialize_start(db, instance): what keeps two concurrent starts of one id
//   apart inside the start's transaction (nothing under SQLite's one writer).
// Not a public header.
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "duroxide/environment.hpp"
#include "duroxide/sql_store.hpp"
#include "management_core.hpp"
#include "queue_core.hpp"
#include "store_sql.hpp"

namespace duroxide {

// What SqlStore forwards to: the Store, plus the calls both stores add to it.
class SqlStore::Impl : public Store {
 public:
  virtual int schema_version() = 0;
  virtual std::vector<std::string> explain_listing(const InstanceFilter& filter, const PageRequest& page,
                                                   ListingQuery query) = 0;
  virtual std::vector<std::string> explain_worker_fetch(const TagFilter& filter) = 0;
};

namespace store_sql {

template <typename Dialect>
class SqlStoreImpl : public SqlStore::Impl {
 public:
  using Connection = typename Dialect::Connection;
  using Session = typename Dialect::Session;
  using Transaction = typename Dialect::Transaction;
  using Queues = store_sql::Queues<Dialect>;
  using Management = management_sql::Management<Dialect>;

  std::vector<std::string> explain_listing(const InstanceFilter& filter, const PageRequest& page,
                                           SqlStore::ListingQuery query) override {
    Session db = read_session("explain_listing");
    return Management::explain_listing(*db, filter, page, static_cast<management_sql::ListingQuery>(query));
  }

  std::vector<std::string> explain_worker_fetch(const TagFilter& filter) override {
    std::string problem = filter.problem();
    if (problem.empty() && filter.mode == TagFilter::Mode::None) problem = "a filter of no tags fetches without a statement";
    if (!problem.empty()) throw ProviderError(ProviderErrorKind::InvalidInput, "explain_worker_fetch", problem);
    Session db = read_session("explain_worker_fetch");
    return Queues::explain_worker_fetch(*db, filter, clock_.now_ms());
  }

  // ---- Provider: the acks, abandons, renewals, reads and enqueues
  // Each write that enqueues tells the queue listeners after its session has
  // ended (SQLite: after the connection's mutex is released).
  void ack_orchestration_item(const std::string& lock_token, const OrchestrationAck& ack) override {
    {
      Session db = session("ack_orchestration_item");
      RollUp roll_up = next_roll_up();
      Queues::ack_orchestration_committed(*db, lock_token, ack, clock_.now_ms(), roll_up);
      rolled_up(roll_up);
    }
    tell_enqueued(ack);
  }

  std::vector<AckOutcome> ack_orchestration_items(const std::vector<OrchestrationAckRequest>& requests) override {
    check_batch_size(requests.size(), "ack_orchestration_items");
    std::vector<AckOutcome> outcomes;
    {
      Session db = session("ack_orchestration_item");
      RollUp roll_up = next_roll_up();
      outcomes = Queues::ack_orchestrations(*db, requests, clock_.now_ms(), roll_up);
      rolled_up(roll_up);
    }
    for (std::size_t i = 0; i < requests.size(); ++i) {
      if (!outcomes[i]) tell_enqueued(requests[i].ack);
    }
    return outcomes;
  }

  void abandon_orchestration_item(const std::string& lock_token, std::int64_t delay_ms,
                                  bool ignore_attempt) override {
    TimestampMs now = 0;
    {
      Session db = session("abandon_orchestration_item");
      now = clock_.now_ms();
      Queues::abandon_orchestration(*db, lock_token, delay_ms, ignore_attempt, now);
    }
    listeners_.work_enqueued(QueueKind::Orchestrator, now + delay_ms);
  }

  void renew_orchestration_item_lock(const std::string& lock_token, std::int64_t extend_ms) override {
    Session db = session("renew_orchestration_item_lock");
    Queues::renew_lock(*db, /*work_item=*/false, lock_token, extend_ms, clock_.now_ms());
  }

  History read(const std::string& instance) override {
    Session db = session("read");
    return Queues::read_current(*db, instance);
  }

  void enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) override {
    TimestampMs now = 0;
    {
      Session db = session("enqueue_orchestrator_item");
      now = clock_.now_ms();
      Queues::enqueue_orchestrator_item(*db, item, delay_ms, now);
    }
    listeners_.work_enqueued(QueueKind::Orchestrator, now + delay_ms);
  }

  void enqueue_orchestrator_items(const std::vector<WorkItem>& items) override {
    check_batch_size(items.size(), "enqueue_orchestrator_items");
    if (items.empty()) return;
    TimestampMs now = 0;
    {
      Session db = session("enqueue_orchestrator_items");
      Transaction transaction(*db);
      now = clock_.now_ms();
      for (const WorkItem& item : items) Queues::enqueue_orchestrator_item(*db, item, 0, now);
      transaction.commit();
    }
    listeners_.work_enqueued(QueueKind::Orchestrator, now);
  }

  // The check for a live instance and the insert run in one transaction, kept
  // apart from a concurrent start of the same id by Dialect::serialize_start; a
  // refused start (Conflict) commits having written nothing.
  void enqueue_start(const work::StartOrchestration& start) override {
    {
      Session db = session("enqueue_start");
      std::int64_t queued = -1;
      Transaction transaction(*db);
      Dialect::serialize_start(*db, start.instance);
      Queues::enqueue_start(*db, start, clock_.now_ms(), queued);
      transaction.commit();
      Queues::require_start_queued(*db, start.instance, queued);
    }
    listeners_.work_enqueued(QueueKind::Orchestrator, 0);
  }

  std::optional<std::string> get_kv_value(const std::string& instance, const std::string& key) override {
    Session db = read_session("get_kv_value");
    return read_kv_value(*db, instance, key);
  }

  std::optional<std::string> get_kv_value_seen_by(const std::string& reader, const std::string& instance,
                                                  const std::string& key) override {
    Session db = read_session("get_kv_value_seen_by");
    return read_kv_value_seen_by(*db, reader, instance, key);
  }

  KvMap get_kv_all_values(const std::string& instance) override {
    Session db = read_session("get_kv_all_values");
    return read_kv_values(*db, instance);
  }

  bool instance_known(const std::string& instance) override {
    Session db = session("instance_known");
    return known_instance(*db, instance);
  }

  void ack_work_item(const std::string& lock_token, const std::optional<WorkItem>& completion) override {
    {
      Session db = session("ack_work_item");
      Transaction transaction(*db);
      Queues::ack_work(*db, lock_token, completion, clock_.now_ms());
      transaction.commit();
    }
    if (completion) listeners_.work_enqueued(QueueKind::Orchestrator, 0);
  }

  std::vector<AckOutcome> ack_work_items(const std::vector<WorkAckRequest>& requests) override {
    check_batch_size(requests.size(), "ack_work_items");
    std::vector<AckOutcome> outcomes;
    {
      Session db = session("ack_work_item");
      outcomes = Queues::ack_works(*db, requests, clock_.now_ms());
    }
    for (std::size_t i = 0; i < requests.size(); ++i) {
      if (!outcomes[i] && requests[i].completion) {
        listeners_.work_enqueued(QueueKind::Orchestrator, 0);
        break;
      }
    }
    return outcomes;
  }

  void renew_work_item_lock(const std::string& lock_token, std::int64_t extend_ms) override {
    Session db = session("renew_work_item_lock");
    Queues::renew_lock(*db, /*work_item=*/true, lock_token, extend_ms, clock_.now_ms());
  }

  std::size_t renew_session_locks(const std::string& owner_id, const std::vector<std::string>& session_ids,
                                  std::int64_t extend_ms) override {
    Session db = session("renew_session_locks");
    const SessionFetch owner{owner_id, extend_ms};
    store_sql::check_session_fetch(&owner, db->operation());
    if (session_ids.size() > limits::kMaxSessionsPerRuntime) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db->operation(),
                          "at most " + std::to_string(limits::kMaxSessionsPerRuntime) + " sessions at once");
    }
    const TimestampMs now = clock_.now_ms();
    Transaction transaction(*db);
    const std::size_t renewed = Queues::renew_sessions(*db, owner_id, session_ids, now, now + extend_ms);
    transaction.commit();
    return renewed;
  }

  std::size_t cleanup_orphaned_sessions() override {
    Session db = session("cleanup_orphaned_sessions");
    Transaction transaction(*db);
    const std::size_t forgotten = Queues::forget_orphaned_sessions(*db, clock_.now_ms());
    transaction.commit();
    return forgotten;
  }

  void abandon_work_item(const std::string& lock_token, std::int64_t delay_ms, bool ignore_attempt) override {
    TimestampMs now = 0;
    {
      Session db = session("abandon_work_item");
      now = clock_.now_ms();
      Queues::abandon_work(*db, lock_token, delay_ms, ignore_attempt, now);
    }
    listeners_.work_enqueued(QueueKind::Worker, now + delay_ms);
  }

  void add_queue_listener(QueueListener* listener) override { listeners_.add(listener); }
  void remove_queue_listener(QueueListener* listener) override { listeners_.remove(listener); }

  // ---- ManagementProvider: all but the diagnostics
  InstancePage list_instances(const InstanceFilter& filter, const PageRequest& page) override {
    Session db = read_session("list_instances");
    return Management::list_instances(*db, filter, page);
  }

  std::uint64_t count_instances(const InstanceFilter& filter) override {
    Session db = read_session("count_instances");
    return Management::count_instances(*db, filter);
  }

  std::map<RuntimeState, std::uint64_t> count_by_status(const InstanceFilter& filter) override {
    Session db = read_session("count_by_status");
    return Management::count_by_status(*db, filter);
  }

  std::optional<InstanceInfo> get_instance_info(const std::string& instance) override {
    Session db = read_session("get_instance_info");
    return Management::get_instance_info(*db, instance);
  }

  std::vector<ExecutionInfo> list_execution_page(const std::string& instance, ExecutionId after,
                                                 std::size_t limit) override {
    Session db = read_session("list_execution_page");
    return Management::list_execution_page(*db, instance, after, limit);
  }

  std::vector<ExecutionInfo> list_executions(const std::string& instance) override {
    Session db = read_session("list_executions");
    return Management::list_executions(*db, instance);
  }

  std::optional<ExecutionInfo> get_execution_info(const std::string& instance, ExecutionId execution) override {
    Session db = read_session("get_execution_info");
    return Management::get_execution_info(*db, instance, execution);
  }

  History read_events(const std::string& instance, ExecutionId execution, const EventQuery& query) override {
    Session db = read_session("read_events");
    return Management::read_events(*db, instance, execution, query);
  }
  History read_execution(const std::string& instance, ExecutionId execution) override {
    Session db = read_session("read_execution");
    return Management::read_execution(*db, instance, execution);
  }

  SystemMetrics get_system_metrics() override {
    Session db = read_session("get_system_metrics");
    return Management::get_system_metrics(*db);
  }

  std::vector<OrchestrationStats> get_orchestration_stats(const std::string& name, const std::string& tenant) override {
    Session db = read_session("get_orchestration_stats");
    return Management::get_orchestration_stats(*db, name, tenant);
  }

  DurationStats get_execution_durations(const std::string& name, TimestampMs since_ms,
                                        const std::string& tenant) override {
    Session db = read_session("get_execution_durations");
    return Management::get_execution_durations(*db, name, since_ms, tenant);
  }

  std::vector<ActivityStats> get_activity_stats(const std::string& name, const std::string& tenant) override {
    Session db = read_session("get_activity_stats");
    return Management::get_activity_stats(*db, name, tenant);
  }

  ChangePage changes_since(std::uint64_t cursor, std::size_t limit, const std::string& tenant) override {
    Session db = read_session("changes_since");
    return Management::changes_since(*db, cursor, limit, tenant);
  }

  QueueDepths get_queue_depths() override {
    Session db = read_session("get_queue_depths");
    return Management::get_queue_depths(*db, clock_.now_ms());
  }

  std::vector<SessionInfo> list_sessions(const std::string& after, std::size_t limit) override {
    Session db = read_session("list_sessions");
    if (limit < 1 || limit > kMaxSessionPage) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db->operation(),
                          "a page of sessions is 1 to " + std::to_string(kMaxSessionPage));
    }
    return Management::list_sessions(*db, after, limit, clock_.now_ms());
  }

  std::vector<ParkedMessage> list_parked_messages(std::int64_t after_id, std::size_t limit) override {
    Session db = read_session("list_parked_messages");
    if (limit < 1 || limit > kMaxParkedPage) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db->operation(),
                          "a page of parked messages is 1 to " + std::to_string(kMaxParkedPage));
    }
    return Management::list_parked_messages(*db, after_id, limit);
  }

  std::uint64_t delete_parked_messages(const std::vector<std::int64_t>& ids) override {
    Session db = session("delete_parked_messages");
    if (ids.size() > kMaxParkedPage) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db->operation(),
                          "at most " + std::to_string(kMaxParkedPage) + " parked messages are deleted at once, got " +
                              std::to_string(ids.size()));
    }
    Transaction transaction(*db);
    const std::uint64_t deleted = Management::delete_parked_messages(*db, ids);
    transaction.commit();
    return deleted;
  }

  std::vector<TimeSeriesPoint> get_time_series(const TimeSeriesQuery& query) override {
    Session db = read_session("get_time_series");
    return Management::get_time_series(*db, query);
  }

  DeleteResult delete_instance(const std::string& instance, bool force) override {
    Session db = session("delete_instance");
    return Management::delete_instance(*db, instance, force, clock_.now_ms());
  }

  DeleteResult delete_instances(const BulkDeleteRequest& request) override {
    Session db = session("delete_instances");
    return Management::delete_instances(*db, request, clock_.now_ms());
  }

  PruneResult prune_executions(const std::string& instance, const PruneOptions& options) override {
    Session db = session("prune_executions");
    return Management::prune_executions(*db, instance, options);
  }

  InstanceExport export_instance(const std::string& instance) override {
    Session db = read_session("export_instance");
    return Management::export_instance(*db, instance);
  }

  // The work an import queues (what the instance waits on, a next start, a child's report)
  // wakes this process's dispatchers, as any enqueue does.
  void import_instance(const InstanceExport& data) override {
    {
      Session db = session("import_instance");
      Management::import_instance(*db, data, clock_.now_ms());
    }
    listeners_.work_enqueued(QueueKind::Orchestrator, 0);
    listeners_.work_enqueued(QueueKind::Worker, 0);
  }

  std::optional<std::string> get_instance_tenant(const std::string& instance) override {
    Session db = read_session("get_instance_tenant");
    return Management::get_instance_tenant(*db, instance);
  }

  std::optional<InstanceStats> get_instance_stats(const std::string& instance) override {
    Session db = read_session("get_instance_stats");
    return Management::get_instance_stats(*db, instance);
  }

  std::optional<PendingSnapshot> get_pending_work(const std::string& instance) override {
    Session db = read_session("get_pending_work");
    return Management::get_pending_work(*db, instance);
  }

  std::optional<CustomStatus> get_custom_status(const std::string& instance,
                                                std::optional<std::uint64_t> since_version) override {
    Session db = read_session("get_custom_status");
    return Management::get_custom_status(*db, instance, since_version);
  }

  std::size_t preferred_batch_size() const final { return Dialect::kPreferredBatchSize; }

  // Deletes what the retention settings let go, then the store's own housekeeping
  // (maintain_files). Each call deletes at most a batch per table, so it stays short
  // whatever has piled up; it trims once a second, or at every call while the last call
  // came back with a full batch (a backlog drains at the callers' pace: a threaded
  // driver's keeper calls every poll interval).
  // Each step runs whatever another one threw (a failed trim does not stop the session
  // cleanup or the checkpoint); the first error is thrown once all have run.
  void maintain() final {
    std::exception_ptr failure;
    auto run_step = [&failure](auto&& step) {
      try {
        step();
      } catch (...) {
        if (!failure) failure = std::current_exception();
      }
    };
    const TimestampMs now = clock_.now_ms();
    // One caller trims at a time (several drivers may share a store); the others skip.
    std::unique_lock<std::mutex> trimming(trim_mutex_, std::try_to_lock);
    if (trimming && (trim_behind_ || now - last_trim_ms_.load() >= 1000)) {
      last_trim_ms_ = now;
      bool behind = false;
      run_step([&] {
        Session db = session("maintain");
        const std::size_t full = Management::kTrimWindow;
        if (retention_.changes_ms > 0) {
          run_step([&] { behind |= Management::trim_changes(*db, now - retention_.changes_ms) >= full; });
        }
        if (retention_.parked_ms > 0) {
          run_step([&] { behind |= Management::trim_parked(*db, now - retention_.parked_ms) >= full; });
        }
        if (retention_.finished_ms > 0) run_step([&] { behind |= purge_a_batch(*db, now); });
        run_step([&] { Queues::forget_orphaned_sessions(*db, now); });
      });
      trim_behind_ = behind;  // a failed step is not "behind": it is tried again in a second, not at every call
    }
    run_step([&] { maintain_files(); });
    if (failure) std::rethrow_exception(failure);
  }

 protected:
  // How long what grows with time is kept (SqliteOptions / PostgresOptions).
  struct Retention {
    std::int64_t minute_buckets_ms;  // at least a minute
    std::int64_t changes_ms;         // 0: forever
    std::int64_t parked_ms;          // 0: forever
    std::int64_t finished_ms = 0;    // finished root instances; 0: forever
  };
  // A negative retention is InvalidInput: it would read as "keep forever" by accident.
  SqlStoreImpl(Clock& clock, const Retention& retention)
      : clock_(clock),
        minute_retention_ms_(std::max<std::int64_t>(retention.minute_buckets_ms, 60'000)),
        retention_(checked(retention)) {}

  // A store's housekeeping of its files (SQLite checkpoints); called by maintain().
  virtual void maintain_files() {}

  // The connection for one call, named `operation` in its errors, held until
  // the Session ends. Throws ProviderError (e.g. an unreachable server).
  virtual Session session(const char* operation) = 0;
  // The connection for a call that only reads (the management reads, the
  // clients' key-value reads): a store may give these a connection of their
  // own, so that a slow read never holds what fetches and acks wait for.
  virtual Session read_session(const char* operation) { return session(operation); }

  Clock& clock_;

 private:
  RollUp next_roll_up() const { return RollUp{last_rollup_minute_.load(), minute_retention_ms_, 0}; }
  // Calls run in parallel on PostgreSQL: the minute only moves forward.
  void rolled_up(const RollUp& roll_up) {
    TimestampMs seen = last_rollup_minute_.load();
    while (roll_up.last_minute > seen && !last_rollup_minute_.compare_exchange_weak(seen, roll_up.last_minute)) {
    }
  }

  // What a committed orchestration ack enqueued: its activities, and its
  // messages and timers (each at its own time; equal neighbours told once).
  void tell_enqueued(const OrchestrationAck& ack) {
    if (!ack.worker_items.empty()) listeners_.work_enqueued(QueueKind::Worker, 0);
    std::optional<TimestampMs> told;
    for (const OrchestratorItem& item : ack.orchestrator_items) {
      if (told == item.visible_at_ms) continue;
      told = item.visible_at_ms;
      listeners_.work_enqueued(QueueKind::Orchestrator, item.visible_at_ms);
    }
  }

  static Retention checked(const Retention& retention) {
    if (retention.changes_ms < 0 || retention.parked_ms < 0 || retention.finished_ms < 0) {
      throw ProviderError(ProviderErrorKind::InvalidInput, "open",
                          "change_retention_ms, parked_retention_ms and finished_retention_ms must be 0 (keep) or a "
                          "positive age in ms");
    }
    return retention;
  }

  // Instance retention: one batch of the purge of finished roots not updated for the
  // retention, going on from where the last batch stopped (from the oldest again once
  // a walk is over). True when the batch came back full (more may be waiting). Called
  // by maintain() only, under trim_mutex_.
  template <typename Connection>
  bool purge_a_batch(Connection& db, TimestampMs now) {
    BulkDeleteRequest request;
    request.completed_before_ms = saturating_sub(now, retention_.finished_ms);
    // Nothing finished before the epoch; and 0 would mean "whenever they finished".
    if (request.completed_before_ms <= 0) return false;
    request.limit = kFinishedPurgeBatch;
    request.continuation = std::exchange(purge_continuation_, {});  // a failed batch starts over
    purge_continuation_ = Management::delete_instances(db, request, now).continuation;
    return !purge_continuation_.empty();
  }

  static constexpr std::size_t kFinishedPurgeBatch = 100;

  const std::int64_t minute_retention_ms_;
  const Retention retention_;
  std::atomic<TimestampMs> last_trim_ms_{0};
  std::mutex trim_mutex_;
  bool trim_behind_ = false;  // the last trim found more to delete (under trim_mutex_)
  std::string purge_continuation_;  // maintain()'s purge walk: where its next batch goes on (under trim_mutex_)
  std::atomic<TimestampMs> last_rollup_minute_{0};
  QueueListeners listeners_;
};

}  // namespace store_sql
}  // namespace duroxide
