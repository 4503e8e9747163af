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

class Connection;
// Appends one row to the change feed (status "Deleted" for a deletion).
void record_change(Connection& db, const std::string& instance, const std::string& status,
                   std::int64_t execution_id, std::int64_t custom_status_version,
                   std::int64_t now);

}  // namespace duroxide::sqlite
