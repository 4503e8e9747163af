// The world outside the process, as the engine sees it: time and unique ids.
//
// Everything in core/ that needs the time or a unique token takes one of these;
// nothing reads the wall clock or draws randomness directly. Real
// implementations live in core/platform/; tests and the simulator use the
// deterministic ones below, so they control lock expiry and timer visibility.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "duroxide/event.hpp"

namespace duroxide {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch. Contract: never decreases between calls
  // on one clock (implementations clamp a wall clock that steps back).
  virtual TimestampMs now_ms() = 0;
  // Microseconds on a clock that only moves forward, for short latencies
  // (diagnostics). Default: now_ms() in microseconds, so virtual clocks stay deterministic.
  virtual std::int64_t monotonic_us() { return now_ms() * 1000; }
};

class IdSource {
 public:
  virtual ~IdSource() = default;
  // A token no other call of this source (in this or another process sharing a
  // store) returns. Printable ASCII, at most 64 bytes.
  virtual std::string next_id() = 0;
};

// Lets time pass while someone waits (a client for an instance to finish): a
// real sleep natively (platform/), or driving the runtime and moving virtual
// time (StepPacer in runtime.hpp) in wasm, simulation and tests.
class Pacer {
 public:
  virtual ~Pacer() = default;
  virtual TimestampMs now_ms() = 0;
  // Gives the system up to `ms` to make progress.
  virtual void wait(std::int64_t ms) = 0;
};

// A clock that moves only when told to; read and moved safely from several threads.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimestampMs start = 1'700'000'000'000) : now_(start) {}
  TimestampMs now_ms() override { return now_.load(); }
  void advance(std::int64_t ms) { now_.fetch_add(ms > 0 ? ms : 0); }
  void set(TimestampMs now) {
    TimestampMs current = now_.load();
    while (now > current && !now_.compare_exchange_weak(current, now)) {
    }
  }

 private:
  std::atomic<TimestampMs> now_;
};

// `<prefix>-<n>` with n = 1, 2, 3...: unique within one source.
class SequentialIdSource final : public IdSource {
 public:
  explicit SequentialIdSource(std::string prefix = "id") : prefix_(std::move(prefix)) {}
  // Safe from several threads at once (a store serves its callers' threads).
  std::string next_id() override { return prefix_ + "-" + std::to_string(counter_.fetch_add(1) + 1); }

 private:
  std::string prefix_;
  std::atomic<std::uint64_t> counter_{0};
};

}  // namespace duroxide
