// The generic provider validation suite's fixture: every contract test runs
// once per provider kind through `for_each_provider`, against the Provider and
// ManagementProvider interfaces only. A new provider plugs in by adding a kind.
#pragma once

#include <catch2/catch.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "duroxide/duroxide.hpp"
#include "duroxide/sqlite_provider.hpp"

namespace duroxide::testing {

struct ProviderUnderTest {
  std::string kind;
  std::string path;  // file-backed kinds
  ManualClock clock;
  SequentialIdSource ids{"token"};
  std::unique_ptr<SqliteProvider> sqlite;

  Provider& provider() { return *sqlite; }
  ManagementProvider& management() { return *sqlite; }

  ~ProviderUnderTest() {
    sqlite.reset();
    remove_files(path);
  }
  static void remove_files(const std::string& file) {
    if (file.empty()) return;
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((file + suffix).c_str());
  }
};

inline std::unique_ptr<ProviderUnderTest> make_provider(const std::string& kind) {
  static int counter = 0;
  auto made = std::make_unique<ProviderUnderTest>();
  made->kind = kind;
  if (kind == "sqlite-memory") {
    made->sqlite = std::make_unique<SqliteProvider>(":memory:", made->clock, made->ids);
  } else if (kind == "sqlite-file") {
    made->path = "/tmp/duroxide-provider-suite-" + std::to_string(++counter) + ".db";
    ProviderUnderTest::remove_files(made->path);
    made->sqlite = std::make_unique<SqliteProvider>(made->path, made->clock, made->ids);
  } else {
    FAIL("unknown provider kind " << kind);
  }
  return made;
}

// Use at the top of a TEST_CASE: runs the rest of it once per provider kind.
#define FOR_EACH_PROVIDER(fixture)                                                         \
  const std::string provider_kind = GENERATE(as<std::string>{}, "sqlite-memory", "sqlite-file"); \
  INFO("provider: " << provider_kind);                                                     \
  auto fixture##_holder = ::duroxide::testing::make_provider(provider_kind);               \
  auto& fixture = *fixture##_holder

inline Event started_event(const std::string& name = "Orch", EventId id = 1,
                           const std::string& parent = {}) {
  return Event{id, 0, 0, events::OrchestrationStarted{name, "1.0.0", "", parent, parent.empty() ? EventId{0} : EventId{2}}};
}

inline ExecutionMetadata metadata(RuntimeState state = RuntimeState::Running,
                                  const std::string& parent = {}) {
  ExecutionMetadata meta;
  meta.orchestration_name = "Orch";
  meta.orchestration_version = "1.0.0";
  meta.state = state;
  meta.parent_instance = parent;
  if (state == RuntimeState::Completed) meta.output = "done";
  if (state == RuntimeState::Failed) meta.error = ErrorDetails::orchestration_failed("broke");
  return meta;
}

inline work::StartOrchestration start_item(const std::string& instance) {
  return work::StartOrchestration{instance, "Orch", "", "", {}, 0};
}

inline work::ActivityExecute activity(const std::string& instance, EventId id,
                                      ExecutionId execution = 1) {
  return work::ActivityExecute{instance, execution, id, "Act", "in-" + std::to_string(id)};
}

inline OrchestrationItem fetch(ProviderUnderTest& f, std::int64_t lock_ms = 30'000) {
  auto item = f.provider().fetch_orchestration_item(lock_ms);
  REQUIRE(item.has_value());
  return std::move(*item);
}

// Creates `instance` (Started event, Running) and leaves its queue empty.
inline void create_instance(ProviderUnderTest& f, const std::string& instance,
                            RuntimeState state = RuntimeState::Running,
                            const std::string& parent = {}) {
  f.provider().enqueue_orchestrator_item(start_item(instance), 0);
  OrchestrationItem item = fetch(f);
  REQUIRE(item.instance == instance);
  OrchestrationAck ack;
  ack.history_delta = {started_event("Orch", 1, parent)};
  if (state != RuntimeState::Running) {
    ack.history_delta.push_back(
        Event{2, 0, 0, state == RuntimeState::Completed
                           ? EventData{events::OrchestrationCompleted{"done"}}
                           : EventData{events::OrchestrationFailed{ErrorDetails::orchestration_failed("broke")}}});
  }
  ack.metadata = metadata(state, parent);
  f.provider().ack_orchestration_item(item.lock_token, ack);
}

template <typename F>
ProviderErrorKind provider_error_kind(F&& call) {
  try {
    call();
  } catch (const ProviderError& error) {
    return error.kind();
  }
  FAIL("expected a ProviderError");
  return ProviderErrorKind::Permanent;
}

}  // namespace duroxide::testing
