// SessionKeeper: the activity sessions one runtime holds (ActivityOptions::session_id;
// docs/semantics.md, "Activity sessions"), shared by that runtime's worker dispatchers.
//
// It knows which sessions have activities running here and when each last had one, and
// renews the store's session locks (Provider::renew_session_locks) for the ones that are
// not idle. A session idle for RuntimeOptions::session_idle_timeout_ms is no longer
// renewed: its lock runs out and another runtime may claim it. A runtime that stops
// stops renewing too, so its sessions move within session_lock_timeout_ms. Thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "duroxide/environment.hpp"
#include "duroxide/provider.hpp"

namespace duroxide {

struct RuntimeOptions;

class SessionKeeper {
 public:
  // `owner_id`: the session owner this runtime fetches as (RuntimeOptions::worker_node_id,
  // or the driver's own when that is empty). The options must have passed
  // check_runtime_options.
  SessionKeeper(Provider& provider, Clock& clock, const RuntimeOptions& options, std::string owner_id);

  const std::string& owner_id() const { return fetch_.owner_id; }
  // The session part of the next worker fetch: nullptr once this runtime runs the
  // activities of max_sessions_per_runtime sessions (then it fetches items outside
  // sessions only, and the sessions it holds wait for a slot).
  const SessionFetch* fetch_config() const;
  // Before an activity of `session_id` runs: false when that would make one session
  // more than max_sessions_per_runtime running here (the caller gives the item back).
  // Each true is matched by one end().
  bool begin(const std::string& session_id);
  void end(const std::string& session_id);
  // When the last renewal is session_lock_timeout_ms - session_lock_renewal_buffer_ms
  // old: renews the locks of the sessions that run an activity here or had one within
  // session_idle_timeout_ms, and forgets the others. Throws ProviderError (the next
  // call tries again).
  void renew_if_due();

 private:
  struct Held {
    std::size_t running = 0;            // activities of the session running here now
    TimestampMs last_activity_ms = 0;   // when one last began or ended here
  };

  Provider& provider_;
  Clock& clock_;
  SessionFetch fetch_;
  std::size_t max_sessions_;
  std::int64_t renew_every_ms_;
  std::int64_t idle_timeout_ms_;

  mutable std::mutex mutex_;
  std::map<std::string, Held> held_;
  std::size_t running_sessions_ = 0;  // sessions with running > 0
  TimestampMs last_renewal_ms_ = 0;
};

}  // namespace duroxide
