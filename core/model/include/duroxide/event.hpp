// The history model: an execution's history is an append-only list of events.
//
// Contract:
// - event ids start at 1 and increase by exactly one per event within an execution;
// - the first event is OrchestrationStarted and appears once;
// - completion events (ActivityCompleted/Failed, TimerFired, SubOrchestrationCompleted/
//   Failed) and cancel requests for scheduled work (ActivityCancelRequested,
//   SubOrchestrationCancelRequested, ExternalSubscribedCancelled) name the event that
//   scheduled the work in `source_event_id`; every other event has source_event_id == 0;
// - the key-value store of an execution is its OrchestrationStarted's `kv` (carried by
//   continue-as-new) folded with its KeyValueSet/KeyValueCleared/KeyValuesCleared events;
//   a key's `updated_at_ms` is the timestamp of the event that set it;
// - an execution started by continue-as-new may open with carried messages: the
//   `carried_messages` events right after OrchestrationStarted are ExternalEvent or
//   QueueEventDelivered deliveries, buffered before the orchestration code runs;
// - OrchestrationCompleted, OrchestrationFailed and OrchestrationContinuedAsNew are
//   terminal: nothing follows them.
// - Empty strings mean "absent" for optional text fields (version, parent); the
//   custom status is the one field where "cleared" and "set to empty" differ.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "duroxide/error_details.hpp"

namespace duroxide {

using EventId = std::uint64_t;
using TimestampMs = std::int64_t;  // milliseconds since the Unix epoch, from the injected clock

// One entry of an instance's key-value store: its value and the timestamp of the
// event that last set it (the injected clock's time of that turn).
struct KvEntry {
  std::string value;
  TimestampMs updated_at_ms = 0;
  friend bool operator==(const KvEntry&, const KvEntry&) = default;
};
// Keys in byte order: iteration (get_all_keys, pruning) is the same on every stdlib.
using KvMap = std::map<std::string, KvEntry>;

namespace events {

struct OrchestrationStarted {
  std::string name;
  std::string version;
  std::string input;
  std::string parent_instance;  // empty for a root instance
  EventId parent_id = 0;        // the parent's SubOrchestrationScheduled event id
  // Continue-as-new only. Deliveries carried from the previous execution (the events
  // right after this one); messages that could not be carried (over the carry limits:
  // the execution fails at once, naming them); the custom status it carried.
  std::uint64_t carried_messages = 0;
  std::uint64_t uncarried_messages = 0;
  std::optional<std::string> custom_status = std::nullopt;
  // The key-value store the previous execution ended with (continue-as-new only).
  KvMap kv = {};
  // The build version (MAJOR.MINOR.PATCH) of the runtime that started the execution,
  // which pins it (CapabilityFilter); empty in histories written before versions were
  // pinned, and by hand.
  std::string duroxide_version = {};
  // A value unique to this start (16 hex digits), mixed into new_guid() so that an
  // instance deleted and started again under its id draws other GUIDs. Empty in
  // histories written before it (their GUIDs keep the values they had) and by hand.
  std::string guid_seed = {};
  friend bool operator==(const OrchestrationStarted&, const OrchestrationStarted&) = default;
};
struct OrchestrationCompleted {
  std::string output;
  friend bool operator==(const OrchestrationCompleted&, const OrchestrationCompleted&) = default;
};
struct OrchestrationFailed {
  ErrorDetails details;
  friend bool operator==(const OrchestrationFailed&, const OrchestrationFailed&) = default;
};
struct ActivityScheduled {
  std::string name;
  std::string input;
  std::string tag = {};  // the workers that may run it (TagFilter); empty: untagged
  // The activity session it runs in (ActivityOptions::session_id): the runtime that
  // owns the session runs it; empty: none.
  std::string session_id = {};
  friend bool operator==(const ActivityScheduled&, const ActivityScheduled&) = default;
};
struct ActivityCompleted {
  std::string result;
  friend bool operator==(const ActivityCompleted&, const ActivityCompleted&) = default;
};
struct ActivityFailed {
  ErrorDetails details;
  friend bool operator==(const ActivityFailed&, const ActivityFailed&) = default;
};
struct TimerCreated {
  TimestampMs fire_at_ms = 0;
  friend bool operator==(const TimerCreated&, const TimerCreated&) = default;
};
struct TimerFired {
  TimestampMs fire_at_ms = 0;
  friend bool operator==(const TimerFired&, const TimerFired&) = default;
};
struct ExternalSubscribed {
  std::string name;
  friend bool operator==(const ExternalSubscribed&, const ExternalSubscribed&) = default;
};
struct ExternalEvent {
  std::string name;
  std::string data;
  friend bool operator==(const ExternalEvent&, const ExternalEvent&) = default;
};
struct QueueSubscribed {
  std::string name;
  friend bool operator==(const QueueSubscribed&, const QueueSubscribed&) = default;
};
struct QueueEventDelivered {
  std::string name;
  std::string data;
  friend bool operator==(const QueueEventDelivered&, const QueueEventDelivered&) = default;
};
struct SubOrchestrationScheduled {
  std::string name;
  std::string instance;
  std::string input;
  std::string version;  // empty: the registry's policy picks
  friend bool operator==(const SubOrchestrationScheduled&,
                         const SubOrchestrationScheduled&) = default;
};
struct SubOrchestrationCompleted {
  std::string result;
  friend bool operator==(const SubOrchestrationCompleted&,
                         const SubOrchestrationCompleted&) = default;
};
struct SubOrchestrationFailed {
  ErrorDetails details;
  friend bool operator==(const SubOrchestrationFailed&, const SubOrchestrationFailed&) = default;
};
// A fire-and-forget start of another root instance; nothing comes back.
struct DetachedOrchestrationStarted {
  std::string name;
  std::string instance;
  std::string input;
  std::string version;
  friend bool operator==(const DetachedOrchestrationStarted&,
                         const DetachedOrchestrationStarted&) = default;
};
struct OrchestrationContinuedAsNew {
  std::string input;
  std::string version;  // empty: keep the current version
  friend bool operator==(const OrchestrationContinuedAsNew&,
                         const OrchestrationContinuedAsNew&) = default;
};
struct OrchestrationCancelRequested {
  std::string reason;
  friend bool operator==(const OrchestrationCancelRequested&,
                         const OrchestrationCancelRequested&) = default;
};
struct ActivityCancelRequested {
  std::string reason;
  friend bool operator==(const ActivityCancelRequested&, const ActivityCancelRequested&) = default;
};
struct SubOrchestrationCancelRequested {
  std::string reason;
  friend bool operator==(const SubOrchestrationCancelRequested&,
                         const SubOrchestrationCancelRequested&) = default;
};
struct CustomStatusUpdated {
  std::optional<std::string> status;  // nullopt: cleared
  friend bool operator==(const CustomStatusUpdated&, const CustomStatusUpdated&) = default;
};
// A wait for an external event was cancelled (it lost a select or its future was
// dropped) before an event reached it: it gives up its place in line, so the next
// event of its name goes to the next live wait. Names the ExternalSubscribed event.
struct ExternalSubscribedCancelled {
  std::string reason;
  friend bool operator==(const ExternalSubscribedCancelled&,
                         const ExternalSubscribedCancelled&) = default;
};

// The key-value store of the instance: `set_value`, `clear_value` (also each key
// that `prune_values_updated_before` removes) and `clear_all_values`. Commands.
struct KeyValueSet {
  std::string key;
  std::string value;
  friend bool operator==(const KeyValueSet&, const KeyValueSet&) = default;
};
struct KeyValueCleared {
  std::string key;
  friend bool operator==(const KeyValueCleared&, const KeyValueCleared&) = default;
};
struct KeyValuesCleared {
  friend bool operator==(const KeyValuesCleared&, const KeyValuesCleared&) = default;
};

}  // namespace events

// Order matches the variant below; used for names, filters and codec dispatch.
enum class EventKind {
  OrchestrationStarted,
  OrchestrationCompleted,
  OrchestrationFailed,
  ActivityScheduled,
  ActivityCompleted,
  ActivityFailed,
  TimerCreated,
  TimerFired,
  ExternalSubscribed,
  ExternalEvent,
  QueueSubscribed,
  QueueEventDelivered,
  SubOrchestrationScheduled,
  SubOrchestrationCompleted,
  SubOrchestrationFailed,
  DetachedOrchestrationStarted,
  OrchestrationContinuedAsNew,
  OrchestrationCancelRequested,
  ActivityCancelRequested,
  SubOrchestrationCancelRequested,
  CustomStatusUpdated,
  ExternalSubscribedCancelled,
  KeyValueSet,
  KeyValueCleared,
  KeyValuesCleared,
};
inline constexpr std::size_t kEventKindCount = 25;

using EventData =
    std::variant<events::OrchestrationStarted, events::OrchestrationCompleted,
                 events::OrchestrationFailed, events::ActivityScheduled, events::ActivityCompleted,
                 events::ActivityFailed, events::TimerCreated, events::TimerFired,
                 events::ExternalSubscribed, events::ExternalEvent, events::QueueSubscribed,
                 events::QueueEventDelivered, events::SubOrchestrationScheduled,
                 events::SubOrchestrationCompleted, events::SubOrchestrationFailed,
                 events::DetachedOrchestrationStarted, events::OrchestrationContinuedAsNew,
                 events::OrchestrationCancelRequested, events::ActivityCancelRequested,
                 events::SubOrchestrationCancelRequested, events::CustomStatusUpdated,
                 events::ExternalSubscribedCancelled, events::KeyValueSet,
                 events::KeyValueCleared, events::KeyValuesCleared>;
static_assert(std::variant_size_v<EventData> == kEventKindCount);

struct Event {
  EventId event_id = 0;
  EventId source_event_id = 0;  // 0: not a completion
  TimestampMs timestamp_ms = 0;
  EventData data;

  EventKind kind() const { return static_cast<EventKind>(data.index()); }
  template <typename T>
  const T* as() const { return std::get_if<T>(&data); }
  template <typename T>
  bool is() const { return std::holds_alternative<T>(data); }

  friend bool operator==(const Event&, const Event&) = default;
};

using History = std::vector<Event>;

std::string_view to_string(EventKind kind);
bool parse_event_kind(std::string_view text, EventKind& out);

// Kinds the orchestration code itself produces (matched against history on replay).
bool is_command_kind(EventKind kind);
// Kinds that deliver something to the orchestration (delivered in history order on replay).
bool is_delivery_kind(EventKind kind);
bool is_terminal_kind(EventKind kind);

// One line for humans and for nondeterminism messages, e.g.
// `ActivityScheduled(name="Hello", input="Ada")`. Long payloads are abbreviated.
std::string describe(const EventData& data);

}  // namespace duroxide
