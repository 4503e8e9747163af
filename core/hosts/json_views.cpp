#include "duroxide/json_views.hpp"

#include "duroxide/codec.hpp"

namespace duroxide::json_views {

Json error(const std::optional<ErrorDetails>& error) {
  if (!error) return nullptr;
  return Json{{"message", error->display_message()},
              {"kind", std::string(to_string(error->kind))},
              {"category", std::string(to_string(error->category()))}};
}

Json status(const std::string& instance, const OrchestrationStatus& status) {
  Json out{{"instance", instance}, {"status", std::string(to_string(status.state))}};
  if (status.state == RuntimeState::Completed) out["output"] = status.output;
  out["error"] = error(status.error);
  out["custom_status"] = status.custom_status ? Json(*status.custom_status) : Json(nullptr);
  out["custom_status_version"] = status.custom_status_version;
  return out;
}

Json summary(const InstanceSummary& summary) {
  const InstanceInfo& info = summary.info;
  return Json{{"instance", info.instance},
              {"orchestration", info.orchestration_name},
              {"version", info.orchestration_version},
              {"status", std::string(to_string(info.state))},
              {"preview", summary.preview},
              {"output", info.state == RuntimeState::Completed ? Json(info.output) : Json(nullptr)},
              {"error", error(info.error)},
              {"custom_status", info.custom_status ? Json(*info.custom_status) : Json(nullptr)},
              {"executions", info.execution_count},
              {"current_execution", info.current_execution_id},
              {"parent", info.parent_instance},
              {"tenant", info.tenant},
              {"created_at_ms", info.created_at_ms},
              {"updated_at_ms", info.updated_at_ms}};
}

Json summaries(const std::vector<InstanceSummary>& list) {
  Json out = Json::array();
  for (const auto& item : list) out.push_back(summary(item));
  return out;
}

Json counts(const std::map<RuntimeState, std::uint64_t>& counts) {
  Json out = Json::object();
  for (const auto& [state, count] : counts) out[std::string(to_string(state))] = count;
  return out;
}

Json queues(const QueueDepths& q) {
  return Json{{"orchestrator_visible", q.orchestrator_visible},
              {"orchestrator_delayed", q.orchestrator_delayed},
              {"orchestrator_locked", q.orchestrator_locked},
              {"worker_visible", q.worker_visible},
              {"worker_locked", q.worker_locked},
              {"parked", q.parked},
              {"timers_due", q.timers_due},
              {"timers_pending", q.timers_pending},
              {"oldest_orchestrator_age_ms", q.oldest_orchestrator_age_ms},
              {"oldest_worker_age_ms", q.oldest_worker_age_ms}};
}

Json session(const SessionInfo& s) {
  return Json{{"session_id", s.session_id},       {"owner_id", s.owner_id},
              {"locked_until_ms", s.locked_until_ms}, {"claimed_at_ms", s.claimed_at_ms},
              {"held", s.held},                   {"queued_items", s.queued_items}};
}

Json parked_message(const ParkedMessage& m) {
  return Json{{"id", m.id},
              {"instance", m.instance_id},
              {"reason", m.reason},
              {"parked_at_ms", m.parked_at_ms},
              {"item", m.item_json}};
}

Json execution(const ExecutionInfo& e) {
  return Json{{"execution", e.execution_id},
              {"status", std::string(to_string(e.state))},
              {"continued_as_new", e.continued_as_new},
              {"output", e.output},
              {"error", error(e.error)},
              {"started_at_ms", e.started_at_ms},
              {"completed_at_ms", e.completed_at_ms},
              {"events", e.event_count},
              {"pinned_version", e.pinned_version ? Json(e.pinned_version->to_string()) : Json(nullptr)}};
}

Json pending(const PendingWork& work) {
  return Json{{"kind", std::string(to_string(work.kind))},
              {"scheduled_event_id", work.scheduled_event_id},
              {"name", work.name},
              {"input", work.input},
              {"instance", work.instance},
              {"scheduled_at_ms", work.scheduled_at_ms},
              {"fire_at_ms", work.fire_at_ms},
              {"input_truncated", work.input_truncated},
              {"tag", work.tag},
              {"session_id", work.session_id},
              {"version", work.version}};
}

Json details(const InstanceDetails& d) {
  Json out = summary(d.summary);
  out["execution_list"] = Json::array();
  for (const auto& e : d.executions) out["execution_list"].push_back(execution(e));
  out["pending"] = Json::array();
  for (const auto& work : d.pending) out["pending"].push_back(pending(work));
  out["pending_total"] = d.pending_total;
  return out;
}

Json orchestration_stats(const std::vector<OrchestrationStats>& stats) {
  Json out = Json::array();
  for (const auto& s : stats) {
    out.push_back({{"name", s.orchestration_name}, {"running", s.running}, {"completed", s.completed},
                   {"failed", s.failed}, {"continued", s.continued}});
  }
  return out;
}

Json activity_stats(const std::vector<ActivityStats>& stats) {
  Json out = Json::array();
  for (const auto& a : stats) {
    out.push_back({{"name", a.activity_name}, {"scheduled", a.scheduled},
                   {"completed", a.completed}, {"failed", a.failed},
                   {"failure_rate", a.failure_rate}, {"avg_duration_ms", a.avg_duration_ms}});
  }
  return out;
}

Json health(const SystemHealth& h) {
  return Json{{"score", h.score},           {"counts", counts(h.counts)},
              {"long_running", h.long_running}, {"no_progress", h.no_progress},
              {"recent_failures", h.recent_failures}, {"queues", queues(h.queues)}};
}

Json history(const History& history) { return Json::parse(encode_history(history)); }

Json diagnostics(const ProviderDiagnostics& d) {
  return Json{{"store_kind", d.store_kind},
              {"store_version", d.store_version},
              {"schema_version", d.schema_version},
              {"location", d.location},
              {"journal_mode", d.journal_mode},
              {"page_size", d.page_size},
              {"page_count", d.page_count},
              {"free_pages", d.free_pages},
              {"database_bytes", d.database_bytes},
              {"wal_bytes", d.wal_bytes},
              {"cache_bytes", d.cache_bytes},
              {"last_checkpoint_ms", d.last_checkpoint_ms},
              {"checkpoints", d.checkpoints},
              {"table_rows", d.table_rows},
              {"connected", d.connected},
              {"last_error", d.last_error ? Json(*d.last_error) : Json(nullptr)},
              {"last_error_ms", d.last_error_ms},
              {"error_count", d.error_count},
              {"round_trip_us", d.round_trip_us},
              {"round_trips", d.round_trips},
              {"statements_prepared", d.statements_prepared}};
}

namespace {

std::string histogram_column(std::size_t bucket) {
  if (bucket < kDurationBuckets - 1) return "le_" + std::to_string(kDurationBucketBoundsMs[bucket]) + "_ms";
  return "over_" + std::to_string(kDurationBucketBoundsMs[kDurationBuckets - 2]) + "_ms";
}

bool shows(TimeSeriesMetric asked, TimeSeriesMetric field) {
  return asked == TimeSeriesMetric::All || asked == field;
}

}  // namespace

Json time_series(const TimeSeries& series) {
  Json points = Json::array();
  for (const TimeSeriesPoint& p : series.points) {
    Json point{{"bucket_start_ms", p.bucket_start_ms}};
    if (shows(series.metric, TimeSeriesMetric::Starts)) point["starts"] = p.starts;
    if (shows(series.metric, TimeSeriesMetric::Completions)) point["completions"] = p.completions;
    if (shows(series.metric, TimeSeriesMetric::Failures)) point["failures"] = p.failures;
    if (shows(series.metric, TimeSeriesMetric::Duration)) {
      point["duration_count"] = p.duration_count;
      point["duration_sum_ms"] = p.duration_sum_ms;
      point["duration_avg_ms"] =
          p.duration_count ? p.duration_sum_ms / static_cast<std::int64_t>(p.duration_count) : 0;
      Json histogram = Json::array();
      for (std::uint64_t count : p.duration_histogram) histogram.push_back(count);
      point["duration_histogram"] = std::move(histogram);
    }
    points.push_back(std::move(point));
  }
  Json bounds = Json::array();
  for (std::int64_t bound : kDurationBucketBoundsMs) bounds.push_back(bound);
  return Json{{"metric", std::string(to_string(series.metric))},
              {"orchestration", series.orchestration},
              {"bucket", series.bucket == TimeSeriesQuery::Bucket::Hour ? "hour" : "minute"},
              {"from_ms", series.from_ms},
              {"to_ms", series.to_ms},
              {"histogram_bounds_ms", std::move(bounds)},
              {"points", std::move(points)}};
}

TimeSeriesTable time_series_table(const TimeSeries& series) {
  TimeSeriesTable table;
  table.columns.push_back("bucket_start_ms");
  const Json view = time_series(series);
  for (const char* field : {"starts", "completions", "failures", "duration_count", "duration_sum_ms",
                            "duration_avg_ms"}) {
    if (!view["points"].empty() && view["points"][0].contains(field)) table.columns.push_back(field);
  }
  const bool histogram = shows(series.metric, TimeSeriesMetric::Duration);
  if (histogram) {
    for (std::size_t i = 0; i < kDurationBuckets; ++i) table.columns.push_back(histogram_column(i));
  }
  table.rows = Json::array();
  for (const Json& point : view["points"]) {
    Json row = point;
    row.erase("duration_histogram");
    if (histogram) {
      for (std::size_t i = 0; i < kDurationBuckets; ++i) row[histogram_column(i)] = point["duration_histogram"][i];
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

Json metric_deltas(const MetricDeltaPage& page) {
  Json deltas = Json::array();
  for (const MetricDelta& d : page.deltas) {
    Json delta{{"seq", d.seq},
               {"orchestration", d.orchestration},
               {"instance", d.instance},
               {"starts", d.starts},
               {"completions", d.completions},
               {"failures", d.failures}};
    if (d.starts) delta["started_at_ms"] = d.started_at_ms;
    if (d.duration_ms) {
      delta["finished_at_ms"] = d.finished_at_ms;
      delta["duration_ms"] = *d.duration_ms;
    }
    deltas.push_back(std::move(delta));
  }
  return Json{{"deltas", std::move(deltas)}, {"next_cursor", page.next_cursor}};
}

}  // namespace duroxide::json_views
