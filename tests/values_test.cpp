// A bad value fails only its own item: results, outputs and error texts the
// store cannot encode fail that activity or instance, and the rest of a batch
// commits. Runs on every provider kind.
#include <catch2/catch.hpp>

#include "duroxide/duroxide.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/text.hpp"
#include "forwarding_store.hpp"
#include "step_host.hpp"

using namespace duroxide;

namespace {

RuntimeOptions batched_options() {
  RuntimeOptions options;
  options.orchestration_batch_size = 8;
  options.worker_batch_size = 8;
  options.max_attempts = 3;
  return options;
}

// A multi-byte character straddling the payload limit: a byte cut at the
// limit would split it.
std::string huge_message_with_split_character() {
  std::string message(limits::kMaxPayloadBytes - 1, 'x');
  message += "\xE2\x82\xAC";  // U+20AC, bytes limit-1 .. limit+1
  message += std::string(100, 'y');
  return message;
}

// Fails the first `failures` acks of each queue with a Transient error, then
// acks through to the real store.
class TransientlyFailingAcks final : public testing::ForwardingStore {
 public:
  TransientlyFailingAcks(Provider& inner, int failures)
      : testing::ForwardingStore(inner), orchestration_failures_(failures), work_failures_(failures) {}
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    fail_while(orchestration_failures_, "ack_orchestration_item");
    inner_.ack_orchestration_item(token, ack);
  }
  void ack_work_item(const std::string& token, const std::optional<WorkItem>& completion) override {
    fail_while(work_failures_, "ack_work_item");
    inner_.ack_work_item(token, completion);
  }

 private:
  static void fail_while(int& remaining, const char* operation) {
    if (remaining <= 0) return;
    --remaining;
    throw ProviderError(ProviderErrorKind::Transient, operation, "database is busy");
  }
  int orchestration_failures_;
  int work_failures_;
};

// Refuses (InvalidInput, as a store refuses a value it cannot encode) every ack
// carrying `marker` as an orchestration output or an activity result.
class RefusesMarkedValues final : public testing::ForwardingStore {
 public:
  RefusesMarkedValues(Provider& inner, std::string marker) : testing::ForwardingStore(inner), marker_(std::move(marker)) {}
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    if (ack.metadata.output == marker_) refuse("ack_orchestration_item");
    inner_.ack_orchestration_item(token, ack);
  }
  void ack_work_item(const std::string& token, const std::optional<WorkItem>& completion) override {
    const auto* completed = completion ? std::get_if<work::ActivityCompleted>(&*completion) : nullptr;
    if (completed && completed->result == marker_) refuse("ack_work_item");
    inner_.ack_work_item(token, completion);
  }

 private:
  [[noreturn]] void refuse(const char* operation) const {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation, "cannot store " + marker_);
  }
  std::string marker_;
};

}  // namespace

TEST_CASE("text helpers cut on a character boundary and repair malformed bytes", "[values]") {
  CHECK(valid_utf8("plain \xE2\x82\xAC"));
  CHECK_FALSE(valid_utf8("\xFF"));
  CHECK_FALSE(valid_utf8("\xED\xA0\x80"));  // a surrogate, as CESU-8 would write it
  CHECK(utf8_prefix("ab\xE2\x82\xAC", 4) == "ab");
  CHECK(utf8_prefix("ab\xE2\x82\xAC", 5) == "ab\xE2\x82\xAC");
  CHECK(repair_utf8("a\xFF" "b") == "a\xEF\xBF\xBD" "b");
  std::string bounded = bounded_text(huge_message_with_split_character(), limits::kMaxPayloadBytes);
  CHECK(bounded.size() == limits::kMaxPayloadBytes - 1);
  CHECK(valid_utf8(bounded));
}

TEST_CASE("a signed 64-bit decimal reads back exactly what std::to_string wrote, and nothing else", "[values]") {
  for (std::int64_t value : {std::int64_t{0}, std::int64_t{-5}, std::int64_t{1'700'000'000'000}, INT64_MAX, INT64_MIN}) {
    CHECK(parse_int64(std::to_string(value)) == value);
  }
  for (const char* bad : {"", "-", "+5", " 5", "5 ", "0x10", "1e3", "9223372036854775808", "-9223372036854775809",
                          "00000000000000000001"}) {
    INFO(bad);
    CHECK_FALSE(parse_int64(bad).has_value());
  }
}

TEST_CASE("time arithmetic on outside data saturates at the 64-bit range", "[values]") {
  constexpr std::int64_t kMax = INT64_MAX, kMin = INT64_MIN;
  CHECK(saturating_add(-5, 60'000) == 59'995);
  CHECK(saturating_add(kMax - 1, 2) == kMax);
  CHECK(saturating_add(kMin + 1, -2) == kMin);
  CHECK(saturating_add(kMin, kMax) == -1);
  CHECK(saturating_sub(10, 3) == 7);
  CHECK(saturating_sub(kMax, kMin) == kMax);
  CHECK(saturating_sub(kMin, 1) == kMin);
  CHECK(saturating_sub(kMin, kMin) == 0);
  CHECK(saturating_sub(-1, kMax) == kMin);
}

TEST_CASE("event descriptions cut long payloads on a character boundary", "[values]") {
  std::string input(119, 'a');
  input += "\xE2\x82\xAC";  // bytes 119..121: a cut at 120 bytes would split it
  input += "tail";
  const std::string text = describe(events::ActivityScheduled{"Act", input});
  CHECK(valid_utf8(text));
  CHECK(text.find(std::string(119, 'a') + "...(126 bytes)") != std::string::npos);
}

TEST_CASE("an activity returning invalid UTF-8 fails alone, once, and the batch commits",
          "[values][batch]") {
  const std::string kind = GENERATE(from_range(testing::provider_kinds()));
  INFO("provider: " << kind);
  int bad_calls = 0;
  Registry registry;
  registry.register_activity("Echo", [](ActivityContext&, const std::string& input) { return input; });
  registry.register_activity("Garbled", [&bad_calls](ActivityContext&, const std::string&) {
    ++bad_calls;
    return std::string("\xFF\xFE not text");
  });
  registry.register_orchestration("Call", [](OrchestrationContext& ctx, std::string activity) -> Task<std::string> {
    try {
      co_return co_await ctx.schedule_activity(activity, "ok");
    } catch (const TaskFailed& failed) {
      co_return "failed: " + failed.details().display_message();
    }
  });
  testing::StepHost host(std::move(registry), {}, kind);
  StepDriver driver(host.store, host.registry, host.clock, batched_options());
  host.client.start_orchestration("good-1", "Call", "Echo");
  host.client.start_orchestration("bad", "Call", "Garbled");
  host.client.start_orchestration("good-2", "Call", "Echo");
  REQUIRE_NOTHROW(driver.run_until_idle());

  CHECK(bad_calls == 1);
  for (const char* id : {"good-1", "good-2"}) {
    OrchestrationStatus status = host.client.get_status(id);
    CHECK(status.state == RuntimeState::Completed);
    CHECK(status.output == "ok");
  }
  OrchestrationStatus bad = host.client.get_status("bad");
  REQUIRE(bad.state == RuntimeState::Completed);
  CHECK(bad.output == "failed: activity Garbled returned a result that is not valid UTF-8");
}

TEST_CASE("an orchestration error over the payload limit is cut on a character and reads back",
          "[values]") {
  const std::string kind = GENERATE(from_range(testing::provider_kinds()));
  const bool as_task_failed = GENERATE(false, true);
  INFO("provider: " << kind << ", TaskFailed: " << as_task_failed);
  Registry registry;
  registry.register_activity("Echo", [](ActivityContext&, const std::string& input) { return input; });
  registry.register_orchestration("Huge", [as_task_failed](OrchestrationContext&, std::string) -> Task<std::string> {
    if (as_task_failed) {
      throw TaskFailed(ErrorDetails::orchestration_failed(huge_message_with_split_character()));
    }
    throw std::runtime_error(huge_message_with_split_character());
    co_return "";
  });
  registry.register_orchestration("Fine", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Echo", "fine");
  });
  testing::StepHost host(std::move(registry), {}, kind);
  StepDriver driver(host.store, host.registry, host.clock, batched_options());
  host.client.start_orchestration("fine", "Fine", "");
  host.client.start_orchestration("huge", "Huge", "");
  REQUIRE_NOTHROW(driver.run_until_idle());

  OrchestrationStatus status = host.client.get_status("huge");
  REQUIRE(status.state == RuntimeState::Failed);
  REQUIRE(status.error.has_value());
  CHECK(status.error->kind == ErrorKind::OrchestrationFailed);
  CHECK(status.error->message.size() == limits::kMaxPayloadBytes - 1);
  CHECK(valid_utf8(status.error->message));
  CHECK(host.client.get_status("fine").state == RuntimeState::Completed);
  SummaryPage page = host.management.list_instances({}, {});
  CHECK(page.instances.size() == 2);
}

TEST_CASE("transient ack failures do not count toward poison", "[values][poison]") {
  const std::string kind = GENERATE(from_range(testing::provider_kinds()));
  INFO("provider: " << kind);
  int calls = 0;
  Registry registry;
  registry.register_activity("Echo", [&calls](ActivityContext&, const std::string& input) {
    ++calls;
    return input;
  });
  registry.register_orchestration("Call", [](OrchestrationContext& ctx, std::string input) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Echo", input);
  });
  testing::StepHost host(std::move(registry), {}, kind);
  RuntimeOptions options;
  options.max_attempts = 3;
  TransientlyFailingAcks flaky(host.store, static_cast<int>(options.max_attempts) + 2);
  StepDriver driver(flaky, host.registry, host.clock, options);
  host.client.start_orchestration("i", "Call", "hi");
  REQUIRE_NOTHROW(driver.run_until_idle());
  OrchestrationStatus status = host.client.get_status("i");
  INFO((status.error ? status.error->display_message() : std::string()));
  CHECK(status.state == RuntimeState::Completed);
  CHECK(status.output == "hi");
  CHECK(calls == static_cast<int>(options.max_attempts) + 3);  // a lost ack runs the activity again
}

TEST_CASE("an ack the store refuses for its values fails its item instead of looping", "[values][batch]") {
  const std::string kind = GENERATE(from_range(testing::provider_kinds()));
  INFO("provider: " << kind);
  int marked_calls = 0;
  Registry registry;
  registry.register_activity("Echo", [&marked_calls](ActivityContext&, const std::string& input) {
    if (input == "unstorable") ++marked_calls;
    return input;
  });
  // Returns the activity's result (or its failure) as the output.
  registry.register_orchestration("Call", [](OrchestrationContext& ctx, std::string input) -> Task<std::string> {
    try {
      co_return co_await ctx.schedule_activity("Echo", input);
    } catch (const TaskFailed& failed) {
      co_return "failed: " + failed.details().display_message();
    }
  });
  // Outputs its input without an activity.
  registry.register_orchestration("Output", [](OrchestrationContext&, std::string input) -> Task<std::string> {
    co_return input;
  });
  testing::StepHost host(std::move(registry), {}, kind);
  RefusesMarkedValues store(host.store, "unstorable");
  StepDriver driver(store, host.registry, host.clock, batched_options());
  host.client.start_orchestration("activity", "Call", "unstorable");
  host.client.start_orchestration("output", "Output", "unstorable");
  host.client.start_orchestration("fine", "Call", "fine");
  REQUIRE_NOTHROW(driver.run_until_idle());

  CHECK(marked_calls == 1);
  OrchestrationStatus activity = host.client.get_status("activity");
  CHECK(activity.state == RuntimeState::Completed);
  CHECK(activity.output ==
        "failed: the store refused the result of activity Echo: ack_work_item: cannot store unstorable");
  OrchestrationStatus output = host.client.get_status("output");
  REQUIRE(output.state == RuntimeState::Failed);
  CHECK(output.error->kind == ErrorKind::Provider);
  CHECK(output.error->message ==
        "the store refused the orchestration's results: ack_orchestration_item: cannot store unstorable");
  const History failed = host.store.read("output");
  CHECK(failed.back().is<events::OrchestrationFailed>());
  // The runtime ended it, not the code: replay takes that failure as the outcome.
  const ReplayReport replayed = replay_history(host.registry, "output", 1, failed);
  CHECK(replayed.deterministic);
  CHECK(replayed.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(host.client.get_status("fine").output == "fine");
}

TEST_CASE("a turn whose ack the store refuses cancels the execution's activities and reports what it consumed",
          "[values][cancel]") {
  const std::string kind = GENERATE(from_range(testing::provider_kinds()));
  INFO("provider: " << kind);
  Registry registry;
  registry.register_activity("Echo", [](ActivityContext&, const std::string& input) { return input; });
  // An activity in flight, then an output the store refuses once the timer fires.
  registry.register_orchestration("Refused", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto running = ctx.schedule_activity("Echo", "x");
    co_await ctx.schedule_timer(10);
    co_return "unstorable";
  });
  testing::StepHost host(std::move(registry), {}, kind);
  RefusesMarkedValues store(host.store, "unstorable");
  RuntimeOptions options = batched_options();
  options.worker_tag_filter = TagFilter::none();  // the activity stays queued: in flight
  std::vector<RuntimeEvent> events;
  StepDriver driver(store, host.registry, host.clock, options,
                    [&events](const RuntimeEvent& event) { events.push_back(event); });
  host.client.start_orchestration("r", "Refused", "");
  driver.run_until_idle();
  REQUIRE(host.admin.get_queue_depths().worker_visible == 1);
  host.clock.advance(10);
  // A completion of no activity arrives with the timer: the turn drops it, with a report.
  host.store.enqueue_orchestrator_item(work::ActivityCompleted{"r", 1, 99, "stray"}, 0);
  driver.run_until_idle();

  REQUIRE(host.client.get_status("r").state == RuntimeState::Failed);
  // The activity is cancelled as at any other end: its worker row is gone.
  const QueueDepths depths = host.admin.get_queue_depths();
  CHECK(depths.worker_visible + depths.worker_locked == 0);
  // The timer the refused turn consumed is reported, not lost without a word; the stray
  // completion the turn itself dropped is reported once, not again for the refusal.
  auto reports = [&events](const std::string& kind) {
    return std::count_if(events.begin(), events.end(), [&kind](const RuntimeEvent& event) {
      return event.kind == RuntimeEvent::Kind::Dropped && event.instance == "r" && event.message.find(kind) == 0;
    });
  };
  CHECK(reports("TimerFired") == 1);
  CHECK(reports("ActivityCompleted") == 1);
}
