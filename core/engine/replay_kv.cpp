// The key-value store of an orchestration instance, inside one replay turn.
//
// Every mutation is a command (KeyValueSet, KeyValueCleared, KeyValuesCleared):
// on replay it is matched against the history like any other command, so the map
// the code reads is the same on every replay. A key's `updated_at_ms` is the
// timestamp of the event that set it: the history's on replay, the turn's on a
// new command. The map starts from OrchestrationStarted's `kv` (what the previous
// execution ended with) and goes to the next execution in the continue-as-new item.
#include <string>
#include <vector>

#include "duroxide/limits.hpp"
#include "replay_state.hpp"

namespace duroxide::detail {

void ReplayState::kv_set(std::string key, std::string value) {
  if (!check_text(key, limits::kMaxKvKeyBytes, "a key-value store key", true) ||
      !check_text(value, limits::kMaxKvValueBytes,
                  ("the value of key-value store key \"" + key + "\"").c_str(), false)) {
    return;
  }
  if (!kv_.count(key) && kv_.size() >= limits::kMaxKvKeys) {
    fail(ErrorDetails::orchestration_failed(
        "the key-value store already holds " + std::to_string(kv_.size()) +
        " keys, the limit: cannot add key \"" + key + "\""));
    return;
  }
  IssueResult issued = issue(events::KeyValueSet{key, value});
  if (stopped()) return;
  TimestampMs at = issued.is_new ? input_.now_ms : old_[issued.id - 1].timestamp_ms;
  kv_[std::move(key)] = KvEntry{std::move(value), at};
}

void ReplayState::kv_clear(std::string key) {
  if (!check_text(key, limits::kMaxKvKeyBytes, "a key-value store key", true)) return;
  issue(events::KeyValueCleared{key});
  if (stopped()) return;
  kv_.erase(key);
}

void ReplayState::kv_clear_all() {
  issue(events::KeyValuesCleared{});
  if (stopped()) return;
  kv_.clear();
}

std::size_t ReplayState::kv_prune(TimestampMs updated_before_ms) {
  std::vector<std::string> stale;
  for (const auto& [key, entry] : kv_) {
    if (entry.updated_at_ms < updated_before_ms) stale.push_back(key);
  }
  std::size_t cleared = 0;
  for (std::string& key : stale) {
    kv_clear(std::move(key));
    if (stopped()) break;
    ++cleared;
  }
  return cleared;
}

}  // namespace duroxide::detail
