#include "duroxide/event.hpp"

#include <array>

#include "duroxide/status.hpp"
#include "duroxide/text.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide {

namespace {

constexpr std::array<std::string_view, kEventKindCount> kEventKindNames{
    "OrchestrationStarted",
    "OrchestrationCompleted",
    "OrchestrationFailed",
    "ActivityScheduled",
    "ActivityCompleted",
    "ActivityFailed",
    "TimerCreated",
    "TimerFired",
    "ExternalSubscribed",
    "ExternalEvent",
    "QueueSubscribed",
    "QueueEventDelivered",
    "SubOrchestrationScheduled",
    "SubOrchestrationCompleted",
    "SubOrchestrationFailed",
    "DetachedOrchestrationStarted",
    "OrchestrationContinuedAsNew",
    "OrchestrationCancelRequested",
    "ActivityCancelRequested",
    "SubOrchestrationCancelRequested",
    "CustomStatusUpdated",
    "ExternalSubscribedCancelled",
    "KeyValueSet",
    "KeyValueCleared",
    "KeyValuesCleared",
};

constexpr std::array<std::string_view, 11> kWorkItemKindNames{
    "StartOrchestration",        "ActivityExecute", "ActivityCompleted",
    "ActivityFailed",            "TimerFired",      "ExternalRaised",
    "QueueMessage",              "SubOrchestrationCompleted",
    "SubOrchestrationFailed",    "CancelInstance",  "ContinueAsNew",
};

constexpr std::array<std::string_view, 4> kRuntimeStateNames{"NotFound", "Running", "Completed",
                                                              "Failed"};

template <typename Enum, std::size_t N>
bool parse_name(const std::array<std::string_view, N>& names, std::string_view text, Enum& out) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == text) {
      out = static_cast<Enum>(i);
      return true;
    }
  }
  return false;
}

// Payloads can be large; a description keeps messages readable.
std::string quote(std::string_view text) {
  constexpr std::size_t kMaxShown = 120;
  // Cut on a character boundary: descriptions end up in stored error messages.
  const std::string shown = utf8_prefix(std::string(text.substr(0, kMaxShown + 1)), kMaxShown);
  std::string out = "\"";
  for (char c : shown) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += c == '\n' ? "\\n" : "\\u00";
      if (c != '\n') {
        constexpr char kHex[] = "0123456789abcdef";
        out += kHex[(c >> 4) & 0xF];
        out += kHex[c & 0xF];
      }
    } else {
      out += c;
    }
  }
  if (text.size() > kMaxShown) out += "...(" + std::to_string(text.size()) + " bytes)";
  out += '"';
  return out;
}

struct Describer {
  std::string operator()(const events::OrchestrationStarted& e) const {
    return "OrchestrationStarted(name=" + quote(e.name) + ", version=" + quote(e.version) +
           ", input=" + quote(e.input) + ")";
  }
  std::string operator()(const events::OrchestrationCompleted& e) const {
    return "OrchestrationCompleted(output=" + quote(e.output) + ")";
  }
  std::string operator()(const events::OrchestrationFailed& e) const {
    return "OrchestrationFailed(error=" + quote(e.details.display_message()) + ")";
  }
  std::string operator()(const events::ActivityScheduled& e) const {
    return "ActivityScheduled(name=" + quote(e.name) + ", input=" + quote(e.input) +
           (e.tag.empty() ? "" : ", tag=" + quote(e.tag)) +
           (e.session_id.empty() ? "" : ", session=" + quote(e.session_id)) + ")";
  }
  std::string operator()(const events::ActivityCompleted& e) const {
    return "ActivityCompleted(result=" + quote(e.result) + ")";
  }
  std::string operator()(const events::ActivityFailed& e) const {
    return "ActivityFailed(error=" + quote(e.details.display_message()) + ")";
  }
  std::string operator()(const events::TimerCreated& e) const {
    return "TimerCreated(fire_at_ms=" + std::to_string(e.fire_at_ms) + ")";
  }
  std::string operator()(const events::TimerFired& e) const {
    return "TimerFired(fire_at_ms=" + std::to_string(e.fire_at_ms) + ")";
  }
  std::string operator()(const events::ExternalSubscribed& e) const {
    return "ExternalSubscribed(name=" + quote(e.name) + ")";
  }
  std::string operator()(const events::ExternalEvent& e) const {
    return "ExternalEvent(name=" + quote(e.name) + ", data=" + quote(e.data) + ")";
  }
  std::string operator()(const events::QueueSubscribed& e) const {
    return "QueueSubscribed(name=" + quote(e.name) + ")";
  }
  std::string operator()(const events::QueueEventDelivered& e) const {
    return "QueueEventDelivered(name=" + quote(e.name) + ", data=" + quote(e.data) + ")";
  }
  std::string operator()(const events::SubOrchestrationScheduled& e) const {
    return "SubOrchestrationScheduled(name=" + quote(e.name) + ", instance=" + quote(e.instance) +
           ", input=" + quote(e.input) + ", version=" + quote(e.version) + ")";
  }
  std::string operator()(const events::SubOrchestrationCompleted& e) const {
    return "SubOrchestrationCompleted(result=" + quote(e.result) + ")";
  }
  std::string operator()(const events::SubOrchestrationFailed& e) const {
    return "SubOrchestrationFailed(error=" + quote(e.details.display_message()) + ")";
  }
  std::string operator()(const events::DetachedOrchestrationStarted& e) const {
    return "DetachedOrchestrationStarted(name=" + quote(e.name) +
           ", instance=" + quote(e.instance) + ", input=" + quote(e.input) +
           ", version=" + quote(e.version) + ")";
  }
  std::string operator()(const events::OrchestrationContinuedAsNew& e) const {
    return "OrchestrationContinuedAsNew(input=" + quote(e.input) +
           ", version=" + quote(e.version) + ")";
  }
  std::string operator()(const events::OrchestrationCancelRequested& e) const {
    return "OrchestrationCancelRequested(reason=" + quote(e.reason) + ")";
  }
  std::string operator()(const events::ExternalSubscribedCancelled& e) const {
    return "ExternalSubscribedCancelled(reason=" + quote(e.reason) + ")";
  }
  std::string operator()(const events::ActivityCancelRequested& e) const {
    return "ActivityCancelRequested(reason=" + quote(e.reason) + ")";
  }
  std::string operator()(const events::SubOrchestrationCancelRequested& e) const {
    return "SubOrchestrationCancelRequested(reason=" + quote(e.reason) + ")";
  }
  std::string operator()(const events::CustomStatusUpdated& e) const {
    return e.status ? "CustomStatusUpdated(status=" + quote(*e.status) + ")"
                    : std::string("CustomStatusUpdated(cleared)");
  }
  std::string operator()(const events::KeyValueSet& e) const {
    return "KeyValueSet(key=" + quote(e.key) + ", value=" + quote(e.value) + ")";
  }
  std::string operator()(const events::KeyValueCleared& e) const {
    return "KeyValueCleared(key=" + quote(e.key) + ")";
  }
  std::string operator()(const events::KeyValuesCleared&) const {
    return "KeyValuesCleared()";
  }
};

}  // namespace

std::string_view to_string(EventKind kind) {
  return kEventKindNames[static_cast<std::size_t>(kind)];
}

bool parse_event_kind(std::string_view text, EventKind& out) {
  return parse_name(kEventKindNames, text, out);
}

bool is_command_kind(EventKind kind) {
  switch (kind) {
    case EventKind::OrchestrationCompleted:
    case EventKind::OrchestrationFailed:
    case EventKind::ActivityScheduled:
    case EventKind::TimerCreated:
    case EventKind::ExternalSubscribed:
    case EventKind::QueueSubscribed:
    case EventKind::SubOrchestrationScheduled:
    case EventKind::DetachedOrchestrationStarted:
    case EventKind::OrchestrationContinuedAsNew:
    case EventKind::ActivityCancelRequested:
    case EventKind::SubOrchestrationCancelRequested:
    case EventKind::CustomStatusUpdated:
    case EventKind::ExternalSubscribedCancelled:
    case EventKind::KeyValueSet:
    case EventKind::KeyValueCleared:
    case EventKind::KeyValuesCleared:
      return true;
    default:
      return false;
  }
}

bool is_delivery_kind(EventKind kind) {
  switch (kind) {
    case EventKind::ActivityCompleted:
    case EventKind::ActivityFailed:
    case EventKind::TimerFired:
    case EventKind::ExternalEvent:
    case EventKind::QueueEventDelivered:
    case EventKind::SubOrchestrationCompleted:
    case EventKind::SubOrchestrationFailed:
    case EventKind::OrchestrationCancelRequested:
      return true;
    default:
      return false;
  }
}

bool is_terminal_kind(EventKind kind) {
  return kind == EventKind::OrchestrationCompleted || kind == EventKind::OrchestrationFailed ||
         kind == EventKind::OrchestrationContinuedAsNew;
}

std::string describe(const EventData& data) { return std::visit(Describer{}, data); }

std::string_view to_string(WorkItemKind kind) {
  return kWorkItemKindNames[static_cast<std::size_t>(kind)];
}

bool parse_work_item_kind(std::string_view text, WorkItemKind& out) {
  return parse_name(kWorkItemKindNames, text, out);
}

EventData carried_event(const work::CarriedMessage& message) {
  if (message.kind == work::CarriedMessage::Kind::Queue) return events::QueueEventDelivered{message.name, message.data};
  return events::ExternalEvent{message.name, message.data};
}

const std::string& target_instance(const WorkItem& item) {
  return std::visit(
      [](const auto& w) -> const std::string& {
        using T = std::decay_t<decltype(w)>;
        if constexpr (std::is_same_v<T, work::SubOrchestrationCompleted> ||
                      std::is_same_v<T, work::SubOrchestrationFailed>) {
          return w.parent_instance;
        } else {
          return w.instance;
        }
      },
      item);
}

std::string_view to_string(RuntimeState state) {
  return kRuntimeStateNames[static_cast<std::size_t>(state)];
}

bool parse_runtime_state(std::string_view text, RuntimeState& out) {
  return parse_name(kRuntimeStateNames, text, out);
}

OrchestrationStatus OrchestrationStatus::running(std::optional<std::string> custom_status) {
  OrchestrationStatus status;
  status.state = RuntimeState::Running;
  status.custom_status = std::move(custom_status);
  return status;
}

OrchestrationStatus OrchestrationStatus::completed(std::string output,
                                                   std::optional<std::string> custom_status) {
  OrchestrationStatus status;
  status.state = RuntimeState::Completed;
  status.output = std::move(output);
  status.custom_status = std::move(custom_status);
  return status;
}

OrchestrationStatus OrchestrationStatus::failed(ErrorDetails error,
                                                std::optional<std::string> custom_status) {
  OrchestrationStatus status;
  status.state = RuntimeState::Failed;
  status.error = std::move(error);
  status.custom_status = std::move(custom_status);
  return status;
}

}  // namespace duroxide
