// The simulator as a library: a workload of the user's own orchestrations.
//
// A `SimWorkload` is a registry (the user's orchestrations and activities), a
// plan (the client operations over simulated time: starts, raised events,
// enqueued messages, cancels) and an outcome check (what each started instance
// may end as, given what the clients did). `SimOptions::workload` makes one per
// seed; the simulator runs it on the unchanged engine under faults, with every
// always-on invariant (well-formed histories, deterministic replay, liveness,
// time series, values) plus the check. See docs/simulator.md.
//
// Contract: the plan and the check must depend only on the random stream and
// the ends they are given, so that a seed reruns identically natively and in
// WebAssembly (no unordered containers iterated into output, no std
// distributions, no floating point formatting).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "duroxide/event.hpp"
#include "duroxide/registry.hpp"
#include "duroxide/sim/random.hpp"
#include "duroxide/status.hpp"

namespace duroxide::sim {

// One client operation, due at a phase-1 scheduler step (ops due after the last
// step run when phase 2 starts). An op on an instance whose start has not been
// processed yet is retried later, in order, as a real client would.
struct ClientOp {
  enum class Kind { Start, Raise, Enqueue, Cancel };
  Kind kind = Kind::Start;
  std::uint64_t step = 0;
  std::string instance;
  std::string name;  // Start: the orchestration; Raise: the event; Enqueue: the queue
  std::string data;  // Start: the input; Raise/Enqueue: the payload; Cancel: the reason
};

// What a workload asks of the clients, built by the workload's plan function.
class WorkloadPlan {
 public:
  explicit WorkloadPlan(std::uint64_t steps) : steps_(steps) {}
  // Phase 1's length: a plan spreads its ops over [0, steps()).
  std::uint64_t steps() const { return steps_; }
  void start(std::uint64_t step, std::string instance, std::string orchestration, std::string input) {
    add({ClientOp::Kind::Start, step, std::move(instance), std::move(orchestration), std::move(input)});
  }
  void raise(std::uint64_t step, std::string instance, std::string event, std::string data) {
    add({ClientOp::Kind::Raise, step, std::move(instance), std::move(event), std::move(data)});
  }
  void enqueue(std::uint64_t step, std::string instance, std::string queue, std::string message) {
    add({ClientOp::Kind::Enqueue, step, std::move(instance), std::move(queue), std::move(message)});
  }
  void cancel(std::uint64_t step, std::string instance, std::string reason) {
    add({ClientOp::Kind::Cancel, step, std::move(instance), {}, std::move(reason)});
  }
  const std::vector<ClientOp>& ops() const { return ops_; }

 private:
  void add(ClientOp op) { ops_.push_back(std::move(op)); }
  std::uint64_t steps_;
  std::vector<ClientOp> ops_;
};

// How an instance ended, with what the clients did to it.
struct InstanceEnd {
  std::string instance;
  std::string orchestration;
  std::string input;          // what it was started with (its first execution's; the current one's once that is pruned)
  std::string current_input;  // the current execution's (after continue-as-new, what it carried)
  bool exists = false;
  RuntimeState state = RuntimeState::NotFound;
  std::string output;  // Completed
  std::string error;   // Failed: the error's display message
  std::optional<std::string> custom_status;
  std::string parent_instance;
  ExecutionId executions = 0;    // the current execution's id (1 + continue-as-new count)
  // The raises, enqueues and cancels the store accepted, in the order they were made.
  std::vector<ClientOp> accepted;
  bool cancel_accepted = false;  // a cancel was accepted while the instance ran
  History history;               // the current execution's history
  // The Corruption fault made a row of this instance or of its tree undecodable:
  // it may end either way (the simulator's corruption invariants judge it).
  bool corrupted = false;
};

// Another instance's end (a child, a detached start), by id; nullopt when it does not exist.
using InstanceLookup = std::function<std::optional<InstanceEnd>(const std::string& instance)>;

// What a workload may count: constructs its orchestrations exercised (name -> count).
// Shared by the registered functions of one run; the summary reports it.
using Coverage = std::map<std::string, std::uint64_t>;

struct SimWorkload {
  std::shared_ptr<const Registry> registry;
  std::function<void(WorkloadPlan&)> plan;
  // The problems with one started instance's end; empty when the end is allowed.
  // Called only for instances that exist and are terminal (a running one is a
  // liveness violation already).
  std::function<std::vector<std::string>(const InstanceEnd&, const InstanceLookup&)> check;
  std::shared_ptr<Coverage> coverage;     // optional
  std::function<std::string()> describe;  // optional: the workload as readable text
};

// What a workload factory is given for one seed.
struct WorkloadSeed {
  // The workload's own stream, valid during the factory's call: to draw later (in the
  // plan, or in a per-seed registry's activities), copy it (SimRandom is a value).
  SimRandom& random;
  std::uint64_t seed = 0;         // SimOptions::seed: draws from it alone do not change with the fault list
  std::uint64_t steps = 0;        // phase 1's length
  std::size_t instances = 0;      // the requested size (SimOptions::instances)
  bool failing_activities = false;  // the ActivityFailure fault is on for this seed
};

using WorkloadFactory = std::function<SimWorkload(WorkloadSeed& seed)>;

// A factory for a fixed registry: `plan` is called with the seed's random stream.
WorkloadFactory user_workload(
    std::shared_ptr<const Registry> registry,
    std::function<void(WorkloadPlan&, SimRandom&)> plan,
    std::function<std::vector<std::string>(const InstanceEnd&, const InstanceLookup&)> check);

}  // namespace duroxide::sim
