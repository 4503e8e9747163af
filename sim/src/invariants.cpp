#include "duroxide/sim/invariants.hpp"

#include <map>
#include <optional>

namespace duroxide::sim {

namespace {

// The scheduling kind a completion or cancel request must point at.
std::optional<EventKind> source_kind(EventKind kind) {
  switch (kind) {
    case EventKind::ActivityCompleted:
    case EventKind::ActivityFailed:
    case EventKind::ActivityCancelRequested:
      return EventKind::ActivityScheduled;
    case EventKind::TimerFired:
      return EventKind::TimerCreated;
    case EventKind::ExternalSubscribedCancelled:
      return EventKind::ExternalSubscribed;
    case EventKind::SubOrchestrationCompleted:
    case EventKind::SubOrchestrationFailed:
    case EventKind::SubOrchestrationCancelRequested:
      return EventKind::SubOrchestrationScheduled;
    default:
      return std::nullopt;
  }
}

bool is_completion(EventKind kind) {
  return kind == EventKind::ActivityCompleted || kind == EventKind::ActivityFailed ||
         kind == EventKind::TimerFired || kind == EventKind::SubOrchestrationCompleted ||
         kind == EventKind::SubOrchestrationFailed;
}

}  // namespace

std::vector<std::string> check_history(const History& history, bool expect_terminal) {
  std::vector<std::string> problems;
  if (history.empty()) {
    problems.push_back("the history is empty");
    return problems;
  }
  std::map<EventId, std::size_t> completions;
  std::optional<std::size_t> terminal_at;
  for (std::size_t i = 0; i < history.size(); ++i) {
    const Event& event = history[i];
    const std::string at = "event " + std::to_string(i + 1) + " (" +
                           std::string(to_string(event.kind())) + ")";
    if (event.event_id != i + 1) {
      problems.push_back(at + " has id " + std::to_string(event.event_id));
    }
    if (event.is<events::OrchestrationStarted>() && i != 0) {
      problems.push_back(at + ": OrchestrationStarted is not first");
    }
    if (i == 0 && !event.is<events::OrchestrationStarted>()) {
      problems.push_back(at + ": the first event is not OrchestrationStarted");
    }
    if (terminal_at) {
      problems.push_back(at + " follows the terminal event " + std::to_string(*terminal_at + 1));
    }
    if (is_terminal_kind(event.kind())) terminal_at = i;

    const auto wanted = source_kind(event.kind());
    if (!wanted) continue;
    const EventId source = event.source_event_id;
    if (source == 0 || source > i || history[source - 1].kind() != *wanted) {
      problems.push_back(at + " names source " + std::to_string(source) + ", which is not an earlier " +
                         std::string(to_string(*wanted)));
      continue;
    }
    if (is_completion(event.kind()) && ++completions[source] == 2) {
      problems.push_back(at + ": a second completion of event " + std::to_string(source));
    }
    if (const auto* fired = event.as<events::TimerFired>()) {
      const auto* created = history[source - 1].as<events::TimerCreated>();
      if (fired->fire_at_ms != created->fire_at_ms) {
        problems.push_back(at + " fires at " + std::to_string(fired->fire_at_ms) +
                           " but the timer was set for " + std::to_string(created->fire_at_ms));
      }
      if (event.timestamp_ms < created->fire_at_ms) {
        problems.push_back(at + " was applied at " + std::to_string(event.timestamp_ms) +
                           ", before the timer's time " + std::to_string(created->fire_at_ms));
      }
    }
  }
  if (expect_terminal && !terminal_at) problems.push_back("the history has no terminal event");
  return problems;
}

}  // namespace duroxide::sim
