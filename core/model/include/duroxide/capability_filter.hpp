// Which executions an orchestration fetch takes, by the version each is pinned to (the
// build of the runtime that started it: OrchestrationStarted::duroxide_version, kept by the
// store). Lets runtimes of several builds share one store during a rolling upgrade: each
// is handed only executions its replay engine supports, and the others stay queued for
// the runtimes that do, never blocking the ones it takes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "duroxide/semver.hpp"

namespace duroxide {

struct CapabilityFilter {
  // false: every execution (admin tools, tests). true: an execution pinned to a version
  // is taken when one of `supported_versions` contains it (none when the list is empty).
  // An execution pinned to no version (a new instance; one started before versions were
  // pinned) is taken by every filter.
  bool filters = false;
  std::vector<SemVerRange> supported_versions;  // at most limits::kMaxSupportedVersionRanges

  static CapabilityFilter any() { return {}; }
  static CapabilityFilter supporting(std::vector<SemVerRange> ranges) { return {true, std::move(ranges)}; }

  bool takes(const SemVer& pinned) const;
  // Empty when the filter is valid; else what is wrong with it: at most
  // kMaxSupportedVersionRanges ranges, each with min <= max; `any()` lists none.
  std::string problem() const;
  // "any", "versions(>=0.0.0, <=0.1.0; >=2.0.0, <=2.9.9)".
  std::string to_string() const;

  friend bool operator==(const CapabilityFilter&, const CapabilityFilter&) = default;
};

}  // namespace duroxide
