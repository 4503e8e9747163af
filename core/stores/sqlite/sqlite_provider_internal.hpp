// Helpers shared by the SqliteProvider sources. Not a public header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "duroxide/management_provider.hpp"
#include "duroxide/provider.hpp"

namespace duroxide::sqlite {

// "Running", "Completed", "Failed" or "ContinuedAsNew": the executions.status text.
std::string status_text(const ExecutionMetadata& metadata);
void check_token(const std::string& token, const std::string& operation);
void check_delay(std::int64_t ms, const char* what, const std::string& operation);

class Connection;
// What one status change adds to an orchestration's time series.
struct MetricDelta {
  std::int64_t starts = 0;
  std::int64_t completions = 0;
  std::int64_t failures = 0;
  std::optional<std::int64_t> duration_ms;  // with a completion or failure
  TimestampMs created_at = 0;               // the instance's creation: start + duration = finish
};

// Appends one row to the change feed (status "Deleted" for a deletion). `delta`
// (with `orchestration`) marks the change as the instance's start and/or finish,
// which is what watch_metrics reads back.
void record_change(Connection& db, const std::string& instance, const std::string& status,
                   std::int64_t execution_id, std::int64_t custom_status_version,
                   std::int64_t now, const MetricDelta& delta = {},
                   const std::string& orchestration = {});

// Adds `delta` to the minute bucket holding `at` (inside the caller's transaction).
void record_metrics(Connection& db, const std::string& orchestration, TimestampMs at,
                    const MetricDelta& delta);
// Moves minute buckets that start before `before` into their hour buckets.
void roll_up_minutes(Connection& db, TimestampMs before);

}  // namespace duroxide::sqlite
