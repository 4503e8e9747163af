// PostgresProvider: Provider and ManagementProvider over a small pool of
// PostgreSQL connections, for several runtime processes (on several machines) sharing one
// database. Native builds only (CMake option DUROXIDE_POSTGRES, libpq).
//
// Contract (beyond provider.hpp and management_provider.hpp):
// - the same tables, indexes and semantics as SqliteProvider; the schema lives
//   in its own PostgreSQL schema (`PostgresOptions::schema`) with its version in
//   a one-row table; opening applies forward migrations in one transaction
//   (serialised across processes by an advisory lock) and refuses a newer schema;
// - no message is handed to two processes: a worker item is claimed with
//   `FOR UPDATE SKIP LOCKED`, an instance by an upsert of its lock row that only
//   succeeds when the lock is free or expired (a racing process waits for the
//   winner's commit, then sees the lock and moves on); acks lock the lock row
//   first, so an expired lock cannot be taken over in the middle of an ack;
// - every ack is one transaction; a failed ack writes nothing;
// - lock expiry and visibility use the injected Clock of each process (all
//   processes must agree on time, e.g. SystemClock on NTP-synced machines);
// - a lost connection surfaces as a Transient (retryable) ProviderError and the
//   next call on that connection reconnects;
// - thread-safe: each call holds one pooled connection (at most
//   `PostgresOptions::connections`, opened on demand) for its duration, so the
//   dispatcher threads of one process work in parallel, as separate processes do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "duroxide/environment.hpp"
#include "duroxide/sql_store.hpp"

namespace duroxide {

struct PostgresOptions {
  // A PostgreSQL schema name ([a-z_][a-z0-9_]*, at most 63 bytes): several
  // independent stores can share one database.
  std::string schema = "duroxide";
  std::int64_t minute_retention_ms = 24LL * 3600 * 1000;  // as SqliteOptions
  std::int64_t change_retention_ms = 7LL * 24 * 3600 * 1000;   // as SqliteOptions
  std::int64_t parked_retention_ms = 30LL * 24 * 3600 * 1000;  // as SqliteOptions
  std::int64_t finished_retention_ms = 0;                     // as SqliteOptions
  // Sessions this provider may open (1..64); a call waits for a free one.
  std::size_t connections = 4;
  // As SqliteOptions::read_only: the schema must exist at this build's version; it is
  // neither created nor migrated.
  bool read_only = false;
};

class PostgresProvider final : public SqlStore {
 public:
  static constexpr int kSchemaVersion = 20;  // the tables of SqliteProvider 9 but its totals row

  // Throws ProviderError (Transient when the server is unreachable).
  PostgresProvider(const std::string& conninfo, Clock& clock, IdSource& ids,
                   PostgresOptions options = {});
  ~PostgresProvider() override;

  // Single-row autocommit inserts over one connection for `duration_ms` (a scratch table
  // created and dropped): commits per second, one per round trip — the ceiling for
  // anything that commits once per step on this server. Throws ProviderError.
  static double measure_commit_rate(const std::string& conninfo, Clock& clock, std::int64_t duration_ms);
  // Drops the schema and everything in it (tests and `duroxide` reset tools).
  void drop_schema();
};

}  // namespace duroxide
