// Many seeds of one simulation; see duroxide/sim/seeds.hpp.
#include "duroxide/sim/seeds.hpp"

#include <stdexcept>

namespace duroxide::sim {

std::string describe_failure(const SimResult& result, const SimOptions& options) {
  std::string text = "seed " + std::to_string(result.seed) + ": " + std::to_string(result.violations.size()) +
                     " violation(s)" + (result.violations.size() > 5 ? ", the first 5:" : "") + "\n";
  for (std::size_t i = 0; i < result.violations.size() && i < 5; ++i) {
    const Violation& violation = result.violations[i];
    text += "  " + violation.invariant + " " + violation.instance + " (step " + std::to_string(violation.step) +
            "): " + violation.detail + "\n";
  }
  text += result.workload_text;
  return text + "reproduce: " + reproduce_command(options) + "\n" +
         "(SimOptions::keep_trace = true keeps the rerun's trace, step by step)\n";
}

SimResult run_seed(const SimOptions& options) {
  auto failed = [&options](const char* invariant, std::string detail) {
    SimResult result;
    result.seed = options.seed;
    result.violations.push_back({invariant, "", std::move(detail), 0});
    return result;
  };
  try {
    return run_simulation(options);
  } catch (const std::invalid_argument& error) {  // options or a plan the workload refused for this seed
    return failed("workload", std::string("the simulation threw: ") + error.what());
  } catch (const std::exception& error) {
    return failed("harness", std::string("the simulation threw: ") + error.what());
  } catch (...) {  // e.g. a test framework's failed assertion in the user's plan or registry
    return failed("harness", "the simulation threw an exception that is not a std::exception");
  }
}

SeedsReport run_seeds(SimOptions options, std::uint64_t first, std::uint64_t count) {
  SeedsReport report;
  for (std::uint64_t n = 0; n < count; ++n) {
    options.seed = first + n;
    SimResult result = run_seed(options);
    ++report.seeds_run;
    if (result.ok()) continue;
    report.message = describe_failure(result, options);
    // The reproduce line holds only if the seed fails again the same way: a workload
    // that keeps state across runs (statics, shared captures, the wall clock) does not.
    const SimResult again = run_seed(options);
    report.reproduced = !again.ok() && again.trace_hash == result.trace_hash &&
                        again.violations.size() == result.violations.size();
    if (!report.reproduced) {
      report.message += "seed " + std::to_string(options.seed) + " did not run the same again (" +
                        (again.ok() ? std::string("it passed") : "another trace") +
                        "): the workload keeps state across runs (statics, shared captures, the wall clock, "
                        "real randomness), so the reproduce line may not fail\n";
    }
    report.failing_options = options;
    report.first_failure = std::move(result);
    break;
  }
  return report;
}

}  // namespace duroxide::sim
