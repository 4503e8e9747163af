#include "duroxide/runtime_metrics.hpp"

#include <cstdio>

namespace duroxide {

namespace {

// Label values escape backslash, double quote and newline (exposition format).
std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void histogram(std::string& out, const std::string& name, const std::string& labels,
               const Histogram& h) {
  std::string prefix = labels.empty() ? "{" : "{" + labels + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < Histogram::kBoundsMs.size(); ++i) {
    cumulative += h.buckets[i];
    out += name + "_bucket" + prefix + "le=\"" + std::to_string(Histogram::kBoundsMs[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket" + prefix + "le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  std::string plain = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + plain + " " + std::to_string(h.sum_ms) + "\n";
  out += name + "_count" + plain + " " + std::to_string(h.count) + "\n";
}

}  // namespace

void Histogram::record(std::int64_t ms) {
  if (ms < 0) ms = 0;
  std::size_t bucket = 0;
  while (bucket < kBoundsMs.size() && ms > kBoundsMs[bucket]) ++bucket;
  ++buckets[bucket];
  ++count;
  sum_ms += ms;
}

RuntimeMetrics::RuntimeMetrics(Clock& clock) : clock_(clock) {
  data_.started_at_ms = clock_.now_ms();
}

void RuntimeMetrics::orchestration_started(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++data_.orchestrations[name].started;
}

void RuntimeMetrics::orchestration_finished(const std::string& name, bool completed,
                                            bool continued_as_new) {
  std::lock_guard<std::mutex> lock(mutex_);
  OrchestrationCounters& counters = data_.orchestrations[name];
  if (continued_as_new) ++counters.continued;
  else if (completed) ++counters.completed;
  else ++counters.failed;
}

void RuntimeMetrics::activity_finished(const std::string& name, bool completed,
                                       std::int64_t duration_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  ActivityCounters& counters = data_.activities[name];
  if (completed) ++counters.completed;
  else ++counters.failed;
  data_.activity_ms.record(duration_ms);
}

void RuntimeMetrics::turn(std::int64_t duration_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  data_.turn_ms.record(duration_ms);
}

void RuntimeMetrics::provider_call(const std::string& operation, std::int64_t duration_ms,
                                   bool failed) {
  std::lock_guard<std::mutex> lock(mutex_);
  data_.provider_ms[operation].record(duration_ms);
  if (failed) ++data_.provider_errors;
}

void RuntimeMetrics::lock_lost() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++data_.locks_lost;
}

void RuntimeMetrics::poisoned() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++data_.poison;
}

RuntimeMetricsSnapshot RuntimeMetrics::snapshot() {
  TimestampMs now = clock_.now_ms();
  std::lock_guard<std::mutex> lock(mutex_);
  RuntimeMetricsSnapshot out = data_;
  out.uptime_ms = now - data_.started_at_ms;
  std::uint64_t completed = 0, failed = 0;
  for (const auto& entry : data_.orchestrations) {
    completed += entry.second.completed;
    failed += entry.second.failed;
  }
  out.success_rate =
      completed + failed == 0 ? 1.0 : static_cast<double>(completed) / static_cast<double>(completed + failed);
  return out;
}

std::string RuntimeMetrics::to_prometheus(const RuntimeMetricsSnapshot& s) {
  std::string out;
  header(out, "duroxide_uptime_seconds", "gauge", "Seconds since this runtime's metrics started.");
  out += "duroxide_uptime_seconds " + number(static_cast<double>(s.uptime_ms) / 1000.0) + "\n";
  struct Counter {
    const char* name;
    const char* help;
    std::uint64_t OrchestrationCounters::*field;
  };
  const Counter counters[] = {
      {"duroxide_orchestrations_started_total", "Executions started.", &OrchestrationCounters::started},
      {"duroxide_orchestrations_completed_total", "Instances completed.", &OrchestrationCounters::completed},
      {"duroxide_orchestrations_failed_total", "Instances failed.", &OrchestrationCounters::failed},
      {"duroxide_orchestrations_continued_total", "Executions continued as new.",
       &OrchestrationCounters::continued},
  };
  for (const auto& counter : counters) {
    header(out, counter.name, "counter", counter.help);
    for (const auto& [name, values] : s.orchestrations) {
      out += std::string(counter.name) + "{orchestration=\"" + label(name) + "\"} " +
             std::to_string(values.*counter.field) + "\n";
    }
  }
  header(out, "duroxide_orchestration_success_ratio", "gauge",
         "Completed / (completed + failed) instances.");
  out += "duroxide_orchestration_success_ratio " + number(s.success_rate) + "\n";
  header(out, "duroxide_activities_total", "counter", "Activity executions by outcome.");
  for (const auto& [name, values] : s.activities) {
    out += "duroxide_activities_total{activity=\"" + label(name) + "\",outcome=\"completed\"} " +
           std::to_string(values.completed) + "\n";
    out += "duroxide_activities_total{activity=\"" + label(name) + "\",outcome=\"failed\"} " +
           std::to_string(values.failed) + "\n";
  }
  header(out, "duroxide_turn_duration_ms", "histogram", "Orchestration turn durations.");
  histogram(out, "duroxide_turn_duration_ms", "", s.turn_ms);
  header(out, "duroxide_activity_duration_ms", "histogram", "Activity execution durations.");
  histogram(out, "duroxide_activity_duration_ms", "", s.activity_ms);
  header(out, "duroxide_provider_call_duration_ms", "histogram", "Provider call durations.");
  for (const auto& [operation, h] : s.provider_ms) {
    histogram(out, "duroxide_provider_call_duration_ms", "operation=\"" + label(operation) + "\"", h);
  }
  header(out, "duroxide_provider_errors_total", "counter", "Failed provider calls.");
  out += "duroxide_provider_errors_total " + std::to_string(s.provider_errors) + "\n";
  header(out, "duroxide_locks_lost_total", "counter", "Acks refused because the lock was lost.");
  out += "duroxide_locks_lost_total " + std::to_string(s.locks_lost) + "\n";
  header(out, "duroxide_poison_total", "counter", "Items failed as poison.");
  out += "duroxide_poison_total " + std::to_string(s.poison) + "\n";
  return out;
}

}  // namespace duroxide
