// A whole single-threaded host for client tests: in-memory SqliteProvider on a
// ManualClock, a StepDriver, a StepPacer and both clients.
#pragma once

#include <catch2/catch.hpp>

#include "duroxide/duroxide.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/sqlite_provider.hpp"

namespace duroxide::testing {

struct StepHost {
  ManualClock clock;
  SequentialIdSource ids{"lock"};
  Registry registry;
  SqliteProvider store{":memory:", clock, ids};
  StepDriver driver{store, registry, clock};
  StepPacer pacer{driver, clock};
  RuntimeClient client;
  ManagementClient management{store};

  explicit StepHost(Registry code, ClientOptions options = {})
      : registry(std::move(code)), client(store, store, options) {}

  // Starts an instance and drives the runtime until nothing is left to do now.
  void run(const std::string& id, const std::string& name, const std::string& input) {
    client.start_orchestration(id, name, input);
    driver.run_until_idle();
  }
};

}  // namespace duroxide::testing
