#include <algorithm>

#include "duroxide/history_state.hpp"
#include "duroxide/runtime.hpp"

namespace duroxide {

namespace {

std::string truncated(std::string text) {
  if (text.size() > limits::kMaxPayloadBytes) text.resize(limits::kMaxPayloadBytes);
  return text;
}

// Name and version the turn will run: from the history, else from the start message.
struct Target {
  std::string name;
  std::string version;  // empty: the registry's policy (a new instance)
};
std::optional<Target> target_of(const History& history, const std::vector<WorkItem>& messages) {
  if (!history.empty()) {
    if (const auto* started = history.front().as<events::OrchestrationStarted>()) {
      return Target{started->name, started->version};
    }
    return std::nullopt;
  }
  for (const auto& message : messages) {
    if (const auto* start = std::get_if<work::StartOrchestration>(&message)) {
      return Target{start->orchestration, start->version};
    }
    if (const auto* next = std::get_if<work::ContinueAsNew>(&message)) {
      return Target{next->orchestration, next->version};
    }
  }
  return std::nullopt;
}

ExecutionMetadata metadata_of(const TurnResult& result, const OrchestrationItem& item) {
  ExecutionMetadata meta;
  meta.orchestration_name =
      result.orchestration_name.empty() ? item.orchestration_name : result.orchestration_name;
  meta.orchestration_version = result.orchestration_version.empty()
                                   ? item.orchestration_version
                                   : result.orchestration_version;
  meta.parent_instance = result.parent_instance;
  meta.parent_id = result.parent_id;
  meta.custom_status = result.custom_status;
  meta.custom_status_changed = result.custom_status_changed;
  switch (result.outcome.kind) {
    case TurnOutcomeKind::Running:
      meta.state = RuntimeState::Running;
      break;
    case TurnOutcomeKind::Completed:
      meta.state = RuntimeState::Completed;
      meta.output = result.outcome.output;
      break;
    case TurnOutcomeKind::Failed:
      meta.state = RuntimeState::Failed;
      meta.error = result.outcome.error;
      break;
    case TurnOutcomeKind::ContinuedAsNew:
      meta.state = RuntimeState::Completed;
      meta.continued_as_new = true;
      meta.output = result.outcome.next_input;
      break;
  }
  return meta;
}

// The metadata an execution's stored history implies (for acks that change nothing).
ExecutionMetadata stored_metadata(const History& history, const OrchestrationItem& item) {
  ExecutionMetadata meta;
  meta.orchestration_name = item.orchestration_name;
  meta.orchestration_version = item.orchestration_version;
  if (!history.empty()) {
    if (const auto* started = history.front().as<events::OrchestrationStarted>()) {
      meta.orchestration_name = started->name;
      meta.orchestration_version = started->version;
      meta.parent_instance = started->parent_instance;
      meta.parent_id = started->parent_id;
    }
  }
  HistoryState state = fold_history(history, history.size());
  meta.state = state.state == RuntimeState::NotFound ? RuntimeState::Running : state.state;
  meta.continued_as_new = state.continued_as_new;
  meta.output = state.output;
  meta.error = state.error;
  meta.custom_status = state.custom_status;
  return meta;
}

// The activity events a turn adds, with names and durations looked up from the
// scheduling events (in the stored history or earlier in the same delta).
std::vector<ActivityOutcome> activity_outcomes(const History& history, const History& delta) {
  std::vector<ActivityOutcome> out;
  auto scheduled = [&](EventId id) -> const Event* {
    // In the stored history event id k sits at index k - 1 (the engine checks it);
    // the delta is short, so it is scanned.
    const Event* found = nullptr;
    if (id >= 1 && id <= history.size()) found = &history[id - 1];
    for (const Event& candidate : delta) {
      if (candidate.event_id == id) found = &candidate;
    }
    return found && found->is<events::ActivityScheduled>() ? found : nullptr;
  };
  for (const Event& event : delta) {
    if (const auto* started = event.as<events::ActivityScheduled>()) {
      out.push_back({started->name, ActivityOutcome::Kind::Scheduled, 0});
      continue;
    }
    bool completed = event.is<events::ActivityCompleted>();
    if (!completed && !event.is<events::ActivityFailed>()) continue;
    if (const Event* source = scheduled(event.source_event_id)) {
      out.push_back({source->as<events::ActivityScheduled>()->name,
                     completed ? ActivityOutcome::Kind::Completed : ActivityOutcome::Kind::Failed,
                     event.timestamp_ms - source->timestamp_ms});
    }
  }
  return out;
}

// Runs one provider call, timing it into the metrics (if any); rethrows.
template <typename F>
auto timed_call(RuntimeMetrics* metrics, Clock& clock, const char* operation, F&& call)
    -> decltype(call()) {
  if (!metrics) return call();
  const TimestampMs start = clock.now_ms();
  try {
    if constexpr (std::is_void_v<decltype(call())>) {
      call();
      metrics->provider_call(operation, clock.now_ms() - start, false);
    } else {
      auto result = call();
      metrics->provider_call(operation, clock.now_ms() - start, false);
      return result;
    }
  } catch (...) {
    metrics->provider_call(operation, clock.now_ms() - start, true);
    throw;
  }
}

// A batch ack, timed; a call that throws fails each of its `count` acks alike.
template <typename F>
std::vector<AckOutcome> ack_batch(RuntimeMetrics* metrics, Clock& clock, const char* operation,
                                  std::size_t count, F&& call) {
  try {
    return timed_call(metrics, clock, operation, call);
  } catch (const ProviderError& error) {
    return std::vector<AckOutcome>(count, error);
  }
}

// Counts the starts and ends an acked turn recorded.
void count_turn(RuntimeMetrics* metrics, const OrchestrationAck& ack) {
  if (!metrics) return;
  const std::string& name = ack.metadata.orchestration_name;
  for (const Event& event : ack.history_delta) {
    if (event.is<events::OrchestrationStarted>()) metrics->orchestration_started(name);
  }
  if (!ack.history_delta.empty() && is_terminal_kind(ack.history_delta.back().kind())) {
    metrics->orchestration_finished(name, ack.metadata.state == RuntimeState::Completed,
                                    ack.metadata.continued_as_new);
  }
}

// An ack of a batch that failed. A lost lock (the item was cancelled, or expired
// and taken by another node) is only counted; any other error releases the item
// so that it is fetched again at once.
template <typename Abandon>
void report_failed_ack(const DispatcherContext& context, const std::string& instance,
                       const ProviderError& error, Abandon&& abandon) {
  if (error.kind() == ProviderErrorKind::InvalidLock) {
    if (context.options.metrics) context.options.metrics->lock_lost();
    context.notify(RuntimeEvent::Kind::LockLost, instance, error.what());
    return;
  }
  context.notify(RuntimeEvent::Kind::ProviderError, instance, error.what());
  try {
    abandon();
  } catch (const ProviderError&) {
    // The lock expires on its own; the item is then fetched again.
  }
}

}  // namespace

std::int64_t unregistered_backoff(const RuntimeOptions& options, std::uint32_t attempt) {
  std::int64_t delay = std::max<std::int64_t>(options.unregistered_backoff_ms, 1);
  for (std::uint32_t i = 1; i < attempt && delay < options.unregistered_backoff_max_ms; ++i) {
    delay *= 2;
  }
  return std::min(delay, std::max<std::int64_t>(options.unregistered_backoff_max_ms, 1));
}

// ---------------------------------------------------------------- orchestrations

OrchestrationDispatcher::OrchestrationDispatcher(Provider& provider, const Registry& registry,
                                                 Clock& clock, RuntimeOptions options,
                                                 RuntimeObserver observer)
    : context_{provider, registry, clock, options, std::move(observer)} {}

bool OrchestrationDispatcher::step() {
  Provider& provider = context_.provider;
  const RuntimeOptions& options = context_.options;
  RuntimeMetrics* metrics = options.metrics;
  std::vector<OrchestrationItem> fetched;
  try {
    fetched = timed_call(metrics, context_.clock, "fetch_orchestration_items", [&] {
      return provider.fetch_orchestration_items(options.orchestration_lock_timeout_ms,
                                                std::clamp<std::size_t>(options.orchestration_batch_size, 1,
                                                                        kMaxBatchItems));
    });
  } catch (const ProviderError& error) {
    context_.notify(RuntimeEvent::Kind::ProviderError, {}, error.what());
    return false;
  }
  if (fetched.empty()) return false;

  // Every turn of the batch runs, then all their acks commit together.
  std::vector<OrchestrationAckRequest> requests;
  std::vector<std::string> instances;
  for (OrchestrationItem& item : fetched) {
    std::optional<OrchestrationAck> ack = run_item(item);
    if (!ack) continue;
    requests.push_back({item.lock_token, std::move(*ack)});
    instances.push_back(item.instance);
  }
  if (requests.empty()) return true;
  const std::vector<AckOutcome> outcomes =
      ack_batch(metrics, context_.clock, "ack_orchestration_items", requests.size(),
                [&] { return provider.ack_orchestration_items(requests); });
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (!outcomes[i]) {
      count_turn(metrics, requests[i].ack);
      continue;
    }
    report_failed_ack(context_, instances[i], *outcomes[i],
                      [&] { provider.abandon_orchestration_item(requests[i].lock_token, 0, false); });
  }
  return true;
}

std::optional<OrchestrationAck> OrchestrationDispatcher::run_item(OrchestrationItem& item) {
  Provider& provider = context_.provider;
  const Registry& registry = context_.registry;
  const RuntimeOptions& options = context_.options;
  auto notify = [this](RuntimeEvent::Kind kind, const std::string& instance,
                       std::string message) { context_.notify(kind, instance, std::move(message)); };
  RuntimeMetrics* metrics = options.metrics;
  const TimestampMs now = context_.clock.now_ms();

  ExecutionId execution = item.execution_id == 0 ? 1 : item.execution_id;
  History history = std::move(item.history);
  // After continue-as-new the stored execution is finished and the queue holds
  // the start of the next one: the turn runs on a fresh history.
  if (!history.empty() && history.back().is<events::OrchestrationContinuedAsNew>() &&
      std::any_of(item.messages.begin(), item.messages.end(), [](const WorkItem& m) {
        return std::holds_alternative<work::ContinueAsNew>(m);
      })) {
    execution += 1;
    history.clear();
  }

  OrchestrationAck ack;
  ack.execution_id = execution;
  const bool finished = !history.empty() && is_terminal_kind(history.back().kind());
  auto fail_instance = [&](ErrorDetails details, bool can_append) {
    notify(RuntimeEvent::Kind::Poison, item.instance, details.display_message());
    if (metrics) metrics->poisoned();
    ack.metadata = stored_metadata(history, item);
    ack.metadata.state = RuntimeState::Failed;
    ack.metadata.continued_as_new = false;
    ack.metadata.output.clear();
    ack.metadata.error = details;
    if (can_append && history.empty()) {
      // A start that never ran: record the instance, so it fails visibly instead of vanishing.
      if (std::optional<Target> target = target_of(history, item.messages)) {
        events::OrchestrationStarted started{target->name, target->version, {}, {}, 0};
        for (const WorkItem& message : item.messages) {
          if (const auto* start = std::get_if<work::StartOrchestration>(&message)) {
            started.input = start->input;
            started.parent_instance = start->parent_instance;
            started.parent_id = start->parent_id;
            break;
          }
          if (const auto* next = std::get_if<work::ContinueAsNew>(&message)) {
            // A continued sub-orchestration still reports to its parent.
            started.input = next->input;
            started.parent_instance = next->parent_instance;
            started.parent_id = next->parent_id;
            break;
          }
        }
        history.push_back(Event{1, 0, now, started});
        ack.history_delta.push_back(history.back());
        ack.metadata.orchestration_name = started.name;
        ack.metadata.orchestration_version = started.version;
        ack.metadata.parent_instance = started.parent_instance;
        ack.metadata.parent_id = started.parent_id;
      }
    }
    const auto* started =
        history.empty() ? nullptr : history.front().as<events::OrchestrationStarted>();
    if (can_append && started && !finished) {
      ack.history_delta.push_back(
          Event{history.back().event_id + 1, 0, now, events::OrchestrationFailed{details}});
      if (!started->parent_instance.empty()) {
        ack.orchestrator_items.push_back(
            {work::SubOrchestrationFailed{started->parent_instance, started->parent_id,
                                          item.instance, details},
             0});
      }
    }
  };

  if (finished) {
    // A finished execution takes no more messages; its stored state stays as it is.
    for (const auto& message : item.messages) {
      notify(RuntimeEvent::Kind::Dropped, item.instance,
             std::string(to_string(kind_of(message))) + ": the instance has finished");
    }
    ack.metadata = stored_metadata(history, item);
  } else if (item.corruption) {
    fail_instance(ErrorDetails::poison("corrupted history or message (" + *item.corruption + ")",
                                       item.attempt_count, options.max_attempts),
                  /*can_append=*/false);
  } else if (item.attempt_count > options.max_attempts) {
    fail_instance(
        ErrorDetails::poison("orchestration item", item.attempt_count, options.max_attempts),
        /*can_append=*/true);
  } else {
    std::optional<Target> target = target_of(history, item.messages);
    bool registered =
        !target || (history.empty()
                        ? registry.resolve_for_start(target->name, target->version).has_value()
                        : registry.find_orchestration(target->name, target->version) != nullptr);
    if (!registered && item.attempt_count < options.max_attempts) {
      // Another node may have this code: back off and let it (or a redeploy) take it.
      std::int64_t delay = unregistered_backoff(options, item.attempt_count);
      notify(RuntimeEvent::Kind::Unregistered, item.instance,
             "orchestration " + target->name + " " + target->version +
                 " is not registered here; retrying in " + std::to_string(delay) + " ms");
      try {
        provider.abandon_orchestration_item(item.lock_token, delay, false);
      } catch (const ProviderError& error) {
        notify(RuntimeEvent::Kind::ProviderError, item.instance, error.what());
      }
      return std::nullopt;
    }
    TurnInput input{item.instance, execution, std::move(history), std::move(item.messages), now};
    const TimestampMs turn_start = context_.clock.now_ms();
    TurnResult result = run_turn(registry, input);
    if (metrics) metrics->turn(context_.clock.now_ms() - turn_start);
    for (const auto& line : result.logs) {
      if (!line.replaying) notify(RuntimeEvent::Kind::Log, item.instance, line.message);
    }
    for (const auto& dropped : result.dropped) {
      notify(RuntimeEvent::Kind::Dropped, item.instance,
             std::string(to_string(kind_of(dropped.item))) + ": " + dropped.reason);
    }
    ack.metadata = metadata_of(result, item);
    ack.activity_outcomes = activity_outcomes(input.history, result.new_events);
    ack.history_delta = std::move(result.new_events);
    ack.worker_items = std::move(result.worker_items);
    ack.orchestrator_items = std::move(result.orchestrator_items);
    ack.cancelled_activities = std::move(result.cancelled_activities);
  }

  return ack;
}

// ---------------------------------------------------------------- activities

WorkerDispatcher::WorkerDispatcher(Provider& provider, const Registry& registry, Clock& clock,
                                   RuntimeOptions options, RuntimeObserver observer,
                                   ActivityLeases* leases)
    : context_{provider, registry, clock, options, std::move(observer)}, leases_(leases) {}

bool WorkerDispatcher::step() {
  Provider& provider = context_.provider;
  const RuntimeOptions& options = context_.options;
  RuntimeMetrics* metrics = options.metrics;
  std::vector<WorkerItem> fetched;
  try {
    fetched = timed_call(metrics, context_.clock, "fetch_work_items", [&] {
      return provider.fetch_work_items(options.worker_lock_timeout_ms,
                                       std::clamp<std::size_t>(options.worker_batch_size, 1, kMaxBatchItems));
    });
  } catch (const ProviderError& error) {
    context_.notify(RuntimeEvent::Kind::ProviderError, {}, error.what());
    // A corrupted row was parked: that was work, and the queue may hold more.
    return error.kind() == ProviderErrorKind::Corrupted;
  }
  if (fetched.empty()) return false;

  // Every fetched item holds a lease (its lock is renewed) from now until its
  // ack commits: items waiting their turn in the batch, and finished ones
  // waiting for the batch's ack, keep their locks as the running one does.
  std::vector<std::shared_ptr<std::atomic<bool>>> cancelled;
  for (const WorkerItem& item : fetched) {
    cancelled.push_back(std::make_shared<std::atomic<bool>>(false));
    if (leases_) {
      leases_->begin(item.lock_token, "activity " + item.item.name + " of " + item.item.instance,
                     cancelled.back());
    }
  }
  struct LeasesEnd {
    ActivityLeases* leases;
    const std::vector<WorkerItem>& items;
    ~LeasesEnd() {
      if (!leases) return;
      for (const WorkerItem& item : items) leases->end(item.lock_token);
    }
  } leases_end{leases_, fetched};

  std::vector<WorkAckRequest> requests;
  std::vector<std::string> instances;
  for (std::size_t i = 0; i < fetched.size(); ++i) {
    if (cancelled[i]->load()) continue;  // its lock was lost while it waited: nothing to run or ack
    std::optional<WorkItem> completion = run_item(fetched[i], cancelled[i]);
    if (!completion) {
      if (leases_) leases_->end(fetched[i].lock_token);  // abandoned: its lock is no longer ours
      continue;
    }
    requests.push_back({fetched[i].lock_token, std::move(completion)});
    instances.push_back(fetched[i].item.instance);
  }
  if (requests.empty()) return true;
  const std::vector<AckOutcome> outcomes =
      ack_batch(metrics, context_.clock, "ack_work_items", requests.size(),
                [&] { return provider.ack_work_items(requests); });
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (!outcomes[i]) continue;
    report_failed_ack(context_, instances[i], *outcomes[i],
                      [&] { provider.abandon_work_item(requests[i].lock_token, 0, false); });
  }
  return true;
}

std::optional<WorkItem> WorkerDispatcher::run_item(const WorkerItem& fetched,
                                                   const std::shared_ptr<std::atomic<bool>>& cancelled) {
  Provider& provider = context_.provider;
  const Registry& registry = context_.registry;
  const RuntimeOptions& options = context_.options;
  auto notify = [this](RuntimeEvent::Kind kind, const std::string& instance,
                       std::string message) { context_.notify(kind, instance, std::move(message)); };
  RuntimeMetrics* metrics = options.metrics;
  const work::ActivityExecute& task = fetched.item;
  auto failed = [&](ErrorDetails details) -> WorkItem {
    return work::ActivityFailed{task.instance, task.execution_id, task.id, std::move(details)};
  };

  const ActivityFn* fn = registry.find_activity(task.name);
  if (fetched.attempt_count > options.max_attempts) {
    notify(RuntimeEvent::Kind::Poison, task.instance, "activity " + task.name + " is poison");
    if (metrics) metrics->poisoned();
    return failed(ErrorDetails::poison("activity " + task.name, fetched.attempt_count, options.max_attempts));
  }
  if (!fn && fetched.attempt_count < options.max_attempts) {
    std::int64_t delay = unregistered_backoff(options, fetched.attempt_count);
    notify(RuntimeEvent::Kind::Unregistered, task.instance,
           "activity " + task.name + " is not registered here; retrying in " +
               std::to_string(delay) + " ms");
    try {
      provider.abandon_work_item(fetched.lock_token, delay, false);
    } catch (const ProviderError& error) {
      notify(RuntimeEvent::Kind::ProviderError, task.instance, error.what());
    }
    return std::nullopt;
  }
  if (!fn) return failed(ErrorDetails::unregistered_activity(task.name));

  std::optional<WorkItem> completion;
  ActivityContext context{task.instance, task.execution_id, task.id, task.name, cancelled};
  const TimestampMs activity_start = context_.clock.now_ms();
  try {
    std::string result = (*fn)(context, task.input);
    if (result.size() > limits::kMaxPayloadBytes) {
      completion = failed(ErrorDetails::activity_failed(
          "activity " + task.name + " returned " + std::to_string(result.size()) +
          " bytes, over the limit of " + std::to_string(limits::kMaxPayloadBytes)));
    } else {
      completion = work::ActivityCompleted{task.instance, task.execution_id, task.id, std::move(result)};
    }
  } catch (const std::exception& error) {
    completion = failed(ErrorDetails::activity_failed(truncated(error.what())));
  } catch (...) {
    completion = failed(ErrorDetails::activity_failed("activity threw a non-standard exception"));
  }
  if (metrics) {
    metrics->activity_finished(task.name, std::holds_alternative<work::ActivityCompleted>(*completion),
                               context_.clock.now_ms() - activity_start);
  }
  return completion;
}

// ---------------------------------------------------------------- step driver

StepDriver::StepDriver(Provider& provider, const Registry& registry, Clock& clock,
                       RuntimeOptions options, RuntimeObserver observer)
    : orchestrations_(provider, registry, clock, options, observer),
      workers_(provider, registry, clock, options, observer),
      worker_steps_per_round_(std::max<std::size_t>(options.orchestration_batch_size, 1)) {}

bool StepDriver::step() {
  // Alternate which dispatcher goes first so neither starves the other.
  orchestration_turn_ = !orchestration_turn_;
  if (orchestration_turn_) return orchestrations_.step() || workers_.step();
  return workers_.step() || orchestrations_.step();
}

std::size_t StepDriver::run_until_idle(std::size_t max_steps) {
  std::size_t steps = 0;
  while (steps < max_steps) {
    const std::size_t round_start = steps;
    if (orchestrations_.step()) ++steps;
    for (std::size_t i = 0; i < worker_steps_per_round_ && steps < max_steps && workers_.step(); ++i) ++steps;
    if (steps == round_start) break;  // both idle
  }
  return steps;
}

}  // namespace duroxide
