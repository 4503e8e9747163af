// PostgresProvider: the cold path (listing, details, metrics, deletion, export and
// import), written once in core/stores/sql/management_core.hpp: each call leases
// a pooled connection and runs the shared body on it.
#include "duroxide/postgres_provider.hpp"
#include "management_core.hpp"
#include "postgres_connection.hpp"
#include "postgres_dialect.hpp"
#include "postgres_provider_internal.hpp"

namespace duroxide {

using Core = management_sql::Management<pg::Dialect>;

std::vector<std::string> PostgresProvider::explain_listing(const InstanceFilter& filter,
                                                           const PageRequest& page, ListingQuery query) {
  Lease db = lease("explain_listing");
  db->ensure_connected();
  return Core::explain_listing(*db, filter, page, static_cast<management_sql::ListingQuery>(query));
}

InstancePage PostgresProvider::list_instances(const InstanceFilter& filter, const PageRequest& page) {
  Lease db = lease("list_instances");
  db->ensure_connected();
  return Core::list_instances(*db, filter, page);
}

std::uint64_t PostgresProvider::count_instances(const InstanceFilter& filter) {
  Lease db = lease("count_instances");
  db->ensure_connected();
  return Core::count_instances(*db, filter);
}

std::map<RuntimeState, std::uint64_t> PostgresProvider::count_by_status(const InstanceFilter& filter) {
  Lease db = lease("count_by_status");
  db->ensure_connected();
  return Core::count_by_status(*db, filter);
}

std::optional<InstanceInfo> PostgresProvider::get_instance_info(const std::string& instance) {
  Lease db = lease("get_instance_info");
  db->ensure_connected();
  return Core::get_instance_info(*db, instance);
}

std::vector<ExecutionInfo> PostgresProvider::list_executions(const std::string& instance) {
  Lease db = lease("list_executions");
  db->ensure_connected();
  return Core::list_executions(*db, instance);
}

std::optional<ExecutionInfo> PostgresProvider::get_execution_info(const std::string& instance, ExecutionId execution) {
  Lease db = lease("get_execution_info");
  db->ensure_connected();
  return Core::get_execution_info(*db, instance, execution);
}

History PostgresProvider::read_execution(const std::string& instance, ExecutionId execution) {
  Lease db = lease("read_execution");
  db->ensure_connected();
  return Core::read_execution(*db, instance, execution);
}

SystemMetrics PostgresProvider::get_system_metrics() {
  Lease db = lease("get_system_metrics");
  db->ensure_connected();
  return Core::get_system_metrics(*db);
}

QueueDepths PostgresProvider::get_queue_depths() {
  Lease db = lease("get_queue_depths");
  db->ensure_connected();
  return Core::get_queue_depths(*db, clock_.now_ms());
}

std::vector<OrchestrationStats> PostgresProvider::get_orchestration_stats(const std::string& name) {
  Lease db = lease("get_orchestration_stats");
  db->ensure_connected();
  return Core::get_orchestration_stats(*db, name);
}

std::vector<ActivityStats> PostgresProvider::get_activity_stats(const std::string& name) {
  Lease db = lease("get_activity_stats");
  db->ensure_connected();
  return Core::get_activity_stats(*db, name);
}

ChangePage PostgresProvider::changes_since(std::uint64_t cursor, std::size_t limit) {
  Lease db = lease("changes_since");
  db->ensure_connected();
  return Core::changes_since(*db, cursor, limit);
}

DurationStats PostgresProvider::get_execution_durations(const std::string& name, TimestampMs since_ms) {
  Lease db = lease("get_execution_durations");
  db->ensure_connected();
  return Core::get_execution_durations(*db, name, since_ms);
}

DeleteResult PostgresProvider::delete_instance(const std::string& instance, bool force) {
  Lease db = lease("delete_instance");
  db->ensure_connected();
  return Core::delete_instance(*db, instance, force, clock_.now_ms());
}

DeleteResult PostgresProvider::delete_instances(const BulkDeleteRequest& request) {
  Lease db = lease("delete_instances");
  db->ensure_connected();
  return Core::delete_instances(*db, request, clock_.now_ms());
}

std::uint64_t PostgresProvider::prune_executions(const std::string& instance, std::size_t keep_last) {
  Lease db = lease("prune_executions");
  db->ensure_connected();
  return Core::prune_executions(*db, instance, keep_last);
}

InstanceExport PostgresProvider::export_instance(const std::string& instance) {
  Lease db = lease("export_instance");
  db->ensure_connected();
  return Core::export_instance(*db, instance);
}

std::optional<InstanceStats> PostgresProvider::get_instance_stats(const std::string& instance) {
  Lease db = lease("get_instance_stats");
  db->ensure_connected();
  return Core::get_instance_stats(*db, instance);
}

void PostgresProvider::import_instance(const InstanceExport& data) {
  Lease db = lease("import_instance");
  db->ensure_connected();
  Core::import_instance(*db, data, clock_.now_ms());
}

std::vector<TimeSeriesPoint> PostgresProvider::get_time_series(const TimeSeriesQuery& query) {
  Lease db = lease("get_time_series");
  db->ensure_connected();
  return Core::get_time_series(*db, query);
}

std::optional<CustomStatus> PostgresProvider::get_custom_status(const std::string& instance, std::optional<std::uint64_t> since_version) {
  Lease db = lease("get_custom_status");
  db->ensure_connected();
  return Core::get_custom_status(*db, instance, since_version);
}

}  // namespace duroxide
