// JSON views of the client and management results: the one shape the CLI
// prints and the wasm module returns to JavaScript, so both agree field for field.
// Field names are snake_case; times are milliseconds since the epoch.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "duroxide/management_client.hpp"
#include "duroxide/status.hpp"

namespace duroxide::json_views {

using Json = nlohmann::json;

Json error(const std::optional<ErrorDetails>& error);                 // null when none
Json status(const std::string& instance, const OrchestrationStatus& status);
Json summary(const InstanceSummary& summary);
Json summaries(const std::vector<InstanceSummary>& summaries);
Json counts(const std::map<RuntimeState, std::uint64_t>& counts);  // {"Running":n,...}
Json queues(const QueueDepths& depths);
Json session(const SessionInfo& session);
Json parked_message(const ParkedMessage& message);
Json execution(const ExecutionInfo& execution);
Json pending(const PendingWork& work);
Json details(const InstanceDetails& details);
Json orchestration_stats(const std::vector<OrchestrationStats>& stats);
Json activity_stats(const std::vector<ActivityStats>& stats);
Json health(const SystemHealth& health);
Json history(const History& history);  // the codec's event objects
Json diagnostics(const ProviderDiagnostics& diagnostics);
// Only the asked metric's fields per point ("all": every field); durations add
// count, sum, average and the histogram over histogram_bounds_ms (last: over).
Json time_series(const TimeSeries& series);
// The same points flattened for CSV: one column per field, one per histogram bucket.
struct TimeSeriesTable {
  std::vector<std::string> columns;
  Json rows;
};
TimeSeriesTable time_series_table(const TimeSeries& series);
Json metric_deltas(const MetricDeltaPage& page);  // {"deltas":[...],"next_cursor":n}

}  // namespace duroxide::json_views
