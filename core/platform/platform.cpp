// The only code in core/ that reads the wall clock, sleeps, spawns threads or
// draws randomness (see duroxide/platform.hpp).
#include "duroxide/platform.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <map>
#include <set>
#include <thread>
#include <vector>

namespace duroxide {

TimestampMs SystemClock::now_ms() {
  TimestampMs wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  TimestampMs last = last_.load();
  while (wall > last && !last_.compare_exchange_weak(last, wall)) {
  }
  return std::max(wall, last);
}

std::int64_t SystemClock::monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

RandomIdSource::RandomIdSource() {
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(),
                     device()};
  generator_.seed(seed);
}

std::string RandomIdSource::next_id() {
  std::lock_guard<std::mutex> lock(mutex_);
  constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int word = 0; word < 2; ++word) {
    std::uint64_t value = generator_();
    for (int nibble = 15; nibble >= 0; --nibble) out += kHex[(value >> (4 * nibble)) & 0xF];
  }
  return out;
}

void SleepPacer::wait(std::int64_t ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// ---------------------------------------------------------------- ThreadedDriver
#ifndef __EMSCRIPTEN__

struct ThreadedDriver::State final : ActivityLeases, QueueListener {
  struct Lease {
    std::string description;
    std::shared_ptr<std::atomic<bool>> cancelled;
    TimestampMs started_at = 0;
    TimestampMs renewed_at = 0;
    bool warned = false;
    bool settling = false;  // its ack or abandon is under way (ActivityLeases::settling)
    bool reported = false;  // its lock was reported lost
  };

  Provider& provider;
  const Registry& registry;
  Clock& clock;
  RuntimeOptions options;
  RuntimeObserver observer;

  // What idle dispatchers of one queue wait for: work told by the store
  // (`generation` moves), a told visibility time coming due, the poll interval
  // (work from elsewhere), or a stop request.
  struct QueueWake {
    std::condition_variable changed;
    std::uint64_t generation = 0;
    std::set<TimestampMs> due;  // future visibility times told, at most kMaxDue
  };
  static constexpr std::size_t kMaxDue = 1024;  // beyond: the latest are left to polling

  std::mutex mutex;
  std::condition_variable wake;     // stop requests for the lock keeper
  std::condition_variable stopped;  // a thread finished
  std::array<QueueWake, 2> queues;
  bool stopping = false;
  std::atomic<bool> listening{false};  // registered with the store as its queue listener
  std::size_t running = 0;              // threads, the lock keeper included
  std::size_t dispatchers_running = 0;  // the lock keeper outlives these
  std::vector<std::thread> threads;
  std::map<std::string, Lease> leases;
  std::mutex observer_mutex;
  // One session owner for all the worker threads (RuntimeOptions::worker_node_id, or a
  // random one for this driver's lifetime), renewed by the lock keeper too, so a
  // session whose activities all run long keeps its lock.
  SessionKeeper sessions;

  State(Provider& p, const Registry& r, Clock& c, RuntimeOptions o, RuntimeObserver obs)
      : provider(p),
        registry(r),
        clock(c),
        options(o),
        observer(std::move(obs)),
        sessions(p, c, options, options.worker_node_id.empty() ? "runtime-" + RandomIdSource().next_id()
                                                                : options.worker_node_id) {}

  // Tells the observer, serialized. An exception it throws is dropped: thrown on a
  // driver thread, it would end the process, or a worker step with its results unacked.
  void notify(const RuntimeEvent& event) noexcept {
    if (!observer) return;
    std::lock_guard<std::mutex> lock(observer_mutex);
    try {
      observer(event);
    } catch (...) {
    }
  }
  RuntimeObserver serialized_observer() {
    if (!observer) return {};
    return [this](const RuntimeEvent& event) { notify(event); };
  }

  void begin(const std::string& token, const std::string& description,
             std::shared_ptr<std::atomic<bool>> cancelled) override {
    std::lock_guard<std::mutex> lock(mutex);
    TimestampMs now = clock.now_ms();
    leases[token] = Lease{description, std::move(cancelled), now, now, false};
  }
  bool shutting_down() override { return should_stop(); }
  void end(const std::string& token) override {
    std::lock_guard<std::mutex> lock(mutex);
    leases.erase(token);
  }
  bool settling(const std::string& token) override {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = leases.find(token);
    if (it == leases.end()) return true;
    it->second.settling = true;
    return !it->second.reported;
  }

  static std::size_t index(QueueKind queue) { return queue == QueueKind::Orchestrator ? 0 : 1; }

  void work_enqueued(QueueKind queue, TimestampMs visible_at_ms) override {
    std::lock_guard<std::mutex> lock(mutex);
    QueueWake& q = queues[index(queue)];
    if (visible_at_ms <= clock.now_ms()) {
      ++q.generation;
    } else if (q.due.size() < kMaxDue || visible_at_ms < *q.due.rbegin()) {
      q.due.insert(visible_at_ms);
      if (q.due.size() > kMaxDue) q.due.erase(std::prev(q.due.end()));
    } else {
      return;
    }
    q.changed.notify_one();  // one idle thread takes the work; it wakes another if it finds more
  }

  std::uint64_t generation(QueueKind queue) {
    std::lock_guard<std::mutex> lock(mutex);
    return queues[index(queue)].generation;
  }

  // An idle dispatcher's wait, after a step that found nothing: until work is
  // told after `seen` was read (so nothing told during the step is missed), a
  // told time comes due, the poll interval passes, or a stop. False: stop.
  bool idle_wait(QueueKind queue, std::uint64_t seen) {
    std::unique_lock<std::mutex> lock(mutex);
    QueueWake& q = queues[index(queue)];
    const auto poll_end = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(std::max<std::int64_t>(options.poll_interval_ms, 1));
    while (!stopping && q.generation == seen) {
      const TimestampMs now = clock.now_ms();
      if (!q.due.empty() && *q.due.begin() <= now) {
        q.due.erase(q.due.begin(), q.due.upper_bound(now));
        break;
      }
      auto until = poll_end;
      if (!q.due.empty()) until = std::min(until, std::chrono::steady_clock::now() +
                                                      std::chrono::milliseconds(*q.due.begin() - now));
      if (q.changed.wait_until(lock, until) == std::cv_status::timeout && until == poll_end) break;
    }
    return !stopping;
  }
  bool should_stop() {
    std::lock_guard<std::mutex> lock(mutex);
    return stopping;
  }
  void finished(bool dispatcher) {
    std::lock_guard<std::mutex> lock(mutex);
    --running;
    if (dispatcher) --dispatchers_running;
    wake.notify_all();  // the lock keeper stops once no dispatcher runs
    stopped.notify_all();
  }
  // The lock keeper's wait: it keeps renewing through a shutdown until every
  // dispatcher has finished its step, so no running activity's lock expires
  // (and another node runs it again) while this node still works on it. It wakes
  // at least twice within each renewal buffer, whatever the poll interval: a lease
  // found due is renewed before it expires.
  bool keeper_wait() {
    std::unique_lock<std::mutex> lock(mutex);
    auto done = [this] { return stopping && dispatchers_running == 0; };
    const std::int64_t wait_ms = std::max<std::int64_t>(
        std::min({options.poll_interval_ms, options.lock_renewal_buffer_ms / 2,
                  options.session_lock_renewal_buffer_ms / 2}),
        1);
    wake.wait_for(lock, std::chrono::milliseconds(wait_ms), done);
    return !done();
  }

  template <typename Dispatcher>
  void run(Dispatcher dispatcher, QueueKind queue) {
    while (!should_stop()) {
      const std::uint64_t seen = generation(queue);
      bool worked = false;
      try {
        worked = dispatcher.step();
      } catch (const std::exception& error) {
        notify({RuntimeEvent::Kind::ProviderError, {}, error.what()});
      } catch (...) {  // a store's or a callback's own type: reported, the thread goes on
        notify({RuntimeEvent::Kind::ProviderError, {}, "a dispatcher step threw a non-standard exception"});
      }
      if (worked) {
        // Told work may be more than this thread takes: pass the word on.
        std::lock_guard<std::mutex> lock(mutex);
        if (queues[index(queue)].generation != seen) queues[index(queue)].changed.notify_one();
      } else if (!idle_wait(queue, seen)) {
        break;
      }
    }
    finished(true);
  }

  // Runs the store's housekeeping; renews running activities' locks before they
// expire; flags lost ones.
  void keep_leases() {
    const std::int64_t renew_after = std::max<std::int64_t>(
        options.worker_lock_timeout_ms - options.lock_renewal_buffer_ms, 1);
    while (keeper_wait()) {
      keeper_task("maintain", [&] { provider.maintain(); });  // off the dispatchers' path (SQLite: its checkpoints)
      keeper_task("session renewal", [&] { sessions.renew_if_due(); });
      keeper_task("lease renewal", [&] { renew_leases(renew_after); });
    }
    finished(false);
  }

  // One of the lock keeper's tasks: whatever it throws is reported, and the keeper goes on
  // (an exception escaping its thread would end the process).
  template <typename Task>
  void keeper_task(const char* what, Task&& task) {
    try {
      task();
    } catch (const std::exception& error) {
      notify({RuntimeEvent::Kind::ProviderError, {}, error.what()});
    } catch (...) {
      notify({RuntimeEvent::Kind::ProviderError, {}, std::string(what) + " threw a non-standard exception"});
    }
  }

  // Renews the leases due for it and flags the lost ones. The events are told with no lock
  // held: an observer may call back into the driver or enqueue work, which takes `mutex`.
  void renew_leases(std::int64_t renew_after) {
    std::vector<std::pair<std::string, Lease>> due;
    std::vector<RuntimeEvent> events;
    TimestampMs now = clock.now_ms();
    {
      std::lock_guard<std::mutex> lock(mutex);
      for (auto& [token, lease] : leases) {
        if (!lease.cancelled->load() && now - lease.renewed_at >= renew_after) due.emplace_back(token, lease);
        if (lease.cancelled->load() && !lease.warned && now - lease.started_at > options.activity_cancellation_grace_ms) {
          lease.warned = true;
          events.push_back({RuntimeEvent::Kind::LockLost, {},
                            lease.description + " is still running " +
                                std::to_string(options.activity_cancellation_grace_ms) +
                                " ms after its cancellation; its result will be dropped"});
        }
      }
    }
    for (const RuntimeEvent& event : events) notify(event);
    for (auto& [token, lease] : due) {
      try {
        provider.renew_work_item_lock(token, options.worker_lock_timeout_ms);
        std::lock_guard<std::mutex> lock(mutex);
        auto it = leases.find(token);
        if (it != leases.end()) it->second.renewed_at = now;
      } catch (const ProviderError& error) {
        if (error.kind() != ProviderErrorKind::InvalidLock) {
          notify({RuntimeEvent::Kind::ProviderError, {}, error.what()});
          continue;
        }
        {
          // Refused after its ack or abandon began, or after its lease ended: the row may
          // be gone because that committed. The worker reports a refused ack itself.
          std::lock_guard<std::mutex> lock(mutex);
          auto it = leases.find(token);
          if (it == leases.end() || it->second.settling) continue;
          lease.cancelled->store(true);
          it->second.started_at = now;  // the grace period starts now
          it->second.reported = true;
        }
        notify({RuntimeEvent::Kind::LockLost, {}, lease.description + " lost its lock: " + error.what()});
      }
    }
  }
};

ThreadedDriver::ThreadedDriver(Provider& provider, const Registry& registry, Clock& clock,
                               RuntimeOptions options, RuntimeObserver observer)
    : state_(std::make_unique<State>(provider, registry, clock, options, std::move(observer))) {
  check_runtime_options(state_->options);
}

ThreadedDriver::~ThreadedDriver() {
  shutdown(0);
  for (auto& thread : state_->threads) {
    if (thread.joinable()) thread.join();
  }
  if (state_->listening) state_->provider.remove_queue_listener(state_.get());
}

void ThreadedDriver::start() {
  State& s = *state_;
  // Registered without s.mutex held: the store calls work_enqueued, which takes s.mutex,
  // under its listeners' lock, so taking that lock under s.mutex would order the two
  // locks both ways. A driver registers once however often start() is called.
  if (!s.listening.exchange(true)) s.provider.add_queue_listener(&s);
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.threads.empty() || s.stopping) return;  // started already, or shut down
  RuntimeObserver observer = s.serialized_observer();
  auto launch = [&s](auto body, bool dispatcher = true) {
    ++s.running;
    if (dispatcher) ++s.dispatchers_running;
    s.threads.emplace_back(std::move(body));
  };
  for (std::size_t i = 0; i < std::max<std::size_t>(s.options.orchestration_concurrency, 1); ++i) {
    launch([&s, observer] {
      s.run(OrchestrationDispatcher(s.provider, s.registry, s.clock, s.options, observer), QueueKind::Orchestrator);
    });
  }
  for (std::size_t i = 0; i < std::max<std::size_t>(s.options.worker_concurrency, 1); ++i) {
    launch([&s, observer] {
      s.run(WorkerDispatcher(s.provider, s.registry, s.clock, s.options, observer, &s, &s.sessions),
            QueueKind::Worker);
    });
  }
  launch([&s] { s.keep_leases(); }, /*dispatcher=*/false);
}

bool ThreadedDriver::shutdown(std::int64_t timeout_ms) {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mutex);
  s.stopping = true;
  s.wake.notify_all();
  for (State::QueueWake& queue : s.queues) queue.changed.notify_all();
  return s.stopped.wait_for(lock, std::chrono::milliseconds(std::max<std::int64_t>(timeout_ms, 0)),
                            [&s] { return s.running == 0; });
}

#endif  // __EMSCRIPTEN__

}  // namespace duroxide
