// The sample catalog of docs/samples.md: one module every host (CLI,
// tests, wasm, simulation) registers, so names, inputs and outputs agree
// everywhere. Changing a sample means adding a new version, never editing one.
#pragma once

#include <string>
#include <vector>

#include "duroxide/registry.hpp"

namespace duroxide::samples {

// Registers every sample orchestration (HelloWorld also as 2.0.0) and activity.
void register_all(Registry& registry);

struct SampleInfo {
  std::string name;
  std::string example_input;
  std::string description;
};
// The catalog in docs/samples.md order, with an input that runs to completion.
const std::vector<SampleInfo>& catalog();

}  // namespace duroxide::samples
