// Orchestrations whose code is a JavaScript generator, for both JS surfaces: the
// SDK's runtime (wasm/js_orchestrations.cpp) and the engine API's (wasm/bindings.cpp,
// the playground's code panel).
#pragma once

#include <emscripten/val.h>

#include <nlohmann/json.hpp>

#include "duroxide/registry.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/tag_filter.hpp"

namespace duroxide::wasm {

// An orchestration function that runs each turn through `host`, the generator host
// of wasm/package/index.mjs (generatorHost): begin(info, input) creates the generator
// registered for the instance's name and version, next(id, ok, value) resumes it with
// an awaited result, dispose(id) drops it. Every yielded task descriptor becomes the
// matching OrchestrationContext call; replay and nondeterminism checks are the engine's.
OrchestrationFn generator_orchestration(emscripten::val host);

// A runtime option `workerTagFilter` as the Node SDK spells it: "defaultOnly", "any",
// "none", {"tags": [..]} or {"defaultAnd": [..]}; null: the default. Throws
// std::invalid_argument naming what is wrong (TagFilter::problem included).
TagFilter tag_filter_from_json(const nlohmann::json& value);

// The session options of a runtime as the Node SDK spells them, from the options object
// `options`: "workerNodeId" (string; absent, null or "": the runtime's own owner id),
// "maxSessionsPerRuntime" and "sessionIdleTimeoutMs" (integers; absent or null: the
// defaults), into `runtime`. Throws std::invalid_argument for a value of the wrong type;
// the values themselves are check_runtime_options' to judge.
void session_options_from_json(const nlohmann::json& options, RuntimeOptions& runtime);

// The latest time a clock of the JS surfaces may reach: JavaScript's Date range (8.64e15 ms).
inline constexpr TimestampMs kMaxClockMs = 8'640'000'000'000'000;

// A clock's start from JS (`startMs`, named `name` in the error): a whole number of ms from 0
// to kMaxClockMs. NaN, infinities, fractions and values out of range throw
// std::invalid_argument: cast as they are, they would set the clock anywhere, and the
// retention walks count back from it.
TimestampMs clock_start_from(double ms, const char* name);

// A step of a clock now at `now_ms` from JS (advanceTime): a finite number of ms at least 0
// (a fraction is cut), which does not take the clock past kMaxClockMs; else
// std::invalid_argument.
std::int64_t clock_step_from(double ms, TimestampMs now_ms);

}  // namespace duroxide::wasm
