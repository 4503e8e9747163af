// Replayer: checks a stored history against the registered code.
//
// Contract: replays `history` with no new messages and reports "deterministic"
// or the first mismatch (history index, event id, expected and actual command).
// A history that cannot be replayed at all (corrupted, orchestration not
// registered) is reported in `error`, never by a crash. Nothing is written.
// Step-through replay combines the report's logs with `fold_history`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "duroxide/history_state.hpp"
#include "duroxide/registry.hpp"
#include "duroxide/replay_engine.hpp"

namespace duroxide {

struct ReplayReport {
  bool deterministic = false;
  std::optional<Mismatch> mismatch;
  std::optional<ErrorDetails> error;  // the history could not be replayed
  TurnOutcome outcome;                // what the replayed code reached
  std::vector<LogLine> logs;          // every line logged while replaying
};

ReplayReport replay_history(const Registry& registry, const std::string& instance,
                            ExecutionId execution_id, const History& history);

// The state after history[index] for a scrubber: the fold of events 0..index and
// the log lines the code wrote up to that event.
struct ReplayStep {
  std::size_t index = 0;
  Event event;
  HistoryState state;
  std::vector<LogLine> logs;
};
ReplayStep replay_step(const ReplayReport& report, const History& history, std::size_t index);

// {"deterministic":true,...} or {"deterministic":false,"mismatch":{...}} / {"error":{...}}.
std::string encode_replay_report(const ReplayReport& report);
std::string encode_replay_step(const ReplayStep& step);

}  // namespace duroxide
