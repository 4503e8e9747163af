// Activity sessions: ActivityOptions::session_id in history and on the worker item,
// replay's match of it, the limits, the stores' session-routed fetches and session locks
// (the contract, on every store), and the runtime's routing: every activity of a session
// runs on the runtime that holds it, until that runtime goes idle on it or stops.
#include <algorithm>
#include <set>
#include <stdexcept>

#include "duroxide/management_client.hpp"
#include "duroxide/platform.hpp"
#include "duroxide/runtime.hpp"
#include "forwarding_store.hpp"
#include "provider_suite.hpp"
#include "replay_support.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

// Three activities on session `input`, then one outside any session; returns where each
// ran ("<node>:<session>").
Task<std::string> session_trip(OrchestrationContext& ctx, std::string input) {
  std::string out;
  for (int k = 0; k < 3; ++k) out += co_await ctx.schedule_activity_on_session("Where", "", input) + ",";
  out += co_await ctx.schedule_activity("Where", "");
  co_return out;
}

// One activity on session `input`, then (after the event "go") another.
Task<std::string> two_turns(OrchestrationContext& ctx, std::string input) {
  std::string first = co_await ctx.schedule_activity_on_session("Where", "", input);
  co_await ctx.schedule_wait("go");
  std::string second = co_await ctx.schedule_activity_on_session("Where", "", input);
  co_return first + "|" + second;
}

// Activities on sessions s1, s2 and s1 again, all at once.
Task<std::string> fan_sessions(OrchestrationContext& ctx, std::string) {
  std::vector<DurableFuture> all;
  for (const char* session : {"s1", "s2", "s1"}) all.push_back(ctx.schedule_activity_on_session("Where", "", session));
  std::vector<FutureResult> results = co_await ctx.join(std::move(all));
  std::string out;
  for (const FutureResult& result : results) out += result.value + ",";
  co_return out;
}

// Continues as new once, running an activity on the same session in each execution.
Task<std::string> session_loop(OrchestrationContext& ctx, std::string input) {
  std::string here = co_await ctx.schedule_activity_on_session("Where", "", "loop");
  if (input.empty()) co_await ctx.continue_as_new(here);
  co_return input + "|" + here;
}

Task<std::string> retry_on_session(OrchestrationContext& ctx, std::string input) {
  RetryPolicy policy;
  policy.max_attempts = 2;
  policy.backoff = RetryPolicy::Backoff::None;
  co_return co_await ctx.schedule_activity_with_retry("Where", "", policy, ActivityOptions::on_session(input));
}

// A registry whose "Where" answers "<node>:<session>" ("-" outside sessions).
Registry sessions_registry(const std::string& node) {
  Registry registry;
  registry.register_orchestration("SessionTrip", session_trip);
  registry.register_orchestration("TwoTurns", two_turns);
  registry.register_orchestration("FanSessions", fan_sessions);
  registry.register_orchestration("SessionLoop", session_loop);
  registry.register_orchestration("RetryOnSession", retry_on_session);
  // Its input is the session id, but "invalid" stands for bytes that are not UTF-8.
  registry.register_orchestration("BadSession", [](OrchestrationContext& ctx, std::string input) -> Task<std::string> {
    const std::string session = input == "invalid" ? std::string("s\xff") : input;
    co_return co_await ctx.schedule_activity_on_session("Where", "x", session);
  });
  registry.register_activity("Where", [node](ActivityContext& context, const std::string&) {
    return node + ":" + (context.session_id.empty() ? std::string("-") : context.session_id);
  });
  return registry;
}


}  // namespace

// ---------------------------------------------------------------- engine

TEST_CASE("an activity on a session carries the session id in its event and worker item",
          "[sessions][replay]") {
  Registry registry = sessions_registry("n");
  TurnResult first = turn(registry, {}, {start("SessionTrip", "chat-1")});
  REQUIRE(first.new_events.size() == 2);
  const auto* scheduled = first.new_events[1].as<events::ActivityScheduled>();
  REQUIRE(scheduled != nullptr);
  CHECK(scheduled->session_id == "chat-1");
  CHECK(only_activity(first).session_id == "chat-1");
  CHECK(describe(first.new_events[1].data) ==
        "ActivityScheduled(name=\"Where\", input=\"\", session=\"chat-1\")");

  // Every retry attempt runs in the same session.
  TurnResult retried = turn(registry, {}, {start("RetryOnSession", "chat-2")});
  CHECK(only_activity(retried).session_id == "chat-2");
  History history = appended({}, retried);
  TurnResult second =
      turn(registry, history, {work::ActivityFailed{"inst", 1, 2, ErrorDetails::activity_failed("no")}});
  CHECK(only_activity(second).session_id == "chat-2");
}

TEST_CASE("replay matches the session: a changed or dropped session id is a mismatch naming both commands",
          "[sessions][nondeterminism]") {
  Registry registry = sessions_registry("n");
  HistoryBuilder recorded("BadSession", "s1");
  EventId id = recorded.add(events::ActivityScheduled{"Where", "x", "", "s1"});
  recorded.completed(id, "n:s1");
  recorded.add(events::OrchestrationCompleted{"n:s1"});
  CHECK(replay_history(registry, "inst", 1, recorded.history()).deterministic);

  HistoryBuilder moved = recorded;
  moved.history()[1].data = events::ActivityScheduled{"Where", "x", "", "s2"};
  ReplayReport report = replay_history(registry, "inst", 1, moved.history());
  REQUIRE(report.mismatch);
  CHECK(report.mismatch->event_index == 1);
  CHECK(report.mismatch->expected == "ActivityScheduled(name=\"Where\", input=\"x\", session=\"s2\")");
  CHECK(report.mismatch->actual == "ActivityScheduled(name=\"Where\", input=\"x\", session=\"s1\")");

  // A history written before the code put the activity on a session.
  HistoryBuilder plain = recorded;
  plain.history()[1].data = events::ActivityScheduled{"Where", "x"};
  report = replay_history(registry, "inst", 1, plain.history());
  REQUIRE(report.mismatch);
  CHECK(report.mismatch->expected == "ActivityScheduled(name=\"Where\", input=\"x\")");
}

TEST_CASE("a session id over the limit or not UTF-8 fails the orchestration, naming the limit",
          "[sessions][limits]") {
  Registry registry = sessions_registry("n");
  const std::string at_limit(limits::kMaxSessionIdBytes, 's');
  TurnResult ok = turn(registry, {}, {start("BadSession", at_limit)});
  CHECK(only_activity(ok).session_id == at_limit);

  TurnResult over = turn(registry, {}, {start("BadSession", at_limit + "s")});
  CHECK(over.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(over.outcome.error.message == "an activity session id is 257 bytes, over the limit of 256");
  CHECK(over.worker_items.empty());

  TurnResult invalid = turn(registry, {}, {start("BadSession", "invalid")});
  CHECK(invalid.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(invalid.outcome.error.message == "an activity session id is not valid UTF-8");

  TurnResult nul = turn(registry, {}, {start("BadSession", std::string("s\0", 2))});
  CHECK(nul.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(nul.outcome.error.message == "an activity session id holds a NUL byte");
}

TEST_CASE("the codec keeps a session id, omits an empty one and refuses one over the limit", "[sessions][codec]") {
  const std::string plain = encode_work_item(work::ActivityExecute{"i", 1, 2, "Act", "in"});
  CHECK(plain.find("\"session_id\"") == std::string::npos);
  const WorkItem on_session = work::ActivityExecute{"i", 1, 2, "Act", "in", "gpu", "s\u00e9ance"};
  CHECK(decode_work_item(encode_work_item(on_session)) == on_session);
  const Event event{2, 0, 5, events::ActivityScheduled{"Act", "in", "", "chat-1"}};
  CHECK(decode_event(encode_event(event)) == event);

  PendingSnapshot snapshot;
  snapshot.total = 1;
  PendingWork pending;
  pending.kind = PendingKind::Activity;
  pending.name = "Act";
  pending.session_id = "chat-1";
  snapshot.work.push_back(pending);
  CHECK(decode_pending_snapshot(encode_pending_snapshot(snapshot)) == snapshot);

  const std::string too_long(limits::kMaxSessionIdBytes + 1, 'x');
  try {
    decode_work_item(R"({"kind":"ActivityExecute","instance":"i","execution_id":1,"id":2,"name":"Act","input":"",)"
                     R"("session_id":")" + too_long + R"("})");
    FAIL("a session id over the limit decoded");
  } catch (const CodecError& error) {
    CHECK(error.field() == "work_item.session_id");
  }
}

// ---------------------------------------------------------------- stores

namespace {

// Puts activities 2.. of instance `instance` on the worker queue through one ack, with
// the session ids given ("" for none), in that order.
void schedule_on_sessions(ProviderUnderTest& f, const std::string& instance, const std::vector<std::string>& sessions) {
  create_instance(f, instance);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{instance, "go", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  for (std::size_t k = 0; k < sessions.size(); ++k) {
    const EventId id = static_cast<EventId>(2 + k);
    ack.history_delta.push_back(Event{id, 0, 0, events::ActivityScheduled{"Act", "in", "", sessions[k]}});
    ack.worker_items.push_back(work::ActivityExecute{instance, 1, id, "Act", "in", "", sessions[k]});
  }
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
}

// The activity ids the fetches of `owner` take (nullptr: a fetch without sessions), one
// at a time until none is left, each acked at once; in fetch order.
std::vector<EventId> drain(ProviderUnderTest& f, const SessionFetch* owner) {
  std::vector<EventId> ids;
  while (std::optional<WorkerItem> item = f.provider().fetch_work_item(30'000, TagFilter{}, owner)) {
    ids.push_back(item->item.id);
    f.provider().ack_work_item(item->lock_token, std::nullopt);
  }
  return ids;
}

const SessionFetch kOwnerA{"node-a", 10'000};
const SessionFetch kOwnerB{"node-b", 10'000};

}  // namespace

TEST_CASE("contract: a fetch without sessions passes session items by; an owner claims a session nobody holds",
          "[provider][worker][sessions]") {
  FOR_EACH_PROVIDER(f);
  // ids:                        2     3    4     5    6
  schedule_on_sessions(f, "i", {"s1", "", "s2", "", "s1"});

  CHECK(drain(f, nullptr) == std::vector<EventId>{3, 5});
  // A's first fetch claims s1; B then passes every s1 item by and claims s2.
  std::optional<WorkerItem> first = f.provider().fetch_work_item(30'000, TagFilter{}, &kOwnerA);
  REQUIRE(first.has_value());
  CHECK(first->item.id == 2);
  CHECK(first->item.session_id == "s1");
  CHECK(drain(f, &kOwnerB) == std::vector<EventId>{4});
  // A takes more of its own session while B holds s2.
  CHECK(drain(f, &kOwnerA) == std::vector<EventId>{6});
  f.provider().ack_work_item(first->lock_token, std::nullopt);
  CHECK(f.management().get_queue_depths().worker_visible == 0);
}

TEST_CASE("contract: a session whose lock expired is claimed by the next owner, and is then its own",
          "[provider][worker][sessions]") {
  FOR_EACH_PROVIDER(f);
  schedule_on_sessions(f, "i", {"s1", "s1", "s1"});
  std::optional<WorkerItem> first = f.provider().fetch_work_item(30'000, TagFilter{}, &kOwnerA);
  REQUIRE(first.has_value());  // A claims s1 for 10 s...
  f.provider().ack_work_item(first->lock_token, std::nullopt);
  f.clock.advance(5'000);
  CHECK(f.provider().renew_session_locks(kOwnerA.owner_id, {"s1"}, 10'000) == 1);  // ...renews it for 10 s...
  CHECK(drain(f, &kOwnerB).empty());
  f.clock.advance(9'999);
  CHECK(drain(f, &kOwnerB).empty());
  f.clock.advance(1);  // ...and A renewed it no more
  std::optional<WorkerItem> taken = f.provider().fetch_work_item(30'000, TagFilter{}, &kOwnerB);
  REQUIRE(taken.has_value());
  CHECK(taken->item.id == 3);
  CHECK(drain(f, &kOwnerA).empty());  // B holds s1 now
  CHECK(drain(f, &kOwnerB) == std::vector<EventId>{4});
}

TEST_CASE("contract: renewing extends only the locks the owner still holds", "[provider][worker][sessions]") {
  FOR_EACH_PROVIDER(f);
  schedule_on_sessions(f, "i", {"s1", "s2", "s3", "s1", "s2", "s3"});
  const SessionFetch short_a{"node-a", 1'000};
  const SessionFetch short_b{"node-b", 1'000};
  REQUIRE(f.provider().fetch_work_item(30'000, TagFilter{}, &short_a).has_value());  // s1
  REQUIRE(f.provider().fetch_work_item(30'000, TagFilter{}, &short_a).has_value());  // s2
  REQUIRE(f.provider().fetch_work_item(30'000, TagFilter{}, &short_b).has_value());  // s3
  f.clock.advance(500);
  // s3 is B's, s4 is nobody's: neither is renewed for A, and neither is an error.
  CHECK(f.provider().renew_session_locks("node-a", {"s1", "s3", "s4"}, 5'000) == 1);
  f.clock.advance(600);  // s2 (not renewed) and s3 expired; s1 holds until 5,500
  CHECK(f.provider().renew_session_locks("node-a", {"s2"}, 5'000) == 0);
  std::vector<EventId> by_c;
  const SessionFetch c{"node-c", 1'000};
  while (std::optional<WorkerItem> item = f.provider().fetch_work_item(30'000, TagFilter{}, &c)) {
    by_c.push_back(item->item.id);
  }
  CHECK(by_c == std::vector<EventId>{6, 7});  // s2's and s3's last items, not s1's
  CHECK(f.provider().renew_session_locks("node-a", {}, 5'000) == 0);
  CHECK(provider_error_kind([&] { f.provider().renew_session_locks("", {"s1"}, 5'000); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] {
          f.provider().renew_session_locks("node-a", std::vector<std::string>(limits::kMaxSessionsPerRuntime + 1, "s"),
                                           5'000);
        }) == ProviderErrorKind::InvalidInput);
}

TEST_CASE("contract: cleanup forgets expired sessions that no queued item names, and only those",
          "[provider][worker][sessions]") {
  FOR_EACH_PROVIDER(f);
  schedule_on_sessions(f, "i", {"done", "busy", "busy", "live"});
  const SessionFetch owner{"node-a", 1'000};
  std::vector<WorkerItem> taken;
  while (std::optional<WorkerItem> item = f.provider().fetch_work_item(30'000, TagFilter{}, &owner)) {
    taken.push_back(std::move(*item));
  }
  REQUIRE(taken.size() == 4);
  f.provider().ack_work_item(taken[0].lock_token, std::nullopt);  // "done" has no item left
  f.provider().ack_work_item(taken[1].lock_token, std::nullopt);  // "busy" keeps one
  f.provider().ack_work_item(taken[3].lock_token, std::nullopt);  // "live" is renewed below
  CHECK(f.provider().cleanup_orphaned_sessions() == 0);  // nothing expired yet
  f.clock.advance(900);
  CHECK(f.provider().renew_session_locks("node-a", {"live"}, 10'000) == 1);
  f.clock.advance(200);
  CHECK(f.provider().cleanup_orphaned_sessions() == 1);  // "done"
  CHECK(f.provider().cleanup_orphaned_sessions() == 0);
  // "busy" was kept, expired: another owner claims it with its item.
  f.provider().abandon_work_item(taken[2].lock_token, 0, true);
  const SessionFetch other{"node-b", 1'000};
  std::optional<WorkerItem> moved = f.provider().fetch_work_item(30'000, TagFilter{}, &other);
  REQUIRE(moved.has_value());
  CHECK(moved->item.session_id == "busy");
}

TEST_CASE("contract: a batch claims a session once for all its items; owner ids are checked and bound as values",
          "[provider][worker][sessions][batch]") {
  FOR_EACH_PROVIDER(f);
  const std::string strange = "s'1\"); DROP TABLE sessions; --";
  schedule_on_sessions(f, "i", {strange, "", strange, "s2"});
  const SessionFetch odd_owner{"n'a\"); DELETE FROM worker_queue; --", 10'000};
  std::vector<WorkerItem> batch = f.provider().fetch_work_items(30'000, 8, TagFilter{}, &odd_owner);
  REQUIRE(batch.size() == 4);
  CHECK(batch[0].item.session_id == strange);
  CHECK(batch[2].item.session_id == strange);
  for (WorkerItem& item : batch) f.provider().abandon_work_item(item.lock_token, 0, true);
  CHECK(f.provider().fetch_work_items(30'000, 8, TagFilter{}, &kOwnerB).size() == 1);  // the item outside sessions
  CHECK(f.provider().renew_session_locks(odd_owner.owner_id, {strange, "s2"}, 10'000) == 2);

  for (const SessionFetch& invalid : {SessionFetch{"", 1'000}, SessionFetch{std::string(257, 'n'), 1'000},
                                      SessionFetch{"n\xff", 1'000}, SessionFetch{"n", -1}}) {
    CHECK(provider_error_kind([&] { f.provider().fetch_work_items(30'000, 4, TagFilter{}, &invalid); }) ==
          ProviderErrorKind::InvalidInput);
    CHECK(provider_error_kind([&] { f.provider().fetch_work_item(30'000, TagFilter{}, &invalid); }) ==
          ProviderErrorKind::InvalidInput);
  }
}

TEST_CASE("contract: the sessions listed say who holds each, until when, and what is queued in it",
          "[provider][management][sessions]") {
  FOR_EACH_PROVIDER(f);
  schedule_on_sessions(f, "i", {"s2", "s1", "s2", "", "s3"});
  CHECK(f.management().list_sessions("", 10).empty());  // queued items claim nothing
  const TimestampMs t0 = f.clock.now_ms();
  std::optional<WorkerItem> first = f.provider().fetch_work_item(30'000, TagFilter{}, &kOwnerA);  // s2
  REQUIRE(first.has_value());
  f.clock.advance(100);
  REQUIRE(f.provider().fetch_work_item(30'000, TagFilter{}, &kOwnerB).has_value());  // s1
  f.provider().ack_work_item(first->lock_token, std::nullopt);

  std::vector<SessionInfo> sessions = f.management().list_sessions("", 10);
  REQUIRE(sessions.size() == 2);
  CHECK(sessions[0] == SessionInfo{"s1", "node-b", t0 + 100 + 10'000, t0 + 100, true, 1});
  CHECK(sessions[1] == SessionInfo{"s2", "node-a", t0 + 10'000, t0, true, 1});  // its other item waits
  CHECK(f.management().list_sessions("s1", 10) == std::vector<SessionInfo>{sessions[1]});
  CHECK(f.management().list_sessions("", 1) == std::vector<SessionInfo>{sessions[0]});
  f.clock.advance(10'000);
  sessions = f.management().list_sessions("", 10);
  REQUIRE(sessions.size() == 2);
  CHECK_FALSE(sessions[1].held);
  CHECK(sessions[1].queued_items == 1);
  for (std::size_t limit : {std::size_t{0}, kMaxSessionPage + 1}) {
    CHECK(provider_error_kind([&] { f.management().list_sessions("", limit); }) == ProviderErrorKind::InvalidInput);
  }
}

// ---------------------------------------------------------------- runtime

namespace {

// Two runtimes, "a" and "b", sharing one store, each its own session owner.
struct SessionWorld {
  ManualClock clock;
  SequentialIdSource ids{"lock"};
  SqliteProvider store{":memory:", clock, ids};
  Registry registry_a = sessions_registry("a");
  Registry registry_b = sessions_registry("b");
  RuntimeOptions options;

  SessionWorld() {
    options.session_lock_timeout_ms = 3'000;
    options.session_lock_renewal_buffer_ms = 1'000;
  }
  RuntimeOptions options_of(const std::string& node) const {
    RuntimeOptions o = options;
    o.worker_node_id = node;
    return o;
  }
  void start(const std::string& id, const std::string& name, const std::string& input = "") {
    store.enqueue_orchestrator_item(work::StartOrchestration{id, name, {}, input, {}, 0, {}}, 0);
  }
  void raise(const std::string& id, const std::string& name) {
    store.enqueue_orchestrator_item(work::ExternalRaised{id, name, ""}, 0);
  }
  InstanceInfo info(const std::string& id) {
    auto found = store.get_instance_info(id);
    REQUIRE(found.has_value());
    return *found;
  }
};

}  // namespace

TEST_CASE("every activity of a session runs on the runtime that claimed it; others run anywhere",
          "[sessions][runtime]") {
  SessionWorld world;
  for (const char* id : {"t1", "t2", "t3", "t4"}) world.start(id, "SessionTrip", std::string("chat-") + id);
  StepDriver a(world.store, world.registry_a, world.clock, world.options_of("a"));
  StepDriver b(world.store, world.registry_b, world.clock, world.options_of("b"));
  // The two take turns, one step each, so either may fetch any activity first.
  for (int k = 0; k < 1000 && (a.step() | b.step()); ++k) {
  }
  std::set<std::string> runners;
  for (const char* id : {"t1", "t2", "t3", "t4"}) {
    const InstanceInfo done = world.info(id);
    REQUIRE(done.state == RuntimeState::Completed);
    // "<node>:chat-tK," three times, the same node each time, then "<any node>:-".
    const std::string node = done.output.substr(0, 1);
    const std::string in_session = node + ":chat-" + id + ",";
    CHECK(done.output.substr(0, 3 * in_session.size()) == in_session + in_session + in_session);
    CHECK(done.output.size() == 3 * in_session.size() + 3);
    CHECK(done.output.substr(done.output.size() - 2) == ":-");
    runners.insert(node);
  }
  CHECK(runners == std::set<std::string>{"a", "b"});  // the sessions spread over both
}

TEST_CASE("a session stays with its runtime while that renews it; idle, it moves after its lock runs out",
          "[sessions][runtime]") {
  for (const bool idle : {false, true}) {
    INFO("idle timeout passes: " << idle);
    SessionWorld world;
    world.options.session_idle_timeout_ms = idle ? 1'000 : 300'000;
    world.start("w", "TwoTurns", "chat");
    StepDriver a(world.store, world.registry_a, world.clock, world.options_of("a"));
    StepDriver b(world.store, world.registry_b, world.clock, world.options_of("b"));
    a.run_until_idle();  // the first activity runs on "a", which claims the session
    for (int k = 0; k < 20; ++k) {  // ten seconds, "a" stepping (renewing) every half second
      world.clock.advance(500);
      a.run_until_idle();
    }
    world.raise("w", "go");
    b.run_until_idle();
    if (!idle) {
      CHECK(world.info("w").state == RuntimeState::Running);  // "b" may not run the second: "a" holds the session
      CHECK(world.store.get_queue_depths().worker_visible == 1);
      a.run_until_idle();
      CHECK(world.info("w").output == "a:chat|a:chat");
    } else {
      CHECK(world.info("w").output == "a:chat|b:chat");  // idle, "a" let it go
    }
  }
}

namespace {

// A store whose first `failures` session renewals fail as Transient (a busy database).
class FlakySessionRenewals final : public testing::ForwardingStore {
 public:
  FlakySessionRenewals(Provider& inner, int failures) : ForwardingStore(inner), failures_(failures) {}
  std::size_t renew_session_locks(const std::string& owner_id, const std::vector<std::string>& session_ids,
                                  std::int64_t extend_ms) override {
    ++calls;
    if (failures_ > 0) {
      --failures_;
      throw ProviderError(ProviderErrorKind::Transient, "renew_session_locks", "database is busy");
    }
    return inner_.renew_session_locks(owner_id, session_ids, extend_ms);
  }
  int calls = 0;

 private:
  int failures_;
};

}  // namespace

TEST_CASE("a session renewal that fails is tried again at the next step, before the lock runs out",
          "[sessions][runtime]") {
  SessionWorld world;  // locks of 3 s, renewed when 2 s old
  FlakySessionRenewals flaky(world.store, 1);
  world.start("w", "TwoTurns", "chat");
  std::vector<std::string> errors;
  RuntimeObserver observer = [&](const RuntimeEvent& event) {
    if (event.kind == RuntimeEvent::Kind::ProviderError) errors.push_back(event.message);
  };
  StepDriver a(flaky, world.registry_a, world.clock, world.options_of("a"), observer);
  StepDriver b(world.store, world.registry_b, world.clock, world.options_of("b"));
  a.run_until_idle();  // "a" claims the session: its lock holds until 3,000
  world.clock.advance(2'000);
  a.run_until_idle();  // the renewal is due and fails
  REQUIRE(flaky.calls == 1);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("database is busy") != std::string::npos);
  world.clock.advance(500);
  a.run_until_idle();  // tried again: the lock now holds until 5,500
  CHECK(flaky.calls == 2);
  world.clock.advance(1'000);  // 3,500: past the lock the failed renewal would have left
  world.raise("w", "go");
  b.run_until_idle();
  CHECK(world.info("w").state == RuntimeState::Running);  // "b" may not run it: "a" still holds the session
  a.run_until_idle();
  CHECK(world.info("w").output == "a:chat|a:chat");
}

namespace {

// A store that records the session ids each renewal names.
class RecordedSessionRenewals final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::size_t renew_session_locks(const std::string& owner_id, const std::vector<std::string>& session_ids,
                                  std::int64_t extend_ms) override {
    calls.push_back(session_ids);
    return inner_.renew_session_locks(owner_id, session_ids, extend_ms);
  }
  std::vector<std::vector<std::string>> calls;
};

}  // namespace

TEST_CASE("a runtime holding more sessions than one renewal takes renews them all, the running ones first",
          "[sessions][runtime]") {
  SessionWorld world;  // locks of 3 s, renewed when 2 s old
  RecordedSessionRenewals recorded(world.store);
  SessionKeeper keeper(recorded, world.clock, world.options_of("a"), "a");
  for (std::size_t i = 0; i < limits::kMaxSessionsPerRuntime; ++i) {  // resting: ran a moment ago
    const std::string id = "s" + std::to_string(100'000 + i);
    REQUIRE(keeper.begin(id));
    keeper.end(id);
  }
  REQUIRE(keeper.begin("zzz"));  // running, and last in the order of ids
  world.clock.advance(2'000);
  keeper.renew_if_due();
  REQUIRE(recorded.calls.size() == 2);
  CHECK(recorded.calls[0].size() == limits::kMaxSessionsPerRuntime);
  CHECK(recorded.calls[0].front() == "zzz");
  CHECK(recorded.calls[1].size() == 1);
  std::set<std::string> renewed;
  for (const auto& call : recorded.calls) renewed.insert(call.begin(), call.end());
  CHECK(renewed.size() == limits::kMaxSessionsPerRuntime + 1);
  keeper.end("zzz");
}

TEST_CASE("a runtime that stops holds its sessions until their locks run out; a restart under its node id "
          "takes them back at once",
          "[sessions][runtime]") {
  SessionWorld world;
  world.start("w1", "TwoTurns", "chat");
  {
    StepDriver a(world.store, world.registry_a, world.clock, world.options_of("a"));
    a.run_until_idle();
  }  // "a" stops
  world.raise("w1", "go");
  StepDriver b(world.store, world.registry_b, world.clock, world.options_of("b"));
  b.run_until_idle();
  CHECK(world.info("w1").state == RuntimeState::Running);
  world.clock.advance(2'999);
  b.run_until_idle();
  CHECK(world.info("w1").state == RuntimeState::Running);
  world.clock.advance(1);
  b.run_until_idle();
  CHECK(world.info("w1").output == "a:chat|b:chat");

  // "a" restarted under the same node id takes back a session it still holds.
  world.start("w2", "TwoTurns", "chat-2");
  {
    StepDriver a(world.store, world.registry_a, world.clock, world.options_of("a"));
    a.run_until_idle();
  }
  world.raise("w2", "go");
  b.run_until_idle();
  CHECK(world.info("w2").state == RuntimeState::Running);
  StepDriver restarted(world.store, world.registry_a, world.clock, world.options_of("a"));
  restarted.run_until_idle();
  CHECK(world.info("w2").output == "a:chat-2|a:chat-2");
}

TEST_CASE("a runtime at max_sessions_per_runtime fetches outside sessions only, and gives back a batch's "
          "new session past the cap, uncounted",
          "[sessions][runtime]") {
  SessionWorld world;
  world.options.max_sessions_per_runtime = 1;
  world.start("f", "FanSessions");
  const RuntimeOptions options = world.options_of("a");
  OrchestrationDispatcher orchestrations(world.store, world.registry_a, world.clock, options);
  REQUIRE(orchestrations.step());
  REQUIRE(world.store.get_queue_depths().worker_visible == 3);  // s1, s2, s1

  // A session of the runtime's other worker runs: this one fetches outside sessions only.
  SessionKeeper keeper(world.store, world.clock, options, "a");
  REQUIRE(keeper.begin("busy"));
  CHECK(keeper.fetch_config() == nullptr);
  WorkerDispatcher workers(world.store, world.registry_a, world.clock, options, {}, nullptr, &keeper);
  CHECK_FALSE(workers.step());
  keeper.end("busy");
  REQUIRE(keeper.fetch_config() != nullptr);

  // One step of one item (s1's first), then a batch of two: s2's runs, and s1's second is
  // then one session past the cap, so it goes back, its attempt not counted.
  REQUIRE(workers.step());
  CHECK(world.store.get_queue_depths().worker_visible == 2);
  REQUIRE(workers.step());
  CHECK(world.store.get_queue_depths().worker_visible == 1);
  const SessionFetch other{"b", 3'000};
  CHECK_FALSE(world.store.fetch_work_item(30'000, TagFilter{}, &other).has_value());  // "a" holds s1
  const SessionFetch same{"a", 3'000};
  std::optional<WorkerItem> back = world.store.fetch_work_item(30'000, TagFilter{}, &same);
  REQUIRE(back.has_value());
  CHECK(back->item.session_id == "s1");
  CHECK(back->attempt_count == 1);
  world.store.abandon_work_item(back->lock_token, 0, true);

  REQUIRE(workers.step());
  while (orchestrations.step()) {
  }
  CHECK(world.info("f").output == "a:s1,a:s2,a:s1,");
}

TEST_CASE("a session outlives continue-as-new: the next execution's activity goes to the same runtime",
          "[sessions][runtime]") {
  SessionWorld world;
  world.start("l", "SessionLoop");
  StepDriver a(world.store, world.registry_a, world.clock, world.options_of("a"));
  StepDriver b(world.store, world.registry_b, world.clock, world.options_of("b"));
  for (int k = 0; k < 1000 && (a.step() | b.step()); ++k) {
  }
  const std::string output = world.info("l").output;
  REQUIRE(output.size() == 13);
  CHECK(output.substr(0, 6) == output.substr(7));  // "x:loop|x:loop"
}

TEST_CASE("invalid session options are refused when the dispatcher or driver is made", "[sessions][runtime]") {
  SessionWorld world;
  auto refused = [&](RuntimeOptions options) -> std::string {
    try {
      WorkerDispatcher bad(world.store, world.registry_a, world.clock, options);
    } catch (const std::invalid_argument& error) {
      CHECK_THROWS_AS(StepDriver(world.store, world.registry_a, world.clock, options), std::invalid_argument);
      return error.what();
    }
    return "accepted";
  };
  RuntimeOptions options;
  options.max_sessions_per_runtime = 0;
  CHECK(refused(options) == "RuntimeOptions::max_sessions_per_runtime must be 1 to 10000");
  options = RuntimeOptions{};
  options.worker_node_id = std::string(257, 'n');
  CHECK(refused(options) == "RuntimeOptions::worker_node_id: it is 257 bytes, over the limit of 256");
  options.worker_node_id = std::string("pod\0a", 5);  // PostgreSQL text cannot hold it: every fetch would fail
  CHECK(refused(options) == "RuntimeOptions::worker_node_id: it holds a NUL byte");
  options = RuntimeOptions{};
  options.session_lock_renewal_buffer_ms = options.session_lock_timeout_ms;
  CHECK(refused(options).rfind("RuntimeOptions::session_lock_timeout_ms must be above", 0) == 0);
  options = RuntimeOptions{};
  options.session_idle_timeout_ms = 0;
  CHECK(refused(options).rfind("RuntimeOptions::session_idle_timeout_ms must be 1 to", 0) == 0);
  CHECK(refused(RuntimeOptions{}) == "accepted");
}

TEST_CASE("an imported running instance resumes its pending session activity in that session",
          "[sessions][export]") {
  SessionWorld source;
  source.start("w", "TwoTurns", "chat");
  StepDriver(source.store, source.registry_a, source.clock, source.options_of("a")).run_until_idle();
  source.raise("w", "go");
  // Only the orchestration turn: the second activity stays queued.
  OrchestrationDispatcher(source.store, source.registry_a, source.clock, source.options_of("a")).step();
  const std::string document = ManagementClient(source.store).export_instance("w");
  InstanceDetails details = ManagementClient(source.store).get_instance_details("w");
  REQUIRE(details.pending.size() == 1);
  CHECK(details.pending[0].session_id == "chat");

  SessionWorld target;
  ManagementClient(target.store).import_instance(document);
  CHECK(target.store.fetch_work_items(30'000, 4).empty());  // a fetch without sessions does not take it
  StepDriver(target.store, target.registry_b, target.clock, target.options_of("b")).run_until_idle();
  CHECK(target.info("w").output == "a:chat|b:chat");
}

#ifndef __EMSCRIPTEN__
TEST_CASE("the threaded driver runs session activities on its worker threads under one owner",
          "[sessions][runtime][threads]") {
  SystemClock clock;
  RandomIdSource ids;
  SqliteProvider store(":memory:", clock, ids);
  Registry registry = sessions_registry("t");
  RuntimeOptions options;
  options.worker_concurrency = 2;
  options.worker_node_id = "pod-7";
  for (int k = 0; k < 6; ++k) {
    store.enqueue_orchestrator_item(
        work::StartOrchestration{"th" + std::to_string(k), "SessionTrip", {}, "s" + std::to_string(k % 2), {}, 0, {}},
        0);
  }
  ThreadedDriver driver(store, registry, clock, options);
  driver.start();
  const TimestampMs deadline = clock.now_ms() + 20'000;
  auto all_done = [&] {
    for (int k = 0; k < 6; ++k) {
      auto info = store.get_instance_info("th" + std::to_string(k));
      if (!info || info->state == RuntimeState::Running) return false;
    }
    return true;
  };
  SleepPacer pacer(clock);
  while (!all_done() && clock.now_ms() < deadline) pacer.wait(5);
  driver.shutdown(5'000);
  for (int k = 0; k < 6; ++k) {
    const std::string session = "s" + std::to_string(k % 2);
    CHECK(store.get_instance_info("th" + std::to_string(k))->output ==
          "t:" + session + ",t:" + session + ",t:" + session + ",t:-");
  }
  // The sessions are held under the node id given.
  CHECK(store.renew_session_locks("pod-7", {"s0", "s1"}, 30'000) == 2);
}
#endif
