// The runtime: dispatchers that move work between the provider and the code.
//
// Each dispatcher's `step()` does at most one unit of work — fetch one item,
// run one turn or one activity, ack — and reports whether it did anything. No
// loops, no sleeps: drivers decide when to step. The StepDriver here runs both
// dispatchers on the calling thread (wasm, simulation, tests); the threaded
// driver in core/platform/ runs the same dispatchers on threads.
//
// Failure handling (TIGER_STYLE: every path ends somewhere explicit):
// - an item fetched more than `max_attempts` times is poison: the orchestration
//   (or activity) fails with a Poison error instead of being retried forever;
// - an unregistered orchestration or activity is abandoned with exponential
//   backoff (another node may have the code), then fails as poison;
// - a history row that does not decode fails the instance as poisoned;
// - a lost lock (expired, cancelled, deleted) drops the result: another node owns it;
// - a transient provider error abandons the item so it is retried.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "duroxide/environment.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/provider.hpp"
#include "duroxide/registry.hpp"
#include "duroxide/replay_engine.hpp"
#include "duroxide/runtime_metrics.hpp"
#include "duroxide/session_keeper.hpp"

namespace duroxide {

struct RuntimeOptions {
  std::size_t orchestration_concurrency = 1;  // threaded driver only
  std::size_t worker_concurrency = 1;         // threaded driver only
  // Group commit: each dispatcher step fetches what is ready, up to this many
  // items, in one call (it never waits for more), works them one after the
  // other, and acks them together in one call (one transaction on SQLite).
  // Orchestration turns only compute, so batching them costs little latency.
  // A worker batch adapts to its activities (see `worker_batch_delay_ms`).
  // 0 leaves the size to the store (Provider::preferred_batch_size: 64 on
  // SQLite, 16 on PostgreSQL); larger sizes are cut to kMaxBatchItems.
  std::size_t orchestration_batch_size = 0;
  std::size_t worker_batch_size = 0;
  // Short activities share one ack; long ones are not held back or held up.
  // A worker acks the completions it holds before starting the next activity
  // once the oldest has waited this long; after an activity that ran longer,
  // it acks at once, releases the batch's activities not yet started (their
  // attempt not counted) for other workers, and fetches one at a time until a
  // batch runs short again (its size then doubles, up to worker_batch_size).
  // So a completion waits for others at most this delay plus the one activity
  // running when it finished. Threaded driver time; the step driver's clock
  // stands still within a step, so its batches are acked whole.
  std::int64_t worker_batch_delay_ms = 2;
  std::int64_t orchestration_lock_timeout_ms = 5'000;
  std::int64_t worker_lock_timeout_ms = 30'000;
  std::int64_t lock_renewal_buffer_ms = 2'000;  // renew this long before expiry
  // Threaded driver: the longest idle wait between polls. Work this process
  // enqueues wakes it at once; polls find work from other processes. The lock
  // keeper wakes at least every half renewal buffer, whatever this is.
  std::int64_t poll_interval_ms = 20;
  static constexpr std::uint32_t kMaxAttempts = 1'000'000;  // the largest max_attempts
  std::uint32_t max_attempts = 10;              // then the item is poison (1..kMaxAttempts)
  std::int64_t unregistered_backoff_ms = 1'000;  // first delay; doubles per attempt
  std::int64_t unregistered_backoff_max_ms = 60'000;
  std::int64_t activity_cancellation_grace_ms = 5'000;
  // Execution retention for continue-as-new loops: keep the newest this many
  // executions of each instance; the turn that starts a newer one deletes the oldest
  // with their histories, in its ack's transaction (at most kMaxExecutionsDeletedPerAck
  // per turn: provider.hpp). 0 keeps every execution.
  std::size_t executions_kept = 0;
  // The activities this runtime's workers take, by tag (ActivityOptions::tag): by
  // default only untagged ones. An activity whose tag no running worker takes waits
  // in the queue (queue depths and instance details show it); race it against a
  // timer where that matters. TagFilter::none() runs no activities at all. An
  // invalid filter (TagFilter::problem) fails the drivers' and dispatchers'
  // constructors (check_runtime_options).
  TagFilter worker_tag_filter;
  // The executions this runtime's orchestration dispatcher takes, by the version each is
  // pinned to (the build of the runtime that started it: OrchestrationStarted::
  // duroxide_version): by default those pinned at or below this build, whose histories
  // this replay engine reads. The rest stay queued for runtimes of newer builds sharing
  // the store (a rolling upgrade). One fetched anyway (a store that ignores the filter)
  // is abandoned with the unregistered backoff, and is poison after max_attempts. Widen
  // it to drain executions pinned to a build no runtime runs any more. An invalid filter
  // (CapabilityFilter::problem) fails the constructors, as worker_tag_filter does.
  CapabilityFilter supported_replay_versions = CapabilityFilter::supporting({default_supported_versions()});
  // Activity sessions (ActivityOptions::session_id; docs/semantics.md, "Activity
  // sessions"). The owner this runtime's workers claim sessions as. Give it a name that
  // outlives a restart (a pod's name) and a restarted runtime takes its sessions back at
  // once; empty: the driver's own, for its lifetime (the threaded driver a random one, a
  // step driver "local"). Runtimes that share a store need different ones. At most
  // limits::kMaxWorkerNodeIdBytes of UTF-8.
  std::string worker_node_id;
  // A session's lock: how long a runtime holds a session it no longer renews (after it
  // stopped or crashed) before another may claim it; renewed this long minus the buffer
  // after the last renewal.
  std::int64_t session_lock_timeout_ms = 30'000;
  std::int64_t session_lock_renewal_buffer_ms = 5'000;
  // A session with no activity begun or ended here for this long is no longer renewed:
  // within a lock timeout more, another runtime may claim it.
  std::int64_t session_idle_timeout_ms = 300'000;
  // The most sessions whose activities run here at once (1..limits::kMaxSessionsPerRuntime):
  // at that many, the workers fetch activities outside sessions only.
  std::size_t max_sessions_per_runtime = 10;
  RuntimeMetrics* metrics = nullptr;  // counters and histograms of this process, if wanted
};

// Throws std::invalid_argument naming the first invalid option (worker_tag_filter:
// TagFilter::problem; supported_replay_versions: CapabilityFilter::problem; the session
// options: an owner id that is not UTF-8 or too long, a lock timeout not above its
// renewal buffer, a buffer or idle timeout below 1 ms, a session cap outside its range;
// lock timeouts, the lock renewal buffer and the poll interval outside 1..kMaxDelayMs).
// The dispatchers and drivers call it when they are made, so a bad option fails there,
// never inside a dispatcher's thread.
void check_runtime_options(const RuntimeOptions& options);

// What hosts may want to print or count; called synchronously from step(). An observer
// should not throw: on the step driver its exception leaves step(); on the threaded
// driver it is dropped (a driver thread cannot pass it on).
struct RuntimeEvent {
  // Unsupported: an execution pinned to a version outside supported_replay_versions
  // was fetched and given back.
  enum class Kind { Log, Dropped, Poison, Unregistered, Unsupported, LockLost, ProviderError };
  Kind kind = Kind::Log;
  std::string instance;
  std::string message;
  LogLevel level = LogLevel::Warn;  // a Log's own level; every other kind is a warning
};
using RuntimeObserver = std::function<void(const RuntimeEvent&)>;

// The kind's name as hosts print it: "log", "dropped", "poison", "unregistered",
// "unsupported", "lock-lost", "provider-error".
std::string_view to_string(RuntimeEvent::Kind kind);

// What both dispatchers work with.
struct DispatcherContext {
  Provider& provider;
  const Registry& registry;
  Clock& clock;
  RuntimeOptions options;
  RuntimeObserver observer;

  void notify(RuntimeEvent::Kind kind, const std::string& instance, std::string message,
              LogLevel level = LogLevel::Warn) const {
    if (observer) observer({kind, instance, std::move(message), level});
  }
};

class OrchestrationDispatcher {
 public:
  OrchestrationDispatcher(Provider& provider, const Registry& registry, Clock& clock,
                          RuntimeOptions options, RuntimeObserver observer = {});
  bool step();

 private:
  // Runs one fetched item's turn; the ack to send, or nothing when the item
  // was abandoned instead (its orchestration is not registered here).
  std::optional<OrchestrationAck> run_item(OrchestrationItem& item);
  // The ack for each way an item can go: its execution has finished (messages
  // dropped), it is poisoned (corrupted row, too many attempts), or it runs a turn.
  OrchestrationAck finished_ack(const OrchestrationItem& item, const History& history, ExecutionId execution);
  OrchestrationAck poisoned_ack(const OrchestrationItem& item, const History& history, ExecutionId execution,
                                const ErrorDetails& details);
  OrchestrationAck turn_ack(OrchestrationItem& item, History history, ExecutionId execution);
  // Abandons the item with a backoff when its orchestration is not registered
  // here and attempts remain; true when it did.
  bool backed_off_unregistered(const OrchestrationItem& item, const History& history);
  // The version the execution of `history` is pinned to when supported_replay_versions
  // does not take it (a store that ignored the fetch's filter handed it out); else nullopt.
  std::optional<SemVer> unsupported_pin(const History& history) const;
  // Abandons the item with the unregistered backoff (attempt counted), telling the
  // observer `why` as an event of `kind`.
  void back_off(const OrchestrationItem& item, RuntimeEvent::Kind kind, const std::string& why);

  // The acks of a batch's turns, with the fetched items they answer and the replies
  // to foreign starts each carries (a failure ack must carry them too).
  struct TurnBatch {
    std::vector<OrchestrationAckRequest> requests;
    std::vector<const OrchestrationItem*> items;
    std::vector<std::vector<OrchestratorItem>> replies;
    std::vector<bool> poisoned;  // the ack fails its instance as poison (counted once it commits)
  };
  // Runs every fetched item's turn, renewing the batch's locks as it goes.
  TurnBatch run_batch(std::vector<OrchestrationItem>& fetched);
  // Acks the turns in one call; turns the store refused for their values are
  // acked again as failures of their instances.
  void ack_batch_of_turns(const TurnBatch& batch);
  OrchestrationAck refused_turn_ack(const TurnBatch& batch, std::size_t index, const ProviderError& refusal);
  // Each message of `item` but the start `ack` records as a Dropped event naming `reason`.
  void report_undelivered(const OrchestrationItem& item, const OrchestrationAck& ack, const std::string& reason);
  // Extends one instance lock; a lost lock is left for the ack to report. False
  // when the store refused the renewal for another reason (reported): try again.
  bool renew_lock(const std::string& lock_token, const std::string& instance);

  DispatcherContext context_;
  bool item_poisoned_ = false;  // run_item's last ack came from poisoned_ack
};

// Keeps the locks of running activities alive while they run (the threaded
// driver's lock keeper); the step driver runs activities to completion in one
// step and needs none.
class ActivityLeases {
 public:
  virtual ~ActivityLeases() = default;
  // Before the activity runs; set `cancelled` when its lock is lost.
  virtual void begin(const std::string& lock_token, const std::string& description,
                     std::shared_ptr<std::atomic<bool>> cancelled) = 0;
  virtual void end(const std::string& lock_token) = 0;
  // Before the worker gives the lock up (its ack or its abandon), which then ends the
  // lease: renewals go on until end(), but one refused from now on is no lost lock to
  // report. The ack or abandon may have committed, which frees the row; an ack or an
  // abandon refused for its lock is reported by the worker. False when this lease's
  // lock was already reported lost (the worker does not report it again).
  virtual bool settling(const std::string& /*lock_token*/) { return true; }
  // Whether the driver is shutting down: a worker then starts none of its batch's
  // remaining activities and gives them back (attempts not counted) for another node.
  virtual bool shutting_down() { return false; }
};

class WorkerDispatcher {
 public:
  // `sessions`: the runtime's session keeper, shared by its worker dispatchers (the
  // threaded driver's); nullptr: a keeper of this dispatcher's own, whose owner id is
  // RuntimeOptions::worker_node_id or "local".
  WorkerDispatcher(Provider& provider, const Registry& registry, Clock& clock,
                   RuntimeOptions options, RuntimeObserver observer = {},
                   ActivityLeases* leases = nullptr, SessionKeeper* sessions = nullptr);
  bool step();

 private:
  // Runs one fetched activity; its completion, or nothing when it was abandoned
  // instead (not registered here).
  std::optional<WorkItem> run_item(const WorkerItem& item, const std::shared_ptr<std::atomic<bool>>& cancelled);
  // The completions of a batch's activities and the fetched items they answer.
  struct ResultBatch {
    std::vector<WorkAckRequest> requests;
    std::vector<const WorkerItem*> items;
  };
  // Acks the completions in one call; results the store refused for their
  // values are acked again as failures of their activities.
  void ack_batch_of_results(const ResultBatch& batch);
  // Begins a lease for every fetched item (when the driver keeps leases); their cancelled flags.
  std::vector<std::shared_ptr<std::atomic<bool>>> begin_leases(const std::vector<WorkerItem>& fetched);
  // Acks what `batch` holds and ends those items' leases; `batch` is then empty.
  void flush(ResultBatch& batch);
  // Gives the fetched items [first, end) back to the queue, attempts not counted, but
  // those `given_back` marks (when given), which are back already.
  void release(const std::vector<WorkerItem>& fetched, std::size_t first, std::size_t end,
               const std::vector<bool>* given_back = nullptr);
  // Abandons one item (Provider::abandon_work_item); a refusal for its lock is a LockLost
  // unless already reported (ActivityLeases::settling), any other a ProviderError.
  void abandon(const WorkerItem& item, std::int64_t delay_ms, bool ignore_attempt);

  // Renews the sessions' locks when due (a store error is reported, not thrown).
  void keep_sessions();
  // The next batch (empty when none, or when the fetch failed: reported, and `parked`
  // set when it failed because it parked a corrupted row, which is work done).
  std::vector<WorkerItem> fetch_batch(bool& parked);
  // Marks the fetched items of sessions that are over max_sessions_per_runtime `skipped`
  // and gives them back; `begun` gets the sessions of the others, one per item.
  void begin_sessions(const std::vector<WorkerItem>& fetched, std::vector<bool>& skipped,
                      std::vector<std::string>& begun);

  DispatcherContext context_;
  ActivityLeases* leases_;
  std::unique_ptr<SessionKeeper> own_sessions_;  // when no keeper was given
  SessionKeeper* sessions_;
  std::size_t batch_size_ = 1;  // the next fetch's size: 1 after a long activity, doubling after short batches
};

// Single-threaded driver (wasm, simulation, tests): runs the dispatchers in turn on
// the caller's thread until nothing is left to do. An activity runs on that thread
// too, and nothing renews its lock while it runs: one that outlasts
// worker_lock_timeout_ms has its result refused (a LockLost event) and runs again.
// Activities that may run that long belong on the ThreadedDriver, whose lock keeper
// renews them (the JavaScript runtime renews its asynchronous activities itself).
class StepDriver {
 public:
  StepDriver(Provider& provider, const Registry& registry, Clock& clock, RuntimeOptions options = {},
             RuntimeObserver observer = {});
  // One dispatcher step (one fetched batch), the two dispatchers taking turns to go
  // first; false when both are idle.
  bool step();
  // Dispatcher steps until both are idle or `max_steps` steps did work; returns
  // that number. Works in rounds: one orchestration step, then up to
  // `orchestration_batch_size` worker steps while the worker queue has items, so the
  // next orchestration batch takes an instance's several completions in one turn
  // (as the threaded driver does when its workers run ahead) instead of one turn,
  // one replay and one commit per completion. Ends with maintain().
  std::size_t run_until_idle(std::size_t max_steps = 1'000'000);
  // The store's housekeeping (Provider::maintain: retention deletes, SQLite
  // checkpoints), as the threaded driver runs it every poll interval; the store
  // paces itself (a batch at most once a second of its clock). A store error is
  // reported to the observer as a ProviderError event, not thrown.
  void maintain();

 private:
  Provider& provider_;
  RuntimeObserver observer_;
  OrchestrationDispatcher orchestrations_;
  WorkerDispatcher workers_;
  std::size_t worker_steps_per_round_;
  bool orchestration_turn_ = true;
};

// Waits by working: runs the driver until idle, and only when nothing is left to
// do moves the virtual clock forward by the time asked for. A runtime that is still
// busy after `max_steps_per_wait` steps (an orchestration that never stops: an endless
// continue-as-new loop) moves the clock too, so every wait reaches its deadline; a
// wait of T ms then costs at most T / poll interval * max_steps_per_wait steps.
class StepPacer final : public Pacer {
 public:
  static constexpr std::size_t kMaxStepsPerWait = 1000;
  StepPacer(StepDriver& driver, ManualClock& clock, std::size_t max_steps_per_wait = kMaxStepsPerWait)
      : driver_(driver), clock_(clock), max_steps_(max_steps_per_wait) {}
  TimestampMs now_ms() override { return clock_.now_ms(); }
  void wait(std::int64_t ms) override {
    const std::size_t steps = driver_.run_until_idle(max_steps_);
    if (steps == 0 || steps >= max_steps_) clock_.advance(ms);
  }

 private:
  StepDriver& driver_;
  ManualClock& clock_;
  std::size_t max_steps_;
};

// The backoff before retrying an unregistered name, by attempt (1, 2, ...).
std::int64_t unregistered_backoff(const RuntimeOptions& options, std::uint32_t attempt);

}  // namespace duroxide
