#include "duroxide/capability_filter.hpp"

#include <algorithm>

#include "duroxide/limits.hpp"

namespace duroxide {

bool CapabilityFilter::takes(const SemVer& pinned) const {
  if (!filters) return true;
  return std::any_of(supported_versions.begin(), supported_versions.end(),
                     [&](const SemVerRange& range) { return range.contains(pinned); });
}

std::string CapabilityFilter::problem() const {
  if (!filters) return supported_versions.empty() ? std::string() : "a capability filter that takes every version (any) lists no version ranges";
  if (supported_versions.size() > limits::kMaxSupportedVersionRanges) {
    return "a capability filter lists " + std::to_string(supported_versions.size()) +
           " version ranges, over the limit of " + std::to_string(limits::kMaxSupportedVersionRanges);
  }
  for (const SemVerRange& range : supported_versions) {
    if (!range.min.in_bounds() || !range.max.in_bounds()) {
      return "the version range " + range.to_string() + " has a component over " +
             std::to_string(SemVer::kMaxComponent) + " (the largest a version may have)";
    }
    if (range.max < range.min) return "the version range " + range.to_string() + " is empty (its min is above its max)";
  }
  return {};
}

std::string CapabilityFilter::to_string() const {
  if (!filters) return "any";
  std::string list;
  for (const SemVerRange& range : supported_versions) list += (list.empty() ? "" : "; ") + range.to_string();
  return "versions(" + list + ")";
}

}  // namespace duroxide
