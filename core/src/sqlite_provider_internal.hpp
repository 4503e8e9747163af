// Helpers shared by the SqliteProvider sources. Not a public header.
#pragma once

#include <cstdint>
#include <string>

#include "duroxide/provider.hpp"

namespace duroxide::sqlite {

// "Running", "Completed", "Failed" or "ContinuedAsNew": the executions.status text.
std::string status_text(const ExecutionMetadata& metadata);
void check_token(const std::string& token, const std::string& operation);
void check_delay(std::int64_t ms, const char* what, const std::string& operation);

}  // namespace duroxide::sqlite
