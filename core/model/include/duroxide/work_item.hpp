// Work items: the messages that travel through the provider's queues.
//
// Contract: every item names the instance it is routed to (`target_instance`).
// ActivityExecute goes to the worker queue; everything else goes to the
// orchestrator queue of its target instance. Completions carry the execution id
// (activities, timers) or the child instance id (sub-orchestrations) so that a
// message meant for an earlier execution is recognised as stale and dropped.
#pragma once

#include <cstdint>
#include <string>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "duroxide/error_details.hpp"
#include "duroxide/event.hpp"

namespace duroxide {

using ExecutionId = std::uint64_t;

namespace work {

struct StartOrchestration {
  std::string instance;
  std::string orchestration;
  std::string version;  // empty: the registry's policy picks
  std::string input;
  std::string parent_instance;  // empty for a root instance
  EventId parent_id = 0;
  // The tenant the instance belongs to (access_policy.hpp): the starting client's
  // caller's, or a sub-orchestration's parent's; empty: no tenant.
  std::string tenant;
  friend bool operator==(const StartOrchestration&, const StartOrchestration&) = default;
};
struct ActivityExecute {
  std::string instance;
  ExecutionId execution_id = 0;
  EventId id = 0;  // the ActivityScheduled event id
  std::string name;
  std::string input;
  std::string tag = {};  // as its ActivityScheduled event's; empty: untagged
  std::string session_id = {};  // as its ActivityScheduled event's; empty: no session
  friend bool operator==(const ActivityExecute&, const ActivityExecute&) = default;
};
struct ActivityCompleted {
  std::string instance;
  ExecutionId execution_id = 0;
  EventId id = 0;
  std::string result;
  friend bool operator==(const ActivityCompleted&, const ActivityCompleted&) = default;
};
struct ActivityFailed {
  std::string instance;
  ExecutionId execution_id = 0;
  EventId id = 0;
  ErrorDetails details;
  friend bool operator==(const ActivityFailed&, const ActivityFailed&) = default;
};
struct TimerFired {
  std::string instance;
  ExecutionId execution_id = 0;
  EventId id = 0;  // the TimerCreated event id
  TimestampMs fire_at_ms = 0;
  friend bool operator==(const TimerFired&, const TimerFired&) = default;
};
struct ExternalRaised {
  std::string instance;
  std::string name;
  std::string data;
  friend bool operator==(const ExternalRaised&, const ExternalRaised&) = default;
};
struct QueueMessage {
  std::string instance;
  std::string queue;
  std::string data;
  friend bool operator==(const QueueMessage&, const QueueMessage&) = default;
};
struct SubOrchestrationCompleted {
  std::string parent_instance;
  EventId parent_id = 0;
  std::string child_instance;
  std::string result;
  friend bool operator==(const SubOrchestrationCompleted&,
                         const SubOrchestrationCompleted&) = default;
};
struct SubOrchestrationFailed {
  std::string parent_instance;
  EventId parent_id = 0;
  std::string child_instance;
  ErrorDetails details;
  friend bool operator==(const SubOrchestrationFailed&, const SubOrchestrationFailed&) = default;
};
struct CancelInstance {
  std::string instance;
  std::string reason;
  // Set when a parent cancels its child: the parent and the event that scheduled the
  // child. An instance that is not that child (an id the parent named that another
  // instance holds) drops it. Empty and 0: a client's cancel, for whatever holds the id.
  std::string parent_instance;
  EventId parent_id = 0;
  friend bool operator==(const CancelInstance&, const CancelInstance&) = default;
};
// An external event or queue message that continue-as-new hands to the next execution.
struct CarriedMessage {
  enum class Kind { External, Queue };
  Kind kind = Kind::External;
  std::string name;  // event name or queue name
  std::string data;
  friend bool operator==(const CarriedMessage&, const CarriedMessage&) = default;
};
// Starts the next execution of `instance` after OrchestrationContinuedAsNew. It keeps
// the parent link, carries the messages the finished execution had not consumed (in
// arrival order) and its custom status. Past the carry limits nothing is carried and
// `uncarried` counts the messages: the next execution fails naming them.
struct ContinueAsNew {
  std::string instance;
  std::string orchestration;
  std::string version;
  std::string input;
  std::string parent_instance = {};  // empty for a root instance
  EventId parent_id = 0;
  std::vector<CarriedMessage> carried = {};
  std::uint64_t uncarried = 0;
  std::optional<std::string> custom_status = std::nullopt;
  KvMap kv = {};  // the key-value store the execution ended with
  friend bool operator==(const ContinueAsNew&, const ContinueAsNew&) = default;
};

}  // namespace work

enum class WorkItemKind {
  StartOrchestration,
  ActivityExecute,
  ActivityCompleted,
  ActivityFailed,
  TimerFired,
  ExternalRaised,
  QueueMessage,
  SubOrchestrationCompleted,
  SubOrchestrationFailed,
  CancelInstance,
  ContinueAsNew,
};

using WorkItem =
    std::variant<work::StartOrchestration, work::ActivityExecute, work::ActivityCompleted,
                 work::ActivityFailed, work::TimerFired, work::ExternalRaised, work::QueueMessage,
                 work::SubOrchestrationCompleted, work::SubOrchestrationFailed,
                 work::CancelInstance, work::ContinueAsNew>;
static_assert(std::variant_size_v<WorkItem> == 11);

inline WorkItemKind kind_of(const WorkItem& item) {
  return static_cast<WorkItemKind>(item.index());
}
std::string_view to_string(WorkItemKind kind);
bool parse_work_item_kind(std::string_view text, WorkItemKind& out);

// The instance whose queue receives the item (the parent for sub-orchestration results).
const std::string& target_instance(const WorkItem& item);

// The history event that records a carried message's delivery (an ExternalEvent or a
// QueueEventDelivered), as the next execution's first events after OrchestrationStarted.
EventData carried_event(const work::CarriedMessage& message);

// An orchestrator-queue item and when it becomes visible (0: at once).
struct OrchestratorItem {
  WorkItem item;
  TimestampMs visible_at_ms = 0;
  friend bool operator==(const OrchestratorItem&, const OrchestratorItem&) = default;
};

// A worker-queue item to remove because its activity was cancelled.
struct CancelledActivity {
  std::string instance;
  ExecutionId execution_id = 0;
  EventId activity_id = 0;
  friend bool operator==(const CancelledActivity&, const CancelledActivity&) = default;
};

}  // namespace duroxide
