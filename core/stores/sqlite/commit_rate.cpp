#include <sqlite3.h>

#include "duroxide/sqlite_provider.hpp"
#include "duroxide/wal_gather_vfs.hpp"

namespace duroxide {

namespace {

const char* synchronous_pragma(SqliteOptions::Synchronous synchronous) {
  switch (synchronous) {
    case SqliteOptions::Synchronous::Off: return "OFF";
    case SqliteOptions::Synchronous::Full: return "FULL";
    case SqliteOptions::Synchronous::Normal: break;
  }
  return "NORMAL";
}

void check(sqlite3* db, int rc, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE) return;
  throw ProviderError(ProviderErrorKind::Permanent, "measure_commit_rate", std::string(what) + ": " + sqlite3_errmsg(db));
}

}  // namespace

double SqliteProvider::measure_commit_rate(const std::string& path, const SqliteOptions& options, Clock& clock,
                                           std::int64_t duration_ms) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      (options.vfs.empty() ? default_wal_gather_vfs() : options.vfs).c_str()) != SQLITE_OK) {
    sqlite3_close(db);
    throw ProviderError(ProviderErrorKind::Permanent, "measure_commit_rate", "cannot open " + path);
  }
  const std::string setup = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                            synchronous_pragma(options.synchronous) +
                            "; DROP TABLE IF EXISTS commit_rate_probe; CREATE TABLE commit_rate_probe(k INTEGER PRIMARY KEY, v TEXT);";
  sqlite3_stmt* insert = nullptr;
  std::uint64_t commits = 0;
  const std::int64_t start_us = clock.monotonic_us();
  std::int64_t elapsed_us = 0;
  try {
    check(db, sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr), "setup");
    check(db, sqlite3_prepare_v2(db, "INSERT INTO commit_rate_probe(v) VALUES (?1)", -1, &insert, nullptr), "prepare");
    while ((elapsed_us = clock.monotonic_us() - start_us) < duration_ms * 1000) {
      check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), "begin");
      sqlite3_bind_text(insert, 1, "payload of a typical small event row", -1, SQLITE_STATIC);
      check(db, sqlite3_step(insert), "insert");
      sqlite3_reset(insert);
      check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "commit");
      ++commits;
    }
    check(db, sqlite3_exec(db, "DROP TABLE commit_rate_probe", nullptr, nullptr, nullptr), "cleanup");
  } catch (...) {
    sqlite3_finalize(insert);
    sqlite3_close(db);
    throw;
  }
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return elapsed_us > 0 ? static_cast<double>(commits) * 1e6 / static_cast<double>(elapsed_us) : 0.0;
}

}  // namespace duroxide
