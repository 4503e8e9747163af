// How the runtime and both stores end corrupted instances, keep deletes and
// explicit sub-orchestration ids from leaving a parent waiting, and purge past
// roots that cannot go yet. Rows are corrupted behind the store's back, so the
// SQLite runs use a file.
#include <sqlite3.h>

#include <functional>
#include <set>
#include <stdexcept>

#include "postgres_access.hpp"
#include "step_host.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

// The kinds whose rows a test can reach from outside the provider.
std::vector<std::string> reachable_kinds() {
  std::vector<std::string> kinds{"sqlite-file"};
  if (postgres_conninfo()) kinds.push_back("postgres");
  return kinds;
}

// PROVIDER_KIND (tests/provider_suite.hpp) over the kinds reachable_kinds() names.
#define REACHABLE_KIND(name)                                      \
  const std::string name = GENERATE(from_range(reachable_kinds())); \
  INFO("provider: " << name)

// Runs `sql` on the store of `f` behind its back; returns the first column of
// the first row (empty when there is none).
std::string raw_sql(ProviderUnderTest& f, const std::string& sql) {
  std::string out;
  if (f.postgres) {
    std::string error;
    const std::optional<std::string> first = postgres_raw_sql(postgres_conninfo(), f.schema, sql, error);
    INFO(error);
    REQUIRE(first.has_value());
    return *first;
  }
  REQUIRE_FALSE(f.path.empty());
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(f.path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  const int prepared = sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr);
  INFO(sqlite3_errmsg(db));
  REQUIRE(prepared == SQLITE_OK);
  int rc = sqlite3_step(statement);
  if (rc == SQLITE_ROW && sqlite3_column_text(statement, 0)) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
  }
  while (rc == SQLITE_ROW) rc = sqlite3_step(statement);
  sqlite3_finalize(statement);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_DONE);
  return out;
}

std::string last_event_kind(ProviderUnderTest& f, const std::string& instance) {
  return raw_sql(f, "SELECT event_kind FROM history WHERE instance_id = '" + instance +
                        "' ORDER BY execution_id DESC, event_id DESC LIMIT 1");
}

Task<std::string> waiting_child(OrchestrationContext& ctx, std::string) {
  co_return co_await ctx.schedule_wait("go");
}

Task<std::string> quick_child(OrchestrationContext&, std::string input) { co_return "child of " + input; }

// Waits for "go", continues as new once, then waits for "go" again.
Task<std::string> continuing_child(OrchestrationContext& ctx, std::string input) {
  std::string got = co_await ctx.schedule_wait("go");
  if (input.empty()) co_await ctx.continue_as_new("second");
  co_return got;
}

Task<std::string> parent_of_continuing(OrchestrationContext& ctx, std::string child) {
  try {
    co_return "completed: " + co_await ctx.schedule_sub_orchestration("ContinuingChild", "", {child});
  } catch (const TaskFailed& failed) {
    co_return "failed: " + failed.details().display_message();
  }
}

// Input: the child's instance id. Output: how the child ended, when its own code ended it
// (a failure of the system, such as unreadable history, ends this parent with it).
Task<std::string> parent_of_waiting(OrchestrationContext& ctx, std::string child) {
  std::string outcome;
  try {
    outcome = "completed: " + co_await ctx.schedule_sub_orchestration("WaitingChild", "", {child});
  } catch (const TaskFailed& failed) {
    outcome = "failed: " + failed.details().display_message();
  }
  co_return outcome;
}

// Waits for "first", then races a child against "go": with "go" already buffered, the
// child is scheduled and cancelled in the same turn.
Task<std::string> parent_racing_child(OrchestrationContext& ctx, std::string child) {
  co_await ctx.schedule_wait("first");
  auto winner = co_await ctx.select(ctx.schedule_sub_orchestration("WaitingChild", "", {child}), ctx.schedule_wait("go"));
  co_return "winner " + std::to_string(winner.index);
}

// Awaits its child without catching: the child's failure is its own.
Task<std::string> parent_not_catching(OrchestrationContext& ctx, std::string child) {
  co_return co_await ctx.schedule_sub_orchestration("WaitingChild", "", {child});
}

Task<std::string> parent_of_quick(OrchestrationContext& ctx, std::string child) {
  co_return co_await ctx.schedule_sub_orchestration("QuickChild", "p", {child});
}

Task<std::string> activity_with_fallback(OrchestrationContext& ctx, std::string) {
  std::string outcome;
  try {
    outcome = "result: " + co_await ctx.schedule_activity("Echo", "x");
  } catch (const TaskFailed& failed) {
    outcome = "fallback: " + failed.details().display_message();
  }
  co_return outcome;
}

int counted_echo_runs = 0;

// Reads the holder's value beside an activity, in one batch of the worker.
Task<std::string> kv_reader_beside(OrchestrationContext& ctx, std::string) {
  std::vector<FutureResult> results = co_await ctx.join(ctx.schedule_get_value_from_instance("holder", "x"),
                                                        ctx.schedule_activity("CountedEcho", "beside"));
  std::string out;
  for (const FutureResult& result : results) {
    out += (result.ok ? "ok:" + result.value : "failed:" + result.error.display_message()) + "|";
  }
  co_return out;
}

Registry make_registry() {
  Registry registry;
  registry.register_orchestration("WaitingChild", waiting_child);
  registry.register_orchestration("QuickChild", quick_child);
  registry.register_orchestration("ContinuingChild", continuing_child);
  registry.register_orchestration("ParentOfContinuing", parent_of_continuing);
  registry.register_orchestration("ParentOfWaiting", parent_of_waiting);
  registry.register_orchestration("ParentOfQuick", parent_of_quick);
  registry.register_orchestration("ParentRacingChild", parent_racing_child);
  registry.register_orchestration("ParentNotCatching", parent_not_catching);
  registry.register_orchestration("ActivityWithFallback", activity_with_fallback);
  registry.register_activity("Echo", [](ActivityContext&, const std::string& input) { return input; });
  registry.register_orchestration("KvHolder", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    ctx.set_value("x", "fine");
    co_return co_await ctx.schedule_wait("go");
  });
  registry.register_orchestration("KvReaderBeside", kv_reader_beside);
  registry.register_activity("CountedEcho", [](ActivityContext&, const std::string& input) {
    ++counted_echo_runs;
    return input;
  });
  return registry;
}

// A StepHost whose driver also reports runtime events (drops, poison).
struct Host : StepHost {
  std::vector<RuntimeEvent> events;
  StepDriver observed;
  explicit Host(const std::string& kind)
      : StepHost(make_registry(), {}, kind),
        observed(store, registry, clock, RuntimeOptions{},
                 [this](const RuntimeEvent& event) { events.push_back(event); }) {}
  void run_until_idle() { observed.run_until_idle(); }
  std::size_t count(RuntimeEvent::Kind kind, const std::string& instance) const {
    std::size_t n = 0;
    for (const auto& event : events) n += event.kind == kind && event.instance == instance;
    return n;
  }
};

// Runs a parent whose child "kid" then waits for "go".
void start_parent_with_waiting_child(Host& host) {
  host.client.start_orchestration("p", "ParentOfWaiting", "kid");
  host.run_until_idle();
  REQUIRE(host.client.get_status("kid").state == RuntimeState::Running);
}

// The error the management client refuses `call` with; a call that succeeds fails the test.
ClientError refusal(const std::function<void()>& call) {
  try {
    call();
  } catch (const ClientError& error) {
    return error;
  }
  FAIL("the call succeeded");
  throw std::logic_error("unreachable: FAIL throws");
}

// Runs a parent whose child "kid" continues as new once: its next start waits in the queue.
void continue_child_once(Host& host) {
  host.client.start_orchestration("p", "ParentOfContinuing", "kid");
  host.run_until_idle();
  REQUIRE(host.client.get_status("kid").state == RuntimeState::Running);
  host.client.raise_event("kid", "go", "now");
  OrchestrationDispatcher turns(host.store, host.registry, host.clock, RuntimeOptions{});
  REQUIRE(turns.step());
  REQUIRE(raw_sql(*host.under, "SELECT COUNT(*) FROM orchestrator_queue WHERE instance_id = 'kid'") == "1");
}

// The child's failure ended the parent "p" too, whatever its code catches: its history
// records the child's failure and then its own end with the same error, and replays; the
// parent itself was not poisoned.
void expect_parent_ended_by_child(Host& host, const ErrorDetails& child_error) {
  OrchestrationStatus parent = host.client.get_status("p");
  REQUIRE(parent.state == RuntimeState::Failed);
  REQUIRE(parent.error.has_value());
  CHECK(*parent.error == child_error);
  const History history = host.store.read("p");
  REQUIRE(history.size() >= 2);
  CHECK(history[history.size() - 2].is<events::SubOrchestrationFailed>());
  CHECK(history.back().is<events::OrchestrationFailed>());
  CHECK(replay_history(host.registry, "p", 1, history).deterministic);
  CHECK(host.count(RuntimeEvent::Kind::Poison, "p") == 0);
}

// The corrupted child has ended visibly and its parent knows; a later event
// is dropped and changes nothing.
void expect_child_ended_for_good(Host& host, const std::string& fragment) {
  OrchestrationStatus child = host.client.get_status("kid");
  REQUIRE(child.state == RuntimeState::Failed);
  REQUIRE(child.error.has_value());
  CHECK(child.error->kind == ErrorKind::Poison);
  CHECK(child.error->display_message().find(fragment) != std::string::npos);
  CHECK(last_event_kind(*host.under, "kid") == "OrchestrationFailed");
  expect_parent_ended_by_child(host, *child.error);

  const std::string events_before = raw_sql(*host.under, "SELECT COUNT(*) FROM history WHERE instance_id = 'kid'");
  const std::size_t dropped_before = host.count(RuntimeEvent::Kind::Dropped, "kid");
  host.client.raise_event("kid", "go", "late");
  host.run_until_idle();
  CHECK(host.client.get_status("kid").state == RuntimeState::Failed);
  CHECK(raw_sql(*host.under, "SELECT COUNT(*) FROM history WHERE instance_id = 'kid'") == events_before);
  CHECK(last_event_kind(*host.under, "kid") == "OrchestrationFailed");
  CHECK(host.count(RuntimeEvent::Kind::Dropped, "kid") > dropped_before);
  CHECK(host.client.get_status("p").state == RuntimeState::Failed);
}

// The child's start event names carried messages its history does not hold.
void break_child_history(Host& host) {
  raw_sql(*host.under,
          "UPDATE history SET event_json = replace(event_json, '\"kind\":\"OrchestrationStarted\"', "
          "'\"carried_messages\":3,\"kind\":\"OrchestrationStarted\"') WHERE instance_id = 'kid' AND event_id = 1");
}

}  // namespace

TEST_CASE("a corrupted history row ends the child with a terminal event; the parent sees it fail",
          "[store][corruption]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  start_parent_with_waiting_child(host);
  // The start event itself: name and parent must come from the instances row.
  raw_sql(*host.under, "UPDATE history SET event_json = '{not json' WHERE instance_id = 'kid' AND event_id = 1");
  host.client.raise_event("kid", "go", "now");
  host.run_until_idle();
  CHECK(host.count(RuntimeEvent::Kind::Poison, "kid") == 1);
  expect_child_ended_for_good(host, "does not decode");
}

TEST_CASE("a parent the runtime ends for a corrupted row cancels its child that still runs, as any end does",
          "[store][corruption]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  start_parent_with_waiting_child(host);
  // Its start event (the row that schedules the child still decodes: it names the child).
  raw_sql(*host.under, "UPDATE history SET event_json = '{not json' WHERE instance_id = 'p' AND event_id = 1");
  host.client.raise_event("p", "nudge", "");
  host.run_until_idle();
  REQUIRE(host.client.get_status("p").state == RuntimeState::Failed);
  const OrchestrationStatus child = host.client.get_status("kid");
  REQUIRE(child.state == RuntimeState::Failed);
  REQUIRE(child.error.has_value());
  CHECK(child.error->display_message().rfind("canceled: the orchestration failed: ", 0) == 0);
}

TEST_CASE("an export fails visibly on a queued message whose row does not hold the kind it names",
          "[store][corruption][export]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  start_parent_with_waiting_child(host);
  host.client.raise_event("kid", "later", "x");  // queued, not taken
  raw_sql(*host.under,
          "UPDATE orchestrator_queue SET item_json = "
          "'{\"kind\":\"TimerFired\",\"instance\":\"kid\",\"execution_id\":1,\"id\":2,\"fire_at_ms\":0}' "
          "WHERE instance_id = 'kid' AND kind = 'ExternalRaised'");
  const ClientError error = refusal([&] { host.management.export_instance("kid"); });  // a timer is no message
  CHECK(std::string(error.what()).find("does not decode as the message its row's kind names") != std::string::npos);
}

TEST_CASE("an export carries at most 10,000 queued messages, and an import takes no more",
          "[store][export]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  start_parent_with_waiting_child(host);
  const std::string limit = std::to_string(InstanceExport::kMaxMessages);
  raw_sql(*host.under,
          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i <= " + limit + ") "
          "INSERT INTO orchestrator_queue (instance_id, kind, item_json, visible_at, enqueued_at) "
          "SELECT 'kid', 'ExternalRaised', '{\"data\":\"x\",\"instance\":\"kid\",\"kind\":\"ExternalRaised\","
          "\"name\":\"later\"}', 0, 0 FROM n");
  CHECK(refusal([&] { host.management.export_instance("kid"); }).kind() == ClientError::Kind::Conflict);
  raw_sql(*host.under, "DELETE FROM orchestrator_queue WHERE id = (SELECT MAX(id) FROM orchestrator_queue)");
  const std::string exported = host.management.export_instance("kid");
  const std::string message = R"({"data":"x","instance":"kid","kind":"ExternalRaised","name":"later"})";
  const std::size_t last = exported.rfind(message);
  REQUIRE(last != std::string::npos);
  std::string over = exported;
  over.insert(last, message + ",");  // one message more than the limit
  host.management.delete_instance("p", true);  // with its child
  CHECK(refusal([&] { host.management.import_instance(over); }).kind() == ClientError::Kind::InvalidInput);
  CHECK(host.management.import_instance(exported) == "kid");
}

TEST_CASE("a history the engine finds broken ends the child with a terminal event, and its parent with it",
          "[store][corruption]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  // The parent's code catches the child's failure, or does not: either way it fails with it.
  const std::string parent = GENERATE(as<std::string>{}, "ParentOfWaiting", "ParentNotCatching");
  INFO(parent);
  host.client.start_orchestration("p", parent, "kid");
  host.run_until_idle();
  REQUIRE(host.client.get_status("kid").state == RuntimeState::Running);
  // Every row decodes, but the start names carried messages the history does not hold
  // (as an import or a hand edit could leave it): the engine refuses to replay it.
  break_child_history(host);
  host.client.raise_event("kid", "go", "now");
  host.run_until_idle();
  OrchestrationStatus child = host.client.get_status("kid");
  REQUIRE(child.state == RuntimeState::Failed);
  REQUIRE(child.error.has_value());
  CHECK(child.error->kind == ErrorKind::HistoryCorrupted);
  CHECK(child.error->display_message().find("carried messages") != std::string::npos);
  CHECK(last_event_kind(*host.under, "kid") == "OrchestrationFailed");
  expect_parent_ended_by_child(host, *child.error);
  // Ended for good: a later event is dropped and writes nothing.
  const std::string events_before = raw_sql(*host.under, "SELECT COUNT(*) FROM history WHERE instance_id = 'kid'");
  host.client.raise_event("kid", "go", "late");
  host.run_until_idle();
  CHECK(raw_sql(*host.under, "SELECT COUNT(*) FROM history WHERE instance_id = 'kid'") == events_before);
}

TEST_CASE("parent links that loop are walked once: the tree of such an instance lists each member once",
          "[store][corruption][management]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  start_parent_with_waiting_child(host);
  // A damaged store: the parent's own parent is its child.
  raw_sql(*host.under, "UPDATE instances SET parent_instance_id = 'kid' WHERE instance_id = 'p'");
  const InstanceTree tree = host.management.get_instance_tree("p");
  REQUIRE(tree.children.size() == 1);
  CHECK(tree.children[0].root.info.instance == "kid");
  CHECK(tree.children[0].children.empty());
}

TEST_CASE("a finished instance whose history the engine finds broken stays as it ended",
          "[store][corruption]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  start_parent_with_waiting_child(host);
  host.client.raise_event("kid", "go", "now");
  host.run_until_idle();
  REQUIRE(host.client.get_status("kid").state == RuntimeState::Completed);
  REQUIRE(host.client.get_status("p").output == "completed: now");
  // A row after the end (the row of the instance still says Completed).
  raw_sql(*host.under,
          "INSERT INTO history (instance_id, execution_id, event_id, event_kind, timestamp, event_json) "
          "SELECT instance_id, execution_id, event_id + 2, event_kind, timestamp, "
          "replace(event_json, '\"event_id\":' || event_id, '\"event_id\":' || (event_id + 2)) "
          "FROM history WHERE instance_id = 'kid' AND event_id = (SELECT MAX(event_id) - 1 FROM history "
          "WHERE instance_id = 'kid')");
  const std::string events_before = raw_sql(*host.under, "SELECT COUNT(*) FROM history WHERE instance_id = 'kid'");
  host.store.enqueue_orchestrator_item(work::ExternalRaised{"kid", "go", "late"}, 0);
  host.run_until_idle();
  CHECK(host.client.get_status("kid").state == RuntimeState::Completed);
  CHECK(raw_sql(*host.under, "SELECT COUNT(*) FROM history WHERE instance_id = 'kid'") == events_before);
  CHECK(host.client.get_status("p").output == "completed: now");
  CHECK(host.count(RuntimeEvent::Kind::Dropped, "kid") >= 1);
}

TEST_CASE("a corrupted orchestrator-queue row ends the child with a terminal event; the parent sees it fail",
          "[store][corruption]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  start_parent_with_waiting_child(host);
  host.client.raise_event("kid", "go", "now");
  raw_sql(*host.under, "UPDATE orchestrator_queue SET item_json = '[1,2' WHERE instance_id = 'kid'");
  host.run_until_idle();
  expect_child_ended_for_good(host, "queue row");
}

TEST_CASE("a corrupted continue-as-new start ends the child in a next execution; the parent sees it fail",
          "[store][corruption]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  continue_child_once(host);
  raw_sql(*host.under, "UPDATE orchestrator_queue SET item_json = '[1,2' WHERE instance_id = 'kid'");
  host.run_until_idle();
  expect_child_ended_for_good(host, "queue row");
  CHECK(raw_sql(*host.under, "SELECT MAX(execution_id) FROM history WHERE instance_id = 'kid'") == "2");
}

TEST_CASE("a corrupted continue-as-new event ends the execution and reports the queued start as dropped",
          "[store][corruption]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  continue_child_once(host);
  raw_sql(*host.under, "UPDATE history SET event_json = '{not json' WHERE instance_id = 'kid' AND "
                       "event_kind = 'OrchestrationContinuedAsNew'");
  host.run_until_idle();
  expect_child_ended_for_good(host, "does not decode");
  // The next execution never starts: its start is reported, not deleted without a word.
  CHECK(std::any_of(host.events.begin(), host.events.end(), [](const RuntimeEvent& event) {
    return event.kind == RuntimeEvent::Kind::Dropped && event.instance == "kid" &&
           event.message.find("ContinueAsNew") != std::string::npos;
  }));
}

TEST_CASE("a corrupted worker-queue row fails its activity with a store error, and the orchestration with it",
          "[store][corruption]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("a", "ActivityWithFallback", "");
  REQUIRE(host.observed.step());  // the first turn: the activity is now queued
  REQUIRE(raw_sql(*host.under, "SELECT COUNT(*) FROM worker_queue") == "1");
  raw_sql(*host.under, "UPDATE worker_queue SET item_json = 'garbage' WHERE instance_id = 'a'");
  host.run_until_idle();
  // Its code would catch the failure and fall back; an unreadable row is not its code's to hide.
  OrchestrationStatus status = host.client.get_status("a");
  REQUIRE(status.state == RuntimeState::Failed);
  REQUIRE(status.error.has_value());
  CHECK(status.error->kind == ErrorKind::Provider);
  CHECK(status.error->display_message().find("does not decode") != std::string::npos);
  CHECK(host.management.get_queue_depths().parked == 1);  // the row itself, for operators
}

TEST_CASE("a damaged key-value value fails only its own read; the activity beside it runs once",
          "[store][corruption][kv]") {
  Host host("sqlite-file");  // PostgreSQL's text type holds only UTF-8: no such row there
  host.client.start_orchestration("holder", "KvHolder", "");
  host.run_until_idle();
  raw_sql(*host.under, "UPDATE kv_values SET kv_value = CAST(x'66FF' AS TEXT) WHERE instance_id = 'holder'");
  counted_echo_runs = 0;
  host.client.start_orchestration("reader", "KvReaderBeside", "");
  host.run_until_idle();
  OrchestrationStatus status = host.client.get_status("reader");
  INFO(status.output);
  REQUIRE(status.state == RuntimeState::Completed);
  CHECK(status.output.find("failed:get_value_from_instance: the stored value of key \"x\" of instance holder "
                           "is not valid UTF-8|") == 0);
  CHECK(status.output.find("|ok:beside|") != std::string::npos);
  CHECK(counted_echo_runs == 1);
}

TEST_CASE("times before the epoch in damaged rows page and purge like any other",
          "[store][corruption][delete]") {
  REACHABLE_KIND(kind);
  Host host(kind);
  for (const char* id : {"q1", "q2", "q3"}) host.client.start_orchestration(id, "QuickChild", "x");
  host.run_until_idle();
  raw_sql(*host.under, "UPDATE instances SET created_at = -7, updated_at = -5");
  // The listing's cursor carries the negative time back.
  SummaryPage first = host.management.list_instances({}, PageRequest{{}, 1, InstanceOrder::UpdatedAsc});
  REQUIRE(first.instances.size() == 1);
  CHECK(host.management.list_instances({}, PageRequest{first.next_cursor, 5, InstanceOrder::UpdatedAsc})
            .instances.size() == 2);
  // And a bulk walk's continuation (its bound, the newest creation time, is negative too).
  BulkRequest exports;
  exports.batch = 2;
  ManagementClient::ExportPage page = host.management.export_instances(exports);
  CHECK(page.result.succeeded == 2);
  REQUIRE_FALSE(page.result.continuation.empty());
  exports.continuation = page.result.continuation;
  CHECK(host.management.export_instances(exports).result.succeeded == 1);
  // So does the purge's continuation, batch after batch.
  PurgeBatch batch{1, "", false};
  std::size_t purged = 0;
  for (int calls = 0; calls < 5; ++calls) {
    DeleteResult result = host.management.purge_completed(host.clock.now_ms() + 1, batch);
    purged += result.instances;
    if (result.continuation.empty()) break;
    batch.continuation = result.continuation;
  }
  CHECK(purged == 3);
  CHECK(host.management.count_instances({}) == 0);
}

TEST_CASE("a forced delete removes the queued start of a child not created yet",
          "[store][delete]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("p", "ParentOfQuick", "fixed-kid");
  REQUIRE(host.observed.step());  // the parent's first turn: the child's start is queued
  REQUIRE_FALSE(host.admin.get_instance_info("fixed-kid").has_value());
  DeleteResult deleted = host.management.delete_instance("p", true);
  CHECK(deleted.instances == 1);
  CHECK(deleted.queue_items == 1);  // the child's start
  host.run_until_idle();
  CHECK(host.client.get_status("fixed-kid").state == RuntimeState::NotFound);
  CHECK(host.management.get_queue_depths().parked == 0);

  host.client.start_orchestration("p", "ParentOfQuick", "fixed-kid");  // the same ids again
  host.run_until_idle();
  OrchestrationStatus parent = host.client.get_status("p");
  REQUIRE(parent.state == RuntimeState::Completed);
  CHECK(parent.output == "child of p");
}

TEST_CASE("a sub-orchestration with the id of an existing instance fails fast in the parent",
          "[store][sub_orchestration]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  SECTION("a running instance") {
    host.client.start_orchestration("taken", "WaitingChild", "");
  }
  SECTION("a finished instance") {
    host.client.start_orchestration("taken", "QuickChild", "x");
  }
  host.run_until_idle();
  const OrchestrationStatus before = host.client.get_status("taken");
  host.client.start_orchestration("p", "ParentOfWaiting", "taken");
  host.run_until_idle();
  OrchestrationStatus parent = host.client.get_status("p");
  REQUIRE(parent.state == RuntimeState::Completed);
  CHECK(parent.output.find("failed: ") == 0);
  CHECK(parent.output.find("instance taken already exists") != std::string::npos);
  const OrchestrationStatus after = host.client.get_status("taken");
  CHECK(after.state == before.state);
  CHECK(after.output == before.output);
  // p's history schedules "taken", but that instance is not p's child: deleting p's tree
  // leaves it.
  CHECK(host.management.delete_instance("p", true).instances == 1);
  CHECK(host.client.get_status("taken").state == before.state);
}

TEST_CASE("a parent's cancel of a child whose id another instance holds leaves that instance alone",
          "[store][sub_orchestration][cancel]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("taken", "WaitingChild", "");
  host.client.start_orchestration("p", "ParentRacingChild", "taken");
  host.run_until_idle();
  host.client.raise_event("p", "go", "now");
  host.client.raise_event("p", "first", "now");
  host.run_until_idle();
  CHECK(host.client.get_status("p").output == "winner 1");
  // The start was refused (the id is taken) and the cancel that followed it is not for
  // "taken": it is dropped with a report, and "taken" goes on waiting.
  CHECK(host.client.get_status("taken").state == RuntimeState::Running);
  std::vector<std::string> dropped;
  for (const RuntimeEvent& event : host.events) {
    if (event.kind == RuntimeEvent::Kind::Dropped && event.instance == "taken") dropped.push_back(event.message);
  }
  for (const std::string& message : dropped) UNSCOPED_INFO(message);
  CHECK(std::count_if(dropped.begin(), dropped.end(), [](const std::string& message) {
          return message.find("CancelInstance: a cancel from p for a child it started") == 0;
        }) == 1);
  host.client.raise_event("taken", "go", "later");
  host.run_until_idle();
  CHECK(host.client.get_status("taken").state == RuntimeState::Completed);
}

TEST_CASE("a duplicate delivery of a child's start is dropped, not a conflict",
          "[store][sub_orchestration]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  start_parent_with_waiting_child(host);
  std::optional<InstanceInfo> child = host.admin.get_instance_info("kid");
  REQUIRE(child.has_value());
  REQUIRE(child->parent_instance == "p");
  host.store.enqueue_orchestrator_item(
      work::StartOrchestration{"kid", "WaitingChild", "", "", "p", child->parent_id, {}}, 0);
  host.run_until_idle();
  CHECK(host.client.get_status("p").state == RuntimeState::Running);
  CHECK(host.count(RuntimeEvent::Kind::Dropped, "kid") == 1);
  host.client.raise_event("kid", "go", "ok");
  host.run_until_idle();
  CHECK(host.client.get_status("p").output == "completed: ok");
}

TEST_CASE("purge goes on past a batch of roots whose children still run", "[store][purge]") {
  FOR_EACH_PROVIDER(f);
  for (int i = 0; i < 4; ++i) {
    const std::string root = "blocked-" + std::to_string(i);
    create_instance(f, root, RuntimeState::Completed);
    create_instance(f, root + "::sub::1", RuntimeState::Running, root);
  }
  f.clock.advance(1000);
  create_instance(f, "done-1", RuntimeState::Completed);
  create_instance(f, "done-2", RuntimeState::Failed);
  f.clock.advance(1000);
  BulkDeleteRequest older;
  older.completed_before_ms = f.clock.now_ms();
  older.limit = 3;  // fewer than the blocked roots that come first
  CHECK(f.management().delete_instances(older).instances == 2);
  CHECK_FALSE(f.management().get_instance_info("done-1").has_value());
  CHECK_FALSE(f.management().get_instance_info("done-2").has_value());
  CHECK(f.management().count_instances({}) == 8);
  CHECK(f.management().delete_instances(older).instances == 0);
}

TEST_CASE("purge_completed goes on past more blocked roots than one of its batches", "[store][purge]") {
  FOR_EACH_PROVIDER(f);
  constexpr int kBlocked = 1001;  // the client purges in batches of 1000
  for (int i = 0; i < kBlocked; ++i) {
    const std::string root = "blocked-" + std::to_string(i);
    create_instance(f, root, RuntimeState::Completed);
    create_instance(f, root + "::sub::1", RuntimeState::Running, root);
  }
  f.clock.advance(1000);
  create_instance(f, "done-1", RuntimeState::Completed);
  create_instance(f, "done-2", RuntimeState::Failed);
  f.clock.advance(1000);
  ManagementClient management(f.management());
  CHECK(management.purge_completed(f.clock.now_ms()).instances == 2);
  CHECK_FALSE(f.management().get_instance_info("done-1").has_value());
  CHECK_FALSE(f.management().get_instance_info("done-2").has_value());
  CHECK(f.management().count_instances({}) == 2 * kBlocked);
}

TEST_CASE("a corrupted worker row ends a batch and is reported by the next fetch", "[store][batch][corruption]") {
  REACHABLE_KIND(kind);
  auto f = make_provider(kind);
  create_instance(*f, "i");
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  OrchestrationItem item = fetch(*f);
  OrchestrationAck ack;
  ack.metadata = metadata();
  for (EventId id = 2; id <= 4; ++id) {
    ack.history_delta.push_back(Event{id, 0, 0, events::ActivityScheduled{"Act", "x"}});
    ack.worker_items.push_back(activity("i", id));
  }
  f->provider().ack_orchestration_item(item.lock_token, ack);
  raw_sql(*f, "UPDATE worker_queue SET item_json = 'garbage' WHERE activity_id = 3");
  std::vector<WorkerItem> first = f->provider().fetch_work_items(1000, 8);
  REQUIRE(first.size() == 1);
  CHECK(first[0].item.id == 2);
  CHECK(f->management().get_queue_depths().parked == 0);
  CHECK(provider_error_kind([&] { f->provider().fetch_work_items(1000, 8); }) == ProviderErrorKind::Corrupted);
  CHECK(f->management().get_queue_depths().parked == 1);
  std::vector<WorkerItem> rest = f->provider().fetch_work_items(1000, 8);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].item.id == 4);
}

TEST_CASE("a batch fetch hands out the instances around a corrupted history and parks orphans among them",
          "[store][batch][corruption]") {
  REACHABLE_KIND(kind);
  auto f = make_provider(kind);
  for (const char* id : {"a", "b", "c"}) create_instance(*f, id);
  raw_sql(*f, "UPDATE history SET event_json = '{not json' WHERE instance_id = 'b' AND event_id = 1");
  for (const char* id : {"a", "b", "ghost", "c"}) {
    f->provider().enqueue_orchestrator_item(work::ExternalRaised{id, "go", id}, 0);
  }
  std::vector<OrchestrationItem> batch = f->provider().fetch_orchestration_items(30'000, 8);
  REQUIRE(batch.size() == 3);
  std::set<std::string> tokens;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const OrchestrationItem& item = batch[i];
    INFO(item.instance);
    CHECK(item.instance == std::string(1, "abc"[i]));  // in queue order
    REQUIRE(item.messages.size() == 1);
    CHECK(std::get<work::ExternalRaised>(item.messages[0]).data == item.instance);
    CHECK(item.orchestration_name == "Orch");
    CHECK(item.execution_id == 1);
    tokens.insert(item.lock_token);
    if (item.instance == "b") {
      CHECK(item.corruption.value_or("").find("does not decode") != std::string::npos);
      CHECK(item.last_event_id == 1);
    } else {
      CHECK_FALSE(item.corruption.has_value());
      CHECK(item.history.size() == 1);
    }
  }
  CHECK(tokens.size() == 3);  // a lock of its own each
  QueueDepths depths = f->management().get_queue_depths();
  CHECK(depths.parked == 1);  // ghost's event: no instance, no start
  CHECK(depths.orchestrator_locked == 3);
  CHECK(depths.orchestrator_visible == 0);
  CHECK(f->provider().fetch_orchestration_items(30'000, 8).empty());
  OrchestrationAck ack;
  ack.metadata = metadata();
  f->provider().ack_orchestration_item(batch[2].lock_token, ack);  // c's lock is its own
  CHECK(f->management().get_queue_depths().orchestrator_locked == 2);
}
