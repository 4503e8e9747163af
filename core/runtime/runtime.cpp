#include <algorithm>
#include <stdexcept>

#include "duroxide/assert.hpp"
#include "duroxide/history_state.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/text.hpp"
#include "duroxide/kv_activity.hpp"

namespace duroxide {

std::string_view to_string(RuntimeEvent::Kind kind) {
  switch (kind) {
    case RuntimeEvent::Kind::Log: return "log";
    case RuntimeEvent::Kind::Dropped: return "dropped";
    case RuntimeEvent::Kind::Poison: return "poison";
    case RuntimeEvent::Kind::Unregistered: return "unregistered";
    case RuntimeEvent::Kind::Unsupported: return "unsupported";
    case RuntimeEvent::Kind::LockLost: return "lock-lost";
    case RuntimeEvent::Kind::ProviderError: return "provider-error";
  }
  return "unknown";
}

namespace {

// The options with each batch size the caller left to the store (0) set to the
// store's preferred size, and every size within 1..kMaxBatchItems.
RuntimeOptions with_batch_sizes(RuntimeOptions options, const Provider& provider) {
  const std::size_t preferred = std::clamp<std::size_t>(provider.preferred_batch_size(), 1, kMaxBatchItems);
  for (std::size_t* size : {&options.orchestration_batch_size, &options.worker_batch_size}) {
    *size = *size == 0 ? preferred : std::min(*size, kMaxBatchItems);
  }
  return options;
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
  meta.unconsumed_messages = result.unconsumed_messages;
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

// Tenants (access_policy.hpp): an instance's tenant is its row's, or before its first
// ack its start's; the ack writes it on the row it creates, and every start the turn
// queues (sub-orchestrations, detached starts) inherits it.
void carry_tenant(const OrchestrationItem& item, OrchestrationAck& ack) {
  std::string tenant = item.tenant;
  if (item.execution_id == 0) {
    for (const WorkItem& message : item.messages) {
      if (const auto* start = std::get_if<work::StartOrchestration>(&message)) {
        tenant = start->tenant;
        break;
      }
    }
  }
  ack.metadata.tenant = tenant;
  for (OrchestratorItem& scheduled : ack.orchestrator_items) {
    if (auto* start = std::get_if<work::StartOrchestration>(&scheduled.item)) {
      if (start->tenant.empty()) start->tenant = tenant;
    }
  }
}

// An ack whose events start an execution pins it to the version its OrchestrationStarted
// names (this build's, stamped by the engine or by never_run_start), for the stores'
// CapabilityFilter; other acks leave the execution's version as it is.
void pin_started_execution(OrchestrationAck& ack) {
  if (ack.history_delta.empty()) return;
  if (const auto* started = ack.history_delta.front().as<events::OrchestrationStarted>()) {
    ack.metadata.pinned_version = SemVer::parse(started->duroxide_version);
  }
}

bool is_finished(const History& history) {
  return !history.empty() && is_terminal_kind(history.back().kind());
}

// The OrchestrationStarted of an execution whose start never ran, as a turn
// would have recorded it (the version the registry resolves, so replay finds the
// code); a next execution whose start did not decode runs what the instances row
// names. Nothing when the item names no orchestration at all.
std::optional<events::OrchestrationStarted> never_run_start(const Registry& registry,
                                                             const OrchestrationItem& item,
                                                             bool same_execution) {
  std::optional<Target> target = target_of({}, item.messages);
  if (!target && !same_execution && !item.orchestration_name.empty()) {
    target = Target{item.orchestration_name, item.orchestration_version};
  }
  if (!target) return std::nullopt;
  std::string version = target->version;
  if (auto resolved = registry.resolve_for_start(target->name, target->version)) version = resolved->version;
  events::OrchestrationStarted started{target->name, version, {}, item.parent_instance, item.parent_id};
  started.duroxide_version = build_version().to_string();
  for (const auto& message : item.messages) {
    if (const auto* start = std::get_if<work::StartOrchestration>(&message)) {
      started.input = start->input;
      started.parent_instance = start->parent_instance;
      started.parent_id = start->parent_id;
      break;
    }
    if (const auto* next = std::get_if<work::ContinueAsNew>(&message)) {
      // A continued sub-orchestration still reports to its parent. What the start
      // carried is recorded as a run would (carried_deliveries): the status and the
      // messages stay visible in the failed execution, and its history replays. Messages
      // over the carry limits are not counted: the poison, not that limit, ended it.
      started.input = next->input;
      started.parent_instance = next->parent_instance;
      started.parent_id = next->parent_id;
      started.kv = next->kv;
      started.custom_status = next->custom_status;
      started.carried_messages = next->carried.size();
      break;
    }
  }
  return started;
}

// The deliveries a continued execution's start carried (never_run_start counts them),
// as the events that follow its OrchestrationStarted; none for other starts.
std::vector<EventData> carried_deliveries(const OrchestrationItem& item) {
  std::vector<EventData> out;
  for (const auto& message : item.messages) {
    if (std::holds_alternative<work::StartOrchestration>(message)) break;
    const auto* next = std::get_if<work::ContinueAsNew>(&message);
    if (!next) continue;
    for (const work::CarriedMessage& carried : next->carried) out.push_back(carried_event(carried));
    break;
  }
  return out;
}

// An ack that fails the instance with `details`, on the stored `history` of
// `execution`. With `can_append`, a start that never ran is recorded first (so
// the instance fails visibly instead of vanishing), then OrchestrationFailed
// is appended and the parent, if any, told; without, only the status changes.
OrchestrationAck failure_ack(const Registry& registry, const OrchestrationItem& item,
                             const History& history, ExecutionId execution,
                             const ErrorDetails& details, bool can_append, TimestampMs now) {
  OrchestrationAck ack;
  ack.execution_id = execution;
  ack.metadata = stored_metadata(history, item);
  ack.metadata.state = RuntimeState::Failed;
  ack.metadata.continued_as_new = false;
  ack.metadata.output.clear();
  ack.metadata.error = details;
  const bool same_execution = execution == item.execution_id;
  std::optional<events::OrchestrationStarted> started;
  if (!history.empty()) {
    if (const auto* stored = history.front().as<events::OrchestrationStarted>()) started = *stored;
  }
  // The terminal event goes after every stored event, also after rows that did
  // not decode (`last_event_id` counts them).
  EventId next_id = 1;  // past every stored id, also in a history whose ids are out of order
  for (const Event& event : history) next_id = std::max(next_id, event.event_id + 1);
  if (same_execution) next_id = std::max(next_id, item.last_event_id + 1);
  if (can_append && history.empty() && (item.execution_id == 0 || !same_execution)) {
    // A start that never ran: record the instance, so it fails visibly instead of vanishing.
    started = never_run_start(registry, item, same_execution);
    if (started) {
      ack.history_delta.push_back(Event{next_id++, 0, now, *started});
      if (started->carried_messages > 0) {
        for (auto& delivery : carried_deliveries(item)) {
          ack.history_delta.push_back(Event{next_id++, 0, now, std::move(delivery)});
        }
      }
      ack.metadata.orchestration_name = started->name;
      ack.metadata.orchestration_version = started->version;
      ack.metadata.parent_instance = started->parent_instance;
      ack.metadata.parent_id = started->parent_id;
    }
  }
  // An execution the store already holds may have a start that does not decode.
  const bool recorded = started || (same_execution && item.execution_id != 0);
  if (can_append && recorded && !is_finished(history)) {
    ack.history_delta.push_back(Event{next_id, 0, now, events::OrchestrationFailed{details}});
    // Its activities still in flight are cancelled (their worker rows go) and its children
    // still running are told to cancel, as at any other end.
    const std::string reason = failure_cancel_reason(details);
    for (const PendingWork& work : fold_history(history, history.size()).pending) {
      cancel_pending_work(work, item.instance, execution, reason, ack.cancelled_activities, ack.orchestrator_items);
    }
    // The parent comes from the instances row when there is one: it outlives a
    // corrupted start event and continue-as-new.
    std::string parent = item.parent_instance;
    EventId parent_id = item.parent_id;
    if (parent.empty() && started) {
      parent = started->parent_instance;
      parent_id = started->parent_id;
    }
    if (!parent.empty()) {
      ack.orchestrator_items.push_back({work::SubOrchestrationFailed{parent, parent_id, item.instance, details}, 0});
    }
  }
  return ack;
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
                     saturating_sub(event.timestamp_ms, source->timestamp_ms)});
    }
  }
  return out;
}

// Takes out of the batch every start of this instance by a parent other than
// its own (an explicit sub-orchestration id naming an instance that exists, or
// that another start in the batch creates) and answers each such parent with a
// SubOrchestrationFailed at once, so that it does not wait for a child that
// will never be its own. The instance's own start delivered again (same parent
// instance and parent event id) stays, to be dropped as a duplicate.
template <typename Notify>
std::vector<OrchestratorItem> reject_foreign_starts(OrchestrationItem& item, Notify&& notify) {
  std::string owner = item.parent_instance;  // an existing instance: its row's parent
  EventId owner_id = item.parent_id;
  if (item.execution_id == 0) {
    auto first = std::find_if(item.messages.begin(), item.messages.end(), [](const WorkItem& m) {
      return std::holds_alternative<work::StartOrchestration>(m) ||
             std::holds_alternative<work::ContinueAsNew>(m);
    });
    if (first == item.messages.end()) return {};
    if (const auto* start = std::get_if<work::StartOrchestration>(&*first)) {
      owner = start->parent_instance;
      owner_id = start->parent_id;
    }
  }
  std::vector<OrchestratorItem> replies;
  auto foreign = [&](const WorkItem& message) {
    const auto* start = std::get_if<work::StartOrchestration>(&message);
    if (!start || start->parent_instance.empty()) return false;
    if (start->parent_instance == owner && start->parent_id == owner_id) return false;
    const std::string problem = "instance " + item.instance + " already exists";
    notify(RuntimeEvent::Kind::Dropped, item.instance,
           "StartOrchestration from " + start->parent_instance + ": " + problem);
    replies.push_back({work::SubOrchestrationFailed{start->parent_instance, start->parent_id, item.instance,
                                                    ErrorDetails::orchestration_failed(problem)},
                       0});
    return true;
  };
  item.messages.erase(std::remove_if(item.messages.begin(), item.messages.end(), foreign), item.messages.end());
  return replies;
}

// The error_type label of a failed provider call.
std::string provider_error_type(const ProviderError& error) {
  switch (error.kind()) {
    case ProviderErrorKind::Transient: return "transient";
    case ProviderErrorKind::InvalidLock: return "invalid_lock";
    case ProviderErrorKind::NotFound: return "not_found";
    case ProviderErrorKind::Conflict: return "constraint_violation";
    case ProviderErrorKind::Corrupted: return "corruption";
    case ProviderErrorKind::InvalidInput: return "invalid_input";
    case ProviderErrorKind::ReadOnly: return "read_only";
    case ProviderErrorKind::Permanent: return "permanent";
  }
  return "permanent";
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
      metrics->provider_call(operation, clock.now_ms() - start, std::nullopt);
    } else {
      auto result = call();
      metrics->provider_call(operation, clock.now_ms() - start, std::nullopt);
      return result;
    }
  } catch (const ProviderError& error) {
    metrics->provider_call(operation, clock.now_ms() - start, provider_error_type(error));
    throw;
  } catch (...) {
    metrics->provider_call(operation, clock.now_ms() - start, std::string("permanent"));
    throw;
  }
}

// A batch ack, timed; a call that throws fails each of its `count` acks alike
// (anything but a ProviderError as a Permanent one: it must not escape a step).
template <typename F>
std::vector<AckOutcome> ack_batch(RuntimeMetrics* metrics, Clock& clock, const char* operation,
                                  std::size_t count, F&& call) {
  try {
    std::vector<AckOutcome> outcomes = timed_call(metrics, clock, operation, call);
    DUROXIDE_ASSERT(outcomes.size() == count, "a batched ack answers each of its requests");
    return outcomes;
  } catch (const ProviderError& error) {
    return std::vector<AckOutcome>(count, error);
  } catch (const std::exception& error) {
    return std::vector<AckOutcome>(count, ProviderError(ProviderErrorKind::Permanent, operation, error.what()));
  }
}

// The store refused this ack for one of its values (InvalidInput: text that is
// not valid UTF-8, a value over a limit). Retrying the same ack cannot succeed,
// so the item is failed visibly instead of abandoned into a poison loop.
bool refused_for_its_values(const ProviderError& error) {
  return error.kind() == ProviderErrorKind::InvalidInput;
}

// Counts what an acked turn recorded: the execution's start (how it began), the turn,
// and its end (status, error, duration from the execution's first event, history size).
// `prior`: the execution's history before the turn.
void count_turn(RuntimeMetrics* metrics, TimestampMs now, const std::string& instance, const History& prior,
                const OrchestrationAck& ack) {
  if (!metrics || ack.history_delta.empty()) return;  // an ack of a finished instance ran no turn
  const ExecutionMetadata& meta = ack.metadata;
  for (const Event& event : ack.history_delta) {
    if (!event.is<events::OrchestrationStarted>()) continue;
    const StartCause cause = ack.execution_id > 1 ? StartCause::ContinueAsNew
                             : meta.parent_instance.empty() ? StartCause::Client
                                                            : StartCause::SubOrchestration;
    metrics->orchestration_started(meta.orchestration_name, meta.orchestration_version, cause);
  }
  metrics->orchestration_turn(instance, ack.execution_id);
  if (!is_terminal_kind(ack.history_delta.back().kind())) return;
  const Event& first = prior.empty() ? ack.history_delta.front() : prior.front();
  ExecutionEnd end{instance, ack.execution_id, meta.orchestration_name, meta.orchestration_version,
                   meta.continued_as_new, std::nullopt, now - first.timestamp_ms,
                   prior.size() + ack.history_delta.size()};
  if (meta.state == RuntimeState::Failed) {
    end.error = meta.error ? *meta.error : ErrorDetails::orchestration_failed("failed");
  }
  metrics->orchestration_finished(end);
}

// An ack of a batch that failed. A lost lock (the item was cancelled, or expired
// and taken by another node) is only counted; any other error releases the item
// so that it is fetched again at once. `abandon(ignore_attempt)`: a Transient
// error (busy, I/O hiccup) is no fault of the item and does not count toward
// poison; any other does.
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
    abandon(error.retryable());
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
    : context_{provider, registry, clock, with_batch_sizes(options, provider), std::move(observer)} {
  check_runtime_options(context_.options);
}

bool OrchestrationDispatcher::step() {
  std::vector<OrchestrationItem> fetched;
  try {
    fetched = timed_call(context_.options.metrics, context_.clock, "fetch_orchestration_items", [&] {
      return context_.provider.fetch_orchestration_items(context_.options.orchestration_lock_timeout_ms,
                                                         context_.options.orchestration_batch_size,
                                                         context_.options.supported_replay_versions);
    });
  } catch (const ProviderError& error) {
    context_.notify(RuntimeEvent::Kind::ProviderError, {}, error.what());
    return false;
  }
  if (fetched.empty()) return false;
  if (context_.options.metrics) context_.options.metrics->orchestration_items_fetched(fetched.size());
  DUROXIDE_ASSERT(fetched.size() <= context_.options.orchestration_batch_size,
                  "a batched fetch returns at most the items asked for");
  // Every turn of the batch runs, then all their acks commit together.
  TurnBatch batch = run_batch(fetched);
  if (!batch.requests.empty()) ack_batch_of_turns(batch);
  return true;
}

OrchestrationDispatcher::TurnBatch OrchestrationDispatcher::run_batch(std::vector<OrchestrationItem>& fetched) {
  const RuntimeOptions& options = context_.options;
  TurnBatch batch;
  auto notify = [this](RuntimeEvent::Kind kind, const std::string& instance, std::string message) {
    context_.notify(kind, instance, std::move(message));
  };
  // The batch's locks run down while its turns run one after the other: once
  // the batch has run for the lock timeout less the renewal buffer, the locks
  // still held (turns done and waiting for the ack, turns yet to run) are
  // renewed, so none expires before the ack. A renewal the store refuses (busy,
  // a lost connection) leaves them all due, so the next turn's end tries again
  // within the buffer instead of a whole period later, after the locks ran out.
  // A lost lock fails the ack, which reports it.
  const std::int64_t renew_after = std::max<std::int64_t>(
      options.orchestration_lock_timeout_ms - options.lock_renewal_buffer_ms, 1);
  TimestampMs renewed_at = context_.clock.now_ms();
  auto keep_locks = [&](std::size_t next) {
    const TimestampMs now = context_.clock.now_ms();
    if (now - renewed_at < renew_after) return;
    bool all_renewed = true;
    for (std::size_t i = 0; i < batch.requests.size(); ++i) {
      all_renewed &= renew_lock(batch.requests[i].lock_token, batch.items[i]->instance);
    }
    for (std::size_t i = next; i < fetched.size(); ++i) {
      all_renewed &= renew_lock(fetched[i].lock_token, fetched[i].instance);
    }
    if (all_renewed) renewed_at = now;
  };
  for (std::size_t i = 0; i < fetched.size(); ++i) {
    keep_locks(i);
    OrchestrationItem& item = fetched[i];
    // Replies to foreign starts go with whichever ack deletes those starts.
    std::vector<OrchestratorItem> replies = reject_foreign_starts(item, notify);
    item_poisoned_ = false;
    std::optional<OrchestrationAck> ack = run_item(item);
    if (!ack) continue;
    ack->orchestrator_items.insert(ack->orchestrator_items.end(), replies.begin(), replies.end());
    ack->executions_kept = context_.options.executions_kept;
    carry_tenant(item, *ack);
    pin_started_execution(*ack);
    batch.requests.push_back({item.lock_token, std::move(*ack)});
    batch.items.push_back(&item);
    batch.replies.push_back(std::move(replies));
    batch.poisoned.push_back(item_poisoned_);
  }
  if (!batch.requests.empty()) keep_locks(fetched.size());
  return batch;
}

bool OrchestrationDispatcher::renew_lock(const std::string& lock_token, const std::string& instance) {
  try {
    context_.provider.renew_orchestration_item_lock(lock_token, context_.options.orchestration_lock_timeout_ms);
  } catch (const ProviderError& error) {
    if (error.kind() == ProviderErrorKind::InvalidLock) return true;  // lost: the ack reports it
    context_.notify(RuntimeEvent::Kind::ProviderError, instance, error.what());
    return false;
  }
  return true;
}

void OrchestrationDispatcher::ack_batch_of_turns(const TurnBatch& batch) {
  Provider& provider = context_.provider;
  RuntimeMetrics* metrics = context_.options.metrics;
  const std::vector<AckOutcome> outcomes =
      ack_batch(metrics, context_.clock, "ack_orchestration_items", batch.requests.size(),
                [&] { return provider.ack_orchestration_items(batch.requests); });
  // A turn the store refused for its values fails its instance instead.
  TurnBatch failures;
  for (std::size_t i = 0; i < batch.requests.size(); ++i) {
    const OrchestrationItem& item = *batch.items[i];
    if (!outcomes[i]) {
      count_turn(metrics, context_.clock.now_ms(), item.instance, item.history, batch.requests[i].ack);
      if (metrics && batch.poisoned[i]) metrics->orchestration_poisoned();
    } else if (refused_for_its_values(*outcomes[i]) && !is_finished(item.history)) {
      failures.requests.push_back({item.lock_token, refused_turn_ack(batch, i, *outcomes[i])});
      failures.items.push_back(&item);
    } else {
      report_failed_ack(context_, item.instance, *outcomes[i], [&](bool ignore_attempt) {
        provider.abandon_orchestration_item(item.lock_token, 0, ignore_attempt);
      });
    }
  }
  if (failures.requests.empty()) return;
  const std::vector<AckOutcome> failure_outcomes =
      ack_batch(metrics, context_.clock, "ack_orchestration_items", failures.requests.size(),
                [&] { return provider.ack_orchestration_items(failures.requests); });
  for (std::size_t i = 0; i < failures.requests.size(); ++i) {
    if (!failure_outcomes[i]) {
      count_turn(metrics, context_.clock.now_ms(), failures.items[i]->instance, failures.items[i]->history,
                 failures.requests[i].ack);
      continue;
    }
    report_failed_ack(context_, failures.items[i]->instance, *failure_outcomes[i], [&](bool ignore_attempt) {
      provider.abandon_orchestration_item(failures.requests[i].lock_token, 0, ignore_attempt);
    });
  }
}

OrchestrationAck OrchestrationDispatcher::refused_turn_ack(const TurnBatch& batch, std::size_t index,
                                                            const ProviderError& refusal) {
  const OrchestrationItem& item = *batch.items[index];
  // A Provider error: the runtime, not the code, ends the instance (replay knows it so).
  ErrorDetails details = ErrorDetails::provider(
      "ack_orchestration_item", std::string("the store refused the orchestration's results: ") + refusal.what(),
      false);
  context_.notify(RuntimeEvent::Kind::ProviderError, item.instance, details.message);
  OrchestrationAck ack = failure_ack(context_.registry, item, item.history, batch.requests[index].ack.execution_id,
                                     details, /*can_append=*/true, context_.clock.now_ms());
  ack.orchestrator_items.insert(ack.orchestrator_items.end(), batch.replies[index].begin(),
                                batch.replies[index].end());
  report_undelivered(item, ack, "the store refused the turn that consumed it");
  carry_tenant(item, ack);
  pin_started_execution(ack);
  return ack;
}

std::optional<OrchestrationAck> OrchestrationDispatcher::run_item(OrchestrationItem& item) {
  const RuntimeOptions& options = context_.options;
  ExecutionId execution = item.execution_id == 0 ? 1 : item.execution_id;
  History history = std::move(item.history);
  // After continue-as-new the stored execution is finished and the queue holds
  // the start of the next one: the turn runs on a fresh history. When that start
  // is the row that did not decode, the next execution begins only to fail.
  const bool continued = !history.empty() && history.back().is<events::OrchestrationContinuedAsNew>();
  const bool next_start = std::any_of(item.messages.begin(), item.messages.end(), [](const WorkItem& m) {
    return std::holds_alternative<work::ContinueAsNew>(m);
  });
  if (continued && (next_start || item.corruption)) {
    execution += 1;
    history.clear();
  }
  const bool same_execution = execution == item.execution_id;
  // A corrupted history may not show its end; the instances row does.
  const bool finished = (!history.empty() && is_terminal_kind(history.back().kind())) ||
                        (item.corruption && item.finished && same_execution);

  if (!finished && !item.corruption && item.attempt_count <= options.max_attempts) {
    // Pinned to a version this engine does not replay (fetched from a store that ignored
    // the filter): given back for a runtime that does; never replayed here.
    if (std::optional<SemVer> pinned = unsupported_pin(history)) {
      const std::string why = "execution " + std::to_string(execution) + " is pinned to version " +
                              pinned->to_string() + ", which this runtime does not replay (it takes " +
                              options.supported_replay_versions.to_string() + ")";
      if (item.attempt_count < options.max_attempts) {
        back_off(item, RuntimeEvent::Kind::Unsupported, why);
        return std::nullopt;
      }
      OrchestrationAck ack = poisoned_ack(item, history, execution,
                                          ErrorDetails::poison("orchestration item (" + why + ")", item.attempt_count,
                                                               options.max_attempts));
      item.history = std::move(history);
      return ack;
    }
    if (backed_off_unregistered(item, history)) return std::nullopt;
    return turn_ack(item, std::move(history), execution);
  }
  OrchestrationAck ack;
  if (finished) {
    ack = finished_ack(item, history, execution);
  } else if (item.corruption) {
    // The instance ends here, with a terminal event, and its parent is told.
    ack = poisoned_ack(item, history, execution,
                       ErrorDetails::poison("corrupted history or message (" + *item.corruption + ")",
                                            item.attempt_count, options.max_attempts));
    report_undelivered(item, ack, "the instance failed on a corrupted row");
  } else {
    ack = poisoned_ack(item, history, execution,
                       ErrorDetails::poison("orchestration item", item.attempt_count, options.max_attempts));
    report_undelivered(item, ack, "the instance failed as poison");
  }
  item.history = std::move(history);
  return ack;
}

// Each message of a batch that ends its instance unread as a Dropped event, so none goes
// without a word: all but the start `ack` records (it then opens with the
// OrchestrationStarted failure_ack made of the batch's first start message, with what
// that start carried). A recorded continued start's messages over the carry limits are
// reported together; a StartOrchestration of an instance that exists is not reported.
void OrchestrationDispatcher::report_undelivered(const OrchestrationItem& item, const OrchestrationAck& ack,
                                                 const std::string& reason) {
  bool start_recorded = !ack.history_delta.empty() && ack.history_delta.front().is<events::OrchestrationStarted>();
  for (const auto& message : item.messages) {
    const auto* next = std::get_if<work::ContinueAsNew>(&message);
    const bool start = next || std::holds_alternative<work::StartOrchestration>(message);
    if (start && start_recorded) {
      start_recorded = false;  // only the first start is recorded
      if (next && next->uncarried > 0) {
        context_.notify(RuntimeEvent::Kind::Dropped, item.instance,
                        std::to_string(next->uncarried) +
                            " messages continue-as-new could not carry (over the carry limits): " + reason);
      }
      continue;
    }
    if (std::holds_alternative<work::StartOrchestration>(message)) continue;
    context_.notify(RuntimeEvent::Kind::Dropped, item.instance, std::string(to_string(kind_of(message))) + ": " + reason);
  }
}

// A finished execution takes no more messages; its stored state stays as it is.
OrchestrationAck OrchestrationDispatcher::finished_ack(const OrchestrationItem& item, const History& history,
                                                       ExecutionId execution) {
  for (const auto& message : item.messages) {
    context_.notify(RuntimeEvent::Kind::Dropped, item.instance,
                    std::string(to_string(kind_of(message))) + ": the instance has finished");
  }
  OrchestrationAck ack;
  ack.execution_id = execution;
  ack.metadata = stored_metadata(history, item);
  if (item.corruption && ack.metadata.state == RuntimeState::Running) {
    // The row says finished but the stored end does not decode: it stays finished, as failed.
    ack.metadata.state = RuntimeState::Failed;
    ack.metadata.error = ErrorDetails::poison("corrupted history (" + *item.corruption + ")", item.attempt_count,
                                              context_.options.max_attempts);
  }
  return ack;
}

OrchestrationAck OrchestrationDispatcher::poisoned_ack(const OrchestrationItem& item, const History& history,
                                                       ExecutionId execution, const ErrorDetails& details) {
  context_.notify(RuntimeEvent::Kind::Poison, item.instance, details.display_message());
  item_poisoned_ = true;  // counted when its ack commits (ack_batch_of_turns): a retried ack counts once
  return failure_ack(context_.registry, item, history, execution, details, /*can_append=*/true,
                     context_.clock.now_ms());
}

bool OrchestrationDispatcher::backed_off_unregistered(const OrchestrationItem& item, const History& history) {
  const Registry& registry = context_.registry;
  const RuntimeOptions& options = context_.options;
  std::optional<Target> target = target_of(history, item.messages);
  const bool registered =
      !target || (history.empty() ? registry.resolve_for_start(target->name, target->version).has_value()
                                  : registry.find_orchestration(target->name, target->version) != nullptr);
  if (registered || item.attempt_count >= options.max_attempts) return false;
  // Another node may have this code: back off and let it (or a redeploy) take it.
  back_off(item, RuntimeEvent::Kind::Unregistered,
           "orchestration " + target->name + " " + target->version + " is not registered here");
  return true;
}

std::optional<SemVer> OrchestrationDispatcher::unsupported_pin(const History& history) const {
  if (history.empty()) return std::nullopt;
  const auto* started = history.front().as<events::OrchestrationStarted>();
  const std::optional<SemVer> pinned = started ? SemVer::parse(started->duroxide_version) : std::nullopt;
  if (!pinned || context_.options.supported_replay_versions.takes(*pinned)) return std::nullopt;
  return pinned;
}

void OrchestrationDispatcher::back_off(const OrchestrationItem& item, RuntimeEvent::Kind kind, const std::string& why) {
  const std::int64_t delay = unregistered_backoff(context_.options, item.attempt_count);
  context_.notify(kind, item.instance, why + "; retrying in " + std::to_string(delay) + " ms");
  try {
    context_.provider.abandon_orchestration_item(item.lock_token, delay, false);
  } catch (const ProviderError& error) {
    context_.notify(RuntimeEvent::Kind::ProviderError, item.instance, error.what());
  }
}

OrchestrationAck OrchestrationDispatcher::turn_ack(OrchestrationItem& item, History history, ExecutionId execution) {
  RuntimeMetrics* metrics = context_.options.metrics;
  TurnInput input{item.instance, execution, std::move(history), std::move(item.messages), context_.clock.now_ms()};
  input.start_token = item.lock_token;
  struct GiveBack {  // the turn's input back to `item`, for failure_ack if the store refuses the ack
    TurnInput& input;
    OrchestrationItem& item;
    ~GiveBack() {
      item.history = std::move(input.history);
      item.messages = std::move(input.messages);
    }
  } give_back{input, item};
  const TimestampMs turn_start = context_.clock.now_ms();
  TurnResult result = run_turn(context_.registry, input);
  if (metrics) metrics->turn(context_.clock.now_ms() - turn_start);
  for (const auto& line : result.logs) {
    if (!line.replaying) context_.notify(RuntimeEvent::Kind::Log, item.instance, line.message, line.level);
  }
  for (const auto& dropped : result.dropped) {
    context_.notify(RuntimeEvent::Kind::Dropped, item.instance,
                    std::string(to_string(kind_of(dropped.item))) + ": " + dropped.reason);
    // Reported once: what `item` gets back (for a refused ack, refused_turn_ack) no longer holds it.
    auto reported = std::find(input.messages.begin(), input.messages.end(), dropped.item);
    if (reported != input.messages.end()) input.messages.erase(reported);
  }
  if (result.history_corrupted && !input.history.empty()) {
    // The stored rows decode but do not make a history the engine replays (it wrote
    // nothing and dropped the messages, reported above): the instance ends here as on a
    // row that does not decode, with a terminal event after the stored ones, and its
    // parent is told; otherwise it would stay failed without an end, its parent waiting.
    // An instance its row says finished stays as it ended.
    if (item.finished) return finished_ack(item, input.history, execution);
    return poisoned_ack(item, input.history, execution, result.outcome.error);
  }
  for (std::size_t i = 0; i < result.new_events.size(); ++i) {
    DUROXIDE_ASSERT(result.new_events[i].event_id == input.history.size() + i + 1,
                    "a turn's new events continue the history's ids");
  }
  OrchestrationAck ack;
  ack.execution_id = execution;
  ack.metadata = metadata_of(result, item);
  if (ack.metadata.state == RuntimeState::Running) {
    ack.metadata.pending = pending_snapshot(fold_history(input.history, result.new_events).pending);
  } else if (ack.metadata.continued_as_new) {
    ack.metadata.pending = PendingSnapshot{};
  }
  ack.activity_outcomes = activity_outcomes(input.history, result.new_events);
  ack.kv_mutations = kv_mutations(result.new_events);
  ack.history_delta = std::move(result.new_events);
  ack.worker_items = std::move(result.worker_items);
  ack.orchestrator_items = std::move(result.orchestrator_items);
  ack.cancelled_activities = std::move(result.cancelled_activities);
  return ack;
}

// ---------------------------------------------------------------- activities

void check_runtime_options(const RuntimeOptions& options) {
  if (std::string problem = options.worker_tag_filter.problem(); !problem.empty()) {
    throw std::invalid_argument("RuntimeOptions::worker_tag_filter: " + problem);
  }
  if (std::string problem = options.supported_replay_versions.problem(); !problem.empty()) {
    throw std::invalid_argument("RuntimeOptions::supported_replay_versions: " + problem);
  }
  // Every execution a runtime starts is pinned to its build: a filter without it would
  // leave them all waiting for another runtime.
  if (!options.supported_replay_versions.takes(build_version())) {
    throw std::invalid_argument("RuntimeOptions::supported_replay_versions (" +
                                options.supported_replay_versions.to_string() + ") leaves out this build, " +
                                build_version().to_string() +
                                ", to which every execution this runtime starts is pinned");
  }
  if (std::string problem = key_problem(options.worker_node_id, limits::kMaxWorkerNodeIdBytes, "it", false);
      !problem.empty()) {
    throw std::invalid_argument("RuntimeOptions::worker_node_id: " + problem);
  }
  if (options.session_lock_renewal_buffer_ms < 1 ||
      options.session_lock_timeout_ms <= options.session_lock_renewal_buffer_ms ||
      options.session_lock_timeout_ms > limits::kMaxDelayMs) {
    throw std::invalid_argument(
        "RuntimeOptions::session_lock_timeout_ms must be above session_lock_renewal_buffer_ms (at least 1) "
        "and at most " + std::to_string(limits::kMaxDelayMs));
  }
  if (options.session_idle_timeout_ms < 1 || options.session_idle_timeout_ms > limits::kMaxDelayMs) {
    throw std::invalid_argument("RuntimeOptions::session_idle_timeout_ms must be 1 to " +
                                std::to_string(limits::kMaxDelayMs));
  }
  // A store refuses a lock of 0 ms (expired when taken): every fetch would fail. A renewal
  // buffer under 1 ms renews after expiry (every running activity loses its lock) and spins
  // the lock keeper; a poll interval past the limit overflows the driver's deadlines.
  for (const auto& [timeout, name] : {std::pair{options.orchestration_lock_timeout_ms, "orchestration_lock_timeout_ms"},
                                      std::pair{options.worker_lock_timeout_ms, "worker_lock_timeout_ms"},
                                      std::pair{options.lock_renewal_buffer_ms, "lock_renewal_buffer_ms"},
                                      std::pair{options.poll_interval_ms, "poll_interval_ms"}}) {
    if (timeout < 1 || timeout > limits::kMaxDelayMs) {
      throw std::invalid_argument(std::string("RuntimeOptions::") + name + " must be 1 to " +
                                  std::to_string(limits::kMaxDelayMs));
    }
  }
  // 0 would make every item poison at its first delivery.
  if (options.max_attempts < 1 || options.max_attempts > RuntimeOptions::kMaxAttempts) {
    throw std::invalid_argument("RuntimeOptions::max_attempts must be 1 to " + std::to_string(RuntimeOptions::kMaxAttempts));
  }
  if (options.max_sessions_per_runtime < 1 || options.max_sessions_per_runtime > limits::kMaxSessionsPerRuntime) {
    throw std::invalid_argument("RuntimeOptions::max_sessions_per_runtime must be 1 to " +
                                std::to_string(limits::kMaxSessionsPerRuntime));
  }
}

WorkerDispatcher::WorkerDispatcher(Provider& provider, const Registry& registry, Clock& clock,
                                   RuntimeOptions options, RuntimeObserver observer,
                                   ActivityLeases* leases, SessionKeeper* sessions)
    : context_{provider, registry, clock, with_batch_sizes(options, provider), std::move(observer)},
      leases_(leases),
      sessions_(sessions) {
  check_runtime_options(context_.options);
  if (!sessions_) {
    const std::string& node = context_.options.worker_node_id;
    own_sessions_ = std::make_unique<SessionKeeper>(provider, clock, context_.options, node.empty() ? "local" : node);
    sessions_ = own_sessions_.get();
  }
}

void WorkerDispatcher::keep_sessions() {
  try {
    sessions_->renew_if_due();
  } catch (const ProviderError& error) {
    context_.notify(RuntimeEvent::Kind::ProviderError, {}, error.what());
  }
}

void WorkerDispatcher::begin_sessions(const std::vector<WorkerItem>& fetched, std::vector<bool>& skipped,
                                      std::vector<std::string>& begun) {
  for (std::size_t i = 0; i < fetched.size(); ++i) {
    const std::string& session = fetched[i].item.session_id;
    if (session.empty()) continue;
    if (sessions_->begin(session)) {
      begun.push_back(session);
    } else {
      skipped[i] = true;  // a session past the cap: it waits here until a slot frees
      release(fetched, i, i + 1);
    }
  }
}

std::vector<WorkerItem> WorkerDispatcher::fetch_batch(bool& parked) {
  const RuntimeOptions& options = context_.options;
  try {
    return timed_call(options.metrics, context_.clock, "fetch_work_items", [&] {
      return context_.provider.fetch_work_items(options.worker_lock_timeout_ms, batch_size_,
                                                options.worker_tag_filter, sessions_->fetch_config());
    });
  } catch (const ProviderError& error) {
    context_.notify(RuntimeEvent::Kind::ProviderError, {}, error.what());
    // A corrupted row was parked: that was work, and the queue may hold more.
    parked = error.kind() == ProviderErrorKind::Corrupted;
    return {};
  }
}

bool WorkerDispatcher::step() {
  const RuntimeOptions& options = context_.options;
  keep_sessions();
  bool parked = false;
  std::vector<WorkerItem> fetched = fetch_batch(parked);
  if (context_.options.metrics && !fetched.empty()) context_.options.metrics->work_items_fetched(fetched.size());
  if (fetched.empty()) return parked;

  const std::vector<std::shared_ptr<std::atomic<bool>>> cancelled = begin_leases(fetched);
  struct LeasesEnd {
    ActivityLeases* leases;
    const std::vector<WorkerItem>& items;
    ~LeasesEnd() {
      if (!leases) return;
      for (const WorkerItem& item : items) leases->end(item.lock_token);
    }
  } leases_end{leases_, fetched};
  std::vector<bool> skipped(fetched.size(), false);
  std::vector<std::string> begun;
  struct SessionsEnd {
    SessionKeeper& sessions;
    const std::vector<std::string>& begun;
    ~SessionsEnd() {
      for (const std::string& session : begun) sessions.end(session);
    }
  } sessions_end{*sessions_, begun};
  begin_sessions(fetched, skipped, begun);

  const std::size_t most = options.worker_batch_size;
  const std::int64_t delay_us = std::max<std::int64_t>(options.worker_batch_delay_ms, 0) * 1000;
  Clock& clock = context_.clock;
  ResultBatch batch;
  std::int64_t oldest_us = 0;  // when the oldest completion `batch` holds finished
  bool all_short = true;
  for (std::size_t i = 0; i < fetched.size(); ++i) {
    if (!batch.requests.empty() && clock.monotonic_us() - oldest_us >= delay_us) flush(batch);
    if (skipped[i] || cancelled[i]->load()) continue;  // given back, or its lock was lost while it waited
    if (leases_ && leases_->shutting_down()) {  // start no more: the rest goes back for another node
      release(fetched, i, fetched.size(), &skipped);
      break;
    }
    const std::int64_t started_us = clock.monotonic_us();
    std::optional<WorkItem> completion = run_item(fetched[i], cancelled[i]);
    const std::int64_t finished_us = clock.monotonic_us();
    if (completion) {
      if (batch.requests.empty()) oldest_us = finished_us;
      batch.requests.push_back({fetched[i].lock_token, std::move(completion)});
      batch.items.push_back(&fetched[i]);
    } else if (leases_) {
      leases_->end(fetched[i].lock_token);  // abandoned: its lock is no longer ours
    }
    if (finished_us - started_us > delay_us) {  // a long activity: others must not wait behind the next
      all_short = false;
      flush(batch);
      release(fetched, i + 1, fetched.size(), &skipped);
      break;
    }
  }
  flush(batch);
  batch_size_ = all_short ? std::min(most, batch_size_ * 2) : 1;
  return true;
}

// Every fetched item holds a lease (its lock is renewed) from now until its ack
// commits: items waiting their turn in the batch, and finished ones waiting for the
// batch's ack, keep their locks as the running one does. Each gets its cancelled flag.
std::vector<std::shared_ptr<std::atomic<bool>>> WorkerDispatcher::begin_leases(const std::vector<WorkerItem>& fetched) {
  std::vector<std::shared_ptr<std::atomic<bool>>> cancelled;
  for (const WorkerItem& item : fetched) {
    cancelled.push_back(std::make_shared<std::atomic<bool>>(false));
    if (leases_) {
      leases_->begin(item.lock_token, "activity " + item.item.name + " of " + item.item.instance, cancelled.back());
    }
  }
  return cancelled;
}

void WorkerDispatcher::flush(ResultBatch& batch) {
  if (batch.requests.empty()) return;
  if (leases_) {
    for (const WorkAckRequest& request : batch.requests) leases_->settling(request.lock_token);
  }
  ack_batch_of_results(batch);
  if (leases_) {
    for (const WorkAckRequest& request : batch.requests) leases_->end(request.lock_token);
  }
  batch = ResultBatch{};
}

void WorkerDispatcher::release(const std::vector<WorkerItem>& fetched, std::size_t first, std::size_t end,
                               const std::vector<bool>* given_back) {
  for (std::size_t i = first; i < end; ++i) {
    if (given_back && (*given_back)[i]) continue;
    abandon(fetched[i], 0, /*ignore_attempt=*/true);
    if (leases_) leases_->end(fetched[i].lock_token);
  }
}

void WorkerDispatcher::abandon(const WorkerItem& item, std::int64_t delay_ms, bool ignore_attempt) {
  const bool unreported = !leases_ || leases_->settling(item.lock_token);
  try {
    context_.provider.abandon_work_item(item.lock_token, delay_ms, ignore_attempt);
  } catch (const ProviderError& error) {
    if (error.kind() != ProviderErrorKind::InvalidLock) {
      context_.notify(RuntimeEvent::Kind::ProviderError, item.item.instance, error.what());
    } else if (unreported) {  // the item is someone else's now
      if (context_.options.metrics) context_.options.metrics->lock_lost();
      context_.notify(RuntimeEvent::Kind::LockLost, item.item.instance, error.what());
    }
  }
}

void WorkerDispatcher::ack_batch_of_results(const ResultBatch& batch) {
  Provider& provider = context_.provider;
  RuntimeMetrics* metrics = context_.options.metrics;
  const std::vector<AckOutcome> outcomes =
      ack_batch(metrics, context_.clock, "ack_work_items", batch.requests.size(),
                [&] { return provider.ack_work_items(batch.requests); });
  // A result the store refused fails its activity instead: it does not run again.
  ResultBatch failures;
  for (std::size_t i = 0; i < batch.requests.size(); ++i) {
    if (!outcomes[i]) continue;
    const work::ActivityExecute& task = batch.items[i]->item;
    if (refused_for_its_values(*outcomes[i]) && batch.requests[i].completion) {
      ErrorDetails details = ErrorDetails::activity_failed("the store refused the result of activity " +
                                                           task.name + ": " + outcomes[i]->what());
      context_.notify(RuntimeEvent::Kind::ProviderError, task.instance, details.message);
      failures.requests.push_back({batch.requests[i].lock_token,
                                   work::ActivityFailed{task.instance, task.execution_id, task.id, details}});
      failures.items.push_back(batch.items[i]);
      continue;
    }
    report_failed_ack(context_, task.instance, *outcomes[i], [&](bool ignore_attempt) {
      provider.abandon_work_item(batch.requests[i].lock_token, 0, ignore_attempt);
    });
  }
  if (failures.requests.empty()) return;
  const std::vector<AckOutcome> failure_outcomes =
      ack_batch(metrics, context_.clock, "ack_work_items", failures.requests.size(),
                [&] { return provider.ack_work_items(failures.requests); });
  for (std::size_t i = 0; i < failures.requests.size(); ++i) {
    if (!failure_outcomes[i]) continue;
    report_failed_ack(context_, failures.items[i]->item.instance, *failure_outcomes[i], [&](bool ignore_attempt) {
      provider.abandon_work_item(failures.requests[i].lock_token, 0, ignore_attempt);
    });
  }
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
    if (metrics) metrics->activity_finished(task.name, task.tag, ActivityResult::Poison, fetched.attempt_count, 0);
    return failed(ErrorDetails::poison("activity " + task.name, fetched.attempt_count, options.max_attempts));
  }
  if (task.name == OrchestrationContext::kGetValueFromInstanceActivity) {
    return detail::run_get_value_from_instance(provider, task);
  }
  if (!fn && fetched.attempt_count < options.max_attempts) {
    std::int64_t delay = unregistered_backoff(options, fetched.attempt_count);
    notify(RuntimeEvent::Kind::Unregistered, task.instance,
           "activity " + task.name + " is not registered here; retrying in " +
               std::to_string(delay) + " ms");
    abandon(fetched, delay, false);
    return std::nullopt;
  }
  if (!fn) {
    if (metrics) metrics->activity_finished(task.name, task.tag, ActivityResult::ConfigError, fetched.attempt_count, 0);
    return failed(ErrorDetails::unregistered_activity(task.name));
  }

  std::optional<WorkItem> completion;
  ActivityContext context{task.instance, task.execution_id, task.id, task.name, cancelled, task.tag,
                          task.session_id, fetched.orchestration_name, fetched.orchestration_version};
  const TimestampMs activity_start = context_.clock.now_ms();
  try {
    std::string result = (*fn)(context, task.input);
    if (result.size() > limits::kMaxPayloadBytes) {
      completion = failed(ErrorDetails::activity_failed(
          "activity " + task.name + " returned " + std::to_string(result.size()) +
          " bytes, over the limit of " + std::to_string(limits::kMaxPayloadBytes)));
    } else if (!valid_utf8(result)) {
      completion = failed(ErrorDetails::activity_failed("activity " + task.name +
                                                        " returned a result that is not valid UTF-8"));
    } else {
      completion = work::ActivityCompleted{task.instance, task.execution_id, task.id, std::move(result)};
    }
  } catch (const std::exception& error) {
    completion = failed(ErrorDetails::activity_failed(error.what()));
  } catch (...) {
    completion = failed(ErrorDetails::activity_failed("activity threw a non-standard exception"));
  }
  if (metrics) {
    metrics->activity_finished(task.name, task.tag,
                               std::holds_alternative<work::ActivityCompleted>(*completion) ? ActivityResult::Success
                                                                                             : ActivityResult::AppError,
                               fetched.attempt_count, context_.clock.now_ms() - activity_start);
  }
  return completion;
}

// ---------------------------------------------------------------- step driver

StepDriver::StepDriver(Provider& provider, const Registry& registry, Clock& clock,
                       RuntimeOptions options, RuntimeObserver observer)
    : provider_(provider),
      observer_(observer),
      orchestrations_(provider, registry, clock, options, observer),
      workers_(provider, registry, clock, options, observer),
      worker_steps_per_round_(with_batch_sizes(options, provider).orchestration_batch_size) {}

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
  maintain();
  return steps;
}

void StepDriver::maintain() {
  try {
    provider_.maintain();
  } catch (const std::exception& error) {
    if (observer_) observer_({RuntimeEvent::Kind::ProviderError, {}, error.what()});
  }
}

}  // namespace duroxide
