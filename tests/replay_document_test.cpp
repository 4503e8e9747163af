// The replayer's outside input (core/hosts/include/duroxide/replay_document.hpp): a history or
// an export, replayed against the sample catalog; every bad shape is a CodecError.
#include <catch2/catch.hpp>

#include "duroxide/codec.hpp"
#include "duroxide/replay_document.hpp"
#include "duroxide/replayer.hpp"
#include "duroxide/samples.hpp"
#include "replay_support.hpp"
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
  CHECK_FALSE(history.contains("steps"));  // read a window at a time: replay_steps_document
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

TEST_CASE("replay_steps_document: a window of the scrubber's steps, as replay_step gives them", "[replay]") {
  testing::StepHost host(catalog());
  host.client.start_orchestration("f", "FanOutFanIn", R"(["a","b","c"])");
  host.driver.run_until_idle();
  const Registry registry = catalog();
  const History events = host.management.read_execution("f", 1);
  const std::string history = encode_history(events);
  const ReplayReport report = replay_history(registry, "replay", 1, events);
  for (std::size_t from : {std::size_t{0}, std::size_t{2}, events.size() - 1}) {
    const Json window = replay_steps_document(history, from, 3);
    REQUIRE(window.size() == std::min<std::size_t>(3, events.size() - from));
    for (std::size_t k = 0; k < window.size(); ++k) {
      Json whole = Json::parse(encode_replay_step(replay_step(report, events, from + k)));
      whole.erase("logs");
      Json step = window[k];
      CHECK(step.at("pending_total") == whole.at("pending").size());
      step.erase("pending_total");
      CHECK(step == whole);
    }
  }
  // After the three activities are scheduled, three are pending.
  CHECK(replay_steps_document(history, 3, 1)[0].at("pending").size() == 3);
  CHECK(replay_steps_document(history, events.size(), 5).empty());
  CHECK(replay_steps_document(history, 0, 0).empty());
  CHECK_THROWS_WITH(replay_steps_document(history, 0, kMaxReplayStepsPerCall + 1),
                    Catch::Contains("at most 1024 replay steps a call"));
  CHECK_THROWS_AS(replay_steps_document("{not json", 0, 1), CodecError);
}

TEST_CASE("replay_steps_document lists a step's first pending items and counts them all", "[replay]") {
  testing::HistoryBuilder h;
  const std::string big(kMaxPendingInputKept + 10, 'x');
  for (std::size_t i = 0; i < kMaxPendingKept + 5; ++i) h.activity("A", i == 0 ? big : std::to_string(i));
  const std::string history = encode_history(h.history());
  const Json last = replay_steps_document(history, h.history().size() - 1, 1).at(0);
  CHECK(last.at("pending").size() == kMaxPendingKept);
  CHECK(last.at("pending_total") == kMaxPendingKept + 5);
  CHECK(last.at("pending")[0].at("input").get<std::string>().size() == kMaxPendingInputKept);
  CHECK(last.at("pending")[0].at("input_truncated") == true);
  CHECK(last.at("pending")[1].at("input") == "1");
  CHECK_FALSE(last.at("pending")[1].contains("input_truncated"));
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
