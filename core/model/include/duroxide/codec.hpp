// JSON codec for the history model.
//
// Contract:
// - decode(encode(x)) == x exactly, for every value the model can hold whose
//   strings are valid UTF-8 and within limits (limits.hpp);
// - decoding never crashes and never returns a partially filled value: it either
//   succeeds or throws CodecError, whose `field()` is the JSON path of the first
//   bad field (e.g. `history[3].fire_at_ms`) and whose what() says what was wrong;
// - unknown fields are rejected, so a typo in a hand-written history is reported
//   rather than silently ignored.
//
// Formats (one flat object per value):
//   event:     {"event_id":3,"source_event_id":2,"timestamp_ms":1700000000000,
//               "kind":"ActivityCompleted","result":"Hello, Ada!"}
//   work item: {"kind":"ActivityExecute","instance":"i1","execution_id":1,"id":2,...}
//   error:     {"kind":"activity_failed","category":"application","message":"boom",...}
//   status:    {"state":"Completed","output":"...","custom_status":null,...}
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "duroxide/error_details.hpp"
#include "duroxide/event.hpp"
#include "duroxide/history_state.hpp"
#include "duroxide/status.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide {

class CodecError : public std::runtime_error {
 public:
  CodecError(std::string field, const std::string& problem)
      : std::runtime_error(field + ": " + problem), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

std::string encode_event(const Event& event);
Event decode_event(std::string_view json_text);

std::string encode_history(const History& history);
History decode_history(std::string_view json_text);

std::string encode_work_item(const WorkItem& item);
WorkItem decode_work_item(std::string_view json_text);

std::string encode_error_details(const ErrorDetails& details);
ErrorDetails decode_error_details(std::string_view json_text);

std::string encode_status(const OrchestrationStatus& status);
OrchestrationStatus decode_status(std::string_view json_text);

// {"total": n, "work": [{"kind", "scheduled_event_id", "name", "input", "instance",
// "scheduled_at_ms", "fire_at_ms", "input_truncated", "tag" and "session_id" (activities with one),
// "version" (sub-orchestrations that asked for one)}]};
// decoding takes at most kMaxPendingKept items and throws CodecError for anything else.
std::string encode_pending_snapshot(const PendingSnapshot& snapshot);
PendingSnapshot decode_pending_snapshot(std::string_view json_text);

}  // namespace duroxide
