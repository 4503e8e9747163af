// Nondeterminism detection, corrupted and empty histories, and the replayer.
#include "replay_support.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

Task<std::string> sequence(OrchestrationContext& ctx, std::string) {
  std::string first = co_await ctx.schedule_activity("A", "1");
  co_return co_await ctx.schedule_activity("B", first);
}

Registry registry_with_sequence() {
  Registry registry;
  registry.register_orchestration("Sequence", sequence);
  return registry;
}

// The recorded history of a completed Sequence run.
HistoryBuilder recorded_sequence() {
  HistoryBuilder h("Sequence");
  EventId a = h.activity("A", "1");
  h.completed(a, "ra");
  EventId b = h.activity("B", "ra");
  h.completed(b, "rb");
  h.add(events::OrchestrationCompleted{"rb"});
  return h;
}

ReplayReport replay(const Registry& registry, const History& history) {
  ReplayReport report = replay_history(registry, "inst", 1, history);
  INFO(encode_replay_report(report));
  return report;
}

}  // namespace

TEST_CASE("a recorded history replays deterministically", "[nondeterminism][replayer]") {
  Registry registry = registry_with_sequence();
  ReplayReport report = replay(registry, recorded_sequence().history());
  REQUIRE(report.deterministic);
  CHECK_FALSE(report.mismatch);
  CHECK(report.outcome.kind == TurnOutcomeKind::Completed);
  CHECK(report.outcome.output == "rb");
  CHECK(encode_replay_report(report).find("\"deterministic\":true") != std::string::npos);
}

TEST_CASE("a swapped activity name is a mismatch naming the event and both commands",
          "[nondeterminism]") {
  Registry registry = registry_with_sequence();
  HistoryBuilder h = recorded_sequence();
  h.history()[3].data = events::ActivityScheduled{"C", "ra"};
  ReplayReport report = replay(registry, h.history());
  REQUIRE_FALSE(report.deterministic);
  REQUIRE(report.mismatch);
  CHECK(report.mismatch->event_index == 3);
  CHECK(report.mismatch->event_id == 4);
  CHECK(report.mismatch->expected == "ActivityScheduled(name=\"C\", input=\"ra\")");
  CHECK(report.mismatch->actual == "ActivityScheduled(name=\"B\", input=\"ra\")");
  CHECK(report.outcome.error.kind == ErrorKind::Nondeterminism);
  CHECK(report.outcome.error.category() == ErrorCategory::Configuration);
  CHECK(report.outcome.error.display_message() ==
        "nondeterministic: event 4 (history index 3): history has ActivityScheduled(name=\"C\", "
        "input=\"ra\"); the orchestration issued ActivityScheduled(name=\"B\", input=\"ra\")");
  std::string json = encode_replay_report(report);
  CHECK(json.find("\"deterministic\":false") != std::string::npos);
  CHECK(json.find("\"event_index\":3") != std::string::npos);
}

TEST_CASE("a mismatch in a field the description leaves out shows both commands in full",
          "[nondeterminism]") {
  // The history: activity A failed and the code let the failure end the instance.
  HistoryBuilder h("Sequence");
  const EventId a = h.activity("A", "1");
  h.add(events::ActivityFailed{ErrorDetails::activity_failed("boom")}, a);
  h.add(events::OrchestrationFailed{ErrorDetails::activity_failed("boom")});
  // The code now catches it and fails with its own error of the same text.
  Registry registry;
  registry.register_orchestration("Sequence", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    bool failed = false;
    try {
      co_await ctx.schedule_activity("A", "1");
    } catch (const TaskFailed&) {
      failed = true;
    }
    if (failed) throw std::runtime_error("boom");
    co_return "";
  });
  ReplayReport report = replay(registry, h.history());
  REQUIRE(report.mismatch);
  CHECK(report.mismatch->event_index == 3);
  CHECK(report.mismatch->expected.rfind("OrchestrationFailed(error=\"boom\") {", 0) == 0);
  CHECK(report.mismatch->actual.rfind("OrchestrationFailed(error=\"boom\") {", 0) == 0);
  CHECK(report.mismatch->expected.find("\"activity_failed\"") != std::string::npos);
  CHECK(report.mismatch->actual.find("\"orchestration_failed\"") != std::string::npos);
}

TEST_CASE("a swapped input is a mismatch", "[nondeterminism]") {
  Registry registry = registry_with_sequence();
  HistoryBuilder h = recorded_sequence();
  h.history()[1].data = events::ActivityScheduled{"A", "2"};
  ReplayReport report = replay(registry, h.history());
  REQUIRE(report.mismatch);
  CHECK(report.mismatch->event_index == 1);
  CHECK(report.mismatch->expected.find("input=\"2\"") != std::string::npos);
  CHECK(report.mismatch->actual.find("input=\"1\"") != std::string::npos);
}

TEST_CASE("a swapped command kind is a mismatch", "[nondeterminism]") {
  Registry registry = registry_with_sequence();
  HistoryBuilder h("Sequence");
  EventId timer = h.add(events::TimerCreated{kT0 + 5});
  h.add(events::TimerFired{kT0 + 5}, timer);
  ReplayReport report = replay(registry, h.history());
  REQUIRE(report.mismatch);
  CHECK(report.mismatch->event_index == 1);
  CHECK(report.mismatch->expected.rfind("TimerCreated(", 0) == 0);
  CHECK(report.mismatch->actual.rfind("ActivityScheduled(", 0) == 0);
}

TEST_CASE("a completion for an unknown id is a mismatch", "[nondeterminism]") {
  Registry registry = registry_with_sequence();
  HistoryBuilder h("Sequence");
  h.activity("A", "1");
  h.add(events::ActivityCompleted{"ra"}, 1);  // event 1 is the start, not an activity
  ReplayReport report = replay(registry, h.history());
  REQUIRE(report.mismatch);
  CHECK(report.mismatch->event_index == 2);
  CHECK(report.mismatch->actual == "the orchestration scheduled no activity with id 1");
}

TEST_CASE("a duplicate completion is a mismatch", "[nondeterminism]") {
  Registry registry = registry_with_sequence();
  HistoryBuilder h("Sequence");
  EventId a = h.activity("A", "1");
  h.completed(a, "ra");
  h.activity("B", "ra");
  h.completed(a, "again");
  ReplayReport report = replay(registry, h.history());
  REQUIRE(report.mismatch);
  CHECK(report.mismatch->event_index == 4);
  CHECK(report.mismatch->actual == "the activity 2 already has a completion");
}

TEST_CASE("a command the history lacks, or a history command the code skips, is a mismatch",
          "[nondeterminism]") {
  Registry registry = registry_with_sequence();
  SECTION("code issues more than the history recorded") {
    HistoryBuilder h("Sequence");
    EventId a = h.activity("A", "1");
    h.completed(a, "ra");  // the code now schedules B; the recorded turn did not
    ReplayReport report = replay(registry, h.history());
    REQUIRE(report.mismatch);
    CHECK(report.mismatch->event_index == 3);
    CHECK(report.mismatch->event_id == 0);
    CHECK(report.mismatch->expected.find("no further command") != std::string::npos);
  }
  SECTION("the history has a command the code never issues") {
    HistoryBuilder h("Sequence");
    h.activity("A", "1");
    h.activity("Extra", "");
    ReplayReport report = replay(registry, h.history());
    REQUIRE(report.mismatch);
    CHECK(report.mismatch->event_index == 2);
    CHECK(report.mismatch->actual == "nothing: the orchestration is waiting");
  }
  SECTION("the code completes with a different output") {
    HistoryBuilder h = recorded_sequence();
    h.history().back().data = events::OrchestrationCompleted{"something else"};
    ReplayReport report = replay(registry, h.history());
    REQUIRE(report.mismatch);
    CHECK(report.mismatch->actual == "OrchestrationCompleted(output=\"rb\")");
  }
}

TEST_CASE("a turn over a nondeterministic history fails the instance with the mismatch",
          "[nondeterminism]") {
  Registry registry = registry_with_sequence();
  HistoryBuilder h("Sequence");
  h.activity("Other", "1");
  TurnResult result = turn(registry, h.history(), {work::ActivityCompleted{"inst", 1, 2, "x"}});
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(result.outcome.error.kind == ErrorKind::Nondeterminism);
  REQUIRE(result.mismatch);
  CHECK(result.worker_items.empty());
  REQUIRE(result.new_events.size() == 1);  // the recorded failure, nothing else
  CHECK(result.new_events[0].event_id == 3);
  CHECK(result.new_events[0].is<events::OrchestrationFailed>());
  REQUIRE(result.dropped.size() == 1);
}

TEST_CASE("corrupted and empty histories are reported, never crash, and write nothing",
          "[nondeterminism][corruption]") {
  Registry registry = registry_with_sequence();
  auto expect_corrupt = [&](const History& history, const std::string& fragment) {
    TurnResult result = turn(registry, history, {work::ActivityCompleted{"inst", 1, 2, "x"}});
    INFO(result.outcome.error.display_message());
    REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
    CHECK(result.outcome.error.kind == ErrorKind::HistoryCorrupted);
    CHECK(result.outcome.error.display_message().find(fragment) != std::string::npos);
    CHECK(result.new_events.empty());
    CHECK(result.worker_items.empty());
    CHECK(result.dropped.size() == 1);
    ReplayReport report = replay_history(registry, "inst", 1, history);
    CHECK_FALSE(report.deterministic);
    REQUIRE(report.error);
    CHECK(report.error->kind == ErrorKind::HistoryCorrupted);
  };
  SECTION("empty history without a start message") {
    expect_corrupt({}, "history is empty");
  }
  SECTION("first event is not OrchestrationStarted") {
    History history{Event{1, 0, kT0, events::ActivityScheduled{"A", "1"}}};
    expect_corrupt(history, "does not begin with OrchestrationStarted");
  }
  SECTION("ids out of order") {
    HistoryBuilder h = recorded_sequence();
    h.history()[2].event_id = 9;
    expect_corrupt(h.history(), "index 2 has id 9, expected 3");
  }
  SECTION("events after the terminal event") {
    HistoryBuilder h = recorded_sequence();
    h.add(events::ExternalEvent{"late", ""});
    expect_corrupt(h.history(), "1 events follow it");
  }
  SECTION("a completion that refers forward") {
    HistoryBuilder h("Sequence");
    h.add(events::ActivityCompleted{"x"}, 5);
    expect_corrupt(h.history(), "does not precede it");
  }
  SECTION("a second start") {
    HistoryBuilder h("Sequence");
    h.add(events::OrchestrationStarted{"Sequence", "1.0.0", "", {}, 0});
    expect_corrupt(h.history(), "second OrchestrationStarted");
  }
  SECTION("a source id on an event that takes none") {
    HistoryBuilder h("Sequence");
    h.add(events::ActivityScheduled{"A", "1"}, 1);
    expect_corrupt(h.history(), "must not have a source_event_id");
  }
}

TEST_CASE("replaying an orchestration that is not registered reports it", "[replayer]") {
  Registry registry;
  ReplayReport report = replay_history(registry, "inst", 1, recorded_sequence().history());
  REQUIRE_FALSE(report.deterministic);
  REQUIRE(report.error);
  CHECK(report.error->display_message() == "unregistered orchestration: Sequence 1.0.0");
}

TEST_CASE("replaying a running history is deterministic and changes nothing", "[replayer]") {
  Registry registry = registry_with_sequence();
  HistoryBuilder h("Sequence");
  EventId a = h.activity("A", "1");
  h.completed(a, "ra");
  h.activity("B", "ra");
  ReplayReport report = replay(registry, h.history());
  CHECK(report.deterministic);
  CHECK(report.outcome.kind == TurnOutcomeKind::Running);
}

TEST_CASE("step-through replay gives pending work, custom status and logs after event k",
          "[replayer][step]") {
  Registry registry;
  registry.register_orchestration("Steps", [](OrchestrationContext& ctx,
                                              std::string) -> Task<std::string> {
    ctx.log_info("begin");
    ctx.set_custom_status("phase 1");
    std::string a = co_await ctx.schedule_activity("A", "in");
    ctx.log_info("got " + a);
    co_return a;
  });
  MiniRuntime runtime(registry);
  registry.register_activity("A", [](ActivityContext&, const std::string&) {
    return std::string("ra");
  });
  runtime.start("s", "Steps", "");
  runtime.run();
  const History& history = runtime.instance("s").history;
  REQUIRE(kinds(history) == std::vector<EventKind>{EventKind::OrchestrationStarted,
                                                   EventKind::CustomStatusUpdated,
                                                   EventKind::ActivityScheduled,
                                                   EventKind::ActivityCompleted,
                                                   EventKind::OrchestrationCompleted});
  ReplayReport report = replay_history(registry, "s", 1, history);
  REQUIRE(report.deterministic);

  ReplayStep at_schedule = replay_step(report, history, 2);
  CHECK(at_schedule.state.state == RuntimeState::Running);
  CHECK(at_schedule.state.custom_status == std::optional<std::string>("phase 1"));
  REQUIRE(at_schedule.state.pending.size() == 1);
  CHECK(at_schedule.state.pending[0].kind == PendingKind::Activity);
  CHECK(at_schedule.state.pending[0].name == "A");
  CHECK(at_schedule.state.pending[0].input == "in");
  REQUIRE(at_schedule.logs.size() == 1);
  CHECK(at_schedule.logs[0].message == "begin");

  ReplayStep at_end = replay_step(report, history, 4);
  CHECK(at_end.state.state == RuntimeState::Completed);
  CHECK(at_end.state.output == "ra");
  CHECK(at_end.state.pending.empty());
  REQUIRE(at_end.logs.size() == 2);
  CHECK(at_end.logs[1].message == "got ra");
  std::string json = encode_replay_step(at_schedule);
  CHECK(json.find("\"pending\":[{\"input\":\"in\"") != std::string::npos);
  CHECK_THROWS_AS(replay_step(report, history, 5), std::out_of_range);
}

TEST_CASE("a runaway orchestration fails instead of hanging", "[replay][limits]") {
  Registry registry;
  registry.register_orchestration("Spin", [](OrchestrationContext& ctx,
                                             std::string) -> Task<std::string> {
    auto done = ctx.schedule_wait("go");
    (void)done;
    for (;;) {
      co_await ctx.spawn([]() -> Task<std::string> { co_return "x"; }());
    }
  });
  TurnInput input{"inst", 1, {}, {start("Spin", "")}, kT0, 10'000};
  TurnResult result = run_turn(registry, input);
  REQUIRE(result.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(result.outcome.error.display_message().find("more than 10000 times") != std::string::npos);
  CHECK(result.outcome.error.display_message().find("endless loop") != std::string::npos);
}
