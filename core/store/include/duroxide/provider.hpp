// Provider: the hot path of storage — the two peek-lock queues and histories.
//
// The runtime is the only caller. Every method is synchronous and does at most
// one transaction; it never sleeps or polls (drivers decide when to call again).
// Time for locks and visibility comes from the Clock the provider was built
// with, so tests and the simulator control expiry by moving that clock.
//
// Orchestrator queue (per instance, peek-lock on the instance):
// - fetch locks one instance whose lock is free or expired and which has at
//   least one visible message, and returns all its visible messages as one
//   batch, its latest execution's history and a lock token; every returned
//   message's attempt count goes up by one (a fetch after lock expiry counts too);
// - messages that arrive while the instance is locked stay for the next fetch;
// - ack commits atomically: history delta (new execution if `execution_id` is
//   past the current one), instance and execution metadata, worker items,
//   orchestrator items (any instance, with visibility time), removal of cancelled
//   activities (inserted items first, removals after), deletion of exactly the
//   fetched messages, release of the lock. A failed ack writes nothing and leaves
//   the lock held. An unknown, stale or expired token fails with InvalidLock;
// - the instance row is created by the first ack, never by an enqueue;
// - messages for an instance that does not exist, whose batch holds no start
//   (StartOrchestration / ContinueAsNew), are parked by fetch and never block others;
// - a history or queue row that does not decode is reported in
//   `OrchestrationItem::corruption` so the runtime can fail the instance as poisoned
//   (with `last_event_id`, so that its terminal event goes after every stored one).
//
// Worker queue (per item, FIFO among visible items):
// - fetch locks the oldest visible, unlocked (or expired) item;
// - a row whose item does not decode is moved to the parked messages and, in the
//   same transaction, an ActivityFailed for its instance, execution and activity
//   id columns goes to the orchestrator queue (so the orchestration is not left
//   waiting); the fetch then reports it with a Corrupted error;
// - ack deletes it and, with a completion, enqueues that completion on the
//   orchestrator queue in the same transaction; ack of a removed or expired
//   item fails (InvalidLock, permanent);
// - renew extends a live lock; abandon releases it, optionally delayed and
//   optionally without counting the attempt (never below zero).
//
// Activity sessions (an ActivityExecute with a session id): a session is owned by at
// most one owner (a runtime's RuntimeOptions::worker_node_id) at a time, until its lock
// passes. A fetch with a SessionFetch takes items outside sessions, items of sessions its
// owner holds, and items of sessions nobody holds (no session lock, or an expired one);
// taking one of the last kind claims the session for the owner in the fetch's
// transaction, and taking any session's item locks it for SessionFetch::lock_timeout_ms
// from then. A fetch without one takes items outside sessions only. Two owners never
// both hold a session: a claim that loses a race for it leaves the item queued.
// renew_session_locks extends the locks an owner still holds; cleanup_orphaned_sessions
// forgets expired sessions that no queued item names. A session's items move to another
// owner only once its lock has passed; the items themselves keep their own locks
// (fetch/ack/renew/abandon as above), whatever becomes of the session.
//
// Batches (group commit): the *_items calls fetch or ack several items in one
// call, so that a store can write them in one transaction and pay its commit
// once. Each batched item behaves exactly as the single call would: fetch
// returns up to `max_items` items (distinct instances for orchestrations), each
// locked and counted as a single fetch would; ack applies each ack atomically on
// its own and returns one outcome per request, in order: empty when it
// committed, else the error the single call would have thrown (a failure of the
// whole batch, such as a failed commit, is that error for every request). The
// defaults loop over the single calls; stores override them.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "duroxide/capability_filter.hpp"
#include "duroxide/error_details.hpp"
#include "duroxide/event.hpp"
#include "duroxide/history_state.hpp"
#include "duroxide/status.hpp"
#include "duroxide/tag_filter.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide {

enum class ProviderErrorKind {
  Transient,     // busy, locked, I/O hiccup: retrying the same call may succeed
  InvalidLock,   // unknown, stale or expired lock token; item removed (permanent)
  NotFound,      // the instance or execution does not exist (permanent)
  Conflict,      // the write contradicts stored data, e.g. duplicate event ids (permanent)
  Corrupted,     // stored data does not decode (permanent)
  InvalidInput,  // an argument is out of its limits (permanent)
  ReadOnly,      // a mutating call on a read-only provider (permanent)
  Permanent,     // any other failure that retrying will not fix
};

std::string_view to_string(ProviderErrorKind kind);

class ProviderError : public std::runtime_error {
 public:
  ProviderError(ProviderErrorKind kind, std::string operation, const std::string& message)
      : std::runtime_error(operation + ": " + message),
        kind_(kind),
        operation_(std::move(operation)) {}
  ProviderErrorKind kind() const { return kind_; }
  const std::string& operation() const { return operation_; }
  bool retryable() const { return kind_ == ProviderErrorKind::Transient; }
  ErrorDetails details() const {
    return ErrorDetails::provider(operation_, what(), retryable());
  }

 private:
  ProviderErrorKind kind_;
  std::string operation_;
};

struct OrchestrationItem {
  std::string instance;
  std::string lock_token;
  ExecutionId execution_id = 0;  // the latest execution; 0 before the first ack
  std::string orchestration_name;
  std::string orchestration_version;
  History history;  // the latest execution's history
  std::vector<WorkItem> messages;
  std::uint32_t attempt_count = 0;  // the highest attempt count in the batch
  // Set when a history or message row did not decode; history/messages then
  // hold what did decode and the runtime fails the instance as poisoned.
  std::optional<std::string> corruption;
  // From the instances row (empty, 0 or false before the first ack): what the
  // runtime needs to end an instance whose history does not decode, and the
  // parent a sub-orchestration keeps through continue-as-new.
  std::string parent_instance;
  EventId parent_id = 0;
  std::string tenant;     // the row's tenant (empty: none, or no row yet)
  bool finished = false;  // the row's status is Completed or Failed
  // Set with `corruption`: the highest event id stored in the latest
  // execution, whether or not its row decodes (0 when it has none).
  EventId last_event_id = 0;
};

// Computed by the runtime from the turn (the provider never interprets events).
struct ExecutionMetadata {
  std::string orchestration_name;
  std::string orchestration_version;
  std::string parent_instance;
  EventId parent_id = 0;
  RuntimeState state = RuntimeState::Running;  // Running, Completed or Failed
  bool continued_as_new = false;               // with state Completed
  std::string output;                          // Completed: output (or the next input)
  std::optional<ErrorDetails> error;           // Failed
  std::optional<std::string> custom_status;
  bool custom_status_changed = false;  // bump the custom status version
  // Messages delivered to the execution that no wait has taken (TurnResult::unconsumed_messages).
  std::uint64_t unconsumed_messages = 0;
  // The instance's tenant, written by the ack that creates its row and never changed
  // after (the runtime takes it from the start, or the parent's for a sub-orchestration).
  std::string tenant;
  // The work outstanding once this ack's events are applied, which the store keeps on
  // the instance (ManagementProvider::get_pending_work) so that a view of a running
  // instance reads no history. Set by the runtime for a running execution (empty for
  // one that continued as new); nullopt: not known, and the store forgets what it kept.
  std::optional<PendingSnapshot> pending;
  // The version the execution is pinned to (its OrchestrationStarted::duroxide_version),
  // set by the runtime on the ack that starts an execution; the store keeps it on the
  // execution for CapabilityFilter. nullopt: leave what the execution has.
  std::optional<SemVer> pinned_version;
};

// One activity event of a turn, as the runtime saw it (the provider does not
// interpret events): counted into activity statistics in the ack's transaction.
struct ActivityOutcome {
  enum class Kind { Scheduled, Completed, Failed };
  std::string name;
  Kind kind = Kind::Scheduled;
  std::int64_t duration_ms = 0;  // completion time minus scheduling time
  friend bool operator==(const ActivityOutcome&, const ActivityOutcome&) = default;
};

// One change of the instance's key-value store, in history order, as the runtime
// saw it in the turn's new events: applied to the store's key-value table in the
// ack's transaction, so clients read what the committed history says.
struct KvMutation {
  enum class Kind { Set, Clear, ClearAll };
  Kind kind = Kind::Set;
  std::string key;                // Set, Clear
  std::string value;              // Set
  TimestampMs updated_at_ms = 0;  // Set: the event's timestamp
  friend bool operator==(const KvMutation&, const KvMutation&) = default;
};

// The key-value changes among `delta`'s events (KeyValueSet, KeyValueCleared,
// KeyValuesCleared), in order.
std::vector<KvMutation> kv_mutations(const History& delta);

struct OrchestrationAck {
  ExecutionId execution_id = 1;  // the execution `history_delta` belongs to
  History history_delta;
  std::vector<KvMutation> kv_mutations;
  std::vector<WorkItem> worker_items;  // ActivityExecute only
  std::vector<OrchestratorItem> orchestrator_items;
  std::vector<CancelledActivity> cancelled_activities;
  ExecutionMetadata metadata;
  std::vector<ActivityOutcome> activity_outcomes;
  // Execution retention (RuntimeOptions::executions_kept): when this ack starts a new
  // execution (continue-as-new), the store deletes, in the same transaction, the
  // executions older than the newest `executions_kept` with their histories, at most
  // kMaxExecutionsDeletedPerAck of them, oldest first: a retention turned on for an
  // instance that has run many executions catches up over its next such acks instead
  // of writing them all off in one transaction. 0 keeps all.
  std::size_t executions_kept = 0;
};

inline constexpr std::size_t kMaxExecutionsDeletedPerAck = 64;

struct WorkerItem {
  work::ActivityExecute item;
  std::string lock_token;
  std::uint32_t attempt_count = 0;
  // The orchestration and version of the item's instance when it was fetched (its
  // ActivityContext's); empty when the instance has no row. Read from the instance, not
  // the item, so items keep the form every build that shares the store reads.
  std::string orchestration_name = {};
  std::string orchestration_version = {};
};

struct OrchestrationAckRequest {
  std::string lock_token;
  OrchestrationAck ack;
};

struct WorkAckRequest {
  std::string lock_token;
  std::optional<WorkItem> completion;
};

// The outcome of one ack of a batch: empty when it committed.
using AckOutcome = std::optional<ProviderError>;

// Most items one batched call takes or returns.
inline constexpr std::size_t kMaxBatchItems = 256;

// How a worker fetch takes part in activity sessions (see the top of this file).
struct SessionFetch {
  std::string owner_id;                   // 1..limits::kMaxWorkerNodeIdBytes of UTF-8
  std::int64_t lock_timeout_ms = 30'000;  // a session taken or claimed is held this long
};

enum class QueueKind { Orchestrator, Worker };

// Told by a store that work was committed to one of its queues through this
// store object: how drivers in the same process wake at once instead of at
// their next poll.
class QueueListener {
 public:
  virtual ~QueueListener() = default;
  // Called on the committing thread after the commit, outside the store's
  // locks. `visible_at_ms`: when the work becomes visible by the store's clock
  // (at or before now: at once). Must be quick and must not call the store.
  virtual void work_enqueued(QueueKind queue, TimestampMs visible_at_ms) = 0;
};

// A store's listeners, for stores that tell them. Thread-safe; `remove` waits
// for a call in progress, so a removed listener is never called again.
class QueueListeners {
 public:
  void add(QueueListener* listener);
  void remove(QueueListener* listener);
  void work_enqueued(QueueKind queue, TimestampMs visible_at_ms);

 private:
  std::mutex mutex_;
  std::vector<QueueListener*> listeners_;
};

class Provider {
 public:
  virtual ~Provider() = default;

  // The next instance with visible messages that nobody holds locked and whose current
  // execution `filter` takes (CapabilityFilter: by its pinned version; an instance not yet
  // started is always taken), locked for `lock_timeout_ms`. Instances the filter does not
  // take stay queued and unlocked for other runtimes, never blocking the ones it takes.
  virtual std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                                    const CapabilityFilter& filter) = 0;
  // Every execution (CapabilityFilter::any()).
  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms) {
    return fetch_orchestration_item(lock_timeout_ms, CapabilityFilter::any());
  }
  virtual void ack_orchestration_item(const std::string& lock_token, const OrchestrationAck& ack) = 0;
  virtual void abandon_orchestration_item(const std::string& lock_token, std::int64_t delay_ms,
                                          bool ignore_attempt) = 0;
  virtual void renew_orchestration_item_lock(const std::string& lock_token,
                                             std::int64_t extend_ms) = 0;

  // The latest execution's history (empty for an unknown instance).
  virtual History read(const std::string& instance) = 0;
  // Enqueues onto the orchestrator queue of the item's target instance.
  virtual void enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) = 0;
  // Enqueues every item, visible at once (at most kMaxBatchItems): one transaction for
  // a bulk operation's page instead of one per item, all or none when
  // `enqueues_all_or_none()`. The default enqueues them one by one, so a failure may
  // follow items already sent; the SQL stores override it.
  virtual void enqueue_orchestrator_items(const std::vector<WorkItem>& items);
  // Whether enqueue_orchestrator_items writes all of its items or none (default false).
  // A bulk client call sends a page in one call only then; otherwise item by item, so
  // an item reported failed was not sent and a retry of the failed ones doubles nothing.
  virtual bool enqueues_all_or_none() const;
  // Enqueues the start of a new instance, visible at once, unless the instance
  // is known (see `instance_known`): then throws Conflict and writes nothing.
  // Stores check and insert in one transaction, safe under concurrent starts of
  // the same id; the default (check, then enqueue) is not.
  virtual void enqueue_start(const work::StartOrchestration& start);
  // Whether the instance exists or a StartOrchestration for it is queued.
  virtual bool instance_known(const std::string& instance);

  // The instance's key-value store as its last committed turn left it (the acks'
  // `kv_mutations`, across executions): one key (nullopt when absent or the
  // instance is unknown), or every key. The defaults throw Permanent: a store
  // without a key-value table.
  virtual std::optional<std::string> get_kv_value(const std::string& instance,
                                                  const std::string& key);
  virtual KvMap get_kv_all_values(const std::string& instance);
  // get_kv_value as the instance `reader` may see it (the orchestration behind
  // get_value_from_instance): also nullopt when `instance` belongs to another tenant
  // than `reader` (access_policy.hpp), or `reader` is unknown. The default throws
  // Permanent, as get_kv_value's.
  virtual std::optional<std::string> get_kv_value_seen_by(const std::string& reader, const std::string& instance,
                                                          const std::string& key);

  // The oldest visible, unlocked worker item whose tag `filter` takes (the
  // ActivityExecute's tag; empty: untagged) and whose session `session` may take
  // (nullptr: items outside sessions only; see the top of this file). Items it does not
  // take stay queued for other workers, never blocking the ones it does.
  // TagFilter::none() takes nothing. An invalid filter or owner id is InvalidInput.
  virtual std::optional<WorkerItem> fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                                    const SessionFetch* session) = 0;
  // Items outside sessions only.
  std::optional<WorkerItem> fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter) {
    return fetch_work_item(lock_timeout_ms, filter, nullptr);
  }
  // Untagged items outside sessions only (TagFilter::default_only()).
  std::optional<WorkerItem> fetch_work_item(std::int64_t lock_timeout_ms) {
    return fetch_work_item(lock_timeout_ms, TagFilter{}, nullptr);
  }
  virtual void ack_work_item(const std::string& lock_token,
                             const std::optional<WorkItem>& completion) = 0;
  virtual void renew_work_item_lock(const std::string& lock_token, std::int64_t extend_ms) = 0;
  virtual void abandon_work_item(const std::string& lock_token, std::int64_t delay_ms,
                                 bool ignore_attempt) = 0;

  // Batches (see the top of this file). `max_items` is 1..kMaxBatchItems and at
  // most kMaxBatchItems requests are acked at once (InvalidInput otherwise). A
  // fetch that fails before it has found anything throws; one that fails later
  // returns what it has (the failure recurs on the next call).
  virtual std::vector<OrchestrationItem> fetch_orchestration_items(std::int64_t lock_timeout_ms,
                                                                   std::size_t max_items,
                                                                   const CapabilityFilter& filter);
  std::vector<OrchestrationItem> fetch_orchestration_items(std::int64_t lock_timeout_ms, std::size_t max_items) {
    return fetch_orchestration_items(lock_timeout_ms, max_items, CapabilityFilter::any());
  }
  virtual std::vector<AckOutcome> ack_orchestration_items(
      const std::vector<OrchestrationAckRequest>& requests);
  virtual std::vector<WorkerItem> fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                   const TagFilter& filter, const SessionFetch* session);
  std::vector<WorkerItem> fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                           const TagFilter& filter) {
    return fetch_work_items(lock_timeout_ms, max_items, filter, nullptr);
  }
  std::vector<WorkerItem> fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items) {
    return fetch_work_items(lock_timeout_ms, max_items, TagFilter{}, nullptr);
  }
  virtual std::vector<AckOutcome> ack_work_items(const std::vector<WorkAckRequest>& requests);
  // Sessions: extends, to now + `extend_ms`, the locks of those of `session_ids` that
  // `owner_id` holds (not expired); returns how many. At most limits::kMaxSessionsPerRuntime
  // ids (InvalidInput otherwise); an id that is not held is skipped, not an error.
  virtual std::size_t renew_session_locks(const std::string& owner_id, const std::vector<std::string>& session_ids,
                                          std::int64_t extend_ms) = 0;
  // Forgets the sessions whose locks have expired and that no queued worker item
  // names; returns how many. The SQL stores also do it in maintain(). The default
  // forgets nothing (a store may keep expired sessions: they are claimable all the same).
  virtual std::size_t cleanup_orphaned_sessions();

  // How many items one batched fetch and one ack should carry on this store when a
  // driver leaves the size to it (RuntimeOptions' batch sizes at 0): 1..kMaxBatchItems.
  // The default is 16.
  virtual std::size_t preferred_batch_size() const;

  // Work notifications for drivers in this process. A store that supports them
  // tells each listener, after every commit through this object that enqueues
  // work (starts, events, acks' worker and orchestrator items and timers,
  // activity completions, delayed abandons), which queue and when it becomes
  // visible. Not told: work written by other processes or other store objects,
  // and locks that expire; drivers still poll for those. A listener is removed
  // before it is destroyed. The defaults tell nobody.
  virtual void add_queue_listener(QueueListener* listener);
  virtual void remove_queue_listener(QueueListener* listener);

  // Housekeeping that a driver runs off the hot path, on a thread of its own,
  // now and then (the threaded driver's lock keeper, every poll interval). Once
  // it has been called, a SQLite store checkpoints its write-ahead log here
  // instead of in the committing call (which keeps a backstop for a log that
  // grows too long), and the SQL stores delete a batch of what their retention
  // settings let go (change feed, parked messages, finished instances).
  // Thread-safe; throws ProviderError. The default does nothing.
  virtual void maintain();
};

// Throws InvalidInput unless 1 <= count <= kMaxBatchItems.
void check_batch_size(std::size_t count, const std::string& operation);

}  // namespace duroxide
