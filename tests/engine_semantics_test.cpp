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

Registry engine_registry() {
  Registry registry;
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

}  // namespace

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
