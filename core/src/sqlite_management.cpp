// SqliteProvider: the cold path (listing, details, metrics, deletion).
#include <algorithm>
#include <map>
#include <variant>

#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "management_sql.hpp"
#include "store_sql.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_provider_internal.hpp"

namespace duroxide {

using sqlite::Statement;
using sqlite::Transaction;
using namespace management_sql;

namespace {

void check_identifier(const std::string& id, const std::string& operation) {
  if (id.empty() || id.size() > limits::kMaxIdentifierBytes) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        "an instance id must be 1 to " +
                            std::to_string(limits::kMaxIdentifierBytes) + " bytes");
  }
}

}  // namespace

InstancePage SqliteProvider::list_instances(const InstanceFilter& filter,
                                            const PageRequest& page) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("list_instances");
  FilterSql sql = list_query(filter, page, db_->operation());
  Statement rows = db_->prepare_once(sql.where);
  sql.bind_all(rows);
  InstancePage result;
  while (rows.step()) result.instances.push_back(read_instance_row(rows, db_->operation()));
  if (result.instances.size() > page.limit) {
    result.instances.pop_back();
    const InstanceInfo& last = result.instances.back();
    result.next_cursor = std::to_string(last.created_at_ms) + "|" + last.instance;
  }
  return result;
}

std::vector<std::string> SqliteProvider::explain_listing(const InstanceFilter& filter,
                                                         const PageRequest& page,
                                                         ListingQuery query) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("explain_listing");
  FilterSql sql = query == ListingQuery::List ? list_query(filter, page, db_->operation())
                                              : count_query(filter, query == ListingQuery::CountByStatus);
  Statement plan = db_->prepare_once("EXPLAIN QUERY PLAN " + sql.where);
  sql.bind_all(plan);
  std::vector<std::string> lines;
  while (plan.step()) lines.push_back(plan.text(3));
  return lines;
}

std::uint64_t SqliteProvider::count_instances(const InstanceFilter& filter) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("count_instances");
  FilterSql sql = count_query(filter, false);
  Statement row = db_->prepare_once(sql.where);
  sql.bind_all(row);
  return row.step() ? static_cast<std::uint64_t>(row.integer(0)) : 0;
}

std::map<RuntimeState, std::uint64_t> SqliteProvider::count_by_status(
    const InstanceFilter& filter) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("count_by_status");
  FilterSql sql = count_query(filter, true);
  Statement rows = db_->prepare_once(sql.where);
  sql.bind_all(rows);
  std::map<RuntimeState, std::uint64_t> counts{
      {RuntimeState::Running, 0}, {RuntimeState::Completed, 0}, {RuntimeState::Failed, 0}};
  while (rows.step()) {
    counts[parse_state(rows.text(0), db_->operation())] += static_cast<std::uint64_t>(rows.integer(1));
  }
  return counts;
}

std::optional<InstanceInfo> SqliteProvider::get_instance_info(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_instance_info");
  Statement row = db_->prepare(
      "SELECT instance_id, orchestration_name, orchestration_version, current_execution_id, "
      "status, output, error_json, custom_status, custom_status_version, parent_instance_id, "
      "parent_id, created_at, updated_at, "
      "(SELECT COUNT(*) FROM executions e WHERE e.instance_id = instances.instance_id) "
      "FROM instances WHERE instance_id = ?1");
  row.bind(1, instance);
  if (!row.step()) return std::nullopt;
  return read_instance_row(row, db_->operation());
}

std::vector<ExecutionInfo> SqliteProvider::list_executions(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("list_executions");
  Statement rows = db_->prepare(
      "SELECT instance_id, execution_id, status, output, error_json, started_at, completed_at, "
      "event_count FROM executions WHERE instance_id = ?1 ORDER BY execution_id");
  rows.bind(1, instance);
  std::vector<ExecutionInfo> out;
  while (rows.step()) out.push_back(read_execution_row(rows, db_->operation()));
  return out;
}

std::optional<ExecutionInfo> SqliteProvider::get_execution_info(const std::string& instance,
                                                                ExecutionId execution) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_execution_info");
  Statement row = db_->prepare(
      "SELECT instance_id, execution_id, status, output, error_json, started_at, completed_at, "
      "event_count FROM executions WHERE instance_id = ?1 AND execution_id = ?2");
  row.bind(1, instance).bind(2, static_cast<std::int64_t>(execution));
  if (!row.step()) return std::nullopt;
  return read_execution_row(row, db_->operation());
}

History SqliteProvider::read_execution(const std::string& instance, ExecutionId execution) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("read_execution");
  {
    Statement row = db_->prepare(
        "SELECT 1 FROM executions WHERE instance_id = ?1 AND execution_id = ?2");
    row.bind(1, instance).bind(2, static_cast<std::int64_t>(execution));
    if (!row.step()) {
      throw ProviderError(ProviderErrorKind::NotFound, db_->operation(),
                          "instance " + instance + " has no execution " +
                              std::to_string(execution));
    }
  }
  return read_history_locked(instance, execution, nullptr);
}

SystemMetrics SqliteProvider::get_system_metrics() {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_system_metrics");
  SystemMetrics metrics;
  {
    Statement rows = db_->prepare("SELECT status, COUNT(*) FROM instances GROUP BY status");
    while (rows.step()) {
      auto count = static_cast<std::uint64_t>(rows.integer(1));
      std::string status = rows.text(0);
      metrics.total_instances += count;
      if (status == "Running") metrics.running += count;
      if (status == "Completed") metrics.completed += count;
      if (status == "Failed") metrics.failed += count;
    }
  }
  Statement totals =
      db_->prepare("SELECT COUNT(*), COALESCE(SUM(event_count), 0) FROM executions");
  if (totals.step()) {
    metrics.total_executions = static_cast<std::uint64_t>(totals.integer(0));
    metrics.total_events = static_cast<std::uint64_t>(totals.integer(1));
  }
  return metrics;
}

QueueDepths SqliteProvider::get_queue_depths() {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_queue_depths");
  const TimestampMs now = clock_.now_ms();
  QueueDepths depths;
  {
    Statement row = db_->prepare(
        "SELECT "
        "  COALESCE(SUM(q.visible_at > ?1), 0), "
        "  COALESCE(SUM(q.visible_at <= ?1 AND l.instance_id IS NULL), 0), "
        "  COALESCE(SUM(q.visible_at <= ?1 AND l.instance_id IS NOT NULL), 0) "
        "FROM orchestrator_queue q LEFT JOIN instance_locks l "
        "  ON l.instance_id = q.instance_id AND l.locked_until > ?1");
    row.bind(1, now);
    if (row.step()) {
      depths.orchestrator_delayed = static_cast<std::uint64_t>(row.integer(0));
      depths.orchestrator_visible = static_cast<std::uint64_t>(row.integer(1));
      depths.orchestrator_locked = static_cast<std::uint64_t>(row.integer(2));
    }
  }
  {
    Statement row = db_->prepare(
        "SELECT "
        "  COALESCE(SUM(visible_at <= ?1 AND (lock_token IS NULL OR locked_until <= ?1)), 0), "
        "  COALESCE(SUM(lock_token IS NOT NULL AND locked_until > ?1), 0) "
        "FROM worker_queue");
    row.bind(1, now);
    if (row.step()) {
      depths.worker_visible = static_cast<std::uint64_t>(row.integer(0));
      depths.worker_locked = static_cast<std::uint64_t>(row.integer(1));
    }
  }
  Statement parked = db_->prepare("SELECT COUNT(*) FROM parked_messages");
  if (parked.step()) depths.parked = static_cast<std::uint64_t>(parked.integer(0));
  {
    Statement timers = db_->prepare(
        "SELECT COALESCE(SUM(visible_at <= ?1), 0), COALESCE(SUM(visible_at > ?1), 0) "
        "FROM orchestrator_queue WHERE kind = 'TimerFired'");
    timers.bind(1, now);
    if (timers.step()) {
      depths.timers_due = static_cast<std::uint64_t>(timers.integer(0));
      depths.timers_pending = static_cast<std::uint64_t>(timers.integer(1));
    }
  }
  Statement oldest = db_->prepare(
      "SELECT (SELECT MIN(enqueued_at) FROM orchestrator_queue WHERE visible_at <= ?1), "
      "       (SELECT MIN(enqueued_at) FROM worker_queue WHERE visible_at <= ?1)");
  oldest.bind(1, now);
  if (oldest.step()) {
    if (!oldest.is_null(0)) depths.oldest_orchestrator_age_ms = now - oldest.integer(0);
    if (!oldest.is_null(1)) depths.oldest_worker_age_ms = now - oldest.integer(1);
  }
  return depths;
}

std::vector<OrchestrationStats> SqliteProvider::get_orchestration_stats(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_orchestration_stats");
  std::map<std::string, OrchestrationStats> by_name;
  {
    Statement rows = db_->prepare(
        "SELECT orchestration_name, status, COUNT(*) FROM instances "
        "WHERE ?1 = '' OR orchestration_name = ?1 GROUP BY orchestration_name, status");
    rows.bind(1, name);
    while (rows.step()) {
      OrchestrationStats& stats = by_name[rows.text(0)];
      stats.orchestration_name = rows.text(0);
      auto count = static_cast<std::uint64_t>(rows.integer(2));
      switch (parse_state(rows.text(1), db_->operation())) {
        case RuntimeState::Running: stats.running += count; break;
        case RuntimeState::Completed: stats.completed += count; break;
        case RuntimeState::Failed: stats.failed += count; break;
        case RuntimeState::NotFound: break;
      }
    }
  }
  Statement continued = db_->prepare(
      "SELECT i.orchestration_name, COUNT(*) FROM executions e "
      "JOIN instances i ON i.instance_id = e.instance_id "
      "WHERE e.status = 'ContinuedAsNew' AND (?1 = '' OR i.orchestration_name = ?1) "
      "GROUP BY i.orchestration_name");
  continued.bind(1, name);
  while (continued.step()) {
    by_name[continued.text(0)].continued = static_cast<std::uint64_t>(continued.integer(1));
  }
  std::vector<OrchestrationStats> out;
  for (auto& entry : by_name) out.push_back(entry.second);
  return out;
}

std::vector<ActivityStats> SqliteProvider::get_activity_stats(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_activity_stats");
  Statement rows = db_->prepare(
      "SELECT activity_name, scheduled, completed, failed, total_duration_ms FROM activity_stats "
      "WHERE ?1 = '' OR activity_name = ?1 ORDER BY activity_name");
  rows.bind(1, name);
  std::vector<ActivityStats> out;
  while (rows.step()) {
    ActivityStats stats;
    stats.activity_name = rows.text(0);
    stats.scheduled = static_cast<std::uint64_t>(rows.integer(1));
    stats.completed = static_cast<std::uint64_t>(rows.integer(2));
    stats.failed = static_cast<std::uint64_t>(rows.integer(3));
    std::uint64_t finished = stats.completed + stats.failed;
    if (finished > 0) {
      stats.failure_rate = static_cast<double>(stats.failed) / static_cast<double>(finished);
      stats.avg_duration_ms = rows.integer(4) / static_cast<std::int64_t>(finished);
    }
    out.push_back(std::move(stats));
  }
  return out;
}

ChangePage SqliteProvider::changes_since(std::uint64_t cursor, std::size_t limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("changes_since");
  if (limit == 0 || limit > kMaxPageSize) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(),
                        "limit must be 1 to " + std::to_string(kMaxPageSize));
  }
  Statement rows = db_->prepare(
      "SELECT seq, instance_id, status, execution_id, custom_status_version, changed_at, "
      "  created, orchestration_name, instance_created_at, finished_duration_ms "
      "FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  rows.bind(1, static_cast<std::int64_t>(cursor)).bind(2, static_cast<std::int64_t>(limit));
  ChangePage page;
  page.next_cursor = cursor;
  while (rows.step()) {
    InstanceChange change;
    change.seq = static_cast<std::uint64_t>(rows.integer(0));
    change.instance = rows.text(1);
    std::string status = rows.text(2);
    change.deleted = status == "Deleted";
    change.state = change.deleted ? RuntimeState::NotFound : parse_state(status, db_->operation());
    change.execution_id = static_cast<ExecutionId>(rows.integer(3));
    change.custom_status_version = static_cast<std::uint64_t>(rows.integer(4));
    change.changed_at_ms = rows.integer(5);
    change.created = rows.integer(6) != 0;
    change.orchestration_name = rows.text(7);
    if (!rows.is_null(8)) change.instance_created_at_ms = rows.integer(8);
    if (!rows.is_null(9)) change.finished_duration_ms = rows.integer(9);
    page.next_cursor = change.seq;
    page.changes.push_back(std::move(change));
  }
  return page;
}

DurationStats SqliteProvider::get_execution_durations(const std::string& name,
                                                      TimestampMs since_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_execution_durations");
  DurationStats stats;
  {
    Statement row = db_->prepare(
        "SELECT COUNT(*), MIN(e.completed_at - e.started_at), "
        "  CAST(AVG(e.completed_at - e.started_at) AS INTEGER), "
        "  MAX(e.completed_at - e.started_at) "
        "FROM executions e JOIN instances i ON i.instance_id = e.instance_id "
        "WHERE e.completed_at IS NOT NULL AND i.orchestration_name = ?1 AND e.started_at >= ?2");
    row.bind(1, name).bind(2, since_ms);
    if (!row.step() || row.integer(0) == 0) return stats;
    stats.count = static_cast<std::uint64_t>(row.integer(0));
    stats.min_ms = row.integer(1);
    stats.avg_ms = row.integer(2);
    stats.max_ms = row.integer(3);
  }
  // Nearest-rank percentiles: the value at rank ceil(p * count).
  auto percentile = [&](int p) {
    std::int64_t rank = (static_cast<std::int64_t>(stats.count) * p + 99) / 100;
    Statement row = db_->prepare(
        "SELECT e.completed_at - e.started_at AS d "
        "FROM executions e JOIN instances i ON i.instance_id = e.instance_id "
        "WHERE e.completed_at IS NOT NULL AND i.orchestration_name = ?1 AND e.started_at >= ?2 "
        "ORDER BY d LIMIT 1 OFFSET ?3");
    row.bind(1, name).bind(2, since_ms).bind(3, std::max<std::int64_t>(rank - 1, 0));
    return row.step() ? row.integer(0) : stats.max_ms;
  };
  stats.p50_ms = percentile(50);
  stats.p95_ms = percentile(95);
  stats.p99_ms = percentile(99);
  return stats;
}

// ---------------------------------------------------------------- deletion

DeleteResult SqliteProvider::delete_tree_locked(const std::string& root) {
  const std::vector<std::string> tree = instance_tree(*db_, root);
  DeleteResult result;
  const TimestampMs now = clock_.now_ms();
  for (const std::string& id : unstarted_children(*db_, tree)) delete_instance_rows(*db_, id, result);
  for (const std::string& id : tree) {
    sqlite::record_change(*db_, id, "Deleted", 0, 0, now);
    delete_instance_rows(*db_, id, result);
  }
  return result;
}

DeleteResult SqliteProvider::delete_instance(const std::string& instance, bool force) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("delete_instance");
  check_identifier(instance, db_->operation());
  Transaction transaction(*db_);
  std::string blocker = delete_blocker(*db_, instance, force);
  if (!blocker.empty()) {
    bool missing = blocker.find("does not exist") != std::string::npos;
    throw ProviderError(missing ? ProviderErrorKind::NotFound : ProviderErrorKind::Conflict,
                        db_->operation(), blocker);
  }
  DeleteResult result = delete_tree_locked(instance);
  transaction.commit();
  return result;
}

DeleteResult SqliteProvider::delete_instances(const BulkDeleteRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("delete_instances");
  if (request.limit == 0 || request.limit > 100'000) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(),
                        "limit must be 1 to 100000");
  }
  Transaction transaction(*db_);
  DeleteResult total;
  // Deletes the trees of the candidates that may go (neither running, a child
  // nor missing), until the limit.
  auto delete_candidates = [&](const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      if (total.instances >= request.limit) break;
      if (!delete_blocker(*db_, id, /*force=*/false).empty()) continue;
      total += delete_tree_locked(id);
    }
  };
  if (!request.instances.empty()) {
    for (const auto& id : request.instances) check_identifier(id, db_->operation());
    delete_candidates(request.instances);
  } else {
    InstanceFilter finished = deletable_roots(request);
    if (finished.states.empty()) return {};  // the filter asked only for running instances
    for_each_purge_page(
        finished, request.limit, "", [&](const std::string& sql) { return db_->prepare_once(sql); },
        [&](const std::vector<std::string>& page) {
          delete_candidates(page);
          return total.instances < request.limit;
        });
  }
  transaction.commit();
  return total;
}

std::uint64_t SqliteProvider::prune_executions(const std::string& instance,
                                               std::size_t keep_last) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("prune_executions");
  if (keep_last == 0) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(),
                        "keep_last must be at least 1 (the current execution is always kept)");
  }
  Transaction transaction(*db_);
  std::int64_t current = 0;
  {
    Statement row =
        db_->prepare("SELECT current_execution_id FROM instances WHERE instance_id = ?1");
    row.bind(1, instance);
    if (!row.step()) {
      throw ProviderError(ProviderErrorKind::NotFound, db_->operation(),
                          "instance " + instance + " does not exist");
    }
    current = row.integer(0);
  }
  const std::int64_t newest_removed = current - static_cast<std::int64_t>(keep_last);
  db_->prepare(
        "DELETE FROM history WHERE instance_id = ?1 AND execution_id IN ("
        "  SELECT execution_id FROM executions WHERE instance_id = ?1 AND execution_id <= ?2 "
        "  AND execution_id < ?3 AND status != 'Running')")
      .bind(1, instance)
      .bind(2, newest_removed)
      .bind(3, current)
      .run();
  db_->prepare(
        "DELETE FROM executions WHERE instance_id = ?1 AND execution_id <= ?2 "
        "AND execution_id < ?3 AND status != 'Running'")
      .bind(1, instance)
      .bind(2, newest_removed)
      .bind(3, current)
      .run();
  auto removed = static_cast<std::uint64_t>(db_->changes());
  transaction.commit();
  return removed;
}

InstanceExport SqliteProvider::export_instance(const std::string& instance) {
  InstanceExport out;
  auto info = get_instance_info(instance);
  if (!info) {
    throw ProviderError(ProviderErrorKind::NotFound, "export_instance",
                        "instance " + instance + " does not exist");
  }
  out.info = *info;
  for (auto& execution : list_executions(instance)) {
    History history = read_execution(instance, execution.execution_id);
    out.executions.push_back({std::move(execution), std::move(history)});
  }
  out.kv = get_kv_all_values(instance);
  return out;
}

std::optional<InstanceStats> SqliteProvider::get_instance_stats(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_instance_stats");
  return management_sql::read_instance_stats(*db_, instance);
}

void SqliteProvider::import_instance(const InstanceExport& data) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("import_instance");
  const InstanceInfo& info = data.info;
  check_identifier(info.instance, db_->operation());
  Transaction transaction(*db_);
  {
    Statement row = db_->prepare("SELECT 1 FROM instances WHERE instance_id = ?1");
    row.bind(1, info.instance);
    if (row.step()) {
      throw ProviderError(ProviderErrorKind::Conflict, db_->operation(),
                          "instance " + info.instance + " already exists");
    }
  }
  auto error_json = [](const std::optional<ErrorDetails>& error) -> std::optional<std::string> {
    if (!error) return std::nullopt;
    return encode_error_details(*error);
  };
  db_->prepare(
        "INSERT INTO instances (instance_id, orchestration_name, orchestration_version, "
        "  current_execution_id, status, output, error_json, custom_status, "
        "  custom_status_version, parent_instance_id, parent_id, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")
      .bind(1, info.instance)
      .bind(2, info.orchestration_name)
      .bind(3, info.orchestration_version)
      .bind(4, static_cast<std::int64_t>(info.current_execution_id))
      .bind(5, to_string(info.state))
      .bind_optional(6, info.state == RuntimeState::Completed ? std::optional<std::string>(info.output)
                                                               : std::nullopt)
      .bind_optional(7, error_json(info.error))
      .bind_optional(8, info.custom_status)
      .bind(9, static_cast<std::int64_t>(info.custom_status_version))
      .bind_optional(10, info.parent_instance.empty() ? std::nullopt
                                                      : std::optional<std::string>(info.parent_instance))
      .bind(11, static_cast<std::int64_t>(info.parent_id))
      .bind(12, info.created_at_ms)
      .bind(13, info.updated_at_ms)
      .run();
  // An imported instance counts where it happened: a start at its creation and,
  // when finished, a completion or failure at its last update.
  sqlite::MetricDelta started;
  started.starts = 1;
  sqlite::record_metrics(*db_, info.orchestration_name, info.created_at_ms, started);
  sqlite::MetricDelta finished;
  if (info.state == RuntimeState::Completed || info.state == RuntimeState::Failed) {
    (info.state == RuntimeState::Completed ? finished.completions : finished.failures) = 1;
    finished.duration_ms = info.updated_at_ms - info.created_at_ms;
    sqlite::record_metrics(*db_, info.orchestration_name, info.updated_at_ms, finished);
  }
  sqlite::MetricDelta both = finished;
  both.starts = 1;
  both.created_at = info.created_at_ms;
  sqlite::record_change(*db_, info.instance, std::string(to_string(info.state)),
                        static_cast<std::int64_t>(info.current_execution_id),
                        static_cast<std::int64_t>(info.custom_status_version), clock_.now_ms(),
                        both, info.orchestration_name);
  for (const auto& execution : data.executions) {
    const ExecutionInfo& e = execution.info;
    std::string status = e.continued_as_new ? std::string("ContinuedAsNew")
                                            : std::string(to_string(e.state));
    Statement insert = db_->prepare(
        "INSERT INTO executions (instance_id, execution_id, status, output, error_json, "
        "  started_at, completed_at, event_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    insert.bind(1, info.instance)
        .bind(2, static_cast<std::int64_t>(e.execution_id))
        .bind(3, status)
        .bind_optional(4, e.state == RuntimeState::Completed ? std::optional<std::string>(e.output)
                                                              : std::nullopt)
        .bind_optional(5, error_json(e.error))
        .bind(6, e.started_at_ms)
        .bind(8, static_cast<std::int64_t>(execution.history.size()));
    if (e.completed_at_ms != 0) insert.bind(7, e.completed_at_ms);
    insert.run();
    for (const Event& event : execution.history) {
      db_->prepare(
            "INSERT INTO history (instance_id, execution_id, event_id, event_kind, timestamp, "
            "  event_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
          .bind(1, info.instance)
          .bind(2, static_cast<std::int64_t>(e.execution_id))
          .bind(3, static_cast<std::int64_t>(event.event_id))
          .bind(4, to_string(event.kind()))
          .bind(5, event.timestamp_ms)
          .bind(6, encode_event(event))
          .run();
    }
  }
  store_sql::write_kv_values(*db_, info.instance, data.kv);
  transaction.commit();
}

std::vector<TimeSeriesPoint> SqliteProvider::get_time_series(const TimeSeriesQuery& query) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_time_series");
  const std::int64_t width = query.bucket == TimeSeriesQuery::Bucket::Hour ? 3'600'000 : 60'000;
  if (query.from_ms < 0 || query.to_ms <= query.from_ms) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(),
                        "the window needs 0 <= from < to");
  }
  if (query.orchestration.size() > limits::kMaxNameBytes) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(),
                        "orchestration name longer than " + std::to_string(limits::kMaxNameBytes) +
                            " bytes");
  }
  const std::int64_t from = (query.from_ms / width) * width;
  const std::int64_t to = ((query.to_ms + width - 1) / width) * width;
  if ((to - from) / width > static_cast<std::int64_t>(kMaxTimeSeriesBuckets)) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db_->operation(),
                        "the window spans more than " + std::to_string(kMaxTimeSeriesBuckets) +
                            " buckets");
  }
  // Hour buckets sum the rolled-up hour rows and the minutes not yet rolled up.
  std::string sql =
      "SELECT (bucket_start / ?3) * ?3 AS b, SUM(starts), SUM(completions), SUM(failures), "
      "  SUM(duration_sum_ms), SUM(duration_count), SUM(d0), SUM(d1), SUM(d2), SUM(d3), "
      "  SUM(d4), SUM(d5), SUM(d6), SUM(d7) "
      "FROM metric_buckets WHERE bucket_start >= ?1 AND bucket_start < ?2 ";
  // Spelled out so the primary key (resolution, bucket_start, ...) serves the range.
  sql += query.bucket == TimeSeriesQuery::Bucket::Minute ? "AND resolution = 'minute' "
                                                          : "AND resolution IN ('hour', 'minute') ";
  if (!query.orchestration.empty()) sql += "AND orchestration_name = ?4 ";
  sql += "GROUP BY b ORDER BY b";
  Statement rows = db_->prepare_once(sql);
  rows.bind(1, from).bind(2, to).bind(3, width);
  if (!query.orchestration.empty()) rows.bind(4, query.orchestration);
  std::vector<TimeSeriesPoint> points;
  while (rows.step()) {
    TimeSeriesPoint point;
    point.bucket_start_ms = rows.integer(0);
    point.starts = static_cast<std::uint64_t>(rows.integer(1));
    point.completions = static_cast<std::uint64_t>(rows.integer(2));
    point.failures = static_cast<std::uint64_t>(rows.integer(3));
    point.duration_sum_ms = rows.integer(4);
    point.duration_count = static_cast<std::uint64_t>(rows.integer(5));
    for (std::size_t i = 0; i < kDurationBuckets; ++i) {
      point.duration_histogram[i] = static_cast<std::uint64_t>(rows.integer(static_cast<int>(6 + i)));
    }
    points.push_back(point);
  }
  return points;
}

std::optional<CustomStatus> SqliteProvider::get_custom_status(
    const std::string& instance, std::optional<std::uint64_t> since_version) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_custom_status");
  Statement row = db_->prepare(
      "SELECT custom_status, custom_status_version FROM instances WHERE instance_id = ?1");
  row.bind(1, instance);
  if (!row.step()) return std::nullopt;
  CustomStatus status{row.optional_text(0), static_cast<std::uint64_t>(row.integer(1))};
  if (since_version && status.version <= *since_version) return std::nullopt;
  return status;
}

}  // namespace duroxide
