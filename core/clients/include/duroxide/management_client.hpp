// ManagementClient: observability and operations beside the RuntimeClient.
//
// Contract:
// - read-mostly: discovery, counts and summaries come from the ManagementProvider's
//   indexed tables and never read each instance's history; only the per-instance
//   detail calls (get_instance_details, read_execution, export) read history;
// - inputs are validated like RuntimeClient's (ClientError::InvalidInput) and
//   every list has an explicit limit;
// - provider failures surface as ClientError(Provider), unknown ids as NotFound
//   (or NotFound statuses where a call reports per id).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duroxide/history_state.hpp"
#include "duroxide/management_provider.hpp"
#include "duroxide/runtime_client.hpp"

namespace duroxide {

struct InstanceSummary {
  InstanceInfo info;
  std::string preview;  // the output (Completed) or the error (Failed), at most 200 bytes
};

// One batch of a purge: at most `limit` roots (1..BulkDeleteRequest::kMaxLimit; 0: every batch in one call),
// going on from a previous batch's `continuation`; a dry run counts the instances
// instead (BulkDeleteRequest).
struct PurgeBatch {
  std::size_t limit = 1'000;
  std::string continuation;
  bool dry_run = false;
};

struct SummaryPage {
  std::vector<InstanceSummary> instances;
  std::string next_cursor;
};

struct InstanceTree {
  InstanceSummary root;
  std::vector<InstanceTree> children;
};

struct InstanceDetails {
  InstanceSummary summary;
  std::vector<ExecutionInfo> executions;
  // Of the current execution, when it is running: as the last ack kept it (at most
  // kMaxPendingKept items, inputs cut to kMaxPendingInputKept bytes: history_state.hpp),
  // or folded from the history when the store keeps none. `pending_total` counts all.
  std::vector<PendingWork> pending;
  std::uint64_t pending_total = 0;
};


// What counts as a problem. Times are durations in ms.
struct HealthThresholds {
  std::int64_t long_running_ms = 3'600'000;       // running longer than this since creation
  // Running, with work ready for it this long that nothing has taken
  // (InstanceFilter::ready_work_before_ms): a wait on a timer or an event is not stuck.
  std::int64_t no_progress_ms = 600'000;
  std::int64_t recent_failure_window_ms = 3'600'000;
};

// Each list holds at most the asked limit, worst first.
struct ProblematicInstances {
  std::vector<InstanceSummary> long_running;     // oldest created first
  std::vector<InstanceSummary> no_progress;      // stuck (HealthThresholds), longest unchanged first
  std::vector<InstanceSummary> recently_failed;  // latest failure first
};

// score = 100
//         - 40 x (failed / finished instances)
//         - 30 x (running instances without progress / running instances)
//         - min(30, age of the oldest waiting queue item in seconds / 10)
// clamped to 0..100 and rounded down: 100 is a store with no failures, nothing
// stuck and queues drained as fast as they fill.
struct SystemHealth {
  std::map<RuntimeState, std::uint64_t> counts;
  std::uint64_t long_running = 0;
  std::uint64_t no_progress = 0;
  std::uint64_t recent_failures = 0;
  QueueDepths queues;
  int score = 100;
};

// Time series for capacity planning (see TimeSeriesQuery for what counts).
enum class TimeSeriesMetric { Starts, Completions, Failures, Duration, All };
std::string_view to_string(TimeSeriesMetric metric);
bool parse_time_series_metric(std::string_view text, TimeSeriesMetric& out);
bool parse_time_series_bucket(std::string_view text, TimeSeriesQuery::Bucket& out);  // minute|hour

struct TimeSeries {
  TimeSeriesMetric metric = TimeSeriesMetric::All;
  std::string orchestration;  // empty: all orchestrations summed
  TimeSeriesQuery::Bucket bucket = TimeSeriesQuery::Bucket::Minute;
  TimestampMs from_ms = 0;    // the window, widened to whole buckets
  TimestampMs to_ms = 0;
  // One point per bucket of the window, oldest first; zeros where nothing
  // happened. All fields are filled; `metric` says which one the caller asked for.
  std::vector<TimeSeriesPoint> points;
};

// One change of the change feed seen as a time-series delta: what a dashboard
// adds to follow the series live — the start to the bucket holding
// started_at_ms, the completion or failure to the one holding finished_at_ms.
struct MetricDelta {
  std::uint64_t seq = 0;  // the change feed position
  TimestampMs started_at_ms = 0;   // with a start
  TimestampMs finished_at_ms = 0;  // with a completion or failure
  std::string orchestration;
  std::string instance;
  std::uint64_t starts = 0;
  std::uint64_t completions = 0;
  std::uint64_t failures = 0;
  std::optional<std::int64_t> duration_ms;  // with a completion or failure
};

struct MetricDeltaPage {
  std::vector<MetricDelta> deltas;
  std::uint64_t next_cursor = 0;  // pass back to continue; equal to the input when nothing is new
};

// With an access policy, an instance it denies (AccessOperation::List, with the
// instance and its orchestration name) is left out of every listing, count,
// child list, tree and change feed, and bulk delete and purge skip it (listed
// in DeleteResult::denied); a page may then hold fewer than its limit. The
// stores cannot evaluate a policy, so with one the client filters: counts walk
// the matching instances. Per-name statistics leave out names the policy denies
// (Stats with that name); an instance denied by id still counts in them, in the
// time series and in the store's total of events.
class ManagementClient {
 public:
  static constexpr std::size_t kPreviewBytes = 200;
  static constexpr std::size_t kMaxTreeNodes = 10'000;
  static constexpr std::size_t kMaxBulkIds = 1'000;

  // `policy`: consulted before every call (none: everything is allowed).
  explicit ManagementClient(ManagementProvider& management, const AccessPolicy* policy = nullptr);
  ManagementClient(ManagementProvider& management, const ManagementOptions& options);

  SummaryPage list_instances(const InstanceFilter& filter, const PageRequest& page);
  std::uint64_t count_instances(const InstanceFilter& filter);
  std::map<RuntimeState, std::uint64_t> count_by_status(const InstanceFilter& filter = {});
  std::vector<InstanceSummary> find_child_instances(const std::string& instance);
  // The instance and its descendants (sub-orchestrations), depth first.
  InstanceTree get_instance_tree(const std::string& instance);

  InstanceDetails get_instance_details(const std::string& instance);
  std::vector<ExecutionInfo> list_executions(const std::string& instance);
  // A page of them (ManagementProvider::list_execution_page): ids above `after`, at most
  // `limit` (1..kMaxExecutionPage), ascending.
  std::vector<ExecutionInfo> list_executions(const std::string& instance, ExecutionId after, std::size_t limit);
  std::optional<ExecutionInfo> get_execution_info(const std::string& instance,
                                                  ExecutionId execution);
  History read_execution(const std::string& instance, ExecutionId execution,
                         const EventQuery& query = {});
  // One status per id, in order; unknown ids report NotFound.
  std::vector<std::pair<std::string, OrchestrationStatus>> get_bulk_status(
      const std::vector<std::string>& instances);

  SystemMetrics get_system_metrics();
  QueueDepths get_queue_depths();
  ProviderDiagnostics get_provider_diagnostics();
  // The activity sessions the store keeps (ManagementProvider::list_sessions): which
  // runtime holds each, until when, and its queued items. Store-wide, as the queue depths.
  std::vector<SessionInfo> list_sessions(const std::string& after = {}, std::size_t limit = 100);
  // The messages the store parked because nothing would consume them (the count is
  // QueueDepths::parked), oldest first after `after_id`, with their items: store-wide,
  // ReadDetails (the items hold every tenant's payloads).
  std::vector<ParkedMessage> list_parked_messages(std::int64_t after_id = 0, std::size_t limit = 100);
  // Deletes parked messages by id (ManagementProvider::delete_parked_messages); returns
  // how many were there. Store-wide, Purge.
  std::uint64_t delete_parked_messages(const std::vector<std::int64_t>& ids);
  // One instance's footprint: the current execution's event count and stored bytes,
  // the messages queued for it, the messages in its history no wait has taken yet
  // (carry_forward_count: as the engine counted them at its last turn), its key-value keys and value
  // bytes; nullopt for an unknown instance. (Upstream Duroxide calls this get_orchestration_stats, a
  // name that here already means the per-name statistics below.)
  std::optional<InstanceStats> get_instance_stats(const std::string& instance);
  std::vector<OrchestrationStats> get_orchestration_stats(const std::string& name = {});
  std::vector<ActivityStats> get_activity_stats(const std::string& name = {});
  // Duration percentiles of finished executions of `name` started at or after `since_ms`.
  DurationStats get_performance_metrics(const std::string& name, TimestampMs since_ms = 0);
  // `now_ms` comes from the caller's clock: the client itself never reads one.
  SystemHealth get_system_health(TimestampMs now_ms, const HealthThresholds& thresholds = {});
  ProblematicInstances get_problematic_instances(TimestampMs now_ms,
                                                 const HealthThresholds& thresholds = {},
                                                 std::size_t limit = 100);

  DeleteResult delete_instance(const std::string& instance, bool force);
  // A delete that stops at its limit with candidates left says where to go on
  // (DeleteResult::continuation, BulkDeleteRequest::continuation). Under a per-instance access
  // policy a filtered delete walks every candidate itself in one call: it gives no continuation
  // and refuses one; a delete of listed ids goes on as without a policy.
  DeleteResult delete_instances(const BulkDeleteRequest& request);
  // Removes the executions `options` selects (PruneOptions: outside the newest keep_last
  // and, when completed_before_ms is set, finished before it) with their history; returns
  // how many executions and events went (options.dry_run: how many would go, by the
  // store's own rule, removing none).
  PruneResult prune_executions(const std::string& instance, const PruneOptions& options);
  PruneResult prune_executions(const std::string& instance, std::size_t keep_last) {
    return prune_executions(instance, PruneOptions{keep_last, 0});
  }
  // The same over many instances (bulk.hpp: explicit ids, or a filter walked in batches;
  // the filter's states, or every state when it names none). BulkResult::executions_pruned
  // and events_pruned count the executions and events removed (a dry run, request's or
  // options': those that would be).
  BulkResult prune_executions_bulk(const BulkRequest& request, const PruneOptions& options);
  BulkResult prune_executions_bulk(const BulkRequest& request, std::size_t keep_last) {
    return prune_executions_bulk(request, PruneOptions{keep_last, 0});
  }
  // Deletes every finished root instance (with its tree) last updated before `older_than_ms`.
  DeleteResult purge_completed(TimestampMs older_than_ms);
  // One batch of that purge (PurgeBatch). Under a per-instance access policy the one call walks
  // every candidate and gives no continuation.
  DeleteResult purge_completed(TimestampMs older_than_ms, const PurgeBatch& batch);

  // What changed after `cursor` (0: from the beginning), oldest first.
  ChangePage changes_since(std::uint64_t cursor, std::size_t limit = 100);

  // The buckets of [from_ms, to_ms) (widened to whole buckets), at most
  // kMaxTimeSeriesBuckets. Minute buckets exist only for the retention window
  // (SqliteOptions::minute_retention_ms); hour buckets always. Deleting or
  // purging instances does not change what already happened.
  TimeSeries get_time_series(TimeSeriesMetric metric, const std::string& orchestration,
                             TimestampMs from_ms, TimestampMs to_ms,
                             TimeSeriesQuery::Bucket bucket = TimeSeriesQuery::Bucket::Minute);
  // Time-series deltas recorded after `cursor` (a change-feed position; 0: from
  // the beginning), oldest first, at most `limit`. Written in the same
  // transactions as the buckets, so deltas added to a series read at cursor c
  // give the series read later: nothing is counted twice or missed.
  MetricDeltaPage watch_metrics(std::uint64_t cursor, std::size_t limit = 100);

  // One JSON document: the instance, every execution and its full history — the
  // format import_instance (and the playground's replayer) read.
  std::string export_instance(const std::string& instance);
  // Validates the document completely, then writes it; the id must not exist. A
  // running instance resumes: its pending timers are queued for their fire times, its
  // pending activities to run again, and the starts of children that have not reported
  // (unless the child exists). Returns the imported instance id.
  std::string import_instance(const std::string& json);

  // JSON lines: one export_instance document per line.
  // The instance and its descendants, the root first, then depth first (at most
  // kMaxTreeNodes); importing the lines back restores the tree.
  std::string export_tree(const std::string& instance);
  // A page of a filtered set (bulk.hpp: explicit ids, or a batch of the filter's matches
  // in any state unless it names states, with a continuation): the documents of the
  // page's instances as lines, and the walk's result (an instance that vanished or is
  // denied fails its item and has no line).
  struct ExportPage {
    std::string lines;
    BulkResult result;
  };
  ExportPage export_instances(const BulkRequest& request);
  // Imports each non-empty line (at most kMaxBulkIds) as import_instance does, each in
  // its own transaction: a line that fails (malformed, or an id that exists) is an
  // item error ("line N" when it names no instance) and the others still import.
  BulkResult import_instances(const std::string& lines);

  static InstanceSummary summarize(const InstanceInfo& info);

 private:
  template <typename F>
  auto guarded(F&& call) -> decltype(call());
  bool visible(const InstanceInfo& info) const;
  bool visible_change(const InstanceChange& change) const;
  // Every instance `filter` matches, page by page; only those the policy shows.
  template <typename F>
  void for_each_instance(const InstanceFilter& filter, F&& call);
  template <typename F>
  void for_each_visible(const InstanceFilter& filter, F&& call);
  std::vector<InstanceInfo> delete_candidates(const BulkDeleteRequest& request);
  std::vector<InstanceSummary> children_of(const std::string& instance);
  DeleteResult delete_allowed(const BulkDeleteRequest& request);
  DeleteResult delete_listed_allowed(const BulkDeleteRequest& request);
  std::optional<std::string> denied_in_tree(const InstanceInfo& root);
  ManagementProvider& management_;
  AccessCheck access_;
};

// The lines of JSON-lines text (export_tree, export_instances, import_instances): split
// at '\n', each line's trailing '\r' dropped, empty lines kept so that index i is line i + 1.
std::vector<std::string> split_json_lines(const std::string& text);

}  // namespace duroxide
