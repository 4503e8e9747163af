// OrchestrationContext: everything orchestration code may do.
//
// Orchestration code must be deterministic: given the same history it must make
// the same calls in the same order. It may not read the clock, draw random
// numbers or do I/O; it uses `utc_now_ms`, `new_guid`, activities and timers
// instead. Each turn replays the code from the start against the history; any
// difference in the kind, name or input of a scheduled call is a
// nondeterminism error naming the history event and both commands.
//
// Awaiting a DurableFuture returns its value or throws TaskFailed. A future that
// is dropped before it completes, or that loses a `select`, is cancelled: its
// activity or sub-orchestration gets a cancel request, its wait stops matching.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "duroxide/error_details.hpp"
#include "duroxide/event.hpp"
#include "duroxide/task.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide {

namespace detail {
class ReplayState;
struct OpState;
struct Waiter;
}  // namespace detail

// Thrown into orchestration code by a failed activity, sub-orchestration or
// retry; uncaught, it fails the orchestration with the same details.
class TaskFailed : public std::runtime_error {
 public:
  explicit TaskFailed(ErrorDetails details)
      : std::runtime_error(details.display_message()), details_(std::move(details)) {}
  const ErrorDetails& details() const { return details_; }

 private:
  ErrorDetails details_;
};

struct FutureResult {
  bool ok = false;
  std::string value;   // ok: the result (activity result, event data, child output; "" for timers)
  ErrorDetails error;  // !ok: why it failed
  // The value, or throws TaskFailed.
  const std::string& get() const;
};

struct SelectResult {
  std::size_t index = 0;  // position of the winner in the argument list
  FutureResult result;
};

// A handle to one piece of durable work. Move-only; see the cancellation rule above.
class [[nodiscard]] DurableFuture {
 public:
  DurableFuture() = default;
  DurableFuture(detail::ReplayState* state, std::shared_ptr<detail::OpState> op);
  DurableFuture(DurableFuture&&) noexcept;
  DurableFuture& operator=(DurableFuture&&) noexcept;
  DurableFuture(const DurableFuture&) = delete;
  DurableFuture& operator=(const DurableFuture&) = delete;
  ~DurableFuture();

  bool valid() const;
  bool is_done() const;
  // The history event id that scheduled this work (0 for composed tasks).
  EventId id() const;

  bool await_ready() const;
  void await_suspend(std::coroutine_handle<> awaiter);
  std::string await_resume();

 private:
  friend class detail::ReplayState;
  friend class SelectAwaiter;
  friend class JoinAwaiter;
  void release();
  detail::ReplayState* state_ = nullptr;
  std::shared_ptr<detail::OpState> op_;
};

// Resumes with the first of its futures to complete in history order; the others are cancelled.
class [[nodiscard]] SelectAwaiter {
 public:
  SelectAwaiter(detail::ReplayState* state, std::vector<DurableFuture> futures);
  bool await_ready() const;
  void await_suspend(std::coroutine_handle<> awaiter);
  SelectResult await_resume();

 private:
  detail::ReplayState* state_;
  std::vector<DurableFuture> futures_;
};

// Resumes when all futures completed; results in argument order, failures included.
class [[nodiscard]] JoinAwaiter {
 public:
  JoinAwaiter(detail::ReplayState* state, std::vector<DurableFuture> futures);
  bool await_ready() const;
  void await_suspend(std::coroutine_handle<> awaiter);
  std::vector<FutureResult> await_resume();

 private:
  detail::ReplayState* state_;
  std::vector<DurableFuture> futures_;
};

// Never resumes: the execution ends and the next one starts with the new input.
struct [[nodiscard]] ContinueAsNewAwaiter {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  void await_resume() const noexcept {}
};

struct RetryPolicy {
  enum class Backoff { None, Fixed, Linear, Exponential };
  std::uint32_t max_attempts = 3;  // total attempts, including the first (1..kMaxRetryAttempts)
  Backoff backoff = Backoff::Exponential;
  std::int64_t initial_delay_ms = 1000;  // delay before the 2nd attempt
  std::int64_t max_delay_ms = 60'000;    // cap for linear and exponential growth
  std::int64_t attempt_timeout_ms = 0;   // 0: no per-attempt timeout
  // 0: none. A bound on the whole retry from its first attempt's start (orchestration
  // time, utc_now_ms): an attempt still running at it is cancelled and the retry fails
  // at once, and an attempt whose backoff would end at or past it is not made. Such a
  // failure names the total timeout; it is not retried.
  std::int64_t total_timeout_ms = 0;

  // Delay before attempt `next_attempt` (2, 3, ...), as a durable timer.
  std::int64_t delay_before(std::uint32_t next_attempt) const;
};

// How an activity is scheduled. `tag` routes it to the workers whose TagFilter
// (RuntimeOptions::worker_tag_filter) takes it; empty: untagged, which the default
// filter takes. The tag is part of the ActivityScheduled event, so replay matches it
// like the name and input: code that changes an activity's tag is nondeterministic
// for instances already past that point. `session_id` runs it in an activity session:
// every activity of one session id runs on the runtime that owns the session
// (RuntimeOptions::worker_node_id), for as long as it owns it (docs/semantics.md,
// "Activity sessions"); empty: any runtime. It is part of the event too. Not an
// aggregate, for the reason below.
struct ActivityOptions {
  ActivityOptions() = default;
  explicit ActivityOptions(std::string tag_text) : tag(std::move(tag_text)) {}
  // Options that run the activity in session `session`.
  static ActivityOptions on_session(std::string session) {
    ActivityOptions options;
    options.session_id = std::move(session);
    return options;
  }
  std::string tag;
  std::string session_id;
};

// Not an aggregate on purpose: g++ 12 destroys an aggregate-initialised temporary
// that lives across a co_await twice (a compiler bug); a constructor avoids it,
// so `co_await ctx.schedule_sub_orchestration(n, in, {"id", "2.0.0"})` is safe.
struct SubOrchestrationOptions {
  SubOrchestrationOptions() = default;
  SubOrchestrationOptions(std::string instance_id, std::string version_text = {})
      : instance(std::move(instance_id)), version(std::move(version_text)) {}
  std::string instance;  // empty: `<parent>::sub::<n>` (`<parent>::sub::<execution>.<n>` after
                         // a continue-as-new)
  std::string version;   // empty: the registry's policy
};

enum class LogLevel { Info, Warn, Error, Debug };
// "info", "warn", "error", "debug".
std::string_view to_string(LogLevel level);

class OrchestrationContext {
 public:
  explicit OrchestrationContext(detail::ReplayState* state) : state_(state) {}

  const std::string& instance_id() const;
  ExecutionId execution_id() const;
  const std::string& orchestration_name() const;
  const std::string& orchestration_version() const;
  const std::string& parent_instance() const;

  DurableFuture schedule_activity(std::string name, std::string input);
  // The same, with options: `options.tag` sends it to the workers whose TagFilter
  // takes that tag (empty: untagged). A tag over limits::kMaxTagBytes or not UTF-8
  // fails the orchestration, naming the problem; so does a session id over
  // limits::kMaxSessionIdBytes or not UTF-8.
  DurableFuture schedule_activity(std::string name, std::string input, const ActivityOptions& options);
  // Runs the activity in session `session_id` (ActivityOptions::on_session), as
  // upstream's schedule_activity_on_session.
  DurableFuture schedule_activity_on_session(std::string name, std::string input, std::string session_id);
  // Retries failed (and, with a timeout, timed-out) attempts with durable-timer
  // backoff; throws TaskFailed with the last attempt's error when all fail, or with
  // the total timeout's when RetryPolicy::total_timeout_ms passes first. Every
  // attempt is scheduled with `options`.
  Task<std::string> schedule_activity_with_retry(std::string name, std::string input,
                                                 RetryPolicy policy, ActivityOptions options = {});
  // The same, with the input of each attempt (1, 2, ...) computed by `input_for_attempt`
  // (it must be deterministic), e.g. to tell an activity which attempt it is.
  Task<std::string> schedule_activity_with_retry(
      std::string name, std::function<std::string(std::uint32_t attempt)> input_for_attempt,
      RetryPolicy policy, ActivityOptions options = {});
  DurableFuture schedule_timer(std::int64_t delay_ms);
  // Waits for the next external event `name`: the k-th wait on a name receives the
  // k-th event raised with that name (positional), whether it arrived before or after.
  DurableFuture schedule_wait(std::string name);
  // Takes the oldest message of queue `name`; messages that arrive with nobody
  // waiting are buffered. A cancelled dequeue never loses a message.
  DurableFuture dequeue_event(std::string queue);
  DurableFuture schedule_sub_orchestration(std::string name, std::string input,
                                           const SubOrchestrationOptions& options = {});
  // Starts an independent root instance; returns its id. Nothing comes back.
  std::string start_orchestration_detached(std::string name, std::string input,
                                           const SubOrchestrationOptions& options = {});
  // Ends this execution and starts the next with `input`, at `version`; without one,
  // the next execution takes the version the registry's policy picks for a new start
  // (Latest by default: an upgrade deployed meanwhile takes over), as upstream does.
  ContinueAsNewAwaiter continue_as_new(std::string input, std::string version = {});

  // Runs a composed task (e.g. a retry) as a future that select/join can use.
  DurableFuture spawn(Task<std::string> task);
  SelectAwaiter select(std::vector<DurableFuture> futures);
  JoinAwaiter join(std::vector<DurableFuture> futures);
  template <typename... Futures>
  SelectAwaiter select(DurableFuture first, Futures&&... rest) {
    return select(to_vector(std::move(first), std::forward<Futures>(rest)...));
  }
  template <typename... Futures>
  JoinAwaiter join(DurableFuture first, Futures&&... rest) {
    return join(to_vector(std::move(first), std::forward<Futures>(rest)...));
  }

  void set_custom_status(std::string status);
  void clear_custom_status();
  const std::optional<std::string>& custom_status() const;

  // The instance's key-value store (docs/programming-model.md). Mutations are recorded
  // in history (KeyValueSet, KeyValueCleared, KeyValuesCleared) and matched on replay
  // like any other command; reads see exactly what the code's own calls left, on
  // every replay. The store survives continue-as-new and is readable by clients
  // (RuntimeClient::get_value) once the turn is committed. A key is 1 to
  // limits::kMaxKvKeyBytes of UTF-8, a value at most limits::kMaxKvValueBytes of
  // UTF-8, an instance holds at most limits::kMaxKvKeys keys: a set past a limit
  // fails the orchestration with a message naming it.
  void set_value(std::string key, std::string value);
  std::optional<std::string> get_value(const std::string& key) const;
  void clear_value(std::string key);  // recorded even if the key is absent
  void clear_all_values();
  std::map<std::string, std::string> get_all_values() const;
  std::vector<std::string> get_all_keys() const;  // in byte order
  std::size_t get_kv_length() const;
  // Clears (one KeyValueCleared each, in key order) every key whose last set is
  // older than `updated_before_ms` (the timestamp of its KeyValueSet event, the turn's
  // time for a set in this turn); returns how many.
  std::size_t prune_values_updated_before(TimestampMs updated_before_ms);
  // Reads key `key` of another instance's store, as a durable operation: the
  // reserved activity kGetValueFromInstanceActivity runs the read on a worker and its
  // result is recorded in history, so replay returns the same value. nullopt when the
  // key (or the instance) does not exist. Throws TaskFailed if the read failed.
  Task<std::optional<std::string>> get_value_from_instance(std::string instance,
                                                           std::string key);
  // The same as a future (for select/join): its value is the JSON `null` or a JSON
  // string; decode it with `decode_instance_value`.
  DurableFuture schedule_get_value_from_instance(std::string instance, std::string key);
  static std::optional<std::string> decode_instance_value(const std::string& result);
  static constexpr const char* kGetValueFromInstanceActivity = "__duroxide_syscall:get_kv_value";

  // Deterministic: the same on every replay of the same history.
  std::string new_guid();
  TimestampMs utc_now_ms() const;
  bool is_replaying() const;

  // Replay-safe logging: recorded with the turn; hosts print only lines that
  // were not replayed, so each line appears once per real execution.
  void log(LogLevel level, std::string message);
  void log_info(std::string message) { log(LogLevel::Info, std::move(message)); }
  void log_warn(std::string message) { log(LogLevel::Warn, std::move(message)); }
  void log_error(std::string message) { log(LogLevel::Error, std::move(message)); }
  void log_debug(std::string message) { log(LogLevel::Debug, std::move(message)); }

 private:
  template <typename... Futures>
  static std::vector<DurableFuture> to_vector(Futures&&... futures) {
    std::vector<DurableFuture> out;
    out.reserve(sizeof...(futures));
    (out.push_back(std::move(futures)), ...);
    return out;
  }
  detail::ReplayState* state_;
};

}  // namespace duroxide
