// Embind bindings of the JavaScript SDK (wasm/package/index.mjs): a store, a
// client and a runtime whose orchestrations are JavaScript generators and whose
// activities are JavaScript functions that may return promises.
//
// - JsStore: one SQLite database (in memory, on a mounted host file under node,
//   or opened from bytes) with the clock and id source every part shares. The
//   clock is the real one (Date.now, never stepping back) or a virtual one that
//   moves only on advanceTime (deterministic runs).
// - JsClient: the RuntimeClient and ManagementClient operations through the
//   command table, as the CLI and the engine API (wasm/duroxide.mjs) run them.
// - JsRuntime: a registry whose orchestrations are adapters (run_generator): each
//   turn the engine runs the adapter's coroutine, which asks JavaScript to create
//   the generator afresh and maps every yielded descriptor to the matching
//   OrchestrationContext call; the awaited result goes back with gen.next or
//   gen.throw. Replay, nondeterminism detection and failure are the engine's.
//   Activities are fetched, leased and acked here one by one, so JavaScript can
//   run them asynchronously and ack each when its promise settles.
//
// Every entry point returns a JSON envelope as wasm/bindings.cpp does: C++
// exceptions never reach JavaScript, and JavaScript never throws into C++ (the
// generator host in index.mjs catches everything and answers with JSON).
#include <emscripten.h>
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "duroxide/commands.hpp"
#include "duroxide/kv_activity.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/orchestration_context.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/runtime_metrics.hpp"
#include "duroxide/session_keeper.hpp"
#include "duroxide/sim/memory_vfs.hpp"
#include "duroxide/sim/simulation.hpp"
#include "duroxide/sim/user_workload.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "duroxide/text.hpp"
#include "envelope.hpp"
#include "js_generator.hpp"

// Milliseconds since the epoch from the host (3.1.6 has no emscripten_date_now).
EM_JS(double, host_date_now, (), { return Date.now(); });

namespace {

using namespace duroxide;
using Json = nlohmann::json;
using emscripten::val;

using wasm::dump;
using wasm::failure;
using wasm::guarded;
using wasm::ok;

// A text for JavaScript: null when empty (no tag, no session, not recorded).
Json or_null(const std::string& text) { return text.empty() ? Json(nullptr) : Json(text); }

// JSON text as a value when it parses, else the text itself as a string.
Json parsed_or_text(const std::string& text) {
  Json value = Json::parse(text, nullptr, false);
  if (value.is_discarded()) return Json(text);
  return value;
}

std::string field(const Json& object, const char* name, const std::string& fallback = {}) {
  if (!object.contains(name) || object[name].is_null()) return fallback;
  if (!object[name].is_string()) throw std::invalid_argument(std::string(name) + " must be a string");
  return object[name].get<std::string>();
}

std::int64_t number(const Json& object, const char* name, std::int64_t fallback) {
  if (!object.contains(name) || object[name].is_null()) return fallback;
  if (!object[name].is_number()) throw std::invalid_argument(std::string(name) + " must be a number");
  const double value = object[name].get<double>();
  if (!(value >= -9.2e18 && value <= 9.2e18)) throw std::invalid_argument(std::string(name) + " is out of range");
  return static_cast<std::int64_t>(value);
}

// The real clock (never stepping back) or a virtual one for deterministic runs.
class HostClock final : public Clock {
 public:
  HostClock(bool is_virtual, TimestampMs start) : virtual_(is_virtual), now_(start) {}
  TimestampMs now_ms() override {
    if (!virtual_) now_ = std::max<TimestampMs>(now_, static_cast<TimestampMs>(host_date_now()));
    return now_;
  }
  bool is_virtual() const { return virtual_; }
  void advance(std::int64_t ms) {
    if (!virtual_) throw std::invalid_argument("advanceTime needs a store opened with a virtual clock");
    now_ += std::max<std::int64_t>(ms, 0);
  }

 private:
  bool virtual_;
  TimestampMs now_;
};

sim::MemoryVfs& memory_vfs() {
  static sim::MemoryVfs vfs("duroxide-js-memory");
  return vfs;
}

constexpr std::size_t kMaxDatabaseBytes = 512u * 1024u * 1024u;

// options: {"path": "/mnt/x/app.db" (a host file) or "" (memory), "virtualClock": bool,
//           "startMs": number, "idPrefix": "unique-per-process"}
class JsStore {
 public:
  JsStore(const std::string& options_json, const std::string& bytes) : options_(Json::parse(options_json)) {
    if (bytes.size() > kMaxDatabaseBytes) throw std::invalid_argument("database over 512 MiB");
    const bool given = options_.contains("startMs") && !options_["startMs"].is_null();
    if (given && !options_["startMs"].is_number()) throw std::invalid_argument("startMs must be a number");
    const double start_ms = given ? options_["startMs"].get<double>() : std::floor(host_date_now());
    clock_ = std::make_unique<HostClock>(options_.value("virtualClock", false), wasm::clock_start_from(start_ms, "startMs"));
    ids_ = std::make_unique<SequentialIdSource>(field(options_, "idPrefix", "js"));
    path_ = field(options_, "path");
    SqliteOptions sqlite;
    if (path_.empty()) {
      path_ = "/duroxide-js-" + std::to_string(++stores_) + ".db";
      in_memory_ = true;
      sqlite.vfs = memory_vfs().name();
      if (!bytes.empty()) memory_vfs().put_file(path_, bytes);
    }
    store_ = std::make_unique<SqliteProvider>(path_, *clock_, *ids_, sqlite);
  }
  ~JsStore() {
    store_.reset();
    if (!in_memory_) return;
    for (const char* suffix : {"", "-wal", "-shm"}) memory_vfs().remove_file(path_ + suffix);
  }

  SqliteProvider& store() { return *store_; }
  HostClock& clock() { return *clock_; }

  std::string advanceTime(double ms) {
    return guarded([&] {
      clock_->advance(wasm::clock_step_from(ms, clock_->now_ms()));
      return Json(nullptr);
    });
  }
  double nowMs() { return static_cast<double>(clock_->now_ms()); }

  // The database's bytes after a checkpoint; an error envelope (a string) on failure.
  val toBytes() {
    std::optional<std::string> bytes;
    const std::string envelope = guarded([&] {
      store_->checkpoint();
      if (!in_memory_) throw std::invalid_argument("toBytes works on in-memory stores; a file store is its file");
      bytes = memory_vfs().file_bytes(path_);
      return Json(nullptr);
    });
    if (!Json::parse(envelope).value("ok", false)) return val(envelope);
    return wasm::to_uint8_array(bytes ? *bytes : std::string());
  }

  std::string checkpoint() {
    return guarded([&] {
      store_->checkpoint();
      return Json(nullptr);
    });
  }

 private:
  static inline int stores_ = 0;
  Json options_;
  std::unique_ptr<HostClock> clock_;
  std::unique_ptr<SequentialIdSource> ids_;
  std::string path_;
  bool in_memory_ = false;
  std::unique_ptr<SqliteProvider> store_;
};

// The client side of the SDK: every RuntimeClient and ManagementClient operation
// through the command table (core/hosts/include/duroxide/commands.hpp), the same
// rows, checks and JSON as the CLI and wasm/duroxide.mjs. index.mjs converts the
// table's JSON to the Node SDK's shapes.
class JsClient {
 public:
  explicit JsClient(JsStore& store)
      : pacer_(store.clock()), runtime_(store.store(), store.store()), management_(store.store()) {}

  std::string command(const std::string& name, const std::string& args_json) {
    return guarded([&]() -> Json {
      const Json args = args_json.empty() ? Json::object() : Json::parse(args_json);
      Clients clients{runtime_, management_, pacer_};
      return run_command(name, args, clients);
    });
  }

 private:
  // "now" for the commands that need it. The package waits on the JavaScript event
  // loop (index.mjs polls), so the table's blocking waits are refused, not run.
  class EventLoopPacer final : public Pacer {
   public:
    explicit EventLoopPacer(Clock& clock) : clock_(clock) {}
    TimestampMs now_ms() override { return clock_.now_ms(); }
    void wait(std::int64_t) override {
      throw std::invalid_argument(
          "a blocking wait would stop the JavaScript event loop: duroxide-wasm's Client waits with "
          "waitForOrchestration, waitForStatusChange and waitForValue");
    }

   private:
    Clock& clock_;
  };

  EventLoopPacer pacer_;
  RuntimeClient runtime_;
  ManagementClient management_;
};

// ---------------------------------------------------------------- orchestrations

// The context of the turn JavaScript is running in right now (set around each
// call into a generator): the synchronous ctx calls (custom status, logs,
// isReplaying) act on it.
OrchestrationContext* current_context = nullptr;

struct ContextScope {
  explicit ContextScope(OrchestrationContext& ctx) : previous(current_context) { current_context = &ctx; }
  ~ContextScope() { current_context = previous; }
  OrchestrationContext* previous;
};

// One awaited result for the generator: a value (JSON text) or an error message.
struct Outcome {
  bool ok = true;
  std::string value;
  std::optional<ErrorDetails> failure;  // !ok: the failed task's error, whole
};

RetryPolicy retry_policy(const Json& retry) {
  if (!retry.is_object()) throw std::invalid_argument("scheduleActivityWithRetry needs a retry policy object");
  RetryPolicy policy;
  const std::int64_t attempts = number(retry, "maxAttempts", 3);
  if (attempts < 1 || attempts > static_cast<std::int64_t>(limits::kMaxRetryAttempts)) {
    throw std::invalid_argument("retry.maxAttempts must be 1 to " + std::to_string(limits::kMaxRetryAttempts));
  }
  policy.max_attempts = static_cast<std::uint32_t>(attempts);
  policy.attempt_timeout_ms = std::max<std::int64_t>(number(retry, "timeoutMs", 0), 0);
  policy.total_timeout_ms = std::max<std::int64_t>(number(retry, "totalTimeoutMs", 0), 0);
  const std::string backoff = field(retry, "backoff", "exponential");
  policy.initial_delay_ms = 100;
  policy.max_delay_ms = 30'000;
  if (backoff == "exponential") {
    policy.backoff = RetryPolicy::Backoff::Exponential;
  } else if (backoff == "fixed") {
    policy.backoff = RetryPolicy::Backoff::Fixed;
    policy.initial_delay_ms = 1'000;
  } else if (backoff == "linear") {
    policy.backoff = RetryPolicy::Backoff::Linear;
  } else if (backoff == "none") {
    policy.backoff = RetryPolicy::Backoff::None;
  } else {
    throw std::invalid_argument("retry.backoff must be exponential, fixed, linear or none");
  }
  policy.initial_delay_ms = number(retry, "initialDelayMs", policy.initial_delay_ms);
  policy.max_delay_ms = number(retry, "maxDelayMs", policy.max_delay_ms);
  return policy;
}

SubOrchestrationOptions sub_options(const Json& task) {
  return SubOrchestrationOptions(field(task, "instanceId"), field(task, "version"));
}

// An activity descriptor's routing: its tag (`withTag`) and its session (`sessionId`;
// absent or null: none). The engine checks both (length, UTF-8) and fails the
// orchestration naming the problem.
ActivityOptions activity_options(const Json& task) {
  ActivityOptions options(field(task, "tag"));
  options.session_id = field(task, "sessionId");
  return options;
}

// A descriptor that stands for durable work which completes later.
DurableFuture future_for(OrchestrationContext& ctx, const Json& task) {
  const std::string type = field(task, "type");
  if (type == "activity") {
    return ctx.schedule_activity(field(task, "name"), field(task, "input"), activity_options(task));
  }
  if (type == "activityWithRetry") {
    return ctx.spawn(ctx.schedule_activity_with_retry(field(task, "name"), field(task, "input"),
                                                      retry_policy(task.value("retry", Json())),
                                                      activity_options(task)));
  }
  if (type == "timer") {
    const std::int64_t delay = number(task, "delayMs", 0);
    if (delay < 0) throw std::invalid_argument("scheduleTimer needs a non-negative delay");
    return ctx.schedule_timer(delay);
  }
  if (type == "waitEvent") return ctx.schedule_wait(field(task, "name"));
  if (type == "dequeueEvent") return ctx.dequeue_event(field(task, "queueName"));
  if (type == "subOrchestration" || type == "subOrchestrationWithId" || type == "subOrchestrationVersioned" ||
      type == "subOrchestrationVersionedWithId") {
    return ctx.schedule_sub_orchestration(field(task, "name"), field(task, "input"), sub_options(task));
  }
  if (type == "getValueFromInstance") {
    return ctx.schedule_get_value_from_instance(field(task, "instanceId"), field(task, "key"));
  }
  throw std::invalid_argument("a task of type '" + type + "' cannot be awaited inside all() or race()");
}

bool is_future_task(const std::string& type) {
  return type == "activity" || type == "activityWithRetry" || type == "timer" || type == "waitEvent" ||
         type == "dequeueEvent" || type == "subOrchestration" || type == "subOrchestrationWithId" ||
         type == "subOrchestrationVersioned" || type == "subOrchestrationVersionedWithId" ||
         type == "getValueFromInstance";
}

std::vector<DurableFuture> futures_for(OrchestrationContext& ctx, const Json& task) {
  if (!task.contains("tasks") || !task["tasks"].is_array()) throw std::invalid_argument("all/race need an array of tasks");
  if (task["tasks"].empty()) throw std::invalid_argument("race needs at least one task");
  std::vector<DurableFuture> futures;
  for (const Json& item : task["tasks"]) {
    if (!item.is_object()) throw std::invalid_argument("all/race take task descriptors");
    futures.push_back(future_for(ctx, item));
  }
  return futures;
}

Json join_results(const std::vector<FutureResult>& results) {
  Json out = Json::array();
  for (const FutureResult& result : results) {
    if (result.ok) {
      out.push_back(Json{{"ok", result.value.empty() ? Json(nullptr) : parsed_or_text(result.value)}});
    } else {
      out.push_back(Json{{"err", result.error.display_message()}});
    }
  }
  return out;
}

// Runs one yielded descriptor; a failed task becomes an error outcome that is
// thrown into the generator.
Task<Outcome> perform(OrchestrationContext& ctx, Json task) {
  const std::string type = field(task, "type");
  if (is_future_task(type)) {
    DurableFuture future = future_for(ctx, task);
    try {
      std::string value = co_await future;
      co_return Outcome{true, type == "timer" || value.empty() ? std::string("null") : std::move(value)};
    } catch (const TaskFailed& failed) {
      co_return Outcome{false, failed.details().display_message(), failed.details()};
    }
  }
  if (type == "join") {
    // all([]) is [] at once, as upstream's join of no futures: nothing is scheduled or recorded.
    if (task.contains("tasks") && task["tasks"].is_array() && task["tasks"].empty()) co_return Outcome{true, "[]"};
    std::vector<FutureResult> results = co_await ctx.join(futures_for(ctx, task));
    co_return Outcome{true, dump(join_results(results))};
  }
  if (type == "select") {
    SelectResult winner = co_await ctx.select(futures_for(ctx, task));
    const Json value = winner.result.ok ? (winner.result.value.empty() ? Json(nullptr) : parsed_or_text(winner.result.value))
                                        : Json(winner.result.error.display_message());
    co_return Outcome{true, dump(Json{{"index", winner.index}, {"value", value}})};
  }
  if (type == "newGuid") co_return Outcome{true, dump(Json(ctx.new_guid()))};
  if (type == "utcNow") co_return Outcome{true, std::to_string(ctx.utc_now_ms())};
  if (type == "orchestration" || type == "orchestrationVersioned") {
    if (field(task, "instanceId").empty()) throw std::invalid_argument("startOrchestration needs an instance id");
    ctx.start_orchestration_detached(field(task, "name"), field(task, "input"), sub_options(task));
    co_return Outcome{true, "null"};
  }
  if (type == "continueAsNew" || type == "continueAsNewVersioned") {
    co_await ctx.continue_as_new(field(task, "input"), field(task, "version"));
    co_return Outcome{true, "null"};
  }
  throw std::invalid_argument("yielded a value that is not a task descriptor (type '" + type + "')");
}

// The JavaScript generator of one turn, disposed with the coroutine frame.
struct GeneratorHandle {
  val host;
  int id = 0;
  ~GeneratorHandle() {
    if (id != 0) host.call<void>("dispose", id);
  }
};

// The answer of the generator host: the next descriptor, the result, or an error.
Json generator_step(const std::string& reply) {
  Json step = Json::parse(reply, nullptr, false);
  if (step.is_discarded() || !step.is_object()) throw std::runtime_error("the generator host answered " + reply);
  const std::string status = step.value("status", "");
  if (status == "error") throw std::runtime_error(step.value("message", "the orchestration threw"));
  return step;
}

Task<std::string> run_generator(OrchestrationContext& ctx, std::string input, val host) {
  GeneratorHandle generator{host, 0};
  Json step;
  {
    ContextScope scope(ctx);
    const Json info{{"instanceId", ctx.instance_id()},
                    {"executionId", ctx.execution_id()},
                    {"orchestrationName", ctx.orchestration_name()},
                    {"orchestrationVersion", ctx.orchestration_version()},
                    {"parentInstanceId", ctx.parent_instance()}};
    step = generator_step(host.call<std::string>("begin", dump(info), input));
    generator.id = step.value("generatorId", 0);
  }
  while (step.value("status", "") == "yielded") {
    if (!step.contains("task") || !step["task"].is_object()) {
      throw std::runtime_error("an orchestration may only yield task descriptors (ctx.schedule..., ctx.all, ...)");
    }
    Outcome outcome = co_await perform(ctx, std::move(step["task"]));
    ContextScope scope(ctx);
    step = generator_step(host.call<std::string>("next", generator.id, outcome.ok, outcome.value));
    // The failure thrown into the generator escaped it untouched: it ends the
    // instance with its own error, as an uncaught TaskFailed does in C++ code.
    if (step.value("status", "") == "rethrown" && outcome.failure) throw TaskFailed(*outcome.failure);
  }
  if (step.value("status", "") != "completed") throw std::runtime_error("the generator host answered " + dump(step));
  co_return step.value("output", std::string("null"));
}

// The instance's key-value store (OrchestrationContext::set_value and the rest);
// nullopt when `op` is not one of its calls. `argument`: the key, or
// {"key","value"} for setValue, or the cut-off in ms for pruneKvValuesUpdatedBefore.
std::optional<Json> kv_call(OrchestrationContext& ctx, const std::string& op, const std::string& argument) {
  if (op == "setValue") {
    const Json pair = Json::parse(argument);
    ctx.set_value(field(pair, "key"), field(pair, "value"));
    return Json(nullptr);
  }
  if (op == "getValue") {
    const std::optional<std::string> value = ctx.get_value(argument);
    return value ? Json(*value) : Json(nullptr);
  }
  if (op == "clearValue") {
    ctx.clear_value(argument);
    return Json(nullptr);
  }
  if (op == "clearAllValues") {
    ctx.clear_all_values();
    return Json(nullptr);
  }
  if (op == "getKvAllValues") return Json(ctx.get_all_values());
  if (op == "getKvAllKeys") return Json(ctx.get_all_keys());
  if (op == "getKvLength") return Json(ctx.get_kv_length());
  if (op == "pruneKvValuesUpdatedBefore") {
    return Json(ctx.prune_values_updated_before(static_cast<TimestampMs>(std::stoll(argument))));
  }
  return std::nullopt;
}

std::string contextCall(const std::string& op, const std::string& argument) {
  return guarded([&]() -> Json {
    if (!current_context) throw std::invalid_argument(op + " is only available while the orchestration runs");
    OrchestrationContext& ctx = *current_context;
    if (op == "setCustomStatus") {
      ctx.set_custom_status(argument);
      return nullptr;
    }
    if (op == "resetCustomStatus") {
      ctx.clear_custom_status();
      return nullptr;
    }
    if (op == "getCustomStatus") return ctx.custom_status() ? Json(*ctx.custom_status()) : Json(nullptr);
    if (op == "isReplaying") return ctx.is_replaying();
    if (const std::optional<Json> kv = kv_call(ctx, op, argument)) return *kv;
    if (op == "info") ctx.log_info(argument);
    else if (op == "debug") ctx.log_debug(argument);
    else if (op == "warn") ctx.log_warn(argument);
    else if (op == "error") ctx.log_error(argument);
    else throw std::invalid_argument("unknown context call " + op);
    return nullptr;
  });
}

// ---------------------------------------------------------------- the runtime

// options: {"workerLockTimeoutMs", "orchestrationLockTimeoutMs", "maxAttempts", "orchestrationBatchSize",
// "workerTagFilter", "workerNodeId", "maxSessionsPerRuntime", "sessionIdleTimeoutMs",
// "defaultWorkerNodeId" (the session owner when workerNodeId is absent or empty: unique
// per runtime, as runtimes that share a store must be)}. An invalid option throws
// std::invalid_argument naming it (check_runtime_options' message for the session ones).
class JsRuntime {
 public:
  JsRuntime(JsStore& store, const std::string& options_json, val host)
      : store_(store), host_(std::move(host)), metrics_(store.clock()) {
    const Json args = options_json.empty() ? Json::object() : Json::parse(options_json);
    options_.worker_lock_timeout_ms = number(args, "workerLockTimeoutMs", 30'000);
    options_.orchestration_lock_timeout_ms = number(args, "orchestrationLockTimeoutMs", 5'000);
    const std::int64_t max_attempts = number(args, "maxAttempts", 10);
    if (max_attempts < 1 || max_attempts > RuntimeOptions::kMaxAttempts) {
      throw std::invalid_argument("maxAttempts must be 1 to " + std::to_string(RuntimeOptions::kMaxAttempts));
    }
    options_.max_attempts = static_cast<std::uint32_t>(max_attempts);
    options_.orchestration_batch_size = static_cast<std::size_t>(number(args, "orchestrationBatchSize", 0));
    if (options_.worker_lock_timeout_ms < 100) throw std::invalid_argument("workerLockTimeoutMs must be at least 100");
    if (args.contains("workerTagFilter")) options_.worker_tag_filter = wasm::tag_filter_from_json(args["workerTagFilter"]);
    wasm::session_options_from_json(args, options_);
    check_runtime_options(options_);
    options_.metrics = &metrics_;
    const std::string owner =
        options_.worker_node_id.empty() ? field(args, "defaultWorkerNodeId", "local") : options_.worker_node_id;
    sessions_ = std::make_unique<SessionKeeper>(store_.store(), store_.clock(), options_, owner);
  }

  std::string registerOrchestration(const std::string& name, const std::string& version) {
    return guarded([&] {
      RuntimeClient::check_identifier(name, "orchestration name");
      if (orchestrations_) throw std::invalid_argument("register orchestrations before the runtime starts");
      registry_.register_orchestration(name, version.empty() ? Registry::kDefaultVersion : version,
                                       wasm::generator_orchestration(host_));
      return Json(nullptr);
    });
  }

  // The JS worker runs activities; the registry knows their names (unregistered ones back off).
  std::string registerActivity(const std::string& name) {
    return guarded([&] {
      RuntimeClient::check_identifier(name, "activity name");
      registry_.replace_activity(name, [](ActivityContext&, const std::string&) -> std::string {
        throw std::logic_error("JavaScript activities run in the JavaScript worker");
      });
      return Json(nullptr);
    });
  }

  // One orchestration dispatcher step (a batch of turns); true when it did work.
  std::string orchestrationStep() {
    return guarded([&] {
      if (!orchestrations_) {
        orchestrations_ = std::make_unique<OrchestrationDispatcher>(
            store_.store(), registry_, store_.clock(), options_,
            [this](const RuntimeEvent& event) { observe(event); });
      }
      return orchestrations_->step();
    });
  }

  // Renews the locks of the sessions this runtime holds when due (SessionKeeper); the
  // loop calls it on every pass, so running activities keep their sessions too.
  std::string keepSessions() {
    return guarded([&] {
      keep_sessions();
      return Json(nullptr);
    });
  }

  // The next activity to run: {token, instanceId, executionId, activityId, name, input, tag,
  // sessionId, orchestrationName, orchestrationVersion, attempt}, {"handled":true} when the item was settled here (poison,
  // unregistered), or null when there is nothing to take now. Items of sessions another
  // runtime owns stay queued for it; so do those of new sessions once this runtime runs
  // the activities of maxSessionsPerRuntime sessions.
  std::string fetchActivity() {
    return guarded([&]() -> Json {
      keep_sessions();
      std::optional<WorkerItem> item = store_.store().fetch_work_item(
          options_.worker_lock_timeout_ms, options_.worker_tag_filter, sessions_->fetch_config());
      if (!item) return nullptr;
      metrics_.work_items_fetched(1);
      const work::ActivityExecute& task = item->item;
      if (!task.session_id.empty() && !sessions_->begin(task.session_id)) {
        store_.store().abandon_work_item(item->lock_token, 0, /*ignore_attempt=*/true);
        return nullptr;  // a session over the cap waits for a slot
      }
      SessionSlot slot(*sessions_, task.session_id);  // settled here: the session's activity ends now
      if (item->attempt_count > options_.max_attempts) {
        notify(RuntimeEvent::Kind::Poison, task.instance, "activity " + task.name + " is poison");
        metrics_.activity_finished(task.name, task.tag, ActivityResult::Poison, item->attempt_count, 0);
        ack(*item, work::ActivityFailed{task.instance, task.execution_id, task.id,
                                        ErrorDetails::poison("activity " + task.name, item->attempt_count,
                                                             options_.max_attempts)});
        return Json{{"handled", true}};
      }
      if (task.name == OrchestrationContext::kGetValueFromInstanceActivity) {
        ack(*item, detail::run_get_value_from_instance(store_.store(), task));
        return Json{{"handled", true}};
      }
      if (!registry_.find_activity(task.name)) {
        if (item->attempt_count < options_.max_attempts) {
          const std::int64_t delay = unregistered_backoff(options_, item->attempt_count);
          notify(RuntimeEvent::Kind::Unregistered, task.instance,
                 "activity " + task.name + " is not registered here; retrying in " + std::to_string(delay) + " ms");
          store_.store().abandon_work_item(item->lock_token, delay, false);
        } else {
          metrics_.activity_finished(task.name, task.tag, ActivityResult::ConfigError, item->attempt_count, 0);
          ack(*item, work::ActivityFailed{task.instance, task.execution_id, task.id,
                                          ErrorDetails::unregistered_activity(task.name)});
        }
        return Json{{"handled", true}};
      }
      running_.push_back(*item);
      slot.keep();  // running: completeActivity or abandonActivity ends it
      return Json{{"token", item->lock_token}, {"instanceId", task.instance}, {"executionId", task.execution_id},
                  {"activityId", task.id}, {"name", task.name}, {"input", task.input},
                  {"tag", or_null(task.tag)},
                  {"sessionId", or_null(task.session_id)},
                  {"orchestrationName", or_null(item->orchestration_name)},
                  {"orchestrationVersion", or_null(item->orchestration_version)},
                  {"attempt", item->attempt_count}, {"startedMs", store_.clock().now_ms()}};
    });
  }

  // Acks a settled activity; {"acked":false} when its lock was lost (cancelled, or
  // expired and taken over): its result is dropped.
  std::string completeActivity(const std::string& token, bool succeeded, const std::string& value, double started_ms) {
    return guarded([&]() -> Json {
      const auto found = std::find_if(running_.begin(), running_.end(),
                                      [&](const WorkerItem& item) { return item.lock_token == token; });
      if (found == running_.end()) throw std::invalid_argument("no running activity holds lock " + token);
      const WorkerItem item = *found;
      running_.erase(found);
      const work::ActivityExecute& task = item.item;
      SessionSlot slot(*sessions_, task.session_id);
      WorkItem completion = work::ActivityFailed{task.instance, task.execution_id, task.id,
                                                 ErrorDetails::activity_failed(value)};
      if (succeeded && value.size() > limits::kMaxPayloadBytes) {
        completion = work::ActivityFailed{task.instance, task.execution_id, task.id,
                                          ErrorDetails::activity_failed("activity " + task.name + " returned " +
                                                                        std::to_string(value.size()) +
                                                                        " bytes, over the limit of " +
                                                                        std::to_string(limits::kMaxPayloadBytes))};
      } else if (succeeded) {
        completion = work::ActivityCompleted{task.instance, task.execution_id, task.id, value};
      }
      metrics_.activity_finished(task.name, task.tag,
                                 std::holds_alternative<work::ActivityCompleted>(completion) ? ActivityResult::Success
                                                                                            : ActivityResult::AppError,
                                 item.attempt_count, store_.clock().now_ms() - static_cast<TimestampMs>(started_ms));
      return Json{{"acked", ack(item, std::move(completion))}};
    });
  }

  // Extends a running activity's lock; {"alive":false} once it is lost (the
  // orchestration cancelled the activity, or it expired): the activity is cancelled.
  std::string renewActivity(const std::string& token) {
    return guarded([&]() -> Json {
      try {
        store_.store().renew_work_item_lock(token, options_.worker_lock_timeout_ms);
        return Json{{"alive", true}};
      } catch (const ProviderError& error) {
        if (error.kind() != ProviderErrorKind::InvalidLock && error.kind() != ProviderErrorKind::NotFound) throw;
        return Json{{"alive", false}};
      }
    });
  }

  // Gives a running activity back to the queue (shutdown before it settled).
  std::string abandonActivity(const std::string& token) {
    return guarded([&] {
      const auto found = std::find_if(running_.begin(), running_.end(),
                                      [&](const WorkerItem& item) { return item.lock_token == token; });
      if (found != running_.end()) {
        if (!found->item.session_id.empty()) sessions_->end(found->item.session_id);
        running_.erase(found);
      }
      try {
        store_.store().abandon_work_item(token, 0, true);
      } catch (const ProviderError&) {
        // its lock is already gone: nothing of ours to give back
      }
      return Json(nullptr);
    });
  }

  std::string takeEvents() {
    return guarded([&] {
      Json out = std::move(events_);
      events_ = Json::array();
      return out;
    });
  }

  std::string metricsSnapshot() {
    return guarded([&] {
      const RuntimeMetricsSnapshot s = metrics_.snapshot();
      std::uint64_t starts = 0, completions = 0, failures = 0, continued = 0;
      for (const auto& [name, c] : s.orchestrations) {
        starts += c.started, completions += c.completed, failures += c.failed, continued += c.continued;
      }
      // The SDK's split counters, summed from the labelled families (runtime_metrics.cpp).
      const auto total = [&](const char* family, const std::string& label) {
        std::uint64_t sum = 0;
        const auto found = s.counters.find(family);
        if (found == s.counters.end()) return sum;
        for (const auto& [labels, value] : found->second) {
          if (label.empty() || labels.find(label) != std::string::npos) sum += value;
        }
        return sum;
      };
      const char* failures_family = "duroxide_orchestration_failures_total";
      const char* activities_family = "duroxide_activity_executions_total";
      return Json{{"orchStarts", starts}, {"orchCompletions", completions}, {"orchFailures", failures},
                  {"orchApplicationErrors", total(failures_family, "error_type=\"app_error\"")},
                  {"orchInfrastructureErrors", total(failures_family, "error_type=\"infrastructure_error\"")},
                  {"orchConfigurationErrors", total(failures_family, "error_type=\"config_error\"")},
                  {"orchContinueAsNew", continued}, {"orchPoison", total("duroxide_orchestration_poison_total", "")},
                  {"activitySuccess", total(activities_family, "outcome=\"success\"")},
                  {"activityAppErrors", total(activities_family, "outcome=\"app_error\"")},
                  {"activityInfraErrors", total(activities_family, "outcome=\"infra_error\"")},
                  {"activityConfigErrors", total(activities_family, "outcome=\"config_error\"")},
                  {"activityPoison", total(activities_family, "outcome=\"poison\"")},
                  {"orchDispatcherItemsFetched", s.orchestration_items_fetched},
                  {"workerDispatcherItemsFetched", s.work_items_fetched},
                  {"suborchestrationCalls", total("duroxide_orchestration_starts_total", "initiated_by=\"suborchestration\"")},
                  {"providerErrors", s.provider_errors}, {"locksLost", s.locks_lost},
                  {"uptimeMs", s.uptime_ms}};
    });
  }

 private:
  // One activity of a session running here (SessionKeeper::begin already called): ends
  // it when it goes out of scope unless keep() hands it to running_. No session: nothing.
  class SessionSlot {
   public:
    SessionSlot(SessionKeeper& sessions, std::string session) : sessions_(sessions), session_(std::move(session)) {}
    SessionSlot(const SessionSlot&) = delete;
    SessionSlot& operator=(const SessionSlot&) = delete;
    ~SessionSlot() {
      if (!session_.empty()) sessions_.end(session_);
    }
    void keep() { session_.clear(); }

   private:
    SessionKeeper& sessions_;
    std::string session_;
  };

  void keep_sessions() {
    try {
      sessions_->renew_if_due();
    } catch (const ProviderError& error) {
      notify(RuntimeEvent::Kind::ProviderError, {}, std::string("renewing session locks failed: ") + error.what());
    }
  }

  bool ack(const WorkerItem& item, WorkItem completion) {
    try {
      store_.store().ack_work_item(item.lock_token, completion);
      return true;
    } catch (const ProviderError& error) {
      if (error.kind() == ProviderErrorKind::InvalidLock || error.kind() == ProviderErrorKind::NotFound) {
        metrics_.lock_lost();
        notify(RuntimeEvent::Kind::LockLost, item.item.instance,
               "activity " + item.item.name + " lost its lock; its result is dropped");
        return false;
      }
      throw;
    }
  }

  void notify(RuntimeEvent::Kind kind, const std::string& instance, std::string message) {
    observe(RuntimeEvent{kind, instance, std::move(message), LogLevel::Warn});
  }

  void observe(const RuntimeEvent& event) {
    if (events_.size() >= 1000) events_.erase(events_.begin());
    events_.push_back({{"kind", std::string(to_string(event.kind))},
                       {"level", std::string(to_string(event.level))},
                       {"instanceId", event.instance},
                       {"message", event.message},
                       {"atMs", store_.clock().now_ms()}});
  }

  JsStore& store_;
  val host_;
  RuntimeMetrics metrics_;
  RuntimeOptions options_;
  Registry registry_;
  std::unique_ptr<OrchestrationDispatcher> orchestrations_;
  std::unique_ptr<SessionKeeper> sessions_;
  std::vector<WorkerItem> running_;
  Json events_ = Json::array();
};

// ---------------------------------------------------------------- simulation

// The user's orchestrations and activities in the native simulator's world
// (sim/include/duroxide/sim/user_workload.hpp): several nodes, a virtual clock, an
// in-memory disk and the simulator's fault kinds, with its trace hash.
// options: {"seed","steps","nodes","faults":[names],"orchestrations":[{"name","version"}],
//           "activities":[names],"ops":[{"kind":"start|raise|enqueue|cancel","step","instanceId","name","data"}],
//           "check":bool}
// `host`: the generator host (begin/next/dispose) plus run(name, contextJson, input)
// for activities (an envelope; they must finish synchronously) and check(endJson)
// (a JSON array of problems).
ActivityFn simulated_activity(val host, const std::string& name) {
  return [host, name](ActivityContext& context, const std::string& input) -> std::string {
    const Json info{{"instanceId", context.instance}, {"executionId", context.execution_id},
                    {"activityId", context.activity_id}, {"name", name},
                    {"tag", or_null(context.tag)},
                    {"sessionId", or_null(context.session_id)},
                    {"orchestrationName", or_null(context.orchestration_name)},
                    {"orchestrationVersion", or_null(context.orchestration_version)}};
    const Json reply = Json::parse(host.call<std::string>("run", name, dump(info), input), nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) throw std::runtime_error("activity " + name + " answered no envelope");
    if (!reply.value("ok", false)) throw std::runtime_error(reply.value("error", "activity " + name + " failed"));
    return reply.value("value", std::string("null"));
  };
}

Json instance_end(const sim::InstanceEnd& end) {
  Json out{{"instanceId", end.instance}, {"orchestration", end.orchestration}, {"input", end.input},
           {"exists", end.exists}, {"status", std::string(to_string(end.state))}, {"executions", end.executions}};
  if (end.state == RuntimeState::Completed) out["output"] = end.output;
  if (end.state == RuntimeState::Failed) out["error"] = end.error;
  if (end.custom_status) out["customStatus"] = *end.custom_status;
  out["cancelAccepted"] = end.cancel_accepted;
  return out;
}

sim::ClientOp client_op(const Json& op) {
  static const std::map<std::string, sim::ClientOp::Kind> kinds{
      {"start", sim::ClientOp::Kind::Start}, {"raise", sim::ClientOp::Kind::Raise},
      {"enqueue", sim::ClientOp::Kind::Enqueue}, {"cancel", sim::ClientOp::Kind::Cancel}};
  const auto kind = kinds.find(field(op, "kind"));
  if (kind == kinds.end()) throw std::invalid_argument("unknown workload operation " + dump(op));
  const std::int64_t step = number(op, "step", 0);
  if (step < 0) throw std::invalid_argument("a workload step must not be negative");
  return sim::ClientOp{kind->second, static_cast<std::uint64_t>(step), field(op, "instanceId"), field(op, "name"),
                       field(op, "data")};
}

sim::SimOptions simulation_options(const Json& args) {
  sim::SimOptions options;
  options.seed = static_cast<std::uint64_t>(number(args, "seed", 1));
  options.steps = static_cast<std::size_t>(number(args, "steps", 2000));
  options.nodes = static_cast<std::size_t>(number(args, "nodes", 3));
  if (options.steps > 200'000) throw std::invalid_argument("steps must be at most 200,000");
  if (options.nodes < 1 || options.nodes > 16) throw std::invalid_argument("nodes must be 1 to 16");
  if (args.contains("faults") && args["faults"].is_array()) {
    options.faults.clear();
    for (const auto& name : args["faults"]) {
      const auto kind = name.is_string() ? sim::parse_fault_kind(name.get<std::string>()) : std::nullopt;
      if (!kind) throw std::invalid_argument("unknown fault " + name.dump());
      options.faults.push_back(*kind);
    }
  }
  options.keep_trace = true;
  options.keep_database = args.value("keepDatabase", false);
  return options;
}

std::shared_ptr<Registry> simulation_registry(const Json& args, val host) {
  auto registry = std::make_shared<Registry>();
  for (const Json& entry : args.value("orchestrations", Json::array())) {
    registry->register_orchestration(field(entry, "name"), field(entry, "version", Registry::kDefaultVersion),
                                     wasm::generator_orchestration(host));
  }
  for (const Json& name : args.value("activities", Json::array())) {
    registry->register_activity(name.get<std::string>(), simulated_activity(host, name.get<std::string>()));
  }
  return registry;
}

std::string simulation_database;

std::string runJsSimulation(const std::string& options_json, val host) {
  simulation_database.clear();
  return guarded([&] {
    const Json args = Json::parse(options_json);
    sim::SimOptions options = simulation_options(args);
    std::vector<sim::ClientOp> ops;
    for (const Json& op : args.value("ops", Json::array())) ops.push_back(client_op(op));
    if (ops.empty()) throw std::invalid_argument("the workload started nothing");
    const bool checked = args.value("check", false);
    options.workload = sim::user_workload(
        simulation_registry(args, host),
        [ops](sim::WorkloadPlan& plan, sim::SimRandom&) {
          for (const sim::ClientOp& op : ops) {
            switch (op.kind) {
              case sim::ClientOp::Kind::Start: plan.start(op.step, op.instance, op.name, op.data); break;
              case sim::ClientOp::Kind::Raise: plan.raise(op.step, op.instance, op.name, op.data); break;
              case sim::ClientOp::Kind::Enqueue: plan.enqueue(op.step, op.instance, op.name, op.data); break;
              case sim::ClientOp::Kind::Cancel: plan.cancel(op.step, op.instance, op.data); break;
            }
          }
        },
        [host, checked](const sim::InstanceEnd& end, const sim::InstanceLookup&) {
          std::vector<std::string> problems;
          if (!checked) return problems;
          const Json reply = Json::parse(host.call<std::string>("check", dump(instance_end(end))), nullptr, false);
          if (!reply.is_array()) return std::vector<std::string>{"the check answered " + reply.dump()};
          for (const Json& problem : reply) problems.push_back(problem.is_string() ? problem.get<std::string>() : problem.dump());
          return problems;
        });
    const sim::SimResult result = sim::run_simulation(options);
    Json out = Json::parse(sim::to_json(result));
    const std::size_t keep = std::min<std::size_t>(result.trace.size(), 20'000);
    out["trace"] = std::vector<std::string>(result.trace.begin(), result.trace.begin() + static_cast<std::ptrdiff_t>(keep));
    out["trace_lines"] = result.trace.size();
    simulation_database = result.database;
    return out;
  });
}

// The last simulation's final database (keepDatabase), handed over once; empty
// when that run did not keep it.
val takeSimulationDatabase() {
  std::string bytes;
  bytes.swap(simulation_database);
  return wasm::to_uint8_array(bytes);
}

// Constructors cannot return envelopes: factories do, with the error kept here.
std::string factoryError;
template <typename Make>
auto made(Make&& make) -> decltype(make()) {
  factoryError.clear();
  try {
    return make();
  } catch (const std::exception& error) {
    factoryError = error.what();
  } catch (...) {
    factoryError = "the engine threw a non-standard exception";
  }
  return nullptr;
}

JsStore* openJsStore(const std::string& options, const std::string& bytes) {
  return made([&] { return new JsStore(options, bytes); });
}
JsClient* createJsClient(JsStore& store) {
  return made([&] { return new JsClient(store); });
}
JsRuntime* createJsRuntime(JsStore& store, const std::string& options, val host) {
  return made([&] { return new JsRuntime(store, options, std::move(host)); });
}
std::string lastFactoryError() { return factoryError; }

}  // namespace

namespace duroxide::wasm {

OrchestrationFn generator_orchestration(emscripten::val host) {
  return [host](OrchestrationContext& ctx, std::string input) { return run_generator(ctx, std::move(input), host); };
}

TimestampMs clock_start_from(double ms, const char* name) {
  if (!(ms >= 0 && ms <= static_cast<double>(kMaxClockMs)) || std::floor(ms) != ms) {
    throw std::invalid_argument(std::string(name) + " must be a whole number of ms from 0 to " +
                                std::to_string(kMaxClockMs));
  }
  return static_cast<TimestampMs>(ms);
}

std::int64_t clock_step_from(double ms, TimestampMs now_ms) {
  if (!(ms >= 0 && ms <= static_cast<double>(kMaxClockMs - now_ms))) {
    throw std::invalid_argument("advanceTime needs a number of ms from 0 to " + std::to_string(kMaxClockMs - now_ms) +
                                " (the clock stops at " + std::to_string(kMaxClockMs) + ")");
  }
  return static_cast<std::int64_t>(ms);
}

TagFilter tag_filter_from_json(const nlohmann::json& value) {
  const auto tag_list = [](const nlohmann::json& list, const char* mode) {
    const std::string refused = std::string("workerTagFilter.") + mode + " must be an array of strings";
    if (!list.is_array()) throw std::invalid_argument(refused);
    std::vector<std::string> tags;
    for (const nlohmann::json& tag : list) {
      if (!tag.is_string()) throw std::invalid_argument(refused);
      tags.push_back(tag.get<std::string>());
    }
    return tags;
  };
  TagFilter filter;
  if (value.is_null() || value == "defaultOnly") {
    filter = TagFilter::default_only();
  } else if (value == "any") {
    filter = TagFilter::any();
  } else if (value == "none") {
    filter = TagFilter::none();
  } else if (value.is_object() && value.size() == 1 && value.contains("tags")) {
    filter = TagFilter::only(tag_list(value["tags"], "tags"));
  } else if (value.is_object() && value.size() == 1 && value.contains("defaultAnd")) {
    filter = TagFilter::default_and(tag_list(value["defaultAnd"], "defaultAnd"));
  } else {
    throw std::invalid_argument(
        "workerTagFilter must be \"defaultOnly\", \"any\", \"none\", {tags: [...]} or {defaultAnd: [...]}");
  }
  if (std::string problem = filter.problem(); !problem.empty()) throw std::invalid_argument("workerTagFilter: " + problem);
  return filter;
}

void session_options_from_json(const nlohmann::json& options, RuntimeOptions& runtime) {
  if (!options.is_object()) throw std::invalid_argument("runtime options must be an object");
  runtime.worker_node_id = field(options, "workerNodeId");
  const auto integer = [&](const char* name, std::int64_t fallback) {
    const std::int64_t value = number(options, name, fallback);  // a number in range, or the fallback
    if (options.contains(name) && options[name].is_number_float() &&
        options[name].get<double>() != static_cast<double>(value)) {
      throw std::invalid_argument(std::string(name) + " must be an integer");
    }
    return value;
  };
  // Out-of-range counts map to 0, which check_runtime_options refuses naming the range
  // (a size_t is 32 bits here: a plain cast could wrap a huge count into range).
  const std::int64_t sessions = integer("maxSessionsPerRuntime", static_cast<std::int64_t>(runtime.max_sessions_per_runtime));
  runtime.max_sessions_per_runtime =
      sessions >= 1 && sessions <= static_cast<std::int64_t>(limits::kMaxSessionsPerRuntime) ? static_cast<std::size_t>(sessions) : 0;
  runtime.session_idle_timeout_ms = integer("sessionIdleTimeoutMs", runtime.session_idle_timeout_ms);
}

}  // namespace duroxide::wasm

EMSCRIPTEN_BINDINGS(duroxide_js_sdk) {
  emscripten::class_<JsStore>("JsStore")
      .function("advanceTime", &JsStore::advanceTime)
      .function("nowMs", &JsStore::nowMs)
      .function("toBytes", &JsStore::toBytes)
      .function("checkpoint", &JsStore::checkpoint);
  emscripten::class_<JsClient>("JsClient").function("command", &JsClient::command);
  emscripten::class_<JsRuntime>("JsRuntime")
      .function("registerOrchestration", &JsRuntime::registerOrchestration)
      .function("registerActivity", &JsRuntime::registerActivity)
      .function("orchestrationStep", &JsRuntime::orchestrationStep)
      .function("keepSessions", &JsRuntime::keepSessions)
      .function("fetchActivity", &JsRuntime::fetchActivity)
      .function("completeActivity", &JsRuntime::completeActivity)
      .function("renewActivity", &JsRuntime::renewActivity)
      .function("abandonActivity", &JsRuntime::abandonActivity)
      .function("takeEvents", &JsRuntime::takeEvents)
      .function("metricsSnapshot", &JsRuntime::metricsSnapshot);
  emscripten::function("openJsStore", &openJsStore, emscripten::allow_raw_pointers());
  emscripten::function("createJsClient", &createJsClient, emscripten::allow_raw_pointers());
  emscripten::function("createJsRuntime", &createJsRuntime, emscripten::allow_raw_pointers());
  emscripten::function("lastFactoryError", &lastFactoryError);
  emscripten::function("orchestrationContextCall", &contextCall);
  emscripten::function("runJsSimulation", &runJsSimulation);
  emscripten::function("takeSimulationDatabase", &takeSimulationDatabase);
}
