// The simulator as a library: the example's orchestration, run on the unchanged engine
// under every fault over many seeds, with a check of what each instance may end as.
// Prints "N seeds passed" and exits 0, or prints the first failing seed's report (its
// violations, the plan and the line that reruns it) and exits 1.
#include <iostream>

#include "duroxide/duroxide.hpp"
#include "duroxide/sim/seeds.hpp"
#include "duroxide/sim/user_workload.hpp"

using namespace duroxide;

Task<std::string> greet(OrchestrationContext& ctx, std::string name) {
  std::string greeting = co_await ctx.schedule_activity("Hello", name);
  co_return greeting;
}

int main() {
  auto registry = std::make_shared<Registry>();
  registry->register_orchestration("Greet", greet);
  registry->register_activity("Hello", [](ActivityContext&, const std::string& name) { return "Hello, " + name + "!"; });
  sim::SimOptions options;
  options.faults = sim::default_fault_kinds();
  options.workload = sim::user_workload(
      registry,
      [](sim::WorkloadPlan& plan, sim::SimRandom& random) {
        for (int i = 0; i < 4; ++i) {
          plan.start(random.below(plan.steps() / 2), "greet-" + std::to_string(i), "Greet", "world " + std::to_string(i));
        }
      },
      [](const sim::InstanceEnd& end, const sim::InstanceLookup&) {
        if (end.state == RuntimeState::Completed && end.output == "Hello, " + end.input + "!") {
          return std::vector<std::string>{};
        }
        return std::vector<std::string>{"ended " + std::string(to_string(end.state)) + ": " + end.output + end.error};
      });
  constexpr std::uint64_t kSeeds = 20;
  const sim::SeedsReport report = sim::run_seeds(options, 1, kSeeds);
  if (report.first_failure) {
    std::cerr << report.message;
    return 1;
  }
  std::cout << report.seeds_run << " seeds passed\n";
  return 0;
}
