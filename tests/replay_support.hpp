// Helpers for replay tests: hand-written histories, single turns, and a tiny
// in-memory loop that plays the runtime's part (queues, timers, activities) so
// features can be tested end to end without a provider.
#pragma once

#include <catch2/catch.hpp>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "duroxide/duroxide.hpp"

namespace duroxide::testing {

inline constexpr TimestampMs kT0 = 1'700'000'000'000;

// Builds a history with consecutive ids and a timestamp that advances by 1 ms.
class HistoryBuilder {
 public:
  explicit HistoryBuilder(std::string name = "Orch", std::string input = "",
                          std::string version = "1.0.0") {
    add(events::OrchestrationStarted{std::move(name), std::move(version), std::move(input), {}, 0});
  }
  EventId add(EventData data, EventId source = 0) {
    EventId id = history_.size() + 1;
    history_.push_back(Event{id, source, time_++, std::move(data)});
    return id;
  }
  EventId activity(const std::string& name, const std::string& input) {
    return add(events::ActivityScheduled{name, input});
  }
  EventId completed(EventId source, const std::string& result) {
    return add(events::ActivityCompleted{result}, source);
  }
  EventId failed(EventId source, const std::string& message) {
    return add(events::ActivityFailed{ErrorDetails::activity_failed(message)}, source);
  }
  const History& history() const { return history_; }
  History& history() { return history_; }

 private:
  History history_;
  TimestampMs time_ = kT0;
};

inline TurnResult turn(const Registry& registry, const History& history,
                       std::vector<WorkItem> messages = {}, TimestampMs now = kT0 + 1000,
                       const std::string& instance = "inst", ExecutionId execution = 1) {
  TurnInput input;
  input.instance = instance;
  input.execution_id = execution;
  input.history = history;
  input.messages = std::move(messages);
  input.now_ms = now;
  return run_turn(registry, input);
}

// The one activity a turn scheduled (REQUIREs that it scheduled exactly one).
inline const work::ActivityExecute& only_activity(const TurnResult& result) {
  REQUIRE(result.worker_items.size() == 1);
  const auto* execute = std::get_if<work::ActivityExecute>(&result.worker_items.front());
  REQUIRE(execute != nullptr);
  return *execute;
}

inline History appended(History history, const TurnResult& result) {
  history.insert(history.end(), result.new_events.begin(), result.new_events.end());
  return history;
}

inline work::StartOrchestration start(const std::string& name, const std::string& input,
                                      const std::string& instance = "inst",
                                      const std::string& version = {}) {
  return work::StartOrchestration{instance, name, version, input, {}, 0, {}};
}

// The delay of every durable timer in a history (fire_at minus creation time), in order.
inline std::vector<std::int64_t> timer_delays(const History& history) {
  std::vector<std::int64_t> out;
  for (const auto& event : history) {
    if (const auto* timer = event.as<events::TimerCreated>()) {
      out.push_back(timer->fire_at_ms - event.timestamp_ms);
    }
  }
  return out;
}

// Every event kind of a history, in order.
inline std::vector<EventKind> kinds(const History& history) {
  std::vector<EventKind> out;
  for (const auto& event : history) out.push_back(event.kind());
  return out;
}

// The in-memory loop. Activities run from the registry; timers fire when the
// virtual clock passes them; messages are processed one instance turn at a time.
class MiniRuntime {
 public:
  struct Instance {
    ExecutionId execution = 1;
    History history;                    // current execution
    std::vector<History> past_executions;
    TurnOutcome outcome;
    std::optional<std::string> custom_status;
    bool finished = false;
    std::vector<LogLine> printed_logs;  // non-replayed lines only
  };

  explicit MiniRuntime(const Registry& registry) : registry_(registry) {}

  void start(const std::string& instance, const std::string& name, const std::string& input,
             const std::string& version = {}) {
    pending_[instance].push_back(work::StartOrchestration{instance, name, version, input, {}, 0, {}});
  }
  void send(const WorkItem& item) { pending_[target_instance(item)].push_back(item); }
  TimestampMs now() const { return now_; }
  void advance(std::int64_t ms) { now_ += ms; }

  // Runs turns and activities until nothing is left that is due now.
  // If `advance_timers`, jumps the clock to the next timer when idle.
  void run(bool advance_timers = true, int max_rounds = 100000) {
    for (int round = 0; round < max_rounds; ++round) {
      release_due_timers();
      if (!pending_.empty()) {
        auto it = pending_.begin();
        std::string instance = it->first;
        std::vector<WorkItem> batch = std::move(it->second);
        pending_.erase(it);
        run_turn_for(instance, std::move(batch));
      } else if (!activities_.empty()) {
        work::ActivityExecute item = activities_.front();
        activities_.pop_front();
        execute(item);
      } else if (advance_timers && !timers_.empty()) {
        now_ = std::max(now_, timers_.begin()->first);
      } else {
        return;
      }
    }
    FAIL("MiniRuntime did not become idle");
  }

  Instance& instance(const std::string& id) { return instances_.at(id); }
  bool has(const std::string& id) const { return instances_.count(id) > 0; }
  std::size_t pending_activities() const { return activities_.size(); }
  std::vector<CancelledActivity> cancelled;  // what the runtime was told to cancel
  std::vector<TurnResult> turns;             // every turn result, in order
  // Activities that actually ran, in order: "name(input)".
  std::vector<std::string> executed;

 private:
  void release_due_timers() {
    while (!timers_.empty() && timers_.begin()->first <= now_) {
      WorkItem item = timers_.begin()->second;
      timers_.erase(timers_.begin());
      send(item);
    }
  }

  void run_turn_for(const std::string& id, std::vector<WorkItem> batch) {
    Instance& inst = instances_[id];
    if (inst.finished) return;
    TurnInput input{id, inst.execution, inst.history, std::move(batch), now_};
    TurnResult result = run_turn(registry_, input);
    // Each turn's output must replay deterministically as a history.
    inst.history.insert(inst.history.end(), result.new_events.begin(), result.new_events.end());
    for (const auto& line : result.logs) {
      if (!line.replaying) inst.printed_logs.push_back(line);
    }
    inst.custom_status = result.custom_status;
    inst.outcome = result.outcome;
    for (auto& item : result.worker_items) {
      activities_.push_back(std::get<work::ActivityExecute>(item));
    }
    for (auto& scheduled : result.orchestrator_items) {
      if (scheduled.visible_at_ms > now_) {
        timers_.emplace(scheduled.visible_at_ms, scheduled.item);
      } else {
        send(scheduled.item);
      }
    }
    for (auto& cancelled_activity : result.cancelled_activities) {
      cancelled.push_back(cancelled_activity);
      activities_.erase(std::remove_if(activities_.begin(), activities_.end(),
                                       [&](const work::ActivityExecute& a) {
                                         return a.instance == cancelled_activity.instance &&
                                                a.id == cancelled_activity.activity_id;
                                       }),
                        activities_.end());
    }
    switch (result.outcome.kind) {
      case TurnOutcomeKind::Running:
        break;
      case TurnOutcomeKind::Completed:
      case TurnOutcomeKind::Failed:
        inst.finished = true;
        break;
      case TurnOutcomeKind::ContinuedAsNew:
        inst.past_executions.push_back(std::move(inst.history));
        inst.history.clear();
        inst.execution += 1;
        break;
    }
    turns.push_back(std::move(result));
  }

  void execute(const work::ActivityExecute& item) {
    executed.push_back(item.name + "(" + item.input + ")");
    const ActivityFn* fn = registry_.find_activity(item.name);
    if (!fn) {
      send(work::ActivityFailed{item.instance, item.execution_id, item.id,
                                ErrorDetails::unregistered_activity(item.name)});
      return;
    }
    ActivityContext context{item.instance, item.execution_id, item.id, item.name, nullptr};
    try {
      std::string result = (*fn)(context, item.input);
      send(work::ActivityCompleted{item.instance, item.execution_id, item.id, result});
    } catch (const std::exception& error) {
      send(work::ActivityFailed{item.instance, item.execution_id, item.id,
                                ErrorDetails::activity_failed(error.what())});
    }
  }

  const Registry& registry_;
  TimestampMs now_ = kT0;
  std::map<std::string, Instance> instances_;
  std::map<std::string, std::vector<WorkItem>> pending_;
  std::deque<work::ActivityExecute> activities_;
  std::multimap<TimestampMs, WorkItem> timers_;
};

// Replays every execution of an instance and requires it to be deterministic.
// `history` (of instance "inst", execution 1) replays deterministically to `output`.
inline void check_replays_to(const Registry& registry, const History& history, const std::string& output) {
  ReplayReport report = replay_history(registry, "inst", 1, history);
  INFO(encode_replay_report(report));
  CHECK(report.deterministic);
  CHECK(report.outcome.output == output);
}

inline void require_replays(const Registry& registry, MiniRuntime& runtime,
                            const std::string& id) {
  auto& inst = runtime.instance(id);
  ExecutionId execution = 1;
  for (const auto& past : inst.past_executions) {
    ReplayReport report = replay_history(registry, id, execution++, past);
    INFO(encode_replay_report(report));
    REQUIRE(report.deterministic);
  }
  ReplayReport report = replay_history(registry, id, execution, inst.history);
  INFO(encode_replay_report(report));
  REQUIRE(report.deterministic);
}

}  // namespace duroxide::testing
