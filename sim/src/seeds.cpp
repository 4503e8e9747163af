// Many seeds of one simulation; see duroxide/sim/seeds.hpp.
#include "duroxide/sim/seeds.hpp"

namespace duroxide::sim {

std::string describe_failure(const SimResult& result, const SimOptions& options) {
  std::string text = "seed " + std::to_string(result.seed) + ": " + std::to_string(result.violations.size()) +
                     " violation(s)\n";
  for (std::size_t i = 0; i < result.violations.size() && i < 5; ++i) {
    const Violation& violation = result.violations[i];
    text += "  " + violation.invariant + " " + violation.instance + ": " + violation.detail + "\n";
  }
  text += result.workload_text;
  return text + "reproduce: " + reproduce_command(options) + "\n";
}

SeedsReport run_seeds(SimOptions options, std::uint64_t first, std::uint64_t count) {
  SeedsReport report;
  for (std::uint64_t n = 0; n < count; ++n) {
    options.seed = first + n;
    SimResult result;
    try {
      result = run_simulation(options);
    } catch (const std::exception& error) {  // a plan the workload refused for this seed: reported with it
      result.seed = options.seed;
      result.violations.push_back({"workload", "", std::string("the simulation threw: ") + error.what(), 0});
    }
    ++report.seeds_run;
    if (result.ok()) continue;
    report.message = describe_failure(result, options);
    report.failing_options = options;
    report.first_failure = std::move(result);
    break;
  }
  return report;
}

}  // namespace duroxide::sim
