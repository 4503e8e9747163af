#include "duroxide/replay_document.hpp"

#include "duroxide/detail/json.hpp"
#include "duroxide/json_views.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/replayer.hpp"

namespace duroxide {

namespace {

using detail::Json;

struct ReplayInput {
  std::string instance = "replay";
  ExecutionId execution = 1;
  History history;
};

// An export's last execution: only the fields the replay needs are read, the rest of
// the document may be anything an export holds.
ReplayInput from_export(const Json& document) {
  ReplayInput input;
  const Json& executions = document.at("executions");
  if (!executions.is_array() || executions.empty()) {
    throw CodecError("replay.executions", "expected a non-empty array of executions");
  }
  const std::string path = "replay.executions[" + std::to_string(executions.size() - 1) + "]";
  const Json& last = executions.back();
  if (!last.is_object()) throw CodecError(path, "expected an object");
  if (document.contains("instance") && document["instance"].is_object() &&
      document["instance"].contains("instance")) {
    const Json& id = document["instance"]["instance"];
    if (!id.is_string() || id.get_ref<const std::string&>().size() > limits::kMaxIdentifierBytes) {
      throw CodecError("replay.instance.instance", "expected an instance id of at most " +
                                                       std::to_string(limits::kMaxIdentifierBytes) + " bytes");
    }
    input.instance = id.get<std::string>();
  }
  if (last.contains("execution_id")) {
    const Json& id = last["execution_id"];
    if (!id.is_number_unsigned() || id.get<std::uint64_t>() == 0) {
      throw CodecError(path + ".execution_id", "expected a positive integer");
    }
    input.execution = id.get<ExecutionId>();
  }
  if (!last.contains("history")) throw CodecError(path + ".history", "missing");
  input.history = detail::history_from_json(last["history"], path + ".history");
  return input;
}

ReplayInput replay_input(std::string_view json) {
  const Json document = detail::parse_json(json, "replay");
  if (document.is_array()) {
    ReplayInput input;
    input.history = detail::history_from_json(document, "replay");
    return input;
  }
  if (document.is_object() && document.contains("executions")) return from_export(document);
  throw CodecError("replay", "expected a history (array of events) or an exported instance");
}

}  // namespace

nlohmann::json replay_document(const Registry& registry, std::string_view json) {
  const ReplayInput input = replay_input(json);
  const History& history = input.history;
  const ReplayReport report = replay_history(registry, input.instance, input.execution, history);
  Json out = Json::parse(encode_replay_report(report));
  out["events"] = history.size();
  Json steps = Json::array();
  for (std::size_t i = 0; i < history.size(); ++i) {
    steps.push_back(Json::parse(encode_replay_step(replay_step(report, history, i))));
  }
  out["steps"] = std::move(steps);
  out["history"] = json_views::history(history);
  return out;
}

}  // namespace duroxide
