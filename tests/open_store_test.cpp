// open_store: a store from its location, and what a build without a store kind says.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "duroxide/open_store.hpp"
#include "duroxide/runtime_client.hpp"

using namespace duroxide;

namespace {

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace

TEST_CASE("store_kind tells PostgreSQL locations from SQLite files", "[stores]") {
  CHECK(store_kind("postgresql://u:p@db.example:5432/app") == StoreKind::Postgres);
  CHECK(store_kind("postgres://db/app") == StoreKind::Postgres);
  CHECK(store_kind("host=db dbname=app") == StoreKind::Postgres);
  CHECK(store_kind("/var/lib/app/duroxide.db") == StoreKind::Sqlite);
  CHECK(store_kind("weird=name.db") == StoreKind::Sqlite);
  CHECK(store_kind("") == StoreKind::Sqlite);
  CHECK(store_kind(":memory:") == StoreKind::Sqlite);
  CHECK(store_kind_available(StoreKind::Sqlite));
  CHECK(std::string(store_kind_name(StoreKind::Postgres)) == "postgres");
}

TEST_CASE("open_store opens a SQLite file that survives reopening; remove_store deletes it", "[stores]") {
  const std::string path = "/tmp/duroxide-open-store-test.db";
  ManualClock clock;
  SequentialIdSource ids{"id"};
  remove_store(path, clock, ids);
  {
    std::unique_ptr<Store> store = open_store(path, clock, ids);
    RuntimeClient client(*store, *store);
    client.start_orchestration("kept", "HelloWorld", "\"x\"");
  }
  REQUIRE(file_exists(path));
  {
    std::unique_ptr<Store> store = open_store(path, clock, ids);
    CHECK(store->instance_known("kept"));
  }
  remove_store(path, clock, ids);
  CHECK_FALSE(file_exists(path));
  CHECK_FALSE(file_exists(path + "-wal"));
}

TEST_CASE("open_store of an empty location is an in-memory store", "[stores]") {
  ManualClock clock;
  SequentialIdSource ids{"id"};
  std::unique_ptr<Store> store = open_store("", clock, ids);
  RuntimeClient client(*store, *store);
  client.start_orchestration("a", "HelloWorld", "\"x\"");
  CHECK(store->instance_known("a"));
  CHECK(std::unique_ptr<Store>(open_store(":memory:", clock, ids))->instance_known("a") == false);
}

TEST_CASE("a build without the PostgreSQL store says so for a PostgreSQL location", "[stores]") {
  if (store_kind_available(StoreKind::Postgres)) return;  // native builds with -DDUROXIDE_POSTGRES=ON
  ManualClock clock;
  SequentialIdSource ids{"id"};
  try {
    open_store("postgresql://127.0.0.1/app", clock, ids);
    FAIL("open_store accepted a PostgreSQL location");
  } catch (const ProviderError& error) {
    CHECK(error.kind() == ProviderErrorKind::InvalidInput);
    CHECK(std::string(error.what()).find("no PostgreSQL store") != std::string::npos);
  }
}
