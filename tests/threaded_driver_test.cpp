// The threaded driver (native only): concurrency, lock renewal of long
// activities, cancellation through lock loss, graceful shutdown.
#ifndef __EMSCRIPTEN__
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "duroxide/duroxide.hpp"
#include "duroxide/platform.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "forwarding_store.hpp"
#include "provider_suite.hpp"

using namespace duroxide;

namespace {

std::vector<std::string> threaded_kinds() {
  std::vector<std::string> kinds{"sqlite-file"};
  if (testing::postgres_conninfo()) kinds.push_back("postgres");
  return kinds;
}

// Real threads, the system clock and a file database, or a PostgreSQL schema
// (under scripts/with-postgres.sh), shared by every thread of the driver.
struct NativeHost {
  std::string path;
  SystemClock clock;
  RandomIdSource ids;
  Registry registry;
  std::string location;  // the SQLite file, or the PostgreSQL connection string
  StoreOptions options;  // PostgreSQL: a schema of this test's own
  std::unique_ptr<Store> opened;
  Provider* store = nullptr;
  ManagementProvider* admin = nullptr;
  std::unique_ptr<RuntimeClient> client;
  SleepPacer pacer{clock};

  NativeHost(const std::string& name, const std::string& kind) : path("/tmp/duroxide-threaded-" + name + ".db") {
    samples::register_all(registry);
    if (kind == "postgres") {
      REQUIRE(testing::postgres_conninfo());
      location = testing::postgres_conninfo();
      options.schema = testing::unique_schema("threaded_" + name);
    } else {
      location = path;
    }
    remove_store(location, clock, ids, options);
    opened = open_store(location, clock, ids, options);
    store = opened.get();
    admin = opened.get();
    client = std::make_unique<RuntimeClient>(*store, *admin);
  }
  ~NativeHost() {
    client.reset();
    opened.reset();
    try {
      remove_store(location, clock, ids, options);
    } catch (const std::exception&) {
    }
  }
  // Another connection to the same store, as another process would have.
  std::unique_ptr<Provider> connect() { return open_store(location, clock, ids, options); }
};

}  // namespace

TEST_CASE("the threaded driver runs many instances concurrently", "[threaded]") {
  const std::string kind = GENERATE(from_range(threaded_kinds()));
  INFO("provider: " << kind);
  NativeHost host("many", kind);
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

TEST_CASE("work enqueued in this process wakes an idle driver at once, and a timer wakes it when due",
          "[threaded][wake]") {
  const std::string kind = GENERATE(from_range(threaded_kinds()));
  INFO("provider: " << kind);
  NativeHost host("wake", kind);
  RuntimeOptions options;
  options.poll_interval_ms = 60'000;  // a poll cannot explain anything below
  ThreadedDriver driver(*host.store, host.registry, host.clock, options);
  driver.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // every dispatcher found nothing and waits
  auto seconds_since = [](std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  // A start wakes the orchestrations, its activity the workers, the completion
  // the orchestrations again.
  auto start = std::chrono::steady_clock::now();
  host.client->start_orchestration("hello", "HelloWorld", "Ada", "1.0.0");
  REQUIRE(host.client->wait_for_orchestration("hello", 20'000, host.pacer).output == "Hello, Ada!");
  CHECK(seconds_since(start) < 5);

  // An event raised from outside wakes the orchestrations.
  host.client->start_orchestration("approve", "Approval", R"({"timeout_ms":3600000})");
  REQUIRE(host.client->wait_for_status_change("approve", 0, 100, host.pacer) == std::nullopt);
  start = std::chrono::steady_clock::now();
  host.client->raise_event("approve", "Approve", "yes");
  CHECK(host.client->wait_for_orchestration("approve", 20'000, host.pacer).output == "approved:yes");
  CHECK(seconds_since(start) < 5);

  // A durable timer written by an ack wakes the orchestrations when it is due.
  start = std::chrono::steady_clock::now();
  host.client->start_orchestration("timeout", "Approval", R"({"timeout_ms":300})");
  CHECK(host.client->wait_for_orchestration("timeout", 20'000, host.pacer).output == "timeout");
  CHECK(seconds_since(start) >= 0.3);
  CHECK(seconds_since(start) < 5);
  CHECK(driver.shutdown(5'000));
}

TEST_CASE("a long activity keeps its lock by renewal and runs once", "[threaded]") {
  const std::string kind = GENERATE(from_range(threaded_kinds()));
  // The lock keeper wakes in time for the renewal even when the poll interval is longer.
  const std::int64_t poll_interval_ms = GENERATE(5, 1'000);
  INFO("provider: " << kind << ", poll interval " << poll_interval_ms << " ms");
  NativeHost host("renew", kind);
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
  options.poll_interval_ms = poll_interval_ms;
  ThreadedDriver driver(*host.store, host.registry, host.clock, options);
  driver.start();
  host.client->start_orchestration("s", "SlowOne", "");
  OrchestrationStatus status = host.client->wait_for_orchestration("s", 20'000, host.pacer);
  CHECK(status.output == "slow done");
  CHECK(runs.load() == 1);
}

TEST_CASE("an activity learns it was cancelled when its lock is stolen", "[threaded][cancel]") {
  const std::string kind = GENERATE(from_range(threaded_kinds()));
  INFO("provider: " << kind);
  NativeHost host("cancel", kind);
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

// The lock keeper tells a lost lock with no lock of the driver held: an observer that
// enqueues work (here a start, which wakes the driver's dispatchers) must not deadlock it.
TEST_CASE("an observer that enqueues work when a lock is lost does not stop the driver", "[threaded][cancel]") {
  const std::string kind = GENERATE(from_range(threaded_kinds()));
  INFO("provider: " << kind);
  NativeHost host("observer", kind);
  host.registry.register_activity("Patient", [](ActivityContext& ctx, const std::string&) {
    for (int i = 0; i < 500 && !ctx.is_cancelled(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return std::string("finished anyway");
  });
  host.registry.register_orchestration("Impatient", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto winner = co_await ctx.select(ctx.schedule_activity("Patient", ""), ctx.schedule_timer(100));
    co_return winner.index == 1 ? "gave up" : "patient won";
  });
  host.registry.register_orchestration("Alert", [](OrchestrationContext&, std::string) -> Task<std::string> {
    co_return "alerted";
  });
  std::atomic<bool> alerted{false};
  RuntimeObserver observer = [&](const RuntimeEvent& event) {
    if (event.kind == RuntimeEvent::Kind::LockLost && !alerted.exchange(true)) {
      host.client->start_orchestration("alert", "Alert", "");
    }
  };
  RuntimeOptions options;
  options.orchestration_concurrency = 1;
  options.worker_concurrency = 1;
  options.worker_lock_timeout_ms = 300;
  options.lock_renewal_buffer_ms = 250;
  options.poll_interval_ms = 5;
  ThreadedDriver driver(*host.store, host.registry, host.clock, options, observer);
  driver.start();
  host.client->start_orchestration("i", "Impatient", "");
  CHECK(host.client->wait_for_orchestration("i", 20'000, host.pacer).output == "gave up");
  CHECK(host.client->wait_for_orchestration("alert", 20'000, host.pacer).output == "alerted");
  CHECK(driver.shutdown(5'000));
}

TEST_CASE("shutdown keeps renewing a running activity's lock: another node never runs it again",
          "[threaded][shutdown]") {
  const std::string kind = GENERATE(from_range(threaded_kinds()));
  INFO("provider: " << kind);
  NativeHost host("shutdown", kind);
  static std::atomic<int> runs{0};
  runs = 0;
  host.registry.register_activity("Lengthy", [](ActivityContext&, const std::string&) {
    ++runs;
    std::this_thread::sleep_for(std::chrono::milliseconds(900));
    return std::string("lengthy done");
  });
  host.registry.register_orchestration("LengthyOne", [](OrchestrationContext& ctx,
                                                        std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Lengthy", "");
  });
  RuntimeOptions options;
  options.worker_lock_timeout_ms = 200;
  options.lock_renewal_buffer_ms = 120;
  options.poll_interval_ms = 5;
  ThreadedDriver first(*host.store, host.registry, host.clock, options);
  first.start();
  host.client->start_orchestration("l", "LengthyOne", "");
  for (int i = 0; i < 2'000 && runs.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(runs.load() == 1);
  // A second node on the same store takes any item whose lock expires.
  ThreadedDriver second(*host.store, host.registry, host.clock, options);
  second.start();
  CHECK(first.shutdown(5'000));
  OrchestrationStatus status = host.client->wait_for_orchestration("l", 20'000, host.pacer);
  CHECK(status.output == "lengthy done");
  CHECK(runs.load() == 1);
  CHECK(second.shutdown(5'000));
}

namespace {

// Its lease renewals throw what no std::exception handler catches, as a store of
// another library may.
class RenewalsThrowAnInt final : public testing::ForwardingStore {
 public:
  using testing::ForwardingStore::ForwardingStore;
  void renew_work_item_lock(const std::string&, std::int64_t) override {
    ++renewals;
    throw 42;
  }
  std::atomic<int> renewals{0};
};

}  // namespace

TEST_CASE("a store or an observer that throws a non-standard exception does not end the driver",
          "[threaded]") {
  NativeHost host("throws", "sqlite-file");
  host.registry.register_activity("Slow", [](ActivityContext&, const std::string&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return std::string("slow done");
  });
  host.registry.register_orchestration("SlowOne", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Slow", "");
  });
  RenewalsThrowAnInt store(*host.store);
  std::atomic<int> reports{0};
  RuntimeObserver observer = [&](const RuntimeEvent& event) {
    if (event.kind == RuntimeEvent::Kind::ProviderError) ++reports;
    throw std::runtime_error("an observer that throws");
  };
  RuntimeOptions options;
  options.worker_lock_timeout_ms = 1'000;
  options.lock_renewal_buffer_ms = 950;  // renew every 50 ms: the 200 ms activity is renewed
  options.poll_interval_ms = 5;
  ThreadedDriver driver(store, host.registry, host.clock, options, observer);
  driver.start();
  host.client->start_orchestration("s", "SlowOne", "");
  CHECK(host.client->wait_for_orchestration("s", 20'000, host.pacer).output == "slow done");
  CHECK(store.renewals.load() > 0);
  CHECK(reports.load() >= store.renewals.load());  // each failed renewal was reported
  CHECK(driver.shutdown(5'000));
}

namespace {

// Each activity ack returns only once a renewal of the lock it freed has been refused
// (or after 5 s): the race between a committed ack and the lock keeper, made certain.
class AckWaitsForARefusedRenewal final : public testing::ForwardingStore {
 public:
  using testing::ForwardingStore::ForwardingStore;
  void ack_work_item(const std::string& token, const std::optional<WorkItem>& completion) override {
    testing::ForwardingStore::ack_work_item(token, completion);  // committed: the row is gone
    std::unique_lock<std::mutex> lock(mutex_);
    acked_.insert(token);
    refused_.wait_for(lock, std::chrono::seconds(5), [&] { return refused_after_ack_ > 0; });
  }
  void renew_work_item_lock(const std::string& token, std::int64_t extend_ms) override {
    try {
      testing::ForwardingStore::renew_work_item_lock(token, extend_ms);
    } catch (const ProviderError& error) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error.kind() == ProviderErrorKind::InvalidLock && acked_.count(token)) {
        ++refused_after_ack_;
        refused_.notify_all();
      }
      throw;
    }
  }
  int refused_after_ack() {
    std::lock_guard<std::mutex> lock(mutex_);
    return refused_after_ack_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable refused_;
  std::set<std::string> acked_;
  int refused_after_ack_ = 0;
};

}  // namespace

TEST_CASE("a renewal refused because the activity's ack has just committed is no lost lock",
          "[threaded]") {
  NativeHost host("renewal-after-ack", "sqlite-file");
  AckWaitsForARefusedRenewal store(*host.store);
  std::mutex events_mutex;
  std::vector<std::string> lost;
  RuntimeObserver observer = [&](const RuntimeEvent& event) {
    std::lock_guard<std::mutex> lock(events_mutex);
    if (event.kind == RuntimeEvent::Kind::LockLost) lost.push_back(event.message);
  };
  RuntimeOptions options;
  options.worker_lock_timeout_ms = 1'000;
  options.lock_renewal_buffer_ms = 950;  // a renewal every 50 ms
  options.worker_batch_size = 1;
  ThreadedDriver driver(store, host.registry, host.clock, options, observer);
  driver.start();
  host.client->start_orchestration("h", "HelloWorld", "Ada", "1.0.0");
  CHECK(host.client->wait_for_orchestration("h", 20'000, host.pacer).output == "Hello, Ada!");
  CHECK(driver.shutdown(5'000));
  CHECK(store.refused_after_ack() > 0);  // the race happened
  std::lock_guard<std::mutex> lock(events_mutex);
  CHECK(lost.empty());
}

namespace {

// Refuses every abandon for its lock, as a store does once the lock has expired and
// another node took the item.
class AbandonsLoseTheLock final : public testing::ForwardingStore {
 public:
  using testing::ForwardingStore::ForwardingStore;
  void abandon_work_item(const std::string&, std::int64_t, bool) override {
    ++refused;
    throw ProviderError(ProviderErrorKind::InvalidLock, "abandon_work_item", "the lock expired");
  }
  std::atomic<int> refused{0};
};

}  // namespace

TEST_CASE("an abandon refused for its lock is reported as a lost lock", "[threaded]") {
  NativeHost host("abandon-lost", "sqlite-file");
  host.registry.register_orchestration("CallsNowhere", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Nowhere", "");  // registered on no node
  });
  AbandonsLoseTheLock store(*host.store);
  std::mutex events_mutex;
  std::vector<RuntimeEvent::Kind> kinds;
  RuntimeObserver observer = [&](const RuntimeEvent& event) {
    std::lock_guard<std::mutex> lock(events_mutex);
    if (event.kind == RuntimeEvent::Kind::LockLost || event.kind == RuntimeEvent::Kind::ProviderError) {
      kinds.push_back(event.kind);
    }
  };
  RuntimeOptions options;
  options.poll_interval_ms = 5;
  ThreadedDriver driver(store, host.registry, host.clock, options, observer);
  driver.start();
  host.client->start_orchestration("n", "CallsNowhere", "");
  for (int i = 0; i < 2'000 && store.refused.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(driver.shutdown(5'000));
  REQUIRE(store.refused.load() > 0);
  std::lock_guard<std::mutex> lock(events_mutex);
  REQUIRE(!kinds.empty());
  CHECK(kinds.front() == RuntimeEvent::Kind::LockLost);
}

namespace {

// Refuses every lease renewal and every abandon for its lock (without asking the store
// below, whose locks stay valid), as a store does to a node cut off past its locks.
class RenewalsAndAbandonsLoseTheLock final : public testing::ForwardingStore {
 public:
  using testing::ForwardingStore::ForwardingStore;
  void renew_work_item_lock(const std::string&, std::int64_t) override {
    throw ProviderError(ProviderErrorKind::InvalidLock, "renew_work_item_lock", "the lock expired");
  }
  void abandon_work_item(const std::string&, std::int64_t, bool) override {
    ++abandons;
    throw ProviderError(ProviderErrorKind::InvalidLock, "abandon_work_item", "the lock expired");
  }
  std::atomic<int> abandons{0};
};

}  // namespace

TEST_CASE("a lock the keeper reported lost is not reported again when its abandon is refused", "[threaded]") {
  NativeHost host("lost-once", "sqlite-file");
  host.registry.register_activity("Slow", [](ActivityContext&, const std::string&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return std::string("slow");
  });
  host.registry.register_activity("Quick", [](ActivityContext&, const std::string&) { return std::string("quick"); });
  host.registry.register_orchestration("OneQuick", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Quick", "");
  });
  host.registry.register_orchestration("SlowThenQuick", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    std::vector<DurableFuture> both;
    both.push_back(ctx.schedule_activity("Slow", ""));
    both.push_back(ctx.schedule_activity("Quick", ""));
    co_await ctx.join(std::move(both));
    co_return "done";
  });
  RenewalsAndAbandonsLoseTheLock store(*host.store);
  std::mutex events_mutex;
  int keeper_reports = 0;  // the lock keeper's, for the pair's Quick
  int worker_reports = 0;  // the worker's, for the pair's instance
  RuntimeObserver observer = [&](const RuntimeEvent& event) {
    if (event.kind != RuntimeEvent::Kind::LockLost) return;
    std::lock_guard<std::mutex> lock(events_mutex);
    if (event.message.find("activity Quick of pair lost its lock") != std::string::npos) ++keeper_reports;
    if (event.instance == "pair") ++worker_reports;
  };
  RuntimeOptions options;
  options.worker_lock_timeout_ms = 1'000;
  options.lock_renewal_buffer_ms = 950;  // a renewal every 50 ms: each is refused
  options.poll_interval_ms = 5;
  options.worker_batch_delay_ms = 150;  // Quick is short even on a loaded machine; Slow (300 ms) is long
  ThreadedDriver driver(store, host.registry, host.clock, options, observer);
  driver.start();
  // A short batch first, so the worker's next fetch takes two items: Slow, then Quick.
  host.client->start_orchestration("warm", "OneQuick", "");
  REQUIRE(host.client->wait_for_orchestration("warm", 20'000, host.pacer).output == "quick");
  host.client->start_orchestration("pair", "SlowThenQuick", "");
  // Slow runs long: the keeper reports both leases lost; then the worker gives Quick back,
  // and that abandon is refused too.
  for (int i = 0; i < 2'000 && store.abandons.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(driver.shutdown(5'000));
  REQUIRE(store.abandons.load() > 0);
  std::lock_guard<std::mutex> lock(events_mutex);
  CHECK(keeper_reports == 1);
  CHECK(worker_reports == 0);
}

TEST_CASE("an imported instance's pending work wakes an idle driver at once, not at its next poll",
          "[threaded][export]") {
  NativeHost host("import-wakes", "sqlite-file");
  // An instance waiting on its activity, exported and deleted before any runtime ran it.
  host.client->start_orchestration("w", "HelloWorld", "Ada", "1.0.0");
  {
    ManualClock clock;
    StepDriver one_turn(*host.store, host.registry, clock);
    REQUIRE(one_turn.step());  // its first turn schedules the activity
  }
  ManagementClient management(*host.admin);
  const std::string document = management.export_instance("w");
  management.delete_instance("w", true);
  RuntimeOptions options;
  options.poll_interval_ms = 60'000;  // a poll cannot explain a quick finish
  ThreadedDriver driver(*host.store, host.registry, host.clock, options);
  driver.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // both dispatchers go idle
  const auto imported = std::chrono::steady_clock::now();
  management.import_instance(document);
  CHECK(host.client->wait_for_orchestration("w", 20'000, host.pacer).state == RuntimeState::Completed);
  CHECK(std::chrono::steady_clock::now() - imported < std::chrono::seconds(10));
  CHECK(driver.shutdown(5'000));
}

TEST_CASE("a worker shut down mid-batch starts none of the batch's remaining activities and gives them back",
          "[threaded][shutdown]") {
  NativeHost host("mid-batch", "sqlite-file");
  static std::atomic<int> ticks{0};
  static std::atomic<bool> ticking{false};
  ticks = 0;
  ticking = false;
  host.registry.register_activity("Quick", [](ActivityContext&, const std::string& in) { return in; });
  host.registry.register_activity("Tick", [](ActivityContext&, const std::string& in) {
    ++ticks;
    ticking = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // short: under the batch delay
    return in;
  });
  host.registry.register_orchestration("Fan", [](OrchestrationContext& ctx, std::string activity) -> Task<std::string> {
    std::vector<DurableFuture> all;
    for (int i = 0; i < 16; ++i) all.push_back(ctx.schedule_activity(activity, std::to_string(i)));
    co_await ctx.join(std::move(all));
    co_return "joined";
  });
  RuntimeOptions options;
  options.worker_batch_size = 16;
  options.worker_batch_delay_ms = 200;
  options.poll_interval_ms = 5;
  ThreadedDriver first(*host.store, host.registry, host.clock, options);
  first.start();
  // Short batches grow the worker's batches to 16 (1, 2, 4, 8, then 16).
  for (int round = 0; round < 3; ++round) {
    host.client->start_orchestration("warm-" + std::to_string(round), "Fan", "Quick");
    REQUIRE(host.client->wait_for_orchestration("warm-" + std::to_string(round), 20'000, host.pacer).output == "joined");
  }
  host.client->start_orchestration("ticks", "Fan", "Tick");
  for (int i = 0; i < 4'000 && !ticking.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(ticking.load());
  CHECK(first.shutdown(10'000));
  const int ran_on_first = ticks.load();
  CHECK(ran_on_first < 16);  // the batch held more than the activity running at shutdown
  ThreadedDriver second(*host.store, host.registry, host.clock, options);
  second.start();
  CHECK(host.client->wait_for_orchestration("ticks", 20'000, host.pacer).output == "joined");
  CHECK(ticks.load() == 16);  // each given-back activity ran once, on the second
  CHECK(second.shutdown(5'000));
}

TEST_CASE("concurrent starts of one id on separate connections: exactly one is queued",
          "[threaded][start]") {
  const std::string kind = GENERATE(from_range(threaded_kinds()));
  INFO("provider: " << kind);
  NativeHost host("starts", kind);
  constexpr int kIds = 40;
  constexpr int kThreads = 4;
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::unique_ptr<Provider> own = host.connect();
      for (int i = 0; i < kIds; ++i) {
        try {
          own->enqueue_start(work::StartOrchestration{"race-" + std::to_string(i), "HelloWorld", {}, "x", {}, 0, {}});
          ++accepted;
        } catch (const ProviderError& error) {
          if (error.kind() == ProviderErrorKind::Conflict) ++refused;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(accepted.load() == kIds);
  CHECK(refused.load() == kIds * (kThreads - 1));
  CHECK(host.admin->get_queue_depths().orchestrator_visible == static_cast<std::uint64_t>(kIds));
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

TEST_CASE("threaded runtimes split activities by tag; an invalid tag filter fails the driver's constructor",
          "[threaded][tags]") {
  NativeHost host("tags", "sqlite");
  host.registry.register_activity("Where", [](ActivityContext& context, const std::string& input) {
    return input + "@" + (context.tag.empty() ? std::string("untagged") : context.tag);
  });
  host.registry.register_orchestration("Split", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    std::string plain = co_await ctx.schedule_activity("Where", "plain");
    std::string tagged = co_await ctx.schedule_activity("Where", "tagged", ActivityOptions("gpu"));
    co_return plain + "|" + tagged;
  });
  RuntimeOptions defaults;
  defaults.poll_interval_ms = 2;
  RuntimeOptions gpu = defaults;
  gpu.worker_tag_filter = TagFilter::only({"gpu"});
  ThreadedDriver general(*host.store, host.registry, host.clock, defaults);
  std::unique_ptr<Provider> second = host.connect();
  ThreadedDriver gpu_pool(*second, host.registry, host.clock, gpu);
  general.start();
  gpu_pool.start();
  for (int i = 0; i < 5; ++i) host.client->start_orchestration("split-" + std::to_string(i), "Split", "");
  for (int i = 0; i < 5; ++i) {
    OrchestrationStatus status = host.client->wait_for_orchestration("split-" + std::to_string(i), 20'000, host.pacer);
    REQUIRE(status.state == RuntimeState::Completed);
    CHECK(status.output == "plain@untagged|tagged@gpu");
  }
  CHECK(general.shutdown(5'000));
  CHECK(gpu_pool.shutdown(5'000));

  RuntimeOptions invalid = defaults;
  invalid.worker_tag_filter = TagFilter::only({"a", "b", "c", "d", "e", "f"});
  CHECK_THROWS_AS(ThreadedDriver(*host.store, host.registry, host.clock, invalid), std::invalid_argument);
}

#endif
