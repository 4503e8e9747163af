#include "postgres_pool.hpp"

namespace duroxide::pg {

Lease::~Lease() {
  if (connection_) owner_->give_back(std::move(connection_));
}

Pool::Pool(std::string conninfo, std::string session_setup, Clock& clock, std::size_t max_connections,
           std::unique_ptr<Connection> first)
    : conninfo_(std::move(conninfo)),
      session_setup_(std::move(session_setup)),
      clock_(clock),
      max_connections_(max_connections) {
  first->set_log(log_);
  first->set_session_setup(session_setup_);
  open_connections_ = 1;
  idle_.push_back(std::move(first));
}

std::unique_ptr<Connection> Pool::open_one() {
  auto connection = std::make_unique<Connection>(conninfo_);
  connection->set_clock(&clock_);
  connection->set_log(log_);
  connection->set_session_setup(session_setup_);
  return connection;
}

Lease Pool::lease(const char* operation) {
  std::unique_lock<std::mutex> lock(mutex_);
  available_.wait(lock, [&] { return !idle_.empty() || open_connections_ < max_connections_; });
  std::unique_ptr<Connection> connection;
  if (!idle_.empty()) {
    connection = std::move(idle_.back());
    idle_.pop_back();
  } else {
    ++open_connections_;  // reserved; opened outside the lock (a connect takes a round trip or more)
    lock.unlock();
    try {
      connection = open_one();
    } catch (...) {
      std::lock_guard<std::mutex> relock(mutex_);
      --open_connections_;
      available_.notify_one();
      throw;
    }
  }
  connection->set_operation(operation);
  Lease leased(*this, std::move(connection));
  leased->ensure_connected();  // the Lease gives the connection back if this throws
  return leased;
}

void Pool::give_back(std::unique_ptr<Connection> connection) {
  std::lock_guard<std::mutex> lock(mutex_);
  idle_.push_back(std::move(connection));
  available_.notify_one();
}

}  // namespace duroxide::pg
