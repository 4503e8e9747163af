#include "duroxide/replayer.hpp"

#include <stdexcept>

#include "duroxide/detail/json.hpp"

namespace duroxide {

namespace {

bool history_records_failure(const History& history, const ErrorDetails& error) {
  if (history.empty()) return false;
  const auto* failed = history.back().as<events::OrchestrationFailed>();
  return failed && failed->details == error;
}

// The runtime ended the execution (a poisoned item, a corrupted row, a refused turn):
// when the code cannot even start, that failure is still the outcome.
const ErrorDetails* runtime_failure(const History& history) {
  if (history.empty()) return nullptr;
  const auto* failed = history.back().as<events::OrchestrationFailed>();
  if (!failed) return nullptr;
  const ErrorKind kind = failed->details.kind;
  return kind == ErrorKind::Poison || kind == ErrorKind::Provider ? &failed->details : nullptr;
}

std::string_view to_string(TurnOutcomeKind kind) {
  switch (kind) {
    case TurnOutcomeKind::Running: return "Running";
    case TurnOutcomeKind::Completed: return "Completed";
    case TurnOutcomeKind::Failed: return "Failed";
    case TurnOutcomeKind::ContinuedAsNew: return "ContinuedAsNew";
  }
  return "Running";
}

detail::Json logs_to_json(const std::vector<LogLine>& logs) {
  detail::Json out = detail::Json::array();
  for (const auto& line : logs) {
    out.push_back({{"level", std::string(to_string(line.level))},
                   {"message", line.message},
                   {"after_event", line.after_event}});
  }
  return out;
}

}  // namespace

ReplayReport replay_history(const Registry& registry, const std::string& instance,
                            ExecutionId execution_id, const History& history) {
  ReplayReport report;
  TurnInput input;
  input.instance = instance;
  input.execution_id = execution_id;
  input.history = history;
  input.now_ms = history.empty() ? 0 : history.back().timestamp_ms;
  TurnResult result = run_turn(registry, input);
  report.outcome = result.outcome;
  report.logs = std::move(result.logs);
  if (result.mismatch) {
    report.mismatch = result.mismatch;
    return report;
  }
  if (result.outcome.kind == TurnOutcomeKind::Failed) {
    const ErrorDetails& error = result.outcome.error;
    bool cannot_replay = error.kind == ErrorKind::HistoryCorrupted ||
                         error.kind == ErrorKind::UnregisteredOrchestration;
    if (cannot_replay && !history_records_failure(history, error)) {
      const ErrorDetails* ended = runtime_failure(history);
      if (!ended) {
        report.error = error;
        return report;
      }
      report.outcome.error = *ended;
    }
  }
  report.deterministic = true;
  return report;
}

ReplayStep replay_step(const ReplayReport& report, const History& history, std::size_t index) {
  if (index >= history.size()) {
    throw std::out_of_range("replay step " + std::to_string(index) + " is past the history (" +
                            std::to_string(history.size()) + " events)");
  }
  ReplayStep step;
  step.index = index;
  step.event = history[index];
  step.state = fold_history(history, index + 1);
  for (const auto& line : report.logs) {
    if (line.after_event <= step.event.event_id) step.logs.push_back(line);
  }
  return step;
}

std::string encode_replay_report(const ReplayReport& report) {
  detail::Json out = detail::Json::object();
  out["deterministic"] = report.deterministic;
  if (report.mismatch) {
    out["mismatch"] = {{"event_index", report.mismatch->event_index},
                       {"event_id", report.mismatch->event_id},
                       {"expected", report.mismatch->expected},
                       {"actual", report.mismatch->actual}};
  }
  if (report.error) out["error"] = detail::to_json(*report.error);
  detail::Json outcome = {{"kind", std::string(to_string(report.outcome.kind))}};
  switch (report.outcome.kind) {
    case TurnOutcomeKind::Completed: outcome["output"] = report.outcome.output; break;
    case TurnOutcomeKind::Failed: outcome["error"] = detail::to_json(report.outcome.error); break;
    case TurnOutcomeKind::ContinuedAsNew:
      outcome["next_input"] = report.outcome.next_input;
      outcome["next_version"] = report.outcome.next_version;
      break;
    case TurnOutcomeKind::Running: break;
  }
  out["outcome"] = std::move(outcome);
  out["logs"] = logs_to_json(report.logs);
  return detail::dump_json(out, "replay_report");
}

std::string encode_replay_step(const ReplayStep& step) {
  detail::Json pending = detail::Json::array();
  for (const auto& work : step.state.pending) {
    detail::Json item = {{"kind", std::string(to_string(work.kind))},
                         {"scheduled_event_id", work.scheduled_event_id},
                         {"name", work.name},
                         {"scheduled_at_ms", work.scheduled_at_ms}};
    if (work.kind == PendingKind::Activity || work.kind == PendingKind::SubOrchestration) {
      item["input"] = work.input;
    }
    if (work.kind == PendingKind::SubOrchestration) item["instance"] = work.instance;
    if (work.kind == PendingKind::Timer) item["fire_at_ms"] = work.fire_at_ms;
    if (work.input_truncated) item["input_truncated"] = true;
    pending.push_back(std::move(item));
  }
  detail::Json out = {
      {"index", step.index},
      {"event", detail::to_json(step.event)},
      {"state", std::string(to_string(step.state.state))},
      {"continued_as_new", step.state.continued_as_new},
      {"custom_status", step.state.custom_status ? detail::Json(*step.state.custom_status)
                                                 : detail::Json(nullptr)},
      {"cancel_requested", step.state.cancel_requested},
      {"pending", std::move(pending)},
      {"logs", logs_to_json(step.logs)},
  };
  if (step.state.state == RuntimeState::Completed) out["output"] = step.state.output;
  if (step.state.error) out["error"] = detail::to_json(*step.state.error);
  return detail::dump_json(out, "replay_step");
}

}  // namespace duroxide
