// The reserved activity behind OrchestrationContext::get_value_from_instance: the
// worker reads another instance's key-value store and the result is recorded in
// history like any activity's. Every worker runs it through this function: the
// runtime's and the JS host's (wasm/js_orchestrations.cpp).
#pragma once

#include "duroxide/provider.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide::detail {

// Input `{"instance": ..., "key": ...}`; completes with the JSON `null` or a JSON
// string (at most limits::kMaxCompletionResultBytes). A malformed input, a store
// error or a stored value that is not UTF-8 (a damaged row) fails the activity (a
// Transient store error as retryable), which the orchestration sees as TaskFailed.
WorkItem run_get_value_from_instance(Provider& provider, const work::ActivityExecute& task);

}  // namespace duroxide::detail
