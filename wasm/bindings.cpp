// Embind bindings: the unchanged core behind a narrow, string-typed surface.
//
// Every call returns a JSON envelope, {"ok":true,"value":...} or
// {"ok":false,"error":"<engine message>","kind":"<error kind>"} (saveDatabase:
// the bytes, or an error envelope): C++ exceptions must not cross into
// JavaScript (3.1.6 hands JS a bare pointer: docs/toolchain.md, note 7), so they are caught here
// and the JS facade (wasm/duroxide.mjs) throws a real Error with the engine's
// message and kind. The facade turns the JSON into plain objects.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "duroxide/codec.hpp"
#include "duroxide/detail/json.hpp"
#include "duroxide/json_views.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/replay_document.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sim/memory_vfs.hpp"
#include "duroxide/sim/random.hpp"
#include "duroxide/sim/simulation.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "duroxide/commands.hpp"
#include "envelope.hpp"
#include "js_generator.hpp"

namespace {

using namespace duroxide;
using Json = nlohmann::json;

constexpr const char* kDatabasePath = "/duroxide.db";
constexpr std::size_t kMaxDatabaseBytes = 512u * 1024u * 1024u;

using wasm::failure;
using wasm::guarded;
using wasm::ok;

std::int64_t integer(const Json& args, const char* field, std::int64_t fallback) {
  if (!args.contains(field) || args[field].is_null()) return fallback;
  if (!args[field].is_number_integer()) throw std::invalid_argument(std::string(field) + " must be an integer");
  return args[field].get<std::int64_t>();
}

// The caller of the options' "caller": {"principal", "tenant", "roles": [..]}, every field
// optional; the clients check its values (access_policy.hpp). A field given empty is refused,
// as the CLI refuses an empty --principal, --tenant or --roles: it would read as none given,
// and without roles no policy applies, so `roles: []` would act with every right. Each role
// is one the standard policy knows.
Caller caller_from_json(const Json& json) {
  if (!json.is_object()) throw std::invalid_argument("caller must be an object");
  Caller caller;
  for (const auto& [key, value] : json.items()) {
    if (key == "principal" || key == "tenant") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        throw std::invalid_argument("caller." + key + " must be a non-empty string (leave it out for none)");
      }
      (key == "principal" ? caller.principal : caller.tenant) = value.get<std::string>();
    } else if (key == "roles") {
      if (!value.is_array() || value.empty() || value.size() > kMaxCallerRoles) {
        throw std::invalid_argument("caller.roles must be an array of 1 to " + std::to_string(kMaxCallerRoles) +
                                    " strings (leave it out for no access policy)");
      }
      for (const Json& role : value) {
        if (!role.is_string()) throw std::invalid_argument("caller.roles must hold strings");
        if (!RolePolicy::standard().knows(role.get<std::string>())) {
          throw std::invalid_argument("caller.roles: \"" + role.get<std::string>() +
                                      "\" is not a role (reader, operator, admin)");
        }
        caller.roles.push_back(role.get<std::string>());
      }
    } else {
      throw std::invalid_argument("caller has no field \"" + key + "\" (principal, tenant, roles)");
    }
  }
  return caller;
}

// An age of the options' "retention": a duration ("7d", "12h", "500ms") or a non-negative
// number of ms.
std::int64_t age_from_json(const Json& value, const std::string& field) {
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) return value.get<std::int64_t>();
  if (value.is_string()) {
    if (const std::optional<std::int64_t> ms = parse_duration_ms(value.get<std::string>())) return *ms;
  }
  throw std::invalid_argument(field + " must be a duration (7d, 12h, 30m, ...) or a non-negative number of ms");
}

// The options' "retention": {"finished", "changes", "parked"}, how long the store keeps
// finished instances (0, the default: forever), the change feed and parked messages;
// the driver's housekeeping (StepDriver::maintain) deletes what is older, a batch at a time.
void retention_from_json(const Json& json, SqliteOptions& options) {
  if (!json.is_object()) throw std::invalid_argument("retention must be an object");
  for (const auto& [key, value] : json.items()) {
    if (key == "finished") {
      options.finished_retention_ms = age_from_json(value, "retention.finished");
    } else if (key == "changes") {
      options.change_retention_ms = age_from_json(value, "retention.changes");
    } else if (key == "parked") {
      options.parked_retention_ms = age_from_json(value, "retention.parked");
    } else {
      throw std::invalid_argument("retention has no field \"" + key + "\" (finished, changes, parked)");
    }
  }
}

// The options' "executionsKept": RuntimeOptions::executions_kept (0: every execution).
std::size_t executions_kept_from_json(const Json& switches) {
  if (!switches.contains("executionsKept")) return 0;
  const Json& value = switches["executionsKept"];
  if (!value.is_number_integer() || value.get<std::int64_t>() < 0 || value.get<std::int64_t>() > 1'000'000) {
    throw std::invalid_argument("executionsKept must be an integer from 0 (keep all) to 1000000");
  }
  return static_cast<std::size_t>(value.get<std::int64_t>());
}

// A MemoryVfs shared by every Engine of the module; each engine owns one file.
sim::MemoryVfs& browser_vfs() {
  static sim::MemoryVfs vfs("duroxide-browser");
  return vfs;
}

class Engine {
 public:
  // `database`: the bytes of a SQLite database to open (empty: a new one).
  // `options`: {"readOnly":bool,"management":bool,"caller":{...}} (the clients' switches and
  // caller; a caller with roles is judged by the standard RolePolicy), "retention":{...}
  // and "executionsKept":n (the store's and the runtime's retention), "workerTagFilter" (the
  // activities its workers take), "workerNodeId", "maxSessionsPerRuntime" and
  // "sessionIdleTimeoutMs" (its activity sessions; wasm/js_generator.hpp). An invalid
  // option throws std::invalid_argument naming it.
  Engine(const std::string& database, double start_ms, const std::string& options_json)
      : clock_(wasm::clock_start_from(start_ms, "startMs")),
        ids_("wasm-" + std::to_string(clock_.now_ms())),
        path_(std::string(kDatabasePath) + "." + std::to_string(++engines_)) {
    if (database.size() > kMaxDatabaseBytes) throw std::invalid_argument("database over 512 MiB");
    try {
      open(database, options_json);
    } catch (...) {
      close();  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  ~Engine() { close(); }

  // `fn(input, contextJson)` returns a JSON envelope string (the facade wraps the user's function).
  std::string registerActivity(const std::string& name, emscripten::val fn) {
    return guarded([&] {
      RuntimeClient::check_identifier(name, "activity name");
      registry_.replace_activity(name, [fn](ActivityContext& context, const std::string& input) {
        const Json context_json{{"instance", context.instance},
                                {"execution", context.execution_id},
                                {"activityId", context.activity_id},
                                {"name", context.name},
                                {"tag", context.tag},
                                {"sessionId", context.session_id},
                                {"orchestrationName", context.orchestration_name},
                                {"orchestrationVersion", context.orchestration_version}};
        const std::string reply = fn(input, context_json.dump()).as<std::string>();
        Json envelope;
        try {
          envelope = Json::parse(reply);
        } catch (const Json::parse_error&) {
          // JSON.stringify writes valid JSON but for lone surrogates ("\ud800"), which are no text.
          throw std::runtime_error("activity " + context.name + " returned a result that is not valid UTF-8");
        }
        if (!envelope.value("ok", false)) throw std::runtime_error(envelope.value("error", "activity failed"));
        return envelope["value"].get<std::string>();
      });
      return Json(nullptr);
    });
  }

  // `version` of orchestration `name` as a JavaScript generator run by `host`
  // (wasm/js_generator.hpp). Registers it, or replaces the earlier code of that version
  // (the catalog's too): instances of the version replay against the new code.
  std::string registerOrchestration(const std::string& name, const std::string& version, emscripten::val host) {
    return guarded([&] {
      RuntimeClient::check_identifier(name, "orchestration name");
      registry_.replace_orchestration(name, version, wasm::generator_orchestration(std::move(host)));
      return Json(nullptr);
    });
  }

  std::string step() { return guarded([&] { return driver_->step(); }); }
  std::string runUntilIdle(int max_steps) {
    return guarded([&] { return driver_->run_until_idle(static_cast<std::size_t>(max_steps < 1 ? 1 : max_steps)); });
  }
  std::string advanceTime(double ms) {
    return guarded([&] {
      clock_.advance(wasm::clock_step_from(ms, clock_.now_ms()));
      return Json(nullptr);
    });
  }
  double nowMs() { return static_cast<double>(clock_.now_ms()); }
  std::string takeLogs() {
    return guarded([&] {
      Json out = std::move(logs_);
      logs_ = Json::array();
      return out;
    });
  }

  // The database file's bytes (after a checkpoint), to save as a .db file; an
  // error envelope (a string) if the checkpoint fails.
  emscripten::val saveDatabase() {
    std::optional<std::string> bytes;
    const std::string envelope = guarded([&] {
      store_->checkpoint();
      bytes = browser_vfs().file_bytes(path_);
      return Json(nullptr);
    });
    if (!Json::parse(envelope).value("ok", false)) return emscripten::val(envelope);
    return wasm::to_uint8_array(bytes ? *bytes : std::string());
  }

  // One command of the command table (core/hosts/include/duroxide/commands.hpp): `args_json` is
  // its arguments object; the value is the command's JSON.
  std::string command(const std::string& name, const std::string& args_json) {
    return guarded([&]() -> Json {
      Clients clients{*client_, *management_, *pacer_};
      return run_command_text(name, args_json, clients);
    });
  }

 private:
  // Opens the store on `database` (empty: a new one) and builds the driver and clients for
  // the options (the constructor's contract).
  void open(const std::string& database, const std::string& options_json) {
    const Json switches = options_json.empty() ? Json::object() : Json::parse(options_json);
    if (!switches.is_object()) throw std::invalid_argument("options must be an object");
    SqliteOptions options;
    options.vfs = browser_vfs().name();
    if (switches.contains("retention")) retention_from_json(switches["retention"], options);
    RuntimeOptions runtime_options;
    runtime_options.executions_kept = executions_kept_from_json(switches);
    if (switches.contains("workerTagFilter")) {
      runtime_options.worker_tag_filter = wasm::tag_filter_from_json(switches["workerTagFilter"]);
    }
    wasm::session_options_from_json(switches, runtime_options);
    check_runtime_options(runtime_options);  // before the store is opened: nothing to undo
    if (!database.empty()) browser_vfs().put_file(path_, database);
    store_ = std::make_unique<SqliteProvider>(path_, clock_, ids_, options);
    samples::register_all(registry_);
    driver_ = std::make_unique<StepDriver>(*store_, registry_, clock_, runtime_options,
                                           [this](const RuntimeEvent& event) { observe(event); });
    pacer_ = std::make_unique<StepPacer>(*driver_, clock_);
    ClientOptions client_options;
    client_options.read_only = switches.value("readOnly", false);
    client_options.registry = &registry_;  // the catalog this engine runs: unknown names fail at once
    if (switches.contains("caller")) client_options.caller = caller_from_json(switches["caller"]);
    if (!client_options.caller.roles.empty()) client_options.access_policy = &roles_;
    client_ = std::make_unique<RuntimeClient>(*store_, *store_, client_options);
    ManagementOptions management_options;
    management_options.read_only = client_options.read_only;
    management_options.caller = client_options.caller;
    management_options.access_policy = client_options.access_policy;
    management_options.enabled = switches.value("management", true);
    management_ = std::make_unique<ManagementClient>(*store_, management_options);
  }

  // Releases what open() built, then the engine's database file and its log and
  // shared-memory files from the shared disk.
  void close() {
    management_.reset();
    client_.reset();
    pacer_.reset();
    driver_.reset();
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) browser_vfs().remove_file(path_ + suffix);
  }

  void observe(const RuntimeEvent& event) {
    if (logs_.size() >= 1000) logs_.erase(logs_.begin());
    logs_.push_back({{"kind", std::string(to_string(event.kind))},
                     {"instance", event.instance},
                     {"message", event.message},
                     {"at_ms", clock_.now_ms()}});
  }

  static inline int engines_ = 0;
  ManualClock clock_;
  SequentialIdSource ids_;
  std::string path_;
  Registry registry_;
  std::unique_ptr<SqliteProvider> store_;
  std::unique_ptr<StepDriver> driver_;
  std::unique_ptr<StepPacer> pacer_;
  std::unique_ptr<RuntimeClient> client_;
  std::unique_ptr<ManagementClient> management_;
  RolePolicy roles_ = RolePolicy::standard();
  Json logs_ = Json::array();
};

// `json`: a history, a named instance's execution or an exported instance
// (core/hosts/include/duroxide/replay_document.hpp), replayed against the catalog with
// `orchestrations_json` ([{"name","version"}]) replaced by JavaScript generators run by
// `host`: edited code checked against a stored history before it is registered.
std::string replayHistoryWith(const std::string& json, const std::string& orchestrations_json, emscripten::val host) {
  return guarded([&] {
    Registry registry;
    samples::register_all(registry);
    const Json orchestrations = detail::parse_json(orchestrations_json, "the orchestrations");
    if (!orchestrations.is_array()) throw std::invalid_argument("the orchestrations must be an array");
    if (orchestrations.size() > 1000) throw std::invalid_argument("at most 1000 orchestrations");
    for (const Json& entry : orchestrations) {
      if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
          !entry.contains("version") || !entry["version"].is_string()) {
        throw std::invalid_argument("each orchestration needs a string name and version");
      }
      const std::string name = entry["name"].get<std::string>();
      RuntimeClient::check_identifier(name, "orchestration name");
      registry.replace_orchestration(name, entry["version"].get<std::string>(), wasm::generator_orchestration(host));
    }
    return replay_document(registry, json);
  });
}

// `json` against the catalog alone.
std::string replayHistory(const std::string& json) { return replayHistoryWith(json, "[]", emscripten::val::undefined()); }

// The scrubber's steps [from, from + count) of `json`'s history (replay_steps_document).
std::string replaySteps(const std::string& json, double from, double count) {
  return guarded([&] {
    if (!(from >= 0 && from <= 1e15 && from == static_cast<double>(static_cast<std::int64_t>(from)))) {
      throw std::invalid_argument("from must be a whole number of 0 or more");
    }
    if (!(count >= 0 && count <= 1e15 && count == static_cast<double>(static_cast<std::int64_t>(count)))) {
      throw std::invalid_argument("count must be a whole number of 0 or more");
    }
    return replay_steps_document(json, static_cast<std::size_t>(from), static_cast<std::size_t>(count));
  });
}

// The command table: what RuntimeClient and ManagementClient in wasm/duroxide.mjs are built from.
std::string commandTable() {
  return guarded([] { return commands_json(); });
}

// One page of a paged command added to the running total (commands.hpp: merge_page), so
// the JS API's walks merge pages as the CLI does. `total` is "null" before the first page.
std::string mergePage(const std::string& total, const std::string& page) {
  return guarded([&] {
    Json merged = detail::parse_json(total, "the total");
    merge_page(merged, detail::parse_json(page, "the page"));
    return merged;
  });
}

std::string catalog() {
  return guarded([] {
    Json out = Json::array();
    for (const auto& sample : samples::catalog()) {
      out.push_back({{"name", sample.name}, {"example_input", sample.example_input},
                     {"description", sample.description}});
    }
    return out;
  });
}

std::string runSimulation(const std::string& options_json) {
  return guarded([&] {
    const Json args = options_json.empty() ? Json::object() : Json::parse(options_json);
    sim::SimOptions options;
    options.seed = static_cast<std::uint64_t>(integer(args, "seed", 1));
    options.steps = static_cast<std::size_t>(integer(args, "steps", 3000));
    options.nodes = static_cast<std::size_t>(integer(args, "nodes", 3));
    options.instances = static_cast<std::size_t>(integer(args, "instances", 12));
    if (options.steps > 200'000) throw std::invalid_argument("steps must be at most 200,000 in the browser");
    if (args.contains("faults") && args["faults"].is_array()) {
      options.faults.clear();
      for (const auto& name : args["faults"]) {
        const auto kind = name.is_string() ? sim::parse_fault_kind(name.get<std::string>()) : std::nullopt;
        if (!kind) throw std::invalid_argument("unknown fault " + name.dump());
        options.faults.push_back(*kind);
      }
    }
    options.keep_trace = true;
    sim::SimResult result = sim::run_simulation(options);
    Json out = Json::parse(sim::to_json(result));
    out["reproduce"] = sim::reproduce_command(options);
    const std::size_t keep = std::min<std::size_t>(result.trace.size(), 20'000);
    out["trace"] = std::vector<std::string>(result.trace.begin(), result.trace.begin() + static_cast<std::ptrdiff_t>(keep));
    out["trace_lines"] = result.trace.size();
    return out;
  });
}

std::string fault_kind_names(const std::vector<sim::FaultKind>& kinds) {
  return guarded([&kinds] {
    Json out = Json::array();
    for (auto kind : kinds) out.push_back(std::string(sim::to_string(kind)));
    return out;
  });
}
// Every fault kind, and those a run draws when it names none.
std::string faultKinds() { return fault_kind_names(sim::all_fault_kinds()); }
std::string defaultFaultKinds() { return fault_kind_names(sim::default_fault_kinds()); }

// Constructors cannot return envelopes: a factory does.
std::string engineError;
Engine* createEngine(const std::string& database, double start_ms, const std::string& options) {
  try {
    engineError.clear();
    return new Engine(database, start_ms, options);
  } catch (const std::exception& error) {
    engineError = error.what();
    return nullptr;
  } catch (...) {
    engineError = "the engine threw a non-standard exception";
    return nullptr;
  }
}
std::string lastEngineError() { return engineError; }

}  // namespace

EMSCRIPTEN_BINDINGS(duroxide) {
  emscripten::class_<Engine>("Engine")
      .function("registerActivity", &Engine::registerActivity)
      .function("registerOrchestration", &Engine::registerOrchestration)
      .function("step", &Engine::step)
      .function("runUntilIdle", &Engine::runUntilIdle)
      .function("advanceTime", &Engine::advanceTime)
      .function("nowMs", &Engine::nowMs)
      .function("takeLogs", &Engine::takeLogs)
      .function("saveDatabase", &Engine::saveDatabase)
      .function("command", &Engine::command);
  emscripten::function("createEngine", &createEngine, emscripten::allow_raw_pointers());
  emscripten::function("lastEngineError", &lastEngineError);
  emscripten::function("replayHistory", &replayHistory);
  emscripten::function("replayHistoryWith", &replayHistoryWith);
  emscripten::function("replaySteps", &replaySteps);
  emscripten::function("catalog", &catalog);
  emscripten::function("commands", &commandTable);
  emscripten::function("mergePage", &mergePage);
  emscripten::function("runSimulation", &runSimulation);
  emscripten::function("faultKinds", &faultKinds);
  emscripten::function("defaultFaultKinds", &defaultFaultKinds);
}
