// The replay engine: one orchestration turn as a pure function.
//
//   run_turn(registry, {instance, execution, history, new messages, now})
//     -> {new events, actions, outcome, custom status, logs}
//
// Contract:
// - pure and synchronous: no I/O, no clock (time is `now_ms`), no threads, no
//   randomness; the same input always gives the same result;
// - the orchestration code is re-run from the start; history events are delivered
//   one at a time in history order, then each new message in arrival order, and
//   after each delivery the code runs until every coroutine waits;
// - every command the code issues is matched against the next command event of
//   the history (kind, name, input and the rest of its data); a difference, a
//   command the history does not have, or a history command the code did not issue
//   fails the turn with a Configuration/Nondeterminism error naming the event
//   index and both commands;
// - new events get consecutive ids after the history and timestamp `now_ms`;
// - actions (worker items, orchestrator items, cancellations) are produced only
//   for new events, never for replayed ones;
// - messages that do not apply (stale execution, unknown or already completed id,
//   duplicate start or cancel, anything after the terminal event) are dropped and
//   reported in `dropped`, never appended;
// - a structurally broken history (empty, ids out of order, no start, events
//   after the terminal one, a completion before its schedule) fails the turn with
//   Infrastructure/HistoryCorrupted and changes nothing else;
// - an activity or sub-orchestration failure of category Infrastructure,
//   Configuration or Poison never reaches the code: its event is recorded and the
//   execution fails with that failure (executions pinned to a build before
//   kSystemFailuresEndExecutionSince replay as they ran: the code received it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "duroxide/error_details.hpp"
#include "duroxide/event.hpp"
#include "duroxide/history_state.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/orchestration_context.hpp"
#include "duroxide/registry.hpp"
#include "duroxide/semver.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide {

// The first build whose executions end on a system failure of an activity or child
// instead of handing it to the code.
inline constexpr SemVer kSystemFailuresEndExecutionSince{0, 2, 0};

// The reason an execution that ends failed with `failure` gives the activities and children
// it cancels on the way: "the orchestration failed: <failure's message>", bounded.
std::string failure_cancel_reason(const ErrorDetails& failure);

// What an execution of `instance` that ends failed does with one piece of the work it
// leaves outstanding: an activity is cancelled (its worker row goes: `activities`), a child
// is sent a cancel with `reason` (`items`); waits and timers need nothing.
void cancel_pending_work(const PendingWork& pending, const std::string& instance, ExecutionId execution,
                         const std::string& reason, std::vector<CancelledActivity>& activities,
                         std::vector<OrchestratorItem>& items);

struct TurnInput {
  std::string instance;
  ExecutionId execution_id = 1;
  History history;                 // this execution's stored history; empty before its start
  std::vector<WorkItem> messages;  // new messages in arrival order
  TimestampMs now_ms = 0;          // timestamp of new events (from the injected clock)
  // Coroutine resumptions allowed between two deliveries (limits.hpp); past it the
  // orchestration fails as a runaway instead of hanging the dispatcher.
  std::uint64_t max_resumptions = limits::kMaxResumptionsWithoutWaiting;
  // A token no other fetch gets (the item's lock token): an execution this turn starts
  // records a seed derived from it for new_guid(). Empty (replay, hand-run turns): none.
  std::string start_token;
};

enum class TurnOutcomeKind { Running, Completed, Failed, ContinuedAsNew };

struct TurnOutcome {
  TurnOutcomeKind kind = TurnOutcomeKind::Running;
  std::string output;        // Completed
  ErrorDetails error;        // Failed
  std::string next_input;    // ContinuedAsNew
  std::string next_version;  // ContinuedAsNew: the version asked for; empty: the registry's policy (Latest) decides
};

struct LogLine {
  LogLevel level = LogLevel::Info;
  std::string message;
  bool replaying = false;  // emitted while replaying history: hosts do not print it again
  EventId after_event = 0; // the last event delivered before the line was logged
};

struct DroppedMessage {
  WorkItem item;
  std::string reason;
};

// The first point where code and history disagree.
struct Mismatch {
  std::size_t event_index = 0;  // position in the history (0-based); == size: past its end
  EventId event_id = 0;         // id of that event (0 when past the end)
  std::string expected;         // what the history has there
  std::string actual;           // what the code did
};

struct TurnResult {
  History new_events;
  std::vector<WorkItem> worker_items;  // ActivityExecute
  std::vector<OrchestratorItem> orchestrator_items;
  std::vector<CancelledActivity> cancelled_activities;
  TurnOutcome outcome;

  // Metadata the runtime stores with the ack (from OrchestrationStarted).
  std::string orchestration_name;
  std::string orchestration_version;
  std::string parent_instance;
  EventId parent_id = 0;

  std::optional<std::string> custom_status;
  bool custom_status_changed = false;
  std::optional<Mismatch> mismatch;  // set with a nondeterminism failure
  std::vector<LogLine> logs;
  std::vector<DroppedMessage> dropped;
  bool history_was_terminal = false;  // the turn ran on a finished execution: nothing changed
  // The stored history is not one the engine replays (HistoryCorrupted, found before the
  // code ran): nothing was written. A code failure of that kind (a child's, rethrown)
  // does not set it.
  bool history_corrupted = false;
  // External events and queue messages delivered to the execution (carried ones
  // included) that no wait has taken, at the end of the turn; 0 once it ended.
  std::uint64_t unconsumed_messages = 0;
};

TurnResult run_turn(const Registry& registry, const TurnInput& input);

}  // namespace duroxide
