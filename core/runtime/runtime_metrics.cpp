#include "duroxide/runtime_metrics.hpp"

#include <cstdio>

#include "duroxide/assert.hpp"

namespace duroxide {

namespace {

// Upstream Duroxide's families (docs/management.md). Durations are recorded in ms and
// exported in seconds; bounds are upstream's buckets in the recorded unit.
constexpr const char* kStarts = "duroxide_orchestration_starts_total";
constexpr const char* kCompletions = "duroxide_orchestration_completions_total";
constexpr const char* kFailures = "duroxide_orchestration_failures_total";
constexpr const char* kOrchestrationInfraErrors = "duroxide_orchestration_infrastructure_errors_total";
constexpr const char* kOrchestrationConfigErrors = "duroxide_orchestration_configuration_errors_total";
constexpr const char* kContinueAsNew = "duroxide_orchestration_continue_as_new_total";
constexpr const char* kOrchestrationPoison = "duroxide_orchestration_poison_total";
constexpr const char* kOrchestrationDuration = "duroxide_orchestration_duration_seconds";
constexpr const char* kHistorySize = "duroxide_orchestration_history_size";
constexpr const char* kTurns = "duroxide_orchestration_turns";
constexpr const char* kActivityExecutions = "duroxide_activity_executions_total";
constexpr const char* kActivityDuration = "duroxide_activity_duration_seconds";
constexpr const char* kActivityInfraErrors = "duroxide_activity_infrastructure_errors_total";
constexpr const char* kActivityConfigErrors = "duroxide_activity_configuration_errors_total";
constexpr const char* kActivityPoison = "duroxide_activity_poison_total";
constexpr const char* kProviderDuration = "duroxide_provider_operation_duration_seconds";
constexpr const char* kProviderErrors = "duroxide_provider_errors_total";

struct CounterFamily {
  const char* name;
  const char* help;
  bool unlabeled = false;  // one series, shown as 0 before anything is counted
};

struct Family {
  const char* name;
  const char* help;
  std::vector<std::int64_t> bounds;
  std::int64_t per_unit = 1;  // recorded units per exported unit (ms per second)
};

const std::vector<CounterFamily>& counter_families() {
  static const std::vector<CounterFamily> families = {
      {kStarts, "Executions started, by how (client, suborchestration, continueAsNew)."},
      {kCompletions, "Executions ended, by status (success, failed, cancelled, continuedAsNew) and turns."},
      {kFailures, "Executions failed, by error type and category."},
      {kOrchestrationInfraErrors, "Executions failed by the store or by poison."},
      {kOrchestrationConfigErrors, "Executions failed by nondeterminism or an unregistered name."},
      {kContinueAsNew, "Executions that continued as new."},
      {kOrchestrationPoison, "Orchestration items failed after max_attempts deliveries.", true},
      {kActivityExecutions, "Activity attempts by outcome (success, app_error, infra_error, config_error, poison)."},
      {kActivityInfraErrors, "Activity attempts failed by the store or by poison."},
      {kActivityConfigErrors, "Activity attempts of an unregistered activity."},
      {kActivityPoison, "Activity items failed after max_attempts deliveries.", true},
      {kProviderErrors, "Failed store calls, by operation and error type."},
  };
  return families;
}

const std::vector<Family>& histogram_families() {
  static const std::vector<Family> families = {
      {kOrchestrationDuration, "Execution time from its first event to its end.",
       {100, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}, 1000},
      {kHistorySize, "History events of an execution at its end.", {10, 50, 100, 500, 1000, 5000, 10000}},
      {kTurns, "Turns this process ran of an execution, at its end.", {1, 2, 5, 10, 20, 50, 100, 200, 500}},
      {kActivityDuration, "Activity attempt time.",
       {10, 50, 100, 500, 1000, 2000, 5000, 10000, 30000, 60000, 120000, 300000}, 1000},
      {kProviderDuration, "Store call time, by operation and status.",
       {1, 5, 10, 50, 100, 500, 1000, 2000, 5000}, 1000},
  };
  return families;
}

const Family& histogram_family(const std::string& name) {
  for (const Family& family : histogram_families()) {
    if (name == family.name) return family;
  }
  DUROXIDE_ASSERT(false, "every histogram has a family");
  return histogram_families().front();
}

// Label values escape backslash, double quote and newline (exposition format).
std::string escaped(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// `a="x",b="y"` from name/value pairs.
std::string labels(std::initializer_list<std::pair<const char*, std::string>> pairs) {
  std::string out;
  for (const auto& [name, value] : pairs) {
    if (!out.empty()) out += ',';
    out += std::string(name) + "=\"" + escaped(value) + "\"";
  }
  return out;
}

std::string number(double value) {
  char buffer[32];
  // 15 significant digits: exact for sums of seconds with their milliseconds far past 1e6.
  std::snprintf(buffer, sizeof buffer, "%.15g", value);
  return buffer;
}

std::string snake_case(std::string_view camel) {
  std::string out;
  for (char c : camel) {
    if (c >= 'A' && c <= 'Z') {
      if (!out.empty()) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

const char* error_type(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::Application: return "app_error";
    case ErrorCategory::Infrastructure: return "infrastructure_error";
    case ErrorCategory::Configuration: return "config_error";
    case ErrorCategory::Poison: return "poison";
  }
  return "app_error";
}

const char* outcome_name(ActivityResult result) {
  switch (result) {
    case ActivityResult::Success: return "success";
    case ActivityResult::AppError: return "app_error";
    case ActivityResult::InfraError: return "infra_error";
    case ActivityResult::ConfigError: return "config_error";
    case ActivityResult::Poison: return "poison";
  }
  return "success";
}

// Upstream's buckets of the final_turn_count label.
const char* turn_bucket(std::uint64_t turns) {
  if (turns <= 5) return "1-5";
  if (turns <= 10) return "6-10";
  if (turns <= 50) return "11-50";
  return "50+";
}

const char* retry_label(std::uint32_t attempt) {
  switch (attempt) {
    case 0:
    case 1: return "0";
    case 2: return "1";
    case 3: return "2";
    default: return "3+";
  }
}

void header(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void histogram(std::string& out, const std::string& name, const std::string& labels, const Histogram& h,
               std::int64_t per_unit) {
  const std::string prefix = labels.empty() ? "{" : "{" + labels + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.buckets[i];
    out += name + "_bucket" + prefix + "le=\"" + number(static_cast<double>(h.bounds[i]) / per_unit) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket" + prefix + "le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  const std::string plain = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + plain + " " + number(static_cast<double>(h.sum) / per_unit) + "\n";
  out += name + "_count" + plain + " " + std::to_string(h.count) + "\n";
}

void own_metrics(std::string& out, const RuntimeMetricsSnapshot& s) {
  header(out, "duroxide_uptime_seconds", "gauge", "Seconds since this runtime's metrics started.");
  out += "duroxide_uptime_seconds " + number(static_cast<double>(s.uptime_ms) / 1000.0) + "\n";
  header(out, "duroxide_orchestration_success_ratio", "gauge", "Completed / (completed + failed) instances.");
  out += "duroxide_orchestration_success_ratio " + number(s.success_rate) + "\n";
  header(out, "duroxide_orchestration_turn_duration_seconds", "histogram", "Orchestration turn durations.");
  histogram(out, "duroxide_orchestration_turn_duration_seconds", "", s.turn_ms, 1000);
  header(out, "duroxide_locks_lost_total", "counter", "Acks refused because the lock was lost.");
  out += "duroxide_locks_lost_total " + std::to_string(s.locks_lost) + "\n";
}

void store_gauges(std::string& out, const StoreGauges& g) {
  header(out, "duroxide_active_orchestrations", "gauge", "Instances running in the store.");
  out += "duroxide_active_orchestrations{state=\"all\"} " + std::to_string(g.active_orchestrations) + "\n";
  header(out, "duroxide_orchestrator_queue_depth", "gauge", "Orchestrator items ready and unlocked.");
  out += "duroxide_orchestrator_queue_depth " + std::to_string(g.orchestrator_queue_depth) + "\n";
  header(out, "duroxide_worker_queue_depth", "gauge", "Activity items ready and unlocked.");
  out += "duroxide_worker_queue_depth " + std::to_string(g.worker_queue_depth) + "\n";
}

}  // namespace

void Histogram::record(std::int64_t value) {
  if (value < 0) value = 0;
  std::size_t bucket = 0;
  while (bucket < bounds.size() && value > bounds[bucket]) ++bucket;
  ++buckets[bucket];
  ++count;
  sum += value;
}

RuntimeMetrics::RuntimeMetrics(Clock& clock) : clock_(clock) {
  data_.started_at_ms = clock_.now_ms();
}

void RuntimeMetrics::count(const std::string& family, const std::string& label_text) {
  ++data_.counters[family][label_text];
}

void RuntimeMetrics::observe(const std::string& family, const std::string& label_text, std::int64_t value) {
  LabeledHistograms& series = data_.histograms[family];
  auto it = series.find(label_text);
  if (it == series.end()) it = series.emplace(label_text, Histogram(histogram_family(family).bounds)).first;
  it->second.record(value);
}

void RuntimeMetrics::orchestration_started(const std::string& name, const std::string& version, StartCause cause) {
  static constexpr const char* kCauses[] = {"client", "suborchestration", "continueAsNew"};
  std::lock_guard<std::mutex> lock(mutex_);
  ++data_.orchestrations[name].started;
  count(kStarts, labels({{"orchestration_name", name}, {"version", version},
                         {"initiated_by", kCauses[static_cast<int>(cause)]}}));
}

void RuntimeMetrics::orchestration_turn(const std::string& instance, ExecutionId execution) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = instance + '\n' + std::to_string(execution);
  auto it = turns_.find(key);
  if (it != turns_.end()) ++it->second;
  else if (turns_.size() < kMaxTrackedExecutions) turns_.emplace(key, 1);
}

void RuntimeMetrics::orchestration_finished(const ExecutionEnd& end) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::uint64_t turns = 1;
  if (auto it = turns_.find(end.instance + '\n' + std::to_string(end.execution)); it != turns_.end()) {
    turns = it->second;
    turns_.erase(it);
  }
  OrchestrationCounters& counters = data_.orchestrations[end.name];
  const bool cancelled = end.error && end.error->kind == ErrorKind::Cancelled;
  const char* status = end.continued_as_new ? "continuedAsNew" : !end.error ? "success" : cancelled ? "cancelled" : "failed";
  if (end.continued_as_new) ++counters.continued;
  else if (end.error) ++counters.failed;
  else ++counters.completed;
  const auto name = std::make_pair("orchestration_name", end.name);
  count(kCompletions, labels({name, {"version", end.version}, {"status", status}, {"final_turn_count", turn_bucket(turns)}}));
  observe(kOrchestrationDuration, labels({name, {"version", end.version}, {"status", status}}), end.duration_ms);
  observe(kHistorySize, labels({name}), static_cast<std::int64_t>(end.history_events));
  observe(kTurns, labels({name}), static_cast<std::int64_t>(turns));
  if (end.continued_as_new) count(kContinueAsNew, labels({name, {"execution_id", std::to_string(end.execution)}}));
  if (!end.error) return;
  const ErrorCategory category = end.error->category();
  const std::string error_category = snake_case(to_string(end.error->kind));
  count(kFailures, labels({name, {"version", end.version}, {"error_type", error_type(category)},
                           {"error_category", error_category}}));
  if (category == ErrorCategory::Infrastructure || category == ErrorCategory::Poison) {
    count(kOrchestrationInfraErrors, labels({name, {"error_category", error_category}}));
  } else if (category == ErrorCategory::Configuration) {
    count(kOrchestrationConfigErrors, labels({name, {"error_category", error_category}}));
  }
}

void RuntimeMetrics::activity_finished(const std::string& name, const std::string& tag, ActivityResult result,
                                       std::uint32_t attempt, std::int64_t duration_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  ActivityCounters& counters = data_.activities[name];
  if (result == ActivityResult::Success) ++counters.completed;
  else ++counters.failed;
  data_.activity_ms.record(duration_ms);
  if (result == ActivityResult::Poison) ++data_.poison;
  const auto activity = std::make_pair("activity_name", name);
  const auto tag_label = std::make_pair("tag", tag.empty() ? std::string("default") : tag);
  count(kActivityExecutions, labels({activity, {"outcome", outcome_name(result)}, {"retry_attempt", retry_label(attempt)},
                                     tag_label}));
  if (result != ActivityResult::Poison) {
    observe(kActivityDuration, labels({activity, {"outcome", outcome_name(result)}, tag_label}), duration_ms);
  }
  if (result == ActivityResult::InfraError || result == ActivityResult::Poison) count(kActivityInfraErrors, labels({activity}));
  if (result == ActivityResult::ConfigError) count(kActivityConfigErrors, labels({activity}));
  if (result == ActivityResult::Poison) count(kActivityPoison, "");
}

void RuntimeMetrics::orchestration_items_fetched(std::uint64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  data_.orchestration_items_fetched += count;
}

void RuntimeMetrics::work_items_fetched(std::uint64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  data_.work_items_fetched += count;
}

void RuntimeMetrics::turn(std::int64_t duration_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  data_.turn_ms.record(duration_ms);
}

void RuntimeMetrics::provider_call(const std::string& operation, std::int64_t duration_ms,
                                   const std::optional<std::string>& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  data_.provider_ms[operation].record(duration_ms);
  observe(kProviderDuration, labels({{"operation", operation}, {"status", error ? "error" : "success"}}), duration_ms);
  if (!error) return;
  ++data_.provider_errors;
  count(kProviderErrors, labels({{"operation", operation}, {"error_type", *error}}));
}

void RuntimeMetrics::lock_lost() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++data_.locks_lost;
}

void RuntimeMetrics::orchestration_poisoned() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++data_.poison;
  count(kOrchestrationPoison, "");
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

std::string RuntimeMetrics::to_prometheus(const RuntimeMetricsSnapshot& s, const StoreGauges* gauges) {
  std::string out;
  for (const CounterFamily& family : counter_families()) {
    header(out, family.name, "counter", family.help);
    auto it = s.counters.find(family.name);
    if (it == s.counters.end()) {
      if (family.unlabeled) out += std::string(family.name) + " 0\n";
      continue;
    }
    for (const auto& [label_text, value] : it->second) {
      out += std::string(family.name) + (label_text.empty() ? "" : "{" + label_text + "}") + " " +
             std::to_string(value) + "\n";
    }
  }
  for (const Family& family : histogram_families()) {
    header(out, family.name, "histogram", family.help);
    auto it = s.histograms.find(family.name);
    if (it == s.histograms.end()) continue;
    for (const auto& [label_text, h] : it->second) histogram(out, family.name, label_text, h, family.per_unit);
  }
  if (gauges) store_gauges(out, *gauges);
  own_metrics(out, s);
  return out;
}

}  // namespace duroxide
