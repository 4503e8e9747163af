// RuntimeClient: the control plane — start, raise, enqueue, cancel, status, wait.
//
// Contract:
// - every input is validated here, before anything is written: ids and names
//   1..256 bytes of valid UTF-8 without control characters, versions
//   MAJOR.MINOR.PATCH, payloads valid UTF-8 within `max_payload_bytes`. A bad
//   input throws ClientError(InvalidInput) naming the argument and writes nothing;
// - the client never sleeps or reads a clock: waiting goes through a Pacer,
//   which sleeps natively (platform/) or steps a driver and moves virtual time
//   (wasm, simulation, tests);
// - provider failures surface as ClientError(Provider) with the provider's message.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "duroxide/access_policy.hpp"
#include "duroxide/bulk.hpp"
#include "duroxide/environment.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/management_provider.hpp"
#include "duroxide/provider.hpp"
#include "duroxide/status.hpp"

namespace duroxide {

class Registry;

class ClientError : public std::runtime_error {
 public:
  // ReadOnly: a mutating call on a read-only client; Disabled: the surface is switched off.
  // Conflict: the instance's state refuses the call (a running instance deleted without
  // force, a sub-orchestration deleted alone); retrying the same call does not help.
  enum class Kind { InvalidInput, NotFound, AlreadyExists, Provider, AccessDenied, ReadOnly, Disabled, Conflict };
  ClientError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};


struct ClientOptions {
  std::size_t max_payload_bytes = limits::kMaxPayloadBytes;
  std::int64_t poll_interval_ms = 50;  // between status checks while waiting; at least 1 (else InvalidInput)
  const AccessPolicy* access_policy = nullptr;  // none: everything is allowed
  // Who is asking (access_policy.hpp): the policy's input, and with a tenant the only
  // tenant this client sees; the instances it starts belong to that tenant.
  Caller caller;
  // Refuse every call that changes state (start, raise, enqueue, cancel, bulk
  // control) with ClientError(ReadOnly): for dashboards pointed at production.
  bool read_only = false;
  // The host's registry, if it has one: a start of a name (and version) it does
  // not register is refused at once with ClientError(NotFound) naming the
  // registered orchestrations. Without it any name is queued (another node may
  // run it; one that no node registers backs off, then fails).
  const Registry* registry = nullptr;
};

// What a ManagementClient may do. `read_only` refuses delete, prune, purge and
// import with ClientError(ReadOnly); `enabled = false` refuses every call with
// ClientError(Disabled), for hosts that expose the control plane only.
struct ManagementOptions {
  const AccessPolicy* access_policy = nullptr;
  Caller caller;  // as ClientOptions::caller
  bool read_only = false;
  bool enabled = true;
};

// Applies a caller's tenant and consults the AccessPolicy (if any) for one operation;
// shared by both clients. Instances of another tenant are NotFound to a tenant-bound
// caller, whatever the policy says (access_policy.hpp).
class AccessCheck {
 public:
  AccessCheck(const AccessPolicy* policy, ManagementProvider& management, Caller caller = {},
              bool read_only = false, bool enabled = true);
  // Start, RaiseEvent, EnqueueEvent, Cancel, Delete, Prune, Purge and Import.
  static bool is_mutating(AccessOperation operation);
  // Only the switches (disabled surface, read-only mode), not the policy: for
  // bulk operations, refused as a whole before any instance is touched.
  void require_switches(AccessOperation operation) const;
  // Switches, tenant and policy for one operation. With an instance: NotFound when it
  // belongs to another tenant than a bound caller's (not for Start and Import: the store
  // answers AlreadyExists for a taken id); its orchestration name is looked up when empty.
  void require(AccessOperation operation, const std::string& instance = {},
               std::string orchestration = {}) const;
  // As require for one instance, returning its row (nullopt: none yet, or its start is
  // only queued), read once for the check and the caller alike.
  std::optional<InstanceInfo> require_instance(AccessOperation operation, const std::string& instance) const;
  // As require, for a row the caller has already read.
  void require(AccessOperation operation, const InstanceInfo& info) const;
  // A store-wide view (system metrics, queue depths, diagnostics): AccessDenied to a
  // tenant-bound caller, then as require.
  void require_store_wide(AccessOperation operation) const;
  // Whether a tenant-bound caller may see the instance at all (true when unbound, and
  // for an instance that does not exist: the call then reports that itself).
  bool reaches(const std::string& instance) const;
  // Whether listings and counts must ask the policy about each instance.
  bool filters_each() const { return policy_ != nullptr && policy_->decides_per_instance(); }
  // The policy's answer alone (true without a policy) for an instance the store returned,
  // together with the tenant rule: for filtering what a call returns.
  bool allows(AccessOperation operation, const InstanceInfo& info) const;
  bool allows(AccessOperation operation, const std::string& orchestration) const;  // store-wide
  // `filter` narrowed to a bound caller's tenant; AccessDenied when it names another.
  InstanceFilter scoped(InstanceFilter filter) const;
  const Caller& caller() const { return caller_; }
  const std::string& tenant() const { return caller_.tenant; }

 private:
  void deny(AccessOperation operation, const std::string& instance, const std::string& orchestration) const;
  std::optional<InstanceInfo> read_info(const std::string& instance) const;
  void check_instance(AccessOperation operation, const std::string& instance,
                      const std::optional<InstanceInfo>& info, std::string orchestration) const;
  const AccessPolicy* policy_;
  ManagementProvider& management_;
  Caller caller_;
  bool read_only_;
  bool enabled_;
};

class RuntimeClient {
 public:
  RuntimeClient(Provider& provider, ManagementProvider& management, ClientOptions options = {});

  // AlreadyExists if the instance exists or its start is already queued (checked
  // atomically by the store); `version` empty: the registry's policy.
  void start_orchestration(const std::string& instance, const std::string& orchestration,
                           const std::string& input, const std::string& version = {});
  // NotFound if the instance does not exist. An instance exists from the moment
  // its start is queued: events sent before its first turn arrive in that turn.
  void raise_event(const std::string& instance, const std::string& event, const std::string& data);
  void enqueue_event(const std::string& instance, const std::string& queue, const std::string& data);
  // Cancels a running instance and its running children; it ends Failed with
  // "canceled: <reason>". Returns false (and sends nothing) if it had already finished.
  // A cancel before the instance's first turn ends it in that turn without running its code.
  bool cancel_instance(const std::string& instance, const std::string& reason);

  OrchestrationStatus get_status(const std::string& instance);
  // Returns when the instance is Completed or Failed, or with its last status
  // (Running / NotFound) once `timeout_ms` has passed.
  OrchestrationStatus wait_for_orchestration(const std::string& instance, std::int64_t timeout_ms,
                                             Pacer& pacer);
  // The custom status once its version exceeds `since_version`, or once the instance has
  // ended (then as it ended: its version may not exceed `since_version`); nullopt on timeout.
  std::optional<CustomStatus> wait_for_status_change(const std::string& instance,
                                                     std::uint64_t since_version,
                                                     std::int64_t timeout_ms, Pacer& pacer);

  // The instance's key-value store (OrchestrationContext::set_value) as its last
  // committed turn left it; it outlives the instance's end and continue-as-new and
  // goes with the instance's deletion. An unknown instance or key reads as nullopt /
  // empty. InvalidInput for an id or a key out of its limits (a key: 1 to
  // limits::kMaxKvKeyBytes of UTF-8).
  std::optional<std::string> get_value(const std::string& instance, const std::string& key);
  std::map<std::string, std::string> get_all_values(const std::string& instance);
  // The value once key `key` exists; nullopt once `timeout_ms` has passed.
  std::optional<std::string> wait_for_value(const std::string& instance, const std::string& key,
                                            std::int64_t timeout_ms, Pacer& pacer);

  // Bulk control over running instances (bulk.hpp: explicit ids, or a filter walked
  // in batches with a continuation; the filter's states are ignored). An id that is
  // not running, missing or denied is an item error; the others get the cancel, the
  // event or the message. A dry run checks the same and sends nothing.
  BulkResult cancel_instances(const BulkRequest& request, const std::string& reason);
  BulkResult raise_event_bulk(const BulkRequest& request, const std::string& event, const std::string& data);
  BulkResult enqueue_event_bulk(const BulkRequest& request, const std::string& queue, const std::string& data);
  // Waits until every instance is finished or `timeout_ms` passes; statuses in order.
  std::vector<std::pair<std::string, OrchestrationStatus>> wait_for_instances(
      const std::vector<std::string>& instances, std::int64_t timeout_ms, Pacer& pacer);
  // The bulk form (bulk.hpp): waits, within `timeout_ms` for the whole call, until each
  // instance of the request (the ids given, or a batch of the filter's matches in any
  // state unless the filter names states) has finished. An item is ok once finished; it
  // fails when missing, denied, or still running at the deadline ("still running after
  // N ms"), and the next call with the continuation goes on with the next batch. A dry
  // run lists the batch and waits for nothing.
  BulkResult wait_for_instances_bulk(const BulkRequest& request, std::int64_t timeout_ms, Pacer& pacer);

  // Validation helpers, shared with the other clients and hosts.
  static void check_identifier(const std::string& value, const char* what);
  void check_payload(const std::string& value, const char* what) const;

 private:
  void require_exists(const std::string& instance);
  void require_registered(const std::string& orchestration, const std::string& version) const;
  void require_running(const std::string& instance, const std::optional<InstanceInfo>& info);
  template <typename Action>
  BulkResult for_each_running(const char* operation, AccessOperation access, const BulkRequest& request,
                              Action message_for);
  // Sends a bulk call's messages (instance id, message) in transactions of up to
  // kMaxBatchItems; the items of a batch the store refuses fail with its message.
  void send_batched(const std::vector<std::pair<std::string, WorkItem>>& messages, BulkResult& result);
  template <typename F>
  auto guarded(F&& call) -> decltype(call());

  Provider& provider_;
  ManagementProvider& management_;
  ClientOptions options_;
  AccessCheck access_;
};

}  // namespace duroxide
