// The replayer's outside input (core/hosts/include/duroxide/replay_document.hpp): a history or
// an export, replayed against the sample catalog; every bad shape is a CodecError.
#include <catch2/catch.hpp>

#include "duroxide/codec.hpp"
#include "duroxide/replay_document.hpp"
#include "duroxide/samples.hpp"
#include "step_host.hpp"

using namespace duroxide;
using Json = nlohmann::json;

namespace {

Registry catalog() {
  Registry registry;
  samples::register_all(registry);
  return registry;
}

std::string codec_error(const Registry& registry, const std::string& json) {
  try {
    replay_document(registry, json);
  } catch (const CodecError& error) {
    return error.what();
  }
  FAIL("no CodecError for " << json.substr(0, 80));
  return {};
}

}  // namespace

TEST_CASE("replay_document replays a history or the last execution of an export", "[replay]") {
  testing::StepHost host(catalog());
  host.client.start_orchestration("c", "Counter", R"({"count":0,"limit":2})");
  host.driver.run_until_idle();
  const Registry registry = catalog();

  const Json history = replay_document(registry, encode_history(host.management.read_execution("c", 1)));
  CHECK(history.at("deterministic") == true);
  CHECK(history.at("events") == history.at("steps").size());
  CHECK(history.at("history").size() == history.at("events"));

  const Json exported = replay_document(registry, host.management.export_instance("c"));
  CHECK(exported.at("deterministic") == true);
  CHECK(exported.at("outcome").at("kind") == "Completed");
  CHECK(exported.at("events") == host.management.read_execution("c", 3).size());
}

TEST_CASE("replay_document replays a named instance's execution under its id", "[replay]") {
  testing::StepHost host(catalog());
  host.client.start_orchestration("p", "Parent", R"(["a"])");
  host.driver.run_until_idle();
  const Registry registry = catalog();
  const std::string history = encode_history(host.management.read_execution("p", 1));

  // The generated sub-orchestration id derives from the instance id: a bare history
  // replays under "replay" and cannot issue the same command.
  const Json bare = replay_document(registry, history);
  CHECK(bare.at("deterministic") == false);
  CHECK(bare.at("mismatch").at("expected").get<std::string>().find("instance=\"p::sub::1\"") != std::string::npos);

  const Json named = replay_document(registry, R"({"instance":"p","execution":1,"history":)" + history + "}");
  CHECK(named.at("deterministic") == true);
  CHECK(named.at("outcome").at("kind") == "Completed");
  CHECK(replay_document(registry, R"({"instance":"p","history":)" + history + "}").at("deterministic") == true);

  CHECK_THROWS_WITH(replay_document(registry, R"({"history":[]})"), Catch::Contains("replay.instance: missing"));
  CHECK_THROWS_WITH(replay_document(registry, R"({"instance":"","history":[]})"), Catch::Contains("replay.instance"));
  CHECK_THROWS_WITH(replay_document(registry, R"({"instance":"p","execution":0,"history":[]})"),
                    Catch::Contains("replay.execution"));
  CHECK_THROWS_WITH(replay_document(registry, R"({"instance":"p","history":{}})"), Catch::Contains("replay.history"));
}

TEST_CASE("replay_document refuses bad shapes with a CodecError naming the field", "[replay]") {
  const Registry registry = catalog();
  CHECK_THAT(codec_error(registry, "{not json"), Catch::Contains("invalid JSON"));
  CHECK_THAT(codec_error(registry, "{}"), Catch::Contains("expected a history (array of events), {instance, execution, history} or an exported instance"));
  CHECK_THAT(codec_error(registry, R"({"executions":[]})"), Catch::Contains("replay.executions"));
  CHECK_THAT(codec_error(registry, R"({"executions":[{"execution_id":-1,"history":[]}]})"),
             Catch::Contains("replay.executions[0].execution_id"));
  CHECK_THAT(codec_error(registry, R"({"executions":[{"execution_id":1}]})"),
             Catch::Contains("replay.executions[0].history: missing"));
  CHECK_THAT(codec_error(registry, R"({"instance":{"instance":7},"executions":[{"history":[]}]})"),
             Catch::Contains("replay.instance.instance"));
  CHECK_THAT(codec_error(registry, R"([{"event_id":1}])"), Catch::Contains("replay[0].timestamp_ms"));
}
