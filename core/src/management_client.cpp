#include "duroxide/management_client.hpp"

#include <algorithm>

namespace duroxide {

namespace {

OrchestrationStatus status_of(const InstanceInfo& info) {
  OrchestrationStatus status;
  status.state = info.state;
  if (info.state == RuntimeState::Completed) status.output = info.output;
  if (info.state == RuntimeState::Failed) status.error = info.error;
  status.custom_status = info.custom_status;
  status.custom_status_version = info.custom_status_version;
  return status;
}

}  // namespace

ManagementClient::ManagementClient(ManagementProvider& management) : management_(management) {}

template <typename F>
auto ManagementClient::guarded(F&& call) -> decltype(call()) {
  try {
    return call();
  } catch (const ProviderError& error) {
    throw ClientError(error.kind() == ProviderErrorKind::NotFound ? ClientError::Kind::NotFound
                      : error.kind() == ProviderErrorKind::InvalidInput
                          ? ClientError::Kind::InvalidInput
                          : ClientError::Kind::Provider,
                      error.what());
  }
}

InstanceSummary ManagementClient::summarize(const InstanceInfo& info) {
  InstanceSummary summary{info, {}};
  if (info.state == RuntimeState::Completed) summary.preview = info.output;
  if (info.state == RuntimeState::Failed && info.error) {
    summary.preview = info.error->display_message();
  }
  if (summary.preview.size() > kPreviewBytes) {
    // Cut on a UTF-8 boundary so the preview stays valid text.
    std::size_t cut = kPreviewBytes;
    while (cut > 0 && (static_cast<unsigned char>(summary.preview[cut]) & 0xC0) == 0x80) --cut;
    summary.preview.resize(cut);
    summary.preview += "...";
  }
  return summary;
}

SummaryPage ManagementClient::list_instances(const InstanceFilter& filter,
                                             const PageRequest& page) {
  InstancePage raw = guarded([&] { return management_.list_instances(filter, page); });
  SummaryPage out;
  out.next_cursor = raw.next_cursor;
  for (const auto& info : raw.instances) out.instances.push_back(summarize(info));
  return out;
}

std::uint64_t ManagementClient::count_instances(const InstanceFilter& filter) {
  return guarded([&] { return management_.count_instances(filter); });
}

std::map<RuntimeState, std::uint64_t> ManagementClient::count_by_status(
    const InstanceFilter& filter) {
  return guarded([&] { return management_.count_by_status(filter); });
}

std::vector<InstanceSummary> ManagementClient::find_child_instances(const std::string& instance) {
  RuntimeClient::check_identifier(instance, "the instance id");
  InstanceFilter children;
  children.parent_instance = instance;
  std::vector<InstanceSummary> out;
  PageRequest page{{}, 1000};
  do {
    SummaryPage batch = list_instances(children, page);
    out.insert(out.end(), batch.instances.begin(), batch.instances.end());
    page.cursor = batch.next_cursor;
  } while (!page.cursor.empty() && out.size() < kMaxTreeNodes);
  // In the order the parent scheduled them (its scheduling event ids), not newest first.
  std::stable_sort(out.begin(), out.end(), [](const InstanceSummary& a, const InstanceSummary& b) {
    return a.info.parent_id < b.info.parent_id;
  });
  return out;
}

InstanceTree ManagementClient::get_instance_tree(const std::string& instance) {
  RuntimeClient::check_identifier(instance, "the instance id");
  auto info = guarded([&] { return management_.get_instance_info(instance); });
  if (!info) throw ClientError(ClientError::Kind::NotFound, "instance " + instance + " does not exist");
  InstanceTree tree{summarize(*info), {}};
  std::size_t nodes = 1;
  // Iterative depth-first walk with an explicit bound: a tree is never unbounded.
  std::vector<InstanceTree*> stack{&tree};
  while (!stack.empty()) {
    InstanceTree* node = stack.back();
    stack.pop_back();
    for (auto& child : find_child_instances(node->root.info.instance)) {
      if (++nodes > kMaxTreeNodes) {
        throw ClientError(ClientError::Kind::InvalidInput,
                          "instance " + instance + " has more than " +
                              std::to_string(kMaxTreeNodes) + " descendants");
      }
      node->children.push_back(InstanceTree{std::move(child), {}});
    }
    for (auto& child : node->children) stack.push_back(&child);
  }
  return tree;
}

InstanceDetails ManagementClient::get_instance_details(const std::string& instance) {
  RuntimeClient::check_identifier(instance, "the instance id");
  auto info = guarded([&] { return management_.get_instance_info(instance); });
  if (!info) throw ClientError(ClientError::Kind::NotFound, "instance " + instance + " does not exist");
  InstanceDetails details{summarize(*info), list_executions(instance), {}};
  if (info->state == RuntimeState::Running) {
    History history =
        guarded([&] { return management_.read_execution(instance, info->current_execution_id); });
    details.pending = fold_history(history, history.size()).pending;
  }
  return details;
}

std::vector<ExecutionInfo> ManagementClient::list_executions(const std::string& instance) {
  RuntimeClient::check_identifier(instance, "the instance id");
  return guarded([&] { return management_.list_executions(instance); });
}

std::optional<ExecutionInfo> ManagementClient::get_execution_info(const std::string& instance,
                                                                  ExecutionId execution) {
  RuntimeClient::check_identifier(instance, "the instance id");
  return guarded([&] { return management_.get_execution_info(instance, execution); });
}

History ManagementClient::read_execution(const std::string& instance, ExecutionId execution,
                                         const EventQuery& query) {
  RuntimeClient::check_identifier(instance, "the instance id");
  if (query.to_event_id != 0 && query.to_event_id < query.from_event_id) {
    throw ClientError(ClientError::Kind::InvalidInput,
                      "the event range ends (" + std::to_string(query.to_event_id) +
                          ") before it starts (" + std::to_string(query.from_event_id) + ")");
  }
  History history = guarded([&] { return management_.read_execution(instance, execution); });
  History out;
  for (auto& event : history) {
    bool kind_ok = query.kinds.empty() ||
                   std::find(query.kinds.begin(), query.kinds.end(), event.kind()) != query.kinds.end();
    bool range_ok = event.event_id >= query.from_event_id &&
                    (query.to_event_id == 0 || event.event_id <= query.to_event_id);
    if (kind_ok && range_ok) out.push_back(std::move(event));
  }
  return out;
}

std::vector<std::pair<std::string, OrchestrationStatus>> ManagementClient::get_bulk_status(
    const std::vector<std::string>& instances) {
  if (instances.size() > kMaxBulkIds) {
    throw ClientError(ClientError::Kind::InvalidInput,
                      "at most " + std::to_string(kMaxBulkIds) + " ids per call, got " +
                          std::to_string(instances.size()));
  }
  for (const auto& id : instances) RuntimeClient::check_identifier(id, "an instance id");
  std::vector<std::pair<std::string, OrchestrationStatus>> out;
  for (const auto& id : instances) {
    auto info = guarded([&] { return management_.get_instance_info(id); });
    out.emplace_back(id, info ? status_of(*info) : OrchestrationStatus::not_found());
  }
  return out;
}

SystemMetrics ManagementClient::get_system_metrics() {
  return guarded([&] { return management_.get_system_metrics(); });
}

QueueDepths ManagementClient::get_queue_depths() {
  return guarded([&] { return management_.get_queue_depths(); });
}

DeleteResult ManagementClient::delete_instance(const std::string& instance, bool force) {
  RuntimeClient::check_identifier(instance, "the instance id");
  return guarded([&] { return management_.delete_instance(instance, force); });
}

DeleteResult ManagementClient::delete_instances(const BulkDeleteRequest& request) {
  for (const auto& id : request.instances) RuntimeClient::check_identifier(id, "an instance id");
  return guarded([&] { return management_.delete_instances(request); });
}

std::uint64_t ManagementClient::prune_executions(const std::string& instance,
                                                 std::size_t keep_last) {
  RuntimeClient::check_identifier(instance, "the instance id");
  return guarded([&] { return management_.prune_executions(instance, keep_last); });
}

DeleteResult ManagementClient::purge_completed(TimestampMs older_than_ms) {
  if (older_than_ms <= 0) {
    throw ClientError(ClientError::Kind::InvalidInput, "purge needs a positive cut-off time");
  }
  BulkDeleteRequest request;
  request.completed_before_ms = older_than_ms;
  request.limit = 1000;
  DeleteResult total;
  // Batches keep each transaction short; a batch that deletes nothing ends the purge.
  for (;;) {
    DeleteResult batch = delete_instances(request);
    total.instances += batch.instances;
    total.executions += batch.executions;
    total.events += batch.events;
    total.queue_items += batch.queue_items;
    if (batch.instances == 0) return total;
  }
}

}  // namespace duroxide
