// SqliteProvider specifics: schema versioning, WAL, reopening, corrupted rows,
// and SQLite errors as typed ProviderErrors.
#include <algorithm>
#include <sqlite3.h>

#include "duroxide/sim/memory_vfs.hpp"
#include "provider_suite.hpp"
#include "../core/stores/sql/store_sql.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

// Runs SQL on a database file behind the provider's back (corruption, versions).
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

std::string raw_query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string out;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// Instance "i" after a turn that scheduled one activity per id of `activity_ids`:
// the worker queue holds their rows, the orchestrator queue nothing.
void schedule_activities(ProviderUnderTest& f, const std::vector<EventId>& activity_ids) {
  create_instance(f, "i");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  for (EventId id : activity_ids) {
    ack.history_delta.push_back(Event{id, 0, 0, events::ActivityScheduled{"Act", std::to_string(id)}});
    ack.worker_items.push_back(activity("i", id));
  }
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
}

}  // namespace

TEST_CASE("sqlite: schema version, WAL and reopening", "[provider][sqlite]") {
  auto f = make_provider("sqlite-file");
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  create_instance(*f, "kept");
  f->sqlite.reset();
  CHECK(raw_query(f->path, "PRAGMA user_version") == std::to_string(SqliteProvider::kSchemaVersion));
  CHECK(raw_query(f->path, "PRAGMA journal_mode") == "wal");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->get_instance_info("kept").has_value());
}

TEST_CASE("sqlite: a read-only open reads a file of this build and refuses, untouched, any other",
          "[provider][sqlite]") {
  auto f = make_provider("sqlite-file");
  create_instance(*f, "kept");
  f->sqlite.reset();
  SqliteOptions read_only;
  read_only.read_only = true;
  auto refused = [&](const std::string& path, const std::string& fragment) {
    try {
      SqliteProvider opened(path, f->clock, f->ids, read_only);
      FAIL("opened read-only: " << path);
    } catch (const ProviderError& error) {
      CHECK(std::string(error.what()).find(fragment) != std::string::npos);
    }
  };
  CHECK(SqliteProvider(f->path, f->clock, f->ids, read_only).get_instance_info("kept").has_value());

  const std::string missing = f->path + ".missing";
  refused(missing, "unable to open");
  CHECK(std::fopen(missing.c_str(), "rb") == nullptr);  // not created

  raw_exec(f->path, "PRAGMA user_version = 20");
  refused(f->path, "opened read-only, it is not migrated");
  CHECK(raw_query(f->path, "PRAGMA user_version") == "20");
  raw_exec(f->path, "PRAGMA user_version = 99");
  refused(f->path, "schema is version 99");
  CHECK(raw_query(f->path, "PRAGMA user_version") == "99");
}

TEST_CASE("sqlite: the scan probe counts its own rows and leaves the store's data as it was", "[provider][sqlite]") {
  auto f = make_provider("sqlite-file");
  create_instance(*f, "kept");
  f->sqlite.reset();
  ManualClock clock(1'000);
  for (std::uint64_t rows : {4ULL, 100ULL, 1'000ULL}) {
    std::uint64_t completed_in_newer_half = 0;
    for (std::uint64_t i = rows / 2; i < rows; ++i) completed_in_newer_half += (i / 4) % 4 < 2 ? 1 : 0;
    const SqliteProvider::ScanTimes times = SqliteProvider::measure_scan_times(f->path, {}, clock, rows);
    CHECK(times.rows == rows);
    CHECK(times.range_counted == completed_in_newer_half);
    CHECK(times.text_matched == 1);
  }
  CHECK(raw_query(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'scan_probe%'") == "0");
  for (std::uint64_t rows : {0ULL, 3ULL, 1'000'001ULL}) {
    try {
      SqliteProvider::measure_scan_times(f->path, {}, clock, rows);
      FAIL("measured " << rows << " rows");
    } catch (const ProviderError& error) {
      CHECK(error.kind() == ProviderErrorKind::InvalidInput);
    }
  }
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->get_instance_info("kept").has_value());
}

TEST_CASE("sqlite: the scan probe opens its file with the store's page cache", "[provider][sqlite]") {
  // 100,000 rows take about 5 MiB, more than SQLite's default cache of 2 MiB: a probe
  // on that default reads the table from the file again at every timed text scan (25
  // of them), where the store's connections keep it in their cache (SqliteOptions::cache_kib).
  sim::MemoryVfs vfs("duroxide-scan-probe-vfs");
  std::uint64_t reads = 0;
  vfs.set_fault_hook([&](sim::DiskOperation operation, const std::string&) {
    if (operation == sim::DiskOperation::Read) ++reads;
    return false;
  });
  ManualClock clock(1'000);
  SqliteOptions options;
  options.vfs = vfs.name();
  REQUIRE(options.cache_kib >= 8 * 1024);
  const auto timed_reads = [&](const SqliteOptions& opened_with) {
    reads = 0;
    const SqliteProvider::ScanTimes times = SqliteProvider::measure_scan_times("/probe.db", opened_with, clock, 100'000);
    CHECK(times.text_matched == 1);
    return reads;
  };
  const std::uint64_t with_store_cache = timed_reads(options);
  SqliteOptions small_cache = options;
  small_cache.cache_kib = 256;
  const std::uint64_t with_small_cache = timed_reads(small_cache);
  INFO("reads with the store's cache " << with_store_cache << ", with 256 KiB " << with_small_cache);
  CHECK(with_store_cache < 3'000);  // each of the table's pages about once
  CHECK(with_small_cache > 20'000);  // the table again at every scan
  SqliteOptions bad_cache = options;
  bad_cache.cache_kib = 1;
  try {
    SqliteProvider::measure_scan_times("/probe.db", bad_cache, clock, 100);
    FAIL("measured with a 1 KiB cache");
  } catch (const ProviderError& error) {
    CHECK(error.kind() == ProviderErrorKind::InvalidInput);
  }
}

TEST_CASE("sqlite: a database from a newer schema is refused untouched", "[provider][sqlite]") {
  auto f = make_provider("sqlite-file");
  create_instance(*f, "kept");
  f->sqlite.reset();
  raw_exec(f->path, "PRAGMA user_version = 99");
  try {
    SqliteProvider newer(f->path, f->clock, f->ids);
    FAIL("opened a newer database");
  } catch (const ProviderError& error) {
    CHECK(error.kind() == ProviderErrorKind::Permanent);
    CHECK(std::string(error.what()).find("schema version 99") != std::string::npos);
  }
  CHECK(raw_query(f->path, "PRAGMA user_version") == "99");
  CHECK(raw_query(f->path, "SELECT instance_id FROM instances") == "kept");
}

TEST_CASE("sqlite: a negative retention is refused when the store opens", "[provider][sqlite][retention]") {
  ManualClock clock(1'000);
  SequentialIdSource ids("r");
  for (int which = 0; which < 3; ++which) {
    SqliteOptions options;
    (which == 0 ? options.change_retention_ms : which == 1 ? options.parked_retention_ms : options.finished_retention_ms) = -1;
    try {
      SqliteProvider store(":memory:", clock, ids, options);
      FAIL("opened with a negative retention");
    } catch (const ProviderError& error) {
      CHECK(error.kind() == ProviderErrorKind::InvalidInput);
      CHECK(std::string(error.what()).find("retention") != std::string::npos);
    }
  }
}

TEST_CASE("sqlite: the page cache size is set on both connections and checked", "[provider][sqlite]") {
  auto f = make_provider("sqlite-file");
  f->sqlite.reset();
  ManualClock clock(1'000);
  SequentialIdSource ids("c");
  for (std::int64_t kib : std::vector<std::int64_t>{0, 63, -1, 17LL * 1024 * 1024}) {
    SqliteOptions options;
    options.cache_kib = kib;
    try {
      SqliteProvider store(f->path, clock, ids, options);
      FAIL("opened with cache_kib " << kib);
    } catch (const ProviderError& error) {
      CHECK(error.kind() == ProviderErrorKind::InvalidInput);
      CHECK(std::string(error.what()).find("cache_kib") != std::string::npos);
    }
  }
  SqliteOptions options;
  options.cache_kib = 4096;
  SqliteProvider store(f->path, clock, ids, options);
  CHECK(store.get_provider_diagnostics().cache_bytes == 4096 * 1024);
  CHECK(SqliteProvider(":memory:", clock, ids).get_provider_diagnostics().cache_bytes == 64 * 1024 * 1024);
}

TEST_CASE("sqlite: a database with a negative schema version is refused untouched", "[provider][sqlite]") {
  // No build writes a negative user_version: the file was written by something else.
  auto f = make_provider("sqlite-file");
  create_instance(*f, "kept");
  f->sqlite.reset();
  raw_exec(f->path, "PRAGMA user_version = -1");
  try {
    SqliteProvider negative(f->path, f->clock, f->ids);
    FAIL("opened a database with schema version -1");
  } catch (const ProviderError& error) {
    CHECK(error.kind() == ProviderErrorKind::Corrupted);
    CHECK(std::string(error.what()).find("schema version -1") != std::string::npos);
  }
  CHECK(raw_query(f->path, "PRAGMA user_version") == "-1");
  CHECK(raw_query(f->path, "SELECT instance_id FROM instances") == "kept");
}

TEST_CASE("sqlite: opening an impossible path is a typed error naming the operation",
          "[provider][sqlite][errors]") {
  ManualClock clock;
  SequentialIdSource ids;
  try {
    SqliteProvider bad("/nonexistent-directory/sub/store.db", clock, ids);
    FAIL("opened an impossible path");
  } catch (const ProviderError& error) {
    CHECK(error.operation().find("open /nonexistent-directory/sub/store.db") == 0);
    CHECK(std::string(error.what()).find("sqlite error") != std::string::npos);
  }
}

TEST_CASE("contract: a history row that does not decode is reported, others go on",
          "[provider][sqlite][corruption]") {
  auto f = make_provider("sqlite-file");
  create_instance(*f, "broken");
  create_instance(*f, "healthy");
  raw_exec(f->path, "UPDATE history SET event_json = '{not json' WHERE instance_id = 'broken'");
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"broken", "e", ""}, 0);
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"healthy", "e", ""}, 0);
  OrchestrationItem first = fetch(*f);
  REQUIRE(first.instance == "broken");
  REQUIRE(first.corruption.has_value());
  CHECK(first.corruption->find("history row broken/1/1 does not decode") != std::string::npos);
  CHECK(first.history.empty());
  OrchestrationItem second = fetch(*f);  // the other instance is not blocked
  CHECK(second.instance == "healthy");
  CHECK(second.history.size() == 1);
  CHECK(provider_error_kind([&] { f->provider().read("broken"); }) == ProviderErrorKind::Corrupted);
}

TEST_CASE("contract: a queue row that does not decode is reported and moved aside",
          "[provider][sqlite][corruption]") {
  auto f = make_provider("sqlite-file");
  schedule_activities(*f, {2, 3});
  raw_exec(f->path, "UPDATE worker_queue SET item_json = 'garbage' WHERE activity_id = 2");
  f->provider().enqueue_orchestrator_item(work::QueueMessage{"i", "q", "{"}, 0);
  raw_exec(f->path, "UPDATE orchestrator_queue SET item_json = '[1,2' WHERE kind = 'QueueMessage'");

  CHECK(provider_error_kind([&] { f->provider().fetch_work_item(1000); }) ==
        ProviderErrorKind::Corrupted);
  auto next = f->provider().fetch_work_item(1000);  // the queue is not blocked
  REQUIRE(next.has_value());
  CHECK(next->item.id == 3);
  CHECK(f->management().get_queue_depths().parked == 1);

  OrchestrationItem with_bad_message = fetch(*f);
  REQUIRE(with_bad_message.corruption.has_value());
  CHECK(with_bad_message.corruption->find("queue row") != std::string::npos);
  // The runtime can still ack (fail the instance); the bad row goes with the batch.
  OrchestrationAck fail;
  fail.metadata = metadata(RuntimeState::Failed);
  f->provider().ack_orchestration_item(with_bad_message.lock_token, fail);
  CHECK(f->management().get_instance_info("i")->state == RuntimeState::Failed);
  CHECK_FALSE(f->provider().fetch_orchestration_item(1000).has_value());
}

TEST_CASE("sqlite: a worker row that does not decode and names no instance is moved aside, not left in the way",
          "[provider][sqlite][corruption]") {
  // Parking a bad worker row tells its orchestration; a row whose instance id no item may
  // name (empty, over the limit) has none to tell, and failing on it kept the row first in
  // line for every fetch.
  auto f = make_provider("sqlite-file");
  schedule_activities(*f, {2, 3, 4});
  raw_exec(f->path, "UPDATE worker_queue SET item_json = 'garbage', instance_id = '' WHERE activity_id = 2");
  raw_exec(f->path, "UPDATE worker_queue SET item_json = 'garbage', instance_id = printf('%.300c', 'x') "
                    "WHERE activity_id = 3");
  for (int bad = 0; bad < 2; ++bad) {
    CHECK(provider_error_kind([&] { f->provider().fetch_work_item(1000); }) == ProviderErrorKind::Corrupted);
  }
  auto next = f->provider().fetch_work_item(1000);
  REQUIRE(next.has_value());
  CHECK(next->item.id == 4);
  CHECK(f->management().get_queue_depths().parked == 2);
  CHECK(f->management().get_queue_depths().orchestrator_visible == 0);  // nobody to tell
}

TEST_CASE("sqlite: queue depths saturate the age of a message whose enqueue and due times are damaged",
          "[provider][sqlite][corruption]") {
  // A damaged file (the database fuzzer's find) held an enqueue time of -2^63: the oldest
  // message's age, now minus that time, was a signed overflow. (A message waits from the
  // later of its enqueue and due times, so both are damaged here.)
  auto f = make_provider("sqlite-file");
  schedule_activities(*f, {2});
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "again", ""}, 0);
  raw_exec(f->path, "UPDATE worker_queue SET enqueued_at = -9223372036854775808, visible_at = -9223372036854775808");
  raw_exec(f->path,
           "UPDATE orchestrator_queue SET enqueued_at = -9223372036854775808, visible_at = -9223372036854775808");
  const QueueDepths depths = f->management().get_queue_depths();
  CHECK(depths.oldest_orchestrator_age_ms == std::numeric_limits<std::int64_t>::max());
  CHECK(depths.oldest_worker_age_ms == std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("sqlite: a queue row whose attempt count no fetch writes is Corrupted, never overflowed",
          "[provider][sqlite][corruption]") {
  // A damaged file (the database fuzzer's find) held an attempt count of 2^63 - 1: the
  // fetch added one to it, a signed overflow. A count out of range is the row's damage:
  // a worker row is parked and reported, an orchestrator message is the item's corruption.
  auto f = make_provider("sqlite-file");
  schedule_activities(*f, {2, 3, 4});
  raw_exec(f->path, "UPDATE worker_queue SET attempt_count = 9223372036854775807 WHERE activity_id = 2");
  raw_exec(f->path, "UPDATE worker_queue SET attempt_count = -1 WHERE activity_id = 3");
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "again", ""}, 0);
  raw_exec(f->path, "UPDATE orchestrator_queue SET attempt_count = 9223372036854775807");

  for (const char* count : {"9223372036854775807", "-1"}) {
    try {
      f->provider().fetch_work_item(1000);
      FAIL("fetched a worker row whose attempt count is " << count);
    } catch (const ProviderError& error) {
      CHECK(error.kind() == ProviderErrorKind::Corrupted);
      CHECK(std::string(error.what()).find(std::string("attempt count out of range (") + count + ")") !=
            std::string::npos);
    }
  }
  auto next = f->provider().fetch_work_item(1000);  // the queue is not blocked
  REQUIRE(next.has_value());
  CHECK(next->item.id == 4);
  CHECK(next->attempt_count == 1);
  CHECK(f->management().get_queue_depths().parked == 2);

  OrchestrationItem with_bad_count = fetch(*f);
  REQUIRE(with_bad_count.corruption.has_value());
  CHECK(with_bad_count.corruption->find("attempt count out of range (9223372036854775807)") != std::string::npos);
  CHECK(with_bad_count.attempt_count <= 1);
}

TEST_CASE("sqlite: queue counts of a damaged file that do not add up are Corrupted", "[provider][sqlite]") {
  // A file whose lock table lost its key (another program rewrote the schema) holds two
  // lock rows for one instance: its message counts as locked twice, more than the queue
  // holds. The depths refuse to report such counts (they aborted the process once).
  auto f = make_provider("sqlite-file");
  create_instance(*f, "i");
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  fetch(*f);  // the instance is locked, its message visible and locked
  CHECK(f->management().get_queue_depths().orchestrator_locked == 1);
  f->sqlite.reset();
  raw_exec(f->path,
           "PRAGMA writable_schema = ON; "
           "UPDATE sqlite_master SET sql = 'CREATE TABLE instance_locks (instance_id TEXT, lock_token TEXT, "
           "locked_until INTEGER, locked_at INTEGER)' WHERE type = 'table' AND name = 'instance_locks'; "
           "DELETE FROM sqlite_master WHERE type = 'index' AND tbl_name = 'instance_locks';");
  raw_exec(f->path, "INSERT INTO instance_locks SELECT * FROM instance_locks");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(provider_error_kind([&] { f->management().get_queue_depths(); }) == ProviderErrorKind::Corrupted);
}

TEST_CASE("sqlite: an ack whose lock row cannot be deleted is Corrupted and writes nothing",
          "[provider][sqlite][corruption]") {
  // A damaged lock-token index (a flipped byte; the database fuzzer's find) or another
  // program's trigger leaves the lock row the ack has just read in place when the ack
  // deletes it. That is the file's doing, not a broken invariant of the store: the ack
  // is refused as Corrupted (it aborted the process once) and rolls back whole.
  auto f = make_provider("sqlite-file");
  create_instance(*f, "i");
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  OrchestrationItem item = fetch(*f, 1000);
  raw_exec(f->path, "CREATE TRIGGER keep_locks BEFORE DELETE ON instance_locks BEGIN SELECT RAISE(IGNORE); END");
  OrchestrationAck ack;
  ack.history_delta = {Event{2, 0, 0, events::ActivityScheduled{"Act", "a"}}};
  ack.worker_items = {activity("i", 2)};
  ack.metadata = metadata();
  try {
    f->provider().ack_orchestration_item(item.lock_token, ack);
    FAIL("an ack whose lock row stayed was accepted");
  } catch (const ProviderError& error) {
    CHECK(error.kind() == ProviderErrorKind::Corrupted);
    CHECK(std::string(error.what()).find("lock row of instance i") != std::string::npos);
  }
  CHECK(f->provider().read("i").size() == 1);
  CHECK_FALSE(f->provider().fetch_work_item(1000).has_value());
  // Once the file is repaired and the lock has expired, the message is fetched again.
  raw_exec(f->path, "DROP TRIGGER keep_locks");
  f->clock.advance(1001);
  OrchestrationItem again = fetch(*f);
  REQUIRE(again.messages.size() == 1);
  f->provider().ack_orchestration_item(again.lock_token, ack);
  CHECK(f->provider().read("i").size() == 2);
}

TEST_CASE("sqlite: an older schema is migrated forward on open, keeping data",
          "[provider][sqlite]") {
  auto f = make_provider("sqlite-file");
  create_instance(*f, "kept");
  f->sqlite.reset();
  // Make the file look like a version-1 database.
  raw_exec(f->path, testing::sqlite_undo_to_schema(11) + "DROP TABLE activity_stats; DROP TABLE changes; DROP TABLE metric_buckets; "
                    "DROP INDEX instances_by_version; DROP TABLE instance_counts; "
                    "DROP TRIGGER instance_counts_on_insert; DROP TRIGGER instance_counts_on_delete; "
                    "DROP TRIGGER instance_counts_on_update; DROP TABLE kv_values; "
                    "ALTER TABLE instances DROP COLUMN unconsumed_messages; DROP TABLE execution_totals; "
                    "DROP TRIGGER execution_totals_on_insert; DROP TRIGGER execution_totals_on_delete; "
                    "DROP TRIGGER execution_totals_on_update; DROP INDEX executions_continued; "
                    "DROP INDEX instances_by_status_updated; DROP TABLE execution_durations; "
                    "DROP INDEX instances_by_duration; ALTER TABLE instances DROP COLUMN input; PRAGMA user_version = 1");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  CHECK(f->sqlite->get_instance_info("kept").has_value());
  CHECK(f->sqlite->get_activity_stats("", "").empty());  // the new table exists
  CHECK(f->sqlite->count_instances({}) == 1);         // counted in by the migration
  CHECK(f->sqlite->get_kv_all_values("kept").empty());  // the key-value table exists
  const SystemMetrics metrics = f->sqlite->get_system_metrics();  // executions counted in (version 9)
  CHECK(metrics.total_executions == 1);
  CHECK(metrics.total_events == f->sqlite->read("kept").size());
}

TEST_CASE("sqlite: a version-11 database gains tenants, its rows and counts in the empty tenant",
          "[provider][sqlite][tenant]") {
  auto f = make_provider("sqlite-file");
  create_instance(*f, "done", RuntimeState::Completed);
  create_instance(*f, "running");
  const std::map<RuntimeState, std::uint64_t> before = f->sqlite->count_by_status({});
  const std::size_t changes = f->sqlite->changes_since(0, 1000, "").changes.size();
  f->sqlite.reset();
  raw_exec(f->path, testing::sqlite_undo_to_schema(11) + "PRAGMA user_version = 11");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  CHECK(f->sqlite->count_by_status({}) == before);
  InstanceFilter none;
  none.tenant = "acme";
  CHECK(f->sqlite->count_instances(none) == 0);
  CHECK(f->sqlite->get_instance_info("done")->tenant.empty());
  CHECK(f->sqlite->changes_since(0, 1000, "").changes.size() == changes);
  CHECK(f->sqlite->get_orchestration_stats("Orch", "")[0].completed == 1);
  // The rebuilt triggers count a new tenant's instance under its tenant.
  f->provider().enqueue_orchestrator_item(start_item("new"), 0);
  OrchestrationItem item = fetch(*f);
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();
  ack.metadata.tenant = "acme";
  f->provider().ack_orchestration_item(item.lock_token, ack);
  CHECK(f->sqlite->count_instances(none) == 1);
  CHECK(f->sqlite->count_instances({}) == 3);
  CHECK(f->sqlite->get_orchestration_stats("Orch", "acme")[0].running == 1);
}

TEST_CASE("sqlite: a version-6 database gains the key-value table", "[provider][sqlite][kv]") {
  auto f = make_provider("sqlite-file");
  create_instance(*f, "kept");
  f->sqlite.reset();
  raw_exec(f->path, testing::sqlite_undo_to_schema(11) + "DROP TABLE kv_values; ALTER TABLE instances DROP COLUMN unconsumed_messages; "
                    "DROP TABLE execution_totals; DROP TRIGGER execution_totals_on_insert; "
                    "DROP TRIGGER execution_totals_on_delete; DROP TRIGGER execution_totals_on_update; "
                    "DROP INDEX executions_continued; DROP INDEX instances_by_status_updated; DROP TABLE execution_durations; "
                    "DROP INDEX instances_by_duration; ALTER TABLE instances DROP COLUMN input; PRAGMA user_version = 6");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  CHECK(f->sqlite->get_kv_all_values("kept").empty());
  CHECK(f->sqlite->get_instance_stats("kept")->kv_user_key_count == 0);
}

TEST_CASE("sqlite: a version-9 database gains the duration histogram, filled from its executions",
          "[provider][sqlite]") {
  auto f = make_provider("sqlite-file");
  // Digit-count and three-digit boundaries, where the C++ and SQL buckets could part.
  const std::vector<std::int64_t> durations = {0, 9, 10, 99, 100, 999, 1000, 1009, 1010, 9999, 10000, 123456};
  for (std::size_t i = 0; i < durations.size(); ++i) {
    f->provider().enqueue_orchestrator_item(start_item("d-" + std::to_string(i)), 0);
    OrchestrationItem item = fetch(*f);
    OrchestrationAck start;
    start.history_delta = {started_event()};
    start.metadata = metadata();
    f->provider().ack_orchestration_item(item.lock_token, start);
    f->clock.advance(durations[i]);
    f->provider().enqueue_orchestrator_item(work::ExternalRaised{"d-" + std::to_string(i), "go", ""}, 0);
    item = fetch(*f);
    OrchestrationAck finish;
    finish.execution_id = item.execution_id;
    finish.history_delta = {Event{2, 0, 0, events::OrchestrationCompleted{"ok"}}};
    finish.metadata = metadata(RuntimeState::Completed);
    f->provider().ack_orchestration_item(item.lock_token, finish);
  }
  const DurationStats counted = f->sqlite->get_execution_durations("Orch", 0, "");
  CHECK(counted.count == 12);
  CHECK(counted.max_ms == 123456);
  const std::string rows_sql =
      "SELECT group_concat(started_hour || ':' || bucket || ':' || count || ':' || sum_ms || ':' || min_ms || ':' "
      "|| max_ms, ',') FROM (SELECT * FROM execution_durations ORDER BY orchestration_name, started_hour, bucket)";
  f->sqlite.reset();
  const std::string rows = raw_query(f->path, rows_sql);
  CHECK(std::count(rows.begin(), rows.end(), ',') == 10);  // eleven buckets: 1000 and 1009 share one
  raw_exec(f->path, testing::sqlite_undo_to_schema(11) + "DROP TABLE execution_durations; DROP INDEX instances_by_duration; "
                    "ALTER TABLE instances DROP COLUMN input; PRAGMA user_version = 9");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  const DurationStats filled = f->sqlite->get_execution_durations("Orch", 0, "");
  CHECK(filled.count == counted.count);
  CHECK(filled.min_ms == counted.min_ms);
  CHECK(filled.avg_ms == counted.avg_ms);
  CHECK(filled.p50_ms == counted.p50_ms);
  CHECK(filled.p95_ms == counted.p95_ms);
  CHECK(filled.p99_ms == counted.p99_ms);
  CHECK(filled.max_ms == counted.max_ms);
  f->sqlite.reset();
  CHECK(raw_query(f->path, rows_sql) == rows);  // the SQL buckets are the acks' buckets
}

TEST_CASE("sqlite: a version-10 database gains the search column, filled from each current execution's start",
          "[provider][sqlite][search]") {
  auto f = make_provider("sqlite-file");
  for (const char* id : {"a", "b"}) {
    f->provider().enqueue_orchestrator_item(start_item(id), 0);
    OrchestrationItem item = fetch(*f);
    OrchestrationAck start;
    start.history_delta = {Event{1, 0, 0, events::OrchestrationStarted{"Orch", "1.0.0",
                                                                        std::string("order \"") + id + "\" for Ada", "", 0}}};
    start.metadata = metadata();
    f->provider().ack_orchestration_item(item.lock_token, start);
  }
  f->sqlite.reset();
  raw_exec(f->path, testing::sqlite_undo_to_schema(11) + "DROP INDEX instances_by_duration; ALTER TABLE instances DROP COLUMN input; PRAGMA user_version = 10");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  InstanceFilter filter;
  filter.contains = "order \"b\" for";
  const InstancePage found = f->sqlite->list_instances(filter, {});
  REQUIRE(found.instances.size() == 1);
  CHECK(found.instances[0].instance == "b");
  filter.contains = "for Ada";
  CHECK(f->sqlite->count_instances(filter) == 2);
}

TEST_CASE("sqlite: a one-bound count whose counters disagree with the rows counts the rows",
          "[provider][sqlite][counts]") {
  auto f = make_provider("sqlite-file");
  f->sqlite.reset();
  // 1,100 running instances (more than a side is read for) and their count, written as
  // the store writes them; then counters that say none.
  raw_exec(f->path,
           "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1099) "
           "INSERT INTO instances (instance_id, orchestration_name, orchestration_version, current_execution_id, "
           "  status, created_at, updated_at) "
           "SELECT 'r-' || i, 'Orch', '1.0.0', 1, 'Running', 1000 + i, 1000 + i FROM n; "
           "INSERT INTO instance_counts (orchestration_name, orchestration_version, is_root, status, tenant, count) "
           "VALUES ('Orch', '1.0.0', 1, 'Running', '', 1100)");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  InstanceFilter filter;
  filter.states = {RuntimeState::Running};
  filter.created_from_ms = 1;  // every instance is on this side, none on the other
  CHECK(f->sqlite->count_instances(filter) == 1100);
  f->sqlite.reset();
  raw_exec(f->path, "UPDATE instance_counts SET count = 0");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->count_instances(filter) == 1100);
  filter.created_from_ms = 0;
  CHECK(f->sqlite->count_instances(filter) == 0);  // what the counters say, asked alone
}

TEST_CASE("sqlite: every listing and count query is answered through an index",
          "[provider][sqlite][indexes]") {
  auto f = make_provider("sqlite-memory");
  const std::vector<InstanceFilter> filters = listing_filters();
  using Query = SqliteProvider::ListingQuery;
  for (std::size_t i = 0; i < filters.size(); ++i) {
    for (Query query : {Query::List, Query::Count, Query::CountByStatus}) {
      for (const char* cursor : {"", "1700000000000|job-7"}) {
      for (InstanceOrder order : {InstanceOrder::CreatedDesc, InstanceOrder::CreatedAsc, InstanceOrder::UpdatedDesc,
                                  InstanceOrder::UpdatedAsc, InstanceOrder::DurationDesc, InstanceOrder::DurationAsc}) {
        if (query != Query::List && (*cursor || order != InstanceOrder::CreatedDesc)) continue;
        auto plan = f->sqlite->explain_listing(filters[i], {cursor, 50, order}, query);
        std::string text;
        for (const auto& line : plan) text += line + "\n";
        INFO("filter " << i << " query " << static_cast<int>(query) << " order " << static_cast<int>(order) << "\n"
                       << text);
        // Work ready since a time starts from the queued rows ready before it, along the
        // queues' visibility indexes, and looks their instances up by key: it sorts those
        // few rows, never walks the instances.
        if (filters[i].ready_work_before_ms != 0) {
          CHECK(text.find("SEARCH orchestrator_queue USING INDEX orchestrator_queue_by_visible (visible_at<?)") !=
                std::string::npos);
          CHECK(text.find("SEARCH worker_queue USING INDEX worker_queue_by_visible (visible_at<?)") != std::string::npos);
          CHECK(text.find("SEARCH instances USING INDEX sqlite_autoindex_instances_1 (instance_id=?)") !=
                std::string::npos);
          CHECK(text.find("SCAN instances") == std::string::npos);
          continue;
        }
        // A page of one status walks that status's index in the order asked and stops when
        // full: it never sorts every instance of the status (ties on the time may be sorted).
        if (query == Query::List && filters[i].states.size() == 1) {
          CHECK(text.find("TEMP B-TREE FOR ORDER BY") == std::string::npos);
        }
        // A duration order walks the duration index and stops when the page is full (an
        // id prefix may walk the primary key's range instead).
        const bool by_duration = order == InstanceOrder::DurationDesc || order == InstanceOrder::DurationAsc;
        if (query == Query::List && by_duration && filters[i].instance_prefix.empty()) {
          CHECK(text.find("instances_by_duration") != std::string::npos);
          CHECK(text.find("TEMP B-TREE FOR ORDER BY") == std::string::npos);
        }
        // Counts filtered by states, name, version and roots only read the
        // trigger-kept counts table, never the instances.
        const bool by_counters = query != Query::List && (i <= 4 || i == 7);
        if (by_counters) {
          CHECK(text.find("instance_counts") != std::string::npos);
          CHECK(text.find(" instances ") == std::string::npos);
          CHECK(text.find(" instances\n") == std::string::npos);
          continue;
        }
        bool any_instances_line = false;
        for (const auto& line : plan) {
          if (line.find(" instances") == std::string::npos) continue;
          any_instances_line = true;
          CHECK((line.find("INDEX") != std::string::npos ||
                 line.find("PRIMARY KEY") != std::string::npos));
        }
        CHECK(any_instances_line);
      }
      }
    }
  }
}

TEST_CASE("sqlite: a batch that cannot commit fails whole and writes nothing", "[provider][sqlite][batch]") {
  const std::string path = "/tmp/duroxide-batch-busy.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  ManualClock clock;
  SequentialIdSource ids;
  SqliteOptions options;
  options.busy_timeout_ms = 0;  // a locked database fails at once (Transient)
  SqliteProvider store(path, clock, ids, options);
  for (const char* id : {"a", "b"}) store.enqueue_orchestrator_item(start_item(id), 0);
  std::vector<OrchestrationItem> batch = store.fetch_orchestration_items(30'000, 2);
  REQUIRE(batch.size() == 2);
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();
  std::vector<OrchestrationAckRequest> requests = {{batch[0].lock_token, ack}, {batch[1].lock_token, ack}};
  {
    // Another connection holds the write lock: the batch's first write fails.
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    std::vector<AckOutcome> outcomes = store.ack_orchestration_items(requests);
    for (const AckOutcome& outcome : outcomes) {
      REQUIRE(outcome.has_value());
      CHECK(outcome->kind() == ProviderErrorKind::Transient);
    }
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);
  }
  CHECK(store.count_instances({}) == 0);
  CHECK(store.get_queue_depths().orchestrator_locked == 2);
  for (const AckOutcome& outcome : store.ack_orchestration_items(requests)) CHECK_FALSE(outcome.has_value());
  CHECK(store.count_instances({}) == 2);
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

#ifdef __EMSCRIPTEN__
#include <emscripten.h>

// The wasm build's file I/O goes through node (NODERAWFS), where Emscripten 3.1.6
// makes fsync a no-op; wasm/node-fsync.js routes it to node's fsyncSync. Counted by
// wrapping node's fs.fsyncSync: FULL must reach it on every commit, OFF never.
TEST_CASE("sqlite (wasm under node): synchronous FULL flushes to the host disk, OFF does not",
          "[provider][sqlite]") {
  EM_ASM({
    const fs = require('fs');
    if (!globalThis.duroxideFsyncCalls) {
      globalThis.duroxideFsyncCalls = {count : 0};
      const real = fs.fsyncSync;
      fs.fsyncSync = function() {
        globalThis.duroxideFsyncCalls.count += 1;
        return real.apply(this, arguments);
      };
    }
  });
  auto fsync_calls = [] { return EM_ASM_INT({ return globalThis.duroxideFsyncCalls.count; }); };
  auto f = make_provider("sqlite-file");
  f->sqlite.reset();

  SqliteOptions full;
  full.synchronous = SqliteOptions::Synchronous::Full;
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids, full);
  int before = fsync_calls();
  create_instance(*f, "flushed");
  CHECK(fsync_calls() > before);

  f->sqlite.reset();
  SqliteOptions off;
  off.synchronous = SqliteOptions::Synchronous::Off;
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids, off);
  before = fsync_calls();
  create_instance(*f, "not-flushed");
  CHECK(fsync_calls() == before);
  CHECK(f->sqlite->get_instance_info("flushed").has_value());
  CHECK(f->sqlite->get_instance_info("not-flushed").has_value());
}
#endif

#ifndef __EMSCRIPTEN__
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace {

// A clock that, while closed, stops every thread but its owner's inside now_ms():
// a store call that reads the time in its session then holds the writer's lock.
class GateClock final : public Clock {
 public:
  TimestampMs now_ms() override {
    std::unique_lock<std::mutex> lock(mutex_);
    if (closed_ && std::this_thread::get_id() != owner_) {
      ++stopped_;
      changed_.notify_all();
      changed_.wait(lock, [this] { return !closed_; });
    }
    return 1'700'000'000'000;
  }
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = false;
    changed_.notify_all();
  }
  void wait_for_stopped_thread() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return stopped_ > 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread::id owner_ = std::this_thread::get_id();
  bool closed_ = false;
  int stopped_ = 0;
};

// Opens the gate after 5 s unless told the call under test returned: a call stuck behind
// the gate ends its test, failed, not hung.
class GateWatchdog {
 public:
  explicit GateWatchdog(GateClock& clock)
      : thread_([this, &clock] {
          for (int i = 0; i < 500 && !done_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          clock.open();
        }) {}
  ~GateWatchdog() {
    done_ = true;
    thread_.join();
  }
  void done() { done_ = true; }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("sqlite: management reads do not wait for a writer that holds the store", "[sqlite][provider][reads]") {
  const std::string path = "/tmp/duroxide-reads-beside-writer.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  GateClock clock;
  SequentialIdSource ids;
  {
    SqliteProvider store(path, clock, ids);
    store.enqueue_start(start_item("a"));
    clock.close();
    std::thread writer([&] { store.enqueue_orchestrator_item(work::ExternalRaised{"a", "e", ""}, 0); });
    clock.wait_for_stopped_thread();  // the writer is inside its call, holding the store
    GateWatchdog watchdog(clock);
    const auto start = std::chrono::steady_clock::now();
    CHECK(store.count_instances({}) == 0);
    CHECK(store.list_instances({}, {}).instances.empty());
    CHECK(store.get_queue_depths().orchestrator_visible == 1);
    CHECK(store.get_activity_stats({}, {}).empty());
    CHECK_FALSE(store.get_instance_info("a").has_value());
    CHECK(store.get_provider_diagnostics().connected);  // the writer's error record too
    watchdog.done();
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    clock.open();
    writer.join();
    CHECK(store.get_queue_depths().orchestrator_visible == 2);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}
TEST_CASE("sqlite: a management read in progress does not hold back the checkpoints", "[sqlite][provider][checkpoint]") {
  const std::string path = "/tmp/duroxide-checkpoint-beside-read.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  GateClock clock;
  SequentialIdSource ids;
  {
    SqliteProvider store(path, clock, ids);
    store.maintain();  // from now on the checkpoints are maintain()'s
    const std::string payload(2'000, 'x');
    for (int i = 0; i < 400; ++i) store.enqueue_orchestrator_item(work::ExternalRaised{"i", "e", payload}, 0);
    clock.close();
    // Diagnostics time their probe inside the read session: the reader stops there, holding it.
    std::thread reader([&] { store.get_provider_diagnostics(); });
    clock.wait_for_stopped_thread();
    GateWatchdog watchdog(clock);
    const auto start = std::chrono::steady_clock::now();
    store.maintain();
    watchdog.done();
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    clock.open();
    reader.join();
    CHECK(store.get_provider_diagnostics().checkpoints == 1);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}
#endif

TEST_CASE("sqlite: once maintain() runs, it does the checkpoints and commits leave them to it",
          "[sqlite][provider][checkpoint]") {
  const std::string path = "/tmp/duroxide-maintained-checkpoints.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  {
    ManualClock clock;
    SequentialIdSource ids;
    SqliteProvider store(path, clock, ids);
    store.maintain();  // nothing to do yet; from now on the checkpoints are its
    CHECK(store.get_provider_diagnostics().checkpoints == 0);
    const std::string payload(2'000, 'x');  // a few pages of log per commit
    for (int i = 0; i < 400; ++i) {
      store.enqueue_orchestrator_item(work::ExternalRaised{"i", "e", payload}, 0);
    }
    ProviderDiagnostics before = store.get_provider_diagnostics();
    CHECK(before.checkpoints == 0);  // past SQLite's 1000 frames, none in the committing calls
    CHECK(before.wal_bytes > 1'000 * before.page_size);
    store.maintain();
    CHECK(store.get_provider_diagnostics().checkpoints == 1);
    store.maintain();  // the log is checkpointed: nothing to do
    CHECK(store.get_provider_diagnostics().checkpoints == 1);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

TEST_CASE("sqlite: a search reads a bounded window per call and goes on where it stopped",
          "[provider][sqlite][search]") {
  auto f = make_provider("sqlite-file");
  f->sqlite.reset();
  const std::string last = std::to_string(testing::kSearchWindowRows - 1);
  raw_exec(f->path,
           "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < " + last +
               ") INSERT INTO instances (instance_id, orchestration_name, orchestration_version, "
               "current_execution_id, status, created_at, updated_at, input) "
               "SELECT printf('s-%06d', i), 'Orch', '1.0.0', 1, 'Running', 1000 + i, 1000 + i, "
               "CASE WHEN i = 0 OR i = " + last + " THEN 'needle ' || i ELSE 'hay' END FROM n");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  testing::check_search_window(*f->sqlite);
}

TEST_CASE("sqlite: a version-13 database gains the timers' index, its queued timers counted",
          "[provider][sqlite][queues]") {
  auto f = make_provider("sqlite-file");
  f->provider().enqueue_orchestrator_item(work::TimerFired{"t", 1, 2, f->clock.now_ms() + 5'000}, 5'000);
  f->sqlite.reset();
  raw_exec(f->path, testing::sqlite_undo_to_schema(13) + "PRAGMA user_version = 13");
  CHECK(raw_query(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'orchestrator_queue_timers'") == "0");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  CHECK(raw_query(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'orchestrator_queue_timers'") == "1");
  CHECK(f->sqlite->get_queue_depths().timers_pending == 1);
}

TEST_CASE("sqlite: a version-14 database keeps its trigger-kept counts; its writers count from then on",
          "[provider][sqlite][counts]") {
  auto f = make_provider("sqlite-file");
  const auto start = [&](const std::string& id, RuntimeState state) {
    f->provider().enqueue_orchestrator_item(start_item(id), 0);
    OrchestrationItem item = fetch(*f);
    OrchestrationAck ack;
    ack.history_delta = {started_event()};
    ack.metadata = metadata(state);
    f->provider().ack_orchestration_item(item.lock_token, ack);
  };
  f->sqlite.reset();
  // Written by a build of schema 14: its triggers count these rows.
  raw_exec(f->path, testing::sqlite_undo_to_schema(14) + "PRAGMA user_version = 14");
  raw_exec(f->path,
           "INSERT INTO instances (instance_id, orchestration_name, orchestration_version, current_execution_id, "
           "status, created_at, updated_at) VALUES ('old-1', 'Orch', '1.0.0', 1, 'Running', 1, 1), "
           "('old-2', 'Orch', '1.0.0', 1, 'Completed', 1, 2)");
  CHECK(raw_query(f->path, "SELECT SUM(count) FROM instance_counts") == "2");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  CHECK(raw_query(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'instance_counts_%'") ==
        "1");  // the delete trigger
  start("new-1", RuntimeState::Running);
  start("new-2", RuntimeState::Failed);
  std::map<RuntimeState, std::uint64_t> counts = f->sqlite->count_by_status(InstanceFilter{});
  CHECK(counts[RuntimeState::Running] == 2);
  CHECK(counts[RuntimeState::Completed] == 1);
  CHECK(counts[RuntimeState::Failed] == 1);
  BulkDeleteRequest drop;
  drop.instances = {"old-2", "new-2"};
  CHECK(f->sqlite->delete_instances(drop).instances == 2);
  counts = f->sqlite->count_by_status(InstanceFilter{});
  CHECK(counts[RuntimeState::Completed] == 0);
  CHECK(counts[RuntimeState::Failed] == 0);
  CHECK(counts[RuntimeState::Running] == 2);
}

#include "../core/stores/sqlite/sqlite_schema.hpp"

namespace {

// Every schema object (type, name, table, SQL) and every row of every table, in name order.
std::string schema_and_rows(sqlite::Connection& db) {
  std::string out;
  std::vector<std::string> tables;
  sqlite::Statement objects = db.prepare_once(
      "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name");
  while (objects.step()) {
    out += objects.text(0) + " " + objects.text(1) + " on " + objects.text(2) + ": " + objects.text(3) + "\n";
    if (objects.text(0) == "table") tables.push_back(objects.text(1));
  }
  for (const std::string& table : tables) {
    sqlite3_stmt* rows = nullptr;
    REQUIRE(sqlite3_prepare_v2(db.handle(), ("SELECT * FROM \"" + table + "\"").c_str(), -1, &rows, nullptr) == SQLITE_OK);
    while (sqlite3_step(rows) == SQLITE_ROW) {
      out += table + " row:";
      for (int column = 0; column < sqlite3_column_count(rows); ++column) {
        const unsigned char* text = sqlite3_column_text(rows, column);
        out += " " + (text ? std::string(reinterpret_cast<const char*>(text)) : std::string("NULL"));
      }
      out += "\n";
    }
    sqlite3_finalize(rows);
  }
  return out;
}

}  // namespace

TEST_CASE("sqlite: a new database gets exactly the schema and rows every migration in turn leaves",
          "[provider][sqlite][schema]") {
  sqlite::Connection by_chain(":memory:", 0, "");
  sqlite::run_every_migration(by_chain);
  sqlite::Connection by_script(":memory:", 0, "");
  by_script.exec(sqlite::schema_of_new_database().c_str());
  const std::string expected = schema_and_rows(by_chain);
  CHECK(expected.find("execution_totals row: 0 0") != std::string::npos);  // the migrations' own row
  CHECK(schema_and_rows(by_script) == expected);

  // A store opened on a new file takes that path and lands on the same schema and version.
  auto f = make_provider("sqlite-file");
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  f->sqlite.reset();
  sqlite::Connection opened(f->path, 0, "");
  CHECK(schema_and_rows(opened) == expected);
}

TEST_CASE("sqlite: a version-16 database's executions stay unpinned, and every filter takes them",
          "[provider][sqlite][capability]") {
  auto f = make_provider("sqlite-file");
  create_instance(*f, "i");
  f->sqlite.reset();
  raw_exec(f->path, testing::sqlite_undo_to_schema(16) + "PRAGMA user_version = 16");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  CHECK(f->sqlite->list_executions("i")[0].pinned_version == std::nullopt);
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  const CapabilityFilter none = CapabilityFilter::supporting({});
  auto item = f->provider().fetch_orchestration_item(30'000, none);
  REQUIRE(item.has_value());
  CHECK(item->instance == "i");
}

namespace {

// A database file whose instance "i" has one activity (untagged, outside sessions) on the
// worker queue, closed so that its schema can be taken back.
std::unique_ptr<ProviderUnderTest> file_with_one_activity() {
  auto f = make_provider("sqlite-file");
  create_instance(*f, "i");
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  OrchestrationItem item = fetch(*f);
  OrchestrationAck ack;
  ack.history_delta = {Event{2, 0, 0, events::ActivityScheduled{"Act", "in"}}};
  ack.worker_items = {activity("i", 2)};
  ack.metadata = metadata();
  f->provider().ack_orchestration_item(item.lock_token, ack);
  f->sqlite.reset();
  return f;
}

}  // namespace

TEST_CASE("sqlite: a version-15 database's worker rows stay untagged and are fetched", "[provider][sqlite][tags]") {
  auto f = file_with_one_activity();
  raw_exec(f->path, testing::sqlite_undo_to_schema(15) + "PRAGMA user_version = 15");
  CHECK(raw_query(f->path, "SELECT COUNT(*) FROM pragma_table_info('worker_queue') WHERE name = 'tag'") == "0");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  CHECK(raw_query(f->path, "SELECT COUNT(*) FROM pragma_table_info('worker_queue') WHERE name = 'tag'") == "1");
  CHECK(f->sqlite->fetch_work_items(30'000, 4, TagFilter::only({"gpu"})).empty());
  std::vector<WorkerItem> rows = f->sqlite->fetch_work_items(30'000, 4);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].item.tag.empty());
}

TEST_CASE("sqlite: a version-17 database's worker rows run outside sessions and are fetched",
          "[provider][sqlite][sessions]") {
  auto f = file_with_one_activity();
  raw_exec(f->path, testing::sqlite_undo_to_schema(17) + "PRAGMA user_version = 17");
  CHECK(raw_query(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sessions'") == "0");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  CHECK(raw_query(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sessions'") == "1");
  const SessionFetch owner{"node", 1'000};
  std::optional<WorkerItem> row = f->sqlite->fetch_work_item(30'000, TagFilter{}, &owner);
  REQUIRE(row.has_value());
  CHECK(row->item.session_id.empty());
  CHECK(f->sqlite->cleanup_orphaned_sessions() == 0);
}

TEST_CASE("sqlite: a session whose lock the file holds as NULL or text counts as expired: its rows are fetched "
          "with the rest of the queue",
          "[provider][sqlite][sessions]") {
  const std::string damaged = GENERATE(std::string("NULL"), std::string("'forever'"));
  INFO("locked_until " << damaged);
  auto f = make_provider("sqlite-file");
  create_instance(*f, "i");
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  OrchestrationItem item = fetch(*f);
  OrchestrationAck ack;
  ack.history_delta = {Event{2, 0, 0, events::ActivityScheduled{"Act", "in", "", "s1"}},
                       Event{3, 0, 0, events::ActivityScheduled{"Act", "in"}}};
  ack.worker_items = {work::ActivityExecute{"i", 1, 2, "Act", "in", "", "s1"}, activity("i", 3)};
  ack.metadata = metadata();
  f->provider().ack_orchestration_item(item.lock_token, ack);
  f->sqlite.reset();
  // A lock that is not a time, held by another owner: read as expired, so the session is
  // claimed again rather than holding its rows back for good.
  raw_exec(f->path, "DROP TABLE sessions; CREATE TABLE sessions (session_id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, "
                    "locked_until INTEGER, claimed_at INTEGER NOT NULL); "
                    "INSERT INTO sessions VALUES ('s1', 'other', " + damaged + ", 0)");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  const SessionFetch owner{"node", 1'000};
  std::vector<WorkerItem> items = f->sqlite->fetch_work_items(30'000, 4, TagFilter{}, &owner);
  REQUIRE(items.size() == 2);
  CHECK(items[0].item.id == 2);
  CHECK(items[0].item.session_id == "s1");
  CHECK(items[1].item.id == 3);
  const std::vector<SessionInfo> sessions = f->sqlite->list_sessions("", 10);
  REQUIRE(sessions.size() == 1);
  CHECK(sessions[0].owner_id == "node");
  CHECK(sessions[0].held);
}

TEST_CASE("sqlite: an instance lock or a worker row lock the file holds as NULL or text counts as expired: the "
          "instance and the activity are fetched again",
          "[provider][sqlite][queues]") {
  const std::string damaged = GENERATE(std::string("NULL"), std::string("'later'"));
  INFO("locked_until " << damaged);
  auto f = make_provider("sqlite-file");
  schedule_activities(*f, {2});
  std::optional<WorkerItem> work = f->provider().fetch_work_item(30'000);
  REQUIRE(work);
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  OrchestrationItem turn = fetch(*f);
  f->sqlite.reset();
  // instance_locks.locked_until is NOT NULL: a NULL there comes with a table rebuilt without it.
  raw_exec(f->path, "PRAGMA writable_schema = ON; "
                    "UPDATE sqlite_master SET sql = replace(sql, 'locked_until INTEGER NOT NULL', 'locked_until INTEGER') "
                    "WHERE name = 'instance_locks'; PRAGMA writable_schema = OFF");
  raw_exec(f->path, "UPDATE instance_locks SET locked_until = " + damaged + "; "
                    "UPDATE worker_queue SET locked_until = " + damaged + " WHERE lock_token IS NOT NULL");
  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->get_queue_depths().worker_locked == 0);
  CHECK(f->sqlite->get_queue_depths().orchestrator_locked == 0);
  // The old tokens no longer hold anything.
  CHECK(provider_error_kind([&] { f->provider().ack_work_item(work->lock_token, std::nullopt); }) ==
        ProviderErrorKind::InvalidLock);
  OrchestrationAck late;
  late.metadata = metadata();
  CHECK(provider_error_kind([&] { f->provider().ack_orchestration_item(turn.lock_token, late); }) ==
        ProviderErrorKind::InvalidLock);
  std::optional<WorkerItem> again = f->provider().fetch_work_item(30'000);
  REQUIRE(again);
  CHECK(again->item.id == 2);
  CHECK(again->attempt_count == 2);
  std::optional<OrchestrationItem> next = f->provider().fetch_orchestration_item(30'000);
  REQUIRE(next);
  CHECK(next->instance == "i");
  CHECK(next->messages.size() == 1);
  OrchestrationAck ack;
  ack.metadata = metadata();
  f->provider().ack_orchestration_item(next->lock_token, ack);
}


#include "../core/stores/sqlite/sqlite_connection.hpp"

TEST_CASE("sqlite: a read snapshot reads one committed state until it ends, whatever is committed meanwhile",
          "[provider][sqlite][export]") {
  auto f = make_provider("sqlite-file");
  f->provider().enqueue_orchestrator_item(start_item("a"), 0);
  sqlite::Connection reader(f->path, 0, "");
  auto queued = [&] {
    sqlite::Statement count = reader.prepare("SELECT COUNT(*) FROM orchestrator_queue");
    REQUIRE(count.step());
    return count.integer(0);
  };
  {
    sqlite::ReadSnapshot snapshot(reader);
    CHECK(queued() == 1);
    f->provider().enqueue_orchestrator_item(start_item("b"), 0);  // the store's writer commits
    CHECK(queued() == 1);  // export_instance reads all its parts so
  }
  CHECK(queued() == 2);
}

TEST_CASE("sqlite: the default, one-tag and several-tag worker fetches read their rows' own indexes, and take the "
          "right rows",
          "[provider][sqlite][tags]") {
  auto f = make_provider("sqlite-file");
  create_instance(*f, "i");
  // 2,000 rows of a tag no worker here takes, older than the one untagged row.
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  OrchestrationItem item = fetch(*f);
  OrchestrationAck ack;
  for (EventId id = 2; id < 2'002; ++id) {
    work::ActivityExecute tagged = activity("i", id);
    tagged.tag = "gpu";
    ack.worker_items.push_back(tagged);
  }
  ack.worker_items.push_back(activity("i", 2'002));
  ack.metadata = metadata();
  f->provider().ack_orchestration_item(item.lock_token, ack);
  const std::vector<std::string> plan = f->sqlite->explain_worker_fetch(TagFilter{});
  std::string plan_text;
  for (const std::string& line : plan) plan_text += line + "\n";
  INFO(plan_text);
  CHECK(std::any_of(plan.begin(), plan.end(),
                    [](const std::string& line) { return line.find("worker_queue_untagged") != std::string::npos; }));
  const std::optional<WorkerItem> untagged = f->provider().fetch_work_item(30'000);
  REQUIRE(untagged.has_value());
  CHECK(untagged->item.id == 2'002);
  // A filter of one tag reads that tag's rows alone; one that takes several kinds of
  // rows reads the index of every row.
  const std::vector<std::string> gpu = f->sqlite->explain_worker_fetch(TagFilter::only({"gpu"}));
  CHECK(std::any_of(gpu.begin(), gpu.end(),
                    [](const std::string& line) { return line.find("worker_queue_by_tag") != std::string::npos; }));
  const std::vector<std::string> any = f->sqlite->explain_worker_fetch(TagFilter::any());
  CHECK(std::none_of(any.begin(), any.end(), [](const std::string& line) {
    return line.find("worker_queue_untagged") != std::string::npos ||
           line.find("worker_queue_by_tag") != std::string::npos;
  }));
  // Filters of several tags, and the untagged rows with tags, read the index of each
  // (untagged rows', one tag's) and never walk past the rows of a tag they do not take.
  for (const TagFilter& filter : {TagFilter::only({"fpga", "tpu"}), TagFilter::default_and({"tpu"})}) {
    const std::vector<std::string> lanes = f->sqlite->explain_worker_fetch(filter);
    std::string lanes_text;
    for (const std::string& line : lanes) lanes_text += line + "\n";
    INFO(filter.to_string() << ":\n" << lanes_text);
    CHECK(lanes_text.find("worker_queue_by_tag") != std::string::npos);
    CHECK(lanes_text.find("worker_queue_by_visible") == std::string::npos);
    CHECK((lanes_text.find("worker_queue_untagged") != std::string::npos) == (filter.mode == TagFilter::Mode::DefaultAnd));
  }
  CHECK(f->provider().fetch_work_item(30'000, TagFilter::only({"fpga", "tpu"})) == std::nullopt);
  CHECK(f->provider().fetch_work_item(30'000, TagFilter::only({"gpu"}))->item.id == 2);
  CHECK(f->provider().fetch_work_item(30'000, TagFilter::any())->item.tag == "gpu");
  CHECK(provider_error_kind([&] { f->sqlite->explain_worker_fetch(TagFilter::none()); }) ==
        ProviderErrorKind::InvalidInput);
}

namespace {

// The query plan of `sql` on the file at `path`, one line per step.
std::string raw_plan(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string plan;
  while (sqlite3_step(stmt) == SQLITE_ROW) plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3)) + std::string("\n");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return plan;
}

}  // namespace

TEST_CASE("sqlite: a version-20 database's lock-token indexes come to hold locked rows only; locks taken before "
          "the upgrade are acked and abandoned by their tokens",
          "[provider][sqlite][queues]") {
  auto f = make_provider("sqlite-file");
  schedule_activities(*f, {2, 3});
  std::optional<WorkerItem> work = f->provider().fetch_work_item(30'000);
  REQUIRE(work);
  f->provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "later", ""}, 0);
  OrchestrationItem turn = fetch(*f);
  f->sqlite.reset();
  raw_exec(f->path, testing::sqlite_undo_to_schema(20) + "PRAGMA user_version = 20");
  const std::string full_index = raw_query(f->path, "SELECT sql FROM sqlite_master WHERE name = 'worker_queue_by_token'");
  CHECK(full_index.find("WHERE") == std::string::npos);

  f->sqlite = std::make_unique<SqliteProvider>(f->path, f->clock, f->ids);
  CHECK(f->sqlite->schema_version() == SqliteProvider::kSchemaVersion);
  for (const char* index : {"orchestrator_queue_by_token", "worker_queue_by_token"}) {
    INFO(index);
    CHECK(raw_query(f->path, std::string("SELECT sql FROM sqlite_master WHERE name = '") + index + "'")
              .find("WHERE lock_token IS NOT NULL") != std::string::npos);
  }
  // Statements with the conditions by token of core/stores/sql/queue_core.hpp and
  // management_core.hpp (their WHERE clauses as written there) still read the token indexes.
  const std::vector<std::pair<const char*, const char*>> by_token = {
      {"DELETE FROM orchestrator_queue WHERE lock_token = ?1", "orchestrator_queue_by_token"},
      {"UPDATE orchestrator_queue SET lock_token = NULL WHERE lock_token = ?1", "orchestrator_queue_by_token"},
      {"DELETE FROM worker_queue WHERE lock_token = ?1 AND " DUROXIDE_LOCK_EXPIRY("locked_until") " > ?2",
       "worker_queue_by_token"},
      {"UPDATE worker_queue SET locked_until = ?3 WHERE lock_token = ?1 AND " DUROXIDE_LOCK_EXPIRY(
           "locked_until") " > ?2",
       "worker_queue_by_token"},
      {"SELECT COUNT(*) FROM worker_queue WHERE lock_token >= '' AND " DUROXIDE_LOCK_EXPIRY("locked_until") " > ?1",
       "worker_queue_by_token"},
  };
  for (const auto& [sql, index] : by_token) {
    INFO(sql);
    CHECK(raw_plan(f->path, sql).find(index) != std::string::npos);
  }

  // The locks taken before the upgrade hold, and their tokens still find their rows.
  CHECK(f->sqlite->get_queue_depths().worker_locked == 1);
  f->provider().ack_work_item(work->lock_token, work::ActivityCompleted{"i", 1, work->item.id, "done"});
  CHECK(f->sqlite->get_queue_depths().worker_locked == 0);
  f->provider().abandon_orchestration_item(turn.lock_token, 0, false);
  OrchestrationItem again = fetch(*f);
  CHECK(again.messages.size() == 2);  // the event and the completion
  std::optional<WorkerItem> other = f->provider().fetch_work_item(30'000);
  REQUIRE(other);
  CHECK(other->item.id != work->item.id);
}

TEST_CASE("sqlite: a failing housekeeping step does not stop the others; its error is thrown after them",
          "[provider][sqlite][retention]") {
  constexpr std::int64_t kDay = 24LL * 3600 * 1000;
  StoreOptions options;
  options.finished_retention_ms = kDay;
  auto f = make_provider("sqlite-file", options);
  create_instance(*f, "old", RuntimeState::Completed);
  raw_exec(f->path, "DROP TABLE parked_messages");  // the parked messages' trim fails from now on
  f->clock.advance(2 * kDay);
  CHECK(provider_error_kind([&] { f->provider().maintain(); }) == ProviderErrorKind::Permanent);
  CHECK_FALSE(f->management().get_instance_info("old").has_value());  // the purge ran all the same
}
