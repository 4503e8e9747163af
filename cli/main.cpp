// duroxide: the native command-line host. Registers the sample catalog, opens
// a SQLite store (in memory unless --db) and runs one verb: a host verb (run,
// resume, replay, samples, stats, metrics, serve) or a command of the command table
// (core/hosts/include/duroxide/commands.hpp), whose arguments it parses by the table's schema and
// whose JSON it prints. Output is one JSON document on stdout; any error is one
// line on stderr and a non-zero exit.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "duroxide/csv.hpp"
#include "duroxide/duroxide.hpp"
#include "duroxide/json_views.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/platform.hpp"
#include "duroxide/postgres_provider.hpp"  // is_postgres_location; the class needs DUROXIDE_HAVE_POSTGRES
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/open_store.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "duroxide/commands.hpp"
#include "arguments.hpp"
#include "serve.hpp"

using namespace duroxide;
using cli::Args;
using cli::UsageError;
using cli::host_verbs;
using Json = nlohmann::json;

namespace {

constexpr const char* kHelpHead = R"(duroxide - run and inspect durable orchestrations (sample catalog registered)

usage: duroxide <verb> [arguments] [options]
       duroxide help <verb>      one verb's arguments, defaults and limits

host verbs:
  run <orchestration> <input> [--db FILE] [--id ID] [--version V] [--timeout-ms T]
      Start an instance and drive the runtime until it finishes or T passes
      (ms, or 30s, 5m, ...; default 60000). Prints {"instance","status","output"|"error","executions"}.
      A name (or version) the catalog does not register fails at once (exit 1).
      Without --db the store is in memory. Everywhere, --db takes a SQLite
      file or a PostgreSQL connection string ("postgresql://user@host/db" or
      "host=... port=... dbname=..."; tables in the schema "duroxide").
  resume --db FILE [--timeout-ms T]
      Drives every unfinished instance in the store until none is left running
      or T passes (default 60000 ms). Prints the counts by status.
  replay <id> [--execution N] --db FILE
      Replays the stored history against the registered code:
      {"deterministic":true} or the first mismatch (index, expected, actual).
  samples
      Lists the sample orchestrations with an example input.
  stats [--name N] [--format json|csv] --db FILE
      Per-orchestration statistics with duration percentiles, and per-activity
      statistics: {"orchestrations":[..],"activities":[..]}.
  metrics [--prometheus] --db FILE
      Store-wide numbers (instances by status and orchestration, activities,
      queues) as JSON or Prometheus text (duroxide_store_* gauges, and
      upstream's duroxide_active_orchestrations and queue-depth gauges).
  serve --db FILE [--metrics-port N] [--timeout-ms T] [--finished-retention AGE]
        [--executions-kept N] [--orchestration-concurrency N] [--worker-concurrency N]
        [--replay-versions any|MIN..MAX[,MIN..MAX]]
      Runs the threaded runtime over the store until SIGINT/SIGTERM (or T),
      with its housekeeping: --finished-retention purges finished instances
      older than AGE (7d, 12h, ...) in batches; --executions-kept keeps the
      newest N executions of continue-as-new loops; --replay-versions takes only
      executions pinned to those builds (default 0.0.0..this build; widen it to
      drain executions an older or newer build started; it must take this
      build, whose version every execution serve starts is pinned to). --metrics-port serves GET /metrics
      on 127.0.0.1:N (0: any free port) in Prometheus text with upstream
      Duroxide's metric names. Prints {"serving":true,"metrics":URL} when up and
      the counts by status when stopped.
  help, --help
      This text.

commands (the same table as the JavaScript API; all need --db FILE). Arguments
in <> / [] are positional (also accepted as --flags); the JS method is the
camelCase name (get-status: getStatus). Commands with a filter take:
  --status S[,S..] --name N --version V --prefix P --parent ID --roots
  --contains TEXT (a substring of input, output, error or custom status)
  --created-from MS --created-to MS --updated-from MS --updated-to MS
  --ready-work-before MS (work ready for it since before MS, not taken)
)";

constexpr const char* kHelpTail = R"(
every verb: --read-only refuses every change (start, raise, enqueue, cancel,
delete, prune, purge, import, bulk control) with a ReadOnly error, exit 1.
commands act for a caller: --tenant T sees and starts only tenant T's instances
(another tenant's are NotFound; store-wide views are AccessDenied); --roles
reader|operator|admin[,..] grants by the standard roles (reader: reads and
statistics; operator: also start, raise, enqueue, cancel; admin: everything);
--principal P names who asks (in AccessDenied messages).
list-instances and get-time-series take --format csv; export-tree and
export-instances take --format jsonl (one document per line, what
import-instances reads back).
paged commands (bulk control, delete-instances, purge-completed) walk every
batch in one command and print the totals and the failures; on a terminal they
first count what they will touch (their dry run) and show a progress bar on
stderr; --one-page runs one call and prints its
continuation (pass it back with --continuation).

exit status: 0 on success; 2 on bad usage (unknown verb, missing or invalid
argument), 1 on a failed operation (one line on stderr); `run` exits 0 whatever
the instance's outcome, which is in its JSON; `replay` exits 1 when the history
is not deterministic.
)";

// ---- help

std::string usage_line(const Command& command) {
  std::string line = command.name;
  for (const auto& spec : command.args) {
    if (spec.type == ArgType::Filter) {
      line += " [filters]";
    } else if (spec.positional) {
      line += spec.required ? " <" + spec.name + ">" : " [" + spec.name + "]";
    } else {
      const std::string flag = " --" + kebab_case(spec.name) + (spec.type == ArgType::Boolean ? "" : " " + std::string(to_string(spec.type)));
      line += spec.required ? flag : " [" + flag.substr(1) + "]";
    }
  }
  return line;
}

std::string full_help() {
  std::string text = kHelpHead;
  for (const auto& command : commands()) {
    text += "  " + usage_line(command) + "\n      " + command.help;
    if (!command.cli_aliases.empty()) text += " (also: " + command.cli_aliases.front() + ")";
    text += "\n";
  }
  return text + kHelpTail;
}

std::string command_help(const Command& command) {
  std::string text = "usage: duroxide " + usage_line(command) + " --db FILE\n\n" + command.help + "\n";
  text += "JS: " + std::string(command.client == ClientKind::Runtime ? "RuntimeClient" : "ManagementClient") + "." +
          camel_case(command.name) + "\nreturns: " + command.returns + "\n";
  for (const auto& alias : command.cli_aliases) text += "also as: duroxide " + alias + "\n";
  text += "\narguments:\n";
  for (const auto& spec : command.args) {
    text += "  " + spec.name + " (--" + kebab_case(spec.name) + ", " + std::string(to_string(spec.type)) +
            (spec.required ? ", required" : "") + ")";
    if (!spec.fallback.is_null()) text += " default " + spec.fallback.dump();
    if (spec.type == ArgType::Integer || spec.type == ArgType::Duration) {
      text += " range " + std::to_string(spec.min) + ".." + std::to_string(spec.max) + (spec.type == ArgType::Duration ? " ms" : "");
    }
    if (!spec.cli_aliases.empty()) text += " also --" + spec.cli_aliases.front();
    if (spec.type == ArgType::String || spec.type == ArgType::Document) text += " at most " + std::to_string(spec.max) + " bytes";
    if (spec.type == ArgType::StringList || spec.type == ArgType::IntegerList) {
      text += " at most " + std::to_string(spec.max) + " items";
    }
    text += "\n      " + spec.help + "\n";
  }
  return text;
}

// ---- the host

// Waits by working: drives the runtime on this thread, then sleeps briefly
// (timers follow the wall clock).
class DrivingPacer final : public Pacer {
 public:
  DrivingPacer(StepDriver& driver, Clock& clock) : driver_(driver), clock_(clock), sleeper_(clock) {}
  TimestampMs now_ms() override { return clock_.now_ms(); }
  void wait(std::int64_t ms) override {
    if (driver_.run_until_idle() == 0) sleeper_.wait(std::min<std::int64_t>(ms, 20));
  }

 private:
  StepDriver& driver_;
  Clock& clock_;
  SleepPacer sleeper_;
};

struct Host {
  SystemClock clock;
  RandomIdSource ids;
  Registry registry;
  std::unique_ptr<Store> opened;
  Provider* provider = nullptr;
  ManagementProvider* store = nullptr;
  std::unique_ptr<RuntimeClient> client;
  std::unique_ptr<ManagementClient> management;
  std::unique_ptr<StepDriver> driver;
  std::unique_ptr<Pacer> pacer;  // drives the runtime while it waits; read-only: only waits
  RolePolicy roles = RolePolicy::standard();

  // `db`: a store location (open_store.hpp): a SQLite file, or a PostgreSQL connection
  // string ("postgresql://..." or "host=... dbname=..."); empty: an in-memory SQLite store.
  // `caller`: whom the clients act for; with roles, the standard RolePolicy decides.
  Host(const std::string& db, bool read_only, const StoreOptions& store_options = {}, const Caller& caller = {}) {
    samples::register_all(registry);
    refuse_missing_file(db, read_only);
    // Read-only, the store is opened without a write: a file of another build's schema is
    // refused, neither created nor migrated (an in-memory store has nothing to protect).
    StoreOptions opening = store_options;
    opening.read_only = read_only && !db.empty() && db != ":memory:";
    opened = open_store(db, clock, ids, opening);
    provider = opened.get();
    store = opened.get();
    ClientOptions options;
    options.read_only = read_only;
    options.registry = &registry;  // `run` drives this registry: an unknown name fails at once
    options.caller = caller;
    options.access_policy = caller.roles.empty() ? nullptr : &roles;
    client = std::make_unique<RuntimeClient>(*provider, *store, options);
    ManagementOptions management_options;
    management_options.read_only = read_only;
    management_options.caller = caller;
    management_options.access_policy = options.access_policy;
    management = std::make_unique<ManagementClient>(*store, management_options);
    driver = std::make_unique<StepDriver>(*provider, registry, clock, RuntimeOptions{}, [](const RuntimeEvent& event) {
      if (event.kind != RuntimeEvent::Kind::Log && event.kind != RuntimeEvent::Kind::Dropped) {
        std::cerr << "duroxide: " << event.instance << (event.instance.empty() ? "" : ": ") << event.message << "\n";
      }
    });
    // Read-only: a wait only waits (a runtime elsewhere moves the instance); driving writes.
    if (read_only) {
      pacer = std::make_unique<SleepPacer>(clock);
    } else {
      pacer = std::make_unique<DrivingPacer>(*driver, clock);
    }
  }

  // With --read-only a SQLite file that is not there is a mistyped path, not a store to
  // create: opening would create an empty one and every read would answer "nothing".
  static void refuse_missing_file(const std::string& db, bool read_only) {
    if (!read_only || db.empty() || db == ":memory:" || store_kind(db) != StoreKind::Sqlite) return;
    if (access(db.c_str(), F_OK) != 0) {
      throw std::runtime_error("no database at " + db + " (--read-only opens an existing one)");
    }
  }

  // Drives the runtime until `done()` or after timeout_ms.
  template <typename Done>
  void drive(std::int64_t timeout_ms, Done done) {
    const TimestampMs deadline = saturating_add(clock.now_ms(), timeout_ms);  // a huge timeout: for ever
    for (;;) {
      driver->run_until_idle();
      if (done() || clock.now_ms() >= deadline) return;
      pacer->wait(deadline - clock.now_ms());
    }
  }

  Json command(const std::string& name, const Json& args) {
    Clients clients{*client, *management, *pacer};
    return run_command(name, args, clients);
  }
};

// A command that ran: 0, or kSomeItemsFailed when a bulk result counts failed items (a
// script that restores or cancels many must not read a failure as success).
constexpr int kSomeItemsFailed = 3;
int exit_code_of(const Json& out) {
  const bool bulk = out.is_object() && out.contains("succeeded") && out.contains("failed");
  return bulk && out["failed"].is_number() && out["failed"].get<double>() > 0 ? kSomeItemsFailed : 0;
}

// ---- CSV output of the commands that offer it

// `text` as one POSIX shell word: a cursor holds '|' and the instance id, which may hold anything.
std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void print_instances_csv(const Json& page) {
  Json rows = page["instances"];
  for (auto& row : rows) row["error"] = row["error"].is_object() ? row["error"]["message"] : Json(nullptr);
  std::cout << csv::table(rows, {"instance", "orchestration", "version", "status", "output", "error",
                                 "custom_status", "executions", "parent", "created_at_ms", "updated_at_ms"});
  // The table has no row for it: a page that is not the last says so where a person sees it.
  const std::string next = page["next_cursor"].get<std::string>();
  if (!next.empty()) std::cerr << "duroxide: more instances follow: --cursor " << shell_quoted(next) << "\n";
}

void print_time_series_csv(const Json& series) {
  std::vector<std::string> columns = {"bucket_start_ms"};
  const Json& points = series["points"];
  for (const char* field : {"starts", "completions", "failures", "duration_count", "duration_sum_ms", "duration_avg_ms"}) {
    if (!points.empty() && points[0].contains(field)) columns.push_back(field);
  }
  const bool histogram = !points.empty() && points[0].contains("duration_histogram");
  std::vector<std::string> buckets;
  for (const auto& bound : series["histogram_bounds_ms"]) buckets.push_back("le_" + bound.dump() + "_ms");
  buckets.push_back("over_" + series["histogram_bounds_ms"].back().dump() + "_ms");
  if (histogram) columns.insert(columns.end(), buckets.begin(), buckets.end());
  Json rows = Json::array();
  for (const Json& point : points) {
    Json row = point;
    row.erase("duration_histogram");
    for (std::size_t i = 0; histogram && i < buckets.size(); ++i) row[buckets[i]] = point["duration_histogram"][i];
    rows.push_back(std::move(row));
  }
  std::cout << csv::table(rows, columns);
}

// How many instances a merged page total counts (touched, or deleted).
std::uint64_t counted(const Json& total) {
  return total.contains("succeeded") ? total.value("succeeded", std::uint64_t{0}) + total.value("failed", std::uint64_t{0})
                                     : total.value("instances", std::uint64_t{0});
}

// A paged command's progress on a terminal, rewritten in place after each page: a bar
// against `expected` (the dry run's count) when there is one, else a count.
void print_progress(const std::string& verb, const Json& total, std::optional<std::uint64_t> expected) {
  std::string line = "\r\x1b[K" + verb + " ";
  const std::uint64_t done = counted(total);
  if (expected && *expected > 0) {
    constexpr std::uint64_t kWidth = 30;
    const std::uint64_t filled = std::min(kWidth, done * kWidth / *expected);
    line += "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "] " + std::to_string(done) + "/" +
            std::to_string(*expected) + " " + std::to_string(std::min<std::uint64_t>(100, done * 100 / *expected)) + "%";
  } else {
    line += std::to_string(done) + (total.value("dry_run", false) ? " counted" : " done");
  }
  if (total.value("failed", 0) > 0) line += ", " + std::to_string(total.value("failed", 0)) + " failed";
  line += " (" + std::to_string(total.value("pages", 0)) + " calls)";
  std::cerr << line << std::flush;
}

// Every page of a paged command in one command. On a terminal, a progress line on
// stderr: a real run of a command with a dry run first walks the dry run to count
// what it will touch, then shows a bar against that count.
Json run_all_pages(const Args& args, Host& host) {
  const bool terminal = isatty(STDERR_FILENO) != 0;
  Clients clients{*host.client, *host.management, *host.pacer};
  std::optional<std::uint64_t> expected;
  const bool has_dry_run = std::any_of(args.command->args.begin(), args.command->args.end(),
                                       [](const ArgSpec& spec) { return spec.name == "dryRun"; });
  if (terminal && has_dry_run && !args.command_args.value("dryRun", false)) {
    Json counting = args.command_args;
    counting["dryRun"] = true;
    const Json preview = run_command_pages(args.command->name, counting, clients, [&](const Json& total) {
      print_progress(args.verb + " (counting)", total, std::nullopt);
    });
    expected = counted(preview);
  }
  Json out = run_command_pages(args.command->name, args.command_args, clients, [&](const Json& total) {
    if (terminal) print_progress(args.verb, total, expected);
  });
  if (terminal) std::cerr << "\n";
  return out;
}

// The caller of --principal, --tenant and --roles (comma-separated).
Caller caller_of(const Args& args) {
  Caller caller;
  caller.principal = args.option("principal");
  caller.tenant = args.option("tenant");
  const std::string roles = args.option("roles");
  for (std::size_t start = 0; !roles.empty() && start <= roles.size();) {
    const std::size_t comma = roles.find(',', start);
    caller.roles.push_back(roles.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!RolePolicy::standard().knows(caller.roles.back())) {
      throw UsageError("--roles: \"" + caller.roles.back() + "\" is not a role (reader, operator, admin)");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return caller;
}

// Whether the command prints in `format` (json, csv, jsonl): checked before it runs, so a
// usage error has done nothing.
bool has_format(const std::string& command, const std::string& format) {
  if (format == "csv") return command == "list-instances" || command == "get-time-series";
  if (format == "jsonl") return command == "export-tree" || command == "export-instances";
  return true;
}

int run_table_command(const Args& args) {
  const std::string format = args.option("format");
  if (!format.empty() && !has_format(args.command->name, format)) {
    throw UsageError("\"" + args.verb + "\" has no " + (format == "csv" ? "CSV" : "JSON-lines") + " form");
  }
  Host host(args.option("db"), args.option("read-only") == "true", {}, caller_of(args));
  const Json out = args.command->paged && args.option("one-page") != "true"
                       ? run_all_pages(args, host)
                       : host.command(args.command->name, args.command_args);
  if (args.option("format") == "csv") {
    if (args.command->name == "list-instances") {
      print_instances_csv(out);
    } else if (args.command->name == "get-time-series") {
      print_time_series_csv(out);
    } else {
      throw UsageError("\"" + args.verb + "\" has no CSV form");
    }
    return 0;
  }
  if (args.option("format") == "jsonl") {
    // Export documents one per line (JSON lines, what import-instances reads); a paged
    // export's totals (failures, pages) go to stderr.
    const Json* documents = out.is_array() ? &out : out.contains("documents") ? &out["documents"] : nullptr;
    if (!documents) throw UsageError("\"" + args.verb + "\" has no JSON-lines form");
    for (const Json& document : *documents) std::cout << document.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
    if (out.is_object()) {
      Json rest = out;
      rest.erase("documents");
      std::cerr << rest.dump() << "\n";
    }
    return exit_code_of(out);
  }
  std::cout << out.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  return exit_code_of(out);
}

// ---- host verbs

int stats_verb(const Args& args, Host& host) {
  Json orchestrations = host.command("get-orchestration-stats", {{"name", args.option("name")}});
  for (auto& row : orchestrations) row["durations_ms"] = host.command("get-performance-metrics", {{"name", row["name"]}});
  Json activities = host.command("get-activity-stats", Json::object());
  if (args.option("format") != "csv") {
    std::cout << Json{{"orchestrations", orchestrations}, {"activities", activities}}.dump() << "\n";
    return 0;
  }
  // One table: a row per orchestration, then a row per activity; `kind` tells them apart.
  Json rows = Json::array();
  for (const auto& o : orchestrations) {
    Json row = o;
    row["kind"] = "orchestration";
    row["duration_count"] = o["durations_ms"]["count"];
    for (const char* key : {"avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"}) {
      row[std::string("duration_") + key] = o["durations_ms"][key];
    }
    rows.push_back(std::move(row));
  }
  for (const auto& a : activities) {
    Json row = a;
    row["kind"] = "activity";
    rows.push_back(std::move(row));
  }
  std::cout << csv::table(rows, {"kind", "name", "running", "completed", "failed", "continued", "scheduled",
                                 "failure_rate", "avg_duration_ms", "duration_count", "duration_avg_ms",
                                 "duration_p50_ms", "duration_p95_ms", "duration_p99_ms", "duration_max_ms"});
  return 0;
}

std::string prometheus_label(const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  return escaped;
}

// The store's numbers in Prometheus text. Store-wide counts are gauges named
// duroxide_store_* (a runtime's own counters, served by `serve`, are per process);
// the active and queue-depth gauges carry upstream Duroxide's names.
std::string prometheus_text(const Json& counts, const Json& orchestrations, const Json& activities, const Json& queues) {
  std::string text = "# TYPE duroxide_store_instances gauge\n";
  for (const auto& [state, count] : counts.items()) {
    text += "duroxide_store_instances{status=\"" + state + "\"} " + count.dump() + "\n";
  }
  text += "# TYPE duroxide_store_instances_by_orchestration gauge\n";
  for (const auto& o : orchestrations) {
    for (const char* status : {"running", "completed", "failed"}) {
      std::string label = status;
      label[0] = static_cast<char>(label[0] - 'a' + 'A');
      text += "duroxide_store_instances_by_orchestration{orchestration_name=\"" + prometheus_label(o["name"]) +
              "\",status=\"" + label + "\"} " + o[status].dump() + "\n";
    }
  }
  text += "# TYPE duroxide_store_activity_executions gauge\n";
  for (const auto& a : activities) {
    for (const char* outcome : {"scheduled", "completed", "failed"}) {
      text += "duroxide_store_activity_executions{activity_name=\"" + prometheus_label(a["name"]) + "\",outcome=\"" +
              outcome + "\"} " + a[outcome].dump() + "\n";
    }
  }
  text += "# TYPE duroxide_store_queue_items gauge\n";
  for (const char* queue : {"orchestrator_visible", "orchestrator_delayed", "orchestrator_locked", "worker_visible",
                            "worker_locked", "parked"}) {
    text += "duroxide_store_queue_items{queue=\"" + std::string(queue) + "\"} " + queues[queue].dump() + "\n";
  }
  text += "# TYPE duroxide_active_orchestrations gauge\nduroxide_active_orchestrations{state=\"all\"} " +
          (counts.contains("Running") ? counts["Running"].dump() : std::string("0")) + "\n";
  text += "# TYPE duroxide_orchestrator_queue_depth gauge\nduroxide_orchestrator_queue_depth " +
          queues["orchestrator_visible"].dump() + "\n";
  text += "# TYPE duroxide_worker_queue_depth gauge\nduroxide_worker_queue_depth " + queues["worker_visible"].dump() + "\n";
  return text;
}

int metrics_verb(const Args& args, Host& host) {
  const Json counts = host.command("count-by-status", Json::object());
  const Json orchestrations = host.command("get-orchestration-stats", Json::object());
  const Json activities = host.command("get-activity-stats", Json::object());
  const Json queues = host.command("get-queue-depths", Json::object());
  if (args.option("prometheus") == "true") {
    std::cout << prometheus_text(counts, orchestrations, activities, queues);
  } else {
    std::cout << Json{{"instances", counts}, {"orchestrations", orchestrations}, {"activities", activities},
                      {"queues", queues}}.dump() << "\n";
  }
  return 0;
}

int run_verb(const Args& args, Host& host) {
  const auto& p = args.positional;
  std::string id = args.option("id");
  if (id.empty()) id = p[0] + "-" + host.ids.next_id().substr(0, 8);
  host.client->start_orchestration(id, p[0], p[1], args.option("version"));
  host.drive(args.duration_ms("timeout-ms", 60'000), [&] { return host.client->get_status(id).is_terminal(); });
  OrchestrationStatus status = host.client->get_status(id);
  Json out{{"instance", id}, {"status", std::string(to_string(status.state))},
           {"executions", host.store->list_executions(id).size()}};
  if (status.state == RuntimeState::Completed) out["output"] = status.output;
  if (status.error) out["error"] = status.error->display_message();
  std::cout << out.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  return 0;
}

int replay_verb(const Args& args, Host& host) {
  const std::string& id = args.positional[0];
  auto info = host.store->get_instance_info(id);
  if (!info) throw std::runtime_error("instance " + id + " does not exist");
  auto execution = static_cast<ExecutionId>(args.number("execution", 0));
  if (execution == 0) execution = info->current_execution_id;
  History history = host.store->read_execution(id, execution);
  ReplayReport report = replay_history(host.registry, id, execution, history);
  Json out = Json::parse(encode_replay_report(report));
  out.erase("logs");
  std::cout << out.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  return report.deterministic ? 0 : 1;
}

int resume_verb(const Args& args, Host& host) {
  InstanceFilter running;
  running.states = {RuntimeState::Running};
  host.drive(args.duration_ms("timeout-ms", 60'000), [&] {
    QueueDepths depths = host.store->get_queue_depths();
    return host.store->count_instances(running) == 0 &&
           depths.orchestrator_visible + depths.orchestrator_delayed + depths.worker_visible == 0;
  });
  SystemMetrics metrics = host.store->get_system_metrics();
  std::cout << Json{{"running", metrics.running}, {"completed", metrics.completed}, {"failed", metrics.failed}}.dump()
            << "\n";
  return 0;
}

int serve_verb(const Args& args) {
  StoreOptions store_options;
  if (args.options.count("finished-retention")) {
    const std::optional<std::int64_t> age = parse_duration_ms(args.option("finished-retention"));
    if (!age) throw UsageError("--finished-retention must be a duration (7d, 12h, 30m, ...), got \"" + args.option("finished-retention") + "\"");
    store_options.finished_retention_ms = *age;
  }
  Host host(args.option("db"), args.option("read-only") == "true", store_options);
  cli::ServeOptions options;
  options.executions_kept = static_cast<std::size_t>(args.number("executions-kept", 0));
  if (args.options.count("replay-versions")) {
    options.supported_replay_versions = cli::parse_replay_versions(args.option("replay-versions"));
  }
  options.timeout_ms = args.duration_ms("timeout-ms", 0);
  if (args.options.count("metrics-port")) {
    const std::int64_t port = args.number("metrics-port", 0);
    if (port > 65535) throw UsageError("--metrics-port must be 0 to 65535, got " + std::to_string(port));
    options.metrics_port = static_cast<std::uint16_t>(port);
  }
  for (auto [flag, field] : {std::pair{"orchestration-concurrency", &options.orchestration_concurrency},
                             std::pair{"worker-concurrency", &options.worker_concurrency}}) {
    const std::int64_t value = args.number(flag, static_cast<std::int64_t>(*field));
    if (value < 1 || value > 64) throw UsageError(std::string("--") + flag + " must be 1 to 64");
    *field = static_cast<std::size_t>(value);
  }
  return cli::serve(*host.provider, *host.store, host.registry, host.clock, options);
}

int samples_verb() {
  Json out = Json::array();
  for (const auto& sample : samples::catalog()) {
    out.push_back({{"name", sample.name}, {"example_input", sample.example_input}, {"description", sample.description}});
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}

int dispatch(const Args& args) {
  if (args.command) return run_table_command(args);
  if (args.verb == "samples") return samples_verb();
  if ((args.verb == "serve" || args.verb == "resume") && args.option("read-only") == "true") {
    throw UsageError(args.verb + " runs the orchestrations, which writes: it takes no --read-only");
  }
  if (args.verb == "serve") return serve_verb(args);
  Host host(args.option("db"), args.option("read-only") == "true");
  if (args.verb == "run") return run_verb(args, host);
  if (args.verb == "resume") return resume_verb(args, host);
  if (args.verb == "replay") return replay_verb(args, host);
  if (args.verb == "stats") return stats_verb(args, host);
  return metrics_verb(args, host);
}

int help(int argc, char** argv) {
  if (argc < 3) {
    std::cout << full_help();
    return 0;
  }
  const std::string verb = argv[2];
  if (const Command* command = find_command(verb)) {
    std::cout << command_help(*command);
    return 0;
  }
  if (host_verbs().count(verb)) {
    std::cout << full_help();
    return 0;
  }
  std::cerr << "duroxide: unknown verb \"" << verb << "\" (try: duroxide --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "help" ||
                    std::string(argv[1]) == "-h")) {
    return help(argc, argv);
  }
  try {
    return dispatch(cli::parse_arguments(std::vector<std::string>(argv + 1, argv + argc)));
  } catch (const UsageError& error) {
    std::cerr << "duroxide: " << error.what() << "\n";
    return 2;
  } catch (const CommandError& error) {
    std::cerr << "duroxide: " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "duroxide: " << error.what() << "\n";
    return 1;
  }
}
