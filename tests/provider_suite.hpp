// The generic provider validation suite's fixture: every contract test runs
// once per provider kind through `for_each_provider`, against the Provider and
// ManagementProvider interfaces only. A new provider plugs in by adding a kind.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <vector>
#include <memory>
#include <string>

#include "duroxide/duroxide.hpp"
#include "duroxide/open_store.hpp"
#include "duroxide/sqlite_provider.hpp"

namespace duroxide::testing {

// Set by scripts/with-postgres.sh (the README test command runs the native suite
// under it): the connection string of a throwaway server. Unset: PostgreSQL kinds
// are skipped, with a warning.
inline const char* postgres_conninfo() {
  if (!store_kind_available(StoreKind::Postgres)) return nullptr;
  const char* value = std::getenv("DUROXIDE_PG");
  return value && *value ? value : nullptr;
}

// The prefix of the fixtures' lock tokens; a test that needs tokens with characters a
// list of them must quote sets it (TokenPrefix) before its fixture is made.
inline std::string& token_prefix() {
  static std::string prefix = "token";
  return prefix;
}
struct TokenPrefix {
  explicit TokenPrefix(std::string prefix) { token_prefix() = std::move(prefix); }
  ~TokenPrefix() { token_prefix() = "token"; }
};

struct ProviderUnderTest {
  std::string kind;
  std::string path;  // file-backed kinds
  ManualClock clock;
  SequentialIdSource ids{token_prefix()};
  std::unique_ptr<SqliteProvider> sqlite;
  std::unique_ptr<Store> postgres;  // in its own schema, dropped afterwards
  std::string schema;  // the PostgreSQL schema of the postgres kind

  Provider& provider() {
    if (postgres) return *postgres;
    return *sqlite;
  }
  ManagementProvider& management() {
    if (postgres) return *postgres;
    return *sqlite;
  }
  StoreOptions postgres_options() const {
    StoreOptions options;
    options.schema = schema;
    return options;
  }

  ~ProviderUnderTest() {
    if (postgres) {
      postgres.reset();
      try {
        remove_store(postgres_conninfo(), clock, ids, postgres_options());
      } catch (const std::exception&) {
      }
    }
    sqlite.reset();
    remove_files(path);
  }
  static void remove_files(const std::string& file) {
    if (file.empty()) return;
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((file + suffix).c_str());
  }
};

// A schema name no other fixture of this run uses (leftovers of a crashed run are dropped).
inline std::string unique_schema(const std::string& prefix) {
  static int counter = 0;
  return prefix + "_" + std::to_string(++counter);
}


inline std::unique_ptr<ProviderUnderTest> make_provider(const std::string& kind, StoreOptions store = {}) {
  static int counter = 0;
  auto made = std::make_unique<ProviderUnderTest>();
  made->kind = kind;
  SqliteOptions sqlite_options;
  sqlite_options.minute_retention_ms = store.minute_retention_ms;
  sqlite_options.finished_retention_ms = store.finished_retention_ms;
  if (kind == "sqlite-memory") {
    made->sqlite = std::make_unique<SqliteProvider>(":memory:", made->clock, made->ids, sqlite_options);
  } else if (kind == "sqlite-file") {
    made->path = "/tmp/duroxide-provider-suite-" + std::to_string(++counter) + ".db";
    ProviderUnderTest::remove_files(made->path);
    made->sqlite = std::make_unique<SqliteProvider>(made->path, made->clock, made->ids, sqlite_options);
  } else if (kind == "postgres") {
    made->schema = unique_schema("suite");
    StoreOptions options = made->postgres_options();
    options.minute_retention_ms = store.minute_retention_ms;
    options.finished_retention_ms = store.finished_retention_ms;
    remove_store(postgres_conninfo(), made->clock, made->ids, options);  // a leftover of a crashed run
    made->postgres = open_store(postgres_conninfo(), made->clock, made->ids, options);
  } else {
    FAIL("unknown provider kind " << kind);
  }
  return made;
}

inline std::vector<std::string> provider_kinds() {
  std::vector<std::string> kinds{"sqlite-memory", "sqlite-file"};
  if (postgres_conninfo()) kinds.push_back("postgres");
  return kinds;
}

// One filter of each kind the listing supports, and some combinations: the
// index tests of both stores explain the query of each.
inline std::vector<InstanceFilter> listing_filters() {
  std::vector<InstanceFilter> filters(16);
  filters[1].states = {RuntimeState::Running};
  filters[2].states = {RuntimeState::Completed, RuntimeState::Failed};
  filters[3].orchestration_name = "Orch";
  filters[4].orchestration_version = "1.0.0";
  filters[5].instance_prefix = "job-";
  filters[6].parent_instance = "root";
  filters[7].roots_only = true;
  filters[8].created_from_ms = 1700000001000;
  filters[8].created_to_ms = 1700000002000;
  filters[9].updated_from_ms = 1;
  filters[10].states = {RuntimeState::Failed};
  filters[10].orchestration_name = "Orch";
  filters[10].updated_from_ms = 5;
  filters[11].instance_prefix = "a";
  filters[11].roots_only = true;
  // The health problem lists: long-running, without progress, recently failed.
  filters[12].states = {RuntimeState::Running};
  filters[12].created_to_ms = 1700000001000;
  filters[13].states = {RuntimeState::Running};
  filters[13].updated_to_ms = 1700000001000;
  filters[14].states = {RuntimeState::Failed};
  filters[14].updated_from_ms = 1700000001000;
  // Health's "no progress": running, with work ready since before a time.
  filters[15].states = {RuntimeState::Running};
  filters[15].ready_work_before_ms = 1700000001000;
  return filters;
}

// A SQLite file that outlives the fixture (the caller removes it).
inline std::unique_ptr<ProviderUnderTest> sqlite_at(const std::string& path) {
  auto made = std::make_unique<ProviderUnderTest>();
  made->kind = "sqlite-path";
  made->sqlite = std::make_unique<SqliteProvider>(path, made->clock, made->ids);
  return made;
}

// Use at the top of a TEST_CASE: the rest of it runs once per provider kind.
#define PROVIDER_KIND(name)                                                              \
  const std::string name = GENERATE(from_range(::duroxide::testing::provider_kinds())); \
  INFO("provider: " << name)

// Use at the top of a TEST_CASE: runs the rest of it once per provider kind.
#define FOR_EACH_PROVIDER(fixture)                                                         \
  const std::string provider_kind = GENERATE(from_range(::duroxide::testing::provider_kinds())); \
  INFO("provider: " << provider_kind);                                                     \
  auto fixture##_holder = ::duroxide::testing::make_provider(provider_kind);               \
  auto& fixture = *fixture##_holder

// Takes a SQLite database of this build back to schema 20 (lock-token indexes of every
// row, locked or not); run it first, then kSqliteUndoSchema20 and the statements that
// undo earlier versions.
inline constexpr const char* kSqliteUndoSchema21 =
    "DROP INDEX orchestrator_queue_by_token; "
    "CREATE INDEX orchestrator_queue_by_token ON orchestrator_queue (lock_token); "
    "DROP INDEX worker_queue_by_token; "
    "CREATE UNIQUE INDEX worker_queue_by_token ON worker_queue (lock_token); ";

// Takes a SQLite database of schema 20 back to schema 19 (before the tagged worker
// rows' index); run it after kSqliteUndoSchema21, then kSqliteUndoSchema19 and the
// statements that undo earlier versions.
inline constexpr const char* kSqliteUndoSchema20 = "DROP INDEX worker_queue_by_tag; ";

// Takes a SQLite database of schema 19 back to schema 18 (before the untagged worker
// rows' index); run it after kSqliteUndoSchema20, then kSqliteUndoSchema18 and the
// statements that undo earlier versions.
inline constexpr const char* kSqliteUndoSchema19 = "DROP INDEX worker_queue_untagged; ";

// Takes a SQLite database of schema 18 back to schema 17 (before activity sessions); run
// it after kSqliteUndoSchema19, then kSqliteUndoSchema17 and the statements that undo
// earlier versions.
inline constexpr const char* kSqliteUndoSchema18 =
    "DROP TABLE sessions; DROP INDEX worker_queue_by_session; ALTER TABLE worker_queue DROP COLUMN session_id; ";

// Takes a SQLite database of schema 17 back to schema 16 (before executions' pinned
// versions); run it after kSqliteUndoSchema18, then kSqliteUndoSchema16 and the
// statements that undo earlier versions.
inline constexpr const char* kSqliteUndoSchema17 =
    "ALTER TABLE executions DROP COLUMN pinned_major; ALTER TABLE executions DROP COLUMN pinned_minor; "
    "ALTER TABLE executions DROP COLUMN pinned_patch; ";

// Takes a SQLite database of schema 16 back to schema 15 (before worker rows' tags); run
// it after kSqliteUndoSchema17, then kSqliteUndoSchema15 and the statements that undo
// earlier versions.
inline constexpr const char* kSqliteUndoSchema16 = "ALTER TABLE worker_queue DROP COLUMN tag; ";

// Takes a SQLite database of schema 15 back to schema 14 (status counts of inserted and
// updated rows kept by triggers); run it after kSqliteUndoSchema16, then
// kSqliteUndoSchema14 and the statements that undo earlier versions.
inline constexpr const char* kSqliteUndoSchema15 =
    "CREATE TRIGGER instance_counts_on_insert AFTER INSERT ON instances BEGIN "
    "  INSERT INTO instance_counts VALUES (NEW.orchestration_name, NEW.orchestration_version, "
    "    NEW.parent_instance_id IS NULL, NEW.status, NEW.tenant, 1) ON CONFLICT DO UPDATE SET count = count + 1; END; "
    "CREATE TRIGGER instance_counts_on_update "
    "  AFTER UPDATE OF orchestration_name, orchestration_version, parent_instance_id, status, tenant ON instances "
    "  WHEN OLD.status IS NOT NEW.status OR OLD.orchestration_name IS NOT NEW.orchestration_name "
    "    OR OLD.orchestration_version IS NOT NEW.orchestration_version "
    "    OR (OLD.parent_instance_id IS NULL) IS NOT (NEW.parent_instance_id IS NULL) "
    "    OR OLD.tenant IS NOT NEW.tenant "
    "BEGIN "
    "  UPDATE instance_counts SET count = count - 1 "
    "    WHERE orchestration_name = OLD.orchestration_name AND orchestration_version = OLD.orchestration_version "
    "      AND is_root = (OLD.parent_instance_id IS NULL) AND status = OLD.status AND tenant = OLD.tenant; "
    "  INSERT INTO instance_counts VALUES (NEW.orchestration_name, NEW.orchestration_version, "
    "    NEW.parent_instance_id IS NULL, NEW.status, NEW.tenant, 1) ON CONFLICT DO UPDATE SET count = count + 1; "
    "END; ";

// Takes a SQLite database of schema 14 back to schema 13 (before the timers' index); run
// it before kSqliteUndoSchema13 and the statements that undo earlier versions.
inline constexpr const char* kSqliteUndoSchema14 = "DROP INDEX orchestrator_queue_timers; ";

// Takes a SQLite database of schema 13 back to schema 12 (before kept pending work);
// run it before kSqliteUndoSchema12 and the statements that undo earlier versions.
inline constexpr const char* kSqliteUndoSchema13 = "ALTER TABLE instances DROP COLUMN pending_json; ";

// Takes a SQLite database of this build back to schema 11 (before tenants), for tests
// that simulate an older file: run it before the statements that undo earlier versions.
// The status-count triggers go back to their version-6 form.
inline constexpr const char* kSqliteUndoSchema12 =
    "DROP TRIGGER instance_counts_on_insert; DROP TRIGGER instance_counts_on_delete; "
    "DROP TRIGGER instance_counts_on_update; DROP INDEX instances_by_tenant; ALTER TABLE instances DROP COLUMN tenant; "
    "DROP INDEX changes_by_tenant; ALTER TABLE changes DROP COLUMN tenant; "
    "CREATE TRIGGER instance_counts_on_insert AFTER INSERT ON instances BEGIN "
    "  INSERT INTO instance_counts VALUES (NEW.orchestration_name, NEW.orchestration_version, "
    "    NEW.parent_instance_id IS NULL, NEW.status, 1) ON CONFLICT DO UPDATE SET count = count + 1; END; "
    "CREATE TRIGGER instance_counts_on_delete AFTER DELETE ON instances BEGIN "
    "  UPDATE instance_counts SET count = count - 1 WHERE orchestration_name = OLD.orchestration_name; END; "
    "CREATE TRIGGER instance_counts_on_update AFTER UPDATE OF status ON instances BEGIN "
    "  UPDATE instance_counts SET count = count - 1 WHERE orchestration_name = OLD.orchestration_name; END; ";

// The undo statements of the schemas after `target`, newest first: a SQLite database of
// this build back to schema `target` (11 to 20), before the statements that undo earlier
// versions and the `PRAGMA user_version` the test sets.
inline std::string sqlite_undo_to_schema(int target) {
  static constexpr const char* kUndo[] = {kSqliteUndoSchema12, kSqliteUndoSchema13, kSqliteUndoSchema14,
                                          kSqliteUndoSchema15, kSqliteUndoSchema16, kSqliteUndoSchema17,
                                          kSqliteUndoSchema18, kSqliteUndoSchema19, kSqliteUndoSchema20,
                                          kSqliteUndoSchema21};  // kUndo[v - 12] undoes schema v
  constexpr int kNewest = 12 + static_cast<int>(std::size(kUndo)) - 1;
  static_assert(kNewest == SqliteProvider::kSchemaVersion, "a new schema needs its undo statements here");
  REQUIRE(target >= 11);
  REQUIRE(target < kNewest);
  std::string sql;
  for (int version = kNewest; version > target; --version) sql += kUndo[version - 12];
  return sql;
}

// The store a search-window test loads (by SQL, each store its own way): instances
// "s-000000".. one a millisecond apart from created_at 1000, Running, of which only the
// oldest and the newest input hold "needle" (the others "hay"): the newest window of a
// search (kMaxContainsScan instances) ends before the oldest.
inline constexpr std::size_t kSearchWindowRows = kMaxContainsScan + 1'000;
inline std::string search_window_id(std::size_t i) {
  const std::string digits = std::to_string(i);
  return "s-" + std::string(digits.size() < 6 ? 6 - digits.size() : 0, '0') + digits;
}

// On a store loaded so: one search call reads one window and ends with a cursor where
// the next goes on; in any order the walk finds both matches in two calls; counts read
// every selected row; a search that fills its page within the window pages as any listing.
inline void check_search_window(ManagementProvider& store) {
  InstanceFilter needle;
  needle.contains = "needle";
  PageRequest page{{}, 50};
  const InstancePage first = store.list_instances(needle, page);
  REQUIRE(first.instances.size() == 1);  // the newest; its window ended before the oldest
  CHECK(first.instances[0].instance == search_window_id(kSearchWindowRows - 1));
  REQUIRE_FALSE(first.next_cursor.empty());
  page.cursor = first.next_cursor;
  const InstancePage second = store.list_instances(needle, page);
  REQUIRE(second.instances.size() == 1);
  CHECK(second.instances[0].instance == search_window_id(0));
  CHECK(second.next_cursor.empty());
  CHECK(store.count_instances(needle) == 2);
  // Oldest first, and by duration (an expression key): the same two, in two calls.
  for (InstanceOrder order : {InstanceOrder::CreatedAsc, InstanceOrder::DurationDesc}) {
    PageRequest request{{}, 50, order};
    std::vector<std::string> found;
    int calls = 0;
    do {
      const InstancePage batch = store.list_instances(needle, request);
      for (const auto& info : batch.instances) found.push_back(info.instance);
      request.cursor = batch.next_cursor;
      ++calls;
    } while (!request.cursor.empty() && calls < 10);
    CHECK(found.size() == 2);
    CHECK(calls == 2);
  }
  InstanceFilter hay;
  hay.contains = "hay";
  const InstancePage full = store.list_instances(hay, {{}, 50});
  CHECK(full.instances.size() == 50);
  CHECK_FALSE(full.next_cursor.empty());
}

inline Event started_event(const std::string& name = "Orch", EventId id = 1,
                           const std::string& parent = {}) {
  return Event{id, 0, 0, events::OrchestrationStarted{name, "1.0.0", "", parent, parent.empty() ? EventId{0} : EventId{2}}};
}

inline ExecutionMetadata metadata(RuntimeState state = RuntimeState::Running,
                                  const std::string& parent = {}) {
  ExecutionMetadata meta;
  meta.orchestration_name = "Orch";
  meta.orchestration_version = "1.0.0";
  meta.state = state;
  meta.parent_instance = parent;
  if (state == RuntimeState::Completed) meta.output = "done";
  if (state == RuntimeState::Failed) meta.error = ErrorDetails::orchestration_failed("broke");
  return meta;
}

inline work::StartOrchestration start_item(const std::string& instance) {
  return work::StartOrchestration{instance, "Orch", "", "", {}, 0, {}};
}

inline work::ActivityExecute activity(const std::string& instance, EventId id,
                                      ExecutionId execution = 1) {
  return work::ActivityExecute{instance, execution, id, "Act", "in-" + std::to_string(id)};
}

inline OrchestrationItem fetch(ProviderUnderTest& f, std::int64_t lock_ms = 30'000) {
  auto item = f.provider().fetch_orchestration_item(lock_ms);
  REQUIRE(item.has_value());
  return std::move(*item);
}

// Creates `instance` (Started event, Running) and leaves its queue empty.
inline void create_instance(Provider& provider, const std::string& instance,
                            RuntimeState state = RuntimeState::Running,
                            const std::string& parent = {}) {
  provider.enqueue_orchestrator_item(start_item(instance), 0);
  std::optional<OrchestrationItem> fetched = provider.fetch_orchestration_item(30'000);
  REQUIRE(fetched.has_value());
  OrchestrationItem& item = *fetched;
  REQUIRE(item.instance == instance);
  OrchestrationAck ack;
  ack.history_delta = {started_event("Orch", 1, parent)};
  if (state != RuntimeState::Running) {
    ack.history_delta.push_back(
        Event{2, 0, 0, state == RuntimeState::Completed
                           ? EventData{events::OrchestrationCompleted{"done"}}
                           : EventData{events::OrchestrationFailed{ErrorDetails::orchestration_failed("broke")}}});
  }
  ack.metadata = metadata(state, parent);
  provider.ack_orchestration_item(item.lock_token, ack);
}

inline void create_instance(ProviderUnderTest& f, const std::string& instance,
                            RuntimeState state = RuntimeState::Running,
                            const std::string& parent = {}) {
  create_instance(f.provider(), instance, state, parent);
}

// Starts each of `ids` and fetches them as one batch.
inline std::vector<OrchestrationItem> started_batch(Provider& provider, const std::vector<std::string>& ids) {
  for (const std::string& id : ids) provider.enqueue_orchestrator_item(start_item(id), 0);
  std::vector<OrchestrationItem> batch = provider.fetch_orchestration_items(30'000, ids.size());
  REQUIRE(batch.size() == ids.size());
  return batch;
}

// The ack of a first turn that only starts its instance.
inline OrchestrationAck first_turn_ack() {
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();
  return ack;
}

template <typename F>
ProviderErrorKind provider_error_kind(F&& call) {
  try {
    call();
  } catch (const ProviderError& error) {
    return error.kind();
  }
  FAIL("expected a ProviderError");
  return ProviderErrorKind::Permanent;
}

}  // namespace duroxide::testing
