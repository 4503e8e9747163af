// The HTTP endpoint of `duroxide serve`: a small HTTP/1.0 server on 127.0.0.1 that
// answers GET /metrics with the text a handler returns (Prometheus exposition
// format) and anything else with 404. It runs on its own thread, one connection
// at a time: a request line and headers of at most 8 KiB, read within 2 s, answered
// and closed. Native only (the CLI is a native host).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace duroxide::cli {

class MetricsServer {
 public:
  using Handler = std::function<std::string()>;  // the body of GET /metrics; may throw (500)

  // Listens on 127.0.0.1:`port` (0: an ephemeral port; port() tells which).
  // Throws std::runtime_error when the port cannot be bound.
  MetricsServer(std::uint16_t port, Handler handler);
  ~MetricsServer();  // stops and joins the thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  void serve();
  void answer(int connection);

  int listener_ = -1;
  std::uint16_t port_ = 0;
  Handler handler_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace duroxide::cli
