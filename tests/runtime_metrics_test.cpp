// RuntimeMetrics: counters and histograms recorded by the dispatchers, and
// their Prometheus exposition.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>

#include "duroxide/duroxide.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_metrics.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "forwarding_store.hpp"

using namespace duroxide;

TEST_CASE("the dispatchers count starts, ends, activities and durations", "[metrics]") {
  ManualClock clock;
  SequentialIdSource ids;
  Registry registry;
  samples::register_all(registry);
  registry.register_orchestration("Odd\"Name\\", [](OrchestrationContext& ctx,
                                                    std::string) -> Task<std::string> {
    co_await ctx.schedule_timer(250);
    co_return "";
  });
  registry.register_orchestration("Tagged", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("AddOne", "1", ActivityOptions("gpu \"fast\""));
  });
  SqliteProvider store(":memory:", clock, ids);
  RuntimeMetrics metrics(clock);
  RuntimeOptions options;
  options.metrics = &metrics;
  options.worker_tag_filter = TagFilter::any();
  StepDriver driver(store, registry, clock, options);
  auto start = [&](const std::string& id, const std::string& name, const std::string& input,
                   const std::string& version = {}) {
    store.enqueue_orchestrator_item(work::StartOrchestration{id, name, version, input, {}, 0, {}}, 0);
  };
  start("h", "HelloWorld", "Ada", "1.0.0");
  start("f", "Fails", "boom");
  start("c", "Counter", R"({"count":0,"limit":2})");
  start("o", "Odd\"Name\\", "");
  start("t", "Tagged", "");
  driver.run_until_idle();
  clock.advance(250);
  driver.run_until_idle();
  clock.advance(4750);

  RuntimeMetricsSnapshot snapshot = metrics.snapshot();
  CHECK(snapshot.uptime_ms == 5000);
  CHECK(snapshot.orchestrations["HelloWorld"].started == 1);
  CHECK(snapshot.orchestrations["HelloWorld"].completed == 1);
  CHECK(snapshot.orchestrations["Fails"].failed == 1);
  CHECK(snapshot.orchestrations["Counter"].started == 3);  // one per execution
  CHECK(snapshot.orchestrations["Counter"].continued == 2);
  CHECK(snapshot.orchestrations["Counter"].completed == 1);
  CHECK(snapshot.activities["AddOne"].completed == 3);
  CHECK(snapshot.activities["Fail"].failed == 1);
  CHECK(snapshot.success_rate == Approx(4.0 / 5.0));  // Hello, Counter, Odd, Tagged completed; Fails failed
  CHECK(snapshot.turn_ms.count >= 6);
  // The five starts are fetched in one batch and acked in one call: fewer ack
  // calls than turns.
  CHECK(snapshot.provider_ms["ack_orchestration_items"].count >= 1);
  CHECK(snapshot.provider_ms["ack_orchestration_items"].count <= snapshot.turn_ms.count - 3);
  CHECK(snapshot.provider_ms["fetch_work_items"].count >= 4);
  CHECK(snapshot.provider_errors == 0);

  // Upstream Duroxide's names and labels.
  StoreGauges gauges{2, 3, 4};
  std::string text = RuntimeMetrics::to_prometheus(snapshot, &gauges);
  auto has = [&](const std::string& line) {
    INFO(line);
    CHECK(text.find(line + "\n") != std::string::npos);
  };
  has("duroxide_uptime_seconds 5");
  has(R"(duroxide_orchestration_starts_total{orchestration_name="HelloWorld",version="1.0.0",initiated_by="client"} 1)");
  has(R"(duroxide_orchestration_starts_total{orchestration_name="Counter",version="1.0.0",initiated_by="continueAsNew"} 2)");
  has(R"(duroxide_orchestration_completions_total{orchestration_name="Counter",version="1.0.0",status="continuedAsNew",final_turn_count="1-5"} 2)");
  has(R"(duroxide_orchestration_completions_total{orchestration_name="Odd\"Name\\",version="1.0.0",status="success",final_turn_count="1-5"} 1)");
  has(R"(duroxide_orchestration_completions_total{orchestration_name="Fails",version="1.0.0",status="failed",final_turn_count="1-5"} 1)");
  has(R"(duroxide_orchestration_failures_total{orchestration_name="Fails",version="1.0.0",error_type="app_error",error_category="activity_failed"} 1)");
  has(R"(duroxide_orchestration_continue_as_new_total{orchestration_name="Counter",execution_id="2"} 1)");
  has(R"(duroxide_activity_executions_total{activity_name="Fail",outcome="app_error",retry_attempt="0",tag="default"} 1)");
  has(R"(duroxide_activity_executions_total{activity_name="AddOne",outcome="success",retry_attempt="0",tag="default"} 2)");
  has(R"(duroxide_activity_executions_total{activity_name="AddOne",outcome="success",retry_attempt="0",tag="gpu \"fast\""} 1)");
  has(R"(duroxide_activity_duration_seconds_bucket{activity_name="AddOne",outcome="success",tag="default",le="+Inf"} 2)");
  has(R"(duroxide_activity_duration_seconds_bucket{activity_name="AddOne",outcome="success",tag="gpu \"fast\"",le="+Inf"} 1)");
  has(R"(duroxide_orchestration_duration_seconds_bucket{orchestration_name="Odd\"Name\\",version="1.0.0",status="success",le="0.1"} 0)");
  has(R"(duroxide_orchestration_duration_seconds_bucket{orchestration_name="Odd\"Name\\",version="1.0.0",status="success",le="0.5"} 1)");
  has(R"(duroxide_orchestration_duration_seconds_sum{orchestration_name="Odd\"Name\\",version="1.0.0",status="success"} 0.25)");
  has(R"(duroxide_orchestration_turns_bucket{orchestration_name="Odd\"Name\\",le="1"} 0)");
  has(R"(duroxide_orchestration_turns_bucket{orchestration_name="Odd\"Name\\",le="2"} 1)");
  has("duroxide_orchestration_poison_total 0");
  has("duroxide_activity_poison_total 0");
  has(R"(duroxide_active_orchestrations{state="all"} 2)");
  has("duroxide_orchestrator_queue_depth 3");
  has("duroxide_worker_queue_depth 4");
  has(R"(duroxide_provider_operation_duration_seconds_count{operation="ack_orchestration_items",status="success"} )" +
      std::to_string(snapshot.provider_ms["ack_orchestration_items"].count));
  has("duroxide_orchestration_turn_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(snapshot.turn_ms.count));
  CHECK(text.find("duroxide_provider_errors_total{") == std::string::npos);
  // Every sample line is `name{labels} value`; every metric has HELP and TYPE.
  std::regex sample(R"(^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? -?[0-9.e+]+$)");
  std::size_t samples_seen = 0;
  std::size_t start_of_line = 0;
  while (start_of_line < text.size()) {
    std::size_t end = text.find('\n', start_of_line);
    std::string line = text.substr(start_of_line, end - start_of_line);
    start_of_line = end + 1;
    if (line.rfind("# ", 0) == 0) continue;
    INFO(line);
    CHECK(std::regex_match(line, sample));
    ++samples_seen;
  }
  CHECK(samples_seen > 30);
}

TEST_CASE("histograms bucket by upper bound", "[metrics]") {
  Histogram h;
  for (std::int64_t ms : {0, 1, 2, 5, 60000, 60001}) h.record(ms);
  CHECK(h.buckets[0] == 2);  // <= 1
  CHECK(h.buckets[1] == 2);  // <= 5
  CHECK(h.buckets[9] == 1);  // <= 60000
  CHECK(h.buckets[10] == 1); // +Inf
  CHECK(h.count == 6);
  CHECK(h.sum == 120009);
}

namespace {

// A step driver over an in-memory store with the catalog registered and metrics on.
struct MeteredStepHost {
  ManualClock clock;
  SequentialIdSource ids;
  Registry registry;
  SqliteProvider store{":memory:", clock, ids};
  RuntimeMetrics metrics{clock};
  StepDriver driver;

  MeteredStepHost(std::size_t orchestration_batch, std::size_t worker_batch)
      : driver(store, with_catalog(registry), clock, options(orchestration_batch, worker_batch)) {}

  static const Registry& with_catalog(Registry& registry) {
    samples::register_all(registry);
    return registry;
  }

  RuntimeOptions options(std::size_t orchestration_batch, std::size_t worker_batch) {
    RuntimeOptions options;
    options.metrics = &metrics;
    options.orchestration_batch_size = orchestration_batch;
    options.worker_batch_size = worker_batch;
    return options;
  }
  void start_fan_outs(int first, int count) {
    for (int i = first; i < first + count; ++i) {
      store.enqueue_orchestrator_item(
          work::StartOrchestration{"f" + std::to_string(i), "FanOutFanIn", {}, R"(["a","b","c","d","e"])", {}, 0, {}}, 0);
    }
  }
  void require_completed(int first, int count) {
    for (int i = first; i < first + count; ++i) {
      auto info = store.get_instance_info("f" + std::to_string(i));
      REQUIRE(info.has_value());
      CHECK(info->state == RuntimeState::Completed);
    }
  }
};

}  // namespace

TEST_CASE("batched dispatchers finish every instance with fewer provider calls", "[metrics][batch]") {
  MeteredStepHost host(4, 5);
  host.start_fan_outs(0, 6);
  host.driver.run_until_idle();
  host.require_completed(0, 6);
  RuntimeMetricsSnapshot snapshot = host.metrics.snapshot();
  CHECK(snapshot.activities["Hello"].completed == 30);
  // 30 activities in batches of up to 5; 6 starts plus completions in batches of up to 4.
  CHECK(snapshot.provider_ms["ack_work_items"].count <= 12);
  CHECK(snapshot.provider_ms["ack_orchestration_items"].count < snapshot.turn_ms.count);
}

TEST_CASE("run_until_idle lets an instance's completions gather into one orchestration turn",
          "[metrics][batch][runtime]") {
  MeteredStepHost host(16, 1);  // one activity per worker step
  host.start_fan_outs(0, 3);
  // One orchestration step (3 starts), 15 worker steps (up to 16 per round), one
  // orchestration step taking each instance's 5 completions in one turn. Taking
  // turns one step each would run a turn per completion: 3 + 15 turns.
  CHECK(host.driver.run_until_idle() == 1 + 15 + 1);
  host.require_completed(0, 3);
  RuntimeMetricsSnapshot snapshot = host.metrics.snapshot();
  CHECK(snapshot.activities["Hello"].completed == 15);
  CHECK(snapshot.turn_ms.count == 6);
  CHECK(host.driver.run_until_idle() == 0);

  // max_steps bounds the dispatcher steps, whichever dispatcher takes them.
  host.start_fan_outs(3, 3);
  CHECK(host.driver.run_until_idle(4) == 4);  // the 3 starts in one step, then 3 activities
  snapshot = host.metrics.snapshot();
  CHECK(snapshot.turn_ms.count == 9);
  CHECK(snapshot.activities["Hello"].completed == 18);
}

namespace {

// Activities "Work": "slow" takes 10 ms of the manual clock, anything else none.
// "Spread" schedules one per name in its input, in parallel.
struct AdaptiveWorkerHost {
  ManualClock clock;
  SequentialIdSource ids;
  Registry registry;
  SqliteProvider store{":memory:", clock, ids};
  RuntimeMetrics metrics{clock};
  RuntimeOptions options;

  AdaptiveWorkerHost() {
    registry.register_activity("Work", [this](ActivityContext&, const std::string& input) {
      if (input == "slow") clock.advance(10);
      return input;
    });
    registry.register_orchestration("Spread", [](OrchestrationContext& ctx, std::string input) -> Task<std::string> {
      std::vector<DurableFuture> work;
      for (const auto& name : nlohmann::json::parse(input)) work.push_back(ctx.schedule_activity("Work", name));
      co_await ctx.join(std::move(work));
      co_return "done";
    });
    options.metrics = &metrics;
    options.worker_batch_size = 16;
    options.worker_batch_delay_ms = 2;
  }
  // Starts one Spread and runs its first turn: its activities are queued.
  void spread(const std::string& names) {
    store.enqueue_start(work::StartOrchestration{"s", "Spread", {}, names, {}, 0, {}});
    OrchestrationDispatcher orchestrations(store, registry, clock, options);
    REQUIRE(orchestrations.step());
  }
  std::uint64_t acks() { return metrics.snapshot().provider_ms["ack_work_items"].count; }
};

}  // namespace

TEST_CASE("a worker's batches double while their activities are short, up to worker_batch_size",
          "[metrics][batch]") {
  AdaptiveWorkerHost host;
  host.spread(R"(["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o"])");
  WorkerDispatcher workers(host.store, host.registry, host.clock, host.options);
  for (int batch = 1; batch <= 8; batch *= 2) {
    REQUIRE(workers.step());  // takes 1, 2, 4, then 8 activities
  }
  CHECK_FALSE(workers.step());
  CHECK(host.acks() == 4);
  CHECK(host.metrics.snapshot().activities["Work"].completed == 15);
}

TEST_CASE("a long activity in a worker batch is acked at once and releases the activities after it",
          "[metrics][batch]") {
  AdaptiveWorkerHost host;
  host.spread(R"(["a","b","c","slow","e","f","g"])");
  WorkerDispatcher workers(host.store, host.registry, host.clock, host.options);
  REQUIRE(workers.step());  // a
  REQUIRE(workers.step());  // b, c
  REQUIRE(workers.step());  // fetches slow, e, f, g; runs slow, acks it, gives e, f, g back
  CHECK(host.acks() == 3);
  CHECK(host.metrics.snapshot().activities["Work"].completed == 4);
  // What was given back is there for any worker at once, its attempt not counted;
  // this worker now takes one at a time.
  std::optional<WorkerItem> next = host.store.fetch_work_item(30'000);
  REQUIRE(next);
  CHECK(next->item.input == "e");
  CHECK(next->attempt_count == 1);
  host.store.abandon_work_item(next->lock_token, 0, true);
  REQUIRE(workers.step());  // e alone
  CHECK(host.metrics.snapshot().activities["Work"].completed == 5);
  REQUIRE(workers.step());  // f, g
  CHECK(host.acks() == 5);
  CHECK_FALSE(workers.step());
}

// Sums and uptime grow past a million seconds in a long-lived process: printed with six
// significant digits they moved in steps of ten seconds, and rate(_sum) / rate(_count) with them.
TEST_CASE("Prometheus values keep their precision past a million", "[metrics]") {
  RuntimeMetricsSnapshot snapshot;
  snapshot.uptime_ms = 1'234'567'891;
  const std::string text = RuntimeMetrics::to_prometheus(snapshot, nullptr);
  INFO(text);
  CHECK(text.find("duroxide_uptime_seconds 1234567.891\n") != std::string::npos);
}

namespace {

// Fails the first `permanent` orchestration acks with a Permanent error (each counts an
// attempt), the next `transient` with a Transient one (none counts), then forwards.
class FailingOrchestrationAcks final : public testing::ForwardingStore {
 public:
  FailingOrchestrationAcks(Provider& inner, int permanent, int transient)
      : testing::ForwardingStore(inner), permanent_(permanent), transient_(transient) {}
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    if (permanent_ > 0) {
      --permanent_;
      throw ProviderError(ProviderErrorKind::Permanent, "ack_orchestration_item", "disk I/O error");
    }
    if (transient_ > 0) {
      --transient_;
      throw ProviderError(ProviderErrorKind::Transient, "ack_orchestration_item", "database is busy");
    }
    inner_.ack_orchestration_item(token, ack);
  }

 private:
  int permanent_;
  int transient_;
};

}  // namespace

TEST_CASE("an instance poisoned once counts once, though its poison ack was retried", "[metrics][poison]") {
  ManualClock clock;
  SequentialIdSource ids;
  Registry registry;
  samples::register_all(registry);
  SqliteProvider sqlite(":memory:", clock, ids);
  RuntimeOptions options;
  options.max_attempts = 2;
  FailingOrchestrationAcks store(sqlite, static_cast<int>(options.max_attempts), 1);
  RuntimeMetrics metrics(clock);
  options.metrics = &metrics;
  StepDriver driver(store, registry, clock, options);
  store.enqueue_orchestrator_item(work::StartOrchestration{"p", "HelloWorld", "2.0.0", "Ada", {}, 0, {}}, 0);
  driver.run_until_idle();
  // Two attempts failed to ack; the third is poison, and its ack committed at its second try.
  REQUIRE(sqlite.read("p").back().is<events::OrchestrationFailed>());
  CHECK(sqlite.read("p").back().as<events::OrchestrationFailed>()->details.kind == ErrorKind::Poison);
  CHECK(metrics.snapshot().poison == 1);
}
