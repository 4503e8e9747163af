// Deliberately broken provider variants, built only into the tests, to prove
// the simulator catches the bugs they stand for. Each wraps the real store and
// reproduces, call for call, what the broken implementation would have stored;
// where a bug needs a crash at a particular point it asks the world
// (WorldHooks::crash_point, the CommitCrash fault) and dies there.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "duroxide/sim/simulation.hpp"
#include "forwarding_store.hpp"

namespace duroxide::testing {

class ForwardingProvider : public ForwardingStore {
 public:
  ForwardingProvider(Provider& inner, sim::WorldHooks& hooks) : ForwardingStore(inner), hooks_(hooks) {}

 protected:
  sim::WorldHooks& hooks_;
};

// An orchestration ack in two transactions: the first deletes the fetched
// messages and releases the lock, the second writes the history and the new
// work. A crash between them loses the turn's input for good.
class NonAtomicOrchestrationAck final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    if (!hooks_.crash_point("between the dequeue and the history write")) {
      inner_.ack_orchestration_item(token, ack);
      return;
    }
    OrchestrationAck dequeue_only;
    dequeue_only.execution_id = ack.execution_id;
    dequeue_only.metadata.orchestration_name = ack.metadata.orchestration_name;
    dequeue_only.metadata.orchestration_version = ack.metadata.orchestration_version;
    dequeue_only.metadata.parent_instance = ack.metadata.parent_instance;
    dequeue_only.metadata.parent_id = ack.metadata.parent_id;
    inner_.ack_orchestration_item(token, dequeue_only);
    throw sim::NodeCrash{"between the two transactions of a non-atomic ack"};
  }
};

// A worker ack in two transactions: delete the item, then enqueue its
// completion. A crash between them loses the activity's result.
class NonAtomicWorkerAck final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  void ack_work_item(const std::string& token, const std::optional<WorkItem>& completion) override {
    if (!completion || !hooks_.crash_point("between the delete and the completion")) {
      inner_.ack_work_item(token, completion);
      return;
    }
    inner_.ack_work_item(token, std::nullopt);
    throw sim::NodeCrash{"between the two transactions of a non-atomic worker ack"};
  }
};

// Ignores the visibility time of orchestrator items: timers and retry backoffs
// are delivered at once.
class IgnoresVisibilityTime final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    OrchestrationAck eager = ack;
    for (OrchestratorItem& item : eager.orchestrator_items) item.visible_at_ms = hooks_.now_ms();
    inner_.ack_orchestration_item(token, eager);
  }
  void enqueue_orchestrator_item(const WorkItem& item, std::int64_t) override {
    inner_.enqueue_orchestrator_item(item, 0);
  }
};

// Instance locks that never expire: an instance fetched by a node that then
// dies is never handed out again. (Tracked here: the real store would let the
// expired lock go, so this wrapper refuses such a fetch and puts the item back.)
class LocksNeverExpire final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                            const CapabilityFilter& filter) override {
    auto item = inner_.fetch_orchestration_item(lock_timeout_ms, filter);
    if (!item) return item;
    if (held_.count(item->instance)) {
      inner_.abandon_orchestration_item(item->lock_token, 0, true);
      return std::nullopt;
    }
    held_[item->instance] = item->lock_token;
    instance_of_[item->lock_token] = item->instance;
    return item;
  }
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    release(token);
    inner_.ack_orchestration_item(token, ack);
  }
  void abandon_orchestration_item(const std::string& token, std::int64_t delay_ms,
                                  bool ignore_attempt) override {
    release(token);
    inner_.abandon_orchestration_item(token, delay_ms, ignore_attempt);
  }

 private:
  void release(const std::string& token) {
    auto found = instance_of_.find(token);
    if (found == instance_of_.end()) return;
    held_.erase(found->second);
    instance_of_.erase(found);
  }
  std::map<std::string, std::string> held_;  // instance -> token of the fetch holding it
  std::map<std::string, std::string> instance_of_;
};

// A shutdown that stops renewing its running activity's worker lock before the
// activity finishes (the threaded driver's lock keeper stopping with the
// dispatchers): renewals by a shutting-down node are dropped, so its lock
// expires and another node runs the activity again.
class ShutdownStopsRenewing final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  void renew_work_item_lock(const std::string& token, std::int64_t extend_ms) override {
    if (hooks_.shutting_down()) return;
    inner_.renew_work_item_lock(token, extend_ms);
  }
};

// Session owners ignored: every fetch claims and takes sessions as one owner, so any
// node runs any session's activities, one session on several nodes at once.
class SessionsOfOneOwner final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  std::optional<WorkerItem> fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                            const SessionFetch* session) override {
    if (!session) return inner_.fetch_work_item(lock_timeout_ms, filter, nullptr);
    const SessionFetch everyone{"everyone", session->lock_timeout_ms};
    return inner_.fetch_work_item(lock_timeout_ms, filter, &everyone);
  }
};

template <typename Variant>
sim::StoreWrapper broken_store() {
  return [](Provider& inner, sim::WorldHooks& hooks) -> std::unique_ptr<Provider> {
    return std::make_unique<Variant>(inner, hooks);
  };
}

}  // namespace duroxide::testing
