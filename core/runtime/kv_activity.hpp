// The reserved activity behind OrchestrationContext::get_value_from_instance: the
// worker reads another instance's key-value store and the result is recorded in
// history like any activity's. Not a public header.
#pragma once

#include "duroxide/provider.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide::detail {

// Input `{"instance": ..., "key": ...}`; completes with the JSON `null` or a JSON
// string. A malformed input or a store error fails the activity (a Transient
// store error as retryable), which the orchestration sees as TaskFailed.
WorkItem run_get_value_from_instance(Provider& provider, const work::ActivityExecute& task);

}  // namespace duroxide::detail
