// Running many seeds of one simulation, and reporting the first that fails in
// a form a person can act on (its violations, its workload, how to rerun it).
// duroxide/sim/catch2.hpp wraps it for Catch2 tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "duroxide/sim/simulation.hpp"

namespace duroxide::sim {

struct SeedsReport {
  std::uint64_t seeds_run = 0;
  std::optional<SimResult> first_failure;  // with the options that produced it below
  SimOptions failing_options;
  std::string message;  // empty when every seed passed
  // The failing seed, run again, failed with the same trace; when not, `message` says
  // the workload is not deterministic and its reproduce line may not fail.
  bool reproduced = false;
};

// One seed's run. An exception out of it is that seed's violation, not the caller's:
// "workload" for std::invalid_argument (options or a plan refused for the seed),
// "harness" for anything else thrown.
SimResult run_seed(const SimOptions& options);

// Runs seeds first .. first+count-1 with `options` (its seed is replaced) and
// stops at the first failing one, which it runs twice (SeedsReport::reproduced).
SeedsReport run_seeds(SimOptions options, std::uint64_t first, std::uint64_t count);

// A failing run as text: its first violations, its workload (if it describes
// itself) and the reproduce line.
std::string describe_failure(const SimResult& result, const SimOptions& options);

}  // namespace duroxide::sim
