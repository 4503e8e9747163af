#include "metrics_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace duroxide::cli {

namespace {

constexpr std::size_t kMaxRequestBytes = 8 * 1024;
constexpr int kPollMs = 100;        // how soon the thread sees a stop
constexpr int kRequestMs = 2'000;   // a client's time to send its whole request, however it trickles

std::string response(int status, const char* reason, const std::string& type, const std::string& body) {
  return "HTTP/1.0 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

void send_all(int connection, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(connection, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the client went away
    sent += static_cast<std::size_t>(n);
  }
}

// The response to one request's first line ("GET /metrics HTTP/1.1"), with its headers.
std::string metrics_response(const std::string& request_line, const std::function<std::string()>& body) {
  const std::size_t method_end = request_line.find(' ');
  const std::size_t path_end = method_end == std::string::npos ? std::string::npos : request_line.find(' ', method_end + 1);
  if (path_end == std::string::npos) return response(400, "Bad Request", "text/plain", "bad request line\n");
  const std::string method = request_line.substr(0, method_end);
  std::string path = request_line.substr(method_end + 1, path_end - method_end - 1);
  path = path.substr(0, path.find('?'));
  if (path != "/metrics") return response(404, "Not Found", "text/plain", "only /metrics is served here\n");
  if (method != "GET") return response(405, "Method Not Allowed", "text/plain", "GET only\n");
  try {
    return response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", body());
  } catch (const std::exception& error) {
    return response(500, "Internal Server Error", "text/plain", std::string(error.what()) + "\n");
  }
}

}  // namespace

MetricsServer::MetricsServer(std::uint16_t port, Handler handler) : handler_(std::move(handler)) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) throw std::runtime_error(std::string("metrics endpoint: socket: ") + std::strerror(errno));
  const int yes = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(listener_);
    throw std::runtime_error("metrics endpoint: cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + reason);
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

MetricsServer::~MetricsServer() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(listener_);
}

void MetricsServer::serve() {
  while (!stopping_) {
    pollfd ready{listener_, POLLIN, 0};
    if (::poll(&ready, 1, kPollMs) <= 0) continue;
    const int connection = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) continue;
    answer(connection);
    ::close(connection);
  }
}

// One connection at a time, so each has kRequestMs in all to send its request: a client
// that trickles bytes delays other scrapes by at most that, and a stop by kPollMs. Each send
// of the answer waits at most the send timeout for room (a client that reads slowly can
// still hold the thread while its reads keep making room).
void MetricsServer::answer(int connection) {
  timeval send_timeout{kRequestMs / 1000, 0};
  ::setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kRequestMs);
  std::string request;
  char buffer[1024];
  while (request.find("\r\n\r\n") == std::string::npos && request.find("\n\n") == std::string::npos) {
    if (request.size() >= kMaxRequestBytes) {
      send_all(connection, response(431, "Request Header Fields Too Large", "text/plain", "request over 8 KiB\n"));
      return;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || stopping_) break;  // no complete request in time: answer what came
    pollfd readable{connection, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(std::min<std::int64_t>(left.count(), kPollMs))) <= 0) continue;
    const ssize_t n = ::recv(connection, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n <= 0) break;  // closed (or an error): answer what came
    request.append(buffer, static_cast<std::size_t>(n));
  }
  std::string line = request.substr(0, request.find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  send_all(connection, metrics_response(line, handler_));
}

}  // namespace duroxide::cli
