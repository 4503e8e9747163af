#include "duroxide/commands.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>

#include "duroxide/assert.hpp"
#include "duroxide/detail/json.hpp"
#include "duroxide/event.hpp"
#include "duroxide/json_views.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/text.hpp"

namespace duroxide {

using Json = nlohmann::json;

namespace {

// Waits step virtual time in the browser 50 ms at a time: a day is the longest wait.
constexpr std::int64_t kMaxTimeoutMs = 86'400'000;
constexpr std::int64_t kMaxListItems = 1000;
constexpr std::int64_t kMaxInteger = std::numeric_limits<std::int64_t>::max();

// A value as it appears in an error message: malformed UTF-8 is replaced, never thrown on.
std::string shown(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

CommandError invalid(const std::string& message) {
  return CommandError(CommandError::Kind::InvalidInput, message);
}

// ---- argument schema builders: one line per argument in the table below

ArgSpec text(std::string name, std::string help, bool required = true, Json fallback = nullptr,
             std::int64_t max = static_cast<std::int64_t>(limits::kMaxPayloadBytes)) {
  ArgSpec spec;
  spec.name = std::move(name);
  spec.type = ArgType::String;
  spec.required = required;
  spec.positional = true;
  spec.fallback = std::move(fallback);
  spec.max = max;
  spec.help = std::move(help);
  return spec;
}

ArgSpec instance_arg() {
  return text("instance", "the instance id", true, nullptr, static_cast<std::int64_t>(limits::kMaxIdentifierBytes));
}

ArgSpec integer(std::string name, std::string help, Json fallback, std::int64_t min, std::int64_t max) {
  ArgSpec spec;
  spec.name = std::move(name);
  spec.type = ArgType::Integer;
  spec.fallback = std::move(fallback);
  spec.min = min;
  spec.max = max;
  spec.help = std::move(help);
  return spec;
}

ArgSpec duration(std::string name, std::string help, Json fallback, std::int64_t min, std::int64_t max) {
  ArgSpec spec = integer(std::move(name), std::move(help), std::move(fallback), min, max);
  spec.type = ArgType::Duration;
  return spec;
}

ArgSpec boolean(std::string name, std::string help) {
  ArgSpec spec;
  spec.name = std::move(name);
  spec.type = ArgType::Boolean;
  spec.fallback = false;
  spec.help = std::move(help);
  return spec;
}

ArgSpec choice(std::string name, std::vector<std::string> choices, std::string fallback, std::string help) {
  ArgSpec spec;
  spec.name = std::move(name);
  spec.type = ArgType::Choice;
  spec.choices = std::move(choices);
  spec.fallback = std::move(fallback);
  spec.help = std::move(help);
  return spec;
}

ArgSpec id_list(std::string name, std::string help, bool required) {
  ArgSpec spec;
  spec.name = std::move(name);
  spec.type = ArgType::StringList;
  spec.required = required;
  spec.positional = required;
  spec.max = kMaxListItems;
  spec.help = std::move(help);
  return spec;
}

// A list of ids that are positive integers (at most kMaxListItems of them).
ArgSpec integer_list(std::string name, std::string help, bool required) {
  ArgSpec spec = id_list(std::move(name), std::move(help), required);
  spec.type = ArgType::IntegerList;
  spec.min = 1;
  return spec;
}

ArgSpec filter_arg(bool positional = true) {
  ArgSpec spec;
  spec.name = "filter";
  spec.type = ArgType::Filter;
  spec.positional = positional;
  spec.fallback = Json::object();
  spec.help = "which instances: {states, name, version, prefix, parent, rootsOnly, createdFromMs, "
              "createdToMs, updatedFromMs, updatedToMs, readyWorkBeforeMs, contains, tenant}";
  return spec;
}

ArgSpec positional(ArgSpec spec) {
  spec.positional = true;
  return spec;
}

ArgSpec required(ArgSpec spec) {
  spec.required = true;
  return spec;
}

ArgSpec flag(ArgSpec spec) {
  spec.positional = false;
  return spec;
}

ArgSpec aliased(ArgSpec spec, std::vector<std::string> aliases) {
  spec.cli_aliases = std::move(aliases);
  return spec;
}

ArgSpec limit_arg(std::int64_t fallback) {
  return integer("limit", "at most this many items", fallback, 1, kMaxListItems);
}

ArgSpec continuation_arg() {
  return flag(text("continuation", "go on from the previous call's continuation", false, ""));
}

ArgSpec prune_before_arg() {
  return integer("completedBeforeMs", "only executions finished before this (ms since the epoch; 0: any)", 0, 0, kMaxInteger);
}

// A bulk control command's own arguments, then those every one takes (bulk.hpp).
std::vector<ArgSpec> with_bulk_args(std::vector<ArgSpec> args) {
  args.push_back(flag(id_list("instances", "these ids instead of the filter (at most 1000)", false)));
  args.push_back(integer("batch", "instances per call of a filtered walk", 100, 1, static_cast<std::int64_t>(kMaxBulkBatch)));
  args.push_back(continuation_arg());
  args.push_back(boolean("dryRun", "list what would be touched, change nothing"));
  return args;
}

constexpr const char* kBulkReturns = "{items: [{instance, ok, error}], succeeded, failed, continuation, dry_run}";
constexpr const char* kDeleteReturns = "{instances, executions, events, queue_items, denied, continuation, dry_run}";

ArgSpec timeout_arg() {
  return positional(duration("timeoutMs", "how long to wait (ms, or 30s, 5m, ...)", 60'000, 0, kMaxTimeoutMs));
}

std::vector<ArgSpec> threshold_args() {
  const HealthThresholds defaults;
  return {duration("longRunningMs", "running longer than this is long-running (ms, or 1h, ...)", defaults.long_running_ms, 1,
                   kMaxInteger),
          duration("noProgressMs", "running with work ready this long and not taken is stuck (ms, or 10m, ...)",
                   defaults.no_progress_ms, 1, kMaxInteger),
          duration("recentFailureWindowMs", "failures this recent count (ms, or 1h, ...)",
                   defaults.recent_failure_window_ms, 1, kMaxInteger)};
}

// ---- reading checked arguments

const std::string& str(const Json& args, const char* name) { return args.at(name).get_ref<const std::string&>(); }
std::int64_t num(const Json& args, const char* name) { return args.at(name).get<std::int64_t>(); }
std::size_t count(const Json& args, const char* name) { return static_cast<std::size_t>(num(args, name)); }
bool yes(const Json& args, const char* name) { return args.at(name).get<bool>(); }
std::vector<std::string> list(const Json& args, const char* name) {
  return args.contains(name) ? args.at(name).get<std::vector<std::string>>() : std::vector<std::string>{};
}
InstanceFilter filter(const Json& args) { return filter_from_json(args.at("filter")); }
TimestampMs now(Clients& clients) { return clients.pacer.now_ms(); }
InstanceOrder order(const Json& args) {
  const std::string& sort = str(args, "sort");
  if (sort == "created-asc") return InstanceOrder::CreatedAsc;
  if (sort == "updated-desc") return InstanceOrder::UpdatedDesc;
  if (sort == "updated-asc") return InstanceOrder::UpdatedAsc;
  if (sort == "duration-desc") return InstanceOrder::DurationDesc;
  if (sort == "duration-asc") return InstanceOrder::DurationAsc;
  return InstanceOrder::CreatedDesc;  // the choice's checked fallback
}

HealthThresholds thresholds(const Json& args) {
  HealthThresholds out;
  out.long_running_ms = num(args, "longRunningMs");
  out.no_progress_ms = num(args, "noProgressMs");
  out.recent_failure_window_ms = num(args, "recentFailureWindowMs");
  return out;
}

// ---- JSON of results json_views does not cover

Json statuses_json(const std::vector<std::pair<std::string, OrchestrationStatus>>& statuses) {
  Json out = Json::array();
  for (const auto& [id, status] : statuses) out.push_back(json_views::status(id, status));
  return out;
}

BulkRequest bulk_request(const Json& args) {
  BulkRequest request;
  request.instances = list(args, "instances");
  request.filter = filter(args);
  request.batch = count(args, "batch");
  request.continuation = str(args, "continuation");
  request.dry_run = yes(args, "dryRun");
  return request;
}

PruneOptions prune_options(const Json& args) {
  return PruneOptions{count(args, "keepLast"), num(args, "completedBeforeMs")};
}

Json bulk_json(const BulkResult& result) {
  Json items = Json::array();
  for (const auto& r : result.items) items.push_back({{"instance", r.instance}, {"ok", r.ok}, {"error", r.error}});
  return Json{{"items", std::move(items)}, {"succeeded", result.succeeded}, {"failed", result.failed},
              {"continuation", result.continuation}, {"dry_run", result.dry_run}};
}

Json deleted_json(const DeleteResult& result, bool dry_run = false) {
  return Json{{"instances", result.instances}, {"executions", result.executions}, {"events", result.events},
              {"queue_items", result.queue_items}, {"denied", result.denied}, {"continuation", result.continuation},
              {"dry_run", dry_run}};
}

Json tree_json(const InstanceTree& node) {
  Json children = Json::array();
  for (const auto& child : node.children) children.push_back(tree_json(child));
  Json out = json_views::summary(node.root);
  out["children"] = std::move(children);
  return out;
}

Json changes_json(const ChangePage& page) {
  Json changes = Json::array();
  for (const auto& c : page.changes) {
    changes.push_back({{"seq", c.seq}, {"instance", c.instance},
                       {"status", c.deleted ? std::string("Deleted") : std::string(to_string(c.state))},
                       {"execution", c.execution_id}, {"custom_status_version", c.custom_status_version},
                       {"changed_at_ms", c.changed_at_ms}});
  }
  return Json{{"changes", changes}, {"next_cursor", page.next_cursor}};
}

Json durations_json(const DurationStats& d) {
  return Json{{"count", d.count}, {"min_ms", d.min_ms}, {"avg_ms", d.avg_ms}, {"p50_ms", d.p50_ms},
              {"p95_ms", d.p95_ms}, {"p99_ms", d.p99_ms}, {"max_ms", d.max_ms}};
}

Json metrics_json(const SystemMetrics& m) {
  return Json{{"total_instances", m.total_instances}, {"running", m.running}, {"completed", m.completed},
              {"failed", m.failed}, {"total_executions", m.total_executions}, {"total_events", m.total_events}};
}

Json problems_json(const ProblematicInstances& p) {
  return Json{{"long_running", json_views::summaries(p.long_running)},
              {"no_progress", json_views::summaries(p.no_progress)},
              {"recently_failed", json_views::summaries(p.recently_failed)}};
}

// ---- handlers that need more than one line

Json wait_for_status_change(const Json& args, Clients& c) {
  auto change = c.runtime.wait_for_status_change(str(args, "instance"),
                                                 static_cast<std::uint64_t>(num(args, "sinceVersion")),
                                                 num(args, "timeoutMs"), c.pacer);
  if (!change) return nullptr;
  return Json{{"custom_status", change->status ? Json(*change->status) : Json(nullptr)},
              {"custom_status_version", change->version}};
}

Json optional_text(const std::optional<std::string>& value) { return value ? Json(*value) : Json(nullptr); }

Json string_map(const std::map<std::string, std::string>& values) {
  Json out = Json::object();
  for (const auto& [key, value] : values) out[key] = value;
  return out;
}

Json instance_stats(const Json& args, Clients& c) {
  const std::optional<InstanceStats> stats = c.management.get_instance_stats(str(args, "instance"));
  if (!stats) return nullptr;
  return Json{{"execution_id", stats->execution_id},
              {"history_event_count", stats->history_event_count},
              {"history_size_bytes", stats->history_size_bytes},
              {"queue_pending_count", stats->queue_pending_count},
              {"carry_forward_count", stats->carry_forward_count},
              {"kv_user_key_count", stats->kv_user_key_count},
              {"kv_total_value_bytes", stats->kv_total_value_bytes}};
}

Json read_execution(const Json& args, Clients& c) {
  const std::string& instance = str(args, "instance");
  auto execution = static_cast<ExecutionId>(num(args, "execution"));
  if (execution == 0) {  // the current execution
    const auto executions = c.management.list_executions(instance);
    if (executions.empty()) throw ClientError(ClientError::Kind::NotFound, "instance " + instance + " does not exist");
    execution = executions.back().execution_id;
  }
  EventQuery query;
  for (const auto& name : list(args, "kinds")) {
    EventKind kind{};
    if (!parse_event_kind(name, kind)) throw invalid("kinds: \"" + name + "\" is not an event kind");
    query.kinds.push_back(kind);
  }
  query.from_event_id = static_cast<EventId>(num(args, "fromEventId"));
  query.to_event_id = static_cast<EventId>(num(args, "toEventId"));
  query.from_ms = num(args, "fromMs");
  query.to_ms = num(args, "toMs");
  query.limit = count(args, "limit");
  return json_views::history(c.management.read_execution(instance, execution, query));
}

Json get_execution_info(const Json& args, Clients& c) {
  auto info = c.management.get_execution_info(str(args, "instance"), static_cast<ExecutionId>(num(args, "execution")));
  return info ? json_views::execution(*info) : Json(nullptr);
}

Json delete_instances(const Json& args, Clients& c) {
  BulkDeleteRequest request;
  request.instances = list(args, "instances");
  request.filter = filter(args);
  request.completed_before_ms = num(args, "completedBeforeMs");
  request.limit = count(args, "limit");
  request.continuation = str(args, "continuation");
  request.dry_run = yes(args, "dryRun");
  return deleted_json(c.management.delete_instances(request), request.dry_run);
}

// A positive limit is one batch; 0 walks every batch in this call.
Json purge_completed(const Json& args, Clients& c) {
  const bool dry_run = yes(args, "dryRun");
  const PurgeBatch batch{count(args, "limit"), str(args, "continuation"), dry_run};
  return deleted_json(c.management.purge_completed(now(c) - num(args, "olderThanMs"), batch), dry_run);
}

Json get_time_series(const Json& args, Clients& c) {
  TimeSeriesMetric metric{};
  parse_time_series_metric(str(args, "metric"), metric);  // a checked choice
  TimeSeriesQuery::Bucket bucket{};
  parse_time_series_bucket(str(args, "bucket"), bucket);
  // Default window: the last 60 minutes or 24 hours, the current bucket included.
  const bool hours = bucket == TimeSeriesQuery::Bucket::Hour;
  const std::int64_t width = hours ? 3'600'000 : 60'000;
  const std::int64_t to = args.contains("toMs") ? num(args, "toMs") : (now(c) / width + 1) * width;
  const std::int64_t from =
      args.contains("fromMs") ? num(args, "fromMs") : std::max<std::int64_t>(0, to - (hours ? 24 : 60) * width);
  if (to <= from) throw invalid("toMs (" + std::to_string(to) + ") must be after fromMs (" + std::to_string(from) + ")");
  return json_views::time_series(c.management.get_time_series(metric, str(args, "orchestration"), from, to, bucket));
}

// Every execution, or a page of them (after an id, at most `limit`).
Json list_executions(const Json& a, Clients& c) {
  Json out = Json::array();
  const std::string instance = str(a, "instance");
  const auto after = static_cast<ExecutionId>(num(a, "after"));
  const auto limit = static_cast<std::size_t>(num(a, "limit"));
  if (limit == 0 && after != 0) throw invalid("after needs a limit");
  for (const auto& e : limit == 0 ? c.management.list_executions(instance)
                                  : c.management.list_executions(instance, after, limit)) {
    out.push_back(json_views::execution(e));
  }
  return out;
}

// Export documents written one per line, as a JSON array of the documents.
Json documents_json(const std::string& lines) {
  Json out = Json::array();
  for (const std::string& line : split_json_lines(lines)) {
    if (!line.empty()) out.push_back(Json::parse(line));
  }
  return out;
}

Json import_instance(const Json& args, Clients& c) {
  const Json& data = args.at("data");
  if (data.is_string()) return c.management.import_instance(data.get<std::string>());
  std::string text;
  try {
    text = data.dump();
  } catch (const Json::type_error&) {
    throw invalid("data holds text that is not valid UTF-8");
  }
  return c.management.import_instance(text);
}

// ---- the table

std::vector<Command> runtime_commands() {
  using K = ClientKind;
  return {
      {"start-orchestration", K::Runtime,
       {instance_arg(), text("orchestration", "the registered orchestration name", true, nullptr, static_cast<std::int64_t>(limits::kMaxNameBytes)),
        text("input", "the input", false, ""), flag(text("version", "MAJOR.MINOR.PATCH (default: the registry's policy)", false, "", static_cast<std::int64_t>(limits::kMaxVersionBytes)))},
       "Queues the start of a new instance.", "the instance id",
       [](const Json& a, Clients& c) -> Json {
         c.runtime.start_orchestration(str(a, "instance"), str(a, "orchestration"), str(a, "input"), str(a, "version"));
         return str(a, "instance");
       }, {"start"}},
      {"raise-event", K::Runtime, {instance_arg(), text("event", "the event name", true, nullptr, static_cast<std::int64_t>(limits::kMaxNameBytes)), text("data", "the event data", false, "")},
       "Raises an external event on an instance.", "null",
       [](const Json& a, Clients& c) -> Json {
         c.runtime.raise_event(str(a, "instance"), str(a, "event"), str(a, "data"));
         return nullptr;
       }, {"raise"}},
      {"enqueue-event", K::Runtime, {instance_arg(), text("queue", "the queue name", true, nullptr, static_cast<std::int64_t>(limits::kMaxNameBytes)), text("data", "the message", false, "")},
       "Adds a message to an instance's event queue.", "null",
       [](const Json& a, Clients& c) -> Json {
         c.runtime.enqueue_event(str(a, "instance"), str(a, "queue"), str(a, "data"));
         return nullptr;
       }, {"enqueue"}},
      {"cancel-instance", K::Runtime, {instance_arg(), text("reason", "why", false, "canceled")},
       "Cancels a running instance and its children; it ends Failed with \"canceled: <reason>\".",
       "true if a cancel was sent, false if the instance had already finished",
       [](const Json& a, Clients& c) -> Json { return c.runtime.cancel_instance(str(a, "instance"), str(a, "reason")); },
       {"cancel"}},
      {"get-status", K::Runtime, {instance_arg()}, "The instance's status.", "{instance, status, output?, error, custom_status, custom_status_version}",
       [](const Json& a, Clients& c) { return json_views::status(str(a, "instance"), c.runtime.get_status(str(a, "instance"))); },
       {"status"}},
      {"wait-for-orchestration", K::Runtime, {instance_arg(), timeout_arg()},
       "Waits (driving the runtime) until the instance finishes or timeoutMs pass.", "the status",
       [](const Json& a, Clients& c) {
         const std::string& id = str(a, "instance");
         return json_views::status(id, c.runtime.wait_for_orchestration(id, num(a, "timeoutMs"), c.pacer));
       }, {}},
      {"wait-for-status-change", K::Runtime,
       {instance_arg(), positional(integer("sinceVersion", "the custom status version already seen", 0, 0, kMaxInteger)), timeout_arg()},
       "Waits until the custom status version exceeds sinceVersion.", "{custom_status, custom_status_version}, or null on timeout",
       wait_for_status_change, {}},
      {"get-value", K::Runtime, {instance_arg(), text("key", "the key", true, nullptr, limits::kMaxKvKeyBytes)},
       "A value of the instance's key-value store, as its last committed turn left it.", "the value, or null",
       [](const Json& a, Clients& c) { return optional_text(c.runtime.get_value(str(a, "instance"), str(a, "key"))); },
       {}},
      {"get-all-values", K::Runtime, {instance_arg()},
       "The instance's whole key-value store.", "{key: value}",
       [](const Json& a, Clients& c) { return string_map(c.runtime.get_all_values(str(a, "instance"))); }, {}},
      {"wait-for-value", K::Runtime, {instance_arg(), text("key", "the key", true, nullptr, limits::kMaxKvKeyBytes), timeout_arg()},
       "Waits (driving the runtime) until the key has a value or timeoutMs pass.", "the value, or null on timeout",
       [](const Json& a, Clients& c) {
         return optional_text(c.runtime.wait_for_value(str(a, "instance"), str(a, "key"), num(a, "timeoutMs"), c.pacer));
       }, {}},
      {"wait-for-instances", K::Runtime, {id_list("instances", "the instance ids", true), timeout_arg()},
       "Waits (driving the runtime) until every instance finishes or timeoutMs pass.", "[status] in order",
       [](const Json& a, Clients& c) { return statuses_json(c.runtime.wait_for_instances(list(a, "instances"), num(a, "timeoutMs"), c.pacer)); },
       {"wait"}},
  };
}

// Bulk control: paged walks over running instances (bulk.hpp).
std::vector<Command> bulk_commands() {
  using K = ClientKind;
  return {
      {"cancel-instances", K::Runtime, with_bulk_args({filter_arg(), text("reason", "why", false, "canceled")}),
       "Cancels running instances: the ids given, or a batch of the filter's matches.", kBulkReturns,
       [](const Json& a, Clients& c) { return bulk_json(c.runtime.cancel_instances(bulk_request(a), str(a, "reason"))); },
       {"cancel-many"}, true},
      {"raise-event-bulk", K::Runtime,
       with_bulk_args({filter_arg(), text("event", "the event name", true, nullptr, static_cast<std::int64_t>(limits::kMaxNameBytes)), text("data", "the event data", false, "")}),
       "Raises an event on running instances: the ids given, or a batch of the filter's matches.", kBulkReturns,
       [](const Json& a, Clients& c) {
         return bulk_json(c.runtime.raise_event_bulk(bulk_request(a), str(a, "event"), str(a, "data")));
       }, {"raise-many"}, true},
      {"enqueue-event-bulk", K::Runtime,
       with_bulk_args({filter_arg(), text("queue", "the queue name", true, nullptr, static_cast<std::int64_t>(limits::kMaxNameBytes)), text("data", "the message", false, "")}),
       "Enqueues a message on running instances: the ids given, or a batch of the filter's matches.", kBulkReturns,
       [](const Json& a, Clients& c) {
         return bulk_json(c.runtime.enqueue_event_bulk(bulk_request(a), str(a, "queue"), str(a, "data")));
       }, {"enqueue-many"}, true},
      {"wait-for-instances-bulk", K::Runtime, with_bulk_args({filter_arg(), flag(timeout_arg())}),
       "Waits (driving the runtime), within timeoutMs per call, until the ids given or a batch of the filter's "
       "matches have finished; one still running at the deadline is a failed item.",
       kBulkReturns,
       [](const Json& a, Clients& c) {
         return bulk_json(c.runtime.wait_for_instances_bulk(bulk_request(a), num(a, "timeoutMs"), c.pacer));
       }, {"wait-many"}, true},
  };
}

std::vector<Command> instance_commands() {
  using K = ClientKind;
  return {
      {"list-instances", K::Management,
       {filter_arg(), flag(text("cursor", "from a previous page's next_cursor", false, "")), limit_arg(50),
        flag(choice("sort", {"created-desc", "created-asc", "updated-desc", "updated-asc", "duration-desc", "duration-asc"},
                    "created-desc",
                    "the order: by creation time, last update time or duration (update minus creation), "
                    "largest (desc) or smallest (asc) first"))},
       std::string("A page of instance summaries, newest first unless sorted otherwise; a search (contains) reads at most ") +
           std::to_string(kMaxContainsScan) + " instances a call, so its page may end short with a next_cursor to go on.",
       "{instances: [summary], next_cursor}",
       [](const Json& a, Clients& c) {
         SummaryPage page = c.management.list_instances(filter(a), {str(a, "cursor"), count(a, "limit"), order(a)});
         return Json{{"instances", json_views::summaries(page.instances)}, {"next_cursor", page.next_cursor}};
       }, {"instances"}},
      {"count-instances", K::Management, {filter_arg()}, "How many instances the filter matches.", "a number",
       [](const Json& a, Clients& c) -> Json { return c.management.count_instances(filter(a)); }, {}},
      {"count-by-status", K::Management, {filter_arg()}, "Instances per status.", "{Running: n, Completed: n, Failed: n}",
       [](const Json& a, Clients& c) { return json_views::counts(c.management.count_by_status(filter(a))); }, {}},
      {"find-child-instances", K::Management, {instance_arg()}, "The instance's sub-orchestrations.", "[summary]",
       [](const Json& a, Clients& c) { return json_views::summaries(c.management.find_child_instances(str(a, "instance"))); }, {}},
      {"get-instance-tree", K::Management, {instance_arg()}, "The instance and its sub-orchestrations, nested.",
       "summary with children: [..]",
       [](const Json& a, Clients& c) { return tree_json(c.management.get_instance_tree(str(a, "instance"))); }, {"tree"}},
      {"get-instance-details", K::Management, {instance_arg()},
       "Summary, executions and the pending work of a running instance.", "summary with execution_list and pending",
       [](const Json& a, Clients& c) { return json_views::details(c.management.get_instance_details(str(a, "instance"))); },
       {"show"}},
      {"list-executions", K::Management,
       {instance_arg(), integer("after", "only executions with a higher id (0: from the first)", 0, 0, kMaxInteger),
        integer("limit", "at most this many, ascending (0: all; next page: after = the last id)", 0, 0,
                static_cast<std::int64_t>(kMaxExecutionPage))},
       "The instance's executions, paged by the store when a limit is given.", "[execution]",
       list_executions, {}},
      {"get-instance-stats", K::Management, {instance_arg()},
       "What one instance holds: current execution, its history events and bytes, queued messages, messages in its "
       "history no wait has taken yet (what a continue-as-new would carry forward), key-value usage.",
       "{execution_id, history_event_count, history_size_bytes, queue_pending_count, carry_forward_count, "
       "kv_user_key_count, kv_total_value_bytes}, or null",
       instance_stats, {}},
      {"get-execution-info", K::Management,
       {instance_arg(), required(positional(integer("execution", "the execution id", nullptr, 1, kMaxInteger)))},
       "One execution of the instance.", "execution, or null when there is none", get_execution_info, {}},
      {"read-execution", K::Management,
       {instance_arg(), positional(integer("execution", "the execution id (0: the current one)", 0, 0, kMaxInteger)),
        id_list("kinds", "only these event kinds", false),
        integer("fromEventId", "first event id (0: the first)", 0, 0, kMaxInteger),
        integer("toEventId", "last event id (0: the last)", 0, 0, kMaxInteger),
        integer("fromMs", "events written at or after (ms since the epoch; 0: any)", 0, 0, kMaxInteger),
        integer("toMs", "events written before (ms since the epoch; 0: any)", 0, 0, kMaxInteger),
        integer("limit", "at most this many events, in event-id order (0: all; next page: fromEventId = last + 1)", 0, 0,
                static_cast<std::int64_t>(kMaxEventPage))},
       "The events of one execution, filtered and paged by the store.", "[event]", read_execution, {"history"}},
      {"get-bulk-status", K::Management, {id_list("instances", "the instance ids", true)},
       "One status per id, in order (unknown ids: NotFound).", "[status]",
       [](const Json& a, Clients& c) { return statuses_json(c.management.get_bulk_status(list(a, "instances"))); },
       {"statuses"}},
      {"export-instance", K::Management, {instance_arg()},
       "The instance, its executions and histories as one JSON document.", "the document",
       [](const Json& a, Clients& c) { return Json::parse(c.management.export_instance(str(a, "instance"))); }, {"export"}},
  };
}

Json list_sessions(const Json& a, Clients& c) {
  Json out = Json::array();
  for (const SessionInfo& session : c.management.list_sessions(str(a, "after"), count(a, "limit"))) {
    out.push_back(json_views::session(session));
  }
  return out;
}

Json list_parked_messages(const Json& a, Clients& c) {
  Json out = Json::array();
  for (const ParkedMessage& message : c.management.list_parked_messages(num(a, "afterId"), count(a, "limit"))) {
    out.push_back(json_views::parked_message(message));
  }
  return out;
}

std::vector<Command> observe_commands() {
  using K = ClientKind;
  std::vector<ArgSpec> problem_args = threshold_args();
  problem_args.insert(problem_args.begin(), limit_arg(100));
  return {
      {"get-system-metrics", K::Management, {}, "Store-wide totals.",
       "{total_instances, running, completed, failed, total_executions, total_events}",
       [](const Json&, Clients& c) { return metrics_json(c.management.get_system_metrics()); }, {}},
      {"get-queue-depths", K::Management, {}, "Queue depths, due timers and the oldest waiting item's age.", "queues",
       [](const Json&, Clients& c) { return json_views::queues(c.management.get_queue_depths()); }, {"queues"}},
      {"list-sessions", K::Management,
       {flag(text("after", "the page starts past the session with this id (default: from the first)", false, "")),
        integer("limit", "at most this many sessions", 100, 1, static_cast<std::int64_t>(kMaxSessionPage))},
       "The activity sessions the store keeps: which runtime holds each, until when, its queued items.",
       "[{session_id, owner_id, locked_until_ms, claimed_at_ms, held, queued_items}]",
       list_sessions, {"sessions"}},
      {"list-parked-messages", K::Management,
       {integer("afterId", "the page starts past the message with this id (default: from the first)", 0, 0, kMaxInteger),
        integer("limit", "at most this many messages", 100, 1, static_cast<std::int64_t>(kMaxParkedPage))},
       "The messages the store parked because nothing would consume them, oldest first, with their items.",
       "[{id, instance, reason, parked_at_ms, item}]",
       list_parked_messages, {"parked"}},
      {"get-provider-diagnostics", K::Management, {}, "The store: versions, sizes, checkpoints, row counts, errors, latency.",
       "diagnostics",
       [](const Json&, Clients& c) { return json_views::diagnostics(c.management.get_provider_diagnostics()); }, {"diagnostics"}},
      {"get-orchestration-stats", K::Management, {text("name", "one orchestration (default: all)", false, "", static_cast<std::int64_t>(limits::kMaxNameBytes))},
       "Per-orchestration counts.", "[{name, running, completed, failed, continued}]",
       [](const Json& a, Clients& c) { return json_views::orchestration_stats(c.management.get_orchestration_stats(str(a, "name"))); }, {}},
      {"get-activity-stats", K::Management, {text("name", "one activity (default: all)", false, "", static_cast<std::int64_t>(limits::kMaxNameBytes))},
       "Per-activity counts.", "[{name, scheduled, completed, failed, failure_rate, avg_duration_ms}]",
       [](const Json& a, Clients& c) { return json_views::activity_stats(c.management.get_activity_stats(str(a, "name"))); }, {}},
      {"get-performance-metrics", K::Management,
       {text("name", "the orchestration", true, nullptr, static_cast<std::int64_t>(limits::kMaxNameBytes)), integer("sinceMs", "executions started at or after (ms since the epoch)", 0, 0, kMaxInteger)},
       "Duration percentiles of finished executions.", "{count, min_ms, avg_ms, p50_ms, p95_ms, p99_ms, max_ms}",
       [](const Json& a, Clients& c) { return durations_json(c.management.get_performance_metrics(str(a, "name"), num(a, "sinceMs"))); }, {}},
      {"get-system-health", K::Management, threshold_args(),
       "Counts, long-running, stuck and recently failed instances, queues and a 0-100 score.",
       "{score, counts, long_running, no_progress, recent_failures, queues}",
       [](const Json& a, Clients& c) { return json_views::health(c.management.get_system_health(now(c), thresholds(a))); }, {"health"}},
      {"get-problematic-instances", K::Management, problem_args,
       "The long-running, no-progress and recently failed instances.", "{long_running, no_progress, recently_failed}",
       [](const Json& a, Clients& c) {
         return problems_json(c.management.get_problematic_instances(now(c), thresholds(a), count(a, "limit")));
       }, {"problems"}},
      {"changes-since", K::Management,
       {aliased(positional(integer("cursor", "a change-feed position (0: the beginning)", 0, 0, kMaxInteger)), {"since"}), limit_arg(100)},
       "Instance status changes after the cursor, oldest first.", "{changes: [{seq, instance, status, ...}], next_cursor}",
       [](const Json& a, Clients& c) { return changes_json(c.management.changes_since(static_cast<std::uint64_t>(num(a, "cursor")), count(a, "limit"))); },
       {"changes"}},
      {"get-time-series", K::Management,
       {choice("metric", {"starts", "completions", "failures", "duration", "all"}, "all", "which metric"),
        aliased(flag(text("orchestration", "one orchestration (default: all summed)", false, "", static_cast<std::int64_t>(limits::kMaxNameBytes))), {"name"}),
        choice("bucket", {"minute", "hour"}, "minute", "bucket width"),
        aliased(integer("fromMs", "window start (default: 60 minutes / 24 hours before toMs)", nullptr, 0, kMaxInteger), {"from"}),
        aliased(integer("toMs", "window end (default: the end of the current bucket)", nullptr, 0, kMaxInteger), {"to"})},
       "Starts, completions, failures and durations per bucket of [fromMs, toMs).", "time series", get_time_series,
       {"timeseries"}},
      {"watch-metrics", K::Management,
       {aliased(positional(integer("cursor", "a change-feed position (0: the beginning)", 0, 0, kMaxInteger)), {"since"}),
        positional(limit_arg(100))},
       "The time-series deltas recorded after the cursor.", "{deltas: [..], next_cursor}",
       [](const Json& a, Clients& c) {
         return json_views::metric_deltas(c.management.watch_metrics(static_cast<std::uint64_t>(num(a, "cursor")), count(a, "limit")));
       }, {}},
  };
}

std::vector<Command> change_commands() {
  using K = ClientKind;
  return {
      {"delete-parked-messages", K::Management, {integer_list("ids", "the parked messages' ids (list-parked-messages)", true)},
       "Deletes parked messages by id; unknown ids are skipped.", "{deleted}",
       [](const Json& a, Clients& c) {
         return Json{{"deleted", c.management.delete_parked_messages(a.at("ids").get<std::vector<std::int64_t>>())}};
       },
       {}},
      {"delete-instance", K::Management, {instance_arg(), boolean("force", "delete even if running")},
       "Deletes an instance and its sub-orchestrations.", "{instances, executions, events, queue_items, denied}",
       [](const Json& a, Clients& c) { return deleted_json(c.management.delete_instance(str(a, "instance"), yes(a, "force"))); },
       {"delete"}},
      {"delete-instances", K::Management,
       {flag(id_list("instances", "these ids (with their trees)", false)), filter_arg(false),
        integer("completedBeforeMs", "only those last updated before (ms since the epoch; 0: any)", 0, 0, kMaxInteger),
        integer("limit", "at most this many instances a call (the CLI walks every call; --one-page: one)", 1000, 1, 100'000),
        continuation_arg(),
        boolean("dryRun", "count what would be deleted, delete nothing")},
       "Deletes finished root instances by id or filter, either narrowed by completedBeforeMs.", kDeleteReturns, delete_instances, {}, true},
      {"prune-executions", K::Management,
       {instance_arg(), aliased(required(positional(integer("keepLast", "how many of the newest executions to keep", nullptr, 0, kMaxInteger))), {"keep"}),
        prune_before_arg()},
       "Deletes all but the newest keepLast executions (never the running one); with completedBeforeMs, only those finished before it.",
       "{instance, pruned, events_pruned}",
       [](const Json& a, Clients& c) {
         const PruneResult result = c.management.prune_executions(str(a, "instance"), prune_options(a));
         return Json{{"instance", str(a, "instance")}, {"pruned", result.executions}, {"events_pruned", result.events}};
       }, {"prune"}},
      {"prune-executions-bulk", K::Management,
       with_bulk_args({filter_arg(),
                       aliased(required(integer("keepLast", "how many of the newest executions to keep", nullptr, 1, kMaxInteger)),
                               {"keep"}),
                       prune_before_arg()}),
       "Prunes old executions of many instances: the ids given, or a batch of the filter's matches.",
       "{items: [{instance, ok, error}], succeeded, failed, continuation, dry_run, executions_pruned, events_pruned}",
       [](const Json& a, Clients& c) {
         const BulkResult result = c.management.prune_executions_bulk(bulk_request(a), prune_options(a));
         Json out = bulk_json(result);
         out["executions_pruned"] = result.executions_pruned;
         out["events_pruned"] = result.events_pruned;
         return out;
       }, {"prune-many"}, true},
      {"purge-completed", K::Management,
       {aliased(required(positional(duration("olderThanMs", "not updated for this long (ms, or 7d, 12h, ...)", nullptr, 0,
                                              kMaxInteger))),
                {"older-than"}),
        integer("limit", "at most this many instances a call (0: all; the CLI walks every call; --one-page: one)", 0, 0,
                100'000),
        continuation_arg(),
        boolean("dryRun", "count what would be deleted, delete nothing")},
       "Deletes finished instances not updated for olderThanMs.", kDeleteReturns, purge_completed, {"purge"}, true},
      {"import-instance", K::Management, {[] {
         ArgSpec data = text("data", "a document written by export-instance (CLI: a file name)", true, nullptr,
                             static_cast<std::int64_t>(limits::kMaxJsonDocumentBytes));
         data.type = ArgType::Document;
         return data;
       }()},
       "Imports a document written by export-instance; the id must not exist.", "the instance id", import_instance,
       {"import"}},
  };
}

// Whole trees and filtered sets as JSON lines (export documents one per line).
std::vector<Command> transfer_commands() {
  using K = ClientKind;
  return {
      {"export-tree", K::Management, {instance_arg()},
       "The instance and its descendants as export documents, the root first (CLI --format jsonl: one per line).",
       "[document]", [](const Json& a, Clients& c) { return documents_json(c.management.export_tree(str(a, "instance"))); },
       {}},
      {"export-instances", K::Management, with_bulk_args({filter_arg()}),
       "Export documents of the ids given, or of a batch of the filter's matches (any state unless it names "
       "states); CLI --format jsonl: one per line.",
       "{documents: [document], items, succeeded, failed, continuation, dry_run}",
       [](const Json& a, Clients& c) {
         ManagementClient::ExportPage page = c.management.export_instances(bulk_request(a));
         Json out = bulk_json(page.result);
         out["documents"] = documents_json(page.lines);
         return out;
       }, {}, true},
      {"import-instances", K::Management, {[] {
         ArgSpec data = text("data", "export documents, one per line (JSON lines; CLI: a file name)", true, nullptr,
                             static_cast<std::int64_t>(limits::kMaxJsonDocumentBytes));
         data.type = ArgType::Document;
         return data;
       }()},
       "Imports each line as import-instance does; a line that fails is an item error, the others import.",
       kBulkReturns,
       [](const Json& a, Clients& c) {
         const Json& data = a.at("data");
         if (!data.is_string()) throw invalid("data must be JSON lines text");
         return bulk_json(c.management.import_instances(data.get<std::string>()));
       }, {}},
  };
}

std::vector<Command> build_table() {
  std::vector<Command> table;
  for (auto part : {runtime_commands, bulk_commands, instance_commands, observe_commands, change_commands,
                    transfer_commands}) {
    for (auto& command : part()) {
      for (const auto& arg : command.args) {
        DUROXIDE_ASSERT(!arg.required || arg.fallback.is_null(), "a required argument has no default");
        DUROXIDE_ASSERT(std::count_if(command.args.begin(), command.args.end(),
                                      [&](const ArgSpec& other) { return other.name == arg.name; }) == 1,
                        "argument names are unique within a command");
      }
      table.push_back(std::move(command));
    }
  }
  return table;
}

// ---- checking arguments

// A duration's text as ms (parse_duration_ms); `overflow` tells a well-formed one over
// INT64_MAX ms from a malformed one.
std::optional<std::int64_t> read_duration(std::string_view text, bool& overflow) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start || i - start > 15) return std::nullopt;
    const std::int64_t n = std::stoll(std::string(text.substr(start, i - start)));
    const std::size_t unit_start = i;
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    std::int64_t scale = 0;
    if (unit == "ms" || (unit.empty() && start == 0 && i == text.size())) scale = 1;
    else if (unit == "s") scale = 1'000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    else return std::nullopt;
    if (n > (kMaxInteger - total) / scale) {
      overflow = true;
      return std::nullopt;
    }
    total += n * scale;
  }
  return total;
}

// A Duration argument's text as ms; anything else is InvalidInput naming the argument.
std::int64_t parse_duration(const ArgSpec& spec, const Json& value) {
  bool overflow = false;
  const std::optional<std::int64_t> ms = read_duration(value.get_ref<const std::string&>(), overflow);
  if (overflow) throw invalid(spec.name + " is over the limit of " + std::to_string(spec.max));
  if (!ms) {
    throw invalid(spec.name + " must be a duration in ms or whole units (7d, 12h, 1h30m, 45s, 500ms), got " +
                  shown(value));
  }
  return *ms;
}

void check_integer(const ArgSpec& spec, const Json& value) {
  if (!value.is_number_integer()) throw invalid(spec.name + " must be an integer, got " + shown(value));
  const bool is_unsigned = value.is_number_unsigned();
  if (is_unsigned && value.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxInteger)) {
    throw invalid(spec.name + " is over the limit of " + std::to_string(spec.max));
  }
  const std::int64_t n = value.get<std::int64_t>();
  if (n < spec.min || n > spec.max) {
    throw invalid(spec.name + " must be " + std::to_string(spec.min) + " to " + std::to_string(spec.max) +
                  ", got " + std::to_string(n));
  }
}

void check_text(const ArgSpec& spec, const Json& value) {
  if (!value.is_string()) throw invalid(spec.name + " must be a string");
  const std::size_t size = value.get_ref<const std::string&>().size();
  if (size > static_cast<std::size_t>(spec.max)) {
    throw invalid(spec.name + " is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(spec.max));
  }
}

void check_list(const ArgSpec& spec, const Json& value) {
  if (!value.is_array()) throw invalid(spec.name + " must be an array of strings");
  if (value.size() > static_cast<std::size_t>(spec.max)) {
    throw invalid(spec.name + " has " + std::to_string(value.size()) + " items, over the limit of " +
                  std::to_string(spec.max));
  }
  for (const auto& item : value) {
    if (!item.is_string()) throw invalid(spec.name + " must be an array of strings");
    if (item.get_ref<const std::string&>().size() > limits::kMaxIdentifierBytes) {
      throw invalid(spec.name + ": an item is over the limit of " + std::to_string(limits::kMaxIdentifierBytes) + " bytes");
    }
  }
}

void check_integer_list(const ArgSpec& spec, const Json& value) {
  if (!value.is_array()) throw invalid(spec.name + " must be an array of integers");
  if (value.size() > static_cast<std::size_t>(spec.max)) {
    throw invalid(spec.name + " has " + std::to_string(value.size()) + " items, over the limit of " +
                  std::to_string(spec.max));
  }
  ArgSpec item = spec;  // each item: spec.min up to the largest integer
  item.name = spec.name + " item";
  item.max = kMaxInteger;
  for (const auto& entry : value) check_integer(item, entry);
}

void check_value(const ArgSpec& spec, const Json& value) {
  switch (spec.type) {
    case ArgType::String: return check_text(spec, value);
    case ArgType::Integer: return check_integer(spec, value);
    case ArgType::Duration: return check_integer(spec, value.is_string() ? Json(parse_duration(spec, value)) : value);
    case ArgType::Boolean:
      if (!value.is_boolean()) throw invalid(spec.name + " must be true or false");
      return;
    case ArgType::StringList: return check_list(spec, value);
    case ArgType::IntegerList: return check_integer_list(spec, value);
    case ArgType::Choice:
      if (!value.is_string() ||
          std::find(spec.choices.begin(), spec.choices.end(), value.get<std::string>()) == spec.choices.end()) {
        std::string names;
        for (const auto& c : spec.choices) names += (names.empty() ? "" : ", ") + c;
        throw invalid(spec.name + " takes " + names + ", got " + shown(value));
      }
      return;
    case ArgType::Filter: filter_from_json(value); return;
    case ArgType::Document:
      if (value.is_string()) return check_text(spec, value);
      if (!value.is_object()) throw invalid(spec.name + " must be a JSON object or its text");
      return;
  }
}

std::string filter_text(const Json& f, const char* field) {
  if (!f.contains(field) || f[field].is_null()) return {};
  if (!f[field].is_string()) throw invalid(std::string("filter.") + field + " must be a string");
  const std::string& value = f[field].get_ref<const std::string&>();
  if (value.size() > limits::kMaxIdentifierBytes) {
    throw invalid(std::string("filter.") + field + " is over the limit of " + std::to_string(limits::kMaxIdentifierBytes) + " bytes");
  }
  return value;
}

std::int64_t filter_time(const Json& f, const char* field) {
  if (!f.contains(field) || f[field].is_null()) return 0;
  if (!f[field].is_number_integer() || f[field].get<std::int64_t>() < 0) {
    throw invalid(std::string("filter.") + field + " must be a non-negative integer (ms since the epoch)");
  }
  return f[field].get<std::int64_t>();
}

std::vector<RuntimeState> filter_states(const Json& f) {
  std::vector<RuntimeState> states;
  if (!f.contains("states") || f["states"].is_null()) return states;
  if (!f["states"].is_array() || f["states"].size() > 3) throw invalid("filter.states must be an array of up to 3 states");
  for (const auto& word : f["states"]) {
    RuntimeState state{};
    if (!word.is_string() || !parse_runtime_state(word.get<std::string>(), state) || state == RuntimeState::NotFound) {
      throw invalid("filter.states takes Running, Completed or Failed, got " + shown(word));
    }
    states.push_back(state);
  }
  return states;
}

}  // namespace

std::string_view to_string(ArgType type) {
  switch (type) {
    case ArgType::String: return "string";
    case ArgType::Integer: return "integer";
    case ArgType::Boolean: return "boolean";
    case ArgType::StringList: return "string[]";
    case ArgType::Choice: return "choice";
    case ArgType::Filter: return "filter";
    case ArgType::Document: return "document";
    case ArgType::Duration: return "duration";
    case ArgType::IntegerList: return "integer[]";
  }
  return "string";
}

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  bool overflow = false;
  return read_duration(text, overflow);
}

InstanceFilter filter_from_json(const Json& f) {
  InstanceFilter filter;
  if (f.is_null()) return filter;
  if (!f.is_object()) throw invalid("filter must be an object");
  static const char* const kKeys[] = {"states", "name", "version", "prefix", "parent", "rootsOnly",
                                      "createdFromMs", "createdToMs", "updatedFromMs", "updatedToMs",
                                      "readyWorkBeforeMs", "contains", "tenant"};
  for (const auto& item : f.items()) {
    if (std::none_of(std::begin(kKeys), std::end(kKeys), [&](const char* key) { return item.key() == key; })) {
      throw invalid("filter." + item.key() + " is not a filter field");
    }
  }
  filter.states = filter_states(f);
  filter.orchestration_name = filter_text(f, "name");
  filter.orchestration_version = filter_text(f, "version");
  filter.instance_prefix = filter_text(f, "prefix");
  filter.parent_instance = filter_text(f, "parent");
  filter.contains = filter_text(f, "contains");
  filter.tenant = filter_text(f, "tenant");
  if (!valid_utf8(filter.contains)) throw invalid("filter.contains must be UTF-8");
  if (f.contains("rootsOnly") && !f["rootsOnly"].is_null()) {
    if (!f["rootsOnly"].is_boolean()) throw invalid("filter.rootsOnly must be true or false");
    filter.roots_only = f["rootsOnly"].get<bool>();
  }
  filter.created_from_ms = filter_time(f, "createdFromMs");
  filter.created_to_ms = filter_time(f, "createdToMs");
  filter.updated_from_ms = filter_time(f, "updatedFromMs");
  filter.updated_to_ms = filter_time(f, "updatedToMs");
  filter.ready_work_before_ms = filter_time(f, "readyWorkBeforeMs");
  return filter;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> table = build_table();
  return table;
}

const Command* find_command(const std::string& name) {
  for (const auto& command : commands()) {
    if (command.name == name ||
        std::find(command.cli_aliases.begin(), command.cli_aliases.end(), name) != command.cli_aliases.end()) {
      return &command;
    }
  }
  return nullptr;
}

std::string camel_case(const std::string& kebab) {
  std::string out;
  bool upper = false;
  for (char c : kebab) {
    if (c == '-') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}

std::string kebab_case(const std::string& camel) {
  std::string out;
  for (char c : camel) {
    if (c >= 'A' && c <= 'Z') {
      out += '-';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

Json checked_args(const Command& command, const Json& args) {
  if (!args.is_object()) throw invalid(command.name + ": the arguments must be a JSON object");
  for (const auto& item : args.items()) {
    const bool known = std::any_of(command.args.begin(), command.args.end(),
                                   [&](const ArgSpec& spec) { return spec.name == item.key(); });
    if (!known) throw invalid(command.name + " has no argument " + item.key());
  }
  Json out = Json::object();
  for (const auto& spec : command.args) {
    const bool given = args.contains(spec.name) && !args[spec.name].is_null();
    if (!given) {
      if (spec.required) throw invalid(command.name + " needs " + spec.name + " (" + spec.help + ")");
      if (!spec.fallback.is_null()) out[spec.name] = spec.fallback;
      continue;
    }
    check_value(spec, args[spec.name]);
    const Json& value = args[spec.name];
    out[spec.name] = spec.type == ArgType::Duration && value.is_string() ? Json(parse_duration(spec, value)) : value;
  }
  return out;
}

Json run_command(const std::string& name, const Json& args, Clients& clients) {
  const Command* command = find_command(name);
  if (!command || command->name != name) {
    throw CommandError(CommandError::Kind::UnknownCommand, "unknown command \"" + name + "\"");
  }
  return command->handler(checked_args(*command, args), clients);
}

void merge_page(Json& total, const Json& page) {
  if (!page.is_object()) throw invalid("a page of a paged command is an object");
  if (!total.is_object()) total = Json{{"pages", 0}};
  for (const auto& [key, value] : page.items()) {
    if (key == "items") {
      Json& failures = total["failures"];
      if (!failures.is_array()) failures = Json::array();
      for (const Json& item : value) {
        if (!item.value("ok", false)) failures.push_back(item);
      }
    } else if (value.is_number_unsigned() || value.is_number_integer()) {
      total[key] = total.value(key, std::int64_t{0}) + value.get<std::int64_t>();
    } else if (value.is_array()) {
      Json& joined = total[key];
      if (!joined.is_array()) joined = Json::array();
      joined.insert(joined.end(), value.begin(), value.end());
    } else {
      total[key] = value;  // continuation, dry_run: the latest page's
    }
  }
  total["pages"] = total["pages"].get<std::int64_t>() + 1;
}

Json run_command_pages(const std::string& name, const Json& args, Clients& clients,
                       const std::function<void(const Json&)>& progress) {
  const Command* command = find_command(name);
  if (!command || !command->paged) return run_command(name, args, clients);
  Json page_args = args.is_object() ? args : Json::object();
  Json total;
  for (;;) {
    const Json page = run_command(name, page_args, clients);
    merge_page(total, page);
    if (progress) progress(total);
    const std::string next = page.value("continuation", std::string());
    if (next.empty()) return total;
    // A continuation that does not move would walk forever: the store broke its contract.
    DUROXIDE_ASSERT(next != page_args.value("continuation", std::string()), "a continuation moves the walk on");
    page_args["continuation"] = next;
  }
}

Json run_command_text(const std::string& name, std::string_view args_json, Clients& clients) {
  if (args_json.empty()) return run_command(name, Json::object(), clients);
  Json args;
  try {
    args = detail::parse_json(args_json, name + " arguments");
  } catch (const CodecError& error) {
    throw invalid(error.what());
  }
  return run_command(name, args, clients);
}

Json commands_json() {
  Json out = Json::array();
  for (const auto& command : commands()) {
    Json args = Json::array();
    for (const auto& spec : command.args) {
      Json arg{{"name", spec.name}, {"type", std::string(to_string(spec.type))}, {"required", spec.required},
               {"positional", spec.positional}, {"help", spec.help}};
      if (!spec.fallback.is_null()) arg["default"] = spec.fallback;
      if (spec.type == ArgType::Integer || spec.type == ArgType::Duration || spec.type == ArgType::IntegerList) {
        arg["min"] = spec.min;  // of each item, for a list
      }
      if (spec.max != 0) arg["max"] = spec.max;
      if (!spec.choices.empty()) arg["choices"] = spec.choices;
      args.push_back(std::move(arg));
    }
    out.push_back({{"name", command.name}, {"method", camel_case(command.name)},
                   {"client", command.client == ClientKind::Runtime ? "runtime" : "management"},
                   {"help", command.help}, {"returns", command.returns}, {"args", std::move(args)},
                   {"paged", command.paged}});
  }
  return out;
}

}  // namespace duroxide
