#include "duroxide/history_state.hpp"

#include <algorithm>
#include <map>

namespace duroxide {

std::string_view to_string(PendingKind kind) {
  switch (kind) {
    case PendingKind::Activity: return "activity";
    case PendingKind::Timer: return "timer";
    case PendingKind::ExternalWait: return "external_wait";
    case PendingKind::QueueWait: return "queue_wait";
    case PendingKind::SubOrchestration: return "sub_orchestration";
  }
  return "activity";
}

HistoryState fold_history(const History& history, std::size_t count) {
  HistoryState state;
  count = std::min(count, history.size());
  state.events_applied = count;
  if (count > 0) state.state = RuntimeState::Running;

  std::vector<PendingWork> pending;
  // Positional matching for external waits; FIFO with buffering for queues.
  std::map<std::string, std::size_t> external_events_seen;
  std::map<std::string, std::size_t> queue_messages_buffered;

  auto remove_by_id = [&pending](EventId id) {
    pending.erase(std::remove_if(pending.begin(), pending.end(),
                                 [id](const PendingWork& w) {
                                   return w.scheduled_event_id == id &&
                                          w.kind != PendingKind::ExternalWait &&
                                          w.kind != PendingKind::QueueWait;
                                 }),
                  pending.end());
  };
  auto remove_first_wait = [&pending](PendingKind kind, const std::string& name) {
    auto it = std::find_if(pending.begin(), pending.end(), [&](const PendingWork& w) {
      return w.kind == kind && w.name == name;
    });
    if (it == pending.end()) return false;
    pending.erase(it);
    return true;
  };

  for (std::size_t i = 0; i < count; ++i) {
    const Event& event = history[i];
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          PendingWork work;
          work.scheduled_event_id = event.event_id;
          work.scheduled_at_ms = event.timestamp_ms;
          if constexpr (std::is_same_v<T, events::ActivityScheduled>) {
            work.kind = PendingKind::Activity;
            work.name = e.name;
            work.input = e.input;
            pending.push_back(std::move(work));
          } else if constexpr (std::is_same_v<T, events::TimerCreated>) {
            work.kind = PendingKind::Timer;
            work.name = "timer";
            work.fire_at_ms = e.fire_at_ms;
            pending.push_back(std::move(work));
          } else if constexpr (std::is_same_v<T, events::SubOrchestrationScheduled>) {
            work.kind = PendingKind::SubOrchestration;
            work.name = e.name;
            work.input = e.input;
            work.instance = e.instance;
            pending.push_back(std::move(work));
          } else if constexpr (std::is_same_v<T, events::OrchestrationStarted>) {
            state.custom_status = e.custom_status;  // carried by continue-as-new
          } else if constexpr (std::is_same_v<T, events::ExternalSubscribed>) {
            // The oldest live wait takes the next event of its name, even one that came first.
            std::size_t& seen = external_events_seen[e.name];
            if (seen > 0) {
              --seen;
            } else {
              work.kind = PendingKind::ExternalWait;
              work.name = e.name;
              pending.push_back(std::move(work));
            }
          } else if constexpr (std::is_same_v<T, events::ExternalEvent>) {
            if (!remove_first_wait(PendingKind::ExternalWait, e.name)) {
              ++external_events_seen[e.name];
            }
          } else if constexpr (std::is_same_v<T, events::QueueSubscribed>) {
            std::size_t& buffered = queue_messages_buffered[e.name];
            if (buffered > 0) {
              --buffered;
            } else {
              work.kind = PendingKind::QueueWait;
              work.name = e.name;
              pending.push_back(std::move(work));
            }
          } else if constexpr (std::is_same_v<T, events::QueueEventDelivered>) {
            if (!remove_first_wait(PendingKind::QueueWait, e.name)) {
              ++queue_messages_buffered[e.name];
            }
          } else if constexpr (std::is_same_v<T, events::ActivityCompleted> ||
                               std::is_same_v<T, events::ActivityFailed> ||
                               std::is_same_v<T, events::TimerFired> ||
                               std::is_same_v<T, events::SubOrchestrationCompleted> ||
                               std::is_same_v<T, events::SubOrchestrationFailed> ||
                               std::is_same_v<T, events::ActivityCancelRequested> ||
                               std::is_same_v<T, events::SubOrchestrationCancelRequested>) {
            remove_by_id(event.source_event_id);
          } else if constexpr (std::is_same_v<T, events::ExternalSubscribedCancelled>) {
            // The cancelled wait leaves the line without taking an event.
            pending.erase(std::remove_if(pending.begin(), pending.end(),
                                         [&](const PendingWork& w) {
                                           return w.kind == PendingKind::ExternalWait &&
                                                  w.scheduled_event_id == event.source_event_id;
                                         }),
                          pending.end());
          } else if constexpr (std::is_same_v<T, events::CustomStatusUpdated>) {
            state.custom_status = e.status;
          } else if constexpr (std::is_same_v<T, events::OrchestrationCancelRequested>) {
            state.cancel_requested = true;
          } else if constexpr (std::is_same_v<T, events::OrchestrationCompleted>) {
            state.state = RuntimeState::Completed;
            state.output = e.output;
          } else if constexpr (std::is_same_v<T, events::OrchestrationFailed>) {
            state.state = RuntimeState::Failed;
            state.error = e.details;
          } else if constexpr (std::is_same_v<T, events::OrchestrationContinuedAsNew>) {
            state.state = RuntimeState::Completed;
            state.continued_as_new = true;
            state.output = e.input;
          }
        },
        event.data);
  }
  if (state.state == RuntimeState::Running) state.pending = std::move(pending);
  return state;
}

}  // namespace duroxide
