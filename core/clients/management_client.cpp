#include "duroxide/management_client.hpp"

#include <algorithm>
#include <limits>
#include <set>

#include "bulk_walk.hpp"
#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/text.hpp"
#include "duroxide/detail/json.hpp"

namespace duroxide {

namespace {

OrchestrationStatus status_of(const InstanceInfo& info) {
  OrchestrationStatus status;
  status.state = info.state;
  if (info.state == RuntimeState::Completed) status.output = info.output;
  if (info.state == RuntimeState::Failed) status.error = info.error;
  status.custom_status = info.custom_status;
  status.custom_status_version = info.custom_status_version;
  return status;
}

constexpr const char* kExportFormat = "duroxide.instance.v1";

// watch_metrics: the largest page it asks the change feed for, and how many
// changes one call reads at most looking for deltas (a bounded call on a feed
// of other changes; the cursor it returns goes on from there).
constexpr std::size_t kWatchPageLimit = 1000;
constexpr std::size_t kWatchScanLimit = 16'000;

using detail::Json;
using detail::ObjectReader;

// Every instance the store lists for `filter`, page by page, unfiltered by any policy.
template <typename F>
void for_each_listed(ManagementProvider& store, const InstanceFilter& filter, F&& call) {
  PageRequest page{{}, 1000};
  do {
    InstancePage batch = store.list_instances(filter, page);
    for (auto& info : batch.instances) call(info);
    page.cursor = batch.next_cursor;
  } while (!page.cursor.empty());
}

RuntimeState read_state(ObjectReader& in, const char* key) {
  std::string text = in.text(key, limits::kMaxNameBytes);
  RuntimeState state{};
  if (!parse_runtime_state(text, state) || state == RuntimeState::NotFound) {
    throw CodecError(in.field_path(key), "unknown status \"" + text + "\"");
  }
  return state;
}

Json outcome_json(RuntimeState state, const std::string& output,
                  const std::optional<ErrorDetails>& error) {
  Json out = Json::object();
  out["status"] = std::string(to_string(state));
  if (state == RuntimeState::Completed) out["output"] = output;
  if (error) out["error"] = detail::to_json(*error);
  return out;
}

void read_outcome(ObjectReader& in, RuntimeState& state, std::string& output,
                  std::optional<ErrorDetails>& error) {
  state = read_state(in, "status");
  if (state == RuntimeState::Completed) output = in.text("output", limits::kMaxPayloadBytes);
  if (in.has("error")) error = detail::error_details_from_json(in.object("error"), in.field_path("error"));
}

}  // namespace

ManagementClient::ManagementClient(ManagementProvider& management, const AccessPolicy* policy)
    : management_(management), access_(policy, management) {}

ManagementClient::ManagementClient(ManagementProvider& management, const ManagementOptions& options)
    : management_(management),
      access_(options.access_policy, management, options.caller, options.read_only, options.enabled) {}

template <typename F>
auto ManagementClient::guarded(F&& call) -> decltype(call()) {
  try {
    return call();
  } catch (const ProviderError& error) {
    throw ClientError(error.kind() == ProviderErrorKind::NotFound       ? ClientError::Kind::NotFound
                      : error.kind() == ProviderErrorKind::InvalidInput ? ClientError::Kind::InvalidInput
                      : error.kind() == ProviderErrorKind::Conflict     ? ClientError::Kind::Conflict
                                                                        : ClientError::Kind::Provider,
                      error.what());
  }
}

InstanceSummary ManagementClient::summarize(const InstanceInfo& info) {
  InstanceSummary summary{info, {}};
  if (info.state == RuntimeState::Completed) summary.preview = info.output;
  if (info.state == RuntimeState::Failed && info.error) {
    summary.preview = info.error->display_message();
  }
  if (summary.preview.size() > kPreviewBytes) {
    summary.preview = utf8_prefix(std::move(summary.preview), kPreviewBytes) + "...";
  }
  return summary;
}

bool ManagementClient::visible(const InstanceInfo& info) const { return access_.allows(AccessOperation::List, info); }

bool ManagementClient::visible_change(const InstanceChange& change) const {
  InstanceInfo info;
  info.instance = change.instance;
  info.orchestration_name = change.orchestration_name;
  info.tenant = change.tenant;
  return visible(info);
}

// The store cannot evaluate a per-instance policy: with one, counts walk the matching
// instances page by page here and count the visible ones. Correct, but linear in the
// number of matching instances. (Tenants are filtered by the store, in SQL.)
template <typename F>
void ManagementClient::for_each_visible(const InstanceFilter& filter, F&& call) {
  for_each_instance(filter, [&](InstanceInfo& info) {
    if (visible(info)) call(info);
  });
}

template <typename F>
void ManagementClient::for_each_instance(const InstanceFilter& filter, F&& call) {
  guarded([&] { for_each_listed(management_, filter, call); });
}

SummaryPage ManagementClient::list_instances(const InstanceFilter& requested,
                                             const PageRequest& page) {
  const InstanceFilter filter = access_.scoped(requested);
  access_.require(AccessOperation::List, {}, filter.orchestration_name);
  InstancePage raw = guarded([&] { return management_.list_instances(filter, page); });
  SummaryPage out;
  out.next_cursor = raw.next_cursor;
  for (const auto& info : raw.instances) {
    if (visible(info)) out.instances.push_back(summarize(info));
  }
  return out;
}

std::uint64_t ManagementClient::count_instances(const InstanceFilter& requested) {
  const InstanceFilter filter = access_.scoped(requested);
  access_.require(AccessOperation::List, {}, filter.orchestration_name);
  if (!access_.filters_each()) return guarded([&] { return management_.count_instances(filter); });
  std::uint64_t count = 0;
  for_each_visible(filter, [&](const InstanceInfo&) { ++count; });
  return count;
}

std::map<RuntimeState, std::uint64_t> ManagementClient::count_by_status(
    const InstanceFilter& requested) {
  const InstanceFilter filter = access_.scoped(requested);
  access_.require(AccessOperation::List, {}, filter.orchestration_name);
  if (!access_.filters_each()) return guarded([&] { return management_.count_by_status(filter); });
  std::map<RuntimeState, std::uint64_t> counts{
      {RuntimeState::Running, 0}, {RuntimeState::Completed, 0}, {RuntimeState::Failed, 0}};
  for_each_visible(filter, [&](const InstanceInfo& info) { ++counts[info.state]; });
  return counts;
}

std::vector<InstanceSummary> ManagementClient::find_child_instances(const std::string& instance) {
  RuntimeClient::check_identifier(instance, "the instance id");
  access_.require(AccessOperation::List, instance);
  return children_of(instance);
}

// The visible children of an instance whose access is checked, in scheduling order.
std::vector<InstanceSummary> ManagementClient::children_of(const std::string& instance) {
  InstanceFilter children;
  children.parent_instance = instance;
  std::vector<InstanceSummary> out;
  PageRequest page{{}, 1000};
  do {
    SummaryPage batch = list_instances(children, page);
    out.insert(out.end(), batch.instances.begin(), batch.instances.end());
    page.cursor = batch.next_cursor;
  } while (!page.cursor.empty() && out.size() < kMaxTreeNodes);
  // In the order the parent scheduled them (its scheduling event ids), not newest first.
  std::stable_sort(out.begin(), out.end(), [](const InstanceSummary& a, const InstanceSummary& b) {
    return a.info.parent_id < b.info.parent_id;
  });
  return out;
}

InstanceTree ManagementClient::get_instance_tree(const std::string& instance) {
  RuntimeClient::check_identifier(instance, "the instance id");
  const std::optional<InstanceInfo> info = access_.require_instance(AccessOperation::List, instance);
  if (!info) throw ClientError(ClientError::Kind::NotFound, "instance " + instance + " does not exist");
  InstanceTree tree{summarize(*info), {}};
  std::size_t nodes = 1;
  // Parent links that loop (a damaged or hand-edited store) are followed once: an
  // instance already in the tree is not walked again.
  std::set<std::string> seen{instance};
  // Iterative depth-first walk with an explicit bound: a tree is never unbounded.
  std::vector<InstanceTree*> stack{&tree};
  while (!stack.empty()) {
    InstanceTree* node = stack.back();
    stack.pop_back();
    for (auto& child : children_of(node->root.info.instance)) {
      if (!seen.insert(child.info.instance).second) continue;
      if (++nodes > kMaxTreeNodes) {
        throw ClientError(ClientError::Kind::InvalidInput,
                          "instance " + instance + " has more than " +
                              std::to_string(kMaxTreeNodes) + " descendants");
      }
      node->children.push_back(InstanceTree{std::move(child), {}});
    }
    for (auto& child : node->children) stack.push_back(&child);
  }
  return tree;
}

InstanceDetails ManagementClient::get_instance_details(const std::string& instance) {
  RuntimeClient::check_identifier(instance, "the instance id");
  const std::optional<InstanceInfo> info = access_.require_instance(AccessOperation::ReadDetails, instance);
  if (!info) throw ClientError(ClientError::Kind::NotFound, "instance " + instance + " does not exist");
  InstanceDetails details{summarize(*info), guarded([&] { return management_.list_executions(instance); }), {}};
  if (info->state != RuntimeState::Running) return details;
  // What the acks kept, from the row alone; else the history, folded whole.
  if (std::optional<PendingSnapshot> kept = guarded([&] { return management_.get_pending_work(instance); })) {
    details.pending = std::move(kept->work);
    details.pending_total = kept->total;
    return details;
  }
  History history = guarded([&] { return management_.read_execution(instance, info->current_execution_id); });
  details.pending = fold_history(history, history.size()).pending;
  details.pending_total = details.pending.size();
  return details;
}

std::vector<ExecutionInfo> ManagementClient::list_executions(const std::string& instance, ExecutionId after,
                                                             std::size_t limit) {
  RuntimeClient::check_identifier(instance, "the instance id");
  if (limit == 0 || limit > kMaxExecutionPage) {
    throw ClientError(ClientError::Kind::InvalidInput, "limit must be 1 to " + std::to_string(kMaxExecutionPage));
  }
  access_.require(AccessOperation::ReadDetails, instance);
  return guarded([&] { return management_.list_execution_page(instance, after, limit); });
}

std::vector<ExecutionInfo> ManagementClient::list_executions(const std::string& instance) {
  RuntimeClient::check_identifier(instance, "the instance id");
  access_.require(AccessOperation::ReadDetails, instance);
  return guarded([&] { return management_.list_executions(instance); });
}

std::optional<ExecutionInfo> ManagementClient::get_execution_info(const std::string& instance,
                                                                  ExecutionId execution) {
  RuntimeClient::check_identifier(instance, "the instance id");
  access_.require(AccessOperation::ReadDetails, instance);
  return guarded([&] { return management_.get_execution_info(instance, execution); });
}

History ManagementClient::read_execution(const std::string& instance, ExecutionId execution,
                                         const EventQuery& query) {
  RuntimeClient::check_identifier(instance, "the instance id");
  access_.require(AccessOperation::ReadHistory, instance);
  if (query.to_event_id != 0 && query.to_event_id < query.from_event_id) {
    throw ClientError(ClientError::Kind::InvalidInput,
                      "the event range ends (" + std::to_string(query.to_event_id) +
                          ") before it starts (" + std::to_string(query.from_event_id) + ")");
  }
  return guarded([&] { return management_.read_events(instance, execution, query); });
}

std::vector<std::pair<std::string, OrchestrationStatus>> ManagementClient::get_bulk_status(
    const std::vector<std::string>& instances) {
  if (instances.size() > kMaxBulkIds) {
    throw ClientError(ClientError::Kind::InvalidInput,
                      "at most " + std::to_string(kMaxBulkIds) + " ids per call, got " +
                          std::to_string(instances.size()));
  }
  for (const auto& id : instances) RuntimeClient::check_identifier(id, "an instance id");
  std::vector<std::pair<std::string, OrchestrationStatus>> out;
  for (const auto& id : instances) {
    auto info = guarded([&] { return management_.get_instance_info(id); });
    if (info && !access_.tenant().empty() && info->tenant != access_.tenant()) info.reset();  // as if absent
    if (info) access_.require(AccessOperation::ReadStatus, *info);
    out.emplace_back(id, info ? status_of(*info) : OrchestrationStatus::not_found());
  }
  return out;
}

SystemMetrics ManagementClient::get_system_metrics() {
  access_.require_store_wide(AccessOperation::Stats);
  SystemMetrics metrics = guarded([&] { return management_.get_system_metrics(); });
  if (!access_.filters_each()) return metrics;
  // Instances and executions of visible instances only; events stay the store's total.
  SystemMetrics own;
  own.total_events = metrics.total_events;
  for_each_visible({}, [&](const InstanceInfo& info) {
    ++own.total_instances;
    ++(info.state == RuntimeState::Running     ? own.running
       : info.state == RuntimeState::Completed ? own.completed
                                               : own.failed);
    own.total_executions += info.execution_count;
  });
  return own;
}

QueueDepths ManagementClient::get_queue_depths() {
  access_.require_store_wide(AccessOperation::Stats);
  return guarded([&] { return management_.get_queue_depths(); });
}

std::vector<SessionInfo> ManagementClient::list_sessions(const std::string& after, std::size_t limit) {
  access_.require_store_wide(AccessOperation::Stats);
  return guarded([&] { return management_.list_sessions(after, limit); });
}

std::vector<ParkedMessage> ManagementClient::list_parked_messages(std::int64_t after_id, std::size_t limit) {
  access_.require_store_wide(AccessOperation::ReadDetails);
  return guarded([&] { return management_.list_parked_messages(after_id, limit); });
}

std::uint64_t ManagementClient::delete_parked_messages(const std::vector<std::int64_t>& ids) {
  access_.require_store_wide(AccessOperation::Purge);
  return guarded([&] { return management_.delete_parked_messages(ids); });
}

std::optional<InstanceStats> ManagementClient::get_instance_stats(const std::string& instance) {
  RuntimeClient::check_identifier(instance, "the instance id");
  access_.require(AccessOperation::ReadDetails, instance);
  return guarded([&] { return management_.get_instance_stats(instance); });
}

std::vector<OrchestrationStats> ManagementClient::get_orchestration_stats(const std::string& name) {
  if (!name.empty()) RuntimeClient::check_identifier(name, "the orchestration name");
  access_.require(AccessOperation::Stats, {}, name);
  std::vector<OrchestrationStats> stats =
      guarded([&] { return management_.get_orchestration_stats(name, access_.tenant()); });
  // Per name: a name the policy denies is left out (an instance it denies by id still counts).
  stats.erase(std::remove_if(stats.begin(), stats.end(),
                             [&](const OrchestrationStats& entry) {
                               return !access_.allows(AccessOperation::Stats, entry.orchestration_name);
                             }),
              stats.end());
  return stats;
}

ProviderDiagnostics ManagementClient::get_provider_diagnostics() {
  access_.require_store_wide(AccessOperation::Stats);
  return guarded([&] { return management_.get_provider_diagnostics(); });
}

// With a per-instance policy a page may hold fewer than `limit` changes (hidden ones
// are skipped); `next_cursor` still moves past them. Another tenant's changes are
// never read (the store filters them).
ChangePage ManagementClient::changes_since(std::uint64_t cursor, std::size_t limit) {
  access_.require(AccessOperation::Stats);
  ChangePage page = guarded([&] { return management_.changes_since(cursor, limit, access_.tenant()); });
  page.changes.erase(std::remove_if(page.changes.begin(), page.changes.end(),
                                    [&](const InstanceChange& change) {
                                      return !visible_change(change);
                                    }),
                     page.changes.end());
  return page;
}

std::string_view to_string(TimeSeriesMetric metric) {
  switch (metric) {
    case TimeSeriesMetric::Starts: return "starts";
    case TimeSeriesMetric::Completions: return "completions";
    case TimeSeriesMetric::Failures: return "failures";
    case TimeSeriesMetric::Duration: return "duration";
    case TimeSeriesMetric::All: return "all";
  }
  return "all";
}

bool parse_time_series_metric(std::string_view text, TimeSeriesMetric& out) {
  for (TimeSeriesMetric metric : {TimeSeriesMetric::Starts, TimeSeriesMetric::Completions,
                                  TimeSeriesMetric::Failures, TimeSeriesMetric::Duration,
                                  TimeSeriesMetric::All}) {
    if (text == to_string(metric)) {
      out = metric;
      return true;
    }
  }
  return false;
}

bool parse_time_series_bucket(std::string_view text, TimeSeriesQuery::Bucket& out) {
  if (text == "minute") out = TimeSeriesQuery::Bucket::Minute;
  else if (text == "hour") out = TimeSeriesQuery::Bucket::Hour;
  else return false;
  return true;
}

TimeSeries ManagementClient::get_time_series(TimeSeriesMetric metric,
                                             const std::string& orchestration,
                                             TimestampMs from_ms, TimestampMs to_ms,
                                             TimeSeriesQuery::Bucket bucket) {
  if (!orchestration.empty()) RuntimeClient::check_identifier(orchestration, "the orchestration name");
  const std::int64_t width = bucket == TimeSeriesQuery::Bucket::Hour ? 3'600'000 : 60'000;
  if (from_ms < 0 || to_ms <= from_ms || to_ms > std::numeric_limits<std::int64_t>::max() - width) {
    throw ClientError(ClientError::Kind::InvalidInput,
                      "the time-series window needs 0 <= from_ms < to_ms");
  }
  TimeSeries series;
  series.metric = metric;
  series.orchestration = orchestration;
  series.bucket = bucket;
  series.from_ms = (from_ms / width) * width;
  series.to_ms = ((to_ms + width - 1) / width) * width;
  const std::int64_t buckets = (series.to_ms - series.from_ms) / width;
  if (buckets > static_cast<std::int64_t>(kMaxTimeSeriesBuckets)) {
    throw ClientError(ClientError::Kind::InvalidInput,
                      "the time-series window spans " + std::to_string(buckets) +
                          " buckets; at most " + std::to_string(kMaxTimeSeriesBuckets));
  }
  access_.require(AccessOperation::Stats, {}, orchestration);
  TimeSeriesQuery query;
  query.bucket = bucket;
  query.orchestration = orchestration;
  query.from_ms = series.from_ms;
  query.to_ms = series.to_ms;
  query.tenant = access_.tenant();
  std::vector<TimeSeriesPoint> stored = guarded([&] { return management_.get_time_series(query); });
  series.points.reserve(static_cast<std::size_t>(buckets));
  std::size_t next = 0;
  for (std::int64_t start = series.from_ms; start < series.to_ms; start += width) {
    if (next < stored.size() && stored[next].bucket_start_ms == start) {
      series.points.push_back(stored[next++]);
    } else {
      TimeSeriesPoint empty;
      empty.bucket_start_ms = start;
      series.points.push_back(empty);
    }
  }
  if (next != stored.size()) {
    throw ClientError(ClientError::Kind::Provider,
                      "the store returned time-series buckets outside the window or out of order");
  }
  return series;
}

MetricDeltaPage ManagementClient::watch_metrics(std::uint64_t cursor, std::size_t limit) {
  if (limit == 0 || limit > 1000) {
    throw ClientError(ClientError::Kind::InvalidInput, "limit must be 1 to 1000");
  }
  access_.require(AccessOperation::Stats);
  MetricDeltaPage page;
  page.next_cursor = cursor;
  // Starts and ends are most of a busy feed, so the first read asks for the
  // deltas wanted; other changes (custom status, continue-as-new) are skipped by
  // reading further in doubling pages, up to kWatchScanLimit changes a call.
  std::size_t examined = 0;
  std::size_t page_size = limit;
  while (examined < kWatchScanLimit && page.deltas.size() < limit) {
    ChangePage changes =
        guarded([&] { return management_.changes_since(page.next_cursor, page_size, access_.tenant()); });
    if (changes.changes.empty()) break;
    examined += changes.changes.size();
    page_size = std::min<std::size_t>(page_size * 2, kWatchPageLimit);
    for (const InstanceChange& change : changes.changes) {
      if (page.deltas.size() == limit) break;
      page.next_cursor = change.seq;
      if (!change.created && !change.finished_duration_ms) continue;
      if (!visible_change(change)) continue;
      MetricDelta delta;
      delta.seq = change.seq;
      if (change.created) delta.started_at_ms = change.instance_created_at_ms;
      delta.orchestration = change.orchestration_name;
      delta.instance = change.instance;
      delta.starts = change.created ? 1 : 0;
      if (change.finished_duration_ms) {
        (change.state == RuntimeState::Completed ? delta.completions : delta.failures) = 1;
        delta.duration_ms = change.finished_duration_ms;
        // Both read from the store's row, outside data: a damaged row's sum saturates
        // instead of overflowing.
        delta.finished_at_ms = saturating_add(change.instance_created_at_ms, *change.finished_duration_ms);
      }
      page.deltas.push_back(std::move(delta));
    }
  }
  return page;
}

std::vector<ActivityStats> ManagementClient::get_activity_stats(const std::string& name) {
  if (!name.empty()) RuntimeClient::check_identifier(name, "the activity name");
  access_.require(AccessOperation::Stats);
  return guarded([&] { return management_.get_activity_stats(name, access_.tenant()); });
}

DurationStats ManagementClient::get_performance_metrics(const std::string& name,
                                                        TimestampMs since_ms) {
  RuntimeClient::check_identifier(name, "the orchestration name");
  access_.require(AccessOperation::Stats, {}, name);
  return guarded([&] { return management_.get_execution_durations(name, since_ms, access_.tenant()); });
}

namespace {

// The three problem filters: the first and last answered through the instance indexes,
// "no progress" through the queues' (InstanceFilter::ready_work_before_ms).
struct ProblemFilters {
  InstanceFilter long_running, no_progress, recently_failed;
};

ProblemFilters problem_filters(TimestampMs now, const HealthThresholds& t) {
  ProblemFilters f;
  f.long_running.states = {RuntimeState::Running};
  f.long_running.created_to_ms = now - t.long_running_ms;
  f.no_progress.states = {RuntimeState::Running};
  f.no_progress.ready_work_before_ms = now - t.no_progress_ms;
  f.recently_failed.states = {RuntimeState::Failed};
  f.recently_failed.updated_from_ms = now - t.recent_failure_window_ms;
  return f;
}

}  // namespace

SystemHealth ManagementClient::get_system_health(TimestampMs now_ms,
                                                 const HealthThresholds& thresholds) {
  ProblemFilters filters = problem_filters(now_ms, thresholds);
  SystemHealth health;
  health.counts = count_by_status();
  health.long_running = count_instances(filters.long_running);
  health.no_progress = count_instances(filters.no_progress);
  health.recent_failures = count_instances(filters.recently_failed);
  // The queues are shared by every tenant: a tenant-bound caller's health leaves them out.
  if (access_.tenant().empty()) health.queues = get_queue_depths();
  const double failed = static_cast<double>(health.counts[RuntimeState::Failed]);
  const double finished = failed + static_cast<double>(health.counts[RuntimeState::Completed]);
  const double running = static_cast<double>(health.counts[RuntimeState::Running]);
  const double oldest_ms = static_cast<double>(
      std::max(health.queues.oldest_orchestrator_age_ms, health.queues.oldest_worker_age_ms));
  double score = 100.0;
  if (finished > 0) score -= 40.0 * failed / finished;
  if (running > 0) score -= 30.0 * static_cast<double>(health.no_progress) / running;
  score -= std::min(30.0, oldest_ms / 10'000.0);
  health.score = static_cast<int>(std::clamp(score, 0.0, 100.0));
  return health;
}

ProblematicInstances ManagementClient::get_problematic_instances(TimestampMs now_ms,
                                                                 const HealthThresholds& thresholds,
                                                                 std::size_t limit) {
  ProblemFilters filters = problem_filters(now_ms, thresholds);
  // Each list in the order its index holds it, so a page costs its own rows.
  return {list_instances(filters.long_running, {{}, limit, InstanceOrder::CreatedAsc}).instances,
          list_instances(filters.no_progress, {{}, limit, InstanceOrder::UpdatedAsc}).instances,
          list_instances(filters.recently_failed, {{}, limit, InstanceOrder::UpdatedDesc}).instances};
}

DeleteResult ManagementClient::delete_instance(const std::string& instance, bool force) {
  RuntimeClient::check_identifier(instance, "the instance id");
  const std::optional<InstanceInfo> info = access_.require_instance(AccessOperation::Delete, instance);
  // As a delete of listed ids checks it: under a per-instance policy, or for a tenant-bound caller.
  if (info && (access_.filters_each() || !access_.tenant().empty())) {
    if (std::optional<std::string> denied = denied_in_tree(*info)) {
      throw ClientError(ClientError::Kind::AccessDenied,
                        *denied == instance
                            ? "instance " + instance + "'s tree holds more than " + std::to_string(kMaxTreeNodes) +
                                  " instances, more than a delete checked per instance takes"
                            : "deleting " + instance + " would delete " + *denied +
                                  " with its tree, which this caller may not delete");
    }
  }
  return guarded([&] { return management_.delete_instance(instance, force); });
}

// A delete takes a root's whole tree, so a per-instance policy is asked about every
// instance in it (Delete, and List: what the caller cannot see it cannot delete). The
// first descendant it refuses is returned; a tree of more than kMaxTreeNodes instances
// returns the root's id (what was not asked about is not deleted).
std::optional<std::string> ManagementClient::denied_in_tree(const InstanceInfo& root) {
  std::set<std::string> seen{root.instance};
  std::vector<std::string> pending{root.instance};
  std::optional<std::string> denied;
  while (!pending.empty() && !denied) {
    InstanceFilter children;
    children.parent_instance = pending.back();
    pending.pop_back();
    for_each_instance(children, [&](InstanceInfo& child) {
      if (denied || !seen.insert(child.instance).second) return;  // a loop is walked once
      if (seen.size() > kMaxTreeNodes) {
        denied = root.instance;
      } else if (!access_.allows(AccessOperation::Delete, child) || !visible(child)) {
        denied = child.instance;
      }
      pending.push_back(child.instance);
    });
  }
  return denied;
}

DeleteResult ManagementClient::delete_instances(const BulkDeleteRequest& requested) {
  for (const auto& id : requested.instances) RuntimeClient::check_identifier(id, "an instance id");
  BulkDeleteRequest request = requested;
  request.filter = access_.scoped(requested.filter);
  access_.require(AccessOperation::Delete, {}, request.filter.orchestration_name);
  // Listed ids of a tenant-bound caller are checked one by one (delete_allowed).
  const bool by_store = !access_.filters_each() && (request.instances.empty() || access_.tenant().empty());
  if (by_store) return guarded([&] { return management_.delete_instances(request); });
  if (request.limit == 0 || request.limit > BulkDeleteRequest::kMaxLimit) {
    throw ClientError(ClientError::Kind::InvalidInput, "limit must be 1 to " + std::to_string(BulkDeleteRequest::kMaxLimit));
  }
  if (!request.instances.empty()) return delete_listed_allowed(request);
  if (!request.continuation.empty()) {
    throw ClientError(ClientError::Kind::InvalidInput,
                      "a bulk delete under an access policy walks every candidate in one call: it takes no continuation");
  }
  return delete_allowed(request);
}

// Listed ids under a per-instance policy, from the continuation's position: the policy is
// asked per id (denied ones are reported in `denied`, another tenant's are skipped unreported)
// and the others go to the store in chunks, which applies what is left of the limit of
// instances. The first id not considered then is the continuation, as the store gives it;
// ids denied after it are reported by the call that goes on.
DeleteResult ManagementClient::delete_listed_allowed(const BulkDeleteRequest& request) {
  const std::size_t listed = request.instances.size();
  const std::size_t first = guarded([&] { return listed_start(request.continuation, listed, "delete_instances"); });
  DeleteResult total;
  std::vector<std::pair<std::size_t, std::string>> denied;  // position, id
  BulkDeleteRequest chunk;
  chunk.dry_run = request.dry_run;
  chunk.completed_before_ms = request.completed_before_ms;  // the store checks it per id
  std::vector<std::size_t> positions;                       // each chunk id's position in the list
  std::size_t stop = listed;                                // the first position not considered
  auto flush = [&] {
    if (chunk.instances.empty()) return;
    chunk.limit = request.limit - total.instances;
    DeleteResult part = guarded([&] { return management_.delete_instances(chunk); });
    if (!part.continuation.empty()) {
      const std::size_t left = guarded([&] { return listed_start(part.continuation, positions.size(), "delete_instances"); });
      if (left < positions.size()) stop = positions[left];
      part.continuation.clear();
    }
    total += part;
    chunk.instances.clear();
    positions.clear();
  };
  for (std::size_t i = first; i < listed && stop == listed; ++i) {
    if (total.instances >= request.limit) {
      stop = i;  // the chunk is empty here: the total moves only when a chunk is sent
      break;
    }
    auto info = guarded([&] { return management_.get_instance_info(request.instances[i]); });
    if (!info || (!access_.tenant().empty() && info->tenant != access_.tenant())) continue;
    if (!access_.allows(AccessOperation::Delete, *info) || !visible(*info) || denied_in_tree(*info)) {
      denied.emplace_back(i, info->instance);
      continue;
    }
    chunk.instances.push_back(info->instance);
    positions.push_back(i);
    // Each root is at least one instance: a chunk as long as what is left of the limit
    // is sent at once, so a small limit reads each listed id about once over the calls.
    if (chunk.instances.size() == kMaxBulkIds || chunk.instances.size() >= request.limit - total.instances) flush();
  }
  flush();
  for (auto& [position, id] : denied) {
    if (position < stop) total.denied.push_back(std::move(id));
  }
  if (stop < listed) total.continuation = listed_continuation(stop);
  return total;
}

// What a filtered bulk delete would take (finished roots, last updated before the
// cut-off; not, as the stores also take, a child whose parent no longer exists, which
// goes by its id); the caller applies the limit.
std::vector<InstanceInfo> ManagementClient::delete_candidates(const BulkDeleteRequest& request) {
  InstanceFilter finished = deletable_roots(request);
  std::vector<InstanceInfo> out;
  if (finished.states.empty()) return out;
  for_each_instance(finished, [&](InstanceInfo& info) { out.push_back(std::move(info)); });
  return out;
}

// A filtered delete under a per-instance policy: the policy is asked per candidate
// (Delete, with its orchestration name): denied ones are skipped and reported in
// `denied`; the others are deleted by id, at most `limit` roots. Another
// tenant's instances are skipped unreported, as if they did not exist.
DeleteResult ManagementClient::delete_allowed(const BulkDeleteRequest& request) {
  std::vector<InstanceInfo> candidates = delete_candidates(request);
  DeleteResult total;
  BulkDeleteRequest chunk;
  chunk.limit = BulkDeleteRequest::kMaxLimit;
  chunk.dry_run = request.dry_run;
  chunk.completed_before_ms = request.completed_before_ms;
  auto flush = [&] {
    if (chunk.instances.empty()) return;
    // A walk counts roots, but a store's call stops at its limit of instances (of whole
    // trees), which may leave roots of the chunk. The roots it deleted are missing when
    // sent again, and skipped: the chunk goes again until a call deletes nothing. A dry
    // run deletes nothing, so its count of a chunk stops at BulkDeleteRequest::kMaxLimit instances.
    DeleteResult part;
    do {
      part = guarded([&] { return management_.delete_instances(chunk); });
      part.continuation.clear();
      total += part;
    } while (!chunk.dry_run && part.instances > 0);
    chunk.instances.clear();
  };
  std::size_t allowed = 0;
  for (const auto& info : candidates) {
    if (!access_.tenant().empty() && info.tenant != access_.tenant()) continue;
    if (!access_.allows(AccessOperation::Delete, info) || !visible(info) || denied_in_tree(info)) {
      total.denied.push_back(info.instance);
      continue;
    }
    if (allowed == request.limit) continue;
    ++allowed;
    chunk.instances.push_back(info.instance);
    if (chunk.instances.size() == kMaxBulkIds) flush();
  }
  flush();
  return total;
}

PruneResult ManagementClient::prune_executions(const std::string& instance, const PruneOptions& options) {
  RuntimeClient::check_identifier(instance, "the instance id");
  access_.require(AccessOperation::Prune, instance);
  return guarded([&] { return management_.prune_executions(instance, options); });
}

BulkResult ManagementClient::prune_executions_bulk(const BulkRequest& request, const PruneOptions& options) {
  // Refused before the walk, not once per instance.
  if (std::string problem = prune_options_problem(options); !problem.empty()) {
    throw ClientError(ClientError::Kind::InvalidInput, problem);
  }
  PruneOptions each = options;
  each.dry_run = options.dry_run || request.dry_run;
  access_.require_switches(AccessOperation::Prune);
  if (request.instances.empty()) access_.require(AccessOperation::List, {}, request.filter.orchestration_name);
  std::vector<RuntimeState> states = request.filter.states;
  if (states.empty()) states = {RuntimeState::Running, RuntimeState::Completed, RuntimeState::Failed};
  PruneResult pruned;
  BulkRequest scoped = request;
  scoped.filter = access_.scoped(request.filter);
  BulkResult result = bulk_walk::run(
      "prune", scoped, states,
      [&](const InstanceFilter& filter, const PageRequest& listing) {
        return guarded([&] { return management_.list_instances(filter, listing); });
      },
      [&](const InstanceInfo& info) { return visible(info); },
      [&](const std::string& id, const InstanceInfo* listed) {
        if (listed) {
          access_.require(AccessOperation::Prune, *listed);
        } else {
          access_.require_instance(AccessOperation::Prune, id);
        }
        const PruneResult one = guarded([&] { return management_.prune_executions(id, each); });
        pruned.executions += one.executions;
        pruned.events += one.events;
      });
  result.executions_pruned = pruned.executions;
  result.events_pruned = pruned.events;
  return result;
}

DeleteResult ManagementClient::purge_completed(TimestampMs older_than_ms) {
  return purge_completed(older_than_ms, PurgeBatch{0, {}, false});
}

DeleteResult ManagementClient::purge_completed(TimestampMs older_than_ms, const PurgeBatch& batch) {
  if (batch.limit == 0) {
    // Batches keep each transaction short; each goes on where the last stopped, so the
    // roots that must stay (a child still runs) are walked past once, not once a batch.
    DeleteResult total;
    PurgeBatch next{kMaxBulkIds, batch.continuation, batch.dry_run};
    do {
      total += purge_completed(older_than_ms, next);
      next.continuation = total.continuation;
    } while (!next.continuation.empty());
    return total;
  }
  if (older_than_ms <= 0) {
    throw ClientError(ClientError::Kind::InvalidInput, "purge needs a positive cut-off time");
  }
  access_.require(AccessOperation::Purge);
  BulkDeleteRequest request;
  request.completed_before_ms = older_than_ms;
  request.limit = batch.limit;
  request.continuation = batch.continuation;
  request.dry_run = batch.dry_run;
  request.filter.tenant = access_.tenant();
  if (!access_.filters_each()) return guarded([&] { return management_.delete_instances(request); });
  if (!batch.continuation.empty()) {
    throw ClientError(ClientError::Kind::InvalidInput,
                      "a purge under an access policy walks every candidate in one call: it takes no continuation");
  }
  request.limit = std::numeric_limits<std::size_t>::max();
  return delete_allowed(request);
}

}  // namespace duroxide

namespace duroxide {

std::string ManagementClient::export_instance(const std::string& instance) {
  RuntimeClient::check_identifier(instance, "the instance id");
  access_.require(AccessOperation::Export, instance);
  InstanceExport data = guarded([&] { return management_.export_instance(instance); });
  const InstanceInfo& info = data.info;
  Json summary = outcome_json(info.state, info.output, info.error);
  summary["instance"] = info.instance;
  summary["orchestration_name"] = info.orchestration_name;
  summary["orchestration_version"] = info.orchestration_version;
  summary["current_execution_id"] = info.current_execution_id;
  summary["custom_status"] = info.custom_status ? Json(*info.custom_status) : Json(nullptr);
  summary["custom_status_version"] = info.custom_status_version;
  summary["parent_instance"] = info.parent_instance;
  summary["parent_id"] = info.parent_id;
  summary["created_at_ms"] = info.created_at_ms;
  summary["updated_at_ms"] = info.updated_at_ms;
  if (!info.tenant.empty()) summary["tenant"] = info.tenant;
  Json executions = Json::array();
  for (const auto& execution : data.executions) {
    const ExecutionInfo& e = execution.info;
    Json item = outcome_json(e.state, e.output, e.error);
    item["execution_id"] = e.execution_id;
    item["continued_as_new"] = e.continued_as_new;
    item["started_at_ms"] = e.started_at_ms;
    item["completed_at_ms"] = e.completed_at_ms;
    item["history"] = detail::to_json(execution.history);
    executions.push_back(std::move(item));
  }
  Json document = {{"format", kExportFormat}, {"instance", summary}, {"executions", executions}};
  if (!data.kv.empty()) {
    Json kv = Json::object();
    for (const auto& [key, entry] : data.kv) {
      kv[key] = {{"value", entry.value}, {"updated_at_ms", entry.updated_at_ms}};
    }
    document["kv"] = std::move(kv);
  }
  if (data.next_start) document["next_start"] = detail::to_json(WorkItem{*data.next_start});
  if (!data.messages.empty()) {
    Json messages = Json::array();
    for (const WorkItem& message : data.messages) messages.push_back(detail::to_json(message));
    document["messages"] = std::move(messages);
  }
  return detail::dump_json(document, "export");
}

namespace {

// Whether the execution's history ends in OrchestrationContinuedAsNew.
bool ended_continued(const ExecutionExport& execution) {
  return !execution.history.empty() && execution.history.back().is<events::OrchestrationContinuedAsNew>();
}

// A time of an export document: milliseconds since the epoch, never before it (the
// stores' page cursors and retention walk by these times).
TimestampMs read_time(ObjectReader& in, const char* name) {
  const std::int64_t ms = in.signed_number(name);
  if (ms < 0) throw CodecError(in.field_path(name), "must be 0 or more (milliseconds since the epoch)");
  return ms;
}

// One exported execution, checked: ids 1..n, starting with OrchestrationStarted.
// A finished child reports to the parent its history's start names (the engine reads it
// there), so a history that names a parent must name the instance's: otherwise the row
// (and the checks of the parent link) would say one parent and the report go to another.
// A start that names none is allowed (histories written before starts recorded it).
void check_history_parents(const InstanceExport& data) {
  const InstanceInfo& info = data.info;
  auto check = [&](const std::string& parent, EventId parent_id, const std::string& path) {
    if (!parent.empty() && (parent != info.parent_instance || parent_id != info.parent_id)) {
      throw CodecError(path, "names parent " + parent + " (event " + std::to_string(parent_id) +
                                 "), not the instance's parent \"" + info.parent_instance + "\" (event " +
                                 std::to_string(info.parent_id) + ")");
    }
  };
  for (std::size_t i = 0; i < data.executions.size(); ++i) {
    const auto& started = *data.executions[i].history.front().as<events::OrchestrationStarted>();
    check(started.parent_instance, started.parent_id, "import.executions[" + std::to_string(i) + "].history[0]");
  }
  if (data.next_start) check(data.next_start->parent_instance, data.next_start->parent_id, "import.next_start");
}

// The key-value store the last execution's history leaves: its start's map with the
// history's sets and clears applied (a set's time is its event's), as the engine keeps it.
KvMap kv_of_last_execution(const InstanceExport& data) {
  const History& history = data.executions.back().history;
  KvMap kv = history.front().as<events::OrchestrationStarted>()->kv;
  for (const KvMutation& mutation : kv_mutations(history)) {
    if (mutation.kind == KvMutation::Kind::Set) {
      kv[mutation.key] = KvEntry{mutation.value, mutation.updated_at_ms};
    } else if (mutation.kind == KvMutation::Kind::Clear) {
      kv.erase(mutation.key);
    } else {
      kv.clear();
    }
  }
  return kv;
}

// The document's key-value store (and its next start's) must be what its history left:
// the next turn replays from the history, and a store that says otherwise would show
// clients values the orchestration does not hold.
void check_kv_matches_history(const InstanceExport& data) {
  const KvMap expected = kv_of_last_execution(data);
  auto check = [&](const KvMap& kv, const std::string& path) {
    if (kv == expected) return;
    auto entry_of = [](const KvMap& map, const std::string& key) -> std::optional<KvEntry> {
      auto found = map.find(key);
      return found == map.end() ? std::nullopt : std::optional<KvEntry>(found->second);
    };
    std::set<std::string> keys;  // both maps' keys, in byte order
    for (const auto* map : {&kv, &expected}) {
      for (const auto& entry : *map) keys.insert(entry.first);
    }
    const std::string key = *std::find_if(keys.begin(), keys.end(), [&](const std::string& name) {
      return entry_of(kv, name) != entry_of(expected, name);
    });
    throw CodecError(path, "does not match the key-value store the last execution's history leaves (key \"" +
                               key + "\" differs)");
  };
  check(data.kv, "import.kv");
  if (data.next_start) check(data.next_start->kv, "import.next_start.kv");
}

ExecutionExport read_execution_export(const Json& json, const std::string& path, const std::string& instance) {
  ObjectReader e(json, path);
  ExecutionExport execution;
  execution.info.instance = instance;
  execution.info.execution_id = e.unsigned_number("execution_id");
  // Ids start at 1 (0 is "no execution yet" to a fetch) and the stores keep them signed.
  if (execution.info.execution_id == 0 ||
      execution.info.execution_id > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw CodecError(e.field_path("execution_id"), "must be 1 to " + std::to_string(std::numeric_limits<std::int64_t>::max()));
  }
  read_outcome(e, execution.info.state, execution.info.output, execution.info.error);
  execution.info.continued_as_new = e.optional_boolean("continued_as_new");
  execution.info.started_at_ms = read_time(e, "started_at_ms");
  execution.info.completed_at_ms = read_time(e, "completed_at_ms");
  execution.history = detail::history_from_json(e.array("history"), e.field_path("history"));
  e.finish();
  for (std::size_t k = 0; k < execution.history.size(); ++k) {
    if (execution.history[k].event_id != k + 1) {
      throw CodecError(path + ".history[" + std::to_string(k) + "].event_id", "expected " + std::to_string(k + 1));
    }
  }
  if (execution.history.empty() || !execution.history.front().is<events::OrchestrationStarted>()) {
    throw CodecError(path + ".history", "must begin with OrchestrationStarted");
  }
  return execution;
}

// The messages of an export (InstanceExport::messages): at most kMaxMessages, each an
// external event, queue message or cancel for the instance itself.
std::vector<WorkItem> read_messages(const Json& json, const std::string& path, const std::string& instance) {
  if (json.size() > InstanceExport::kMaxMessages) {
    throw CodecError(path, "has " + std::to_string(json.size()) + " messages, over the limit of " +
                               std::to_string(InstanceExport::kMaxMessages));
  }
  std::vector<WorkItem> messages;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    WorkItem message = detail::work_item_from_json(json[i], at);
    if (!is_export_message(message) || target_instance(message) != instance) {
      throw CodecError(at, "must be an ExternalRaised, QueueMessage or CancelInstance for the instance itself");
    }
    messages.push_back(std::move(message));
  }
  return messages;
}

// The key-value store of an export: key -> {value, updated_at_ms}, within the limits.
KvMap read_kv_export(const Json& json, const std::string& path) {
  if (json.size() > limits::kMaxKvKeys) {
    throw CodecError(path, "has " + std::to_string(json.size()) + " keys, over the limit of " +
                               std::to_string(limits::kMaxKvKeys));
  }
  KvMap kv;
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (it.key().empty() || it.key().size() > limits::kMaxKvKeyBytes) {
      throw CodecError(path + "." + it.key(), "is not a key of 1 to " +
                                                  std::to_string(limits::kMaxKvKeyBytes) + " bytes");
    }
    ObjectReader entry(it.value(), path + "." + it.key());
    KvEntry value;
    value.value = entry.text("value", limits::kMaxKvValueBytes);
    value.updated_at_ms = read_time(entry, "updated_at_ms");
    entry.finish();
    kv.emplace(it.key(), std::move(value));
  }
  return kv;
}

// An export document (format, instance, executions in increasing id order, the
// last being the current one); throws CodecError naming the first bad field.
InstanceExport read_instance_export(const std::string& json) {
  InstanceExport data;
  Json document = detail::parse_json(json, "import");
  ObjectReader top(document, "import");
  std::string format = top.text("format", limits::kMaxNameBytes);
  if (format != kExportFormat) throw CodecError(top.field_path("format"), "unsupported format \"" + format + "\"");
  ObjectReader in(top.object("instance"), top.field_path("instance"));
  InstanceInfo& info = data.info;
  info.instance = in.text("instance", limits::kMaxIdentifierBytes);
  info.orchestration_name = in.text("orchestration_name", limits::kMaxNameBytes);
  info.orchestration_version = in.text("orchestration_version", limits::kMaxVersionBytes);
  info.current_execution_id = in.unsigned_number("current_execution_id");
  read_outcome(in, info.state, info.output, info.error);
  info.custom_status = in.nullable_text("custom_status", limits::kMaxPayloadBytes);
  info.custom_status_version = in.unsigned_number("custom_status_version");
  info.parent_instance = in.text("parent_instance", limits::kMaxIdentifierBytes);
  info.parent_id = in.unsigned_number("parent_id");
  info.created_at_ms = read_time(in, "created_at_ms");
  info.updated_at_ms = read_time(in, "updated_at_ms");
  if (in.has("tenant")) info.tenant = in.text("tenant", limits::kMaxIdentifierBytes);
  in.finish();
  const Json& executions = top.array("executions");
  if (top.has("kv")) data.kv = read_kv_export(top.object("kv"), top.field_path("kv"));
  if (top.has("next_start")) {
    WorkItem next = detail::work_item_from_json(top.object("next_start"), top.field_path("next_start"));
    auto* start = std::get_if<work::ContinueAsNew>(&next);
    if (!start || start->instance != info.instance) {
      throw CodecError(top.field_path("next_start"), "must be a ContinueAsNew of the instance itself");
    }
    data.next_start = std::move(*start);
  }
  if (top.has("messages")) data.messages = read_messages(top.array("messages"), top.field_path("messages"), info.instance);
  top.finish();
  for (std::size_t i = 0; i < executions.size(); ++i) {
    std::string path = "import.executions[" + std::to_string(i) + "]";
    ExecutionExport execution = read_execution_export(executions[i], path, info.instance);
    if (!data.executions.empty() && execution.info.execution_id <= data.executions.back().info.execution_id) {
      throw CodecError(path + ".execution_id", "execution ids must increase");
    }
    data.executions.push_back(std::move(execution));
  }
  if (data.executions.empty() || data.executions.back().info.execution_id != info.current_execution_id) {
    throw CodecError("import.instance.current_execution_id", "must be the id of the last execution");
  }
  if (data.next_start && (info.state != RuntimeState::Running || !ended_continued(data.executions.back()))) {
    throw CodecError("import.next_start", "only a running instance whose last execution continued as new has one");
  }
  check_history_parents(data);
  check_kv_matches_history(data);
  return data;
}

// The start of the next execution of a running instance whose current execution continued
// as new, when the document does not hold the queued one (written before exports did):
// rebuilt from the OrchestrationContinuedAsNew event and the instance, without the
// messages the queued one would have carried.
work::ContinueAsNew rebuilt_next_start(const InstanceExport& data) {
  const InstanceInfo& info = data.info;
  const auto& ended = *data.executions.back().history.back().as<events::OrchestrationContinuedAsNew>();
  work::ContinueAsNew next{info.instance, info.orchestration_name,
                           ended.version.empty() ? info.orchestration_version : ended.version, ended.input,
                           info.parent_instance, info.parent_id};
  next.custom_status = info.custom_status;
  next.kv = data.kv;
  return next;
}

// What a running imported instance waits on and nothing else will bring: its pending
// timers (fired at their time), activities (run again: activities run at least once)
// and the starts of children that have not reported (queued unless the child exists);
// or, when its current execution continued as new, the next execution's start.
std::vector<WorkItem> own_resume_work(const InstanceExport& data) {
  std::vector<WorkItem> work;
  if (data.info.state != RuntimeState::Running || data.executions.empty()) return work;
  if (ended_continued(data.executions.back())) {
    work.push_back(data.next_start ? *data.next_start : rebuilt_next_start(data));
    return work;
  }
  const ExecutionExport& current = data.executions.back();
  const ExecutionId execution = current.info.execution_id;
  const std::string& instance = data.info.instance;
  for (const PendingWork& pending : fold_history(current.history, current.history.size()).pending) {
    switch (pending.kind) {
      case PendingKind::Timer:
        work.push_back(work::TimerFired{instance, execution, pending.scheduled_event_id, pending.fire_at_ms});
        break;
      case PendingKind::Activity:
        work.push_back(work::ActivityExecute{instance, execution, pending.scheduled_event_id, pending.name,
                                             pending.input, pending.tag, pending.session_id});
        break;
      case PendingKind::SubOrchestration:
        work.push_back(work::StartOrchestration{pending.instance, pending.name, pending.version, pending.input,
                                                instance, pending.scheduled_event_id, data.info.tenant});
        break;
      case PendingKind::ExternalWait:
      case PendingKind::QueueWait:
        break;
    }
  }
  return work;
}

// The work an import queues for a running instance: its own (own_resume_work), then the
// messages from outside that waited at the export (InstanceExport::messages), in their
// order. A finished instance gets none: the runtime would drop its messages.
std::vector<WorkItem> resume_work(const InstanceExport& data) {
  std::vector<WorkItem> work = own_resume_work(data);
  if (data.info.state == RuntimeState::Running) work.insert(work.end(), data.messages.begin(), data.messages.end());
  return work;
}

}  // namespace

namespace {

bool finished(RuntimeState state) { return state == RuntimeState::Completed || state == RuntimeState::Failed; }

// What a finished child reports to its parent.
WorkItem child_report(const InstanceInfo& child) {
  if (child.state == RuntimeState::Completed) {
    return work::SubOrchestrationCompleted{child.parent_instance, child.parent_id, child.instance, child.output};
  }
  return work::SubOrchestrationFailed{child.parent_instance, child.parent_id, child.instance,
                                      child.error.value_or(ErrorDetails::orchestration_failed("failed"))};
}

// Trees imported a line at a time, whichever comes first: a running parent's pending
// child that exists and has finished (its report had not reached the parent when they
// were exported) gets that report queued instead of a start the finished child would
// drop; and a finished child whose parent exists and waits for it reports to it.
void report_finished_children(ManagementProvider& store, InstanceExport& data) {
  for (WorkItem& item : data.resume) {
    const auto* start = std::get_if<work::StartOrchestration>(&item);
    if (!start) continue;
    const std::optional<InstanceInfo> child = store.get_instance_info(start->instance);
    if (child && finished(child->state) && child->parent_instance == data.info.instance &&
        child->parent_id == start->parent_id && child->tenant == data.info.tenant) {
      item = child_report(*child);
    }
  }
  const InstanceInfo& info = data.info;
  if (info.parent_instance.empty() || !finished(info.state)) return;
  const std::optional<InstanceInfo> parent = store.get_instance_info(info.parent_instance);
  if (!parent || parent->state != RuntimeState::Running) return;
  const History history = store.read_execution(parent->instance, parent->current_execution_id);
  for (const PendingWork& pending : fold_history(history, history.size()).pending) {
    if (pending.kind == PendingKind::SubOrchestration && pending.instance == info.instance &&
        pending.scheduled_event_id == info.parent_id) {
      data.resume.push_back(child_report(info));
    }
  }
}

// An imported instance's parent link: never the instance itself, never a chain of
// existing parents that leads back to it (a cycle no delete could end), and a parent
// that exists belongs to the document's tenant (a link across tenants would let one
// tenant report a child's result into, or hold back the purge of, another's instance).
// A parent that does not exist yet is allowed, so a tree's lines import in any order, but
// not to a tenant-bound caller: another tenant could create that id later, under it.
void check_parent_link(ManagementProvider& store, const InstanceInfo& info, bool tenant_bound) {
  if (info.parent_instance.empty()) return;
  if (info.parent_instance == info.instance) {
    throw ClientError(ClientError::Kind::InvalidInput, "instance " + info.instance + " cannot be its own parent");
  }
  std::string ancestor = info.parent_instance;
  for (std::size_t depth = 0; !ancestor.empty(); ++depth) {
    const std::optional<InstanceInfo> found = store.get_instance_info(ancestor);
    if (!found && tenant_bound && depth == 0) {
      throw ClientError(ClientError::Kind::InvalidInput,
                        "the parent of instance " + info.instance + ", " + ancestor +
                            ", does not exist: a caller bound to a tenant imports a tree parent first");
    }
    if (!found) return;
    if (found->tenant != info.tenant) {
      throw ClientError(ClientError::Kind::AccessDenied, "instance " + ancestor + ", an ancestor of " + info.instance +
                                                             ", is not an instance of the document's tenant");
    }
    if (found->parent_instance == info.instance || depth >= ManagementClient::kMaxTreeNodes) {
      throw ClientError(ClientError::Kind::InvalidInput,
                        "the parents of instance " + info.instance + " lead back to it (or past " +
                            std::to_string(ManagementClient::kMaxTreeNodes) + " ancestors)");
    }
    ancestor = found->parent_instance;
  }
}

// The other side of the same rule, for a tree imported child first: instances that
// already name the imported id as their parent belong to the document's tenant.
// A tenant-bound caller is not told another tenant's id.
void check_existing_children(ManagementProvider& store, const InstanceInfo& info, bool tenant_bound) {
  InstanceFilter children;
  children.parent_instance = info.instance;
  for_each_listed(store, children, [&](const InstanceInfo& child) {
    if (child.tenant == info.tenant) return;
    throw ClientError(ClientError::Kind::AccessDenied,
                      tenant_bound ? "instance " + info.instance + " has children in another tenant"
                                   : "instance " + child.instance + ", a child of " + info.instance +
                                         ", is not an instance of the document's tenant");
  });
}

}  // namespace

std::string ManagementClient::import_instance(const std::string& json) {
  access_.require_switches(AccessOperation::Import);
  InstanceExport data;
  try {
    data = read_instance_export(json);
  } catch (const CodecError& error) {
    throw ClientError(ClientError::Kind::InvalidInput, error.what());
  }
  RuntimeClient::check_identifier(data.info.instance, "the instance id");
  // As a start checks it: statistics and time series refuse such a name, and would then
  // refuse every call that reads the stored names.
  RuntimeClient::check_identifier(data.info.orchestration_name, "the orchestration name");
  if (!data.info.tenant.empty()) RuntimeClient::check_identifier(data.info.tenant, "the tenant");
  if (!data.info.parent_instance.empty()) RuntimeClient::check_identifier(data.info.parent_instance, "the parent instance id");
  // A tenant-bound caller imports into its own tenant only.
  if (!access_.tenant().empty()) {
    if (!data.info.tenant.empty() && data.info.tenant != access_.tenant()) {
      throw ClientError(ClientError::Kind::AccessDenied, "access denied: the document belongs to tenant " +
                                                             data.info.tenant + ", the caller to " + access_.tenant());
    }
    data.info.tenant = access_.tenant();
  }
  access_.require(AccessOperation::Import, data.info.instance, data.info.orchestration_name);
  data.resume = resume_work(data);
  try {
    check_parent_link(management_, data.info, !access_.tenant().empty());
    check_existing_children(management_, data.info, !access_.tenant().empty());
    report_finished_children(management_, data);
    management_.import_instance(data);
  } catch (const ProviderError& error) {
    throw ClientError(error.kind() == ProviderErrorKind::Conflict ? ClientError::Kind::AlreadyExists
                                                                  : ClientError::Kind::Provider,
                      error.what());
  }
  return data.info.instance;
}

std::string ManagementClient::export_tree(const std::string& instance) {
  const InstanceTree tree = get_instance_tree(instance);
  std::string lines;
  std::vector<const InstanceTree*> stack{&tree};
  while (!stack.empty()) {
    const InstanceTree* node = stack.back();
    stack.pop_back();
    lines += export_instance(node->root.info.instance) + "\n";
    for (auto child = node->children.rbegin(); child != node->children.rend(); ++child) stack.push_back(&*child);
  }
  return lines;
}

ManagementClient::ExportPage ManagementClient::export_instances(const BulkRequest& request) {
  access_.require_switches(AccessOperation::Export);
  if (request.instances.empty()) access_.require(AccessOperation::List, {}, request.filter.orchestration_name);
  BulkRequest scoped = request;
  scoped.filter = access_.scoped(request.filter);
  const std::vector<RuntimeState> states = request.filter.states.empty()
      ? std::vector<RuntimeState>{RuntimeState::Running, RuntimeState::Completed, RuntimeState::Failed}
      : request.filter.states;
  ExportPage page;
  page.result = bulk_walk::run(
      "export", scoped, states,
      [&](const InstanceFilter& filter, const PageRequest& listing) {
        return guarded([&] { return management_.list_instances(filter, listing); });
      },
      [&](const InstanceInfo& info) { return visible(info); },
      [&](const std::string& id, const InstanceInfo*) {
        const std::string document = export_instance(id);
        if (!request.dry_run) page.lines += document + "\n";
      });
  return page;
}

BulkResult ManagementClient::import_instances(const std::string& lines) {
  access_.require_switches(AccessOperation::Import);
  const std::vector<std::string> documents = split_json_lines(lines);
  const auto non_empty = std::count_if(documents.begin(), documents.end(), [](const std::string& d) { return !d.empty(); });
  if (static_cast<std::size_t>(non_empty) > kMaxBulkIds) {
    throw ClientError(ClientError::Kind::InvalidInput, "at most " + std::to_string(kMaxBulkIds) +
                                                           " documents per call, got " + std::to_string(non_empty));
  }
  BulkResult result;
  for (std::size_t i = 0; i < documents.size(); ++i) {
    if (documents[i].empty()) continue;
    BulkItemResult item{"line " + std::to_string(i + 1), false, {}};
    try {
      item.instance = import_instance(documents[i]);
      item.ok = true;
    } catch (const ClientError& error) {
      item.error = error.what();
    }
    ++(item.ok ? result.succeeded : result.failed);
    result.items.push_back(std::move(item));
  }
  return result;
}

std::vector<std::string> split_json_lines(const std::string& text) {
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

}  // namespace duroxide
