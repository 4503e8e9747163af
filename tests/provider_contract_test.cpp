// The provider contract (docs/store-contract.md), hot path: atomicity,
// instance locking, worker queue, timers, executions, poison, errors.
#include <algorithm>
#include <map>
#include <set>

#include "provider_suite.hpp"

using namespace duroxide;
using namespace duroxide::testing;

// ---------------------------------------------------------------- atomicity

TEST_CASE("contract: a failed ack writes nothing and keeps the lock", "[provider][atomicity]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("i"), 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck bad;
  bad.history_delta = {started_event(), started_event()};  // duplicate event id 1
  bad.worker_items = {activity("i", 2)};
  bad.orchestrator_items = {{work::ExternalRaised{"other", "e", ""}, 0}};
  bad.metadata = metadata();
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item(item.lock_token, bad); }) ==
        ProviderErrorKind::Conflict);
  CHECK(f.provider().read("i").empty());
  CHECK_FALSE(f.management().get_instance_info("i").has_value());
  CHECK_FALSE(f.provider().fetch_work_item(1000).has_value());
  CHECK_FALSE(f.provider().fetch_orchestration_item(1000).has_value());  // lock still held
  OrchestrationAck good;
  good.history_delta = {started_event()};
  good.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, good);  // the same token still works
  CHECK(f.provider().read("i").size() == 1);
}

TEST_CASE("contract: of two acks with one token exactly one succeeds", "[provider][atomicity]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("i"), 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item(item.lock_token, ack); }) ==
        ProviderErrorKind::InvalidLock);
  CHECK(f.provider().read("i").size() == 1);
}

TEST_CASE("contract: the instance lock is released only by ack or abandon",
          "[provider][atomicity][locking]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("i"), 0);
  OrchestrationItem first = fetch(f);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "e", ""}, 0);
  CHECK_FALSE(f.provider().fetch_orchestration_item(30'000).has_value());
  f.provider().abandon_orchestration_item(first.lock_token, 0, false);
  OrchestrationItem second = fetch(f);
  CHECK(second.instance == "i");
  CHECK(second.messages.size() == 2);
  CHECK(second.lock_token != first.lock_token);
}

// ---------------------------------------------------------------- locking

TEST_CASE("contract: a fetch returns all visible messages of one instance as a batch",
          "[provider][locking]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("i"), 0);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "a", "1"}, 0);
  f.provider().enqueue_orchestrator_item(work::QueueMessage{"i", "q", "2"}, 0);
  OrchestrationItem item = fetch(f);
  REQUIRE(item.messages.size() == 3);
  CHECK(std::holds_alternative<work::StartOrchestration>(item.messages[0]));
  CHECK(std::get<work::ExternalRaised>(item.messages[1]).data == "1");
  CHECK(std::get<work::QueueMessage>(item.messages[2]).data == "2");
  CHECK(item.execution_id == 0);
  CHECK(item.history.empty());
}

TEST_CASE("contract: tokens are unique; unknown or stale tokens are rejected",
          "[provider][locking]") {
  FOR_EACH_PROVIDER(f);
  std::set<std::string> tokens;
  for (int i = 0; i < 5; ++i) {
    f.provider().enqueue_orchestrator_item(start_item("i" + std::to_string(i)), 0);
  }
  for (int i = 0; i < 5; ++i) tokens.insert(fetch(f).lock_token);
  CHECK(tokens.size() == 5);
  OrchestrationAck ack;
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item("no-such-token", ack); }) ==
        ProviderErrorKind::InvalidLock);
  CHECK(provider_error_kind(
            [&] { f.provider().abandon_orchestration_item("no-such-token", 0, false); }) ==
        ProviderErrorKind::InvalidLock);
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item("", ack); }) ==
        ProviderErrorKind::InvalidLock);
}

TEST_CASE("contract: messages that arrive while locked survive the ack", "[provider][locking]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "i");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "first", ""}, 0);
  OrchestrationItem item = fetch(f);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "late", ""}, 0);
  OrchestrationAck ack;
  ack.execution_id = 1;
  ack.history_delta = {Event{2, 0, 0, events::ExternalEvent{"first", ""}}};
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
  OrchestrationItem next = fetch(f);
  REQUIRE(next.messages.size() == 1);
  CHECK(std::get<work::ExternalRaised>(next.messages[0]).name == "late");
  CHECK(next.history.size() == 2);
}

TEST_CASE("contract: locks on different instances are independent", "[provider][locking]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("a"), 0);
  f.provider().enqueue_orchestrator_item(start_item("b"), 0);
  OrchestrationItem a = fetch(f);
  OrchestrationItem b = fetch(f);
  CHECK(a.instance != b.instance);
  f.provider().abandon_orchestration_item(b.lock_token, 0, false);
  CHECK(fetch(f).instance == b.instance);  // a is still locked
}

TEST_CASE("contract: an expired lock frees the instance and its old ack changes nothing",
          "[provider][locking]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("i"), 0);
  OrchestrationItem first = fetch(f, 1000);
  f.clock.advance(999);
  CHECK_FALSE(f.provider().fetch_orchestration_item(1000).has_value());
  f.clock.advance(2);
  OrchestrationItem second = fetch(f, 1000);
  CHECK(second.instance == "i");
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item(first.lock_token, ack); }) ==
        ProviderErrorKind::InvalidLock);
  CHECK(f.provider().read("i").empty());
  f.provider().ack_orchestration_item(second.lock_token, ack);
  CHECK(f.provider().read("i").size() == 1);
}

TEST_CASE("contract: renewing an instance lock extends it", "[provider][locking]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("i"), 0);
  OrchestrationItem item = fetch(f, 1000);
  f.clock.advance(900);
  f.provider().renew_orchestration_item_lock(item.lock_token, 1000);
  f.clock.advance(900);
  CHECK_FALSE(f.provider().fetch_orchestration_item(1000).has_value());
  f.clock.advance(200);
  CHECK(provider_error_kind([&] { f.provider().renew_orchestration_item_lock(item.lock_token, 1000); }) ==
        ProviderErrorKind::InvalidLock);
}

namespace {

// Acks a fetched batch of starts and raised events the way a runtime would,
// appending one event per message; returns the data of the raised events.
std::vector<std::string> ack_batch(Provider& provider, const OrchestrationItem& item) {
  OrchestrationAck ack;
  ack.execution_id = std::max<ExecutionId>(item.execution_id, 1);
  EventId next_id = item.history.size() + 1;
  std::vector<std::string> data;
  for (const auto& message : item.messages) {
    if (std::holds_alternative<work::StartOrchestration>(message)) {
      ack.history_delta.push_back(started_event("Orch", next_id++));
    } else {
      const auto& raised = std::get<work::ExternalRaised>(message);
      ack.history_delta.push_back(Event{next_id++, 0, 0, events::ExternalEvent{raised.name, raised.data}});
      data.push_back(raised.data);
    }
  }
  ack.metadata = metadata();
  provider.ack_orchestration_item(item.lock_token, ack);
  return data;
}

}  // namespace

// Two logical fetchers interleave fetch / ack / stall steps chosen by a fixed
// LCG. A stalled fetcher's lock expires and its late ack must fail; in the end
// every message has been applied exactly once, in order.
TEST_CASE("contract: interleaved fetchers never process a message twice",
          "[provider][locking][contention]") {
  FOR_EACH_PROVIDER(f);
  const int kInstances = 6, kMessagesEach = 5;
  for (int i = 0; i < kInstances; ++i) {
    std::string id = "i" + std::to_string(i);
    f.provider().enqueue_orchestrator_item(start_item(id), 0);
    for (int m = 0; m < kMessagesEach; ++m) {
      f.provider().enqueue_orchestrator_item(work::ExternalRaised{id, "e", std::to_string(m)}, 0);
    }
  }
  std::uint64_t state = 42;
  auto next = [&state](std::uint64_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % bound;
  };
  std::map<std::string, std::vector<std::string>> consumed;
  std::optional<OrchestrationItem> held[2];
  bool stale[2] = {false, false};
  std::set<std::string> locked_now;
  int stale_acks_rejected = 0;
  for (int step = 0; step < 300; ++step) {
    int who = static_cast<int>(next(2));
    auto& slot = held[who];
    if (!slot) {
      slot = f.provider().fetch_orchestration_item(1000);
      if (slot) CHECK(locked_now.insert(slot->instance).second);  // never locked twice at once
      stale[who] = false;
    } else if (stale[who]) {
      CHECK(provider_error_kind([&] { ack_batch(f.provider(), *slot); }) ==
            ProviderErrorKind::InvalidLock);
      ++stale_acks_rejected;
      slot.reset();
    } else if (next(6) == 0) {
      f.clock.advance(1001);  // the fetchers stall: their locks expire
      locked_now.clear();
      stale[0] = held[0].has_value();
      stale[1] = held[1].has_value();
    } else {
      auto data = ack_batch(f.provider(), *slot);
      auto& list = consumed[slot->instance];
      list.insert(list.end(), data.begin(), data.end());
      locked_now.erase(slot->instance);
      slot.reset();
    }
  }
  for (int who = 0; who < 2; ++who) {
    if (held[who] && !stale[who]) f.provider().abandon_orchestration_item(held[who]->lock_token, 0, false);
  }
  f.clock.advance(1001);
  while (auto item = f.provider().fetch_orchestration_item(1000)) {
    auto data = ack_batch(f.provider(), *item);
    auto& list = consumed[item->instance];
    list.insert(list.end(), data.begin(), data.end());
  }
  CHECK(stale_acks_rejected > 0);
  std::vector<std::string> expected;
  for (int m = 0; m < kMessagesEach; ++m) expected.push_back(std::to_string(m));
  REQUIRE(consumed.size() == static_cast<std::size_t>(kInstances));
  for (const auto& [instance, data] : consumed) {
    INFO(instance);
    CHECK(data == expected);
    CHECK(f.provider().read(instance).size() == static_cast<std::size_t>(kMessagesEach + 1));
  }
}

// ---------------------------------------------------------------- worker queue

namespace {

// Puts activities 2..n+1 of instance i on the worker queue through an ack.
void schedule_activities(ProviderUnderTest& f, const std::string& instance, int count) {
  create_instance(f, instance);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{instance, "go", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  for (int k = 0; k < count; ++k) {
    ack.history_delta.push_back(
        Event{static_cast<EventId>(2 + k), 0, 0, events::ActivityScheduled{"Act", "in"}});
    ack.worker_items.push_back(activity(instance, 2 + k));
  }
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
}

}  // namespace

TEST_CASE("contract: the worker queue is FIFO with peek-lock", "[provider][worker]") {
  FOR_EACH_PROVIDER(f);
  schedule_activities(f, "i", 3);
  auto first = f.provider().fetch_work_item(1000);
  auto second = f.provider().fetch_work_item(1000);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->item.id == 2);
  CHECK(second->item.id == 3);
  CHECK(first->attempt_count == 1);
  f.clock.advance(1001);  // both locks expire: visible again, oldest first
  auto again = f.provider().fetch_work_item(1000);
  REQUIRE(again);
  CHECK(again->item.id == 2);
  CHECK(again->attempt_count == 2);
}

TEST_CASE("contract: a fetched work item names its instance's orchestration and version", "[provider][worker]") {
  FOR_EACH_PROVIDER(f);
  schedule_activities(f, "i", 2);
  auto item = f.provider().fetch_work_item(1000);
  REQUIRE(item);
  CHECK(item->item.instance == "i");
  CHECK(item->orchestration_name == "Orch");
  CHECK(item->orchestration_version == "1.0.0");
  std::vector<WorkerItem> batch = f.provider().fetch_work_items(1000, 5, TagFilter{});
  REQUIRE(batch.size() == 1);
  CHECK(batch[0].orchestration_name == "Orch");
  CHECK(batch[0].orchestration_version == "1.0.0");
}

TEST_CASE("contract: a work item whose instance has no row is fetched with an empty orchestration and version",
          "[provider][worker]") {
  FOR_EACH_PROVIDER(f);
  // An ack without history writes no instance row, but queues what it scheduled.
  f.provider().enqueue_orchestrator_item(start_item("ghost"), 0);
  OrchestrationItem turn = fetch(f);
  OrchestrationAck ack;
  ack.worker_items = {activity("ghost", 2), activity("ghost", 3)};
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(turn.lock_token, ack);
  REQUIRE_FALSE(f.management().get_instance_info("ghost").has_value());
  auto item = f.provider().fetch_work_item(1000);
  REQUIRE(item);
  CHECK(item->item.instance == "ghost");
  CHECK(item->orchestration_name.empty());
  CHECK(item->orchestration_version.empty());
  std::vector<WorkerItem> batch = f.provider().fetch_work_items(1000, 5, TagFilter{});
  REQUIRE(batch.size() == 1);
  CHECK(batch[0].item.instance == "ghost");
  CHECK(batch[0].orchestration_name.empty());
  CHECK(batch[0].orchestration_version.empty());
}

TEST_CASE("contract: a worker ack with a completion enqueues it atomically",
          "[provider][worker]") {
  FOR_EACH_PROVIDER(f);
  schedule_activities(f, "i", 2);
  auto item = f.provider().fetch_work_item(1000);
  REQUIRE(item);
  f.provider().ack_work_item(item->lock_token,
                             WorkItem{work::ActivityCompleted{"i", 1, item->item.id, "r"}});
  OrchestrationItem next = fetch(f);
  REQUIRE(next.messages.size() == 1);
  CHECK(std::get<work::ActivityCompleted>(next.messages[0]).result == "r");
  auto other = f.provider().fetch_work_item(1000);
  REQUIRE(other);
  f.provider().ack_work_item(other->lock_token, std::nullopt);  // no completion: just deleted
  CHECK_FALSE(f.provider().fetch_work_item(1000).has_value());
  CHECK(f.management().get_queue_depths().orchestrator_locked == 1);  // only the first
}

TEST_CASE("contract: worker lock renewal and its failures", "[provider][worker]") {
  FOR_EACH_PROVIDER(f);
  schedule_activities(f, "i", 3);
  auto a = f.provider().fetch_work_item(1000);
  REQUIRE(a);
  f.clock.advance(900);
  f.provider().renew_work_item_lock(a->lock_token, 1000);
  f.clock.advance(900);
  CHECK(f.provider().fetch_work_item(1000)->item.id == 3);  // a is still locked
  CHECK(provider_error_kind([&] { f.provider().renew_work_item_lock("bogus", 1000); }) ==
        ProviderErrorKind::InvalidLock);
  f.provider().ack_work_item(a->lock_token, std::nullopt);
  CHECK(provider_error_kind([&] { f.provider().renew_work_item_lock(a->lock_token, 1000); }) ==
        ProviderErrorKind::InvalidLock);  // after ack
  auto c = f.provider().fetch_work_item(100);
  REQUIRE(c);
  CHECK(c->item.id == 4);
  f.clock.advance(101);
  CHECK(provider_error_kind([&] { f.provider().renew_work_item_lock(c->lock_token, 1000); }) ==
        ProviderErrorKind::InvalidLock);  // after expiry
}

TEST_CASE("contract: cancelled activities are removed by the orchestration ack",
          "[provider][worker][cancel]") {
  FOR_EACH_PROVIDER(f);
  schedule_activities(f, "i", 2);
  auto running = f.provider().fetch_work_item(30'000);
  REQUIRE(running);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "stop", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  ack.execution_id = 1;
  ack.history_delta = {Event{4, 0, 0, events::ExternalEvent{"stop", ""}},
                       Event{5, 2, 0, events::ActivityCancelRequested{"stop"}},
                       Event{6, 0, 0, events::ActivityScheduled{"Act", "x"}},
                       Event{7, 6, 0, events::ActivityCancelRequested{"dropped"}}};
  // Activity 6 is scheduled and cancelled in the same ack: inserted first, then removed.
  ack.worker_items = {activity("i", 6)};
  ack.cancelled_activities = {{"i", 1, 2}, {"i", 1, 6}, {"i", 1, 99}};  // 99 does not exist
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
  // The running one lost its lock by "lock stealing": renew and ack fail, permanently.
  CHECK(provider_error_kind([&] { f.provider().renew_work_item_lock(running->lock_token, 1000); }) ==
        ProviderErrorKind::InvalidLock);
  try {
    f.provider().ack_work_item(running->lock_token, std::nullopt);
    FAIL("ack after removal succeeded");
  } catch (const ProviderError& error) {
    CHECK(error.kind() == ProviderErrorKind::InvalidLock);
    CHECK_FALSE(error.retryable());
  }
  auto left = f.provider().fetch_work_item(1000);
  REQUIRE(left);
  CHECK(left->item.id == 3);  // only the activity that was not cancelled
  CHECK_FALSE(f.provider().fetch_work_item(1000).has_value());
}

TEST_CASE("contract: abandoning a work item releases it, optionally delayed",
          "[provider][worker]") {
  FOR_EACH_PROVIDER(f);
  schedule_activities(f, "i", 1);
  auto item = f.provider().fetch_work_item(30'000);
  REQUIRE(item);
  f.provider().abandon_work_item(item->lock_token, 0, false);
  auto again = f.provider().fetch_work_item(30'000);
  REQUIRE(again);
  f.provider().abandon_work_item(again->lock_token, 500, false);
  CHECK_FALSE(f.provider().fetch_work_item(30'000).has_value());
  f.clock.advance(500);
  auto later = f.provider().fetch_work_item(30'000);
  REQUIRE(later);
  CHECK(later->attempt_count == 3);
}

// ---------------------------------------------------------------- timers, executions

TEST_CASE("contract: delayed orchestrator items become visible on the injected clock",
          "[provider][timers]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "i");
  f.provider().enqueue_orchestrator_item(work::TimerFired{"i", 1, 2, 0}, 5000);
  CHECK_FALSE(f.provider().fetch_orchestration_item(1000).has_value());
  CHECK(f.management().get_queue_depths().orchestrator_delayed == 1);
  f.clock.advance(4999);
  CHECK_FALSE(f.provider().fetch_orchestration_item(1000).has_value());
  f.clock.advance(1);
  CHECK(fetch(f).messages.size() == 1);
}

TEST_CASE("contract: executions are isolated and continue-as-new starts a new one",
          "[provider][executions]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "early", ""}, 0);
  CHECK_FALSE(f.management().get_instance_info("i").has_value());  // enqueue never creates
  create_instance(f, "i");
  REQUIRE(f.management().get_instance_info("i").has_value());
  for (ExecutionId execution = 1; execution <= 3; ++execution) {
    f.provider().enqueue_orchestrator_item(work::ContinueAsNew{"i", "Orch", "1.0.0", "x"}, 0);
    OrchestrationItem item = fetch(f);
    CHECK(item.execution_id == execution);
    OrchestrationAck ack;
    ack.execution_id = execution + 1;
    ack.history_delta = {started_event(), Event{2, 0, 0, events::ExternalSubscribed{
                                                             "exec" + std::to_string(execution + 1)}}};
    ack.metadata = metadata();
    f.provider().ack_orchestration_item(item.lock_token, ack);
  }
  CHECK(f.management().get_instance_info("i")->current_execution_id == 4);
  History latest = f.provider().read("i");
  REQUIRE(latest.size() == 2);
  CHECK(latest[1].as<events::ExternalSubscribed>()->name == "exec4");
  CHECK(f.management().read_execution("i", 1).size() == 1);  // older executions stay readable
  CHECK(f.management().read_execution("i", 2)[1].as<events::ExternalSubscribed>()->name ==
        "exec2");
  CHECK(f.management().list_executions("i").size() == 4);
  CHECK(provider_error_kind([&] { f.management().read_execution("i", 9); }) ==
        ProviderErrorKind::NotFound);
}

TEST_CASE("contract: messages sent while a start waits to be retried wait with it and come in its batch",
          "[provider][executions]") {
  FOR_EACH_PROVIDER(f);
  // A first start given back with a delay (an unregistered orchestration's back-off).
  f.provider().enqueue_orchestrator_item(start_item("new"), 0);
  OrchestrationItem first = fetch(f);
  f.provider().abandon_orchestration_item(first.lock_token, 1'000, false);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"new", "go", "1"}, 0);
  // The next execution's start given back with a delay, after its execution before ended.
  create_instance(f, "loop");
  f.provider().enqueue_orchestrator_item(work::ContinueAsNew{"loop", "Orch", "1.0.0", "x"}, 0);
  OrchestrationItem next = fetch(f);
  REQUIRE(next.instance == "loop");
  f.provider().abandon_orchestration_item(next.lock_token, 1'000, false);
  f.provider().enqueue_orchestrator_item(work::CancelInstance{"loop", "stop"}, 0);
  // Neither message is handed out alone (nor parked as the message of no instance).
  CHECK_FALSE(f.provider().fetch_orchestration_item(30'000).has_value());
  const QueueDepths depths = f.management().get_queue_depths();
  CHECK(depths.orchestrator_delayed == 2);
  CHECK(depths.orchestrator_visible == 2);
  CHECK(depths.parked == 0);
  f.clock.advance(1'000);
  for (int i = 0; i < 2; ++i) {
    OrchestrationItem item = fetch(f);
    REQUIRE(item.messages.size() == 2);
    if (item.instance == "new") {
      CHECK(std::holds_alternative<work::StartOrchestration>(item.messages[0]));
      CHECK(std::holds_alternative<work::ExternalRaised>(item.messages[1]));
    } else {
      CHECK(item.instance == "loop");
      CHECK(std::holds_alternative<work::ContinueAsNew>(item.messages[0]));
      CHECK(std::holds_alternative<work::CancelInstance>(item.messages[1]));
    }
  }
}

TEST_CASE("contract: an ack that starts an execution deletes those past the retention",
          "[provider][executions]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "i");
  for (ExecutionId execution = 1; execution <= 4; ++execution) {
    f.provider().enqueue_orchestrator_item(work::ContinueAsNew{"i", "Orch", "1.0.0", "x"}, 0);
    OrchestrationItem item = fetch(f);
    OrchestrationAck ack;
    ack.execution_id = execution + 1;
    ack.history_delta = {started_event()};
    ack.metadata = metadata();
    ack.executions_kept = execution == 1 ? 0 : 2;  // the first new execution keeps all
    f.provider().ack_orchestration_item(item.lock_token, ack);
    CHECK(f.management().list_executions("i").size() == 2);  // 1 and 2, then the newest two
  }
  // Executions 4 and 5 remain, with their histories; 1 to 3 are gone, histories too.
  const auto executions = f.management().list_executions("i");
  REQUIRE(executions.size() == 2);
  CHECK(executions[0].execution_id == 4);
  CHECK(executions[1].execution_id == 5);
  CHECK(f.management().read_execution("i", 4).size() == 1);
  CHECK(provider_error_kind([&] { f.management().read_execution("i", 3); }) == ProviderErrorKind::NotFound);
  CHECK(f.management().get_system_metrics().total_executions == 2);
  CHECK(f.management().get_system_metrics().total_events == 2);
  // An ack within the current execution deletes nothing.
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "e", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck same;
  same.execution_id = 5;
  same.metadata = metadata();
  same.executions_kept = 1;
  f.provider().ack_orchestration_item(item.lock_token, same);
  CHECK(f.management().list_executions("i").size() == 2);
}

TEST_CASE("contract: a retention turned on late deletes a bounded number of executions per ack",
          "[provider][executions]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "i");
  // 150 executions kept whole, then a retention of 2: each ack deletes at most 64 of the
  // oldest, so the third ack after it catches up.
  auto continue_as_new = [&](ExecutionId execution, std::size_t kept) {
    f.provider().enqueue_orchestrator_item(work::ContinueAsNew{"i", "Orch", "1.0.0", "x"}, 0);
    OrchestrationItem item = fetch(f);
    OrchestrationAck ack;
    ack.execution_id = execution;
    ack.history_delta = {started_event()};
    ack.metadata = metadata();
    ack.executions_kept = kept;
    f.provider().ack_orchestration_item(item.lock_token, ack);
  };
  for (ExecutionId execution = 2; execution <= 150; ++execution) continue_as_new(execution, 0);
  REQUIRE(f.management().list_executions("i").size() == 150);
  continue_as_new(151, 2);
  std::vector<ExecutionInfo> executions = f.management().list_executions("i");
  REQUIRE(executions.size() == 151 - kMaxExecutionsDeletedPerAck);
  CHECK(executions.front().execution_id == 1 + kMaxExecutionsDeletedPerAck);  // the oldest went first
  CHECK(provider_error_kind([&] { f.management().read_execution("i", kMaxExecutionsDeletedPerAck); }) ==
        ProviderErrorKind::NotFound);
  CHECK(f.management().read_execution("i", 1 + kMaxExecutionsDeletedPerAck).size() == 1);
  continue_as_new(152, 2);
  CHECK(f.management().list_executions("i").size() == 152 - 2 * kMaxExecutionsDeletedPerAck);
  continue_as_new(153, 2);
  executions = f.management().list_executions("i");
  REQUIRE(executions.size() == 2);  // caught up: the newest two
  CHECK(executions[0].execution_id == 152);
  CHECK(f.management().get_system_metrics().total_executions == 2);
  CHECK(f.management().get_system_metrics().total_events == 2);
}

TEST_CASE("contract: messages for an instance that does not exist never block others",
          "[provider][executions]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"ghost", "e", ""}, 0);
  f.provider().enqueue_orchestrator_item(work::CancelInstance{"ghost2", "r"}, 0);
  f.provider().enqueue_orchestrator_item(start_item("real"), 0);
  OrchestrationItem item = fetch(f);
  CHECK(item.instance == "real");
  CHECK(f.management().get_queue_depths().parked == 2);
  CHECK_FALSE(f.management().get_instance_info("ghost").has_value());
}

// ---------------------------------------------------------------- poison

TEST_CASE("contract: attempt counts for poison detection", "[provider][poison]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("i"), 0);
  OrchestrationItem first = fetch(f, 1000);
  CHECK(first.attempt_count == 1);
  f.provider().abandon_orchestration_item(first.lock_token, 0, false);
  OrchestrationItem second = fetch(f, 1000);
  CHECK(second.attempt_count == 2);
  f.clock.advance(1001);  // expiry counts as an attempt
  OrchestrationItem third = fetch(f, 1000);
  CHECK(third.attempt_count == 3);
  f.provider().abandon_orchestration_item(third.lock_token, 0, /*ignore_attempt=*/true);
  OrchestrationItem fourth = fetch(f, 1000);
  CHECK(fourth.attempt_count == 3);  // the ignored attempt did not count
  // A new message joins the batch with count 1; the batch reports the max.
  f.provider().abandon_orchestration_item(fourth.lock_token, 0, false);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "e", ""}, 0);
  OrchestrationItem batch = fetch(f, 1000);
  CHECK(batch.messages.size() == 2);
  CHECK(batch.attempt_count == 4);
  // Never below zero: ignoring attempts repeatedly on a fresh message.
  f.provider().abandon_orchestration_item(batch.lock_token, 0, true);
  for (int i = 0; i < 6; ++i) {
    OrchestrationItem again = fetch(f, 1000);
    f.provider().abandon_orchestration_item(again.lock_token, 0, true);
  }
  CHECK(fetch(f, 1000).attempt_count == 4);  // ignored attempts leave the count where it was
}

// ---------------------------------------------------------------- errors

TEST_CASE("contract: appending an event id that exists is rejected", "[provider][errors]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "i");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "e", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  ack.history_delta = {Event{1, 0, 0, events::ExternalEvent{"e", ""}}};
  ack.metadata = metadata();
  try {
    f.provider().ack_orchestration_item(item.lock_token, ack);
    FAIL("duplicate event id accepted");
  } catch (const ProviderError& error) {
    CHECK(error.kind() == ProviderErrorKind::Conflict);
    CHECK(std::string(error.what()).find("event id 1 already exists") != std::string::npos);
    CHECK(error.operation() == "ack_orchestration_item");
  }
  CHECK(f.provider().read("i").size() == 1);
}

TEST_CASE("contract: an ack of several events, one of whose ids exists, writes none of them", "[provider][errors]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "i");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "e", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  ack.history_delta = {Event{1, 0, 0, events::ExternalEvent{"e", ""}}, Event{2, 0, 0, events::ExternalEvent{"e", ""}},
                       Event{3, 0, 0, events::ExternalEvent{"e", "\"quoted\", back\\slash, {braces}"}}};
  ack.metadata = metadata();
  try {
    f.provider().ack_orchestration_item(item.lock_token, ack);
    FAIL("duplicate event id accepted");
  } catch (const ProviderError& error) {
    CHECK(error.kind() == ProviderErrorKind::Conflict);
    CHECK(std::string(error.what()).find("already exists in execution 1 of i") != std::string::npos);
  }
  CHECK(f.provider().read("i").size() == 1);
  // The same events after the one that exists are written, in order, each as it was.
  f.provider().abandon_orchestration_item(item.lock_token, 0, true);
  item = fetch(f);
  ack.history_delta.erase(ack.history_delta.begin());
  f.provider().ack_orchestration_item(item.lock_token, ack);
  const History history = f.provider().read("i");
  REQUIRE(history.size() == 3);
  CHECK(history[1] == ack.history_delta[0]);
  CHECK(history[2] == ack.history_delta[1]);
}

TEST_CASE("contract: bad arguments are rejected before anything is written",
          "[provider][errors]") {
  FOR_EACH_PROVIDER(f);
  CHECK(provider_error_kind([&] { f.provider().fetch_orchestration_item(-1); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] {
          f.provider().enqueue_orchestrator_item(work::ExternalRaised{"", "e", ""}, 0);
        }) == ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] {
          f.provider().enqueue_orchestrator_item(WorkItem{activity("i", 2)}, 0);
        }) == ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] {
          f.provider().enqueue_orchestrator_item(start_item("i"), limits::kMaxDelayMs + 1);
        }) == ProviderErrorKind::InvalidInput);
  QueueDepths depths = f.management().get_queue_depths();
  CHECK(depths.orchestrator_visible + depths.orchestrator_delayed == 0);
}

// A lock of 0 ms has expired when it is taken: a batch could take the same instance twice,
// each time with a new token (the first already dead), and another runtime could take it too.
TEST_CASE("contract: a fetch refuses a lock timeout of 0", "[provider][errors]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("i"), 0);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "b", ""}, 0);
  CHECK(provider_error_kind([&] { f.provider().fetch_orchestration_items(0, 2); }) == ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] { f.provider().fetch_orchestration_item(0); }) == ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] { f.provider().fetch_work_items(0, 2, TagFilter{}); }) ==
        ProviderErrorKind::InvalidInput);
  SessionFetch session{"owner", 0};
  CHECK(provider_error_kind([&] { f.provider().fetch_work_items(1000, 2, TagFilter{}, &session); }) ==
        ProviderErrorKind::InvalidInput);
  const std::vector<OrchestrationItem> items = f.provider().fetch_orchestration_items(1, 2);
  REQUIRE(items.size() == 1);  // one instance, once
  CHECK(items[0].messages.size() == 2);
}

#ifndef __EMSCRIPTEN__
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

TEST_CASE("contract: concurrent threads never process a message twice",
          "[provider][locking][contention][threads]") {
  std::vector<std::string> kinds{"shared-provider", "one-per-thread"};
  if (postgres_conninfo()) {
    kinds.push_back("postgres-one-per-thread");
    kinds.push_back("postgres-shared-provider");  // one provider, its connection pool used by 3 threads
  }
  const std::string kind = GENERATE_COPY(from_range(kinds));
  INFO(kind);
  std::string path = "/tmp/duroxide-provider-threads.db";
  ProviderUnderTest::remove_files(path);
  ManualClock clock;
  SequentialIdSource ids_a{"a"}, ids_b{"b"}, ids_c{"c"};
  std::vector<std::unique_ptr<Provider>> providers;
  std::function<std::unique_ptr<Provider>(SequentialIdSource&)> open = [&](SequentialIdSource& ids) -> std::unique_ptr<Provider> {
    return std::make_unique<SqliteProvider>(path, clock, ids);
  };
  StoreOptions pg_options;
  pg_options.schema = unique_schema("threads");
  if (kind == "postgres-one-per-thread" || kind == "postgres-shared-provider") {
    remove_store(postgres_conninfo(), clock, ids_a, pg_options);
    open = [&](SequentialIdSource& ids) -> std::unique_ptr<Provider> {
      return open_store(postgres_conninfo(), clock, ids, pg_options);
    };
  }
  providers.push_back(open(ids_a));
  if (kind.find("shared-provider") == std::string::npos) {
    providers.push_back(open(ids_b));
    providers.push_back(open(ids_c));
  }
  const int kInstances = 20, kEach = 10;
  for (int i = 0; i < kInstances; ++i) {
    providers[0]->enqueue_orchestrator_item(start_item("t" + std::to_string(i)), 0);
    for (int m = 0; m < kEach; ++m) {
      providers[0]->enqueue_orchestrator_item(
          work::ExternalRaised{"t" + std::to_string(i), "e", std::to_string(m)}, 0);
    }
  }
  std::mutex seen_mutex;
  std::map<std::string, std::vector<std::string>> seen;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    Provider& provider = *providers[static_cast<std::size_t>(t) % providers.size()];
    threads.emplace_back([&provider, &seen, &seen_mutex, &errors] {
      for (int idle = 0; idle < 50;) {
        std::optional<OrchestrationItem> item;
        try {
          item = provider.fetch_orchestration_item(60'000);
        } catch (const ProviderError& error) {
          if (!error.retryable()) ++errors;
          ++idle;
          continue;
        }
        if (!item) {
          ++idle;
          std::this_thread::yield();
          continue;
        }
        std::vector<std::string> data;
        try {
          data = ack_batch(provider, *item);
        } catch (const ProviderError&) {
          ++errors;
          continue;
        }
        std::lock_guard<std::mutex> lock(seen_mutex);
        auto& list = seen[item->instance];
        list.insert(list.end(), data.begin(), data.end());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(errors.load() == 0);
  REQUIRE(seen.size() == static_cast<std::size_t>(kInstances));
  for (const auto& [instance, data] : seen) {
    CHECK(data.size() == static_cast<std::size_t>(kEach));
    CHECK(providers[0]->read(instance).size() == static_cast<std::size_t>(kEach + 1));
  }
  providers.clear();
  if (kind.rfind("postgres", 0) == 0) remove_store(postgres_conninfo(), clock, ids_a, pg_options);
  ProviderUnderTest::remove_files(path);
}
#endif

// ---------------------------------------------------------------- batches (group commit)

TEST_CASE("contract: a batched fetch locks distinct instances, each as a single fetch would",
          "[provider][batch]") {
  FOR_EACH_PROVIDER(f);
  for (const char* id : {"a", "b", "c", "d", "e"}) f.provider().enqueue_orchestrator_item(start_item(id), 0);
  std::vector<OrchestrationItem> batch = f.provider().fetch_orchestration_items(30'000, 3);
  REQUIRE(batch.size() == 3);
  std::set<std::string> instances;
  std::set<std::string> tokens;
  for (const OrchestrationItem& item : batch) {
    instances.insert(item.instance);
    tokens.insert(item.lock_token);
    CHECK(item.messages.size() == 1);
    CHECK(item.attempt_count == 1);
  }
  CHECK(instances.size() == 3);
  CHECK(tokens.size() == 3);
  // The rest come one by one; the batch's instances stay locked.
  std::vector<OrchestrationItem> rest = f.provider().fetch_orchestration_items(30'000, 10);
  REQUIRE(rest.size() == 2);
  for (const OrchestrationItem& item : rest) CHECK(instances.count(item.instance) == 0);
  CHECK(f.provider().fetch_orchestration_items(30'000, 10).empty());
  CHECK(provider_error_kind([&] { f.provider().fetch_orchestration_items(30'000, 0); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] { f.provider().fetch_work_items(30'000, kMaxBatchItems + 1); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] { f.provider().ack_work_items({}); }) == ProviderErrorKind::InvalidInput);
}

TEST_CASE("contract: a batched fetch takes instances by their first visible message, past locked ones",
          "[provider][batch]") {
  FOR_EACH_PROVIDER(f);
  // At one instant the enqueue order decides.
  for (const char* id : {"a", "b", "c"}) f.provider().enqueue_orchestrator_item(start_item(id), 0);
  std::vector<OrchestrationItem> first = f.provider().fetch_orchestration_items(30'000, 1);
  REQUIRE(first.size() == 1);
  CHECK(first[0].instance == "a");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"a", "behind-its-lock", ""}, 0);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"b", "second", ""}, 0);
  f.provider().enqueue_orchestrator_item(start_item("d"), 0);
  f.provider().enqueue_orchestrator_item(start_item("e"), 5'000);  // not visible yet
  f.clock.advance(1);
  f.provider().enqueue_orchestrator_item(start_item("f"), 0);
  std::vector<OrchestrationItem> batch = f.provider().fetch_orchestration_items(30'000, 10);
  std::vector<std::string> order;
  for (const OrchestrationItem& item : batch) order.push_back(item.instance);
  CHECK(order == std::vector<std::string>{"b", "c", "d", "f"});
  REQUIRE_FALSE(batch.empty());
  CHECK(batch[0].messages.size() == 2);  // b's start and its later event, together
  f.clock.advance(5'000);
  std::vector<OrchestrationItem> later = f.provider().fetch_orchestration_items(30'000, 10);
  REQUIRE(later.size() == 1);
  CHECK(later[0].instance == "e");
}

// Queues a start for each of `ids`, takes them in one batch, and gives each lock token by
// instance.
static std::map<std::string, std::string> lock_started(ProviderUnderTest& f, const std::vector<std::string>& ids) {
  for (const std::string& id : ids) f.provider().enqueue_orchestrator_item(start_item(id), 0);
  std::vector<OrchestrationItem> batch = f.provider().fetch_orchestration_items(30'000, ids.size());
  REQUIRE(batch.size() == ids.size());
  std::map<std::string, std::string> token;
  for (const OrchestrationItem& item : batch) token[item.instance] = item.lock_token;
  return token;
}

TEST_CASE("contract: each ack of a batch commits or fails on its own", "[provider][batch][atomicity]") {
  FOR_EACH_PROVIDER(f);
  std::map<std::string, std::string> token = lock_started(f, {"a", "b", "c", "d"});

  OrchestrationAck good;
  good.history_delta = {started_event()};
  good.metadata = metadata();
  OrchestrationAck bad = good;
  bad.history_delta.push_back(started_event());  // duplicate event id 1
  bad.worker_items = {activity("b", 2)};
  bad.orchestrator_items = {{work::ExternalRaised{"a", "from-b", ""}, 0}};
  bad.activity_outcomes = {{"Counted", ActivityOutcome::Kind::Completed, 50}};
  OrchestrationAck with_activity = good;
  with_activity.worker_items = {activity("c", 2)};
  with_activity.activity_outcomes = {{"Counted", ActivityOutcome::Kind::Completed, 10},
                                     {"Counted", ActivityOutcome::Kind::Scheduled, 0}};
  std::vector<OrchestrationAckRequest> requests = {
      {token["a"], good}, {token["b"], bad}, {token["c"], with_activity}, {"no-such-token", good}};
  std::vector<AckOutcome> outcomes = f.provider().ack_orchestration_items(requests);
  REQUIRE(outcomes.size() == 4);
  CHECK_FALSE(outcomes[0].has_value());
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->kind() == ProviderErrorKind::Conflict);
  CHECK_FALSE(outcomes[2].has_value());
  REQUIRE(outcomes[3].has_value());
  CHECK(outcomes[3]->kind() == ProviderErrorKind::InvalidLock);

  CHECK(f.provider().read("a").size() == 1);
  CHECK(f.provider().read("c").size() == 1);
  CHECK(f.provider().read("b").empty());  // nothing of the failed ack
  CHECK_FALSE(f.management().get_instance_info("b").has_value());
  const std::vector<ActivityStats> activity_stats = f.management().get_activity_stats({}, {});
  REQUIRE(activity_stats.size() == 1);  // c's outcomes alone: the failed ack's were not counted
  CHECK(activity_stats[0].activity_name == "Counted");
  CHECK(activity_stats[0].scheduled == 1);
  CHECK(activity_stats[0].completed == 1);
  CHECK(activity_stats[0].avg_duration_ms == 10);
  QueueDepths depths = f.management().get_queue_depths();
  CHECK(depths.orchestrator_visible == 0);  // b's message to a was not written
  CHECK(depths.worker_visible == 1);        // c's activity only
  CHECK(depths.orchestrator_locked == 2);   // b and d keep their locks and messages
  CHECK(f.provider().fetch_orchestration_items(30'000, 4).empty());
  // The failed ack's token still works, as after a failed single ack.
  CHECK_FALSE(f.provider().ack_orchestration_items({{token["b"], good}}).front().has_value());
  CHECK(f.provider().read("b").size() == 1);
  // An ack a second time with a used token fails alone.
  outcomes = f.provider().ack_orchestration_items({{token["a"], good}, {token["d"], good}});
  REQUIRE(outcomes[0].has_value());
  CHECK(outcomes[0]->kind() == ProviderErrorKind::InvalidLock);
  CHECK_FALSE(outcomes[1].has_value());
  CHECK(f.management().count_instances({}) == 4);
}

namespace {

// The first and last acks of a batch committed; every one between failed as InvalidLock.
void check_only_ends_succeed(const std::vector<AckOutcome>& outcomes) {
  REQUIRE(outcomes.size() >= 2);
  CHECK_FALSE(outcomes.front().has_value());
  CHECK_FALSE(outcomes.back().has_value());
  for (std::size_t i = 1; i + 1 < outcomes.size(); ++i) {
    REQUIRE(outcomes[i].has_value());
    CHECK(outcomes[i]->kind() == ProviderErrorKind::InvalidLock);
  }
}

}  // namespace

TEST_CASE("contract: an ack of a batch refused before it reaches the store leaves the acks around it",
          "[provider][batch][atomicity]") {
  FOR_EACH_PROVIDER(f);
  std::vector<OrchestrationItem> batch = started_batch(f.provider(), {"a", "b"});
  const OrchestrationAck good = first_turn_ack();
  // The malformed token is refused before any statement of its ack is run or queued.
  std::vector<AckOutcome> outcomes = f.provider().ack_orchestration_items(
      {{batch[0].lock_token, good}, {"", good}, {std::string(300, 't'), good}, {batch[1].lock_token, good}});
  REQUIRE(outcomes.size() == 4);
  check_only_ends_succeed(outcomes);
  CHECK(f.provider().read(batch[0].instance).size() == 1);
  CHECK(f.provider().read(batch[1].instance).size() == 1);
  CHECK(f.management().count_instances({}) == 2);
  // The same, first in its batch (nothing of the transaction has reached the store yet).
  f.provider().enqueue_orchestrator_item(start_item("c"), 0);
  batch = f.provider().fetch_orchestration_items(30'000, 1);
  REQUIRE(batch.size() == 1);
  outcomes = f.provider().ack_orchestration_items({{"", good}, {batch[0].lock_token, good}});
  REQUIRE(outcomes[0].has_value());
  CHECK(outcomes[0]->kind() == ProviderErrorKind::InvalidLock);
  CHECK_FALSE(outcomes[1].has_value());
  CHECK(f.provider().read("c").size() == 1);
  // One token twice in a batch: the second ack finds the lock the first released.
  f.provider().enqueue_orchestrator_item(start_item("d"), 0);
  batch = f.provider().fetch_orchestration_items(30'000, 1);
  REQUIRE(batch.size() == 1);
  outcomes = f.provider().ack_orchestration_items({{batch[0].lock_token, good}, {batch[0].lock_token, good}});
  CHECK_FALSE(outcomes[0].has_value());
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->kind() == ProviderErrorKind::InvalidLock);
  CHECK(f.provider().read("d").size() == 1);
}

TEST_CASE("contract: a token no store could have made fails its own ack of a batch", "[provider][batch][atomicity]") {
  FOR_EACH_PROVIDER(f);
  std::vector<OrchestrationItem> batch = started_batch(f.provider(), {"a", "b"});
  const OrchestrationAck good = first_turn_ack();
  // Bytes a token list must quote (array and JSON syntax), invalid UTF-8 and a NUL.
  const std::vector<std::string> strange = {"t\"o,k{e}n\\", std::string("in\xff\xfevalid"), std::string("n\0l", 3),
                                            "NULL", "\u00e9t\u00e9", "'); DROP TABLE instances; --"};
  std::vector<OrchestrationAckRequest> requests = {{batch[0].lock_token, good}};
  for (const std::string& token : strange) requests.push_back({token, good});
  requests.push_back({batch[1].lock_token, good});
  std::vector<AckOutcome> outcomes = f.provider().ack_orchestration_items(requests);
  REQUIRE(outcomes.size() == strange.size() + 2);
  check_only_ends_succeed(outcomes);
  CHECK(f.provider().read(batch[0].instance).size() == 1);
  CHECK(f.provider().read(batch[1].instance).size() == 1);
  CHECK(f.management().count_instances({}) == 2);

  // And in a batch of worker acks.
  schedule_activities(f, "w", 2);
  std::vector<WorkerItem> work = f.provider().fetch_work_items(30'000, 2);
  REQUIRE(work.size() == 2);
  std::vector<WorkAckRequest> worker_requests = {{work[0].lock_token, WorkItem{work::ActivityCompleted{"w", 1, 2, "r"}}}};
  for (const std::string& token : strange) worker_requests.push_back({token, std::nullopt});
  worker_requests.push_back({work[1].lock_token, std::nullopt});
  outcomes = f.provider().ack_work_items(worker_requests);
  REQUIRE(outcomes.size() == strange.size() + 2);
  check_only_ends_succeed(outcomes);
  CHECK(f.management().get_queue_depths().worker_locked == 0);
}

TEST_CASE("contract: a batch of acks finds its locks whatever printable characters the tokens hold",
          "[provider][batch]") {
  // The tokens of a batch reach the store as one list parameter (a JSON array on SQLite,
  // a text[] literal on PostgreSQL): quotes, backslashes, commas and braces are quoted.
  testing::TokenPrefix prefix("t\"o,k{e}n\\ '[x]'");
  FOR_EACH_PROVIDER(f);
  std::vector<OrchestrationItem> batch = started_batch(f.provider(), {"a", "b", "c"});
  CHECK(batch[0].lock_token.find("t\"o,k{e}n\\ '[x]'") == 0);
  const OrchestrationAck good = first_turn_ack();
  std::vector<AckOutcome> outcomes = f.provider().ack_orchestration_items(
      {{batch[0].lock_token, good}, {batch[1].lock_token, good}, {batch[2].lock_token, good}});
  REQUIRE(outcomes.size() == 3);
  for (const AckOutcome& outcome : outcomes) CHECK_FALSE(outcome.has_value());
  for (const OrchestrationItem& item : batch) CHECK(f.provider().read(item.instance).size() == 1);
  CHECK(f.management().get_queue_depths().orchestrator_locked == 0);
}

TEST_CASE("contract: batched worker fetches are FIFO and their acks independent", "[provider][batch][worker]") {
  FOR_EACH_PROVIDER(f);
  schedule_activities(f, "i", 4);
  std::vector<WorkerItem> batch = f.provider().fetch_work_items(1000, 3);
  REQUIRE(batch.size() == 3);
  CHECK(batch[0].item.id == 2);
  CHECK(batch[1].item.id == 3);
  CHECK(batch[2].item.id == 4);
  CHECK(batch[0].attempt_count == 1);
  auto last = f.provider().fetch_work_item(1000);
  REQUIRE(last);
  CHECK(last->item.id == 5);

  std::vector<AckOutcome> outcomes = f.provider().ack_work_items(
      {{batch[0].lock_token, WorkItem{work::ActivityCompleted{"i", 1, 2, "r2"}}},
       {"no-such-token", WorkItem{work::ActivityCompleted{"i", 1, 3, "r3"}}},
       {batch[2].lock_token, std::nullopt}});
  REQUIRE(outcomes.size() == 3);
  CHECK_FALSE(outcomes[0].has_value());
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->kind() == ProviderErrorKind::InvalidLock);
  CHECK_FALSE(outcomes[2].has_value());
  OrchestrationItem next = fetch(f);
  REQUIRE(next.messages.size() == 1);  // only the first completion
  CHECK(std::get<work::ActivityCompleted>(next.messages[0]).result == "r2");
  CHECK(f.management().get_queue_depths().worker_locked == 2);  // 3 and 5

  // Expired locks: every ack of the batch fails; the items come back, attempt 2.
  f.clock.advance(1001);
  outcomes = f.provider().ack_work_items({{batch[1].lock_token, std::nullopt}, {last->lock_token, std::nullopt}});
  for (const AckOutcome& outcome : outcomes) {
    REQUIRE(outcome.has_value());
    CHECK(outcome->kind() == ProviderErrorKind::InvalidLock);
  }
  std::vector<WorkerItem> again = f.provider().fetch_work_items(1000, 8);
  REQUIRE(again.size() == 2);
  CHECK(again[0].item.id == 3);
  CHECK(again[0].attempt_count == 2);
  CHECK(again[1].item.id == 5);
}

TEST_CASE("contract: a worker batch's refused acks leave their rows locked and the rest commit",
          "[provider][batch][worker]") {
  // A token given twice (the second finds its row gone), a completion for a target id
  // out of bounds (refused before anything is written), a lock lost to expiry, and
  // good acks around them.
  FOR_EACH_PROVIDER(f);
  schedule_activities(f, "i", 5);
  std::vector<WorkerItem> early = f.provider().fetch_work_items(1000, 1);
  REQUIRE(early.size() == 1);
  f.clock.advance(600);
  std::vector<WorkerItem> batch = f.provider().fetch_work_items(1000, 4);
  REQUIRE(batch.size() == 4);
  f.clock.advance(600);  // early's lock has expired, the batch's have not
  auto done = [](const WorkerItem& item, const std::string& instance = "i") {
    return WorkItem{work::ActivityCompleted{instance, 1, item.item.id, "r" + std::to_string(item.item.id)}};
  };
  const std::string too_long(limits::kMaxIdentifierBytes + 1, 'x');
  std::vector<AckOutcome> outcomes = f.provider().ack_work_items({{batch[0].lock_token, done(batch[0])},
                                                                 {early[0].lock_token, done(early[0])},
                                                                 {batch[1].lock_token, done(batch[1], too_long)},
                                                                 {batch[2].lock_token, done(batch[2])},
                                                                 {batch[2].lock_token, done(batch[2])},
                                                                 {batch[3].lock_token, std::nullopt}});
  REQUIRE(outcomes.size() == 6);
  CHECK_FALSE(outcomes[0].has_value());
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->kind() == ProviderErrorKind::InvalidLock);
  REQUIRE(outcomes[2].has_value());
  CHECK(outcomes[2]->kind() == ProviderErrorKind::InvalidInput);
  CHECK_FALSE(outcomes[3].has_value());
  REQUIRE(outcomes[4].has_value());
  CHECK(outcomes[4]->kind() == ProviderErrorKind::InvalidLock);
  CHECK_FALSE(outcomes[5].has_value());

  // batch[1] keeps its lock (acked again, it commits); early's row is back in the queue.
  CHECK(f.management().get_queue_depths().worker_locked == 1);
  CHECK_FALSE(f.provider().ack_work_items({{batch[1].lock_token, done(batch[1])}}).front().has_value());
  std::vector<WorkerItem> again = f.provider().fetch_work_items(1000, 8);
  REQUIRE(again.size() == 1);
  CHECK(again[0].item.id == early[0].item.id);
  CHECK(again[0].attempt_count == 2);
  OrchestrationItem next = fetch(f);
  std::vector<std::string> results;
  for (const WorkItem& message : next.messages) results.push_back(std::get<work::ActivityCompleted>(message).result);
  CHECK(results == std::vector<std::string>{"r" + std::to_string(batch[0].item.id),
                                            "r" + std::to_string(batch[2].item.id),
                                            "r" + std::to_string(batch[1].item.id)});
}

TEST_CASE("contract: an instance's messages come in the order they were enqueued, whenever each became visible",
          "[provider][batch]") {
  // A timer enqueued first but due later, then an event visible at once: when both are
  // visible, the fetch hands them over in enqueue order, the timer first.
  FOR_EACH_PROVIDER(f);
  create_instance(f, "i");
  f.provider().enqueue_orchestrator_item(work::TimerFired{"i", 1, 2, f.clock.now_ms() + 100}, 100);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "first-visible", "x"}, 0);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "last", "y"}, 50);
  f.clock.advance(100);
  OrchestrationItem item = fetch(f);
  REQUIRE(item.messages.size() == 3);
  CHECK(std::holds_alternative<work::TimerFired>(item.messages[0]));
  CHECK(std::get<work::ExternalRaised>(item.messages[1]).name == "first-visible");
  CHECK(std::get<work::ExternalRaised>(item.messages[2]).name == "last");
}

TEST_CASE("contract: a worker batch takes every visible unlocked row once, in (visible time, id) order",
          "[provider][batch][worker]") {
  // Rows at several visible times, locked rows among them, and one not visible yet: a
  // batch walks past what it took and what others hold (the SQLite store seeks past the
  // previous row instead of stepping over them again) and misses nothing.
  FOR_EACH_PROVIDER(f);
  schedule_activities(f, "i", 6);  // activities 2..7, visible now
  std::vector<WorkerItem> held = f.provider().fetch_work_items(60'000, 3);
  REQUIRE(held.size() == 3);  // 2, 3, 4; 4 stays locked
  f.clock.advance(10);
  f.provider().abandon_work_item(held[1].lock_token, 0, true);  // 3: visible again in its place
  f.provider().abandon_work_item(held[0].lock_token, 5, true);  // 2: visible at +15, behind the others
  f.clock.advance(5);
  schedule_activities(f, "j", 2);  // j's 2 and 3, visible at +15 after 2
  std::vector<WorkerItem> first = f.provider().fetch_work_items(60'000, 1);
  REQUIRE(first.size() == 1);
  CHECK(first[0].item.id == 3);
  f.provider().abandon_work_item(first[0].lock_token, 1'000, true);  // 3: not visible until +1,015

  std::vector<WorkerItem> batch = f.provider().fetch_work_items(60'000, 64);
  std::vector<std::string> taken;
  for (const WorkerItem& item : batch) taken.push_back(item.item.instance + "/" + std::to_string(item.item.id));
  CHECK(taken == std::vector<std::string>{"i/5", "i/6", "i/7", "i/2", "j/2", "j/3"});
  CHECK(f.provider().fetch_work_items(60'000, 64).empty());
  f.clock.advance(1'000);
  std::vector<WorkerItem> last = f.provider().fetch_work_items(60'000, 64);
  REQUIRE(last.size() == 1);
  CHECK(last[0].item.id == 3);
}

TEST_CASE("contract: an ack carrying a value the store cannot encode fails alone",
          "[provider][batch][values]") {
  FOR_EACH_PROVIDER(f);
  const std::string garbled = "\xFF\xFE";
  std::map<std::string, std::string> token = lock_started(f, {"a", "b", "c"});
  OrchestrationAck good;
  good.history_delta = {started_event()};
  good.metadata = metadata();
  OrchestrationAck bad_activity = good;
  bad_activity.worker_items = {work::ActivityExecute{"b", 1, 2, "Act", garbled}};
  std::vector<AckOutcome> outcomes = f.provider().ack_orchestration_items(
      {{token["a"], good}, {token["b"], bad_activity}, {token["c"], good}});
  REQUIRE(outcomes.size() == 3);
  CHECK_FALSE(outcomes[0].has_value());
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->kind() == ProviderErrorKind::InvalidInput);
  CHECK_FALSE(outcomes[2].has_value());
  CHECK(f.provider().read("a").size() == 1);
  CHECK(f.provider().read("b").empty());
  CHECK(f.provider().read("c").size() == 1);
  CHECK(f.management().get_queue_depths().worker_visible == 0);
  // A single ack reports the same error as a ProviderError.
  OrchestrationAck bad_event = good;
  bad_event.history_delta.push_back(Event{2, 0, 0, events::OrchestrationCompleted{garbled}});
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item(token["b"], bad_event); }) ==
        ProviderErrorKind::InvalidInput);

  schedule_activities(f, "w", 3);
  std::vector<WorkerItem> work = f.provider().fetch_work_items(30'000, 3);
  REQUIRE(work.size() == 3);
  outcomes = f.provider().ack_work_items(
      {{work[0].lock_token, WorkItem{work::ActivityCompleted{"w", 1, 2, "r2"}}},
       {work[1].lock_token, WorkItem{work::ActivityCompleted{"w", 1, 3, garbled}}},
       {work[2].lock_token, WorkItem{work::ActivityCompleted{"w", 1, 4, "r4"}}}});
  REQUIRE(outcomes.size() == 3);
  CHECK_FALSE(outcomes[0].has_value());
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->kind() == ProviderErrorKind::InvalidInput);
  CHECK_FALSE(outcomes[2].has_value());
  OrchestrationItem next = fetch(f);
  CHECK(next.messages.size() == 2);
  CHECK(f.management().get_queue_depths().worker_locked == 1);  // the refused ack keeps its lock
  CHECK(provider_error_kind([&] {
          f.provider().ack_work_item(work[1].lock_token, WorkItem{work::ActivityCompleted{"w", 1, 3, garbled}});
        }) == ProviderErrorKind::InvalidInput);
  // A worker ack completes with an activity's result; anything else would reach the
  // orchestration as a message.
  const WorkItem not_a_result = work::ActivityExecute{"w", 1, 3, "Act", "again"};
  CHECK(provider_error_kind([&] { f.provider().ack_work_item(work[1].lock_token, not_a_result); }) ==
        ProviderErrorKind::InvalidInput);
  outcomes = f.provider().ack_work_items({{work[1].lock_token, not_a_result}, {"no-such-token", std::nullopt}});
  REQUIRE(outcomes.size() == 2);
  REQUIRE(outcomes[0].has_value());
  CHECK(outcomes[0]->kind() == ProviderErrorKind::InvalidInput);
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->kind() == ProviderErrorKind::InvalidLock);
  CHECK(f.management().get_queue_depths().worker_locked == 1);  // still held: nothing was acked
}

// ---------------------------------------------------------------- queue listeners

namespace {

struct RecordingListener final : QueueListener {
  std::vector<std::pair<QueueKind, TimestampMs>> told;
  void work_enqueued(QueueKind queue, TimestampMs visible_at_ms) override { told.emplace_back(queue, visible_at_ms); }
};

}  // namespace

TEST_CASE("contract: a store tells its queue listeners what each commit enqueued, and when it is visible",
          "[provider][listeners]") {
  FOR_EACH_PROVIDER(f);
  RecordingListener listener;
  f.provider().add_queue_listener(&listener);
  const TimestampMs now = f.clock.now_ms();
  using Told = std::vector<std::pair<QueueKind, TimestampMs>>;

  f.provider().enqueue_start(start_item("i"));
  CHECK(listener.told == Told{{QueueKind::Orchestrator, 0}});
  listener.told.clear();
  // A refused start (its commit wrote nothing) tells nothing and queues nothing.
  CHECK(provider_error_kind([&] { f.provider().enqueue_start(start_item("i")); }) == ProviderErrorKind::Conflict);
  CHECK(listener.told.empty());
  CHECK(f.management().get_queue_depths().orchestrator_visible == 1);

  OrchestrationItem item = fetch(f);
  CHECK(listener.told.empty());  // a fetch enqueues nothing
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.worker_items = {activity("i", 2)};
  ack.orchestrator_items = {{work::TimerFired{"i", 1, 3, now + 5'000}, now + 5'000},
                            {work::ExternalRaised{"other", "e", ""}, now}};
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
  CHECK(listener.told == Told{{QueueKind::Worker, 0}, {QueueKind::Orchestrator, now + 5'000},
                              {QueueKind::Orchestrator, now}});
  listener.told.clear();

  std::optional<WorkerItem> work = f.provider().fetch_work_item(30'000);
  REQUIRE(work);
  f.provider().ack_work_item(work->lock_token, WorkItem{work::ActivityCompleted{"i", 1, 2, "ok"}});
  CHECK(listener.told == Told{{QueueKind::Orchestrator, 0}});
  listener.told.clear();

  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "e", ""}, 250);
  CHECK(listener.told == Told{{QueueKind::Orchestrator, now + 250}});
  listener.told.clear();

  // A failed ack tells nothing; a removed listener is told nothing more.
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item("no-such-token", ack); }) ==
        ProviderErrorKind::InvalidLock);
  CHECK(listener.told.empty());
  f.provider().remove_queue_listener(&listener);
  f.provider().enqueue_start(start_item("j"));
  CHECK(listener.told.empty());
}

TEST_CASE("contract: an ack that continues an instance as another version updates its row and its counts",
          "[provider][executions]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "i");
  InstanceFilter v1;
  v1.orchestration_version = "1.0.0";
  InstanceFilter v2;
  v2.orchestration_version = "2.0.0";
  REQUIRE(f.management().count_instances(v1) == 1);

  f.clock.advance(1'000);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck next;
  next.execution_id = 2;
  next.history_delta = {Event{1, 0, 0, events::OrchestrationStarted{"Orch", "2.0.0", "", "", 0}}};
  next.metadata = metadata();
  next.metadata.orchestration_version = "2.0.0";
  next.metadata.custom_status = "moved";
  next.metadata.custom_status_changed = true;
  f.provider().ack_orchestration_item(item.lock_token, next);

  std::optional<InstanceInfo> info = f.management().get_instance_info("i");
  REQUIRE(info);
  CHECK(info->orchestration_name == "Orch");
  CHECK(info->orchestration_version == "2.0.0");
  CHECK(info->current_execution_id == 2);
  CHECK(info->custom_status == std::optional<std::string>("moved"));
  CHECK(info->custom_status_version == 1);
  CHECK(info->updated_at_ms == f.clock.now_ms());
  CHECK(info->created_at_ms < info->updated_at_ms);
  CHECK(f.management().count_instances(v1) == 0);
  CHECK(f.management().count_instances(v2) == 1);
  CHECK(f.management().count_by_status(v2)[RuntimeState::Running] == 1);

  // A message that changes nothing leaves the row as it was, updated_at included.
  f.clock.advance(1'000);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "noise", ""}, 0);
  item = fetch(f);
  OrchestrationAck quiet;
  quiet.execution_id = 2;
  quiet.metadata = next.metadata;
  quiet.metadata.custom_status_changed = false;
  f.provider().ack_orchestration_item(item.lock_token, quiet);
  std::optional<InstanceInfo> after = f.management().get_instance_info("i");
  REQUIRE(after);
  CHECK(after->updated_at_ms == info->updated_at_ms);
  CHECK(after->custom_status_version == 1);
  CHECK(after->orchestration_version == "2.0.0");
}

// The status counts (what count_by_status and the unfiltered counts read) against the
// rows themselves (a creation-time window makes a count read the rows), state by state.
static void require_counts_match_rows(ProviderUnderTest& f, std::map<RuntimeState, std::uint64_t> expected) {
  const std::map<RuntimeState, std::uint64_t> counted = f.management().count_by_status(InstanceFilter{});
  for (RuntimeState state : {RuntimeState::Running, RuntimeState::Completed, RuntimeState::Failed}) {
    InstanceFilter rows;
    rows.states = {state};
    rows.created_from_ms = 0;
    rows.created_to_ms = INT64_MAX;
    const auto it = counted.find(state);
    const std::uint64_t count = it == counted.end() ? 0 : it->second;
    INFO("state " << to_string(state));
    CHECK(count == expected[state]);
    CHECK(f.management().count_instances(rows) == expected[state]);
  }
}

TEST_CASE("contract: status counts follow a batch of acks; a refused ack counts nowhere",
          "[provider][batch][counts]") {
  FOR_EACH_PROVIDER(f);
  std::map<std::string, std::string> token = lock_started(f, {"a", "b", "c", "d", "e"});
  OrchestrationAck running;
  running.history_delta = {started_event()};
  running.metadata = metadata();
  OrchestrationAck finished = running;  // started and completed in one turn
  finished.history_delta.push_back(Event{2, 0, 0, events::OrchestrationCompleted{"done"}});
  finished.metadata = metadata(RuntimeState::Completed);
  OrchestrationAck refused = running;
  refused.worker_items = {work::ActivityExecute{"c", 1, 2, "Act", "\xFF\xFE"}};
  OrchestrationAck child = running;
  child.history_delta = {started_event("Orch", 1, "a")};
  child.metadata = metadata(RuntimeState::Running, "a");
  // The activity statistics and time series the batch sums leave the refused acks out too.
  // c is refused before its activity outcomes are summed; e, whose delta repeats an event
  // id, after them where the store sends an ack's writes ahead and hears the refusal later
  // (PostgreSQL's pipelined batch), and before them where each write runs at once.
  using Outcome = ActivityOutcome::Kind;
  running.activity_outcomes = {{"Act", Outcome::Scheduled, 0}};
  finished.activity_outcomes = {{"Act", Outcome::Completed, 5}};
  refused.activity_outcomes = {{"Act", Outcome::Scheduled, 0}, {"Act", Outcome::Failed, 70}};
  child.activity_outcomes = {{"Act", Outcome::Failed, 9}};
  OrchestrationAck repeated = running;
  repeated.history_delta.push_back(started_event());  // event id 1 twice
  repeated.activity_outcomes = {{"Act", Outcome::Completed, 300}, {"Act", Outcome::Failed, 400}};
  std::vector<AckOutcome> outcomes = f.provider().ack_orchestration_items({{token["a"], running},
                                                                           {token["b"], finished},
                                                                           {token["c"], refused},
                                                                           {token["d"], child},
                                                                           {token["e"], repeated}});
  REQUIRE(outcomes.size() == 5);
  CHECK(outcomes[2].has_value());
  REQUIRE(outcomes[4].has_value());
  INFO(outcomes[4]->what());
  CHECK(outcomes[4]->kind() == ProviderErrorKind::Conflict);
  require_counts_match_rows(f, {{RuntimeState::Running, 2}, {RuntimeState::Completed, 1}});
  const std::vector<ActivityStats> activities = f.management().get_activity_stats("Act", "");
  REQUIRE(activities.size() == 1);
  CHECK(activities[0].scheduled == 1);
  CHECK(activities[0].completed == 1);
  CHECK(activities[0].failed == 1);
  CHECK(activities[0].avg_duration_ms == 7);
  TimeSeriesQuery whole;  // the minutes around the fixture's clock
  whole.from_ms = std::max<TimestampMs>(f.clock.now_ms() - 600'000, 0);
  whole.to_ms = f.clock.now_ms() + 600'000;
  std::uint64_t starts = 0;
  std::uint64_t completions = 0;
  for (const TimeSeriesPoint& point : f.management().get_time_series(whole)) {
    starts += point.starts;
    completions += point.completions;
  }
  CHECK(starts == 3);
  CHECK(completions == 1);
  InstanceFilter roots;
  roots.roots_only = true;
  CHECK(f.management().count_instances(roots) == 2);  // a and b; d has a parent

  // The next batch: a fails, d continues as new under another version, b hears an
  // event that changes nothing.
  for (const char* id : {"a", "b", "d"}) f.provider().enqueue_orchestrator_item(work::ExternalRaised{id, "go", ""}, 0);
  std::vector<OrchestrationItem> batch = f.provider().fetch_orchestration_items(30'000, 4);
  for (const OrchestrationItem& item : batch) token[item.instance] = item.lock_token;
  REQUIRE(token.count("a") + token.count("b") + token.count("d") == 3);
  OrchestrationAck failed;
  failed.history_delta = {Event{2, 0, 0, events::OrchestrationFailed{ErrorDetails::orchestration_failed("broke")}}};
  failed.metadata = metadata(RuntimeState::Failed);
  OrchestrationAck quiet;
  quiet.metadata = metadata(RuntimeState::Completed);
  OrchestrationAck moved;
  moved.execution_id = 2;
  moved.history_delta = {Event{1, 0, 0, events::OrchestrationStarted{"Orch", "2.0.0", "", "a", 2}}};
  moved.metadata = metadata(RuntimeState::Running, "a");
  moved.metadata.orchestration_version = "2.0.0";
  outcomes = f.provider().ack_orchestration_items({{token["a"], failed}, {token["b"], quiet}, {token["d"], moved}});
  for (const AckOutcome& outcome : outcomes) CHECK_FALSE(outcome.has_value());
  require_counts_match_rows(f, {{RuntimeState::Running, 1}, {RuntimeState::Completed, 1}, {RuntimeState::Failed, 1}});
  InstanceFilter v2;
  v2.orchestration_version = "2.0.0";
  CHECK(f.management().count_by_status(v2)[RuntimeState::Running] == 1);
  CHECK(f.management().count_instances(roots) == 2);

  // An import counts its row; a delete takes it out again.
  InstanceExport copy = f.management().export_instance("b");
  copy.info.instance = "b-copy";
  f.management().import_instance(copy);
  require_counts_match_rows(f, {{RuntimeState::Running, 1}, {RuntimeState::Completed, 2}, {RuntimeState::Failed, 1}});
  BulkDeleteRequest drop;
  drop.instances = {"b-copy"};
  CHECK(f.management().delete_instances(drop).instances == 1);
  require_counts_match_rows(f, {{RuntimeState::Running, 1}, {RuntimeState::Completed, 1}, {RuntimeState::Failed, 1}});
}
