// Defects the engine once had, reintroduced through the store the simulated
// nodes share (tests only), to prove the generated workload finds each. Each
// wrapper reproduces, call for call, what the broken engine made the store see
// (docs/semantics.md names the contracts; tests/sim_proof_test.cpp the proof).
#pragma once

#include <map>
#include <string>

#include "broken_providers.hpp"

namespace duroxide::testing {

// A sub-orchestration that continues as new forgets its parent: the next
// execution starts as a root and never reports back ("A continued
// sub-orchestration still reports to its parent").
class ContinueAsNewLosesParent final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                            const CapabilityFilter& filter) override {
    auto item = inner_.fetch_orchestration_item(lock_timeout_ms, filter);
    if (item && item->execution_id >= 1 && continues(*item)) {
      item->parent_instance.clear();
      item->parent_id = 0;
    }
    return item;
  }
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    OrchestrationAck rootless = ack;
    for (OrchestratorItem& queued : rootless.orchestrator_items) {
      if (auto* next = std::get_if<work::ContinueAsNew>(&queued.item)) {
        next->parent_instance.clear();
        next->parent_id = 0;
      }
    }
    if (rootless.execution_id > 1) {
      rootless.metadata.parent_instance.clear();
      rootless.metadata.parent_id = 0;
    }
    inner_.ack_orchestration_item(token, rootless);
  }

 private:
  static bool continues(const OrchestrationItem& item) {
    for (const WorkItem& message : item.messages) {
      if (std::holds_alternative<work::ContinueAsNew>(message)) return true;
    }
    return item.execution_id > 1;
  }
};

// Continue-as-new drops what the execution had not consumed: events and queue
// messages delivered but not taken are not carried ("Continue-as-new loses no
// message").
class ContinueAsNewDropsMessages final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    OrchestrationAck forgetful = ack;
    for (OrchestratorItem& queued : forgetful.orchestrator_items) {
      if (auto* next = std::get_if<work::ContinueAsNew>(&queued.item)) next->carried.clear();
    }
    inner_.ack_orchestration_item(token, forgetful);
  }
};

// A wait that lost a select (or was dropped) keeps its place in line: the next
// event of its name goes to the dead subscription and is lost ("A cancelled
// wait gives up its place"). Seen from the store: after an ack records
// ExternalSubscribedCancelled, the next such event fetched vanishes with the
// batch's ack.
class CancelledWaitKeepsItsPlace final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                            const CapabilityFilter& filter) override {
    auto item = inner_.fetch_orchestration_item(lock_timeout_ms, filter);
    if (!item) return item;
    instance_of_[item->lock_token] = item->instance;
    auto& leaked = leaked_[item->instance];
    std::vector<WorkItem> kept;
    for (WorkItem& message : item->messages) {
      const auto* raised = std::get_if<work::ExternalRaised>(&message);
      if (raised && leaked[raised->name] > 0) {
        --leaked[raised->name];  // taken by the dead wait
        continue;
      }
      kept.push_back(std::move(message));
    }
    item->messages = std::move(kept);
    return item;
  }
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    const std::string instance = instance_of_[token];
    instance_of_.erase(token);
    inner_.ack_orchestration_item(token, ack);
    for (const Event& event : ack.history_delta) {
      if (!event.as<events::ExternalSubscribedCancelled>()) continue;
      for (const Event& earlier : inner_.read(instance)) {
        const auto* subscribed = earlier.as<events::ExternalSubscribed>();
        if (subscribed && earlier.event_id == event.source_event_id) ++leaked_[instance][subscribed->name];
      }
    }
  }

 private:
  std::map<std::string, std::string> instance_of_;
  std::map<std::string, std::map<std::string, int>> leaked_;  // instance -> event name -> dead waits
};

// A value the store cannot take (an activity's invalid UTF-8 or over-limit
// result, an orchestration's invalid input) is refused as a retryable error, so
// the item loops instead of failing visibly ("A bad value fails only its own item").
class BadValuesLoop final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  void ack_work_item(const std::string& token, const std::optional<WorkItem>& completion) override {
    const auto* failed = completion ? std::get_if<work::ActivityFailed>(&*completion) : nullptr;
    if (failed && bad(failed->details.display_message())) {
      throw ProviderError(ProviderErrorKind::Transient, "ack_work_item", "the store refused the value");
    }
    inner_.ack_work_item(token, completion);
  }
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    if (ack.metadata.error && bad(ack.metadata.error->display_message())) {
      throw ProviderError(ProviderErrorKind::Transient, "ack_orchestration_item", "the store refused the value");
    }
    inner_.ack_orchestration_item(token, ack);
  }

 private:
  static bool bad(const std::string& message) {
    return message.find("not valid UTF-8") != std::string::npos || message.find("over the limit") != std::string::npos;
  }
};

// A corrupted row is not reported: the store skips the instance's item and
// puts it back, so the instance stays Running forever ("Corrupted rows end the
// instance visibly").
class CorruptionLeavesStuck final : public ForwardingProvider {
 public:
  using ForwardingProvider::ForwardingProvider;
  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                            const CapabilityFilter& filter) override {
    auto item = inner_.fetch_orchestration_item(lock_timeout_ms, filter);
    if (item && item->corruption) {
      inner_.abandon_orchestration_item(item->lock_token, 1'000, true);
      return std::nullopt;
    }
    return item;
  }
};

}  // namespace duroxide::testing
