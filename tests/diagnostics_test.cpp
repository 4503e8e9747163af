// Provider diagnostics: what the store reports about itself. The MemoryVfs
// (from the simulator) supplies a WAL file and disk failures on request.
#include <catch2/catch.hpp>

#include "duroxide/duroxide.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sim/memory_vfs.hpp"
#include "duroxide/sqlite_provider.hpp"

using namespace duroxide;

TEST_CASE("provider diagnostics describe the store, its sizes, counts and last error", "[diagnostics]") {
  sim::MemoryVfs vfs("duroxide-diagnostics-vfs");
  ManualClock clock;
  SequentialIdSource ids;
  SqliteOptions options;
  options.vfs = vfs.name();
  bool fail_writes = false;
  vfs.set_fault_hook([&](sim::DiskOperation operation, const std::string&) {
    return fail_writes && operation == sim::DiskOperation::Write;
  });
  SqliteProvider store("/diag.db", clock, ids, options);
  Registry registry;
  samples::register_all(registry);
  StepDriver driver(store, registry, clock);
  RuntimeClient client(store, store);
  for (int i = 0; i < 3; ++i) client.start_orchestration("d" + std::to_string(i), "FanOutFanIn", R"(["a","b"])");
  client.start_orchestration("waiting", "LongTimer", "");
  driver.run_until_idle();

  ProviderDiagnostics d = ManagementClient(store).get_provider_diagnostics();
  CHECK(d.store_kind == "sqlite");
  CHECK(d.store_version.rfind("3.", 0) == 0);
  CHECK(d.schema_version == SqliteProvider::kSchemaVersion);
  CHECK(d.location == "/diag.db");
  CHECK(d.journal_mode == "wal");
  CHECK(d.connected);
  CHECK(d.page_size >= 512);
  CHECK(d.database_bytes == d.page_size * d.page_count);
  CHECK(d.wal_bytes > 0);
  CHECK(d.table_rows["instances"] == 4);
  CHECK(d.table_rows["executions"] == 4);
  CHECK(d.table_rows["orchestrator_queue"] == 1);  // the LongTimer's timer
  CHECK(d.table_rows["worker_queue"] == 0);
  std::uint64_t events = 0;
  for (const char* id : {"d0", "d1", "d2", "waiting"}) events += store.read(id).size();
  CHECK(d.table_rows["history"] == events);
  CHECK_FALSE(d.last_error.has_value());
  CHECK(d.error_count == 0);

  clock.advance(5'000);
  store.checkpoint();
  d = store.get_provider_diagnostics();
  CHECK(d.wal_bytes == 0);
  CHECK(d.last_checkpoint_ms == clock.now_ms());
  CHECK(d.checkpoints >= 1);

  // A failed disk write is the last error, stamped with the store's clock; the store still answers.
  clock.advance(1'000);
  fail_writes = true;
  CHECK_THROWS_AS(client.start_orchestration("x", "HelloWorld", "x"), ClientError);
  fail_writes = false;
  d = store.get_provider_diagnostics();
  REQUIRE(d.last_error.has_value());
  CHECK(d.last_error->find("disk I/O error") != std::string::npos);
  CHECK(d.last_error_ms == clock.now_ms());
  CHECK(d.error_count == 1);
  CHECK(d.connected);
}

TEST_CASE("diagnostics of an in-memory store", "[diagnostics]") {
  ManualClock clock;
  SequentialIdSource ids;
  SqliteProvider store(":memory:", clock, ids);
  const ProviderDiagnostics d = store.get_provider_diagnostics();
  CHECK(d.location == ":memory:");
  CHECK(d.journal_mode == "memory");
  CHECK(d.wal_bytes == 0);
  CHECK(d.connected);
  CHECK(d.table_rows.size() == 9);
  ManagementOptions off;
  off.enabled = false;
  CHECK_THROWS_AS(ManagementClient(store, off).get_provider_diagnostics(), ClientError);
}
