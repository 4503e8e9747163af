// duroxide-sim: runs simulation seeds and prints a JSON summary.
//
//   duroxide-sim --seed N [--seeds K] [--steps M] [--nodes K] [--instances I]
//                [--faults LIST|all|none] [--scenarios LIST|all|none] [--trace FILE]
//                [--workload catalog|generated] [--gen-statements N] [--gen-programs LIST]
//                [--gen-drop G<i>/<id>,...]
//                [--shrink] [--quiet] [--jobs N]
//
// --jobs: natively, run seeds on N threads (each seed is its own world; the
// output is the same as with one). WebAssembly runs them one at a time.
// --workload: the sample catalog (the default) or generated programs
// (docs/simulator.md); --gen-statements caps a generated program's top-level
// statements, --gen-programs runs only the listed root programs (shrinking
// prints both), --gen-drop removes top-level statements (shrinking prints it).
// The summary's "coverage" sums the constructs exercised.
// --faults: the default is every kind but corruption and node-shutdown; "all" includes them.
// --scenarios: workload kinds beyond the sample catalog (default none).
// --shrink: for each failing seed, searches for a smaller configuration (fewer
// instances, steps, nodes, faults) on which the same seed still fails, and
// prints it as `shrunk: <command>`.
// Seeds N .. N+K-1 run one after another. A progress line goes to stderr every
// few seconds' worth of seeds (counted in seeds, not wall time: the simulator
// itself never reads the clock). The summary goes to stdout; every failing seed
// prints `reproduce: <command>` to stderr. Exit 0 when no seed found a
// violation, 1 when one did, 2 for a usage error.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <atomic>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "duroxide/sim/generator.hpp"
#include "duroxide/sim/random.hpp"
#include "duroxide/sim/seeds.hpp"
#include "duroxide/sim/simulation.hpp"

namespace {

using duroxide::sim::FaultKind;

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "duroxide-sim: " << problem << "\n"
            << "usage: duroxide-sim --seed N [--seeds K] [--steps M] [--nodes K] [--instances I]\n"
            << "                    [--faults LIST|all|none] [--scenarios LIST|all|none] [--trace FILE]\n"
            << "                    [--workload catalog|generated] [--gen-statements N] [--gen-programs LIST]\n"
            << "                    [--shrink] [--quiet] [--jobs N]\n"
            << "faults:";
  for (FaultKind kind : duroxide::sim::all_fault_kinds()) std::cerr << " " << to_string(kind);
  std::cerr << "\nscenarios:";
  for (auto scenario : duroxide::sim::all_scenarios()) std::cerr << " " << to_string(scenario);
  std::cerr << "\n";
  std::exit(2);
}

std::uint64_t number(const std::string& flag, const std::string& text, std::uint64_t max) {
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    usage(flag + " needs a number, got \"" + text + "\"");
  }
  if (used != text.size() || text.empty() || text[0] == '-') usage(flag + " needs a number, got \"" + text + "\"");
  if (value > max) usage(flag + " is at most " + std::to_string(max));
  return value;
}

std::vector<FaultKind> fault_list(const std::string& text) {
  if (text == "all") return duroxide::sim::all_fault_kinds();
  std::vector<FaultKind> kinds;
  if (text == "none") return kinds;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto kind = duroxide::sim::parse_fault_kind(name);
    if (!kind) usage("unknown fault \"" + name + "\"");
    kinds.push_back(*kind);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return kinds;
}

std::vector<duroxide::sim::Scenario> scenario_list(const std::string& text) {
  if (text == "all") return duroxide::sim::all_scenarios();
  std::vector<duroxide::sim::Scenario> scenarios;
  if (text == "none") return scenarios;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto scenario = duroxide::sim::parse_scenario(name);
    if (!scenario) usage("unknown scenario \"" + name + "\"");
    scenarios.push_back(*scenario);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return scenarios;
}

std::vector<std::size_t> index_list(const std::string& text) {
  std::vector<std::size_t> indices;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    indices.push_back(number("--gen-programs", text.substr(start, comma == std::string::npos ? std::string::npos
                                                                                             : comma - start),
                             499));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return indices;
}

// Runs every seed on `jobs` threads; results in seed order. A usage error
// (std::invalid_argument) is reported for the first seed.
std::vector<duroxide::sim::SimResult> run_parallel(duroxide::sim::SimOptions options, std::uint64_t first,
                                                   std::uint64_t seeds, unsigned jobs) {
  std::vector<duroxide::sim::SimResult> results(seeds);
  std::atomic<std::uint64_t> next{0};
  auto work = [&]() {
    for (std::uint64_t n = next++; n < seeds; n = next++) {
      duroxide::sim::SimOptions mine = options;
      mine.seed = first + n;
      results[n] = duroxide::sim::run_seed(mine);  // an exception is the seed's violation, not the process's end
    }
  };
  std::vector<std::thread> threads;
  for (unsigned j = 0; j < jobs; ++j) threads.emplace_back(work);
  for (std::thread& thread : threads) thread.join();
  return results;
}

}  // namespace

int main(int argc, char** argv) {
  duroxide::sim::SimOptions options;
  std::uint64_t seeds = 1;
  std::string trace_file;
  bool quiet = false;
  bool shrink_failures = false;
  bool seed_given = false;
  unsigned jobs = 1;
  bool generated = false;
  bool instances_given = false;
  bool steps_given = false;
  duroxide::sim::GeneratorOptions generator;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--seed") {
      options.seed = number(flag, value(), UINT64_MAX);
      seed_given = true;
    } else if (flag == "--seeds") {
      seeds = number(flag, value(), 1'000'000);
      if (seeds == 0) usage("--seeds must be at least 1");
    } else if (flag == "--steps") {
      options.steps = number(flag, value(), 10'000'000);
      steps_given = true;
    } else if (flag == "--nodes") {
      options.nodes = number(flag, value(), 16);
      if (options.nodes == 0) usage("--nodes must be 1 to 16");
    } else if (flag == "--instances") {
      options.instances = number(flag, value(), 500);
      if (options.instances == 0) usage("--instances must be 1 to 500");
      instances_given = true;
    } else if (flag == "--workload") {
      const std::string kind = value();
      if (kind != "catalog" && kind != "generated") usage("--workload is catalog or generated");
      generated = kind == "generated";
    } else if (flag == "--gen-statements") {
      generator.max_statements = number(flag, value(), 100);
      if (generator.max_statements == 0) usage("--gen-statements must be 1 to 100");
    } else if (flag == "--gen-drop") {
      const std::string list = value();
      for (std::size_t start = 0; start <= list.size();) {
        const std::size_t comma = list.find(',', start);
        generator.drop_statements.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (flag == "--gen-programs") {
      generator.only_programs = index_list(value());
    } else if (flag == "--faults") {
      options.faults = fault_list(value());
    } else if (flag == "--scenarios") {
      options.scenarios = scenario_list(value());
    } else if (flag == "--trace") {
      trace_file = value();
    } else if (flag == "--shrink") {
      shrink_failures = true;
    } else if (flag == "--jobs") {
      jobs = static_cast<unsigned>(number(flag, value(), 64));
      if (jobs == 0) usage("--jobs must be 1 to 64");
    } else if (flag == "--quiet") {
      quiet = true;
    } else if (flag == "--help" || flag == "-h") {
      usage("help");
    } else {
      usage("unknown argument \"" + flag + "\"");
    }
  }
  if (!seed_given) usage("--seed is required");
  if (!trace_file.empty() && seeds != 1) usage("--trace needs a single seed");
  options.keep_trace = !trace_file.empty();
  if (generated) {
    if (!instances_given) options.instances = duroxide::sim::kGeneratedInstances;
    if (!steps_given) options.steps = duroxide::sim::kGeneratedSteps;
    if (!options.scenarios.empty()) usage("--scenarios go with the catalog workload");
    options.workload = duroxide::sim::generated_workload(generator);
    options.workload_flags = duroxide::sim::generator_flags(generator);
  }

  nlohmann::ordered_json summary;
  summary["first_seed"] = options.seed;
  summary["seeds"] = seeds;
  std::map<std::string, std::uint64_t> injected;
  std::map<std::string, std::uint64_t> coverage;
  std::uint64_t failing = 0;
  std::uint64_t total_steps = 0;
  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  nlohmann::ordered_json violations = nlohmann::ordered_json::array();
  const std::uint64_t first = options.seed;
#ifdef __EMSCRIPTEN__
  jobs = 1;
#endif
  try {
    duroxide::sim::SimOptions probe = options;
    probe.steps = 0;
    probe.liveness_steps = 0;
    duroxide::sim::run_simulation(probe);  // option errors surface here, as the usage
  } catch (const std::invalid_argument& error) {
    usage(error.what());
  } catch (...) {  // a seed's own failure: run_seed reports it below
  }
  std::vector<duroxide::sim::SimResult> precomputed;
  if (jobs > 1 && seeds > 1 && trace_file.empty()) precomputed = run_parallel(options, first, seeds, jobs);
  for (std::uint64_t n = 0; n < seeds; ++n) {
    options.seed = first + n;
    // An exception out of a seed is that seed's violation (the probe above took option errors).
    duroxide::sim::SimResult result =
        precomputed.empty() ? duroxide::sim::run_seed(options) : std::move(precomputed[n]);
    total_steps += result.steps;
    for (const auto& [kind, count] : result.faults_injected) injected[kind] += count;
    for (const auto& [construct, count] : result.coverage) coverage[construct] += count;
    runs.push_back({{"seed", result.seed},
                    {"hash", duroxide::sim::hex64(result.trace_hash)},
                    {"ok", result.ok()}});
    if (!result.ok()) {
      ++failing;
      for (const auto& violation : result.violations) {
        violations.push_back({{"seed", result.seed},
                              {"invariant", violation.invariant},
                              {"instance", violation.instance},
                              {"detail", violation.detail},
                              {"step", violation.step}});
      }
      std::cerr << "seed " << result.seed << ": " << result.violations.size()
                << " violation(s), first: " << result.violations.front().invariant << " "
                << result.violations.front().instance << ": " << result.violations.front().detail
                << "\nreproduce: " << duroxide::sim::reproduce_command(options) << "\n";
      if (!result.workload_text.empty()) std::cerr << result.workload_text;
      if (shrink_failures && generated) {
        const auto shrunk = duroxide::sim::shrink_generated(options, generator);
        const auto again = duroxide::sim::run_seed(shrunk);
        std::cerr << "shrunk to:\n" << again.workload_text;
        if (!again.violations.empty()) {
          std::cerr << "which fails: " << again.violations.front().invariant << " " << again.violations.front().instance
                    << ": " << again.violations.front().detail << "\n";
        }
        std::cerr << "shrunk: " << duroxide::sim::reproduce_command(shrunk) << "\n";
      } else if (shrink_failures) {
        std::cerr << "shrunk: " << duroxide::sim::reproduce_command(duroxide::sim::shrink_failure(options)) << "\n";
      }
    }
    if (!trace_file.empty()) {
      std::ofstream out(trace_file);
      for (const std::string& line : result.trace) out << line << "\n";
      if (!out) {
        std::cerr << "duroxide-sim: could not write " << trace_file << "\n";
        return 1;
      }
    }
    if (seeds == 1) summary["run"] = nlohmann::ordered_json::parse(duroxide::sim::to_json(result));
    if (!quiet && seeds > 1 && ((n + 1) % 50 == 0 || n + 1 == seeds)) {
      std::cerr << "progress: " << (n + 1) << "/" << seeds << " seeds, " << failing
                << " failing, " << total_steps << " steps\n";
    }
  }
  summary["failing_seeds"] = failing;
  summary["steps"] = total_steps;
  summary["faults_injected"] = injected;
  if (generated) {
    summary["coverage"] = coverage;
    nlohmann::ordered_json never = nlohmann::ordered_json::array();
    for (const std::string& construct : duroxide::sim::generated_constructs()) {
      if (coverage[construct] == 0) never.push_back(construct);
    }
    summary["never_exercised"] = never;
  }
  summary["violations"] = violations;
  summary["runs"] = runs;
  std::cout << summary.dump() << "\n";
  return failing == 0 ? 0 : 1;
}
