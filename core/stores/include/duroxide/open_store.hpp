// open_store: a store from its location, whichever implementation it needs. The one
// place that knows which stores this build holds (PostgreSQL is compiled out of wasm
// builds and of native builds configured with -DDUROXIDE_POSTGRES=OFF).
//
// Locations:
// - "" or ":memory:"   an in-memory SQLite database (gone when the store closes);
// - a file path        a SQLite database file (created if missing);
// - "postgresql://...", "postgres://..." or a libpq "key=value" string with
//   "dbname=" or "host="   a PostgreSQL database (schema StoreOptions::schema).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "duroxide/environment.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "duroxide/store.hpp"

namespace duroxide {

enum class StoreKind { Sqlite, Postgres };

struct StoreOptions {
  SqliteOptions sqlite;            // SQLite stores
  std::string schema = "duroxide";  // PostgreSQL stores: the schema holding the tables
  std::size_t connections = 4;     // PostgreSQL stores: pooled sessions (1..64)
  // Minute buckets of the time series older than this roll up into hour buckets
  // (both kinds; overrides SqliteOptions::minute_retention_ms).
  std::int64_t minute_retention_ms = 24LL * 3600 * 1000;
  // The change feed's and parked messages' retention (both kinds; as SqliteOptions).
  std::int64_t change_retention_ms = 7LL * 24 * 3600 * 1000;
  std::int64_t parked_retention_ms = 30LL * 24 * 3600 * 1000;
  std::int64_t finished_retention_ms = 0;  // purged by Provider::maintain (as SqliteOptions)
  bool read_only = false;  // a SQLite file or a PostgreSQL schema opened to read (SqliteOptions::read_only)
};

// The kind a location names (see above). Never throws.
StoreKind store_kind(const std::string& location);
// "sqlite" / "postgres".
const char* store_kind_name(StoreKind kind);
// Whether this build can open stores of `kind`.
bool store_kind_available(StoreKind kind);

// Opens (creating and migrating as needed) the store at `location`. `clock` and `ids`
// must outlive it. Throws ProviderError: InvalidInput when this build lacks the kind
// (the message says how to get it), Transient when a server is unreachable.
std::unique_ptr<Store> open_store(const std::string& location, Clock& clock, IdSource& ids,
                                  const StoreOptions& options = {});

// Removes everything a store at `location` holds: a SQLite file with its -wal and -shm
// files (nothing for in-memory), or a PostgreSQL schema. For tests and reset tools; a
// store open on it must be closed first. Throws ProviderError like open_store.
void remove_store(const std::string& location, Clock& clock, IdSource& ids,
                  const StoreOptions& options = {});

// Commits per second of single-row write transactions on the database at `location`
// for `duration_ms` (a scratch table, created and dropped): the ceiling for anything that
// commits once per step, which the bench compares throughput against. SQLite uses
// `options.sqlite.synchronous`. Throws ProviderError like open_store.
double measure_commit_rate(const std::string& location, Clock& clock, std::int64_t duration_ms,
                           const StoreOptions& options = {});

}  // namespace duroxide
