// SQLite alone, without the store: what this build's SQLite and disk can do, the bound
// the bench sets the store's figures against (bench/main.cpp). Each probe works in a
// scratch table of its own in the database it is given and drops it afterwards.
#include <sqlite3.h>

#include <algorithm>
#include <string>

#include "duroxide/sqlite_provider.hpp"
#include "duroxide/wal_gather_vfs.hpp"
#include "sqlite_pragmas.hpp"

namespace duroxide {

namespace {

void check(sqlite3* db, int rc, const char* probe, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return;
  throw ProviderError(ProviderErrorKind::Permanent, probe, std::string(what) + ": " + sqlite3_errmsg(db));
}

// The database at `path` in WAL mode, opened as the store opens it: options.vfs (or
// the WAL-gathering VFS when it is empty), its synchronous level, statement journals in
// memory and a page cache of options.cache_kib, so what the probes time is what the
// store's own connections would pay. A bad cache size is InvalidInput before any open.
sqlite3* open_probe(const std::string& path, const SqliteOptions& options, const char* probe) {
  const std::string setup = std::string("PRAGMA journal_mode = WAL; ") + sqlite::synchronous_pragma(options.synchronous) +
                            "; PRAGMA temp_store = MEMORY; " + sqlite::cache_size_pragma(options.cache_kib) + ";";
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      (options.vfs.empty() ? default_wal_gather_vfs() : options.vfs).c_str()) != SQLITE_OK) {
    sqlite3_close(db);
    throw ProviderError(ProviderErrorKind::Permanent, probe, "cannot open " + path);
  }
  const int rc = sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw ProviderError(ProviderErrorKind::Permanent, probe, "setup: " + message);
  }
  return db;
}

// A prepared statement finalized however its scope ends.
struct Prepared {
  sqlite3_stmt* statement = nullptr;
  Prepared(sqlite3* db, const char* sql, const char* probe) {
    check(db, sqlite3_prepare_v2(db, sql, -1, &statement, nullptr), probe, "prepare");
  }
  ~Prepared() { sqlite3_finalize(statement); }
  Prepared(const Prepared&) = delete;
  Prepared& operator=(const Prepared&) = delete;
};

constexpr const char* kScanProbe = "measure_scan_times";

void fill_scan_probe(sqlite3* db, std::uint64_t rows) {
  static const char* const kStates[] = {"Completed", "Completed", "Failed", "Running"};
  check(db, sqlite3_exec(db,
                         "DROP TABLE IF EXISTS scan_probe;"
                         "CREATE TABLE scan_probe(k INTEGER PRIMARY KEY, status TEXT, created INTEGER, input TEXT);"
                         "CREATE INDEX scan_probe_by_status ON scan_probe(status, created);"
                         "BEGIN",
                         nullptr, nullptr, nullptr),
        kScanProbe, "create");
  Prepared insert(db, "INSERT INTO scan_probe(status, created, input) VALUES (?1, ?2, ?3)", kScanProbe);
  for (std::uint64_t i = 0; i < rows; ++i) {
    const std::string input = "{\"input\":\"order " + std::to_string(i) + ";\"}";
    sqlite3_bind_text(insert.statement, 1, kStates[(i / 4) % 4], -1, SQLITE_STATIC);
    sqlite3_bind_int64(insert.statement, 2, static_cast<sqlite3_int64>(i));
    sqlite3_bind_text(insert.statement, 3, input.c_str(), -1, SQLITE_TRANSIENT);
    check(db, sqlite3_step(insert.statement), kScanProbe, "insert");
    sqlite3_reset(insert.statement);
  }
  check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), kScanProbe, "commit");
}

// The fastest of five windows of `calls` runs of `statement` (a one-row COUNT), in
// milliseconds per run; `counted` is what the last run counted.
double fastest_count_ms(sqlite3* db, sqlite3_stmt* statement, Clock& clock, int calls, std::uint64_t& counted) {
  double fastest_us = 1e300;
  for (int window = 0; window < 5; ++window) {
    const std::int64_t start_us = clock.monotonic_us();
    for (int call = 0; call < calls; ++call) {
      check(db, sqlite3_step(statement), kScanProbe, "count");
      counted = static_cast<std::uint64_t>(sqlite3_column_int64(statement, 0));
      sqlite3_reset(statement);
    }
    fastest_us = std::min(fastest_us, static_cast<double>(clock.monotonic_us() - start_us) / calls);
  }
  return fastest_us / 1000.0;
}

}  // namespace

double SqliteProvider::measure_commit_rate(const std::string& path, const SqliteOptions& options, Clock& clock,
                                           std::int64_t duration_ms) {
  constexpr const char* kProbe = "measure_commit_rate";
  sqlite3* db = open_probe(path, options, kProbe);
  std::uint64_t commits = 0;
  const std::int64_t start_us = clock.monotonic_us();
  std::int64_t elapsed_us = 0;
  try {
    check(db, sqlite3_exec(db, "DROP TABLE IF EXISTS commit_rate_probe; CREATE TABLE commit_rate_probe(k INTEGER PRIMARY KEY, v TEXT);",
                           nullptr, nullptr, nullptr),
          kProbe, "setup");
    Prepared insert(db, "INSERT INTO commit_rate_probe(v) VALUES (?1)", kProbe);
    while ((elapsed_us = clock.monotonic_us() - start_us) < duration_ms * 1000) {
      check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), kProbe, "begin");
      sqlite3_bind_text(insert.statement, 1, "payload of a typical small event row", -1, SQLITE_STATIC);
      check(db, sqlite3_step(insert.statement), kProbe, "insert");
      sqlite3_reset(insert.statement);
      check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), kProbe, "commit");
      ++commits;
    }
    check(db, sqlite3_exec(db, "DROP TABLE commit_rate_probe", nullptr, nullptr, nullptr), kProbe, "cleanup");
  } catch (...) {
    sqlite3_close(db);
    throw;
  }
  sqlite3_close(db);
  return elapsed_us > 0 ? static_cast<double>(commits) * 1e6 / static_cast<double>(elapsed_us) : 0.0;
}

SqliteProvider::ScanTimes SqliteProvider::measure_scan_times(const std::string& path, const SqliteOptions& options,
                                                             Clock& clock, std::uint64_t rows) {
  if (rows < 4 || rows > 1'000'000) {
    throw ProviderError(ProviderErrorKind::InvalidInput, kScanProbe, "rows must be 4 to 1000000, got " + std::to_string(rows));
  }
  sqlite3* db = open_probe(path, options, kScanProbe);
  ScanTimes times;
  times.rows = rows;
  try {
    fill_scan_probe(db, rows);
    {
      Prepared range(db, "SELECT COUNT(*) FROM scan_probe WHERE status = 'Completed' AND created >= ?1", kScanProbe);
      sqlite3_bind_int64(range.statement, 1, static_cast<sqlite3_int64>(rows / 2));
      times.range_count_ms = fastest_count_ms(db, range.statement, clock, 20, times.range_counted);
      Prepared text(db, "SELECT COUNT(*) FROM scan_probe WHERE input LIKE '%order 0;%'", kScanProbe);
      times.text_scan_ms = fastest_count_ms(db, text.statement, clock, 5, times.text_matched);
    }
    check(db, sqlite3_exec(db, "DROP TABLE scan_probe", nullptr, nullptr, nullptr), kScanProbe, "cleanup");
  } catch (...) {
    sqlite3_close(db);
    throw;
  }
  sqlite3_close(db);
  return times;
}

}  // namespace duroxide
