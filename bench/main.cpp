// duroxide_bench: throughput, replay speed, management at scale, simulation speed
// and memory over time, all measured in one run and reported as ratios to the raw
// SQLite commit rate measured in the same run on the same file system.
//
//   duroxide_bench [--smoke | --full] [--dir DIR] [--db LOCATION] [--out FILE.json] [--md FILE.md]
//                  [--only SECTION,...] [--workload "HelloWorld 1.0.0"] [--driver step] [--sync NORMAL]
//
// Throughput rows name the orchestration and version they ran, the driver, and
// every RuntimeOptions field they set (else "defaults"); instances and activities
// are counted from the store afterwards (instances finished, activity completions
// its orchestrations recorded), never assumed. The headline is HelloWorld 1.0.0
// (one activity) at the default options. --only, --workload, --driver and --sync
// run a part (to profile one row); sections: throughput, latency, replay,
// management (with HelloWorld beside looping management reads), simulation, soak.
//
// --db: a SQLite file for the throughput runs (it must not exist: the bench
// creates and deletes it; default DIR/throughput.db), or, natively, a
// PostgreSQL connection string: the throughput workloads then also run on that
// server (in schema duroxide_bench), beside its raw commit rate.
//
// --smoke (CI, about 10 s): small sizes, short windows. Default: a medium run
// (about 2 minutes). --full: the target sizes (1M instances, 100k-event
// histories, a 10-minute soak). Built natively and for wasm (run under node with
// NODERAWFS, so both use real files). The throughput workloads run on the
// single-threaded step driver in both builds (wasm has no threads), and natively
// also on the threaded driver at 1/1 and 2/2. Run the wasm build with
// the V8 flags of bench/v8-flags.sh (bench/smoke.sh does), or V8
// times its baseline code for the first seconds.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>
#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#else
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>
#endif

#include <nlohmann/json.hpp>

#include "duroxide/commands.hpp"
#include "duroxide/duroxide.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/platform.hpp"
#include "duroxide/replayer.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sim/generator.hpp"
#include "duroxide/sim/simulation.hpp"
#include "duroxide/open_store.hpp"
#include "duroxide/sqlite_provider.hpp"

namespace {

using namespace duroxide;
using Json = nlohmann::ordered_json;
using Steady = std::chrono::steady_clock;

#ifdef __EMSCRIPTEN__
constexpr const char* kPlatform = "wasm";
#else
constexpr const char* kPlatform = "native";
#endif

// What ran the bench: the compiler natively; node's version and flags in wasm
// (V8 runs the first calls of each function in its baseline compiler unless told
// to compile everything optimized up front, which changes short measurements).
std::string runtime_description() {
#ifdef __EMSCRIPTEN__
  return emscripten_run_script_string(
      "'node ' + process.version + (process.execArgv.length ? ' ' + process.execArgv.join(' ') : '')");
#elif defined(__clang__)
  return "clang " __clang_version__;
#else
  return "g++ " __VERSION__;
#endif
}

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

struct Sizes {
  double commit_seconds;
  int throughput_instances;
  int target_instances;  // the rows the bench's targets judge (Workload::judged)
  std::vector<std::size_t> replay_events;
  std::vector<std::size_t> management_instances;
  int sim_seeds;
  double soak_seconds;
  int latency_rounds;
};

Sizes sizes_for(const std::string& mode) {
  // The smoke's judged rows run 2,000 instances: 200 finish in 15-30 ms, a window that
  // times the dispatchers' warm-up more than their steady rate.
  if (mode == "smoke") return {0.5, 200, 2'000, {100, 10'000}, {10'000}, 5, 2, 50};
  if (mode == "full") return {3, 5'000, 5'000, {100, 10'000, 100'000}, {100'000, 1'000'000}, 200, 600, 1'000};
  return {2, 5'000, 5'000, {100, 10'000, 100'000}, {100'000}, 50, 30, 300};
}

std::string sync_pragma(SqliteOptions::Synchronous sync) {
  return sync == SqliteOptions::Synchronous::Full ? "FULL" : "NORMAL";
}

void remove_db(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

// ---------------------------------------------------------------- raw SQLite

// Small write transactions in a loop, WAL, the given synchronous level: the
// ceiling for anything that commits once per step (open_store.hpp).
double raw_commit_rate(const std::string& path, SqliteOptions::Synchronous sync, double seconds) {
  remove_db(path);
  SystemClock clock;
  StoreOptions options;
  options.sqlite.synchronous = sync;
  const double rate = measure_commit_rate(path, clock, static_cast<std::int64_t>(seconds * 1000), options);
  remove_db(path);
  return rate;
}

// The two kinds of read SQLite alone leaves to a loop over entries (an index range
// count and a text match), over as many rows as the management database holds:
// the floor under the management reads that scan, on this build.
Json sqlite_alone(const std::string& path, std::uint64_t rows) {
  remove_db(path);
  SystemClock clock;
  const SqliteProvider::ScanTimes times = SqliteProvider::measure_scan_times(path, SqliteOptions{}, clock, rows);
  remove_db(path);
  return {{"rows", times.rows}, {"range_counted", times.range_counted}, {"range_count_ms", times.range_count_ms},
          {"text_matched", times.text_matched}, {"text_scan_ms", times.text_scan_ms}};
}

// ---------------------------------------------------------------- throughput

// What a throughput row runs: an orchestration of the sample catalog at a fixed
// version (never the registry's latest, which changes what the row measures) and
// the one option that differs from RuntimeOptions' defaults, if any.
struct Workload {
  const char* sample;
  const char* version;
  const char* input;
  const char* body;          // what one instance does, for the report
  std::size_t worker_batch;  // RuntimeOptions::worker_batch_size
  bool judged;               // a target of the bench judges its WAL NORMAL rows (Sizes::target_instances)
};

const std::size_t kDefaultWorkerBatch = RuntimeOptions{}.worker_batch_size;
constexpr const char* kFiveNames = R"(["a","b","c","d","e"])";

// The headline first: one activity per instance, every option at its default.
const Workload kWorkloads[] = {
    {"HelloWorld", "1.0.0", "Ada", "one activity", kDefaultWorkerBatch, true},
    {"FanOutFanIn", "1.0.0", kFiveNames, "five activities in parallel", kDefaultWorkerBatch, true},
    {"FanOutFanIn", "1.0.0", kFiveNames, "five activities in parallel", 1, false},  // one ack per activity
    {"HelloWorld", "2.0.0", "Ada", "no activity", kDefaultWorkerBatch, false},
};

std::string workload_label(const Workload& workload) {
  return std::string(workload.sample) + " " + workload.version;
}

// Which driver runs a throughput workload: the single-threaded step driver (the
// only one in wasm), or the threaded driver with this many threads per dispatcher.
constexpr std::size_t kStepDriver = 0;

std::string driver_label(std::size_t concurrency) {
  if (concurrency == kStepDriver) return "step";
  return "threaded " + std::to_string(concurrency) + "/" + std::to_string(concurrency);
}

// The options a row runs with: the defaults, but for the threads of the threaded
// driver and the worker batch the workload names.
RuntimeOptions workload_options(const Workload& workload, std::size_t concurrency) {
  RuntimeOptions options;
  options.worker_batch_size = workload.worker_batch;
  if (concurrency != kStepDriver) {
    options.orchestration_concurrency = concurrency;
    options.worker_concurrency = concurrency;
  }
  return options;
}

std::string options_label(const Workload& workload, std::size_t concurrency) {
  const RuntimeOptions defaults;
  std::string out;
  auto add = [&out](const std::string& text) { out += (out.empty() ? "" : ", ") + text; };
  if (concurrency != kStepDriver && concurrency != defaults.orchestration_concurrency) {
    add("orchestration_concurrency=" + std::to_string(concurrency));
    add("worker_concurrency=" + std::to_string(concurrency));
  }
  if (workload.worker_batch != defaults.worker_batch_size) add("worker_batch_size=" + std::to_string(workload.worker_batch));
  return out.empty() ? "defaults" : out;
}

struct Throughput {
  std::uint64_t finished = 0;    // instances Completed or Failed, counted by the store
  std::uint64_t failed = 0;      // of those, Failed
  std::uint64_t activities = 0;  // activity completions the store acked
  double seconds = 0;
  bool complete = false;  // every instance finished, none failed
};

std::uint64_t completed_activities(ManagementClient& management) {
  std::uint64_t total = 0;
  for (const ActivityStats& stats : management.get_activity_stats()) total += stats.completed;
  return total;
}

// Where a row's starts happen: enqueued before the clock starts (the default rows:
// the runtime alone is timed), or by the bench's thread while the runtime runs, as
// a peer's bench counts them (bench/peers/run.sh).
enum class Starts { BeforeWindow, InsideWindow };

const char* starts_label(Starts starts) {
  return starts == Starts::InsideWindow ? "inside the timed window" : "before the timed window";
}

#ifndef __EMSCRIPTEN__
// The pause before the next count of a threaded run waiting for `instances` to
// finish, `finished` of them so far: a quarter of the time the rest would take at the
// rate seen so far, between 0.5 and 10 ms. The count is a store read (on PostgreSQL a
// round trip whose SQL the server parses and plans every time): counting every 0.5 ms
// throughout spent a few percent of the CPU the run was timing. Paced by what is left,
// the counts are rare while much is left and 0.5 ms apart at the end.
std::chrono::microseconds pause_before_count(std::uint64_t finished, std::uint64_t instances, double seconds) {
  constexpr double kShortestUs = 500;
  constexpr double kLongestUs = 10'000;
  if (finished == 0 || seconds <= 0) return std::chrono::microseconds(1'000);
  const double rest_us = static_cast<double>(instances - finished) / (static_cast<double>(finished) / seconds) * 1e6;
  return std::chrono::microseconds(static_cast<std::int64_t>(std::clamp(rest_us / 4, kShortestUs, kLongestUs)));
}

// Returns once the store counts `instances` more in `done`'s states than the `before`
// it counted when the timed window opened at `start`, or after five minutes.
void wait_until_finished(Store& store, const InstanceFilter& done, std::uint64_t before, std::uint64_t instances,
                         Steady::time_point start) {
  std::uint64_t finished = store.count_instances(done) - before;
  while (finished < instances && seconds_since(start) < 300) {
    std::this_thread::sleep_for(pause_before_count(finished, instances, seconds_since(start)));
    finished = store.count_instances(done) - before;
  }
}
#endif

// `instances` starts of the workload, then the driver until all are finished, on
// any store. What it reports is counted from the store afterwards: instances
// finished and activity completions acked.
Throughput run_throughput(Store& store, Clock& clock, const Workload& workload, int instances,
                          std::size_t concurrency, const std::string& prefix = "b-",
                          Starts starts = Starts::BeforeWindow, const TagFilter* worker_tags = nullptr) {
  Registry registry;
  samples::register_all(registry);
  RuntimeClient client(store, store);
  ManagementClient management(store);
  InstanceFilter done;
  done.states = {RuntimeState::Completed, RuntimeState::Failed};
  InstanceFilter failed;
  failed.states = {RuntimeState::Failed};
  const std::uint64_t done_before = store.count_instances(done);
  const std::uint64_t failed_before = store.count_instances(failed);
  const std::uint64_t activities_before = completed_activities(management);
  auto start_all = [&] {
    for (int i = 0; i < instances; ++i) {
      client.start_orchestration(prefix + std::to_string(i), workload.sample, workload.input, workload.version);
    }
  };
  if (starts == Starts::BeforeWindow) start_all();
  RuntimeOptions options = workload_options(workload, concurrency);
  if (worker_tags) options.worker_tag_filter = *worker_tags;
  const auto start = Steady::now();
  if (concurrency == kStepDriver) {
    if (starts == Starts::InsideWindow) start_all();
    StepDriver driver(store, registry, clock, options);
    driver.run_until_idle(100'000'000);
  } else {
#ifdef __EMSCRIPTEN__
    throw std::logic_error("the wasm build has no threaded driver");
#else
    ThreadedDriver driver(store, registry, clock, options);
    driver.start();
    if (starts == Starts::InsideWindow) start_all();
    wait_until_finished(store, done, done_before, static_cast<std::uint64_t>(instances), start);
    driver.shutdown(10'000);
#endif
  }
  Throughput result;
  result.seconds = seconds_since(start);
  result.finished = store.count_instances(done) - done_before;
  result.failed = store.count_instances(failed) - failed_before;
  result.complete = result.finished == static_cast<std::uint64_t>(instances) && result.failed == 0;
  result.activities = completed_activities(management) - activities_before;
  return result;
}

Throughput run_throughput(const std::string& path, SqliteOptions::Synchronous sync, const Workload& workload,
                          int instances, std::size_t concurrency) {
  remove_db(path);
  SystemClock clock;
  RandomIdSource ids;
  SqliteOptions options;
  options.synchronous = sync;
  SqliteProvider store(path, clock, ids, options);
  return run_throughput(store, clock, workload, instances, concurrency);
}

// One report row: what ran, what was counted, and the rates from the counts.
Json throughput_row(const Workload& workload, std::size_t concurrency, int instances, const Throughput& t,
                    double commit_rate, Starts starts = Starts::BeforeWindow) {
  const double orchestrations_per_s = static_cast<double>(t.finished) / t.seconds;
  std::string options = options_label(workload, concurrency);
  if (starts == Starts::InsideWindow) options += "; starts " + std::string(starts_label(starts));
  return {{"workload", workload_label(workload)}, {"sample", workload.sample}, {"version", workload.version},
          {"body", workload.body}, {"driver", driver_label(concurrency)}, {"starts", starts_label(starts)},
          {"options", options}, {"instances", instances},
          {"finished", t.finished}, {"failed", t.failed}, {"activities", t.activities}, {"seconds", t.seconds},
          {"complete", t.complete}, {"orchestrations_per_s", orchestrations_per_s},
          {"activities_per_s", static_cast<double>(t.activities) / t.seconds},
          {"ratio_to_quarter_commit_rate", orchestrations_per_s / (commit_rate / 4)}};
}

// ---------------------------------------------------------------- latency

// The driver of a threaded-only row in the wasm build, which has no threads.
constexpr const char* kNoThreadedDriver = "none (the wasm build has no threaded driver)";

// Start → Completed of one HelloWorld 1.0.0 at a time on an idle threaded runtime
// at its default options: the time a caller waits for a short workflow. The bench
// watches the instance's status in a tight loop (a read every 50 µs).
Json bench_latency(const std::string& dir, int rounds) {
  const Workload& hello = kWorkloads[0];
  Json out = {{"workload", workload_label(hello)}, {"options", "defaults"}, {"rounds", rounds}};
#ifdef __EMSCRIPTEN__
  (void)dir;
  out["driver"] = kNoThreadedDriver;
  return out;
#else
  const std::string path = dir + "/latency.db";
  remove_db(path);
  std::vector<double> ms;
  {
    SystemClock clock;
    RandomIdSource ids;
    SqliteProvider store(path, clock, ids);
    Registry registry;
    samples::register_all(registry);
    RuntimeClient client(store, store);
    ThreadedDriver driver(store, registry, clock);
    driver.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the dispatchers are idle
    for (int i = 0; i < rounds; ++i) {
      const std::string instance = "l-" + std::to_string(i);
      const auto start = Steady::now();
      client.start_orchestration(instance, hello.sample, hello.input, hello.version);
      while (client.get_status(instance).state != RuntimeState::Completed && seconds_since(start) < 10) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      ms.push_back(seconds_since(start) * 1000);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // idle again
    }
    driver.shutdown(10'000);
  }
  remove_db(path);
  std::sort(ms.begin(), ms.end());
  out["driver"] = driver_label(1);
  out["median_ms"] = ms[ms.size() / 2];
  out["p99_ms"] = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  out["max_ms"] = ms.back();
  return out;
#endif
}

// ---------------------------------------------------------------- PostgreSQL

constexpr const char* kBenchSchema = "duroxide_bench";

Throughput run_postgres_throughput(const std::string& conninfo, const Workload& workload, int instances,
                                   std::size_t concurrency, Starts starts) {
  SystemClock clock;
  RandomIdSource ids;
  StoreOptions options;
  options.schema = kBenchSchema;
  remove_store(conninfo, clock, ids, options);
  Throughput result;
  {
    std::unique_ptr<Store> store = open_store(conninfo, clock, ids, options);
    result = run_throughput(*store, clock, workload, instances, concurrency, "b-", starts);
  }
  remove_store(conninfo, clock, ids, options);
  return result;
}

// HelloWorld 1.0.0 and FanOutFanIn at their default options on a PostgreSQL
// server, as a ratio to that server's raw commit rate (several processes:
// bench/processes.sh), and HelloWorld 1.0.0 threaded 2/2 with its starts inside
// the timed window, as a peer's bench times them. `wanted_row` picks rows by
// workload and driver label (--workload, --driver).
Json bench_postgres(const std::string& conninfo, const Sizes& sizes,
                    const std::function<bool(const Workload&, std::size_t)>& wanted_row) {
  Json section;
  section["location"] = conninfo.find("password") == std::string::npos ? conninfo : "(redacted)";
  SystemClock clock;
  const double commit = measure_commit_rate(conninfo, clock, static_cast<std::int64_t>(sizes.commit_seconds * 1000));
  section["commit_rate"] = commit;
  section["throughput"] = Json::array();
  auto run_row = [&](const Workload& workload, std::size_t concurrency, Starts starts) {
    if (!wanted_row(workload, concurrency)) return;
    std::cerr << "bench: PostgreSQL " << workload_label(workload) << " " << driver_label(concurrency) << ", starts "
              << starts_label(starts) << "\n";
    const Throughput t = run_postgres_throughput(conninfo, workload, sizes.throughput_instances, concurrency, starts);
    section["throughput"].push_back(throughput_row(workload, concurrency, sizes.throughput_instances, t, commit, starts));
  };
  for (const Workload& workload : {kWorkloads[0], kWorkloads[1]}) {
    for (std::size_t concurrency : {std::size_t{1}, std::size_t{2}}) run_row(workload, concurrency, Starts::BeforeWindow);
  }
  run_row(kWorkloads[0], 2, Starts::InsideWindow);
  return section;
}

// ---------------------------------------------------------------- replay

// An orchestration whose history grows by two events per activity.
Task<std::string> many_steps(OrchestrationContext& ctx, std::string input) {
  const long steps = std::stol(input);
  for (long i = 0; i < steps; ++i) co_await ctx.schedule_activity("Noop", std::to_string(i));
  co_return "done";
}

History synthetic_history(std::size_t events) {
  const std::size_t steps = events >= 3 ? (events - 2) / 2 : 0;
  History history;
  auto add = [&](EventData data, EventId source = 0) {
    Event event;
    event.event_id = history.size() + 1;
    event.source_event_id = source;
    event.timestamp_ms = 1'700'000'000'000 + static_cast<TimestampMs>(history.size());
    event.data = std::move(data);
    history.push_back(std::move(event));
  };
  add(events::OrchestrationStarted{"ManySteps", "1.0.0", std::to_string(steps), "", 0});
  for (std::size_t i = 0; i < steps; ++i) {
    add(events::ActivityScheduled{"Noop", std::to_string(i)});
    add(events::ActivityCompleted{"ok"}, history.size());
  }
  add(events::OrchestrationCompleted{"done"});
  return history;
}

Json bench_replay(const std::vector<std::size_t>& sizes) {
  Registry registry;
  registry.register_orchestration("ManySteps", many_steps);
  registry.register_activity("Noop", [](ActivityContext&, const std::string&) { return std::string("ok"); });
  Json out = Json::array();
  for (std::size_t size : sizes) {
    const History history = synthetic_history(size);
    // The fastest of three 0.2 s windows: noise (other processes, the allocator,
    // V8's garbage collector between calls) only ever slows a window down.
    bool deterministic = true;
    double seconds = 1e18;
    for (int window = 0; window < 3; ++window) {
      int rounds = 0;
      const auto start = Steady::now();
      do {
        deterministic = replay_history(registry, "replay", 1, history).deterministic && deterministic;
        ++rounds;
      } while (seconds_since(start) < 0.2);
      seconds = std::min(seconds, seconds_since(start) / rounds);
    }
    out.push_back({{"events", history.size()}, {"seconds", seconds},
                   {"events_per_s", history.size() / seconds}, {"deterministic", deterministic}});
  }
  return out;
}

// ---------------------------------------------------------------- management

// Instance i of the management database: four orchestration names in turn; states
// Completed, Completed, Failed, Running in blocks of four; every 50th instance from the
// second on is a sub-orchestration of the one before it; created 1 ms apart from `now`
// minus `count` ms (the newest at `now`), finished 5 ms after creation; input "order <i>;".
InstanceExport fake_instance(std::size_t i, std::size_t count, TimestampMs now) {
  static const RuntimeState states[] = {RuntimeState::Completed, RuntimeState::Completed,
                                        RuntimeState::Failed, RuntimeState::Running};
  static const char* const names[] = {"HelloWorld", "FanOutFanIn", "Chain", "Approval"};
  InstanceExport data;
  data.info.instance = "m-" + std::to_string(i);
  data.info.orchestration_name = names[i % 4];
  data.info.orchestration_version = "1.0.0";
  data.info.current_execution_id = 1;
  data.info.state = states[(i / 4) % 4];
  if (i % 50 == 1) {
    data.info.parent_instance = "m-" + std::to_string(i - 1);
    data.info.parent_id = 2;
  }
  data.info.created_at_ms = now - static_cast<TimestampMs>(count) + static_cast<TimestampMs>(i);
  data.info.updated_at_ms = data.info.created_at_ms;
  ExecutionExport execution;
  execution.info.instance = data.info.instance;
  execution.info.execution_id = 1;
  execution.info.state = data.info.state;
  execution.info.started_at_ms = data.info.created_at_ms;
  Event started;
  started.event_id = 1;
  started.timestamp_ms = data.info.created_at_ms;
  started.data = events::OrchestrationStarted{data.info.orchestration_name, "1.0.0", "order " + std::to_string(i) + ";", "", 0};
  execution.history.push_back(started);
  if (data.info.state != RuntimeState::Running) {
    Event end;
    end.event_id = 2;
    end.timestamp_ms = data.info.created_at_ms + 5;
    if (data.info.state == RuntimeState::Completed) {
      end.data = events::OrchestrationCompleted{"ok"};
      data.info.output = "ok";
      execution.info.output = "ok";
    } else {
      end.data = events::OrchestrationFailed{ErrorDetails::activity_failed("boom")};
      data.info.error = ErrorDetails::activity_failed("boom");
      execution.info.error = data.info.error;
    }
    execution.history.push_back(end);
    execution.info.completed_at_ms = end.timestamp_ms;
    data.info.updated_at_ms = end.timestamp_ms;
  }
  execution.info.event_count = execution.history.size();
  data.info.execution_count = 1;
  data.executions.push_back(std::move(execution));
  return data;
}

template <typename F>
double average_ms(int rounds, F&& call) {
  const auto start = Steady::now();
  for (int i = 0; i < rounds; ++i) call(i);
  return seconds_since(start) * 1000.0 / rounds;
}

// A count as the rows' labels write it: 50,000.
std::string thousands(std::size_t count) {
  const std::string digits = std::to_string(count);
  std::string text;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) text += ',';
    text += digits[i];
  }
  return text;
}

// Every ManagementClient read that is not an export or a whole-history read, each
// timed as the mean of a few calls; `checks` holds what each read must have found, so
// a read that got faster by answering less fails the bench's own checks.
Json time_management_reads(ManagementClient& management, std::size_t count, TimestampMs now) {
  Json reads = Json::array();
  Json checks = Json::object();
  auto timed = [&](const std::string& name, int rounds, const std::function<void(int)>& call) {
    reads.push_back({{"read", name}, {"ms", average_ms(rounds, call)}});
  };
  InstanceFilter filter;
  filter.states = {RuntimeState::Completed};
  filter.orchestration_name = "FanOutFanIn";
  PageRequest page;
  page.limit = 50;
  std::size_t rows = 0;
  timed("list_instances (status and name, first page of 50)", 20,
        [&](int) { rows = management.list_instances(filter, page).instances.size(); });
  checks["first_page_rows"] = rows;
  std::uint64_t total = 0;
  timed("count_by_status", 5, [&](int) {
    total = 0;
    for (const auto& entry : management.count_by_status()) total += entry.second;
  });
  checks["counted"] = total;
  // A count the counters cannot answer: a creation-time window over the newer half.
  InstanceFilter window;
  window.states = {RuntimeState::Completed};
  window.created_from_ms = now - static_cast<TimestampMs>(count / 2);
  std::uint64_t in_window = 0;
  timed("count_instances (status and a creation window over half)", 5,
        [&](int) { in_window = management.count_instances(window); });
  checks["counted_in_window"] = in_window;
  auto some_instance = [count](int i) { return "m-" + std::to_string((static_cast<std::size_t>(i) * 7919) % count); };
  timed("get_instance_details", 100, [&](int i) { management.get_instance_details(some_instance(i)); });
  timed("list_executions", 100, [&](int i) { management.list_executions(some_instance(i)); });
  timed("get_instance_stats", 100, [&](int i) { management.get_instance_stats(some_instance(i)); });
  std::size_t children = 0;
  timed("find_child_instances", 100, [&](int i) { children += management.find_child_instances("m-" + std::to_string((i * 50) % count)).size(); });
  checks["children_found"] = children;
  timed("get_instance_tree", 100, [&](int i) { management.get_instance_tree("m-" + std::to_string((i * 50) % count)); });
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(some_instance(i));
  timed("get_bulk_status (100 ids)", 5, [&](int) { management.get_bulk_status(ids); });
  SystemMetrics metrics;
  timed("get_system_metrics", 5, [&](int) { metrics = management.get_system_metrics(); });
  checks["metrics_total_instances"] = metrics.total_instances;
  checks["metrics_total_events"] = metrics.total_events;
  timed("get_queue_depths", 5, [&](int) { management.get_queue_depths(); });
  timed("get_provider_diagnostics", 5, [&](int) { management.get_provider_diagnostics(); });
  std::uint64_t per_name = 0;
  timed("get_orchestration_stats", 5, [&](int) {
    per_name = 0;
    for (const auto& stats : management.get_orchestration_stats()) per_name += stats.running + stats.completed + stats.failed;
  });
  checks["stats_instances"] = per_name;
  timed("get_activity_stats", 5, [&](int) { management.get_activity_stats(); });
  DurationStats durations;
  timed("get_performance_metrics (FanOutFanIn, percentiles)", 5,
        [&](int) { durations = management.get_performance_metrics("FanOutFanIn"); });
  checks["durations_counted"] = durations.count;
  timed("get_system_health", 5, [&](int) { management.get_system_health(now); });
  timed("get_problematic_instances (100 each)", 5, [&](int) { management.get_problematic_instances(now); });
  timed("changes_since (100)", 20, [&](int) { management.changes_since(0); });
  timed("watch_metrics (100)", 20, [&](int) { management.watch_metrics(0); });
  // A search no index serves: a text only the oldest instance holds. One call reads one
  // window (kMaxContainsScan instances, newest first) and ends with a cursor; the walk of
  // every page (many calls, reported apart, not a read) finds the instance.
  InstanceFilter rare;
  rare.contains = "order 0;";
  timed("list_instances (contains a text one instance holds: one call, a window of " +
            thousands(kMaxContainsScan) + ")", 3,
        [&](int) { management.list_instances(rare, page); });
  std::size_t found = 0;
  std::size_t calls = 0;
  PageRequest walk = page;
  const auto walk_start = Steady::now();
  do {
    const SummaryPage batch = management.list_instances(rare, walk);
    found += batch.instances.size();
    walk.cursor = batch.next_cursor;
    ++calls;
  } while (!walk.cursor.empty());
  const Json search_walk = {{"calls", calls}, {"ms", seconds_since(walk_start) * 1000}};
  checks["search_found"] = found;
  PageRequest longest = page;
  longest.order = InstanceOrder::DurationDesc;
  std::size_t sorted_rows = 0;
  timed("list_instances (sorted by duration, first page of 50)", 20,
        [&](int) { sorted_rows = management.list_instances({}, longest).instances.size(); });
  checks["duration_page_rows"] = sorted_rows;
  timed("get_time_series (60 minutes)", 20, [&](int) {
    management.get_time_series(TimeSeriesMetric::All, "", now - 3'600'000, now);
  });
  return {{"reads", reads}, {"checks", checks}, {"search_walk", search_walk}};
}

// What the bench expects `time_management_reads` to find in the database of `count`
// fake instances.
Json expected_management_checks(std::size_t count, TimestampMs now) {
  std::uint64_t completed_in_window = 0, finished_fan_out = 0, events = 0, running = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const InstanceExport data = fake_instance(i, count, now);
    const bool fan_out = data.info.orchestration_name == "FanOutFanIn";
    if (data.info.state == RuntimeState::Completed && data.info.created_at_ms >= now - static_cast<TimestampMs>(count / 2)) {
      ++completed_in_window;
    }
    if (fan_out && data.info.state != RuntimeState::Running) ++finished_fan_out;
    if (data.info.state == RuntimeState::Running) ++running;
    events += data.executions.front().history.size();
  }
  return {{"counted", count}, {"counted_in_window", completed_in_window}, {"metrics_total_instances", count},
          {"metrics_total_events", events}, {"stats_instances", count}, {"durations_counted", finished_fan_out},
          {"bulk_previewed", running}, {"bulk_canceled", running}, {"backlog_visible", running}, {"search_found", 1},
          {"duration_page_rows", std::min<std::size_t>(count, 50)}};
}

Json bench_management(const std::string& dir, std::size_t count) {
  const std::string path = dir + "/management-" + std::to_string(count) + ".db";
  remove_db(path);
  SystemClock clock;
  RandomIdSource ids;
  SqliteOptions options;
  options.synchronous = SqliteOptions::Synchronous::Off;  // loading only; the reads do not sync
  SqliteProvider store(path, clock, ids, options);
  const TimestampMs now = clock.now_ms();
  const auto load_start = Steady::now();
  for (std::size_t i = 0; i < count; ++i) store.import_instance(fake_instance(i, count, now));
  const double load_seconds = seconds_since(load_start);
  ManagementClient management(store);
  Json out = time_management_reads(management, count, now);
  out["instances"] = count;
  out["load_seconds"] = load_seconds;
  out["expected"] = expected_management_checks(count, now);
  // Bulk cancel of every running instance in one command, as the CLI runs it (a dry
  // run first, then the walk in batches of 1,000); the cancels wait in the queue, so
  // the purge below finds the same finished instances.
  RuntimeClient client(store, store);
  SleepPacer pacer(clock);
  Clients clients{client, management, pacer};
  const Json cancel_args = {{"reason", "bench"}, {"batch", 1000}};
  const auto preview_start = Steady::now();
  Json dry_args = cancel_args;
  dry_args["dryRun"] = true;
  const Json preview = run_command_pages("cancel-instances", dry_args, clients);
  out["bulk_preview_seconds"] = seconds_since(preview_start);
  const auto cancel_start = Steady::now();
  const Json canceled = run_command_pages("cancel-instances", cancel_args, clients);
  const double cancel_seconds = seconds_since(cancel_start);
  out["checks"]["bulk_previewed"] = preview["succeeded"];
  out["checks"]["bulk_canceled"] = canceled["succeeded"];
  out["bulk_cancel_per_s"] = canceled["succeeded"].get<double>() / cancel_seconds;
  // Queue depths with the cancels waiting: a backlog of one message per running instance.
  QueueDepths backlog;
  out["reads"].push_back({{"read", "get_queue_depths (the cancels queued: one message per running instance)"},
                          {"ms", average_ms(3, [&](int) { backlog = management.get_queue_depths(); })}});
  out["checks"]["backlog_visible"] = backlog.orchestrator_visible;
  // Purge: every finished root instance (and its children) created before the middle.
  const auto purge_start = Steady::now();
  const DeleteResult purged = management.purge_completed(now - static_cast<TimestampMs>(count / 2));
  const double purge_seconds = seconds_since(purge_start);
  out["purged"] = purged.instances;
  out["purge_per_s"] = static_cast<double>(purged.instances) / purge_seconds;
  remove_db(path);
  return out;
}

#ifndef __EMSCRIPTEN__
// CPU seconds (user and system) of the whole process, or of the calling thread.
double cpu_seconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// The management reads in a loop on their own thread until `stop`, at the lowest CPU
// priority when `lowest_priority`; counts its loops and the CPU it used.
struct ManagementLoop {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> loops{0};
  double cpu = 0;
  double seconds = 0;
  std::thread thread;

  ManagementLoop(Store& store, bool lowest_priority) {
    thread = std::thread([this, &store, lowest_priority] {
      if (lowest_priority) setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
      const auto start = Steady::now();
      const double cpu_start = cpu_seconds(RUSAGE_THREAD);
      ManagementClient management(store);
      while (!stop) {
        management.get_orchestration_stats();
        management.get_system_metrics();
        management.get_queue_depths();
        management.get_provider_diagnostics();
        ++loops;
      }
      cpu = cpu_seconds(RUSAGE_THREAD) - cpu_start;
      seconds = seconds_since(start);
    });
  }
  void finish() {
    stop = true;
    thread.join();
  }
};
#endif

// HelloWorld 1.0.0 on the threaded driver at default options, on a database
// that already holds `loaded` instances: quiet, then while another thread runs
// management reads in a loop (statistics, system metrics, queue depths,
// diagnostics), then quiet again. The management reads must not stall the hot
// path: busy ÷ the mean of the quiet runs. What it cannot tell apart on a small
// machine, CPU shared with the loop from locks the loop holds, two more figures
// do: the CPU the quiet run and the loop each use (in cores), and the busy run
// again with the loop at the lowest CPU priority (it then takes only CPU the hot
// path leaves, so what remains of the drop is waiting).
Json bench_beside_management(const std::string& dir, std::size_t loaded, int instances) {
  Json out = {{"workload", workload_label(kWorkloads[0])}, {"options", "defaults"}, {"loaded", loaded},
              {"instances", instances}};
#ifdef __EMSCRIPTEN__
  (void)dir;
  out["driver"] = kNoThreadedDriver;
  return out;
#else
  const std::string path = dir + "/beside.db";
  remove_db(path);
  {
    SystemClock clock;
    RandomIdSource ids;
    SqliteProvider store(path, clock, ids);
    const TimestampMs now = clock.now_ms();
    for (std::size_t i = 0; i < loaded; ++i) store.import_instance(fake_instance(i, loaded, now));
    auto rate = [](const Throughput& t) { return static_cast<double>(t.finished) / t.seconds; };
    const double quiet_cpu_start = cpu_seconds(RUSAGE_SELF);
    const Throughput quiet = run_throughput(store, clock, kWorkloads[0], instances, 1, "q1-");
    const double quiet_cores = (cpu_seconds(RUSAGE_SELF) - quiet_cpu_start) / quiet.seconds;
    ManagementLoop reader(store, false);
    const Throughput busy = run_throughput(store, clock, kWorkloads[0], instances, 1, "b-");
    reader.finish();
    ManagementLoop low_reader(store, true);
    const Throughput busy_low = run_throughput(store, clock, kWorkloads[0], instances, 1, "l-");
    low_reader.finish();
    const Throughput quiet_again = run_throughput(store, clock, kWorkloads[0], instances, 1, "q2-");
    const double quiet_rate = (rate(quiet) + rate(quiet_again)) / 2;
    out["driver"] = driver_label(1);
    out["complete"] = quiet.complete && busy.complete && busy_low.complete && quiet_again.complete;
    out["quiet_per_s"] = quiet_rate;
    out["busy_per_s"] = rate(busy);
    out["busy_to_quiet"] = rate(busy) / quiet_rate;
    out["management_loops"] = reader.loops.load();
    out["management_loops_per_s"] = static_cast<double>(reader.loops.load()) / reader.seconds;
    out["quiet_cpu_cores"] = quiet_cores;
    out["management_cpu_cores"] = reader.cpu / reader.seconds;
    out["cpu_cores"] = static_cast<double>(std::thread::hardware_concurrency());
    out["busy_lowest_priority_per_s"] = rate(busy_low);
    out["busy_lowest_priority_to_quiet"] = rate(busy_low) / quiet_rate;
    out["lowest_priority_management_loops"] = low_reader.loops.load();
  }
  remove_db(path);
  return out;
#endif
}

// HelloWorld 1.0.0 on the step driver at default options (worker filter: untagged
// activities only), quiet, then beside `stranded` ready worker rows of a tag no worker
// takes (a worker pool that is down, say), loaded in one ack of an instance of their own.
// The default fetch must not walk past them: stranded ÷ quiet. The quiet run comes first
// on the same file. Then the same beside them with the workers' filter default-and(fpga)
// (untagged activities and a tag nobody schedules), which reads two indexes.
Json bench_beside_stranded(const std::string& dir, std::size_t stranded, int instances) {
  Json out = {{"workload", workload_label(kWorkloads[0])}, {"options", "defaults"},
              {"driver", driver_label(kStepDriver)}, {"stranded_rows", stranded}, {"instances", instances}};
  const std::string path = dir + "/stranded.db";
  remove_db(path);
  {
    SystemClock clock;
    RandomIdSource ids;
    SqliteProvider store(path, clock, ids);
    auto rate = [](const Throughput& t) { return static_cast<double>(t.finished) / t.seconds; };
    const Throughput quiet = run_throughput(store, clock, kWorkloads[0], instances, kStepDriver, "q-");
    store.enqueue_orchestrator_item(work::StartOrchestration{"stranded", "Stranded", "1.0.0", "", {}, 0, {}}, 0);
    const OrchestrationItem item = store.fetch_orchestration_item(60'000).value();
    OrchestrationAck ack;
    ack.history_delta.push_back(Event{1, 0, clock.now_ms(), events::OrchestrationStarted{"Stranded", "1.0.0"}});
    for (std::size_t i = 0; i < stranded; ++i) {
      const auto id = static_cast<EventId>(i + 2);
      ack.history_delta.push_back(Event{id, 0, clock.now_ms(), events::ActivityScheduled{"Render", "x"}});
      work::ActivityExecute execute{"stranded", 1, id, "Render", "x"};
      execute.tag = "gpu";
      ack.worker_items.push_back(std::move(execute));
    }
    ack.metadata.orchestration_name = "Stranded";
    ack.metadata.orchestration_version = "1.0.0";
    store.ack_orchestration_item(item.lock_token, ack);
    const Throughput beside = run_throughput(store, clock, kWorkloads[0], instances, kStepDriver, "s-");
    const TagFilter several = TagFilter::default_and({"fpga"});
    const Throughput beside_several =
        run_throughput(store, clock, kWorkloads[0], instances, kStepDriver, "t-", Starts::BeforeWindow, &several);
    out["complete"] = quiet.complete && beside.complete && beside_several.complete;
    out["left_queued"] = store.get_queue_depths().worker_visible;
    out["quiet_per_s"] = rate(quiet);
    out["beside_per_s"] = rate(beside);
    out["beside_to_quiet"] = rate(beside) / rate(quiet);
    out["several_tags_filter"] = several.to_string();
    out["several_tags_per_s"] = rate(beside_several);
    out["several_tags_to_quiet"] = rate(beside_several) / rate(quiet);
  }
  remove_db(path);
  return out;
}

// ---------------------------------------------------------------- simulation, memory

Json bench_sim(int seeds) {
  sim::SimOptions options;
  const auto start = Steady::now();
  int failing = 0;
  for (int i = 0; i < seeds; ++i) {
    options.seed = static_cast<std::uint64_t>(i + 1);
    if (!sim::run_simulation(options).ok()) ++failing;
  }
  const double seconds = seconds_since(start);
  return {{"seeds", seeds}, {"seconds", seconds}, {"seeds_per_minute", seeds * 60.0 / seconds}, {"failing", failing}};
}

// Generated-workload seeds per minute at its default size (duroxide-sim
// --workload generated) on `threads` threads: seeds are independent worlds.
std::pair<double, int> generated_rate(int seeds, unsigned threads) {
  const auto start = Steady::now();
  std::atomic<int> next{0};
  std::atomic<int> failing{0};
  auto work = [&] {
    for (int i = next++; i < seeds; i = next++) {
      sim::SimOptions options = sim::generated_options();
      options.seed = static_cast<std::uint64_t>(i + 1);
      if (!sim::run_simulation(options).ok()) ++failing;
    }
  };
#ifdef __EMSCRIPTEN__
  threads = 1;
#endif
  if (threads <= 1) {
    work();
  } else {
#ifndef __EMSCRIPTEN__
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work);
    for (std::thread& thread : pool) thread.join();
#endif
  }
  return {seeds * 60.0 / seconds_since(start), failing.load()};
}

Json bench_sim_generated(int seeds) {
  const auto [one, failing] = generated_rate(seeds, 1);
  Json out = {{"seeds", seeds}, {"seeds_per_minute", one}, {"failing", failing}};
#ifndef __EMSCRIPTEN__
  const auto [two, failing_two] = generated_rate(seeds, 2);
  out["seeds_per_minute_2_threads"] = two;
  out["failing"] = failing + failing_two;
#endif
  return out;
}

// Resident memory in KiB (native: /proc/self/statm; wasm: the linear memory size).
std::uint64_t resident_kib() {
#ifdef __EMSCRIPTEN__
  return static_cast<std::uint64_t>(__builtin_wasm_memory_size(0)) * 64;
#else
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * 4;
#endif
}

// HelloWorld 1.0.0 instances (one activity each) started and finished continuously;
// completed instances are purged as it goes (as a production host would), so memory
// must stay flat.
Json bench_soak(const std::string& dir, double seconds) {
  const std::string path = dir + "/soak.db";
  remove_db(path);
  SystemClock clock;
  RandomIdSource ids;
  SqliteProvider store(path, clock, ids);
  Registry registry;
  samples::register_all(registry);
  RuntimeClient client(store, store);
  ManagementClient management(store);
  StepDriver driver(store, registry, clock);
  std::vector<std::uint64_t> samples_kib;
  std::uint64_t finished = 0;
  const auto start = Steady::now();
  double next_sample = 0;
  for (std::uint64_t i = 0; seconds_since(start) < seconds; ++i) {
    for (int k = 0; k < 20; ++k) client.start_orchestration("s-" + std::to_string(i) + "-" + std::to_string(k), "HelloWorld", "Ada", "1.0.0");
    driver.run_until_idle();
    finished += management.purge_completed(clock.now_ms() + 1).instances;
    if (seconds_since(start) >= next_sample) {
      samples_kib.push_back(resident_kib());
      next_sample += std::max(seconds / 20, 0.1);
    }
  }
  remove_db(path);
  const std::uint64_t first = samples_kib.empty() ? 0 : samples_kib[samples_kib.size() / 4];  // after warm-up
  const std::uint64_t last = samples_kib.empty() ? 0 : samples_kib.back();
  const std::uint64_t peak = samples_kib.empty() ? 0 : *std::max_element(samples_kib.begin(), samples_kib.end());
  return {{"workload", "HelloWorld 1.0.0"}, {"driver", driver_label(kStepDriver)}, {"options", "defaults"},
          {"seconds", seconds}, {"instances", finished}, {"rss_kib_after_warmup", first},
          {"rss_kib_end", last}, {"rss_kib_peak", peak},
          {"growth_after_warmup", first ? static_cast<double>(last) / first : 0.0},
          {"samples_kib", samples_kib}};
}

// ---------------------------------------------------------------- report

std::string fixed(double value, int digits = 1) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

std::string markdown(const Json& report) {
  std::string md = "# Duroxide bench (" + report["platform"].get<std::string>() + ", " +
                   report["mode"].get<std::string>() + ")\n\n" + report["runtime"].get<std::string>() + "\n\n";
  md += "| raw SQLite commits/s | WAL NORMAL | WAL FULL |\n|---|---|---|\n| | " +
        fixed(report["commit_rate"]["NORMAL"].get<double>(), 0) + " | " +
        fixed(report["commit_rate"]["FULL"].get<double>(), 0) + " |\n\n";
  if (report.contains("sqlite_alone")) {
    const Json& alone = report["sqlite_alone"];
    md += "| SQLite alone over " + thousands(alone["rows"].get<std::uint64_t>()) +
          " rows | ms |\n|---|---|\n| COUNT(*) of an index range (" +
          thousands(alone["range_counted"].get<std::uint64_t>()) + " entries) | " +
          fixed(alone["range_count_ms"].get<double>(), 3) + " |\n| LIKE '%…%' over every row | " +
          fixed(alone["text_scan_ms"].get<double>(), 3) + " |\n\n";
  }
  auto throughput_table = [](const Json& rows, bool with_sync) {
    std::string out = std::string("| workload | what one instance does | ") + (with_sync ? "sync | " : "") +
                      "driver | options | instances finished | activities completed | orchestrations/s | "
                      "activities/s | ÷ (commit rate ÷ 4) |\n|---|---|" + (with_sync ? "---|" : "") +
                      "---|---|---|---|---|---|---|\n";
    for (const auto& row : rows) {
      out += "| " + row["workload"].get<std::string>() + " | " + row["body"].get<std::string>() + " | " +
             (with_sync ? row["sync"].get<std::string>() + " | " : "") + row["driver"].get<std::string>() + " | " +
             row["options"].get<std::string>() + " | " + std::to_string(row["finished"].get<std::uint64_t>()) +
             " | " + std::to_string(row["activities"].get<std::uint64_t>()) + " | " +
             fixed(row["orchestrations_per_s"].get<double>()) + " | " + fixed(row["activities_per_s"].get<double>()) +
             " | " + fixed(row["ratio_to_quarter_commit_rate"].get<double>(), 2) +
             (row["complete"].get<bool>() ? "" : " (incomplete)") + " |\n";
    }
    return out;
  };
  if (report.contains("throughput")) md += throughput_table(report["throughput"], true);
  const Json latency = report.value("latency", Json::object());
  if (latency.contains("median_ms")) {
    md += "\nlatency, " + latency["workload"].get<std::string>() + " start → completed, one at a time, " +
          latency["driver"].get<std::string>() + ", " + latency["options"].get<std::string>() + ", " +
          std::to_string(latency["rounds"].get<int>()) + " rounds: median " +
          fixed(latency["median_ms"].get<double>(), 2) + " ms, p99 " + fixed(latency["p99_ms"].get<double>(), 2) +
          " ms, max " + fixed(latency["max_ms"].get<double>(), 2) + " ms\n";
  }
  if (report.contains("postgres")) {
    const Json& pg = report["postgres"];
    md += "\nPostgreSQL, one process\n\n" + throughput_table(pg["throughput"], false);
    md += "\nraw PostgreSQL commits/s (autocommit single-row INSERT): " + fixed(pg["commit_rate"].get<double>(), 0) +
          "; several processes: bench/processes.sh\n";
  }
  if (report.contains("replay")) {
    md += "\n| replay: events | events/s |\n|---|---|\n";
    for (const auto& row : report["replay"]) {
      md += "| " + std::to_string(row["events"].get<std::size_t>()) + " | " + fixed(row["events_per_s"].get<double>(), 0) + " |\n";
    }
  }
  if (report.contains("management") && !report["management"].empty()) {
    const Json& sizes = report["management"];
    md += "\n| management read, ms |";
    std::string rule = "|---|";
    for (const auto& row : sizes) {
      md += " " + std::to_string(row["instances"].get<std::size_t>()) + " instances |";
      rule += "---|";
    }
    md += "\n" + rule + "\n";
    const Json& first = sizes.front()["reads"];
    for (std::size_t r = 0; r < first.size(); ++r) {
      md += "| " + first[r]["read"].get<std::string>() + " |";
      for (const auto& row : sizes) md += " " + fixed(row["reads"][r]["ms"].get<double>(), 2) + " |";
      md += "\n";
    }
    md += "| cancel-instances, every running instance in one command (batches of 1,000), instances/s |";
    for (const auto& row : sizes) md += " " + fixed(row["bulk_cancel_per_s"].get<double>(), 0) + " |";
    md += "\n| its dry run (the preview count), s |";
    for (const auto& row : sizes) md += " " + fixed(row["bulk_preview_seconds"].get<double>(), 2) + " |";
    md += "\n| purge_completed, instances/s (finished roots created before the middle) |";
    for (const auto& row : sizes) md += " " + fixed(row["purge_per_s"].get<double>(), 0) + " |";
    md += "\n| the rare search walked to its end (calls; ms in all) |";
    for (const auto& row : sizes) {
      md += " " + std::to_string(row["search_walk"]["calls"].get<std::size_t>()) + "; " +
            fixed(row["search_walk"]["ms"].get<double>(), 1) + " |";
    }
    md += "\n";
  }
  if (report.contains("beside_management") && report["beside_management"].contains("busy_to_quiet")) {
    const Json& beside = report["beside_management"];
    md += "\n" + beside["workload"].get<std::string>() + ", " + beside["driver"].get<std::string>() + ", " +
          beside["options"].get<std::string>() + ", on " + std::to_string(beside["loaded"].get<std::size_t>()) +
          " instances: " + fixed(beside["quiet_per_s"].get<double>()) + "/s quiet, " +
          fixed(beside["busy_per_s"].get<double>()) + "/s while management reads loop (" +
          fixed(beside["management_loops_per_s"].get<double>()) + " loops/s of statistics, system metrics, "
          "queue depths, diagnostics): " + fixed(beside["busy_to_quiet"].get<double>(), 2) + " × quiet\n";
    if (beside.contains("quiet_cpu_cores")) {
      md += "CPU in cores of " + fixed(beside["cpu_cores"].get<double>(), 0) + ": the quiet run " +
            fixed(beside["quiet_cpu_cores"].get<double>(), 2) + ", the management loop " +
            fixed(beside["management_cpu_cores"].get<double>(), 2) + "; with the loop at the lowest CPU priority (" +
            std::to_string(beside["lowest_priority_management_loops"].get<std::uint64_t>()) + " loops): " +
            fixed(beside["busy_lowest_priority_per_s"].get<double>()) + "/s, " +
            fixed(beside["busy_lowest_priority_to_quiet"].get<double>(), 2) + " × quiet\n";
    }
  }
  if (report.contains("beside_stranded_tag")) {
    const Json& beside = report["beside_stranded_tag"];
    md += "\n" + beside["workload"].get<std::string>() + ", " + beside["driver"].get<std::string>() + ", " +
          beside["options"].get<std::string>() + ": " + fixed(beside["quiet_per_s"].get<double>()) + "/s quiet, " +
          fixed(beside["beside_per_s"].get<double>()) + "/s beside " +
          std::to_string(beside["stranded_rows"].get<std::size_t>()) +
          " ready rows of a tag no worker takes: " + fixed(beside["beside_to_quiet"].get<double>(), 2) + " × quiet; " +
          "workers " + beside["several_tags_filter"].get<std::string>() + " beside them " +
          fixed(beside["several_tags_per_s"].get<double>()) + "/s: " +
          fixed(beside["several_tags_to_quiet"].get<double>(), 2) + " × quiet\n";
  }
  if (report.contains("simulation")) {
    const Json& generated = report["simulation_generated"];
    md += "\nsimulation: " + fixed(report["simulation"]["seeds_per_minute"].get<double>(), 0) +
          " seeds/min; generated workload: " + fixed(generated["seeds_per_minute"].get<double>(), 0) + " seeds/min" +
          (generated.contains("seeds_per_minute_2_threads")
               ? " (" + fixed(generated["seeds_per_minute_2_threads"].get<double>(), 0) + " on 2 threads)"
               : std::string()) +
          "\n";
  }
  if (report.contains("soak")) {
    md += "\nsoak (HelloWorld 1.0.0, step driver, defaults): " +
          std::to_string(report["soak"]["instances"].get<std::uint64_t>()) + " instances in " +
          fixed(report["soak"]["seconds"].get<double>(), 0) + " s, memory end ÷ after warm-up " +
          fixed(report["soak"]["growth_after_warmup"].get<double>(), 2) + "\n";
  }
  md += "\n| target | value | met |\n|---|---|---|\n";
  for (const auto& target : report["targets"]) {
    md += "| " + target["target"].get<std::string>() + " | " + target["value"].get<std::string>() + " | " +
          (target["met"].get<bool>() ? "yes" : "**no**") + " |\n";
  }
  return md;
}

}  // namespace

// ---------------------------------------------------------------- targets

// The performance targets (docs/bench.md), evaluated on what this run measured. A
// target whose measurement did not hold (instances unfinished or failed, a replay
// that diverged, a read that answered less than was loaded, a rate over nothing) is
// not met, whatever its figure: the value says why.
class Targets {
 public:
  void add(const std::string& target, const std::string& value, bool met, const std::string& unmeasured = {}) {
    rows_.push_back({{"target", target},
                     {"value", unmeasured.empty() ? value : value + " (not measured: " + unmeasured + ")"},
                     {"met", met && unmeasured.empty()}});
  }
  Json rows() const { return rows_; }

 private:
  Json rows_ = Json::array();
};

// Why a ratio or rate is no figure: a zero or non-finite divisor or result.
std::string unusable(double value) { return std::isfinite(value) && value > 0 ? "" : "the rate is " + fixed(value, 2); }

void throughput_targets(const Json& report, Targets& targets) {
  for (const auto& row : report.value("throughput", Json::array())) {
    if (row["sync"] != "NORMAL" || row["options"].get<std::string>().find("worker_batch_size") != std::string::npos) continue;
    const std::string where = row["workload"].get<std::string>() + " " + row["driver"].get<std::string>() +
                              ", WAL NORMAL, options: " + row["options"].get<std::string>();
    std::string unmeasured = row["complete"].get<bool>() ? "" :
        std::to_string(row["finished"].get<std::uint64_t>() - row.value("failed", std::uint64_t{0})) + " of " +
            std::to_string(row["instances"].get<int>()) + " instances completed";
    if (row["workload"] == "HelloWorld 1.0.0") {
      const double ratio = row["ratio_to_quarter_commit_rate"].get<double>();
      if (unmeasured.empty()) unmeasured = unusable(ratio);
      targets.add(where + ": ≥ 0.5 × (commit rate ÷ 4)", fixed(ratio, 2), ratio >= 0.5, unmeasured);
    } else if (row["workload"] == "FanOutFanIn 1.0.0") {
      const double rate = row["activities_per_s"].get<double>();
      if (unmeasured.empty()) unmeasured = unusable(rate);
      targets.add(where + ": ≥ 10,000 activities/s", fixed(rate, 0), rate >= 10'000, unmeasured);
    }
  }
}

void management_targets(const Json& report, Targets& targets) {
  const Json& largest = report["management"].back();
  const std::string at = " at " + std::to_string(largest["instances"].get<std::size_t>()) + " instances";
  double slowest = 0;
  std::string slowest_read;
  for (const auto& read : largest["reads"]) {
    if (read["ms"].get<double>() > slowest) {
      slowest = read["ms"].get<double>();
      slowest_read = read["read"].get<std::string>();
    }
  }
  std::string wrong;  // the first check whose answer is not what was loaded
  for (const auto& [key, value] : largest["expected"].items()) {
    if (wrong.empty() && largest["checks"].value(key, Json()) != value) wrong = key + " answered otherwise than loaded";
  }
  targets.add("every management read ≤ 50 ms" + at, fixed(slowest, 2) + " ms (slowest: " + slowest_read + ")",
              slowest <= 50, wrong);
  const double purge = largest["purge_per_s"].get<double>();
  targets.add("purge ≥ 20,000 instances/s" + at, fixed(purge, 0), purge >= 20'000,
              largest.value("purged", 0) > 0 ? unusable(purge) : "nothing was purged");
}

void beside_targets(const Json& report, Targets& targets) {
  if (report.contains("beside_management") && report["beside_management"].contains("busy_to_quiet")) {
    const Json& beside = report["beside_management"];
    const double ratio = beside["busy_to_quiet"].get<double>();
    targets.add("HelloWorld 1.0.0 beside looping management reads at " +
                    std::to_string(beside["loaded"].get<std::size_t>()) + " instances ≥ 0.9 × quiet",
                fixed(ratio, 2), ratio >= 0.9,
                !beside["complete"].get<bool>() ? "a run did not complete every instance"
                : beside["management_loops"].get<std::uint64_t>() == 0 ? "no management read ran beside it"
                                                                      : unusable(ratio));
  }
  if (report.contains("beside_stranded_tag")) {
    const Json& beside = report["beside_stranded_tag"];
    const double ratio = beside["beside_to_quiet"].get<double>();
    targets.add("HelloWorld 1.0.0 beside " + std::to_string(beside["stranded_rows"].get<std::size_t>()) +
                    " ready rows of a tag no worker takes ≥ 0.9 × quiet",
                fixed(ratio, 2), ratio >= 0.9,
                beside["complete"].get<bool>() ? unusable(ratio) : "a run did not complete every instance");
  }
}

Json evaluate_targets(const Json& report) {
  Targets targets;
  throughput_targets(report, targets);
  if (report.contains("latency") && report["latency"].contains("median_ms")) {
    const double median = report["latency"]["median_ms"].get<double>();
    targets.add("HelloWorld 1.0.0 start → completed, idle threaded runtime, median ≤ 2 ms", fixed(median, 2) + " ms",
                median <= 2, unusable(median));
  }
  if (report.contains("replay")) {
    double slowest_replay = 1e18;
    bool deterministic = true;
    for (const auto& row : report["replay"]) {
      deterministic &= row["deterministic"].get<bool>();
      if (row["events"].get<std::size_t>() >= 10'000) slowest_replay = std::min(slowest_replay, row["events_per_s"].get<double>());
    }
    targets.add("replay ≥ 1M events/s (histories ≥ 10k events)", fixed(slowest_replay, 0), slowest_replay >= 1e6,
                deterministic ? "" : "a replay diverged from its history");
  }
  if (report.contains("management") && !report["management"].empty()) management_targets(report, targets);
  beside_targets(report, targets);
  if (report.contains("soak")) {
    const Json& soak = report["soak"];
    const double growth = soak["growth_after_warmup"].get<double>();
    targets.add("memory flat over the soak (end ≤ 1.2 × after warm-up)", fixed(growth, 2), growth <= 1.2,
                soak["instances"].get<std::uint64_t>() == 0 ? "no instance finished"
                : soak["samples_kib"].size() < 4        ? "fewer than four memory samples"
                                                        : unusable(growth));
  }
#ifndef __EMSCRIPTEN__
  if (report.contains("simulation_generated")) {
    const Json& generated = report["simulation_generated"];
    const double rate = generated["seeds_per_minute_2_threads"].get<double>();
    targets.add("generated simulation ≥ 3,000 seeds/min natively (2 threads, default size)", fixed(rate, 0),
                rate >= 3'000,
                generated["failing"].get<std::uint64_t>() > 0 ? "seeds failed" : unusable(rate));
  }
#endif
  return targets.rows();
}

int main(int argc, char** argv) {
  std::string mode = "medium";
  std::string dir = "build/bench-tmp";
  std::string out_json;
  std::string out_md;
  std::string db;
  std::string only;  // comma-separated sections; empty: all
  std::string only_workload;  // one throughput workload ("HelloWorld 1.0.0"); empty: all
  std::string only_driver;    // one driver ("step", "threaded 1/1"); empty: all
  std::string only_sync;      // NORMAL or FULL; empty: both
  std::string instances_text;  // instances per throughput row; empty: the mode's
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "duroxide_bench: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--smoke") mode = "smoke";
    else if (arg == "--full") mode = "full";
    else if (arg == "--dir") dir = value();
    else if (arg == "--db") db = value();
    else if (arg == "--out") out_json = value();
    else if (arg == "--md") out_md = value();
    else if (arg == "--only") only = value();
    else if (arg == "--workload") only_workload = value();
    else if (arg == "--driver") only_driver = value();
    else if (arg == "--sync") only_sync = value();
    else if (arg == "--instances") instances_text = value();
    else {
      std::cerr << "usage: duroxide_bench [--smoke | --full] [--dir DIR] [--db FILE | --db POSTGRES-CONNINFO] "
                   "[--out FILE.json] [--md FILE.md] [--only SECTION,...]\n"
                   "       [--workload \"HelloWorld 1.0.0\"] [--driver \"threaded 1/1\"] [--sync NORMAL|FULL] "
                   "[--instances N]\n"
                   "sections: throughput, latency, replay, management, simulation, soak\n";
      return 2;
    }
  }
  const auto wanted = [&only](const std::string& section) {
    return only.empty() || ("," + only + ",").find("," + section + ",") != std::string::npos;
  };
  const bool postgres = store_kind(db) == StoreKind::Postgres;
  if (postgres && !store_kind_available(StoreKind::Postgres)) {
    std::cerr << "duroxide_bench: this build has no PostgreSQL support (native builds with DUROXIDE_POSTGRES=ON)\n";
    return 2;
  }
  std::string throughput_db = dir + "/throughput.db";
  if (!db.empty() && !postgres) {
    if (std::filesystem::exists(db)) {
      std::cerr << "duroxide_bench: --db " << db << " exists; the bench creates and deletes its database\n";
      return 2;
    }
    throughput_db = db;
  }
  std::filesystem::create_directories(dir);
  Sizes sizes = sizes_for(mode);
  if (!instances_text.empty()) {
    const int count = std::atoi(instances_text.c_str());
    if (count < 1 || count > 1'000'000 || std::to_string(count) != instances_text) {
      std::cerr << "duroxide_bench: --instances takes 1 to 1000000\n";
      return 2;
    }
    sizes.throughput_instances = count;
    sizes.target_instances = count;
  }
  Json report;
  report["platform"] = kPlatform;
  report["runtime"] = runtime_description();
  report["mode"] = mode;
  try {
    using Sync = SqliteOptions::Synchronous;
    std::cerr << "bench: raw commit rate\n";
    const double normal = raw_commit_rate(dir + "/raw.db", Sync::Normal, sizes.commit_seconds);
    const double full = raw_commit_rate(dir + "/raw.db", Sync::Full, sizes.commit_seconds);
    report["commit_rate"] = {{"NORMAL", normal}, {"FULL", full}};
    std::cerr << "bench: SQLite alone, an index range count and a text scan\n";
    report["sqlite_alone"] = sqlite_alone(dir + "/scan.db", sizes.management_instances.front());

    if (wanted("throughput")) report["throughput"] = Json::array();
    // The step driver in both builds: wasm ÷ native on it is the cost of wasm alone.
#ifdef __EMSCRIPTEN__
    const std::vector<std::size_t> concurrencies = {kStepDriver};
#else
    const std::vector<std::size_t> concurrencies = {1, 2, kStepDriver};
#endif
    for (Sync sync : {Sync::Normal, Sync::Full}) {
      if (!wanted("throughput")) break;
      if (!only_sync.empty() && only_sync != sync_pragma(sync)) continue;
      for (const Workload& workload : kWorkloads) {
        for (std::size_t concurrency : concurrencies) {
          if (!only_workload.empty() && only_workload != workload_label(workload)) continue;
          if (!only_driver.empty() && only_driver != driver_label(concurrency)) continue;
          std::cerr << "bench: " << workload_label(workload) << " " << sync_pragma(sync) << " "
                    << driver_label(concurrency) << " " << options_label(workload, concurrency) << "\n";
          const bool judged = workload.judged && sync == Sync::Normal;  // the targets judge WAL NORMAL
          const int instances = judged ? sizes.target_instances : sizes.throughput_instances;
          const Throughput t = run_throughput(throughput_db, sync, workload, instances, concurrency);
          Json row = throughput_row(workload, concurrency, instances, t, sync == Sync::Full ? full : normal);
          row["sync"] = sync_pragma(sync);
          report["throughput"].push_back(std::move(row));
        }
      }
    }
    remove_db(throughput_db);
    if (postgres && wanted("throughput")) {
      report["postgres"] = bench_postgres(db, sizes, [&](const Workload& workload, std::size_t concurrency) {
        return (only_workload.empty() || only_workload == workload_label(workload)) &&
               (only_driver.empty() || only_driver == driver_label(concurrency));
      });
    }
    if (wanted("latency")) {
      std::cerr << "bench: latency\n";
      report["latency"] = bench_latency(dir, sizes.latency_rounds);
    }

    if (wanted("replay")) {
      std::cerr << "bench: replay\n";
      report["replay"] = bench_replay(sizes.replay_events);
    }
    if (wanted("management")) {
      report["management"] = Json::array();
      for (std::size_t count : sizes.management_instances) {
        std::cerr << "bench: management at " << count << " instances\n";
        report["management"].push_back(bench_management(dir, count));
      }
      // Each beside row runs at least 2,000 instances a run: a run of a few dozen
      // milliseconds (the smoke's 200) is timer noise and one-time costs.
      const int beside_instances = std::max(sizes.throughput_instances, 2'000);
      const std::size_t loaded = sizes.management_instances.back();
      std::cerr << "bench: HelloWorld beside management reads, " << loaded << " instances\n";
      report["beside_management"] = bench_beside_management(dir, loaded, beside_instances);
      const std::size_t stranded = sizes.management_instances.front();
      std::cerr << "bench: HelloWorld beside " << stranded << " ready rows of a tag no worker takes\n";
      report["beside_stranded_tag"] = bench_beside_stranded(dir, stranded, beside_instances);
    }
    if (wanted("simulation")) {
      std::cerr << "bench: simulation\n";
      report["simulation"] = bench_sim(sizes.sim_seeds);
      std::cerr << "bench: simulation, generated workload\n";
      report["simulation_generated"] = bench_sim_generated(sizes.sim_seeds * 10);
    }
    if (wanted("soak")) {
      std::cerr << "bench: soak " << sizes.soak_seconds << " s\n";
      report["soak"] = bench_soak(dir, sizes.soak_seconds);
    }

    report["targets"] = evaluate_targets(report);
  } catch (const std::exception& error) {
    std::cerr << "duroxide_bench: " << error.what() << "\n";
    return 1;
  }
  const std::string md = markdown(report);
  std::cout << md;
  if (!out_json.empty()) std::ofstream(out_json) << report.dump(2) << "\n";
  if (!out_md.empty()) std::ofstream(out_md) << md;
  return 0;
}
