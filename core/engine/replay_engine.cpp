#include "duroxide/replay_engine.hpp"

#include <algorithm>
#include <stdexcept>

#include "duroxide/assert.hpp"
#include "duroxide/codec.hpp"
#include "duroxide/history_state.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/text.hpp"
#include "replay_state.hpp"

namespace duroxide {
namespace detail {

namespace {

thread_local Scheduler* t_current_scheduler = nullptr;

// The failure quoted in the cancel reason a system failure sends its outstanding work.
constexpr std::size_t kMaxCancelReasonBytes = 1024;

// How a turn ends when recording one more event would pass limits::kMaxHistoryEvents.
ErrorDetails history_limit_failure() {
  return ErrorDetails::orchestration_failed("the history reached the limit of " +
                                            std::to_string(limits::kMaxHistoryEvents) + " events");
}

// Kinds whose source_event_id names the event that scheduled the work.
bool has_source(EventKind kind) {
  switch (kind) {
    case EventKind::ActivityCompleted:
    case EventKind::ActivityFailed:
    case EventKind::TimerFired:
    case EventKind::SubOrchestrationCompleted:
    case EventKind::SubOrchestrationFailed:
    case EventKind::ActivityCancelRequested:
    case EventKind::SubOrchestrationCancelRequested:
    case EventKind::ExternalSubscribedCancelled:
      return true;
    default:
      return false;
  }
}

const char* op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::Activity: return "activity";
    case OpKind::Timer: return "timer";
    case OpKind::External: return "external event wait";
    case OpKind::Queue: return "queue wait";
    case OpKind::SubOrchestration: return "sub-orchestration";
    case OpKind::Task: return "task";
  }
  return "work";
}

std::string describe_command(const EventData& data, EventId source) {
  std::string text = describe(data);
  if (source != 0) text += " for event " + std::to_string(source);
  return text;
}

// 64-bit FNV-1a followed by a splitmix finaliser: stable across platforms.
std::uint64_t hash64(const std::string& text, std::uint64_t seed) {
  std::uint64_t h = 14695981039346656037ull ^ seed;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

Task<void> run_composed(ReplayState* state, OpState* op, Task<std::string> task) {
  FutureResult result;
  try {
    result.value = co_await task;
    result.ok = true;
  } catch (const TaskFailed& failed) {
    result.error = failed.details();
  } catch (const std::exception& error) {
    result.error = ErrorDetails::orchestration_failed(error.what());
  } catch (...) {
    // Still this task's failure: otherwise its future would never complete.
    result.error = ErrorDetails::orchestration_failed("the task threw a non-standard exception");
  }
  state->complete_op(*op, std::move(result));
}

}  // namespace

Scheduler& current_scheduler() {
  if (!t_current_scheduler) {
    throw std::logic_error("orchestration code ran outside a replay turn");
  }
  return *t_current_scheduler;
}

Scheduler* current_scheduler_or_null() { return t_current_scheduler; }

// ---------------------------------------------------------------- setup

ReplayState::ReplayState(const Registry& registry, const TurnInput& input)
    : registry_(registry), input_(input), old_(input.history), context_(this) {
  previous_scheduler_ = t_current_scheduler;
  t_current_scheduler = this;
  next_event_id_ = old_.size() + 1;
  // A slot per event id: room for the replayed ones up front.
  ops_by_id_.reserve(old_.size() + 8);
  all_ops_.reserve(old_.size() / 2 + 8);
}

ReplayState::~ReplayState() {
  teardown();
  t_current_scheduler = previous_scheduler_;
}

void ReplayState::schedule(std::coroutine_handle<> handle) { ready_.push_back(handle); }

void ReplayState::forget(std::coroutine_handle<> handle) {
  ready_.erase(std::remove(ready_.begin(), ready_.end(), handle), ready_.end());
}

TurnResult ReplayState::run() {
  if (validate_history() && begin_execution()) {
    replay_history();
    replaying_ = false;
    for (std::size_t i : delivery_order()) {
      if (i == start_message_ || i == early_cancel_message_) continue;
      if (history_terminal_) {
        drop(input_.messages[i], "the execution has already finished");
      } else if (stopped()) {
        collect_carried(input_.messages[i]);
      } else {
        process_message(input_.messages[i]);
      }
    }
  } else {
    // A start the turn recorded (its OrchestrationStarted, with what it carried) is not
    // dropped; every other message is.
    for (std::size_t i = 0; i < input_.messages.size(); ++i) {
      if (i != start_message_) drop(input_.messages[i], "the turn could not start");
    }
  }
  finalize();
  return std::move(out_);
}

// Structural checks that do not need the orchestration code.
bool ReplayState::validate_history() {
  auto corrupt = [this](std::string message) {
    failure_ = ErrorDetails::history_corrupted(std::move(message));
    history_corrupted_ = true;
    return false;
  };
  if (old_.size() > limits::kMaxHistoryEvents) {
    return corrupt("the history has " + std::to_string(old_.size()) +
                   " events, over the limit of " + std::to_string(limits::kMaxHistoryEvents));
  }
  for (std::size_t i = 0; i < old_.size(); ++i) {
    const Event& event = old_[i];
    const std::string where = "event at index " + std::to_string(i);
    if (event.event_id != i + 1) {
      return corrupt(where + " has id " + std::to_string(event.event_id) + ", expected " +
                     std::to_string(i + 1));
    }
    bool is_start = event.is<events::OrchestrationStarted>();
    if (i == 0 && !is_start) {
      return corrupt("the history does not begin with OrchestrationStarted (index 0 is " +
                     std::string(to_string(event.kind())) + ")");
    }
    if (i > 0 && is_start) return corrupt(where + " is a second OrchestrationStarted");
    if (is_terminal_kind(event.kind()) && i + 1 != old_.size()) {
      return corrupt(where + " is the terminal " + std::string(to_string(event.kind())) +
                     " but " + std::to_string(old_.size() - i - 1) + " events follow it");
    }
    if (has_source(event.kind())) {
      if (event.source_event_id == 0 || event.source_event_id >= event.event_id) {
        return corrupt(where + " (" + std::string(to_string(event.kind())) +
                       ") refers to event " + std::to_string(event.source_event_id) +
                       ", which does not precede it");
      }
    } else if (event.source_event_id != 0) {
      return corrupt(where + " (" + std::string(to_string(event.kind())) +
                     ") must not have a source_event_id");
    }
  }
  return true;
}

// Finds or creates OrchestrationStarted and starts the root coroutine.
bool ReplayState::begin_execution() {
  if (!old_.empty()) {
    started_ = *old_.front().as<events::OrchestrationStarted>();
    replaying_ = true;
    history_terminal_ = is_terminal_kind(old_.back().kind());
    last_delivered_ = old_.front().event_id;
    current_time_ = old_.front().timestamp_ms;
  } else if (!start_from_messages()) {
    return false;
  }
  record_metadata();
  custom_status_ = started_.custom_status;
  kv_ = started_.kv;
  if (started_.uncarried_messages > 0) {
    failure_ = ErrorDetails::orchestration_failed(
        "continue-as-new left " + std::to_string(started_.uncarried_messages) +
        " unconsumed messages, over the limit of " + std::to_string(limits::kMaxCarriedMessages) +
        " messages or " + std::to_string(limits::kMaxCarriedBytes) +
        " bytes carried into the next execution; none was delivered");
    return false;
  }
  // Carried messages are buffered before the code runs, on the first turn and on replay alike.
  if (old_.empty()) {
    if (const auto* next = std::get_if<work::ContinueAsNew>(&input_.messages[start_message_])) {
      deliver_carried(next->carried);
    }
  } else if (!replay_carried()) {
    return false;
  }
  if (cancelled_before_code()) return true;
  return start_code();
}

// A new execution: OrchestrationStarted from the batch's start message, with the
// version the registry resolves.
bool ReplayState::start_from_messages() {
  for (std::size_t i = 0; i < input_.messages.size() && start_message_ == SIZE_MAX; ++i) {
    const WorkItem& message = input_.messages[i];
    if (const auto* start = std::get_if<work::StartOrchestration>(&message)) {
      started_ = {start->orchestration, start->version, start->input, start->parent_instance, start->parent_id};
      start_message_ = i;
    } else if (const auto* next = std::get_if<work::ContinueAsNew>(&message)) {
      started_ = {next->orchestration, next->version, next->input, next->parent_instance, next->parent_id};
      started_.carried_messages = next->carried.size();
      started_.uncarried_messages = next->uncarried;
      started_.custom_status = next->custom_status;
      started_.kv = next->kv;
      start_message_ = i;
    }
  }
  if (start_message_ == SIZE_MAX) {
    failure_ = ErrorDetails::history_corrupted("the history is empty and no start message arrived for instance " +
                                               input_.instance);
    return false;
  }
  std::string requested = started_.version;
  auto resolved = registry_.resolve_for_start(started_.name, requested);
  if (resolved) started_.version = resolved->version;
  started_.duroxide_version = build_version().to_string();  // pins the execution to this build
  started_.guid_seed = guid_seed_for(input_);
  last_delivered_ = append(started_, 0);
  current_time_ = input_.now_ms;
  record_metadata();
  if (!resolved) {
    failure_ = ErrorDetails::unregistered_orchestration(started_.name + (requested.empty() ? "" : " " + requested));
    // No code runs, but the carried messages are recorded where OrchestrationStarted
    // counts them: visible in the failed history, which then replays.
    if (const auto* next = std::get_if<work::ContinueAsNew>(&input_.messages[start_message_])) {
      record_carried(next->carried);
    }
    return false;
  }
  return true;
}

// Runs the orchestration code from its start until it first waits.
bool ReplayState::start_code() {
  const OrchestrationFn* fn = registry_.find_orchestration(started_.name, started_.version);
  if (!fn) {
    failure_ = ErrorDetails::unregistered_orchestration(started_.name + " " + started_.version);
    return false;
  }
  try {
    root_ = (*fn)(context_, started_.input);
  } catch (const std::exception& error) {
    failure_ = ErrorDetails::orchestration_failed(error.what());
    return false;
  } catch (...) {
    failure_ = ErrorDetails::orchestration_failed("the orchestration threw a non-standard exception");
    return false;
  }
  schedule(root_.handle());
  drain();
  return true;
}

// A cancel that arrives with the execution's start ends it in that first turn
// without running its code. Replay keeps it so: a history whose first delivery
// is the cancel replays without the code (the code issued nothing before it).
bool ReplayState::cancelled_before_code() {
  if (!old_.empty()) {
    const std::size_t first = 1 + started_.carried_messages;  // after the carried deliveries
    return old_.size() > first && old_[first].is<events::OrchestrationCancelRequested>();
  }
  for (std::size_t i = 0; i < input_.messages.size(); ++i) {
    const auto* cancel = std::get_if<work::CancelInstance>(&input_.messages[i]);
    if (cancel && !not_for_this_instance(*cancel)) {
      early_cancel_message_ = i;
      process_message(input_.messages[i]);
      return true;
    }
  }
  return false;
}

bool ReplayState::not_for_this_instance(const work::CancelInstance& cancel) const {
  return !cancel.parent_instance.empty() &&
         (cancel.parent_instance != started_.parent_instance || cancel.parent_id != started_.parent_id);
}

void ReplayState::record_metadata() {
  out_.orchestration_name = started_.name;
  out_.orchestration_version = started_.version;
  out_.parent_instance = started_.parent_instance;
  out_.parent_id = started_.parent_id;
}

void ReplayState::deliver_carried(const std::vector<work::CarriedMessage>& carried) {
  for (const auto& message : carried) append_and_deliver(carried_event(message), 0);
}

void ReplayState::record_carried(const std::vector<work::CarriedMessage>& carried) {
  for (const auto& message : carried) append(carried_event(message), 0);
}

// The carried deliveries right after OrchestrationStarted, before the code runs.
bool ReplayState::replay_carried() {
  const std::uint64_t count = started_.carried_messages;
  for (std::size_t i = 1; i <= count; ++i) {
    bool delivery = i < old_.size() && (old_[i].is<events::ExternalEvent>() ||
                                        old_[i].is<events::QueueEventDelivered>());
    if (!delivery) {
      failure_ = ErrorDetails::history_corrupted(
          "OrchestrationStarted names " + std::to_string(count) +
          " carried messages but event at index " + std::to_string(i) +
          " is not an external event or queue message");
      history_corrupted_ = true;
      return false;
    }
    last_delivered_ = old_[i].event_id;
    current_time_ = old_[i].timestamp_ms;
    deliver(old_[i]);
  }
  return true;
}

// The runtime, not the code, ended the execution with this last event: a poisoned
// item or a corrupted row (Poison), or a turn the store refused (Provider). Whatever
// the code issues there (nothing, or the commands of the refused turn), replay takes
// the failure as the outcome instead of a mismatch. A failure the code itself issued
// matches as a command before this is asked.
bool ReplayState::ended_by_runtime(const Event& event) {
  const auto* failed = event.as<events::OrchestrationFailed>();
  if (!failed) return false;
  // The engine's own end at the history limit takes the last slot, in place of whatever
  // the code or a message would have recorded there.
  const bool at_history_limit =
      event.event_id == limits::kMaxHistoryEvents && failed->details == history_limit_failure();
  if (failed->details.kind != ErrorKind::Poison && failed->details.kind != ErrorKind::Provider && !at_history_limit) {
    return false;
  }
  terminal_ = true;
  ready_.clear();
  out_.outcome = TurnOutcome{TurnOutcomeKind::Failed, {}, failed->details, {}, {}};
  return true;
}

// Delivers the stored history after the start event (and the carried messages), one
// event at a time.
void ReplayState::replay_history() {
  for (std::size_t i = 1 + started_.carried_messages; i < old_.size() && !stopped(); ++i) {
    const Event& event = old_[i];
    if (is_command_kind(event.kind())) {
      if (command_cursor_ <= i && i + 1 == old_.size() && ended_by_runtime(event)) return;
      if (command_cursor_ <= i) {
        mismatch(i, event.event_id, describe_command(event.data, event.source_event_id),
                 root_.done() ? "nothing: the orchestration had already finished"
                              : "nothing: the orchestration is waiting");
      }
      continue;
    }
    // A delivery: check it applies to what the code scheduled, then deliver.
    std::string problem;
    switch (event.kind()) {
      case EventKind::ActivityCompleted:
      case EventKind::ActivityFailed:
        problem = completion_problem(event.source_event_id, OpKind::Activity, nullptr);
        break;
      case EventKind::TimerFired:
        problem = completion_problem(event.source_event_id, OpKind::Timer, nullptr);
        break;
      case EventKind::SubOrchestrationCompleted:
      case EventKind::SubOrchestrationFailed:
        problem = completion_problem(event.source_event_id, OpKind::SubOrchestration, nullptr);
        break;
      default:
        break;
    }
    if (!problem.empty()) {
      mismatch(i, event.event_id, describe_command(event.data, event.source_event_id), problem);
      return;
    }
    last_delivered_ = event.event_id;
    current_time_ = event.timestamp_ms;
    deliver(event);
    drain();
  }
}

// ---------------------------------------------------------------- messages

void ReplayState::drop(const WorkItem& item, std::string reason) {
  out_.dropped.push_back({item, std::move(reason)});
}

// The new messages in arrival order, but a system failure (ends_execution) first: it ends
// the execution before any code sees the rest of the batch, as upstream fails such a turn
// before running code, and replay meets it as the first delivery after the stored history.
std::vector<std::size_t> ReplayState::delivery_order() const {
  auto ends = [this](const WorkItem& item) {
    if (const auto* failed = std::get_if<work::ActivityFailed>(&item)) return ends_execution(failed->details);
    if (const auto* failed = std::get_if<work::SubOrchestrationFailed>(&item)) return ends_execution(failed->details);
    return false;
  };
  std::vector<std::size_t> order;
  order.reserve(input_.messages.size());
  for (std::size_t i = 0; i < input_.messages.size(); ++i) {
    if (ends(input_.messages[i])) order.push_back(i);
  }
  for (std::size_t i = 0; i < input_.messages.size(); ++i) {
    if (!ends(input_.messages[i])) order.push_back(i);
  }
  return order;
}

void ReplayState::process_message(const WorkItem& item) {
  const ExecutionId execution = input_.execution_id;
  auto completion = [&](EventId id, OpKind kind, ExecutionId item_execution,
                        const std::string* child, EventData data) {
    if (item_execution != execution && kind != OpKind::SubOrchestration) {
      return drop(item, "stale: meant for execution " + std::to_string(item_execution));
    }
    std::string problem = completion_problem(id, kind, child);
    if (!problem.empty()) return drop(item, problem);
    // A cancelled operation's completion is recorded too (deliver() gives it to no code):
    // the history shows how the operation ended, and a select loop's lost timers leave
    // the pending work when they fire instead of being dropped.
    append_and_deliver(std::move(data), id);
  };
  auto plain = [&](EventData data) { append_and_deliver(std::move(data), 0); };

  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, work::StartOrchestration> ||
                      std::is_same_v<T, work::ContinueAsNew>) {
          drop(item, "the execution has already started");
        } else if constexpr (std::is_same_v<T, work::ActivityExecute>) {
          drop(item, "an activity execution is not an orchestrator message");
        } else if constexpr (std::is_same_v<T, work::ActivityCompleted>) {
          completion(m.id, OpKind::Activity, m.execution_id, nullptr,
                     events::ActivityCompleted{m.result});
        } else if constexpr (std::is_same_v<T, work::ActivityFailed>) {
          completion(m.id, OpKind::Activity, m.execution_id, nullptr,
                     events::ActivityFailed{m.details});
        } else if constexpr (std::is_same_v<T, work::TimerFired>) {
          completion(m.id, OpKind::Timer, m.execution_id, nullptr,
                     events::TimerFired{m.fire_at_ms});
        } else if constexpr (std::is_same_v<T, work::SubOrchestrationCompleted>) {
          completion(m.parent_id, OpKind::SubOrchestration, execution, &m.child_instance,
                     events::SubOrchestrationCompleted{m.result});
        } else if constexpr (std::is_same_v<T, work::SubOrchestrationFailed>) {
          completion(m.parent_id, OpKind::SubOrchestration, execution, &m.child_instance,
                     events::SubOrchestrationFailed{m.details});
        } else if constexpr (std::is_same_v<T, work::ExternalRaised>) {
          plain(events::ExternalEvent{m.name, m.data});
        } else if constexpr (std::is_same_v<T, work::QueueMessage>) {
          plain(events::QueueEventDelivered{m.queue, m.data});
        } else if constexpr (std::is_same_v<T, work::CancelInstance>) {
          if (not_for_this_instance(m)) {
            return drop(item, "a cancel from " + m.parent_instance + " for a child it started, which this instance is not");
          }
          if (cancel_requested_) return drop(item, "a cancellation is already in progress");
          plain(events::OrchestrationCancelRequested{m.reason});
        }
      },
      item);
  drain();
}

void ReplayState::append_and_deliver(EventData data, EventId source) {
  EventId id = append(std::move(data), source);
  if (stopped()) return;
  // A copy: delivering may append (cancellations), which moves the vector.
  Event event = out_.new_events.back();
  last_delivered_ = id;
  current_time_ = input_.now_ms;
  deliver(event);
}

// ---------------------------------------------------------------- delivery

std::shared_ptr<OpState> ReplayState::find_op(EventId id, OpKind kind) const {
  // A message's id is outside data: anything past the slots names no operation.
  if (id >= ops_by_id_.size() || !ops_by_id_[id] || ops_by_id_[id]->kind != kind) return nullptr;
  return ops_by_id_[id];
}

std::string ReplayState::completion_problem(EventId id, OpKind kind,
                                            const std::string* child) const {
  auto op = find_op(id, kind);
  if (!op) {
    return std::string("the orchestration scheduled no ") + op_kind_name(kind) + " with id " +
           std::to_string(id);
  }
  if (child && op->child_instance != *child) {
    return "sub-orchestration " + std::to_string(id) + " is " + op->child_instance + ", not " +
           *child;
  }
  if (op->completion_seen) {
    return std::string("the ") + op_kind_name(kind) + " " + std::to_string(id) +
           " already has a completion";
  }
  return {};
}

void ReplayState::deliver(const Event& event) {
  auto complete_scheduled = [&](OpKind kind, FutureResult result) {
    auto op = find_op(event.source_event_id, kind);
    DUROXIDE_ASSERT(op && !op->completion_seen, "a delivered completion was checked against what was scheduled");
    op->completion_seen = true;
    if (!result.ok && ends_execution(result.error)) return end_on_system_failure(*op, std::move(result.error));
    if (!op->cancelled) complete_op(*op, std::move(result));
  };
  auto ok = [](std::string value) { return FutureResult{true, std::move(value), {}}; };
  auto failed = [](ErrorDetails error) { return FutureResult{false, {}, std::move(error)}; };

  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, events::ActivityCompleted>) {
          complete_scheduled(OpKind::Activity, ok(e.result));
        } else if constexpr (std::is_same_v<T, events::ActivityFailed>) {
          complete_scheduled(OpKind::Activity, failed(e.details));
        } else if constexpr (std::is_same_v<T, events::TimerFired>) {
          complete_scheduled(OpKind::Timer, ok({}));
        } else if constexpr (std::is_same_v<T, events::SubOrchestrationCompleted>) {
          complete_scheduled(OpKind::SubOrchestration, ok(e.result));
        } else if constexpr (std::is_same_v<T, events::SubOrchestrationFailed>) {
          complete_scheduled(OpKind::SubOrchestration, failed(e.details));
        } else if constexpr (std::is_same_v<T, events::ExternalEvent>) {
          deliver_to_channel(externals_[e.name], event.event_id, e.data);
        } else if constexpr (std::is_same_v<T, events::QueueEventDelivered>) {
          deliver_to_channel(queues_[e.name], event.event_id, e.data);
        } else if constexpr (std::is_same_v<T, events::OrchestrationCancelRequested>) {
          deliver_cancel(e.reason);
        }
      },
      event.data);
}

// A failure of the system, not of the user's code (a poisoned item, an unregistered name,
// a child's nondeterminism or unreadable history), ends the execution with that failure
// instead of reaching code, where a broad catch could hide it; a future nobody awaits any
// more ends it too. Executions pinned to builds before kSystemFailuresEndExecutionSince
// delivered such failures to code, and replay keeps doing so for them.
bool ReplayState::ends_execution(const ErrorDetails& failure) const {
  if (failure.category() == ErrorCategory::Application) return false;
  const auto pinned = SemVer::parse(started_.duroxide_version);
  return pinned && !(*pinned < kSystemFailuresEndExecutionSince);
}

void ReplayState::deliver_to_channel(Channel& channel, EventId id, const std::string& data) {
  if (channel.waiters.empty()) {
    channel.buffer.push_back({id, data});
    return;
  }
  auto op = channel.waiters.front();
  channel.waiters.pop_front();
  op->message_id = id;
  complete_op(*op, FutureResult{true, data, {}});
}

// The instance ends Failed("canceled: <reason>") after cancelling its outstanding
// activities and sub-orchestrations; no orchestration code runs after this.
void ReplayState::deliver_cancel(const std::string& reason) {
  if (cancel_requested_ || stopped()) return;
  cancel_requested_ = true;
  cancel_outstanding(reason);
  issue_terminal(events::OrchestrationFailed{ErrorDetails::cancelled(reason)});
}

// The execution ends with `failure` (ends_execution) while its code waits: the failed
// operation is over, everything else still outstanding is cancelled as at any end, and
// no code runs again.
void ReplayState::end_on_system_failure(OpState& failed, ErrorDetails failure) {
  failed.done = true;
  cancel_outstanding(duroxide::failure_cancel_reason(failure));
  issue_terminal(events::OrchestrationFailed{std::move(failure)});
}

void ReplayState::cancel_outstanding(const std::string& reason) {
  ready_.clear();
  // In id order (the slots' order): the cancellations become commands, and replay must
  // issue them alike.
  std::vector<OpState*> outstanding;
  for (const auto& op : ops_by_id_) {
    if (op && (op->kind == OpKind::Activity || op->kind == OpKind::SubOrchestration)) outstanding.push_back(op.get());
  }
  for (OpState* op : outstanding) cancel(*op, reason);
}

void ReplayState::drain() {
  std::uint64_t resumptions = 0;  // since the last delivery (or the start)
  while (!ready_.empty() && !stopped()) {
    if (++resumptions > input_.max_resumptions) {
      fail(ErrorDetails::orchestration_failed(
          "the orchestration resumed more than " + std::to_string(input_.max_resumptions) +
          " times without waiting for anything (an endless loop?)"));
      return;
    }
    auto handle = ready_.front();
    ready_.pop_front();
    handle.resume();
    if (!stopped() && root_.done()) on_root_finished();
  }
}

void ReplayState::on_root_finished() {
  try {
    std::string output = root_.take_result();
    if (!check_text(output, limits::kMaxPayloadBytes, "the orchestration output", false)) return;
    issue_terminal(events::OrchestrationCompleted{std::move(output)});
  } catch (const TaskFailed& failed) {
    issue_terminal(events::OrchestrationFailed{failed.details()});
  } catch (const std::exception& error) {
    issue_terminal(events::OrchestrationFailed{ErrorDetails::orchestration_failed(error.what())});
  } catch (...) {
    issue_terminal(events::OrchestrationFailed{
        ErrorDetails::orchestration_failed("the orchestration threw a non-standard exception")});
  }
}

// ---------------------------------------------------------------- commands

ReplayState::IssueResult ReplayState::issue(EventData command, EventId source) {
  if (stopped()) return {};
  while (command_cursor_ < old_.size() && !is_command_kind(old_[command_cursor_].kind())) {
    ++command_cursor_;
  }
  if (command_cursor_ < old_.size()) {
    const Event& expected = old_[command_cursor_];
    if (!(expected.data == command) || expected.source_event_id != source) {
      // A turn the runtime ended: its commands were never stored, the failure was.
      if (command_cursor_ + 1 == old_.size() && ended_by_runtime(expected)) return {};
      std::string expected_text = describe_command(expected.data, expected.source_event_id);
      std::string actual_text = describe_command(command, source);
      if (expected_text == actual_text) {
        // They differ in a field the description leaves out (an error's kind, say): both in full.
        Event issued = expected;
        issued.data = command;
        issued.source_event_id = source;
        expected_text += " " + encode_event(expected);
        actual_text += " " + encode_event(issued);
      }
      mismatch(command_cursor_, expected.event_id, std::move(expected_text), std::move(actual_text));
      return {};
    }
    ++command_cursor_;
    return {expected.event_id, false};
  }
  if (replaying_) {
    // The code ran exactly this far when the history was written, and recorded
    // every command it issued; a command the history lacks is a change of code.
    mismatch(old_.size(), 0,
             "no further command (the history ends at event " + std::to_string(old_.size()) + ")",
             describe_command(command, source));
    return {};
  }
  EventId id = append(std::move(command), source);
  if (stopped()) return {};
  return {id, true};
}

EventId ReplayState::append(EventData data, EventId source) {
  // Keep one slot for the OrchestrationFailed that reports the overflow.
  if (old_.size() + out_.new_events.size() + 1 >= limits::kMaxHistoryEvents &&
      !is_terminal_kind(static_cast<EventKind>(data.index()))) {
    fail(history_limit_failure());
    return 0;
  }
  EventId id = next_event_id_++;
  DUROXIDE_ASSERT(id == old_.size() + out_.new_events.size() + 1, "history ids are contiguous");
  out_.new_events.push_back(Event{id, source, input_.now_ms, std::move(data)});
  return id;
}

void ReplayState::issue_terminal(EventData command) {
  EventData copy = command;
  IssueResult issued = issue(std::move(command), 0);
  if (stopped()) return;  // mismatch: the failure is reported instead
  terminal_ = true;
  ready_.clear();
  TurnOutcome& outcome = out_.outcome;
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, events::OrchestrationCompleted>) {
          outcome.kind = TurnOutcomeKind::Completed;
          outcome.output = e.output;
        } else if constexpr (std::is_same_v<T, events::OrchestrationFailed>) {
          outcome.kind = TurnOutcomeKind::Failed;
          outcome.error = e.details;
        } else if constexpr (std::is_same_v<T, events::OrchestrationContinuedAsNew>) {
          outcome.kind = TurnOutcomeKind::ContinuedAsNew;
          outcome.next_input = e.input;
          outcome.next_version = e.version;  // empty: the next execution resolves the version policy, as a new start
        }
      },
      copy);
  // The next execution's item is built at the end of the turn: messages that arrive
  // after this point in the turn are carried too.
  if (issued.is_new && outcome.kind == TurnOutcomeKind::ContinuedAsNew) continued_now_ = true;
}

void ReplayState::collect_carried(const WorkItem& item) {
  if (!continued_now_) return drop(item, "the execution finished earlier in this turn");
  if (const auto* raised = std::get_if<work::ExternalRaised>(&item)) {
    arrived_after_continue_.push_back(
        {work::CarriedMessage::Kind::External, raised->name, raised->data});
  } else if (const auto* message = std::get_if<work::QueueMessage>(&item)) {
    arrived_after_continue_.push_back(
        {work::CarriedMessage::Kind::Queue, message->queue, message->data});
  } else if (std::holds_alternative<work::CancelInstance>(item)) {
    forwarded_after_continue_.push_back(item);
  } else {
    drop(item, "the execution continued as new earlier in this turn");
  }
}

// The next execution keeps the parent link and the custom status, and receives every
// message this one had not consumed: buffered ones and those a wait or dequeue took
// that no code received (its future still alive at the continue-as-new), in arrival
// order, then those that arrived after the continue-as-new in this turn.
work::ContinueAsNew ReplayState::next_execution_item() const {
  work::ContinueAsNew next{input_.instance, started_.name, out_.outcome.next_version,
                           out_.outcome.next_input};
  next.parent_instance = started_.parent_instance;
  next.parent_id = started_.parent_id;
  next.custom_status = custom_status_;
  next.kv = kv_;
  std::vector<std::pair<EventId, work::CarriedMessage>> buffered;
  auto collect = [&buffered](const std::map<std::string, Channel>& channels,
                             work::CarriedMessage::Kind kind) {
    for (const auto& [name, channel] : channels) {
      for (const auto& message : channel.buffer) {
        buffered.push_back({message.id, {kind, name, message.data}});
      }
    }
  };
  collect(externals_, work::CarriedMessage::Kind::External);
  collect(queues_, work::CarriedMessage::Kind::Queue);
  for (const auto& op : all_ops_) {
    const bool wait = op->kind == OpKind::External || op->kind == OpKind::Queue;
    if (wait && op->done && op->result.ok && !op->result_taken && !op->cancelled) {
      const auto kind = op->kind == OpKind::External ? work::CarriedMessage::Kind::External
                                                     : work::CarriedMessage::Kind::Queue;
      buffered.push_back({op->message_id, {kind, op->name, op->result.value}});
    }
  }
  std::sort(buffered.begin(), buffered.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [id, message] : buffered) next.carried.push_back(std::move(message));
  next.carried.insert(next.carried.end(), arrived_after_continue_.begin(),
                      arrived_after_continue_.end());
  std::size_t bytes = 0;
  for (const auto& message : next.carried) bytes += message.name.size() + message.data.size();
  if (next.carried.size() > limits::kMaxCarriedMessages || bytes > limits::kMaxCarriedBytes) {
    next.uncarried = next.carried.size();
    next.carried.clear();
  }
  return next;
}

void ReplayState::mismatch(std::size_t index, EventId event_id, std::string expected,
                           std::string actual) {
  if (failure_) return;
  std::string where = event_id ? "event " + std::to_string(event_id) + " (history index " +
                                     std::to_string(index) + ")"
                               : "history index " + std::to_string(index) + " (past its end)";
  failure_ = ErrorDetails::nondeterminism(where + ": history has " + expected +
                                          "; the orchestration issued " + actual);
  out_.mismatch = Mismatch{index, event_id, std::move(expected), std::move(actual)};
}

void ReplayState::fail(ErrorDetails details) {
  // Once the execution has ended (completed, failed or continued as new), code that
  // goes on cannot change how it ended.
  if (!failure_ && !terminal_) failure_ = std::move(details);
}

// ---------------------------------------------------------------- operations

std::shared_ptr<OpState> ReplayState::new_op(OpKind kind, EventId id, std::string name) {
  auto op = std::make_shared<OpState>();
  op->kind = kind;
  op->id = id;
  op->name = std::move(name);
  op->created_seq = ++created_seq_;
  all_ops_.push_back(op);
  if (id != 0) {
    DUROXIDE_ASSERT(id <= old_.size() + out_.new_events.size() + 1, "operation ids are event ids");
    if (id >= ops_by_id_.size()) ops_by_id_.resize(id + 1);
    ops_by_id_[id] = op;
  }
  return op;
}

bool ReplayState::check_text(const std::string& value, std::size_t max, const char* what,
                             bool required) {
  std::string problem = text_problem(value, max, what, required);
  if (problem.empty()) return true;
  fail(ErrorDetails::orchestration_failed(std::move(problem)));
  return false;
}

bool ReplayState::check_key(const std::string& value, std::size_t max, const char* what) {
  std::string problem = key_problem(value, max, what, false);
  if (problem.empty()) return true;
  fail(ErrorDetails::orchestration_failed(std::move(problem)));
  return false;
}

DurableFuture ReplayState::schedule_activity(std::string name, std::string input, std::string tag,
                                             std::string session_id) {
  if (!check_text(name, limits::kMaxNameBytes, "an activity name", true) ||
      !check_text(input, limits::kMaxPayloadBytes, "an activity input", false) ||
      !check_key(tag, limits::kMaxTagBytes, "an activity tag") ||
      !check_key(session_id, limits::kMaxSessionIdBytes, "an activity session id")) {
    return DurableFuture(this, new_op(OpKind::Activity, 0, name));
  }
  IssueResult issued = issue(events::ActivityScheduled{name, input, tag, session_id});
  auto op = new_op(OpKind::Activity, issued.id, name);
  if (issued.is_new) {
    out_.worker_items.push_back(work::ActivityExecute{input_.instance, input_.execution_id, issued.id,
                                                      std::move(name), std::move(input), std::move(tag),
                                                      std::move(session_id)});
  }
  return DurableFuture(this, std::move(op));
}

DurableFuture ReplayState::schedule_timer(std::int64_t delay_ms) {
  if (delay_ms < 0) delay_ms = 0;
  // The turn time comes from history: outside data.
  const TimestampMs fire_at = saturating_add(current_time_, delay_ms);
  IssueResult issued = issue(events::TimerCreated{fire_at});
  auto op = new_op(OpKind::Timer, issued.id, "timer");
  if (issued.is_new) {
    out_.orchestrator_items.push_back(
        {work::TimerFired{input_.instance, input_.execution_id, issued.id, fire_at}, fire_at});
  }
  return DurableFuture(this, std::move(op));
}

DurableFuture ReplayState::schedule_wait(std::string name) {
  if (!check_text(name, limits::kMaxNameBytes, "an event name", true)) {
    return DurableFuture(this, new_op(OpKind::External, 0, name));
  }
  IssueResult issued = issue(events::ExternalSubscribed{name});
  return schedule_channel_wait(OpKind::External, externals_, std::move(name), issued.id);
}

DurableFuture ReplayState::dequeue_event(std::string queue) {
  if (!check_text(queue, limits::kMaxNameBytes, "a queue name", true)) {
    return DurableFuture(this, new_op(OpKind::Queue, 0, queue));
  }
  IssueResult issued = issue(events::QueueSubscribed{queue});
  return schedule_channel_wait(OpKind::Queue, queues_, std::move(queue), issued.id);
}

// A wait takes the oldest buffered message of its channel, or joins the line.
DurableFuture ReplayState::schedule_channel_wait(OpKind kind,
                                                 std::map<std::string, Channel>& channels,
                                                 std::string name, EventId id) {
  auto op = new_op(kind, id, std::move(name));
  if (stopped()) return DurableFuture(this, std::move(op));
  Channel& channel = channels[op->name];
  if (!channel.buffer.empty()) {
    Buffered message = std::move(channel.buffer.front());
    channel.buffer.pop_front();
    op->message_id = message.id;
    complete_op(*op, FutureResult{true, std::move(message.data), {}});
  } else {
    channel.waiters.push_back(op);
  }
  return DurableFuture(this, std::move(op));
}

DurableFuture ReplayState::schedule_sub_orchestration(std::string name, std::string input,
                                                      const SubOrchestrationOptions& options) {
  ++sub_counter_;
  std::string instance = options.instance;
  if (instance.empty()) {
    instance = input_.instance + "::sub::" +
               (input_.execution_id > 1 ? std::to_string(input_.execution_id) + "." : "") +
               std::to_string(sub_counter_);
  }
  if (!check_text(name, limits::kMaxNameBytes, "a sub-orchestration name", true) ||
      !check_text(instance, limits::kMaxIdentifierBytes, "a sub-orchestration instance id",
                  true) ||
      !check_text(input, limits::kMaxPayloadBytes, "a sub-orchestration input", false) ||
      !check_text(options.version, limits::kMaxVersionBytes, "a sub-orchestration version",
                  false)) {
    return DurableFuture(this, new_op(OpKind::SubOrchestration, 0, name));
  }
  IssueResult issued =
      issue(events::SubOrchestrationScheduled{name, instance, input, options.version});
  auto op = new_op(OpKind::SubOrchestration, issued.id, name);
  op->child_instance = instance;
  if (issued.is_new) {
    out_.orchestrator_items.push_back(
        {work::StartOrchestration{std::move(instance), std::move(name), options.version,
                                  std::move(input), input_.instance, issued.id, {}},
         0});
  }
  return DurableFuture(this, std::move(op));
}

std::string ReplayState::start_detached(std::string name, std::string input,
                                        const SubOrchestrationOptions& options) {
  ++detached_counter_;
  std::string instance = options.instance;
  if (instance.empty()) {
    instance = input_.instance + "::detached::" +
               (input_.execution_id > 1 ? std::to_string(input_.execution_id) + "." : "") +
               std::to_string(detached_counter_);
  }
  if (!check_text(name, limits::kMaxNameBytes, "a detached orchestration name", true) ||
      !check_text(instance, limits::kMaxIdentifierBytes, "a detached instance id", true) ||
      !check_text(input, limits::kMaxPayloadBytes, "a detached orchestration input", false) ||
      !check_text(options.version, limits::kMaxVersionBytes, "a detached orchestration version",
                  false)) {
    return instance;
  }
  IssueResult issued =
      issue(events::DetachedOrchestrationStarted{name, instance, input, options.version});
  if (issued.is_new) {
    out_.orchestrator_items.push_back(
        {work::StartOrchestration{instance, std::move(name), options.version, std::move(input),
                                  {}, 0, {}},
         0});
  }
  return instance;
}

void ReplayState::continue_as_new(std::string input, std::string version) {
  if (!check_text(input, limits::kMaxPayloadBytes, "a continue-as-new input", false) ||
      !check_text(version, limits::kMaxVersionBytes, "a continue-as-new version", false)) {
    return;
  }
  if (!version.empty() && !SemVer::parse(version)) {
    return fail(ErrorDetails::orchestration_failed("continue-as-new version \"" + version +
                                                   "\" is not MAJOR.MINOR.PATCH"));
  }
  issue_terminal(events::OrchestrationContinuedAsNew{std::move(input), std::move(version)});
}

DurableFuture ReplayState::spawn(Task<std::string> task) {
  auto op = new_op(OpKind::Task, 0, "task");
  if (!task.valid()) {
    complete_op(*op, FutureResult{false, {}, ErrorDetails::orchestration_failed("empty task")});
    return DurableFuture(this, std::move(op));
  }
  op->runner = run_composed(this, op.get(), std::move(task));
  schedule(op->runner.handle());
  return DurableFuture(this, std::move(op));
}

void ReplayState::set_custom_status(std::optional<std::string> status) {
  if (status && !check_text(*status, limits::kMaxPayloadBytes, "the custom status", false)) {
    return;
  }
  IssueResult issued = issue(events::CustomStatusUpdated{status});
  if (stopped()) return;
  custom_status_ = std::move(status);
  if (issued.is_new) out_.custom_status_changed = true;
}

namespace {

// Nibbles [from, to) of `value`, most significant first, as lowercase hex.
void append_hex(std::string& out, std::uint64_t value, int from_nibble, int to_nibble) {
  constexpr char kHex[] = "0123456789abcdef";
  for (int i = from_nibble; i < to_nibble; ++i) out += kHex[(value >> (60 - 4 * i)) & 0xF];
}

}  // namespace

// The seed is a hash: the history never holds the lock token itself.
std::string ReplayState::guid_seed_for(const TurnInput& input) {
  if (input.start_token.empty()) return {};
  const std::uint64_t hash =
      hash64(input.start_token + '\n' + input.instance + '\n' + std::to_string(input.execution_id), 0x5eed);
  std::string out;
  append_hex(out, hash, 0, 16);
  return out;
}

// Name-based from the instance, the execution, the call's position and the start's seed:
// the same on every replay, other values after the id is reused. Histories without a
// seed hash exactly what they hashed before it existed.
std::string ReplayState::new_guid() {
  ++guid_counter_;
  std::string seed = input_.instance + '\n' + std::to_string(input_.execution_id) + '\n' +
                     std::to_string(guid_counter_);
  if (!started_.guid_seed.empty()) seed += '\n' + started_.guid_seed;
  std::uint64_t high = hash64(seed, 0x5eed);
  std::uint64_t low = hash64(seed, high);
  high = (high & ~0xF000ull) | 0x5000ull;                          // version 5 (name-based)
  low = (low & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // RFC 4122 variant
  std::string out;
  append_hex(out, high, 0, 8);
  out += '-';
  append_hex(out, high, 8, 12);
  out += '-';
  append_hex(out, high, 12, 16);
  out += '-';
  append_hex(out, low, 0, 4);
  out += '-';
  append_hex(out, low, 4, 16);
  return out;
}

void ReplayState::log(LogLevel level, std::string message) {
  constexpr std::size_t kMaxLogLines = 10'000;
  constexpr std::size_t kMaxLogLineBytes = 8 * 1024;
  if (out_.logs.size() >= kMaxLogLines) return;
  message = bounded_text(message, kMaxLogLineBytes);
  out_.logs.push_back({level, std::move(message), replaying_, last_delivered_});
}

void ReplayState::add_waiter(OpState& op, std::shared_ptr<Waiter> waiter) {
  op.waiters.push_back(std::move(waiter));
}

void ReplayState::complete_op(OpState& op, FutureResult result) {
  if (op.done || op.cancelled) return;
  op.done = true;
  op.result = std::move(result);
  op.completion_seq = ++completion_seq_;
  auto waiters = std::move(op.waiters);
  op.waiters.clear();
  for (auto& waiter : waiters) {
    if (!waiter->fired && waiter->ready()) {
      waiter->fired = true;
      schedule(waiter->handle);
    }
  }
}

void ReplayState::cancel(OpState& op, const std::string& reason) {
  // Once the turn has stopped (failed or ended), a cancel can no longer be recorded; the op
  // stays as it is, so the turn's end cancels its activity with the execution
  // (cancel_activities_in_flight) instead of leaving it running unrecorded.
  if (op.done || op.cancelled || tearing_down_ || stopped()) return;
  op.cancelled = true;
  op.waiters.clear();
  switch (op.kind) {
    case OpKind::Activity:
      if (op.id != 0) {
        IssueResult issued = issue(events::ActivityCancelRequested{reason}, op.id);
        if (issued.is_new) {
          out_.cancelled_activities.push_back({input_.instance, input_.execution_id, op.id});
        }
      }
      break;
    case OpKind::SubOrchestration:
      if (op.id != 0) {
        IssueResult issued = issue(events::SubOrchestrationCancelRequested{reason}, op.id);
        if (issued.is_new) {
          out_.orchestrator_items.push_back(
              {work::CancelInstance{op.child_instance, reason, input_.instance, op.id}, 0});
        }
      }
      break;
    case OpKind::External:
      // Recorded, so the history shows the wait left the line (replay issues it alike).
      if (op.id != 0) issue(events::ExternalSubscribedCancelled{reason}, op.id);
      [[fallthrough]];
    case OpKind::Queue: {
      // The wait gives up its place: the next message goes to the next live wait.
      auto& waiters = (op.kind == OpKind::External ? externals_ : queues_)[op.name].waiters;
      waiters.erase(std::remove_if(waiters.begin(), waiters.end(),
                                   [&op](const auto& w) { return w.get() == &op; }),
                    waiters.end());
      break;
    }
    case OpKind::Task:
      op.runner.reset();  // destroys the composed task; its own futures cancel themselves
      break;
    case OpKind::Timer:
      break;  // nothing outside the replay to undo
  }
}

void ReplayState::release_loser(OpState& op) {
  if (!op.done) return cancel(op, "lost a select");
  if (op.result_taken || stopped()) return;
  op.result_taken = true;
  if ((op.kind != OpKind::Queue && op.kind != OpKind::External) || !op.result.ok) return;
  // Give the message back, in arrival order, so the next wait of its channel receives it.
  Channel& channel = (op.kind == OpKind::External ? externals_ : queues_)[op.name];
  auto at = std::find_if(channel.buffer.begin(), channel.buffer.end(),
                         [&op](const Buffered& b) { return b.id > op.message_id; });
  channel.buffer.insert(at, Buffered{op.message_id, op.result.value});
  while (!channel.waiters.empty() && !channel.buffer.empty()) {
    Buffered message = std::move(channel.buffer.front());
    channel.buffer.pop_front();
    deliver_to_channel(channel, message.id, message.data);
  }
}

// ---------------------------------------------------------------- end of turn

void ReplayState::finalize() {
  out_.custom_status = custom_status_;
  out_.history_was_terminal = history_terminal_;
  out_.history_corrupted = history_corrupted_;
  if (out_.outcome.kind == TurnOutcomeKind::Running && !stopped()) {
    for (const auto* channels : {&externals_, &queues_}) {
      for (const auto& [name, channel] : *channels) out_.unconsumed_messages += channel.buffer.size();
    }
  }
  if (history_terminal_ || history_corrupted_) {
    // Replaying a finished execution only verifies it, and a broken history is
    // not extended: nothing is written, the outcome reports what was found.
    out_.new_events.clear();
    out_.worker_items.clear();
    out_.orchestrator_items.clear();
    out_.cancelled_activities.clear();
    out_.custom_status_changed = false;
    if (failure_) {
      out_.outcome = TurnOutcome{TurnOutcomeKind::Failed, {}, *failure_, {}, {}};
    }
    return;
  }
  if (failure_) {
    // The failure is recorded as the terminal event.
    abandon_failed_turn();
    out_.outcome = TurnOutcome{TurnOutcomeKind::Failed, {}, *failure_, {}, {}};
    if (out_.new_events.empty() && old_.empty()) return;  // nothing to attach a failure to
    EventId id = next_event_id_++;
    DUROXIDE_ASSERT(id == old_.size() + out_.new_events.size() + 1, "history ids are contiguous");
    out_.new_events.push_back(
        Event{id, 0, input_.now_ms, events::OrchestrationFailed{*failure_}});
  }
  if (continued_now_ && !failure_) {
    // The execution ends: its activities still in flight are cancelled (their results
    // would be dropped), as upstream does.
    cancel_activities_in_flight(next_event_id_);
    out_.orchestrator_items.push_back({next_execution_item(), 0});
    for (auto& item : forwarded_after_continue_) out_.orchestrator_items.push_back({item, 0});
  }
  bool finished_now = out_.outcome.kind == TurnOutcomeKind::Completed ||
                      out_.outcome.kind == TurnOutcomeKind::Failed;
  bool wrote_terminal = !out_.new_events.empty() &&
                        is_terminal_kind(out_.new_events.back().kind());
  if (finished_now && wrote_terminal && !started_.parent_instance.empty()) {
    WorkItem notice =
        out_.outcome.kind == TurnOutcomeKind::Completed
            ? WorkItem{work::SubOrchestrationCompleted{started_.parent_instance,
                                                       started_.parent_id, input_.instance,
                                                       out_.outcome.output}}
            : WorkItem{work::SubOrchestrationFailed{started_.parent_instance, started_.parent_id,
                                                    input_.instance, out_.outcome.error}};
    out_.orchestrator_items.push_back({std::move(notice), 0});
  }
}

void ReplayState::abandon_failed_turn() {
  out_.worker_items.clear();  // activities it scheduled never run
  auto& items = out_.orchestrator_items;
  // Kept: the cancel of a child scheduled in an earlier turn (SubOrchestrationCancelRequested)
  // and a detached start (DetachedOrchestrationStarted). Dropped: everything else, the
  // starts of children it scheduled among them, and so the cancels of those children too
  // (one would reach an instance that never starts, or another that holds the id).
  const EventId earlier = static_cast<EventId>(old_.size());  // the last event of earlier turns
  items.erase(std::remove_if(items.begin(), items.end(),
                             [earlier](const OrchestratorItem& queued) {
                               if (const auto* cancel = std::get_if<work::CancelInstance>(&queued.item)) {
                                 return cancel->parent_id > earlier;
                               }
                               const auto* start = std::get_if<work::StartOrchestration>(&queued.item);
                               return !(start && start->parent_instance.empty());
                             }),
              items.end());
  DUROXIDE_ASSERT(failure_.has_value(), "a turn is abandoned for its failure");
  cancel_pending_of_earlier_turns(duroxide::failure_cancel_reason(*failure_));
}

// What the stored history shows still outstanding, not what the code replayed: a turn that
// fails on a nondeterminism replayed only up to the mismatch. Without a record in the history
// (no command may follow the failure), as at the runtime's other ends (runtime.cpp). This
// turn's own scheduling was never queued; what it completed or asked to cancel is skipped.
void ReplayState::cancel_pending_of_earlier_turns(const std::string& reason) {
  for (const PendingWork& pending : fold_history(old_, old_.size()).pending) {
    const auto op = find_op(pending.scheduled_event_id,
                            pending.kind == PendingKind::SubOrchestration ? OpKind::SubOrchestration : OpKind::Activity);
    if (op && (op->done || op->cancelled)) continue;
    cancel_pending_work(pending, input_.instance, input_.execution_id, reason, out_.cancelled_activities,
                        out_.orchestrator_items);
  }
}

void ReplayState::cancel_activities_in_flight(EventId scheduled_up_to) {
  for (const auto& op : all_ops_) {
    if (op->kind != OpKind::Activity || op->id == 0 || op->id > scheduled_up_to || op->done || op->cancelled) continue;
    out_.cancelled_activities.push_back({input_.instance, input_.execution_id, op->id});
  }
}

void ReplayState::teardown() {
  tearing_down_ = true;
  ready_.clear();
  root_.reset();
  for (auto& op : all_ops_) op->runner.reset();
  all_ops_.clear();
  ops_by_id_.clear();
  externals_.clear();
  queues_.clear();
}

}  // namespace detail

std::string failure_cancel_reason(const ErrorDetails& failure) {
  return "the orchestration failed: " + bounded_text(failure.display_message(), detail::kMaxCancelReasonBytes);
}

void cancel_pending_work(const PendingWork& pending, const std::string& instance, ExecutionId execution,
                         const std::string& reason, std::vector<CancelledActivity>& activities,
                         std::vector<OrchestratorItem>& items) {
  if (pending.kind == PendingKind::Activity) {
    activities.push_back({instance, execution, pending.scheduled_event_id});
  } else if (pending.kind == PendingKind::SubOrchestration) {
    items.push_back({work::CancelInstance{pending.instance, reason, instance, pending.scheduled_event_id}, 0});
  }
}

TurnResult run_turn(const Registry& registry, const TurnInput& input) {
  detail::ReplayState state(registry, input);
  return state.run();
}

}  // namespace duroxide
