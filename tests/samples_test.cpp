// The sample catalog (docs/samples.md) run end to end through the engine.
#include "duroxide/samples.hpp"
#include "replay_support.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

struct Run {
  Registry registry;
  MiniRuntime runtime{registry};
  Run() { samples::register_all(registry); }

  MiniRuntime::Instance& finish(const std::string& id, const std::string& name,
                                const std::string& input, const std::string& version = {}) {
    runtime.start(id, name, input, version);
    runtime.run();
    require_replays(registry, runtime, id);
    return runtime.instance(id);
  }
};

void require_completed(const MiniRuntime::Instance& inst, const std::string& output) {
  INFO(inst.outcome.error.display_message());
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(inst.outcome.output == output);
}

void require_failed(const MiniRuntime::Instance& inst, const std::string& message) {
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(inst.outcome.error.display_message() == message);
}

}  // namespace

TEST_CASE("HelloWorld greets, and version 2.0.0 is the default for new instances",
          "[samples]") {
  Run run;
  require_completed(run.finish("h1", "HelloWorld", "Ada", "1.0.0"), "Hello, Ada!");
  require_completed(run.finish("h2", "HelloWorld", "Ada"), "Hi, Ada!");
}

TEST_CASE("FanOutFanIn greets in parallel and keeps input order", "[samples]") {
  Run run;
  auto& inst = run.finish("f", "FanOutFanIn", R"(["a","b","c"])");
  require_completed(inst, R"(["Hello, a!","Hello, b!","Hello, c!"])");
  CHECK(run.runtime.turns.front().worker_items.size() == 3);  // all scheduled in one turn
}

TEST_CASE("Chain runs N sequential AddOne activities", "[samples]") {
  Run run;
  require_completed(run.finish("c", "Chain", R"({"steps":5,"value":10})"), "15");
  CHECK(run.runtime.executed.size() == 5);
  require_failed(run.finish("bad", "Chain", R"({"steps":1001,"value":0})"),
                 "Chain: steps must be 0 to 1000");
  require_failed(run.finish("bad2", "Chain", "not json"),
                 R"(Chain: input is not JSON (expected {"steps":N,"value":V}))");
}

TEST_CASE("AddOne refuses to overflow a 64-bit integer", "[samples]") {
  Registry registry;
  samples::register_all(registry);
  const ActivityFn* add_one = registry.find_activity("AddOne");
  REQUIRE(add_one != nullptr);
  ActivityContext context{"i", 1, 2, "AddOne", nullptr};
  CHECK((*add_one)(context, "9223372036854775806") == "9223372036854775807");
  CHECK_THROWS_WITH((*add_one)(context, "9223372036854775807"),
                    "AddOne: 9223372036854775807 + 1 overflows a 64-bit integer");
  CHECK_THROWS_WITH((*add_one)(context, "x"), "AddOne: \"x\" is not an integer");
}

TEST_CASE("Approval: the event or the timer, whichever comes first", "[samples]") {
  Run run;
  require_completed(run.finish("t", "Approval", R"({"timeout_ms":50})"), "timeout");

  run.runtime.start("a", "Approval", R"({"timeout_ms":60000})");
  run.runtime.run(/*advance_timers=*/false);
  run.runtime.send(work::ExternalRaised{"a", "Approve", "yes"});
  run.runtime.run(false);
  require_completed(run.runtime.instance("a"), "approved:yes");
}

TEST_CASE("Counter continues as new until the limit: L-C+1 executions", "[samples]") {
  Run run;
  auto& inst = run.finish("n", "Counter", R"({"count":0,"limit":3})");
  require_completed(inst, "3");
  CHECK(inst.execution == 4);
}

TEST_CASE("Parent runs one HelloWorld child per name", "[samples]") {
  Run run;
  auto& inst = run.finish("p", "Parent", R"(["a","b"])");
  require_completed(inst, R"(["Hi, a!","Hi, b!"])");
  CHECK(run.runtime.has("p::sub::1"));
  CHECK(run.runtime.has("p::sub::2"));
}

TEST_CASE("RetryFlaky succeeds after K failures or fails with the last attempt", "[samples]") {
  Run run;
  require_completed(run.finish("r1", "RetryFlaky", R"({"fail_times":2,"max_attempts":3})"),
                    "ok after 2 failures");
  require_failed(run.finish("r2", "RetryFlaky", R"({"fail_times":3,"max_attempts":3})"),
                 "flaky failure 3");
  CHECK(timer_delays(run.runtime.instance("r1").history) == std::vector<std::int64_t>{10, 10});
}

TEST_CASE("Saga commits or compensates", "[samples]") {
  Run run;
  require_completed(run.finish("s1", "Saga", R"({"amount":10,"fail_credit":false})"),
                    "committed");
  require_completed(run.finish("s2", "Saga", R"({"amount":10,"fail_credit":true})"),
                    "compensated");
  CHECK(run.runtime.executed.back() == "Refund(10)");
}

TEST_CASE("Mailbox dequeues N messages in order, buffered before it waits", "[samples]") {
  Run run;
  run.runtime.send(work::QueueMessage{"m", "inbox", "first"});
  run.runtime.start("m", "Mailbox", R"({"messages":3})");
  run.runtime.run(false);
  run.runtime.send(work::QueueMessage{"m", "inbox", "second"});
  run.runtime.send(work::QueueMessage{"m", "inbox", "third"});
  run.runtime.run(false);
  require_completed(run.runtime.instance("m"), "first,second,third");
}

TEST_CASE("LongTimer waits an hour with custom status 'waiting'", "[samples]") {
  Run run;
  run.runtime.start("l", "LongTimer", "");
  run.runtime.run(false);
  auto& inst = run.runtime.instance("l");
  CHECK(inst.outcome.kind == TurnOutcomeKind::Running);
  CHECK(inst.custom_status == std::optional<std::string>("waiting"));
  run.runtime.advance(3'600'000);
  run.runtime.run(false);
  require_completed(inst, "done");
}

TEST_CASE("Fails fails with the activity's message", "[samples]") {
  Run run;
  require_failed(run.finish("x", "Fails", "boom"), "boom");
}

TEST_CASE("the catalog lists every registered sample with a working example", "[samples]") {
  Registry registry;
  samples::register_all(registry);
  CHECK(registry.orchestration_names().size() == samples::catalog().size());
  for (const auto& sample : samples::catalog()) {
    CHECK_FALSE(registry.orchestration_versions(sample.name).empty());
  }
  CHECK(registry.orchestration_versions("HelloWorld") ==
        std::vector<std::string>{"1.0.0", "2.0.0"});
}
