// Orchestrations whose code is a JavaScript generator, for both JS surfaces: the
// SDK's runtime (wasm/js_orchestrations.cpp) and the engine API's (wasm/bindings.cpp,
// the playground's code panel).
#pragma once

#include <emscripten/val.h>

#include "duroxide/registry.hpp"

namespace duroxide::wasm {

// An orchestration function that runs each turn through `host`, the generator host
// of wasm/package/index.mjs (generatorHost): begin(info, input) creates the generator
// registered for the instance's name and version, next(id, ok, value) resumes it with
// an awaited result, dispose(id) drops it. Every yielded task descriptor becomes the
// matching OrchestrationContext call; replay and nondeterminism checks are the engine's.
OrchestrationFn generator_orchestration(emscripten::val host);

}  // namespace duroxide::wasm
