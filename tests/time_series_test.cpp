// Time series for capacity planning: buckets written by the acks that change
// status, read back by get_time_series, followed live by watch_metrics. The
// oracle is the instances table itself (count_instances over the same window,
// and the listing for durations): the two must agree exactly.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <limits>
#include <map>

#include "duroxide/duroxide.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sim/random.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "provider_suite.hpp"

using namespace duroxide;

namespace {

constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kHour = 3'600'000;

// A catalog workload whose instances start and finish in many different
// minutes: the driver takes a few steps between starts while the clock moves.
struct Workload {
  std::unique_ptr<testing::ProviderUnderTest> under;
  ManualClock& clock;
  Provider& store;
  ManagementProvider& admin;
  Registry registry;
  StepDriver driver;
  RuntimeClient client;
  ManagementClient management;
  TimestampMs began;

  explicit Workload(std::unique_ptr<testing::ProviderUnderTest> made)
      : under(std::move(made)),
        clock(under->clock),
        store(under->provider()),
        admin(under->management()),
        driver((samples::register_all(registry), store), registry, clock),
        client(store, admin),
        management(admin),
        began(clock.now_ms()) {}
  explicit Workload(const std::string& kind, StoreOptions options = {})
      : Workload(testing::make_provider(kind, options)) {}

  void run(std::uint64_t seed, int starts, const std::string& prefix = "ts") {
    sim::SimRandom random(seed);
    const char* orchestrations[][2] = {
        {"HelloWorld", "Ada"},
        {"FanOutFanIn", R"(["a","b","c"])"},
        {"Chain", R"({"steps":3,"value":1})"},
        {"Fails", "boom"},
        {"Saga", R"({"amount":5,"fail_credit":true})"},
        {"Approval", R"({"timeout_ms":90000})"},
        {"Counter", R"({"count":0,"limit":2})"},
        {"Parent", R"(["p","q"])"},
    };
    for (int i = 0; i < starts; ++i) {
      const auto& pick = orchestrations[random.below(std::size(orchestrations))];
      client.start_orchestration(prefix + "-" + std::to_string(i), pick[0], pick[1]);
      for (std::uint64_t s = random.below(6); s > 0; --s) driver.step();
      clock.advance(static_cast<std::int64_t>(random.below(40'000)));
    }
    // Drain, letting the Approval timers fire.
    for (int round = 0; round < 20; ++round) {
      driver.run_until_idle();
      clock.advance(30'000);
    }
    driver.run_until_idle();
  }

  std::uint64_t count(std::vector<RuntimeState> states, const std::string& name, bool by_created,
                      TimestampMs from, TimestampMs to) {
    InstanceFilter filter;
    filter.states = std::move(states);
    filter.orchestration_name = name;
    (by_created ? filter.created_from_ms : filter.updated_from_ms) = from;
    (by_created ? filter.created_to_ms : filter.updated_to_ms) = to;
    return management.count_instances(filter);
  }

  std::vector<InstanceInfo> all_instances() {
    std::vector<InstanceInfo> out;
    PageRequest page;
    page.limit = 1000;
    do {
      SummaryPage got = management.list_instances({}, page);
      for (auto& summary : got.instances) out.push_back(summary.info);
      page.cursor = got.next_cursor;
    } while (!page.cursor.empty());
    return out;
  }
};

std::size_t histogram_bucket(std::int64_t duration) {
  std::size_t bucket = 0;
  while (bucket < kDurationBuckets - 1 && duration > kDurationBucketBoundsMs[bucket]) ++bucket;
  return bucket;
}

// Every point of `series` against the instances table over the same bucket.
void check_against_instances(Workload& w, const TimeSeries& series, std::int64_t width) {
  const std::vector<InstanceInfo> instances = w.all_instances();
  REQUIRE(series.points.size() == static_cast<std::size_t>((series.to_ms - series.from_ms) / width));
  for (const TimeSeriesPoint& point : series.points) {
    const TimestampMs from = point.bucket_start_ms;
    const TimestampMs to = from + width;
    INFO("bucket " << from << " orchestration '" << series.orchestration << "'");
    CHECK(point.starts == w.count({}, series.orchestration, true, from, to));
    CHECK(point.completions ==
          w.count({RuntimeState::Completed}, series.orchestration, false, from, to));
    CHECK(point.failures == w.count({RuntimeState::Failed}, series.orchestration, false, from, to));
    std::int64_t sum = 0;
    std::uint64_t finished = 0;
    std::uint64_t histogram[kDurationBuckets] = {};
    for (const InstanceInfo& info : instances) {
      if (!series.orchestration.empty() && info.orchestration_name != series.orchestration) continue;
      if (info.state != RuntimeState::Completed && info.state != RuntimeState::Failed) continue;
      if (info.updated_at_ms < from || info.updated_at_ms >= to) continue;
      sum += info.updated_at_ms - info.created_at_ms;
      ++finished;
      ++histogram[histogram_bucket(info.updated_at_ms - info.created_at_ms)];
    }
    CHECK(point.duration_count == finished);
    CHECK(point.duration_sum_ms == sum);
    for (std::size_t i = 0; i < kDurationBuckets; ++i) CHECK(point.duration_histogram[i] == histogram[i]);
  }
}

std::uint64_t total(const TimeSeries& series, std::uint64_t TimeSeriesPoint::*field) {
  std::uint64_t sum = 0;
  for (const auto& point : series.points) sum += point.*field;
  return sum;
}

void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  INFO((error ? error : ""));
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace

TEST_CASE("time series agree exactly with counts from the instances table", "[timeseries]") {
  PROVIDER_KIND(kind);
  Workload w(kind);
  w.run(GENERATE(1u, 2u, 3u), 60);
  const TimestampMs end = w.clock.now_ms() + 1;

  // Every minute and every hour of the run, all orchestrations and each one.
  TimeSeries minutes = w.management.get_time_series(TimeSeriesMetric::All, "", w.began, end);
  CHECK(minutes.from_ms % kMinute == 0);
  CHECK(total(minutes, &TimeSeriesPoint::starts) > 60);  // sub-orchestrations count too
  CHECK(total(minutes, &TimeSeriesPoint::completions) > 0);
  CHECK(total(minutes, &TimeSeriesPoint::failures) > 0);
  std::size_t busy_minutes = 0;
  for (const auto& point : minutes.points) busy_minutes += point.starts > 0;
  CHECK(busy_minutes > 5);
  check_against_instances(w, minutes, kMinute);

  for (const char* name : {"HelloWorld", "Fails", "Saga", "Approval", "Counter", "Parent"}) {
    check_against_instances(w, w.management.get_time_series(TimeSeriesMetric::All, name, w.began, end),
                            kMinute);
  }
  TimeSeries hours = w.management.get_time_series(TimeSeriesMetric::Starts, "", w.began, end,
                                                  TimeSeriesQuery::Bucket::Hour);
  CHECK(hours.from_ms % kHour == 0);
  check_against_instances(w, hours, kHour);
  CHECK(total(hours, &TimeSeriesPoint::starts) == total(minutes, &TimeSeriesPoint::starts));

  // An unaligned window is widened to whole buckets.
  TimeSeries window =
      w.management.get_time_series(TimeSeriesMetric::All, "", w.began + 90'000, w.began + 200'000);
  CHECK(window.from_ms == (w.began + 90'000) / kMinute * kMinute);
  CHECK(window.to_ms == ((w.began + 200'000) + kMinute - 1) / kMinute * kMinute);
  check_against_instances(w, window, kMinute);
}

TEST_CASE("continue-as-new is neither a start nor a finish; the finish counts once",
          "[timeseries]") {
  PROVIDER_KIND(kind);
  Workload w(kind);
  w.client.start_orchestration("counter", "Counter", R"({"count":0,"limit":4})");
  for (int i = 0; i < 50 && w.driver.step(); ++i) w.clock.advance(20'000);
  w.driver.run_until_idle();
  // A message for the finished instance changes nothing.
  w.client.raise_event("counter", "Late", "{}");
  w.clock.advance(120'000);
  w.driver.run_until_idle();
  TimeSeries series = w.management.get_time_series(TimeSeriesMetric::All, "Counter", w.began,
                                                   w.clock.now_ms() + 1);
  CHECK(total(series, &TimeSeriesPoint::starts) == 1);
  CHECK(total(series, &TimeSeriesPoint::completions) == 1);
  CHECK(total(series, &TimeSeriesPoint::duration_count) == 1);
  check_against_instances(w, series, kMinute);
}

TEST_CASE("minute buckets roll up into hours after the retention window", "[timeseries]") {
  PROVIDER_KIND(kind);
  StoreOptions options;
  options.minute_retention_ms = 10 * kMinute;
  Workload w(kind, options);
  w.run(7, 40);
  const TimestampMs first_end = w.clock.now_ms() + 1;
  // The run is longer than the retention: its first minutes are already hours.
  TimeSeries before = w.management.get_time_series(TimeSeriesMetric::All, "", w.began, first_end,
                                                   TimeSeriesQuery::Bucket::Hour);
  const std::uint64_t starts = total(before, &TimeSeriesPoint::starts);
  REQUIRE(starts > 40);
  CHECK(total(w.management.get_time_series(TimeSeriesMetric::All, "", w.began, first_end),
              &TimeSeriesPoint::starts) < starts);

  // Two hours later one more instance runs: its first ack rolls the old minutes up.
  w.clock.advance(2 * kHour);
  w.client.start_orchestration("late", "HelloWorld", "Bo");
  w.driver.run_until_idle();
  const TimestampMs end = w.clock.now_ms() + 1;
  TimeSeries old_minutes = w.management.get_time_series(TimeSeriesMetric::All, "", w.began, first_end);
  CHECK(total(old_minutes, &TimeSeriesPoint::starts) == 0);
  TimeSeries recent = w.management.get_time_series(TimeSeriesMetric::All, "", end - 5 * kMinute, end);
  CHECK(total(recent, &TimeSeriesPoint::starts) == 1);
  CHECK(total(recent, &TimeSeriesPoint::completions) == 1);

  // Hours hold everything, old and new, and still match the instances table.
  TimeSeries hours = w.management.get_time_series(TimeSeriesMetric::All, "", w.began, end,
                                                  TimeSeriesQuery::Bucket::Hour);
  CHECK(total(hours, &TimeSeriesPoint::starts) == starts + 1);
  check_against_instances(w, hours, kHour);
  for (const char* name : {"HelloWorld", "Saga", "Parent"}) {
    check_against_instances(
        w, w.management.get_time_series(TimeSeriesMetric::All, name, w.began, end, TimeSeriesQuery::Bucket::Hour),
        kHour);
  }
}

TEST_CASE("watch_metrics streams the deltas that build the series", "[timeseries]") {
  PROVIDER_KIND(kind);
  Workload w(kind);
  w.run(11, 30, "a");
  const TimestampMs end = w.clock.now_ms() + 10 * kHour;

  // Folding every delta into minute buckets reproduces the stored series.
  auto fold = [&](std::uint64_t cursor, std::map<TimestampMs, TimeSeriesPoint>& buckets) {
    std::size_t pages = 0;
    for (;;) {
      MetricDeltaPage page = w.management.watch_metrics(cursor, 7);
      if (page.deltas.empty()) {
        CHECK(page.next_cursor == cursor);
        break;
      }
      CHECK(page.deltas.size() <= 7);
      CHECK(page.next_cursor > cursor);
      ++pages;
      for (const MetricDelta& delta : page.deltas) {
        CHECK(delta.seq > cursor);
        CHECK_FALSE(delta.orchestration.empty());
        CHECK(delta.starts + delta.completions + delta.failures >= 1);
        if (delta.starts) buckets[delta.started_at_ms / kMinute * kMinute].starts += delta.starts;
        if (delta.completions || delta.failures) {
          REQUIRE(delta.duration_ms.has_value());
          auto& point = buckets[delta.finished_at_ms / kMinute * kMinute];
          point.completions += delta.completions;
          point.failures += delta.failures;
          point.duration_sum_ms += *delta.duration_ms;
          point.duration_count += 1;
        }
      }
      cursor = page.next_cursor;
    }
    return std::make_pair(cursor, pages);
  };
  auto check_equal = [&](const std::map<TimestampMs, TimeSeriesPoint>& buckets) {
    TimeSeries series = w.management.get_time_series(TimeSeriesMetric::All, "", w.began, end);
    for (const auto& point : series.points) {
      auto found = buckets.find(point.bucket_start_ms);
      TimeSeriesPoint folded = found == buckets.end() ? TimeSeriesPoint{} : found->second;
      INFO("bucket " << point.bucket_start_ms);
      CHECK(point.starts == folded.starts);
      CHECK(point.completions == folded.completions);
      CHECK(point.failures == folded.failures);
      CHECK(point.duration_sum_ms == folded.duration_sum_ms);
      CHECK(point.duration_count == folded.duration_count);
    }
  };
  std::map<TimestampMs, TimeSeriesPoint> buckets;
  auto [cursor, pages] = fold(0, buckets);
  CHECK(pages > 3);
  check_equal(buckets);

  // Live: more work after the cursor; only the new deltas are added.
  w.run(12, 20, "b");
  auto [next, more_pages] = fold(cursor, buckets);
  CHECK(next > cursor);
  CHECK(more_pages > 0);
  check_equal(buckets);
}

TEST_CASE("watch_metrics fills its page past a run of changes that are not deltas", "[timeseries]") {
  PROVIDER_KIND(kind);
  Workload w(kind);
  // Forty custom-status changes in a row: changes on the feed, none of them a delta.
  w.registry.register_orchestration("Chatty", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    for (int i = 0; i < 40; ++i) {
      ctx.set_custom_status("step " + std::to_string(i));
      co_await ctx.schedule_timer(1);
    }
    co_return "said it all";
  });
  w.client.start_orchestration("chatty", "Chatty", "");
  for (int round = 0; round < 50; ++round) {
    w.driver.run_until_idle();
    w.clock.advance(1);
  }
  for (int i = 0; i < 6; ++i) w.client.start_orchestration("hello-" + std::to_string(i), "HelloWorld", "Ada");
  w.driver.run_until_idle();
  REQUIRE(w.admin.get_instance_info("chatty")->state == RuntimeState::Completed);

  const MetricDeltaPage everything = w.management.watch_metrics(0, 1000);
  REQUIRE(everything.deltas.size() >= 8);
  std::vector<std::uint64_t> paged;
  std::uint64_t cursor = 0;
  for (;;) {
    const MetricDeltaPage page = w.management.watch_metrics(cursor, 3);
    for (const MetricDelta& delta : page.deltas) paged.push_back(delta.seq);
    if (page.deltas.size() < 3) break;  // only the feed's end leaves a page short
    cursor = page.next_cursor;
  }
  std::vector<std::uint64_t> all;
  for (const MetricDelta& delta : everything.deltas) all.push_back(delta.seq);
  CHECK(paged == all);
  // The chatty instance's end comes forty changes after its start (the first status
  // rides on the start's ack): a page of one delta reaches it past them in one call.
  const MetricDeltaPage first = w.management.watch_metrics(0, 1);
  REQUIRE(first.deltas.size() == 1);
  CHECK(first.deltas[0].instance == "chatty");
  const MetricDeltaPage second = w.management.watch_metrics(first.next_cursor, 1);
  REQUIRE(second.deltas.size() == 1);
  CHECK(second.deltas[0].instance == "chatty");
  CHECK(second.deltas[0].completions == 1);
  CHECK(second.deltas[0].seq == first.deltas[0].seq + 40);
}

TEST_CASE("watch_metrics saturates a finish time that a damaged change row overflows", "[timeseries]") {
  const std::string path = "/tmp/duroxide-timeseries-damaged-change.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  {
    Workload w(testing::sqlite_at(path));
    w.client.start_orchestration("hello", "HelloWorld", "Ada");
    w.driver.run_until_idle();
    REQUIRE(w.admin.get_instance_info("hello")->state == RuntimeState::Completed);
  }
  // Another program (or a damaged file) sets the finish's duration to the largest value.
  raw_exec(path, "UPDATE changes SET finished_duration_ms = 9223372036854775807 WHERE finished_duration_ms IS NOT NULL");
  {
    Workload w(testing::sqlite_at(path));
    const MetricDeltaPage page = w.management.watch_metrics(0, 10);
    std::size_t finishes = 0;
    for (const MetricDelta& delta : page.deltas) {
      if (!delta.completions) continue;
      ++finishes;
      CHECK(delta.duration_ms == std::numeric_limits<std::int64_t>::max());
      CHECK(delta.finished_at_ms == std::numeric_limits<std::int64_t>::max());
    }
    CHECK(finishes == 1);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

TEST_CASE("an imported instance counts where it happened, not when it was imported",
          "[timeseries]") {
  PROVIDER_KIND(kind);
  Workload source(kind);
  source.client.start_orchestration("moved", "Chain", R"({"steps":2,"value":1})");
  source.driver.step();
  source.clock.advance(5 * kMinute);
  source.driver.run_until_idle();
  const InstanceInfo original = *source.admin.get_instance_info("moved");
  REQUIRE(original.state == RuntimeState::Completed);
  const std::string document = source.management.export_instance("moved");

  Workload target(kind);
  target.clock.advance(3 * kHour);
  target.management.import_instance(document);
  TimeSeries series = target.management.get_time_series(
      TimeSeriesMetric::All, "Chain", original.created_at_ms, target.clock.now_ms() + 1);
  check_against_instances(target, series, kMinute);
  CHECK(total(series, &TimeSeriesPoint::starts) == 1);
  CHECK(series.points.front().starts == 1);
  MetricDeltaPage deltas = target.management.watch_metrics(0);
  REQUIRE(deltas.deltas.size() == 1);
  CHECK(deltas.deltas[0].starts == 1);
  CHECK(deltas.deltas[0].completions == 1);
  CHECK(deltas.deltas[0].started_at_ms == original.created_at_ms);
  CHECK(deltas.deltas[0].finished_at_ms == original.updated_at_ms);
  CHECK(*deltas.deltas[0].duration_ms == original.updated_at_ms - original.created_at_ms);
}

TEST_CASE("a version-4 database is migrated with its series counted in", "[timeseries]") {
  const std::string path = "/tmp/duroxide-timeseries-migration.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  TimestampMs began = 0;
  TimestampMs end = 0;
  {
    Workload w(testing::sqlite_at(path));
    w.run(5, 25);
    began = w.began;
    end = w.clock.now_ms() + 1;
  }
  raw_exec(path,
           testing::sqlite_undo_to_schema(11) +
           "DROP TABLE metric_buckets; ALTER TABLE changes DROP COLUMN created; "
           "ALTER TABLE changes DROP COLUMN orchestration_name; "
           "ALTER TABLE changes DROP COLUMN instance_created_at; "
           "ALTER TABLE changes DROP COLUMN finished_duration_ms; DROP TABLE instance_counts; "
           "DROP TRIGGER instance_counts_on_insert; DROP TRIGGER instance_counts_on_delete; "
           "DROP TRIGGER instance_counts_on_update; DROP TABLE kv_values; "
           "ALTER TABLE instances DROP COLUMN unconsumed_messages; DROP TABLE execution_totals; "
           "DROP TRIGGER execution_totals_on_insert; DROP TRIGGER execution_totals_on_delete; "
           "DROP TRIGGER execution_totals_on_update; "
           "DROP INDEX executions_continued; DROP INDEX instances_by_status_updated; DROP TABLE execution_durations; "
           "DROP INDEX instances_by_duration; ALTER TABLE instances DROP COLUMN input; PRAGMA user_version = 4");
  {
    Workload w(testing::sqlite_at(path));
    w.began = began;
    CHECK(w.under->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
    TimeSeries series = w.management.get_time_series(TimeSeriesMetric::All, "", began, end);
    CHECK(total(series, &TimeSeriesPoint::starts) > 25);
    check_against_instances(w, series, kMinute);
    check_against_instances(w, w.management.get_time_series(TimeSeriesMetric::All, "Saga", began, end),
                            kMinute);
    // Changes recorded before the migration carry no deltas; the feed still reads.
    CHECK(w.management.watch_metrics(0).deltas.empty());
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

TEST_CASE("time-series inputs are validated and the switches apply", "[timeseries]") {
  PROVIDER_KIND(kind);
  Workload w(kind);
  const TimestampMs now = w.clock.now_ms() / kHour * kHour;  // aligned: windows are not widened
  auto kind_of = [&](auto&& call) {
    try {
      call();
    } catch (const ClientError& error) {
      return error.kind();
    }
    FAIL("no error");
    return ClientError::Kind::Provider;
  };
  using Kind = ClientError::Kind;
  CHECK(kind_of([&] { w.management.get_time_series(TimeSeriesMetric::All, "", now, now); }) ==
        Kind::InvalidInput);
  CHECK(kind_of([&] { w.management.get_time_series(TimeSeriesMetric::All, "", -5, now); }) ==
        Kind::InvalidInput);
  CHECK(kind_of([&] {
          w.management.get_time_series(TimeSeriesMetric::All, "", now - 20'001 * kMinute, now);
        }) == Kind::InvalidInput);
  CHECK(kind_of([&] {
          w.management.get_time_series(TimeSeriesMetric::All, std::string(300, 'x'), now - kMinute, now);
        }) == Kind::InvalidInput);
  // A window ending near INT64_MAX spans too many buckets; counting them must not overflow.
  CHECK(kind_of([&] {
          w.management.get_time_series(TimeSeriesMetric::All, "", 0, INT64_MAX - 90'330);
        }) == Kind::InvalidInput);
  CHECK(kind_of([&] { w.management.watch_metrics(0, 0); }) == Kind::InvalidInput);
  CHECK(kind_of([&] { w.management.watch_metrics(0, 1001); }) == Kind::InvalidInput);
  // 20,000 hours is fine where 20,000 minutes would not be.
  CHECK(w.management.get_time_series(TimeSeriesMetric::All, "", now - 20'000 * kHour + 1, now,
                                     TimeSeriesQuery::Bucket::Hour)
            .points.size() <= kMaxTimeSeriesBuckets);
  // The store validates too, for callers that skip the client.
  TimeSeriesQuery query;
  query.from_ms = now;
  query.to_ms = now + (kMaxTimeSeriesBuckets + 1) * kMinute;
  CHECK_THROWS_AS(w.admin.get_time_series(query), ProviderError);

  TimeSeriesMetric metric{};
  CHECK(parse_time_series_metric("failures", metric));
  CHECK(metric == TimeSeriesMetric::Failures);
  CHECK_FALSE(parse_time_series_metric("latency", metric));
  TimeSeriesQuery::Bucket bucket{};
  CHECK(parse_time_series_bucket("hour", bucket));
  CHECK(bucket == TimeSeriesQuery::Bucket::Hour);
  CHECK_FALSE(parse_time_series_bucket("day", bucket));

  ManagementOptions read_only;
  read_only.read_only = true;
  CHECK(ManagementClient(w.admin, read_only)
            .get_time_series(TimeSeriesMetric::Starts, "", now - kMinute, now)
            .points.size() == 1);
  ManagementOptions off;
  off.enabled = false;
  CHECK(kind_of([&] {
          ManagementClient(w.admin, off).get_time_series(TimeSeriesMetric::Starts, "", now - kMinute, now);
        }) == Kind::Disabled);
  CHECK(kind_of([&] { ManagementClient(w.admin, off).watch_metrics(0); }) == Kind::Disabled);
}
