// SqliteProvider: Provider and ManagementProvider over one SQLite connection.
//
// Contract (beyond provider.hpp and management_provider.hpp):
// - a file database runs in WAL mode; ":memory:" is a private in-memory database;
// - the schema version lives in the database (`PRAGMA user_version`); opening
//   applies every forward migration in one transaction and refuses a database
//   from a newer version (Permanent error) instead of touching it;
// - calls are serialised by one mutex (core/stores/sqlite/sqlite_dialect.hpp), so one provider may be shared by threads;
//   several providers (processes) may share one file, SQLite's locks and the
//   busy timeout arbitrate between them;
// - time for locks and visibility comes only from the injected Clock, lock
//   tokens only from the injected IdSource; both must outlive the provider;
// - behaves identically natively and in WebAssembly.
#pragma once

#include <cstdint>
#include <string>

#include "duroxide/environment.hpp"
#include "duroxide/sql_store.hpp"

namespace duroxide {

struct SqliteOptions {
  enum class Synchronous { Off, Normal, Full };
  Synchronous synchronous = Synchronous::Normal;
  int busy_timeout_ms = 5000;  // 0: fail at once with a Transient error when locked
  // The name of a registered SQLite VFS to open the file through; empty: the VFS
  // that gathers WAL writes (wal_gather_vfs.hpp) over SQLite's default. The seam the
  // simulator uses for an in-memory, fault-injecting disk.
  std::string vfs;
  // Minute buckets of the time series older than this roll up into hour buckets
  // (done by the first ack of each new minute, in its transaction).
  std::int64_t minute_retention_ms = 24LL * 3600 * 1000;
  // Change-feed rows (changes_since, watch_metrics) older than this, and parked messages
  // (queue rows no instance could take) older than parked_retention_ms, are deleted by
  // Provider::maintain a batch at a time (the threaded driver calls it); 0 keeps them.
  // A reader further behind than the retention misses what was deleted.
  std::int64_t change_retention_ms = 7LL * 24 * 3600 * 1000;
  std::int64_t parked_retention_ms = 30LL * 24 * 3600 * 1000;
  // Instance retention: finished root instances (with their trees) not updated for
  // this long are purged by Provider::maintain, at most 100 a call and once a second,
  // going on where the last call stopped (purge_completed's walk); 0 keeps them.
  std::int64_t finished_retention_ms = 0;
  // Management reads (listings, details, statistics, queue depths, diagnostics)
  // and the clients' key-value reads on a connection of their own, so a slow
  // one never holds the lock that fetches and acks take: WAL lets it read beside
  // the writer. Only for a file in WAL mode with `vfs` empty; otherwise
  // every call shares the one connection.
  bool read_connection = true;
  // Each connection's page cache, in KiB (PRAGMA cache_size), filled only as pages are
  // read. SQLite's own default (2 MiB) makes a store of a million instances read most
  // index pages back from the OS for each delete: 64 MiB took purge at 100k instances
  // from 18k to 31k instances/s (docs/bench.md). At least 64 KiB.
  std::int64_t cache_kib = 64 * 1024;
  // Open an existing file for reading (an operator inspecting it): the file must exist and
  // hold this build's schema version. A missing file is not created; one without a schema,
  // or at an older or newer version, is refused (ProviderError Permanent), neither created
  // nor migrated, and the journal mode is left as it is. (Closing still checkpoints the
  // log's committed pages into the file, as every connection's close does.) An in-memory
  // store has no schema to read: it is refused.
  bool read_only = false;
};

class SqliteProvider final : public SqlStore {
 public:
  static constexpr int kSchemaVersion = 21;

  // path ":memory:" for an in-memory database. Throws ProviderError.
  SqliteProvider(const std::string& path, Clock& clock, IdSource& ids, SqliteOptions options = {});
  ~SqliteProvider() override;

  // Single-row write transactions in a loop for `duration_ms` (WAL, `options.synchronous`,
  // a scratch table created and dropped in the database at `path`): commits per second,
  // the ceiling for anything that commits once per step. Throws ProviderError.
  static double measure_commit_rate(const std::string& path, const SqliteOptions& options, Clock& clock,
                                    std::int64_t duration_ms);
  // What SQLite alone takes, on this build, for the two kinds of read the management
  // client leaves to a scan: counting an index range and matching text row by row.
  struct ScanTimes {
    std::uint64_t rows = 0;
    std::uint64_t range_counted = 0;  // about rows / 4: the rows of one status of four in the newer half
    double range_count_ms = 0;        // COUNT(*) over that (status, created) index range
    std::uint64_t text_matched = 0;   // 1: the text only the first row holds
    double text_scan_ms = 0;          // COUNT(*) of the rows whose text LIKE '%<text>%'
  };
  // Fills a scratch table of `rows` rows (status in blocks of four, a creation time, a
  // short text) in the database at `path`, times each query as the fastest of five
  // windows of calls, and drops the table. `rows` is 4 to 1,000,000. Throws ProviderError.
  static ScanTimes measure_scan_times(const std::string& path, const SqliteOptions& options, Clock& clock,
                                      std::uint64_t rows);
  // Copies the write-ahead log into the main file (and truncates the log), so
  // the main file alone holds the whole database: before copying it elsewhere.
  void checkpoint();
};

}  // namespace duroxide
