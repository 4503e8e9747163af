// Catch2 helpers for simulating a user's workload: include from a test file
// that links Catch2 (v2 or v3) and duroxide::sim.
//
//   duroxide::sim::SimOptions options;
//   options.workload = duroxide::sim::user_workload(registry, plan, check);
//   duroxide::sim::require_seeds_pass(options, 1, 100);
#pragma once

#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_test_macros.hpp>  // Catch2 v3
#else
#include <catch2/catch.hpp>  // Catch2 v2
#endif

#include "duroxide/sim/seeds.hpp"

namespace duroxide::sim {

// Fails the test at the first failing seed, with its violations, its workload
// and its reproduce line.
inline void require_seeds_pass(const SimOptions& options, std::uint64_t first, std::uint64_t count) {
  const SeedsReport report = run_seeds(options, first, count);
  if (report.first_failure) FAIL(report.message);
  CHECK(report.seeds_run == count);
}

// The first failing seed in first .. first+count-1 (a test that proves the
// simulator finds a defect requires one); nullopt when all pass.
inline std::optional<std::uint64_t> first_failing_seed(const SimOptions& options, std::uint64_t first,
                                                       std::uint64_t count) {
  const SeedsReport report = run_seeds(options, first, count);
  if (!report.first_failure) return std::nullopt;
  UNSCOPED_INFO(report.message);
  return report.first_failure->seed;
}

}  // namespace duroxide::sim
