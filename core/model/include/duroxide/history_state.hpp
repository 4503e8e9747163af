// What a history prefix says about an execution, without running its code:
// the status, the custom status and the work still outstanding after event k.
// Used by step-through replay and by management views of a running instance.
//
// Contract: a pure fold over events; O(number of events). Work is pending from
// its scheduling event until its completion or cancel request. A wait that lost
// a `select` leaves no trace in the history, so it stays listed until a matching
// event arrives or the execution ends; once the execution has ended nothing is
// pending.
// Deliveries (external events and queue messages, the carried ones of a
// continue-as-new included) pair with waits as the engine pairs them: the oldest
// open wait of a name takes the next delivery of that name, a delivery no wait
// takes is buffered for the next wait. `carry_forward_count` counts the buffered
// ones. Two engine moves leave no record in the history, so the count can be low
// after them: a dequeue that lost a select before a message reached it (the fold
// keeps it open and hands it the next message), and a wait that had taken a
// message but lost a select (the engine gives the message back).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "duroxide/error_details.hpp"
#include "duroxide/event.hpp"
#include "duroxide/status.hpp"

namespace duroxide {

enum class PendingKind { Activity, Timer, ExternalWait, QueueWait, SubOrchestration };

std::string_view to_string(PendingKind kind);

struct PendingWork {
  PendingKind kind = PendingKind::Activity;
  EventId scheduled_event_id = 0;
  std::string name;      // activity, orchestration, event or queue name
  std::string input;     // activity / sub-orchestration input
  std::string instance;  // sub-orchestration instance
  TimestampMs scheduled_at_ms = 0;
  TimestampMs fire_at_ms = 0;  // timers
  bool input_truncated = false;  // `input` is a prefix (PendingSnapshot); the scheduling event holds it whole
  std::string tag = {};          // activities: the tag it was scheduled with (empty: untagged)
  std::string session_id = {};   // activities: the session it runs in (empty: none)
  std::string version = {};      // sub-orchestrations: the version it asked for (empty: the registry's policy)
  friend bool operator==(const PendingWork&, const PendingWork&) = default;
};

struct HistoryState {
  std::size_t events_applied = 0;
  RuntimeState state = RuntimeState::NotFound;  // Running, Completed or Failed
  bool continued_as_new = false;                // Completed by continue-as-new
  std::string output;                           // Completed: the output or the next input
  std::optional<ErrorDetails> error;
  std::optional<std::string> custom_status;
  bool cancel_requested = false;
  std::vector<PendingWork> pending;  // in scheduling order
  // Running only: deliveries no wait has taken yet, which a continue-as-new now
  // would carry into the next execution (0 once the execution has ended).
  std::uint64_t carry_forward_count = 0;
};

// Folds the first `count` events (all of them if count exceeds the size).
HistoryState fold_history(const History& history, std::size_t count);
// Folds all of `history`, then all of `more` (a turn's prior history and its new events).
HistoryState fold_history(const History& history, const History& more);

// The work a running execution has outstanding, as the acks keep it on the instance
// (ExecutionMetadata::pending), so a view of a running instance does not read its
// history: the first kMaxPendingKept items in scheduling order, each input cut to at
// most kMaxPendingInputKept bytes (on a UTF-8 boundary, marked input_truncated), and
// the count of all of them.
inline constexpr std::size_t kMaxPendingKept = 100;
inline constexpr std::size_t kMaxPendingInputKept = 1024;
struct PendingSnapshot {
  std::vector<PendingWork> work;
  std::uint64_t total = 0;
  friend bool operator==(const PendingSnapshot&, const PendingSnapshot&) = default;
};

// The state after one event for a step-through replay: fold_history's, except that
// `state.pending` holds what pending_snapshot keeps of it (so a window of steps of a
// fan-out of thousands stays small) and `pending_total` counts all of it.
struct HistoryStep {
  HistoryState state;
  std::uint64_t pending_total = 0;
};
// The steps after each event of [from, from + count), clipped to the history (empty when
// `from` is past its end), in one pass: step k is fold_history(history, from + k + 1), its
// pending work cut as above.
std::vector<HistoryStep> fold_history_steps(const History& history, std::size_t from, std::size_t count);
PendingSnapshot pending_snapshot(const std::vector<PendingWork>& pending);

}  // namespace duroxide
