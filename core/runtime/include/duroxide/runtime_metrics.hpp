// RuntimeMetrics: what this runtime process has done since it started —
// counters per orchestration and activity, histograms of turn, activity and
// provider-call durations, success rate and uptime — as a snapshot and as
// Prometheus text. Thread-safe; time comes from the injected Clock.
//
// The dispatchers record into it when RuntimeOptions::metrics points at one.
// Store-wide numbers (instances by status, queues) come from the
// ManagementClient instead: these are per process.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "duroxide/environment.hpp"

namespace duroxide {

// Millisecond histogram with fixed bucket bounds (the last bucket is +Inf).
struct Histogram {
  static constexpr std::array<std::int64_t, 10> kBoundsMs{1,   5,    10,   50,    100,
                                                           500, 1000, 5000, 10000, 60000};
  std::array<std::uint64_t, kBoundsMs.size() + 1> buckets{};  // counts per bucket, not cumulative
  std::uint64_t count = 0;
  std::int64_t sum_ms = 0;

  void record(std::int64_t ms);
};

struct OrchestrationCounters {
  std::uint64_t started = 0;
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::uint64_t continued = 0;
};

struct ActivityCounters {
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
};

struct RuntimeMetricsSnapshot {
  TimestampMs started_at_ms = 0;
  std::int64_t uptime_ms = 0;
  std::map<std::string, OrchestrationCounters> orchestrations;
  std::map<std::string, ActivityCounters> activities;
  Histogram turn_ms;
  Histogram activity_ms;
  std::map<std::string, Histogram> provider_ms;  // by operation (fetch, ack, ...)
  std::uint64_t provider_errors = 0;
  std::uint64_t locks_lost = 0;
  std::uint64_t poison = 0;
  // completed / (completed + failed) over all orchestrations; 1 when none finished.
  double success_rate = 1.0;
};

class RuntimeMetrics {
 public:
  explicit RuntimeMetrics(Clock& clock);

  Clock& clock() { return clock_; }
  void orchestration_started(const std::string& name);
  void orchestration_finished(const std::string& name, bool completed, bool continued_as_new);
  void activity_finished(const std::string& name, bool completed, std::int64_t duration_ms);
  void turn(std::int64_t duration_ms);
  void provider_call(const std::string& operation, std::int64_t duration_ms, bool failed);
  void lock_lost();
  void poisoned();

  RuntimeMetricsSnapshot snapshot();
  // Prometheus text exposition format 0.0.4 of a snapshot.
  static std::string to_prometheus(const RuntimeMetricsSnapshot& snapshot);

 private:
  Clock& clock_;
  std::mutex mutex_;
  RuntimeMetricsSnapshot data_;
};

}  // namespace duroxide
