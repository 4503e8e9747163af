// duroxide-pg-worker: one runtime process of the multi-process PostgreSQL test
// (tests/postgres_multiprocess.sh) and of the scale-out bench (bench/processes.sh).
// --db is a PostgreSQL connection string (tables in --schema, default "duroxide")
// or a SQLite file (several processes share it through SQLite's locks).
//
//   reset  --db D [--schema S]                 empties the store
//   seed   --db D [--schema S] --instances N   starts N mixed catalog instances
//                                              (--mix hello: HelloWorld 1.0.0 only)
//   work   --db D [--schema S] [--seconds T]   runs a threaded runtime until no
//          [--poll-ms P]                       instance is running (or T seconds);
//                                              idle dispatchers poll every P ms (10)
//   verify --db D [--schema S] --instances N   checks the outcome; exit 1 on a problem
//   finished --db D [--schema S]               prints "<finished instances> <last finish, epoch ms>"
//
// verify's oracle is the same workload run single-process on an in-memory SQLite
// store: every instance (children included) must have the same outcome; every
// execution's history must be well-formed (each completion applied exactly once)
// and replay deterministically; the change feed must record exactly one start and
// one finish per instance; queues must be empty.
#include <chrono>
#include <cstdio>
#include <memory>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "duroxide/duroxide.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/platform.hpp"
#include "duroxide/open_store.hpp"
#include "duroxide/replayer.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sim/invariants.hpp"
#include "duroxide/sqlite_provider.hpp"

using namespace duroxide;
using Json = nlohmann::json;

namespace {

struct Spec {
  std::string id, orchestration, input;
};

// A deterministic mix over the catalog: activities, fan-out, sub-orchestrations,
// continue-as-new, retries with timers, compensation and failures.
Spec spec(int i) {
  const std::string n = std::to_string(i);
  switch (i % 8) {
    case 0: return {"mp-" + n, "HelloWorld", "n" + n};
    case 1: return {"mp-" + n, "FanOutFanIn", R"(["a","b","c"])"};
    case 2: return {"mp-" + n, "Chain", R"({"steps":3,"value":)" + n + "}"};
    case 3: return {"mp-" + n, "Counter", R"({"count":0,"limit":2})"};
    case 4: return {"mp-" + n, "Parent", R"(["p","q"])"};
    case 5: return {"mp-" + n, "RetryFlaky", R"({"fail_times":1,"max_attempts":3})"};
    case 6: return {"mp-" + n, "Saga", R"({"amount":)" + n + R"(,"fail_credit":)" + (i % 16 == 6 ? "true" : "false") + "}"};
    default: return {"mp-" + n, "Fails", "boom" + n};
  }
}

std::map<std::string, std::string> parse_options(int argc, char** argv) {
  std::map<std::string, std::string> options;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0) throw std::invalid_argument("expected --option value, got " + key);
    options[key.substr(2)] = argv[i + 1];
  }
  return options;
}

std::string outcome(const InstanceInfo& info) {
  if (info.state == RuntimeState::Completed) return "completed " + info.output;
  if (info.state == RuntimeState::Failed) return "failed " + (info.error ? info.error->display_message() : "");
  return "running";
}

std::vector<InstanceInfo> all_instances(ManagementProvider& store) {
  std::vector<InstanceInfo> out;
  PageRequest page;
  page.limit = 1000;
  for (;;) {
    InstancePage listed = store.list_instances({}, page);
    out.insert(out.end(), listed.instances.begin(), listed.instances.end());
    if (listed.next_cursor.empty()) return out;
    page.cursor = listed.next_cursor;
  }
}


int seed(Store& store, int instances, bool hello_only) {
  RuntimeClient client(store, store);
  for (int i = 0; i < instances; ++i) {
    const Spec s = hello_only ? Spec{"mp-" + std::to_string(i), "HelloWorld", "n"} : spec(i);
    client.start_orchestration(s.id, s.orchestration, s.input, hello_only ? "1.0.0" : "");
  }
  std::cout << "seeded " << instances << " instances\n";
  return 0;
}

int run_work(Store& store, Clock& clock, const Registry& registry, int seconds, int poll_ms) {
  RuntimeOptions options;
  options.orchestration_concurrency = 2;
  options.worker_concurrency = 2;
  options.orchestration_lock_timeout_ms = 2'000;  // a killed peer's locks free up quickly
  options.worker_lock_timeout_ms = 3'000;
  options.lock_renewal_buffer_ms = 1'000;
  options.poll_interval_ms = poll_ms;
  ThreadedDriver driver(store, registry, clock, options);
  driver.start();
  InstanceFilter running;
  running.states = {RuntimeState::Running};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int quiet = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    try {
      // Done when nothing runs and nothing waits, twice in a row (a start may be queued).
      const QueueDepths depths = store.get_queue_depths();
      const bool idle = store.count_instances(running) == 0 && depths.orchestrator_visible +
                                                                       depths.orchestrator_delayed +
                                                                       depths.worker_visible == 0;
      quiet = idle ? quiet + 1 : 0;
      if (quiet >= 2) break;
    } catch (const ProviderError& error) {
      std::cerr << "work: " << error.what() << "\n";  // retryable: the next poll reconnects
    }
  }
  driver.shutdown(10'000);
  std::cout << "work: done\n";
  return 0;
}

int verify(Store& store, const Registry& registry, int instances) {
  // The oracle: the same starts, one process, SQLite, virtual time.
  ManualClock clock;
  SequentialIdSource ids;
  SqliteProvider reference(":memory:", clock, ids);
  RuntimeClient client(reference, reference);
  for (int i = 0; i < instances; ++i) {
    const Spec s = spec(i);
    client.start_orchestration(s.id, s.orchestration, s.input);
  }
  StepDriver driver(reference, registry, clock);
  for (int round = 0; round < 200; ++round) {
    driver.run_until_idle();
    clock.advance(1'000);
  }
  std::map<std::string, std::string> expected;
  for (const InstanceInfo& info : all_instances(reference)) expected[info.instance] = outcome(info);

  Json problems = Json::array();
  auto problem = [&](const std::string& where, const std::string& what) {
    if (problems.size() < 50) problems.push_back(where + ": " + what);
  };
  const std::vector<InstanceInfo> actual = all_instances(store);
  if (actual.size() != expected.size()) {
    problem("instances", std::to_string(actual.size()) + " in the store, " + std::to_string(expected.size()) +
                             " in the reference");
  }
  std::uint64_t executions = 0, events = 0;
  for (const InstanceInfo& info : actual) {
    auto want = expected.find(info.instance);
    if (want == expected.end()) {
      problem(info.instance, "not in the reference run");
    } else if (outcome(info) != want->second) {
      problem(info.instance, "ended " + outcome(info) + ", the reference " + want->second);
    }
    for (const ExecutionInfo& execution : store.list_executions(info.instance)) {
      ++executions;
      const History history = store.read_execution(info.instance, execution.execution_id);
      events += history.size();
      const std::string where = info.instance + "#" + std::to_string(execution.execution_id);
      for (const std::string& broken : sim::check_history(history, true)) problem(where, broken);
      if (!replay_history(registry, info.instance, execution.execution_id, history).deterministic) {
        problem(where, "does not replay deterministically");
      }
    }
  }
  // Exactly one start and one finish per instance in the change feed.
  ManagementClient management(store);
  std::map<std::string, std::pair<int, int>> feed;
  for (std::uint64_t cursor = 0;;) {
    MetricDeltaPage page = management.watch_metrics(cursor, 1000);
    for (const MetricDelta& delta : page.deltas) {
      feed[delta.instance].first += static_cast<int>(delta.starts);
      feed[delta.instance].second += static_cast<int>(delta.completions + delta.failures);
    }
    if (page.next_cursor == cursor) break;
    cursor = page.next_cursor;
  }
  for (const InstanceInfo& info : actual) {
    const auto counts = feed[info.instance];
    if (counts.first != 1 || counts.second != 1) {
      problem(info.instance, "the change feed records " + std::to_string(counts.first) + " starts and " +
                                 std::to_string(counts.second) + " finishes");
    }
  }
  const QueueDepths depths = store.get_queue_depths();
  const std::uint64_t left = depths.orchestrator_visible + depths.orchestrator_delayed + depths.worker_visible +
                             depths.worker_locked + depths.parked;
  if (left != 0) problem("queues", std::to_string(left) + " items left");
  Json summary{{"instances", actual.size()}, {"executions", executions}, {"events", events},
               {"ok", problems.empty()}, {"problems", problems}};
  std::cout << summary.dump() << "\n";
  return problems.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw std::invalid_argument("usage: duroxide-pg-worker reset|seed|work|verify --db D [--schema S] ...");
    const std::string mode = argv[1];
    auto options = parse_options(argc, argv);
    SystemClock clock;
    RandomIdSource ids;
    Registry registry;
    samples::register_all(registry);
    const std::string db = options.at("db");
    StoreOptions store_options;
    if (options.count("schema")) store_options.schema = options["schema"];
    if (mode == "reset") {
      remove_store(db, clock, ids, store_options);
      return 0;
    }
    std::unique_ptr<Store> opened = open_store(db, clock, ids, store_options);
    Store& store = *opened;
    const int instances = options.count("instances") ? std::stoi(options["instances"]) : 1000;
    if (mode == "seed") return seed(store, instances, options.count("mix") && options["mix"] == "hello");
    if (mode == "work") {
      const int seconds = options.count("seconds") ? std::stoi(options["seconds"]) : 300;
      const int poll_ms = options.count("poll-ms") ? std::stoi(options["poll-ms"]) : 10;
      if (seconds < 1 || seconds > 3600 || poll_ms < 1 || poll_ms > 1000) {
        throw std::invalid_argument("--seconds must be 1..3600 and --poll-ms 1..1000");
      }
      return run_work(store, clock, registry, seconds, poll_ms);
    }
    if (mode == "verify") return verify(store, registry, instances);
    if (mode == "finished") {
      InstanceFilter done;
      done.states = {RuntimeState::Completed, RuntimeState::Failed};
      // And when the last one finished (the store's updated_at, this clock's ms since the epoch).
      std::int64_t last_finished_ms = 0;
      for (const InstanceInfo& info : all_instances(store)) {
        if (info.state == RuntimeState::Completed || info.state == RuntimeState::Failed) {
          last_finished_ms = std::max(last_finished_ms, info.updated_at_ms);
        }
      }
      std::cout << store.count_instances(done) << " " << last_finished_ms << "\n";
      return 0;
    }
    throw std::invalid_argument("unknown mode " + mode);
  } catch (const std::exception& error) {
    std::cerr << "duroxide-pg-worker: " << error.what() << "\n";
    return 2;
  }
}
