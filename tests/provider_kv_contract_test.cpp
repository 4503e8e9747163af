// The provider contract for the key-value table (docs/store-contract.md): an ack
// applies its KvMutations in its own transaction, reads see the committed state,
// a failed ack writes none, deletion and export/import carry the rows.
#include "provider_suite.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

KvMutation set(const std::string& key, const std::string& value, TimestampMs at = 5) {
  return {KvMutation::Kind::Set, key, value, at};
}
KvMutation clear(const std::string& key) { return {KvMutation::Kind::Clear, key, {}, 0}; }
KvMutation clear_all() { return {KvMutation::Kind::ClearAll, {}, {}, 0}; }

// One turn of `instance` (created if new) that appends one event and applies `mutations`.
void ack_kv(ProviderUnderTest& f, const std::string& instance, std::vector<KvMutation> mutations,
            bool first = false) {
  if (first) {
    f.provider().enqueue_orchestrator_item(start_item(instance), 0);
  } else {
    f.provider().enqueue_orchestrator_item(work::ExternalRaised{instance, "e", ""}, 0);
  }
  OrchestrationItem item = fetch(f);
  REQUIRE(item.instance == instance);
  OrchestrationAck ack;
  EventId next = item.history.empty() ? 1 : item.history.back().event_id + 1;
  ack.history_delta = {first ? started_event("Orch", next)
                             : Event{next, 0, 0, events::ExternalEvent{"e", ""}}};
  ack.metadata = metadata();
  ack.kv_mutations = std::move(mutations);
  f.provider().ack_orchestration_item(item.lock_token, ack);
}

}  // namespace

TEST_CASE("contract: an ack applies its key-value mutations in order", "[provider][kv]") {
  FOR_EACH_PROVIDER(f);
  CHECK_FALSE(f.provider().get_kv_value("i", "a").has_value());  // unknown instance
  CHECK(f.provider().get_kv_all_values("i").empty());
  ack_kv(f, "i", {set("a", "1", 7), set("b", "2"), set("a", "3", 9), clear("b"), set("c", "")},
         true);
  CHECK(f.provider().get_kv_value("i", "a") == std::optional<std::string>("3"));
  CHECK_FALSE(f.provider().get_kv_value("i", "b").has_value());
  CHECK(f.provider().get_kv_value("i", "c") == std::optional<std::string>(""));
  KvMap all = f.provider().get_kv_all_values("i");
  REQUIRE(all.size() == 2);
  CHECK(all.at("a") == KvEntry{"3", 9});
  CHECK(all.at("c") == KvEntry{"", 5});
  // Later turns build on the stored rows; a clear-all then a set leaves one key.
  ack_kv(f, "i", {set("d", "4")});
  CHECK(f.provider().get_kv_all_values("i").size() == 3);
  ack_kv(f, "i", {clear_all(), set("e", "5")});
  all = f.provider().get_kv_all_values("i");
  REQUIRE(all.size() == 1);
  CHECK(all.at("e").value == "5");
  // Another instance's store is separate.
  ack_kv(f, "j", {set("e", "other")}, true);
  CHECK(f.provider().get_kv_value("i", "e") == std::optional<std::string>("5"));
  CHECK(f.provider().get_kv_value("j", "e") == std::optional<std::string>("other"));
}

TEST_CASE("contract: a failed ack writes no key-value mutation", "[provider][kv][atomicity]") {
  FOR_EACH_PROVIDER(f);
  ack_kv(f, "i", {set("a", "1")}, true);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "e", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck bad;
  bad.history_delta = {Event{1, 0, 0, events::ExternalEvent{"e", ""}}};  // id 1 exists
  bad.metadata = metadata();
  bad.kv_mutations = {set("a", "changed"), set("b", "new")};
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item(item.lock_token, bad); }) ==
        ProviderErrorKind::Conflict);
  CHECK(f.provider().get_kv_value("i", "a") == std::optional<std::string>("1"));
  CHECK_FALSE(f.provider().get_kv_value("i", "b").has_value());
}

TEST_CASE("contract: deleting an instance deletes its key-value rows", "[provider][kv][delete]") {
  FOR_EACH_PROVIDER(f);
  ack_kv(f, "i", {set("a", "1"), set("b", "2")}, true);
  ack_kv(f, "other", {set("a", "kept")}, true);
  f.management().delete_instance("i", true);
  CHECK(f.provider().get_kv_all_values("i").empty());
  CHECK_FALSE(f.management().get_instance_stats("i").has_value());
  CHECK(f.provider().get_kv_value("other", "a") == std::optional<std::string>("kept"));
  // A re-created instance of the same id starts with an empty store.
  ack_kv(f, "i", {}, true);
  CHECK(f.provider().get_kv_all_values("i").empty());
}

TEST_CASE("contract: pruning executions keeps the key-value rows; export and import carry them",
          "[provider][kv][export]") {
  FOR_EACH_PROVIDER(f);
  ack_kv(f, "i", {set("a", "1", 11), set("b", "two", 12)}, true);
  CHECK(f.management().prune_executions("i", PruneOptions{1}) == PruneResult{});
  CHECK(f.provider().get_kv_all_values("i").size() == 2);
  InstanceExport data = f.management().export_instance("i");
  CHECK(data.kv == f.provider().get_kv_all_values("i"));
  f.management().delete_instance("i", true);
  f.management().import_instance(data);
  KvMap back = f.provider().get_kv_all_values("i");
  REQUIRE(back.size() == 2);
  CHECK(back.at("a") == KvEntry{"1", 11});
  CHECK(back.at("b") == KvEntry{"two", 12});
}

TEST_CASE("contract: per-instance statistics count history, queue and key-value rows",
          "[provider][kv][stats]") {
  FOR_EACH_PROVIDER(f);
  CHECK_FALSE(f.management().get_instance_stats("i").has_value());
  ack_kv(f, "i", {set("a", "123"), set("bé", "xyzé")}, true);  // é is two bytes
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "later", "x"}, 0);
  auto stats = f.management().get_instance_stats("i");
  REQUIRE(stats.has_value());
  CHECK(stats->execution_id == 1);
  CHECK(stats->history_event_count == 1);
  CHECK(stats->history_size_bytes == encode_event(f.provider().read("i").front()).size());
  CHECK(stats->queue_pending_count == 1);
  CHECK(stats->kv_user_key_count == 2);
  CHECK(stats->kv_total_value_bytes == 3 + 5);
}
