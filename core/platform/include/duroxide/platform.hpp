// The real world for native hosts: wall clock, random lock tokens, sleeping
// and threads. Everything here is implemented in core/platform/, the only
// place in core/ that may read the wall clock, sleep, spawn threads or draw
// randomness; the engine, providers and clients only see the interfaces.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "duroxide/environment.hpp"
#include "duroxide/runtime.hpp"

namespace duroxide {

// Milliseconds since the Unix epoch from the system clock, never going backwards
// (a clock that steps back is held at its last value). Thread-safe.
class SystemClock final : public Clock {
 public:
  TimestampMs now_ms() override;
  std::int64_t monotonic_us() override;

 private:
  std::atomic<TimestampMs> last_{0};
};

// 128-bit random hex tokens. Thread-safe.
class RandomIdSource final : public IdSource {
 public:
  RandomIdSource();
  std::string next_id() override;

 private:
  std::mutex mutex_;
  std::mt19937_64 generator_;
};

// Waits by sleeping on the calling thread.
class SleepPacer final : public Pacer {
 public:
  explicit SleepPacer(Clock& clock) : clock_(clock) {}
  TimestampMs now_ms() override { return clock_.now_ms(); }
  void wait(std::int64_t ms) override;

 private:
  Clock& clock_;
};

#ifndef __EMSCRIPTEN__  // the wasm build has no threads: it uses the StepDriver
// Runs the dispatchers on threads: `orchestration_concurrency` orchestration
// threads, `worker_concurrency` worker threads and one lock keeper that runs the
// store's housekeeping every poll interval (Provider::maintain) and renews
// the locks of running activities `lock_renewal_buffer_ms` before they expire
// and marks an activity cancelled when its lock is lost (its orchestration
// cancelled it, or it expired). An idle dispatcher wakes as soon as the store
// tells it of work (Provider::add_queue_listener: work enqueued in this process,
// a told timer coming due), and polls every `poll_interval_ms` for the rest
// (work from other processes, expired locks). The driver must not outlive the store.
class ThreadedDriver {
 public:
  ThreadedDriver(Provider& provider, const Registry& registry, Clock& clock,
                 RuntimeOptions options = {}, RuntimeObserver observer = {});
  ~ThreadedDriver();  // shuts down, waiting as long as running steps need
  ThreadedDriver(const ThreadedDriver&) = delete;
  ThreadedDriver& operator=(const ThreadedDriver&) = delete;

  void start();
  // Stops taking new work and waits up to `timeout_ms` for running steps to
  // finish. Returns false if some were still running then (the destructor
  // still waits for them: threads are never abandoned with live references).
  // The lock keeper goes on renewing running activities' locks until every
  // step has finished, past the timeout too: an activity is never run by
  // another node while this one still runs it.
  bool shutdown(std::int64_t timeout_ms);

 private:
  struct State;
  std::unique_ptr<State> state_;
};
#endif

}  // namespace duroxide
