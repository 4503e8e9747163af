#include "support.hpp"

#include <cstdio>
#include <cstdlib>

#include "duroxide/replayer.hpp"
#include "duroxide/samples.hpp"

namespace duroxide::fuzz {

void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz: property broken: %s\n", what.c_str());
  std::abort();
}

// ---- ByteReader

std::uint8_t ByteReader::byte() { return position_ < bytes_.size() ? static_cast<std::uint8_t>(bytes_[position_++]) : 0; }

std::uint64_t ByteReader::number(int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes && i < 8; ++i) value |= static_cast<std::uint64_t>(byte()) << (8 * i);
  return value;
}

std::string ByteReader::text(std::size_t max) {
  const std::size_t wanted = std::min<std::size_t>(byte(), max);
  const std::size_t available = position_ < bytes_.size() ? bytes_.size() - position_ : 0;
  const std::size_t length = std::min(wanted, available);
  std::string out(bytes_.substr(position_, length));
  position_ += length;
  return out;
}

std::string_view ByteReader::rest() {
  std::string_view out = position_ < bytes_.size() ? bytes_.substr(position_) : std::string_view();
  position_ = bytes_.size();
  return out;
}

// ---- FastForwardPacer

void FastForwardPacer::wait(std::int64_t ms) {
  constexpr std::size_t kStepsPerWait = 20;
  constexpr int kPollsAtPace = 100;
  constexpr std::int64_t kHourMs = 60 * 60 * 1000;
  const std::size_t steps = driver_.run_until_idle(kStepsPerWait);
  if (steps > 0 && steps < kStepsPerWait) return;  // worked, then went idle: no time passes
  clock_.advance(++polls_ <= kPollsAtPace ? ms : std::max(ms, kHourMs));
}

// ---- Host

sim::MemoryVfs& disk() {
  static sim::MemoryVfs vfs("duroxide-fuzz");
  return vfs;
}

Host::Host(const std::string& database) {
  static std::uint64_t hosts = 0;
  path_ = "/fuzz-" + std::to_string(++hosts) + ".db";
  if (!database.empty()) disk().put_file(path_, database);
  SqliteOptions options;
  options.vfs = disk().name();
  try {
    store = std::make_unique<SqliteProvider>(path_, clock, ids, options);
  } catch (...) {
    remove_files();
    throw;
  }
  samples::register_all(registry);
  driver = std::make_unique<StepDriver>(*store, registry, clock);
  pacer = std::make_unique<FastForwardPacer>(*driver, clock);
  ClientOptions client_options;
  client_options.registry = &registry;
  client = std::make_unique<RuntimeClient>(*store, *store, client_options);
  management = std::make_unique<ManagementClient>(*store);
}

Host::~Host() {
  management.reset();
  client.reset();
  pacer.reset();
  driver.reset();
  store.reset();
  remove_files();
}

void Host::remove_files() {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) disk().remove_file(path_ + suffix);
}

void check_disk_empty() {
  if (disk().bytes_stored() != 0) fail("a closed database left files on the in-memory disk");
}

Json Host::command(const std::string& name, const Json& args) {
  Clients clients{*client, *management, *pacer};
  return run_command(name, args, clients);
}

void Host::run(std::size_t max_steps) {
  refused_cleanly([&] { driver->run_until_idle(max_steps); });
}

void Host::inspect(std::uint8_t pick) {
  for (const char* name : {"count-by-status", "get-system-metrics", "get-queue-depths", "get-provider-diagnostics",
                           "get-orchestration-stats", "get-activity-stats", "get-system-health",
                           "get-problematic-instances", "get-time-series", "watch-metrics", "changes-since"}) {
    refused_cleanly([&] { command(name, Json::object()); });
  }
  Json page;
  if (!refused_cleanly([&] { page = command("list-instances", {{"limit", 100}}); })) return;
  const Json& instances = page.at("instances");
  if (instances.empty()) return;
  inspect_instance(instances.at(pick % instances.size()).at("instance").get<std::string>());
  if (instances.size() > 1) {
    inspect_instance(instances.at((pick + 1u) % instances.size()).at("instance").get<std::string>());
  }
}

void Host::inspect_instance(const std::string& instance) {
  const Json id{{"instance", instance}};
  for (const char* name : {"get-status", "get-instance-details", "get-instance-tree", "find-child-instances",
                           "get-instance-stats", "get-all-values"}) {
    refused_cleanly([&] { command(name, id); });
  }
  Json executions;
  if (refused_cleanly([&] { executions = command("list-executions", id); })) {
    for (const auto& execution : executions) {
      const ExecutionId execution_id = execution.at("execution").get<ExecutionId>();
      refused_cleanly([&] {
        const History history = management->read_execution(instance, execution_id);
        const ReplayReport report = replay_history(registry, instance, execution_id, history);
        encode_replay_report(report);
        for (std::size_t i = 0; i < history.size(); ++i) encode_replay_step(replay_step(report, history, i));
      });
    }
  }
  std::string exported;
  if (!refused_cleanly([&] { exported = management->export_instance(instance); })) return;
  // The export reads back: imported under another id it exports the same document.
  const std::string copy = "copy-" + ids.next_id();
  const Json document = renamed_export(Json::parse(exported), copy);
  if (!refused_cleanly([&] { management->import_instance(document.dump()); })) return;
  Json again;
  if (!refused_cleanly([&] { again = Json::parse(management->export_instance(copy)); })) {
    check(!intact, "an imported export exports again");
    return;
  }
  if (intact && again != document) {
    fail("an imported export exports the same document; the difference: " +
         Json::diff(document, again).dump(-1, ' ', false, Json::error_handler_t::replace).substr(0, 2000));
  }
}

std::string Host::save() {
  store->checkpoint();
  const auto bytes = disk().file_bytes(path_);
  check(bytes.has_value(), "a checkpointed database has a file");
  return *bytes;
}

Json renamed_export(Json document, const std::string& instance) {
  document["instance"]["instance"] = instance;
  if (document.contains("messages")) {
    for (Json& message : document["messages"]) message["instance"] = instance;
  }
  return document;
}

const std::string& sample_database() {
  static const std::string bytes = [] {
    Host host;
    for (const auto& sample : samples::catalog()) {
      host.client->start_orchestration("sample-" + sample.name, sample.name, sample.example_input);
    }
    host.run(10'000);
    host.client->raise_event("sample-Approval", "Approve", "yes");
    host.client->enqueue_event("sample-Mailbox", "inbox", "one");
    host.run(10'000);
    // Rows on every queue, for the targets that damage or edit them: activities scheduled
    // but not run, a start and a message not yet taken (LongTimer's timer is due in an hour).
    host.client->start_orchestration("queued-FanOutFanIn", "FanOutFanIn", R"(["x","y"])");
    host.driver->run_until_idle(1);
    host.client->start_orchestration("queued-HelloWorld", "HelloWorld", "Ada");
    host.client->enqueue_event("sample-Mailbox", "inbox", "two");
    return host.save();
  }();
  return bytes;
}

const std::string& settled_database() {
  static const std::string bytes = [] {
    Host host(sample_database());
    host.run(10'000);
    check(host.driver->run_until_idle(1) == 0, "the settled sample database has no work left");
    return host.save();
  }();
  return bytes;
}

}  // namespace duroxide::fuzz
