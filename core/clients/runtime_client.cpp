#include "duroxide/runtime_client.hpp"

#include <algorithm>
#include <set>

#include "bulk_walk.hpp"
#include "duroxide/registry.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/text.hpp"

namespace duroxide {

namespace {

ClientError invalid(const std::string& message) {
  return ClientError(ClientError::Kind::InvalidInput, message);
}

}  // namespace

std::string_view to_string(AccessOperation operation) {
  switch (operation) {
    case AccessOperation::Start: return "start";
    case AccessOperation::RaiseEvent: return "raise_event";
    case AccessOperation::EnqueueEvent: return "enqueue_event";
    case AccessOperation::Cancel: return "cancel";
    case AccessOperation::ReadStatus: return "read_status";
    case AccessOperation::List: return "list";
    case AccessOperation::ReadDetails: return "read_details";
    case AccessOperation::ReadHistory: return "read_history";
    case AccessOperation::Stats: return "stats";
    case AccessOperation::Delete: return "delete";
    case AccessOperation::Prune: return "prune";
    case AccessOperation::Purge: return "purge";
    case AccessOperation::Export: return "export";
    case AccessOperation::Import: return "import";
  }
  return "unknown";
}

bool AccessCheck::is_mutating(AccessOperation operation) {
  switch (operation) {
    case AccessOperation::Start:
    case AccessOperation::RaiseEvent:
    case AccessOperation::EnqueueEvent:
    case AccessOperation::Cancel:
    case AccessOperation::Delete:
    case AccessOperation::Prune:
    case AccessOperation::Purge:
    case AccessOperation::Import:
      return true;
    default:
      return false;
  }
}

void AccessCheck::require_switches(AccessOperation operation) const {
  if (!enabled_) {
    throw ClientError(ClientError::Kind::Disabled,
                      "the management surface is disabled: " + std::string(to_string(operation)) + " refused");
  }
  if (read_only_ && is_mutating(operation)) {
    throw ClientError(ClientError::Kind::ReadOnly,
                      "read-only mode: " + std::string(to_string(operation)) + " is disabled");
  }
}

bool parse_access_operation(std::string_view text, AccessOperation& out) {
  for (int i = 0; i <= static_cast<int>(AccessOperation::Import); ++i) {
    const auto operation = static_cast<AccessOperation>(i);
    if (text == to_string(operation)) {
      out = operation;
      return true;
    }
  }
  return false;
}

bool Caller::has_role(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

namespace {

// The identifier rules (RuntimeClient::check_identifier) as a message, an empty value
// allowed; empty when met. The first rule broken is named, in this order: size, UTF-8,
// control characters.
std::string identifier_problem(const std::string& value, const std::string& what) {
  std::string problem = text_problem(value, limits::kMaxIdentifierBytes, what, false);
  if (!problem.empty()) return problem;
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7F) return what + " must not contain control characters";
  }
  return {};
}

}  // namespace

std::string caller_problem(const Caller& caller) {
  std::string problem = identifier_problem(caller.principal, "the caller's principal");
  if (problem.empty()) problem = identifier_problem(caller.tenant, "the caller's tenant");
  if (!problem.empty()) return problem;
  if (caller.roles.size() > kMaxCallerRoles) {
    return "the caller has " + std::to_string(caller.roles.size()) + " roles, over the limit of " +
           std::to_string(kMaxCallerRoles);
  }
  for (const std::string& role : caller.roles) {
    if (role.empty()) return "a caller's role must not be empty";
    problem = identifier_problem(role, "a caller's role");
    if (!problem.empty()) return problem;
  }
  return {};
}

RolePolicy::RolePolicy(std::map<std::string, std::vector<AccessOperation>> grants) : grants_(std::move(grants)) {}

RolePolicy RolePolicy::standard() {
  using Op = AccessOperation;
  std::vector<Op> reader{Op::ReadStatus, Op::List, Op::ReadDetails, Op::ReadHistory, Op::Stats, Op::Export};
  std::vector<Op> operator_ = reader;
  operator_.insert(operator_.end(), {Op::Start, Op::RaiseEvent, Op::EnqueueEvent, Op::Cancel});
  std::vector<Op> admin = operator_;
  admin.insert(admin.end(), {Op::Delete, Op::Prune, Op::Purge, Op::Import});
  return RolePolicy({{"reader", reader}, {"operator", operator_}, {"admin", admin}});
}

bool RolePolicy::allows(const AccessRequest& request) const {
  if (!request.caller) return false;
  for (const std::string& role : request.caller->roles) {
    auto grant = grants_.find(role);
    if (grant == grants_.end()) continue;
    if (std::find(grant->second.begin(), grant->second.end(), request.operation) != grant->second.end()) {
      return true;
    }
  }
  return false;
}

AccessCheck::AccessCheck(const AccessPolicy* policy, ManagementProvider& management, Caller caller, bool read_only,
                         bool enabled)
    : policy_(policy), management_(management), caller_(std::move(caller)), read_only_(read_only), enabled_(enabled) {
  const std::string problem = caller_problem(caller_);
  if (!problem.empty()) throw ClientError(ClientError::Kind::InvalidInput, problem);
}

void AccessCheck::deny(AccessOperation operation, const std::string& instance, const std::string& orchestration) const {
  throw ClientError(ClientError::Kind::AccessDenied,
                    "access denied: " + std::string(to_string(operation)) +
                        (instance.empty() ? std::string() : " on instance " + instance) +
                        (orchestration.empty() ? std::string() : " (" + orchestration + ")") +
                        (caller_.principal.empty() ? std::string() : " for " + caller_.principal));
}

bool AccessCheck::reaches(const std::string& instance) const {
  if (caller_.tenant.empty()) return true;
  try {
    const std::optional<std::string> tenant = management_.get_instance_tenant(instance);
    return !tenant || *tenant == caller_.tenant;
  } catch (const ProviderError& error) {
    throw ClientError(ClientError::Kind::Provider, error.what());
  }
}

std::optional<InstanceInfo> AccessCheck::read_info(const std::string& instance) const {
  try {
    return management_.get_instance_info(instance);
  } catch (const ProviderError& error) {
    throw ClientError(ClientError::Kind::Provider, error.what());
  }
}

// `info` is the instance's row as read by the caller of this (nullopt: no row yet, so a
// queued start's tenant is what the tenant rule and the policy see).
void AccessCheck::check_instance(AccessOperation operation, const std::string& instance,
                                 const std::optional<InstanceInfo>& info, std::string orchestration) const {
  std::string tenant = caller_.tenant;
  if (info) {
    tenant = info->tenant;
    if (orchestration.empty()) orchestration = info->orchestration_name;
    if (!caller_.tenant.empty() && tenant != caller_.tenant) {
      throw ClientError(ClientError::Kind::NotFound, "instance " + instance + " does not exist");
    }
  } else if (!caller_.tenant.empty()) {
    if (!reaches(instance)) throw ClientError(ClientError::Kind::NotFound, "instance " + instance + " does not exist");
  }
  if (policy_ && !policy_->allows({operation, instance, orchestration, tenant, &caller_})) {
    deny(operation, instance, orchestration);
  }
}

void AccessCheck::require(AccessOperation operation, const std::string& instance,
                          std::string orchestration) const {
  require_switches(operation);
  // A start or import creates the instance: the store answers AlreadyExists for a taken id.
  const bool creates = operation == AccessOperation::Start || operation == AccessOperation::Import;
  if (instance.empty() || creates) {
    if (policy_ && !policy_->allows({operation, instance, orchestration, caller_.tenant, &caller_})) {
      deny(operation, instance, orchestration);
    }
    return;
  }
  if (!policy_ && caller_.tenant.empty()) return;  // nothing to decide: no read
  check_instance(operation, instance, read_info(instance), std::move(orchestration));
}

void AccessCheck::require(AccessOperation operation, const InstanceInfo& info) const {
  require_switches(operation);
  check_instance(operation, info.instance, info, {});
}

std::optional<InstanceInfo> AccessCheck::require_instance(AccessOperation operation,
                                                          const std::string& instance) const {
  require_switches(operation);
  std::optional<InstanceInfo> info = read_info(instance);
  check_instance(operation, instance, info, {});
  return info;
}

void AccessCheck::require_store_wide(AccessOperation operation) const {
  require_switches(operation);
  if (!caller_.tenant.empty()) {
    throw ClientError(ClientError::Kind::AccessDenied,
                      "access denied: " + std::string(to_string(operation)) +
                          " reads the whole store, which a caller bound to tenant " + caller_.tenant +
                          " may not see");
  }
  require(operation);
}

bool AccessCheck::allows(AccessOperation operation, const InstanceInfo& info) const {
  if (!caller_.tenant.empty() && info.tenant != caller_.tenant) return false;
  return !policy_ || policy_->allows({operation, info.instance, info.orchestration_name, info.tenant, &caller_});
}

bool AccessCheck::allows(AccessOperation operation, const std::string& orchestration) const {
  return !policy_ || policy_->allows({operation, {}, orchestration, caller_.tenant, &caller_});
}

InstanceFilter AccessCheck::scoped(InstanceFilter filter) const {
  if (caller_.tenant.empty()) return filter;
  if (!filter.tenant.empty() && filter.tenant != caller_.tenant) {
    throw ClientError(ClientError::Kind::AccessDenied,
                      "access denied: the filter names tenant " + filter.tenant + ", but the caller is bound to " +
                          caller_.tenant);
  }
  filter.tenant = caller_.tenant;
  return filter;
}

RuntimeClient::RuntimeClient(Provider& provider, ManagementProvider& management,
                             ClientOptions options)
    : provider_(provider),
      management_(management),
      options_(options),
      access_(options.access_policy, management, options.caller, options.read_only) {
  // A wait sleeps min(poll interval, time left) between checks: below 1 ms a paced wait
  // would not move virtual time toward its deadline.
  if (options_.poll_interval_ms < 1) {
    throw invalid("ClientOptions::poll_interval_ms must be at least 1 ms, got " + std::to_string(options_.poll_interval_ms));
  }
}

void RuntimeClient::check_identifier(const std::string& value, const char* what) {
  if (value.empty()) throw invalid(std::string(what) + " must not be empty");
  const std::string problem = identifier_problem(value, what);
  if (!problem.empty()) throw invalid(problem);
}

void RuntimeClient::check_payload(const std::string& value, const char* what) const {
  const std::string problem = text_problem(value, options_.max_payload_bytes, what, false);
  if (!problem.empty()) throw invalid(problem);
}

template <typename F>
auto RuntimeClient::guarded(F&& call) -> decltype(call()) {
  try {
    return call();
  } catch (const ProviderError& error) {
    throw ClientError(error.kind() == ProviderErrorKind::NotFound ? ClientError::Kind::NotFound
                                                                    : ClientError::Kind::Provider,
                      error.what());
  }
}

// Known from the moment its start is queued: messages sent before its first
// turn are delivered in that turn.
void RuntimeClient::require_exists(const std::string& instance) {
  if (!guarded([&] { return provider_.instance_known(instance); })) {
    throw ClientError(ClientError::Kind::NotFound, "instance " + instance + " does not exist");
  }
}

void RuntimeClient::require_registered(const std::string& orchestration,
                                       const std::string& version) const {
  if (!options_.registry || options_.registry->resolve_for_start(orchestration, version)) return;
  std::string known;
  for (const auto& name : options_.registry->orchestration_names()) {
    known += (known.empty() ? "" : ", ") + name;
  }
  throw ClientError(ClientError::Kind::NotFound,
                    "orchestration " + orchestration + (version.empty() ? "" : " " + version) +
                        " is not registered; registered orchestrations: " +
                        (known.empty() ? "none" : known));
}

void RuntimeClient::start_orchestration(const std::string& instance,
                                        const std::string& orchestration,
                                        const std::string& input, const std::string& version) {
  check_identifier(instance, "the instance id");
  check_identifier(orchestration, "the orchestration name");
  check_payload(input, "the input");
  if (!version.empty() && !SemVer::parse(version)) {
    throw invalid("the version \"" + version + "\" is not MAJOR.MINOR.PATCH");
  }
  access_.require(AccessOperation::Start, instance, orchestration);
  require_registered(orchestration, version);
  try {
    provider_.enqueue_start(work::StartOrchestration{instance, orchestration, version, input, {}, 0, access_.tenant()});
  } catch (const ProviderError& error) {
    if (error.kind() != ProviderErrorKind::Conflict) throw ClientError(ClientError::Kind::Provider, error.what());
    throw ClientError(ClientError::Kind::AlreadyExists, "instance " + instance + " already exists");
  }
}

void RuntimeClient::raise_event(const std::string& instance, const std::string& event,
                                const std::string& data) {
  check_identifier(instance, "the instance id");
  check_identifier(event, "the event name");
  check_payload(data, "the event data");
  access_.require(AccessOperation::RaiseEvent, instance);
  require_exists(instance);
  guarded([&] {
    provider_.enqueue_orchestrator_item(work::ExternalRaised{instance, event, data}, 0);
  });
}

void RuntimeClient::enqueue_event(const std::string& instance, const std::string& queue,
                                  const std::string& data) {
  check_identifier(instance, "the instance id");
  check_identifier(queue, "the queue name");
  check_payload(data, "the message");
  access_.require(AccessOperation::EnqueueEvent, instance);
  require_exists(instance);
  guarded([&] { provider_.enqueue_orchestrator_item(work::QueueMessage{instance, queue, data}, 0); });
}

bool RuntimeClient::cancel_instance(const std::string& instance, const std::string& reason) {
  check_identifier(instance, "the instance id");
  check_payload(reason, "the reason");
  const std::optional<InstanceInfo> info = access_.require_instance(AccessOperation::Cancel, instance);
  if (!info) require_exists(instance);  // a queued start: the cancel ends it in its first turn
  if (info && info->state != RuntimeState::Running) return false;
  guarded([&] { provider_.enqueue_orchestrator_item(work::CancelInstance{instance, reason}, 0); });
  return true;
}

OrchestrationStatus RuntimeClient::get_status(const std::string& instance) {
  check_identifier(instance, "the instance id");
  std::optional<InstanceInfo> info;
  try {
    info = access_.require_instance(AccessOperation::ReadStatus, instance);
  } catch (const ClientError& error) {
    if (error.kind() == ClientError::Kind::NotFound) return OrchestrationStatus::not_found();  // another tenant's
    throw;
  }
  if (!info) return OrchestrationStatus::not_found();
  OrchestrationStatus status;
  status.state = info->state;
  if (info->state == RuntimeState::Completed) status.output = info->output;
  if (info->state == RuntimeState::Failed) status.error = info->error;
  status.custom_status = info->custom_status;
  status.custom_status_version = info->custom_status_version;
  return status;
}

// Running, or its start queued (a cancel or message then arrives in its first turn);
// `info` is its row as read (nullopt: none).
void RuntimeClient::require_running(const std::string& instance, const std::optional<InstanceInfo>& info) {
  if (!info) return require_exists(instance);
  if (info->state != RuntimeState::Running) {
    throw ClientError(ClientError::Kind::NotFound, "instance " + instance + " has already finished (" +
                                                       std::string(to_string(info->state)) + ")");
  }
}

// Checks each instance (access; running or its start queued) and takes `message_for(id)`
// to it; the messages of the call go out together (send_batched), so a page costs a few
// transactions, not one per instance, and a listed instance is not read again.
template <typename Action>
BulkResult RuntimeClient::for_each_running(const char* operation, AccessOperation access,
                                           const BulkRequest& request, Action message_for) {
  if (request.instances.empty()) access_.require(AccessOperation::List, {}, request.filter.orchestration_name);
  BulkRequest scoped = request;
  scoped.filter = access_.scoped(request.filter);
  std::vector<std::pair<std::string, WorkItem>> messages;
  BulkResult result = bulk_walk::run(
      operation, scoped, {RuntimeState::Running},
      [&](const InstanceFilter& filter, const PageRequest& listing) {
        return guarded([&] { return management_.list_instances(filter, listing); });
      },
      // An instance the policy hides is not touched, nor named in the results.
      [&](const InstanceInfo& info) { return access_.allows(AccessOperation::List, info); },
      // `listed`: the filtered walk listed it as running; explicit ids are read and checked here.
      [&](const std::string& id, const InstanceInfo* listed) {
        if (listed) {
          access_.require(access, *listed);
        } else {
          require_running(id, access_.require_instance(access, id));
        }
        WorkItem message = message_for(id);
        if (!request.dry_run) messages.emplace_back(id, std::move(message));
      });
  send_batched(messages, result);
  return result;
}

void RuntimeClient::send_batched(const std::vector<std::pair<std::string, WorkItem>>& messages, BulkResult& result) {
  // A store that may fail part way through a batch gets one item at a time, so each failure
  // names the one item it did not send.
  const std::size_t batch_size = provider_.enqueues_all_or_none() ? kMaxBatchItems : 1;
  for (std::size_t first = 0; first < messages.size(); first += batch_size) {
    const std::size_t end = std::min(messages.size(), first + batch_size);
    std::vector<WorkItem> batch;
    for (std::size_t i = first; i < end; ++i) batch.push_back(messages[i].second);
    try {
      guarded([&] { provider_.enqueue_orchestrator_items(batch); });
    } catch (const ClientError& error) {
      std::set<std::string> refused;
      for (std::size_t i = first; i < end; ++i) refused.insert(messages[i].first);
      for (BulkItemResult& item : result.items) {
        if (!item.ok || refused.count(item.instance) == 0) continue;
        item.ok = false;
        item.error = error.what();
        --result.succeeded;
        ++result.failed;
      }
    }
  }
}

BulkResult RuntimeClient::cancel_instances(const BulkRequest& request, const std::string& reason) {
  access_.require_switches(AccessOperation::Cancel);
  check_payload(reason, "the reason");
  // A queued start has no row yet: its cancel ends it in its first turn.
  return for_each_running("cancel", AccessOperation::Cancel, request,
                          [&](const std::string& id) -> WorkItem { return work::CancelInstance{id, reason}; });
}

BulkResult RuntimeClient::raise_event_bulk(const BulkRequest& request, const std::string& event,
                                           const std::string& data) {
  access_.require_switches(AccessOperation::RaiseEvent);
  check_identifier(event, "the event name");
  check_payload(data, "the event data");
  return for_each_running("raise_event", AccessOperation::RaiseEvent, request,
                          [&](const std::string& id) -> WorkItem { return work::ExternalRaised{id, event, data}; });
}

BulkResult RuntimeClient::enqueue_event_bulk(const BulkRequest& request, const std::string& queue,
                                             const std::string& data) {
  access_.require_switches(AccessOperation::EnqueueEvent);
  check_identifier(queue, "the queue name");
  check_payload(data, "the message");
  return for_each_running("enqueue_event", AccessOperation::EnqueueEvent, request,
                          [&](const std::string& id) -> WorkItem { return work::QueueMessage{id, queue, data}; });
}

namespace {

// When a wait of `timeout_ms` from now ends: a negative timeout is none, and one past the
// clock's range (a wait "for ever") ends at its end instead of wrapping into the past.
TimestampMs deadline_after(Pacer& pacer, std::int64_t timeout_ms) {
  return saturating_add(pacer.now_ms(), std::max<std::int64_t>(timeout_ms, 0));
}

}  // namespace

std::vector<std::pair<std::string, OrchestrationStatus>> RuntimeClient::wait_for_instances(
    const std::vector<std::string>& instances, std::int64_t timeout_ms, Pacer& pacer) {
  if (instances.size() > 1000) throw invalid("wait for at most 1000 instances at once");
  for (const auto& id : instances) check_identifier(id, "an instance id");
  const TimestampMs deadline = deadline_after(pacer, timeout_ms);
  for (;;) {
    std::vector<std::pair<std::string, OrchestrationStatus>> statuses;
    bool all_done = true;
    for (const auto& id : instances) {
      statuses.emplace_back(id, get_status(id));
      all_done = all_done && statuses.back().second.is_terminal();
    }
    TimestampMs now = pacer.now_ms();
    if (all_done || now >= deadline) return statuses;
    pacer.wait(std::min(options_.poll_interval_ms, deadline - now));
  }
}

BulkResult RuntimeClient::wait_for_instances_bulk(const BulkRequest& request, std::int64_t timeout_ms,
                                                  Pacer& pacer) {
  const TimestampMs deadline = deadline_after(pacer, timeout_ms);
  if (request.instances.empty()) access_.require(AccessOperation::List, {}, request.filter.orchestration_name);
  const std::vector<RuntimeState> states = request.filter.states.empty()
      ? std::vector<RuntimeState>{RuntimeState::Running, RuntimeState::Completed, RuntimeState::Failed}
      : request.filter.states;
  BulkRequest scoped = request;
  scoped.filter = access_.scoped(request.filter);
  // The kinds thrown below are not reported: a bulk item carries the message only.
  return bulk_walk::run(
      "wait", scoped, states,
      [&](const InstanceFilter& filter, const PageRequest& listing) {
        return guarded([&] { return management_.list_instances(filter, listing); });
      },
      [&](const InstanceInfo& info) { return access_.allows(AccessOperation::List, info); },
      [&](const std::string& id, const InstanceInfo* listed) {
        if (listed) {
          access_.require(AccessOperation::ReadStatus, *listed);
        } else {
          access_.require(AccessOperation::ReadStatus, id);
        }
        // A named id no one started fails at once, not at the deadline it would wait out.
        if (!listed) require_exists(id);
        if (request.dry_run) return;
        const OrchestrationStatus status = wait_for_orchestration(id, deadline - pacer.now_ms(), pacer);
        if (status.state == RuntimeState::NotFound) {
          throw ClientError(ClientError::Kind::NotFound, "instance " + id + " does not exist");
        }
        if (!status.is_terminal()) {
          throw ClientError(ClientError::Kind::InvalidInput,
                            "instance " + id + " still running after " + std::to_string(timeout_ms) + " ms");
        }
      });
}

OrchestrationStatus RuntimeClient::wait_for_orchestration(const std::string& instance,
                                                          std::int64_t timeout_ms, Pacer& pacer) {
  const TimestampMs deadline = deadline_after(pacer, timeout_ms);
  for (;;) {
    OrchestrationStatus status = get_status(instance);
    TimestampMs now = pacer.now_ms();
    if (status.is_terminal() || now >= deadline) return status;
    pacer.wait(std::min(options_.poll_interval_ms, deadline - now));
  }
}

std::optional<CustomStatus> RuntimeClient::wait_for_status_change(const std::string& instance,
                                                                  std::uint64_t since_version,
                                                                  std::int64_t timeout_ms,
                                                                  Pacer& pacer) {
  check_identifier(instance, "the instance id");
  access_.require(AccessOperation::ReadStatus, instance);
  const TimestampMs deadline = deadline_after(pacer, timeout_ms);
  for (;;) {
    auto changed = guarded([&] { return management_.get_custom_status(instance, since_version); });
    if (!changed) {
      // An instance that ended will not change its status again: the wait ends with it.
      const OrchestrationStatus status = get_status(instance);
      if (status.is_terminal()) return CustomStatus{status.custom_status, status.custom_status_version};
    }
    TimestampMs now = pacer.now_ms();
    if (changed || now >= deadline) return changed;
    pacer.wait(std::min(options_.poll_interval_ms, deadline - now));
  }
}

namespace {

void check_kv_key(const std::string& key) {
  if (key.empty() || key.size() > limits::kMaxKvKeyBytes) {
    throw ClientError(ClientError::Kind::InvalidInput,
                      "the key must be 1 to " + std::to_string(limits::kMaxKvKeyBytes) +
                          " bytes, got " + std::to_string(key.size()));
  }
  if (!valid_utf8(key)) throw ClientError(ClientError::Kind::InvalidInput, "the key is not valid UTF-8");
}

}  // namespace

std::optional<std::string> RuntimeClient::get_value(const std::string& instance,
                                                    const std::string& key) {
  check_identifier(instance, "the instance id");
  check_kv_key(key);
  access_.require(AccessOperation::ReadStatus, instance);
  return guarded([&] { return provider_.get_kv_value(instance, key); });
}

std::map<std::string, std::string> RuntimeClient::get_all_values(const std::string& instance) {
  check_identifier(instance, "the instance id");
  access_.require(AccessOperation::ReadStatus, instance);
  KvMap entries = guarded([&] { return provider_.get_kv_all_values(instance); });
  std::map<std::string, std::string> values;
  for (auto& [key, entry] : entries) values.emplace(key, std::move(entry.value));
  return values;
}

std::optional<std::string> RuntimeClient::wait_for_value(const std::string& instance,
                                                         const std::string& key,
                                                         std::int64_t timeout_ms, Pacer& pacer) {
  const TimestampMs deadline = deadline_after(pacer, timeout_ms);
  for (;;) {
    std::optional<std::string> value = get_value(instance, key);
    TimestampMs now = pacer.now_ms();
    if (value || now >= deadline) return value;
    pacer.wait(std::min(options_.poll_interval_ms, deadline - now));
  }
}

}  // namespace duroxide
