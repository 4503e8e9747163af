// Continue-as-new, sub-orchestrations, cancellation, queues, custom status,
// determinism helpers, versioning and detached starts.
#include <stdexcept>

#include "replay_support.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

Registry base_registry() {
  Registry registry;
  registry.register_activity("Hello", [](ActivityContext&, const std::string& name) {
    return "Hello, " + name + "!";
  });
  registry.register_activity("AddOne", [](ActivityContext&, const std::string& n) {
    return std::to_string(std::stoll(n) + 1);
  });
  registry.register_activity("Fail", [](ActivityContext&, const std::string& in) -> std::string {
    throw std::runtime_error(in);
  });
  registry.register_orchestration("HelloWorld", [](OrchestrationContext& ctx,
                                                   std::string name) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Hello", name);
  });
  registry.register_orchestration("HelloWorld", "2.0.0", [](OrchestrationContext&,
                                                            std::string name) -> Task<std::string> {
    co_return "Hi, " + name + "!";
  });
  return registry;
}

}  // namespace

TEST_CASE("continue-as-new ends the execution and starts the next with the new input",
          "[replay][continue_as_new]") {
  Registry registry = base_registry();
  // Counter: count up to the limit (input "count,limit"), one execution per step.
  registry.register_orchestration("Counter", [](OrchestrationContext& ctx,
                                                std::string input) -> Task<std::string> {
    auto comma = input.find(',');
    int count = std::stoi(input.substr(0, comma));
    int limit = std::stoi(input.substr(comma + 1));
    if (count >= limit) co_return std::to_string(limit);
    std::string next = co_await ctx.schedule_activity("AddOne", std::to_string(count));
    co_await ctx.continue_as_new(next + "," + std::to_string(limit));
    co_return "unreachable";
  });

  SECTION("one turn: outcome, terminal event and the next-execution work item") {
    History history = appended({}, turn(registry, {}, {start("Counter", "0,3")}));
    TurnResult result = turn(registry, history, {work::ActivityCompleted{"inst", 1, 2, "1"}});
    REQUIRE(result.outcome.kind == TurnOutcomeKind::ContinuedAsNew);
    CHECK(result.outcome.next_input == "1,3");
    CHECK(result.outcome.next_version.empty());  // the policy picks the next execution's version
    const auto& terminal = *result.new_events.back().as<events::OrchestrationContinuedAsNew>();
    CHECK(terminal.input == "1,3");
    REQUIRE(result.orchestrator_items.size() == 1);
    const auto& next = std::get<work::ContinueAsNew>(result.orchestrator_items[0].item);
    CHECK(next.instance == "inst");
    CHECK(next.orchestration == "Counter");
    CHECK(next.input == "1,3");
    // The next execution starts from the ContinueAsNew message with an empty history.
    TurnResult second = turn(registry, {}, {next}, kT0 + 2000, "inst", 2);
    const auto& started = *second.new_events.front().as<events::OrchestrationStarted>();
    CHECK(started.input == "1,3");
    CHECK(started.version == "1.0.0");
    REQUIRE(second.worker_items.size() == 1);
    CHECK(std::get<work::ActivityExecute>(second.worker_items[0]).execution_id == 2);
  }
  SECTION("end to end: L-C+1 executions") {
    MiniRuntime runtime(registry);
    runtime.start("c", "Counter", "0,3");
    runtime.run();
    auto& inst = runtime.instance("c");
    REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
    CHECK(inst.outcome.output == "3");
    CHECK(inst.execution == 4);
    CHECK(inst.past_executions.size() == 3);
    require_replays(registry, runtime, "c");
  }
  SECTION("a completion for the previous execution is stale") {
    History history = appended({}, turn(registry, {}, {start("Counter", "1,3")}, kT0, "inst", 2));
    TurnResult result =
        turn(registry, history, {work::ActivityCompleted{"inst", 1, 2, "9"}}, kT0, "inst", 2);
    CHECK(result.new_events.empty());
    REQUIRE(result.dropped.size() == 1);
  }
}

TEST_CASE("sub-orchestrations", "[replay][sub_orchestration]") {
  Registry registry = base_registry();
  registry.register_orchestration("Parent", [](OrchestrationContext& ctx,
                                               std::string) -> Task<std::string> {
    auto a = ctx.schedule_sub_orchestration("HelloWorld", "a", {{}, "1.0.0"});
    auto b = ctx.schedule_sub_orchestration("HelloWorld", "b", {{}, "1.0.0"});
    auto results = co_await ctx.join(std::move(a), std::move(b));
    co_return results[0].get() + "|" + results[1].get();
  });
  registry.register_orchestration("Child", [](OrchestrationContext& ctx,
                                              std::string text) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Fail", text);
  });
  registry.register_orchestration("ParentOfFailing", [](OrchestrationContext& ctx,
                                                        std::string) -> Task<std::string> {
    try {
      // Braced options inside a co_await in a try block: see SubOrchestrationOptions.
      co_await ctx.schedule_sub_orchestration("Child", "child broke", {"explicit-child", ""});
    } catch (const TaskFailed& failed) {
      co_return "caught: " + failed.details().display_message();
    }
    co_return "no failure";
  });

  SECTION("generated ids, start items with the parent link, and outputs in order") {
    TurnResult first = turn(registry, {}, {start("Parent", "", "p")}, kT0, "p");
    REQUIRE(first.orchestrator_items.size() == 2);
    const auto& child = std::get<work::StartOrchestration>(first.orchestrator_items[0].item);
    CHECK(child.instance == "p::sub::1");
    CHECK(child.parent_instance == "p");
    CHECK(child.parent_id == 2);
    CHECK(child.version == "1.0.0");
    CHECK(std::get<work::StartOrchestration>(first.orchestrator_items[1].item).instance ==
          "p::sub::2");

    MiniRuntime runtime(registry);
    runtime.start("p", "Parent", "");
    runtime.run();
    REQUIRE(runtime.instance("p").outcome.kind == TurnOutcomeKind::Completed);
    CHECK(runtime.instance("p").outcome.output == "Hello, a!|Hello, b!");
    CHECK(runtime.instance("p::sub::1").outcome.output == "Hello, a!");
    const auto& started =
        *runtime.instance("p::sub::2").history.front().as<events::OrchestrationStarted>();
    CHECK(started.parent_instance == "p");
    CHECK(started.parent_id == 3);
    require_replays(registry, runtime, "p");
    require_replays(registry, runtime, "p::sub::1");
  }
  SECTION("a failed child surfaces as TaskFailed in the parent") {
    MiniRuntime runtime(registry);
    runtime.start("p", "ParentOfFailing", "");
    runtime.run();
    REQUIRE(runtime.instance("explicit-child").outcome.kind == TurnOutcomeKind::Failed);
    REQUIRE(runtime.instance("p").outcome.kind == TurnOutcomeKind::Completed);
    CHECK(runtime.instance("p").outcome.output == "caught: child broke");
    CHECK(runtime.instance("p").history[2].is<events::SubOrchestrationFailed>());
    require_replays(registry, runtime, "p");
  }
  SECTION("a result naming a different child instance is dropped") {
    History history = appended({}, turn(registry, {}, {start("Parent", "", "p")}, kT0, "p"));
    TurnResult result = turn(registry, history,
                             {work::SubOrchestrationCompleted{"p", 2, "someone-else", "x"}},
                             kT0, "p");
    CHECK(result.new_events.empty());
    REQUIRE(result.dropped.size() == 1);
  }
}

TEST_CASE("cancellation cancels outstanding work and fails with the reason", "[replay][cancel]") {
  Registry registry = base_registry();
  registry.register_orchestration("Busy", [](OrchestrationContext& ctx,
                                             std::string) -> Task<std::string> {
    auto activity = ctx.schedule_activity("Hello", "x");
    auto child = ctx.schedule_sub_orchestration("HelloWorld", "y");
    auto timer = ctx.schedule_timer(60'000);
    co_await ctx.join(std::move(activity), std::move(child), std::move(timer));
    co_return "finished";
  });
  History history = appended({}, turn(registry, {}, {start("Busy", "", "b")}, kT0, "b"));
  TurnResult result =
      turn(registry, history, {work::CancelInstance{"b", "user asked"}}, kT0 + 10, "b");
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(result.outcome.error.kind == ErrorKind::Cancelled);
  CHECK(result.outcome.error.display_message() == "canceled: user asked");
  REQUIRE(kinds(result.new_events) ==
          std::vector<EventKind>{EventKind::OrchestrationCancelRequested,
                                 EventKind::ActivityCancelRequested,
                                 EventKind::SubOrchestrationCancelRequested,
                                 EventKind::OrchestrationFailed});
  REQUIRE(result.cancelled_activities.size() == 1);
  CHECK(result.cancelled_activities[0].activity_id == 2);
  REQUIRE(result.orchestrator_items.size() == 1);
  const auto& cascade = std::get<work::CancelInstance>(result.orchestrator_items[0].item);
  CHECK(cascade.instance == "b::sub::1");
  CHECK(cascade.reason == "user asked");
  History full = appended(history, result);
  CHECK(replay_history(registry, "b", 1, full).deterministic);
  // A second cancel after the end changes nothing.
  TurnResult again = turn(registry, full, {work::CancelInstance{"b", "twice"}}, kT0 + 20, "b");
  CHECK(again.new_events.empty());
  CHECK(again.history_was_terminal);
  CHECK(again.dropped.size() == 1);
}

TEST_CASE("cancellation cancels many outstanding activities in the order they were scheduled",
          "[replay][cancel]") {
  // The engine keeps its operations in a hash map; the cancel requests are commands,
  // so replay must issue them in one fixed order: schedule order.
  Registry registry = base_registry();
  registry.register_orchestration("Wide", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    std::vector<DurableFuture> work;
    for (int i = 0; i < 40; ++i) work.push_back(ctx.schedule_activity("Hello", std::to_string(i)));
    co_await ctx.join(std::move(work));
    co_return "finished";
  });
  History history = appended({}, turn(registry, {}, {start("Wide", "", "w")}, kT0, "w"));
  TurnResult result = turn(registry, history, {work::CancelInstance{"w", "stop"}}, kT0 + 10, "w");
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
  REQUIRE(result.cancelled_activities.size() == 40);
  std::vector<EventId> sources;
  for (const Event& event : result.new_events) {
    if (event.is<events::ActivityCancelRequested>()) sources.push_back(event.source_event_id);
  }
  REQUIRE(sources.size() == 40);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    CHECK(sources[i] == static_cast<EventId>(i + 2));  // the activities are events 2..41
    CHECK(result.cancelled_activities[i].activity_id == sources[i]);
  }
  CHECK(replay_history(registry, "w", 1, appended(history, result)).deterministic);
}

TEST_CASE("a sub-orchestration reports cancellation to its parent", "[replay][cancel]") {
  Registry registry = base_registry();
  registry.register_orchestration("Waits", [](OrchestrationContext& ctx,
                                              std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_wait("never");
  });
  TurnInput input{"child", 1, {}, {work::StartOrchestration{"child", "Waits", "", "", "parent", 7, {}}},
                  kT0};
  History history = appended({}, run_turn(registry, input));
  TurnResult result = turn(registry, history, {work::CancelInstance{"child", "parent canceled"}},
                           kT0 + 1, "child");
  REQUIRE(result.orchestrator_items.size() == 1);
  const auto& notice = std::get<work::SubOrchestrationFailed>(result.orchestrator_items[0].item);
  CHECK(notice.parent_instance == "parent");
  CHECK(notice.parent_id == 7);
  CHECK(notice.child_instance == "child");
  CHECK(notice.details.display_message() == "canceled: parent canceled");
}

TEST_CASE("external events match waits by position", "[replay][external]") {
  Registry registry;
  registry.register_orchestration("TwoWaits", [](OrchestrationContext& ctx,
                                                 std::string) -> Task<std::string> {
    std::string first = co_await ctx.schedule_wait("Go");
    std::string second = co_await ctx.schedule_wait("Go");
    co_return first + "+" + second;
  });
  TurnResult result = turn(registry, {},
                           {start("TwoWaits", ""), work::ExternalRaised{"inst", "Other", "z"},
                            work::ExternalRaised{"inst", "Go", "1"},
                            work::ExternalRaised{"inst", "Go", "2"}});
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(result.outcome.output == "1+2");
  CHECK(replay_history(registry, "inst", 1, appended({}, result)).deterministic);
}

TEST_CASE("queues are FIFO, buffered, and a cancelled dequeue loses nothing",
          "[replay][queue]") {
  Registry registry;
  registry.register_orchestration("Mailbox", [](OrchestrationContext& ctx,
                                                std::string n) -> Task<std::string> {
    std::string out;
    for (int i = 0; i < std::stoi(n); ++i) {
      out += (i ? "," : "") + co_await ctx.dequeue_event("inbox");
    }
    co_return out;
  });
  registry.register_orchestration("Impatient", [](OrchestrationContext& ctx,
                                                   std::string) -> Task<std::string> {
    auto first = co_await ctx.select(ctx.dequeue_event("inbox"), ctx.schedule_timer(10));
    std::string got = co_await ctx.dequeue_event("inbox");
    co_return std::to_string(first.index) + ":" + got;
  });

  SECTION("messages before the dequeue are buffered in order") {
    TurnResult result = turn(registry, {},
                             {work::QueueMessage{"inst", "inbox", "m1"},
                              work::QueueMessage{"inst", "inbox", "m2"}, start("Mailbox", "3"),
                              work::QueueMessage{"inst", "other", "x"},
                              work::QueueMessage{"inst", "inbox", "m3"}});
    REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
    CHECK(result.outcome.output == "m1,m2,m3");
    CHECK(replay_history(registry, "inst", 1, appended({}, result)).deterministic);
  }
  SECTION("a dequeue that lost a select does not take the next message") {
    History history = appended({}, turn(registry, {}, {start("Impatient", "")}, kT0));
    TurnResult fired = turn(registry, history, {work::TimerFired{"inst", 1, 3, kT0 + 10}}, kT0 + 10);
    history = appended(history, fired);
    TurnResult result =
        turn(registry, history, {work::QueueMessage{"inst", "inbox", "kept"}}, kT0 + 20);
    REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
    CHECK(result.outcome.output == "1:kept");
  }
}

TEST_CASE("custom status, guids, time and replay-safe logs are deterministic",
          "[replay][determinism]") {
  Registry registry;
  registry.register_orchestration("Status", [](OrchestrationContext& ctx,
                                               std::string) -> Task<std::string> {
    ctx.log_info(std::string("start replaying=") + (ctx.is_replaying() ? "yes" : "no"));
    ctx.set_custom_status("waiting");
    std::string guid = ctx.new_guid();
    TimestampMs before = ctx.utc_now_ms();
    co_await ctx.schedule_timer(100);
    TimestampMs after = ctx.utc_now_ms();
    ctx.clear_custom_status();
    ctx.log_info("after timer");
    co_return guid + " " + std::to_string(before) + " " + std::to_string(after) + " " +
        (ctx.custom_status() ? "set" : "cleared");
  });
  TurnResult first = turn(registry, {}, {start("Status", "")}, kT0);
  REQUIRE(first.custom_status == std::optional<std::string>("waiting"));
  CHECK(first.custom_status_changed);
  REQUIRE(first.logs.size() == 1);
  CHECK(first.logs[0].message == "start replaying=no");
  CHECK_FALSE(first.logs[0].replaying);
  History history = appended({}, first);

  TurnResult second =
      turn(registry, history, {work::TimerFired{"inst", 1, 3, kT0 + 100}}, kT0 + 500);
  REQUIRE(second.outcome.kind == TurnOutcomeKind::Completed);
  CHECK_FALSE(second.custom_status.has_value());
  CHECK(second.custom_status_changed);
  REQUIRE(second.logs.size() == 2);
  CHECK(second.logs[0].replaying);  // the first line again, marked as a replay
  CHECK(second.logs[0].message == "start replaying=yes");
  CHECK_FALSE(second.logs[1].replaying);
  // utc_now is the timestamp of the latest delivered event: start, then the timer's arrival.
  std::string output = second.outcome.output;
  CHECK(output.find(" " + std::to_string(kT0) + " " + std::to_string(kT0 + 500) + " cleared") !=
        std::string::npos);
  // The guid is the same when the same history is replayed, and differs per instance.
  std::string guid = output.substr(0, 36);
  CHECK(guid.size() == 36);
  CHECK(guid[14] == '5');
  History full = appended(history, second);
  ReplayReport report = replay_history(registry, "inst", 1, full);
  REQUIRE(report.deterministic);
  CHECK(report.outcome.output == output);
  TurnResult other = turn(registry, {}, {start("Status", "", "other")}, kT0, "other");
  History other_history = appended({}, other);
  TurnResult other_done = turn(registry, other_history,
                               {work::TimerFired{"other", 1, 3, kT0 + 100}}, kT0 + 500, "other");
  CHECK(other_done.outcome.output.substr(0, 36) != guid);
}

TEST_CASE("new_guid draws other values when an instance id is started again; a history without a seed keeps its own",
          "[replay][determinism]") {
  Registry registry;
  registry.register_orchestration("Guids", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    const std::string first = ctx.new_guid();
    co_return first + "," + ctx.new_guid();
  });
  auto run_start = [&registry](const std::string& token) {
    TurnInput input{"inst", 1, {}, {start("Guids", "")}, kT0};
    input.start_token = token;
    return run_turn(registry, input);
  };
  const TurnResult first = run_start("lock-token-1");
  const TurnResult again = run_start("lock-token-2");  // the same id, deleted and started again
  REQUIRE(first.outcome.kind == TurnOutcomeKind::Completed);
  REQUIRE(again.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(first.outcome.output != again.outcome.output);
  CHECK(first.outcome.output.substr(0, 36) != first.outcome.output.substr(37));  // two calls, two values
  // The start records a seed, not the token; replay reads the seed back and draws the same values.
  const auto* started = first.new_events.front().as<events::OrchestrationStarted>();
  REQUIRE(started);
  CHECK(started->guid_seed.size() == 16);
  CHECK(started->guid_seed.find("lock-token") == std::string::npos);
  for (const TurnResult* run : {&first, &again}) {
    const ReplayReport report = replay_history(registry, "inst", 1, run->new_events);
    CHECK(report.deterministic);
    CHECK(report.outcome.output == run->outcome.output);
  }
  // A history written before seeds existed draws what it drew then: these two values are
  // the ones every earlier build gave instance "inst", execution 1.
  const TurnResult unseeded = run_start("");
  CHECK(unseeded.new_events.front().as<events::OrchestrationStarted>()->guid_seed.empty());
  CHECK(unseeded.outcome.output == "2e4f7e19-f6e9-5182-8d7a-02652376eb29,e3a22b3e-c0cc-5870-8525-5ad7598dcd54");
}

TEST_CASE("versioned registry: latest for new instances, recorded version on replay",
          "[replay][versioning]") {
  Registry registry = base_registry();
  TurnResult latest = turn(registry, {}, {start("HelloWorld", "Ada")});
  CHECK(latest.outcome.output == "Hi, Ada!");
  CHECK(latest.orchestration_version == "2.0.0");

  TurnResult pinned = turn(registry, {}, {start("HelloWorld", "Ada", "inst", "1.0.0")});
  CHECK(pinned.orchestration_version == "1.0.0");
  History history = appended({}, pinned);
  TurnResult done = turn(registry, history, {work::ActivityCompleted{"inst", 1, 2, "Hello, Ada!"}});
  CHECK(done.outcome.output == "Hello, Ada!");  // replays 1.0.0 although 2.0.0 is latest

  registry.set_version_policy("HelloWorld", VersionPolicy::Exact, "1.0.0");
  CHECK(turn(registry, {}, {start("HelloWorld", "Ada")}).orchestration_version == "1.0.0");

  TurnResult missing = turn(registry, {}, {start("HelloWorld", "Ada", "inst", "3.0.0")});
  REQUIRE(missing.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(missing.outcome.error.kind == ErrorKind::UnregisteredOrchestration);
  CHECK(missing.outcome.error.display_message() == "unregistered orchestration: HelloWorld 3.0.0");
  TurnResult unknown = turn(registry, {}, {start("Nope", "")});
  CHECK(unknown.outcome.error.category() == ErrorCategory::Configuration);
}

TEST_CASE("continue-as-new without a version takes the latest; with one, that one", "[replay][versioning]") {
  Registry registry;
  registry.register_orchestration("Loop", "1.0.0", [](OrchestrationContext& ctx, std::string input) -> Task<std::string> {
    if (input == "pinned") co_return "1.0.0:" + input;
    co_await ctx.continue_as_new(input == "pin" ? "pinned" : "next", input == "pin" ? "1.0.0" : "");
    co_return "unreachable";
  });
  registry.register_orchestration("Loop", "1.1.0", [](OrchestrationContext&, std::string input) -> Task<std::string> {
    co_return "1.1.0:" + input;
  });
  auto next_execution = [&](const std::string& input) {
    TurnResult first = turn(registry, {}, {start("Loop", input, "inst", "1.0.0")});
    REQUIRE(first.orchestration_version == "1.0.0");
    REQUIRE(first.outcome.kind == TurnOutcomeKind::ContinuedAsNew);
    REQUIRE(first.orchestrator_items.size() == 1);
    return turn(registry, {}, {first.orchestrator_items[0].item}, kT0 + 1000, "inst", 2);
  };
  // An upgrade deployed while an instance ran takes over at its next execution (upstream's rule).
  TurnResult upgraded = next_execution("go");
  CHECK(upgraded.orchestration_version == "1.1.0");
  CHECK(upgraded.outcome.output == "1.1.0:next");
  TurnResult pinned = next_execution("pin");
  CHECK(pinned.orchestration_version == "1.0.0");
  CHECK(pinned.outcome.output == "1.0.0:pinned");
  // The policy decides as for a new start: pinned to 1.0.0, the loop stays there.
  registry.set_version_policy("Loop", VersionPolicy::Exact, "1.0.0");
  CHECK(next_execution("go").orchestration_version == "1.0.0");
}

TEST_CASE("a replaced orchestration version runs its new code; a new registration of it is refused",
          "[replay][versioning]") {
  Registry registry = base_registry();
  TurnResult pinned = turn(registry, {}, {start("HelloWorld", "Ada", "inst", "1.0.0")});
  const History history = appended({}, pinned);
  CHECK_THROWS_WITH(registry.register_orchestration("HelloWorld", "1.0.0",
                                                    [](OrchestrationContext&, std::string) -> Task<std::string> {
                                                      co_return "";
                                                    }),
                    "orchestration HelloWorld 1.0.0 is already registered");

  // Code that issues the same commands: the instance goes on under it.
  registry.replace_orchestration("HelloWorld", "1.0.0",
                                 [](OrchestrationContext& ctx, std::string name) -> Task<std::string> {
                                   const std::string greeting = co_await ctx.schedule_activity("Hello", name);
                                   co_return greeting + " (edited)";
                                 });
  TurnResult done = turn(registry, history, {work::ActivityCompleted{"inst", 1, 2, "Hello, Ada!"}});
  CHECK(done.outcome.output == "Hello, Ada! (edited)");
  CHECK(replay_history(registry, "inst", 1, appended(history, done)).deterministic);

  // Code that issues another command: its replay of the old history names both.
  registry.replace_orchestration("HelloWorld", "1.0.0",
                                 [](OrchestrationContext& ctx, std::string name) -> Task<std::string> {
                                   co_return co_await ctx.schedule_activity("Greet", name);
                                 });
  const ReplayReport changed = replay_history(registry, "inst", 1, history);
  REQUIRE(changed.mismatch);
  CHECK(changed.mismatch->event_index == 1);
  CHECK(changed.mismatch->expected.find("Hello") != std::string::npos);
  CHECK(changed.mismatch->actual.find("Greet") != std::string::npos);

  // A version nobody registered yet: replace registers it, and it is the latest.
  registry.replace_orchestration("HelloWorld", "3.0.0",
                                 [](OrchestrationContext&, std::string) -> Task<std::string> { co_return "v3"; });
  CHECK(turn(registry, {}, {start("HelloWorld", "Ada")}).orchestration_version == "3.0.0");
  CHECK_THROWS_WITH(registry.replace_orchestration("HelloWorld", "3.0.0", {}), "orchestration HelloWorld: empty function");
}

TEST_CASE("detached orchestrations start independent roots", "[replay][detached]") {
  Registry registry = base_registry();
  registry.register_orchestration("Launcher", [](OrchestrationContext& ctx,
                                                 std::string) -> Task<std::string> {
    std::string generated = ctx.start_orchestration_detached("HelloWorld", "d1");
    std::string named = ctx.start_orchestration_detached("HelloWorld", "d2", {"fixed-id", ""});
    co_return generated + "," + named;
  });
  TurnResult result = turn(registry, {}, {start("Launcher", "", "l")}, kT0, "l");
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(result.outcome.output == "l::detached::1,fixed-id");
  REQUIRE(result.orchestrator_items.size() == 2);
  const auto& item = std::get<work::StartOrchestration>(result.orchestrator_items[1].item);
  CHECK(item.instance == "fixed-id");
  CHECK(item.parent_instance.empty());
  CHECK(kinds(result.new_events)[1] == EventKind::DetachedOrchestrationStarted);
  CHECK(replay_history(registry, "l", 1, appended({}, result)).deterministic);
}

TEST_CASE("composed tasks can race in a select and are cancelled when they lose",
          "[replay][select]") {
  Registry registry = base_registry();
  registry.register_orchestration("RetryRace", [](OrchestrationContext& ctx,
                                                  std::string) -> Task<std::string> {
    auto retried = ctx.spawn(ctx.schedule_activity_with_retry(
        "Hello", "x", RetryPolicy{3, RetryPolicy::Backoff::Fixed, 10, 0, 0}));
    auto winner = co_await ctx.select(std::move(retried), ctx.schedule_timer(5));
    co_return winner.index == 0 ? "activity" : "timer";
  });
  History history = appended({}, turn(registry, {}, {start("RetryRace", "")}, kT0));
  // A spawned task starts when the spawning coroutine next waits, so the timer
  // (created while building the select) is scheduled before the first attempt.
  REQUIRE(kinds(history) == std::vector<EventKind>{EventKind::OrchestrationStarted,
                                                   EventKind::TimerCreated,
                                                   EventKind::ActivityScheduled});
  TurnResult result = turn(registry, history, {work::TimerFired{"inst", 1, 2, kT0 + 5}}, kT0 + 5);
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(result.outcome.output == "timer");
  REQUIRE(result.cancelled_activities.size() == 1);  // the retry's in-flight attempt
  CHECK(result.cancelled_activities[0].activity_id == 3);
  CHECK(replay_history(registry, "inst", 1, appended(history, result)).deterministic);
}

TEST_CASE("limits on what orchestration code passes fail the orchestration clearly",
          "[replay][limits]") {
  Registry registry;
  registry.register_orchestration("Huge", [](OrchestrationContext& ctx,
                                             std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("A", std::string(limits::kMaxPayloadBytes + 1, 'x'));
  });
  registry.register_orchestration("EmptyName", [](OrchestrationContext& ctx,
                                                  std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("", "x");
  });
  TurnResult huge = turn(registry, {}, {start("Huge", "")});
  REQUIRE(huge.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(huge.outcome.error.display_message().find("over the limit") != std::string::npos);
  CHECK(huge.worker_items.empty());
  TurnResult empty = turn(registry, {}, {start("EmptyName", "")});
  CHECK(empty.outcome.error.display_message() == "an activity name must not be empty");
}

TEST_CASE("continue-as-new can move the next execution to another version",
          "[replay][continue_as_new][versioning]") {
  Registry registry = base_registry();
  registry.register_orchestration("Upgrader", [](OrchestrationContext& ctx,
                                                 std::string) -> Task<std::string> {
    co_await ctx.continue_as_new("next", "2.0.0");
    co_return "unreachable";
  });
  registry.register_orchestration("Upgrader", "2.0.0", [](OrchestrationContext& ctx,
                                                          std::string input) -> Task<std::string> {
    co_return ctx.orchestration_version() + ":" + input;
  });
  TurnResult first = turn(registry, {}, {start("Upgrader", "", "u", "1.0.0")}, kT0, "u");
  REQUIRE(first.outcome.kind == TurnOutcomeKind::ContinuedAsNew);
  CHECK(first.outcome.next_version == "2.0.0");
  const auto& next = std::get<work::ContinueAsNew>(first.orchestrator_items.at(0).item);
  CHECK(next.version == "2.0.0");
  TurnResult second = turn(registry, {}, {next}, kT0 + 1, "u", 2);
  CHECK(second.outcome.output == "2.0.0:next");
  CHECK(replay_history(registry, "u", 1, appended({}, first)).deterministic);
}

TEST_CASE("a sub-orchestration that loses a select is cancelled", "[replay][select][cancel]") {
  Registry registry = base_registry();
  registry.register_orchestration("Impatient", [](OrchestrationContext& ctx,
                                                  std::string) -> Task<std::string> {
    auto winner = co_await ctx.select(ctx.schedule_sub_orchestration("HelloWorld", "x"),
                                      ctx.schedule_timer(10));
    co_return winner.index == 0 ? "child" : "timer";
  });
  History history = appended({}, turn(registry, {}, {start("Impatient", "", "i")}, kT0, "i"));
  TurnResult result =
      turn(registry, history, {work::TimerFired{"i", 1, 3, kT0 + 10}}, kT0 + 10, "i");
  REQUIRE(result.outcome.output == "timer");
  REQUIRE(kinds(result.new_events) ==
          std::vector<EventKind>{EventKind::TimerFired,
                                 EventKind::SubOrchestrationCancelRequested,
                                 EventKind::OrchestrationCompleted});
  CHECK(result.new_events[1].source_event_id == 2);
  REQUIRE(result.orchestrator_items.size() == 1);
  const auto& cancel = std::get<work::CancelInstance>(result.orchestrator_items[0].item);
  CHECK(cancel.instance == "i::sub::1");
  CHECK(cancel.reason == "lost a select");
  // The child's late result is dropped.
  TurnResult late = turn(registry, appended(history, result),
                         {work::SubOrchestrationCompleted{"i", 2, "i::sub::1", "x"}}, kT0 + 20, "i");
  CHECK(late.new_events.empty());
}

TEST_CASE("an orchestration that throws fails with the exception's message", "[replay]") {
  Registry registry;
  registry.register_orchestration("Throws", [](OrchestrationContext&,
                                               std::string input) -> Task<std::string> {
    if (!input.empty()) throw std::runtime_error("bad input: " + input);
    co_return "ok";
  });
  TurnResult result = turn(registry, {}, {start("Throws", "x")});
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(result.outcome.error.kind == ErrorKind::OrchestrationFailed);
  CHECK(result.outcome.error.display_message() == "bad input: x");
  CHECK(replay_history(registry, "inst", 1, appended({}, result)).deterministic);
}
