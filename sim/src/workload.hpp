// The simulated clients' workload, generated from a seed over the sample
// catalog (docs/samples.md), and the reference model of each sample: the
// outcomes an instance may end with, given what the clients did to it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "duroxide/management_provider.hpp"
#include "duroxide/registry.hpp"
#include "duroxide/sim/random.hpp"
#include "duroxide/sim/simulation.hpp"

namespace duroxide::sim {

struct Outcome {
  bool completed = true;
  std::string text;  // the output, or the error's display message
  bool any_text = false;  // in a model: any output / error message is allowed
  friend bool operator==(const Outcome&, const Outcome&) = default;
};
std::string describe(const Outcome& outcome);
// Whether `actual` is what `model` allows.
bool allows(const Outcome& model, const Outcome& actual);

struct WorkloadInstance {
  std::string id;
  std::string orchestration;
  std::string input;
  std::optional<std::string> approve_data;  // Approval: raised with this data
  std::vector<std::string> inbox;           // Mailbox: messages enqueued, in order
  std::optional<std::string> cancel_reason;
  // Scenario instances: events raised (name "Ping" or "Tick") in order, and
  // whether client ops are issued before the instance's first turn.
  std::vector<std::string> events;
  bool early = false;
  bool force_deleted = false;  // the client force-deletes it (ForceDelete op)
};

struct WorkloadOp {
  // DuplicateStart: a second start of the id, which must be refused (AlreadyExists).
  // ForceDelete: the instance and its tree, running or not.
  enum class Kind { Start, Raise, Enqueue, Cancel, DuplicateStart, ForceDelete };
  Kind kind = Kind::Start;
  std::uint64_t step = 0;  // phase-1 step it is due at (later ones run when phase 2 starts)
  std::size_t instance = 0;
  std::string data;
  std::uint32_t attempts = 0;  // refusals so far (instance not there yet)
  std::string name = {};       // Raise: the event's name (empty: "Approve")
};

struct Workload {
  std::vector<WorkloadInstance> instances;
  std::vector<WorkloadOp> ops;  // ordered by step
  std::size_t failing_instances = 0;  // drawn with activities that fail
};

// `failing_activities`: also draw inputs whose activities fail (RetryFlaky with
// failures, Saga with a failing Credit, Fails) — the ActivityFailure fault.
// `scenarios`: the scenario kinds that may replace catalog instances (about two
// in five); empty leaves the catalog workload exactly as it was (the same
// draws, so the same seeds).
Workload generate_workload(SimRandom& random, std::size_t count, std::uint64_t steps,
                           bool failing_activities, const std::vector<Scenario>& scenarios = {});

// What the client's actions made possible: Approve delivered, cancel accepted.
struct ClientEffects {
  bool approve_raised = false;
  bool cancel_accepted = false;
  bool deleted = false;
  std::vector<WorkloadOp> accepted;  // raises, enqueues and cancels the store took, in order
};

// Registers the scenario orchestrations and activities (names start with "Sim").
void register_scenarios(Registry& registry);

// The reference model: every outcome the instance may legally end with.
std::vector<Outcome> expected_outcomes(const WorkloadInstance& instance,
                                       const ClientEffects& effects);

// ---- custom workloads (user_workload.cpp)

// The plan's ops as the simulator's workload: one instance per start, ops in step
// order (stable). Throws std::invalid_argument for an op on an instance the plan
// never starts, or a second start of one id.
Workload workload_from_plan(const WorkloadPlan& plan);
// Shrinking keeps a smaller configuration only when it fails the same way: with a
// violation of the invariant the original's first violation broke, not another bug.
// first_invariant: that invariant ("" when the run passes or throws); fails_with:
// whether `options` breaks `invariant` (a run that throws does not).
std::string first_invariant(const SimOptions& options);
bool fails_with(const SimOptions& options, const std::string& invariant);
// A plan's client ops as readable lines ("client ops:", then one per op in step order).
std::string describe_ops(std::vector<ClientOp> ops);

// How `instance` ended, read from the store (`instance.id` from the workload
// carries the clients' effects; children and detached instances have none).
std::optional<InstanceEnd> read_instance_end(ManagementProvider& store, const std::string& instance,
                                             const ClientEffects* effects);

}  // namespace duroxide::sim
