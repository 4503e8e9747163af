// The provider contract, cold path: listing, details, metrics, deletion,
// pruning and custom status.
#include <algorithm>
#include <limits>
#include <set>

#include "provider_suite.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

// Acks one more event on a running instance with the given metadata.
void ack_event(ProviderUnderTest& f, const std::string& instance, EventData data,
               ExecutionMetadata meta) {
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{instance, "tick", ""}, 0);
  OrchestrationItem item = fetch(f);
  REQUIRE(item.instance == instance);
  OrchestrationAck ack;
  ack.execution_id = item.execution_id;
  ack.history_delta = {Event{item.history.size() + 1, 0, 0, std::move(data)}};
  ack.metadata = std::move(meta);
  f.provider().ack_orchestration_item(item.lock_token, ack);
}

void complete(ProviderUnderTest& f, const std::string& instance, const std::string& parent = {}) {
  ack_event(f, instance, events::OrchestrationCompleted{"done"},
            metadata(RuntimeState::Completed, parent));
}

}  // namespace

TEST_CASE("contract: list instances by status and filter with cursor paging",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  for (int i = 0; i < 25; ++i) {
    f.clock.advance(10);  // distinct creation times, newest last
    create_instance(f, "job-" + std::to_string(100 + i),
                    i % 5 == 0 ? RuntimeState::Failed
                               : (i % 2 ? RuntimeState::Completed : RuntimeState::Running));
  }
  create_instance(f, "other", RuntimeState::Running);
  CHECK(f.management().count_instances({}) == 26);

  std::vector<std::string> seen;
  PageRequest page{{}, 10};
  InstanceFilter jobs;
  jobs.instance_prefix = "job-";
  int pages = 0;
  do {
    InstancePage result = f.management().list_instances(jobs, page);
    for (const auto& info : result.instances) seen.push_back(info.instance);
    page.cursor = result.next_cursor;
    ++pages;
  } while (!page.cursor.empty() && pages < 10);
  CHECK(pages == 3);
  REQUIRE(seen.size() == 25);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 25);  // no duplicates
  CHECK(seen.front() == "job-124");  // newest first
  CHECK(seen.back() == "job-100");

  InstanceFilter failed;
  failed.states = {RuntimeState::Failed};
  CHECK(f.management().count_instances(failed) == 5);
  InstancePage failures = f.management().list_instances(failed, {{}, 100});
  REQUIRE(failures.instances.size() == 5);
  CHECK(failures.instances[0].error->display_message() == "broke");
  InstanceFilter done_or_failed;
  done_or_failed.states = {RuntimeState::Completed, RuntimeState::Failed};
  CHECK(f.management().count_instances(done_or_failed) == 15);
  InstanceFilter by_name;
  by_name.orchestration_name = "Nope";
  CHECK(f.management().count_instances(by_name) == 0);
  CHECK(provider_error_kind([&] { f.management().list_instances({}, {{}, 0}); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] { f.management().list_instances({}, {"garbage", 10}); }) ==
        ProviderErrorKind::InvalidInput);
}

TEST_CASE("contract: every listing order pages through each matching instance once, in order",
          "[provider][management][paging]") {
  FOR_EACH_PROVIDER(f);
  // Creation times in runs of three (ties), then updates in another order: every
  // fourth instance finishes later, the ones created last first.
  for (int i = 0; i < 30; ++i) {
    if (i % 3 == 0) f.clock.advance(10);
    create_instance(f, "o-" + std::to_string(100 + i), i % 7 == 0 ? RuntimeState::Failed : RuntimeState::Running);
  }
  for (int i = 29; i >= 0; i -= 4) {
    f.clock.advance(i % 8 == 1 ? 0 : 5);  // some equal update times too
    complete(f, "o-" + std::to_string(100 + i));
  }
  std::vector<InstanceInfo> all;
  for (PageRequest page{{}, 1000};;) {
    InstancePage result = f.management().list_instances({}, page);
    all.insert(all.end(), result.instances.begin(), result.instances.end());
    if ((page.cursor = result.next_cursor).empty()) break;
  }
  REQUIRE(all.size() == 30);
  std::vector<InstanceFilter> filters(4);
  filters[1].states = {RuntimeState::Running};
  filters[2].states = {RuntimeState::Completed};
  filters[2].created_from_ms = all.back().created_at_ms + 20;
  filters[3].updated_to_ms = all.front().updated_at_ms;
  for (InstanceOrder order : {InstanceOrder::CreatedDesc, InstanceOrder::CreatedAsc, InstanceOrder::UpdatedDesc,
                              InstanceOrder::UpdatedAsc, InstanceOrder::DurationDesc, InstanceOrder::DurationAsc}) {
    const bool by_update = order == InstanceOrder::UpdatedDesc || order == InstanceOrder::UpdatedAsc;
    const bool by_duration = order == InstanceOrder::DurationDesc || order == InstanceOrder::DurationAsc;
    const bool descends = order == InstanceOrder::CreatedDesc || order == InstanceOrder::UpdatedDesc ||
                          order == InstanceOrder::DurationDesc;
    auto key = [&](const InstanceInfo& info) {
      return by_duration ? info.updated_at_ms - info.created_at_ms : by_update ? info.updated_at_ms : info.created_at_ms;
    };
    for (std::size_t k = 0; k < filters.size(); ++k) {
      INFO("order " << static_cast<int>(order) << " filter " << k);
      const InstanceFilter& filter = filters[k];
      std::vector<std::pair<TimestampMs, std::string>> expected;
      for (const InstanceInfo& info : all) {
        if (!filter.states.empty() && filter.states[0] != info.state) continue;
        if (filter.created_from_ms != 0 && info.created_at_ms < filter.created_from_ms) continue;
        if (filter.updated_to_ms != 0 && info.updated_at_ms >= filter.updated_to_ms) continue;
        expected.emplace_back(key(info), info.instance);
      }
      // The key in the order asked; ties by id, ascending when the key descends.
      std::sort(expected.begin(), expected.end(), [&](const auto& a, const auto& b) {
        if (a.first != b.first) return descends ? a.first > b.first : a.first < b.first;
        return descends ? a.second < b.second : a.second > b.second;
      });
      REQUIRE(expected.size() >= 3);
      std::vector<std::pair<TimestampMs, std::string>> listed;
      PageRequest page{{}, 2, order};
      do {
        InstancePage result = f.management().list_instances(filter, page);
        for (const InstanceInfo& info : result.instances) {
          listed.emplace_back(key(info), info.instance);
        }
        page.cursor = result.next_cursor;
      } while (!page.cursor.empty() && listed.size() <= expected.size());
      CHECK(listed == expected);
    }
  }
}

namespace {

// An instance with this input, ended as `state` (output "done: <input>", or an error
// with `message`), and a custom status.
void create_searchable(ProviderUnderTest& f, const std::string& instance, const std::string& input,
                       RuntimeState state, const std::string& message = {},
                       const std::optional<std::string>& custom_status = std::nullopt) {
  f.provider().enqueue_orchestrator_item(start_item(instance), 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  ack.history_delta = {Event{1, 0, 0, events::OrchestrationStarted{"Orch", "1.0.0", input, "", 0}}};
  ack.metadata = metadata(state);
  ack.metadata.custom_status = custom_status;
  ack.metadata.custom_status_changed = custom_status.has_value();
  if (state == RuntimeState::Completed) {
    ack.metadata.output = "done: " + message;
    ack.history_delta.push_back(Event{2, 0, 0, events::OrchestrationCompleted{ack.metadata.output}});
  } else if (state == RuntimeState::Failed) {
    ack.metadata.error = ErrorDetails::orchestration_failed(message);
    ack.history_delta.push_back(Event{2, 0, 0, events::OrchestrationFailed{*ack.metadata.error}});
  }
  f.provider().ack_orchestration_item(item.lock_token, ack);
}

std::vector<std::string> search(ProviderUnderTest& f, InstanceFilter filter, const std::string& text,
                                std::size_t page_size = 100) {
  filter.contains = text;
  std::vector<std::string> ids;
  PageRequest page{{}, page_size, InstanceOrder::CreatedAsc};
  do {
    InstancePage result = f.management().list_instances(filter, page);
    for (const auto& info : result.instances) ids.push_back(info.instance);
    page.cursor = result.next_cursor;
  } while (!page.cursor.empty());
  return ids;
}

}  // namespace

TEST_CASE("contract: search finds a substring of the input, output, error or custom status",
          "[provider][management][search]") {
  FOR_EACH_PROVIDER(f);
  create_searchable(f, "s-input", R"({"customer":"Ada", "title":"the" })", RuntimeState::Running);
  f.clock.advance(1);
  create_searchable(f, "s-output", "x", RuntimeState::Completed, "total 42 \u00c4\u00d6");
  f.clock.advance(1);
  create_searchable(f, "s-error", "y", RuntimeState::Failed, R"(card "4242" declined\\retry)");
  f.clock.advance(1);
  create_searchable(f, "s-status", "z", RuntimeState::Running, "", std::string("step 3 for Ada"));
  f.clock.advance(1);
  create_searchable(f, "s-case", "ada lowercase", RuntimeState::Running);

  using Ids = std::vector<std::string>;
  CHECK(search(f, {}, "Ada") == Ids{"s-input", "s-status"});  // case-sensitive
  CHECK(search(f, {}, "Ada", 1) == Ids{"s-input", "s-status"});  // paged
  CHECK(search(f, {}, R"("the")") == Ids{"s-input"});
  CHECK(search(f, {}, "42 \u00c4\u00d6") == Ids{"s-output"});
  CHECK(search(f, {}, R"("4242" declined\\retry)") == Ids{"s-error"});  // quotes and a backslash, as stored in JSON
  CHECK(search(f, {}, "declined").size() == 1);
  CHECK(search(f, {}, "no such text").empty());
  InstanceFilter running;
  running.states = {RuntimeState::Running};
  CHECK(search(f, running, "a") == Ids{"s-input", "s-status", "s-case"});
  InstanceFilter ada;
  ada.contains = "Ada";
  CHECK(f.management().count_instances(ada) == 2);
  CHECK(f.management().count_by_status(ada)[RuntimeState::Running] == 2);

  InstanceFilter too_long;
  too_long.contains = std::string(kMaxContainsBytes + 1, 'a');
  CHECK(provider_error_kind([&] { f.management().list_instances(too_long, {}); }) == ProviderErrorKind::InvalidInput);
  InstanceFilter not_utf8;
  not_utf8.contains = "\xff";
  CHECK(provider_error_kind([&] { f.management().count_instances(not_utf8); }) == ProviderErrorKind::InvalidInput);
  InstanceFilter long_tenant;
  long_tenant.tenant = std::string(limits::kMaxIdentifierBytes + 1, 't');
  CHECK(provider_error_kind([&] { f.management().list_instances(long_tenant, {}); }) == ProviderErrorKind::InvalidInput);
  InstanceFilter tenant_not_utf8;
  tenant_not_utf8.tenant = "t\xfe";
  CHECK(provider_error_kind([&] { f.management().count_by_status(tenant_not_utf8); }) == ProviderErrorKind::InvalidInput);
  BulkDeleteRequest bad_tenant;
  bad_tenant.filter = tenant_not_utf8;
  CHECK(provider_error_kind([&] { f.management().delete_instances(bad_tenant); }) == ProviderErrorKind::InvalidInput);

  // A bulk delete by search deletes only the finished matches; a bad text changes nothing.
  BulkDeleteRequest bad;
  bad.filter = not_utf8;
  CHECK(provider_error_kind([&] { f.management().delete_instances(bad); }) == ProviderErrorKind::InvalidInput);
  BulkDeleteRequest by_text;
  by_text.filter.contains = "total 42";
  CHECK(f.management().delete_instances(by_text).instances == 1);
  CHECK_FALSE(f.management().get_instance_info("s-output").has_value());
  CHECK(f.management().count_instances({}) == 4);
}

TEST_CASE("contract: the pending work an ack keeps is read from the instance row until an ack keeps none",
          "[provider][management][pending]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("kept"), 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  ack.history_delta = {started_event(), Event{2, 0, 10, events::ActivityScheduled{"Act", "in"}},
                       Event{3, 0, 10, events::TimerCreated{5'000}}};
  ack.metadata = metadata();
  PendingWork activity;
  activity.kind = PendingKind::Activity;
  activity.scheduled_event_id = 2;
  activity.name = "Act";
  activity.input = "in \u00e9";
  activity.scheduled_at_ms = 10;
  PendingWork timer;
  timer.kind = PendingKind::Timer;
  timer.scheduled_event_id = 3;
  timer.name = "timer";
  timer.scheduled_at_ms = 10;
  timer.fire_at_ms = 5'000;
  timer.input_truncated = true;
  ack.metadata.pending = PendingSnapshot{{activity, timer}, 7};
  f.provider().ack_orchestration_item(item.lock_token, ack);
  CHECK(f.management().get_pending_work("kept") == ack.metadata.pending);
  CHECK_FALSE(f.management().get_pending_work("no-such-instance").has_value());

  // An ack that keeps none forgets what was kept; a finished instance keeps none.
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"kept", "e", "d"}, 0);
  item = fetch(f);
  ack = {};
  ack.history_delta = {Event{4, 0, 20, events::ExternalEvent{"e", "d"}}};
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
  CHECK_FALSE(f.management().get_pending_work("kept").has_value());
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"kept", "e", "d"}, 0);
  item = fetch(f);
  ack.history_delta = {Event{5, 0, 30, events::OrchestrationCompleted{"done"}}};
  ack.metadata = metadata(RuntimeState::Completed);
  ack.metadata.pending = PendingSnapshot{};
  f.provider().ack_orchestration_item(item.lock_token, ack);
  CHECK_FALSE(f.management().get_pending_work("kept").has_value());  // read for a running instance only
}

TEST_CASE("contract: events are filtered by kind, id and time and paged in the store", "[provider][management][events]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("long"), 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  ack.history_delta = {Event{1, 0, 1'000, events::OrchestrationStarted{"Orch", "1.0.0", "", "", 0}}};
  for (EventId id = 2; id <= 41; ++id) {  // activities (even ids) and timers (odd), 10 ms apart
    const TimestampMs at = 1'000 + static_cast<TimestampMs>(id) * 10;
    ack.history_delta.push_back(id % 2 == 0 ? Event{id, 0, at, events::ActivityScheduled{"Act", "in"}}
                                            : Event{id, 0, at, events::TimerCreated{at + 5}});
  }
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
  auto ids = [](const History& history) {
    std::vector<EventId> out;
    for (const Event& event : history) out.push_back(event.event_id);
    return out;
  };
  using Ids = std::vector<EventId>;

  EventQuery timers;
  timers.kinds = {EventKind::TimerCreated};
  timers.from_event_id = 10;
  timers.to_event_id = 16;
  CHECK(ids(f.management().read_events("long", 1, timers)) == Ids{11, 13, 15});
  EventQuery window;
  window.from_ms = 1'100;  // event 10
  window.to_ms = 1'130;    // before event 13
  CHECK(ids(f.management().read_events("long", 1, window)) == Ids{10, 11, 12});
  // Paging: a page of 15, the next from the last id + 1.
  EventQuery page;
  page.limit = 15;
  Ids all;
  for (;;) {
    const History got = f.management().read_events("long", 1, page);
    for (const Event& event : got) all.push_back(event.event_id);
    if (got.size() < page.limit) break;
    page.from_event_id = got.back().event_id + 1;
  }
  CHECK(all.size() == 41);
  CHECK(all.front() == 1);
  CHECK(all.back() == 41);
  CHECK(f.management().read_events("long", 1, {}) == f.management().read_execution("long", 1));

  EventQuery over;
  over.limit = kMaxEventPage + 1;
  CHECK(provider_error_kind([&] { f.management().read_events("long", 1, over); }) == ProviderErrorKind::InvalidInput);
  EventQuery backwards;
  backwards.from_event_id = 5;
  backwards.to_event_id = 4;
  CHECK(provider_error_kind([&] { f.management().read_events("long", 1, backwards); }) == ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] { f.management().read_events("long", 2, {}); }) == ProviderErrorKind::NotFound);
}

namespace {

// A finished one-execution instance of "Timed" that ran `duration_ms` from `started_at`.
InstanceExport timed_instance(const std::string& id, TimestampMs started_at, std::int64_t duration_ms) {
  InstanceExport data;
  data.info.instance = id;
  data.info.orchestration_name = "Timed";
  data.info.orchestration_version = "1.0.0";
  data.info.current_execution_id = 1;
  data.info.execution_count = 1;
  data.info.state = RuntimeState::Completed;
  data.info.output = "ok";
  data.info.created_at_ms = started_at;
  data.info.updated_at_ms = started_at + duration_ms;
  ExecutionExport execution;
  execution.info.instance = id;
  execution.info.execution_id = 1;
  execution.info.state = RuntimeState::Completed;
  execution.info.output = "ok";
  execution.info.started_at_ms = started_at;
  execution.info.completed_at_ms = started_at + duration_ms;
  execution.history = {Event{1, 0, started_at, events::OrchestrationStarted{"Timed", "1.0.0", "", "", 0}},
                       Event{2, 0, started_at + duration_ms, events::OrchestrationCompleted{"ok"}}};
  execution.info.event_count = execution.history.size();
  data.executions.push_back(std::move(execution));
  return data;
}

}  // namespace

TEST_CASE("contract: duration percentiles stay within 1% of the exact ones, whatever was deleted since",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  const TimestampMs hour = 3'600'000;
  const TimestampMs base = 500 * hour;
  // 600 durations from 0 ms to about 10 hours, log-spread; the second half starts an hour later.
  std::vector<std::int64_t> all, later;
  std::uint64_t state = 12345;
  for (int i = 0; i < 600; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const int digits = static_cast<int>((state >> 33) % 8);
    std::int64_t d = static_cast<std::int64_t>((state >> 20) % 10'000);
    for (int k = 0; k < digits; ++k) d = d * 10 / 2 + static_cast<std::int64_t>(k);
    const TimestampMs started = base + (i < 300 ? 0 : hour) + i;
    f.management().import_instance(timed_instance("t-" + std::to_string(i), started, d));
    all.push_back(d);
    if (i >= 300) later.push_back(d);
  }
  auto check_near = [](std::int64_t got, std::int64_t exact) {
    INFO("got " << got << ", exact " << exact);
    CHECK(std::llabs(got - exact) <= exact / 100);
  };
  auto check_stats = [&](std::vector<std::int64_t> durations, const DurationStats& stats) {
    std::sort(durations.begin(), durations.end());
    const std::uint64_t n = durations.size();
    REQUIRE(stats.count == n);
    std::int64_t sum = 0;
    for (std::int64_t d : durations) sum += d;
    CHECK(stats.avg_ms == sum / static_cast<std::int64_t>(n));
    auto rank = [&](std::uint64_t p) { return durations[(n * p + 99) / 100 - 1]; };
    check_near(stats.min_ms, durations.front());
    check_near(stats.max_ms, durations.back());
    check_near(stats.p50_ms, rank(50));
    check_near(stats.p95_ms, rank(95));
    check_near(stats.p99_ms, rank(99));
  };
  check_stats(all, f.management().get_execution_durations("Timed", 0, ""));
  // From the second hour: the later half (since_ms counts whole hours).
  check_stats(later, f.management().get_execution_durations("Timed", base + hour + hour / 2, ""));
  CHECK(f.management().get_execution_durations("Timed", base + 2 * hour, "").count == 0);
  CHECK(f.management().get_execution_durations("Other", 0, "").count == 0);
  // Deleting the instances does not take back what they did.
  BulkDeleteRequest everything;
  everything.filter.states = {RuntimeState::Completed};
  everything.limit = 1000;
  CHECK(f.management().delete_instances(everything).instances == 600);
  check_stats(all, f.management().get_execution_durations("Timed", 0, ""));
}

TEST_CASE("contract: every finished execution counts its duration once, continued ones too",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "loop");  // execution 1 starts
  f.clock.advance(40);
  {
    f.provider().enqueue_orchestrator_item(work::ExternalRaised{"loop", "tick", ""}, 0);
    OrchestrationItem item = fetch(f);
    OrchestrationAck ack;
    ack.execution_id = 1;
    ack.history_delta = {Event{2, 0, 0, events::OrchestrationContinuedAsNew{"again", ""}}};
    ack.metadata = metadata(RuntimeState::Completed);
    ack.metadata.continued_as_new = true;
    f.provider().ack_orchestration_item(item.lock_token, ack);
  }
  {
    f.provider().enqueue_orchestrator_item(start_item("loop"), 0);  // execution 2 starts
    OrchestrationItem item = fetch(f);
    OrchestrationAck ack;
    ack.execution_id = 2;
    ack.history_delta = {started_event()};
    ack.metadata = metadata();
    f.provider().ack_orchestration_item(item.lock_token, ack);
  }
  f.clock.advance(700);
  complete(f, "loop");  // execution 2 completes after 700 ms
  DurationStats stats = f.management().get_execution_durations("Orch", 0, "");
  CHECK(stats.count == 2);
  CHECK(stats.min_ms == 40);
  CHECK(stats.max_ms == 700);
  // A message for the finished instance changes nothing.
  f.clock.advance(5'000);
  ack_event(f, "loop", events::ExternalEvent{"late", "x"}, metadata(RuntimeState::Completed));
  stats = f.management().get_execution_durations("Orch", 0, "");
  CHECK(stats.count == 2);
  CHECK(stats.max_ms == 700);
}

TEST_CASE("contract: instance and execution details, metrics and queue depths",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "a");
  f.clock.advance(100);
  complete(f, "a");
  create_instance(f, "b");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"b", "later", ""}, 60'000);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"b", "now", ""}, 0);

  InstanceInfo a = *f.management().get_instance_info("a");
  CHECK(a.state == RuntimeState::Completed);
  CHECK(a.output == "done");
  CHECK(a.current_execution_id == 1);
  CHECK(a.updated_at_ms - a.created_at_ms == 100);
  CHECK_FALSE(f.management().get_instance_info("zzz").has_value());
  ExecutionInfo execution = *f.management().get_execution_info("a", 1);
  CHECK(execution.state == RuntimeState::Completed);
  CHECK(execution.event_count == 2);
  CHECK(execution.completed_at_ms - execution.started_at_ms == 100);
  CHECK(f.management().read_execution("a", 1).back().is<events::OrchestrationCompleted>());

  SystemMetrics metrics = f.management().get_system_metrics();
  CHECK(metrics.total_instances == 2);
  CHECK(metrics.running == 1);
  CHECK(metrics.completed == 1);
  CHECK(metrics.total_executions == 2);
  CHECK(metrics.total_events == 3);
  QueueDepths depths = f.management().get_queue_depths();
  CHECK(depths.orchestrator_visible == 1);
  CHECK(depths.orchestrator_delayed == 1);
  OrchestrationItem held = fetch(f);
  CHECK(f.management().get_queue_depths().orchestrator_locked == 1);
  f.provider().abandon_orchestration_item(held.lock_token, 0, false);
}

TEST_CASE("contract: queue depths put each message in one part, live locks and timers apart",
          "[provider][management][queues]") {
  FOR_EACH_PROVIDER(f);
  const TimestampMs t0 = f.clock.now_ms();
  // Four activities of "w" in the worker queue.
  create_instance(f, "w");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"w", "go", ""}, 0);
  OrchestrationItem w = fetch(f);
  OrchestrationAck scheduled;
  scheduled.execution_id = 1;
  scheduled.metadata.orchestration_name = "Orch";
  for (EventId id : {2, 3, 4, 5}) scheduled.worker_items.push_back(activity("w", id));
  f.provider().ack_orchestration_item(w.lock_token, scheduled);
  // "c" holds the lock of its two messages; "a" has one due, one due timer, one later timer, one later event.
  create_instance(f, "c");
  create_instance(f, "a");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"c", "e1", ""}, 0);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"c", "e2", ""}, 0);
  const OrchestrationItem c = fetch(f);
  REQUIRE(c.instance == "c");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"a", "e3", ""}, 0);
  f.provider().enqueue_orchestrator_item(work::TimerFired{"a", 1, 2, t0}, 0);
  f.provider().enqueue_orchestrator_item(work::TimerFired{"a", 1, 3, t0 + 5'000}, 5'000);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"a", "e4", ""}, 60'000);
  // Worker: one lock held, one lock that expires, one abandoned for later, one never fetched.
  const auto held = f.provider().fetch_work_item(30'000);
  const auto expiring = f.provider().fetch_work_item(1'000);
  const auto abandoned = f.provider().fetch_work_item(30'000);
  REQUIRE((held && expiring && abandoned));
  f.provider().abandon_work_item(abandoned->lock_token, 60'000, false);
  f.clock.advance(2'000);

  const QueueDepths depths = f.management().get_queue_depths();
  CHECK(depths.orchestrator_locked == 2);   // c's two
  CHECK(depths.orchestrator_visible == 2);  // a's event and due timer
  CHECK(depths.orchestrator_delayed == 2);  // a's later timer and event
  CHECK(depths.timers_due == 1);
  CHECK(depths.timers_pending == 1);
  CHECK(depths.worker_locked == 1);   // the held one
  CHECK(depths.worker_visible == 2);  // the expired lock and the one never fetched
  CHECK(depths.oldest_orchestrator_age_ms == 2'000);  // c's first, locked or not
  CHECK(depths.oldest_worker_age_ms == 2'000);        // the expired lock's (the held one runs)
  f.provider().abandon_orchestration_item(c.lock_token, 0, false);
  const QueueDepths released = f.management().get_queue_depths();
  CHECK(released.orchestrator_locked == 0);
  CHECK(released.orchestrator_visible == 4);
}

TEST_CASE("contract: deleting an instance removes its whole tree", "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "root");
  create_instance(f, "root::sub::1", RuntimeState::Running, "root");
  create_instance(f, "root::sub::1::sub::1", RuntimeState::Running, "root::sub::1");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"root::sub::1", "e", ""}, 60'000);

  CHECK(provider_error_kind([&] { f.management().delete_instance("root", false); }) ==
        ProviderErrorKind::Conflict);  // running: needs force
  CHECK(provider_error_kind([&] { f.management().delete_instance("root::sub::1", true); }) ==
        ProviderErrorKind::Conflict);  // a child cannot go alone
  CHECK(provider_error_kind([&] { f.management().delete_instance("nobody", true); }) ==
        ProviderErrorKind::NotFound);
  DeleteResult result = f.management().delete_instance("root", true);
  CHECK(result.instances == 3);
  CHECK(result.executions == 3);
  CHECK(result.events == 3);
  CHECK(result.queue_items == 1);
  CHECK(f.management().count_instances({}) == 0);
  CHECK(f.provider().read("root::sub::1").empty());
  CHECK(f.management().get_queue_depths().orchestrator_delayed == 0);

  create_instance(f, "root");  // the id can be reused
  CHECK(f.management().get_instance_info("root")->state == RuntimeState::Running);
}

TEST_CASE("contract: a forced delete makes an in-flight ack fail instead of recreating",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "i");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "e", ""}, 0);
  OrchestrationItem item = fetch(f);
  f.management().delete_instance("i", true);
  OrchestrationAck ack;
  ack.history_delta = {Event{2, 0, 0, events::ExternalEvent{"e", ""}}};
  ack.metadata = metadata();
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item(item.lock_token, ack); }) ==
        ProviderErrorKind::InvalidLock);
  CHECK_FALSE(f.management().get_instance_info("i").has_value());
  CHECK(f.provider().read("i").empty());
}

TEST_CASE("contract: a forced delete of a fetched start makes its first turn fail instead of creating it",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("i"), 0);
  std::vector<OrchestrationItem> fetched = f.provider().fetch_orchestration_items(30'000, 1);
  REQUIRE(fetched.size() == 1);
  const DeleteResult deleted = f.management().delete_instance("i", true);
  CHECK(deleted.instances == 0);
  CHECK(deleted.queue_items == 1);
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item(fetched[0].lock_token, first_turn_ack()); }) ==
        ProviderErrorKind::InvalidLock);
  CHECK_FALSE(f.management().get_instance_info("i").has_value());
  CHECK(f.provider().read("i").empty());
  CHECK(f.provider().fetch_orchestration_items(30'000, 1).empty());
  // Once the first turn has committed, the instance has a row: a forced delete takes it whole.
  f.provider().enqueue_orchestrator_item(start_item("j"), 0);
  fetched = f.provider().fetch_orchestration_items(30'000, 1);
  REQUIRE(fetched.size() == 1);
  f.provider().ack_orchestration_item(fetched[0].lock_token, first_turn_ack());
  CHECK(f.management().delete_instance("j", true).instances == 1);
}

TEST_CASE("contract: bulk delete skips running instances and honours the limit",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "done-1", RuntimeState::Completed);
  create_instance(f, "done-2", RuntimeState::Failed);
  f.clock.advance(1000);
  TimestampMs cutoff = f.clock.now_ms();
  f.clock.advance(1000);
  create_instance(f, "done-3", RuntimeState::Completed);
  create_instance(f, "running", RuntimeState::Running);

  BulkDeleteRequest by_ids;
  by_ids.instances = {"running", "done-3", "missing"};
  CHECK(f.management().delete_instances(by_ids).instances == 1);  // only done-3
  CHECK(f.management().get_instance_info("running").has_value());

  // Listed ids with a cut-off: only those finished before it (done-1 goes; done-4, finished
  // after it, stays).
  create_instance(f, "done-4", RuntimeState::Completed);
  BulkDeleteRequest listed_and_older;
  listed_and_older.instances = {"done-1", "done-4"};
  listed_and_older.completed_before_ms = cutoff;
  listed_and_older.dry_run = true;
  CHECK(f.management().delete_instances(listed_and_older).instances == 1);
  listed_and_older.dry_run = false;
  CHECK(f.management().delete_instances(listed_and_older).instances == 1);
  CHECK_FALSE(f.management().get_instance_info("done-1").has_value());
  CHECK(f.management().get_instance_info("done-4").has_value());
  f.management().delete_instance("done-4", false);

  BulkDeleteRequest older;
  older.completed_before_ms = cutoff;
  older.limit = 1;
  CHECK(f.management().delete_instances(older).instances == 1);  // done-2
  CHECK(f.management().count_instances({}) == 1);  // the running one stays
}

TEST_CASE("contract: a bulk delete of many trees deletes each once, however they are listed",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  // 150 finished roots (more than one statement's worth of ids), every third with two children.
  std::vector<std::string> listed;
  for (int i = 0; i < 150; ++i) {
    const std::string root = "r-" + std::to_string(i);
    create_instance(f, root, RuntimeState::Completed);
    if (i % 3 == 0) {
      create_instance(f, root + "-a", RuntimeState::Completed, root);
      create_instance(f, root + "-b", RuntimeState::Failed, root);
    }
    listed.push_back(root);
    if (i % 10 == 0) listed.push_back(root);  // listed twice
  }
  create_instance(f, "busy", RuntimeState::Running);
  listed.push_back("busy");
  listed.push_back("r-0-a");  // a child: its root goes, it is not a root of its own
  const std::uint64_t cursor = f.management().changes_since(0, 1000, "").next_cursor;
  BulkDeleteRequest request;
  request.instances = listed;
  request.limit = 100'000;
  const DeleteResult result = f.management().delete_instances(request);
  CHECK(result.instances == 250);
  CHECK(result.executions == 250);
  CHECK(f.management().count_instances({}) == 1);  // "busy"
  std::map<std::string, int> deleted;
  for (const InstanceChange& change : f.management().changes_since(cursor, 1000, "").changes) {
    if (change.deleted) ++deleted[change.instance];
  }
  CHECK(deleted.size() == 250);
  for (const auto& [id, times] : deleted) {
    INFO(id);
    CHECK(times == 1);
  }
}

namespace {

// Ends execution `execution` of `instance` as continued-as-new (completed now, by the
// store's clock), then starts the next one.
void continue_as_new(ProviderUnderTest& f, const std::string& instance, ExecutionId execution) {
  ExecutionMetadata ended = metadata(RuntimeState::Completed);
  ended.continued_as_new = true;
  ack_event(f, instance, events::OrchestrationContinuedAsNew{"", ""}, ended);
  f.provider().enqueue_orchestrator_item(work::ContinueAsNew{instance, "Orch", "1.0.0", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  ack.execution_id = execution + 1;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
}

// Creates `instance` and ends `count` executions of it as continued-as-new, each a second
// after the last; returns when each ended.
std::vector<TimestampMs> continued_executions(ProviderUnderTest& f, const std::string& instance, ExecutionId count) {
  create_instance(f, instance);
  std::vector<TimestampMs> ended_at;
  for (ExecutionId execution = 1; execution <= count; ++execution) {
    f.clock.advance(1000);
    ended_at.push_back(f.clock.now_ms());
    continue_as_new(f, instance, execution);
  }
  return ended_at;
}

}  // namespace

TEST_CASE("contract: pruning keeps the current and running executions",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "c");
  for (ExecutionId execution = 1; execution <= 4; ++execution) {
    f.provider().enqueue_orchestrator_item(work::ContinueAsNew{"c", "Orch", "1.0.0", ""}, 0);
    OrchestrationItem item = fetch(f);
    OrchestrationAck ack;  // the previous execution ends continued-as-new, the next starts
    ack.execution_id = execution + 1;
    ack.history_delta = {started_event()};
    ack.metadata = metadata();
    f.provider().ack_orchestration_item(item.lock_token, ack);
  }
  // Executions 1..4 are still marked Running here (the acks above never ended them),
  // so pruning must keep every one of them; only finished ones may go.
  CHECK(f.management().prune_executions("c", PruneOptions{1}) == PruneResult{});
  CHECK(f.management().list_executions("c").size() == 5);
  CHECK(provider_error_kind([&] { f.management().prune_executions("c", PruneOptions{0}); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] { f.management().prune_executions("nobody", PruneOptions{1}); }) ==
        ProviderErrorKind::NotFound);

  create_instance(f, "d");
  for (ExecutionId execution = 1; execution <= 3; ++execution) continue_as_new(f, "d", execution);
  REQUIRE(f.management().list_executions("d").size() == 4);
  CHECK(f.management().list_executions("d")[0].continued_as_new);
  const std::uint64_t doomed_events = f.management().read_execution("d", 1).size() + f.management().read_execution("d", 2).size();
  CHECK(doomed_events >= 2);
  CHECK(f.management().prune_executions("d", PruneOptions{2}) == PruneResult{2, doomed_events});  // 1 and 2 go; 3 and current 4 stay
  auto left = f.management().list_executions("d");
  REQUIRE(left.size() == 2);
  CHECK(left[0].execution_id == 3);
  CHECK(left[1].execution_id == 4);
  CHECK(provider_error_kind([&] { f.management().read_execution("d", 1); }) ==
        ProviderErrorKind::NotFound);
  CHECK(f.provider().read("d").size() == 1);
}

TEST_CASE("contract: a prune with completed_before removes only executions finished before it, outside keep_last",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  const std::vector<TimestampMs> ended_at = continued_executions(f, "t", 3);
  REQUIRE(f.management().list_executions("t").size() == 4);
  REQUIRE(f.management().list_executions("t")[1].completed_at_ms == ended_at[1]);

  // Both conditions hold for an execution to go: outside the newest 3 is only 1.
  CHECK(f.management().prune_executions("t", PruneOptions{3, ended_at[2] + 1}).executions == 1);
  // Execution 2 finished at ended_at[1], not before it.
  CHECK(f.management().prune_executions("t", PruneOptions{1, ended_at[1]}).executions == 0);
  CHECK(f.management().prune_executions("t", PruneOptions{1, ended_at[1] + 1}).executions == 1);
  auto left = f.management().list_executions("t");
  REQUIRE(left.size() == 2);
  CHECK(left[0].execution_id == 3);
  CHECK(left[1].execution_id == 4);
  // The current execution stays whatever the time; 0 means whenever they finished.
  CHECK(f.management().prune_executions("t", PruneOptions{1, ended_at[2] + 100'000}).executions == 1);
  CHECK(f.management().prune_executions("t", PruneOptions{1, 0}).executions == 0);
  CHECK(f.management().list_executions("t").size() == 1);
  CHECK(f.provider().read("t").size() == 1);
  CHECK(provider_error_kind([&] { f.management().prune_executions("t", PruneOptions{1, -1}); }) ==
        ProviderErrorKind::InvalidInput);
}

TEST_CASE("contract: a dry-run prune counts what the prune then removes, and removes nothing",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  const std::vector<TimestampMs> ended_at = continued_executions(f, "t", 5);
  const std::size_t events = f.provider().read("t").size();
  auto stored_events = [&] {  // every execution's history, read back one by one
    std::uint64_t total = 0;
    for (const auto& execution : f.management().list_executions("t")) {
      total += f.management().read_execution("t", execution.execution_id).size();
    }
    return total;
  };
  std::uint64_t events_pruned = 0;
  // Each step: the dry run's counts, unchanged executions, then the prune removes as many.
  for (const PruneOptions options : {PruneOptions{5, 0}, PruneOptions{2, ended_at[0] + 1}, PruneOptions{1, ended_at[2]},
                                     PruneOptions{2, 0}, PruneOptions{1, 0}}) {
    const std::size_t before = f.management().list_executions("t").size();
    const std::uint64_t events_before = stored_events();
    PruneOptions dry = options;
    dry.dry_run = true;
    const PruneResult would = f.management().prune_executions("t", dry);
    CHECK(f.management().list_executions("t").size() == before);
    CHECK(stored_events() == events_before);
    CHECK(f.management().prune_executions("t", options) == would);
    CHECK(f.management().list_executions("t").size() == before - would.executions);
    CHECK(stored_events() == events_before - would.events);
    CHECK((would.executions == 0) == (would.events == 0));  // every finished execution has events
    events_pruned += would.events;
  }
  CHECK(events_pruned > 0);
  CHECK(f.management().list_executions("t").size() == 1);
  CHECK(f.provider().read("t").size() == events);  // the current execution's history is whole
  PruneOptions dry{1, 0, true};
  CHECK(provider_error_kind([&] { f.management().prune_executions("nobody", dry); }) == ProviderErrorKind::NotFound);
  dry.keep_last = 0;
  CHECK(provider_error_kind([&] { f.management().prune_executions("t", dry); }) == ProviderErrorKind::InvalidInput);
}

TEST_CASE("contract: custom status is versioned and can be polled", "[provider][custom_status]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "s");
  CHECK(f.management().get_custom_status("s", std::nullopt)->version == 0);
  CHECK_FALSE(f.management().get_custom_status("s", std::uint64_t{0}).has_value());
  ExecutionMetadata set = metadata();
  set.custom_status = "step 1";
  set.custom_status_changed = true;
  ack_event(f, "s", events::CustomStatusUpdated{"step 1"}, set);
  CustomStatus first = *f.management().get_custom_status("s", std::uint64_t{0});
  CHECK(first.status == std::optional<std::string>("step 1"));
  CHECK(first.version == 1);
  CHECK_FALSE(f.management().get_custom_status("s", std::uint64_t{1}).has_value());  // unchanged
  ExecutionMetadata unchanged = metadata();  // another turn that does not touch it
  unchanged.custom_status = "step 1";
  ack_event(f, "s", events::ExternalEvent{"x", ""}, unchanged);
  CHECK_FALSE(f.management().get_custom_status("s", std::uint64_t{1}).has_value());
  ExecutionMetadata cleared = metadata();
  cleared.custom_status_changed = true;
  ack_event(f, "s", events::CustomStatusUpdated{std::nullopt}, cleared);
  CustomStatus second = *f.management().get_custom_status("s", std::uint64_t{1});
  CHECK_FALSE(second.status.has_value());
  CHECK(second.version == 2);
  CHECK_FALSE(f.management().get_custom_status("unknown", std::nullopt).has_value());
}

TEST_CASE("bulk delete by filter deletes only finished matching roots, up to the limit",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  for (int i = 0; i < 3; ++i) create_instance(f, "batch-" + std::to_string(i), RuntimeState::Completed);
  create_instance(f, "batch-running", RuntimeState::Running);
  create_instance(f, "keep-1", RuntimeState::Failed);
  BulkDeleteRequest request;
  request.filter.instance_prefix = "batch-";
  request.limit = 2;
  CHECK(f.management().delete_instances(request).instances == 2);
  request.limit = 100;
  CHECK(f.management().delete_instances(request).instances == 1);
  CHECK(f.management().get_instance_info("batch-running").has_value());
  CHECK(f.management().get_instance_info("keep-1").has_value());
  request.filter = {};
  request.filter.states = {RuntimeState::Running};  // asks only for running: nothing to delete
  CHECK(f.management().delete_instances(request).instances == 0);
}

namespace {

constexpr std::int64_t kDay = 24LL * 3600 * 1000;

// A store of `kind` whose retention purges finished instances a week old.
std::unique_ptr<ProviderUnderTest> store_keeping_finished_for_a_week(const std::string& kind) {
  StoreOptions options;
  options.finished_retention_ms = 7 * kDay;
  return make_provider(kind, options);
}

}  // namespace

TEST_CASE("contract: a filtered bulk delete and retention take a finished child whose parent is gone",
          "[provider][management][retention]") {
  PROVIDER_KIND(kind);
  auto holder = store_keeping_finished_for_a_week(kind);
  ProviderUnderTest& f = *holder;
  // "orphan" names a parent that does not exist (an import of a child alone, say): it
  // heads the only tree it is in. "child" has a parent that still runs.
  create_instance(f, "orphan", RuntimeState::Completed, "gone");
  create_instance(f, "parent");
  create_instance(f, "child", RuntimeState::Completed, "parent");
  BulkDeleteRequest request;
  request.dry_run = true;
  CHECK(f.management().delete_instances(request).instances == 1);
  f.clock.advance(8 * kDay);
  f.provider().maintain();
  CHECK_FALSE(f.management().get_instance_info("orphan").has_value());
  CHECK(f.management().get_instance_info("child").has_value());
  CHECK(f.management().get_instance_info("parent").has_value());
}

TEST_CASE("contract: retention whose cut-off falls on time 0 keeps what finished after it",
          "[provider][management][retention]") {
  PROVIDER_KIND(kind);
  // A retention as long as the clock's time since the epoch, one ms after the finish:
  // the cut-off (now - retention) is exactly 0, which a delete request reads as "no cut-off".
  const TimestampMs finished_at = ManualClock().now_ms();
  StoreOptions options;
  options.finished_retention_ms = finished_at + 1;
  auto holder = make_provider(kind, options);
  ProviderUnderTest& f = *holder;
  REQUIRE(f.clock.now_ms() == finished_at);
  create_instance(f, "just-finished", RuntimeState::Completed);
  f.clock.advance(1);
  f.provider().maintain();
  CHECK(f.management().get_instance_info("just-finished").has_value());
}

TEST_CASE("contract: a filtered bulk delete that stops at its limit goes on where it stopped",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  // Oldest update first: done-a, running-b (stays), done-c, done-d, done-e.
  for (const char* id : {"done-a", "running-b", "done-c", "done-d", "done-e"}) {
    create_instance(f, id, id[0] == 'd' ? RuntimeState::Completed : RuntimeState::Running);
    f.clock.advance(10);
  }
  BulkDeleteRequest request;
  request.limit = 2;
  const DeleteResult first = f.management().delete_instances(request);
  CHECK(first.instances == 2);
  CHECK_FALSE(f.management().get_instance_info("done-a").has_value());
  CHECK_FALSE(f.management().get_instance_info("done-c").has_value());
  REQUIRE_FALSE(first.continuation.empty());

  request.continuation = first.continuation;
  const DeleteResult second = f.management().delete_instances(request);
  CHECK(second.instances == 2);  // done-d and done-e: running-b lies before the continuation
  CHECK(f.management().get_instance_info("running-b").has_value());
  CHECK(f.management().count_instances({}) == 1);
  REQUIRE_FALSE(second.continuation.empty());  // it stopped at its limit: a last call may find more

  request.continuation = second.continuation;
  const DeleteResult last = f.management().delete_instances(request);
  CHECK(last.instances == 0);
  CHECK(last.continuation.empty());  // every candidate walked

  request.limit = 10;  // not stopped by the limit: no continuation
  request.continuation.clear();
  CHECK(f.management().delete_instances(request).continuation.empty());
}

TEST_CASE("contract: a delete of listed ids that stops at its limit says where to go on in the list",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  // Five roots of three instances each (a root and two children), one running root among them.
  std::vector<std::string> listed;
  for (int i = 0; i < 5; ++i) {
    const std::string root = "tree-" + std::to_string(i);
    create_instance(f, root, RuntimeState::Completed);
    create_instance(f, root + "-a", RuntimeState::Completed, root);
    create_instance(f, root + "-b", RuntimeState::Failed, root);
    listed.push_back(root);
  }
  create_instance(f, "busy", RuntimeState::Running);
  listed.insert(listed.begin() + 2, "busy");  // tree-0, tree-1, busy, tree-2, tree-3, tree-4
  BulkDeleteRequest request;
  request.instances = listed;
  request.limit = 5;  // instances: whole trees until it is reached (tree-0 and tree-1)

  request.dry_run = true;
  const DeleteResult counted = f.management().delete_instances(request);
  CHECK(counted.instances == 6);
  CHECK(counted.continuation == listed_continuation(2));
  request.dry_run = false;

  const DeleteResult first = f.management().delete_instances(request);
  CHECK(first.instances == 6);
  REQUIRE(first.continuation == listed_continuation(2));  // "busy", the first id not considered
  CHECK_FALSE(f.management().get_instance_info("tree-1-b").has_value());
  CHECK(f.management().get_instance_info("tree-2").has_value());

  request.continuation = first.continuation;
  const DeleteResult second = f.management().delete_instances(request);
  CHECK(second.instances == 6);
  CHECK(second.continuation == listed_continuation(5));
  request.continuation = second.continuation;
  const DeleteResult last = f.management().delete_instances(request);
  CHECK(last.instances == 3);
  CHECK(last.continuation.empty());
  CHECK(f.management().count_instances({}) == 1);  // "busy"

  // A continuation that is not a position in this list, or a filtered walk's, is refused.
  for (const std::string bad : {"listed:7", "listed:", "listed:-1", "listed:2x", "12|tree-0", "3"}) {
    request.continuation = bad;
    CHECK(provider_error_kind([&] { f.management().delete_instances(request); }) == ProviderErrorKind::InvalidInput);
  }
  BulkDeleteRequest filtered;
  filtered.continuation = listed_continuation(1);
  CHECK(provider_error_kind([&] { f.management().delete_instances(filtered); }) == ProviderErrorKind::InvalidInput);
}

TEST_CASE("contract: a filtered delete walks a bounded number of roots whose trees still run, then continues",
          "[provider][management][retention]") {
  PROVIDER_KIND(kind);
  auto holder = make_provider(kind);
  ProviderUnderTest& f = *holder;
  // 1,200 finished roots whose children still run (nothing to delete), then one that may go.
  for (int i = 0; i < 1'200; ++i) {
    create_instance(f, "blocked-" + std::to_string(i), RuntimeState::Completed);
    create_instance(f, "child-" + std::to_string(i), RuntimeState::Running, "blocked-" + std::to_string(i));
  }
  f.clock.advance(10);
  create_instance(f, "free", RuntimeState::Completed);
  BulkDeleteRequest request;
  request.limit = 100;
  const DeleteResult first = f.management().delete_instances(request);
  CHECK(first.instances == 0);  // stopped after walking 1,100 roots: the limit and 1,000 more
  REQUIRE_FALSE(first.continuation.empty());
  CHECK(f.management().get_instance_info("free").has_value());
  request.continuation = first.continuation;
  const DeleteResult second = f.management().delete_instances(request);
  CHECK(second.instances == 1);
  CHECK_FALSE(f.management().get_instance_info("free").has_value());
  CHECK(second.continuation.empty());  // every candidate walked
}

TEST_CASE("contract: a bulk delete refuses a continuation no delete gave",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "done", RuntimeState::Completed);
  for (const char* bad : {"12", "|done", "x|done", "+5|done", " 5|done", "-|done", "5|", "99999999999999999999|done"}) {
    INFO(bad);
    BulkDeleteRequest request;
    request.continuation = bad;
    CHECK(provider_error_kind([&] { f.management().delete_instances(request); }) ==
          ProviderErrorKind::InvalidInput);
  }
  CHECK(f.management().get_instance_info("done").has_value());  // nothing half-applied
}

TEST_CASE("contract: maintain deletes change-feed rows and parked messages past their retention",
          "[provider][management][retention]") {
  FOR_EACH_PROVIDER(f);  // default retention: changes 7 days, parked messages 30 days
  // A message for an instance that does not exist is parked by the fetch that finds it.
  create_instance(f, "old", RuntimeState::Completed);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"ghost-old", "e", ""}, 0);
  CHECK_FALSE(f.provider().fetch_orchestration_item(30'000).has_value());
  f.clock.advance(10 * kDay);
  create_instance(f, "new", RuntimeState::Completed);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"ghost-new", "e", ""}, 0);
  CHECK_FALSE(f.provider().fetch_orchestration_item(30'000).has_value());
  REQUIRE(f.management().get_queue_depths().parked == 2);
  const ChangePage before = f.management().changes_since(0, 100, "");
  REQUIRE_FALSE(before.changes.empty());

  f.provider().maintain();
  const ChangePage after = f.management().changes_since(0, 100, "");
  REQUIRE_FALSE(after.changes.empty());
  for (const InstanceChange& change : after.changes) CHECK(change.instance == "new");  // "old" is 10 days old
  CHECK(after.changes.size() < before.changes.size());
  CHECK(f.management().get_queue_depths().parked == 2);  // 10 days: within the 30 of parked messages

  f.clock.advance(25 * kDay);
  f.provider().maintain();
  CHECK(f.management().changes_since(0, 100, "").changes.empty());
  CHECK(f.management().get_queue_depths().parked == 1);  // ghost-old is 35 days old, ghost-new 25
}

TEST_CASE("contract: oldest rows dated ahead of the clock do not stop the trims of the change feed and parked messages",
          "[provider][management][retention]") {
  std::vector<std::string> kinds{"sqlite-file"};
  if (postgres_conninfo()) kinds.push_back("postgres");
  const std::string kind = GENERATE_COPY(from_range(kinds));
  INFO("provider: " << kind);
  auto holder = make_provider(kind);  // default retention: changes 7 days, parked messages 30 days
  ProviderUnderTest& f = *holder;
  {
    // A node whose clock runs 100 days ahead writes the oldest rows of both tables.
    ManualClock ahead(f.clock.now_ms() + 100 * kDay);
    SequentialIdSource ids("ahead");
    std::unique_ptr<Store> node = kind == "postgres" ? open_store(postgres_conninfo(), ahead, ids, f.postgres_options())
                                                     : open_store(f.path, ahead, ids, {});
    create_instance(*node, "ahead", RuntimeState::Completed);
    node->enqueue_orchestrator_item(work::ExternalRaised{"ghost-ahead", "e", ""}, 0);
    CHECK_FALSE(node->fetch_orchestration_item(30'000).has_value());  // parked
  }
  // More old rows than one trim's window of positions covers (1,000), behind the pinned ones.
  const int old_rows = 1'100;
  for (int i = 0; i < old_rows; ++i) {
    create_instance(f, "old-" + std::to_string(i), RuntimeState::Completed);
    f.provider().enqueue_orchestrator_item(work::ExternalRaised{"ghost-old-" + std::to_string(i), "e", ""}, 0);
  }
  while (f.provider().fetch_orchestration_item(30'000)) {
  }
  REQUIRE(f.management().get_queue_depths().parked == old_rows + 1);
  f.clock.advance(40 * kDay);  // the old rows are past their retention
  for (int call = 0; call < 4; ++call) f.provider().maintain();  // a window a call while behind
  std::set<std::string> changed;
  for (const InstanceChange& change : f.management().changes_since(0, 100, "").changes) changed.insert(change.instance);
  CHECK(changed == std::set<std::string>{"ahead"});
  const std::vector<ParkedMessage> parked = f.management().list_parked_messages(0, 100);
  REQUIRE(parked.size() == 1);
  CHECK(parked[0].instance_id == "ghost-ahead");
  CHECK(f.management().get_queue_depths().parked == 1);
}

TEST_CASE("contract: parked messages are listed oldest first with their items and deleted by id",
          "[provider][management][parked]") {
  FOR_EACH_PROVIDER(f);
  // Messages for instances that do not exist are parked by the fetch that finds them.
  const TimestampMs parked_at = f.clock.now_ms();
  for (const char* ghost : {"ghost-a", "ghost-b", "ghost-c"}) {
    f.provider().enqueue_orchestrator_item(work::ExternalRaised{ghost, "e", std::string("data of ") + ghost}, 0);
  }
  f.provider().enqueue_orchestrator_item(work::CancelInstance{"ghost-b", "why"}, 0);
  while (f.provider().fetch_orchestration_item(30'000)) {
  }
  REQUIRE(f.management().get_queue_depths().parked == 4);

  const std::vector<ParkedMessage> all = f.management().list_parked_messages(0, 100);
  REQUIRE(all.size() == 4);
  std::vector<std::string> instances;
  for (const ParkedMessage& message : all) {
    instances.push_back(message.instance_id);
    CHECK(message.reason == "instance does not exist");
    CHECK(message.parked_at_ms == parked_at);
  }
  CHECK(instances == std::vector<std::string>{"ghost-a", "ghost-b", "ghost-b", "ghost-c"});
  CHECK(all[0].id < all[1].id);
  CHECK(all[1].id < all[2].id);
  CHECK(all[2].id < all[3].id);
  // The item as it was queued: it decodes to the message sent.
  CHECK(decode_work_item(all[0].item_json) == WorkItem{work::ExternalRaised{"ghost-a", "e", "data of ghost-a"}});
  CHECK(decode_work_item(all[2].item_json) == WorkItem{work::CancelInstance{"ghost-b", "why"}});
  // Pages go on after the last id seen; a short page is the last.
  CHECK(f.management().list_parked_messages(0, 2) == std::vector<ParkedMessage>{all[0], all[1]});
  CHECK(f.management().list_parked_messages(all[1].id, 2) == std::vector<ParkedMessage>{all[2], all[3]});
  CHECK(f.management().list_parked_messages(all[3].id, 2).empty());

  // Deleting counts what was there: unknown ids (the 64-bit limits among them) and a
  // repeated one count nothing.
  CHECK(f.management().delete_parked_messages({all[1].id, all[2].id, all[2].id, all[3].id + 1000,
                                               std::numeric_limits<std::int64_t>::min(),
                                               std::numeric_limits<std::int64_t>::max()}) == 2);
  CHECK(f.management().list_parked_messages(0, 100) == std::vector<ParkedMessage>{all[0], all[3]});
  CHECK(f.management().get_queue_depths().parked == 2);
  CHECK(f.management().delete_parked_messages({}) == 0);

  // Limits: a page of 1..kMaxParkedPage, at most kMaxParkedPage ids a call; nothing is
  // deleted by a refused call.
  for (std::size_t limit : {std::size_t{0}, kMaxParkedPage + 1}) {
    CHECK(provider_error_kind([&] { f.management().list_parked_messages(0, limit); }) ==
          ProviderErrorKind::InvalidInput);
  }
  std::vector<std::int64_t> too_many(kMaxParkedPage + 1, all[0].id);
  CHECK(provider_error_kind([&] { f.management().delete_parked_messages(too_many); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(f.management().get_queue_depths().parked == 2);
}

TEST_CASE("instance retention: maintain purges old finished instances a batch a call while behind",
          "[provider][retention]") {
  PROVIDER_KIND(kind);
  auto holder = store_keeping_finished_for_a_week(kind);
  ProviderUnderTest& f = *holder;
  for (int i = 0; i < 230; ++i) create_instance(f, "old-" + std::to_string(i), RuntimeState::Completed);
  create_instance(f, "old-running");
  f.clock.advance(6 * kDay);
  create_instance(f, "young", RuntimeState::Failed);
  f.provider().maintain();
  CHECK(f.management().count_instances({}) == 232);  // nothing is 7 days old yet

  f.clock.advance(2 * kDay);
  // A batch each call, the next call going on at once while a batch comes back full
  // (waiting a second between batches, 100 a second, would never catch up with a runtime
  // that finishes more than that).
  std::vector<std::uint64_t> left;
  for (int call = 0; call < 4; ++call) {
    f.provider().maintain();
    left.push_back(f.management().count_instances({}));
  }
  CHECK(left == std::vector<std::uint64_t>{132, 32, 2, 2});
  CHECK(f.management().get_instance_info("old-running").has_value());
  CHECK(f.management().get_instance_info("young").has_value());
}

// The oldest waiting item's age, which the health score takes off: a timer waits from the time
// it fell due (not from when it was set), and a running activity (its lock held) does not wait.
TEST_CASE("the oldest waiting item's age leaves out running activities and counts timers from their due time",
          "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "t");
  f.provider().enqueue_orchestrator_item(work::TimerFired{"t", 1, 2, 0}, 10'000);
  create_instance(f, "w");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"w", "go", ""}, 0);
  OrchestrationItem w = fetch(f);
  REQUIRE(w.instance == "w");
  OrchestrationAck scheduled;
  scheduled.execution_id = 1;
  scheduled.metadata.orchestration_name = "Orch";
  scheduled.worker_items.push_back(activity("w", 2));
  f.provider().ack_orchestration_item(w.lock_token, scheduled);
  REQUIRE(f.provider().fetch_work_item(60'000).has_value());  // the activity runs
  f.clock.advance(10'500);
  const QueueDepths depths = f.management().get_queue_depths();
  CHECK(depths.oldest_orchestrator_age_ms == 500);  // due 500 ms ago
  CHECK(depths.oldest_worker_age_ms == 0);          // running, not waiting
}

TEST_CASE("queue metrics count due and pending timers", "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "t");
  f.provider().enqueue_orchestrator_item(work::TimerFired{"t", 1, 2, 0}, 0);
  f.provider().enqueue_orchestrator_item(work::TimerFired{"t", 1, 3, 0}, 5000);
  f.clock.advance(1000);
  QueueDepths depths = f.management().get_queue_depths();
  CHECK(depths.timers_due == 1);
  CHECK(depths.timers_pending == 1);
  CHECK(depths.oldest_orchestrator_age_ms == 1000);
}

TEST_CASE("the change feed follows status changes in commit order", "[provider][management][changes]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "a");                        // 1: a Running
  create_instance(f, "b");                        // 2: b Running
  ack_event(f, "a", events::ExternalEvent{"x", ""}, metadata());  // no change: not recorded
  ExecutionMetadata custom = metadata();
  custom.custom_status = "half";
  custom.custom_status_changed = true;
  ack_event(f, "a", events::CustomStatusUpdated{"half"}, custom);  // 3: a custom status
  complete(f, "a");                               // 4: a Completed
  f.management().delete_instance("a", false);     // 5: a Deleted

  ChangePage first = f.management().changes_since(0, 3, "");
  REQUIRE(first.changes.size() == 3);
  CHECK(first.changes[0].instance == "a");
  CHECK(first.changes[0].state == RuntimeState::Running);
  CHECK(first.changes[1].instance == "b");
  CHECK(first.changes[2].custom_status_version == 1);
  CHECK(first.next_cursor == first.changes[2].seq);
  ChangePage rest = f.management().changes_since(first.next_cursor, 100, "");
  REQUIRE(rest.changes.size() == 2);
  CHECK(rest.changes[0].state == RuntimeState::Completed);
  CHECK(rest.changes[1].deleted);
  CHECK(rest.changes[0].seq > first.changes[2].seq);
  ChangePage none = f.management().changes_since(rest.next_cursor, 100, "");
  CHECK(none.changes.empty());
  CHECK(none.next_cursor == rest.next_cursor);
  CHECK(provider_error_kind([&] { f.management().changes_since(0, 0, ""); }) ==
        ProviderErrorKind::InvalidInput);
}

TEST_CASE("paging through 10k instances while new ones arrive: no gap, no duplicate",
          "[provider][management][paging]") {
  FOR_EACH_PROVIDER(f);
  const int kInstances = 10'000;
  std::set<std::string> expected;
  for (int i = 0; i < kInstances; ++i) {
    if (i % 3 == 0) f.clock.advance(1);  // runs of equal creation times exercise the tie-break
    std::string id = "p-" + std::to_string(i);
    f.provider().enqueue_orchestrator_item(start_item(id), 0);
    expected.insert(id);
  }
  // One batch per fetch: ack every start with its Started event.
  while (auto item = f.provider().fetch_orchestration_item(60'000)) {
    OrchestrationAck ack;
    ack.history_delta = {started_event()};
    ack.metadata = metadata();
    f.provider().ack_orchestration_item(item->lock_token, ack);
  }
  std::multiset<std::string> seen;
  PageRequest page{{}, 500};
  int created_during = 0;
  do {
    InstancePage result = f.management().list_instances({}, page);
    for (const auto& info : result.instances) seen.insert(info.instance);
    page.cursor = result.next_cursor;
    // New instances keep arriving between pages: they are newer than the cursor.
    for (int k = 0; k < 5; ++k) {
      f.clock.advance(1);
      create_instance(f, "late-" + std::to_string(created_during++));
    }
  } while (!page.cursor.empty());
  std::size_t originals = 0;
  for (const auto& id : seen) {
    REQUIRE(seen.count(id) == 1);  // no duplicate
    if (id.rfind("p-", 0) == 0) ++originals;
  }
  CHECK(originals == expected.size());  // no gap
}

namespace {

// Starts `instance` as `name`@`version` (Running).
void start_named(ProviderUnderTest& f, const std::string& instance, const std::string& name,
                 const std::string& version, const std::string& parent = {}) {
  f.provider().enqueue_orchestrator_item(start_item(instance), 0);
  OrchestrationItem item = fetch(f);
  REQUIRE(item.instance == instance);
  OrchestrationAck ack;
  ack.history_delta = {Event{1, 0, 0, events::OrchestrationStarted{name, version, "", parent,
                                                                    parent.empty() ? EventId{0} : EventId{2}}}};
  ack.metadata = metadata(RuntimeState::Running, parent);
  ack.metadata.orchestration_name = name;
  ack.metadata.orchestration_version = version;
  f.provider().ack_orchestration_item(item.lock_token, ack);
}

// Every count the counters answer must equal the same count taken from the
// instances themselves: a creation-time bound of 1 sends the query to the
// instances table, and the listing is walked page by page.
void check_counts_match_instances(ProviderUnderTest& f) {
  std::vector<InstanceFilter> filters(9);
  filters[1].states = {RuntimeState::Running};
  filters[2].states = {RuntimeState::Completed, RuntimeState::Failed};
  filters[3].orchestration_name = "Alpha";
  filters[4].orchestration_name = "Beta";
  filters[4].orchestration_version = "2.0";
  filters[5].orchestration_version = "1.0";
  filters[6].roots_only = true;
  filters[7].roots_only = true;
  filters[7].states = {RuntimeState::Failed};
  filters[8].orchestration_name = "Nobody";
  for (std::size_t i = 0; i < filters.size(); ++i) {
    INFO("filter " << i);
    InstanceFilter scanned = filters[i];
    scanned.created_from_ms = 1;
    std::map<RuntimeState, std::uint64_t> listed{
        {RuntimeState::Running, 0}, {RuntimeState::Completed, 0}, {RuntimeState::Failed, 0}};
    PageRequest page{{}, 7};
    do {
      InstancePage result = f.management().list_instances(filters[i], page);
      for (const InstanceInfo& info : result.instances) ++listed[info.state];
      page.cursor = result.next_cursor;
    } while (!page.cursor.empty());
    CHECK(f.management().count_by_status(filters[i]) == listed);
    CHECK(f.management().count_by_status(scanned) == listed);
    CHECK(f.management().count_instances(filters[i]) ==
          listed[RuntimeState::Running] + listed[RuntimeState::Completed] + listed[RuntimeState::Failed]);
  }
  // The store-wide views read kept totals: they must equal what the instances hold.
  std::uint64_t instances = 0, executions = 0, events = 0;
  std::map<std::string, OrchestrationStats> by_name;
  PageRequest page{{}, 100};
  do {
    InstancePage result = f.management().list_instances({}, page);
    for (const InstanceInfo& info : result.instances) {
      ++instances;
      OrchestrationStats& stats = by_name[info.orchestration_name];
      stats.orchestration_name = info.orchestration_name;
      (info.state == RuntimeState::Running ? stats.running
       : info.state == RuntimeState::Completed ? stats.completed : stats.failed) += 1;
      for (const ExecutionInfo& execution : f.management().list_executions(info.instance)) {
        ++executions;
        events += f.management().read_execution(info.instance, execution.execution_id).size();
        if (execution.continued_as_new) ++stats.continued;
      }
    }
    page.cursor = result.next_cursor;
  } while (!page.cursor.empty());
  const SystemMetrics metrics = f.management().get_system_metrics();
  CHECK(metrics.total_instances == instances);
  CHECK(metrics.total_executions == executions);
  CHECK(metrics.total_events == events);
  const ProviderDiagnostics diagnostics = f.management().get_provider_diagnostics();
  CHECK(diagnostics.table_rows.at("instances") == instances);
  CHECK(diagnostics.table_rows.at("executions") == executions);
  CHECK(diagnostics.table_rows.at("history") == events);
  const std::vector<OrchestrationStats> stats = f.management().get_orchestration_stats("", "");
  REQUIRE(stats.size() == by_name.size());
  for (const OrchestrationStats& entry : stats) {
    INFO(entry.orchestration_name);
    const OrchestrationStats& expected = by_name.at(entry.orchestration_name);
    CHECK(entry.running == expected.running);
    CHECK(entry.completed == expected.completed);
    CHECK(entry.failed == expected.failed);
    CHECK(entry.continued == expected.continued);
  }
}

// Instance i of the one-time-bound counts: created at 1000 + i, updated 0 to 6 ms later,
// Completed, Failed, Running in turn, named Alpha or Beta, every tenth a child, every
// fourth of tenant "t".
InstanceExport bounded_count_instance(int i) {
  static const RuntimeState states[] = {RuntimeState::Completed, RuntimeState::Failed, RuntimeState::Running};
  InstanceExport data;
  data.info.instance = "b-" + std::to_string(i);
  data.info.orchestration_name = i % 2 ? "Alpha" : "Beta";
  data.info.orchestration_version = "1.0.0";
  data.info.current_execution_id = 1;
  data.info.execution_count = 1;
  data.info.state = states[i % 3];
  data.info.tenant = i % 4 == 0 ? "t" : "";
  if (i % 10 == 1) {
    data.info.parent_instance = "b-" + std::to_string(i - 1);
    data.info.parent_id = 2;
  }
  data.info.created_at_ms = 1000 + i;
  data.info.updated_at_ms = data.info.created_at_ms + i % 7;
  ExecutionExport execution;
  execution.info.instance = data.info.instance;
  execution.info.execution_id = 1;
  execution.info.state = data.info.state;
  execution.info.started_at_ms = data.info.created_at_ms;
  execution.history = {Event{1, 0, data.info.created_at_ms,
                             events::OrchestrationStarted{data.info.orchestration_name, "1.0.0", "",
                                                          data.info.parent_instance, data.info.parent_id}}};
  if (data.info.state == RuntimeState::Completed) {
    data.info.output = execution.info.output = "ok";
    execution.info.completed_at_ms = data.info.updated_at_ms;
    execution.history.push_back(Event{2, 0, data.info.updated_at_ms, events::OrchestrationCompleted{"ok"}});
  } else if (data.info.state == RuntimeState::Failed) {
    data.info.error = execution.info.error = ErrorDetails::orchestration_failed("x");
    execution.info.completed_at_ms = data.info.updated_at_ms;
    execution.history.push_back(
        Event{2, 0, data.info.updated_at_ms, events::OrchestrationFailed{ErrorDetails::orchestration_failed("x")}});
  }
  execution.info.event_count = execution.history.size();
  data.executions.push_back(std::move(execution));
  return data;
}

bool matches(const InstanceExport& data, const InstanceFilter& filter) {
  const InstanceInfo& info = data.info;
  auto in_range = [](TimestampMs t, TimestampMs from, TimestampMs to) {
    return (from == 0 || t >= from) && (to == 0 || t < to);
  };
  return (filter.states.empty() ||
          std::find(filter.states.begin(), filter.states.end(), info.state) != filter.states.end()) &&
         (filter.orchestration_name.empty() || filter.orchestration_name == info.orchestration_name) &&
         (filter.tenant.empty() || filter.tenant == info.tenant) &&
         (!filter.roots_only || info.parent_instance.empty()) &&
         in_range(info.created_at_ms, filter.created_from_ms, filter.created_to_ms) &&
         in_range(info.updated_at_ms, filter.updated_from_ms, filter.updated_to_ms);
}

}  // namespace

// A count with one time bound reads whichever side of the bound is small (fewer than
// 1,024 instances), or counts the instances when neither is: every answer is exact.
TEST_CASE("contract: a count with one time bound is exact whichever side of the bound is small",
          "[provider][management][counts]") {
  FOR_EACH_PROVIDER(f);
  const int kInstances = 3000;
  std::vector<InstanceExport> instances;
  for (int i = 0; i < kInstances; ++i) {
    instances.push_back(bounded_count_instance(i));
    f.management().import_instance(instances.back());
  }
  std::vector<InstanceFilter> conditions(6);
  conditions[1].states = {RuntimeState::Running};
  conditions[2].states = {RuntimeState::Completed, RuntimeState::Failed};
  conditions[3].orchestration_name = "Alpha";
  conditions[4].roots_only = true;
  conditions[4].states = {RuntimeState::Failed};
  conditions[5].tenant = "t";
  conditions[5].states = {RuntimeState::Completed};
  // Before all, at the first, a few in, the middle, a few from the end, at the last, after all.
  const std::vector<TimestampMs> times = {1, 1000, 1005, 1000 + kInstances / 2, 1000 + kInstances - 5,
                                          1000 + kInstances - 1, 1'000'000'000};
  for (std::size_t c = 0; c < conditions.size(); ++c) {
    for (int bound = 0; bound < 4; ++bound) {
      for (TimestampMs at : times) {
        InstanceFilter filter = conditions[c];
        (bound == 0 ? filter.created_from_ms : bound == 1 ? filter.created_to_ms
         : bound == 2 ? filter.updated_from_ms : filter.updated_to_ms) = at;
        std::uint64_t expected = 0;
        for (const auto& data : instances) expected += matches(data, filter) ? 1 : 0;
        INFO("conditions " << c << ", bound " << bound << " at " << at);
        CHECK(f.management().count_instances(filter) == expected);
      }
    }
  }
}

TEST_CASE("contract: status counts stay exact through every write path", "[provider][management]") {
  FOR_EACH_PROVIDER(f);
  f.clock.advance(1000);
  check_counts_match_instances(f);  // empty store
  for (int i = 0; i < 12; ++i) {
    start_named(f, "a" + std::to_string(i), i % 3 ? "Alpha" : "Beta", i % 2 ? "1.0" : "2.0");
  }
  start_named(f, "a0-child", "Alpha", "1.0", "a0");
  start_named(f, "a1-child", "Beta", "2.0", "a1");
  check_counts_match_instances(f);
  // Status changes: completions, failures (a child too), a message that changes nothing.
  for (int i = 0; i < 12; i += 3) complete(f, "a" + std::to_string(i));
  ack_event(f, "a1", events::OrchestrationFailed{ErrorDetails::orchestration_failed("x")},
            metadata(RuntimeState::Failed));
  ack_event(f, "a1-child", events::OrchestrationFailed{ErrorDetails::orchestration_failed("x")},
            metadata(RuntimeState::Failed, "a1"));
  ack_event(f, "a2", events::ExternalEvent{"tick", ""}, metadata(RuntimeState::Running));
  check_counts_match_instances(f);

  // Continue-as-new onto another name and version: the instance moves between counters.
  {
    f.provider().enqueue_orchestrator_item(work::ExternalRaised{"a4", "tick", ""}, 0);
    OrchestrationItem item = fetch(f);
    REQUIRE(item.instance == "a4");
    OrchestrationAck ack;
    ack.execution_id = item.execution_id + 1;
    ack.history_delta = {Event{1, 0, 0, events::OrchestrationStarted{"Beta", "3.0", "", "", 0}}};
    ack.metadata = metadata(RuntimeState::Completed);
    ack.metadata.continued_as_new = true;
    ack.metadata.orchestration_name = "Beta";
    ack.metadata.orchestration_version = "3.0";
    f.provider().ack_orchestration_item(item.lock_token, ack);
  }
  check_counts_match_instances(f);

  // Export and import under another id, a failed ack (rolled back whole), deletions.
  InstanceExport exported = f.management().export_instance("a3");
  exported.info.instance = "imported";
  for (auto& execution : exported.executions) execution.info.instance = "imported";
  f.management().import_instance(exported);
  CHECK(provider_error_kind([&] { f.management().import_instance(exported); }) ==
        ProviderErrorKind::Conflict);
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item("no-such-token", {}); }) ==
        ProviderErrorKind::InvalidLock);
  check_counts_match_instances(f);
  complete(f, "a0-child", "a0");
  CHECK(f.management().delete_instance("a0", false).instances == 2);  // with its child
  CHECK(f.management().delete_instance("a5", true).instances == 1);   // running, forced
  BulkDeleteRequest bulk;
  bulk.filter.states = {RuntimeState::Failed};
  f.management().delete_instances(bulk);
  check_counts_match_instances(f);
  CHECK(f.management().count_by_status({}).at(RuntimeState::Failed) == 0);
}
