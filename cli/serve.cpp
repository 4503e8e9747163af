#include "serve.hpp"

#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "duroxide/platform.hpp"
#include "duroxide/runtime_metrics.hpp"
#include "duroxide/saturating.hpp"
#include "metrics_server.hpp"

namespace duroxide::cli {

namespace {

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void request_stop(int) { stop_requested = 1; }

StoreGauges store_gauges(ManagementProvider& store) {
  InstanceFilter running;
  running.states = {RuntimeState::Running};
  const QueueDepths depths = store.get_queue_depths();
  return StoreGauges{store.count_instances(running), depths.orchestrator_visible, depths.worker_visible};
}

}  // namespace

int serve(Provider& provider, ManagementProvider& store, const Registry& registry, Clock& clock,
          const ServeOptions& options) {
  RuntimeMetrics metrics(clock);
  RuntimeOptions runtime_options;
  runtime_options.metrics = &metrics;
  runtime_options.orchestration_concurrency = options.orchestration_concurrency;
  runtime_options.worker_concurrency = options.worker_concurrency;
  runtime_options.executions_kept = options.executions_kept;
  runtime_options.supported_replay_versions = options.supported_replay_versions;
  std::unique_ptr<MetricsServer> endpoint;
  if (options.metrics_port) {
    endpoint = std::make_unique<MetricsServer>(*options.metrics_port, [&] {
      const StoreGauges gauges = store_gauges(store);
      return RuntimeMetrics::to_prometheus(metrics.snapshot(), &gauges);
    });
  }
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  ThreadedDriver driver(provider, registry, clock, runtime_options, [](const RuntimeEvent& event) {
    if (event.kind != RuntimeEvent::Kind::Log && event.kind != RuntimeEvent::Kind::Dropped) {
      std::cerr << "duroxide: " << event.instance << (event.instance.empty() ? "" : ": ") << event.message << "\n";
    }
  });
  driver.start();
  nlohmann::json started{{"serving", true}, {"metrics", nullptr}};
  if (endpoint) started["metrics"] = "http://127.0.0.1:" + std::to_string(endpoint->port()) + "/metrics";
  std::cout << started.dump() << std::endl;

  // Saturated: a timeout of 106751991167d is "for ever", not a deadline in the past.
  const TimestampMs deadline = options.timeout_ms > 0 ? saturating_add(clock.now_ms(), options.timeout_ms) : 0;
  while (!stop_requested && (deadline == 0 || clock.now_ms() < deadline)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const bool drained = driver.shutdown(10'000);
  const SystemMetrics totals = store.get_system_metrics();
  std::cout << nlohmann::json{{"stopped", true}, {"drained", drained}, {"running", totals.running},
                              {"completed", totals.completed}, {"failed", totals.failed}}
                   .dump()
            << std::endl;
  return drained ? 0 : 1;
}

}  // namespace duroxide::cli
