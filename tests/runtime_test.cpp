// The runtime's dispatchers and step driver over a real SqliteProvider.
#include <catch2/catch.hpp>
#include <cstdio>
#include <sqlite3.h>

#include "duroxide/duroxide.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "forwarding_store.hpp"
#include "runtime_world.hpp"

using namespace duroxide;

namespace {

using World = testing::RuntimeWorld;

}  // namespace

TEST_CASE("the step driver runs an orchestration and its activity to completion", "[runtime]") {
  World world;
  world.start("h", "HelloWorld", "Ada", "1.0.0");
  StepDriver driver = world.driver();
  CHECK(driver.run_until_idle() == 3);  // start turn, activity, completion turn
  InstanceInfo info = world.info("h");
  CHECK(info.state == RuntimeState::Completed);
  CHECK(info.output == "Hello, Ada!");
  CHECK(info.orchestration_version == "1.0.0");
  History history = world.store->read("h");
  CHECK(history.back().is<events::OrchestrationCompleted>());
  CHECK(replay_history(world.registry, "h", 1, history).deterministic);
  CHECK(world.store->get_queue_depths().orchestrator_visible == 0);
}

TEST_CASE("an activity's context names its instance's orchestration and version", "[runtime]") {
  World world;
  std::vector<std::string> seen;
  world.registry.register_activity("Who", [&seen](ActivityContext& context, const std::string&) {
    seen.push_back(context.orchestration_name + " " + context.orchestration_version + " " + context.instance);
    return std::string("\"ok\"");
  });
  world.registry.register_orchestration("Asker", "1.2.0", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Who", "");
  });
  world.start("a", "Asker", "", "1.2.0");
  world.start("h", "HelloWorld", "Ada", "1.0.0");
  world.driver().run_until_idle();
  CHECK(seen == std::vector<std::string>{"Asker 1.2.0 a"});
  CHECK(world.info("a").state == RuntimeState::Completed);
}

TEST_CASE("timers become due when the injected clock moves", "[runtime]") {
  World world;
  world.start("l", "LongTimer", "");
  StepDriver driver = world.driver();
  driver.run_until_idle();
  CHECK(world.info("l").state == RuntimeState::Running);
  CHECK(world.info("l").custom_status == std::optional<std::string>("waiting"));
  world.clock.advance(3'600'000 - 1);
  CHECK(driver.run_until_idle() == 0);
  world.clock.advance(1);
  CHECK(driver.run_until_idle() == 1);
  CHECK(world.info("l").output == "done");
}

TEST_CASE("every catalog sample completes through the runtime", "[runtime][samples]") {
  World world;
  for (const auto& sample : samples::catalog()) world.start(sample.name, sample.name, sample.example_input);
  StepDriver driver = world.driver();
  // Drive, then move time past every timer, until nothing is left.
  for (int round = 0; round < 10; ++round) {
    driver.run_until_idle();
    world.clock.advance(3'600'000);
  }
  world.store->enqueue_orchestrator_item(work::ExternalRaised{"Approval", "Approve", "x"}, 0);
  world.store->enqueue_orchestrator_item(work::QueueMessage{"Mailbox", "inbox", "m1"}, 0);
  world.store->enqueue_orchestrator_item(work::QueueMessage{"Mailbox", "inbox", "m2"}, 0);
  driver.run_until_idle();
  CHECK(world.info("HelloWorld").output == "Hi, Ada!");
  CHECK(world.info("FanOutFanIn").output == R"(["Hello, a!","Hello, b!","Hello, c!"])");
  CHECK(world.info("Chain").output == "15");
  CHECK(world.info("Approval").output == "timeout");  // its 60 s timer fired first
  CHECK(world.info("Counter").output == "3");
  CHECK(world.info("Counter").current_execution_id == 4);
  CHECK(world.store->list_executions("Counter").size() == 4);
  CHECK(world.info("Parent").output == R"(["Hi, a!","Hi, b!"])");
  CHECK(world.info("Parent::sub::1").parent_instance == "Parent");
  CHECK(world.info("RetryFlaky").output == "ok after 2 failures");
  CHECK(world.info("Saga").output == "compensated");
  CHECK(world.info("Mailbox").output == "m1,m2");
  CHECK(world.info("LongTimer").output == "done");
  CHECK(world.info("Fails").state == RuntimeState::Failed);
  CHECK(world.info("Fails").error->display_message() == "boom");
}

TEST_CASE("an unregistered orchestration backs off, then fails", "[runtime]") {
  World world;
  world.start("u", "Missing", "");
  StepDriver driver = world.driver();
  CHECK(driver.run_until_idle() == 1);  // abandoned with a delay
  CHECK(world.count(RuntimeEvent::Kind::Unregistered) == 1);
  CHECK_FALSE(world.store->get_instance_info("u").has_value());
  CHECK(world.store->get_queue_depths().orchestrator_delayed == 1);
  for (int i = 0; i < 5; ++i) {
    world.clock.advance(60'000);
    driver.run_until_idle();
  }
  InstanceInfo info = world.info("u");
  CHECK(info.state == RuntimeState::Failed);
  CHECK(info.error->kind == ErrorKind::UnregisteredOrchestration);
  CHECK(world.count(RuntimeEvent::Kind::Unregistered) == 2);  // attempts 1 and 2 of 3
}

TEST_CASE("an activity whose lock keeps expiring becomes poison", "[runtime]") {
  World world;
  world.start("p", "HelloWorld", "x", "1.0.0");
  OrchestrationDispatcher orchestrations(*world.store, world.registry, world.clock, world.options);
  REQUIRE(orchestrations.step());
  // A worker that crashes after fetching: the lock expires, the attempt counts.
  for (int attempt = 0; attempt < 3; ++attempt) {
    REQUIRE(world.store->fetch_work_item(1000).has_value());
    world.clock.advance(1001);
  }
  WorkerDispatcher workers(*world.store, world.registry, world.clock, world.options);
  REQUIRE(workers.step());
  REQUIRE(orchestrations.step());
  InstanceInfo info = world.info("p");
  CHECK(info.state == RuntimeState::Failed);
  CHECK(info.error->kind == ErrorKind::Poison);
  CHECK(info.error->attempt_count == 4);
}

TEST_CASE("a start whose lock keeps expiring becomes poison; its history replays", "[runtime]") {
  World world;
  world.start("s", "HelloWorld", "x");  // no version: the registry's default is recorded
  // A node that crashes after each fetch: the lock expires, the attempt counts.
  for (int attempt = 0; attempt < 3; ++attempt) {
    REQUIRE(world.store->fetch_orchestration_item(1000).has_value());
    world.clock.advance(1001);
  }
  OrchestrationDispatcher orchestrations(*world.store, world.registry, world.clock, world.options);
  REQUIRE(orchestrations.step());
  InstanceInfo info = world.info("s");
  REQUIRE(info.state == RuntimeState::Failed);
  CHECK(info.error->kind == ErrorKind::Poison);
  const History history = world.store->read("s");
  REQUIRE(history.size() == 2);
  const auto* started = history.front().as<events::OrchestrationStarted>();
  REQUIRE(started);
  CHECK(started->version == world.registry.resolve_for_start("HelloWorld", "")->version);
  // The runtime ended it before the code ran: replay reports that failure, no mismatch.
  const ReplayReport report = replay_history(world.registry, "s", 1, history);
  CHECK(report.deterministic);
  CHECK(report.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(report.outcome.error.kind == ErrorKind::Poison);
}

TEST_CASE("the messages of a poisoned instance are reported as dropped, each", "[runtime]") {
  World world;
  world.start("s", "Approval", R"({"timeout_ms":60000})");
  world.store->enqueue_orchestrator_item(work::ExternalRaised{"s", "Approve", "yes"}, 0);
  world.store->enqueue_orchestrator_item(work::QueueMessage{"s", "inbox", "m"}, 0);
  for (int attempt = 0; attempt < 3; ++attempt) {  // a node that crashes after each fetch
    REQUIRE(world.store->fetch_orchestration_item(1000).has_value());
    world.clock.advance(1001);
  }
  OrchestrationDispatcher orchestrations(*world.store, world.registry, world.clock, world.options, world.observer());
  REQUIRE(orchestrations.step());
  REQUIRE(world.info("s").error->kind == ErrorKind::Poison);
  // The start ends as the failure; the event and the queue message were never delivered.
  CHECK(world.count(RuntimeEvent::Kind::Dropped) == 2);
}

TEST_CASE("a continued execution poisoned before it ran records what its start carried; its history replays",
          "[runtime]") {
  World world;
  // The first execution sets a status and continues at once, leaving the event "go"
  // unread: it is carried, with the status, into the second, which reads it.
  world.registry.register_orchestration("CarriesGo", [](OrchestrationContext& ctx, std::string round) -> Task<std::string> {
    if (round == "0") {
      ctx.set_custom_status("first done");
      co_await ctx.continue_as_new("1");
      co_return "";
    }
    co_return co_await ctx.schedule_wait("go");
  });
  world.start("c", "CarriesGo", "0");
  world.store->enqueue_orchestrator_item(work::ExternalRaised{"c", "go", "payload"}, 0);
  OrchestrationDispatcher orchestrations(*world.store, world.registry, world.clock, world.options, world.observer());
  REQUIRE(orchestrations.step());  // the first execution continues as new, carrying "go"
  for (int attempt = 0; attempt < 3; ++attempt) {  // the next start crashes its node each time
    REQUIRE(world.store->fetch_orchestration_item(1000).has_value());
    world.clock.advance(1001);
  }
  const std::size_t dropped_before = world.count(RuntimeEvent::Kind::Dropped);
  REQUIRE(orchestrations.step());
  CHECK(world.count(RuntimeEvent::Kind::Dropped) == dropped_before);  // the start and its event are recorded
  const InstanceInfo info = world.info("c");
  REQUIRE(info.current_execution_id == 2);
  REQUIRE(info.state == RuntimeState::Failed);
  CHECK(info.error->kind == ErrorKind::Poison);
  CHECK(info.custom_status == std::optional<std::string>("first done"));
  // The carried event is in the failed execution's history, as a run start records it.
  const History history = world.store->read_execution("c", 2);
  REQUIRE(history.size() == 3);
  const auto* started = history[0].as<events::OrchestrationStarted>();
  REQUIRE(started);
  CHECK(started->carried_messages == 1);
  CHECK(started->custom_status == std::optional<std::string>("first done"));
  const auto* carried = history[1].as<events::ExternalEvent>();
  REQUIRE(carried);
  CHECK(carried->name == "go");
  CHECK(carried->data == "payload");
  CHECK(history[2].is<events::OrchestrationFailed>());
  const ReplayReport report = replay_history(world.registry, "c", 2, history);
  CHECK(report.deterministic);
  CHECK(report.outcome.error.kind == ErrorKind::Poison);
}

TEST_CASE("a continued execution poisoned before it ran reports the messages it could not carry", "[runtime]") {
  World world;
  // The first execution continues at once; the events raised with its start are more
  // than continue-as-new carries, so the next start carries none of them.
  world.registry.register_orchestration("LeavesTooMany", [](OrchestrationContext& ctx,
                                                            std::string round) -> Task<std::string> {
    if (round == "0") co_await ctx.continue_as_new("1");
    co_return "";
  });
  world.start("c", "LeavesTooMany", "0");
  for (std::size_t i = 0; i <= limits::kMaxCarriedMessages; ++i) {
    world.store->enqueue_orchestrator_item(work::ExternalRaised{"c", "e", ""}, 0);
  }
  OrchestrationDispatcher orchestrations(*world.store, world.registry, world.clock, world.options, world.observer());
  REQUIRE(orchestrations.step());
  for (int attempt = 0; attempt < 3; ++attempt) {
    REQUIRE(world.store->fetch_orchestration_item(1000).has_value());
    world.clock.advance(1001);
  }
  const std::size_t dropped_before = world.count(RuntimeEvent::Kind::Dropped);
  REQUIRE(orchestrations.step());
  REQUIRE(world.info("c").error->kind == ErrorKind::Poison);
  REQUIRE(world.count(RuntimeEvent::Kind::Dropped) == dropped_before + 1);
  CHECK(world.seen.back().message.find(std::to_string(limits::kMaxCarriedMessages + 1) + " messages") == 0);
}

TEST_CASE("a continued start onto a version registered nowhere is recorded, not reported dropped", "[runtime]") {
  World world;
  world.registry.register_orchestration("ToMissingVersion", [](OrchestrationContext& ctx,
                                                               std::string) -> Task<std::string> {
    co_await ctx.continue_as_new("next", "9.9.9");
    co_return "";
  });
  world.start("m", "ToMissingVersion", "");
  StepDriver driver = world.driver();
  for (int i = 0; i < 10 && world.store->get_instance_info("m").value_or(InstanceInfo{}).state != RuntimeState::Failed;
       ++i) {
    driver.run_until_idle();
    world.clock.advance(60'000);
  }
  REQUIRE(world.info("m").state == RuntimeState::Failed);
  CHECK(std::none_of(world.seen.begin(), world.seen.end(), [](const RuntimeEvent& event) {
    return event.kind == RuntimeEvent::Kind::Dropped && event.message.find("ContinueAsNew") != std::string::npos;
  }));
}

TEST_CASE("messages for a finished instance are dropped without changing it", "[runtime]") {
  World world;
  world.start("f", "HelloWorld", "Ada");
  StepDriver driver = world.driver();
  driver.run_until_idle();
  InstanceInfo before = world.info("f");
  const std::vector<ExecutionInfo> executions_before = world.store->list_executions("f");
  REQUIRE(executions_before.size() == 1);
  REQUIRE(executions_before[0].completed_at_ms == world.clock.now_ms());
  std::size_t events_before = world.store->read("f").size();
  world.clock.advance(5'000);
  world.store->enqueue_orchestrator_item(work::ExternalRaised{"f", "late", "x"}, 0);
  CHECK(driver.run_until_idle() == 1);
  InstanceInfo after = world.info("f");
  CHECK(after.state == RuntimeState::Completed);
  CHECK(after.output == before.output);
  CHECK(after.updated_at_ms == before.updated_at_ms);
  // The execution's end time (its duration in every view) stays when it ended.
  const std::vector<ExecutionInfo> executions_after = world.store->list_executions("f");
  REQUIRE(executions_after.size() == 1);
  CHECK(executions_after[0].completed_at_ms == executions_before[0].completed_at_ms);
  CHECK(executions_after[0].event_count == executions_before[0].event_count);
  CHECK(world.store->read("f").size() == events_before);
  CHECK(world.count(RuntimeEvent::Kind::Dropped) == 1);
}

TEST_CASE("a runtime restarted on the same file resumes every unfinished instance",
          "[runtime]") {
  std::string path = "/tmp/duroxide-runtime-restart-test.db";
  std::remove(path.c_str());
  {
    World first(path);
    first.start("a", "Chain", R"({"steps":3,"value":0})");
    first.start("b", "LongTimer", "");
    first.start("c", "Approval", R"({"timeout_ms":7200000})");
    StepDriver driver = first.driver();
    for (int i = 0; i < 5; ++i) driver.step();  // stop part way: a "crash"
    // One activity fetched and never acked: the crashed worker held its lock.
    first.store->fetch_work_item(first.options.worker_lock_timeout_ms);
  }
  {
    World second(path);
    second.clock.advance(3'600'000);
    StepDriver driver = second.driver();
    driver.run_until_idle();
    CHECK(second.info("a").output == "3");     // activities resumed, the held one after expiry
    CHECK(second.info("b").output == "done");  // the timer survived the restart
    CHECK(second.info("c").state == RuntimeState::Running);
    second.store->enqueue_orchestrator_item(work::ExternalRaised{"c", "Approve", "later"}, 0);
    driver.run_until_idle();
    CHECK(second.info("c").output == "approved:later");  // the event wait survived too
  }
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
}

namespace {

int count_kind(const History& history, EventKind kind) {
  return static_cast<int>(std::count_if(history.begin(), history.end(),
                                        [kind](const Event& e) { return e.kind() == kind; }));
}

}  // namespace

TEST_CASE("duplicate completions collapse to one", "[runtime]") {
  World world;
  world.start("d", "HelloWorld", "Ada", "1.0.0");
  OrchestrationDispatcher orchestrations(*world.store, world.registry, world.clock, world.options,
                                         world.observer());
  REQUIRE(orchestrations.step());
  auto item = world.store->fetch_work_item(1000);
  REQUIRE(item.has_value());
  work::ActivityCompleted done{"d", 1, item->item.id, "Hello, Ada!"};
  world.store->ack_work_item(item->lock_token, WorkItem{done});
  world.store->enqueue_orchestrator_item(done, 0);  // delivered twice (at-least-once)
  world.store->enqueue_orchestrator_item(done, 0);
  REQUIRE(orchestrations.step());
  History history = world.store->read("d");
  CHECK(count_kind(history, EventKind::ActivityCompleted) == 1);
  CHECK(world.info("d").output == "Hello, Ada!");
  CHECK(world.count(RuntimeEvent::Kind::Dropped) == 2);
}

TEST_CASE("a completion nobody scheduled is dropped and the instance goes on", "[runtime]") {
  World world;
  world.start("u", "HelloWorld", "Ada", "1.0.0");
  OrchestrationDispatcher orchestrations(*world.store, world.registry, world.clock, world.options,
                                         world.observer());
  REQUIRE(orchestrations.step());
  // Completions for ids the orchestration never scheduled: an activity id past the
  // history, a timer id that names the activity, a sub-orchestration nobody started.
  world.store->enqueue_orchestrator_item(work::ActivityCompleted{"u", 1, 99, "stray"}, 0);
  world.store->enqueue_orchestrator_item(work::TimerFired{"u", 1, 2, 0}, 0);
  world.store->enqueue_orchestrator_item(
      work::SubOrchestrationCompleted{"u", 2, "u::sub::7", "stray"}, 0);
  REQUIRE(orchestrations.step());
  CHECK(world.count(RuntimeEvent::Kind::Dropped) == 3);
  History history = world.store->read("u");
  CHECK(history.size() == 2);  // OrchestrationStarted, ActivityScheduled: nothing appended
  CHECK(world.info("u").state == RuntimeState::Running);

  StepDriver driver = world.driver();
  driver.run_until_idle();
  CHECK(world.info("u").state == RuntimeState::Completed);
  CHECK(world.info("u").output == "Hello, Ada!");
}

TEST_CASE("events after continue-as-new go to the latest execution", "[runtime]") {
  World world;
  world.registry.register_orchestration("Rounds", [](OrchestrationContext& ctx,
                                                     std::string round) -> Task<std::string> {
    std::string got = co_await ctx.schedule_wait("Next");
    if (round == "2") co_return "round 2 got " + got;
    co_await ctx.continue_as_new("2");
    co_return "";
  });
  world.start("r", "Rounds", "1");
  StepDriver driver = world.driver();
  driver.run_until_idle();
  world.store->enqueue_orchestrator_item(work::ExternalRaised{"r", "Next", "first"}, 0);
  driver.run_until_idle();
  CHECK(world.info("r").current_execution_id == 2);
  world.store->enqueue_orchestrator_item(work::ExternalRaised{"r", "Next", "second"}, 0);
  driver.run_until_idle();
  CHECK(world.info("r").output == "round 2 got second");
  CHECK(count_kind(world.store->read_execution("r", 1), EventKind::ExternalEvent) == 1);
  CHECK(count_kind(world.store->read_execution("r", 2), EventKind::ExternalEvent) == 1);
}

TEST_CASE("an instance started on an older version replays it after a newer one is registered",
          "[runtime][versioning]") {
  std::string path = "/tmp/duroxide-runtime-version-test.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  auto v1 = [](OrchestrationContext& ctx, std::string in) -> Task<std::string> {
    std::string a = co_await ctx.schedule_activity("Hello", in);
    co_return "v1:" + a;
  };
  {
    World old_code(path);
    old_code.registry = Registry();
    old_code.registry.register_orchestration("Greeter", v1);
    old_code.registry.register_activity("Hello", [](ActivityContext&, const std::string& n) {
      return "Hello, " + n + "!";
    });
    old_code.start("g", "Greeter", "Ada");
    OrchestrationDispatcher orchestrations(*old_code.store, old_code.registry, old_code.clock,
                                           old_code.options);
    REQUIRE(orchestrations.step());  // scheduled on 1.0.0; the deploy happens now
  }
  {
    World new_code(path);
    new_code.registry = Registry();
    new_code.registry.register_orchestration("Greeter", v1);
    new_code.registry.register_orchestration(
        "Greeter", "2.0.0", [](OrchestrationContext&, std::string in) -> Task<std::string> {
          co_return "v2:" + in;
        });
    new_code.registry.register_activity("Hello", [](ActivityContext&, const std::string& n) {
      return "Hello, " + n + "!";
    });
    new_code.start("fresh", "Greeter", "Bob");
    StepDriver driver = new_code.driver();
    driver.run_until_idle();
    CHECK(new_code.info("g").output == "v1:Hello, Ada!");
    CHECK(new_code.info("g").orchestration_version == "1.0.0");
    CHECK(new_code.info("fresh").output == "v2:Bob");
    CHECK(replay_history(new_code.registry, "g", 1, new_code.store->read("g")).deterministic);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

TEST_CASE("lock expiry during an activity: another worker takes over, one completion wins",
          "[runtime]") {
  World world;
  world.start("e", "HelloWorld", "Ada", "1.0.0");
  OrchestrationDispatcher orchestrations(*world.store, world.registry, world.clock, world.options);
  REQUIRE(orchestrations.step());
  // Worker A takes the activity and stalls past its lock.
  auto stalled = world.store->fetch_work_item(1000);
  REQUIRE(stalled.has_value());
  world.clock.advance(1001);
  // Worker B takes it over and completes it.
  WorkerDispatcher worker_b(*world.store, world.registry, world.clock, world.options);
  REQUIRE(worker_b.step());
  // Worker A finally finishes: its ack fails and changes nothing.
  try {
    world.store->ack_work_item(stalled->lock_token,
                               WorkItem{work::ActivityCompleted{"e", 1, stalled->item.id, "late"}});
    FAIL("the stale ack succeeded");
  } catch (const ProviderError& error) {
    CHECK(error.kind() == ProviderErrorKind::InvalidLock);
  }
  REQUIRE(orchestrations.step());
  History history = world.store->read("e");
  CHECK(count_kind(history, EventKind::ActivityCompleted) == 1);
  CHECK(world.info("e").output == "Hello, Ada!");
}

namespace {

// "SlowTurn": each turn takes `turn_ms` of the world's virtual time, then completes.
void register_slow_turn(World& world, std::int64_t turn_ms) {
  world.registry.register_orchestration(
      "SlowTurn", [&world, turn_ms](OrchestrationContext&, std::string) -> Task<std::string> {
        world.clock.advance(turn_ms);
        co_return "done";
      });
}

}  // namespace

TEST_CASE("a batch of slow turns renews its instance locks and acks every turn",
          "[runtime][locks]") {
  World world;
  // Each turn takes 400 ms of (virtual) time; four of them outlast a 1 s lock.
  register_slow_turn(world, 400);
  world.options.orchestration_batch_size = 4;
  world.options.orchestration_lock_timeout_ms = 1'000;
  world.options.lock_renewal_buffer_ms = 200;
  for (int i = 0; i < 4; ++i) world.start("slow-" + std::to_string(i), "SlowTurn", "");
  OrchestrationDispatcher dispatcher(*world.store, world.registry, world.clock, world.options,
                                     world.observer());
  CHECK(dispatcher.step());
  CHECK(world.count(RuntimeEvent::Kind::LockLost) == 0);
  for (int i = 0; i < 4; ++i) {
    InstanceInfo info = world.info("slow-" + std::to_string(i));
    CHECK(info.state == RuntimeState::Completed);
    CHECK(info.output == "done");
  }
}

namespace {

// Refuses the first `failures` instance-lock renewals as a busy database would.
class FlakyLockRenewals final : public testing::ForwardingStore {
 public:
  FlakyLockRenewals(Provider& inner, int failures) : ForwardingStore(inner), failures_(failures) {}
  void renew_orchestration_item_lock(const std::string& token, std::int64_t extend_ms) override {
    ++calls;
    if (failures_ > 0) {
      --failures_;
      throw ProviderError(ProviderErrorKind::Transient, "renew_orchestration_item_lock", "database is busy");
    }
    inner_.renew_orchestration_item_lock(token, extend_ms);
  }
  int calls = 0;

 private:
  int failures_;
};

}  // namespace

TEST_CASE("a batch whose lock renewal is refused tries again after its next turn, before the locks run out",
          "[runtime][locks]") {
  World world;
  // Twelve turns of 100 ms (virtual) each; locks of 1 s are renewed once 800 ms old.
  register_slow_turn(world, 100);
  world.options.orchestration_batch_size = 12;
  world.options.orchestration_lock_timeout_ms = 1'000;
  world.options.lock_renewal_buffer_ms = 200;
  for (int i = 0; i < 12; ++i) world.start("slow-" + std::to_string(i), "SlowTurn", "");
  FlakyLockRenewals flaky(*world.store, 1);  // the first renewal, at 800 ms, is refused
  OrchestrationDispatcher dispatcher(flaky, world.registry, world.clock, world.options, world.observer());
  CHECK(dispatcher.step());
  CHECK(world.count(RuntimeEvent::Kind::ProviderError) == 1);
  // Tried again at 900 ms, not 800 ms later: every lock still held when the batch acks at 1,200 ms.
  CHECK(flaky.calls > 12);
  CHECK(world.count(RuntimeEvent::Kind::LockLost) == 0);
  for (int i = 0; i < 12; ++i) {
    InstanceInfo info = world.info("slow-" + std::to_string(i));
    CHECK(info.state == RuntimeState::Completed);
    CHECK(info.output == "done");
  }
}

namespace {

// Asks for batches of `preferred` and records the largest batch each fetch asked for.
class BatchSizeRecorder final : public testing::ForwardingStore {
 public:
  BatchSizeRecorder(Provider& inner, std::size_t preferred) : ForwardingStore(inner), preferred_(preferred) {}
  std::size_t preferred_batch_size() const override { return preferred_; }
  std::vector<OrchestrationItem> fetch_orchestration_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                           const CapabilityFilter& filter) override {
    most_turns_asked = std::max(most_turns_asked, max_items);
    return inner_.fetch_orchestration_items(lock_timeout_ms, max_items, filter);
  }
  std::vector<WorkerItem> fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                           const TagFilter& filter, const SessionFetch* session) override {
    most_activities_asked = std::max(most_activities_asked, max_items);
    return inner_.fetch_work_items(lock_timeout_ms, max_items, filter, session);
  }
  std::vector<AckOutcome> ack_orchestration_items(const std::vector<OrchestrationAckRequest>& requests) override {
    return inner_.ack_orchestration_items(requests);
  }
  std::vector<AckOutcome> ack_work_items(const std::vector<WorkAckRequest>& requests) override {
    return inner_.ack_work_items(requests);
  }
  std::size_t most_turns_asked = 0;
  std::size_t most_activities_asked = 0;

 private:
  std::size_t preferred_;
};

}  // namespace

namespace {

// The roll-up tables' rows (time series, activity statistics, execution durations),
// read through a connection of their own.
std::string roll_up_rows(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::string out;
  for (const char* sql : {"SELECT * FROM metric_buckets ORDER BY resolution, bucket_start, orchestration_name, tenant",
                          "SELECT * FROM activity_stats ORDER BY activity_name, tenant",
                          "SELECT * FROM execution_durations ORDER BY orchestration_name, started_hour, bucket, tenant"}) {
    sqlite3_stmt* statement = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK);
    while (sqlite3_step(statement) == SQLITE_ROW) {
      for (int column = 0; column < sqlite3_column_count(statement); ++column) {
        const unsigned char* text = sqlite3_column_text(statement, column);
        out += text ? reinterpret_cast<const char*>(text) : "null";
        out += '|';
      }
      out += '\n';
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return out;
}

}  // namespace

TEST_CASE("a batch of acks adds the same roll-ups as the acks one by one", "[runtime][batch]") {
  std::string rows[2];
  const std::size_t sizes[2] = {1, 64};
  for (int run = 0; run < 2; ++run) {
    const std::string path = "/tmp/duroxide-runtime-roll-ups-" + std::to_string(sizes[run]) + ".db";
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
    {
      World world(path);
      world.options.orchestration_batch_size = sizes[run];
      world.options.worker_batch_size = sizes[run];
      const char* samples[] = {"HelloWorld", "FanOutFanIn", "Fails", "Saga", "Chain"};
      const char* inputs[] = {"Ada", R"(["a","b","c"])", "boom", R"({"amount":10,"fail_credit":true})",
                              R"({"steps":3,"value":1})"};
      for (int i = 0; i < 40; ++i) {
        world.start("r-" + std::to_string(i), samples[i % 5], inputs[i % 5], i % 5 == 0 ? "1.0.0" : "");
        world.clock.advance(7'919);  // finished instances' durations spread over the histogram
      }
      StepDriver driver = world.driver();
      driver.run_until_idle();
      CHECK(world.info("r-39").state != RuntimeState::Running);
      rows[run] = roll_up_rows(path);
    }
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
  CHECK(rows[0].find("Fails") != std::string::npos);
  CHECK(std::count(rows[0].begin(), rows[0].end(), '\n') >= 10);
  CHECK(rows[1] == rows[0]);
}

TEST_CASE("batch sizes left at 0 are the store's preferred size; set ones win, cut to the limit",
          "[runtime][batch]") {
  struct Case {
    std::size_t option;
    std::size_t asked;
  };
  for (const Case& c : {Case{0, 3}, Case{5, 5}, Case{kMaxBatchItems + 100, kMaxBatchItems}}) {
    World world;
    BatchSizeRecorder store(*world.store, 3);
    world.options.orchestration_batch_size = c.option;
    world.options.worker_batch_size = c.option;
    for (int i = 0; i < 300; ++i) world.start("b-" + std::to_string(i), "HelloWorld", "Ada", "1.0.0");
    StepDriver driver(store, world.registry, world.clock, world.options, world.observer());
    driver.run_until_idle();
    CHECK(store.most_turns_asked == c.asked);
    CHECK(store.most_activities_asked == c.asked);  // worker batches double up to the size
    CHECK(world.info("b-299").state == RuntimeState::Completed);
  }
  ManualClock clock;
  SequentialIdSource ids{"x"};
  CHECK(SqliteProvider(":memory:", clock, ids).preferred_batch_size() == 64);
}

TEST_CASE("execution retention keeps the newest executions of a continue-as-new loop", "[runtime][retention]") {
  World world;
  world.options.executions_kept = 2;
  world.start("loop", "Counter", R"({"count":0,"limit":5})");  // six executions
  world.start("short", "Counter", R"({"count":0,"limit":1})");  // two
  world.driver().run_until_idle();
  CHECK(world.info("loop").state == RuntimeState::Completed);
  CHECK(world.info("loop").output == "5");
  const auto executions = world.store->list_executions("loop");
  REQUIRE(executions.size() == 2);
  CHECK(executions[0].execution_id == 5);
  CHECK(executions[1].execution_id == 6);
  CHECK(world.store->read_execution("loop", 6).back().as<events::OrchestrationCompleted>() != nullptr);
  CHECK(world.store->list_executions("short").size() == 2);
  CHECK(world.store->get_system_metrics().total_executions == 4);

  World keeps_all;  // the default keeps every execution
  keeps_all.start("loop", "Counter", R"({"count":0,"limit":5})");
  keeps_all.driver().run_until_idle();
  CHECK(keeps_all.store->list_executions("loop").size() == 6);
}

TEST_CASE("the step driver renews no lock while an activity runs: one that outlasts its lock runs again",
          "[runtime]") {
  World world;
  int runs = 0;
  world.registry.register_activity("Slow", [&](ActivityContext&, const std::string&) {
    // The first run takes longer than the worker lock, on the runtime's clock.
    if (++runs == 1) world.clock.advance(world.options.worker_lock_timeout_ms + 1);
    return "run " + std::to_string(runs);
  });
  world.registry.register_orchestration("CallsSlow", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Slow", "");
  });
  world.start("s", "CallsSlow", "");
  StepDriver driver = world.driver();
  driver.run_until_idle();
  CHECK(runs == 2);  // its first result was refused: the lock had run out
  CHECK(world.info("s").output == "run 2");
  CHECK(world.count(RuntimeEvent::Kind::LockLost) == 1);
}

TEST_CASE("a runtime refuses max_attempts of 0 (every item poison at once) and past its limit, a lock of 0 ms, "
          "a renewal buffer under 1 ms and a poll interval past the limit",
          "[runtime]") {
  testing::RuntimeWorld world;
  for (const std::uint32_t attempts : {0u, RuntimeOptions::kMaxAttempts + 1}) {
    world.options.max_attempts = attempts;
    CHECK_THROWS_WITH(world.driver(),
                      "RuntimeOptions::max_attempts must be 1 to " + std::to_string(RuntimeOptions::kMaxAttempts));
  }
  world.options.max_attempts = 1;
  CHECK_NOTHROW(world.driver());
  world.options.worker_lock_timeout_ms = 0;
  CHECK_THROWS_WITH(world.driver(), "RuntimeOptions::worker_lock_timeout_ms must be 1 to " +
                                        std::to_string(limits::kMaxDelayMs));
  world.options.worker_lock_timeout_ms = 30'000;
  // A negative buffer renewed after expiry; a poll interval of centuries overflowed the deadlines.
  world.options.lock_renewal_buffer_ms = -1;
  CHECK_THROWS_WITH(world.driver(), "RuntimeOptions::lock_renewal_buffer_ms must be 1 to " +
                                        std::to_string(limits::kMaxDelayMs));
  world.options.lock_renewal_buffer_ms = 2'000;
  world.options.poll_interval_ms = limits::kMaxDelayMs + 1;
  CHECK_THROWS_WITH(world.driver(), "RuntimeOptions::poll_interval_ms must be 1 to " +
                                        std::to_string(limits::kMaxDelayMs));
  world.options.poll_interval_ms = 0;
  CHECK_THROWS_WITH(world.driver(), "RuntimeOptions::poll_interval_ms must be 1 to " +
                                        std::to_string(limits::kMaxDelayMs));
}

TEST_CASE("every runtime event kind has its own name", "[runtime]") {
  using Kind = RuntimeEvent::Kind;
  const std::vector<std::pair<Kind, std::string>> names = {
      {Kind::Log, "log"},         {Kind::Dropped, "dropped"},       {Kind::Poison, "poison"},
      {Kind::Unregistered, "unregistered"}, {Kind::Unsupported, "unsupported"}, {Kind::LockLost, "lock-lost"},
      {Kind::ProviderError, "provider-error"}};
  for (const auto& [kind, name] : names) CHECK(to_string(kind) == name);
}
