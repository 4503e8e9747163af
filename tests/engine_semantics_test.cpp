// Engine semantics around continue-as-new, cancelled waits and select losers:
// a continued sub-orchestration still reports to its parent, nothing delivered or
// buffered is lost at continue-as-new, a cancelled wait gives up its place, and
// select cancels its losers in one fixed order.
#include <stdexcept>

#include "duroxide/limits.hpp"
#include "duroxide/samples.hpp"
#include "replay_support.hpp"
#include "step_host.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

std::vector<std::string> kind_names(const History& history) {
  std::vector<std::string> out;
  for (const auto& event : history) out.emplace_back(to_string(event.kind()));
  return out;
}

std::size_t count_named(const History& history, std::string_view kind) {
  std::size_t n = 0;
  for (const auto& event : history) n += to_string(event.kind()) == kind ? 1 : 0;
  return n;
}

Task<std::string> await_counter(OrchestrationContext& ctx, std::string) {
  co_return co_await ctx.schedule_sub_orchestration("Counter", R"({"count":0,"limit":2})");
}

// Continues as new once, then fails.
Task<std::string> fails_after_continuing(OrchestrationContext& ctx, std::string round) {
  if (round == "1") throw std::runtime_error("the second execution gave up");
  co_await ctx.continue_as_new("1");
  co_return "";
}

Task<std::string> await_failing_child(OrchestrationContext& ctx, std::string) {
  try {
    co_await ctx.schedule_sub_orchestration("FailsAfterContinuing", "0");
  } catch (const TaskFailed& failed) {
    co_return "child failed: " + failed.details().display_message();
  }
  co_return "child completed";
}

// Continues as new onto a version nobody registered.
Task<std::string> continues_to_missing_version(OrchestrationContext& ctx, std::string) {
  co_await ctx.continue_as_new("next", "9.9.9");
  co_return "";
}

Task<std::string> await_child_with_missing_version(OrchestrationContext& ctx, std::string) {
  try {
    co_await ctx.schedule_sub_orchestration("ContinuesToMissingVersion", "");
  } catch (const TaskFailed& failed) {
    co_return "child failed: " + std::string(to_string(failed.details().kind));
  }
  co_return "child completed";
}

// Each execution takes one "e" event and appends it to its input; three make it done.
Task<std::string> collector(OrchestrationContext& ctx, std::string so_far) {
  std::string got = co_await ctx.schedule_wait("e");
  std::string next = so_far + got;
  if (next.size() >= 3) co_return next;
  co_await ctx.continue_as_new(next);
  co_return "";
}

// The first execution only waits for a timer and continues; messages that arrive
// meanwhile are buffered. The second consumes them.
Task<std::string> late_reader(OrchestrationContext& ctx, std::string round) {
  if (round == "0") {
    ctx.set_custom_status("first execution done");
    co_await ctx.schedule_timer(10);
    co_await ctx.continue_as_new("1");
    co_return "";
  }
  std::string carried_status = ctx.custom_status().value_or("<none>");
  std::string y1 = co_await ctx.schedule_wait("y");
  std::string q1 = co_await ctx.dequeue_event("q");
  std::string y2 = co_await ctx.schedule_wait("y");
  std::string q2 = co_await ctx.dequeue_event("q");
  co_return carried_status + "|" + y1 + y2 + q1 + q2;
}

// The first execution races two dequeues over buffered messages: the loser gives its
// message back, and the next execution receives it.
Task<std::string> gives_back_then_continues(OrchestrationContext& ctx, std::string so_far) {
  if (!so_far.empty()) {
    std::string next = co_await ctx.dequeue_event("q");
    co_return so_far + "," + next;
  }
  co_await ctx.schedule_timer(5);
  SelectResult first = co_await ctx.select(ctx.dequeue_event("q"), ctx.dequeue_event("q"));
  co_await ctx.continue_as_new(first.result.value);
  co_return "";
}

// Waits for "x" for 10 ms at a time until it comes.
Task<std::string> patient(OrchestrationContext& ctx, std::string) {
  for (int round = 0;; ++round) {
    SelectResult raced = co_await ctx.select(ctx.schedule_wait("x"), ctx.schedule_timer(10));
    if (raced.index == 0) co_return "round " + std::to_string(round) + ": " + raced.result.value;
  }
}

Task<std::string> drops_a_wait(OrchestrationContext& ctx, std::string) {
  { DurableFuture abandoned = ctx.schedule_wait("x"); }
  co_return co_await ctx.schedule_wait("x");
}

// The channel the two tests below use: a dequeue of queue "q", or a wait for event "x".
// (Each future is a named variable: GCC 12 destroys a temporary of a conditional
// expression under co_await twice.)
DurableFuture wait_on_channel(OrchestrationContext& ctx, bool queue) {
  return queue ? ctx.dequeue_event("q") : ctx.schedule_wait("x");
}

// A message on that channel for instance `instance`.
WorkItem channel_message(bool queue, const std::string& instance, const std::string& data) {
  if (queue) return work::QueueMessage{instance, "q", data};
  return work::ExternalRaised{instance, "x", data};
}

// A wait (or dequeue) that takes a message while the code awaits a timer, and is then
// dropped unread: its message goes to the next wait of its channel.
Task<std::string> drops_a_completed_wait(OrchestrationContext& ctx, std::string kind) {
  const bool queue = kind == "queue";
  auto wait = [&] { return wait_on_channel(ctx, queue); };
  {
    DurableFuture unread = wait();
    co_await ctx.schedule_timer(10);
  }
  DurableFuture first = wait();
  std::string first_data = co_await first;
  DurableFuture second = wait();
  std::string second_data = co_await second;
  co_return first_data + "," + second_data;
}

// The first execution holds a wait (or dequeue) that takes a message while the code
// awaits "go", then continues as new with the future still alive and unread: the next
// execution receives that message.
Task<std::string> continues_holding_a_wait(OrchestrationContext& ctx, std::string kind) {
  const bool queue = kind == "queue" || kind == "queue-next";
  auto wait = [&] { return wait_on_channel(ctx, queue); };
  if (kind == "queue" || kind == "event") {
    DurableFuture held = wait();
    co_await ctx.schedule_wait("go");
    co_await ctx.continue_as_new(queue ? "queue-next" : "event-next");
  }
  DurableFuture next = wait();
  co_return co_await next;
}

// Both events are buffered by the time the select starts, so both waits complete at
// once: "x" wins, "y" loses.
Task<std::string> races_two_waits(OrchestrationContext& ctx, std::string) {
  co_await ctx.schedule_timer(5);
  SelectResult first = co_await ctx.select(ctx.schedule_wait("x"), ctx.schedule_wait("y"));
  std::string y = co_await ctx.schedule_wait("y");
  co_return std::to_string(first.index) + ":" + first.result.value + "," + y;
}

Registry engine_registry() {
  Registry registry;
  samples::register_all(registry);
  registry.register_orchestration("AwaitCounter", await_counter);
  registry.register_orchestration("FailsAfterContinuing", fails_after_continuing);
  registry.register_orchestration("AwaitFailingChild", await_failing_child);
  registry.register_orchestration("ContinuesToMissingVersion", continues_to_missing_version);
  registry.register_orchestration("AwaitChildWithMissingVersion",
                                  await_child_with_missing_version);
  registry.register_orchestration("Collector", collector);
  registry.register_orchestration("LateReader", late_reader);
  registry.register_orchestration("Patient", patient);
  registry.register_orchestration("GivesBackThenContinues", gives_back_then_continues);
  registry.register_orchestration("DropsAWait", drops_a_wait);
  registry.register_orchestration("RacesTwoWaits", races_two_waits);
  registry.register_orchestration("DropsACompletedWait", drops_a_completed_wait);
  registry.register_orchestration("ContinuesHoldingAWait", continues_holding_a_wait);
  registry.register_activity("Work", [](ActivityContext&, const std::string& in) { return in; });
  registry.register_orchestration("WideSelect", [](OrchestrationContext& ctx,
                                                   std::string) -> Task<std::string> {
    std::vector<DurableFuture> work;
    for (int i = 0; i < 48; ++i) work.push_back(ctx.schedule_activity("Work", std::to_string(i)));
    SelectResult first = co_await ctx.select(std::move(work));
    co_return std::to_string(first.index) + "=" + first.result.value;
  });
  return registry;
}

void require_all_executions_replay(StepHost& host, const std::string& id) {
  InstanceInfo info = *host.admin.get_instance_info(id);
  for (ExecutionId execution = 1; execution <= info.current_execution_id; ++execution) {
    ReplayReport report = replay_history(host.registry, id, execution,
                                         host.admin.read_execution(id, execution));
    INFO(id << " execution " << execution << ": " << encode_replay_report(report));
    CHECK(report.deterministic);
  }
}

}  // namespace

// ---------------------------------------------------------------- parent link

TEST_CASE("a sub-orchestration that continues as new reports its final result to its parent",
          "[runtime][continue_as_new][sub_orchestration]") {
  PROVIDER_KIND(kind);
  StepHost host(engine_registry(), {}, kind);

  SECTION("completion") {
    host.run("p", "AwaitCounter", "");
    OrchestrationStatus status = host.client.get_status("p");
    REQUIRE(status.state == RuntimeState::Completed);
    CHECK(status.output == "2");
    InstanceInfo child = *host.admin.get_instance_info("p::sub::1");
    CHECK(child.current_execution_id == 3);
    CHECK(child.parent_instance == "p");
    CHECK(child.parent_id == 2);
    require_all_executions_replay(host, "p::sub::1");
  }
  SECTION("failure") {
    host.run("p", "AwaitFailingChild", "");
    OrchestrationStatus status = host.client.get_status("p");
    REQUIRE(status.state == RuntimeState::Completed);
    CHECK(status.output == "child failed: the second execution gave up");
    CHECK(host.admin.get_instance_info("p::sub::1")->parent_instance == "p");
  }
}

TEST_CASE("a continued sub-orchestration that cannot start its next version ends its parents with that failure",
          "[runtime][continue_as_new][sub_orchestration]") {
  PROVIDER_KIND(kind);
  Registry registry = engine_registry();
  // Catches its child's failure, as the child catches its own child's.
  registry.register_orchestration("AwaitsCatchingParent", [](OrchestrationContext& ctx,
                                                            std::string) -> Task<std::string> {
    try {
      co_return co_await ctx.schedule_sub_orchestration("AwaitChildWithMissingVersion", "");
    } catch (const TaskFailed&) {
      co_return "caught";
    }
  });
  StepHost host(std::move(registry), {}, kind);
  host.run("g", "AwaitsCatchingParent", "");
  for (int i = 0; i < 10 && host.client.get_status("g").state == RuntimeState::Running; ++i) {
    host.clock.advance(60'000);
    host.driver.run_until_idle();
  }
  // The failure is the deployment's, not the code's: no catch on the way up hides it.
  InstanceInfo child = *host.admin.get_instance_info("g::sub::1::sub::1");
  REQUIRE(child.state == RuntimeState::Failed);
  REQUIRE(child.error.has_value());
  CHECK(child.error->kind == ErrorKind::UnregisteredOrchestration);
  for (const std::string& parent : {"g::sub::1", "g"}) {
    INFO(parent);
    OrchestrationStatus status = host.client.get_status(parent);
    REQUIRE(status.state == RuntimeState::Failed);
    CHECK(status.error == child.error);
    const ReplayReport report = replay_history(host.registry, parent, 1, host.store.read(parent));
    CHECK(report.deterministic);
  }
}

TEST_CASE("a continued execution whose version is registered nowhere records the messages it carried",
          "[runtime][continue_as_new]") {
  PROVIDER_KIND(kind);
  Registry registry = engine_registry();
  // Leaves "go" unread at continue-as-new: it is carried into version 9.9.9.
  registry.register_orchestration("CarriesToMissingVersion", [](OrchestrationContext& ctx,
                                                                std::string) -> Task<std::string> {
    co_await ctx.continue_as_new("next", "9.9.9");
    co_return "";
  });
  StepHost host(std::move(registry), {}, kind);
  host.client.start_orchestration("c", "CarriesToMissingVersion", "");
  host.client.raise_event("c", "go", "payload");
  host.driver.run_until_idle();
  for (int i = 0; i < 10 && host.client.get_status("c").state == RuntimeState::Running; ++i) {
    host.clock.advance(60'000);
    host.driver.run_until_idle();
  }
  REQUIRE(host.client.get_status("c").state == RuntimeState::Failed);
  const History history = host.admin.read_execution("c", 2);
  CHECK(kind_names(history) ==
        std::vector<std::string>{"OrchestrationStarted", "ExternalEvent", "OrchestrationFailed"});
  REQUIRE(history.size() == 3);
  CHECK(history[1].as<events::ExternalEvent>()->data == "payload");
  require_all_executions_replay(host, "c");
}

// ---------------------------------------------------------------- carried messages

TEST_CASE("events raised in the same batch as a continue-as-new reach the next execution in order",
          "[replay][continue_as_new][external]") {
  Registry registry = engine_registry();
  MiniRuntime runtime(registry);
  runtime.start("c", "Collector", "");
  runtime.run(false);
  runtime.send(work::ExternalRaised{"c", "e", "a"});
  runtime.send(work::ExternalRaised{"c", "e", "b"});
  runtime.send(work::ExternalRaised{"c", "e", "c"});
  runtime.run(false);
  auto& inst = runtime.instance("c");
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(inst.outcome.output == "abc");
  REQUIRE(inst.past_executions.size() == 2);
  // The carried events open the next execution as ordinary deliveries.
  CHECK(kind_names(inst.past_executions[1]) ==
        std::vector<std::string>{"OrchestrationStarted", "ExternalEvent", "ExternalEvent",
                                 "ExternalSubscribed", "OrchestrationContinuedAsNew"});
  CHECK(inst.past_executions[1][1].as<events::ExternalEvent>()->data == "b");
  CHECK(inst.past_executions[1][2].as<events::ExternalEvent>()->data == "c");
  require_replays(registry, runtime, "c");
}

TEST_CASE("buffered events and queue messages carry into the next execution in arrival order",
          "[runtime][continue_as_new]") {
  PROVIDER_KIND(kind);
  StepHost host(engine_registry(), {}, kind);
  host.run("r", "LateReader", "0");
  host.client.raise_event("r", "y", "1");
  host.client.enqueue_event("r", "q", "a");
  host.client.raise_event("r", "y", "2");
  host.client.enqueue_event("r", "q", "b");
  host.driver.run_until_idle();
  host.clock.advance(10);
  host.driver.run_until_idle();

  OrchestrationStatus status = host.client.get_status("r");
  REQUIRE(status.state == RuntimeState::Completed);
  CHECK(status.output == "first execution done|12ab");
  CHECK(status.custom_status == std::optional<std::string>("first execution done"));
  History second = host.admin.read_execution("r", 2);
  // Delivered in their original order, right after the start.
  REQUIRE(second.size() > 5);
  CHECK(second[1].as<events::ExternalEvent>()->data == "1");
  CHECK(second[2].as<events::QueueEventDelivered>()->data == "a");
  CHECK(second[3].as<events::ExternalEvent>()->data == "2");
  CHECK(second[4].as<events::QueueEventDelivered>()->data == "b");
  require_all_executions_replay(host, "r");
}

TEST_CASE("the custom status shows in the next execution until the code changes it",
          "[runtime][continue_as_new][custom_status]") {
  PROVIDER_KIND(kind);
  StepHost host(engine_registry(), {}, kind);
  host.run("r", "LateReader", "0");
  host.clock.advance(10);
  host.driver.run_until_idle();
  REQUIRE(host.admin.get_instance_info("r")->current_execution_id == 2);
  OrchestrationStatus status = host.client.get_status("r");
  INFO((status.error ? status.error->display_message() : std::string()));
  CHECK(status.state == RuntimeState::Running);
  CHECK(status.custom_status == std::optional<std::string>("first execution done"));
  host.client.raise_event("r", "y", "1");
  host.client.enqueue_event("r", "q", "a");
  host.client.raise_event("r", "y", "2");
  host.client.enqueue_event("r", "q", "b");
  host.driver.run_until_idle();
  status = host.client.get_status("r");
  REQUIRE(status.state == RuntimeState::Completed);
  CHECK(status.output == "first execution done|12ab");
  require_all_executions_replay(host, "r");
}

TEST_CASE("a message a select loser gave back is carried into the next execution",
          "[replay][continue_as_new][queue]") {
  Registry registry = engine_registry();
  MiniRuntime runtime(registry);
  runtime.start("g", "GivesBackThenContinues", "");
  runtime.send(work::QueueMessage{"g", "q", "a"});
  runtime.send(work::QueueMessage{"g", "q", "b"});
  runtime.run();
  auto& inst = runtime.instance("g");
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(inst.outcome.output == "a,b");
  require_replays(registry, runtime, "g");
}

TEST_CASE("a cancellation in the same batch as a continue-as-new cancels the next execution",
          "[replay][continue_as_new][cancel]") {
  Registry registry = engine_registry();
  MiniRuntime runtime(registry);
  runtime.start("c", "Collector", "");
  runtime.run(false);
  runtime.send(work::ExternalRaised{"c", "e", "a"});
  runtime.send(work::CancelInstance{"c", "stop"});
  runtime.run(false);
  auto& inst = runtime.instance("c");
  CHECK(inst.execution == 2);
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(inst.outcome.error.display_message() == "canceled: stop");
  require_replays(registry, runtime, "c");
}

TEST_CASE("messages past the carry limit fail the next execution naming their count",
          "[replay][continue_as_new][limits]") {
  Registry registry = engine_registry();
  MiniRuntime runtime(registry);
  runtime.start("c", "Collector", "");
  runtime.run(false);
  const std::size_t sent = limits::kMaxCarriedMessages + 6;
  for (std::size_t i = 0; i < sent; ++i) runtime.send(work::ExternalRaised{"c", "e", "x"});
  runtime.run(false);
  auto& inst = runtime.instance("c");
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Failed);
  // The first event was consumed; the rest could not be carried.
  CHECK_THAT(inst.outcome.error.display_message(),
             Catch::Contains(std::to_string(sent - 1) + " unconsumed messages"));
  require_replays(registry, runtime, "c");
}

// ---------------------------------------------------------------- cancelled waits

TEST_CASE("a wait that lost a select gives up its place to the next wait", "[replay][external]") {
  Registry registry = engine_registry();
  MiniRuntime runtime(registry);
  runtime.start("p", "Patient", "");
  runtime.run(false);
  runtime.advance(10);
  runtime.run(false);  // the first round times out
  runtime.send(work::ExternalRaised{"p", "x", "hello"});
  runtime.run(false);
  auto& inst = runtime.instance("p");
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(inst.outcome.output == "round 1: hello");
  CHECK(count_named(inst.history, "ExternalSubscribedCancelled") == 1);
  require_replays(registry, runtime, "p");
  // Replaying the same history twice gives the same outcome and no new events.
  TurnResult again = turn(registry, inst.history, {}, runtime.now(), "p");
  CHECK(again.history_was_terminal);
  CHECK(again.outcome.output == "round 1: hello");
}

TEST_CASE("a dropped wait gives up its place to the next wait", "[replay][external]") {
  Registry registry = engine_registry();
  MiniRuntime runtime(registry);
  runtime.start("d", "DropsAWait", "");
  runtime.run(false);
  runtime.send(work::ExternalRaised{"d", "x", "kept"});
  runtime.run(false);
  auto& inst = runtime.instance("d");
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(inst.outcome.output == "kept");
  require_replays(registry, runtime, "d");
}

TEST_CASE("a wait or dequeue dropped after it took a message, unread, gives the message back",
          "[replay][external][queue]") {
  const bool queue = GENERATE(false, true);
  CAPTURE(queue);
  Registry registry = engine_registry();
  MiniRuntime runtime(registry);
  runtime.start("d", "DropsACompletedWait", queue ? "queue" : "event");
  runtime.run(false);
  auto message = [&](const std::string& data) { return channel_message(queue, "d", data); };
  runtime.send(message("first"));  // taken by the wait the code then drops
  runtime.run(false);
  runtime.advance(10);
  runtime.run(false);
  runtime.send(message("second"));
  runtime.run(false);
  auto& inst = runtime.instance("d");
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(inst.outcome.output == "first,second");
  require_replays(registry, runtime, "d");
}

TEST_CASE("continue-as-new carries the message of a wait or dequeue whose future is alive but unread",
          "[replay][external][queue][continue]") {
  const bool queue = GENERATE(false, true);
  CAPTURE(queue);
  Registry registry = engine_registry();
  MiniRuntime runtime(registry);
  runtime.start("c", "ContinuesHoldingAWait", queue ? "queue" : "event");
  runtime.run(false);
  runtime.send(channel_message(queue, "c", "held"));
  runtime.run(false);  // the held future takes it
  runtime.send(work::ExternalRaised{"c", "go", ""});
  runtime.run(false);
  auto& inst = runtime.instance("c");
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(inst.outcome.output == "held");
  require_replays(registry, runtime, "c");
}

TEST_CASE("a wait that completed but lost a select gives its event back", "[replay][external]") {
  Registry registry = engine_registry();
  MiniRuntime runtime(registry);
  runtime.start("r", "RacesTwoWaits", "");
  runtime.send(work::ExternalRaised{"r", "y", "why"});
  runtime.send(work::ExternalRaised{"r", "x", "ex"});
  runtime.run();
  auto& inst = runtime.instance("r");
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(inst.outcome.output == "0:ex,why");
  require_replays(registry, runtime, "r");
}

// ---------------------------------------------------------------- select losers

TEST_CASE("a select cancels its unfinished losers in schedule order", "[replay][select][cancel]") {
  Registry registry = engine_registry();
  History history = appended({}, turn(registry, {}, {start("WideSelect", "", "w")}, kT0, "w"));
  // Activity i is event i + 2; activity 17 wins.
  TurnResult result =
      turn(registry, history, {work::ActivityCompleted{"w", 1, 19, "17"}}, kT0 + 10, "w");
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(result.outcome.output == "17=17");
  std::vector<EventId> expected;
  for (EventId id = 2; id <= 49; ++id) {
    if (id != 19) expected.push_back(id);
  }
  std::vector<EventId> sources;
  for (const Event& event : result.new_events) {
    if (event.is<events::ActivityCancelRequested>()) sources.push_back(event.source_event_id);
  }
  CHECK(sources == expected);
  std::vector<EventId> cancelled;
  for (const auto& activity : result.cancelled_activities) cancelled.push_back(activity.activity_id);
  CHECK(cancelled == expected);
  CHECK(replay_history(registry, "w", 1, appended(history, result)).deterministic);
}

TEST_CASE("an instance deleted and started again under its id draws other GUIDs", "[runtime][determinism]") {
  PROVIDER_KIND(kind);
  Registry registry;
  registry.register_orchestration("Guid", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return ctx.new_guid();
  });
  StepHost host(std::move(registry), {}, kind);
  host.run("order-1", "Guid", "");
  const std::string first = host.client.get_status("order-1").output;
  REQUIRE(first.size() == 36);
  host.management.delete_instance("order-1", false);
  host.run("order-1", "Guid", "");
  const std::string second = host.client.get_status("order-1").output;
  REQUIRE(second.size() == 36);
  CHECK(second != first);
  const ReplayReport report = replay_history(host.registry, "order-1", 1, host.store.read("order-1"));
  CHECK(report.deterministic);
  CHECK(report.outcome.output == second);
}
