// Internal state of one replay turn. Not a public header.
//
// Invariants (asserted where cheap):
// - exactly one ReplayState is current per thread while it runs (`run`);
// - every coroutine frame in `ready_` is alive: a Task frame that is destroyed
//   removes itself from the queue (`forget`);
// - an OpState is completed at most once and never after it was cancelled;
// - once `stopped()`, no coroutine is resumed and no command is recorded.
#pragma once

#include <coroutine>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "duroxide/orchestration_context.hpp"
#include "duroxide/replay_engine.hpp"

namespace duroxide::detail {

struct Waiter {
  std::coroutine_handle<> handle;
  std::function<bool()> ready;
  bool fired = false;
};

enum class OpKind { Activity, Timer, External, Queue, SubOrchestration, Task };

struct OpState {
  OpKind kind = OpKind::Activity;
  EventId id = 0;  // the scheduling event (0 for composed tasks)
  std::uint64_t created_seq = 0;  // order of creation within the replay: schedule order
  std::string name;
  std::string child_instance;  // sub-orchestrations
  bool done = false;
  bool cancelled = false;
  bool completion_seen = false;  // a completion was delivered, even if cancelled before
  FutureResult result;
  std::uint64_t completion_seq = 0;  // order of completion within the replay
  EventId message_id = 0;  // waits: the delivery whose message completed it (to give it back)
  // The result reached code (an await, a select's win, a join) or, for a wait, its
  // message went back to its channel: a dropped future gives back only an untaken one.
  bool result_taken = false;
  std::vector<std::shared_ptr<Waiter>> waiters;
  Task<void> runner;  // composed tasks: the coroutine driving them
};

class ReplayState final : public Scheduler {
 public:
  ReplayState(const Registry& registry, const TurnInput& input);
  ReplayState(const ReplayState&) = delete;
  ReplayState& operator=(const ReplayState&) = delete;
  ~ReplayState();

  TurnResult run();

  // Scheduler
  void schedule(std::coroutine_handle<> handle) override;
  void forget(std::coroutine_handle<> handle) override;

  // ---- used by OrchestrationContext and the awaiters
  const TurnInput& input() const { return input_; }
  const events::OrchestrationStarted& started() const { return started_; }
  bool replaying() const { return replaying_; }
  bool tearing_down() const { return tearing_down_; }
  TimestampMs now() const { return current_time_; }
  const std::optional<std::string>& custom_status() const { return custom_status_; }
  const KvMap& kv() const { return kv_; }

  DurableFuture schedule_activity(std::string name, std::string input, std::string tag, std::string session_id);
  DurableFuture schedule_timer(std::int64_t delay_ms);
  DurableFuture schedule_wait(std::string name);
  DurableFuture dequeue_event(std::string queue);
  DurableFuture schedule_sub_orchestration(std::string name, std::string input,
                                           const SubOrchestrationOptions& options);
  std::string start_detached(std::string name, std::string input, const SubOrchestrationOptions& options);
  void continue_as_new(std::string input, std::string version);
  DurableFuture spawn(Task<std::string> task);
  void set_custom_status(std::optional<std::string> status);
  // The key-value store (core/engine/replay_kv.cpp): commands that keep `kv_` current.
  void kv_set(std::string key, std::string value);
  void kv_clear(std::string key);
  void kv_clear_all();
  std::size_t kv_prune(TimestampMs updated_before_ms);
  std::string new_guid();
  static std::string guid_seed_for(const TurnInput& input);
  void log(LogLevel level, std::string message);

  void add_waiter(OpState& op, std::shared_ptr<Waiter> waiter);
  void complete_op(OpState& op, FutureResult result);
  void cancel(OpState& op, const std::string& reason);
  // A select loser, or a dropped future: cancel it, or give back the message it
  // already took and no code received.
  void release_loser(OpState& op);
  // Fails the orchestration from inside user-facing calls (limits, bad arguments).
  void fail(ErrorDetails details);

 private:
  struct IssueResult {
    EventId id = 0;
    bool is_new = false;
  };
  // A delivered message no wait has taken yet; `id` is its delivery event (arrival order).
  struct Buffered {
    EventId id = 0;
    std::string data;
  };
  // External events and queue messages alike: the oldest live wait takes the next
  // message; a message no wait takes is buffered for the next wait. A cancelled
  // wait leaves the line; a completed select loser puts its message back in front.
  struct Channel {
    std::deque<std::shared_ptr<OpState>> waiters;
    std::deque<Buffered> buffer;
  };

  bool stopped() const { return terminal_ || failure_.has_value(); }
  bool validate_history();
  bool begin_execution();
  bool start_from_messages();
  bool start_code();
  bool cancelled_before_code();
  // A parent's cancel that reached an instance other than the child it started.
  bool not_for_this_instance(const work::CancelInstance& cancel) const;
  void record_metadata();
  void replay_history();
  bool ended_by_runtime(const Event& event);
  void process_message(const WorkItem& item);
  void deliver_carried(const std::vector<work::CarriedMessage>& carried);
  // Appends the carried messages' events without delivering them (no code runs).
  void record_carried(const std::vector<work::CarriedMessage>& carried);
  bool replay_carried();
  DurableFuture schedule_channel_wait(OpKind kind, std::map<std::string, Channel>& channels,
                                      std::string name, EventId id);
  void deliver_to_channel(Channel& channel, EventId id, const std::string& data);
  void collect_carried(const WorkItem& item);
  work::ContinueAsNew next_execution_item() const;
  void append_and_deliver(EventData data, EventId source);
  void drain();
  void on_root_finished();

  IssueResult issue(EventData command, EventId source = 0);
  void issue_terminal(EventData command);
  EventId append(EventData data, EventId source);
  void mismatch(std::size_t index, EventId event_id, std::string expected, std::string actual);

  std::shared_ptr<OpState> new_op(OpKind kind, EventId id, std::string name);
  std::shared_ptr<OpState> find_op(EventId id, OpKind kind) const;
  // Why a completion for `id` cannot apply, or empty.
  std::string completion_problem(EventId id, OpKind kind, const std::string* child) const;
  void deliver(const Event& event);
  // Whether an activity's or child's failure ends this execution instead of reaching code.
  bool ends_execution(const ErrorDetails& failure) const;
  std::vector<std::size_t> delivery_order() const;
  void end_on_system_failure(OpState& failed, ErrorDetails failure);
  // Cancels every activity and sub-orchestration not yet done, in id order.
  void cancel_outstanding(const std::string& reason);
  void deliver_cancel(const std::string& reason);
  // text_problem (duroxide/text.hpp) as the orchestration's failure: false when it failed it.
  bool check_text(const std::string& value, std::size_t max, const char* what, bool required);
  // check_text by key_problem: for the routing keys (an activity's tag and session id).
  bool check_key(const std::string& value, std::size_t max, const char* what);
  void drop(const WorkItem& item, std::string reason);
  void finalize();
  // A turn the runtime fails (failure_): its new work is abandoned, but what its history
  // records is carried out (the cancels it asked for, the detached instances it started),
  // and every activity still in flight is cancelled, as at any other end.
  void abandon_failed_turn();
  // Cancels (without a history event: the execution is ending) every activity scheduled
  // at or before event `scheduled_up_to` that has neither completed nor been cancelled.
  void cancel_activities_in_flight(EventId scheduled_up_to);
  // Cancels each activity and child that earlier turns' history shows outstanding and this
  // turn neither completed nor asked to cancel (a failing turn's end; `reason` for children).
  void cancel_pending_of_earlier_turns(const std::string& reason);
  void teardown();

  const Registry& registry_;
  const TurnInput& input_;
  const History& old_;
  TurnResult out_;
  OrchestrationContext context_;
  Scheduler* previous_scheduler_ = nullptr;

  events::OrchestrationStarted started_;
  Task<std::string> root_;
  std::deque<std::coroutine_handle<>> ready_;
  // Looked up by every completion. Indexed by the scheduling event's id: ids are the
  // history's positions (checked consecutive from 1) and the ones this turn appends, so
  // the vector is as long as the history and walks in id order. Slots of events that
  // schedule nothing stay empty.
  std::vector<std::shared_ptr<OpState>> ops_by_id_;
  std::vector<std::shared_ptr<OpState>> all_ops_;
  std::map<std::string, Channel> externals_;
  std::map<std::string, Channel> queues_;
  // Messages of this turn that arrived after a continue-as-new, for the next execution.
  std::vector<work::CarriedMessage> arrived_after_continue_;
  // Cancellations of this turn that arrived after a continue-as-new: sent on to the
  // next execution, queued behind its start.
  std::vector<WorkItem> forwarded_after_continue_;
  bool continued_now_ = false;  // this turn issued the continue-as-new

  std::size_t command_cursor_ = 0;  // next history position that may hold an unmatched command
  std::size_t start_message_ = SIZE_MAX;  // index of the message that started this execution
  std::size_t early_cancel_message_ = SIZE_MAX;  // a cancel that came with the start
  EventId next_event_id_ = 1;
  EventId last_delivered_ = 0;
  TimestampMs current_time_ = 0;
  bool replaying_ = false;
  bool terminal_ = false;
  bool tearing_down_ = false;
  bool cancel_requested_ = false;
  bool history_terminal_ = false;
  bool history_corrupted_ = false;
  std::optional<ErrorDetails> failure_;
  std::optional<std::string> custom_status_;
  // This execution's key-value store: OrchestrationStarted's `kv`, then the code's own
  // set/clear commands (each matched against history on replay, so the view is exact).
  KvMap kv_;
  std::uint64_t completion_seq_ = 0;
  std::uint64_t created_seq_ = 0;
  std::uint64_t guid_counter_ = 0;
  std::uint64_t sub_counter_ = 0;
  std::uint64_t detached_counter_ = 0;
};

}  // namespace duroxide::detail
