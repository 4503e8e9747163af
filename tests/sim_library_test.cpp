// The simulator as a library: a user's own saga (book a flight, a hotel and a
// car; compensate what was booked when one fails; wait for payment or expire)
// simulated over many seeds under every fault, checked against its own model.
#include <catch2/catch.hpp>

#include "duroxide/duroxide.hpp"
#include "duroxide/environment.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/sim/catch2.hpp"
#include "duroxide/sim/memory_vfs.hpp"
#include "duroxide/sim/simulation.hpp"
#include "duroxide/sim/user_workload.hpp"
#include "duroxide/sqlite_provider.hpp"

using namespace duroxide;

namespace {

const char* const kSteps[] = {"flight", "hotel", "car"};

// Input "<trip>|<step that fails, or none>". Books each step; when one fails,
// cancels the ones booked, latest first. Then waits an hour for "Pay".
Task<std::string> trip_saga(OrchestrationContext& ctx, std::string input) {
  const std::string trip = input.substr(0, input.find('|'));
  std::vector<std::string> booked;
  std::string failed;
  for (const char* step : kSteps) {
    try {
      booked.push_back(co_await ctx.schedule_activity(std::string("Book_") + step, input));
    } catch (const TaskFailed&) {
      failed = step;
      break;
    }
  }
  if (!failed.empty()) {
    std::string cancelled;
    for (auto it = booked.rbegin(); it != booked.rend(); ++it) {
      cancelled += (cancelled.empty() ? "" : ",") + co_await ctx.schedule_activity("Cancel", *it);
    }
    co_return "compensated: " + failed + " failed; cancelled [" + cancelled + "]";
  }
  ctx.set_custom_status("awaiting payment");
  auto paid = co_await ctx.select(ctx.schedule_wait("Pay"), ctx.schedule_timer(3'600'000));
  if (paid.index == 0) {
    ctx.set_custom_status("paid");
    co_return "confirmed " + trip + " paid by " + paid.result.value;
  }
  for (auto it = booked.rbegin(); it != booked.rend(); ++it) co_await ctx.schedule_activity("Cancel", *it);
  co_return "expired " + trip;
}

std::shared_ptr<Registry> saga_registry() {
  auto registry = std::make_shared<Registry>();
  registry->register_orchestration("TripSaga", trip_saga);
  for (const char* step : kSteps) {
    const std::string name = step;
    // Fails when the trip says so: the user's activity "fails sometimes".
    registry->register_activity("Book_" + name, [name](ActivityContext&, const std::string& input) {
      if (input.substr(input.find('|') + 1) == name) throw std::runtime_error(name + " sold out");
      return name + ":" + input.substr(0, input.find('|'));
    });
  }
  registry->register_activity("Cancel", [](ActivityContext&, const std::string& booking) {
    return "-" + booking.substr(0, booking.find(':'));
  });
  return registry;
}

// Trips started over the first third of the run; some fail a step, some are
// paid (now and then twice), some cancelled by the client.
void saga_plan(sim::WorkloadPlan& plan, sim::SimRandom& random) {
  for (int i = 0; i < 6; ++i) {
    const std::string id = "trip-" + std::to_string(i);
    const char* fails[] = {"none", "none", "flight", "hotel", "car"};
    const std::uint64_t start = random.below(plan.steps() / 3);
    plan.start(start, id, "TripSaga", id + "|" + fails[random.below(5)]);
    const std::uint64_t pays = random.below(3);
    for (std::uint64_t p = 0; p < pays; ++p) plan.raise(start + 1 + random.below(plan.steps()), id, "Pay", "card" + std::to_string(p));
    if (random.below(8) == 0) plan.cancel(start + random.below(plan.steps()), id, "customer changed plans");
  }
}

// The saga's model: what a trip may end as, given its input and the client's ops.
std::vector<std::string> saga_check(const sim::InstanceEnd& end, const sim::InstanceLookup&) {
  const std::string trip = end.input.substr(0, end.input.find('|'));
  const std::string fails = end.input.substr(end.input.find('|') + 1);
  if (end.state == RuntimeState::Failed) {
    if (end.cancel_accepted && end.error.find("canceled: customer changed plans") != std::string::npos) return {};
    return {"failed: " + end.error};
  }
  std::vector<std::string> allowed;
  if (fails == "flight") allowed.push_back("compensated: flight failed; cancelled []");
  if (fails == "hotel") allowed.push_back("compensated: hotel failed; cancelled [-flight]");
  if (fails == "car") allowed.push_back("compensated: car failed; cancelled [-hotel,-flight]");
  if (fails == "none") {
    allowed.push_back("expired " + trip);
    for (const sim::ClientOp& op : end.accepted) {
      if (op.kind == sim::ClientOp::Kind::Raise) {
        allowed.push_back("confirmed " + trip + " paid by " + op.data);
        break;  // the first payment raised is the one the wait takes
      }
    }
  }
  for (const std::string& outcome : allowed) {
    if (end.output != outcome) continue;
    const bool paid = outcome.rfind("confirmed", 0) == 0;
    const std::optional<std::string> status =
        fails != "none" ? std::nullopt : std::optional<std::string>(paid ? "paid" : "awaiting payment");
    if (end.custom_status != status) return {"custom status " + end.custom_status.value_or("(none)")};
    return {};
  }
  return {"ended Completed(" + end.output + "), which the saga's model does not allow"};
}

sim::SimOptions saga_options() {
  sim::SimOptions options;
  options.workload = sim::user_workload(saga_registry(), saga_plan, saga_check);
  options.faults = sim::all_fault_kinds();
  options.steps = 1'500;
  return options;
}

}  // namespace

TEST_CASE("a user's saga passes simulated seeds under every fault", "[sim][library]") {
  sim::require_seeds_pass(saga_options(), 1, 60);
}

TEST_CASE("a user's check that disagrees with the engine fails with a reproduce line", "[sim][library]") {
  sim::SimOptions options = saga_options();
  options.workload = sim::user_workload(saga_registry(), saga_plan,
                                        [](const sim::InstanceEnd& end, const sim::InstanceLookup&) {
                                          // Wrong on purpose: no trip is ever compensated.
                                          if (end.output.rfind("compensated", 0) == 0) {
                                            return std::vector<std::string>{"compensated"};
                                          }
                                          return std::vector<std::string>{};
                                        });
  const sim::SeedsReport report = sim::run_seeds(options, 1, 20);
  REQUIRE(report.first_failure);
  CHECK(report.first_failure->violations.front().invariant == "outcome");
  // A workload only a program builds is reproduced by its options, not by the CLI.
  CHECK(report.message.find("reproduce: run_simulation with this workload and SimOptions: seed = " +
                            std::to_string(report.first_failure->seed) + ", steps = 1500, nodes = 3, instances = 12, "
                            "liveness_steps = 50000, faults = {FaultKind::NodeCrash, ") != std::string::npos);
  // Run as printed, the seed fails again.
  sim::SimOptions again = options;
  again.seed = report.first_failure->seed;
  CHECK_FALSE(sim::run_simulation(again).ok());
  // Shrunk, it still fails; the instance count, which a user's plan does not read, stays.
  const sim::SimOptions shrunk = sim::shrink_failure(again);
  CHECK(shrunk.instances == again.instances);
  CHECK(shrunk.steps <= again.steps);
  CHECK_FALSE(sim::run_simulation(shrunk).ok());
}

namespace {

std::shared_ptr<Registry> waiting_registry() {
  auto registry = std::make_shared<Registry>();
  registry->register_orchestration("Waits", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_wait("never");
  });
  registry->register_orchestration("Quick", [](OrchestrationContext&, std::string input) -> Task<std::string> {
    co_return input;
  });
  registry->register_orchestration("Week", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_await ctx.schedule_timer(7LL * 24 * 3'600'000);
    co_return "a week later";
  });
  return registry;
}

}  // namespace

TEST_CASE("a user's check that throws is a violation of its seed, reported with the reproduce line",
          "[sim][library]") {
  sim::SimOptions options;
  options.faults = {};
  options.workload = sim::user_workload(
      waiting_registry(), [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.start(0, "q", "Quick", ""); },
      [](const sim::InstanceEnd&, const sim::InstanceLookup&) -> std::vector<std::string> {
        throw std::runtime_error("stoi");
      });
  const sim::SeedsReport report = sim::run_seeds(options, 7, 3);
  REQUIRE(report.first_failure);
  CHECK(report.first_failure->seed == 7);
  CHECK(report.first_failure->violations.front().invariant == "check");
  CHECK(report.first_failure->violations.front().detail == "the check threw: stoi");
  CHECK(report.message.find("reproduce: run_simulation with this workload and SimOptions: seed = 7") !=
        std::string::npos);
  // Something that is not a std::exception (a test framework's failed assertion) too.
  options.workload = sim::user_workload(
      waiting_registry(), [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.start(0, "q", "Quick", ""); },
      [](const sim::InstanceEnd&, const sim::InstanceLookup&) -> std::vector<std::string> { throw 42; });
  const sim::SeedsReport odd = sim::run_seeds(options, 5, 1);
  REQUIRE(odd.first_failure);
  CHECK(odd.first_failure->seed == 5);
  CHECK(odd.first_failure->violations.front().detail == "the check threw an exception that is not a std::exception");
  // A plan the workload refuses is its seed's failure too, not an exception out of run_seeds.
  options.workload = sim::user_workload(
      waiting_registry(), [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.raise(1, "ghost", "E", "x"); },
      [](const sim::InstanceEnd&, const sim::InstanceLookup&) { return std::vector<std::string>{}; });
  const sim::SeedsReport refused = sim::run_seeds(options, 3, 2);
  REQUIRE(refused.first_failure);
  CHECK(refused.first_failure->seed == 3);
  CHECK(refused.first_failure->violations.front().invariant == "workload");
  // A plan that throws something that is not a std::exception (a test framework's failed
  // assertion) is its seed's harness violation, not an exception out of run_seeds.
  options.workload = sim::user_workload(
      waiting_registry(), [](sim::WorkloadPlan&, sim::SimRandom&) { throw 42; },
      [](const sim::InstanceEnd&, const sim::InstanceLookup&) { return std::vector<std::string>{}; });
  const sim::SeedsReport odd_plan = sim::run_seeds(options, 2, 1);
  REQUIRE(odd_plan.first_failure);
  CHECK(odd_plan.first_failure->violations.front().invariant == "harness");
  // So is a start of an orchestration the registry does not hold (a typo), named as such.
  options.workload = sim::user_workload(
      waiting_registry(), [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.start(0, "t", "Quik", ""); },
      [](const sim::InstanceEnd&, const sim::InstanceLookup&) { return std::vector<std::string>{}; });
  const sim::SeedsReport typo = sim::run_seeds(options, 1, 1);
  REQUIRE(typo.first_failure);
  CHECK(typo.first_failure->violations.front().detail ==
        "the simulation threw: the plan starts t as Quik, which the workload's registry does not hold");
}

TEST_CASE("a second cancel of an instance the first one ended leaves the first one accepted", "[sim][library]") {
  sim::SimOptions options;
  options.faults = {};
  options.workload = sim::user_workload(
      waiting_registry(),
      [](sim::WorkloadPlan& plan, sim::SimRandom&) {
        plan.start(0, "w", "Waits", "");
        plan.cancel(20, "w", "first");
        plan.cancel(800, "w", "second");
      },
      [](const sim::InstanceEnd& end, const sim::InstanceLookup&) {
        std::vector<std::string> problems;
        if (!end.cancel_accepted) problems.push_back("the cancel was not accepted");
        if (end.state != RuntimeState::Failed || end.error.find("first") == std::string::npos) {
          problems.push_back("ended " + end.error);
        }
        return problems;
      });
  sim::require_seeds_pass(options, 1, 5);
}

TEST_CASE("a durable timer of a week fires in simulated time", "[sim][library]") {
  sim::SimOptions options;
  options.faults = {};
  options.workload = sim::user_workload(
      waiting_registry(), [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.start(0, "week", "Week", ""); },
      [](const sim::InstanceEnd& end, const sim::InstanceLookup&) {
        return end.output == "a week later" ? std::vector<std::string>{} : std::vector<std::string>{"ended " + end.error};
      });
  sim::require_seeds_pass(options, 1, 3);
}

TEST_CASE("an hour's timer fires while faults still run, not only once they stop", "[sim][library]") {
  auto registry = std::make_shared<Registry>();
  registry->register_orchestration("Hour", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_await ctx.schedule_timer(3'600'000);
    co_return "an hour later";
  });
  sim::SimOptions options;
  options.faults = {};  // no clock-jump fault: only the idle nodes move the clock past the hour
  options.steps = 400;
  options.liveness_steps = 0;  // no phase 2: the timer must fire in phase 1
  options.workload = sim::user_workload(
      registry, [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.start(0, "hour", "Hour", ""); },
      [](const sim::InstanceEnd& end, const sim::InstanceLookup&) {
        return end.output == "an hour later" ? std::vector<std::string>{} : std::vector<std::string>{"ended " + end.error};
      });
  sim::require_seeds_pass(options, 1, 3);
}

TEST_CASE("a client op planned long before its instance's start still takes effect", "[sim][library]") {
  auto registry = std::make_shared<Registry>();
  registry->register_orchestration("Awaits", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_wait("E");
  });
  sim::SimOptions options;
  options.faults = {};
  options.steps = 12'100;
  options.workload = sim::user_workload(
      registry,
      [](sim::WorkloadPlan& plan, sim::SimRandom&) {
        plan.raise(0, "late", "E", "raised 12,000 steps before the start");  // retried every 10 steps
        plan.start(12'000, "late", "Awaits", "");
      },
      [](const sim::InstanceEnd& end, const sim::InstanceLookup&) {
        if (end.output == "raised 12,000 steps before the start") return std::vector<std::string>{};
        return std::vector<std::string>{"ended " + std::string(to_string(end.state)) + " " + end.output};
      });
  sim::require_seeds_pass(options, 1, 1);
}

TEST_CASE("a failing seed's report lists the plan, and says when the seed does not fail again", "[sim][library]") {
  sim::SimOptions options;
  options.faults = {};
  auto checks = std::make_shared<int>(0);  // state kept across runs: what a workload must not do
  options.workload = sim::user_workload(
      waiting_registry(), [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.start(3, "q", "Quick", "in"); },
      [checks](const sim::InstanceEnd&, const sim::InstanceLookup&) {
        return ++*checks == 1 ? std::vector<std::string>{"only the first run fails"} : std::vector<std::string>{};
      });
  const sim::SeedsReport flaky = sim::run_seeds(options, 4, 2);
  REQUIRE(flaky.first_failure);
  CHECK(flaky.first_failure->seed == 4);
  CHECK_FALSE(flaky.reproduced);
  CHECK(flaky.message.find("seed 4 did not run the same again (it passed)") != std::string::npos);
  CHECK(flaky.message.find("client ops:\n  step 3: start q Quick\n") != std::string::npos);
  CHECK(flaky.message.find("outcome q (step ") != std::string::npos);
  // A check that fails every run reproduces.
  options.workload = sim::user_workload(
      waiting_registry(), [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.start(3, "q", "Quick", "in"); },
      [](const sim::InstanceEnd&, const sim::InstanceLookup&) { return std::vector<std::string>{"always"}; });
  const sim::SeedsReport steady = sim::run_seeds(options, 4, 2);
  REQUIRE(steady.first_failure);
  CHECK(steady.reproduced);
  CHECK(steady.message.find("did not run the same again") == std::string::npos);
}

TEST_CASE("a check's problems with an instance whose tree was corrupted are counted apart, not violations",
          "[sim][library]") {
  for (const bool throws : {false, true}) {  // a check that parses what a corruption emptied throws
    INFO("the check throws: " << throws);
    sim::SimOptions options = saga_options();
    options.faults = {sim::FaultKind::Corruption};
    options.workload = sim::user_workload(saga_registry(), saga_plan,
                                          [throws](const sim::InstanceEnd&, const sim::InstanceLookup&) {
                                            if (throws) throw std::runtime_error("stoi");
                                            return std::vector<std::string>{"every end is wrong"};
                                          });
    const std::string invariant = throws ? "check" : "outcome";
    std::uint64_t waived = 0;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      options.seed = seed;
      const sim::SimResult result = sim::run_simulation(options);
      std::uint64_t counted = 0;
      for (const sim::Violation& violation : result.violations) counted += violation.invariant == invariant ? 1 : 0;
      INFO("seed " << seed);
      CHECK(counted + result.checks_waived == 6);  // each of the six trips: one or the other
      waived += result.checks_waived;
    }
    CHECK(waived > 0);
  }
}

TEST_CASE("a user's activities that throw count as activity failures only when that fault kind is on",
          "[sim][library]") {
  sim::SimOptions options = saga_options();
  options.seed = 2;
  auto failures = [&] { return sim::run_simulation(options).faults_injected.at("activity-failure"); };
  CHECK(failures() > 0);  // the saga's own bookings fail on this seed
  options.faults = {};
  CHECK(failures() == 0);
}

TEST_CASE("a user's registry runs in the simulator with its version policy", "[sim][library]") {
  auto registry = std::make_shared<Registry>();
  registry->register_orchestration("Pinned", "1.0.0", [](OrchestrationContext&, std::string) -> Task<std::string> {
    co_return "1.0.0";
  });
  registry->register_orchestration("Pinned", "2.0.0", [](OrchestrationContext&, std::string) -> Task<std::string> {
    co_return "2.0.0";
  });
  registry->set_version_policy("Pinned", VersionPolicy::Exact, "1.0.0");
  sim::SimOptions options;
  options.faults = {};
  options.workload = sim::user_workload(
      registry, [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.start(0, "p", "Pinned", ""); },
      [](const sim::InstanceEnd& end, const sim::InstanceLookup&) {
        return end.output == "1.0.0" ? std::vector<std::string>{} : std::vector<std::string>{"ran " + end.output};
      });
  sim::require_seeds_pass(options, 1, 2);
}

TEST_CASE("a user's plan draws the same whatever faults run", "[sim][library]") {
  auto plan_draws = [](std::vector<sim::FaultKind> faults) {
    std::vector<std::uint64_t> draws;
    sim::SimOptions options;
    options.seed = 11;
    options.faults = std::move(faults);
    options.workload = sim::user_workload(
        waiting_registry(),
        [&draws](sim::WorkloadPlan& plan, sim::SimRandom& random) {
          for (int i = 0; i < 4; ++i) draws.push_back(random.next());
          plan.start(0, "w", "Waits", "");
        },
        [](const sim::InstanceEnd&, const sim::InstanceLookup&) { return std::vector<std::string>{}; });
    sim::run_simulation(options);
    return draws;
  };
  std::vector<sim::FaultKind> without_failures;
  for (sim::FaultKind kind : sim::all_fault_kinds()) {
    if (kind != sim::FaultKind::ActivityFailure) without_failures.push_back(kind);
  }
  const std::vector<std::uint64_t> all = plan_draws(sim::all_fault_kinds());
  CHECK(all.size() == 4);
  CHECK(plan_draws(without_failures) == all);
  CHECK(plan_draws({}) == all);
}

TEST_CASE("a client op planned before its instance's start waits for the start, then takes effect",
          "[sim][library]") {
  auto registry = std::make_shared<Registry>();
  registry->register_orchestration("Awaits", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_wait("E");
  });
  for (const bool faults : {false, true}) {
    INFO("faults: " << faults);
    sim::SimOptions options;
    options.faults = faults ? sim::all_fault_kinds() : std::vector<sim::FaultKind>{};
    options.workload = sim::user_workload(
        registry,
        [](sim::WorkloadPlan& plan, sim::SimRandom&) {
          plan.raise(0, "early", "E", "raised first");
          plan.start(plan.steps() / 2, "early", "Awaits", "");
        },
        [](const sim::InstanceEnd& end, const sim::InstanceLookup&) {
          if (end.state == RuntimeState::Completed && end.output == "raised first") return std::vector<std::string>{};
          return std::vector<std::string>{"ended " + std::string(to_string(end.state)) + " " + end.output + end.error};
        });
    sim::require_seeds_pass(options, 1, 5);
  }
}

TEST_CASE("an instance's end gives the input it was started with and the one its current execution carries",
          "[sim][library]") {
  auto registry = std::make_shared<Registry>();
  registry->register_orchestration("Counts", [](OrchestrationContext& ctx, std::string n) -> Task<std::string> {
    if (n != "2") co_await ctx.continue_as_new(std::to_string(std::stoi(n) + 1));
    co_return "counted to " + n;
  });
  sim::SimOptions options;
  options.faults = {};
  options.workload = sim::user_workload(
      registry, [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.start(0, "c", "Counts", "0"); },
      [](const sim::InstanceEnd& end, const sim::InstanceLookup&) {
        std::vector<std::string> problems;
        if (end.output != "counted to 2") problems.push_back("output " + end.output);
        if (end.executions != 3) problems.push_back("executions " + std::to_string(end.executions));
        if (end.input != "0") problems.push_back("input " + end.input);
        if (end.current_input != "2") problems.push_back("current input " + end.current_input);
        return problems;
      });
  sim::require_seeds_pass(options, 1, 3);
}

TEST_CASE("a workload plan that acts on an instance it never starts is refused", "[sim][library]") {
  sim::SimOptions options;
  options.workload = sim::user_workload(
      saga_registry(), [](sim::WorkloadPlan& plan, sim::SimRandom&) { plan.raise(1, "ghost", "Pay", "x"); },
      saga_check);
  CHECK_THROWS_AS(sim::run_simulation(options), std::invalid_argument);
}

TEST_CASE("a seed's final database opens as a store holding the simulated world's instances", "[sim][library]") {
  sim::SimOptions options = saga_options();
  options.seed = 5;
  const sim::SimResult plain = sim::run_simulation(options);
  CHECK(plain.database.empty());
  options.keep_database = true;
  const sim::SimResult kept = sim::run_simulation(options);
  REQUIRE(kept.ok());
  CHECK(kept.trace_hash == plain.trace_hash);  // keeping the file changes nothing simulated
  REQUIRE_FALSE(kept.database.empty());

  sim::MemoryVfs disk("sim-library-kept-database");
  disk.put_file("/kept.db", kept.database);
  ManualClock clock(0);
  SequentialIdSource ids("kept");
  SqliteOptions sqlite;
  sqlite.vfs = disk.name();
  {
    SqliteProvider store("/kept.db", clock, ids, sqlite);
    ManagementClient management(store);
    const auto counts = management.count_by_status({});
    std::uint64_t finished = 0;
    for (const auto& [state, count] : counts) {
      if (state == RuntimeState::Completed || state == RuntimeState::Failed) finished += count;
    }
    CHECK(finished == kept.completed + kept.failed);
    CHECK(finished >= kept.instances);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) disk.remove_file(std::string("/kept.db") + suffix);
}
