// The key-value store per instance, end to end on one thread: the context API,
// replay determinism, continue-as-new, limits, pruning, get_value_from_instance,
// nondeterminism when KV calls change, and the clients' reads and statistics.
#include <catch2/catch.hpp>

#include <functional>
#include <nlohmann/json.hpp>

#include "duroxide/replayer.hpp"
#include "step_host.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

std::string joined(const std::map<std::string, std::string>& values) {
  std::string out;
  for (const auto& [key, value] : values) out += key + "=" + value + ";";
  return out;
}

Task<std::string> kv_basics(OrchestrationContext& ctx, std::string) {
  ctx.set_value("a", "1");
  ctx.set_value("b", "2");
  std::string seen = ctx.get_value("a").value_or("?");
  ctx.clear_value("b");
  ctx.clear_value("never-set");  // recorded all the same
  co_await ctx.schedule_wait("go");
  ctx.set_value("c", "3");
  seen += "|" + joined(ctx.get_all_values()) + "|" + std::to_string(ctx.get_kv_length());
  for (const auto& key : ctx.get_all_keys()) seen += "," + key;
  co_return seen;
}

// Read-modify-write across activities: each replay must read what the code wrote.
Task<std::string> kv_counter(OrchestrationContext& ctx, std::string) {
  for (int i = 0; i < 3; ++i) {
    int n = std::stoi(ctx.get_value("n").value_or("0"));
    co_await ctx.schedule_activity("Echo", std::to_string(i));
    ctx.set_value("n", std::to_string(n + 1));
  }
  co_return ctx.get_value("n").value_or("?");
}

Task<std::string> kv_continue(OrchestrationContext& ctx, std::string input) {
  if (input == "first") {
    ctx.set_value("kept", "from-1");
    ctx.set_value("dropped", "x");
    ctx.clear_value("dropped");
    co_await ctx.continue_as_new("second");
    co_return "";
  }
  std::string seen = joined(ctx.get_all_values());
  ctx.set_value("second", "2");
  co_return seen;
}

Registry kv_registry() {
  Registry registry;
  registry.register_orchestration("KvBasics", kv_basics);
  registry.register_orchestration("KvCounter", kv_counter);
  registry.register_orchestration("KvContinue", kv_continue);
  registry.register_orchestration("KvLimit", [](OrchestrationContext& ctx, std::string input) -> Task<std::string> {
    if (input == "value") ctx.set_value("big", std::string(limits::kMaxKvValueBytes + 1, 'v'));
    if (input == "key") ctx.set_value(std::string(limits::kMaxKvKeyBytes + 1, 'k'), "v");
    if (input == "empty-key") ctx.set_value("", "v");
    if (input == "utf8") ctx.set_value("k", std::string("\xff"));
    if (input == "keys") {
      for (std::size_t i = 0; i <= limits::kMaxKvKeys; ++i) ctx.set_value("k" + std::to_string(i), "v");
    }
    if (input == "at-limit") {
      for (std::size_t i = 0; i + 1 < limits::kMaxKvKeys; ++i) ctx.set_value("k" + std::to_string(i), "v");
      ctx.set_value("k0", "overwritten");  // an existing key is not a new one
      ctx.set_value("big", std::string(limits::kMaxKvValueBytes, 'v'));
    }
    co_await ctx.schedule_timer(0);
    co_return std::to_string(ctx.get_kv_length());
  });
  registry.register_orchestration("KvPrune", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    ctx.set_value("old", "1");
    const TimestampMs first = ctx.utc_now_ms();
    co_await ctx.schedule_timer(1000);
    ctx.set_value("new", "2");
    std::size_t pruned = ctx.prune_values_updated_before(first + 1);
    co_return std::to_string(pruned) + ":" + joined(ctx.get_all_values());
  });
  registry.register_orchestration("KvReader", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto found = co_await ctx.get_value_from_instance("writer", "x");
    auto missing = co_await ctx.get_value_from_instance("writer", "missing");
    auto unknown = co_await ctx.get_value_from_instance("nobody", "x");
    co_return found.value_or("none") + "," + missing.value_or("none") + "," + unknown.value_or("none");
  });
  registry.register_orchestration("KvWriter", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    ctx.set_value("x", "written \"quoted\" é");
    co_await ctx.schedule_wait("done");
    co_return "";
  });
  registry.register_activity("Echo", [](ActivityContext&, const std::string& in) { return in; });
  return registry;
}

History history_of(StepHost& host, const std::string& id, ExecutionId execution) {
  return host.admin.read_execution(id, execution);
}

}  // namespace

TEST_CASE("kv: set, get and clear in an orchestration; clients read the committed store", "[kv]") {
  StepHost host(kv_registry());
  host.run("k", "KvBasics", "");
  CHECK(host.client.get_value("k", "a") == std::optional<std::string>("1"));
  CHECK_FALSE(host.client.get_value("k", "b").has_value());
  CHECK(joined(host.client.get_all_values("k")) == "a=1;");
  CHECK_FALSE(host.client.wait_for_value("k", "c", 50, host.pacer).has_value());
  host.client.raise_event("k", "go", "");
  CHECK(host.client.wait_for_value("k", "c", 10'000, host.pacer) == std::optional<std::string>("3"));
  OrchestrationStatus status = host.client.wait_for_orchestration("k", 10'000, host.pacer);
  REQUIRE(status.state == RuntimeState::Completed);
  CHECK(status.output == "1|a=1;c=3;|2,a,c");
  // The store outlives the instance's end; the history records every mutation.
  CHECK(joined(host.client.get_all_values("k")) == "a=1;c=3;");
  History history = history_of(host, "k", 1);
  std::size_t kv_events = 0;
  for (const Event& event : history) {
    if (event.is<events::KeyValueSet>() || event.is<events::KeyValueCleared>()) ++kv_events;
  }
  CHECK(kv_events == 5);
  ReplayReport replay = replay_history(host.registry, "k", 1, history);
  CHECK(replay.deterministic);
  CHECK(replay.outcome.output == status.output);
}

TEST_CASE("kv: read-modify-write across activities replays deterministically", "[kv]") {
  StepHost host(kv_registry());
  host.run("c", "KvCounter", "");
  OrchestrationStatus status = host.client.wait_for_orchestration("c", 10'000, host.pacer);
  REQUIRE(status.state == RuntimeState::Completed);
  CHECK(status.output == "3");
  CHECK(host.client.get_value("c", "n") == std::optional<std::string>("3"));
  CHECK(replay_history(host.registry, "c", 1, history_of(host, "c", 1)).deterministic);
}

TEST_CASE("kv: the store survives continue-as-new, carried in OrchestrationStarted", "[kv][continue]") {
  StepHost host(kv_registry());
  host.run("n", "KvContinue", "first");
  OrchestrationStatus status = host.client.wait_for_orchestration("n", 10'000, host.pacer);
  REQUIRE(status.state == RuntimeState::Completed);
  CHECK(status.output == "kept=from-1;");
  CHECK(joined(host.client.get_all_values("n")) == "kept=from-1;second=2;");
  History second = history_of(host, "n", 2);
  const auto* started = second.front().as<events::OrchestrationStarted>();
  REQUIRE(started);
  REQUIRE(started->kv.size() == 1);
  CHECK(started->kv.at("kept").value == "from-1");
  CHECK(replay_history(host.registry, "n", 2, second).deterministic);
  CHECK(replay_history(host.registry, "n", 1, history_of(host, "n", 1)).deterministic);
}

TEST_CASE("kv: a set past a limit fails the orchestration, naming the limit", "[kv][limits]") {
  StepHost host(kv_registry());
  auto failure = [&](const std::string& id, const std::string& input) {
    host.run(id, "KvLimit", input);
    OrchestrationStatus status = host.client.wait_for_orchestration(id, 10'000, host.pacer);
    REQUIRE(status.state == RuntimeState::Failed);
    REQUIRE(status.error.has_value());
    return status.error->message;
  };
  CHECK(failure("v", "value") == "the value of key-value store key \"big\" is 65537 bytes, over the limit of 65536");
  CHECK(failure("k", "key") == "a key-value store key is 257 bytes, over the limit of 256");
  CHECK(failure("e", "empty-key") == "a key-value store key must not be empty");
  CHECK(failure("u", "utf8") == "the value of key-value store key \"k\" is not valid UTF-8");
  CHECK(failure("n", "keys") ==
        "the key-value store already holds 150 keys, the limit: cannot add key \"k150\"");
  CHECK(host.client.get_all_values("v").empty());
  // Exactly at the limits is fine.
  host.run("ok", "KvLimit", "at-limit");
  OrchestrationStatus ok = host.client.wait_for_orchestration("ok", 10'000, host.pacer);
  REQUIRE(ok.state == RuntimeState::Completed);
  CHECK(ok.output == "150");
  CHECK(host.client.get_value("ok", "big")->size() == limits::kMaxKvValueBytes);
}

TEST_CASE("kv: pruning clears the keys last set before the cut-off", "[kv][prune]") {
  StepHost host(kv_registry());
  host.clock.set(10'000);
  host.run("p", "KvPrune", "");
  host.clock.advance(1000);
  host.driver.run_until_idle();
  OrchestrationStatus status = host.client.wait_for_orchestration("p", 10'000, host.pacer);
  REQUIRE(status.state == RuntimeState::Completed);
  CHECK(status.output == "1:new=2;");
  CHECK(joined(host.client.get_all_values("p")) == "new=2;");
  CHECK(replay_history(host.registry, "p", 1, history_of(host, "p", 1)).deterministic);
}

TEST_CASE("kv: get_value_from_instance is recorded and replays without reading the store",
          "[kv][cross-instance]") {
  StepHost host(kv_registry());
  host.run("writer", "KvWriter", "");
  host.run("reader", "KvReader", "");
  OrchestrationStatus status = host.client.wait_for_orchestration("reader", 10'000, host.pacer);
  REQUIRE(status.state == RuntimeState::Completed);
  CHECK(status.output == "written \"quoted\" é,none,none");
  History history = history_of(host, "reader", 1);
  std::size_t reads = 0;
  for (const Event& event : history) {
    if (const auto* scheduled = event.as<events::ActivityScheduled>()) {
      CHECK(scheduled->name == OrchestrationContext::kGetValueFromInstanceActivity);
      ++reads;
    }
  }
  CHECK(reads == 3);
  // The writer changes its value: replaying the reader still returns what was recorded.
  host.admin.delete_instance("writer", true);
  ReplayReport replay = replay_history(host.registry, "reader", 1, history);
  CHECK(replay.deterministic);
  CHECK(replay.outcome.output == status.output);
}

TEST_CASE("kv: get_value_from_instance reads a value at the limit whose JSON is six times its size",
          "[kv][cross-instance][limits]") {
  // 64 KiB of control characters: each is six bytes as JSON ("\u0001"), over the payload limit.
  const std::string value(limits::kMaxKvValueBytes, '\x01');
  Registry registry = kv_registry();
  registry.register_orchestration("KvWideWriter", [value](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    ctx.set_value("x", value);
    co_await ctx.schedule_wait("done");
    co_return "";
  });
  registry.register_orchestration("KvWideReader", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    auto found = co_await ctx.get_value_from_instance("writer", "x");
    co_return found ? std::to_string(found->size()) + ":" + std::to_string(found->find_first_not_of('\x01'))
                    : std::string("none");
  });
  StepHost host(std::move(registry));
  host.run("writer", "KvWideWriter", "");
  host.run("reader", "KvWideReader", "");
  OrchestrationStatus status = host.client.wait_for_orchestration("reader", 10'000, host.pacer);
  INFO((status.error ? status.error->display_message() : std::string("no error")));
  REQUIRE(status.state == RuntimeState::Completed);
  CHECK(status.output == std::to_string(value.size()) + ":" + std::to_string(std::string::npos));
  CHECK(replay_history(host.registry, "reader", 1, history_of(host, "reader", 1)).deterministic);
}

TEST_CASE("kv: changed KV calls are a nondeterminism error naming both commands", "[kv][nondeterminism]") {
  StepHost host(kv_registry());
  host.run("d", "KvCounter", "");
  REQUIRE(host.client.wait_for_orchestration("d", 10'000, host.pacer).state == RuntimeState::Completed);
  History history = history_of(host, "d", 1);
  Registry changed;
  changed.register_orchestration("KvCounter", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    for (int i = 0; i < 3; ++i) {
      co_await ctx.schedule_activity("Echo", std::to_string(i));
      ctx.set_value("count", std::to_string(i + 1));  // a different key than the history's
    }
    co_return "";
  });
  ReplayReport replay = replay_history(changed, "d", 1, history);
  CHECK_FALSE(replay.deterministic);
  REQUIRE(replay.mismatch.has_value());
  CHECK(replay.mismatch->expected == "KeyValueSet(key=\"n\", value=\"1\")");
  CHECK(replay.mismatch->actual == "KeyValueSet(key=\"count\", value=\"1\")");
  Registry dropped;
  dropped.register_orchestration("KvCounter", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    for (int i = 0; i < 3; ++i) co_await ctx.schedule_activity("Echo", std::to_string(i));
    co_return "3";
  });
  ReplayReport missing = replay_history(dropped, "d", 1, history);
  CHECK_FALSE(missing.deterministic);
  REQUIRE(missing.mismatch.has_value());
  CHECK(missing.mismatch->expected.rfind("KeyValueSet", 0) == 0);
}

TEST_CASE("kv: the management client reports one instance's statistics", "[kv][stats]") {
  StepHost host(kv_registry());
  host.run("s", "KvBasics", "");
  CHECK_FALSE(host.management.get_instance_stats("unknown").has_value());
  auto stats = host.management.get_instance_stats("s");
  REQUIRE(stats.has_value());
  CHECK(stats->execution_id == 1);
  CHECK(stats->history_event_count == history_of(host, "s", 1).size());
  CHECK(stats->history_size_bytes > 0);
  CHECK(stats->queue_pending_count == 0);
  CHECK(stats->kv_user_key_count == 1);
  CHECK(stats->kv_total_value_bytes == 1);
  host.client.raise_event("s", "unrelated", "x");
  CHECK(host.management.get_instance_stats("s")->queue_pending_count == 1);
}

TEST_CASE("kv: client reads check their arguments", "[kv][client]") {
  StepHost host(kv_registry());
  CHECK_THROWS_AS(host.client.get_value("i", ""), ClientError);
  CHECK_THROWS_AS(host.client.get_value("i", std::string(limits::kMaxKvKeyBytes + 1, 'k')), ClientError);
  CHECK_THROWS_AS(host.client.get_value("", "k"), ClientError);
  CHECK_FALSE(host.client.get_value("unknown", "k").has_value());
  CHECK(host.client.get_all_values("unknown").empty());
}

TEST_CASE("kv: export and import keep the store", "[kv][export]") {
  StepHost host(kv_registry());
  host.run("x", "KvBasics", "");
  std::string document = host.management.export_instance("x");
  CHECK(document.find("\"kv\"") != std::string::npos);
  host.admin.delete_instance("x", true);
  CHECK(host.client.get_all_values("x").empty());
  CHECK(host.management.import_instance(document) == "x");
  CHECK(joined(host.client.get_all_values("x")) == "a=1;");
}

TEST_CASE("kv: an import whose store is not what its history left is refused, naming the key", "[kv][export]") {
  StepHost host(kv_registry());
  host.client.start_orchestration("x", "KvBasics", "");  // sets a and b, clears b, waits: a=1
  host.driver.run_until_idle();
  const nlohmann::json exported = nlohmann::json::parse(host.management.export_instance("x"));
  host.admin.delete_instance("x", true);
  auto refusal = [&](const std::function<void(nlohmann::json&)>& edit) -> std::string {
    nlohmann::json document = exported;
    edit(document);
    try {
      host.management.import_instance(document.dump());
    } catch (const ClientError& error) {
      if (error.kind() == ClientError::Kind::InvalidInput) return error.what();
      return std::string("another error: ") + error.what();
    }
    return "imported";
  };
  CHECK_THAT(refusal([](nlohmann::json& d) { d["kv"]["a"]["value"] = "9"; }),
             Catch::Contains("import.kv") && Catch::Contains("key \"a\" differs"));
  CHECK_THAT(refusal([](nlohmann::json& d) { d["kv"]["a"]["updated_at_ms"] = 1; }), Catch::Contains("key \"a\""));
  CHECK_THAT(refusal([](nlohmann::json& d) { d["kv"]["b"] = {{"value", "2"}, {"updated_at_ms", 0}}; }),
             Catch::Contains("key \"b\" differs"));
  CHECK_THAT(refusal([](nlohmann::json& d) { d.erase("kv"); }), Catch::Contains("key \"a\" differs"));
  CHECK(host.admin.get_instance_info("x") == std::nullopt);  // nothing was written
  CHECK(refusal([](nlohmann::json&) {}) == "imported");
  CHECK(joined(host.client.get_all_values("x")) == "a=1;");
  host.client.raise_event("x", "go", "");
  host.driver.run_until_idle();
  CHECK(host.client.get_status("x").output == "1|a=1;c=3;|2,a,c");
}

TEST_CASE("kv: an import's queued next start must carry the store its history left", "[kv][export]") {
  StepHost host(kv_registry());
  host.client.start_orchestration("c", "KvContinue", "first");
  REQUIRE(host.driver.step());  // the first execution continues as new; the next start waits queued
  const nlohmann::json exported = nlohmann::json::parse(host.management.export_instance("c"));
  REQUIRE(exported.contains("next_start"));
  host.admin.delete_instance("c", true);
  nlohmann::json edited = exported;
  edited["next_start"]["kv"]["kept"]["value"] = "forged";
  try {
    host.management.import_instance(edited.dump());
    FAIL("imported");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::InvalidInput);
    CHECK_THAT(error.what(), Catch::Contains("import.next_start.kv") && Catch::Contains("key \"kept\""));
  }
  CHECK(host.management.import_instance(exported.dump()) == "c");
  host.driver.run_until_idle();
  CHECK(host.client.get_status("c").output == "kept=from-1;");
}
