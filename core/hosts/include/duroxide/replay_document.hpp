// The replayer's input from outside (the playground's "replay a history file", the JS
// API's replayHistory): a history or an exported instance, replayed against a registry.
//
// Contract:
// - `json` is a history (a JSON array of events, replayed as execution 1 of instance
//   "replay"), {"instance": id, "execution": n (default 1), "history": [...]} (one
//   execution of a named instance), or a document written by
//   ManagementClient::export_instance (its last execution, under its instance id and
//   execution id). The instance id matters to histories that hold ids derived from it
//   (a sub-orchestration's generated id): under another id they replay as a mismatch;
// - it is read within the codec's limits (limits.hpp) and checked like any history
//   (codec.hpp): anything else is CodecError naming the first bad field;
// - the result is encode_replay_report's object plus "events" (the count) and "history"
//   (the codec's event objects). The steps of a scrubber are read a window at a time
//   (replay_steps_document): a history of a million events replays without a million
//   copies of its state.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "duroxide/registry.hpp"

namespace duroxide {

nlohmann::json replay_document(const Registry& registry, std::string_view json);

// The most steps one replay_steps_document call returns.
inline constexpr std::size_t kMaxReplayStepsPerCall = 1024;

// The steps [from, from + count) of `json`'s history (read as replay_document reads it;
// clipped to the history, empty past its end): each encode_replay_step's object without
// "logs" (the code's lines are the report's, each with the event it follows), its
// "pending" cut as fold_history_steps cuts it (the first kMaxPendingKept items, inputs
// cut and marked "input_truncated"), plus "pending_total". O(from + count) events folded.
// A count over kMaxReplayStepsPerCall is std::invalid_argument.
nlohmann::json replay_steps_document(std::string_view json, std::size_t from, std::size_t count);

}  // namespace duroxide
