// A whole single-threaded host for client tests: a store of any provider kind
// (tests/provider_suite.hpp; in-memory SQLite by default) on a ManualClock, a
// StepDriver, a StepPacer and both clients.
#pragma once

#include <catch2/catch.hpp>

#include "duroxide/duroxide.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "provider_suite.hpp"

namespace duroxide::testing {

struct StepHost {
  std::unique_ptr<ProviderUnderTest> under;
  ManualClock& clock;
  Provider& store;           // the hot path the dispatchers use
  ManagementProvider& admin;  // the same store's management side
  Registry registry;
  StepDriver driver;
  StepPacer pacer;
  RuntimeClient client;
  ManagementClient management;

  explicit StepHost(Registry code, ClientOptions options = {}, const std::string& kind = "sqlite-memory")
      : under(make_provider(kind)),
        clock(under->clock),
        store(under->provider()),
        admin(under->management()),
        registry(std::move(code)),
        driver(store, registry, clock),
        pacer(driver, clock),
        client(store, admin, options),
        management(admin) {}

  // Starts an instance and drives the runtime until nothing is left to do now.
  void run(const std::string& id, const std::string& name, const std::string& input) {
    client.start_orchestration(id, name, input);
    driver.run_until_idle();
  }
};

}  // namespace duroxide::testing
