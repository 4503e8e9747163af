#include "duroxide/session_keeper.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "duroxide/assert.hpp"
#include "duroxide/runtime.hpp"

namespace duroxide {

SessionKeeper::SessionKeeper(Provider& provider, Clock& clock, const RuntimeOptions& options, std::string owner_id)
    : provider_(provider),
      clock_(clock),
      fetch_{std::move(owner_id), options.session_lock_timeout_ms},
      max_sessions_(options.max_sessions_per_runtime),
      renew_every_ms_(std::max<std::int64_t>(options.session_lock_timeout_ms - options.session_lock_renewal_buffer_ms, 1)),
      idle_timeout_ms_(options.session_idle_timeout_ms),
      last_renewal_ms_(clock.now_ms()) {
  DUROXIDE_ASSERT(!fetch_.owner_id.empty(), "a session keeper has an owner id");
}

const SessionFetch* SessionKeeper::fetch_config() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_sessions_ < max_sessions_ ? &fetch_ : nullptr;
}

bool SessionKeeper::begin(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = held_.find(session_id);
  const bool running = found != held_.end() && found->second.running > 0;
  if (!running && running_sessions_ >= max_sessions_) return false;
  Held& held = held_[session_id];
  if (held.running++ == 0) ++running_sessions_;
  held.last_activity_ms = clock_.now_ms();
  return true;
}

void SessionKeeper::end(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = held_.find(session_id);
  DUROXIDE_ASSERT(found != held_.end() && found->second.running > 0, "end() matches a begin()");
  if (--found->second.running == 0) --running_sessions_;
  found->second.last_activity_ms = clock_.now_ms();
}

void SessionKeeper::renew_if_due() {
  std::vector<std::string> running;
  std::vector<std::string> resting;  // no activity here now, one within the idle timeout
  const TimestampMs now = clock_.now_ms();
  TimestampMs previous_renewal_ms = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (now - last_renewal_ms_ < renew_every_ms_) return;
    previous_renewal_ms = last_renewal_ms_;
    last_renewal_ms_ = now;  // one caller renews; the others see it done
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->second.running == 0 && now - it->second.last_activity_ms >= idle_timeout_ms_) {
        it = held_.erase(it);  // idle: its lock runs out, and another runtime may claim it
        continue;
      }
      (it->second.running > 0 ? running : resting).push_back(it->first);
      ++it;
    }
  }
  // Every held session is renewed, in calls of at most the provider's list limit: the
  // running ones first, so a failing call costs a resting session before a running one.
  running.insert(running.end(), resting.begin(), resting.end());
  try {
    for (std::size_t first = 0; first < running.size(); first += limits::kMaxSessionsPerRuntime) {
      const std::size_t last = std::min(running.size(), first + limits::kMaxSessionsPerRuntime);
      provider_.renew_session_locks(fetch_.owner_id,
                                    std::vector<std::string>(running.begin() + static_cast<std::ptrdiff_t>(first),
                                                             running.begin() + static_cast<std::ptrdiff_t>(last)),
                                    fetch_.lock_timeout_ms);
    }
  } catch (...) {
    // Not renewed: due again at once, so the next call tries before the locks run out
    // (waiting a whole renewal period would outlast them).
    std::lock_guard<std::mutex> lock(mutex_);
    if (last_renewal_ms_ == now) last_renewal_ms_ = previous_renewal_ms;
    throw;
  }
}

}  // namespace duroxide
