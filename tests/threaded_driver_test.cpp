// The threaded driver (native only): concurrency, lock renewal of long
// activities, cancellation through lock loss, graceful shutdown.
#ifndef __EMSCRIPTEN__
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

#include "duroxide/duroxide.hpp"
#include "duroxide/platform.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sqlite_provider.hpp"

using namespace duroxide;

namespace {

struct NativeHost {
  std::string path;
  SystemClock clock;
  RandomIdSource ids;
  Registry registry;
  std::unique_ptr<SqliteProvider> store;
  std::unique_ptr<RuntimeClient> client;
  SleepPacer pacer{clock};

  explicit NativeHost(const std::string& name) : path("/tmp/duroxide-threaded-" + name + ".db") {
    cleanup();
    samples::register_all(registry);
    store = std::make_unique<SqliteProvider>(path, clock, ids);
    client = std::make_unique<RuntimeClient>(*store, *store);
  }
  ~NativeHost() {
    store.reset();
    cleanup();
  }
  void cleanup() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
};

}  // namespace

TEST_CASE("the threaded driver runs many instances concurrently", "[threaded]") {
  NativeHost host("many");
  RuntimeOptions options;
  options.orchestration_concurrency = 2;
  options.worker_concurrency = 2;
  options.poll_interval_ms = 2;
  ThreadedDriver driver(*host.store, host.registry, host.clock, options);
  for (int i = 0; i < 20; ++i) {
    host.client->start_orchestration("chain-" + std::to_string(i), "Chain",
                                      R"({"steps":3,"value":)" + std::to_string(i) + "}");
  }
  host.client->start_orchestration("fan", "FanOutFanIn", R"(["x","y","z","w"])");
  driver.start();
  for (int i = 0; i < 20; ++i) {
    OrchestrationStatus status =
        host.client->wait_for_orchestration("chain-" + std::to_string(i), 20'000, host.pacer);
    REQUIRE(status.state == RuntimeState::Completed);
    CHECK(status.output == std::to_string(i + 3));
  }
  CHECK(host.client->wait_for_orchestration("fan", 20'000, host.pacer).output ==
        R"(["Hello, x!","Hello, y!","Hello, z!","Hello, w!"])");
  CHECK(driver.shutdown(5'000));
}

TEST_CASE("a long activity keeps its lock by renewal and runs once", "[threaded]") {
  NativeHost host("renew");
  static std::atomic<int> runs{0};
  runs = 0;
  host.registry.register_activity("Slow", [](ActivityContext&, const std::string&) {
    ++runs;
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return std::string("slow done");
  });
  host.registry.register_orchestration("SlowOne", [](OrchestrationContext& ctx,
                                                     std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Slow", "");
  });
  RuntimeOptions options;
  options.worker_concurrency = 2;  // a second worker would take an expired item
  options.worker_lock_timeout_ms = 200;
  options.lock_renewal_buffer_ms = 120;
  options.poll_interval_ms = 5;
  ThreadedDriver driver(*host.store, host.registry, host.clock, options);
  driver.start();
  host.client->start_orchestration("s", "SlowOne", "");
  OrchestrationStatus status = host.client->wait_for_orchestration("s", 20'000, host.pacer);
  CHECK(status.output == "slow done");
  CHECK(runs.load() == 1);
}

TEST_CASE("an activity learns it was cancelled when its lock is stolen", "[threaded][cancel]") {
  NativeHost host("cancel");
  static std::atomic<bool> saw_cancel{false};
  saw_cancel = false;
  host.registry.register_activity("Patient", [](ActivityContext& ctx, const std::string&) {
    for (int i = 0; i < 500 && !ctx.is_cancelled(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    saw_cancel = ctx.is_cancelled();
    return std::string("finished anyway");
  });
  host.registry.register_orchestration("Impatient", [](OrchestrationContext& ctx,
                                                       std::string) -> Task<std::string> {
    auto winner =
        co_await ctx.select(ctx.schedule_activity("Patient", ""), ctx.schedule_timer(100));
    co_return winner.index == 1 ? "gave up" : "patient won";
  });
  RuntimeOptions options;
  options.orchestration_concurrency = 1;
  options.worker_concurrency = 1;
  options.worker_lock_timeout_ms = 300;
  options.lock_renewal_buffer_ms = 250;  // renew every 50 ms: a stolen lock is noticed fast
  options.poll_interval_ms = 5;
  ThreadedDriver driver(*host.store, host.registry, host.clock, options);
  driver.start();
  host.client->start_orchestration("i", "Impatient", "");
  CHECK(host.client->wait_for_orchestration("i", 20'000, host.pacer).output == "gave up");
  for (int i = 0; i < 300 && !saw_cancel.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(saw_cancel.load());
  CHECK(driver.shutdown(5'000));
}

TEST_CASE("platform clock and ids", "[platform]") {
  SystemClock clock;
  TimestampMs first = clock.now_ms();
  CHECK(first > 1'600'000'000'000);
  CHECK(clock.now_ms() >= first);
  RandomIdSource ids;
  std::string a = ids.next_id();
  CHECK(a.size() == 32);
  CHECK(a != ids.next_id());
}
#endif
