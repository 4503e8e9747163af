#include "duroxide/orchestration_context.hpp"

#include <algorithm>
#include <stdexcept>

#include "duroxide/limits.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/text.hpp"
#include "duroxide/detail/json.hpp"
#include "replay_state.hpp"

namespace duroxide {

using detail::OpState;
using detail::ReplayState;
using detail::Waiter;

const std::string& FutureResult::get() const {
  if (!ok) throw TaskFailed(error);
  return value;
}

std::int64_t RetryPolicy::delay_before(std::uint32_t next_attempt) const {
  if (next_attempt < 2 || initial_delay_ms <= 0) return 0;
  const std::int64_t cap = max_delay_ms > 0 ? max_delay_ms : INT64_MAX;
  const std::uint32_t retries = next_attempt - 1;  // 1 for the 2nd attempt
  std::int64_t delay = 0;
  switch (backoff) {
    case Backoff::None:
      return 0;
    case Backoff::Fixed:
      return initial_delay_ms;  // max_delay_ms caps growth; a fixed delay does not grow
    case Backoff::Linear:
      delay = initial_delay_ms > cap / retries ? cap : initial_delay_ms * retries;
      break;
    case Backoff::Exponential:
      delay = initial_delay_ms;
      for (std::uint32_t i = 1; i < retries && delay < cap; ++i) {
        delay = delay > cap / 2 ? cap : delay * 2;
      }
      break;
  }
  return std::min(delay, cap);
}

// ---------------------------------------------------------------- DurableFuture

DurableFuture::DurableFuture(ReplayState* state, std::shared_ptr<OpState> op)
    : state_(state), op_(std::move(op)) {}

DurableFuture::DurableFuture(DurableFuture&& other) noexcept
    : state_(other.state_), op_(std::move(other.op_)) {}

DurableFuture& DurableFuture::operator=(DurableFuture&& other) noexcept {
  if (this != &other) {
    release();
    state_ = other.state_;
    op_ = std::move(other.op_);
  }
  return *this;
}

DurableFuture::~DurableFuture() { release(); }

void DurableFuture::release() {
  if (state_ && op_ && !op_->cancelled && !op_->result_taken && !state_->tearing_down()) {
    if (op_->done) {
      state_->release_loser(*op_);  // a wait's message no code received goes back
    } else {
      state_->cancel(*op_, "dropped");
    }
  }
  op_.reset();
}

bool DurableFuture::is_done() const { return op_ && op_->done; }
bool DurableFuture::valid() const { return state_ && op_; }
EventId DurableFuture::id() const { return op_ ? op_->id : 0; }

bool DurableFuture::await_ready() const {
  if (!op_) throw std::logic_error("awaiting an empty DurableFuture");
  return op_->done;
}

void DurableFuture::await_suspend(std::coroutine_handle<> awaiter) {
  OpState* op = op_.get();
  state_->add_waiter(*op, std::make_shared<Waiter>(Waiter{awaiter, [op] { return op->done; }}));
}

std::string DurableFuture::await_resume() {
  op_->result_taken = true;
  return op_->result.get();
}

// ---------------------------------------------------------------- select / join

namespace {

void require_futures(const std::vector<DurableFuture>& futures, const char* what) {
  for (const auto& future : futures) {
    if (!future.valid()) throw std::invalid_argument(std::string(what) + " got an empty future");
  }
}

}  // namespace

SelectAwaiter::SelectAwaiter(ReplayState* state, std::vector<DurableFuture> futures)
    : state_(state), futures_(std::move(futures)) {
  if (futures_.empty()) throw std::invalid_argument("select needs at least one future");
  require_futures(futures_, "select");
}

bool SelectAwaiter::await_ready() const {
  return std::any_of(futures_.begin(), futures_.end(),
                     [](const DurableFuture& f) { return f.is_done(); });
}

void SelectAwaiter::await_suspend(std::coroutine_handle<> awaiter) {
  std::vector<OpState*> ops;
  for (auto& future : futures_) ops.push_back(future.op_.get());
  auto waiter = std::make_shared<Waiter>(Waiter{awaiter, [ops] {
    return std::any_of(ops.begin(), ops.end(), [](OpState* op) { return op->done; });
  }});
  for (OpState* op : ops) state_->add_waiter(*op, waiter);
}

SelectResult SelectAwaiter::await_resume() {
  std::size_t winner = futures_.size();
  for (std::size_t i = 0; i < futures_.size(); ++i) {
    const OpState& op = *futures_[i].op_;
    if (op.done && (winner == futures_.size() ||
                    op.completion_seq < futures_[winner].op_->completion_seq)) {
      winner = i;
    }
  }
  // Losers that already completed give back what they took, latest first, so a
  // queue sees its messages again in their original order; the others are
  // cancelled in schedule order. Cancellations are commands that replay matches, so
  // the order uses only unique keys: the same on every standard library.
  std::vector<OpState*> losers;
  for (std::size_t i = 0; i < futures_.size(); ++i) {
    if (i != winner) losers.push_back(futures_[i].op_.get());
  }
  std::sort(losers.begin(), losers.end(), [](const OpState* a, const OpState* b) {
    if (a->done != b->done) return a->done;
    if (a->done) return a->completion_seq > b->completion_seq;
    return a->created_seq < b->created_seq;
  });
  for (OpState* op : losers) state_->release_loser(*op);
  futures_[winner].op_->result_taken = true;
  return SelectResult{winner, futures_[winner].op_->result};
}

JoinAwaiter::JoinAwaiter(ReplayState* state, std::vector<DurableFuture> futures)
    : state_(state), futures_(std::move(futures)) {
  require_futures(futures_, "join");
}

bool JoinAwaiter::await_ready() const {
  return std::all_of(futures_.begin(), futures_.end(),
                     [](const DurableFuture& f) { return f.is_done(); });
}

void JoinAwaiter::await_suspend(std::coroutine_handle<> awaiter) {
  std::vector<OpState*> ops;
  for (auto& future : futures_) ops.push_back(future.op_.get());
  auto waiter = std::make_shared<Waiter>(Waiter{awaiter, [ops] {
    return std::all_of(ops.begin(), ops.end(), [](OpState* op) { return op->done; });
  }});
  for (OpState* op : ops) {
    if (!op->done) state_->add_waiter(*op, waiter);
  }
}

std::vector<FutureResult> JoinAwaiter::await_resume() {
  std::vector<FutureResult> results;
  results.reserve(futures_.size());
  for (auto& future : futures_) {
    future.op_->result_taken = true;
    results.push_back(future.op_->result);
  }
  return results;
}

// ---------------------------------------------------------------- context

const std::string& OrchestrationContext::instance_id() const { return state_->input().instance; }
ExecutionId OrchestrationContext::execution_id() const { return state_->input().execution_id; }
const std::string& OrchestrationContext::orchestration_name() const {
  return state_->started().name;
}
const std::string& OrchestrationContext::orchestration_version() const {
  return state_->started().version;
}
const std::string& OrchestrationContext::parent_instance() const {
  return state_->started().parent_instance;
}

DurableFuture OrchestrationContext::schedule_activity(std::string name, std::string input) {
  return state_->schedule_activity(std::move(name), std::move(input), {}, {});
}

DurableFuture OrchestrationContext::schedule_activity(std::string name, std::string input,
                                                      const ActivityOptions& options) {
  return state_->schedule_activity(std::move(name), std::move(input), options.tag, options.session_id);
}

DurableFuture OrchestrationContext::schedule_activity_on_session(std::string name, std::string input,
                                                                 std::string session_id) {
  return schedule_activity(std::move(name), std::move(input), ActivityOptions::on_session(std::move(session_id)));
}

Task<std::string> OrchestrationContext::schedule_activity_with_retry(std::string name,
                                                                     std::string input,
                                                                     RetryPolicy policy,
                                                                     ActivityOptions options) {
  return schedule_activity_with_retry(
      std::move(name), [input = std::move(input)](std::uint32_t) { return input; }, policy,
      std::move(options));
}

Task<std::string> OrchestrationContext::schedule_activity_with_retry(
    std::string name, std::function<std::string(std::uint32_t)> input_for_attempt,
    RetryPolicy policy, ActivityOptions options) {
  if (policy.max_attempts < 1 || policy.max_attempts > limits::kMaxRetryAttempts) {
    throw std::invalid_argument("retry policy for " + name + ": max_attempts must be 1 to " +
                                std::to_string(limits::kMaxRetryAttempts));
  }
  const TimestampMs deadline =
      policy.total_timeout_ms > 0 ? saturating_add(utc_now_ms(), policy.total_timeout_ms) : 0;
  auto total_timeout = [&](std::uint32_t attempt) {
    return TaskFailed(ErrorDetails::activity_failed(
        "activity " + name + " timed out: the retry's total timeout of " +
            std::to_string(policy.total_timeout_ms) + " ms passed (attempt " + std::to_string(attempt) +
            " of " + std::to_string(policy.max_attempts) + ")",
        true));
  };
  ErrorDetails last_error;
  for (std::uint32_t attempt = 1; attempt <= policy.max_attempts; ++attempt) {
    if (std::int64_t delay = policy.delay_before(attempt); delay > 0) {
      if (deadline != 0 && saturating_add(utc_now_ms(), delay) >= deadline) throw total_timeout(attempt);
      co_await schedule_timer(delay);
    }
    // This attempt's bound: its own timeout, or what is left of the total if less.
    std::int64_t limit = policy.attempt_timeout_ms;
    bool limit_is_total = false;
    if (deadline != 0) {
      const std::int64_t left = deadline - utc_now_ms();
      if (left <= 0) throw total_timeout(attempt);
      if (limit <= 0 || left < limit) {
        limit = left;
        limit_is_total = true;
      }
    }
    if (limit > 0) {
      SelectResult raced = co_await select(schedule_activity(name, input_for_attempt(attempt), options),
                                           schedule_timer(limit));
      if (raced.index == 0 && raced.result.ok) co_return raced.result.value;
      if (raced.index == 1 && limit_is_total) throw total_timeout(attempt);
      last_error = raced.index == 0
                       ? raced.result.error
                       : ErrorDetails::activity_failed(
                             "activity " + name + " timed out after " +
                                 std::to_string(policy.attempt_timeout_ms) + " ms (attempt " +
                                 std::to_string(attempt) + " of " +
                                 std::to_string(policy.max_attempts) + ")",
                             true);
    } else {
      try {
        co_return co_await schedule_activity(name, input_for_attempt(attempt), options);
      } catch (const TaskFailed& failed) {
        last_error = failed.details();
      }
    }
    if (attempt < policy.max_attempts) {
      log_warn("activity " + name + " attempt " + std::to_string(attempt) + " of " +
               std::to_string(policy.max_attempts) +
               " failed: " + last_error.display_message());
    }
  }
  throw TaskFailed(last_error);
}

DurableFuture OrchestrationContext::schedule_timer(std::int64_t delay_ms) {
  return state_->schedule_timer(delay_ms);
}

DurableFuture OrchestrationContext::schedule_wait(std::string name) {
  return state_->schedule_wait(std::move(name));
}

DurableFuture OrchestrationContext::dequeue_event(std::string queue) {
  return state_->dequeue_event(std::move(queue));
}

DurableFuture OrchestrationContext::schedule_sub_orchestration(std::string name,
                                                               std::string input,
                                                               const SubOrchestrationOptions& options) {
  return state_->schedule_sub_orchestration(std::move(name), std::move(input),
                                            options);
}

std::string OrchestrationContext::start_orchestration_detached(std::string name,
                                                               std::string input,
                                                               const SubOrchestrationOptions& options) {
  return state_->start_detached(std::move(name), std::move(input), options);
}

ContinueAsNewAwaiter OrchestrationContext::continue_as_new(std::string input,
                                                           std::string version) {
  state_->continue_as_new(std::move(input), std::move(version));
  return {};
}

DurableFuture OrchestrationContext::spawn(Task<std::string> task) {
  return state_->spawn(std::move(task));
}

SelectAwaiter OrchestrationContext::select(std::vector<DurableFuture> futures) {
  return SelectAwaiter(state_, std::move(futures));
}

JoinAwaiter OrchestrationContext::join(std::vector<DurableFuture> futures) {
  return JoinAwaiter(state_, std::move(futures));
}

void OrchestrationContext::set_custom_status(std::string status) {
  state_->set_custom_status(std::move(status));
}

void OrchestrationContext::clear_custom_status() { state_->set_custom_status(std::nullopt); }

const std::optional<std::string>& OrchestrationContext::custom_status() const {
  return state_->custom_status();
}

void OrchestrationContext::set_value(std::string key, std::string value) {
  state_->kv_set(std::move(key), std::move(value));
}

std::optional<std::string> OrchestrationContext::get_value(const std::string& key) const {
  auto found = state_->kv().find(key);
  if (found == state_->kv().end()) return std::nullopt;
  return found->second.value;
}

void OrchestrationContext::clear_value(std::string key) { state_->kv_clear(std::move(key)); }

void OrchestrationContext::clear_all_values() { state_->kv_clear_all(); }

std::map<std::string, std::string> OrchestrationContext::get_all_values() const {
  std::map<std::string, std::string> values;
  for (const auto& [key, entry] : state_->kv()) values.emplace(key, entry.value);
  return values;
}

std::vector<std::string> OrchestrationContext::get_all_keys() const {
  std::vector<std::string> keys;
  for (const auto& [key, entry] : state_->kv()) keys.push_back(key);
  return keys;
}

std::size_t OrchestrationContext::get_kv_length() const { return state_->kv().size(); }

std::size_t OrchestrationContext::prune_values_updated_before(TimestampMs updated_before_ms) {
  return state_->kv_prune(updated_before_ms);
}

DurableFuture OrchestrationContext::schedule_get_value_from_instance(std::string instance,
                                                                     std::string key) {
  const bool valid = !instance.empty() && instance.size() <= limits::kMaxIdentifierBytes &&
                     !key.empty() && key.size() <= limits::kMaxKvKeyBytes &&
                     valid_utf8(instance) && valid_utf8(key);
  if (!valid) {
    state_->fail(ErrorDetails::orchestration_failed(
        "get_value_from_instance needs an instance id of 1 to " +
        std::to_string(limits::kMaxIdentifierBytes) + " bytes and a key of 1 to " +
        std::to_string(limits::kMaxKvKeyBytes) + " bytes, both valid UTF-8"));
    return schedule_activity(kGetValueFromInstanceActivity, {});
  }
  detail::Json request = {{"instance", std::move(instance)}, {"key", std::move(key)}};
  return schedule_activity(kGetValueFromInstanceActivity, request.dump());
}

std::optional<std::string> OrchestrationContext::decode_instance_value(const std::string& result) {
  detail::Json value = detail::Json::parse(result, nullptr, false);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return std::nullopt;
  throw TaskFailed(ErrorDetails::orchestration_failed(
      "get_value_from_instance: the recorded result is not null or a JSON string"));
}

Task<std::optional<std::string>> OrchestrationContext::get_value_from_instance(std::string instance,
                                                                               std::string key) {
  std::string result =
      co_await schedule_get_value_from_instance(std::move(instance), std::move(key));
  co_return decode_instance_value(result);
}

std::string OrchestrationContext::new_guid() { return state_->new_guid(); }
TimestampMs OrchestrationContext::utc_now_ms() const { return state_->now(); }
bool OrchestrationContext::is_replaying() const { return state_->replaying(); }

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
    case LogLevel::Debug: return "debug";
  }
  return "info";
}

void OrchestrationContext::log(LogLevel level, std::string message) {
  state_->log(level, std::move(message));
}

}  // namespace duroxide
