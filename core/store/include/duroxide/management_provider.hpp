// ManagementProvider: the cold path of storage — observability and operations.
//
// Contract:
// - listings, counts, metrics and queue depths are answered from the instances,
//   executions and queue tables through indexes; they never read every history;
//   only per-instance calls (read_execution) read history;
// - reads never take instance locks and never block the hot path for long;
// - deleting removes the whole tree (children through parent links cascade):
//   history, executions, queue items, locks, the instance rows. A running
//   instance (any in the tree) needs `force`; a sub-orchestration cannot be
//   deleted on its own (only with its root). After a forced delete an in-flight
//   ack of that instance fails (InvalidLock) instead of recreating it, and the
//   id can be reused;
// - bulk deletes skip running instances; prune never removes the current
//   execution or a running one;
// - the custom status version increases by one on every set or clear.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "duroxide/error_details.hpp"
#include "duroxide/event.hpp"
#include "duroxide/history_state.hpp"
#include "duroxide/status.hpp"
#include "duroxide/semver.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide {

struct InstanceInfo {
  std::string instance;
  std::string orchestration_name;
  std::string orchestration_version;
  ExecutionId current_execution_id = 0;
  RuntimeState state = RuntimeState::NotFound;
  std::string output;                 // Completed
  std::optional<ErrorDetails> error;  // Failed
  std::optional<std::string> custom_status;
  std::uint64_t custom_status_version = 0;
  std::string parent_instance;
  EventId parent_id = 0;
  TimestampMs created_at_ms = 0;
  TimestampMs updated_at_ms = 0;
  std::uint64_t execution_count = 0;  // executions still stored (pruning removes old ones)
  std::string tenant;  // set at its start, inherited by its sub-orchestrations; empty: none
};

struct ExecutionInfo {
  std::string instance;
  ExecutionId execution_id = 0;
  RuntimeState state = RuntimeState::Running;
  bool continued_as_new = false;
  std::string output;
  std::optional<ErrorDetails> error;
  TimestampMs started_at_ms = 0;
  TimestampMs completed_at_ms = 0;  // 0 while running
  std::uint64_t event_count = 0;
  std::optional<SemVer> pinned_version;  // ExecutionMetadata::pinned_version; nullopt: none
};

// Which of an instance's executions a prune removes: those outside the newest
// `keep_last` that finished before `completed_before_ms` (0: whenever they finished);
// both must hold, as in upstream's PruneOptions. The current execution is never
// removed, nor a running one, so keep_last is at least 1. A dry run removes nothing
// and returns how many it would remove.
struct PruneOptions {
  std::size_t keep_last = 1;
  TimestampMs completed_before_ms = 0;
  bool dry_run = false;
};

// What a prune removed (a dry run: would remove): the executions and their history
// events, counted by the store in the prune's transaction.
struct PruneResult {
  std::uint64_t executions = 0;
  std::uint64_t events = 0;
  bool operator==(const PruneResult&) const = default;
};

// Why `options` are refused (keep_last 0, a negative time), or "" when they are valid.
// The stores refuse such options with InvalidInput and this text.
std::string prune_options_problem(const PruneOptions& options);

// Every condition is optional (empty / 0: no condition); all given ones must hold.
// Time ranges are half-open: from <= t < to.
struct InstanceFilter {
  std::vector<RuntimeState> states;
  std::string orchestration_name;
  std::string orchestration_version;
  std::string instance_prefix;
  std::string parent_instance;
  bool roots_only = false;
  TimestampMs created_from_ms = 0;
  TimestampMs created_to_ms = 0;
  TimestampMs updated_from_ms = 0;
  TimestampMs updated_to_ms = 0;
  // Only instances with work that has been ready for them since before this time and
  // that nothing has taken: a message on the orchestrator queue visible since then, or
  // an activity on the worker queue visible since then whose lock (if any) expired
  // before then. A timer not yet due, a wait with no event yet, or an activity a worker
  // holds is no such work. The queued rows drive the query (few when dispatchers keep
  // up); the other conditions filter them. Health's "no progress" (management.md).
  TimestampMs ready_work_before_ms = 0;
  // A substring (case-sensitive, at most kMaxContainsBytes of UTF-8) of the current
  // execution's input, the output, the error message or the custom status. No index
  // serves it: the store reads the instances the other conditions select, in the
  // listing's order, until the page is full or it has read kMaxContainsScan of them;
  // a page then ends short (even empty) with a cursor where the next call goes on, so
  // one call stays short on any store. Counts read every selected instance. Narrow it
  // with a name, a state or a time range on a large store (docs/management.md).
  std::string contains;
  // Only instances of this tenant (empty: every tenant). Indexed with the creation
  // time, so a tenant's listing reads only that tenant's rows.
  std::string tenant;
};

inline constexpr std::size_t kMaxContainsBytes = 256;
inline constexpr std::size_t kMaxContainsScan = 50'000;

// Which events of an execution to read, filtered and paged by the store: every
// condition is optional (empty / 0: none). A page of `limit` events in event-id
// order; the next page starts at the last one's id + 1.
struct EventQuery {
  std::vector<EventKind> kinds;
  EventId from_event_id = 0;  // inclusive
  EventId to_event_id = 0;    // inclusive
  TimestampMs from_ms = 0;    // events written at or after
  TimestampMs to_ms = 0;      // events written before
  std::size_t limit = 0;      // 0: every matching event; else 1..kMaxEventPage
};

inline constexpr std::size_t kMaxEventPage = 10'000;
inline constexpr std::size_t kMaxExecutionPage = 1'000;

// The order of a listing. Ties on the key go by instance id: ascending ids when
// the key descends, descending ids when it ascends (one index serves both ways).
// Duration is updated minus created: the run time of a finished instance, the time
// to its last change for a running one.
enum class InstanceOrder {
  CreatedDesc,   // newest first (the default)
  CreatedAsc,    // oldest first
  UpdatedDesc,   // most recently changed first
  UpdatedAsc,    // longest unchanged first
  DurationDesc,  // longest first
  DurationAsc,   // shortest first
};

// Keyset paging in `order`. `cursor` is opaque: pass back the `next_cursor` of the
// previous page, with the same filter and order; empty for the first page.
struct PageRequest {
  std::string cursor;
  std::size_t limit = 100;  // 1..1000
  InstanceOrder order = InstanceOrder::CreatedDesc;
};

struct InstancePage {
  std::vector<InstanceInfo> instances;
  std::string next_cursor;  // empty: no more pages (a search's page may be short and still have one)
};

struct SystemMetrics {
  std::uint64_t total_instances = 0;
  std::uint64_t running = 0;
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::uint64_t total_executions = 0;
  std::uint64_t total_events = 0;
};

struct QueueDepths {
  std::uint64_t orchestrator_visible = 0;  // visible now, not locked
  std::uint64_t orchestrator_delayed = 0;  // visible later (timers, delayed abandons)
  std::uint64_t orchestrator_locked = 0;   // held by a live instance lock
  std::uint64_t worker_visible = 0;
  std::uint64_t worker_locked = 0;
  std::uint64_t parked = 0;  // messages for instances that do not exist
  std::uint64_t timers_due = 0;      // TimerFired items visible now
  std::uint64_t timers_pending = 0;  // TimerFired items not yet visible
  // How long the first visible item in queue order has waited: since it was enqueued or
  // fell due, whichever came later; a worker item whose lock is held runs and is left out.
  // 0 when none.
  std::int64_t oldest_orchestrator_age_ms = 0;
  std::int64_t oldest_worker_age_ms = 0;
};

// An activity session the store keeps (Provider's sessions: provider.hpp): who holds it,
// until when, and the worker items queued in it.
struct SessionInfo {
  std::string session_id;
  std::string owner_id;             // the RuntimeOptions::worker_node_id that claimed it last
  TimestampMs locked_until_ms = 0;  // held until then; past it, any owner may claim it
  TimestampMs claimed_at_ms = 0;    // when that owner claimed it
  bool held = false;                // locked_until_ms is still ahead
  std::uint64_t queued_items = 0;   // its worker items, locked or not
  friend bool operator==(const SessionInfo&, const SessionInfo&) = default;
};

// Most sessions one list_sessions call returns.
inline constexpr std::size_t kMaxSessionPage = 1000;

// A message the store took out of its queues because nothing would ever consume it
// (provider.hpp): a message for an instance that does not exist and has no start queued,
// or a worker row that does not decode. Kept for operators until deleted or trimmed by
// the parked-message retention.
struct ParkedMessage {
  std::int64_t id = 0;  // grows with each parked message; the page cursor
  std::string instance_id;
  std::string reason;  // "instance does not exist", "corrupted worker item: ..."
  TimestampMs parked_at_ms = 0;
  std::string item_json;  // the item as it was queued (for a corrupted row, as stored)
  friend bool operator==(const ParkedMessage&, const ParkedMessage&) = default;
};

// Most parked messages one list_parked_messages call returns, and most ids one
// delete_parked_messages call takes.
inline constexpr std::size_t kMaxParkedPage = 1000;

struct OrchestrationStats {
  std::string orchestration_name;
  std::uint64_t running = 0;
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::uint64_t continued = 0;  // executions that ended in continue-as-new
};

struct ActivityStats {
  std::string activity_name;
  std::uint64_t scheduled = 0;
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  double failure_rate = 0;         // failed / (completed + failed)
  std::int64_t avg_duration_ms = 0;  // over completed and failed
};

// Durations (completed_at - started_at) of finished executions, as the store counted
// them when each finished (or was imported): count and average exact; minimum, maximum
// and the nearest-rank percentiles within 1% of the exact value (a histogram whose
// buckets span 1% of their durations; every duration under 1,000 ms is exact).
struct DurationStats {
  std::uint64_t count = 0;
  std::int64_t min_ms = 0;
  std::int64_t avg_ms = 0;
  std::int64_t p50_ms = 0;
  std::int64_t p95_ms = 0;
  std::int64_t p99_ms = 0;
  std::int64_t max_ms = 0;
};

struct DeleteResult {
  std::uint64_t instances = 0;
  std::uint64_t executions = 0;
  std::uint64_t events = 0;
  std::uint64_t queue_items = 0;
  // Set by the ManagementClient: ids its access policy kept it from deleting (skipped).
  std::vector<std::string> denied;
  // After a delete that stopped at its limit with candidates left (listed ids not yet
  // considered, or roots the filter matches), or after a filtered walk past 1,000 roots
  // beyond it whose trees still run (so a call stays short): where the next call goes
  // on (BulkDeleteRequest::continuation); empty once it considered every candidate.
  std::string continuation;

  // Adds another deletion's counts and denied ids to these and takes its continuation.
  DeleteResult& operator+=(const DeleteResult& other) {
    instances += other.instances;
    executions += other.executions;
    events += other.events;
    queue_items += other.queue_items;
    denied.insert(denied.end(), other.denied.begin(), other.denied.end());
    continuation = other.continuation;
    return *this;
  }
};

// Deletes finished root instances (with their trees): the listed ids, or when
// none are listed, those matching `filter` (only its finished states count);
// either way only those last updated before `completed_before_ms` (0: no time
// condition). Running instances and sub-orchestrations are always skipped.
struct BulkDeleteRequest {
  static constexpr std::size_t kMaxLimit = 100'000;  // the most instances `limit` may ask for
  std::vector<std::string> instances;
  InstanceFilter filter;
  TimestampMs completed_before_ms = 0;
  std::size_t limit = 1000;
  // The `continuation` of the previous call's result (empty: from the start). A filtered
  // delete then walks only the roots after those that call considered; a delete of listed
  // ids goes on at the first id that call did not consider (listed_continuation), the same
  // list sent again. Anything but such a value is InvalidInput.
  std::string continuation;
  // Count what the call would delete (instances only; executions, events and queue
  // items stay 0) and delete nothing; its continuation walks as the real call's would.
  bool dry_run = false;
};

// The continuation of a delete of listed ids that stopped at its limit: "listed:<position>",
// the position in BulkDeleteRequest::instances of the first id it did not consider.
std::string listed_continuation(std::size_t position);
// Where a delete of `listed` ids starts: 0 for an empty continuation, else the position a
// listed_continuation holds (at most `listed`); anything else throws ProviderError
// (InvalidInput, named `operation`).
std::size_t listed_start(const std::string& continuation, std::size_t listed, const std::string& operation);

// The instances a filtered bulk delete considers: `request.filter` narrowed to
// root instances in its finished states (Completed and Failed when it names none),
// last updated before `completed_before_ms` when that is set.
InstanceFilter deletable_roots(const BulkDeleteRequest& request);

// One instance with all its stored executions and their histories: what
// export writes and import reads back.
struct ExecutionExport {
  ExecutionInfo info;
  History history;
};
struct InstanceExport {
  InstanceInfo info;
  std::vector<ExecutionExport> executions;  // ascending execution ids
  KvMap kv;  // the instance's key-value store
  // Import only: what a running instance was waiting on, queued with it so that it
  // resumes (the client computes it from the current execution's history; the store
  // does not interpret events). TimerFired goes on the orchestrator queue, visible at
  // its fire time; ActivityExecute on the worker queue; StartOrchestration (a child
  // that was started and has not reported) on the orchestrator queue unless that child
  // exists or its start is queued; ContinueAsNew (next_start) on the orchestrator
  // queue; a child's report (SubOrchestrationCompleted or Failed) from the instance to
  // its waiting parent, or from its finished child to it, on the orchestrator queue.
  // Export leaves it empty.
  std::vector<WorkItem> resume;
  // A running instance whose current execution has continued as new and whose next
  // execution has not started: that execution's queued start, with the messages it
  // carries, its key-value store and custom status. Export reads it from the queue;
  // import queues it again (through `resume`).
  std::optional<work::ContinueAsNew> next_start;
  // The messages from outside waiting on the orchestrator queue for a running instance, in
  // queue order: external events (ExternalRaised), queue messages (QueueMessage) and
  // cancels (CancelInstance), a client's or its parent's. Export reads them (none for a
  // finished instance: the runtime drops them); import queues them again for a running
  // instance (through `resume`, after its own work).
  static constexpr std::size_t kMaxMessages = 10'000;  // more fails the export: the runtime takes them first
  std::vector<WorkItem> messages;
};

// Whether `item` is of a kind InstanceExport::messages holds (ExternalRaised, QueueMessage,
// CancelInstance).
bool is_export_message(const WorkItem& item);

// One instance's footprint (upstream Duroxide's per-instance SystemStats).
struct InstanceStats {
  ExecutionId execution_id = 0;             // the current execution
  std::uint64_t history_event_count = 0;    // events of the current execution
  std::uint64_t history_size_bytes = 0;     // their stored JSON, in bytes
  std::uint64_t queue_pending_count = 0;    // messages queued for it, not yet consumed by a turn
  std::uint64_t kv_user_key_count = 0;      // keys in its key-value store
  std::uint64_t kv_total_value_bytes = 0;   // the bytes of their values
  // Messages delivered to the current execution (those a continue-as-new carried
  // into it included) that no wait has taken yet: what a continue-as-new now would
  // carry forward. Counted by the engine at the end of each turn and written by
  // its ack (ExecutionMetadata::unconsumed_messages); 0 once the execution ended.
  std::uint64_t carry_forward_count = 0;
  friend bool operator==(const InstanceStats&, const InstanceStats&) = default;
};

// One change of an instance's status (or custom status, or a new execution),
// or its deletion. `seq` increases with every commit that makes a change.
struct InstanceChange {
  std::uint64_t seq = 0;
  std::string instance;
  RuntimeState state = RuntimeState::Running;
  bool deleted = false;
  ExecutionId execution_id = 0;
  std::uint64_t custom_status_version = 0;
  TimestampMs changed_at_ms = 0;
  // What the change means for the time series (schema 5 on; false/empty before):
  bool created = false;                              // it created the instance (a start)
  std::optional<std::int64_t> finished_duration_ms;  // it finished it (Completed or Failed)
  // When either is set: the start counts at this time, the finish at this + duration
  // (an ack: both at changed_at_ms; an import: where they originally happened).
  TimestampMs instance_created_at_ms = 0;
  std::string orchestration_name;                  // empty for deletions
  std::string tenant;                              // the instance's
};

// Time series for capacity planning, per orchestration, kept by the store in
// the same transactions that change instance status: an instance counts as a
// start when it is created and as a completion or failure when it finishes
// (continue-as-new is neither), with its duration (finish - creation).
// Buckets: minute, rolled up into hours after a retention window.
inline constexpr std::int64_t kDurationBucketBoundsMs[] = {10, 100, 1'000, 10'000, 60'000, 600'000, 3'600'000};
inline constexpr std::size_t kDurationBuckets = 8;  // the bounds above, then "over an hour"

struct TimeSeriesQuery {
  enum class Bucket { Minute, Hour };
  Bucket bucket = Bucket::Minute;
  std::string orchestration;  // empty: all orchestrations summed
  TimestampMs from_ms = 0;    // inclusive, rounded down to the bucket
  TimestampMs to_ms = 0;      // exclusive
  std::string tenant;         // empty: every tenant summed
};

struct TimeSeriesPoint {
  TimestampMs bucket_start_ms = 0;
  std::uint64_t starts = 0;
  std::uint64_t completions = 0;
  std::uint64_t failures = 0;
  std::int64_t duration_sum_ms = 0;
  std::uint64_t duration_count = 0;
  std::uint64_t duration_histogram[kDurationBuckets] = {};
};

struct ChangePage {
  std::vector<InstanceChange> changes;
  std::uint64_t next_cursor = 0;  // pass back to continue; equals the last seq returned
};

struct CustomStatus {
  std::optional<std::string> status;  // nullopt: cleared or never set
  std::uint64_t version = 0;
};

inline constexpr std::size_t kMaxTimeSeriesBuckets = 20'000;

// The store's own health, for operators: what it is, how big, how busy, and
// whether it answers. Sizes come from the store itself (pages), not the file system.
struct ProviderDiagnostics {
  std::string store_kind;     // "sqlite"
  std::string store_version;  // the SQLite library version
  int schema_version = 0;
  std::string location;       // the database path, or ":memory:"
  std::string journal_mode;   // "wal", "memory", ...
  std::uint64_t page_size = 0;
  std::uint64_t page_count = 0;
  std::uint64_t free_pages = 0;
  std::uint64_t database_bytes = 0;  // page_size * page_count
  std::uint64_t wal_bytes = 0;       // the write-ahead log's current size (0 without one)
  std::uint64_t cache_bytes = 0;     // the page cache a connection may fill (0: the server's own)
  TimestampMs last_checkpoint_ms = 0;  // last checkpoint by this connection (0: none yet)
  std::uint64_t checkpoints = 0;
  std::map<std::string, std::uint64_t> table_rows;
  bool connected = false;  // a trivial query answered just now
  std::optional<std::string> last_error;  // the last storage error of this connection
  TimestampMs last_error_ms = 0;
  std::uint64_t error_count = 0;
  std::int64_t round_trip_us = 0;  // of that trivial query
  std::uint64_t round_trips = 0;   // exchanges with a database server since the store opened (0: embedded)
  // Statements the server parsed and kept for reuse since the store opened (0: embedded;
  // each SQL text once per server connection, again after a reconnect).
  std::uint64_t statements_prepared = 0;
};

class ManagementProvider {
 public:
  virtual ~ManagementProvider() = default;

  virtual InstancePage list_instances(const InstanceFilter& filter, const PageRequest& page) = 0;
  virtual std::uint64_t count_instances(const InstanceFilter& filter) = 0;
  // Running, Completed and Failed counts (absent states count 0) in one grouped query.
  virtual std::map<RuntimeState, std::uint64_t> count_by_status(const InstanceFilter& filter) = 0;
  virtual std::optional<InstanceInfo> get_instance_info(const std::string& instance) = 0;
  virtual std::vector<ExecutionInfo> list_executions(const std::string& instance) = 0;
  // A page of them: at most `limit` (1..kMaxExecutionPage) with ids above `after`, in
  // ascending order, read along the executions' key; the next page goes on after the
  // last id returned, and a page shorter than `limit` is the last. InvalidInput for a
  // limit out of range; an unknown instance has none.
  virtual std::vector<ExecutionInfo> list_execution_page(const std::string& instance, ExecutionId after,
                                                         std::size_t limit) = 0;
  virtual std::optional<ExecutionInfo> get_execution_info(const std::string& instance,
                                                          ExecutionId execution) = 0;
  // Throws ProviderError NotFound for an unknown instance or execution.
  virtual History read_execution(const std::string& instance, ExecutionId execution) = 0;
  // The events of an execution that `query` selects, filtered and limited in the store
  // (an execution of a million events is never read whole for a page). NotFound as
  // read_execution; InvalidInput for a limit over kMaxEventPage or an empty range.
  virtual History read_events(const std::string& instance, ExecutionId execution, const EventQuery& query) = 0;
  virtual SystemMetrics get_system_metrics() = 0;
  // The statistics below count per tenant as well: `tenant` empty sums every tenant,
  // otherwise only that tenant's instances count.
  // Per orchestration name (all names when `name` is empty), from the instance and
  // execution tables.
  virtual std::vector<OrchestrationStats> get_orchestration_stats(const std::string& name,
                                                                  const std::string& tenant) = 0;
  // Per activity name (all when empty), counted at each ack from the runtime's outcomes.
  virtual std::vector<ActivityStats> get_activity_stats(const std::string& name, const std::string& tenant) = 0;
  // Finished executions of `name` that started in the hour holding `since_ms` or later
  // (0: all); deleting instances does not take their executions out.
  virtual DurationStats get_execution_durations(const std::string& name, TimestampMs since_ms,
                                                const std::string& tenant) = 0;
  virtual QueueDepths get_queue_depths() = 0;
  virtual ProviderDiagnostics get_provider_diagnostics() = 0;
  // The activity sessions the store keeps, held or expired and not yet forgotten, in
  // session id order after `after` (empty: from the first), at most `limit`
  // (1..kMaxSessionPage; InvalidInput otherwise); a page shorter than `limit` is the last.
  virtual std::vector<SessionInfo> list_sessions(const std::string& after, std::size_t limit) = 0;
  // The parked messages with id > `after_id`, oldest first, at most `limit`
  // (1..kMaxParkedPage; InvalidInput otherwise); a page shorter than `limit` is the last.
  // With several writers (PostgreSQL) an id is taken before its transaction commits, so
  // a message parked while a listing pages may land behind the page already read.
  virtual std::vector<ParkedMessage> list_parked_messages(std::int64_t after_id, std::size_t limit) = 0;
  // Deletes the parked messages with these ids (at most kMaxParkedPage; InvalidInput
  // otherwise) in one transaction; returns how many were there. Unknown ids are skipped.
  virtual std::uint64_t delete_parked_messages(const std::vector<std::int64_t>& ids) = 0;
  // Buckets in [from, to) that have data, oldest first. Minute queries see only
  // minutes not yet rolled up; hour queries see both. At most kMaxTimeSeriesBuckets.
  virtual std::vector<TimeSeriesPoint> get_time_series(const TimeSeriesQuery& query) = 0;

  virtual DeleteResult delete_instance(const std::string& instance, bool force) = 0;
  virtual DeleteResult delete_instances(const BulkDeleteRequest& request) = 0;
  // Removes the executions PruneOptions selects with their history, in one transaction,
  // and returns how many of each went (a dry run: how many would go, removing none).
  // NotFound for an unknown instance; InvalidInput for the options prune_options_problem
  // refuses.
  virtual PruneResult prune_executions(const std::string& instance, const PruneOptions& options) = 0;

  // NotFound for an unknown instance.
  virtual InstanceExport export_instance(const std::string& instance) = 0;
  // Writes the instance, its executions, histories and `resume` work in one
  // transaction; Conflict if the id exists; InvalidInput for resume work of another
  // instance or kind.
  virtual void import_instance(const InstanceExport& data) = 0;

  // Changes with seq > cursor, oldest first, at most `limit` (1..1000); with a
  // `tenant`, only that tenant's (indexed: the other tenants' changes are not read).
  virtual ChangePage changes_since(std::uint64_t cursor, std::size_t limit, const std::string& tenant) = 0;

  // The tenant of an instance: its row's, or its queued start's before its first turn;
  // nullopt for an instance that neither exists nor has a start queued.
  virtual std::optional<std::string> get_instance_tenant(const std::string& instance) = 0;

  // nullopt for an unknown instance; with `since_version`, nullopt when unchanged.
  virtual std::optional<CustomStatus> get_custom_status(
      const std::string& instance, std::optional<std::uint64_t> since_version = std::nullopt) = 0;

  // nullopt for an unknown instance. The default throws Permanent (a store that
  // cannot count); both stores answer from indexed rows.
  virtual std::optional<InstanceStats> get_instance_stats(const std::string& instance);

  // The pending work the last ack of a running instance kept (ExecutionMetadata::pending),
  // read from the instance's row alone; nullopt when none is kept (an unknown or finished
  // instance, an ack that kept none, a row written before the store kept it, or a kept
  // value that does not decode): the caller then folds the current execution's history,
  // which stays the source of truth. The default keeps nothing.
  virtual std::optional<PendingSnapshot> get_pending_work(const std::string& instance);
};

}  // namespace duroxide
