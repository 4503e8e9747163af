#include "duroxide/kv_activity.hpp"

#include "duroxide/limits.hpp"
#include "duroxide/text.hpp"
#include "duroxide/detail/json.hpp"

namespace duroxide::detail {

WorkItem run_get_value_from_instance(Provider& provider, const work::ActivityExecute& task) {
  auto failed = [&](ErrorDetails details) -> WorkItem {
    return work::ActivityFailed{task.instance, task.execution_id, task.id, std::move(details)};
  };
  std::string instance;
  std::string key;
  try {
    Json request = parse_json(task.input, "get_value_from_instance");
    ObjectReader in(request, "get_value_from_instance");
    instance = in.text("instance", limits::kMaxIdentifierBytes);
    key = in.text("key", limits::kMaxKvKeyBytes);
    in.finish();
  } catch (const CodecError& error) {
    return failed(ErrorDetails::activity_failed(
        std::string("get_value_from_instance: the request does not decode: ") + error.what()));
  }
  try {
    std::optional<std::string> value = provider.get_kv_value_seen_by(task.instance, instance, key);
    if (value && !valid_utf8(*value)) {
      return failed(ErrorDetails::activity_failed("get_value_from_instance: the stored value of key \"" + key +
                                                  "\" of instance " + instance + " is not valid UTF-8"));
    }
    std::string result = value ? Json(*value).dump() : std::string("null");
    return work::ActivityCompleted{task.instance, task.execution_id, task.id, std::move(result)};
  } catch (const ProviderError& error) {
    return failed(ErrorDetails::activity_failed(
        std::string("get_value_from_instance: the store could not read key \"") + key +
            "\" of instance " + instance + ": " + error.what(),
        error.retryable()));
  }
}

}  // namespace duroxide::detail
