// RuntimeClient over SqliteProvider, driven by the step driver through a StepPacer.
#include <limits>

#include <catch2/catch.hpp>

#include "duroxide/duroxide.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/replayer.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "step_host.hpp"

using namespace duroxide;

namespace {

Task<std::string> waiting_parent(OrchestrationContext& ctx, std::string) {
  co_return co_await ctx.schedule_sub_orchestration("LongTimer", "");
}

int counted_runs = 0;  // how often CountedWait's code has started

Task<std::string> counted_wait(OrchestrationContext& ctx, std::string) {
  ++counted_runs;
  co_return co_await ctx.schedule_wait("Go");
}

Registry make_registry() {
  Registry registry;
  samples::register_all(registry);
  registry.register_orchestration("WaitingParent", waiting_parent);
  registry.register_orchestration("CountedWait", counted_wait);
  return registry;
}

struct Host : testing::StepHost {
  explicit Host(const std::string& kind, ClientOptions options = {}) : StepHost(make_registry(), options, kind) {}

  // Nothing may have been written: no instance, no queued message.
  void require_untouched() {
    CHECK(admin.count_instances({}) == 0);
    QueueDepths depths = admin.get_queue_depths();
    CHECK(depths.orchestrator_visible + depths.orchestrator_delayed + depths.parked == 0);
  }
};

void require_client_error(const std::function<void()>& call, ClientError::Kind kind,
                          const std::string& fragment) {
  try {
    call();
    FAIL("expected a ClientError containing: " << fragment);
  } catch (const ClientError& error) {
    INFO(error.what());
    CHECK(error.kind() == kind);
    CHECK(std::string(error.what()).find(fragment) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("start and wait for an orchestration", "[client]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("h", "HelloWorld", "Ada", "1.0.0");
  CHECK(host.client.get_status("h").state == RuntimeState::NotFound);  // not processed yet
  OrchestrationStatus status = host.client.wait_for_orchestration("h", 10'000, host.pacer);
  REQUIRE(status.state == RuntimeState::Completed);
  CHECK(status.output == "Hello, Ada!");
  require_client_error([&] { host.client.start_orchestration("h", "HelloWorld", "again"); },
                       ClientError::Kind::AlreadyExists, "instance h already exists");
}

TEST_CASE("invalid input is rejected with a clear message and writes nothing", "[client]") {
  ClientOptions options;
  options.max_payload_bytes = 16;
  PROVIDER_KIND(kind);
  Host host(kind, options);
  auto& client = host.client;
  using Kind = ClientError::Kind;
  require_client_error([&] { client.start_orchestration("", "HelloWorld", ""); },
                       Kind::InvalidInput, "the instance id must not be empty");
  require_client_error(
      [&] { client.start_orchestration(std::string(257, 'x'), "HelloWorld", ""); },
      Kind::InvalidInput, "the instance id is 257 bytes, over the limit of 256");
  require_client_error([&] { client.start_orchestration("a\nb", "HelloWorld", ""); },
                       Kind::InvalidInput, "must not contain control characters");
  require_client_error([&] { client.start_orchestration("a\xff", "HelloWorld", ""); },
                       Kind::InvalidInput, "the instance id is not valid UTF-8");
  require_client_error([&] { client.start_orchestration("a\n\xff", "HelloWorld", ""); },  // the first rule broken
                       Kind::InvalidInput, "the instance id is not valid UTF-8");
  require_client_error(
      [&] { client.start_orchestration("a", "HelloWorld", std::string(17, 'p')); },
      Kind::InvalidInput, "the input is 17 bytes, over the limit of 16");
  require_client_error([&] { client.start_orchestration("a", "HelloWorld", "x", "1.0"); },
                       Kind::InvalidInput, "is not MAJOR.MINOR.PATCH");
  require_client_error([&] { client.start_orchestration("a", "", "x"); }, Kind::InvalidInput,
                       "the orchestration name must not be empty");
  require_client_error([&] { client.raise_event("a", "Approve", "d"); }, Kind::NotFound,
                       "instance a does not exist");
  require_client_error([&] { client.cancel_instance("a", "r"); }, Kind::NotFound,
                       "does not exist");
  host.require_untouched();
  CHECK(client.get_status("nobody").state == RuntimeState::NotFound);
}

TEST_CASE("raise an event to a waiting instance", "[client]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("a", "Approval", R"({"timeout_ms":60000})");
  host.driver.run_until_idle();
  host.client.raise_event("a", "Approve", "ok");
  OrchestrationStatus status = host.client.wait_for_orchestration("a", 1'000, host.pacer);
  CHECK(status.output == "approved:ok");
}

TEST_CASE("enqueue events into an instance's queue", "[client]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("m", "Mailbox", R"({"messages":2})");
  host.driver.run_until_idle();
  host.client.enqueue_event("m", "inbox", "one");
  host.client.enqueue_event("m", "inbox", "two");
  CHECK(host.client.wait_for_orchestration("m", 1'000, host.pacer).output == "one,two");
}

TEST_CASE("cancel an instance and its running children", "[client][cancel]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("p", "WaitingParent", "");
  host.driver.run_until_idle();
  REQUIRE(host.client.get_status("p::sub::1").state == RuntimeState::Running);
  CHECK(host.client.cancel_instance("p", "operator"));
  OrchestrationStatus parent = host.client.wait_for_orchestration("p", 1'000, host.pacer);
  REQUIRE(parent.state == RuntimeState::Failed);
  CHECK(parent.error->display_message() == "canceled: operator");
  host.driver.run_until_idle();
  OrchestrationStatus child = host.client.get_status("p::sub::1");
  REQUIRE(child.state == RuntimeState::Failed);
  CHECK(child.error->display_message() == "canceled: operator");
  CHECK_FALSE(host.client.cancel_instance("p", "again"));  // already finished: nothing sent
}

TEST_CASE("waiting times out with the last status; status changes can be awaited",
          "[client]") {
  PROVIDER_KIND(kind);
  ClientOptions options;
  options.poll_interval_ms = 1'000;  // an hour of virtual waiting in 3,600 polls, not 72,000
  Host host(kind, options);
  host.client.start_orchestration("l", "LongTimer", "");
  auto changed = host.client.wait_for_status_change("l", 0, 1'000, host.pacer);
  REQUIRE(changed.has_value());
  CHECK(changed->status == std::optional<std::string>("waiting"));
  CHECK(changed->version == 1);
  CHECK_FALSE(host.client.wait_for_status_change("l", 1, 1'000, host.pacer).has_value());

  TimestampMs before = host.clock.now_ms();
  OrchestrationStatus running = host.client.wait_for_orchestration("l", 60'000, host.pacer);
  CHECK(running.state == RuntimeState::Running);
  CHECK(host.clock.now_ms() - before >= 60'000);
  CHECK(running.custom_status == std::optional<std::string>("waiting"));
  OrchestrationStatus done = host.client.wait_for_orchestration("l", 3'600'000, host.pacer);
  CHECK(done.output == "done");
  // It ended without another status: a wait for a change ends with it, not at its timeout.
  before = host.clock.now_ms();
  auto ended = host.client.wait_for_status_change("l", done.custom_status_version, 3'600'000, host.pacer);
  REQUIRE(ended.has_value());
  CHECK(ended->version == done.custom_status_version);
  CHECK(ended->status == done.custom_status);
  CHECK(host.clock.now_ms() == before);
}

TEST_CASE("a wait with a timeout past the clock's range waits, it does not wrap into the past", "[client]") {
  Host host("sqlite-memory");
  host.client.start_orchestration("w", "CountedWait", "");
  host.driver.run_until_idle();
  // Raises the event the instance waits for at the wait's third poll.
  struct RaisingPacer final : Pacer {
    Host& host;
    int waits = 0;
    explicit RaisingPacer(Host& h) : host(h) {}
    TimestampMs now_ms() override { return host.pacer.now_ms(); }
    void wait(std::int64_t ms) override {
      if (++waits == 3) host.client.raise_event("w", "Go", "now");
      host.pacer.wait(ms);
    }
  } pacer(host);
  const std::int64_t for_ever = std::numeric_limits<std::int64_t>::max();
  const OrchestrationStatus status = host.client.wait_for_orchestration("w", for_ever, pacer);
  CHECK(status.state == RuntimeState::Completed);
  CHECK(status.output == "now");
  CHECK(pacer.waits >= 3);
}

TEST_CASE("a client whose poll interval is under 1 ms is refused (a paced wait would not reach its deadline)",
          "[client]") {
  Host host("sqlite-memory");
  for (const std::int64_t interval : {std::int64_t{0}, std::int64_t{-5}}) {
    ClientOptions options;
    options.poll_interval_ms = interval;
    require_client_error([&] { RuntimeClient client(host.store, host.admin, options); },
                         ClientError::Kind::InvalidInput, "poll_interval_ms must be at least 1 ms");
  }
  ClientOptions options;
  options.poll_interval_ms = 1;
  RuntimeClient client(host.store, host.admin, options);
  host.client.start_orchestration("waits", "LongTimer", "");
  const TimestampMs before = host.clock.now_ms();
  CHECK(client.wait_for_orchestration("waits", 20, host.pacer).state == RuntimeState::Running);
  CHECK(host.clock.now_ms() - before >= 20);
}

TEST_CASE("a wait on an instance that never lets the runtime go idle still ends at its deadline",
          "[client]") {
  // Counter continues as new until its limit: a limit of 10^12 keeps the runtime busy for
  // good. Virtual time used to move only when the runtime was idle, so this wait never
  // returned; now a runtime still busy after StepPacer::kMaxStepsPerWait steps lets time pass.
  Host host("sqlite-memory");
  host.client.start_orchestration("busy", "Counter", R"({"count":0,"limit":1000000000000})");
  const TimestampMs before = host.clock.now_ms();
  const OrchestrationStatus status = host.client.wait_for_orchestration("busy", 200, host.pacer);
  CHECK(status.state == RuntimeState::Running);
  CHECK(host.clock.now_ms() - before >= 200);
  CHECK(host.client.wait_for_instances({"busy"}, 100, host.pacer).front().second.state == RuntimeState::Running);
}

TEST_CASE("a second start of an existing or queued instance is refused at once", "[client][start]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("d", "HelloWorld", "first");
  require_client_error([&] { host.client.start_orchestration("d", "HelloWorld", "second"); },
                       ClientError::Kind::AlreadyExists, "instance d already exists");
  CHECK(host.admin.get_queue_depths().orchestrator_visible == 1);
  CHECK(host.client.wait_for_orchestration("d", 1'000, host.pacer).output == "Hi, first!");
  require_client_error([&] { host.client.start_orchestration("d", "HelloWorld", "third"); },
                       ClientError::Kind::AlreadyExists, "instance d already exists");
}

TEST_CASE("events and a cancel sent between a start and its first turn take effect in that turn",
          "[client][start]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("a", "Approval", R"({"timeout_ms":60000})");
  host.client.raise_event("a", "Approve", "early");
  host.client.start_orchestration("m", "Mailbox", R"({"messages":2})");
  host.client.enqueue_event("m", "inbox", "one");
  host.client.enqueue_event("m", "inbox", "two");
  CHECK(host.client.wait_for_orchestration("a", 1'000, host.pacer).output == "approved:early");
  CHECK(host.client.wait_for_orchestration("m", 1'000, host.pacer).output == "one,two");
  require_client_error([&] { host.client.raise_event("nobody", "Approve", ""); },
                       ClientError::Kind::NotFound, "instance nobody does not exist");
}

TEST_CASE("a cancel before the first turn ends the instance without running its code",
          "[client][start][cancel]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  counted_runs = 0;
  host.client.start_orchestration("c", "CountedWait", "");
  CHECK(host.client.cancel_instance("c", "operator"));
  OrchestrationStatus status = host.client.wait_for_orchestration("c", 1'000, host.pacer);
  REQUIRE(status.state == RuntimeState::Failed);
  CHECK(status.error->display_message() == "canceled: operator");
  CHECK(counted_runs == 0);
  History history = host.store.read("c");
  REQUIRE(history.size() == 3);
  CHECK(history[1].is<events::OrchestrationCancelRequested>());
  CHECK(history[2].is<events::OrchestrationFailed>());
  ReplayReport replayed = replay_history(host.registry, "c", 1, history);
  CHECK(replayed.deterministic);
  CHECK(counted_runs == 0);
  CHECK_FALSE(host.client.cancel_instance("c", "again"));  // finished: false, nothing sent
  require_client_error([&] { host.client.cancel_instance("nobody", "x"); },
                       ClientError::Kind::NotFound, "instance nobody does not exist");
}

TEST_CASE("a client given the registry refuses an unregistered name at once", "[client][start]") {
  PROVIDER_KIND(kind);
  Registry known = make_registry();
  ClientOptions options;
  options.registry = &known;
  Host host(kind, options);
  require_client_error([&] { host.client.start_orchestration("x", "NoSuchOrchestration", ""); },
                       ClientError::Kind::NotFound,
                       "orchestration NoSuchOrchestration is not registered; registered orchestrations: ");
  require_client_error([&] { host.client.start_orchestration("x", "NoSuchOrchestration", ""); },
                       ClientError::Kind::NotFound, "HelloWorld");
  require_client_error([&] { host.client.start_orchestration("x", "HelloWorld", "", "9.0.0"); },
                       ClientError::Kind::NotFound, "orchestration HelloWorld 9.0.0 is not registered");
  host.require_untouched();
  host.client.start_orchestration("h", "HelloWorld", "Ada", "1.0.0");
  CHECK(host.client.wait_for_orchestration("h", 1'000, host.pacer).output == "Hello, Ada!");
}
