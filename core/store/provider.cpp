#include "duroxide/provider.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "duroxide/codec.hpp"
#include "duroxide/management_provider.hpp"

namespace duroxide {

std::string_view to_string(ProviderErrorKind kind) {
  switch (kind) {
    case ProviderErrorKind::Transient: return "transient";
    case ProviderErrorKind::InvalidLock: return "invalid_lock";
    case ProviderErrorKind::NotFound: return "not_found";
    case ProviderErrorKind::Conflict: return "conflict";
    case ProviderErrorKind::Corrupted: return "corrupted";
    case ProviderErrorKind::InvalidInput: return "invalid_input";
    case ProviderErrorKind::ReadOnly: return "read_only";
    case ProviderErrorKind::Permanent: return "permanent";
  }
  return "permanent";
}

void check_batch_size(std::size_t count, const std::string& operation) {
  if (count == 0 || count > kMaxBatchItems) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        "a batch holds 1 to " + std::to_string(kMaxBatchItems) + " items, not " +
                            std::to_string(count));
  }
}

std::string prune_options_problem(const PruneOptions& options) {
  if (options.keep_last == 0) return "keep_last must be at least 1 (the current execution is always kept)";
  if (options.completed_before_ms < 0) return "completed_before_ms must not be negative (0: whenever they finished)";
  return "";
}

void QueueListeners::add(QueueListener* listener) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::find(listeners_.begin(), listeners_.end(), listener) == listeners_.end()) listeners_.push_back(listener);
}

void QueueListeners::remove(QueueListener* listener) {
  std::lock_guard<std::mutex> lock(mutex_);
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener), listeners_.end());
}

void QueueListeners::work_enqueued(QueueKind queue, TimestampMs visible_at_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (QueueListener* listener : listeners_) listener->work_enqueued(queue, visible_at_ms);
}

void Provider::add_queue_listener(QueueListener*) {}
void Provider::remove_queue_listener(QueueListener*) {}
void Provider::maintain() {}
std::size_t Provider::preferred_batch_size() const { return 16; }

void Provider::enqueue_orchestrator_items(const std::vector<WorkItem>& items) {
  for (const WorkItem& item : items) enqueue_orchestrator_item(item, 0);
}

bool Provider::enqueues_all_or_none() const { return false; }

void Provider::enqueue_start(const work::StartOrchestration& start) {
  if (instance_known(start.instance)) {
    throw ProviderError(ProviderErrorKind::Conflict, "enqueue_start",
                        "instance " + start.instance + " already exists");
  }
  enqueue_orchestrator_item(start, 0);
}

// Sees only instances that ran a turn: stores override it to see queued starts too.
InstanceFilter deletable_roots(const BulkDeleteRequest& request) {
  InstanceFilter finished = request.filter;
  finished.roots_only = true;
  finished.states.clear();
  for (RuntimeState state : {RuntimeState::Completed, RuntimeState::Failed}) {
    const auto& wanted = request.filter.states;
    if (wanted.empty() || std::find(wanted.begin(), wanted.end(), state) != wanted.end()) {
      finished.states.push_back(state);
    }
  }
  if (request.completed_before_ms != 0 &&
      (finished.updated_to_ms == 0 || request.completed_before_ms < finished.updated_to_ms)) {
    finished.updated_to_ms = request.completed_before_ms;
  }
  return finished;
}

namespace {
constexpr std::string_view kListedPrefix = "listed:";
}

std::string listed_continuation(std::size_t position) { return std::string(kListedPrefix) + std::to_string(position); }

std::size_t listed_start(const std::string& continuation, std::size_t listed, const std::string& operation) {
  if (continuation.empty()) return 0;
  const std::string_view digits = std::string_view(continuation).substr(std::min(continuation.size(), kListedPrefix.size()));
  std::size_t position = 0;
  const bool prefixed = continuation.compare(0, kListedPrefix.size(), kListedPrefix) == 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), position);
  if (!prefixed || digits.empty() || error != std::errc() || end != digits.data() + digits.size() || position > listed) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        "a delete of listed ids takes the continuation its previous call gave (listed:<position>, at "
                        "most " + std::to_string(listed) + "), with the same ids");
  }
  return position;
}

bool is_export_message(const WorkItem& item) {
  return std::holds_alternative<work::ExternalRaised>(item) || std::holds_alternative<work::QueueMessage>(item) ||
         std::holds_alternative<work::CancelInstance>(item);
}

bool Provider::instance_known(const std::string& instance) { return !read(instance).empty(); }

std::optional<std::string> Provider::get_kv_value(const std::string&, const std::string&) {
  throw ProviderError(ProviderErrorKind::Permanent, "get_kv_value",
                      "this store has no key-value store");
}

std::optional<std::string> Provider::get_kv_value_seen_by(const std::string&, const std::string&,
                                                          const std::string&) {
  throw ProviderError(ProviderErrorKind::Permanent, "get_kv_value_seen_by",
                      "this store has no key-value store");
}

KvMap Provider::get_kv_all_values(const std::string&) {
  throw ProviderError(ProviderErrorKind::Permanent, "get_kv_all_values",
                      "this store has no key-value store");
}

std::vector<KvMutation> kv_mutations(const History& delta) {
  std::vector<KvMutation> mutations;
  for (const Event& event : delta) {
    if (const auto* set = event.as<events::KeyValueSet>()) {
      mutations.push_back({KvMutation::Kind::Set, set->key, set->value, event.timestamp_ms});
    } else if (const auto* cleared = event.as<events::KeyValueCleared>()) {
      mutations.push_back({KvMutation::Kind::Clear, cleared->key, {}, 0});
    } else if (event.is<events::KeyValuesCleared>()) {
      mutations.push_back({KvMutation::Kind::ClearAll, {}, {}, 0});
    }
  }
  return mutations;
}

namespace {

// Up to `max_items` results of `fetch_one`: throws only when the first fails.
template <typename Item, typename Fetch>
std::vector<Item> fetch_each(std::size_t max_items, Fetch&& fetch_one) {
  std::vector<Item> items;
  while (items.size() < max_items) {
    std::optional<Item> item;
    try {
      item = fetch_one();
    } catch (const ProviderError&) {
      if (items.empty()) throw;
      break;
    }
    if (!item) break;
    items.push_back(std::move(*item));
  }
  return items;
}

template <typename Request, typename Ack>
std::vector<AckOutcome> ack_each(const std::vector<Request>& requests, Ack&& ack_one) {
  std::vector<AckOutcome> outcomes;
  outcomes.reserve(requests.size());
  for (const Request& request : requests) {
    try {
      ack_one(request);
      outcomes.emplace_back();
    } catch (const ProviderError& error) {
      outcomes.emplace_back(error);
    } catch (const CodecError& error) {  // a value of this ack does not encode: it alone fails
      outcomes.emplace_back(ProviderError(ProviderErrorKind::InvalidInput, "ack", error.what()));
    }
  }
  return outcomes;
}

}  // namespace

std::vector<OrchestrationItem> Provider::fetch_orchestration_items(std::int64_t lock_timeout_ms,
                                                                   std::size_t max_items,
                                                                   const CapabilityFilter& filter) {
  check_batch_size(max_items, "fetch_orchestration_items");
  return fetch_each<OrchestrationItem>(max_items, [&] { return fetch_orchestration_item(lock_timeout_ms, filter); });
}

std::vector<AckOutcome> Provider::ack_orchestration_items(
    const std::vector<OrchestrationAckRequest>& requests) {
  check_batch_size(requests.size(), "ack_orchestration_items");
  return ack_each(requests, [&](const OrchestrationAckRequest& request) {
    ack_orchestration_item(request.lock_token, request.ack);
  });
}

std::vector<WorkerItem> Provider::fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                   const TagFilter& filter, const SessionFetch* session) {
  check_batch_size(max_items, "fetch_work_items");
  return fetch_each<WorkerItem>(max_items, [&] { return fetch_work_item(lock_timeout_ms, filter, session); });
}

std::size_t Provider::cleanup_orphaned_sessions() { return 0; }

std::vector<AckOutcome> Provider::ack_work_items(const std::vector<WorkAckRequest>& requests) {
  check_batch_size(requests.size(), "ack_work_items");
  return ack_each(requests, [&](const WorkAckRequest& request) {
    ack_work_item(request.lock_token, request.completion);
  });
}

}  // namespace duroxide

namespace duroxide {

std::optional<InstanceStats> ManagementProvider::get_instance_stats(const std::string&) {
  throw ProviderError(ProviderErrorKind::Permanent, "get_instance_stats",
                      "this store cannot report per-instance statistics");
}

std::optional<PendingSnapshot> ManagementProvider::get_pending_work(const std::string&) { return std::nullopt; }

}  // namespace duroxide
