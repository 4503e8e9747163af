// OrchestrationStatus: what a client sees of an instance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "duroxide/error_details.hpp"

namespace duroxide {

enum class RuntimeState { NotFound, Running, Completed, Failed };

std::string_view to_string(RuntimeState state);
bool parse_runtime_state(std::string_view text, RuntimeState& out);

struct OrchestrationStatus {
  RuntimeState state = RuntimeState::NotFound;
  std::string output;                 // Completed only
  std::optional<ErrorDetails> error;  // Failed only
  std::optional<std::string> custom_status;
  std::uint64_t custom_status_version = 0;  // bumps on every set or clear

  static OrchestrationStatus not_found() { return {}; }
  static OrchestrationStatus running(std::optional<std::string> custom_status = std::nullopt);
  static OrchestrationStatus completed(std::string output,
                                       std::optional<std::string> custom_status = std::nullopt);
  static OrchestrationStatus failed(ErrorDetails error,
                                    std::optional<std::string> custom_status = std::nullopt);

  bool is_terminal() const {
    return state == RuntimeState::Completed || state == RuntimeState::Failed;
  }
  friend bool operator==(const OrchestrationStatus&, const OrchestrationStatus&) = default;
};

}  // namespace duroxide
