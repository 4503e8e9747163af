// Replay engine: turns from hand-written histories and end-to-end runs of every
// OrchestrationContext feature.
#include <algorithm>
#include <stdexcept>

#include "replay_support.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

Task<std::string> hello(OrchestrationContext& ctx, std::string name) {
  co_return co_await ctx.schedule_activity("Hello", name);
}

Task<std::string> two_in_parallel(OrchestrationContext& ctx, std::string) {
  auto a = ctx.schedule_activity("A", "a");
  auto b = ctx.schedule_activity("B", "b");
  auto results = co_await ctx.join(std::move(a), std::move(b));
  std::string out;
  for (const auto& r : results) out += (r.ok ? r.value : "error:" + r.error.message) + ";";
  co_return out;
}

Task<std::string> approval(OrchestrationContext& ctx, std::string timeout_ms) {
  auto winner = co_await ctx.select(ctx.schedule_wait("Approve"),
                                    ctx.schedule_timer(std::stoll(timeout_ms)));
  if (winner.index == 0) co_return "approved:" + winner.result.value;
  co_return "timeout";
}

Task<std::string> sequence(OrchestrationContext& ctx, std::string) {
  std::string first = co_await ctx.schedule_activity("A", "1");
  std::string second = co_await ctx.schedule_activity("B", first);
  co_return second;
}

Registry make_registry() {
  Registry registry;
  registry.register_orchestration("Hello", hello);
  registry.register_orchestration("TwoInParallel", two_in_parallel);
  registry.register_orchestration("Approval", approval);
  registry.register_orchestration("Sequence", sequence);
  registry.register_activity("Hello", [](ActivityContext&, const std::string& name) {
    return "Hello, " + name + "!";
  });
  registry.register_activity("A", [](ActivityContext&, const std::string& in) { return "A" + in; });
  registry.register_activity("B", [](ActivityContext&, const std::string& in) { return "B" + in; });
  registry.register_activity("Fail", [](ActivityContext&, const std::string& in) -> std::string {
    throw std::runtime_error(in);
  });
  return registry;
}

}  // namespace

TEST_CASE("fresh start records OrchestrationStarted and schedules the first activity",
          "[replay]") {
  Registry registry = make_registry();
  TurnResult result = turn(registry, {}, {start("Hello", "Ada")}, kT0);

  REQUIRE(result.outcome.kind == TurnOutcomeKind::Running);
  REQUIRE(kinds(result.new_events) ==
          std::vector<EventKind>{EventKind::OrchestrationStarted, EventKind::ActivityScheduled});
  const auto& started = *result.new_events[0].as<events::OrchestrationStarted>();
  CHECK(started.name == "Hello");
  CHECK(started.version == "1.0.0");
  CHECK(started.input == "Ada");
  CHECK(result.new_events[0].event_id == 1);
  CHECK(result.new_events[1].event_id == 2);
  CHECK(result.new_events[1].timestamp_ms == kT0);
  REQUIRE(result.worker_items.size() == 1);
  const auto& execute = std::get<work::ActivityExecute>(result.worker_items[0]);
  CHECK(execute.instance == "inst");
  CHECK(execute.execution_id == 1);
  CHECK(execute.id == 2);
  CHECK(execute.name == "Hello");
  CHECK(execute.input == "Ada");
  CHECK(result.orchestration_name == "Hello");
  CHECK(result.orchestration_version == "1.0.0");
}

TEST_CASE("a completion message finishes the orchestration without re-scheduling", "[replay]") {
  Registry registry = make_registry();
  History history = appended({}, turn(registry, {}, {start("Hello", "Ada")}));
  TurnResult result =
      turn(registry, history, {work::ActivityCompleted{"inst", 1, 2, "Hello, Ada!"}});

  REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(result.outcome.output == "Hello, Ada!");
  CHECK(result.worker_items.empty());  // replayed schedule produces no new action
  REQUIRE(kinds(result.new_events) ==
          std::vector<EventKind>{EventKind::ActivityCompleted, EventKind::OrchestrationCompleted});
  CHECK(result.new_events[0].source_event_id == 2);
  CHECK(result.new_events[0].event_id == 3);
  CHECK(result.new_events[1].event_id == 4);
}

TEST_CASE("completions out of order: join returns results in schedule order", "[replay]") {
  Registry registry = make_registry();
  History history = appended({}, turn(registry, {}, {start("TwoInParallel", "")}));
  REQUIRE(kinds(history) == std::vector<EventKind>{EventKind::OrchestrationStarted,
                                                   EventKind::ActivityScheduled,
                                                   EventKind::ActivityScheduled});
  // B (id 3) completes before A (id 2), in separate turns.
  TurnResult second = turn(registry, history, {work::ActivityCompleted{"inst", 1, 3, "rb"}});
  CHECK(second.outcome.kind == TurnOutcomeKind::Running);
  history = appended(history, second);
  TurnResult third = turn(registry, history, {work::ActivityCompleted{"inst", 1, 2, "ra"}});
  REQUIRE(third.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(third.outcome.output == "ra;rb;");
  history = appended(history, third);
  CHECK(replay_history(registry, "inst", 1, history).deterministic);
}

TEST_CASE("join with a failure reports each result, failures included", "[replay]") {
  Registry registry = make_registry();
  History history = appended({}, turn(registry, {}, {start("TwoInParallel", "")}));
  TurnResult result = turn(
      registry, history,
      {work::ActivityFailed{"inst", 1, 2, ErrorDetails::activity_failed("a broke")},
       work::ActivityCompleted{"inst", 1, 3, "rb"}});
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(result.outcome.output == "error:a broke;rb;");
}

TEST_CASE("an uncaught activity failure fails the orchestration with its message", "[replay]") {
  Registry registry = make_registry();
  registry.register_orchestration("Fails", [](OrchestrationContext& ctx,
                                              std::string text) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Fail", text);
  });
  MiniRuntime runtime(registry);
  runtime.start("f", "Fails", "boom");
  runtime.run();
  auto& inst = runtime.instance("f");
  REQUIRE(inst.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(inst.outcome.error.display_message() == "boom");
  CHECK(inst.outcome.error.category() == ErrorCategory::Application);
  CHECK(inst.history.back().is<events::OrchestrationFailed>());
  require_replays(registry, runtime, "f");
}

namespace {

// An orchestration that awaits what `schedule` gives and catches whatever it fails with:
// only failures of the user's code reach the catch.
template <typename Schedule>
auto catching(Schedule schedule) {
  return [schedule](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    try {
      co_return co_await schedule(ctx);
    } catch (const TaskFailed& failure) {
      co_return "caught: " + failure.details().display_message();
    }
  };
}

Registry catching_registry() {
  Registry registry;
  registry.register_orchestration("CatchesActivity",
                                  catching([](OrchestrationContext& ctx) { return ctx.schedule_activity("X", ""); }));
  registry.register_orchestration("CatchesChild", catching([](OrchestrationContext& ctx) {
                                    return ctx.schedule_sub_orchestration("Child", "");
                                  }));
  registry.register_orchestration("RetriesActivity", catching([](OrchestrationContext& ctx) {
                                    return ctx.schedule_activity_with_retry(
                                        "X", "", RetryPolicy{3, RetryPolicy::Backoff::Fixed, 10, 0, 0});
                                  }));
  // The activity loses the select; the code goes on waiting for its timer.
  registry.register_orchestration("ActivityLosesSelect", [](OrchestrationContext& ctx,
                                                           std::string) -> Task<std::string> {
    co_await ctx.select(ctx.schedule_activity("X", ""), ctx.schedule_timer(100));
    co_await ctx.schedule_timer(1000);
    co_return "done";
  });
  return registry;
}

std::vector<ErrorDetails> system_failures() {
  return {ErrorDetails::unregistered_activity("X"), ErrorDetails::unregistered_orchestration("Child 1.0.0"),
          ErrorDetails::poison("activity X", 4, 3), ErrorDetails::provider("fetch", "disk I/O error", false),
          ErrorDetails::history_corrupted("row 3 does not decode"), ErrorDetails::nondeterminism("event 2")};
}

// The execution's history after its start turn under this build.
History started(const Registry& registry, const std::string& name) {
  TurnResult first = turn(registry, {}, {start(name, "")});
  REQUIRE(first.outcome.kind == TurnOutcomeKind::Running);
  return appended({}, first);
}

// The failure message for the first thing `history` scheduled: an activity or a child.
WorkItem failure_of_first(const History& history, const ErrorDetails& details) {
  const Event& scheduled = history.at(1);
  if (const auto* child = scheduled.as<events::SubOrchestrationScheduled>()) {
    return work::SubOrchestrationFailed{"inst", scheduled.event_id, child->instance, details};
  }
  return work::ActivityFailed{"inst", 1, scheduled.event_id, details};
}

}  // namespace

TEST_CASE("a system failure of an activity or child ends the execution; no catch in the code sees it",
          "[replay][failure]") {
  const Registry registry = catching_registry();
  const char* name = GENERATE("CatchesActivity", "CatchesChild", "RetriesActivity");
  for (const ErrorDetails& details : system_failures()) {
    INFO(name << ": " << details.display_message());
    History history = started(registry, name);
    TurnResult result = turn(registry, history, {failure_of_first(history, details)});
    REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
    CHECK(result.outcome.error == details);
    // The failure is recorded for the audit, then the end; no retry timer, no other command.
    CHECK(kinds(result.new_events) ==
          std::vector<EventKind>{std::string(name) == "CatchesChild" ? EventKind::SubOrchestrationFailed
                                                                     : EventKind::ActivityFailed,
                                 EventKind::OrchestrationFailed});
    CHECK(result.worker_items.empty());
    const ReplayReport report = replay_history(registry, "inst", 1, appended(history, result));
    INFO(encode_replay_report(report));
    CHECK(report.deterministic);
    CHECK(report.outcome.error == details);
  }
  // A failure of the user's code still reaches it.
  History history = started(registry, name);
  TurnResult result = turn(registry, history, {failure_of_first(history, ErrorDetails::activity_failed("no stock"))});
  if (std::string(name) == "RetriesActivity") {
    CHECK(result.outcome.kind == TurnOutcomeKind::Running);  // the retry's backoff timer
  } else {
    REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
    CHECK(result.outcome.output == "caught: no stock");
  }
}

TEST_CASE("a system failure of an activity nobody awaits any more ends the execution too", "[replay][failure]") {
  const Registry registry = catching_registry();
  History history = started(registry, "ActivityLosesSelect");
  history = appended(history, turn(registry, history, {work::TimerFired{"inst", 1, 3, kT0 + 100}}, kT0 + 100));
  const ErrorDetails details = ErrorDetails::unregistered_activity("X");
  TurnResult result = turn(registry, history, {work::ActivityFailed{"inst", 1, 2, details},
                                               work::ExternalRaised{"inst", "later", "x"}});
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(result.outcome.error == details);
  CHECK(kinds(result.new_events) == std::vector<EventKind>{EventKind::ActivityFailed, EventKind::OrchestrationFailed});
  REQUIRE(result.dropped.size() == 1);  // the event after the end: reported, not recorded
  CHECK(replay_history(registry, "inst", 1, appended(history, result)).deterministic);
}

TEST_CASE("a system failure ends the execution before the code sees the rest of its batch", "[replay][failure]") {
  Registry registry;
  registry.register_orchestration("FirstOfTwo", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto winner = co_await ctx.select(ctx.schedule_activity("A", ""), ctx.schedule_activity("B", ""));
    co_return winner.result.value;
  });
  History history = started(registry, "FirstOfTwo");
  const ErrorDetails poison = ErrorDetails::poison("activity B", 4, 3);
  // A's completion arrived first; the code would pick it and complete.
  TurnResult result = turn(registry, history, {work::ActivityCompleted{"inst", 1, 2, "a"},
                                               work::ActivityFailed{"inst", 1, 3, poison}});
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(result.outcome.error == poison);
  CHECK(kinds(result.new_events) == std::vector<EventKind>{EventKind::ActivityFailed, EventKind::ActivityCancelRequested,
                                                           EventKind::OrchestrationFailed});
  REQUIRE(result.dropped.size() == 1);
  CHECK(std::holds_alternative<work::ActivityCompleted>(result.dropped[0].item));
  CHECK(replay_history(registry, "inst", 1, appended(history, result)).deterministic);
}

TEST_CASE("a system failure cancels the execution's other activities and children, as any end does",
          "[replay][failure][cancel]") {
  Registry registry;
  registry.register_orchestration("Joins", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto results = co_await ctx.join(ctx.schedule_activity("A", ""), ctx.schedule_activity("X", ""),
                                     ctx.schedule_sub_orchestration("Child", ""));
    co_return std::to_string(results.size());
  });
  History history = started(registry, "Joins");
  const auto* child = history.at(3).as<events::SubOrchestrationScheduled>();
  REQUIRE(child);
  const ErrorDetails unregistered = ErrorDetails::unregistered_activity("X");
  TurnResult result = turn(registry, history, {work::ActivityFailed{"inst", 1, 3, unregistered}});
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(result.outcome.error == unregistered);
  REQUIRE(kinds(result.new_events) ==
          std::vector<EventKind>{EventKind::ActivityFailed, EventKind::ActivityCancelRequested,
                                 EventKind::SubOrchestrationCancelRequested, EventKind::OrchestrationFailed});
  CHECK(result.new_events[1].source_event_id == 2);
  CHECK(result.new_events[2].source_event_id == 4);
  REQUIRE(result.cancelled_activities.size() == 1);
  CHECK(result.cancelled_activities[0].activity_id == 2);
  const bool child_told = std::any_of(result.orchestrator_items.begin(), result.orchestrator_items.end(),
                                      [&](const auto& item) {
                                        const auto* cancel = std::get_if<work::CancelInstance>(&item.item);
                                        return cancel && cancel->instance == child->instance;
                                      });
  CHECK(child_told);
  CHECK(replay_history(registry, "inst", 1, appended(history, result)).deterministic);
}

TEST_CASE("an execution pinned to a build before the change replays its caught system failure as it ran",
          "[replay][failure]") {
  const Registry registry = catching_registry();
  const std::string pinned = GENERATE(std::string(), std::string("0.1.0"));
  INFO("pinned to '" << pinned << "'");
  HistoryBuilder builder("CatchesActivity");
  std::get<events::OrchestrationStarted>(builder.history().front().data).duroxide_version = pinned;
  const EventId scheduled = builder.activity("X", "");
  const ErrorDetails details = ErrorDetails::unregistered_activity("X");
  TurnResult result = turn(registry, builder.history(), {work::ActivityFailed{"inst", 1, scheduled, details}});
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(result.outcome.output == "caught: " + details.display_message());
  check_replays_to(registry, appended(builder.history(), result), "caught: " + details.display_message());
}

TEST_CASE("select: the timer wins when it fires first", "[replay][select]") {
  Registry registry = make_registry();
  TurnResult first = turn(registry, {}, {start("Approval", "5000")}, kT0);
  REQUIRE(kinds(first.new_events) ==
          std::vector<EventKind>{EventKind::OrchestrationStarted, EventKind::ExternalSubscribed,
                                 EventKind::TimerCreated});
  CHECK(first.new_events[2].as<events::TimerCreated>()->fire_at_ms == kT0 + 5000);
  REQUIRE(first.orchestrator_items.size() == 1);
  CHECK(first.orchestrator_items[0].visible_at_ms == kT0 + 5000);
  History history = appended({}, first);

  // The timer fires, then the event arrives in the same batch: the timer is first in history.
  TurnResult second = turn(registry, history,
                           {work::TimerFired{"inst", 1, 3, kT0 + 5000},
                            work::ExternalRaised{"inst", "Approve", "late"}},
                           kT0 + 5000);
  REQUIRE(second.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(second.outcome.output == "timeout");
  REQUIRE(second.dropped.size() == 1);  // the late event comes after the terminal event
  history = appended(history, second);
  CHECK(replay_history(registry, "inst", 1, history).deterministic);
}

// Turn times come from history, which is outside data: a timer's due time saturates
// instead of overflowing, whatever the sign of the time it starts from.
TEST_CASE("a timer's due time is the turn time plus the delay, saturating at the limit", "[replay]") {
  Registry registry = make_registry();
  const auto fire_at = [&](TimestampMs now, std::int64_t delay) {
    TurnResult result = turn(registry, {}, {start("Approval", std::to_string(delay))}, now);
    REQUIRE(result.new_events.size() == 3);
    return result.new_events[2].as<events::TimerCreated>()->fire_at_ms;
  };
  CHECK(fire_at(-5, 60'000) == 59'995);
  CHECK(fire_at(INT64_MIN, 60'000) == INT64_MIN + 60'000);
  CHECK(fire_at(INT64_MIN, INT64_MAX) == -1);
  CHECK(fire_at(0, INT64_MAX) == INT64_MAX);
  CHECK(fire_at(INT64_MAX - 10, 60'000) == INT64_MAX);
  CHECK(fire_at(-5, -7) == -5);  // a negative delay is no delay
}

TEST_CASE("select: the event wins when it arrives first", "[replay][select]") {
  Registry registry = make_registry();
  History history = appended({}, turn(registry, {}, {start("Approval", "5000")}, kT0));
  TurnResult second = turn(registry, history,
                           {work::ExternalRaised{"inst", "Approve", "yes"},
                            work::TimerFired{"inst", 1, 3, kT0 + 5000}},
                           kT0 + 6000);
  REQUIRE(second.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(second.outcome.output == "approved:yes");
  history = appended(history, second);
  CHECK(replay_history(registry, "inst", 1, history).deterministic);
}

TEST_CASE("select: an event raised before the wait is matched to it", "[replay][select]") {
  Registry registry = make_registry();
  TurnResult result = turn(registry, {},
                           {work::ExternalRaised{"inst", "Approve", "early"},
                            start("Approval", "5000")},
                           kT0);
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(result.outcome.output == "approved:early");
}

TEST_CASE("select over completions already in history picks the earliest in history",
          "[replay][select]") {
  Registry registry;
  registry.register_orchestration("Race", [](OrchestrationContext& ctx,
                                             std::string) -> Task<std::string> {
    auto winner = co_await ctx.select(ctx.schedule_activity("A", ""), ctx.schedule_activity("B", ""));
    co_return std::to_string(winner.index) + ":" + winner.result.value;
  });
  HistoryBuilder h("Race");
  EventId a = h.activity("A", "");
  EventId b = h.activity("B", "");
  h.completed(b, "b-done");
  h.completed(a, "a-done");
  h.add(events::ActivityCancelRequested{"lost a select"}, a);
  h.add(events::OrchestrationCompleted{"1:b-done"});
  ReplayReport report = replay_history(registry, "inst", 1, h.history());
  INFO(encode_replay_report(report));
  CHECK(report.deterministic);
  CHECK(report.outcome.output == "1:b-done");
}

TEST_CASE("a select loser activity gets a cancel request and its late completion is recorded, not delivered",
          "[replay][select][cancel]") {
  Registry registry;
  registry.register_orchestration("Race", [](OrchestrationContext& ctx,
                                             std::string) -> Task<std::string> {
    auto winner =
        co_await ctx.select(ctx.schedule_activity("Slow", ""), ctx.schedule_timer(100));
    co_await ctx.schedule_timer(1000);  // keep running so the late completion arrives
    co_return winner.index == 1 ? "timer" : "activity";
  });
  History history = appended({}, turn(registry, {}, {start("Race", "")}, kT0));
  TurnResult fired = turn(registry, history, {work::TimerFired{"inst", 1, 3, kT0 + 100}}, kT0 + 100);
  REQUIRE(fired.cancelled_activities.size() == 1);
  CHECK(fired.cancelled_activities[0].activity_id == 2);
  REQUIRE(kinds(fired.new_events) ==
          std::vector<EventKind>{EventKind::TimerFired, EventKind::ActivityCancelRequested,
                                 EventKind::TimerCreated});
  CHECK(fired.new_events[1].source_event_id == 2);
  history = appended(history, fired);
  TurnResult late = turn(registry, history, {work::ActivityCompleted{"inst", 1, 2, "late"}});
  CHECK(late.dropped.empty());
  CHECK(late.outcome.kind == TurnOutcomeKind::Running);  // the code did not see it
  REQUIRE(kinds(late.new_events) == std::vector<EventKind>{EventKind::ActivityCompleted});
  CHECK(late.new_events[0].source_event_id == 2);
  history = appended(history, late);
  TurnResult again = turn(registry, history, {work::ActivityCompleted{"inst", 1, 2, "twice"}});
  REQUIRE(again.dropped.size() == 1);
  CHECK(again.dropped[0].reason.find("already has a completion") != std::string::npos);
  history = appended(history, turn(registry, history,
                                   {work::TimerFired{"inst", 1, fired.new_events.back().event_id, kT0 + 1100}},
                                   kT0 + 1100));
  check_replays_to(registry, history, "timer");
}

// A select loop over an event and a timeout: each timer that lost records its firing, so
// the pending view of a long-lived loop lists only the live timer, and nothing is dropped.
TEST_CASE("a select loser timer records its firing and leaves the pending work", "[replay][select][cancel]") {
  Registry registry;
  registry.register_orchestration("Loop", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    std::string got;
    for (int round = 0; round < 3; ++round) {
      auto winner = co_await ctx.select(ctx.schedule_wait("Tick"), ctx.schedule_timer(1000));
      got += winner.index == 0 ? winner.result.value : "-";
    }
    co_return got;
  });
  History history = appended({}, turn(registry, {}, {start("Loop", "")}, kT0));
  // Rounds 1 and 2 end by an event; each round's timer fires after the round has ended.
  TurnResult first = turn(registry, history, {work::ExternalRaised{"inst", "Tick", "a"}}, kT0 + 10);
  history = appended(history, first);
  TurnResult late = turn(registry, history,
                         {work::TimerFired{"inst", 1, 3, kT0 + 1000}, work::ExternalRaised{"inst", "Tick", "b"}},
                         kT0 + 1000);
  CHECK(late.dropped.empty());
  REQUIRE(kinds(late.new_events) ==
          std::vector<EventKind>{EventKind::TimerFired, EventKind::ExternalEvent, EventKind::ExternalSubscribed,
                                 EventKind::TimerCreated});
  history = appended(history, late);
  HistoryState state = fold_history(history, history.size());
  // Round 1's timer has fired and left; round 2's has not fired yet; round 3 waits.
  REQUIRE(state.pending.size() == 3);
  CHECK(state.pending[0].kind == PendingKind::Timer);
  CHECK(state.pending[0].scheduled_event_id == first.new_events.back().event_id);
  CHECK(state.pending[1].kind == PendingKind::ExternalWait);
  CHECK(state.pending[2].kind == PendingKind::Timer);
  CHECK(state.pending[2].scheduled_event_id == late.new_events.back().event_id);
  TurnResult last = turn(registry, history,
                         {work::TimerFired{"inst", 1, first.new_events.back().event_id, kT0 + 1010},
                          work::TimerFired{"inst", 1, late.new_events.back().event_id, kT0 + 2000}},
                         kT0 + 2000);
  CHECK(last.dropped.empty());
  REQUIRE(last.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(last.outcome.output == "ab-");
  history = appended(history, last);
  check_replays_to(registry, history, "ab-");
}

TEST_CASE("a dropped future is cancelled", "[replay][cancel]") {
  Registry registry;
  registry.register_orchestration("Drop", [](OrchestrationContext& ctx,
                                             std::string) -> Task<std::string> {
    {
      auto unused = ctx.schedule_activity("A", "x");
    }
    co_return "done";
  });
  TurnResult result = turn(registry, {}, {start("Drop", "")});
  REQUIRE(kinds(result.new_events) ==
          std::vector<EventKind>{EventKind::OrchestrationStarted, EventKind::ActivityScheduled,
                                 EventKind::ActivityCancelRequested,
                                 EventKind::OrchestrationCompleted});
  CHECK(result.new_events[2].as<events::ActivityCancelRequested>()->reason == "dropped");
  REQUIRE(result.cancelled_activities.size() == 1);
  CHECK(result.cancelled_activities[0].activity_id == 2);
  CHECK(replay_history(registry, "inst", 1, appended({}, result)).deterministic);
}

TEST_CASE("a turn the runtime fails sends the cancels and detached starts its history records and cancels "
          "the activities in flight",
          "[replay][cancel]") {
  Registry registry;
  registry.register_orchestration("FailsLate", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto running = ctx.schedule_activity("Work", "");  // in flight when the turn fails
    auto winner = co_await ctx.select(ctx.schedule_sub_orchestration("Child", "", {"child"}), ctx.schedule_timer(100));
    ctx.start_orchestration_detached("Other", "", {"detached"});
    auto never = ctx.schedule_activity("Never", "");  // scheduled in the failing turn: never queued
    ctx.set_custom_status(std::string(limits::kMaxPayloadBytes + 1, 's'));  // over the limit: the turn fails
    co_await running;
    co_return std::to_string(winner.index);
  });
  History history = appended({}, turn(registry, {}, {start("FailsLate", "")}, kT0));
  REQUIRE(kinds(history) == std::vector<EventKind>{EventKind::OrchestrationStarted, EventKind::ActivityScheduled,
                                                    EventKind::SubOrchestrationScheduled, EventKind::TimerCreated});
  TurnResult failed = turn(registry, history, {work::TimerFired{"inst", 1, 4, kT0 + 100}}, kT0 + 100);
  REQUIRE(failed.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(failed.outcome.error.message.find("custom status") != std::string::npos);
  // The history says the child was asked to cancel and the detached instance started: so
  // it is (the lost select's child is told; the detached start is queued).
  std::vector<std::string> sent;
  for (const auto& [item, delay] : failed.orchestrator_items) {
    sent.push_back(std::string(to_string(kind_of(item))) + ":" + target_instance(item));
  }
  CHECK(sent == std::vector<std::string>{"CancelInstance:child", "StartOrchestration:detached"});
  // The activity still running is cancelled (its lock goes), as at any other end; the one
  // scheduled in the failing turn never runs.
  REQUIRE(failed.cancelled_activities.size() == 1);
  CHECK(failed.cancelled_activities[0].activity_id == 2);
  CHECK(failed.worker_items.empty());
}

namespace {

// The history of `name` after its first turn, which schedules the child "child" (event 2)
// and then a timer of 100 ms (event 3).
History child_and_timer_scheduled(const Registry& registry, const std::string& name) {
  History history = appended({}, turn(registry, {}, {start(name, "")}, kT0));
  REQUIRE(kinds(history) ==
          std::vector<EventKind>{EventKind::OrchestrationStarted, EventKind::SubOrchestrationScheduled,
                                 EventKind::TimerCreated});
  return history;
}

// The one item a failed turn sends: the cancel of the child "child" scheduled at event 2.
work::CancelInstance only_child_cancel(const TurnResult& failed) {
  REQUIRE(failed.outcome.kind == TurnOutcomeKind::Failed);
  REQUIRE(failed.orchestrator_items.size() == 1);
  const auto* cancel = std::get_if<work::CancelInstance>(&failed.orchestrator_items[0].item);
  REQUIRE(cancel);
  CHECK(cancel->instance == "child");
  CHECK(cancel->parent_instance == "inst");
  CHECK(cancel->parent_id == 2);
  return *cancel;
}

}  // namespace

TEST_CASE("a turn the runtime fails cancels the children earlier turns started, as it does their activities",
          "[replay][cancel]") {
  Registry registry;
  registry.register_orchestration("FailsWithChild", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto child = ctx.schedule_sub_orchestration("Child", "", {"child"});  // still running when the turn fails
    co_await ctx.schedule_timer(100);
    ctx.set_custom_status(std::string(limits::kMaxPayloadBytes + 1, 's'));  // over the limit: the turn fails
    co_return co_await child;
  });
  const History history = child_and_timer_scheduled(registry, "FailsWithChild");
  TurnResult failed = turn(registry, history, {work::TimerFired{"inst", 1, 3, kT0 + 100}}, kT0 + 100);
  const work::CancelInstance cancel = only_child_cancel(failed);
  CHECK(cancel.reason.find("the orchestration failed: ") == 0);
  CHECK(cancel.reason.find("custom status") != std::string::npos);
  CHECK(replay_history(registry, "inst", 1, appended(history, failed)).deterministic);
}

TEST_CASE("a turn that fails on a nondeterminism cancels the children its history shows, though the code never replayed them",
          "[replay][cancel][nondeterminism]") {
  Registry before;
  before.register_orchestration("Changes", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto child = ctx.schedule_sub_orchestration("Child", "", {"child"});
    co_await ctx.schedule_timer(100);
    co_return co_await child;
  });
  Registry after;  // the code changed: an activity where the history has the child
  after.register_orchestration("Changes", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_await ctx.schedule_activity("Work", "");
    co_return "changed";
  });
  const History history = child_and_timer_scheduled(before, "Changes");
  TurnResult failed = turn(after, history, {work::TimerFired{"inst", 1, 3, kT0 + 100}}, kT0 + 100);
  CHECK(failed.outcome.error.kind == ErrorKind::Nondeterminism);
  only_child_cancel(failed);
  CHECK(failed.worker_items.empty());
}

TEST_CASE("a turn the runtime fails does not cancel a child whose start it never sends", "[replay][cancel]") {
  Registry registry;
  registry.register_orchestration("LosesThenFails", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_await ctx.schedule_timer(10);
    // Scheduled in the turn that fails, the child loses the select to the event that
    // arrived with the timer: its start is dropped with the turn, so no cancel may go to
    // an instance that never exists (it would wait in the queue for ever).
    auto winner = co_await ctx.select(ctx.schedule_sub_orchestration("Child", "", {"child"}), ctx.schedule_wait("Go"));
    ctx.set_custom_status(std::string(limits::kMaxPayloadBytes + 1, 's'));  // over the limit: the turn fails
    co_return std::to_string(winner.index);
  });
  History history = appended({}, turn(registry, {}, {start("LosesThenFails", "")}, kT0));
  TurnResult failed = turn(registry, history,
                           {work::TimerFired{"inst", 1, 2, kT0 + 10}, work::ExternalRaised{"inst", "Go", "now"}},
                           kT0 + 10);
  REQUIRE(failed.outcome.kind == TurnOutcomeKind::Failed);
  // The history keeps what the code did (the child scheduled, then asked to cancel) ...
  std::vector<EventKind> written = kinds(failed.new_events);
  CHECK(std::count(written.begin(), written.end(), EventKind::SubOrchestrationScheduled) == 1);
  CHECK(std::count(written.begin(), written.end(), EventKind::SubOrchestrationCancelRequested) == 1);
  // ... but neither the child's start nor its cancel is sent.
  for (const auto& [item, delay] : failed.orchestrator_items) {
    CHECK(target_instance(item) != "child");
  }
  CHECK(replay_history(registry, "inst", 1, appended(history, failed)).deterministic);
}

TEST_CASE("a turn the runtime fails still cancels a child of an earlier turn whose id it schedules again",
          "[replay][cancel]") {
  Registry registry;
  registry.register_orchestration("Again", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto first = ctx.schedule_sub_orchestration("Child", "", {"child"});  // started in the first turn
    co_await ctx.schedule_timer(10);
    auto winner = co_await ctx.select(std::move(first), ctx.schedule_wait("Go"));  // the child loses
    auto again = ctx.schedule_sub_orchestration("Child", "", {"child"});  // the same id, never sent
    ctx.set_custom_status(std::string(limits::kMaxPayloadBytes + 1, 's'));  // over the limit: the turn fails
    co_return std::to_string(winner.index);
  });
  History history = appended({}, turn(registry, {}, {start("Again", "")}, kT0));
  REQUIRE(kinds(history) == std::vector<EventKind>{EventKind::OrchestrationStarted, EventKind::SubOrchestrationScheduled,
                                                    EventKind::TimerCreated});
  TurnResult failed = turn(registry, history,
                           {work::TimerFired{"inst", 1, 3, kT0 + 10}, work::ExternalRaised{"inst", "Go", "now"}},
                           kT0 + 10);
  REQUIRE(failed.outcome.kind == TurnOutcomeKind::Failed);
  // The running child the history asks to cancel is told, as the child of event 2; the
  // second start goes nowhere.
  REQUIRE(failed.orchestrator_items.size() == 1);
  CHECK(failed.orchestrator_items[0].item == WorkItem{work::CancelInstance{"child", "lost a select", "inst", 2}});
}

TEST_CASE("a parent's cancel reaches only the child it started", "[replay][cancel]") {
  Registry registry = make_registry();
  History history = appended({}, turn(registry, {}, {start("Sequence", "")}));
  // From a parent this root does not have: dropped, the instance runs on.
  TurnResult foreign = turn(registry, history, {work::CancelInstance{"inst", "stop", "other-parent", 2}});
  CHECK(foreign.outcome.kind == TurnOutcomeKind::Running);
  REQUIRE(foreign.dropped.size() == 1);
  CHECK(foreign.dropped[0].reason.find("which this instance is not") != std::string::npos);
  CHECK(foreign.new_events.empty());
  // A client's cancel names no parent: it applies.
  TurnResult client = turn(registry, history, {work::CancelInstance{"inst", "stop"}});
  CHECK(client.outcome.kind == TurnOutcomeKind::Failed);
  // The first turn of a child: a cancel from its parent for it applies before its code.
  work::StartOrchestration child_start = start("Sequence", "");
  child_start.parent_instance = "parent";
  child_start.parent_id = 7;
  TurnResult own = turn(registry, {}, {child_start, work::CancelInstance{"inst", "stop", "parent", 7}});
  CHECK(own.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(own.outcome.error.display_message().find("canceled") != std::string::npos);
  TurnResult other = turn(registry, {}, {child_start, work::CancelInstance{"inst", "stop", "parent", 8}});
  CHECK(other.outcome.kind == TurnOutcomeKind::Running);
  CHECK(other.dropped.size() == 1);
}

TEST_CASE("code that goes on after continue-as-new cannot fail the ended execution", "[replay][continue]") {
  Registry registry;
  registry.register_orchestration("Goes", [](OrchestrationContext& ctx, std::string input) -> Task<std::string> {
    if (input == "next") co_return "done";
    auto continued = ctx.continue_as_new("next");  // the execution ends here ...
    ctx.set_custom_status(std::string(limits::kMaxPayloadBytes + 1, 's'));  // ... so this changes nothing
    co_await continued;
    co_return "unreachable";
  });
  TurnResult result = turn(registry, {}, {start("Goes", "")});
  REQUIRE(result.outcome.kind == TurnOutcomeKind::ContinuedAsNew);
  REQUIRE(kinds(result.new_events) ==
          std::vector<EventKind>{EventKind::OrchestrationStarted, EventKind::OrchestrationContinuedAsNew});
  REQUIRE(result.orchestrator_items.size() == 1);
  CHECK(std::holds_alternative<work::ContinueAsNew>(result.orchestrator_items[0].item));
  CHECK(replay_history(registry, "inst", 1, appended({}, result)).deterministic);
}

TEST_CASE("continue-as-new cancels the execution's activities still in flight", "[replay][cancel]") {

  Registry registry;
  registry.register_orchestration("Loop", [](OrchestrationContext& ctx, std::string input) -> Task<std::string> {
    if (input == "next") co_return "done";
    auto earlier = ctx.schedule_activity("Slow", "");  // scheduled in the first turn, still running
    co_await ctx.schedule_timer(10);
    auto fresh = ctx.schedule_activity("Fresh", "");  // scheduled in the turn that continues
    co_await ctx.continue_as_new("next");
    co_return "unreachable";
  });
  History history = appended({}, turn(registry, {}, {start("Loop", "")}, kT0));
  REQUIRE(kinds(history) ==
          std::vector<EventKind>{EventKind::OrchestrationStarted, EventKind::ActivityScheduled, EventKind::TimerCreated});
  TurnResult continued = turn(registry, history, {work::TimerFired{"inst", 1, 3, kT0 + 10}}, kT0 + 10);
  REQUIRE(continued.outcome.kind == TurnOutcomeKind::ContinuedAsNew);
  std::vector<EventId> cancelled;
  for (const CancelledActivity& activity : continued.cancelled_activities) cancelled.push_back(activity.activity_id);
  CHECK(cancelled == std::vector<EventId>{2, 5});  // their results would only be dropped
  CHECK(replay_history(registry, "inst", 1, appended(history, continued)).deterministic);
}

TEST_CASE("messages that do not apply are dropped, not appended", "[replay]") {
  Registry registry = make_registry();
  History history = appended({}, turn(registry, {}, {start("Sequence", "")}));
  TurnResult result = turn(registry, history,
                           {work::ActivityCompleted{"inst", 7, 2, "stale execution"},
                            work::ActivityCompleted{"inst", 1, 99, "unknown id"},
                            work::ActivityCompleted{"inst", 1, UINT64_MAX, "an id past every event"},
                            work::TimerFired{"inst", 1, 2, 0},  // id 2 is an activity
                            start("Sequence", ""),
                            work::ActivityCompleted{"inst", 1, 2, "x"},
                            work::ActivityCompleted{"inst", 1, 2, "duplicate"}});
  REQUIRE(result.dropped.size() == 6);
  CHECK(result.dropped[0].reason.find("stale") != std::string::npos);
  CHECK(result.dropped[1].reason.find("no activity with id 99") != std::string::npos);
  CHECK(result.dropped[2].reason.find("no activity with id " + std::to_string(UINT64_MAX)) != std::string::npos);
  CHECK(result.dropped[3].reason.find("no timer") != std::string::npos);
  CHECK(result.dropped[4].reason.find("already started") != std::string::npos);
  CHECK(result.dropped[5].reason.find("already has a completion") != std::string::npos);
  REQUIRE(kinds(result.new_events) ==
          std::vector<EventKind>{EventKind::ActivityCompleted, EventKind::ActivityScheduled});
  CHECK(result.new_events[1].as<events::ActivityScheduled>()->input == "x");
}

TEST_CASE("activities with a retry policy", "[replay][retry]") {
  Registry registry;
  static int failures_left = 0;
  registry.register_activity("Flaky", [](ActivityContext&, const std::string&) -> std::string {
    if (failures_left > 0) {
      --failures_left;
      throw std::runtime_error("flaky failure " + std::to_string(failures_left));
    }
    return "ok";
  });
  auto register_with = [&registry](const char* name, RetryPolicy policy) {
    registry.register_orchestration(name, [policy](OrchestrationContext& ctx,
                                                   std::string) -> Task<std::string> {
      co_return co_await ctx.schedule_activity_with_retry("Flaky", "", policy);
    });
  };
  RetryPolicy fixed{3, RetryPolicy::Backoff::Fixed, 10, 0, 0};
  register_with("Fixed", fixed);
  register_with("Exponential", RetryPolicy{4, RetryPolicy::Backoff::Exponential, 100, 250, 0});

  SECTION("retry succeeding after failures") {
    failures_left = 2;
    MiniRuntime runtime(registry);
    runtime.start("r", "Fixed", "");
    runtime.run();
    auto& inst = runtime.instance("r");
    REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
    CHECK(inst.outcome.output == "ok");
    CHECK(runtime.executed.size() == 3);
    CHECK(timer_delays(inst.history) == std::vector<std::int64_t>{10, 10});  // durable backoff
    REQUIRE(inst.printed_logs.size() == 2);  // one warning per failed attempt, printed once
    CHECK(inst.printed_logs[0].message.find("attempt 1 of 3 failed") != std::string::npos);
    require_replays(registry, runtime, "r");
  }
  SECTION("retry exhausted fails with the last attempt's error") {
    failures_left = 10;
    MiniRuntime runtime(registry);
    runtime.start("r", "Fixed", "");
    runtime.run();
    auto& inst = runtime.instance("r");
    REQUIRE(inst.outcome.kind == TurnOutcomeKind::Failed);
    CHECK(inst.outcome.error.display_message() == "flaky failure 7");
    CHECK(runtime.executed.size() == 3);
    require_replays(registry, runtime, "r");
  }
  SECTION("exponential backoff doubles and is capped") {
    failures_left = 3;
    MiniRuntime runtime(registry);
    runtime.start("r", "Exponential", "");
    runtime.run();
    auto& inst = runtime.instance("r");
    REQUIRE(inst.outcome.kind == TurnOutcomeKind::Completed);
    CHECK(timer_delays(inst.history) == std::vector<std::int64_t>{100, 200, 250});
  }
}

TEST_CASE("retry policy delays", "[retry]") {
  RetryPolicy linear{5, RetryPolicy::Backoff::Linear, 100, 250, 0};
  CHECK(linear.delay_before(2) == 100);
  CHECK(linear.delay_before(3) == 200);
  CHECK(linear.delay_before(4) == 250);
  RetryPolicy none{5, RetryPolicy::Backoff::None, 100, 0, 0};
  CHECK(none.delay_before(3) == 0);
  RetryPolicy huge{1000, RetryPolicy::Backoff::Exponential, INT64_MAX / 4, 0, 0};
  CHECK(huge.delay_before(900) > 0);  // saturates instead of overflowing
  // The cap bounds growth; a fixed delay is what was asked for (as upstream's Fixed).
  RetryPolicy fixed{3, RetryPolicy::Backoff::Fixed, 300'000, 60'000, 0};
  CHECK(fixed.delay_before(2) == 300'000);
  CHECK(fixed.delay_before(3) == 300'000);
}

namespace {

// Runs `policy`'s retry of "Slow" (an activity that never completes) turn by turn, firing
// each timer when it falls due; the final history.
History retry_until_done(const RetryPolicy& policy) {
  Registry registry;
  registry.register_orchestration("Retry", [policy](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity_with_retry("Slow", "", policy);
  });
  History history = appended({}, turn(registry, {}, {start("Retry", "")}, kT0));
  for (int step = 0; step < 20; ++step) {
    const Event* timer = nullptr;
    for (auto it = history.rbegin(); it != history.rend() && !timer; ++it) {
      if (it->is<events::TimerCreated>()) timer = &*it;
    }
    REQUIRE(timer);
    const TimestampMs at = timer->as<events::TimerCreated>()->fire_at_ms;
    TurnResult result = turn(registry, history, {work::TimerFired{"inst", 1, timer->event_id, at}}, at);
    history = appended(history, result);
    if (result.outcome.kind != TurnOutcomeKind::Running) break;
  }
  CHECK(replay_history(registry, "inst", 1, history).deterministic);
  return history;
}

std::vector<TimestampMs> timer_due_times(const History& history) {
  std::vector<TimestampMs> out;
  for (const auto& e : history) {
    if (const auto* created = e.as<events::TimerCreated>()) out.push_back(created->fire_at_ms - kT0);
  }
  return out;
}

// The message of the orchestration's failure, the history's last event ("" when the
// history does not end failed: the caller's CHECK then shows what it got).
std::string failure_message(const History& history) {
  const auto* failed = history.empty() ? nullptr : history.back().as<events::OrchestrationFailed>();
  return failed ? failed->details.display_message() : "";
}

}  // namespace

TEST_CASE("a retry's total timeout ends it: no attempt after it, a running one cancelled at it",
          "[replay][retry]") {
  SECTION("the next backoff would end past the total: the retry fails without another attempt") {
    // Attempts time out at 100 and 230 (after a 30 ms backoff); the next backoff would end at 260.
    const History history = retry_until_done(RetryPolicy{5, RetryPolicy::Backoff::Fixed, 30, 0, 100, 250});
    CHECK(failure_message(history) ==
          "activity Slow timed out: the retry's total timeout of 250 ms passed (attempt 3 of 5)");
    CHECK(timer_due_times(history) == std::vector<TimestampMs>{100, 130, 230});
  }
  SECTION("what is left of the total bounds the running attempt") {
    // Attempt 2 starts at 130 with 50 ms of the total left, less than its own 100.
    const History history = retry_until_done(RetryPolicy{5, RetryPolicy::Backoff::Fixed, 30, 0, 100, 180});
    CHECK(failure_message(history) ==
          "activity Slow timed out: the retry's total timeout of 180 ms passed (attempt 2 of 5)");
    CHECK(timer_due_times(history) == std::vector<TimestampMs>{100, 130, 180});
    int cancels = 0;
    for (const auto& e : history) cancels += e.is<events::ActivityCancelRequested>();
    CHECK(cancels == 2);
  }
  SECTION("without a per-attempt timeout the total alone bounds the attempt") {
    const History history = retry_until_done(RetryPolicy{3, RetryPolicy::Backoff::None, 0, 0, 0, 500});
    CHECK(failure_message(history) ==
          "activity Slow timed out: the retry's total timeout of 500 ms passed (attempt 1 of 3)");
    CHECK(timer_due_times(history) == std::vector<TimestampMs>{500});
  }
}

TEST_CASE("retry with a per-attempt timeout cancels the slow attempt", "[replay][retry]") {
  Registry registry;
  registry.register_orchestration("Timeout", [](OrchestrationContext& ctx,
                                                std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity_with_retry(
        "Slow", "", RetryPolicy{2, RetryPolicy::Backoff::Fixed, 5, 0, 50});
  });
  // Slow never completes: it is never registered with the mini runtime's worker...
  // so we drive turns by hand, firing only timers.
  History history = appended({}, turn(registry, {}, {start("Timeout", "")}, kT0));
  auto timer_id = [](const History& h) {
    for (auto it = h.rbegin(); it != h.rend(); ++it) {
      if (it->is<events::TimerCreated>()) return it->event_id;
    }
    return EventId{0};
  };
  TimestampMs now = kT0;
  for (int step = 0; step < 3; ++step) {
    now += 50;
    TurnResult result =
        turn(registry, history, {work::TimerFired{"inst", 1, timer_id(history), now}}, now);
    history = appended(history, result);
    if (result.outcome.kind != TurnOutcomeKind::Running) break;
  }
  const auto& last = *history.back().as<events::OrchestrationFailed>();
  CHECK(last.details.display_message() == "activity Slow timed out after 50 ms (attempt 2 of 2)");
  int cancels = 0;
  for (const auto& e : history) cancels += e.is<events::ActivityCancelRequested>();
  CHECK(cancels == 2);
  CHECK(replay_history(registry, "inst", 1, history).deterministic);
}

// The history limit: a turn that would record past it fails the instance with one last
// event, and that history replays as the run went (deterministic, the same failure), whether
// the refused event was the code's command or a delivered message.
TEST_CASE("a run stopped at the history limit replays its own history", "[replay][limits]") {
  Registry registry;
  registry.register_orchestration("Loop", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    for (;;) co_await ctx.schedule_activity("A", "");
  });
  // Started, then pairs of a scheduled and a completed activity, then the next scheduled:
  // 999,998 events, the last waiting for its completion.
  constexpr std::size_t kPairs = (limits::kMaxHistoryEvents - 4) / 2;
  HistoryBuilder h("Loop");
  for (std::size_t i = 0; i < kPairs; ++i) h.completed(h.activity("A", ""), "");
  const EventId waiting = h.activity("A", "");
  REQUIRE(h.history().size() == limits::kMaxHistoryEvents - 2);
  auto require_replays_as_run = [&](const TurnResult& result) {
    REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
    CHECK(result.outcome.error.message.find("the history reached the limit") != std::string::npos);
    REQUIRE_FALSE(result.new_events.empty());
    CHECK(result.new_events.back().event_id == limits::kMaxHistoryEvents);
    History full = h.history();
    full.insert(full.end(), result.new_events.begin(), result.new_events.end());
    ReplayReport report = replay_history(registry, "inst", 1, full);
    INFO((report.mismatch ? report.mismatch->expected + " / " + report.mismatch->actual : std::string("no mismatch")));
    CHECK(report.deterministic);
    CHECK_FALSE(report.error);
    CHECK(report.outcome.kind == TurnOutcomeKind::Failed);
    CHECK(report.outcome.error == result.outcome.error);
  };
  SECTION("the code's next command is refused") {
    // The completion takes the last slot but one; the activity the code schedules next
    // does not fit.
    require_replays_as_run(turn(registry, h.history(), {work::ActivityCompleted{"inst", 1, waiting, ""}}));
  }
  SECTION("a delivered message is refused") {
    TurnResult result = turn(registry, h.history(),
                             {work::ExternalRaised{"inst", "x", "1"}, work::ExternalRaised{"inst", "x", "2"}});
    REQUIRE(kinds(result.new_events) ==
            std::vector<EventKind>{EventKind::ExternalEvent, EventKind::OrchestrationFailed});
    require_replays_as_run(result);
  }
}

// Something thrown that is not a std::exception fails the orchestration like any other
// error: from a spawned task (whose future must complete) and from a plain function.
TEST_CASE("a non-standard exception fails the orchestration, from a spawned task or a plain function", "[replay]") {
  Registry registry;
  registry.register_orchestration("SpawnThrows", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto thrower = []() -> Task<std::string> {
      throw 42;
      co_return "";
    };
    co_return co_await ctx.spawn(thrower());
  });
  registry.register_orchestration("PlainThrows", [](OrchestrationContext&, std::string) -> Task<std::string> {
    throw 42;
  });
  TurnResult spawned = turn(registry, {}, {start("SpawnThrows", "")}, kT0);
  REQUIRE(spawned.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(spawned.outcome.error.message == "the task threw a non-standard exception");
  TurnResult plain = turn(registry, {}, {start("PlainThrows", "")}, kT0);
  REQUIRE(plain.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(plain.outcome.error.message == "the orchestration threw a non-standard exception");
}

// A future dropped after the turn has already failed (here: a custom status over the limit)
// cannot record its cancel; its activity must still be cancelled with the failed execution,
// not left running with nothing in the history to say so.
TEST_CASE("an activity whose future is dropped after the turn failed is cancelled with the execution", "[replay][cancel]") {
  Registry registry;
  registry.register_orchestration("FailsWithSlow", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto slow = ctx.schedule_activity("Slow", "");
    co_await ctx.schedule_wait("go");
    ctx.set_custom_status(std::string(limits::kMaxPayloadBytes + 1, 'x'));
    co_return "never";
  });
  History history = appended({}, turn(registry, {}, {start("FailsWithSlow", "")}, kT0));
  TurnResult failed = turn(registry, history, {work::ExternalRaised{"inst", "go", ""}});
  REQUIRE(failed.outcome.kind == TurnOutcomeKind::Failed);
  REQUIRE(failed.cancelled_activities.size() == 1);
  CHECK(failed.cancelled_activities[0].activity_id == 2);
}

// The runaway limit counts resumptions between two deliveries: an endless loop of completed
// awaits fails, but a long-lived instance whose every turn does a lot of such work does not
// fail once its replays add up past the limit.
TEST_CASE("the runaway limit counts resumptions since the last delivery, replays included", "[replay][limits]") {
  Registry registry;
  auto immediate = []() -> Task<std::string> { co_return "x"; };
  registry.register_orchestration("Busy", [immediate](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    for (int tick = 0; tick < 10; ++tick) {
      for (int i = 0; i < 100; ++i) co_await immediate();  // about 200 resumptions a tick
      co_await ctx.schedule_wait("tick");
    }
    co_return "done";
  });
  registry.register_orchestration("Endless", [immediate](OrchestrationContext&, std::string) -> Task<std::string> {
    for (;;) co_await immediate();
  });
  auto limited = [&](const History& history, std::vector<WorkItem> messages) {
    TurnInput input;
    input.instance = "inst";
    input.history = history;
    input.messages = std::move(messages);
    input.now_ms = kT0;
    input.max_resumptions = 1'000;
    return run_turn(registry, input);
  };
  History history = appended({}, limited({}, {start("Busy", "")}));
  for (int tick = 0; tick < 10; ++tick) {
    TurnResult result = limited(history, {work::ExternalRaised{"inst", "tick", ""}});
    INFO("tick " << tick << ": " << result.outcome.error.message);
    REQUIRE(result.outcome.kind != TurnOutcomeKind::Failed);
    history = appended(history, result);
  }
  CHECK(history.back().is<events::OrchestrationCompleted>());
  TurnResult endless = limited({}, {start("Endless", "")});
  REQUIRE(endless.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(endless.outcome.error.message ==
        "the orchestration resumed more than 1000 times without waiting for anything (an endless loop?)");
}
