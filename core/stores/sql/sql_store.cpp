// SqlStore's calls, each forwarded to the store's implementation (sql_store_impl.hpp).
#include "duroxide/sql_store.hpp"

#include "sql_store_impl.hpp"

namespace duroxide {

SqlStore::SqlStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqlStore::~SqlStore() = default;

int SqlStore::schema_version() { return impl_->schema_version(); }
std::vector<std::string> SqlStore::explain_listing(const InstanceFilter& filter, const PageRequest& page,
                                                   ListingQuery query) {
  return impl_->explain_listing(filter, page, query);
}

std::vector<std::string> SqlStore::explain_worker_fetch(const TagFilter& filter) {
  return impl_->explain_worker_fetch(filter);
}

std::optional<OrchestrationItem> SqlStore::fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                                    const CapabilityFilter& filter) {
  return impl_->fetch_orchestration_item(lock_timeout_ms, filter);
}
std::vector<OrchestrationItem> SqlStore::fetch_orchestration_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                                   const CapabilityFilter& filter) {
  return impl_->fetch_orchestration_items(lock_timeout_ms, max_items, filter);
}
void SqlStore::ack_orchestration_item(const std::string& lock_token, const OrchestrationAck& ack) {
  impl_->ack_orchestration_item(lock_token, ack);
}
std::vector<AckOutcome> SqlStore::ack_orchestration_items(const std::vector<OrchestrationAckRequest>& requests) {
  return impl_->ack_orchestration_items(requests);
}
void SqlStore::abandon_orchestration_item(const std::string& lock_token, std::int64_t delay_ms, bool ignore_attempt) {
  impl_->abandon_orchestration_item(lock_token, delay_ms, ignore_attempt);
}
void SqlStore::renew_orchestration_item_lock(const std::string& lock_token, std::int64_t extend_ms) {
  impl_->renew_orchestration_item_lock(lock_token, extend_ms);
}
History SqlStore::read(const std::string& instance) {
  return impl_->read(instance);
}
void SqlStore::enqueue_orchestrator_items(const std::vector<WorkItem>& items) {
  impl_->enqueue_orchestrator_items(items);
}
bool SqlStore::enqueues_all_or_none() const { return true; }
void SqlStore::enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) {
  impl_->enqueue_orchestrator_item(item, delay_ms);
}
void SqlStore::enqueue_start(const work::StartOrchestration& start) {
  impl_->enqueue_start(start);
}
std::optional<std::string> SqlStore::get_kv_value(const std::string& instance, const std::string& key) {
  return impl_->get_kv_value(instance, key);
}
std::optional<std::string> SqlStore::get_kv_value_seen_by(const std::string& reader, const std::string& instance,
                                                          const std::string& key) {
  return impl_->get_kv_value_seen_by(reader, instance, key);
}
KvMap SqlStore::get_kv_all_values(const std::string& instance) {
  return impl_->get_kv_all_values(instance);
}
bool SqlStore::instance_known(const std::string& instance) {
  return impl_->instance_known(instance);
}
std::optional<WorkerItem> SqlStore::fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                                    const SessionFetch* session) {
  return impl_->fetch_work_item(lock_timeout_ms, filter, session);
}
std::vector<WorkerItem> SqlStore::fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                   const TagFilter& filter, const SessionFetch* session) {
  return impl_->fetch_work_items(lock_timeout_ms, max_items, filter, session);
}
std::size_t SqlStore::renew_session_locks(const std::string& owner_id, const std::vector<std::string>& session_ids,
                                          std::int64_t extend_ms) {
  return impl_->renew_session_locks(owner_id, session_ids, extend_ms);
}
std::size_t SqlStore::cleanup_orphaned_sessions() { return impl_->cleanup_orphaned_sessions(); }
void SqlStore::ack_work_item(const std::string& lock_token, const std::optional<WorkItem>& completion) {
  impl_->ack_work_item(lock_token, completion);
}
std::vector<AckOutcome> SqlStore::ack_work_items(const std::vector<WorkAckRequest>& requests) {
  return impl_->ack_work_items(requests);
}
void SqlStore::renew_work_item_lock(const std::string& lock_token, std::int64_t extend_ms) {
  impl_->renew_work_item_lock(lock_token, extend_ms);
}
void SqlStore::abandon_work_item(const std::string& lock_token, std::int64_t delay_ms, bool ignore_attempt) {
  impl_->abandon_work_item(lock_token, delay_ms, ignore_attempt);
}
void SqlStore::add_queue_listener(QueueListener* listener) { impl_->add_queue_listener(listener); }
void SqlStore::remove_queue_listener(QueueListener* listener) { impl_->remove_queue_listener(listener); }
void SqlStore::maintain() { impl_->maintain(); }
std::size_t SqlStore::preferred_batch_size() const { return impl_->preferred_batch_size(); }
InstancePage SqlStore::list_instances(const InstanceFilter& filter, const PageRequest& page) {
  return impl_->list_instances(filter, page);
}
std::uint64_t SqlStore::count_instances(const InstanceFilter& filter) {
  return impl_->count_instances(filter);
}
std::map<RuntimeState, std::uint64_t> SqlStore::count_by_status(const InstanceFilter& filter) {
  return impl_->count_by_status(filter);
}
std::optional<InstanceInfo> SqlStore::get_instance_info(const std::string& instance) {
  return impl_->get_instance_info(instance);
}
std::vector<ExecutionInfo> SqlStore::list_execution_page(const std::string& instance, ExecutionId after,
                                                         std::size_t limit) {
  return impl_->list_execution_page(instance, after, limit);
}
std::vector<ExecutionInfo> SqlStore::list_executions(const std::string& instance) {
  return impl_->list_executions(instance);
}
std::optional<ExecutionInfo> SqlStore::get_execution_info(const std::string& instance, ExecutionId execution) {
  return impl_->get_execution_info(instance, execution);
}
History SqlStore::read_execution(const std::string& instance, ExecutionId execution) {
  return impl_->read_execution(instance, execution);
}
History SqlStore::read_events(const std::string& instance, ExecutionId execution, const EventQuery& query) {
  return impl_->read_events(instance, execution, query);
}
SystemMetrics SqlStore::get_system_metrics() {
  return impl_->get_system_metrics();
}
std::vector<OrchestrationStats> SqlStore::get_orchestration_stats(const std::string& name,
                                                                  const std::string& tenant) {
  return impl_->get_orchestration_stats(name, tenant);
}
DurationStats SqlStore::get_execution_durations(const std::string& name, TimestampMs since_ms,
                                                const std::string& tenant) {
  return impl_->get_execution_durations(name, since_ms, tenant);
}
std::vector<ActivityStats> SqlStore::get_activity_stats(const std::string& name, const std::string& tenant) {
  return impl_->get_activity_stats(name, tenant);
}
ChangePage SqlStore::changes_since(std::uint64_t cursor, std::size_t limit, const std::string& tenant) {
  return impl_->changes_since(cursor, limit, tenant);
}
QueueDepths SqlStore::get_queue_depths() {
  return impl_->get_queue_depths();
}
std::vector<TimeSeriesPoint> SqlStore::get_time_series(const TimeSeriesQuery& query) {
  return impl_->get_time_series(query);
}
ProviderDiagnostics SqlStore::get_provider_diagnostics() {
  return impl_->get_provider_diagnostics();
}
std::vector<SessionInfo> SqlStore::list_sessions(const std::string& after, std::size_t limit) {
  return impl_->list_sessions(after, limit);
}
std::vector<ParkedMessage> SqlStore::list_parked_messages(std::int64_t after_id, std::size_t limit) {
  return impl_->list_parked_messages(after_id, limit);
}
std::uint64_t SqlStore::delete_parked_messages(const std::vector<std::int64_t>& ids) {
  return impl_->delete_parked_messages(ids);
}
DeleteResult SqlStore::delete_instance(const std::string& instance, bool force) {
  return impl_->delete_instance(instance, force);
}
DeleteResult SqlStore::delete_instances(const BulkDeleteRequest& request) {
  return impl_->delete_instances(request);
}
PruneResult SqlStore::prune_executions(const std::string& instance, const PruneOptions& options) {
  return impl_->prune_executions(instance, options);
}
InstanceExport SqlStore::export_instance(const std::string& instance) {
  return impl_->export_instance(instance);
}
void SqlStore::import_instance(const InstanceExport& data) {
  impl_->import_instance(data);
}
std::optional<std::string> SqlStore::get_instance_tenant(const std::string& instance) {
  return impl_->get_instance_tenant(instance);
}
std::optional<InstanceStats> SqlStore::get_instance_stats(const std::string& instance) {
  return impl_->get_instance_stats(instance);
}
std::optional<PendingSnapshot> SqlStore::get_pending_work(const std::string& instance) {
  return impl_->get_pending_work(instance);
}
std::optional<CustomStatus> SqlStore::get_custom_status(const std::string& instance, std::optional<std::uint64_t> since_version) {
  return impl_->get_custom_status(instance, since_version);
}

}  // namespace duroxide
