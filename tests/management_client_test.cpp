// ManagementClient (discovery, details, operations) and RuntimeClient bulk control.
#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "duroxide/duroxide.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "forwarding_management.hpp"
#include "forwarding_store.hpp"
#include "step_host.hpp"

using namespace duroxide;

namespace {

Task<std::string> grandparent(OrchestrationContext& ctx, std::string) {
  co_return co_await ctx.schedule_sub_orchestration("Parent", R"(["x","y"])");
}

// Execution 1 waits for "start" while messages pile up, then continues as new
// (carrying them); execution 2 takes them one release at a time, then waits for "end".
Task<std::string> backlog(OrchestrationContext& ctx, std::string input) {
  if (input == "first") {
    co_await ctx.schedule_wait("start");
    co_await ctx.continue_as_new("second");
  }
  co_await ctx.schedule_wait("take-one");
  std::string taken = co_await ctx.dequeue_event("inbox");
  co_await ctx.schedule_wait("take-rest");
  taken += co_await ctx.dequeue_event("inbox");
  taken += co_await ctx.schedule_wait("note");
  co_await ctx.schedule_wait("end");
  co_return taken;
}

// A dequeue that loses a select to a timer, then a wait for "end": a message
// enqueued afterwards stays buffered (the cancelled dequeue takes nothing).
Task<std::string> late_message(OrchestrationContext& ctx, std::string) {
  co_await ctx.select(ctx.dequeue_event("inbox"), ctx.schedule_timer(10));
  co_await ctx.schedule_wait("end");
  co_return "done";
}

Registry make_registry() {
  Registry registry;
  samples::register_all(registry);
  registry.register_orchestration("Grandparent", grandparent);
  registry.register_orchestration("Backlog", backlog);
  registry.register_orchestration("LateMessage", late_message);
  return registry;
}

struct Host : testing::StepHost {
  explicit Host(const std::string& kind) : StepHost(make_registry(), {}, kind) {}
};

std::vector<std::string> ids_of(const std::vector<InstanceSummary>& summaries) {
  std::vector<std::string> out;
  for (const auto& s : summaries) out.push_back(s.info.instance);
  return out;
}

}  // namespace

TEST_CASE("listing gives summaries with previews, execution counts and status counts",
          "[management]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("hello", "HelloWorld", "Ada");
  host.clock.advance(1000);
  TimestampMs later = host.clock.now_ms();
  host.run("counter", "Counter", R"({"count":0,"limit":3})");
  host.run("fails", "Fails", std::string(300, 'e'));
  host.run("waiting", "LongTimer", "");

  auto counts = host.management.count_by_status();
  CHECK(counts[RuntimeState::Completed] == 2);
  CHECK(counts[RuntimeState::Failed] == 1);
  CHECK(counts[RuntimeState::Running] == 1);

  SummaryPage page = host.management.list_instances({}, {{}, 10});
  REQUIRE(page.instances.size() == 4);
  std::map<std::string, InstanceSummary> by_id;
  for (const auto& s : page.instances) by_id.emplace(s.info.instance, s);
  CHECK(by_id.at("hello").preview == "Hi, Ada!");
  CHECK(by_id.at("counter").info.execution_count == 4);
  CHECK(by_id.at("fails").preview == std::string(200, 'e') + "...");
  CHECK(by_id.at("waiting").preview.empty());
  CHECK(by_id.at("waiting").info.custom_status == std::optional<std::string>("waiting"));

  InstanceFilter recent;
  recent.created_from_ms = later;
  CHECK(host.management.count_instances(recent) == 3);
  InstanceFilter early;
  early.created_to_ms = later;
  CHECK(ids_of(host.management.list_instances(early, {{}, 10}).instances) ==
        std::vector<std::string>{"hello"});
  InstanceFilter v2;
  v2.orchestration_version = "2.0.0";
  CHECK(host.management.count_instances(v2) == 1);
  InstanceFilter touched_late;
  touched_late.updated_from_ms = later;
  CHECK(host.management.count_instances(touched_late) == 3);
}

TEST_CASE("children and instance trees", "[management]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("g", "Grandparent", "");
  CHECK(ids_of(host.management.find_child_instances("g")) == std::vector<std::string>{"g::sub::1"});
  InstanceTree tree = host.management.get_instance_tree("g");
  CHECK(tree.root.info.instance == "g");
  REQUIRE(tree.children.size() == 1);
  REQUIRE(tree.children[0].children.size() == 2);
  CHECK(tree.children[0].children[0].root.info.instance == "g::sub::1::sub::1");
  CHECK(tree.children[0].children[1].root.preview == "Hi, y!");
  CHECK_THROWS_AS(host.management.get_instance_tree("nobody"), ClientError);
}

TEST_CASE("instance details list executions and the pending work of a running one",
          "[management]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("a", "Approval", R"({"timeout_ms":60000})");
  InstanceDetails details = host.management.get_instance_details("a");
  CHECK(details.summary.info.state == RuntimeState::Running);
  REQUIRE(details.executions.size() == 1);
  CHECK(details.executions[0].event_count == 3);
  REQUIRE(details.pending.size() == 2);
  CHECK(details.pending[0].kind == PendingKind::ExternalWait);
  CHECK(details.pending[0].name == "Approve");
  CHECK(details.pending[1].kind == PendingKind::Timer);
  CHECK(details.pending[1].fire_at_ms == details.pending[1].scheduled_at_ms + 60000);

  host.run("c", "Counter", R"({"count":0,"limit":2})");
  InstanceDetails finished = host.management.get_instance_details("c");
  CHECK(finished.pending.empty());
  REQUIRE(finished.executions.size() == 3);
  CHECK(finished.executions[0].continued_as_new);
  CHECK(finished.executions[2].state == RuntimeState::Completed);
  CHECK(host.management.get_execution_info("c", 2)->continued_as_new);
  CHECK_FALSE(host.management.get_execution_info("c", 7).has_value());
  CHECK(host.management.list_executions("c").size() == 3);
  CHECK(finished.summary.preview == "2");
}

TEST_CASE("executions are paged by the store, in ascending ids", "[management]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("counter", "Counter", R"({"count":0,"limit":4})");  // five executions
  const auto all = host.management.list_executions("counter");
  REQUIRE(all.size() == 5);
  const auto first = host.management.list_executions("counter", 0, 2);
  REQUIRE(first.size() == 2);
  CHECK(first[0].execution_id == 1);
  CHECK(first[1].execution_id == 2);
  const auto rest = host.management.list_executions("counter", first.back().execution_id, 1000);
  REQUIRE(rest.size() == 3);
  CHECK(rest.front().execution_id == 3);
  CHECK(rest.back().event_count == all.back().event_count);
  CHECK(host.management.list_executions("counter", 5, 10).empty());
  CHECK(host.management.list_executions("nobody", 0, 10).empty());
  CHECK_THROWS_AS(host.management.list_executions("counter", 0, 0), ClientError);
  CHECK_THROWS_AS(host.management.list_executions("counter", 0, kMaxExecutionPage + 1), ClientError);
}

TEST_CASE("reading an execution with an event filter and range", "[management]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("ch", "Chain", R"({"steps":3,"value":0})");
  History all = host.management.read_execution("ch", 1);
  REQUIRE(all.size() == 8);
  EventQuery completions;
  completions.kinds = {EventKind::ActivityCompleted};
  History only = host.management.read_execution("ch", 1, completions);
  REQUIRE(only.size() == 3);
  CHECK(only[2].as<events::ActivityCompleted>()->result == "3");
  EventQuery window;
  window.from_event_id = 2;
  window.to_event_id = 4;
  CHECK(host.management.read_execution("ch", 1, window).size() == 3);
  window.to_event_id = 1;
  CHECK_THROWS_AS(host.management.read_execution("ch", 1, window), ClientError);
  try {
    host.management.read_execution("ch", 9);
    FAIL("read a missing execution");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::NotFound);
  }
}

TEST_CASE("bulk status reports unknown ids as NotFound", "[management]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("h", "HelloWorld", "Ada");
  auto statuses = host.management.get_bulk_status({"h", "ghost"});
  REQUIRE(statuses.size() == 2);
  CHECK(statuses[0].second.output == "Hi, Ada!");
  CHECK(statuses[1].second.state == RuntimeState::NotFound);
  CHECK_THROWS_AS(host.management.get_bulk_status(std::vector<std::string>(1001, "x")),
                  ClientError);
}

TEST_CASE("purging finished instances older than a cut-off", "[management]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("old-1", "HelloWorld", "a");
  host.run("old-2", "Parent", R"(["p"])");
  host.run("old-running", "LongTimer", "");
  host.clock.advance(10'000);
  TimestampMs cutoff = host.clock.now_ms();
  host.run("new", "HelloWorld", "b");
  DeleteResult purged = host.management.purge_completed(cutoff);
  CHECK(purged.instances == 3);  // old-1, old-2 and its child
  CHECK(host.management.count_instances({}) == 2);
  CHECK(host.client.get_status("old-running").state == RuntimeState::Running);
  CHECK(host.client.get_status("new").state == RuntimeState::Completed);
  CHECK_THROWS_AS(host.management.purge_completed(0), ClientError);
}

namespace {

BulkRequest by_filter(const InstanceFilter& filter, std::size_t batch = 100) {
  BulkRequest request;
  request.filter = filter;
  request.batch = batch;
  return request;
}

BulkRequest by_ids(std::vector<std::string> ids) {
  BulkRequest request;
  request.instances = std::move(ids);
  return request;
}

}  // namespace

TEST_CASE("bulk cancel, bulk raise and waiting for many instances", "[client][bulk]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (int i = 0; i < 4; ++i) {
    host.client.start_orchestration("approve-" + std::to_string(i), "Approval",
                                    R"({"timeout_ms":600000})");
  }
  host.client.start_orchestration("sleep-1", "LongTimer", "");
  host.client.start_orchestration("sleep-2", "LongTimer", "");
  host.driver.run_until_idle();

  InstanceFilter approvals;
  approvals.instance_prefix = "approve-";
  BulkResult raised = host.client.raise_event_bulk(by_filter(approvals, 3), "Approve", "bulk");
  REQUIRE(raised.items.size() == 3);
  CHECK(raised.succeeded == 3);
  CHECK(std::all_of(raised.items.begin(), raised.items.end(), [](const BulkItemResult& r) { return r.ok; }));
  CHECK_FALSE(raised.continuation.empty());  // a fourth approval waits for the next call

  InstanceFilter sleepers;
  sleepers.orchestration_name = "LongTimer";
  BulkResult cancelled = host.client.cancel_instances(by_filter(sleepers, 10), "maintenance");
  CHECK(cancelled.items.size() == 2);
  CHECK(cancelled.continuation.empty());

  std::vector<std::string> ids{"sleep-1", "sleep-2"};
  for (const auto& r : raised.items) ids.push_back(r.instance);
  auto statuses = host.client.wait_for_instances(ids, 1'000, host.pacer);
  REQUIRE(statuses.size() == 5);
  CHECK(statuses[0].second.error->display_message() == "canceled: maintenance");
  for (std::size_t i = 2; i < statuses.size(); ++i) {
    CHECK(statuses[i].second.output == "approved:bulk");
  }
  CHECK(host.management.count_by_status(approvals)[RuntimeState::Running] == 1);
  CHECK_THROWS_AS(host.client.cancel_instances(by_filter(sleepers, 0), "x"), ClientError);
}

TEST_CASE("waiting in bulk goes batch by batch; one still running at the deadline fails its item", "[client][bulk]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (const char* id : {"wf-a1", "wf-a2", "wf-a3", "wf-h1"}) {  // created in this order
    if (id[3] == 'a') host.client.start_orchestration(id, "Approval", R"({"timeout_ms":600000})");
    else host.client.start_orchestration(id, "HelloWorld", "Ada");
    host.driver.run_until_idle();
    host.clock.advance(1);
  }
  host.client.raise_event("wf-a1", "Approve", "yes");
  host.client.raise_event("wf-a2", "Approve", "yes");
  InstanceFilter family;
  family.instance_prefix = "wf-";

  BulkRequest dry = by_filter(family, 10);
  dry.dry_run = true;
  const TimestampMs before = host.clock.now_ms();
  BulkResult counted = host.client.wait_for_instances_bulk(dry, 60'000, host.pacer);
  CHECK(counted.succeeded == 4);
  CHECK(host.clock.now_ms() == before);  // a dry run waits for nothing
  CHECK(host.client.get_status("wf-a1").state == RuntimeState::Running);

  BulkRequest request = by_filter(family, 2);
  BulkResult first = host.client.wait_for_instances_bulk(request, 1'000, host.pacer);
  REQUIRE(first.items.size() == 2);  // oldest first: the two approved ones, now finished
  CHECK(first.succeeded == 2);
  CHECK(host.client.get_status("wf-a2").output == "approved:yes");
  REQUIRE_FALSE(first.continuation.empty());
  request.continuation = first.continuation;
  BulkResult second = host.client.wait_for_instances_bulk(request, 1'000, host.pacer);
  REQUIRE(second.items.size() == 2);
  CHECK(second.items[0].instance == "wf-a3");
  CHECK_FALSE(second.items[0].ok);
  CHECK(second.items[0].error == "instance wf-a3 still running after 1000 ms");
  CHECK(second.items[1].ok);  // wf-h1 had finished
  CHECK(second.continuation.empty());

  // The filter's states narrow the walk; explicit ids say which do not exist.
  InstanceFilter running = family;
  running.states = {RuntimeState::Running};
  BulkRequest still = by_filter(running, 10);
  still.dry_run = true;
  BulkResult left = host.client.wait_for_instances_bulk(still, 0, host.pacer);
  REQUIRE(left.items.size() == 1);
  CHECK(left.items[0].instance == "wf-a3");
  BulkResult named = host.client.wait_for_instances_bulk(by_ids({"wf-h1", "missing"}), 0, host.pacer);
  CHECK(named.succeeded == 1);
  CHECK(named.items[1].error == "instance missing does not exist");
  // A missing id fails at once: it does not wait out the deadline.
  const TimestampMs waited_from = host.clock.now_ms();
  BulkResult typo = host.client.wait_for_instances_bulk(by_ids({"missing"}), 5'000, host.pacer);
  REQUIRE(typo.items.size() == 1);
  CHECK(typo.items[0].error == "instance missing does not exist");
  CHECK(host.clock.now_ms() == waited_from);
}

TEST_CASE("a filtered bulk walk touches each match once, batch by batch, and not what starts during it",
          "[client][bulk]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (int i = 0; i < 25; ++i) {
    host.client.start_orchestration("w-" + std::to_string(100 + i), "LongTimer", "");
    host.clock.advance(i % 3 == 0 ? 0 : 1);  // some share a creation time: ties page by id
  }
  host.driver.run_until_idle();
  InstanceFilter waiting;
  waiting.instance_prefix = "w-";

  // A dry run walks the same pages and changes nothing.
  BulkRequest dry = by_filter(waiting, 7);
  dry.dry_run = true;
  std::uint64_t would = 0;
  do {
    BulkResult page = host.client.enqueue_event_bulk(dry, "inbox", "m");
    CHECK(page.dry_run);
    would += page.succeeded;
    dry.continuation = page.continuation;
  } while (!dry.continuation.empty());
  CHECK(would == 25);
  host.driver.run_until_idle();
  CHECK(host.management.count_by_status(waiting)[RuntimeState::Running] == 25);

  BulkRequest request = by_filter(waiting, 7);
  std::set<std::string> touched;
  int calls = 0;
  do {
    BulkResult page = host.client.cancel_instances(request, "sweep");
    CHECK(page.items.size() <= 7);
    for (const auto& item : page.items) {
      CHECK(item.ok);
      CHECK(touched.insert(item.instance).second);  // never twice
    }
    if (++calls == 2) {
      host.clock.advance(1'000);
      host.client.start_orchestration("w-late", "LongTimer", "");  // after the walk began
      host.driver.run_until_idle();  // the cancels of the first pages take effect meanwhile
    }
    request.continuation = page.continuation;
  } while (!request.continuation.empty() && calls < 100);
  CHECK(calls == 4);
  CHECK(touched.size() == 25);
  CHECK(touched.count("w-late") == 0);
  host.driver.run_until_idle();
  CHECK(host.management.count_by_status(waiting)[RuntimeState::Failed] == 25);
  CHECK(host.client.get_status("w-late").state == RuntimeState::Running);
}

namespace {

// Counts the orchestrator enqueues it forwards, one by one or batched; refuses batches on demand.
class CountingStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) override {
    ++singles;
    inner_.enqueue_orchestrator_item(item, delay_ms);
  }
  void enqueue_orchestrator_items(const std::vector<WorkItem>& items) override {
    ++batches;
    if (refuse) throw ProviderError(ProviderErrorKind::Transient, "enqueue_orchestrator_items", "the disk is full");
    inner_.enqueue_orchestrator_items(items);
  }
  bool instance_known(const std::string& instance) override { return inner_.instance_known(instance); }
  int singles = 0;
  int batches = 0;
  bool refuse = false;
};

}  // namespace

TEST_CASE("bulk control sends a call's messages in one transaction; a batch the store refuses fails its items",
          "[client][bulk]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (int i = 0; i < 5; ++i) {
    host.client.start_orchestration("batched-" + std::to_string(i), "Approval", R"({"timeout_ms":600000})");
  }
  host.client.start_orchestration("refused-0", "Approval", R"({"timeout_ms":600000})");
  host.client.start_orchestration("refused-1", "Approval", R"({"timeout_ms":600000})");
  host.driver.run_until_idle();
  CountingStore counting(host.store);
  RuntimeClient client(counting, host.admin);
  BulkRequest batched;
  batched.filter.instance_prefix = "batched-";
  const BulkResult raised = client.raise_event_bulk(batched, "Approve", "yes");
  CHECK(raised.succeeded == 5);
  CHECK(counting.batches == 1);
  CHECK(counting.singles == 0);
  host.driver.run_until_idle();
  for (int i = 0; i < 5; ++i) CHECK(host.client.get_status("batched-" + std::to_string(i)).output == "approved:yes");

  counting.refuse = true;
  BulkRequest refused;
  refused.filter.instance_prefix = "refused-";
  const BulkResult cancelled = client.cancel_instances(refused, "stop");
  CHECK(cancelled.succeeded == 0);
  CHECK(cancelled.failed == 2);
  REQUIRE(cancelled.items.size() == 2);
  for (const auto& item : cancelled.items) CHECK(item.error.find("the disk is full") != std::string::npos);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("refused-0").state == RuntimeState::Running);
  CHECK(host.client.get_status("refused-1").state == RuntimeState::Running);
}

namespace {

// A store whose batches are not all or none (the Provider default: one item after another)
// and which refuses the third item it is sent.
class PartlySendingStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) override {
    if (++calls == 3) throw ProviderError(ProviderErrorKind::Transient, "enqueue_orchestrator_item", "the disk is full");
    inner_.enqueue_orchestrator_item(item, delay_ms);
  }
  void enqueue_orchestrator_items(const std::vector<WorkItem>& items) override {
    Provider::enqueue_orchestrator_items(items);
  }
  bool enqueues_all_or_none() const override { return false; }
  bool instance_known(const std::string& instance) override { return inner_.instance_known(instance); }
  int calls = 0;
};

}  // namespace

TEST_CASE("a bulk call on a store whose batches are not all or none fails only the items it did not send",
          "[client][bulk]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (int i = 0; i < 5; ++i) host.client.start_orchestration("part-" + std::to_string(i), "Mailbox", R"({"messages":2})");
  host.driver.run_until_idle();
  PartlySendingStore partly(host.store);
  RuntimeClient client(partly, host.admin);
  BulkRequest all;
  all.filter.instance_prefix = "part-";
  const BulkResult sent = client.enqueue_event_bulk(all, "inbox", "hello");
  CHECK(sent.succeeded == 4);
  CHECK(sent.failed == 1);
  REQUIRE(sent.items.size() == 5);
  for (const auto& item : sent.items) {
    INFO(item.instance);
    // A retry of the failed items must not send any message a second time.
    CHECK(host.management.get_instance_stats(item.instance)->queue_pending_count == (item.ok ? 1 : 0));
    if (!item.ok) CHECK(item.error.find("the disk is full") != std::string::npos);
  }
}

TEST_CASE("a bulk call by ids acts once per id and says why one was not touched", "[client][bulk]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("m-1", "Mailbox", R"({"messages":2})");
  host.client.start_orchestration("m-2", "Mailbox", R"({"messages":2})");
  host.run("done", "HelloWorld", "Ada");
  host.driver.run_until_idle();

  BulkRequest dry = by_ids({"m-1", "done", "missing", "m-1"});
  dry.dry_run = true;
  BulkResult preview = host.client.enqueue_event_bulk(dry, "inbox", "hello");
  REQUIRE(preview.items.size() == 3);  // the duplicate once
  CHECK(preview.succeeded == 1);
  CHECK(preview.failed == 2);
  CHECK(preview.items[1].error.find("already finished") != std::string::npos);
  CHECK(preview.items[2].error.find("does not exist") != std::string::npos);
  CHECK(host.management.get_instance_stats("m-1")->queue_pending_count == 0);

  BulkResult sent = host.client.enqueue_event_bulk(by_ids({"m-1", "m-2", "m-1", "done"}), "inbox", "hello");
  CHECK(sent.succeeded == 2);
  CHECK(sent.failed == 1);
  CHECK(sent.continuation.empty());
  CHECK(host.management.get_instance_stats("m-1")->queue_pending_count == 1);
  CHECK(host.management.get_instance_stats("m-2")->queue_pending_count == 1);
}

TEST_CASE("a bulk continuation is refused with another filter, operation or text", "[client][bulk]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (int i = 0; i < 3; ++i) host.client.start_orchestration("t-" + std::to_string(i), "LongTimer", "");
  host.driver.run_until_idle();
  InstanceFilter timers;
  timers.orchestration_name = "LongTimer";
  BulkRequest request = by_filter(timers, 1);
  request.dry_run = true;
  const std::string continuation = host.client.cancel_instances(request, "x").continuation;
  REQUIRE_FALSE(continuation.empty());
  auto refused_with = [&](BulkRequest changed, const char* why) {
    try {
      host.client.cancel_instances(changed, "x");
      FAIL("accepted");
    } catch (const ClientError& error) {
      CHECK(error.kind() == ClientError::Kind::InvalidInput);
      CHECK(std::string(error.what()).find(why) != std::string::npos);
    }
  };
  BulkRequest other_filter = request;
  other_filter.continuation = continuation;
  other_filter.filter.instance_prefix = "t-";
  refused_with(other_filter, "another bulk operation or filter");
  BulkRequest other_operation = request;
  other_operation.continuation = continuation;
  CHECK_THROWS_AS(host.client.raise_event_bulk(other_operation, "E", ""), ClientError);
  for (const char* bad : {"x", "bulk1.", "bulk1.zz.1.2|a", "bulk1.0000000000000000.1.notacursor"}) {
    BulkRequest malformed = request;
    malformed.continuation = bad;
    refused_with(malformed, "malformed continuation");
  }
  BulkRequest ids_and_continuation = by_ids({"t-0"});
  ids_and_continuation.continuation = continuation;
  refused_with(ids_and_continuation, "takes none");
  refused_with(by_ids(std::vector<std::string>(1001, "t-0")), "at most 1000");
  request.continuation = continuation;
  CHECK(host.client.cancel_instances(request, "x").items.size() == 1);  // the right one goes on
}

TEST_CASE("a bulk prune walks the matches and keeps the newest executions of each", "[management][bulk]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("c-1", "Counter", R"({"count":0,"limit":3})");  // four executions
  host.run("c-2", "Counter", R"({"count":0,"limit":2})");  // three
  host.run("other", "Counter", R"({"count":0,"limit":2})");
  InstanceFilter counters;
  counters.instance_prefix = "c-";
  auto events_of = [&](const std::string& instance, std::initializer_list<ExecutionId> executions) {
    std::uint64_t total = 0;
    for (const ExecutionId execution : executions) total += host.management.read_execution(instance, execution).size();
    return total;
  };
  const std::uint64_t doomed_events = events_of("c-1", {1, 2}) + events_of("c-2", {1});
  BulkRequest request = by_filter(counters, 1);
  request.dry_run = true;
  std::uint64_t would = 0, would_events = 0;
  do {
    const BulkResult page = host.management.prune_executions_bulk(request, 2);
    would += page.executions_pruned;
    would_events += page.events_pruned;
    request.continuation = page.continuation;
  } while (!request.continuation.empty());
  CHECK(would == 3);  // 2 of c-1, 1 of c-2
  CHECK(would_events == doomed_events);
  CHECK(host.management.list_executions("c-1").size() == 4);

  request.dry_run = false;
  std::uint64_t pruned = 0, pruned_events = 0, calls = 0;
  do {
    const BulkResult page = host.management.prune_executions_bulk(request, 2);
    pruned += page.executions_pruned;
    pruned_events += page.events_pruned;
    ++calls;
    request.continuation = page.continuation;
  } while (!request.continuation.empty());
  CHECK(pruned == 3);
  CHECK(pruned_events == doomed_events);
  CHECK(calls == 2);
  CHECK(host.management.list_executions("c-1").size() == 2);
  CHECK(host.management.list_executions("c-2").size() == 2);
  CHECK(host.management.list_executions("other").size() == 3);
  const std::uint64_t other_events = events_of("other", {1, 2});
  const BulkResult by_id = host.management.prune_executions_bulk(by_ids({"other", "ghost"}), 1);
  CHECK(by_id.executions_pruned == 2);
  CHECK(by_id.events_pruned == other_events);
  CHECK(by_id.failed == 1);
  CHECK_THROWS_AS(host.management.prune_executions_bulk(by_ids({"other"}), 0), ClientError);
}

TEST_CASE("a prune by completion time takes only executions finished before it; its dry run counts them",
          "[management][bulk]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("old", "Counter", R"({"count":0,"limit":2})");  // three executions
  host.clock.advance(10'000);
  const TimestampMs cutoff = host.clock.now_ms();
  host.run("new", "Counter", R"({"count":0,"limit":2})");
  BulkRequest request = by_ids({"old", "new"});
  request.dry_run = true;
  CHECK(host.management.prune_executions_bulk(request, PruneOptions{1, cutoff}).executions_pruned == 2);
  CHECK(host.management.prune_executions_bulk(request, PruneOptions{2, cutoff}).executions_pruned == 1);
  CHECK(host.management.list_executions("old").size() == 3);
  request.dry_run = false;
  CHECK(host.management.prune_executions_bulk(request, PruneOptions{1, cutoff}).executions_pruned == 2);
  CHECK(host.management.list_executions("old").size() == 1);
  CHECK(host.management.list_executions("new").size() == 3);
  CHECK(host.management.prune_executions("new", PruneOptions{1, cutoff}) == PruneResult{});
  const std::uint64_t events = host.management.read_execution("new", 1).size() + host.management.read_execution("new", 2).size();
  CHECK(host.management.prune_executions("new", PruneOptions{1, host.clock.now_ms() + 1, true}) == PruneResult{2, events});  // a dry run
  CHECK(host.management.list_executions("new").size() == 3);
  CHECK(host.management.prune_executions("new", PruneOptions{1, host.clock.now_ms() + 1}) == PruneResult{2, events});
  CHECK_THROWS_AS(host.management.prune_executions("new", PruneOptions{1, -5}), ClientError);
  CHECK_THROWS_AS(host.management.prune_executions_bulk(request, PruneOptions{1, -5}), ClientError);
}

TEST_CASE("a dry-run delete or purge counts what the real one deletes", "[management][bulk]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (int i = 0; i < 5; ++i) host.run("d-" + std::to_string(i), "HelloWorld", "Ada");
  host.client.start_orchestration("still", "LongTimer", "");
  host.driver.run_until_idle();
  host.clock.advance(10'000);

  BulkDeleteRequest request;
  request.limit = 2;
  request.dry_run = true;
  std::uint64_t would = 0;
  int pages = 0;
  do {
    const DeleteResult page = host.management.delete_instances(request);
    CHECK(page.executions == 0);
    would += page.instances;
    request.continuation = page.continuation;
  } while (!request.continuation.empty() && ++pages < 10);
  CHECK(would == 5);
  CHECK(host.management.count_instances({}) == 6);

  const DeleteResult preview = host.management.purge_completed(host.clock.now_ms(), PurgeBatch{100, {}, true});
  CHECK(preview.instances == 5);
  CHECK(host.management.purge_completed(host.clock.now_ms(), PurgeBatch{0, {}, true}).instances == 5);  // every batch
  CHECK(host.management.count_instances({}) == 6);
  const DeleteResult purged = host.management.purge_completed(host.clock.now_ms(), PurgeBatch{3, {}, false});
  CHECK(purged.instances == 3);
  REQUIRE_FALSE(purged.continuation.empty());
  const DeleteResult rest = host.management.purge_completed(host.clock.now_ms(), PurgeBatch{3, purged.continuation, false});
  CHECK(rest.instances == 2);
  CHECK(host.management.count_instances({}) == 1);
}

TEST_CASE("export and import round-trip an instance with all its executions", "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("c", "Counter", R"({"count":0,"limit":2})");
  std::string exported = host.management.export_instance("c");
  CHECK(exported.find(R"("format":"duroxide.instance.v1")") != std::string::npos);
  InstanceDetails before = host.management.get_instance_details("c");
  History last_before = host.management.read_execution("c", 3);

  Host other(kind);  // another store, e.g. a laptop
  CHECK(other.management.import_instance(exported) == "c");
  InstanceDetails after = other.management.get_instance_details("c");
  CHECK(after.summary.info.state == RuntimeState::Completed);
  CHECK(after.summary.info.output == "2");
  CHECK(after.summary.info.created_at_ms == before.summary.info.created_at_ms);
  REQUIRE(after.executions.size() == 3);
  CHECK(after.executions[0].continued_as_new);
  CHECK(other.management.read_execution("c", 3) == last_before);
  CHECK(replay_history(other.registry, "c", 3, other.management.read_execution("c", 3)).deterministic);
  CHECK(other.management.export_instance("c") == exported);  // exact round trip

  try {
    other.management.import_instance(exported);
    FAIL("imported over an existing instance");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::AlreadyExists);
  }
}

TEST_CASE("search reads the current execution's input, after continue-as-new and after an import",
          "[management][search]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("c", "Counter", R"({"count":0,"limit":2})");  // executions with count 0, 1, then 2
  host.run("h", "HelloWorld", "Counting Ada");
  auto matches = [](Host& on, const std::string& text) {
    InstanceFilter filter;
    filter.contains = text;
    std::vector<std::string> ids;
    for (const auto& summary : on.management.list_instances(filter, {{}, 10, InstanceOrder::CreatedAsc}).instances) {
      ids.push_back(summary.info.instance);
    }
    return ids;
  };
  using Ids = std::vector<std::string>;
  CHECK(matches(host, R"("count":2)") == Ids{"c"});
  CHECK(matches(host, R"("count":0)").empty());  // an earlier execution's input
  CHECK(matches(host, "Ada") == Ids{"h"});       // the input, and the output that repeats it
  CHECK(matches(host, "Count") == Ids{"h"});     // case-sensitive: "count" in c's input does not match

  Host other(kind);
  other.management.import_instance(host.management.export_instance("c"));
  CHECK(matches(other, R"("count":2)") == Ids{"c"});

}

TEST_CASE("an imported running instance continues when a message arrives", "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("a", "Approval", R"({"timeout_ms":600000})");
  std::string exported = host.management.export_instance("a");
  host.management.delete_instance("a", true);
  host.management.import_instance(exported);
  host.client.raise_event("a", "Approve", "after import");
  CHECK(host.client.wait_for_orchestration("a", 1'000, host.pacer).output ==
        "approved:after import");
}

TEST_CASE("an export carries the messages waiting for a running instance, and its import queues them again",
          "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("mail", "Mailbox", R"({"messages":2})");
  host.run("ask", "Approval", R"({"timeout_ms":600000})");
  host.run("stop", "Approval", R"({"timeout_ms":600000})");
  // Queued and not yet taken: the runtime steps again only after the imports.
  host.client.enqueue_event("mail", "inbox", "one");
  host.client.enqueue_event("mail", "inbox", "two");
  host.client.raise_event("ask", "Approve", "before export");
  host.client.cancel_instance("stop", "moved");
  std::vector<std::string> documents;
  for (const char* id : {"mail", "ask", "stop"}) {
    documents.push_back(host.management.export_instance(id));
    host.management.delete_instance(id, true);
  }
  using Json = nlohmann::json;
  CHECK(Json::parse(documents[0]).at("messages").size() == 2);
  for (const auto& document : documents) host.management.import_instance(document);
  CHECK(host.client.wait_for_orchestration("mail", 1'000, host.pacer).output == "one,two");
  CHECK(host.client.wait_for_orchestration("ask", 1'000, host.pacer).output == "approved:before export");
  const OrchestrationStatus stopped = host.client.wait_for_orchestration("stop", 1'000, host.pacer);
  REQUIRE(stopped.error.has_value());
  CHECK(stopped.error->display_message() == "canceled: moved");
  // A finished instance's queued messages stay out: the runtime drops them.
  host.client.raise_event("ask", "Approve", "late");
  CHECK_FALSE(Json::parse(host.management.export_instance("ask")).contains("messages"));

  // A message for another instance, or of a kind only the runtime writes, is refused.
  Json document = Json::parse(documents[0]);
  host.management.delete_instance("mail", true);
  for (const char* message : {R"({"kind":"ExternalRaised","instance":"other","name":"n","data":""})",
                              R"({"kind":"TimerFired","instance":"mail","execution_id":1,"id":2,"fire_at_ms":0})"}) {
    document["messages"] = Json::array({Json::parse(message)});
    try {
      host.management.import_instance(document.dump());
      FAIL("an import took " << message);
    } catch (const ClientError& error) {
      CHECK(error.kind() == ClientError::Kind::InvalidInput);
    }
  }
  CHECK_FALSE(host.admin.get_instance_info("mail").has_value());
}

TEST_CASE("an imported running instance resumes its pending timer, activity and child on its own",
          "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  // A timer: fires at its original time after the import.
  host.run("timer", "Approval", R"({"timeout_ms":60000})");
  const std::string timer_doc = host.management.export_instance("timer");
  host.management.delete_instance("timer", true);
  host.management.import_instance(timer_doc);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("timer").state == RuntimeState::Running);  // not before its time
  host.clock.advance(60'000);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("timer").output == "timeout");

  // An activity scheduled and not run when exported: it runs after the import.
  host.client.start_orchestration("activity", "HelloWorld", "Ada", "1.0.0");
  REQUIRE(host.driver.step());  // the first turn schedules the activity; it has not run
  const std::string activity_doc = host.management.export_instance("activity");
  REQUIRE(host.management.get_instance_details("activity").pending.size() == 1);
  host.management.delete_instance("activity", true);
  host.management.import_instance(activity_doc);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("activity").output == "Hello, Ada!");

  // A child started and not reported: exported without it, the parent starts it again.
  host.client.start_orchestration("parent", "Parent", R"(["x"])");
  REQUIRE(host.driver.step());  // the parent's first turn schedules its child
  const std::string parent_doc = host.management.export_instance("parent");
  host.management.delete_instance("parent", true);  // the child's queued start goes with it
  host.management.import_instance(parent_doc);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("parent").output == R"(["Hi, x!"])");
}

TEST_CASE("an instance exported between a continue-as-new and its next execution imports and runs on",
          "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  auto continued = [&](const std::string& id) {
    const std::vector<ExecutionInfo> executions = host.management.list_executions(id);
    return !executions.empty() && executions.back().continued_as_new;
  };
  host.client.start_orchestration("c", "Counter", R"({"count":0,"limit":2})");
  // Step until execution 1 has continued as new and execution 2's start waits in the queue.
  for (int i = 0; i < 10 && !continued("c"); ++i) REQUIRE(host.driver.step());
  REQUIRE(continued("c"));
  const std::string document = host.management.export_instance("c");
  CHECK(document.find(R"("next_start":{)") != std::string::npos);
  host.management.delete_instance("c", true);  // its queued start goes with it
  host.management.import_instance(document);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("c").state == RuntimeState::Completed);
  CHECK(host.management.list_executions("c").size() == 3);

  // A document without the queued start (written before exports held one): the start is
  // rebuilt from the history's OrchestrationContinuedAsNew.
  host.client.start_orchestration("old", "Counter", R"({"count":0,"limit":1})");
  for (int i = 0; i < 10 && !continued("old"); ++i) REQUIRE(host.driver.step());
  REQUIRE(continued("old"));
  std::string without = host.management.export_instance("old");
  const std::size_t at = without.find(R"(,"next_start":{)");
  REQUIRE(at != std::string::npos);
  without.erase(at, without.rfind('}') - at);  // the field was the document's last
  host.management.delete_instance("old", true);
  host.management.import_instance(without);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("old").state == RuntimeState::Completed);
}

TEST_CASE("a tree exported while a finished child's report had not reached its parent imports and the parent "
          "finishes, in either line order",
          "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (const bool child_first : {false, true}) {
    INFO("child line first: " << child_first);
    host.client.start_orchestration("p", "Parent", R"(["x"])");
    // Step until the child has finished: its report waits in the parent's queue.
    auto child_done = [&] {
      if (host.client.get_status("p").state == RuntimeState::NotFound) return false;
      const InstanceTree tree = host.management.get_instance_tree("p");
      return !tree.children.empty() && tree.children[0].root.info.state == RuntimeState::Completed;
    };
    for (int i = 0; i < 10 && !child_done(); ++i) REQUIRE(host.driver.step());
    REQUIRE(child_done());
    REQUIRE(host.client.get_status("p").state == RuntimeState::Running);  // the report is still queued
    const std::string lines = host.management.export_tree("p");
    const std::size_t split = lines.find('\n') + 1;
    host.management.delete_instance("p", true);  // the child and the queued report go with it
    const std::string ordered = child_first ? lines.substr(split) + lines.substr(0, split) : lines;
    CHECK(host.management.import_instances(ordered).failed == 0);
    host.driver.run_until_idle();
    CHECK(host.client.get_status("p").output == R"(["Hi, x!"])");
    host.management.delete_instance("p", true);
  }
}

TEST_CASE("a delete the instance's state refuses is a Conflict, told apart from a store error and a missing id",
          "[management][delete]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  auto kind_of = [](const std::function<void()>& call) -> std::optional<ClientError::Kind> {
    try {
      call();
    } catch (const ClientError& error) {
      return error.kind();
    }
    return std::nullopt;
  };
  host.run("waiting", "Backlog", "first");
  // A parent whose id holds the words of the missing-instance message.
  host.run("job that does not exist yet", "Grandparent", "");
  const std::string child = host.management.get_instance_tree("job that does not exist yet").children.at(0).root.info.instance;
  CHECK(kind_of([&] { host.management.delete_instance("waiting", false); }) == ClientError::Kind::Conflict);
  CHECK(kind_of([&] { host.management.delete_instance(child, true); }) == ClientError::Kind::Conflict);
  CHECK(kind_of([&] { host.management.delete_instance("nobody", true); }) == ClientError::Kind::NotFound);
  CHECK(kind_of([&] { host.management.delete_instance("waiting", true); }) == std::nullopt);
}

TEST_CASE("an instance whose start is still queued is deleted with force, messages included, and never runs",
          "[management][delete]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("queued", "HelloWorld", "Ada");  // no dispatcher has run yet
  host.client.raise_event("queued", "Approve", "yes");              // known from its queued start
  try {
    host.management.delete_instance("queued", false);
    FAIL("a queued start is deleted only with force");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::Conflict);
    CHECK(std::string(error.what()).find("has not started yet") != std::string::npos);
  }
  const DeleteResult deleted = host.management.delete_instance("queued", true);
  CHECK(deleted.instances == 0);  // it had no row yet
  CHECK(deleted.queue_items == 2);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("queued").state == RuntimeState::NotFound);
  host.client.start_orchestration("queued", "HelloWorld", "Grace");  // the id is free again
  host.driver.run_until_idle();
  CHECK(host.client.get_status("queued").state == RuntimeState::Completed);
}

TEST_CASE("a tree and a filtered set export as JSON lines and import back; a bad line fails alone",
          "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("tree", "Grandparent", "");  // tree -> a Parent -> two HelloWorld children
  host.run("lone", "HelloWorld", "Ada");
  const std::string lines = host.management.export_tree("tree");
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 4);
  CHECK(lines.rfind(R"({"executions")", 0) == 0);
  CHECK(lines.find(R"("instance":"tree")") < lines.find(R"("parent_instance":"tree")"));  // the root first
  const std::size_t before = host.management.count_instances({});
  host.management.delete_instance("tree", false);
  CHECK(host.management.count_instances({}) == before - 4);
  const BulkResult restored = host.management.import_instances(lines + "\n{not json}\n");
  CHECK(restored.succeeded == 4);
  CHECK(restored.failed == 1);
  CHECK(restored.items.back().instance == "line 6");
  CHECK(host.management.count_instances({}) == before);
  CHECK(host.management.get_instance_tree("tree").children.size() == 1);
  CHECK(host.management.get_instance_tree("tree").children[0].children.size() == 2);
  // A second import of the same lines: every id exists, each line fails on its own.
  CHECK(host.management.import_instances(lines).failed == 4);

  BulkRequest hellos;
  hellos.filter.orchestration_name = "HelloWorld";
  hellos.batch = 2;
  ManagementClient::ExportPage first = host.management.export_instances(hellos);
  CHECK(first.result.succeeded == 2);
  CHECK(std::count(first.lines.begin(), first.lines.end(), '\n') == 2);
  REQUIRE_FALSE(first.result.continuation.empty());
  hellos.continuation = first.result.continuation;
  ManagementClient::ExportPage second = host.management.export_instances(hellos);
  CHECK(second.result.succeeded == 1);  // three HelloWorlds in all
  CHECK(second.result.continuation.empty());
  // A dry run counts what a page would export and writes no line; its walk pages alike.
  BulkRequest preview;
  preview.filter.orchestration_name = "HelloWorld";
  preview.batch = 2;
  preview.dry_run = true;
  ManagementClient::ExportPage counted = host.management.export_instances(preview);
  CHECK(counted.result.dry_run);
  CHECK(counted.result.succeeded == 2);
  CHECK(counted.lines.empty());
  CHECK_FALSE(counted.result.continuation.empty());
  preview.instances = {"tree", "no-such-instance"};
  ManagementClient::ExportPage by_ids = host.management.export_instances(preview);
  CHECK(by_ids.result.succeeded == 1);
  CHECK(by_ids.result.failed == 1);  // a dry run still says which id would fail
  CHECK(by_ids.lines.empty());
  // The lines split as JSON lines: '\r' dropped, empty lines kept in place.
  CHECK(split_json_lines("a\r\n\nb") == std::vector<std::string>{"a", "", "b"});
  CHECK(split_json_lines("a\n") == std::vector<std::string>{"a"});
  CHECK(split_json_lines("").empty());
  std::string too_many;
  for (std::size_t i = 0; i <= ManagementClient::kMaxBulkIds; ++i) too_many += "{}\n";
  CHECK_THROWS_AS(host.management.import_instances(too_many), ClientError);
}

TEST_CASE("import rejects malformed documents naming the field and writes nothing",
          "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("h", "HelloWorld", "Ada");
  std::string good = host.management.export_instance("h");
  host.management.delete_instance("h", false);
  auto rejects = [&](std::string document, const std::string& fragment) {
    try {
      host.management.import_instance(document);
      FAIL("accepted: " << document.substr(0, 80));
    } catch (const ClientError& error) {
      INFO(error.what());
      CHECK(error.kind() == ClientError::Kind::InvalidInput);
      CHECK(std::string(error.what()).find(fragment) != std::string::npos);
    }
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string copy = good;
    copy.replace(copy.find(from), from.size(), to);
    return copy;
  };
  rejects("{", "invalid JSON");
  rejects(replaced("duroxide.instance.v1", "v0"), "import.format");
  rejects(replaced(R"("status":"Completed")", R"("status":"Done")"), "import.executions[0].status");
  rejects(replaced(R"("event_id":2)", R"("event_id":5)"), "import.executions[0].history[1].event_id");
  rejects(replaced(R"("current_execution_id":1)", R"("current_execution_id":2)"),
          "current_execution_id");
  rejects(replaced(R"("kind":"OrchestrationStarted")", R"("kind":"Nope")"),
          "import.executions[0].history[0].kind");
  // Execution ids the runtime could not use (0 is "no execution yet"; the stores keep
  // them signed), consistent with the instance's current one.
  auto with_execution_id = [&](const std::string& id) {
    std::string copy = replaced(R"("execution_id":1)", R"("execution_id":)" + id);
    const std::string current = R"("current_execution_id":1)";
    return copy.replace(copy.find(current), current.size(), R"("current_execution_id":)" + id);
  };
  rejects(with_execution_id("0"), "import.executions[0].execution_id: must be 1 to 9223372036854775807");
  rejects(with_execution_id("9223372036854775808"), "import.executions[0].execution_id");
  rejects(replaced(R"("parent_instance":"")", R"("parent_instance":"a\nb")"), "the parent instance id");
  // A name a start refuses: statistics would then refuse every call over the stored names.
  rejects(replaced(R"("orchestration_name":"HelloWorld")", R"("orchestration_name":"Hello\tWorld")"),
          "the orchestration name");
  // Times before the epoch: the stores' cursors and retention walk by them.
  for (const char* field : {"created_at_ms", "updated_at_ms", "started_at_ms", "completed_at_ms"}) {
    const std::string key = std::string("\"") + field + "\":";
    std::string copy = good;
    const std::size_t at = copy.find(key);
    REQUIRE(at != std::string::npos);
    copy.insert(at + key.size(), "-");
    rejects(copy, std::string(field) + ": must be 0 or more");
  }
  rejects(replaced(R"("parent_instance":"")", R"("parent_instance":"h")"), "instance h cannot be its own parent");
  CHECK(host.management.count_instances({}) == 0);
  CHECK(host.management.import_instance(good) == "h");
}

TEST_CASE("import refuses parent links that lead back to the instance; a missing parent is allowed",
          "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("a", "HelloWorld", "Ada");
  const std::string document = host.management.export_instance("a");
  host.management.delete_instance("a", false);
  auto with = [&](const std::string& instance, const std::string& parent) {
    std::string copy = document;
    const std::string id = R"("instance":"a")";
    copy.replace(copy.find(id), id.size(), R"("instance":")" + instance + "\"");
    const std::string link = R"("parent_instance":"")";
    copy.replace(copy.find(link), link.size(), R"("parent_instance":")" + parent + "\"");
    return copy;
  };
  CHECK(host.management.import_instance(with("a", "b")) == "a");  // b does not exist yet: a tree in any order
  CHECK(host.management.import_instance(with("c", "a")) == "c");
  try {
    host.management.import_instance(with("b", "c"));  // b -> c -> a -> b
    FAIL("a cycle was imported");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::InvalidInput);
    CHECK(std::string(error.what()).find("the parents of instance b lead back to it") != std::string::npos);
  }
  CHECK_FALSE(host.admin.get_instance_info("b").has_value());
  // Without the cycle the tree goes as one: a (whose parent does not exist) and c under it.
  CHECK(host.management.delete_instance("a", true).instances == 2);
  CHECK(host.management.count_instances({}) == 0);
}

// A document whose history names a parent other than its instance's would get a row and a
// report target that disagree: the history's parent is the one a finished child reports to.
TEST_CASE("import refuses a history that names another parent than the document's instance",
          "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("p", "Parent", R"(["x"])");
  host.driver.run_until_idle();
  const std::string child = host.management.get_instance_tree("p").children.at(0).root.info.instance;
  std::string document = host.management.export_instance(child);
  host.management.delete_instance("p", true);
  const std::string link = R"("parent_instance":"p")";
  REQUIRE(document.find(link) != std::string::npos);
  document.replace(document.rfind(link), link.size(), R"("parent_instance":"")");  // the instance's (keys sorted: last)
  try {
    host.management.import_instance(document);
    FAIL("a history naming another parent was imported");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::InvalidInput);
    CHECK(std::string(error.what()).find("names parent p") != std::string::npos);
  }
  CHECK(host.management.count_instances({}) == 0);
}

// A start that was accepted and is still queued holds its id: an import of that id would
// make the queued start a duplicate the runtime drops.
TEST_CASE("import refuses an id whose start is queued, unless the start is the document's parent's",
          "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("a", "HelloWorld", "Ada");
  std::string document = host.management.export_instance("a");
  const std::string id = R"("instance":"a")";
  while (document.find(id) != std::string::npos) document.replace(document.find(id), id.size(), R"("instance":"x")");
  host.client.start_orchestration("x", "HelloWorld", "Bob");  // queued, not run
  try {
    host.management.import_instance(document);
    FAIL("an id whose start is queued was imported");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::AlreadyExists);
  }
  host.driver.run_until_idle();
  CHECK(host.client.get_status("x").output == "Hi, Bob!");

  // A tree whose child runs: the parent's line queues the child's start, and the child's
  // own line then imports over it.
  host.registry.register_orchestration("AwaitsTimerChild", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return "child: " + co_await ctx.schedule_sub_orchestration("LongTimer", "", {"timer-child"});
  });
  host.client.start_orchestration("p", "AwaitsTimerChild", "");
  host.driver.run_until_idle();
  REQUIRE(host.client.get_status("timer-child").state == RuntimeState::Running);
  const std::string lines = host.management.export_tree("p");
  host.management.delete_instance("p", true);
  CHECK(host.management.import_instances(lines).failed == 0);
  host.driver.run_until_idle();
  host.clock.advance(3'600'000);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("p").state == RuntimeState::Completed);
}

// A parent's pending child whose start an import queues again starts the version the
// parent asked for, not the registry's default.
TEST_CASE("an imported parent starts its pending child at the version it scheduled", "[management][export]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.registry.register_orchestration("PinsChild", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_sub_orchestration("HelloWorld", "Ada", {"pinned-child", "1.0.0"});
  });
  host.client.start_orchestration("p", "PinsChild", "");
  REQUIRE(host.driver.step());  // the parent's first turn schedules its child
  const std::vector<PendingWork> pending = host.management.get_instance_details("p").pending;
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].version == "1.0.0");
  const std::string document = host.management.export_instance("p");
  host.management.delete_instance("p", true);  // the child's queued start goes with it
  host.management.import_instance(document);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("pinned-child").state == RuntimeState::Completed);
  CHECK(host.admin.get_instance_info("pinned-child")->orchestration_version == "1.0.0");
  CHECK(host.client.get_status("p").output == "Hello, Ada!");  // 1.0.0's greeting (2.0.0 says Hi)
}

TEST_CASE("orchestration statistics per name", "[management][analytics]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("h1", "HelloWorld", "a");
  host.run("h2", "HelloWorld", "b");
  host.run("f", "Fails", "x");
  host.run("c", "Counter", R"({"count":0,"limit":2})");
  host.run("l", "LongTimer", "");
  std::map<std::string, OrchestrationStats> stats;
  for (const auto& s : host.management.get_orchestration_stats()) stats[s.orchestration_name] = s;
  CHECK(stats.at("HelloWorld").completed == 2);
  CHECK(stats.at("Fails").failed == 1);
  CHECK(stats.at("Counter").completed == 1);
  CHECK(stats.at("Counter").continued == 2);
  CHECK(stats.at("LongTimer").running == 1);
  auto only = host.management.get_orchestration_stats("Counter");
  REQUIRE(only.size() == 1);
  CHECK(only[0].continued == 2);
}

TEST_CASE("performance metrics give duration percentiles", "[management][analytics]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.registry.register_orchestration("Nap", [](OrchestrationContext& ctx,
                                                 std::string ms) -> Task<std::string> {
    co_await ctx.schedule_timer(std::stoll(ms));
    co_return "rested";
  });
  TimestampMs start = host.clock.now_ms();
  for (int i = 1; i <= 10; ++i) {
    host.client.start_orchestration("nap-" + std::to_string(i), "Nap", std::to_string(i * 100));
  }
  host.driver.run_until_idle();
  for (int step = 0; step < 10; ++step) {
    host.clock.advance(100);
    host.driver.run_until_idle();
  }
  DurationStats stats = host.management.get_performance_metrics("Nap");
  CHECK(stats.count == 10);
  CHECK(stats.min_ms == 100);
  CHECK(stats.max_ms == 1000);
  CHECK(stats.avg_ms == 550);
  CHECK(stats.p50_ms == 500);
  CHECK(stats.p95_ms == 1000);
  CHECK(stats.p99_ms == 1000);
  // since_ms counts whole hours: the hour the naps started in, or the next.
  CHECK(host.management.get_performance_metrics("Nap", start + 1).count == 10);
  CHECK(host.management.get_performance_metrics("Nap", (start / 3'600'000 + 1) * 3'600'000).count == 0);
  CHECK(host.management.get_performance_metrics("NeverRan").count == 0);
}

TEST_CASE("system health and problematic instances", "[management][analytics]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("ok-1", "HelloWorld", "a");
  host.run("ok-2", "HelloWorld", "b");
  host.run("ok-3", "HelloWorld", "c");
  host.run("broken", "Fails", "x");
  host.run("stuck", "Approval", R"({"timeout_ms":86400000})");  // waits a day for an event
  host.clock.advance(2 * 3'600'000);
  TimestampMs now = host.clock.now_ms();

  ProblematicInstances problems = host.management.get_problematic_instances(now);
  REQUIRE(problems.long_running.size() == 1);
  CHECK(problems.long_running[0].info.instance == "stuck");
  // Waiting two hours for an event, with a timer not yet due, is waiting, not stuck.
  CHECK(problems.no_progress.empty());
  CHECK(problems.recently_failed.empty());  // "broken" failed two hours ago
  HealthThresholds wide;
  wide.recent_failure_window_ms = 3 * 3'600'000;
  CHECK(host.management.get_problematic_instances(now, wide).recently_failed.size() == 1);

  SystemHealth health = host.management.get_system_health(now);
  CHECK(health.counts[RuntimeState::Failed] == 1);
  CHECK(health.long_running == 1);
  CHECK(health.no_progress == 0);
  CHECK(health.recent_failures == 0);
  CHECK(health.queues.oldest_orchestrator_age_ms == 0);  // the day-long timer is not due
  // 100 - 40 x 1/4 failed - 30 x 0/1 running without progress - 0 backlog
  CHECK(health.score == 90);

  // A message that waits in the queue lowers the score by its age.
  host.client.raise_event("stuck", "Approve", "late");
  host.clock.advance(100'000);
  CHECK(host.management.get_queue_depths().oldest_orchestrator_age_ms == 100'000);
  health = host.management.get_system_health(host.clock.now_ms());
  CHECK(health.no_progress == 0);  // ready for 100 s: not yet ten minutes
  CHECK(health.score == 80);
  // Ready for over ten minutes and not taken (no dispatcher ran): stuck.
  host.clock.advance(500'001);
  health = host.management.get_system_health(host.clock.now_ms());
  CHECK(health.no_progress == 1);
  // 100 - 10 failed - 30 x 1/1 stuck - min(30, 600 s / 10)
  CHECK(health.score == 30);
  problems = host.management.get_problematic_instances(host.clock.now_ms());
  REQUIRE(problems.no_progress.size() == 1);
  CHECK(problems.no_progress[0].info.instance == "stuck");
  // Once the event is taken, the instance is no longer stuck.
  host.driver.run_until_idle();
  CHECK(host.management.get_system_health(host.clock.now_ms()).no_progress == 0);
}

TEST_CASE("an activity no worker takes makes its instance stuck; one a worker holds does not",
          "[management][analytics]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.registry.register_orchestration("OnGpu", [](OrchestrationContext& ctx, std::string input) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Hello", input, ActivityOptions("gpu"));
  });
  host.run("tagged", "OnGpu", "x");  // the host's worker takes untagged activities only
  host.run("waiting", "Approval", R"({"timeout_ms":86400000})");
  HealthThresholds thresholds;
  thresholds.no_progress_ms = 60'000;
  host.clock.advance(59'000);
  CHECK(host.management.get_system_health(host.clock.now_ms(), thresholds).no_progress == 0);
  host.clock.advance(2'000);
  CHECK(host.management.get_system_health(host.clock.now_ms(), thresholds).no_progress == 1);
  ProblematicInstances problems = host.management.get_problematic_instances(host.clock.now_ms(), thresholds);
  REQUIRE(problems.no_progress.size() == 1);
  CHECK(problems.no_progress[0].info.instance == "tagged");

  // Held by a worker (its lock live), the activity is running, not stuck; once its lock has
  // expired for the threshold, it is stuck again.
  REQUIRE(host.store.fetch_work_items(30'000, 1, TagFilter::only({"gpu"})).size() == 1);
  CHECK(host.management.get_system_health(host.clock.now_ms(), thresholds).no_progress == 0);
  host.clock.advance(30'000 + 59'000);
  CHECK(host.management.get_system_health(host.clock.now_ms(), thresholds).no_progress == 0);
  host.clock.advance(2'000);
  CHECK(host.management.get_system_health(host.clock.now_ms(), thresholds).no_progress == 1);

  // The filter behind it, for listings and counts.
  InstanceFilter ready;
  ready.ready_work_before_ms = host.clock.now_ms() - 60'000;
  CHECK(host.management.count_instances(ready) == 1);
  CHECK(ids_of(host.management.list_instances(ready, {{}, 10}).instances) == std::vector<std::string>{"tagged"});
  ready.orchestration_name = "Approval";
  CHECK(host.management.count_instances(ready) == 0);
}

TEST_CASE("problem lists come worst first", "[management][analytics]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (const char* id : {"old", "mid", "new"}) {
    host.run(id, "Backlog", "second");  // waits for "take-one"
    host.clock.advance(1'000);
  }
  host.client.raise_event("old", "take-one", "");  // "old" changes last
  host.driver.run_until_idle();
  host.run("failed-first", "Fails", "x");
  host.clock.advance(1'000);
  host.run("failed-last", "Fails", "x");
  // Each gets a message that no dispatcher takes: all three are stuck.
  for (const char* id : {"old", "mid", "new"}) host.client.raise_event(id, "nudge", "");
  host.clock.advance(2 * 3'600'000);
  HealthThresholds thresholds;
  thresholds.recent_failure_window_ms = 3 * 3'600'000;
  ProblematicInstances problems = host.management.get_problematic_instances(host.clock.now_ms(), thresholds);
  CHECK(ids_of(problems.long_running) == std::vector<std::string>{"old", "mid", "new"});  // oldest first
  CHECK(ids_of(problems.no_progress) == std::vector<std::string>{"mid", "new", "old"});   // longest unchanged
  CHECK(ids_of(problems.recently_failed) == std::vector<std::string>{"failed-last", "failed-first"});
  // The limit keeps the worst.
  problems = host.management.get_problematic_instances(host.clock.now_ms(), thresholds, 1);
  CHECK(ids_of(problems.long_running) == std::vector<std::string>{"old"});
  CHECK(ids_of(problems.no_progress) == std::vector<std::string>{"mid"});
  CHECK(ids_of(problems.recently_failed) == std::vector<std::string>{"failed-last"});
}

TEST_CASE("activity statistics are counted at each ack", "[management][analytics]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.registry.register_orchestration("Slowish", [](OrchestrationContext& ctx,
                                                     std::string) -> Task<std::string> {
    co_return co_await ctx.schedule_activity("Hello", "slow");
  });
  host.run("h", "HelloWorld", "Ada");                   // 2.0.0: no activity
  host.run("h1", "HelloWorld", "Bob");
  host.client.start_orchestration("v1", "HelloWorld", "Cy", "1.0.0");
  host.run("f", "Fails", "boom");
  host.run("fan", "FanOutFanIn", R"(["a","b","c"])");
  // One activity whose completion arrives 250 ms after it was scheduled.
  host.client.start_orchestration("slow", "Slowish", "");
  OrchestrationDispatcher orchestrations(host.store, host.registry, host.clock, {});
  WorkerDispatcher workers(host.store, host.registry, host.clock, {});
  while (orchestrations.step()) {
  }
  host.clock.advance(250);
  REQUIRE(workers.step());
  REQUIRE(orchestrations.step());

  std::map<std::string, ActivityStats> stats;
  for (const auto& s : host.management.get_activity_stats()) stats[s.activity_name] = s;
  CHECK(stats.at("Hello").scheduled == 5);  // v1 + three fan-out + slow
  CHECK(stats.at("Hello").completed == 5);
  CHECK(stats.at("Hello").failed == 0);
  CHECK(stats.at("Hello").avg_duration_ms == 50);  // 250 ms once over five completions
  CHECK(stats.at("Fail").failed == 1);
  CHECK(stats.at("Fail").failure_rate == 1.0);
  CHECK(host.management.get_activity_stats("Fail").size() == 1);
  CHECK(host.management.get_activity_stats("Nothing").empty());
}

namespace {

// Denies everything about orchestration "Approval" and every delete.
struct NoApprovalsNoDeletes final : AccessPolicy {
  mutable std::vector<AccessRequest> asked;
  bool allows(const AccessRequest& request) const override {
    asked.push_back(request);
    return request.orchestration != "Approval" && request.operation != AccessOperation::Delete;
  }
};

}  // namespace

TEST_CASE("an access policy is consulted by both clients; a denial changes nothing",
          "[management][access]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("secret", "Approval", R"({"timeout_ms":600000})");
  host.run("open", "HelloWorld", "Ada");
  std::string exported = host.management.export_instance("secret");

  NoApprovalsNoDeletes policy;
  ClientOptions options;
  options.access_policy = &policy;
  RuntimeClient client(host.store, host.admin, options);
  ManagementClient management(host.admin, &policy);
  auto denied = [](const std::function<void()>& call) {
    try {
      call();
    } catch (const ClientError& error) {
      return error.kind() == ClientError::Kind::AccessDenied &&
             std::string(error.what()).rfind("access denied: ", 0) == 0;
    }
    return false;
  };

  CHECK(denied([&] { client.start_orchestration("another", "Approval", "{}"); }));
  CHECK_FALSE(host.admin.get_instance_info("another").has_value());
  CHECK(host.admin.get_queue_depths().orchestrator_visible == 0);
  CHECK(denied([&] { client.raise_event("secret", "Approve", "x"); }));
  CHECK(denied([&] { client.cancel_instance("secret", "x"); }));
  CHECK(denied([&] { client.get_status("secret"); }));
  CHECK(client.get_status("open").output == "Hi, Ada!");

  InstanceFilter approvals;
  approvals.orchestration_name = "Approval";
  CHECK(denied([&] { management.list_instances(approvals, {{}, 10}); }));
  CHECK(ids_of(management.list_instances({}, {{}, 10}).instances) == std::vector<std::string>{"open"});
  CHECK(denied([&] { management.get_instance_details("secret"); }));
  CHECK(denied([&] { management.read_execution("secret", 1); }));
  CHECK(denied([&] { management.get_bulk_status({"open", "secret"}); }));
  CHECK(denied([&] { management.export_instance("secret"); }));
  CHECK(denied([&] { management.delete_instance("open", true); }));
  CHECK(host.admin.get_instance_info("open").has_value());
  host.management.delete_instance("secret", true);  // without the policy
  CHECK(denied([&] { management.import_instance(exported); }));
  CHECK_FALSE(host.admin.get_instance_info("secret").has_value());
  CHECK(management.get_system_health(host.clock.now_ms()).score >= 0);

  // The policy saw the operation, the instance and its orchestration name.
  bool saw_status_of_secret = std::any_of(policy.asked.begin(), policy.asked.end(), [](const AccessRequest& r) {
    return r.operation == AccessOperation::ReadStatus && r.instance == "secret" &&
           r.orchestration == "Approval";
  });
  CHECK(saw_status_of_secret);
}

namespace {

// True when `call` throws ClientError of `kind`.
bool refused(ClientError::Kind kind, const std::function<void()>& call) {
  try {
    call();
  } catch (const ClientError& error) {
    return error.kind() == kind;
  }
  return false;
}

}  // namespace

TEST_CASE("read-only clients refuse every change with a typed error and still read",
          "[management][switches]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("waiting", "Approval", R"({"timeout_ms":600000})");
  host.run("done", "HelloWorld", "Ada");
  const std::string exported = host.management.export_instance("done");
  const auto queues_before = host.admin.get_queue_depths();

  ClientOptions client_options;
  client_options.read_only = true;
  RuntimeClient client(host.store, host.admin, client_options);
  ManagementOptions management_options;
  management_options.read_only = true;
  ManagementClient management(host.admin, management_options);
  using Kind = ClientError::Kind;

  CHECK(refused(Kind::ReadOnly, [&] { client.start_orchestration("new", "HelloWorld", "x"); }));
  CHECK(refused(Kind::ReadOnly, [&] { client.raise_event("waiting", "Approve", "x"); }));
  CHECK(refused(Kind::ReadOnly, [&] { client.enqueue_event("waiting", "inbox", "x"); }));
  CHECK(refused(Kind::ReadOnly, [&] { client.cancel_instance("waiting", "x"); }));
  CHECK(refused(Kind::ReadOnly, [&] { client.cancel_instances({}, "x"); }));
  CHECK(refused(Kind::ReadOnly, [&] { client.raise_event_bulk({}, "Approve", "x"); }));
  CHECK(refused(Kind::ReadOnly, [&] { client.enqueue_event_bulk({}, "inbox", "x"); }));
  CHECK(refused(Kind::ReadOnly, [&] { management.delete_instance("done", true); }));
  BulkDeleteRequest bulk;
  bulk.limit = 10;
  CHECK(refused(Kind::ReadOnly, [&] { management.delete_instances(bulk); }));
  CHECK(refused(Kind::ReadOnly, [&] { management.prune_executions("done", 0); }));
  CHECK(refused(Kind::ReadOnly, [&] { management.purge_completed(host.clock.now_ms() + 1); }));
  CHECK(refused(Kind::ReadOnly, [&] { management.import_instance(exported); }));
  CHECK(refused(Kind::ReadOnly, [&] { management.import_instance("not even json"); }));
  CHECK(refused(Kind::ReadOnly, [&] { management.delete_parked_messages({1}); }));

  // Nothing changed, and every read still works.
  CHECK_FALSE(host.admin.get_instance_info("new").has_value());
  CHECK(host.admin.get_instance_info("done").has_value());
  CHECK(host.admin.get_queue_depths().orchestrator_visible == queues_before.orchestrator_visible);
  CHECK(client.get_status("waiting").state == RuntimeState::Running);
  CHECK(management.list_instances({}, {{}, 10}).instances.size() == 2);
  CHECK(management.get_instance_details("waiting").pending.size() == 2);
  CHECK(management.read_execution("done", 1).size() == 2);  // HelloWorld 2.0.0: started, completed
  CHECK_FALSE(management.export_instance("done").empty());
  CHECK(management.get_system_health(host.clock.now_ms()).score >= 0);
}

TEST_CASE("a disabled management surface refuses every call; the control plane still works",
          "[management][switches]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("done", "HelloWorld", "Ada");
  ManagementOptions off;
  off.enabled = false;
  ManagementClient management(host.admin, off);
  using Kind = ClientError::Kind;
  CHECK(refused(Kind::Disabled, [&] { management.list_instances({}, {{}, 10}); }));
  CHECK(refused(Kind::Disabled, [&] { management.count_by_status(); }));
  CHECK(refused(Kind::Disabled, [&] { management.get_instance_details("done"); }));
  CHECK(refused(Kind::Disabled, [&] { management.read_execution("done", 1); }));
  CHECK(refused(Kind::Disabled, [&] { management.get_queue_depths(); }));
  CHECK(refused(Kind::Disabled, [&] { management.changes_since(0); }));
  CHECK(refused(Kind::Disabled, [&] { management.export_instance("done"); }));
  CHECK(refused(Kind::Disabled, [&] { management.delete_instance("done", true); }));
  CHECK(refused(Kind::Disabled, [&] { management.list_parked_messages(); }));
  CHECK(refused(Kind::Disabled, [&] { management.delete_parked_messages({1}); }));
  CHECK(refused(Kind::Disabled, [&] { management.get_system_health(host.clock.now_ms()); }));
  CHECK(host.admin.get_instance_info("done").has_value());
  host.run("more", "HelloWorld", "Bo");
  CHECK(host.client.get_status("more").output == "Hi, Bo!");
}

namespace {

// Hides orchestration "Approval" and the instances "hidden" and "g::sub::1" from everything.
struct HidesSome final : AccessPolicy {
  bool allows(const AccessRequest& request) const override {
    return request.orchestration != "Approval" && request.instance != "hidden" &&
           request.instance != "g::sub::1";
  }
};

bool has(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

TEST_CASE("an instance the policy denies is in no listing or count or tree or feed",
          "[management][access]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("secret", "Approval", R"({"timeout_ms":600000})");
  host.run("hidden", "HelloWorld", "Eve");
  host.run("open", "HelloWorld", "Ada");
  host.run("g", "Grandparent", "");
  HidesSome policy;
  ManagementClient management(host.admin, &policy);

  std::vector<std::string> listed = ids_of(management.list_instances({}, {{}, 100}).instances);
  CHECK(has(listed, "open"));
  CHECK(has(listed, "g"));
  CHECK(has(listed, "g::sub::1::sub::1"));  // allowed itself, though under a hidden parent
  for (const char* id : {"secret", "hidden", "g::sub::1"}) CHECK_FALSE(has(listed, id));
  const std::uint64_t all = host.management.count_instances({});
  CHECK(management.count_instances({}) == all - 3);
  CHECK(management.count_instances({}) == listed.size());
  auto counts = management.count_by_status();
  CHECK(counts[RuntimeState::Running] == 0);  // only "secret" runs
  CHECK(counts[RuntimeState::Completed] == all - 3);
  CHECK(management.get_system_metrics().total_instances == all - 3);
  CHECK(management.get_system_health(host.clock.now_ms()).counts[RuntimeState::Running] == 0);
  CHECK(management.find_child_instances("g").empty());
  CHECK(management.get_instance_tree("g").children.empty());
  ChangePage feed = management.changes_since(0, 1000);
  CHECK_FALSE(feed.changes.empty());
  for (const auto& change : feed.changes) {
    CHECK(change.instance != "secret");
    CHECK(change.instance != "hidden");
    CHECK(change.instance != "g::sub::1");
  }
  for (const auto& delta : management.watch_metrics(0, 1000).deltas) {
    CHECK(delta.instance != "hidden");
    CHECK(delta.orchestration != "Approval");
  }

  ClientOptions options;
  options.access_policy = &policy;
  RuntimeClient client(host.store, host.admin, options);
  CHECK(client.cancel_instances({}, "sweep").items.empty());  // "secret" runs, hidden
  CHECK(host.admin.get_instance_info("secret")->state == RuntimeState::Running);
}

TEST_CASE("bulk delete and purge leave an instance the policy denies alone",
          "[management][access]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("hidden", "HelloWorld", "Eve");
  host.run("open", "HelloWorld", "Ada");
  host.run("other", "HelloWorld", "Bob");
  host.run("last", "HelloWorld", "Cy");
  HidesSome policy;
  ManagementClient management(host.admin, &policy);

  BulkDeleteRequest by_ids;
  by_ids.instances = {"hidden", "open"};
  DeleteResult deleted = management.delete_instances(by_ids);
  CHECK(deleted.instances == 1);
  CHECK(deleted.denied == std::vector<std::string>{"hidden"});
  CHECK(host.admin.get_instance_info("hidden").has_value());
  CHECK_FALSE(host.admin.get_instance_info("open").has_value());

  BulkDeleteRequest by_filter;
  by_filter.filter.orchestration_name = "HelloWorld";
  by_filter.limit = 1;
  CHECK(management.delete_instances(by_filter).instances == 1);  // one of other/last, never hidden
  CHECK(host.admin.get_instance_info("hidden").has_value());
  by_filter.continuation = "1|other";  // the client walks every candidate itself: no continuation
  try {
    management.delete_instances(by_filter);
    FAIL("a continuation under a policy was accepted");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::InvalidInput);
  }
  CHECK(host.admin.count_instances({}) == 2);

  host.clock.advance(1'000);
  DeleteResult purged = management.purge_completed(host.clock.now_ms());
  CHECK(purged.instances == 1);
  CHECK(purged.denied == std::vector<std::string>{"hidden"});
  CHECK(host.admin.get_instance_info("hidden").has_value());
  CHECK(host.admin.count_instances({}) == 1);
}

TEST_CASE("a delete under a policy takes a tree only when the policy lets the caller delete all of it",
          "[management][access]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.run("g", "Grandparent", "");  // g::sub::1, which HidesSome hides, is g's child
  host.run("open", "HelloWorld", "Ada");
  HidesSome policy;
  ManagementClient management(host.admin, &policy);
  const std::uint64_t all = host.admin.count_instances({});

  CHECK(refused(ClientError::Kind::AccessDenied, [&] { management.delete_instance("g", true); }));
  BulkDeleteRequest by_ids;
  by_ids.instances = {"g", "open"};
  DeleteResult deleted = management.delete_instances(by_ids);
  CHECK(deleted.instances == 1);
  CHECK(deleted.denied == std::vector<std::string>{"g"});
  CHECK(host.admin.count_instances({}) == all - 1);

  BulkDeleteRequest by_filter;
  by_filter.filter.orchestration_name = "Grandparent";
  deleted = management.delete_instances(by_filter);
  CHECK(deleted.instances == 0);
  CHECK(deleted.denied == std::vector<std::string>{"g"});
  host.clock.advance(1'000);
  deleted = management.purge_completed(host.clock.now_ms());
  CHECK(deleted.instances == 0);
  CHECK(deleted.denied == std::vector<std::string>{"g"});
  CHECK(host.admin.get_instance_info("g::sub::1").has_value());
  CHECK(host.admin.count_instances({}) == all - 1);
}

namespace {

// A store whose bulk deletes stop at `most` instances (of whole trees), as every store's
// do at a request's limit.
class StopsEarly final : public testing::ForwardingManagement {
 public:
  StopsEarly(ManagementProvider& inner, std::size_t most) : ForwardingManagement(inner), most_(most) {}
  DeleteResult delete_instances(const BulkDeleteRequest& request) override {
    BulkDeleteRequest clamped = request;
    clamped.limit = std::min(request.limit, most_);
    return ForwardingManagement::delete_instances(clamped);
  }

 private:
  std::size_t most_;
};

}  // namespace

TEST_CASE("bulk delete and purge under a policy take every allowed tree, though each store call stops at its limit",
          "[management][access]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (int i = 0; i < 4; ++i) host.run("walked-" + std::to_string(i), "Grandparent", "");  // trees of four
  for (int i = 0; i < 4; ++i) host.run("purged-" + std::to_string(i), "Grandparent", "");
  host.run("hidden", "HelloWorld", "Eve");
  StopsEarly early(host.admin, 5);  // two trees a call
  HidesSome policy;
  ManagementClient management(early, &policy);

  BulkDeleteRequest walked;
  walked.filter.instance_prefix = "walked-";
  walked.limit = 100;
  CHECK(management.delete_instances(walked).instances == 16);
  CHECK(host.admin.count_instances({}) == 17);

  host.clock.advance(1'000);
  const DeleteResult purged = management.purge_completed(host.clock.now_ms());
  CHECK(purged.instances == 16);
  CHECK(purged.denied == std::vector<std::string>{"hidden"});
  CHECK(host.admin.count_instances({}) == 1);
}

TEST_CASE("a delete of listed ids under a policy that stops at its limit goes on where it stopped",
          "[management][access]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  for (int i = 0; i < 3; ++i) host.run("tree-" + std::to_string(i), "Grandparent", "");  // trees of four
  host.run("hidden", "HelloWorld", "Eve");
  host.run("open", "HelloWorld", "Ada");
  HidesSome policy;
  ManagementClient management(host.admin, &policy);

  BulkDeleteRequest request;
  request.instances = {"tree-0", "hidden", "tree-1", "tree-2", "hidden", "open"};
  request.limit = 6;
  std::vector<std::string> denied;
  std::uint64_t deleted = 0;
  std::size_t calls = 0;
  do {
    const DeleteResult result = management.delete_instances(request);
    deleted += result.instances;
    denied.insert(denied.end(), result.denied.begin(), result.denied.end());
    request.continuation = result.continuation;
    ++calls;
  } while (!request.continuation.empty() && calls < 10);
  CHECK(calls == 2);  // tree-0 and tree-1 (8 instances), then tree-2 and open
  CHECK(deleted == 13);
  // Each listing of "hidden" once: the one after where the first call stopped, by the second.
  CHECK(denied == std::vector<std::string>{"hidden", "hidden"});
  CHECK(host.admin.count_instances({}) == 1);
  CHECK(host.admin.get_instance_info("hidden").has_value());
}

namespace {

// Counts the instance rows a client reads one by one.
class CountsReads final : public testing::ForwardingManagement {
 public:
  using ForwardingManagement::ForwardingManagement;
  std::optional<InstanceInfo> get_instance_info(const std::string& instance) override {
    ++reads;
    return ForwardingManagement::get_instance_info(instance);
  }
  std::size_t reads = 0;
};

}  // namespace

TEST_CASE("a walk of listed ids under a policy with limit 1 reads each id about once",
          "[management][access]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  BulkDeleteRequest request;
  for (int i = 0; i < 40; ++i) {
    request.instances.push_back("one-" + std::to_string(i));
    host.run(request.instances.back(), "HelloWorld", "Ada");
  }
  CountsReads counted(host.admin);
  HidesSome policy;
  ManagementClient management(counted, &policy);
  request.limit = 1;
  std::size_t calls = 0;
  do {
    const DeleteResult result = management.delete_instances(request);
    CHECK(result.instances == 1);
    request.continuation = result.continuation;
    ++calls;
  } while (!request.continuation.empty() && calls < 100);
  CHECK(calls == 40);
  CHECK(host.admin.count_instances({}) == 0);
  CHECK(counted.reads <= 2 * request.instances.size());  // not once per id per call
}

TEST_CASE("instance stats count the messages no wait has taken, across continue-as-new, until consumed",
          "[management][stats]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  auto stats = [&] {
    auto found = host.management.get_instance_stats("b");
    REQUIRE(found.has_value());
    return *found;
  };
  host.run("b", "Backlog", "first");
  CHECK(stats().carry_forward_count == 0);

  host.client.enqueue_event("b", "inbox", "m1");
  host.client.enqueue_event("b", "inbox", "m2");
  host.client.raise_event("b", "note", "n");
  CHECK(stats().queue_pending_count == 3);  // queued, not yet in the history
  CHECK(stats().carry_forward_count == 0);
  host.driver.run_until_idle();
  CHECK(stats().queue_pending_count == 0);
  CHECK(stats().carry_forward_count == 3);  // in the history, no wait took them

  host.client.raise_event("b", "start", "");
  host.driver.run_until_idle();
  InstanceStats carried = stats();
  CHECK(carried.execution_id == 2);
  CHECK(carried.carry_forward_count == 3);
  const History second = host.management.read_execution("b", 2);
  REQUIRE_FALSE(second.empty());
  CHECK(second.front().as<events::OrchestrationStarted>()->carried_messages == 3);
  // Exported and imported again, it keeps the count: folded from the history, before any turn.
  const std::string exported = host.management.export_instance("b");
  host.management.delete_instance("b", true);
  CHECK(host.management.import_instance(exported) == "b");
  CHECK(stats().carry_forward_count == 3);

  host.client.raise_event("b", "take-one", "");
  host.driver.run_until_idle();
  CHECK(stats().carry_forward_count == 2);
  host.client.raise_event("b", "take-rest", "");
  host.driver.run_until_idle();
  CHECK(stats().carry_forward_count == 0);  // m2 and the note taken; waiting for "end"
  CHECK(host.client.get_status("b").state == RuntimeState::Running);

  host.client.raise_event("b", "unwanted", "u");
  host.driver.run_until_idle();
  CHECK(stats().carry_forward_count == 1);
  host.client.raise_event("b", "end", "");
  host.driver.run_until_idle();
  CHECK(host.client.get_status("b").output == "m1m2n");
  CHECK(stats().carry_forward_count == 0);  // a finished execution carries nothing forward
  CHECK_FALSE(host.management.get_instance_stats("ghost").has_value());
}

TEST_CASE("instance stats count a message that reaches a queue after its dequeue lost a select",
          "[management][stats]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.client.start_orchestration("late", "LateMessage", "");
  host.driver.run_until_idle();
  host.clock.advance(20);
  host.driver.run_until_idle();  // the timer won: the dequeue is cancelled
  host.client.enqueue_event("late", "inbox", "m");
  host.driver.run_until_idle();
  CHECK(host.management.get_instance_stats("late")->carry_forward_count == 1);
  host.client.raise_event("late", "end", "");
  host.driver.run_until_idle();
  CHECK(host.client.get_status("late").state == RuntimeState::Completed);
  CHECK(host.management.get_instance_stats("late")->carry_forward_count == 0);
}

namespace {

// Counts the history reads of the management calls it forwards; keeps no pending work
// on demand, as a store written before it did.
class HistoryReadCounting : public testing::ForwardingManagement {
 public:
  using ForwardingManagement::ForwardingManagement;
  History read_execution(const std::string& instance, ExecutionId execution) override {
    ++history_reads;
    return inner_.read_execution(instance, execution);
  }
  History read_events(const std::string& instance, ExecutionId execution, const EventQuery& query) override {
    ++history_reads;
    return inner_.read_events(instance, execution, query);
  }
  std::optional<PendingSnapshot> get_pending_work(const std::string& instance) override {
    if (keeps_none) return std::nullopt;
    return inner_.get_pending_work(instance);
  }
  int history_reads = 0;
  bool keeps_none = false;
};

// One activity nothing runs (its input over what is kept, a two-byte character across
// the cut) beside `input` hour-long timers.
Task<std::string> spread(OrchestrationContext& ctx, std::string input) {
  std::vector<DurableFuture> work;
  work.push_back(ctx.schedule_activity("NotRegistered", std::string(kMaxPendingInputKept - 1, 'x') + "\u00e9tail"));
  for (int i = 0; i < std::stoi(input); ++i) work.push_back(ctx.schedule_timer(3'600'000 + i));
  co_await ctx.join(std::move(work));
  co_return "done";
}

}  // namespace

TEST_CASE("details of a running instance come from what its acks kept, not from its history",
          "[management][details]") {
  PROVIDER_KIND(kind);
  Host host(kind);
  host.registry.register_orchestration("Spread", spread);
  host.run("spread", "Spread", "150");
  HistoryReadCounting counting(host.admin);
  ManagementClient management(counting);

  InstanceDetails details = management.get_instance_details("spread");
  CHECK(counting.history_reads == 0);
  CHECK(details.pending_total == 151);
  REQUIRE(details.pending.size() == kMaxPendingKept);
  CHECK(details.pending[0].kind == PendingKind::Activity);
  CHECK(details.pending[0].input_truncated);
  CHECK(details.pending[0].input == std::string(kMaxPendingInputKept - 1, 'x'));  // not half a character
  // The kept items are the first ones the history folds to, inputs aside.
  const History history = host.admin.read_execution("spread", 1);
  const std::vector<PendingWork> folded = fold_history(history, history.size()).pending;
  REQUIRE(folded.size() == 151);
  CHECK(std::equal(details.pending.begin() + 1, details.pending.end(), folded.begin() + 1));
  CHECK(folded[0].input.size() == kMaxPendingInputKept + 5);

  // A turn keeps what is pending after it: the first timer fired.
  host.clock.advance(3'600'000);
  host.driver.run_until_idle();
  details = management.get_instance_details("spread");
  CHECK(details.pending_total == 150);
  CHECK(details.pending[1].fire_at_ms == folded[2].fire_at_ms);
  CHECK(counting.history_reads == 0);

  // Where the store keeps none, the history is folded whole, as before.
  counting.keeps_none = true;
  details = management.get_instance_details("spread");
  CHECK(counting.history_reads == 1);
  CHECK(details.pending_total == 150);
  CHECK(details.pending.size() == 150);
  CHECK_FALSE(details.pending[0].input_truncated);

  // A finished instance keeps nothing.
  host.run("hello", "HelloWorld", "Ada");
  CHECK_FALSE(host.admin.get_pending_work("hello").has_value());
  CHECK(host.management.get_instance_details("hello").pending.empty());
}

namespace {

// A store whose housekeeping fails.
class FailingMaintenance : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void maintain() override { throw ProviderError(ProviderErrorKind::Transient, "maintain", "the disk is busy"); }
};

}  // namespace

TEST_CASE("the step driver runs the store's housekeeping, so retention applies without threads",
          "[management][retention]") {
  PROVIDER_KIND(kind);
  constexpr std::int64_t kDay = 24LL * 3600 * 1000;
  StoreOptions options;
  options.finished_retention_ms = kDay;
  auto holder = testing::make_provider(kind, options);
  Registry registry = make_registry();
  StepDriver driver(holder->provider(), registry, holder->clock);
  RuntimeClient client(holder->provider(), holder->management());
  client.start_orchestration("kept-a-day", "HelloWorld", "Ada");
  driver.run_until_idle();
  CHECK(client.get_status("kept-a-day").state == RuntimeState::Completed);
  holder->clock.advance(2 * kDay);
  driver.run_until_idle();  // nothing to dispatch: only the housekeeping runs
  CHECK(client.get_status("kept-a-day").state == RuntimeState::NotFound);

  // A failing housekeeping is reported, and the dispatchers go on.
  std::vector<RuntimeEvent> seen;
  FailingMaintenance failing(holder->provider());
  StepDriver reporting(failing, registry, holder->clock, {}, [&](const RuntimeEvent& event) { seen.push_back(event); });
  client.start_orchestration("after", "HelloWorld", "Bo");
  reporting.run_until_idle();
  CHECK(client.get_status("after").state == RuntimeState::Completed);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.back().kind == RuntimeEvent::Kind::ProviderError);
  CHECK(seen.back().message.find("the disk is busy") != std::string::npos);
}
