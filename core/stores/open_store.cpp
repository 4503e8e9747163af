#include "duroxide/open_store.hpp"

#include <cstdio>

#ifdef DUROXIDE_HAVE_POSTGRES
#include "duroxide/postgres_provider.hpp"
#endif

namespace duroxide {

namespace {

bool is_in_memory(const std::string& location) { return location.empty() || location == ":memory:"; }

[[maybe_unused]] [[noreturn]] void unavailable(const char* operation) {
  throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                      "this build has no PostgreSQL store (build natively with -DDUROXIDE_POSTGRES=ON)");
}

#ifdef DUROXIDE_HAVE_POSTGRES
PostgresOptions postgres_options(const StoreOptions& options) {
  PostgresOptions postgres;
  postgres.schema = options.schema;
  postgres.connections = options.connections;
  postgres.minute_retention_ms = options.minute_retention_ms;
  postgres.change_retention_ms = options.change_retention_ms;
  postgres.parked_retention_ms = options.parked_retention_ms;
  postgres.finished_retention_ms = options.finished_retention_ms;
  postgres.read_only = options.read_only;
  return postgres;
}
#endif

}  // namespace

StoreKind store_kind(const std::string& location) {
  if (location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0) return StoreKind::Postgres;
  const bool libpq_string = location.find('=') != std::string::npos &&
                            (location.find("dbname=") != std::string::npos || location.find("host=") != std::string::npos);
  return libpq_string ? StoreKind::Postgres : StoreKind::Sqlite;
}

const char* store_kind_name(StoreKind kind) { return kind == StoreKind::Postgres ? "postgres" : "sqlite"; }

bool store_kind_available(StoreKind kind) {
#ifdef DUROXIDE_HAVE_POSTGRES
  (void)kind;
  return true;
#else
  return kind == StoreKind::Sqlite;
#endif
}

std::unique_ptr<Store> open_store(const std::string& location, Clock& clock, IdSource& ids,
                                  const StoreOptions& options) {
  if (store_kind(location) == StoreKind::Postgres) {
#ifdef DUROXIDE_HAVE_POSTGRES
    return std::make_unique<PostgresProvider>(location, clock, ids, postgres_options(options));
#else
    unavailable("open_store");
#endif
  }
  SqliteOptions sqlite = options.sqlite;
  sqlite.minute_retention_ms = options.minute_retention_ms;
  sqlite.change_retention_ms = options.change_retention_ms;
  sqlite.parked_retention_ms = options.parked_retention_ms;
  sqlite.finished_retention_ms = options.finished_retention_ms;
  sqlite.read_only = sqlite.read_only || options.read_only;
  return std::make_unique<SqliteProvider>(is_in_memory(location) ? ":memory:" : location, clock, ids, sqlite);
}

void remove_store(const std::string& location, Clock& clock, IdSource& ids, const StoreOptions& options) {
  if (store_kind(location) == StoreKind::Postgres) {
#ifdef DUROXIDE_HAVE_POSTGRES
    PostgresProvider(location, clock, ids, postgres_options(options)).drop_schema();
    return;
#else
    (void)clock, (void)ids, (void)options;
    unavailable("remove_store");
#endif
  }
  if (is_in_memory(location)) return;
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((location + suffix).c_str());
}

double measure_commit_rate(const std::string& location, Clock& clock, std::int64_t duration_ms,
                           const StoreOptions& options) {
  if (store_kind(location) == StoreKind::Postgres) {
#ifdef DUROXIDE_HAVE_POSTGRES
    return PostgresProvider::measure_commit_rate(location, clock, duration_ms);
#else
    (void)clock, (void)duration_ms;
    unavailable("measure_commit_rate");
#endif
  }
  return SqliteProvider::measure_commit_rate(is_in_memory(location) ? ":memory:" : location, options.sqlite, clock,
                                             duration_ms);
}

}  // namespace duroxide
