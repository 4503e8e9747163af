// What only PostgresProvider has (compiled only into builds that hold it): a server at the other end of a network
// connection (lost, refused, restarted), schemas sharing one database, and a
// connection string that may carry a password. The generic contract and
// management suites run on PostgreSQL through tests/provider_suite.hpp.
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "duroxide/postgres_provider.hpp"
#include "../../core/stores/postgres/postgres_connection.hpp"
#include "provider_suite.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

// Ends every server session whose application_name is `name`, as a server
// restart, a failover or a network cut would, from a connection of its own.
void terminate_sessions(const std::string& name) {
  PGconn* admin = PQconnectdb(postgres_conninfo());
  REQUIRE(PQstatus(admin) == CONNECTION_OK);
  const char* values[] = {name.c_str()};
  PGresult* result = PQexecParams(
      admin, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
      1, nullptr, values, nullptr, nullptr, 0);
  REQUIRE(PQresultStatus(result) == PGRES_TUPLES_OK);
  const int ended = std::atoi(PQgetvalue(result, 0, 0));
  PQclear(result);
  PQfinish(admin);
  REQUIRE(ended >= 1);
}

// Another session, inside a transaction that has taken a lock (`lock_sql`), holding it
// until release() or destruction.
class LockingSession {
 public:
  explicit LockingSession(const std::string& lock_sql) : session_(PQconnectdb(postgres_conninfo())) {
    REQUIRE(PQstatus(session_) == CONNECTION_OK);
    PGresult* locked = PQexec(session_, ("BEGIN; " + lock_sql).c_str());
    const bool ok = PQresultStatus(locked) == PGRES_COMMAND_OK || PQresultStatus(locked) == PGRES_TUPLES_OK;
    PQclear(locked);
    REQUIRE(ok);
  }
  LockingSession(const LockingSession&) = delete;
  LockingSession& operator=(const LockingSession&) = delete;
  ~LockingSession() { release(); }
  void release() { end("ROLLBACK"); }
  void commit() { end("COMMIT"); }

 private:
  void end(const char* how) {
    if (!session_) return;
    PQclear(PQexec(session_, how));
    PQfinish(session_);
    session_ = nullptr;
  }
  PGconn* session_;
};

// `schema`.history in EXCLUSIVE mode: writers of history block (inside their transaction),
// readers do not.
std::string history_lock(const std::string& schema) { return "LOCK TABLE " + schema + ".history IN EXCLUSIVE MODE"; }

// The lock that orders the change feed's writers (PostgresDialect::serialize_orchestration_acks).
std::string feed_writers_lock(const std::string& schema) {
  return "SELECT pg_advisory_xact_lock(hashtext('" + schema + ".orchestration_acks')::bigint)";
}

// The PostgreSQL tests need the server of scripts/with-postgres.sh.
#define SKIP_WITHOUT_POSTGRES()                                          \
  if (!postgres_conninfo()) {                                            \
    WARN("DUROXIDE_PG is not set: run under scripts/with-postgres.sh"); \
    return;                                                              \
  }

// "<instance> changed" or "<instance> deleted" for each change, in order.
std::vector<std::string> change_lines(const std::vector<InstanceChange>& changes) {
  std::vector<std::string> lines;
  for (const InstanceChange& change : changes) lines.push_back(change.instance + (change.deleted ? " deleted" : " changed"));
  return lines;
}

// Enqueues a start for `instance` and fetches it (the instance then holds a lock).
OrchestrationItem started_and_fetched(PostgresProvider& store, const std::string& instance) {
  store.enqueue_orchestrator_item(start_item(instance), 0);
  auto item = store.fetch_orchestration_item(30'000);
  REQUIRE(item.has_value());
  return std::move(*item);
}


// Whether a session named `application` comes to wait for a lock within 5 seconds.
bool waits_for_a_lock(const std::string& application) {
  for (int i = 0; i < 500; ++i) {
    PGconn* probe = PQconnectdb(postgres_conninfo());
    const char* values[] = {application.c_str()};
    PGresult* result = PQexecParams(probe,
                                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                                    "AND wait_event_type = 'Lock'",
                                    1, nullptr, values, nullptr, nullptr, 0);
    const bool waiting = PQresultStatus(result) == PGRES_TUPLES_OK && std::atoi(PQgetvalue(result, 0, 0)) > 0;
    PQclear(result);
    PQfinish(probe);
    if (waiting) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Runs `sql` (one or more statements) on a session of its own.
void admin_exec(const std::string& sql) {
  PGconn* admin = PQconnectdb(postgres_conninfo());
  REQUIRE(PQstatus(admin) == CONNECTION_OK);
  PQclear(PQexec(admin, "SET client_min_messages TO warning"));  // no NOTICEs of cascades
  PGresult* result = PQexec(admin, sql.c_str());
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK || PQresultStatus(result) == PGRES_TUPLES_OK;
  INFO(PQresultErrorMessage(result));
  PQclear(result);
  PQfinish(admin);
  REQUIRE(ok);
}

// create_instance of provider_suite.hpp, on a PostgresProvider of a test's own.
void create_instance_on(PostgresProvider& store, const std::string& instance, RuntimeState state,
                        const std::string& input = {}) {
  OrchestrationItem item = started_and_fetched(store, instance);
  OrchestrationAck ack;
  ack.history_delta = {Event{1, 0, 0, events::OrchestrationStarted{"Orch", "1.0.0", input, "", 0}}};
  ack.metadata = metadata(state);
  store.ack_orchestration_item(item.lock_token, ack);
}

std::string lines(const std::vector<std::string>& plan) {
  std::string text;
  for (const auto& line : plan) text += line + "\n";
  return text;
}

// Calls `call`; if it fails, the failure must be retryable and the retry must succeed.
template <typename F>
auto retried(F&& call, int* failures) {
  try {
    return call();
  } catch (const ProviderError& error) {
    INFO(error.what());
    CHECK(error.retryable());
    ++*failures;
    return call();
  }
}

struct Named {
  ManualClock clock;
  SequentialIdSource ids{"pg"};
  std::string application;
  PostgresOptions options;
  std::unique_ptr<PostgresProvider> store;

  explicit Named(const std::string& name) : application("duroxide_" + name) {
    options.schema = unique_schema(name);
    store = open();
    store->drop_schema();
    store = open();
  }
  ~Named() {
    try {
      store->drop_schema();
    } catch (const std::exception&) {
    }
  }
  std::unique_ptr<PostgresProvider> open() {
    return std::make_unique<PostgresProvider>(std::string(postgres_conninfo()) + " application_name=" + application,
                                              clock, ids, options);
  }
};

// Round trips a call makes to the server, from the store's diagnostics. Reading the
// count costs round trips of its own; measured once, then subtracted.
class RoundTrips {
 public:
  explicit RoundTrips(PostgresProvider& store) : store_(store) {
    const std::uint64_t first = count();
    reading_ = count() - first;
    REQUIRE(reading_ > 0);
  }
  std::uint64_t cost(const std::function<void()>& call) {
    const std::uint64_t before = count();
    call();
    return count() - before - reading_;
  }

 private:
  std::uint64_t count() { return store_.get_provider_diagnostics().round_trips; }
  PostgresProvider& store_;
  std::uint64_t reading_ = 0;
};

}  // namespace

TEST_CASE("postgres: a lost connection is a retryable error and the next call reconnects",
          "[provider][postgres]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("loss");
  PostgresProvider& store = *n.store;
  int failures = 0;

  // Between calls: the enqueue fails before anything reaches the server, or succeeds.
  terminate_sessions(n.application);
  retried([&] { store.enqueue_orchestrator_item(start_item("i"), 0); }, &failures);
  CHECK(store.get_queue_depths().orchestrator_visible == 1);

  // Between a fetch and its ack: the lock lives in the database, not in the
  // session, so the ack on the new session still owns the instance.
  auto item = store.fetch_orchestration_item(30'000);
  REQUIRE(item.has_value());
  terminate_sessions(n.application);
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.worker_items = {activity("i", 2)};
  ack.metadata = metadata();
  retried([&] { store.ack_orchestration_item(item->lock_token, ack); }, &failures);
  CHECK(store.read("i").size() == 1);
  CHECK(store.get_queue_depths().orchestrator_visible == 0);

  // The worker queue: the activity is handed out once and its completion applied once.
  terminate_sessions(n.application);
  auto work_item = retried([&] { return store.fetch_work_item(30'000); }, &failures);
  REQUIRE(work_item.has_value());
  CHECK_FALSE(store.fetch_work_item(30'000).has_value());
  terminate_sessions(n.application);
  retried([&] {
    store.ack_work_item(work_item->lock_token,
                        WorkItem{work::ActivityCompleted{"i", 1, 2, "out"}});
  }, &failures);
  CHECK(store.get_queue_depths().worker_visible == 0);
  auto completion = store.fetch_orchestration_item(30'000);
  REQUIRE(completion.has_value());
  CHECK(completion->messages.size() == 1);

  // Management reads recover the same way, and diagnostics tell what happened.
  terminate_sessions(n.application);
  auto info = retried([&] { return store.get_instance_info("i"); }, &failures);
  REQUIRE(info.has_value());
  CHECK(info->state == RuntimeState::Running);
  CHECK(failures >= 3);  // libpq notices a dead session only when it next uses it
  ProviderDiagnostics d = store.get_provider_diagnostics();
  CHECK(d.store_kind == "postgres");
  CHECK(d.connected);
  REQUIRE(d.last_error.has_value());
  CHECK(d.error_count >= static_cast<std::uint64_t>(failures));
}

TEST_CASE("postgres: a connection lost inside an ack rolls it back whole", "[provider][postgres]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("midack");
  PostgresProvider& store = *n.store;
  const OrchestrationItem item = started_and_fetched(store, "i");
  // Another session holds the history table, so the ack blocks on its first
  // history insert, inside its transaction; then the ack's session is ended.
  LockingSession blocker(history_lock(n.options.schema));

  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.worker_items = {activity("i", 2)};
  ack.metadata = metadata();
  std::optional<ProviderError> failure;
  std::thread acker([&] {
    try {
      store.ack_orchestration_item(item.lock_token, ack);
    } catch (const ProviderError& error) {
      failure = error;
    }
  });
  // Wait until the ack is blocked on the history table, inside its transaction.
  REQUIRE(waits_for_a_lock(n.application));
  terminate_sessions(n.application);
  acker.join();
  blocker.release();

  REQUIRE(failure.has_value());
  CHECK(failure->retryable());
  // Nothing of the ack is visible, and the same token completes it on a new session.
  CHECK(store.read("i").empty());
  CHECK(store.get_queue_depths().worker_visible == 0);
  store.ack_orchestration_item(item.lock_token, ack);
  CHECK(store.read("i").size() == 1);
  CHECK(store.get_queue_depths().worker_visible == 1);
}

TEST_CASE("postgres: an import waits for a start of the same id in flight", "[provider][postgres]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("importstart");
  PostgresProvider& store = *n.store;
  create_instance(store, "i", RuntimeState::Completed);
  const InstanceExport exported = store.export_instance("i");
  store.delete_instance("i", false);
  // Another session holds the lock a start of "i" takes (PostgresDialect::serialize_start):
  // the import must wait for it, or both would commit (the start's check cannot see the
  // import's uncommitted row) and the engine would drop the accepted start as a duplicate.
  LockingSession start_in_flight("SELECT pg_advisory_xact_lock(hashtext('" + n.options.schema + "'), hashtext('i'))");
  std::thread importer([&] { store.import_instance(exported); });
  const bool waited = waits_for_a_lock(n.application);
  start_in_flight.release();
  importer.join();
  CHECK(waited);
  CHECK(store.get_instance_info("i")->state == RuntimeState::Completed);
}

TEST_CASE("postgres: session cleanup leaves a session another owner took while it waited", "[provider][postgres]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("sessioncleanup");
  PostgresProvider& store = *n.store;
  const std::string sessions = n.options.schema + ".sessions";
  // Expired, and no queued row names it: the cleanup's to forget.
  admin_exec("INSERT INTO " + sessions + " (session_id, owner_id, locked_until, claimed_at) VALUES ('s', 'a', 0, 0)");
  // Another owner takes it (as a fetch's take_session does), its transaction still open:
  // the cleanup waits for the row, and must then see the new lock, not delete it.
  LockingSession taker("UPDATE " + sessions + " SET owner_id = 'b', locked_until = 9000000000000 WHERE session_id = 's'");
  std::size_t forgotten = 99;
  std::thread cleanup([&] { forgotten = store.cleanup_orphaned_sessions(); });
  const bool waited = waits_for_a_lock(n.application);
  taker.commit();
  cleanup.join();
  CHECK(waited);
  CHECK(forgotten == 0);
  const std::vector<SessionInfo> left = store.list_sessions("", 10);
  REQUIRE(left.size() == 1);
  CHECK(left[0].owner_id == "b");
}

TEST_CASE("postgres: an unreachable server and a bad schema name fail clearly", "[provider][postgres]") {
  ManualClock clock;
  SequentialIdSource ids;
  try {
    PostgresProvider("host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=2", clock, ids);
    FAIL("connected to nothing");
  } catch (const ProviderError& error) {
    CHECK(error.retryable());
    CHECK_THAT(error.what(), Catch::Contains("cannot connect"));
  }
  PostgresOptions bad;
  for (const char* schema : {"", "Upper", "x; DROP TABLE y", "1abc", "a-b"}) {
    bad.schema = schema;
    INFO(schema);
    try {
      PostgresProvider(postgres_conninfo() ? postgres_conninfo() : "host=127.0.0.1 port=1", clock, ids, bad);
      FAIL("accepted a bad schema name");
    } catch (const ProviderError& error) {
      CHECK(error.kind() == ProviderErrorKind::InvalidInput);
      CHECK_THAT(error.what(), Catch::Contains("schema name"));
    }
  }
  bad.schema = std::string(64, 'a');
  CHECK_THROWS_AS(PostgresProvider("host=127.0.0.1 port=1", clock, ids, bad), ProviderError);
}

TEST_CASE("postgres: schemas keep stores apart in one database; the password never shows",
          "[provider][postgres]") {
  SKIP_WITHOUT_POSTGRES();
  Named a("apart_a");
  Named b("apart_b");
  a.store->enqueue_orchestrator_item(start_item("i"), 0);
  CHECK(a.store->get_queue_depths().orchestrator_visible == 1);
  CHECK(b.store->get_queue_depths().orchestrator_visible == 0);
  CHECK_FALSE(b.store->fetch_orchestration_item(30'000).has_value());
  CHECK(a.store->fetch_orchestration_item(30'000).has_value());
  CHECK(a.store->schema_version() == PostgresProvider::kSchemaVersion);

  // Trust authentication ignores the password; diagnostics must not repeat it.
  ManualClock clock;
  SequentialIdSource ids;
  PostgresOptions options;
  options.schema = a.options.schema;
  PostgresProvider with_password(std::string(postgres_conninfo()) + " password=hunter2", clock, ids, options);
  ProviderDiagnostics d = with_password.get_provider_diagnostics();
  CHECK(d.location.find("hunter2") == std::string::npos);
  CHECK(d.location.find("host=127.0.0.1") != std::string::npos);
  CHECK(d.schema_version == PostgresProvider::kSchemaVersion);
}
TEST_CASE("postgres: an ack larger than one pipeline is still all or nothing", "[provider][postgres]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("bigack");
  PostgresProvider& store = *n.store;
  auto big_ack = [](int events, int duplicate_at) {
    OrchestrationAck ack;
    ack.history_delta.push_back(started_event());
    for (int i = 2; i <= events; ++i) {
      const EventId id = static_cast<EventId>(i == duplicate_at ? i - 1 : i);
      ack.history_delta.push_back(Event{id, 0, 0, events::TimerCreated{1000}});
    }
    for (int i = 0; i < 300; ++i) ack.worker_items.push_back(activity("i", static_cast<EventId>(10'000 + i)));
    ack.metadata = metadata();
    return ack;
  };
  const OrchestrationItem item = started_and_fetched(store, "i");
  // ~900 statements: several pipelines inside one transaction; the duplicate is in a late one.
  CHECK(provider_error_kind([&] { store.ack_orchestration_item(item.lock_token, big_ack(600, 550)); }) ==
        ProviderErrorKind::Conflict);
  CHECK(store.read("i").empty());
  CHECK(store.get_queue_depths().worker_visible == 0);
  CHECK_FALSE(store.get_instance_info("i").has_value());
  store.ack_orchestration_item(item.lock_token, big_ack(600, 0));
  CHECK(store.read("i").size() == 600);
  CHECK(store.get_queue_depths().worker_visible == 300);
}
TEST_CASE("postgres: text the server cannot store is an InvalidInput of that ack alone", "[provider][postgres][values]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("badtext");
  PostgresProvider& store = *n.store;
  const OrchestrationItem item = started_and_fetched(store, "i");
  OrchestrationAck ack;
  ack.history_delta.push_back(started_event());
  ack.metadata = metadata();
  ack.metadata.custom_status = std::string("\xFF\xFE");  // raw column text, not JSON
  ack.metadata.custom_status_changed = true;
  CHECK(provider_error_kind([&] { store.ack_orchestration_item(item.lock_token, ack); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(store.read("i").empty());
  // A NUL byte would be cut off silently by the C-string parameters.
  ack.metadata.custom_status = std::string("before\0after", 12);
  CHECK(provider_error_kind([&] { store.ack_orchestration_item(item.lock_token, ack); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(store.read("i").empty());
  ack.metadata.custom_status = std::string("fine");
  store.ack_orchestration_item(item.lock_token, ack);
  CHECK(store.read("i").size() == 1);
}
TEST_CASE("postgres: a search reads a bounded window per call and goes on where it stopped",
          "[provider][postgres][search]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("search_window");
  const std::string last = std::to_string(testing::kSearchWindowRows - 1);
  admin_exec("INSERT INTO " + n.options.schema +
             ".instances (instance_id, orchestration_name, orchestration_version, current_execution_id, status, "
             "custom_status_version, parent_id, created_at, updated_at, input) "
             "SELECT 's-' || lpad(g::text, 6, '0'), 'Orch', '1.0.0', 1, 'Running', 0, 0, 1000 + g, 1000 + g, "
             "CASE WHEN g = 0 OR g = " + last + " THEN 'needle ' || g ELSE 'hay' END "
             "FROM generate_series(0, " + last + ") g; ANALYZE " + n.options.schema + ".instances");
  testing::check_search_window(*n.store);
}

TEST_CASE("postgres: every listing page is read through an index, in index order",
          "[provider][postgres][indexes]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("indexes");
  // 50,000 instances, as the planner sees a production table (the test cluster's
  // locale is C.UTF-8, not C: the indexes must be bytewise to serve the ORDER BY).
  admin_exec(
      "INSERT INTO " + n.options.schema +
      ".instances (instance_id, orchestration_name, orchestration_version, current_execution_id, status, "
      "custom_status_version, parent_instance_id, parent_id, created_at, updated_at) "
      "SELECT CASE WHEN g % 2 = 0 THEN 'job-' ELSE 'a-' END || g, CASE WHEN g % 7 = 0 THEN 'Orch' ELSE 'Other' END, "
      "CASE WHEN g % 11 = 0 THEN '1.0.0' ELSE '2.0.0' END, 1, "
      "CASE WHEN g % 5 = 0 THEN 'Running' WHEN g % 13 = 0 THEN 'Failed' ELSE 'Completed' END, 0, "
      "CASE WHEN g % 9 = 0 THEN 'root' END, 0, 1700000000000 + g / 3, 1700000000000 + g "
      "FROM generate_series(1, 50000) g; ANALYZE " + n.options.schema + ".instances");
  // Queued work for the ready-work filter: 50,000 rows on each queue, 2 % ready before its time.
  admin_exec("INSERT INTO " + n.options.schema +
             ".orchestrator_queue (instance_id, kind, item_json, visible_at, enqueued_at) "
             "SELECT 'job-' || (2 * g), 'ExternalRaised', '{}', 1700000000000 + g * 50, 0 "
             "FROM generate_series(1, 50000) g; ANALYZE " + n.options.schema + ".orchestrator_queue");
  admin_exec("INSERT INTO " + n.options.schema +
             ".worker_queue (instance_id, execution_id, activity_id, item_json, visible_at, enqueued_at) "
             "SELECT 'a-' || (2 * g + 1), 1, 1, '{}', 1700000000000 + g * 50, 0 "
             "FROM generate_series(1, 50000) g; ANALYZE " + n.options.schema + ".worker_queue");

  const std::vector<InstanceFilter> filters = listing_filters();
  using Query = PostgresProvider::ListingQuery;
  for (std::size_t i = 0; i < filters.size(); ++i) {
    for (const char* cursor : {"", "1700000010000|job-30000"}) {
      auto plan = n.store->explain_listing(filters[i], {cursor, 50}, Query::List);
      const std::string text = lines(plan);
      INFO("filter " << i << " cursor '" << cursor << "'\n" << text);
      CHECK(text.find("Seq Scan") == std::string::npos);
      CHECK(text.find("Index") != std::string::npos);
    }
  }
  // The common dashboard pages come straight off an index, with no sort at all.
  for (std::size_t i : {0, 1, 3, 4, 8}) {
    auto plan = n.store->explain_listing(filters[i], {"1700000010000|job-30000", 50}, Query::List);
    const std::string text = lines(plan);
    INFO("filter " << i << "\n" << text);
    CHECK(text.find("Sort") == std::string::npos);
  }
  // Counts with a selective filter use an index too.
  for (std::size_t i : {6, 10}) {  // ~11% and ~1% of the rows; a count of 20% rightly scans
    auto plan = n.store->explain_listing(filters[i], {}, Query::CountByStatus);
    const std::string text = lines(plan);
    INFO("filter " << i << "\n" << text);
    CHECK(text.find("Index") != std::string::npos);
  }
  // Counts by states, name, version and roots read the trigger-kept counts,
  // which the 50,000-row load kept exact.
  for (std::size_t i : {0, 1, 2, 3, 4, 7}) {
    for (Query query : {Query::Count, Query::CountByStatus}) {
      const std::string text = lines(n.store->explain_listing(filters[i], {}, query));
      INFO("filter " << i << "\n" << text);
      CHECK(text.find("instance_counts") != std::string::npos);
      CHECK(text.find(" instances ") == std::string::npos);
    }
    InstanceFilter scanned = filters[i];
    scanned.created_from_ms = 1;
    CHECK(n.store->count_by_status(filters[i]) == n.store->count_by_status(scanned));
  }
  CHECK(n.store->count_instances({}) == 50'000);
}

TEST_CASE("postgres: a version-5 schema is migrated with its instances counted in", "[provider][postgres]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("migrate5");
  create_instance_on(*n.store, "done", RuntimeState::Completed, R"(please "backfill me")");
  create_instance_on(*n.store, "running", RuntimeState::Running);
  const std::string& s = n.options.schema;
  // Back to schema 19 (before the tagged worker rows' index), 18 (before the untagged
  // worker rows' index), 17 (before activity sessions), 16 (before executions' pinned versions),
  // 15 (before worker rows' tags), 13 (before the timers' index), 12 (before kept pending
  // work), 11 (before tenants), then further back to 5.
  admin_exec("DROP INDEX " + s + ".worker_queue_by_tag; DROP INDEX " + s + ".worker_queue_untagged; DROP TABLE " + s + ".sessions; DROP INDEX " + s +
             ".worker_queue_by_session; ALTER TABLE " + s +
             ".worker_queue DROP COLUMN session_id");
  admin_exec("ALTER TABLE " + s + ".executions DROP COLUMN pinned_major, DROP COLUMN pinned_minor, "
             "DROP COLUMN pinned_patch");
  admin_exec("ALTER TABLE " + s + ".worker_queue DROP COLUMN tag");
  admin_exec("DROP INDEX " + s + ".orchestrator_queue_timers");
  admin_exec("ALTER TABLE " + s + ".instances DROP COLUMN pending_json");
  admin_exec("DROP TRIGGER instance_counts_on_update ON " + s + ".instances; DROP INDEX " + s +
             ".instances_by_tenant; ALTER TABLE " + s + ".instances DROP COLUMN tenant; " +
             "DROP INDEX " + s + ".changes_by_tenant; ALTER TABLE " + s + ".changes DROP COLUMN tenant; " +
             "ALTER TABLE " + s + ".activity_stats DROP COLUMN tenant; ALTER TABLE " + s +
             ".activity_stats ADD PRIMARY KEY (activity_name); ALTER TABLE " + s + ".metric_buckets DROP COLUMN tenant; " +
             "ALTER TABLE " + s + ".metric_buckets ADD PRIMARY KEY (resolution, bucket_start, orchestration_name)");
  admin_exec("DROP TABLE " + n.options.schema + ".instance_counts; DROP FUNCTION " + n.options.schema +
             ".instance_counts_keep CASCADE; DROP TABLE " + n.options.schema + ".kv_values; ALTER TABLE " +
             n.options.schema + ".instances DROP COLUMN unconsumed_messages; DROP INDEX " + n.options.schema +
             ".executions_continued; DROP INDEX " + n.options.schema + ".instances_by_status_updated; DROP TABLE " +
             n.options.schema + ".execution_durations; DROP INDEX " + n.options.schema + ".instances_by_duration; ALTER TABLE " +
             n.options.schema + ".instances DROP COLUMN input; UPDATE " + n.options.schema + ".schema_version SET version = 5");
  n.store = n.open();
  CHECK(n.store->schema_version() == PostgresProvider::kSchemaVersion);
  CHECK(n.store->get_execution_durations("Orch", 0, "").count == 1);  // filled from the finished execution (version 10)
  CHECK(n.store->get_kv_all_values("done").empty());  // the key-value table exists (version 7)
  InstanceFilter searched;
  searched.contains = "backfill me";
  const InstancePage found = n.store->list_instances(searched, {});  // the input column is filled (version 11)
  REQUIRE(found.instances.size() == 1);
  CHECK(found.instances[0].instance == "done");
  std::map<RuntimeState, std::uint64_t> expected{
      {RuntimeState::Running, 1}, {RuntimeState::Completed, 1}, {RuntimeState::Failed, 0}};
  CHECK(n.store->count_by_status({}) == expected);
  create_instance_on(*n.store, "later", RuntimeState::Failed);  // the triggers are back
  expected[RuntimeState::Failed] = 1;
  CHECK(n.store->count_by_status({}) == expected);
  admin_exec("UPDATE " + n.options.schema + ".schema_version SET version = 4");
  try {
    n.open();
    FAIL("a version-4 schema opened");
  } catch (const ProviderError& error) {
    CHECK(std::string(error.what()).find("no migration path") != std::string::npos);
  }
}

TEST_CASE("postgres: one provider serves calls from several threads at once", "[provider][postgres]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("pool");
  PostgresProvider& store = *n.store;
  const OrchestrationItem item = started_and_fetched(store, "i");
  // An ack that cannot finish while another session holds the history table...
  LockingSession blocker(history_lock(n.options.schema));
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();
  auto acked = std::async(std::launch::async, [&] { store.ack_orchestration_item(item.lock_token, ack); });
  CHECK(acked.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
  // ...does not hold up other calls on the same provider: they take another connection.
  auto other = std::async(std::launch::async, [&] {
    store.enqueue_orchestrator_item(start_item("j"), 0);
    return store.get_queue_depths().orchestrator_visible;
  });
  const bool other_done = other.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  const bool ack_still_blocked = acked.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout;
  blocker.release();  // before any REQUIRE: the futures' destructors wait
  REQUIRE(other_done);
  CHECK(other.get() >= 1);
  CHECK(ack_still_blocked);
  REQUIRE(acked.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  acked.get();
  CHECK(store.read("i").size() == 1);

  // The pool's size is an input like any other.
  ManualClock clock;
  SequentialIdSource ids;
  for (std::size_t connections : {std::size_t{0}, std::size_t{65}}) {
    PostgresOptions options;
    options.schema = n.options.schema;
    options.connections = connections;
    CHECK(provider_error_kind([&] { PostgresProvider(postgres_conninfo(), clock, ids, options); }) ==
          ProviderErrorKind::InvalidInput);
  }
}

TEST_CASE("postgres: batched acks of two processes that update shared rows in opposite orders all commit",
          "[provider][postgres][batch]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("batches");
  std::unique_ptr<PostgresProvider> other = n.open();
  PostgresProvider* stores[2] = {n.store.get(), other.get()};
  constexpr int kRounds = 12;
  std::mutex mutex;
  std::condition_variable turn;
  int arrived = 0;
  auto both_ready = [&](int round) {  // both threads ack round `round` at the same moment
    std::unique_lock<std::mutex> lock(mutex);
    ++arrived;
    turn.notify_all();
    turn.wait(lock, [&] { return arrived >= 2 * (round + 1); });
  };
  std::vector<std::string> failures[2];
  auto process = [&](int p) {
    for (int round = 0; round < kRounds; ++round) {
      std::vector<OrchestrationAckRequest> requests;
      for (int k = 0; k < 2; ++k) {
        const std::string id = "p" + std::to_string(p) + "-" + std::to_string(round) + "-" + std::to_string(k);
        stores[p]->enqueue_orchestrator_item(start_item(id), 0);
        // An item for this fetch is always queued (each process queues one before each
        // fetch), but a fetch may come back empty while the other process's fetch holds
        // the only candidate its snapshot sees: fetch again.
        std::optional<OrchestrationItem> item;
        for (int attempt = 0; attempt < 1000 && !item; ++attempt) item = stores[p]->fetch_orchestration_item(30'000);
        if (!item) {
          failures[p].push_back("no item to fetch for " + id);
          continue;
        }
        OrchestrationAck ack;
        ack.history_delta = {started_event()};
        ack.metadata = metadata();
        ack.metadata.orchestration_name = "Orch" + std::to_string(p);  // counted in rows of its own
        // Process 0 touches activity rows A then B, process 1 B then A.
        ack.activity_outcomes = {{std::string(1, static_cast<char>('A' + ((k + p) % 2))), ActivityOutcome::Kind::Scheduled, 0}};
        requests.push_back({item->lock_token, ack});
      }
      both_ready(round);
      for (const AckOutcome& outcome : stores[p]->ack_orchestration_items(requests)) {
        if (outcome) failures[p].push_back(outcome->what());
      }
    }
  };
  std::thread first(process, 0);
  process(1);
  first.join();
  CHECK(failures[0] == std::vector<std::string>{});
  CHECK(failures[1] == std::vector<std::string>{});
  CHECK(n.store->count_instances({}) == 4 * kRounds);
}

// The change-feed race tests' start: y created and finished by another process, x
// fetched with its first ack ready, and a reader's position before both.
struct FeedRace {
  explicit FeedRace(const std::string& name) : n(name), other(n.open()) {
    create_instance_on(*other, "y", RuntimeState::Completed);
    cursor = n.store->changes_since(0, 100, "").next_cursor;
    item = started_and_fetched(*n.store, "x");
    ack.history_delta = {started_event()};
    ack.metadata = metadata();
  }
  // Reads the feed from the cursor, going on from the end of what it read.
  void read() {
    ChangePage page = n.store->changes_since(cursor, 100, "");
    if (!page.changes.empty()) cursor = page.next_cursor;
    seen.insert(seen.end(), page.changes.begin(), page.changes.end());
  }

  Named n;
  std::unique_ptr<PostgresProvider> other;
  std::uint64_t cursor = 0;
  OrchestrationItem item;
  OrchestrationAck ack;
  std::vector<InstanceChange> seen;
};

TEST_CASE("postgres: a reader of the change feed never passes a change another process commits later",
          "[provider][postgres][changes]") {
  SKIP_WITHOUT_POSTGRES();
  FeedRace race("feed");
  {
    LockingSession writers(feed_writers_lock(race.n.options.schema));
    // A batch's ack of x and a delete of y, each waiting on the lock (before it, the ack
    // drew its feed number and the delete wrote its row unordered).
    std::thread ack_x([&] { race.n.store->ack_orchestration_items({{race.item.lock_token, race.ack}}); });
    std::thread delete_y([&] { race.other->delete_instance("y", true); });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    race.read();
    writers.release();
    ack_x.join();
    delete_y.join();
  }
  race.read();
  std::vector<std::string> changes = change_lines(race.seen);
  std::sort(changes.begin(), changes.end());
  CHECK(changes == std::vector<std::string>{"x changed", "y deleted"});
}

TEST_CASE("postgres: a reader of the change feed never passes a deletion that commits later",
          "[provider][postgres][changes]") {
  SKIP_WITHOUT_POSTGRES();
  FeedRace race("feeddelete");
  {
    // Holds the delete of y at its removal of key-value rows, which x's ack does not write.
    LockingSession rows("LOCK TABLE " + race.n.options.schema + ".kv_values IN EXCLUSIVE MODE");
    std::thread delete_y([&] { race.other->delete_instance("y", true); });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    race.n.store->ack_orchestration_items({{race.item.lock_token, race.ack}});
    race.read();
    rows.release();
    delete_y.join();
  }
  race.read();
  CHECK(change_lines(race.seen) == std::vector<std::string>{"x changed", "y deleted"});
  CHECK(race.n.store->count_instances({}) == 1);
}

TEST_CASE("postgres: two deletes of one instance leave one deletion in the change feed",
          "[provider][postgres][changes]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("feeddeletetwice");
  std::unique_ptr<PostgresProvider> first = n.open();
  std::unique_ptr<PostgresProvider> second = n.open();
  create_instance_on(*first, "y", RuntimeState::Completed);
  const std::uint64_t cursor = n.store->changes_since(0, 100, "").next_cursor;
  DeleteResult by_first;
  DeleteResult by_second;
  {
    // The first holds y's lock and waits at its key-value rows; the second waits for y's lock.
    LockingSession rows("LOCK TABLE " + n.options.schema + ".kv_values IN EXCLUSIVE MODE");
    std::thread one([&] { by_first = first->delete_instance("y", true); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::thread two([&] { by_second = second->delete_instance("y", true); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    rows.release();
    one.join();
    two.join();
  }
  CHECK(by_first.instances == 1);
  CHECK(by_second.instances == 0);
  const std::vector<std::string> changes = change_lines(n.store->changes_since(cursor, 100, "").changes);
  CHECK(changes == std::vector<std::string>{"y deleted"});
}

// A forced delete of a tree reads the tree, then locks its instances. A child whose start
// was queued and whose first turn commits in between is not in the tree it read; it must
// still go, with the children that first turn scheduled, or it runs on without its parent.
TEST_CASE("postgres: a tree delete takes a child whose first turn commits while the delete waits",
          "[provider][postgres][delete]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("deletechild");
  std::unique_ptr<PostgresProvider> other = n.open();
  // p runs and has scheduled c, whose start is queued.
  OrchestrationItem p = started_and_fetched(*n.store, "p");
  OrchestrationAck p_ack;
  p_ack.history_delta = {started_event(), Event{2, 0, 0, events::SubOrchestrationScheduled{"Orch", "c", "", ""}}};
  p_ack.metadata = metadata();
  p_ack.orchestrator_items = {{work::StartOrchestration{"c", "Orch", "", "", "p", 2, {}}, 0}};
  n.store->ack_orchestration_item(p.lock_token, p_ack);
  const std::uint64_t cursor = n.store->changes_since(0, 100, "").next_cursor;
  DeleteResult deleted;
  {
    // Holds p's lock row: the delete reads the tree (p alone), then waits to lock p.
    LockingSession hold("INSERT INTO " + n.options.schema +
                        ".instance_locks (instance_id, lock_token, locked_until, locked_at) VALUES ('p', 'held', 0, 0) "
                        "ON CONFLICT (instance_id) DO UPDATE SET lock_token = 'held'");
    std::thread remove([&] { deleted = other->delete_instance("p", true); });
    REQUIRE(waits_for_a_lock(n.application));
    // Meanwhile c's first turn commits: c gets its row and schedules a grandchild g.
    std::optional<OrchestrationItem> c = n.store->fetch_orchestration_item(30'000);
    REQUIRE(c.has_value());
    REQUIRE(c->instance == "c");
    OrchestrationAck c_ack;
    c_ack.history_delta = {started_event("Orch", 1, "p"),
                           Event{2, 0, 0, events::SubOrchestrationScheduled{"Orch", "g", "", ""}}};
    c_ack.metadata = metadata(RuntimeState::Running, "p");
    c_ack.orchestrator_items = {{work::StartOrchestration{"g", "Orch", "", "", "c", 2, {}}, 0}};
    n.store->ack_orchestration_item(c->lock_token, c_ack);
    hold.release();
    remove.join();
  }
  CHECK(n.store->count_instances({}) == 0);
  CHECK(n.store->read("c").empty());
  const QueueDepths depths = n.store->get_queue_depths();
  CHECK(depths.orchestrator_visible + depths.orchestrator_delayed + depths.orchestrator_locked + depths.parked == 0);  // g's start went too
  // c had a row when it went: it is counted, and the change feed tells of its deletion.
  CHECK(deleted.instances == 2);
  const std::vector<std::string> changes = change_lines(n.store->changes_since(cursor, 100, "").changes);
  CHECK(changes == std::vector<std::string>{"c changed", "p deleted", "c deleted"});
}

TEST_CASE("postgres: deleting a page of parked messages is one statement, whatever its length",
          "[provider][postgres][parked]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("parkeddelete");
  PostgresProvider& store = *n.store;
  for (int k = 0; k < 40; ++k) {
    store.enqueue_orchestrator_item(work::ExternalRaised{"ghost-" + std::to_string(k), "e", ""}, 0);
  }
  while (store.fetch_orchestration_item(30'000)) {
  }
  const std::vector<ParkedMessage> parked = store.list_parked_messages(0, 100);
  REQUIRE(parked.size() == 40);
  std::vector<std::int64_t> ids;
  for (const ParkedMessage& message : parked) ids.push_back(message.id);
  ids.push_back(parked.back().id + 1000);  // unknown: counts nothing
  RoundTrips trips(store);
  std::uint64_t deleted = 0;
  // BEGIN, the DELETE, COMMIT: not one statement per id.
  CHECK(trips.cost([&] { deleted = store.delete_parked_messages(ids); }) <= 3);
  CHECK(deleted == 40);
  CHECK(store.list_parked_messages(0, 100).empty());
}

TEST_CASE("postgres: an ack alone costs two round trips, a batch of orchestration acks two, of worker acks two",
          "[provider][postgres][batch]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("roundtrips");
  PostgresProvider& store = *n.store;
  RoundTrips trips(store);
  auto cost = [&](const std::function<void()>& call) { return trips.cost(call); };
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();

  for (const char* id : {"a", "b", "c", "d"}) store.enqueue_orchestrator_item(start_item(id), 0);
  const std::vector<OrchestrationItem> one = store.fetch_orchestration_items(30'000, 1);
  REQUIRE(one.size() == 1);
  ack.worker_items = {activity(one[0].instance, 2)};
  CHECK(cost([&] { store.ack_orchestration_item(one[0].lock_token, ack); }) == 2);
  const std::vector<OrchestrationItem> three = store.fetch_orchestration_items(30'000, 3);
  REQUIRE(three.size() == 3);
  std::vector<OrchestrationAckRequest> requests;
  for (const OrchestrationItem& item : three) {
    OrchestrationAck mine = ack;
    mine.worker_items = {activity(item.instance, 2)};
    requests.push_back({item.lock_token, mine});
  }
  std::vector<AckOutcome> outcomes;
  // One read holds the batch's locks; its writes go with the COMMIT.
  CHECK(cost([&] { outcomes = store.ack_orchestration_items(requests); }) == 2);
  for (const AckOutcome& outcome : outcomes) CHECK_FALSE(outcome.has_value());

  const std::vector<WorkerItem> work = store.fetch_work_items(30'000, 4);
  REQUIRE(work.size() == 4);
  auto completion = [](const WorkerItem& item) {
    return WorkItem{work::ActivityCompleted{item.item.instance, 1, item.item.id, "done"}};
  };
  CHECK(cost([&] { store.ack_work_item(work[0].lock_token, completion(work[0])); }) == 2);
  std::vector<WorkAckRequest> work_requests;
  for (std::size_t i = 1; i < work.size(); ++i) work_requests.push_back({work[i].lock_token, completion(work[i])});
  // One statement takes the batch's locks back; the completions go with the COMMIT.
  CHECK(cost([&] { outcomes = store.ack_work_items(work_requests); }) == 2);
  for (const AckOutcome& outcome : outcomes) CHECK_FALSE(outcome.has_value());
  CHECK(store.get_queue_depths().orchestrator_visible == 4);
}

TEST_CASE("postgres: a batch cancelling activities and a worker batch completing them take the rows in one order",
          "[provider][postgres][batch]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("cancelvsack");
  std::unique_ptr<PostgresProvider> worker_side = n.open();
  PostgresProvider& store = *n.store;
  // Whichever batch lists its rows against key order, both must take i1's row first.
  // Another session holds one row: the one the batch in key order would then hold the
  // other's against.
  std::vector<const char*> completed = {"i1", "i2"};  // the worker batch's order, and the rows'
  std::string held = "i1";
  SECTION("the cancelling batch lists i2 first") {}
  SECTION("the worker batch lists i2 first, and i2's row comes first in the table") {
    completed = {"i2", "i1"};
    held = "i2";
  }
  for (const char* id : completed) {
    OrchestrationItem item = started_and_fetched(store, id);
    OrchestrationAck ack;
    ack.history_delta = {started_event()};
    ack.worker_items = {activity(id, 2)};
    ack.metadata = metadata();
    store.ack_orchestration_item(item.lock_token, ack);
  }
  std::map<std::string, WorkerItem> running;
  for (WorkerItem& item : worker_side->fetch_work_items(30'000, 2, TagFilter{})) running[item.item.instance] = item;
  REQUIRE(running.size() == 2);
  for (const char* id : {"i1", "i2"}) store.enqueue_orchestrator_item(work::ExternalRaised{id, "stop", "x"}, 0);
  std::map<std::string, OrchestrationItem> turns;
  for (OrchestrationItem& item : store.fetch_orchestration_items(30'000, 2)) turns[item.instance] = item;
  REQUIRE(turns.size() == 2);
  // Each turn cancels its activity; the batch lists i2 before i1.
  std::vector<OrchestrationAckRequest> cancels;
  for (const char* id : {"i2", "i1"}) {
    OrchestrationAck ack;
    ack.history_delta = {Event{2, 0, 0, events::ExternalEvent{"stop", "x"}}};
    ack.metadata = metadata();
    ack.cancelled_activities = {CancelledActivity{id, 1, 2}};
    cancels.push_back({turns[id].lock_token, ack});
  }
  std::vector<WorkAckRequest> completions;
  for (const char* id : completed) {
    completions.push_back({running[id].lock_token, WorkItem{work::ActivityCompleted{id, 1, 2, "done"}}});
  }
  std::vector<std::string> failures;
  std::mutex failures_lock;
  auto note = [&](const std::vector<AckOutcome>& outcomes) {
    std::lock_guard<std::mutex> guard(failures_lock);
    for (const AckOutcome& outcome : outcomes) {
      if (outcome) failures.push_back(outcome->what());
    }
  };
  auto guarded_call = [&](const std::function<std::vector<AckOutcome>()>& call) {
    try {
      note(call());
    } catch (const ProviderError& error) {
      std::lock_guard<std::mutex> guard(failures_lock);
      failures.push_back(error.what());
    }
  };
  {
    // The worker batch starts first, then the orchestration batch. With i1's row held, the
    // worker batch waits for it holding nothing, and a cancelling batch that took i2's row
    // first (its acks' order) would then hold it against the worker batch. With i2's held,
    // a worker batch taking its rows in its acks' order (i2, then i1) would want i1 once it
    // has i2, while the cancelling batch holds i1 and waits for i2.
    LockingSession row("SELECT 1 FROM " + n.options.schema + ".worker_queue WHERE instance_id = '" + held +
                       "' FOR UPDATE");
    std::thread complete([&] { guarded_call([&] { return worker_side->ack_work_items(completions); }); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::thread cancel([&] { guarded_call([&] { return store.ack_orchestration_items(cancels); }); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    row.release();
    complete.join();
    cancel.join();
  }
  CHECK(failures == std::vector<std::string>{});
  CHECK(store.get_queue_depths().worker_visible + store.get_queue_depths().worker_locked == 0);
  CHECK(store.read("i1").size() == 2);
  CHECK(store.read("i2").size() == 2);
}

TEST_CASE("postgres: a forced delete of a running instance and a worker batch completing its activities take the rows "
          "in one order",
          "[provider][postgres][batch]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("deletevsack");
  std::unique_ptr<PostgresProvider> worker_side = n.open();
  PostgresProvider& store = *n.store;
  OrchestrationItem item = started_and_fetched(store, "i");
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.worker_items = {activity("i", 3), activity("i", 2)};  // activity 3's row first in the table
  ack.metadata = metadata();
  store.ack_orchestration_item(item.lock_token, ack);
  std::vector<WorkerItem> running = worker_side->fetch_work_items(30'000, 2, TagFilter{});
  REQUIRE(running.size() == 2);
  std::vector<WorkAckRequest> completions;
  for (const WorkerItem& work : running) {
    completions.push_back({work.lock_token, WorkItem{work::ActivityCompleted{"i", 1, work.item.id, "done"}}});
  }
  std::vector<std::string> failures;
  std::mutex failures_lock;
  std::vector<AckOutcome> outcomes;
  {
    // Another session holds activity 2's row: the worker batch waits for it first (its
    // order: 2, then 3), then the delete, which must take 2 first too; taking the rows in
    // the table's order (3 first), the two would wait for each other.
    LockingSession row("SELECT 1 FROM " + n.options.schema + ".worker_queue WHERE activity_id = 2 FOR UPDATE");
    std::thread complete([&] {
      try {
        outcomes = worker_side->ack_work_items(completions);
      } catch (const ProviderError& error) {
        std::lock_guard<std::mutex> guard(failures_lock);
        failures.push_back(error.what());
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::thread remove([&] {
      try {
        store.delete_instance("i", true);
      } catch (const ProviderError& error) {
        std::lock_guard<std::mutex> guard(failures_lock);
        failures.push_back(error.what());
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    row.release();
    complete.join();
    remove.join();
  }
  CHECK(failures == std::vector<std::string>{});
  // The worker batch committed first; the delete then removed the instance and the
  // completions it queued.
  REQUIRE(outcomes.size() == 2);
  for (const AckOutcome& outcome : outcomes) CHECK_FALSE(outcome.has_value());
  CHECK(store.get_instance_info("i") == std::nullopt);
  const QueueDepths depths = store.get_queue_depths();
  CHECK(depths.worker_visible + depths.worker_locked + depths.orchestrator_visible + depths.orchestrator_locked == 0);
}

TEST_CASE("postgres: acks the server refuses in a batch's pipeline fail alone and the rest commit",
          "[provider][postgres][batch]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("pipelined");
  PostgresProvider& store = *n.store;
  std::vector<OrchestrationItem> batch = started_batch(store, {"a", "b", "c", "d", "e"});
  const OrchestrationAck good = first_turn_ack();
  OrchestrationAck duplicate = good;
  duplicate.history_delta.push_back(started_event());  // event id 1 twice: the server's unique index
  OrchestrationAck bad_text = good;
  bad_text.metadata.custom_status = std::string("\xFF\xFE");  // the server refuses it as UTF-8
  bad_text.metadata.custom_status_changed = true;
  const std::uint64_t first = store.get_provider_diagnostics().round_trips;
  const std::uint64_t before = store.get_provider_diagnostics().round_trips;
  const std::uint64_t reading = before - first;
  // Both refusals reach the server only with the COMMIT: the batch runs three times.
  std::vector<AckOutcome> outcomes = store.ack_orchestration_items({{batch[0].lock_token, good},
                                                                     {batch[1].lock_token, duplicate},
                                                                     {batch[2].lock_token, good},
                                                                     {batch[3].lock_token, bad_text},
                                                                     {batch[4].lock_token, good}});
  const std::uint64_t after = store.get_provider_diagnostics().round_trips;
  REQUIRE(outcomes.size() == 5);
  CHECK_FALSE(outcomes[0].has_value());
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->kind() == ProviderErrorKind::Conflict);
  CHECK_FALSE(outcomes[2].has_value());
  REQUIRE(outcomes[3].has_value());
  CHECK(outcomes[3]->kind() == ProviderErrorKind::InvalidInput);
  CHECK_FALSE(outcomes[4].has_value());
  CHECK(after - before - reading == 3 * 2 + 2);  // three attempts of two round trips; two ROLLBACKs
  for (const OrchestrationItem& item : batch) {
    const bool acked = item.instance != batch[1].instance && item.instance != batch[3].instance;
    CHECK(store.read(item.instance).size() == (acked ? 1u : 0u));
  }
  CHECK(store.count_instances({}) == 3);
  // The refused acks keep their locks, as after a refused single ack.
  CHECK_FALSE(store.ack_orchestration_items({{batch[1].lock_token, good}, {batch[3].lock_token, good}})
                  .front()
                  .has_value());
  CHECK(store.count_instances({}) == 5);
}

TEST_CASE("postgres: a read-only open neither creates nor migrates a schema; it reads one of this build",
          "[provider][postgres]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("readonly");
  n.store->enqueue_orchestrator_item(start_item("kept"), 0);
  PostgresOptions read_only = n.options;
  read_only.read_only = true;
  auto open = [&](const PostgresOptions& options) {
    return std::make_unique<PostgresProvider>(postgres_conninfo(), n.clock, n.ids, options);
  };
  CHECK(open(read_only)->get_queue_depths().orchestrator_visible == 1);

  PostgresOptions missing = read_only;
  missing.schema = n.options.schema + "_none";
  try {
    open(missing);
    FAIL("a read-only open of a missing schema succeeded");
  } catch (const ProviderError& error) {
    CHECK(error.kind() == ProviderErrorKind::Permanent);
    CHECK(std::string(error.what()).find("opened read-only, none is created") != std::string::npos);
  }
  PGconn* admin = PQconnectdb(postgres_conninfo());
  REQUIRE(PQstatus(admin) == CONNECTION_OK);
  const char* values[] = {missing.schema.c_str()};
  PGresult* result =
      PQexecParams(admin, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", 1, nullptr, values, nullptr, nullptr, 0);
  REQUIRE(PQresultStatus(result) == PGRES_TUPLES_OK);
  CHECK(std::string(PQgetvalue(result, 0, 0)) == "0");  // not created
  PQclear(result);
  PQfinish(admin);
}

TEST_CASE("postgres: an ack of a batch refused while a full pipeline has sent part of it fails alone and writes nothing",
          "[provider][postgres][batch]") {
  SKIP_WITHOUT_POSTGRES();
  // The first of a batch of two acks, with more worker rows than one pipeline holds, is
  // refused by `refuse`; the second commits, and nothing of the first is written.
  auto first_refused = [](const char* name, const std::function<void(OrchestrationAck&)>& refuse,
                          ProviderErrorKind kind) {
    INFO(name);
    Named n(name);
    PostgresProvider& store = *n.store;
    std::vector<OrchestrationItem> batch = started_batch(store, {"a", "b"});
    const OrchestrationAck good = first_turn_ack();
    OrchestrationAck refused = good;
    for (int i = 0; i < 300; ++i) {
      refused.worker_items.push_back(activity(batch[0].instance, static_cast<EventId>(10'000 + i)));
    }
    refuse(refused);
    const std::vector<AckOutcome> outcomes =
        store.ack_orchestration_items({{batch[0].lock_token, refused}, {batch[1].lock_token, good}});
    REQUIRE(outcomes.size() == 2);
    REQUIRE(outcomes[0].has_value());
    CHECK(outcomes[0]->kind() == kind);
    CHECK_FALSE(outcomes[1].has_value());
    CHECK(store.read(batch[0].instance).empty());
    CHECK(store.read(batch[1].instance).size() == 1);
    CHECK(store.get_queue_depths().worker_visible == 0);
  };
  // Event id 2 twice (the history is written before the worker rows): the server refuses
  // it in the flush a full pipeline makes while the ack is still being written.
  first_refused("midflush", [](OrchestrationAck& ack) {
    ack.history_delta.push_back(Event{2, 0, 0, events::TimerCreated{1000}});
    ack.history_delta.push_back(Event{2, 0, 0, events::TimerCreated{1000}});
  }, ProviderErrorKind::Conflict);
  // A worker item the store refuses itself, after a full pipeline sent the first rows.
  first_refused("partsent", [](OrchestrationAck& ack) { ack.worker_items.push_back(start_item("not-work")); },
                ProviderErrorKind::InvalidInput);
}

TEST_CASE("postgres: each statement is parsed once per connection, and again on the connection after a reconnect",
          "[provider][postgres]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("prepared");
  PostgresProvider& store = *n.store;
  auto prepared = [&] { return store.get_provider_diagnostics().statements_prepared; };
  // One instance through its first turn, its activity and its second turn.
  auto one_instance = [&](const std::string& id) {
    store.enqueue_orchestrator_item(start_item(id), 0);
    OrchestrationItem turn = store.fetch_orchestration_item(30'000).value();
    OrchestrationAck ack;
    ack.history_delta = {started_event()};
    ack.worker_items = {activity(id, 2)};
    ack.metadata = metadata();
    store.ack_orchestration_item(turn.lock_token, ack);
    WorkerItem work = store.fetch_work_item(30'000).value();
    store.ack_work_item(work.lock_token, WorkItem{work::ActivityCompleted{id, 1, 2, "out"}});
    OrchestrationItem next = store.fetch_orchestration_item(30'000).value();
    REQUIRE(next.messages.size() == 1);
    OrchestrationAck done;
    done.metadata = metadata(RuntimeState::Completed);
    store.ack_orchestration_item(next.lock_token, done);
    CHECK(store.get_instance_info(id).value().state == RuntimeState::Completed);
  };

  one_instance("a");
  const std::uint64_t first = prepared();
  CHECK(first > 0);
  // The same statements again: nothing new to parse.
  one_instance("b");
  one_instance("c");
  CHECK(prepared() == first);

  // A new server connection does not know the old one's statements: it parses them again
  // instead of naming statements the server no longer has.
  terminate_sessions(n.application);
  int failures = 0;
  retried([&] { store.enqueue_orchestrator_item(start_item("d"), 0); }, &failures);
  REQUIRE(store.fetch_orchestration_item(30'000).has_value());
  CHECK(prepared() > first);
  const std::uint64_t again = prepared();
  one_instance("e");
  const std::uint64_t after_e = prepared();
  one_instance("f");
  CHECK(prepared() == after_e);
  CHECK(again <= after_e);
}

TEST_CASE("postgres: a batch fetch costs the same round trips whatever its size", "[provider][postgres][batch]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("fetchtrips");
  PostgresProvider& store = *n.store;
  RoundTrips trips(store);
  for (int i = 0; i < 8; ++i) store.enqueue_orchestrator_item(start_item("i" + std::to_string(i)), 0);
  std::vector<OrchestrationItem> one;
  std::vector<OrchestrationItem> seven;
  const std::uint64_t for_one = trips.cost([&] { one = store.fetch_orchestration_items(30'000, 1); });
  const std::uint64_t for_seven = trips.cost([&] { seven = store.fetch_orchestration_items(30'000, 7); });
  REQUIRE(one.size() == 1);
  REQUIRE(seven.size() == 7);
  CHECK(for_seven == for_one);
  CHECK(for_one <= 6);  // candidates, claims, messages, instance rows (histories when they exist), COMMIT

  seven.push_back(one.front());
  std::vector<OrchestrationAckRequest> requests;
  for (const OrchestrationItem& item : seven) {
    OrchestrationAck ack;
    ack.history_delta = {started_event()};
    ack.worker_items = {activity(item.instance, 2)};
    ack.metadata = metadata();
    requests.push_back({item.lock_token, ack});
  }
  for (const AckOutcome& outcome : store.ack_orchestration_items(requests)) CHECK_FALSE(outcome.has_value());
  std::vector<WorkerItem> work_one;
  std::vector<WorkerItem> work_seven;
  const std::uint64_t work_for_one = trips.cost([&] { work_one = store.fetch_work_items(30'000, 1); });
  const std::uint64_t work_for_seven = trips.cost([&] { work_seven = store.fetch_work_items(30'000, 7); });
  REQUIRE(work_one.size() == 1);
  REQUIRE(work_seven.size() == 7);
  CHECK(work_for_seven == work_for_one);
  CHECK(work_for_one == 2);  // the rows, then the claims with the COMMIT
}

TEST_CASE("postgres: a start costs one round trip, a refused one too, and the refusal writes nothing",
          "[provider][postgres][start]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("starttrips");
  PostgresProvider& store = *n.store;
  RoundTrips trips(store);
  // BEGIN, the id's lock, the check with the insert, and the COMMIT in one pipeline.
  CHECK(trips.cost([&] { store.enqueue_start(start_item("s")); }) == 1);
  ProviderErrorKind refused = ProviderErrorKind::Permanent;
  std::string refusal;
  const std::uint64_t for_refusal = trips.cost([&] {
    try {
      store.enqueue_start(start_item("s"));
    } catch (const ProviderError& error) {
      refused = error.kind();
      refusal = error.what();
    }
  });
  CHECK(refused == ProviderErrorKind::Conflict);
  CHECK(refusal.find("instance s already exists") != std::string::npos);
  CHECK(for_refusal == 1);  // the same pipeline, whose insert queued nothing
  CHECK(store.get_queue_depths().orchestrator_visible == 1);
  // The started instance runs as queued: its one message is the first start.
  std::vector<OrchestrationItem> items = store.fetch_orchestration_items(30'000, 4);
  REQUIRE(items.size() == 1);
  REQUIRE(items[0].messages.size() == 1);
  CHECK(std::holds_alternative<work::StartOrchestration>(items[0].messages[0]));
}

TEST_CASE("postgres: an activity name the server cannot store fails its own ack of a batch, not the batch",
          "[provider][postgres][values][batch]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("badactivity");
  PostgresProvider& store = *n.store;
  std::vector<OrchestrationItem> batch = started_batch(store, {"a", "b", "c", "d"});
  // The batch's activity statistics are written once, after every ack: the names
  // are checked at their own ack.
  const std::string names[] = {"Good", std::string("nul\0inside", 10), "\xFF\xFE", "Good"};
  std::vector<OrchestrationAckRequest> requests;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    OrchestrationAck ack;
    ack.history_delta = {started_event()};
    ack.metadata = metadata();
    ack.activity_outcomes = {{names[i], ActivityOutcome::Kind::Scheduled, 0}};
    requests.push_back({batch[i].lock_token, ack});
  }
  std::vector<AckOutcome> outcomes = store.ack_orchestration_items(requests);
  REQUIRE(outcomes.size() == 4);
  CHECK_FALSE(outcomes[0].has_value());
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->kind() == ProviderErrorKind::InvalidInput);
  REQUIRE(outcomes[2].has_value());
  CHECK(outcomes[2]->kind() == ProviderErrorKind::InvalidInput);
  CHECK_FALSE(outcomes[3].has_value());
  CHECK(store.count_instances({}) == 2);
  std::vector<ActivityStats> stats = store.get_activity_stats("", "");
  REQUIRE(stats.size() == 1);
  CHECK(stats[0].activity_name == "Good");
  CHECK(stats[0].scheduled == 2);
}

// A fetch's claim may be lost to a server crash without harm (the item goes back
// to its queue, as when its lock expires); an ack's writes may not. Deferred
// triggers of the test's own record the setting each commit ran under.
TEST_CASE("postgres: a fetch commits without waiting for the disk, an ack and a start wait",
          "[provider][postgres][durability]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("commitwait");
  PostgresProvider& store = *n.store;
  const std::string& schema = n.options.schema;
  admin_exec("CREATE TABLE " + schema + ".commit_waits (what text, setting text);"
             "CREATE FUNCTION " + schema + ".record_commit_wait() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
             "  INSERT INTO " + schema + ".commit_waits VALUES (TG_ARGV[0], current_setting('synchronous_commit')); "
             "  RETURN NULL; END $$;"
             "CREATE CONSTRAINT TRIGGER claim AFTER INSERT OR UPDATE ON " + schema + ".instance_locks "
             "  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION " + schema + ".record_commit_wait('claim');"
             "CREATE CONSTRAINT TRIGGER work_claim AFTER UPDATE ON " + schema + ".worker_queue "
             "  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION " + schema + ".record_commit_wait('work claim');"
             "CREATE CONSTRAINT TRIGGER ack AFTER INSERT ON " + schema + ".history "
             "  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION " + schema + ".record_commit_wait('ack');"
             "CREATE CONSTRAINT TRIGGER enqueue AFTER INSERT ON " + schema + ".orchestrator_queue "
             "  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION " + schema + ".record_commit_wait('enqueue')");
  auto settings = [&](const std::string& what) {
    PGconn* admin = PQconnectdb(postgres_conninfo());
    REQUIRE(PQstatus(admin) == CONNECTION_OK);
    const std::string sql = "SELECT string_agg(DISTINCT setting, ',') FROM " + schema + ".commit_waits WHERE what = $1";
    const char* values[] = {what.c_str()};
    PGresult* result = PQexecParams(admin, sql.c_str(), 1, nullptr, values, nullptr, nullptr, 0);
    REQUIRE(PQresultStatus(result) == PGRES_TUPLES_OK);
    const std::string text = PQgetisnull(result, 0, 0) ? "(none)" : PQgetvalue(result, 0, 0);
    PQclear(result);
    PQfinish(admin);
    return text;
  };

  store.enqueue_start(start_item("a"));
  store.enqueue_orchestrator_item(start_item("b"), 0);
  const std::vector<OrchestrationItem> items = store.fetch_orchestration_items(30'000, 2);
  REQUIRE(items.size() == 2);
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();
  ack.worker_items = {activity(items[0].instance, 2)};
  store.ack_orchestration_item(items[0].lock_token, ack);
  const std::optional<WorkerItem> work = store.fetch_work_item(30'000);
  REQUIRE(work.has_value());

  CHECK(settings("claim") == "off");
  CHECK(settings("work claim") == "off");
  CHECK(settings("ack") == "on");
  CHECK(settings("enqueue") == "on");
}

TEST_CASE("postgres: a worker ack whose completion the server refuses fails alone, its row still locked",
          "[provider][postgres][batch][worker]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("workrefused");
  PostgresProvider& store = *n.store;
  OrchestrationItem item = started_and_fetched(store, "w");
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();
  ack.worker_items = {activity("w", 2), activity("w", 3), activity("w", 4)};
  store.ack_orchestration_item(item.lock_token, ack);
  const std::vector<WorkerItem> work = store.fetch_work_items(30'000, 3);
  REQUIRE(work.size() == 3);
  auto done = [](const WorkerItem& worker, const std::string& result) {
    return WorkItem{work::ActivityCompleted{"w", 1, worker.item.id, result}};
  };
  // Reaches the server only with the COMMIT: the batch runs again without it.
  const std::vector<AckOutcome> outcomes = store.ack_work_items({{work[0].lock_token, done(work[0], "a")},
                                                                 {work[1].lock_token, done(work[1], "\xFF\xFE")},
                                                                 {work[2].lock_token, done(work[2], "c")}});
  REQUIRE(outcomes.size() == 3);
  CHECK_FALSE(outcomes[0].has_value());
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->kind() == ProviderErrorKind::InvalidInput);
  CHECK_FALSE(outcomes[2].has_value());
  CHECK(store.get_queue_depths().worker_locked == 1);
  CHECK(store.get_queue_depths().orchestrator_visible == 2);
  CHECK_FALSE(store.ack_work_items({{work[1].lock_token, done(work[1], "b")}}).front().has_value());
  CHECK(store.get_queue_depths().orchestrator_visible == 3);
}

TEST_CASE("postgres: two processes racing to claim the same sessions never both run one session's items",
          "[provider][postgres][sessions]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("sessions");
  std::unique_ptr<PostgresProvider> other = n.open();
  PostgresProvider* stores[2] = {n.store.get(), other.get()};
  constexpr int kSessions = 32;
  constexpr int kPerSession = 4;
  n.store->enqueue_orchestrator_item(start_item("i"), 0);
  std::optional<OrchestrationItem> started = n.store->fetch_orchestration_item(30'000);
  REQUIRE(started.has_value());
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  for (int k = 0; k < kSessions * kPerSession; ++k) {
    const EventId id = static_cast<EventId>(2 + k);
    // A session's items side by side: the two fetches meet at each session's first rows.
    const std::string session = "s" + std::to_string(k / kPerSession);
    ack.history_delta.push_back(Event{id, 0, 0, events::ActivityScheduled{"Act", "in", "", session}});
    ack.worker_items.push_back(work::ActivityExecute{"i", 1, id, "Act", "in", "", session});
  }
  ack.metadata = metadata();
  n.store->ack_orchestration_item(started->lock_token, ack);

  std::map<std::string, std::set<int>> owners;  // session -> the processes that ran its items
  std::mutex mutex;
  std::atomic<int> taken{0};
  std::atomic<int> failed_acks{0};  // Catch2's checks are for the test's own thread
  auto process = [&](int p) {
    const SessionFetch owner{"node-" + std::to_string(p), 30'000};
    for (int idle = 0; idle < 200 && taken.load() < kSessions * kPerSession;) {
      std::vector<WorkerItem> batch = stores[p]->fetch_work_items(30'000, 1, TagFilter{}, &owner);
      if (batch.empty()) {
        ++idle;  // the rest belong to the other process, or its fetch holds them right now
        continue;
      }
      std::vector<WorkAckRequest> acks;
      for (const WorkerItem& item : batch) {
        std::lock_guard<std::mutex> lock(mutex);
        owners[item.item.session_id].insert(p);
        acks.push_back({item.lock_token, std::nullopt});
      }
      for (const AckOutcome& outcome : stores[p]->ack_work_items(acks)) {
        if (outcome) failed_acks += 1;
      }
      taken += static_cast<int>(batch.size());
    }
  };
  std::thread first(process, 0);
  process(1);
  first.join();
  CHECK(taken.load() == kSessions * kPerSession);
  CHECK(failed_acks.load() == 0);
  REQUIRE(owners.size() == static_cast<std::size_t>(kSessions));
  for (const auto& [session, processes] : owners) {
    INFO(session);
    CHECK(processes.size() == 1);
  }
}

TEST_CASE("postgres: a batch fetch takes its rows' sessions in one order, so crossed batches never deadlock",
          "[provider][postgres][sessions]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("session_order");
  n.store->enqueue_orchestrator_item(start_item("i"), 0);
  std::optional<OrchestrationItem> started = n.store->fetch_orchestration_item(30'000);
  REQUIRE(started.has_value());
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  for (const char* session : {"b", "a"}) {  // queued b first
    const EventId id = static_cast<EventId>(ack.history_delta.size() + 1);
    ack.history_delta.push_back(Event{id, 0, 0, events::ActivityScheduled{"Act", "in", "", session}});
    ack.worker_items.push_back(work::ActivityExecute{"i", 1, id, "Act", "in", "", session});
  }
  ack.metadata = metadata();
  n.store->ack_orchestration_item(started->lock_token, ack);

  // Another process's transaction holds session a (uncommitted) while the fetch runs.
  PGconn* other = PQconnectdb(postgres_conninfo());
  REQUIRE(PQstatus(other) == CONNECTION_OK);
  auto run = [&](const std::string& sql) {
    PGresult* result = PQexec(other, sql.c_str());
    std::string error = PQresultStatus(result) == PGRES_COMMAND_OK ? "" : PQresultErrorMessage(result);
    PQclear(result);
    return error;
  };
  const std::string sessions = n.options.schema + ".sessions";
  REQUIRE(run("BEGIN; INSERT INTO " + sessions +
              " (session_id, owner_id, locked_until, claimed_at) VALUES ('a', 'node-x', 0, 0)") == "");
  std::vector<WorkerItem> fetched;
  std::string fetch_error;
  std::thread fetch([&] {
    try {
      const SessionFetch owner{"node-1", 30'000};
      fetched = n.store->fetch_work_items(30'000, 2, TagFilter{}, &owner);
    } catch (const std::exception& error) {
      fetch_error = error.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the fetch waits for session a
  // The other transaction now wants session b: had the fetch taken b first (queue
  // order), each would wait for the other, and PostgreSQL would fail one of them.
  const std::string other_error = run("INSERT INTO " + sessions +
                                      " (session_id, owner_id, locked_until, claimed_at) VALUES ('b', 'node-x', 0, 0) "
                                      "ON CONFLICT (session_id) DO UPDATE SET locked_until = excluded.locked_until");
  run("ROLLBACK");
  fetch.join();
  PQfinish(other);
  CHECK(other_error == "");
  CHECK(fetch_error == "");
  CHECK(fetched.size() == 2);  // the other transaction rolled back: both sessions are the fetch's
}

TEST_CASE("postgres: a read snapshot reads one committed state until it ends, whatever is committed meanwhile",
          "[provider][postgres][export]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("snapshot");
  n.store->enqueue_orchestrator_item(start_item("a"), 0);
  pg::Connection reader(postgres_conninfo());
  auto queued = [&] {
    pg::Statement count = reader.prepare_once("SELECT COUNT(*) FROM " + n.options.schema + ".orchestrator_queue");
    REQUIRE(count.step());
    return count.integer(0);
  };
  {
    pg::ReadSnapshot snapshot(reader);
    CHECK(queued() == 1);
    n.store->enqueue_orchestrator_item(start_item("b"), 0);  // another session commits
    CHECK(queued() == 1);  // export_instance reads all its parts so
  }
  CHECK(queued() == 2);
}

namespace {

// 50,010 ready worker rows of instance "i", visible one a millisecond apart, each tagged
// as the SQL expression `tag` of g (1 to 50,010) says, analysed as a production table is.
void load_worker_rows(const Named& n, const std::string& tag) {
  admin_exec("INSERT INTO " + n.options.schema +
             ".worker_queue (instance_id, execution_id, activity_id, item_json, visible_at, enqueued_at, tag) "
             "SELECT 'i', 1, g, '{}', g, g, " + tag + " FROM generate_series(1, 50010) g; ANALYZE " +
             n.options.schema + ".worker_queue");
}

}  // namespace

TEST_CASE("postgres: the default worker fetch reads the untagged rows' index, past any number of tagged rows",
          "[provider][postgres][tags]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("untagged");
  // 50,000 ready rows of a tag no worker here takes, older than the 10 untagged ones.
  load_worker_rows(n, "CASE WHEN g > 50000 THEN NULL ELSE 'gpu' END");
  const std::string plan = lines(n.store->explain_worker_fetch(TagFilter{}));
  INFO(plan);
  CHECK(plan.find("worker_queue_untagged") != std::string::npos);
  CHECK(lines(n.store->explain_worker_fetch(TagFilter::any())).find("worker_queue_untagged") == std::string::npos);
}

TEST_CASE("postgres: a one-tag worker fetch reads that tag's index, past any number of untagged rows",
          "[provider][postgres][tags]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("onetag");
  // 50,000 ready untagged rows (a backlog of the default workers), older than the 10 of the tag.
  load_worker_rows(n, "CASE WHEN g > 50000 THEN 'gpu' END");
  const std::string plan = lines(n.store->explain_worker_fetch(TagFilter::only({"gpu"})));
  INFO(plan);
  CHECK(plan.find("worker_queue_by_tag") != std::string::npos);
}

TEST_CASE("postgres: a fetch of several tags reads each tag's index in queue order, past any number of rows of "
          "another, without sorting a backlog",
          "[provider][postgres][tags]") {
  SKIP_WITHOUT_POSTGRES();
  Named n("severaltags");
  // 25,000 ready rows of a tag no worker here takes, then a backlog of 25,000 gpu rows,
  // then 5 fpga and 5 untagged ones.
  load_worker_rows(n, "CASE WHEN g <= 25000 THEN 'tpu' WHEN g <= 50000 THEN 'gpu' WHEN g % 2 = 0 THEN 'fpga' END");
  for (const TagFilter& filter : {TagFilter::only({"gpu", "fpga"}), TagFilter::default_and({"gpu"})}) {
    const std::string plan = lines(n.store->explain_worker_fetch(filter));
    INFO(filter.to_string() << ":\n" << plan);
    CHECK(plan.find("worker_queue_by_tag") != std::string::npos);
    CHECK(plan.find("worker_queue_by_visible") == std::string::npos);
    CHECK((plan.find("worker_queue_untagged") != std::string::npos) == (filter.mode == TagFilter::Mode::DefaultAnd));
    // Each index is read in its order up to the batch's size: no sort of every ready row.
    CHECK(plan.find("Sort") == std::string::npos);
  }
  // One tag alone, with its backlog, the same (the rows' order across tags is the
  // contract's: activity_tags_test.cpp).
  const std::string gpu = lines(n.store->explain_worker_fetch(TagFilter::only({"gpu"})));
  INFO(gpu);
  CHECK(gpu.find("worker_queue_by_tag") != std::string::npos);
  CHECK(gpu.find("worker_queue_by_visible") == std::string::npos);
}
