// Semantic versions MAJOR.MINOR.PATCH and inclusive ranges of them: orchestration
// versions (Registry), and the build version of the runtime that started an execution,
// which each execution keeps (its pinned version) so that runtimes of several builds can
// share a store (CapabilityFilter).
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duroxide {

struct SemVer {
  // The largest component: 9 digits, what parse reads and what the stores keep (in
  // 32-bit integer columns on PostgreSQL).
  static constexpr std::uint32_t kMaxComponent = 999'999'999;

  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::uint32_t patch = 0;

  // Three decimal components of at most 9 digits, no leading zeros, no prefix or
  // suffix ("1.2.3"); nullopt otherwise.
  static std::optional<SemVer> parse(std::string_view text);
  // Every component at most kMaxComponent: a version parse could have read.
  bool in_bounds() const { return major <= kMaxComponent && minor <= kMaxComponent && patch <= kMaxComponent; }
  std::string to_string() const;
  friend auto operator<=>(const SemVer&, const SemVer&) = default;
};

// [min, max], both ends included.
struct SemVerRange {
  SemVer min;
  SemVer max;

  bool contains(const SemVer& version) const { return min <= version && version <= max; }
  // ">=0.0.0, <=0.1.0".
  std::string to_string() const;
  friend bool operator==(const SemVerRange&, const SemVerRange&) = default;
};

// This build's version (the project version in CMakeLists.txt). A runtime pins it on
// every execution it starts (OrchestrationStarted::duroxide_version).
SemVer build_version();

// What a runtime replays unless told otherwise: executions pinned at or below its own
// build, [0.0.0, build_version()] (a newer engine replays what an older one wrote).
SemVerRange default_supported_versions();

}  // namespace duroxide
