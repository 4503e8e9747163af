// The runtime's dispatchers and step driver over a real SqliteProvider.
#include <catch2/catch.hpp>
#include <cstdio>

#include "duroxide/duroxide.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sqlite_provider.hpp"

using namespace duroxide;

namespace {

struct World {
  ManualClock clock;
  SequentialIdSource ids{"lock"};
  Registry registry;
  std::unique_ptr<SqliteProvider> store;
  RuntimeOptions options;
  std::vector<RuntimeEvent> seen;

  explicit World(const std::string& path = ":memory:") {
    samples::register_all(registry);
    store = std::make_unique<SqliteProvider>(path, clock, ids);
    options.max_attempts = 3;
  }
  StepDriver driver() {
    return StepDriver(*store, registry, clock, options,
                      [this](const RuntimeEvent& event) { seen.push_back(event); });
  }
  void start(const std::string& id, const std::string& name, const std::string& input,
             const std::string& version = {}) {
    store->enqueue_orchestrator_item(work::StartOrchestration{id, name, version, input, {}, 0}, 0);
  }
  InstanceInfo info(const std::string& id) {
    auto found = store->get_instance_info(id);
    REQUIRE(found.has_value());
    return *found;
  }
  std::size_t count(RuntimeEvent::Kind kind) const {
    return static_cast<std::size_t>(std::count_if(
        seen.begin(), seen.end(), [kind](const RuntimeEvent& e) { return e.kind == kind; }));
  }
};

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

TEST_CASE("messages for a finished instance are dropped without changing it", "[runtime]") {
  World world;
  world.start("f", "HelloWorld", "Ada");
  StepDriver driver = world.driver();
  driver.run_until_idle();
  InstanceInfo before = world.info("f");
  std::size_t events_before = world.store->read("f").size();
  world.store->enqueue_orchestrator_item(work::ExternalRaised{"f", "late", "x"}, 0);
  CHECK(driver.run_until_idle() == 1);
  InstanceInfo after = world.info("f");
  CHECK(after.state == RuntimeState::Completed);
  CHECK(after.output == before.output);
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
    StepDriver driver = first.driver();
    for (int i = 0; i < 3; ++i) driver.step();  // stop part way: a "crash"
  }
  {
    World second(path);
    second.clock.advance(3'600'000);
    StepDriver driver = second.driver();
    driver.run_until_idle();
    CHECK(second.info("a").output == "3");
    CHECK(second.info("b").output == "done");
  }
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
}
