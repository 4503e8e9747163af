// duroxide: the native command-line host. Registers the sample catalog, opens
// a SQLite store (in memory unless --db) and runs one verb. Output is one JSON
// document on stdout; any error is one line on stderr and a non-zero exit.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "duroxide/duroxide.hpp"
#include "duroxide/platform.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
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
      Without --db the store is in memory.
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
  help, --help
      This text.

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
    bool digits = !text.empty() && text.size() <= 12 &&
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
  };
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
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        throw UsageError("\"" + args.verb + "\" has no option --" + name);
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
  std::unique_ptr<SqliteProvider> store;
  std::unique_ptr<RuntimeClient> client;

  explicit Host(const std::string& db) {
    samples::register_all(registry);
    store = std::make_unique<SqliteProvider>(db.empty() ? ":memory:" : db, clock, ids);
    client = std::make_unique<RuntimeClient>(*store, *store);
  }

  // Drives the step driver on this thread; sleeps briefly when idle (timers
  // follow the wall clock). Stops when `done()` or after timeout_ms.
  template <typename Done>
  void drive(std::int64_t timeout_ms, Done done) {
    RuntimeOptions options;
    StepDriver driver(*store, registry, clock, options, [](const RuntimeEvent& event) {
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
  Host host(args.option("db"));
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
