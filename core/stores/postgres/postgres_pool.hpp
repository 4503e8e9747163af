// A small pool of PostgreSQL connections for one store: a call leases one for
// its duration (Lease), so the dispatcher threads of one process work in
// parallel, as separate processes do. Not a public header.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "duroxide/environment.hpp"
#include "postgres_connection.hpp"

namespace duroxide::pg {

class Pool;

// A pooled connection, held for one call and returned to the pool when the
// Lease goes out of scope. Used like a pointer.
class Lease {
 public:
  Lease(Pool& owner, std::unique_ptr<Connection> connection) : owner_(&owner), connection_(std::move(connection)) {}
  Lease(Lease&& other) noexcept : owner_(other.owner_), connection_(std::move(other.connection_)) {}
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Lease& operator=(Lease&&) = delete;
  ~Lease();
  Connection* operator->() const { return connection_.get(); }
  Connection& operator*() const { return *connection_; }

 private:
  Pool* owner_;
  std::unique_ptr<Connection> connection_;
};

class Pool {
 public:
  // `first` is an open connection already set up; at most `max_connections` (>= 1) are open at once.
  Pool(std::string conninfo, std::string session_setup, Clock& clock, std::size_t max_connections,
       std::unique_ptr<Connection> first);

  // A connection named `operation` in its errors, connected (a lost one
  // reconnects here); waits while all are in use. Throws ProviderError.
  Lease lease(const char* operation);
  // The last error of any pooled connection and their round trips, for diagnostics.
  const std::shared_ptr<ConnectionLog>& log() const { return log_; }

 private:
  friend class Lease;
  void give_back(std::unique_ptr<Connection> connection);
  std::unique_ptr<Connection> open_one();

  const std::string conninfo_;
  const std::string session_setup_;
  Clock& clock_;
  const std::size_t max_connections_;
  std::shared_ptr<ConnectionLog> log_ = std::make_shared<ConnectionLog>();
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_connections_ = 0;
};

}  // namespace duroxide::pg
