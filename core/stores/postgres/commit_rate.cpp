#include <libpq-fe.h>

#include "duroxide/postgres_provider.hpp"

namespace duroxide {

namespace {

void exec(PGconn* db, const char* sql) {
  PGresult* result = PQexec(db, sql);
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  PQclear(result);
  if (!ok) throw ProviderError(ProviderErrorKind::Permanent, "measure_commit_rate", PQerrorMessage(db));
}

void insert_row(PGconn* db) {
  const char* values[] = {"payload of a typical small event row"};
  PGresult* result = PQexecParams(db, "INSERT INTO duroxide_commit_rate_probe (v) VALUES ($1)", 1, nullptr,
                                  values, nullptr, nullptr, 0);
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  PQclear(result);
  if (!ok) throw ProviderError(ProviderErrorKind::Permanent, "measure_commit_rate", PQerrorMessage(db));
}

}  // namespace

double PostgresProvider::measure_commit_rate(const std::string& conninfo, Clock& clock, std::int64_t duration_ms) {
  PGconn* db = PQconnectdb(conninfo.c_str());
  if (PQstatus(db) != CONNECTION_OK) {
    std::string message = PQerrorMessage(db);
    PQfinish(db);
    throw ProviderError(ProviderErrorKind::Transient, "measure_commit_rate", "cannot connect: " + message);
  }
  std::uint64_t commits = 0;
  const std::int64_t start_us = clock.monotonic_us();
  std::int64_t elapsed_us = 0;
  try {
    exec(db, "SET client_min_messages TO warning");
    exec(db, "DROP TABLE IF EXISTS duroxide_commit_rate_probe");
    exec(db, "CREATE TABLE duroxide_commit_rate_probe (k BIGSERIAL PRIMARY KEY, v TEXT)");
    while ((elapsed_us = clock.monotonic_us() - start_us) < duration_ms * 1000) {
      insert_row(db);  // autocommit: one commit per round trip
      ++commits;
    }
    exec(db, "DROP TABLE duroxide_commit_rate_probe");
  } catch (...) {
    PQfinish(db);
    throw;
  }
  PQfinish(db);
  return elapsed_us > 0 ? static_cast<double>(commits) * 1e6 / static_cast<double>(elapsed_us) : 0.0;
}

}  // namespace duroxide
