// SqliteProvider: the cold path (listing, details, metrics, deletion, export and
// import), written once in core/stores/sql/management_core.hpp: each call takes
// the provider's mutex and runs the shared body on its one connection.
#include "duroxide/sqlite_provider.hpp"
#include "management_core.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_dialect.hpp"

namespace duroxide {

using Core = management_sql::Management<sqlite::Dialect>;

std::vector<std::string> SqliteProvider::explain_listing(const InstanceFilter& filter,
                                                         const PageRequest& page, ListingQuery query) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("explain_listing");
  return Core::explain_listing(*db_, filter, page, static_cast<management_sql::ListingQuery>(query));
}

InstancePage SqliteProvider::list_instances(const InstanceFilter& filter, const PageRequest& page) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("list_instances");
  return Core::list_instances(*db_, filter, page);
}

std::uint64_t SqliteProvider::count_instances(const InstanceFilter& filter) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("count_instances");
  return Core::count_instances(*db_, filter);
}

std::map<RuntimeState, std::uint64_t> SqliteProvider::count_by_status(const InstanceFilter& filter) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("count_by_status");
  return Core::count_by_status(*db_, filter);
}

std::optional<InstanceInfo> SqliteProvider::get_instance_info(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_instance_info");
  return Core::get_instance_info(*db_, instance);
}

std::vector<ExecutionInfo> SqliteProvider::list_executions(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("list_executions");
  return Core::list_executions(*db_, instance);
}

std::optional<ExecutionInfo> SqliteProvider::get_execution_info(const std::string& instance, ExecutionId execution) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_execution_info");
  return Core::get_execution_info(*db_, instance, execution);
}

History SqliteProvider::read_execution(const std::string& instance, ExecutionId execution) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("read_execution");
  return Core::read_execution(*db_, instance, execution);
}

SystemMetrics SqliteProvider::get_system_metrics() {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_system_metrics");
  return Core::get_system_metrics(*db_);
}

QueueDepths SqliteProvider::get_queue_depths() {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_queue_depths");
  return Core::get_queue_depths(*db_, clock_.now_ms());
}

std::vector<OrchestrationStats> SqliteProvider::get_orchestration_stats(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_orchestration_stats");
  return Core::get_orchestration_stats(*db_, name);
}

std::vector<ActivityStats> SqliteProvider::get_activity_stats(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_activity_stats");
  return Core::get_activity_stats(*db_, name);
}

ChangePage SqliteProvider::changes_since(std::uint64_t cursor, std::size_t limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("changes_since");
  return Core::changes_since(*db_, cursor, limit);
}

DurationStats SqliteProvider::get_execution_durations(const std::string& name, TimestampMs since_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_execution_durations");
  return Core::get_execution_durations(*db_, name, since_ms);
}

DeleteResult SqliteProvider::delete_instance(const std::string& instance, bool force) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("delete_instance");
  return Core::delete_instance(*db_, instance, force, clock_.now_ms());
}

DeleteResult SqliteProvider::delete_instances(const BulkDeleteRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("delete_instances");
  return Core::delete_instances(*db_, request, clock_.now_ms());
}

std::uint64_t SqliteProvider::prune_executions(const std::string& instance, std::size_t keep_last) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("prune_executions");
  return Core::prune_executions(*db_, instance, keep_last);
}

InstanceExport SqliteProvider::export_instance(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("export_instance");
  return Core::export_instance(*db_, instance);
}

std::optional<InstanceStats> SqliteProvider::get_instance_stats(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_instance_stats");
  return Core::get_instance_stats(*db_, instance);
}

void SqliteProvider::import_instance(const InstanceExport& data) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("import_instance");
  Core::import_instance(*db_, data, clock_.now_ms());
}

std::vector<TimeSeriesPoint> SqliteProvider::get_time_series(const TimeSeriesQuery& query) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_time_series");
  return Core::get_time_series(*db_, query);
}

std::optional<CustomStatus> SqliteProvider::get_custom_status(const std::string& instance, std::optional<std::uint64_t> since_version) {
  std::lock_guard<std::mutex> lock(mutex_);
  db_->set_operation("get_custom_status");
  return Core::get_custom_status(*db_, instance, since_version);
}

}  // namespace duroxide
