// A store that forwards every call to another one: the base of the tests' fault
// wrappers, which override only the calls they break.
#pragma once

#include "duroxide/provider.hpp"

namespace duroxide::testing {

class ForwardingStore : public Provider {
 public:
  explicit ForwardingStore(Provider& inner) : inner_(inner) {}
  using Provider::fetch_orchestration_item;
  using Provider::fetch_orchestration_items;
  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                            const CapabilityFilter& filter) override {
    return inner_.fetch_orchestration_item(lock_timeout_ms, filter);
  }
  void ack_orchestration_item(const std::string& token, const OrchestrationAck& ack) override {
    inner_.ack_orchestration_item(token, ack);
  }
  void abandon_orchestration_item(const std::string& token, std::int64_t delay_ms,
                                  bool ignore_attempt) override {
    inner_.abandon_orchestration_item(token, delay_ms, ignore_attempt);
  }
  void renew_orchestration_item_lock(const std::string& token, std::int64_t extend_ms) override {
    inner_.renew_orchestration_item_lock(token, extend_ms);
  }
  History read(const std::string& instance) override { return inner_.read(instance); }
  void enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) override {
    inner_.enqueue_orchestrator_item(item, delay_ms);
  }
  void enqueue_orchestrator_items(const std::vector<WorkItem>& items) override {
    inner_.enqueue_orchestrator_items(items);
  }
  bool enqueues_all_or_none() const override { return inner_.enqueues_all_or_none(); }
  using Provider::fetch_work_item;
  using Provider::fetch_work_items;
  std::optional<WorkerItem> fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                            const SessionFetch* session) override {
    return inner_.fetch_work_item(lock_timeout_ms, filter, session);
  }
  std::size_t renew_session_locks(const std::string& owner_id, const std::vector<std::string>& session_ids,
                                  std::int64_t extend_ms) override {
    return inner_.renew_session_locks(owner_id, session_ids, extend_ms);
  }
  std::size_t cleanup_orphaned_sessions() override { return inner_.cleanup_orphaned_sessions(); }
  void ack_work_item(const std::string& token, const std::optional<WorkItem>& completion) override {
    inner_.ack_work_item(token, completion);
  }
  void renew_work_item_lock(const std::string& token, std::int64_t extend_ms) override {
    inner_.renew_work_item_lock(token, extend_ms);
  }
  void abandon_work_item(const std::string& token, std::int64_t delay_ms, bool ignore_attempt) override {
    inner_.abandon_work_item(token, delay_ms, ignore_attempt);
  }
  std::optional<std::string> get_kv_value(const std::string& instance, const std::string& key) override {
    return inner_.get_kv_value(instance, key);
  }
  std::optional<std::string> get_kv_value_seen_by(const std::string& reader, const std::string& instance,
                                                  const std::string& key) override {
    return inner_.get_kv_value_seen_by(reader, instance, key);
  }
  KvMap get_kv_all_values(const std::string& instance) override {
    return inner_.get_kv_all_values(instance);
  }
  std::size_t preferred_batch_size() const override { return inner_.preferred_batch_size(); }

 protected:
  Provider& inner_;
};

}  // namespace duroxide::testing
