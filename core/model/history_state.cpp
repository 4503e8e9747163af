#include "duroxide/history_state.hpp"

#include <algorithm>
#include <map>

#include "duroxide/text.hpp"

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

namespace {

// The first kMaxPendingKept items of `pending` (only those copied), each input cut to
// kMaxPendingInputKept bytes on a UTF-8 boundary and marked.
std::vector<PendingWork> kept_pending(const std::vector<PendingWork>& pending) {
  const std::size_t kept = std::min(pending.size(), kMaxPendingKept);
  std::vector<PendingWork> out(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(kept));
  for (PendingWork& work : out) {
    if (work.input.size() <= kMaxPendingInputKept) continue;
    work.input = utf8_prefix(std::move(work.input), kMaxPendingInputKept);
    work.input_truncated = true;
  }
  return out;
}

// Folds events one at a time into the state and the work still pending.
// Waits of one kind and name pair up in order: the oldest open wait takes the
// next delivery, and a delivery no wait takes is buffered for the next wait.
class HistoryFold {
 public:
  explicit HistoryFold(std::size_t count) {
    state_.events_applied = count;
    if (count > 0) state_.state = RuntimeState::Running;
  }

  void apply(const Event& event) {
    std::visit([&](const auto& e) { on(event, e); }, event.data);
  }

  HistoryState finish() {
    if (state_.state == RuntimeState::Running) {
      state_.pending = std::move(pending_);
      state_.carry_forward_count = buffered();
    }
    return std::move(state_);
  }

  // What finish() would return after the first `applied` events (those applied so far),
  // its pending work cut as pending_snapshot cuts it, leaving the fold to go on.
  HistoryStep snapshot(std::size_t applied) const {
    HistoryStep step;
    step.state = state_;
    step.state.events_applied = applied;
    if (state_.state == RuntimeState::Running) {
      step.pending_total = pending_.size();
      step.state.pending = kept_pending(pending_);
      step.state.carry_forward_count = buffered();
    }
    return step;
  }

 private:
  static PendingWork work_of(const Event& event, PendingKind kind, std::string name) {
    PendingWork work;
    work.kind = kind;
    work.name = std::move(name);
    work.scheduled_event_id = event.event_id;
    work.scheduled_at_ms = event.timestamp_ms;
    return work;
  }

  // Scheduled work.
  void on(const Event& event, const events::ActivityScheduled& e) {
    PendingWork work = work_of(event, PendingKind::Activity, e.name);
    work.input = e.input;
    work.tag = e.tag;
    work.session_id = e.session_id;
    pending_.push_back(std::move(work));
  }
  void on(const Event& event, const events::TimerCreated& e) {
    PendingWork work = work_of(event, PendingKind::Timer, "timer");
    work.fire_at_ms = e.fire_at_ms;
    pending_.push_back(std::move(work));
  }
  void on(const Event& event, const events::SubOrchestrationScheduled& e) {
    PendingWork work = work_of(event, PendingKind::SubOrchestration, e.name);
    work.input = e.input;
    work.instance = e.instance;
    work.version = e.version;
    pending_.push_back(std::move(work));
  }

  // Waits and deliveries.
  void on(const Event& event, const events::ExternalSubscribed& e) {
    open_wait(event, PendingKind::ExternalWait, e.name, external_buffered_[e.name]);
  }
  void on(const Event&, const events::ExternalEvent& e) {
    deliver(PendingKind::ExternalWait, e.name, external_buffered_[e.name]);
  }
  void on(const Event& event, const events::QueueSubscribed& e) {
    open_wait(event, PendingKind::QueueWait, e.name, queue_buffered_[e.name]);
  }
  void on(const Event&, const events::QueueEventDelivered& e) {
    deliver(PendingKind::QueueWait, e.name, queue_buffered_[e.name]);
  }
  void on(const Event& event, const events::ExternalSubscribedCancelled&) {
    // The cancelled wait leaves the line without taking an event.
    erase_if([&](const PendingWork& w) {
      return w.kind == PendingKind::ExternalWait && w.scheduled_event_id == event.source_event_id;
    });
  }
  void open_wait(const Event& event, PendingKind kind, const std::string& name, std::size_t& buffered) {
    if (buffered > 0) {
      --buffered;  // a delivery that came first is taken at once
      return;
    }
    pending_.push_back(work_of(event, kind, name));
  }
  void deliver(PendingKind kind, const std::string& name, std::size_t& buffered) {
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [&](const PendingWork& w) { return w.kind == kind && w.name == name; });
    if (it == pending_.end()) {
      ++buffered;
      return;
    }
    pending_.erase(it);
  }

  // Completions and cancel requests name the scheduling event.
  void on(const Event& event, const events::ActivityCompleted&) { complete(event); }
  void on(const Event& event, const events::ActivityFailed&) { complete(event); }
  void on(const Event& event, const events::TimerFired&) { complete(event); }
  void on(const Event& event, const events::SubOrchestrationCompleted&) { complete(event); }
  void on(const Event& event, const events::SubOrchestrationFailed&) { complete(event); }
  void on(const Event& event, const events::ActivityCancelRequested&) { complete(event); }
  void on(const Event& event, const events::SubOrchestrationCancelRequested&) { complete(event); }
  void complete(const Event& event) {
    erase_if([&](const PendingWork& w) {
      return w.scheduled_event_id == event.source_event_id && w.kind != PendingKind::ExternalWait &&
             w.kind != PendingKind::QueueWait;
    });
  }

  // The instance's own state.
  void on(const Event&, const events::OrchestrationStarted& e) {
    state_.custom_status = e.custom_status;  // carried by continue-as-new
  }
  void on(const Event&, const events::CustomStatusUpdated& e) { state_.custom_status = e.status; }
  void on(const Event&, const events::OrchestrationCancelRequested&) { state_.cancel_requested = true; }
  void on(const Event&, const events::OrchestrationCompleted& e) {
    state_.state = RuntimeState::Completed;
    state_.output = e.output;
  }
  void on(const Event&, const events::OrchestrationFailed& e) {
    state_.state = RuntimeState::Failed;
    state_.error = e.details;
  }
  void on(const Event&, const events::OrchestrationContinuedAsNew& e) {
    state_.state = RuntimeState::Completed;
    state_.continued_as_new = true;
    state_.output = e.input;
  }
  // Events that change nothing here (detached starts).
  template <typename Other>
  void on(const Event&, const Other&) {}

  std::uint64_t buffered() const {
    std::uint64_t total = 0;
    for (const auto* buffered : {&external_buffered_, &queue_buffered_}) {
      for (const auto& [name, count] : *buffered) total += count;
    }
    return total;
  }

  template <typename Predicate>
  void erase_if(Predicate&& predicate) {
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(), predicate), pending_.end());
  }

  HistoryState state_;
  std::vector<PendingWork> pending_;
  std::map<std::string, std::size_t> external_buffered_;
  std::map<std::string, std::size_t> queue_buffered_;
};

}  // namespace

HistoryState fold_history(const History& history, std::size_t count) {
  count = std::min(count, history.size());
  HistoryFold fold(count);
  for (std::size_t i = 0; i < count; ++i) fold.apply(history[i]);
  return fold.finish();
}

std::vector<HistoryStep> fold_history_steps(const History& history, std::size_t from, std::size_t count) {
  const std::size_t end = from >= history.size() ? from : from + std::min(count, history.size() - from);
  std::vector<HistoryStep> steps;
  if (end <= from) return steps;
  steps.reserve(end - from);
  // The constructor's count only marks a non-empty fold as running; each snapshot says
  // how many events it has applied.
  HistoryFold fold(end);
  for (std::size_t i = 0; i < end; ++i) {
    fold.apply(history[i]);
    if (i >= from) steps.push_back(fold.snapshot(i + 1));
  }
  return steps;
}

HistoryState fold_history(const History& history, const History& more) {
  HistoryFold fold(history.size() + more.size());
  for (const Event& event : history) fold.apply(event);
  for (const Event& event : more) fold.apply(event);
  return fold.finish();
}

PendingSnapshot pending_snapshot(const std::vector<PendingWork>& pending) {
  PendingSnapshot snapshot;
  snapshot.total = pending.size();
  snapshot.work = kept_pending(pending);
  return snapshot;
}

}  // namespace duroxide
