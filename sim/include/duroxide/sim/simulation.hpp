// The deterministic simulator: the unchanged engine and SQLite provider in a
// seeded world of several runtime nodes, a virtual clock, an in-memory disk and
// injected faults, checked against invariants and reference models.
//
// Contract:
// - `run_simulation` depends only on its options: the same options give the
//   same trace hash on every run, natively and in WebAssembly;
// - phase 1 (safety) runs the workload under faults for `steps` steps;
//   phase 2 (liveness) turns faults off and runs until every instance is
//   terminal and every queue empty, or reports a liveness violation;
// - nothing is thrown for a violation: it is recorded in the result. Invalid
//   options throw std::invalid_argument.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duroxide/provider.hpp"
#include "duroxide/sim/user_workload.hpp"

namespace duroxide::sim {

enum class FaultKind {
  NodeCrash,        // a node dies before or after any provider call, or inside an activity
  CommitCrash,      // a node dies inside an ack: a disk write of the commit fails, SQLite rolls back
  ClockJump,        // virtual time leaps past lock timeouts
  NodePause,        // a node stalls between its fetch and its ack while others run
  Duplicate,        // a work item or completion is delivered twice
  Transient,        // a provider call fails with a retryable error
  DiskError,        // a read, write or sync of the database fails
  ActivityFailure,  // the workload includes activities that fail (RetryFlaky, Saga, Fails)
  SlowActivity,     // an activity runs past its lock while other nodes run
  Corruption,       // a history, orchestrator-queue or worker-queue row of a running instance
                    // stops decoding; the instance must end visibly, its parent be told
  NodeShutdown,     // inside an activity, a node begins a graceful shutdown: it takes no new
                    // work, keeps the running batch's worker locks renewed while the activity
                    // runs past its lock timeout and other nodes run, acks, stops and restarts
};
constexpr std::size_t kFaultKindCount = 11;
std::string_view to_string(FaultKind kind);
std::optional<FaultKind> parse_fault_kind(std::string_view text);
std::vector<FaultKind> all_fault_kinds();
// What SimOptions runs by default: every kind but Corruption and NodeShutdown,
// which are listed explicitly (--faults all), so the default seeds keep their
// trace hashes.
std::vector<FaultKind> default_fault_kinds();

// Workload kinds beyond the sample catalog, each aimed at one engine contract;
// instances of the enabled kinds replace about two in five catalog instances.
enum class Scenario {
  ChildContinueAsNew,  // a parent awaits a Counter child that continues-as-new
  CarryOver,           // a loop continues-as-new while events are raised and messages enqueued
  SelectLoop,          // select(wait, timer) in a loop; events raised after timeouts
  BadValues,           // activities returning invalid UTF-8 / throwing errors over the payload limit
  EarlyOps,            // raise/enqueue/cancel and a duplicate start before the first turn
  ForceDelete,         // a tree force-deleted while its child starts may be queued; a
                       // sub-orchestration whose explicit id names an existing instance
};
constexpr std::size_t kScenarioCount = 6;
std::string_view to_string(Scenario scenario);
std::optional<Scenario> parse_scenario(std::string_view text);
std::vector<Scenario> all_scenarios();

// Thrown through the engine when a simulated node dies. Deliberately not a
// std::exception: nothing in the engine may catch and survive it.
struct NodeCrash {
  std::string where;
};

// What a store wrapper (tests' deliberately broken providers) may ask of the world.
class WorldHooks {
 public:
  virtual ~WorldHooks() = default;
  // Draws the CommitCrash fault: true means the calling node dies here.
  virtual bool crash_point(const std::string& where) = 0;
  virtual std::int64_t now_ms() = 0;
  // Whether the node making the current provider call is shutting down (NodeShutdown).
  virtual bool shutting_down() = 0;
};

// Wraps the store the nodes share; the result must forward to `inner`.
using StoreWrapper =
    std::function<std::unique_ptr<Provider>(Provider& inner, WorldHooks& hooks)>;

struct SimOptions {
  std::uint64_t seed = 1;
  std::size_t steps = 3'000;            // phase 1 scheduler steps
  std::size_t nodes = 3;                // runtime nodes sharing the store
  std::size_t instances = 12;           // workload size
  std::vector<FaultKind> faults = default_fault_kinds();
  std::vector<Scenario> scenarios;      // none: the catalog workload alone
  std::size_t liveness_steps = 50'000;  // phase 2 bound
  bool keep_trace = false;              // keep every trace line (else only the hash)
  bool keep_database = false;           // SimResult::database: the store's file at the end
  StoreWrapper store_wrapper;           // tests only: a broken provider variant
  // The workload: empty runs the sample catalog (and `scenarios`); else the
  // registry, plan and check this factory makes for the seed
  // (duroxide/sim/user_workload.hpp, duroxide/sim/generator.hpp).
  WorkloadFactory workload;
  // The duroxide-sim flags that select `workload` (reproduce_command prints
  // them), e.g. "--workload generated"; empty for one only a program builds.
  std::string workload_flags;
};

struct Violation {
  std::string invariant;  // e.g. "history-well-formed", "outcome", "liveness"
  std::string instance;
  std::string detail;
  std::uint64_t step = 0;
};

struct SimResult {
  std::uint64_t seed = 0;
  std::uint64_t steps = 0;          // scheduler steps, both phases
  std::uint64_t liveness_steps = 0;
  std::int64_t virtual_ms = 0;      // virtual time elapsed
  std::map<std::string, std::uint32_t> fault_ppm;       // probability drawn per kind
  std::map<std::string, std::uint64_t> faults_injected;  // by kind
  std::uint64_t instances = 0;      // workload instances
  std::uint64_t sub_instances = 0;  // children found in the store
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::uint64_t node_restarts = 0;
  // Instances whose check found problems (or threw) that were not counted as violations:
  // the Corruption fault had made a row of their tree undecodable (InstanceEnd::corrupted).
  std::uint64_t checks_waived = 0;
  std::vector<Violation> violations;
  std::uint64_t trace_hash = 0;
  std::vector<std::string> trace;  // with keep_trace
  Coverage coverage;               // constructs the workload exercised (custom workloads)
  std::string workload_text;       // a failing run's workload, readable (custom workloads)
  std::string database;            // with keep_database: the SQLite file after both phases,
                                   // checkpointed, to open and browse like any store

  bool ok() const { return violations.empty(); }
};

SimResult run_simulation(const SimOptions& options);

// {"seed":..,"hash":"..",...}: one run as JSON (trace excluded).
std::string to_json(const SimResult& result);
// Greedy shrinking of a failing run: repeatedly keeps any smaller configuration
// (fewer instances, steps, nodes, fault kinds or scenarios) on which the same seed still
// fails; returns the smallest found (the input itself if nothing smaller fails).
SimOptions shrink_failure(SimOptions failing);

// How to rerun exactly this seed: the duroxide-sim command line, or, for a workload
// only a program builds (no workload_flags), the SimOptions to run it with.
std::string reproduce_command(const SimOptions& options);

}  // namespace duroxide::sim
