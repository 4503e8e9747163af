// Proof that the generated workload finds real defects: each engine defect that
// was fixed is reintroduced through the store (tests/reintroduced_defects.hpp,
// tests/broken_providers.hpp) and the generated workload must find it within
// 200 seeds; the seed that found it must pass on the correct store.
#include <catch2/catch.hpp>

#include "duroxide/sim/catch2.hpp"
#include "duroxide/sim/generator.hpp"
#include "duroxide/sim/simulation.hpp"
#include "reintroduced_defects.hpp"

using namespace duroxide;
using duroxide::sim::FaultKind;

namespace {

constexpr std::uint64_t kProofSeeds = 200;

sim::SimOptions generated(std::vector<FaultKind> faults) {
  sim::SimOptions options = sim::generated_options();
  options.faults = std::move(faults);
  return options;
}

// The first seed on which the broken store fails; that seed passes on the correct store.
std::uint64_t found_by_generated(sim::SimOptions options, sim::StoreWrapper broken) {
  options.store_wrapper = std::move(broken);
  const auto seed = sim::first_failing_seed(options, 1, kProofSeeds);
  REQUIRE(seed);
  options.store_wrapper = nullptr;
  options.seed = *seed;
  const sim::SimResult correct = sim::run_simulation(options);
  INFO(sim::describe_failure(correct, options));
  CHECK(correct.ok());
  return *seed;
}

}  // namespace

TEST_CASE("generated programs find a continued child that forgets its parent", "[sim-proof]") {
  const auto seed = found_by_generated(generated(sim::default_fault_kinds()),
                                       testing::broken_store<testing::ContinueAsNewLosesParent>());
  WARN("found at seed " << seed);
}

TEST_CASE("generated programs find events and messages lost in a continue-as-new", "[sim-proof]") {
  const auto seed = found_by_generated(generated(sim::default_fault_kinds()),
                                       testing::broken_store<testing::ContinueAsNewDropsMessages>());
  WARN("found at seed " << seed);
}

TEST_CASE("generated programs find a cancelled wait that keeps its place", "[sim-proof]") {
  const auto seed = found_by_generated(generated(sim::default_fault_kinds()),
                                       testing::broken_store<testing::CancelledWaitKeepsItsPlace>());
  WARN("found at seed " << seed);
}

TEST_CASE("generated programs find bad values that loop instead of failing", "[sim-proof]") {
  const auto seed = found_by_generated(generated(sim::default_fault_kinds()),
                                       testing::broken_store<testing::BadValuesLoop>());
  WARN("found at seed " << seed);
}

TEST_CASE("generated programs find a corrupted row that leaves its instance stuck", "[sim-proof]") {
  std::vector<FaultKind> faults = sim::default_fault_kinds();
  faults.push_back(FaultKind::Corruption);
  const auto seed = found_by_generated(generated(faults), testing::broken_store<testing::CorruptionLeavesStuck>());
  WARN("found at seed " << seed);
}

TEST_CASE("generated programs find a shutdown that stops renewing a running activity's lock", "[sim-proof]") {
  const auto seed = found_by_generated(generated({FaultKind::NodeShutdown}),
                                       testing::broken_store<testing::ShutdownStopsRenewing>());
  WARN("found at seed " << seed);
}

TEST_CASE("a failing generated seed shrinks to a readable program and a reproduce line", "[sim-proof]") {
  sim::SimOptions options = generated(sim::default_fault_kinds());
  options.store_wrapper = testing::broken_store<testing::ContinueAsNewDropsMessages>();
  const auto seed = sim::first_failing_seed(options, 1, kProofSeeds);
  REQUIRE(seed);
  options.seed = *seed;
  const sim::SimOptions shrunk = sim::shrink_generated(options, {});
  const sim::SimResult again = sim::run_simulation(shrunk);
  INFO(sim::describe_failure(again, shrunk));
  REQUIRE_FALSE(again.ok());
  const std::string command = sim::reproduce_command(shrunk);
  CHECK(command.find("--seed " + std::to_string(*seed)) != std::string::npos);
  CHECK(command.find("--workload generated") != std::string::npos);
  CHECK(command.find("--gen-programs") != std::string::npos);
  // The shrunk workload prints as pseudo-code with its client ops, and is no bigger.
  CHECK(again.workload_text.find("orchestration G") != std::string::npos);
  CHECK(again.workload_text.find("client ops:") != std::string::npos);
  const auto programs = [](const std::string& text) {
    std::size_t count = 0;
    for (std::size_t at = text.find(" runs orchestration "); at != std::string::npos;
         at = text.find(" runs orchestration ", at + 1)) {
      ++count;
    }
    return count;
  };
  CHECK(programs(again.workload_text) <= shrunk.instances);
  CHECK(shrunk.steps <= options.steps);
}

TEST_CASE("generated programs find a store that lets two nodes hold one activity session", "[sim-proof]") {
  const auto seed = found_by_generated(generated(sim::default_fault_kinds()),
                                       testing::broken_store<testing::SessionsOfOneOwner>());
  WARN("found at seed " << seed);
}

