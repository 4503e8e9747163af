// The simulated clients' workload, generated from a seed over the sample
// catalog (../shared/SAMPLES.md), and the reference model of each sample: the
// outcomes an instance may end with, given what the clients did to it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "duroxide/sim/random.hpp"

namespace duroxide::sim {

struct Outcome {
  bool completed = true;
  std::string text;  // the output, or the error's display message
  friend bool operator==(const Outcome&, const Outcome&) = default;
};
std::string describe(const Outcome& outcome);

struct WorkloadInstance {
  std::string id;
  std::string orchestration;
  std::string input;
  std::optional<std::string> approve_data;  // Approval: raised with this data
  std::vector<std::string> inbox;           // Mailbox: messages enqueued, in order
  std::optional<std::string> cancel_reason;
};

struct WorkloadOp {
  enum class Kind { Start, Raise, Enqueue, Cancel };
  Kind kind = Kind::Start;
  std::uint64_t step = 0;  // phase-1 step it is due at (later ones run when phase 2 starts)
  std::size_t instance = 0;
  std::string data;
  std::uint32_t attempts = 0;  // refusals so far (instance not there yet)
};

struct Workload {
  std::vector<WorkloadInstance> instances;
  std::vector<WorkloadOp> ops;  // ordered by step
  std::size_t failing_instances = 0;  // drawn with activities that fail
};

// `failing_activities`: also draw inputs whose activities fail (RetryFlaky with
// failures, Saga with a failing Credit, Fails) — the ActivityFailure fault.
Workload generate_workload(SimRandom& random, std::size_t count, std::uint64_t steps,
                           bool failing_activities);

// What the client's actions made possible: Approve delivered, cancel accepted.
struct ClientEffects {
  bool approve_raised = false;
  bool cancel_accepted = false;
};

// The reference model: every outcome the instance may legally end with.
std::vector<Outcome> expected_outcomes(const WorkloadInstance& instance,
                                       const ClientEffects& effects);

}  // namespace duroxide::sim
