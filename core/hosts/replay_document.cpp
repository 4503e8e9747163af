#include "duroxide/replay_document.hpp"

#include <stdexcept>
#include <string>
#include <vector>

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

std::string instance_id(const Json& id, const std::string& path) {
  if (!id.is_string() || id.get_ref<const std::string&>().empty() ||
      id.get_ref<const std::string&>().size() > limits::kMaxIdentifierBytes) {
    throw CodecError(path, "expected an instance id of 1 to " + std::to_string(limits::kMaxIdentifierBytes) + " bytes");
  }
  return id.get<std::string>();
}

ExecutionId execution_id(const Json& id, const std::string& path) {
  if (!id.is_number_unsigned() || id.get<std::uint64_t>() == 0) throw CodecError(path, "expected a positive integer");
  return id.get<ExecutionId>();
}

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
    input.instance = instance_id(document["instance"]["instance"], "replay.instance.instance");
  }
  if (last.contains("execution_id")) input.execution = execution_id(last["execution_id"], path + ".execution_id");
  if (!last.contains("history")) throw CodecError(path + ".history", "missing");
  input.history = detail::history_from_json(last["history"], path + ".history");
  return input;
}

// {"instance", "execution" (default 1), "history"}: one execution of a named instance.
ReplayInput from_named_history(const Json& document) {
  ReplayInput input;
  if (!document.contains("instance")) throw CodecError("replay.instance", "missing");
  input.instance = instance_id(document["instance"], "replay.instance");
  if (document.contains("execution")) input.execution = execution_id(document["execution"], "replay.execution");
  input.history = detail::history_from_json(document["history"], "replay.history");
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
  if (document.is_object() && document.contains("history")) return from_named_history(document);
  throw CodecError("replay", "expected a history (array of events), {instance, execution, history} or an exported instance");
}

}  // namespace

nlohmann::json replay_document(const Registry& registry, std::string_view json) {
  const ReplayInput input = replay_input(json);
  const History& history = input.history;
  const ReplayReport report = replay_history(registry, input.instance, input.execution, history);
  Json out = Json::parse(encode_replay_report(report));
  out["events"] = history.size();
  out["history"] = json_views::history(history);
  return out;
}

nlohmann::json replay_steps_document(std::string_view json, std::size_t from, std::size_t count) {
  if (count > kMaxReplayStepsPerCall) {
    throw std::invalid_argument("at most " + std::to_string(kMaxReplayStepsPerCall) + " replay steps a call");
  }
  const History history = replay_input(json).history;
  std::vector<HistoryStep> states = fold_history_steps(history, from, count);
  Json steps = Json::array();
  for (std::size_t k = 0; k < states.size(); ++k) {
    ReplayStep step;
    step.index = from + k;
    step.event = history[step.index];
    step.state = std::move(states[k].state);
    Json one = Json::parse(encode_replay_step(step));
    one.erase("logs");
    one["pending_total"] = states[k].pending_total;
    steps.push_back(std::move(one));
  }
  return steps;
}

}  // namespace duroxide
