// fold_history: pending work, custom status and outcome derived from a history prefix.
#include "replay_support.hpp"

using namespace duroxide;
using namespace duroxide::testing;

TEST_CASE("pending work follows schedules, completions and cancel requests", "[history_state]") {
  HistoryBuilder h;
  EventId a = h.activity("A", "in");                               // 2
  EventId timer = h.add(events::TimerCreated{kT0 + 500});          // 3
  EventId child = h.add(events::SubOrchestrationScheduled{"C", "c-1", "x", ""});  // 4
  h.add(events::CustomStatusUpdated{"busy"});                      // 5
  h.completed(a, "done");                                          // 6
  h.add(events::SubOrchestrationCancelRequested{"stop"}, child);   // 7
  const History& history = h.history();

  HistoryState after_schedules = fold_history(history, 4);
  REQUIRE(after_schedules.pending.size() == 3);
  CHECK(after_schedules.pending[0].kind == PendingKind::Activity);
  CHECK(after_schedules.pending[0].input == "in");
  CHECK(after_schedules.pending[1].fire_at_ms == kT0 + 500);
  CHECK(after_schedules.pending[2].instance == "c-1");
  CHECK_FALSE(after_schedules.custom_status.has_value());

  HistoryState all = fold_history(history, 100);  // more than the size: everything
  CHECK(all.events_applied == history.size());
  REQUIRE(all.pending.size() == 1);
  CHECK(all.pending[0].scheduled_event_id == timer);
  CHECK(all.custom_status == std::optional<std::string>("busy"));
  CHECK(all.state == RuntimeState::Running);
}

TEST_CASE("waits: external events by position, queues with buffering", "[history_state]") {
  HistoryBuilder h;
  h.add(events::ExternalEvent{"Go", "early"});      // 2: arrives before anyone waits
  h.add(events::ExternalSubscribed{"Go"});          // 3: takes the early event
  h.add(events::ExternalSubscribed{"Go"});          // 4: waits
  h.add(events::QueueSubscribed{"inbox"});          // 5: waits
  h.add(events::QueueEventDelivered{"inbox", "m1"});  // 6: to the waiter
  h.add(events::QueueEventDelivered{"inbox", "m2"});  // 7: buffered
  h.add(events::QueueSubscribed{"inbox"});          // 8: takes m2 at once
  h.add(events::QueueSubscribed{"inbox"});          // 9: waits
  HistoryState state = fold_history(h.history(), h.history().size());
  REQUIRE(state.pending.size() == 2);
  CHECK(state.pending[0].kind == PendingKind::ExternalWait);
  CHECK(state.pending[0].scheduled_event_id == 4);
  CHECK(state.pending[1].kind == PendingKind::QueueWait);
  CHECK(state.pending[1].scheduled_event_id == 9);
}

TEST_CASE("a finished execution has nothing pending", "[history_state]") {
  HistoryBuilder h;
  h.activity("A", "in");
  h.add(events::OrchestrationCancelRequested{"user"});
  h.add(events::OrchestrationFailed{ErrorDetails::cancelled("user")});
  HistoryState failed = fold_history(h.history(), h.history().size());
  CHECK(failed.state == RuntimeState::Failed);
  CHECK(failed.cancel_requested);
  CHECK(failed.error->display_message() == "canceled: user");
  CHECK(failed.pending.empty());

  HistoryBuilder next;
  next.add(events::OrchestrationContinuedAsNew{"again", ""});
  HistoryState continued = fold_history(next.history(), 10);
  CHECK(continued.state == RuntimeState::Completed);
  CHECK(continued.continued_as_new);
  CHECK(continued.output == "again");
  CHECK(fold_history({}, 5).state == RuntimeState::NotFound);
}

TEST_CASE("carry_forward_count: deliveries no wait has taken, carried ones included", "[history_state][stats]") {
  HistoryBuilder h;
  h.history()[0].data = events::OrchestrationStarted{"Orch", "1.0.0", "", {}, 0, /*carried_messages=*/2};
  h.add(events::QueueEventDelivered{"inbox", "carried-1"});  // 2: carried, buffered
  h.add(events::ExternalEvent{"Note", "carried-2"});         // 3: carried, buffered
  EventId wait = h.add(events::ExternalSubscribed{"Go"});    // 4: waits
  h.add(events::ExternalSubscribedCancelled{"lost a select"}, wait);  // 5: leaves the line
  h.add(events::ExternalEvent{"Go", "late"});                // 6: no live wait: buffered
  h.add(events::ExternalEvent{"Other", "x"});                // 7: buffered
  const History& history = h.history();
  CHECK(fold_history(history, 3).carry_forward_count == 2);
  CHECK(fold_history(history, 5).carry_forward_count == 2);
  CHECK(fold_history(history, 7).carry_forward_count == 4);

  h.add(events::QueueSubscribed{"inbox"});                   // 8: takes carried-1 at once
  h.add(events::ExternalSubscribed{"Go"});                   // 9: takes "late"
  HistoryState taken = fold_history(h.history(), h.history().size());
  CHECK(taken.carry_forward_count == 2);
  CHECK(taken.pending.empty());

  h.add(events::ExternalSubscribed{"Note"});                 // 10: takes carried-2
  h.add(events::QueueSubscribed{"inbox"});                   // 11: waits
  h.add(events::QueueEventDelivered{"inbox", "m"});          // 12: to that wait
  CHECK(fold_history(h.history(), h.history().size()).carry_forward_count == 1);  // "Other"

  h.add(events::OrchestrationContinuedAsNew{"next", ""});    // ended: nothing is pending here
  HistoryState ended = fold_history(h.history(), h.history().size());
  CHECK(ended.carry_forward_count == 0);
  CHECK(fold_history(h.history(), h.history().size() - 1).carry_forward_count == 1);
}

// Field by field: a HistoryState has no operator==.
void check_same_state(const HistoryState& a, const HistoryState& b) {
  CHECK(a.events_applied == b.events_applied);
  CHECK(a.state == b.state);
  CHECK(a.continued_as_new == b.continued_as_new);
  CHECK(a.output == b.output);
  CHECK(a.error.has_value() == b.error.has_value());
  CHECK(a.custom_status == b.custom_status);
  CHECK(a.cancel_requested == b.cancel_requested);
  CHECK(a.pending == b.pending);
  CHECK(a.carry_forward_count == b.carry_forward_count);
}

TEST_CASE("fold_history_steps: the state after each event of a window, as fold_history gives it",
          "[history_state][replay]") {
  HistoryBuilder h;
  EventId a = h.activity("A", "in");                        // 2
  h.add(events::ExternalEvent{"Go", "early"});              // 3: buffered
  h.add(events::CustomStatusUpdated{"busy"});               // 4
  h.add(events::ExternalSubscribed{"Go"});                  // 5: takes it
  h.completed(a, "done");                                   // 6
  h.add(events::OrchestrationCancelRequested{"user"});      // 7
  h.add(events::OrchestrationFailed{ErrorDetails::cancelled("user")});  // 8
  const History& history = h.history();
  for (std::size_t from = 0; from <= history.size() + 1; ++from) {
    for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{100}}) {
      const std::vector<HistoryStep> steps = fold_history_steps(history, from, count);
      const std::size_t expected = from >= history.size() ? 0 : std::min(count, history.size() - from);
      REQUIRE(steps.size() == expected);
      for (std::size_t k = 0; k < steps.size(); ++k) {
        INFO("from " << from << ", step " << k);
        const HistoryState whole = fold_history(history, from + k + 1);
        check_same_state(steps[k].state, whole);
        CHECK(steps[k].pending_total == whole.pending.size());
      }
    }
  }
}

TEST_CASE("fold_history_steps keeps a step's first pending items, inputs cut, and counts them all",
          "[history_state][replay]") {
  HistoryBuilder h;
  const std::string big(kMaxPendingInputKept + 10, 'x');
  for (std::size_t i = 0; i < kMaxPendingKept + 5; ++i) h.activity("A", i == 0 ? big : std::to_string(i));
  const std::vector<HistoryStep> last = fold_history_steps(h.history(), h.history().size() - 1, 1);
  REQUIRE(last.size() == 1);
  CHECK(last[0].pending_total == kMaxPendingKept + 5);
  REQUIRE(last[0].state.pending.size() == kMaxPendingKept);
  CHECK(last[0].state.pending[0].input == big.substr(0, kMaxPendingInputKept));
  CHECK(last[0].state.pending[0].input_truncated);
  CHECK(last[0].state.pending[1].input == "1");
  CHECK(last[0].state.pending == pending_snapshot(fold_history(h.history(), h.history().size()).pending).work);
}
