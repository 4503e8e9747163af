#include "duroxide/error_details.hpp"

#include <array>
#include <utility>

#include "duroxide/limits.hpp"
#include "duroxide/text.hpp"

namespace duroxide {

namespace {

struct KindInfo {
  ErrorKind kind;
  std::string_view name;
  ErrorCategory category;
};

constexpr std::array<KindInfo, 9> kKinds{{
    {ErrorKind::ActivityFailed, "activity_failed", ErrorCategory::Application},
    {ErrorKind::OrchestrationFailed, "orchestration_failed", ErrorCategory::Application},
    {ErrorKind::Cancelled, "cancelled", ErrorCategory::Application},
    {ErrorKind::Provider, "provider", ErrorCategory::Infrastructure},
    {ErrorKind::HistoryCorrupted, "history_corrupted", ErrorCategory::Infrastructure},
    {ErrorKind::Nondeterminism, "nondeterminism", ErrorCategory::Configuration},
    {ErrorKind::UnregisteredOrchestration, "unregistered_orchestration",
     ErrorCategory::Configuration},
    {ErrorKind::UnregisteredActivity, "unregistered_activity", ErrorCategory::Configuration},
    {ErrorKind::Poison, "poison", ErrorCategory::Poison},
}};

const KindInfo& info(ErrorKind kind) {
  for (const auto& entry : kKinds) {
    if (entry.kind == kind) return entry;
  }
  return kKinds[1];  // unreachable: every enumerator is in the table
}

ErrorDetails make(ErrorKind kind, std::string message, std::string resource = {},
                  bool retryable = false) {
  ErrorDetails details;
  details.kind = kind;
  details.message = bounded_text(message, limits::kMaxPayloadBytes);
  details.resource = bounded_text(resource, limits::kMaxPayloadBytes);
  details.retryable = retryable;
  return details;
}

}  // namespace

ErrorCategory ErrorDetails::category() const { return info(kind).category; }

std::string ErrorDetails::display_message() const {
  switch (kind) {
    case ErrorKind::ActivityFailed:
    case ErrorKind::OrchestrationFailed:
      return message;
    case ErrorKind::Cancelled:
      return "canceled: " + message;
    case ErrorKind::Provider:
      return "infrastructure error in " + resource + ": " + message;
    case ErrorKind::HistoryCorrupted:
      return "history corrupted: " + message;
    case ErrorKind::Nondeterminism:
      return "nondeterministic: " + message;
    case ErrorKind::UnregisteredOrchestration:
      return "unregistered orchestration: " + resource;
    case ErrorKind::UnregisteredActivity:
      return "unregistered activity: " + resource;
    case ErrorKind::Poison:
      return "poison: " + resource + " failed " + std::to_string(attempt_count) +
             " times (max attempts " + std::to_string(max_attempts) + ")" +
             (message.empty() ? "" : ": " + message);
  }
  return message;
}

ErrorDetails ErrorDetails::activity_failed(std::string message, bool retryable) {
  return make(ErrorKind::ActivityFailed, std::move(message), {}, retryable);
}
ErrorDetails ErrorDetails::orchestration_failed(std::string message) {
  return make(ErrorKind::OrchestrationFailed, std::move(message));
}
ErrorDetails ErrorDetails::cancelled(std::string reason) {
  return make(ErrorKind::Cancelled, std::move(reason));
}
ErrorDetails ErrorDetails::provider(std::string operation, std::string message, bool retryable) {
  return make(ErrorKind::Provider, std::move(message), std::move(operation), retryable);
}
ErrorDetails ErrorDetails::history_corrupted(std::string message) {
  return make(ErrorKind::HistoryCorrupted, std::move(message));
}
ErrorDetails ErrorDetails::nondeterminism(std::string message) {
  return make(ErrorKind::Nondeterminism, std::move(message));
}
ErrorDetails ErrorDetails::unregistered_orchestration(std::string name_and_version) {
  return make(ErrorKind::UnregisteredOrchestration, {}, std::move(name_and_version));
}
ErrorDetails ErrorDetails::unregistered_activity(std::string name) {
  return make(ErrorKind::UnregisteredActivity, {}, std::move(name));
}
ErrorDetails ErrorDetails::poison(std::string message_type, std::uint32_t attempt_count,
                                  std::uint32_t max_attempts) {
  ErrorDetails details = make(ErrorKind::Poison, {}, std::move(message_type));
  details.attempt_count = attempt_count;
  details.max_attempts = max_attempts;
  return details;
}

std::string_view to_string(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::Application: return "application";
    case ErrorCategory::Infrastructure: return "infrastructure";
    case ErrorCategory::Configuration: return "configuration";
    case ErrorCategory::Poison: return "poison";
  }
  return "application";
}

std::string_view to_string(ErrorKind kind) { return info(kind).name; }

bool parse_error_kind(std::string_view text, ErrorKind& out) {
  for (const auto& entry : kKinds) {
    if (entry.name == text) {
      out = entry.kind;
      return true;
    }
  }
  return false;
}

}  // namespace duroxide
