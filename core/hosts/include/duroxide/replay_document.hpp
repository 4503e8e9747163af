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
// - the result is encode_replay_report's object plus "events" (the count), "steps"
//   (encode_replay_step after each event) and "history" (the codec's event objects).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "duroxide/registry.hpp"

namespace duroxide {

nlohmann::json replay_document(const Registry& registry, std::string_view json);

}  // namespace duroxide
