// duroxide: the native command-line host. Registers the sample catalog, opens
// a SQLite store (in memory unless --db) and runs one verb. Output is one JSON
// document on stdout; any error is one line on stderr and a non-zero exit.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "duroxide/csv.hpp"
#include "duroxide/json_views.hpp"
#include <optional>
#include <string>
#include <vector>

#include "duroxide/duroxide.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/platform.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/open_store.hpp"
#include "duroxide/sqlite_provider.hpp"

using namespace duroxide;
using Json = nlohmann::json;

namespace {

constexpr const char* kHelp = R"(duroxide - run and inspect durable orchestrations (sample catalog registered)

usage: duroxide <verb> [arguments] [options]

verbs:
  run <orchestration> <input> [--db FILE] [--id ID] [--version V] [--timeout-ms N]
      Start an instance and drive the runtime until it finishes or N ms pass
      (default 60000). Prints {"instance","status","output"|"error","executions"}.
      A name (or version) the catalog does not register fails at once (exit 1).
      Without --db the store is in memory. Everywhere, --db takes a SQLite
      file or a PostgreSQL connection string ("postgresql://user@host/db" or
      "host=... port=... dbname=..."; tables in the schema "duroxide").
  status <id> --db FILE
      The instance's status, output or error, custom status and executions.
  history <id> [--execution N] --db FILE
      The events of one execution (default: the latest) as a JSON array.
  replay <id> [--execution N] --db FILE
      Replays the stored history against the registered code:
      {"deterministic":true} or the first mismatch (index, expected, actual).
  raise <id> <event> <data> --db FILE
      Raises external event <event> with <data> on a running instance.
  enqueue <id> <queue> <message> --db FILE
      Adds <message> to the instance's event queue <queue>.
  cancel <id> <reason> --db FILE
      Cancels a running instance (and its children): it ends Failed with
      "canceled: <reason>".
  resume --db FILE [--timeout-ms N]
      Drives every unfinished instance in the store until none is left running
      or N ms pass (default 60000). Prints the counts by status.
  samples
      Lists the sample orchestrations with an example input.

management (all need --db FILE):
  instances [--status S[,S..]] [--name N] [--version V] [--prefix P] [--parent ID]
            [--roots] [--created-from MS] [--created-to MS] [--updated-from MS]
            [--updated-to MS] [--cursor C] [--limit N] [--format json|csv]
      A page of instance summaries, newest first, the cursor of the next page
      and the counts by status for the same filter.
  show <id>          Summary, executions and the pending work of a running instance.
  stats [--name N] [--format json|csv]
                     Per-orchestration and per-activity statistics.
  health             Counts, long-running, stuck and recently failed instances, queues
                     and a 0-100 score.
  problems [--limit N]  The long-running, no-progress and recently failed instances.
  queues             Queue depths, due timers and the oldest waiting item's age.
  diagnostics        The store: SQLite and schema versions, sizes (pages, free pages,
                     write-ahead log), last checkpoint, row counts per table,
                     connection status, last storage error and a round-trip latency.
  timeseries [--metric starts|completions|failures|duration|all] [--name N]
             [--bucket minute|hour] [--from MS] [--to MS] [--format json|csv]
                     Starts, completions, failures and durations (sum, average,
                     histogram) per minute or hour bucket of [from, to), for one
                     orchestration or all; default the last hour (minute buckets)
                     or the last day (hour buckets), metric all. Minute buckets
                     older than a day are rolled up into hours.
  watch-metrics [--since N] [--limit N]
                     The time-series deltas recorded after change-feed position N
                     and the cursor to continue from: how a dashboard follows live.
  delete <id> [--force]  Deletes an instance and its sub-orchestrations (running: --force).
  prune <id> --keep N    Keeps only the newest N executions (never the running one).
  purge --older-than-ms N  Deletes finished instances not updated for N ms.
  export <id>        The instance, its executions and histories as one JSON document.
  import <file>      Imports a document written by export.
  changes [--since N] [--limit N]  Instance status changes after sequence N.
  tree <id>          The instance and its sub-orchestrations, nested.
  statuses <id,id,..>  One status per id (unknown ids: NotFound).
  cancel-many <reason> [filters of instances] [--max N]
  raise-many <event> <data> [filters of instances] [--max N]
                     Cancel / raise on the running instances matching the filters
                     (at most N, default 100); one result per instance.
  wait <id,id,..> [--timeout-ms N]  Drives the runtime until all are finished.
  metrics [--prometheus]  Store-wide gauges and counters (instances by status and
                     orchestration, activities, queues) as JSON or Prometheus text.
                     Per-process runtime metrics (turn, activity and provider-call
                     histograms) come from RuntimeMetrics in a long-running host.
  help, --help
      This text.

every verb: --read-only refuses every change (start, raise, enqueue, cancel,
delete, prune, purge, import, bulk control) with a ReadOnly error, exit 1.

exit status: 0 on success; 2 on bad usage, 1 on a failed operation or bad
input (one line on stderr); `run` exits 0 whatever the instance's outcome,
which is in its JSON; `replay` exits 1 when the history is not deterministic.
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Args {
  std::string verb;
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;

  std::string option(const std::string& name, const std::string& fallback = {}) const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
  std::int64_t number(const std::string& name, std::int64_t fallback) const {
    auto it = options.find(name);
    if (it == options.end()) return fallback;
    const std::string& text = it->second;
    bool digits = !text.empty() && text.size() <= 15 &&
                  text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits) throw UsageError("--" + name + " needs a non-negative integer, got \"" + text + "\"");
    return std::stoll(text);
  }
};

Args parse(int argc, char** argv) {
  static const std::map<std::string, std::pair<std::size_t, std::vector<std::string>>> kVerbs = {
      {"run", {2, {"db", "id", "version", "timeout-ms"}}},
      {"status", {1, {"db"}}},
      {"history", {1, {"db", "execution"}}},
      {"replay", {1, {"db", "execution"}}},
      {"raise", {3, {"db"}}},
      {"enqueue", {3, {"db"}}},
      {"cancel", {2, {"db"}}},
      {"resume", {0, {"db", "timeout-ms"}}},
      {"samples", {0, {}}},
      {"instances", {0, {"db", "status", "name", "version", "prefix", "parent", "roots",
                         "created-from", "created-to", "updated-from", "updated-to", "cursor",
                         "limit", "format"}}},
      {"show", {1, {"db"}}},
      {"stats", {0, {"db", "name", "format"}}},
      {"health", {0, {"db"}}},
      {"problems", {0, {"db", "limit"}}},
      {"queues", {0, {"db"}}},
      {"diagnostics", {0, {"db"}}},
      {"timeseries", {0, {"db", "metric", "name", "from", "to", "bucket", "format"}}},
      {"watch-metrics", {0, {"db", "since", "limit"}}},
      {"delete", {1, {"db", "force"}}},
      {"prune", {1, {"db", "keep"}}},
      {"purge", {0, {"db", "older-than-ms"}}},
      {"export", {1, {"db"}}},
      {"import", {1, {"db"}}},
      {"changes", {0, {"db", "since", "limit"}}},
      {"metrics", {0, {"db", "prometheus"}}},
      {"tree", {1, {"db"}}},
      {"statuses", {1, {"db"}}},
      {"cancel-many", {1, {"db", "status", "name", "version", "prefix", "parent", "roots",
                           "created-from", "created-to", "updated-from", "updated-to", "max"}}},
      {"raise-many", {2, {"db", "status", "name", "version", "prefix", "parent", "roots",
                          "created-from", "created-to", "updated-from", "updated-to", "max"}}},
      {"wait", {1, {"db", "timeout-ms"}}},
  };
  // Options that take no value.
  static const std::vector<std::string> kFlags = {"roots", "force", "prometheus", "read-only"};
  // Accepted by every verb: --read-only refuses every change (typed ReadOnly error, exit 1).
  static const std::vector<std::string> kGlobal = {"read-only"};
  Args args;
  if (argc < 2) throw UsageError("no verb given (try: duroxide --help)");
  args.verb = argv[1];
  auto verb = kVerbs.find(args.verb);
  if (verb == kVerbs.end()) {
    throw UsageError("unknown verb \"" + args.verb + "\" (try: duroxide --help)");
  }
  for (int i = 2; i < argc; ++i) {
    std::string word = argv[i];
    if (word.rfind("--", 0) == 0) {
      std::string name = word.substr(2);
      const auto& allowed = verb->second.second;
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end() &&
          std::find(kGlobal.begin(), kGlobal.end(), name) == kGlobal.end()) {
        throw UsageError("\"" + args.verb + "\" has no option --" + name);
      }
      if (std::find(kFlags.begin(), kFlags.end(), name) != kFlags.end()) {
        args.options[name] = "true";
        continue;
      }
      if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
      args.options[name] = argv[++i];
    } else {
      args.positional.push_back(word);
    }
  }
  if (args.positional.size() != verb->second.first) {
    throw UsageError("\"" + args.verb + "\" takes " + std::to_string(verb->second.first) +
                     " argument(s), got " + std::to_string(args.positional.size()) +
                     " (try: duroxide --help)");
  }
  bool needs_db = args.verb != "run" && args.verb != "samples";
  if (needs_db && args.option("db").empty()) throw UsageError("\"" + args.verb + "\" needs --db FILE");
  return args;
}

struct Host {
  SystemClock clock;
  RandomIdSource ids;
  Registry registry;
  std::unique_ptr<Store> opened;
  Provider* provider = nullptr;
  ManagementProvider* store = nullptr;
  std::unique_ptr<RuntimeClient> client;

  bool read_only = false;

  // `db`: a store location (open_store.hpp): a SQLite file, or a PostgreSQL connection
  // string ("postgresql://..." or "host=... dbname=..."); empty: an in-memory SQLite store.
  Host(const std::string& db, bool read_only_mode) : read_only(read_only_mode) {
    samples::register_all(registry);
    opened = open_store(db, clock, ids);
    provider = opened.get();
    store = opened.get();
    ClientOptions options;
    options.read_only = read_only;
    options.registry = &registry;  // `run` drives this registry: an unknown name fails at once
    client = std::make_unique<RuntimeClient>(*provider, *store, options);
  }

  // Drives the step driver on this thread; sleeps briefly when idle (timers
  // follow the wall clock). Stops when `done()` or after timeout_ms.
  template <typename Done>
  void drive(std::int64_t timeout_ms, Done done) {
    RuntimeOptions options;
    StepDriver driver(*provider, registry, clock, options, [](const RuntimeEvent& event) {
      if (event.kind != RuntimeEvent::Kind::Log && event.kind != RuntimeEvent::Kind::Dropped) {
        std::cerr << "duroxide: " << event.instance << (event.instance.empty() ? "" : ": ")
                  << event.message << "\n";
      }
    });
    SleepPacer pacer(clock);
    const TimestampMs deadline = clock.now_ms() + timeout_ms;
    for (;;) {
      driver.run_until_idle();
      if (done() || clock.now_ms() >= deadline) return;
      pacer.wait(std::min<std::int64_t>(20, deadline - clock.now_ms()));
    }
  }

  InstanceInfo require_instance(const std::string& id) {
    auto info = store->get_instance_info(id);
    if (!info) throw std::runtime_error("instance " + id + " does not exist");
    return *info;
  }
  ExecutionId execution_of(const Args& args, const InstanceInfo& info) {
    ExecutionId execution = static_cast<ExecutionId>(args.number("execution", 0));
    return execution == 0 ? info.current_execution_id : execution;
  }
};

Json status_json(Host& host, const std::string& id) {
  Json out;
  out["instance"] = id;
  OrchestrationStatus status = host.client->get_status(id);
  out["status"] = std::string(to_string(status.state));
  if (status.state == RuntimeState::Completed) out["output"] = status.output;
  if (status.error) {
    out["error"] = status.error->display_message();
    out["error_kind"] = std::string(to_string(status.error->kind));
  }
  auto info = host.store->get_instance_info(id);
  out["executions"] = info ? host.store->list_executions(id).size() : 0;
  if (info) {
    out["orchestration"] = info->orchestration_name;
    out["version"] = info->orchestration_version;
    out["custom_status"] = status.custom_status ? Json(*status.custom_status) : Json(nullptr);
  }
  return out;
}

Json error_json(const std::optional<ErrorDetails>& error) { return json_views::error(error); }
Json summary_json(const InstanceSummary& summary) { return json_views::summary(summary); }
Json summaries_json(const std::vector<InstanceSummary>& list) { return json_views::summaries(list); }
Json counts_json(const std::map<RuntimeState, std::uint64_t>& counts) { return json_views::counts(counts); }
Json queues_json(const QueueDepths& depths) { return json_views::queues(depths); }

InstanceFilter filter_from(const Args& args) {
  InstanceFilter filter;
  std::string states = args.option("status");
  for (std::size_t start = 0; !states.empty() && start <= states.size();) {
    std::size_t comma = states.find(',', start);
    std::string word = states.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    RuntimeState state{};
    if (!parse_runtime_state(word, state) || state == RuntimeState::NotFound) {
      throw UsageError("--status takes Running, Completed or Failed, got \"" + word + "\"");
    }
    filter.states.push_back(state);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  filter.orchestration_name = args.option("name");
  filter.orchestration_version = args.option("version");
  filter.instance_prefix = args.option("prefix");
  filter.parent_instance = args.option("parent");
  filter.roots_only = args.option("roots") == "true";
  filter.created_from_ms = args.number("created-from", 0);
  filter.created_to_ms = args.number("created-to", 0);
  filter.updated_from_ms = args.number("updated-from", 0);
  filter.updated_to_ms = args.number("updated-to", 0);
  return filter;
}

// The management verbs; returns false when `verb` is not one of them.
bool run_management_verb(const Args& args, Host& host) {
  ManagementOptions options;
  options.read_only = host.read_only;
  ManagementClient management(*host.store, options);
  const auto& p = args.positional;
  const std::string& verb = args.verb;
  Json out;
  const std::string format = args.option("format", "json");
  if (format != "json" && format != "csv") throw UsageError("--format takes json or csv, got \"" + format + "\"");
  if (verb == "instances") {
    InstanceFilter filter = filter_from(args);
    SummaryPage page = management.list_instances(
        filter, {args.option("cursor"), static_cast<std::size_t>(args.number("limit", 50))});
    if (format == "csv") {
      Json rows = summaries_json(page.instances);
      for (auto& row : rows) row["error"] = row["error"].is_object() ? row["error"]["message"] : Json(nullptr);
      std::cout << csv::table(rows, {"instance", "orchestration", "version", "status", "output", "error",
                                     "custom_status", "executions", "parent", "created_at_ms", "updated_at_ms"});
      return true;
    }
    out = Json{{"instances", summaries_json(page.instances)},
               {"next_cursor", page.next_cursor},
               {"counts", counts_json(management.count_by_status(filter))}};
  } else if (verb == "show") {
    InstanceDetails details = management.get_instance_details(p[0]);
    Json executions = Json::array();
    for (const auto& e : details.executions) {
      executions.push_back({{"execution", e.execution_id},
                            {"status", e.continued_as_new ? std::string("ContinuedAsNew")
                                                          : std::string(to_string(e.state))},
                            {"started_at_ms", e.started_at_ms},
                            {"completed_at_ms", e.completed_at_ms},
                            {"duration_ms", e.completed_at_ms ? e.completed_at_ms - e.started_at_ms : 0},
                            {"events", e.event_count},
                            {"error", error_json(e.error)}});
    }
    Json pending = Json::array();
    for (const auto& w : details.pending) {
      Json item{{"kind", std::string(to_string(w.kind))}, {"name", w.name},
                {"scheduled_event_id", w.scheduled_event_id}, {"scheduled_at_ms", w.scheduled_at_ms}};
      if (w.kind == PendingKind::Activity || w.kind == PendingKind::SubOrchestration) item["input"] = w.input;
      if (w.kind == PendingKind::SubOrchestration) item["instance"] = w.instance;
      if (w.kind == PendingKind::Timer) item["fire_at_ms"] = w.fire_at_ms;
      pending.push_back(std::move(item));
    }
    out = summary_json(details.summary);
    out["output"] = details.summary.info.state == RuntimeState::Completed
                        ? Json(details.summary.info.output) : Json(nullptr);
    out["error"] = error_json(details.summary.info.error);
    out["execution_list"] = std::move(executions);
    out["pending"] = std::move(pending);
  } else if (verb == "stats") {
    Json orchestrations = Json::array();
    for (const auto& s : management.get_orchestration_stats(args.option("name"))) {
      Json row{{"orchestration", s.orchestration_name}, {"running", s.running},
               {"completed", s.completed}, {"failed", s.failed}, {"continued", s.continued}};
      DurationStats d = management.get_performance_metrics(s.orchestration_name);
      row["durations_ms"] = {{"count", d.count}, {"min", d.min_ms}, {"avg", d.avg_ms},
                             {"p50", d.p50_ms}, {"p95", d.p95_ms}, {"p99", d.p99_ms}, {"max", d.max_ms}};
      orchestrations.push_back(std::move(row));
    }
    Json activities = Json::array();
    for (const auto& a : management.get_activity_stats()) {
      activities.push_back({{"activity", a.activity_name}, {"scheduled", a.scheduled},
                            {"completed", a.completed}, {"failed", a.failed},
                            {"failure_rate", a.failure_rate}, {"avg_duration_ms", a.avg_duration_ms}});
    }
    if (format == "csv") {
      // One table: a row per orchestration, then a row per activity; `kind` tells them apart.
      Json rows = Json::array();
      for (const auto& o : orchestrations) {
        Json row = o;
        row["kind"] = "orchestration";
        row["name"] = o["orchestration"];
        for (const char* key : {"count", "avg", "p50", "p95", "p99", "max"}) {
          row[std::string("duration_") + key + "_ms"] = o["durations_ms"][key];
        }
        rows.push_back(std::move(row));
      }
      for (const auto& a : activities) {
        Json row = a;
        row["kind"] = "activity";
        row["name"] = a["activity"];
        rows.push_back(std::move(row));
      }
      std::cout << csv::table(rows, {"kind", "name", "running", "completed", "failed", "continued",
                                     "scheduled", "failure_rate", "avg_duration_ms", "duration_count_ms",
                                     "duration_avg_ms", "duration_p50_ms", "duration_p95_ms",
                                     "duration_p99_ms", "duration_max_ms"});
      return true;
    }
    out = Json{{"orchestrations", orchestrations}, {"activities", activities}};
  } else if (verb == "health") {
    SystemHealth health = management.get_system_health(host.clock.now_ms());
    out = Json{{"score", health.score}, {"counts", counts_json(health.counts)},
               {"long_running", health.long_running}, {"no_progress", health.no_progress},
               {"recent_failures", health.recent_failures}, {"queues", queues_json(health.queues)}};
  } else if (verb == "problems") {
    ProblematicInstances problems = management.get_problematic_instances(
        host.clock.now_ms(), {}, static_cast<std::size_t>(args.number("limit", 100)));
    out = Json{{"long_running", summaries_json(problems.long_running)},
               {"no_progress", summaries_json(problems.no_progress)},
               {"recently_failed", summaries_json(problems.recently_failed)}};
  } else if (verb == "timeseries") {
    TimeSeriesMetric metric{};
    const std::string metric_text = args.option("metric", "all");
    if (!parse_time_series_metric(metric_text, metric)) {
      throw UsageError("--metric takes starts, completions, failures, duration or all, got \"" +
                       metric_text + "\"");
    }
    TimeSeriesQuery::Bucket bucket{};
    const std::string bucket_text = args.option("bucket", "minute");
    if (!parse_time_series_bucket(bucket_text, bucket)) {
      throw UsageError("--bucket takes minute or hour, got \"" + bucket_text + "\"");
    }
    // Default: the last 60 minutes or 24 hours, the current bucket included.
    const bool hours = bucket == TimeSeriesQuery::Bucket::Hour;
    const std::int64_t width = hours ? 3'600'000 : 60'000;
    const std::int64_t to = args.number("to", (host.clock.now_ms() / width + 1) * width);
    const std::int64_t from = args.number("from", std::max<std::int64_t>(0, to - (hours ? 24 : 60) * width));
    TimeSeries series = management.get_time_series(metric, args.option("name"), from, to, bucket);
    if (format == "csv") {
      json_views::TimeSeriesTable table = json_views::time_series_table(series);
      std::cout << csv::table(table.rows, table.columns);
      return true;
    }
    out = json_views::time_series(series);
  } else if (verb == "watch-metrics") {
    out = json_views::metric_deltas(management.watch_metrics(
        static_cast<std::uint64_t>(args.number("since", 0)),
        static_cast<std::size_t>(args.number("limit", 100))));
  } else if (verb == "diagnostics") {
    out = json_views::diagnostics(management.get_provider_diagnostics());
  } else if (verb == "queues") {
    out = queues_json(management.get_queue_depths());
  } else if (verb == "delete" || verb == "purge") {
    DeleteResult result =
        verb == "delete"
            ? management.delete_instance(p[0], args.option("force") == "true")
            : management.purge_completed(host.clock.now_ms() - args.number("older-than-ms", 0));
    out = Json{{"instances", result.instances}, {"executions", result.executions},
               {"events", result.events}, {"queue_items", result.queue_items}};
  } else if (verb == "prune") {
    out = Json{{"instance", p[0]},
               {"pruned", management.prune_executions(p[0], static_cast<std::size_t>(args.number("keep", 0)))}};
  } else if (verb == "export") {
    std::cout << management.export_instance(p[0]) << "\n";
    return true;
  } else if (verb == "import") {
    std::ifstream file(p[0], std::ios::binary);
    if (!file) throw std::runtime_error("cannot read " + p[0]);
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    out = Json{{"imported", management.import_instance(text)}};
  } else if (verb == "changes") {
    ChangePage page = management.changes_since(static_cast<std::uint64_t>(args.number("since", 0)),
                                               static_cast<std::size_t>(args.number("limit", 100)));
    Json changes = Json::array();
    for (const auto& c : page.changes) {
      changes.push_back({{"seq", c.seq}, {"instance", c.instance},
                         {"status", c.deleted ? std::string("Deleted") : std::string(to_string(c.state))},
                         {"execution", c.execution_id}, {"custom_status_version", c.custom_status_version},
                         {"changed_at_ms", c.changed_at_ms}});
    }
    out = Json{{"changes", changes}, {"next_cursor", page.next_cursor}};
  } else if (verb == "tree") {
    std::function<Json(const InstanceTree&)> to_json = [&](const InstanceTree& node) {
      Json children = Json::array();
      for (const auto& child : node.children) children.push_back(to_json(child));
      Json json = summary_json(node.root);
      json["children"] = std::move(children);
      return json;
    };
    out = to_json(management.get_instance_tree(p[0]));
  } else if (verb == "statuses" || verb == "wait") {
    std::vector<std::string> ids;
    for (std::size_t start = 0; start <= p[0].size();) {
      std::size_t comma = p[0].find(',', start);
      ids.push_back(p[0].substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    std::vector<std::pair<std::string, OrchestrationStatus>> statuses;
    if (verb == "wait") {
      host.drive(args.number("timeout-ms", 60'000), [&] {
        for (const auto& id : ids) {
          if (!host.client->get_status(id).is_terminal()) return false;
        }
        return true;
      });
      SleepPacer pacer(host.clock);
      statuses = host.client->wait_for_instances(ids, 0, pacer);
    } else {
      statuses = management.get_bulk_status(ids);
    }
    out = Json::array();
    for (const auto& [id, status] : statuses) {
      Json item{{"instance", id}, {"status", std::string(to_string(status.state))}};
      if (status.state == RuntimeState::Completed) item["output"] = status.output;
      if (status.error) item["error"] = status.error->display_message();
      out.push_back(std::move(item));
    }
  } else if (verb == "cancel-many" || verb == "raise-many") {
    InstanceFilter filter = filter_from(args);
    auto max = static_cast<std::size_t>(args.number("max", 100));
    std::vector<BulkItemResult> results =
        verb == "cancel-many" ? host.client->cancel_instances(filter, p[0], max)
                              : host.client->raise_event_bulk(filter, p[0], p[1], max);
    out = Json::array();
    for (const auto& r : results) {
      out.push_back({{"instance", r.instance}, {"ok", r.ok}, {"error", r.error}});
    }
  } else if (verb == "metrics") {
    auto counts = management.count_by_status();
    auto orchestrations = management.get_orchestration_stats();
    auto activities = management.get_activity_stats();
    QueueDepths queues = management.get_queue_depths();
    if (args.option("prometheus") == "true") {
      auto escape = [](const std::string& value) {
        std::string escaped;
        for (char c : value) {
          if (c == '\\' || c == '"') escaped += '\\';
          if (c == '\n') { escaped += "\\n"; continue; }
          escaped += c;
        }
        return escaped;
      };
      std::string text = "# TYPE duroxide_instances gauge\n";
      for (const auto& [state, count] : counts) {
        text += "duroxide_instances{status=\"" + std::string(to_string(state)) + "\"} " +
                std::to_string(count) + "\n";
      }
      text += "# TYPE duroxide_instances_by_orchestration gauge\n";
      for (const auto& o : orchestrations) {
        for (auto [status, count] : {std::pair<const char*, std::uint64_t>{"Running", o.running},
                                     {"Completed", o.completed}, {"Failed", o.failed}}) {
          text += "duroxide_instances_by_orchestration{orchestration=\"" + escape(o.orchestration_name) +
                  "\",status=\"" + status + "\"} " + std::to_string(count) + "\n";
        }
      }
      text += "# TYPE duroxide_activity_executions_total counter\n";
      for (const auto& a : activities) {
        for (auto [outcome, count] : {std::pair<const char*, std::uint64_t>{"scheduled", a.scheduled},
                                      {"completed", a.completed}, {"failed", a.failed}}) {
          text += "duroxide_activity_executions_total{activity=\"" + escape(a.activity_name) +
                  "\",outcome=\"" + outcome + "\"} " + std::to_string(count) + "\n";
        }
      }
      text += "# TYPE duroxide_queue_items gauge\n";
      for (auto [queue, count] : {std::pair<const char*, std::uint64_t>{"orchestrator_visible", queues.orchestrator_visible},
                                  {"orchestrator_delayed", queues.orchestrator_delayed},
                                  {"orchestrator_locked", queues.orchestrator_locked},
                                  {"worker_visible", queues.worker_visible},
                                  {"worker_locked", queues.worker_locked},
                                  {"parked", queues.parked}}) {
        text += "duroxide_queue_items{queue=\"" + std::string(queue) + "\"} " + std::to_string(count) + "\n";
      }
      std::cout << text;
      return true;
    }
    Json activity_list = Json::array();
    for (const auto& a : activities) {
      activity_list.push_back({{"activity", a.activity_name}, {"scheduled", a.scheduled},
                               {"completed", a.completed}, {"failed", a.failed}});
    }
    out = Json{{"instances", counts_json(counts)}, {"activities", activity_list},
               {"queues", queues_json(queues)}};
  } else {
    return false;
  }
  std::cout << out.dump() << "\n";
  return true;
}

int run_verb(const Args& args) {
  if (args.verb == "samples") {
    Json out = Json::array();
    for (const auto& sample : samples::catalog()) {
      out.push_back({{"name", sample.name},
                     {"example_input", sample.example_input},
                     {"description", sample.description}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  Host host(args.option("db"), args.option("read-only") == "true");
  if (run_management_verb(args, host)) return 0;
  const auto& p = args.positional;
  if (args.verb == "run") {
    std::string id = args.option("id");
    if (id.empty()) id = p[0] + "-" + host.ids.next_id().substr(0, 8);
    host.client->start_orchestration(id, p[0], p[1], args.option("version"));
    host.drive(args.number("timeout-ms", 60'000),
               [&] { return host.client->get_status(id).is_terminal(); });
    Json out = status_json(host, id);
    out.erase("orchestration");
    out.erase("version");
    out.erase("custom_status");
    out.erase("error_kind");
    std::cout << out.dump() << "\n";
  } else if (args.verb == "status") {
    host.require_instance(p[0]);
    std::cout << status_json(host, p[0]).dump() << "\n";
  } else if (args.verb == "history") {
    InstanceInfo info = host.require_instance(p[0]);
    std::cout << encode_history(host.store->read_execution(p[0], host.execution_of(args, info)))
              << "\n";
  } else if (args.verb == "replay") {
    InstanceInfo info = host.require_instance(p[0]);
    ExecutionId execution = host.execution_of(args, info);
    History history = host.store->read_execution(p[0], execution);
    ReplayReport report = replay_history(host.registry, p[0], execution, history);
    Json out = Json::parse(encode_replay_report(report));
    out.erase("logs");
    std::cout << out.dump() << "\n";
    return report.deterministic ? 0 : 1;
  } else if (args.verb == "raise") {
    host.client->raise_event(p[0], p[1], p[2]);
    std::cout << Json{{"instance", p[0]}, {"raised", p[1]}}.dump() << "\n";
  } else if (args.verb == "enqueue") {
    host.client->enqueue_event(p[0], p[1], p[2]);
    std::cout << Json{{"instance", p[0]}, {"enqueued", p[1]}}.dump() << "\n";
  } else if (args.verb == "cancel") {
    bool sent = host.client->cancel_instance(p[0], p[1]);
    std::cout << Json{{"instance", p[0]}, {"cancel_requested", sent}}.dump() << "\n";
  } else if (args.verb == "resume") {
    InstanceFilter running;
    running.states = {RuntimeState::Running};
    host.drive(args.number("timeout-ms", 60'000), [&] {
      QueueDepths depths = host.store->get_queue_depths();
      return host.store->count_instances(running) == 0 &&
             depths.orchestrator_visible + depths.orchestrator_delayed + depths.worker_visible == 0;
    });
    SystemMetrics metrics = host.store->get_system_metrics();
    std::cout << Json{{"running", metrics.running},
                      {"completed", metrics.completed},
                      {"failed", metrics.failed}}
                     .dump()
              << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "help" ||
                    std::string(argv[1]) == "-h")) {
    std::cout << kHelp;
    return 0;
  }
  try {
    return run_verb(parse(argc, argv));
  } catch (const UsageError& error) {
    std::cerr << "duroxide: " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "duroxide: " << error.what() << "\n";
    return 1;
  }
}
