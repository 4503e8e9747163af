// Helpers shared by the PostgresProvider's hot path (postgres_provider.cpp, which
// defines them) and its management half (postgres_management.cpp). Not a public header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "duroxide/management_provider.hpp"
#include "duroxide/postgres_provider.hpp"
#include "duroxide/provider.hpp"
#include "postgres_connection.hpp"

namespace duroxide::pg {

// Same meaning as sqlite::MetricDelta (core/stores/sqlite/sqlite_provider_internal.hpp).
struct MetricDelta {
  std::int64_t starts = 0;
  std::int64_t completions = 0;
  std::int64_t failures = 0;
  std::optional<std::int64_t> duration_ms;  // with a completion or failure
  TimestampMs created_at = 0;               // the instance's creation: start + duration = finish
};

// Status text of an execution row ("ContinuedAsNew" or the RuntimeState).
std::string status_text(const ExecutionMetadata& metadata);
// InvalidInput unless 1..256 bytes.
void check_identifier(const std::string& value, const std::string& operation);
// Appends one row to the change feed (status "Deleted" for a deletion).
void record_change(Connection& db, const std::string& instance, const std::string& status,
                   std::int64_t execution_id, std::int64_t custom_status_version,
                   std::int64_t now, const MetricDelta& delta = {},
                   const std::string& orchestration = {});
// Adds `delta` to the minute bucket holding `at` (inside the caller's transaction).
void record_metrics(Connection& db, const std::string& orchestration, TimestampMs at,
                    const MetricDelta& delta);
// Moves minute buckets that start before `before` into their hour buckets.
void roll_up_minutes(Connection& db, TimestampMs before);

}  // namespace duroxide::pg

namespace duroxide {

// A pooled connection, held for one call and returned to the pool (idle, or
// dropped when a transaction was left open, which cannot happen: Transaction
// always ends) when the Lease goes out of scope. Used like a pointer.
class PostgresProvider::Lease {
 public:
  Lease(PostgresProvider& owner, std::unique_ptr<pg::Connection> connection)
      : owner_(&owner), connection_(std::move(connection)) {}
  Lease(Lease&& other) noexcept : owner_(other.owner_), connection_(std::move(other.connection_)) {}
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (connection_) owner_->give_back(std::move(connection_));
  }
  pg::Connection* operator->() const { return connection_.get(); }
  pg::Connection& operator*() const { return *connection_; }

 private:
  PostgresProvider* owner_;
  std::unique_ptr<pg::Connection> connection_;
};

}  // namespace duroxide
