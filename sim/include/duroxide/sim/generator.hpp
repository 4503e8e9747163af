// The workflow generator: each seed draws random orchestration programs from a
// small language (docs/simulator.md, "The generated workload"), registers them
// on the unchanged engine through one interpreter, plans the clients' starts,
// events, messages and cancels, and checks every instance against a reference
// interpreter that runs the same program in a plain direct-style model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "duroxide/sim/simulation.hpp"
#include "duroxide/sim/user_workload.hpp"

namespace duroxide::sim {

struct GeneratorOptions {
  // Top-level statements per program at most (shrinking lowers it; the first
  // statements of a program do not depend on the cap).
  std::size_t max_statements = 6;
  // The root programs run (indices below SimOptions::instances); empty: all.
  std::vector<std::size_t> only_programs;
  // Top-level statements removed after drawing, as "<program>/<statement id>" (e.g. "G2/4").
  std::vector<std::string> drop_statements;
};

// The generated workload: SimOptions::instances root programs per seed.
WorkloadFactory generated_workload(const GeneratorOptions& options = {});

// The generated workload's default size (duroxide-sim --workload generated):
// small program sets, many seeds.
constexpr std::size_t kGeneratedInstances = 3;
constexpr std::size_t kGeneratedSteps = 800;

// SimOptions running the generated workload at its default size (faults: the default list).
SimOptions generated_options(const GeneratorOptions& options = {});

// The duroxide-sim flags that select this workload ("--workload generated ...").
std::string generator_flags(const GeneratorOptions& options);

// Every construct and event the generated workload's coverage counts: CI
// requires each to be exercised across its seeds.
std::vector<std::string> generated_constructs();

// The generated workload with shrinking: with `options` failing on its seed,
// the smallest program set, statement cap, workload and fault set found on
// which it still fails (the generator's analogue of shrink_failure).
SimOptions shrink_generated(SimOptions failing, GeneratorOptions generator);

}  // namespace duroxide::sim
