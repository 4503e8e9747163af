// The pooled connection shared by the PostgresProvider sources. Not a public header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "duroxide/management_provider.hpp"
#include "duroxide/postgres_provider.hpp"
#include "duroxide/provider.hpp"
#include "postgres_connection.hpp"
#include "postgres_dialect.hpp"
#include "store_sql.hpp"

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
