#include <nlohmann/json.hpp>

#include "duroxide/sim/random.hpp"
#include "duroxide/sim/simulation.hpp"

namespace duroxide::sim {

std::string to_json(const SimResult& result) {
  nlohmann::ordered_json out;
  out["seed"] = result.seed;
  out["hash"] = hex64(result.trace_hash);
  out["ok"] = result.ok();
  out["steps"] = result.steps;
  out["liveness_steps"] = result.liveness_steps;
  out["virtual_ms"] = result.virtual_ms;
  out["instances"] = result.instances;
  out["sub_instances"] = result.sub_instances;
  out["completed"] = result.completed;
  out["failed"] = result.failed;
  out["node_restarts"] = result.node_restarts;
  out["checks_waived"] = result.checks_waived;
  out["fault_ppm"] = result.fault_ppm;
  out["faults_injected"] = result.faults_injected;
  if (!result.coverage.empty()) out["coverage"] = result.coverage;
  if (!result.workload_text.empty()) out["workload"] = result.workload_text;
  out["violations"] = nlohmann::ordered_json::array();
  for (const Violation& violation : result.violations) {
    out["violations"].push_back({{"invariant", violation.invariant},
                                 {"instance", violation.instance},
                                 {"detail", violation.detail},
                                 {"step", violation.step}});
  }
  return out.dump();
}

}  // namespace duroxide::sim
