// Capability filtering in the runtime: each execution a runtime starts is pinned to its
// build version; a runtime takes only executions pinned to versions it supports
// (RuntimeOptions::supported_replay_versions), so runtimes of two builds can share a
// store; one handed out anyway is given back, then poisoned, never replayed.
#include <catch2/catch.hpp>

#include "forwarding_store.hpp"
#include "runtime_world.hpp"

using namespace duroxide;

namespace {

// RuntimeWorld with a copy of an instance as another build would have written it.
struct World : testing::RuntimeWorld {
  RuntimeOptions options_supporting(CapabilityFilter supported) const {
    RuntimeOptions supporting = options;
    supporting.supported_replay_versions = std::move(supported);
    return supporting;
  }
  RuntimeState state(const std::string& id) { return info(id).state; }
  // A copy of `source` (an Approval waiting for its event) as the build `version` would
  // have written it: its start names that version, so the store pins it there.
  void import_as_build(const std::string& source, const std::string& copy, const std::string& version) {
    InstanceExport exported = store->export_instance(source);
    exported.info.instance = copy;
    for (ExecutionExport& execution : exported.executions) {
      auto& started = std::get<events::OrchestrationStarted>(execution.history.front().data);
      started.duroxide_version = version;
    }
    store->import_instance(exported);
  }
};

// A store that hands out every execution whatever the fetch's filter: what the runtime's
// own check is for.
class IgnoresCapabilityFilter final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                            const CapabilityFilter&) override {
    return inner_.fetch_orchestration_item(lock_timeout_ms, CapabilityFilter::any());
  }
  std::vector<OrchestrationItem> fetch_orchestration_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                           const CapabilityFilter&) override {
    return inner_.fetch_orchestration_items(lock_timeout_ms, max_items, CapabilityFilter::any());
  }
};

}  // namespace

TEST_CASE("a runtime pins every execution it starts to its build version", "[runtime][capability]") {
  World world;
  world.start("c", "Counter", R"({"count":0,"limit":2})");  // three executions
  world.driver().run_until_idle();
  REQUIRE(world.state("c") == RuntimeState::Completed);
  const std::vector<ExecutionInfo> executions = world.store->list_executions("c");
  REQUIRE(executions.size() == 3);
  for (const ExecutionInfo& execution : executions) {
    CHECK(execution.pinned_version == std::optional<SemVer>(build_version()));
    const History history = world.store->read_execution("c", execution.execution_id);
    CHECK(history.front().as<events::OrchestrationStarted>()->duroxide_version == build_version().to_string());
  }
  CHECK(build_version().to_string() == DUROXIDE_PROJECT_VERSION);  // CMake's project version
}

TEST_CASE("an execution pinned to a newer build waits for a runtime that replays it", "[runtime][capability]") {
  World world;
  world.start("here", "Approval", R"({"timeout_ms":3600000})");
  StepDriver current = world.driver();
  current.run_until_idle();
  world.import_as_build("here", "future", "9.0.0");
  REQUIRE(world.store->list_executions("future")[0].pinned_version == std::optional<SemVer>(SemVer{9, 0, 0}));
  for (const char* id : {"here", "future"}) {
    world.store->enqueue_orchestrator_item(work::ExternalRaised{id, "Approve", "yes"}, 0);
  }
  current.run_until_idle();
  CHECK(world.state("here") == RuntimeState::Completed);
  // The runtime of this build never took it: still waiting, its event queued and unlocked,
  // no attempt spent.
  CHECK(world.state("future") == RuntimeState::Running);
  CHECK(world.store->get_instance_stats("future")->queue_pending_count == 1);
  CHECK(world.count(RuntimeEvent::Kind::Unsupported) == 0);

  // A runtime of the newer build (here: told it replays up to 9.x) takes it.
  StepDriver newer(*world.store, world.registry, world.clock,
                   world.options_supporting(CapabilityFilter::supporting({{SemVer{0, 0, 0}, SemVer{9, 9, 9}}})),
                   world.observer());
  newer.run_until_idle();
  CHECK(world.state("future") == RuntimeState::Completed);
  CHECK(world.info("future").output == "approved:yes");
}

TEST_CASE("an execution the filter should have kept away is given back, then poisoned, never replayed",
          "[runtime][capability]") {
  World world;
  world.start("here", "Approval", R"({"timeout_ms":3600000})");
  world.driver().run_until_idle();
  world.import_as_build("here", "future", "9.0.0");
  world.store->enqueue_orchestrator_item(work::ExternalRaised{"future", "Approve", "yes"}, 0);
  IgnoresCapabilityFilter careless(*world.store);
  StepDriver driver(careless, world.registry, world.clock, world.options, world.observer());
  const std::size_t history_before = world.store->read("future").size();
  driver.run_until_idle();
  CHECK(world.count(RuntimeEvent::Kind::Unsupported) == 1);
  CHECK(world.state("future") == RuntimeState::Running);
  CHECK(world.store->read("future").size() == history_before);  // nothing replayed or written
  for (int i = 0; i < 4; ++i) {
    world.clock.advance(60'000);
    driver.run_until_idle();
  }
  CHECK(world.count(RuntimeEvent::Kind::Unsupported) == 2);  // attempts 1 and 2 of 3
  const InstanceInfo info = world.info("future");
  REQUIRE(info.state == RuntimeState::Failed);
  CHECK(info.error->kind == ErrorKind::Poison);
  CHECK(info.error->display_message().find("pinned to version 9.0.0") != std::string::npos);
  const History history = world.store->read("future");
  CHECK(history.size() == history_before + 1);  // only the failure: the event was never delivered
  CHECK(history.back().is<events::OrchestrationFailed>());
}

TEST_CASE("an invalid supported_replay_versions fails the runtime's constructors", "[runtime][capability]") {
  World world;
  const RuntimeOptions backwards =
      world.options_supporting(CapabilityFilter::supporting({{SemVer{2, 0, 0}, SemVer{1, 0, 0}}}));
  CHECK_THROWS_WITH(OrchestrationDispatcher(*world.store, world.registry, world.clock, backwards),
                    Catch::Contains("supported_replay_versions") && Catch::Contains("is empty"));
  CHECK_THROWS_AS(StepDriver(*world.store, world.registry, world.clock, backwards), std::invalid_argument);
  // Past what a version may hold (PostgreSQL keeps 32-bit components): refused here, not
  // by every fetch of one store.
  const RuntimeOptions unbounded = world.options_supporting(
      CapabilityFilter::supporting({{SemVer{0, 0, 0}, SemVer{4'294'967'295u, 0, 0}}}));
  CHECK_THROWS_WITH(StepDriver(*world.store, world.registry, world.clock, unbounded),
                    Catch::Contains("has a component over 999999999"));
}

TEST_CASE("a runtime whose supported_replay_versions leave out its own build is refused", "[runtime][capability]") {
  // Every execution it started would be pinned to a build it does not fetch: stranded.
  World world;
  const SemVer newer{build_version().major + 1, 0, 0};
  const RuntimeOptions only_newer =
      world.options_supporting(CapabilityFilter::supporting({{newer, SemVer{newer.major, 9, 9}}}));
  CHECK_THROWS_WITH(StepDriver(*world.store, world.registry, world.clock, only_newer),
                    Catch::Contains("leaves out this build, " + build_version().to_string()));
  const RuntimeOptions only_older = world.options_supporting(CapabilityFilter::supporting({{SemVer{}, SemVer{}}}));
  if (build_version() != SemVer{}) {
    CHECK_THROWS_AS(StepDriver(*world.store, world.registry, world.clock, only_older), std::invalid_argument);
  }
  CHECK_THROWS_AS(StepDriver(*world.store, world.registry, world.clock,
                             world.options_supporting(CapabilityFilter::supporting({}))),
                  std::invalid_argument);
  // Any filter that takes it is fine, and so is no filter at all.
  CHECK_NOTHROW(StepDriver(*world.store, world.registry, world.clock,
                           world.options_supporting(CapabilityFilter::supporting({{build_version(), build_version()}}))));
  CHECK_NOTHROW(StepDriver(*world.store, world.registry, world.clock, world.options_supporting(CapabilityFilter::any())));
}
