// A management store that forwards every call to another one: the base of the tests'
// wrappers that count or break a management call, as forwarding_store.hpp for the
// hot path.
#pragma once

#include "duroxide/management_provider.hpp"

namespace duroxide::testing {

class ForwardingManagement : public ManagementProvider {
 public:
  explicit ForwardingManagement(ManagementProvider& inner) : inner_(inner) {}
  InstancePage list_instances(const InstanceFilter& filter, const PageRequest& page) override {
    return inner_.list_instances(filter, page);
  }
  std::uint64_t count_instances(const InstanceFilter& filter) override { return inner_.count_instances(filter); }
  std::map<RuntimeState, std::uint64_t> count_by_status(const InstanceFilter& filter) override {
    return inner_.count_by_status(filter);
  }
  std::optional<InstanceInfo> get_instance_info(const std::string& instance) override {
    return inner_.get_instance_info(instance);
  }
  std::vector<ExecutionInfo> list_executions(const std::string& instance) override {
    return inner_.list_executions(instance);
  }
  std::vector<ExecutionInfo> list_execution_page(const std::string& instance, ExecutionId after,
                                                 std::size_t limit) override {
    return inner_.list_execution_page(instance, after, limit);
  }
  std::optional<ExecutionInfo> get_execution_info(const std::string& instance, ExecutionId execution) override {
    return inner_.get_execution_info(instance, execution);
  }
  History read_execution(const std::string& instance, ExecutionId execution) override {
    return inner_.read_execution(instance, execution);
  }
  History read_events(const std::string& instance, ExecutionId execution, const EventQuery& query) override {
    return inner_.read_events(instance, execution, query);
  }
  SystemMetrics get_system_metrics() override { return inner_.get_system_metrics(); }
  std::vector<OrchestrationStats> get_orchestration_stats(const std::string& name,
                                                          const std::string& tenant) override {
    return inner_.get_orchestration_stats(name, tenant);
  }
  std::vector<ActivityStats> get_activity_stats(const std::string& name, const std::string& tenant) override {
    return inner_.get_activity_stats(name, tenant);
  }
  DurationStats get_execution_durations(const std::string& name, TimestampMs since_ms,
                                        const std::string& tenant) override {
    return inner_.get_execution_durations(name, since_ms, tenant);
  }
  QueueDepths get_queue_depths() override { return inner_.get_queue_depths(); }
  std::vector<SessionInfo> list_sessions(const std::string& after, std::size_t limit) override {
    return inner_.list_sessions(after, limit);
  }
  std::vector<ParkedMessage> list_parked_messages(std::int64_t after_id, std::size_t limit) override {
    return inner_.list_parked_messages(after_id, limit);
  }
  std::uint64_t delete_parked_messages(const std::vector<std::int64_t>& ids) override {
    return inner_.delete_parked_messages(ids);
  }
  ProviderDiagnostics get_provider_diagnostics() override { return inner_.get_provider_diagnostics(); }
  std::vector<TimeSeriesPoint> get_time_series(const TimeSeriesQuery& query) override {
    return inner_.get_time_series(query);
  }
  DeleteResult delete_instance(const std::string& instance, bool force) override {
    return inner_.delete_instance(instance, force);
  }
  DeleteResult delete_instances(const BulkDeleteRequest& request) override { return inner_.delete_instances(request); }
  PruneResult prune_executions(const std::string& instance, const PruneOptions& options) override {
    return inner_.prune_executions(instance, options);
  }
  InstanceExport export_instance(const std::string& instance) override { return inner_.export_instance(instance); }
  void import_instance(const InstanceExport& data) override { inner_.import_instance(data); }
  ChangePage changes_since(std::uint64_t cursor, std::size_t limit, const std::string& tenant) override {
    return inner_.changes_since(cursor, limit, tenant);
  }
  std::optional<std::string> get_instance_tenant(const std::string& instance) override {
    return inner_.get_instance_tenant(instance);
  }
  std::optional<CustomStatus> get_custom_status(const std::string& instance,
                                                std::optional<std::uint64_t> since_version) override {
    return inner_.get_custom_status(instance, since_version);
  }
  std::optional<InstanceStats> get_instance_stats(const std::string& instance) override {
    return inner_.get_instance_stats(instance);
  }
  std::optional<PendingSnapshot> get_pending_work(const std::string& instance) override {
    return inner_.get_pending_work(instance);
  }

 protected:
  ManagementProvider& inner_;
};

}  // namespace duroxide::testing
