// RuntimeMetrics: what this runtime process has done since it started —
// counters per orchestration and activity, histograms of turn, activity and
// provider-call durations, success rate and uptime — as a snapshot and as
// Prometheus text. Thread-safe; time comes from the injected Clock.
//
// The Prometheus text uses upstream Duroxide's metric names and labels
// (duroxide_orchestration_starts_total{orchestration_name,version,initiated_by}, ...;
// docs/management.md lists them), so dashboards built for upstream read it as is.
//
// The dispatchers record into it when RuntimeOptions::metrics points at one.
// Store-wide numbers (instances by status, queues) come from the
// ManagementClient instead: these are per process (StoreGauges carries the few a
// host serves beside them).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "duroxide/environment.hpp"
#include "duroxide/error_details.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide {

// A histogram with fixed upper bounds in the unit recorded (the last bucket is +Inf).
struct Histogram {
  static constexpr std::array<std::int64_t, 10> kBoundsMs{1,   5,    10,   50,    100,
                                                           500, 1000, 5000, 10000, 60000};
  Histogram() : Histogram(std::vector<std::int64_t>(kBoundsMs.begin(), kBoundsMs.end())) {}
  explicit Histogram(std::vector<std::int64_t> upper_bounds)
      : bounds(std::move(upper_bounds)), buckets(bounds.size() + 1, 0) {}

  std::vector<std::int64_t> bounds;    // ascending
  std::vector<std::uint64_t> buckets;  // counts per bucket, not cumulative; bounds.size() + 1
  std::uint64_t count = 0;
  std::int64_t sum = 0;  // of the recorded values

  void record(std::int64_t value);  // negative values count as 0
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

// How an execution began (upstream's `initiated_by` label).
enum class StartCause { Client, SubOrchestration, ContinueAsNew };

// How an activity attempt ended (upstream's `outcome` label).
enum class ActivityResult { Success, AppError, InfraError, ConfigError, Poison };

// One execution's end, as the orchestration dispatcher saw it when its ack committed.
struct ExecutionEnd {
  std::string instance;
  ExecutionId execution = 1;
  std::string name;
  std::string version;
  bool continued_as_new = false;
  std::optional<ErrorDetails> error;  // a failed (or cancelled) end
  std::int64_t duration_ms = 0;       // from the execution's first event
  std::uint64_t history_events = 0;
};

// Labeled series of one metric family: rendered label text (`a="x",b="y"`) -> value.
using LabeledCounters = std::map<std::string, std::uint64_t>;
using LabeledHistograms = std::map<std::string, Histogram>;

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
  // Items the dispatchers fetched (upstream's orch_dispatcher_items_fetched and
  // worker_dispatcher_items_fetched): orchestration items, activity work items.
  std::uint64_t orchestration_items_fetched = 0;
  std::uint64_t work_items_fetched = 0;
  // completed / (completed + failed) over all orchestrations; 1 when none finished.
  double success_rate = 1.0;
  // Upstream's labeled families by metric name (duroxide_orchestration_starts_total, ...).
  std::map<std::string, LabeledCounters> counters;
  std::map<std::string, LabeledHistograms> histograms;
};

// Store-wide gauges a host reads from its ManagementClient and serves beside a
// runtime's metrics (upstream's duroxide_active_orchestrations and queue depths).
struct StoreGauges {
  std::uint64_t active_orchestrations = 0;     // instances Running
  std::uint64_t orchestrator_queue_depth = 0;  // visible, unlocked orchestrator items
  std::uint64_t worker_queue_depth = 0;        // visible, unlocked activity items
};

class RuntimeMetrics {
 public:
  // Executions whose turns are counted at once (final_turn_count); past this, a new
  // execution's turns count from its last one only.
  static constexpr std::size_t kMaxTrackedExecutions = 100'000;

  explicit RuntimeMetrics(Clock& clock);

  Clock& clock() { return clock_; }
  void orchestration_started(const std::string& name, const std::string& version, StartCause cause);
  // One committed turn of an execution (counted into final_turn_count at its end).
  void orchestration_turn(const std::string& instance, ExecutionId execution);
  void orchestration_finished(const ExecutionEnd& end);
  // `tag`: the activity's routing tag, empty when untagged (labelled "default", as
  // upstream does). `attempt`: the delivery attempt, 1 for the first.
  void activity_finished(const std::string& name, const std::string& tag, ActivityResult result,
                         std::uint32_t attempt, std::int64_t duration_ms);
  void turn(std::int64_t duration_ms);
  // `error`: empty when the call succeeded, else the provider error kind's name.
  void provider_call(const std::string& operation, std::int64_t duration_ms,
                     const std::optional<std::string>& error);
  void lock_lost();
  void orchestration_poisoned();
  // What one fetch took: `count` orchestration items, or `count` activity work items.
  void orchestration_items_fetched(std::uint64_t count);
  void work_items_fetched(std::uint64_t count);

  RuntimeMetricsSnapshot snapshot();
  // Prometheus text exposition format 0.0.4 of a snapshot, with the store's gauges if given.
  static std::string to_prometheus(const RuntimeMetricsSnapshot& snapshot, const StoreGauges* gauges = nullptr);

 private:
  void count(const std::string& family, const std::string& labels);
  void observe(const std::string& family, const std::string& labels, std::int64_t value);

  Clock& clock_;
  std::mutex mutex_;
  RuntimeMetricsSnapshot data_;
  std::unordered_map<std::string, std::uint32_t> turns_;  // "instance\nexecution" -> turns so far
};

}  // namespace duroxide
