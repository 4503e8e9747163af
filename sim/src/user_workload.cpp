// Custom workloads: a plan's ops as the simulator's workload, and instance ends
// read back for a workload's check. See duroxide/sim/user_workload.hpp.
#include <algorithm>
#include <map>
#include <stdexcept>

#include "duroxide/text.hpp"
#include "program.hpp"
#include "workload.hpp"

namespace duroxide::sim {

Workload workload_from_plan(const WorkloadPlan& plan) {
  Workload workload;
  std::map<std::string, std::size_t> index_of;
  std::vector<ClientOp> ops = plan.ops();
  std::stable_sort(ops.begin(), ops.end(), [](const ClientOp& a, const ClientOp& b) { return a.step < b.step; });
  for (const ClientOp& op : ops) {
    if (op.kind != ClientOp::Kind::Start) continue;
    if (!index_of.emplace(op.instance, workload.instances.size()).second) {
      throw std::invalid_argument("the workload starts " + op.instance + " twice");
    }
    WorkloadInstance instance;
    instance.id = op.instance;
    instance.orchestration = op.name;
    instance.input = op.data;
    workload.instances.push_back(std::move(instance));
  }
  for (const ClientOp& op : ops) {
    const auto found = index_of.find(op.instance);
    if (found == index_of.end()) {
      throw std::invalid_argument("the workload acts on " + op.instance + ", which it never starts");
    }
    WorkloadOp converted;
    converted.step = op.step;
    converted.instance = found->second;
    converted.data = op.data;
    switch (op.kind) {
      case ClientOp::Kind::Start: converted.kind = WorkloadOp::Kind::Start; break;
      case ClientOp::Kind::Raise:
        converted.kind = WorkloadOp::Kind::Raise;
        converted.name = op.name;
        if (op.name.empty()) throw std::invalid_argument("a raise on " + op.instance + " names no event");
        break;
      case ClientOp::Kind::Enqueue:
        converted.kind = WorkloadOp::Kind::Enqueue;
        converted.name = op.name;
        if (op.name.empty()) throw std::invalid_argument("an enqueue on " + op.instance + " names no queue");
        break;
      case ClientOp::Kind::Cancel:
        converted.kind = WorkloadOp::Kind::Cancel;
        workload.instances[found->second].cancel_reason = op.data;
        break;
    }
    workload.ops.push_back(std::move(converted));
  }
  return workload;
}

namespace {

ClientOp to_client_op(const WorkloadOp& op, const std::string& instance) {
  ClientOp converted;
  converted.step = op.step;
  converted.instance = instance;
  converted.name = op.name;
  converted.data = op.data;
  switch (op.kind) {
    case WorkloadOp::Kind::Raise: converted.kind = ClientOp::Kind::Raise; break;
    case WorkloadOp::Kind::Enqueue: converted.kind = ClientOp::Kind::Enqueue; break;
    case WorkloadOp::Kind::Cancel: converted.kind = ClientOp::Kind::Cancel; break;
    default: converted.kind = ClientOp::Kind::Start; break;
  }
  return converted;
}

}  // namespace

std::optional<InstanceEnd> read_instance_end(ManagementProvider& store, const std::string& instance,
                                             const ClientEffects* effects) {
  const auto info = store.get_instance_info(instance);
  if (!info) return std::nullopt;
  InstanceEnd end;
  end.instance = instance;
  end.orchestration = info->orchestration_name;
  end.exists = true;
  end.state = info->state;
  end.output = info->output;
  end.error = info->error ? info->error->display_message() : std::string();
  end.custom_status = info->custom_status;
  end.parent_instance = info->parent_instance;
  end.executions = info->current_execution_id;
  try {
    end.history = store.read_execution(instance, info->current_execution_id);
  } catch (const std::exception&) {
    end.history.clear();  // a corrupted row: the corruption invariants judge it
  }
  auto started_input = [](const History& history) -> std::optional<std::string> {
    if (history.empty()) return std::nullopt;
    const auto* started = std::get_if<events::OrchestrationStarted>(&history.front().data);
    return started ? std::optional<std::string>(started->input) : std::nullopt;
  };
  end.current_input = started_input(end.history).value_or("");
  end.input = end.current_input;
  if (end.executions > 1) {  // the first execution's, unless it was pruned or cannot be read
    try {
      end.input = started_input(store.read_execution(instance, 1)).value_or(end.current_input);
    } catch (const std::exception&) {
    }
  }
  if (effects) {
    for (const WorkloadOp& op : effects->accepted) {
      if (op.kind != WorkloadOp::Kind::Start) end.accepted.push_back(to_client_op(op, instance));
    }
    end.cancel_accepted = effects->cancel_accepted;
  }
  return end;
}

// The plan's client ops in step order, payloads shortened.
std::string describe_ops(std::vector<ClientOp> ops) {
  std::stable_sort(ops.begin(), ops.end(), [](const ClientOp& a, const ClientOp& b) { return a.step < b.step; });
  std::string out = "client ops:\n";
  for (const ClientOp& op : ops) {
    const std::string data = valid_utf8(op.data) ? program::short_value(op.data)
                                                 : "<" + std::to_string(op.data.size()) + " bytes, invalid UTF-8>";
    switch (op.kind) {
      case ClientOp::Kind::Start: out += "  step " + std::to_string(op.step) + ": start " + op.instance + " " + op.name + "\n"; break;
      case ClientOp::Kind::Raise: out += "  step " + std::to_string(op.step) + ": raise " + op.instance + " " + op.name + " \"" + data + "\"\n"; break;
      case ClientOp::Kind::Enqueue: out += "  step " + std::to_string(op.step) + ": enqueue " + op.instance + " " + op.name + " \"" + data + "\"\n"; break;
      case ClientOp::Kind::Cancel: out += "  step " + std::to_string(op.step) + ": cancel " + op.instance + "\n"; break;
    }
  }
  return out;
}

WorkloadFactory user_workload(
    std::shared_ptr<const Registry> registry, std::function<void(WorkloadPlan&, SimRandom&)> plan,
    std::function<std::vector<std::string>(const InstanceEnd&, const InstanceLookup&)> check) {
  return [registry = std::move(registry), plan = std::move(plan), check = std::move(check)](WorkloadSeed& seed) {
    SimWorkload workload;
    workload.registry = registry;
    workload.check = check;
    // The plan draws from a copy of the seed's stream (the seed's lives only through the
    // factory's caller) and keeps its ops to describe a failing run.
    auto random = std::make_shared<SimRandom>(seed.random);
    auto planned = std::make_shared<std::vector<ClientOp>>();
    workload.plan = [plan, random, planned](WorkloadPlan& ops) {
      plan(ops, *random);
      *planned = ops.ops();
    };
    workload.describe = [planned] { return describe_ops(*planned); };
    return workload;
  };
}

}  // namespace duroxide::sim
