// The generated workload: per seed, root programs drawn from the program
// language, registered through one interpreter, their clients' plan, and the
// reference model's check. See duroxide/sim/generator.hpp.
#include "duroxide/sim/generator.hpp"

#include <algorithm>
#include <set>

#include "duroxide/limits.hpp"
#include "duroxide/text.hpp"
#include "program.hpp"
#include "workload.hpp"

namespace duroxide::sim {

namespace {

using program::Program;

// Programs whose model would follow more branches than this are drawn again.
constexpr std::size_t kMaxModelEnds = 256;
constexpr int kMaxRedraws = 20;

struct Root {
  std::size_t index = 0;
  std::string instance;
  std::shared_ptr<const Program> program;
  std::uint64_t ops_seed = 0;
};

program::Inputs most_inputs(const Program& program) {
  program::Inputs inputs;
  for (const auto& [name, count] : program::max_consumption(program, program::Kind::Wait)) {
    for (std::size_t i = 0; i < count; ++i) inputs.events[name].push_back("e" + std::to_string(i));
  }
  for (const auto& [name, count] : program::max_consumption(program, program::Kind::Dequeue)) {
    for (std::size_t i = 0; i < count; ++i) inputs.messages[name].push_back("m" + std::to_string(i));
  }
  return inputs;
}

std::shared_ptr<const Program> draw_root(SimRandom& random, std::size_t index, const GeneratorOptions& options) {
  program::DrawLimits limits;
  limits.max_statements = options.max_statements;
  std::shared_ptr<Program> drawn;
  for (int attempt = 0; attempt < kMaxRedraws; ++attempt) {
    drawn = program::draw_program(random, "G" + std::to_string(index), limits);
    if (program::model_breadth(*drawn, most_inputs(*drawn), kMaxModelEnds) <= kMaxModelEnds) break;
  }
  return drawn;
}

// Words for event and message data: plain, unicode, at the payload limit.
std::string payload(SimRandom& random, const std::string& base) {
  switch (random.below(64)) {
    case 0: return std::string(limits::kMaxPayloadBytes, 'p');  // at the limit: accepted
    default: break;
  }
  switch (random.below(6)) {
    case 0: return base + " \xC3\xA9\xF0\x9F\x99\x82";
    case 1: return base + " \xE6\x97\xA5\xE6\x9C\xAC";
    default: return base;
  }
}

// Sends `count` payloads of `name` at increasing steps from `start`, now and
// then a refused one (invalid UTF-8, over the limit) among them.
void plan_sends(WorkloadPlan& plan, SimRandom& random, Coverage& coverage, const std::string& instance,
                const std::string& name, std::size_t count, std::uint64_t start, bool queue) {
  const std::uint64_t span = plan.steps() > start ? plan.steps() - start : 1;
  std::vector<std::uint64_t> steps;
  for (std::size_t i = 0; i < count; ++i) steps.push_back(start + 1 + random.below(span));
  std::sort(steps.begin(), steps.end());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (random.below(16) == 0) {
      const bool invalid = random.below(2) == 0;
      const std::string bad = invalid ? "bad \xFF" : std::string(limits::kMaxPayloadBytes + 1, 'o');
      ++coverage[invalid ? "send-invalid-utf8" : "send-over-limit"];
      if (queue) plan.enqueue(steps[i], instance, name, bad);
      else plan.raise(steps[i], instance, name, bad);
    }
    const std::string data = payload(random, (queue ? "m" : "e") + instance.substr(1) + "." + name + "." +
                                                 std::to_string(i));
    if (data.size() == limits::kMaxPayloadBytes) ++coverage["send-at-limit"];
    if (queue) plan.enqueue(steps[i], instance, name, data);
    else plan.raise(steps[i], instance, name, data);
  }
}

void plan_root(WorkloadPlan& plan, const Root& root, Coverage& coverage) {
  SimRandom random(root.ops_seed);
  const std::uint64_t start = random.below(std::max<std::uint64_t>(1, plan.steps() / 4));
  plan.start(start, root.instance, root.program->name, program::initial_input());
  for (const auto& [name, count] : program::max_consumption(*root.program, program::Kind::Wait)) {
    plan_sends(plan, random, coverage, root.instance, name, count + random.below(2), start, false);
  }
  for (const auto& [name, count] : program::max_consumption(*root.program, program::Kind::Dequeue)) {
    plan_sends(plan, random, coverage, root.instance, name, count + random.below(2), start, true);
  }
  if (random.below(10) == 0) {
    plan.cancel(start + random.below(std::max<std::uint64_t>(1, plan.steps() - start)), root.instance,
                "sim cancel " + root.instance);
  }
}

std::shared_ptr<const Program> without_dropped(std::shared_ptr<const Program> program,
                                               const std::vector<std::string>& drop) {
  auto kept = std::make_shared<Program>(*program);
  kept->body.clear();
  for (const program::Stmt& stmt : program->body) {
    const std::string name = program->name + "/" + std::to_string(stmt.id);
    if (std::find(drop.begin(), drop.end(), name) == drop.end()) kept->body.push_back(stmt);
  }
  return kept;
}

// The top-level statements of the programs a failing run describes ("G2/4"),
// read back from describe()'s text: "g<i> runs orchestration G<i>..." then "  s<id>: ...".
std::vector<std::string> top_level_statements(const std::string& text) {
  std::vector<std::string> names;
  std::string program;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    const std::size_t runs = line.find(" runs orchestration ");
    if (runs != std::string::npos && line[0] == 'g') {
      const std::size_t name_start = runs + 20;
      program = line.substr(name_start, line.find_first_of(" :", name_start) - name_start);
    } else if (line.rfind("orchestration ", 0) == 0 || line.rfind("client ops", 0) == 0) {
      program.clear();
    } else if (!program.empty() && line.rfind("  s", 0) == 0) {
      names.push_back(program + "/" + line.substr(3, line.find(':') - 3));
    }
  }
  return names;
}

void count_end(Coverage& coverage, const InstanceEnd& end) {
  if (end.state == RuntimeState::Failed && end.cancel_accepted && end.error.find("canceled: ") != std::string::npos) {
    ++coverage["cancelled"];
  }
  if (!end.history.empty()) {
    const auto* started = end.history.front().as<events::OrchestrationStarted>();
    if (started && started->carried_messages > 0) ++coverage["carried-messages"];
  }
}

}  // namespace

WorkloadFactory generated_workload(const GeneratorOptions& options) {
  return [options](WorkloadSeed& seed) {
    auto shared = std::make_shared<program::Shared>();
    auto registry = std::make_shared<Registry>();
    program::register_activities(*registry, shared);
    auto roots = std::make_shared<std::vector<Root>>();
    // From the seed alone: shrinking the fault list or the steps keeps the same programs.
    const std::uint64_t base = SimRandom(seed.seed ^ 0xD1B54A32D192ED03ull).next();
    for (std::size_t i = 0; i < seed.instances; ++i) {
      // Each program draws from its own stream: dropping one keeps the others.
      SimRandom random(base ^ (0x9E3779B97F4A7C15ull * (i + 1)));
      Root root{i, "g" + std::to_string(i), draw_root(random, i, options), random.next()};
      const auto& only = options.only_programs;
      if (!only.empty() && std::find(only.begin(), only.end(), i) == only.end()) continue;
      root.program = without_dropped(root.program, options.drop_statements);
      program::register_program(*registry, root.program, shared);
      roots->push_back(std::move(root));
    }
    auto ops = std::make_shared<std::vector<ClientOp>>();
    SimWorkload workload;
    workload.registry = registry;
    workload.coverage = std::shared_ptr<Coverage>(shared, &shared->coverage);
    workload.plan = [roots, shared, ops](WorkloadPlan& plan) {
      for (const Root& root : *roots) plan_root(plan, root, shared->coverage);
      *ops = plan.ops();
    };
    workload.check = [roots, shared](const InstanceEnd& end, const InstanceLookup& lookup) {
      count_end(shared->coverage, end);
      for (const Root& root : *roots) {
        if (root.instance == end.instance) return program::check_end(*root.program, end, lookup);
      }
      return std::vector<std::string>{"no generated program for " + end.instance};
    };
    workload.describe = [roots, ops]() {
      std::string out;
      for (const Root& root : *roots) out += root.instance + " runs " + program::to_text(*root.program);
      return out + describe_ops(*ops);
    };
    return workload;
  };
}

SimOptions generated_options(const GeneratorOptions& options) {
  SimOptions simulation;
  simulation.workload = generated_workload(options);
  simulation.workload_flags = generator_flags(options);
  simulation.instances = kGeneratedInstances;
  simulation.steps = kGeneratedSteps;
  return simulation;
}

std::string generator_flags(const GeneratorOptions& options) {
  std::string flags = "--workload generated";
  if (options.max_statements != GeneratorOptions{}.max_statements) {
    flags += " --gen-statements " + std::to_string(options.max_statements);
  }
  if (!options.drop_statements.empty()) {
    flags += " --gen-drop ";
    for (std::size_t i = 0; i < options.drop_statements.size(); ++i) {
      flags += (i ? "," : "") + options.drop_statements[i];
    }
  }
  if (!options.only_programs.empty()) {
    flags += " --gen-programs ";
    for (std::size_t i = 0; i < options.only_programs.size(); ++i) {
      flags += (i ? "," : "") + std::to_string(options.only_programs[i]);
    }
  }
  return flags;
}

std::vector<std::string> generated_constructs() {
  return {"call",          "call-failed",        "call-on-session", "retry",           "retry-recovered",   "retry-exhausted",
          "timer",         "wait",               "dequeue",         "sub",               "sub-failed",
          "join",          "select",             "select-won-timer", "select-won-call",  "select-won-wait",
          "select-won-dequeue", "select-won-sub", "try",            "caught",            "status",
          "detach",        "fail",               "uncaught-failure", "payload-unicode", "payload-invalid-utf8",
          "payload-at-limit", "payload-over-limit", "bad-input",    "continue-as-new",   "sub-continue-as-new",
          "carried-messages", "cancelled",        "send-at-limit",  "send-invalid-utf8", "send-over-limit"};
}

SimOptions shrink_generated(SimOptions failing, GeneratorOptions generator) {
  auto with = [](SimOptions options, const GeneratorOptions& shrunk) {
    options.workload = generated_workload(shrunk);
    options.workload_flags = generator_flags(shrunk);
    options.keep_trace = false;
    return options;
  };
  if (generator.only_programs.empty()) {
    for (std::size_t i = 0; i < failing.instances; ++i) generator.only_programs.push_back(i);
  }
  failing = with(failing, generator);
  const std::string invariant = first_invariant(failing);
  if (invariant.empty()) return failing;
  auto fails = [&invariant](const SimOptions& options) { return fails_with(options, invariant); };
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<std::pair<SimOptions, GeneratorOptions>> candidates;
    for (std::size_t i = 0; i < generator.only_programs.size() && generator.only_programs.size() > 1; ++i) {
      GeneratorOptions fewer = generator;
      fewer.only_programs.erase(fewer.only_programs.begin() + static_cast<std::ptrdiff_t>(i));
      candidates.emplace_back(with(failing, fewer), fewer);
    }
    const SimResult current = run_simulation(failing);
    for (const std::string& statement : top_level_statements(current.workload_text)) {
      GeneratorOptions smaller = generator;
      smaller.drop_statements.push_back(statement);
      candidates.emplace_back(with(failing, smaller), smaller);
    }
    if (generator.max_statements > 1) {
      GeneratorOptions shorter = generator;
      shorter.max_statements = generator.max_statements - 1;
      candidates.emplace_back(with(failing, shorter), shorter);
    }
    for (const SimOptions& smaller : [&] {
           std::vector<SimOptions> world;
           if (failing.steps > 50) {
             world.push_back(failing);
             world.back().steps = failing.steps / 2;
           }
           if (failing.nodes > 1) {
             world.push_back(failing);
             world.back().nodes = failing.nodes - 1;
           }
           for (std::size_t i = 0; i < failing.faults.size(); ++i) {
             world.push_back(failing);
             world.back().faults.erase(world.back().faults.begin() + static_cast<std::ptrdiff_t>(i));
           }
           return world;
         }()) {
      candidates.emplace_back(smaller, generator);
    }
    for (auto& [candidate, shrunk] : candidates) {
      if (!fails(candidate)) continue;
      failing = candidate;
      generator = shrunk;
      changed = true;
      break;
    }
  }
  return failing;
}

}  // namespace duroxide::sim
