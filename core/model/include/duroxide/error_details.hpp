// ErrorDetails: why an activity, a sub-orchestration or an orchestration failed.
//
// Contract: `kind` alone determines the category, so the two can never
// disagree. `display_message()` is the one text users see (status, CLI,
// playground); for application errors it is exactly the message raised by user
// code, so `Fails("boom")` fails with "boom".
//
// Error text never fails a write: the factories (and the codec, for details
// built field by field) replace malformed UTF-8 with U+FFFD and cut message and
// resource to limits::kMaxPayloadBytes on a character boundary.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace duroxide {

enum class ErrorCategory {
  Application,     // raised by user code: activity or orchestration failure, cancellation
  Infrastructure,  // storage failed or stored data is unreadable
  Configuration,   // the code does not fit the history: nondeterminism, unregistered names
  Poison,          // a message failed more often than max_attempts allows
};

enum class ErrorKind {
  ActivityFailed,
  OrchestrationFailed,
  Cancelled,
  Provider,
  HistoryCorrupted,
  Nondeterminism,
  UnregisteredOrchestration,
  UnregisteredActivity,
  Poison,
};

struct ErrorDetails {
  ErrorKind kind = ErrorKind::OrchestrationFailed;
  // Application: the user's message. Cancelled: the reason. Others: what went wrong.
  std::string message;
  // Provider: the operation. Unregistered*: the name (and version). Poison: the message type.
  std::string resource;
  bool retryable = false;
  // Poison only.
  std::uint32_t attempt_count = 0;
  std::uint32_t max_attempts = 0;

  ErrorCategory category() const;
  std::string display_message() const;

  static ErrorDetails activity_failed(std::string message, bool retryable = false);
  static ErrorDetails orchestration_failed(std::string message);
  static ErrorDetails cancelled(std::string reason);
  static ErrorDetails provider(std::string operation, std::string message, bool retryable);
  static ErrorDetails history_corrupted(std::string message);
  static ErrorDetails nondeterminism(std::string message);
  static ErrorDetails unregistered_orchestration(std::string name_and_version);
  static ErrorDetails unregistered_activity(std::string name);
  static ErrorDetails poison(std::string message_type, std::uint32_t attempt_count,
                             std::uint32_t max_attempts);

  friend bool operator==(const ErrorDetails&, const ErrorDetails&) = default;
};

std::string_view to_string(ErrorCategory category);
std::string_view to_string(ErrorKind kind);
// Return false when `text` names no kind / category.
bool parse_error_kind(std::string_view text, ErrorKind& out);

}  // namespace duroxide
