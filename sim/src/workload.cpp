#include "workload.hpp"

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace duroxide::sim {

using Json = nlohmann::json;

std::string describe(const Outcome& outcome) {
  return (outcome.completed ? "Completed(" : "Failed(") + outcome.text + ")";
}

namespace {

const char* const kSamples[] = {"HelloWorld", "FanOutFanIn", "Chain",      "Approval",
                                "Counter",    "Parent",      "RetryFlaky", "Saga",
                                "Mailbox",    "LongTimer",   "Fails"};

Json names(SimRandom& random, std::size_t index, std::int64_t max) {
  Json list = Json::array();
  const std::int64_t count = random.between(1, max);
  for (std::int64_t i = 0; i < count; ++i) {
    list.push_back("p" + std::to_string(index) + "x" + std::to_string(i));
  }
  return list;
}

}  // namespace

Workload generate_workload(SimRandom& random, std::size_t count, std::uint64_t steps,
                           bool failing_activities) {
  Workload workload;
  const std::uint64_t horizon = std::max<std::uint64_t>(steps, 10);
  for (std::size_t i = 0; i < count; ++i) {
    WorkloadInstance instance;
    instance.id = "sim-" + std::to_string(i);
    std::string sample = kSamples[random.below(std::size(kSamples))];
    if (!failing_activities && sample == "Fails") sample = "HelloWorld";
    instance.orchestration = sample;
    if (sample == "HelloWorld") {
      instance.input = "n" + std::to_string(i);
    } else if (sample == "FanOutFanIn" || sample == "Parent") {
      instance.input = names(random, i, 3).dump();
    } else if (sample == "Chain") {
      instance.input = Json{{"steps", random.between(1, 4)}, {"value", random.between(-5, 5)}}.dump();
    } else if (sample == "Approval") {
      instance.input = Json{{"timeout_ms", random.between(50, 20'000)}}.dump();
      if (random.chance(700'000)) instance.approve_data = "ok" + std::to_string(i);
    } else if (sample == "Counter") {
      instance.input = Json{{"count", 0}, {"limit", random.between(0, 3)}}.dump();
    } else if (sample == "RetryFlaky") {
      const std::int64_t attempts = random.between(1, 3);
      const std::int64_t failures = failing_activities ? random.between(0, attempts) : 0;
      if (failures > 0) ++workload.failing_instances;
      instance.input = Json{{"fail_times", failures}, {"max_attempts", attempts}}.dump();
    } else if (sample == "Saga") {
      const bool fail = failing_activities && random.chance(500'000);
      if (fail) ++workload.failing_instances;
      instance.input = Json{{"amount", random.between(1, 100)}, {"fail_credit", fail}}.dump();
    } else if (sample == "Mailbox") {
      const std::int64_t messages = random.between(0, 3);
      instance.input = Json{{"messages", messages}}.dump();
      for (std::int64_t m = 0; m < messages; ++m) {
        instance.inbox.push_back("m" + std::to_string(i) + "." + std::to_string(m));
      }
    } else if (sample == "Fails") {
      instance.input = "boom " + std::to_string(i);
      ++workload.failing_instances;
    }
    if (random.chance(120'000)) instance.cancel_reason = "sim cancel " + std::to_string(i);

    // Starts fall in the first 60% of phase 1; everything else after its start.
    const std::uint64_t start = random.below(horizon * 6 / 10 + 1);
    auto later = [&] { return start + 1 + random.below(horizon / 2 + 1); };
    workload.ops.push_back({WorkloadOp::Kind::Start, start, i, {}});
    if (instance.approve_data) {
      workload.ops.push_back({WorkloadOp::Kind::Raise, later(), i, *instance.approve_data});
    }
    std::uint64_t message_step = start;
    for (const std::string& message : instance.inbox) {
      message_step += 1 + random.below(horizon / 8 + 1);  // increasing: FIFO order is the model's
      workload.ops.push_back({WorkloadOp::Kind::Enqueue, message_step, i, message});
    }
    if (instance.cancel_reason) {
      workload.ops.push_back({WorkloadOp::Kind::Cancel, later(), i, *instance.cancel_reason});
    }
    workload.instances.push_back(std::move(instance));
  }
  std::stable_sort(workload.ops.begin(), workload.ops.end(),
                   [](const WorkloadOp& a, const WorkloadOp& b) { return a.step < b.step; });
  return workload;
}

std::vector<Outcome> expected_outcomes(const WorkloadInstance& instance,
                                       const ClientEffects& effects) {
  std::vector<Outcome> outcomes;
  const std::string& name = instance.orchestration;
  auto greetings = [](const Json& list, const std::string& greeting) {
    Json out = Json::array();
    for (const auto& item : list) out.push_back(greeting + item.get<std::string>() + "!");
    return out.dump();
  };
  if (name == "HelloWorld") {
    outcomes.push_back({true, "Hi, " + instance.input + "!"});  // latest version: 2.0.0
  } else if (name == "FanOutFanIn") {
    outcomes.push_back({true, greetings(Json::parse(instance.input), "Hello, ")});
  } else if (name == "Parent") {
    outcomes.push_back({true, greetings(Json::parse(instance.input), "Hi, ")});
  } else if (name == "Chain") {
    Json input = Json::parse(instance.input);
    outcomes.push_back(
        {true, std::to_string(input["value"].get<std::int64_t>() + input["steps"].get<std::int64_t>())});
  } else if (name == "Approval") {
    outcomes.push_back({true, "timeout"});
    if (effects.approve_raised) outcomes.push_back({true, "approved:" + *instance.approve_data});
  } else if (name == "Counter") {
    outcomes.push_back({true, std::to_string(Json::parse(instance.input)["limit"].get<std::int64_t>())});
  } else if (name == "RetryFlaky") {
    Json input = Json::parse(instance.input);
    const auto failures = input["fail_times"].get<std::int64_t>();
    const auto attempts = input["max_attempts"].get<std::int64_t>();
    if (failures < attempts) {
      outcomes.push_back({true, "ok after " + std::to_string(failures) + " failures"});
    } else {
      outcomes.push_back({false, "flaky failure " + std::to_string(attempts)});
    }
  } else if (name == "Saga") {
    outcomes.push_back(
        {true, Json::parse(instance.input)["fail_credit"].get<bool>() ? "compensated" : "committed"});
  } else if (name == "Mailbox") {
    std::string joined;
    for (std::size_t i = 0; i < instance.inbox.size(); ++i) joined += (i ? "," : "") + instance.inbox[i];
    outcomes.push_back({true, joined});
  } else if (name == "LongTimer") {
    outcomes.push_back({true, "done"});
  } else if (name == "Fails") {
    outcomes.push_back({false, instance.input});
  } else {
    throw std::invalid_argument("no reference model for " + name);
  }
  if (effects.cancel_accepted) outcomes.push_back({false, "canceled: " + *instance.cancel_reason});
  return outcomes;
}

}  // namespace duroxide::sim
