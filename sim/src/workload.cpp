#include "workload.hpp"

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "duroxide/limits.hpp"
#include "duroxide/orchestration_context.hpp"

namespace duroxide::sim {

using Json = nlohmann::json;

std::string describe(const Outcome& outcome) {
  return (outcome.completed ? "Completed(" : "Failed(") + (outcome.any_text ? "*" : outcome.text) + ")";
}

bool allows(const Outcome& model, const Outcome& actual) {
  return model.completed == actual.completed && (model.any_text || model.text == actual.text);
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

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (std::size_t i = 0; i < items.size(); ++i) text += (i ? "," : "") + items[i];
  return text;
}

// Draws one instance of `scenario` (index `i`, started at step `start`) and its client ops.
void add_scenario_instance(Workload& workload, SimRandom& random, std::size_t i, std::uint64_t start,
                           std::uint64_t horizon, Scenario scenario) {
  WorkloadInstance instance;
  instance.id = "sim-" + std::to_string(i);
  std::vector<WorkloadOp> ops;
  ops.push_back({WorkloadOp::Kind::Start, start, i, {}});
  // Sends at increasing steps, `gap` apart at most: FIFO order is the model's.
  auto send_steps = [&](std::size_t count, std::uint64_t gap) {
    std::vector<std::uint64_t> steps;
    std::uint64_t step = start;
    for (std::size_t n = 0; n < count; ++n) steps.push_back(step += 1 + random.below(gap + 1));
    return steps;
  };
  switch (scenario) {
    case Scenario::ChildContinueAsNew:
      instance.orchestration = "SimAwaitCounter";
      instance.input = Json{{"limit", random.between(1, 3)}}.dump();
      break;
    case Scenario::CarryOver: {
      instance.orchestration = "SimCarryOver";
      const auto messages = static_cast<std::size_t>(random.between(0, 3));
      const auto events = static_cast<std::size_t>(random.between(messages == 0 ? 1 : 0, 3));
      instance.input = Json{{"messages", messages}, {"events", events}}.dump();
      // Sent in bursts, so several arrive in one fetch with a continue-as-new.
      std::vector<std::uint64_t> steps = send_steps(messages + events, horizon / 40);
      std::size_t m = 0, e = 0;
      for (std::uint64_t step : steps) {
        const bool message = e == events || (m < messages && random.below(2) == 0);
        if (message) {
          instance.inbox.push_back("m" + std::to_string(i) + "." + std::to_string(m++));
          ops.push_back({WorkloadOp::Kind::Enqueue, step, i, instance.inbox.back()});
        } else {
          instance.events.push_back("e" + std::to_string(i) + "." + std::to_string(e++));
          ops.push_back({WorkloadOp::Kind::Raise, step, i, instance.events.back(), 0, "Ping"});
        }
      }
      break;
    }
    case Scenario::SelectLoop: {
      instance.orchestration = "SimSelectLoop";
      const auto events = static_cast<std::size_t>(random.between(1, 3));
      instance.input = Json{{"events", events},
                            {"timeout_ms", random.between(500, 3'000)},
                            {"drop_first", random.below(2) == 0}}
                           .dump();
      for (std::uint64_t step : send_steps(events, horizon / 6)) {
        instance.events.push_back("t" + std::to_string(i) + "." + std::to_string(instance.events.size()));
        ops.push_back({WorkloadOp::Kind::Raise, step, i, instance.events.back(), 0, "Tick"});
      }
      break;
    }
    case Scenario::BadValues: {
      const char* const modes[] = {"invalid-utf8", "huge-error", "orchestration-error"};
      instance.orchestration = "SimBadValue";
      instance.input = modes[random.below(std::size(modes))];
      break;
    }
    case Scenario::EarlyOps: {
      instance.early = true;
      ops.push_back({WorkloadOp::Kind::DuplicateStart, start, i, {}});
      switch (random.below(3)) {
        case 0:
          instance.orchestration = "Approval";
          instance.input = Json{{"timeout_ms", 3'600'000}}.dump();
          instance.approve_data = "early" + std::to_string(i);
          ops.push_back({WorkloadOp::Kind::Raise, start, i, *instance.approve_data});
          break;
        case 1: {
          instance.orchestration = "Mailbox";
          const std::int64_t messages = random.between(1, 2);
          instance.input = Json{{"messages", messages}}.dump();
          for (std::int64_t m = 0; m < messages; ++m) {
            instance.inbox.push_back("m" + std::to_string(i) + "." + std::to_string(m));
            ops.push_back({WorkloadOp::Kind::Enqueue, start, i, instance.inbox.back()});
          }
          break;
        }
        default:
          instance.orchestration = "LongTimer";
          instance.cancel_reason = "early cancel " + std::to_string(i);
          ops.push_back({WorkloadOp::Kind::Cancel, start, i, *instance.cancel_reason});
          break;
      }
      break;
    }
    case Scenario::ForceDelete:
      if (random.below(2) == 0) {
        instance.orchestration = "SimTree";
        instance.input = Json{{"children", random.between(1, 3)}}.dump();
        instance.force_deleted = true;
        ops.push_back({WorkloadOp::Kind::ForceDelete, start + 1 + random.below(horizon / 200 + 1), i, {}});
      } else {
        instance.orchestration = "SimExplicitChild";
      }
      break;
  }
  workload.ops.insert(workload.ops.end(), ops.begin(), ops.end());
  workload.instances.push_back(std::move(instance));
}

}  // namespace

Workload generate_workload(SimRandom& random, std::size_t count, std::uint64_t steps,
                           bool failing_activities, const std::vector<Scenario>& scenarios) {
  Workload workload;
  const std::uint64_t horizon = std::max<std::uint64_t>(steps, 10);
  for (std::size_t i = 0; i < count; ++i) {
    if (!scenarios.empty() && random.chance(400'000)) {
      const Scenario scenario = scenarios[random.below(scenarios.size())];
      add_scenario_instance(workload, random, i, random.below(horizon * 6 / 10 + 1), horizon, scenario);
      continue;
    }
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
  if (instance.early) {
    // The client's ops came before the first turn and must all take effect.
    if (name == "Approval") outcomes.push_back({true, "approved:" + *instance.approve_data});
    if (name == "Mailbox") outcomes.push_back({true, joined(instance.inbox)});
    if (name == "LongTimer") outcomes.push_back({false, "canceled: " + *instance.cancel_reason});
    return outcomes;
  }
  if (name == "SimAwaitCounter") {
    outcomes.push_back({true, "child:" + std::to_string(Json::parse(instance.input)["limit"].get<std::int64_t>())});
    return outcomes;
  }
  if (name == "SimCarryOver") {
    outcomes.push_back({true, Json{{"messages", instance.inbox}, {"events", instance.events}}.dump()});
    return outcomes;
  }
  if (name == "SimSelectLoop") {
    outcomes.push_back({true, Json(instance.events).dump()});
    return outcomes;
  }
  if (name == "SimTree") {
    outcomes.push_back({true, "done"});  // only if the delete came too late to find it running
    return outcomes;
  }
  if (name == "SimExplicitChild") {
    outcomes.push_back({true, "Hi, first!; the second start was refused"});
    outcomes.push_back({false, "", true});  // or the refusal fails the parent itself
    return outcomes;
  }
  if (name == "SimBadValue") {
    // The bad value fails its own item with a clear error: the activity (the
    // orchestration sees the failure) or the instance; never the batch.
    if (instance.input != "orchestration-error") outcomes.push_back({true, "activity failed"});
    outcomes.push_back({false, "", true});
    return outcomes;
  }
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
    outcomes.push_back({true, joined(instance.inbox)});
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

namespace {

// A select loop gives up after this many rounds: a lost event shows as "gave up".
constexpr int kMaxSelectRounds = 300;

// Over the payload limit, with a two-byte character across every even offset,
// so a cut at the limit lands inside a UTF-8 sequence.
std::string oversized_text() {
  std::string text = "x";
  while (text.size() <= limits::kMaxPayloadBytes + 1024) text += "\xC3\xA9";
  return text;
}

Task<std::string> await_counter(OrchestrationContext& ctx, std::string input) {
  const std::int64_t limit = Json::parse(input)["limit"].get<std::int64_t>();
  std::string child_input = Json{{"count", 0}, {"limit", limit}}.dump();
  std::string output = co_await ctx.schedule_sub_orchestration("Counter", std::move(child_input));
  co_return "child:" + output;
}

// Each execution takes one message of queue "inbox" and one event "Ping" (while
// more are due), then continues-as-new with what it received; custom status
// "turn N" is set by every execution but the last, so the instance keeps it, and
// each new execution must start with it ("status_lost" in the output if not).
Task<std::string> carry_over(OrchestrationContext& ctx, std::string input) {
  Json state = Json::parse(input);
  const std::int64_t turn = state.value("turn", std::int64_t{0});
  if (turn > 0 && !state.contains("status_lost") && ctx.custom_status() != "turn " + std::to_string(turn)) {
    state["status_lost"] = turn;
  }
  Json messages = state.value("got_messages", Json::array());
  Json events = state.value("got_events", Json::array());
  const bool take_message = messages.size() < state["messages"].get<std::size_t>();
  const bool take_event = events.size() < state["events"].get<std::size_t>();
  std::vector<DurableFuture> futures;
  if (take_message) futures.push_back(ctx.dequeue_event("inbox"));
  if (take_event) futures.push_back(ctx.schedule_wait("Ping"));
  std::vector<FutureResult> results = co_await ctx.join(std::move(futures));
  std::size_t next = 0;
  if (take_message) messages.push_back(results[next++].get());
  if (take_event) events.push_back(results[next++].get());
  if (messages.size() == state["messages"].get<std::size_t>() &&
      events.size() == state["events"].get<std::size_t>()) {
    Json output = Json{{"messages", messages}, {"events", events}};
    if (state.contains("status_lost")) output["status_lost"] = state["status_lost"];
    co_return output.dump();
  }
  ctx.set_custom_status("turn " + std::to_string(turn + 1));
  state["got_messages"] = messages;
  state["got_events"] = events;
  state["turn"] = turn + 1;
  co_await ctx.continue_as_new(state.dump());
  co_return "";  // not reached
}

// Waits for `events` events "Tick", each against a timer; a timed-out (or, with
// drop_first, a dropped) wait must not take an event from a later one.
Task<std::string> select_loop(OrchestrationContext& ctx, std::string input) {
  Json value = Json::parse(input);
  const std::size_t wanted = value["events"].get<std::size_t>();
  const std::int64_t timeout = value["timeout_ms"].get<std::int64_t>();
  if (value["drop_first"].get<bool>()) {
    DurableFuture dropped = ctx.schedule_wait("Tick");
  }
  Json received = Json::array();
  for (int round = 0; received.size() < wanted; ++round) {
    if (round == kMaxSelectRounds) {
      received.push_back("gave up");
      break;
    }
    auto winner = co_await ctx.select(ctx.schedule_wait("Tick"), ctx.schedule_timer(timeout));
    if (winner.index == 0) received.push_back(winner.result.value);
  }
  co_return received.dump();
}

// A healthy activity next to a bad value in the same turn (so often in the same
// batch): an activity result that is not UTF-8, an activity error over the
// payload limit, or an orchestration error over the limit.
Task<std::string> bad_value(OrchestrationContext& ctx, std::string mode) {
  DurableFuture healthy = ctx.schedule_activity("Hello", "neighbour");
  if (mode == "orchestration-error") {
    co_await std::move(healthy);
    throw std::runtime_error(oversized_text());
  }
  DurableFuture bad = ctx.schedule_activity(mode == "invalid-utf8" ? "SimInvalidUtf8" : "SimHugeError", mode);
  co_await std::move(healthy);
  bool failed = false;
  try {
    co_await std::move(bad);
  } catch (const TaskFailed&) {
    failed = true;
  }
  co_return failed ? "activity failed" : "activity returned";
}

// Children on hour-long timers: a force delete finds them running, or their starts queued.
Task<std::string> tree(OrchestrationContext& ctx, std::string input) {
  std::vector<DurableFuture> children;
  for (std::int64_t n = Json::parse(input)["children"].get<std::int64_t>(); n > 0; --n) {
    children.push_back(ctx.schedule_sub_orchestration("LongTimer", ""));
  }
  co_await ctx.join(std::move(children));
  co_return "done";
}

// A second sub-orchestration under the explicit id of the first (which exists
// by then) must fail in the parent, not wait.
Task<std::string> explicit_child(OrchestrationContext& ctx, std::string) {
  const std::string child = ctx.instance_id() + "-child";
  std::string first = co_await ctx.schedule_sub_orchestration("HelloWorld", "first", {child});
  bool refused = false;
  try {
    co_await ctx.schedule_sub_orchestration("HelloWorld", "second", {child});
  } catch (const TaskFailed&) {
    refused = true;
  }
  co_return first + (refused ? "; the second start was refused" : "; the second start ran");
}

}  // namespace

void register_scenarios(Registry& registry) {
  registry.register_orchestration("SimTree", tree);
  registry.register_orchestration("SimExplicitChild", explicit_child);
  registry.register_orchestration("SimAwaitCounter", await_counter);
  registry.register_orchestration("SimCarryOver", carry_over);
  registry.register_orchestration("SimSelectLoop", select_loop);
  registry.register_orchestration("SimBadValue", bad_value);
  registry.register_activity("SimInvalidUtf8", [](ActivityContext&, const std::string&) {
    return std::string("not UTF-8: \xC3\x28");
  });
  registry.register_activity("SimHugeError", [](ActivityContext&, const std::string&) -> std::string {
    throw std::runtime_error(oversized_text());
  });
}

}  // namespace duroxide::sim
