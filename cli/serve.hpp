// `duroxide serve`: the CLI's long-running mode. Runs the threaded runtime over a
// store with the sample catalog registered until SIGINT or SIGTERM (or a timeout),
// running the store's housekeeping (retention included) as the runtime does, and
// optionally serves Prometheus metrics on 127.0.0.1 (metrics_server.hpp): this
// process's RuntimeMetrics under upstream Duroxide's names, with the store's
// active-orchestration and queue-depth gauges read at each scrape.
#pragma once

#include <cstdint>
#include <optional>

#include "duroxide/environment.hpp"
#include "duroxide/management_provider.hpp"
#include "duroxide/provider.hpp"
#include "duroxide/registry.hpp"

namespace duroxide::cli {

struct ServeOptions {
  std::int64_t timeout_ms = 0;                // 0: until SIGINT or SIGTERM
  std::optional<std::uint16_t> metrics_port;  // none: no endpoint; 0: an ephemeral port
  std::size_t orchestration_concurrency = 2;
  std::size_t worker_concurrency = 2;
  std::size_t executions_kept = 0;  // RuntimeOptions::executions_kept (0 keeps all)
  // RuntimeOptions::supported_replay_versions (by default every build up to this one).
  CapabilityFilter supported_replay_versions = CapabilityFilter::supporting({default_supported_versions()});
};

// Prints one JSON line when serving ({"serving":true,"metrics":URL|null}) and one
// with the counts by status when stopped. Returns the exit status.
int serve(Provider& provider, ManagementProvider& store, const Registry& registry, Clock& clock,
          const ServeOptions& options);

}  // namespace duroxide::cli
