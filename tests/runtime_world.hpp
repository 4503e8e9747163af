// A runtime's surroundings for the runtime tests: a manual clock, the sample catalog, a
// SqliteProvider (in memory unless a path is given), options with max_attempts 3, and the
// runtime events seen.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "duroxide/duroxide.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sqlite_provider.hpp"

namespace duroxide::testing {

struct RuntimeWorld {
  ManualClock clock;
  SequentialIdSource ids{"lock"};
  Registry registry;
  std::unique_ptr<SqliteProvider> store;
  RuntimeOptions options;
  std::vector<RuntimeEvent> seen;

  explicit RuntimeWorld(const std::string& path = ":memory:") {
    samples::register_all(registry);
    store = std::make_unique<SqliteProvider>(path, clock, ids);
    options.max_attempts = 3;
  }
  RuntimeObserver observer() {
    return [this](const RuntimeEvent& event) { seen.push_back(event); };
  }
  StepDriver driver() { return StepDriver(*store, registry, clock, options, observer()); }
  void start(const std::string& id, const std::string& name, const std::string& input,
             const std::string& version = {}) {
    store->enqueue_orchestrator_item(work::StartOrchestration{id, name, version, input, {}, 0, {}}, 0);
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

}  // namespace duroxide::testing
