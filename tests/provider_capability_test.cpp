// The provider contract for capability filtering: each execution keeps the version it is
// pinned to (ExecutionMetadata::pinned_version), and an orchestration fetch with a
// CapabilityFilter hands out only instances whose current execution it takes, leaving
// the others queued and unlocked.
#include <algorithm>

#include "provider_suite.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

constexpr SemVer kV1{1, 0, 0};
constexpr SemVer kV2{2, 0, 0};

// Starts each instance, its first ack pinning it to its version (nullopt: none), then
// queues a message for each, so that all wait in the orchestrator queue.
void start_pinned(ProviderUnderTest& f, const std::vector<std::pair<std::string, std::optional<SemVer>>>& instances) {
  for (const auto& [instance, pinned] : instances) {
    f.provider().enqueue_orchestrator_item(start_item(instance), 0);
    OrchestrationItem item = fetch(f);
    REQUIRE(item.instance == instance);
    OrchestrationAck ack;
    ack.history_delta = {started_event()};
    ack.metadata = metadata();
    ack.metadata.pinned_version = pinned;
    f.provider().ack_orchestration_item(item.lock_token, ack);
  }
  for (const auto& entry : instances) {
    f.provider().enqueue_orchestrator_item(work::ExternalRaised{entry.first, "tick", ""}, 0);
  }
}

// The instances one fetch after another hands out with `filter`, each abandoned at once
// (attempt not counted) and left locked until the end, so none comes twice.
std::vector<std::string> fetched_with(ProviderUnderTest& f, const CapabilityFilter& filter) {
  std::vector<std::string> instances;
  std::vector<std::string> tokens;
  while (auto item = f.provider().fetch_orchestration_item(30'000, filter)) {
    instances.push_back(item->instance);
    tokens.push_back(item->lock_token);
  }
  for (const std::string& token : tokens) f.provider().abandon_orchestration_item(token, 0, true);
  std::sort(instances.begin(), instances.end());
  return instances;
}

CapabilityFilter supporting(SemVer min, SemVer max) { return CapabilityFilter::supporting({{min, max}}); }

}  // namespace

TEST_CASE("contract: a capability filter takes only executions pinned inside its ranges; the rest stay queued",
          "[provider][capability]") {
  FOR_EACH_PROVIDER(f);
  start_pinned(f, {{"v1", kV1}, {"v2", kV2}, {"unpinned", std::nullopt}});
  f.provider().enqueue_orchestrator_item(start_item("new"), 0);  // no execution yet

  using List = std::vector<std::string>;
  CHECK(fetched_with(f, CapabilityFilter::any()) == List{"new", "unpinned", "v1", "v2"});
  CHECK(fetched_with(f, supporting(kV2, SemVer{2, 9, 9})) == List{"new", "unpinned", "v2"});
  CHECK(fetched_with(f, supporting(SemVer{0, 0, 0}, kV1)) == List{"new", "unpinned", "v1"});
  // Both ends are inside; a version one patch past either is outside.
  CHECK(fetched_with(f, supporting(kV1, kV1)) == List{"new", "unpinned", "v1"});
  CHECK(fetched_with(f, supporting(SemVer{1, 0, 1}, SemVer{1, 999'999'999, 0})) == List{"new", "unpinned"});
  // Any of several ranges; none at all takes only what is pinned to nothing.
  CHECK(fetched_with(f, CapabilityFilter::supporting({{kV1, kV1}, {kV2, kV2}})) ==
        List{"new", "unpinned", "v1", "v2"});
  CHECK(fetched_with(f, CapabilityFilter::supporting({})) == List{"new", "unpinned"});

  // A skipped instance is neither locked nor charged an attempt: the next filter that
  // takes it gets it at once, its messages whole.
  std::size_t taken = 0;
  while (f.provider().fetch_orchestration_item(30'000, supporting(kV2, kV2))) ++taken;
  CHECK(taken == 3);  // new, unpinned and v2, now locked
  auto v1 = f.provider().fetch_orchestration_item(30'000, supporting(kV1, kV1));
  REQUIRE(v1.has_value());
  CHECK(v1->instance == "v1");
  CHECK(v1->messages.size() == 1);
  CHECK(v1->attempt_count == 1);
}

TEST_CASE("contract: a batched fetch filters as a single one does", "[provider][capability]") {
  FOR_EACH_PROVIDER(f);
  std::vector<std::pair<std::string, std::optional<SemVer>>> instances;
  for (int i = 0; i < 4; ++i) instances.emplace_back("old-" + std::to_string(i), kV1);
  for (int i = 0; i < 3; ++i) instances.emplace_back("new-" + std::to_string(i), kV2);
  start_pinned(f, instances);
  const std::vector<OrchestrationItem> batch = f.provider().fetch_orchestration_items(30'000, 16, supporting(kV2, kV2));
  REQUIRE(batch.size() == 3);
  for (const OrchestrationItem& item : batch) CHECK(item.instance.rfind("new-", 0) == 0);
  CHECK(f.provider().fetch_orchestration_items(30'000, 16, supporting(kV2, kV2)).empty());
  CHECK(f.provider().fetch_orchestration_items(30'000, 16, supporting(kV1, kV1)).size() == 4);
}

TEST_CASE("contract: an execution keeps the version its first ack pins; a continued one gets its own",
          "[provider][capability]") {
  FOR_EACH_PROVIDER(f);
  start_pinned(f, {{"c", kV1}});
  // A later ack that names no version leaves it.
  OrchestrationItem item = fetch(f);
  OrchestrationAck later;
  later.execution_id = 1;
  later.history_delta = {Event{2, 0, 0, events::ExternalEvent{"tick", ""}}};
  later.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, later);
  REQUIRE(f.management().list_executions("c").size() == 1);
  CHECK(f.management().list_executions("c")[0].pinned_version == std::optional<SemVer>(kV1));

  // The execution ends continued-as-new; the next one is pinned by the ack that starts it.
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"c", "tick", ""}, 0);
  item = fetch(f);
  OrchestrationAck ended;
  ended.execution_id = 1;
  ended.history_delta = {Event{3, 0, 0, events::OrchestrationContinuedAsNew{"", ""}}};
  ended.metadata = metadata(RuntimeState::Completed);
  ended.metadata.continued_as_new = true;
  ended.orchestrator_items = {{work::ContinueAsNew{"c", "Orch", "1.0.0", ""}, 0}};
  f.provider().ack_orchestration_item(item.lock_token, ended);
  // The queued start of execution 2 is the old execution's until it runs: a v2 runtime
  // does not take it, a v1 runtime does.
  CHECK_FALSE(f.provider().fetch_orchestration_item(30'000, supporting(kV2, kV2)).has_value());
  item = *f.provider().fetch_orchestration_item(30'000, supporting(kV1, kV1));
  OrchestrationAck next;
  next.execution_id = 2;
  next.history_delta = {started_event()};
  next.metadata = metadata();
  next.metadata.pinned_version = kV2;
  next.orchestrator_items = {{work::ExternalRaised{"c", "tick", ""}, 0}};
  f.provider().ack_orchestration_item(item.lock_token, next);
  const std::vector<ExecutionInfo> executions = f.management().list_executions("c");
  REQUIRE(executions.size() == 2);
  CHECK(executions[0].pinned_version == std::optional<SemVer>(kV1));
  CHECK(executions[1].pinned_version == std::optional<SemVer>(kV2));
  CHECK_FALSE(f.provider().fetch_orchestration_item(30'000, supporting(kV1, kV1)).has_value());
  CHECK(f.provider().fetch_orchestration_item(30'000, supporting(kV2, kV2)).has_value());
}

TEST_CASE("contract: an invalid capability filter is InvalidInput", "[provider][capability]") {
  FOR_EACH_PROVIDER(f);
  start_pinned(f, {{"i", kV1}});
  const CapabilityFilter backwards = supporting(kV2, kV1);
  CHECK(provider_error_kind([&] { f.provider().fetch_orchestration_item(30'000, backwards); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(provider_error_kind([&] { f.provider().fetch_orchestration_items(30'000, 4, backwards); }) ==
        ProviderErrorKind::InvalidInput);
  CapabilityFilter many = CapabilityFilter::supporting(
      std::vector<SemVerRange>(limits::kMaxSupportedVersionRanges + 1, SemVerRange{kV1, kV2}));
  CHECK(provider_error_kind([&] { f.provider().fetch_orchestration_item(30'000, many); }) ==
        ProviderErrorKind::InvalidInput);
  // A component over what a version holds (PostgreSQL keeps 32 bits): refused by both
  // stores alike, before any SQL.
  const CapabilityFilter unbounded = supporting(SemVer{}, SemVer{4'294'967'295u, 0, 0});
  CHECK(provider_error_kind([&] { f.provider().fetch_orchestration_items(30'000, 4, unbounded); }) ==
        ProviderErrorKind::InvalidInput);
  many.supported_versions.resize(limits::kMaxSupportedVersionRanges);  // at the limit: fine
  CHECK(f.provider().fetch_orchestration_item(30'000, many).has_value());
}

TEST_CASE("contract: an ack that pins a version over its components' limit is InvalidInput and writes nothing",
          "[provider][capability]") {
  FOR_EACH_PROVIDER(f);
  f.provider().enqueue_orchestrator_item(start_item("big"), 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  ack.history_delta = {started_event()};
  ack.metadata = metadata();
  ack.metadata.pinned_version = SemVer{SemVer::kMaxComponent + 1, 0, 0};
  CHECK(provider_error_kind([&] { f.provider().ack_orchestration_item(item.lock_token, ack); }) ==
        ProviderErrorKind::InvalidInput);
  CHECK(f.provider().read("big").empty());
  // At the limit it is kept and read back.
  f.provider().abandon_orchestration_item(item.lock_token, 0, true);
  item = fetch(f);
  ack.metadata.pinned_version = SemVer{SemVer::kMaxComponent, 0, SemVer::kMaxComponent};
  f.provider().ack_orchestration_item(item.lock_token, ack);
  REQUIRE(f.management().list_executions("big").size() == 1);
  CHECK(f.management().list_executions("big")[0].pinned_version == ack.metadata.pinned_version);
}

TEST_CASE("contract: an imported execution is pinned to what its history's start names", "[provider][capability]") {
  FOR_EACH_PROVIDER(f);
  create_instance(f, "src");  // pinned to nothing, nothing queued
  InstanceExport exported = f.management().export_instance("src");
  REQUIRE(exported.executions.size() == 1);
  exported.info.instance = "copy";
  auto* started = std::get_if<events::OrchestrationStarted>(&exported.executions[0].history[0].data);
  REQUIRE(started);
  started->duroxide_version = "9.1.2";
  f.management().import_instance(exported);
  CHECK(f.management().list_executions("copy")[0].pinned_version == std::optional<SemVer>(SemVer{9, 1, 2}));
  CHECK(f.management().list_executions("src")[0].pinned_version == std::nullopt);
}
