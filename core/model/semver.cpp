#include "duroxide/semver.hpp"

namespace duroxide {

namespace {

bool parse_component(std::string_view text, std::uint32_t& out) {
  if (text.empty() || text.size() > 9) return false;
  if (text.size() > 1 && text[0] == '0') return false;  // semver forbids leading zeros
  std::uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  out = value;
  return true;
}

}  // namespace

std::optional<SemVer> SemVer::parse(std::string_view text) {
  SemVer version;
  std::uint32_t* parts[3] = {&version.major, &version.minor, &version.patch};
  for (int i = 0; i < 3; ++i) {
    auto dot = text.find('.');
    std::string_view piece = i < 2 ? text.substr(0, dot) : text;
    if ((i < 2 && dot == std::string_view::npos) || !parse_component(piece, *parts[i])) {
      return std::nullopt;
    }
    if (i < 2) text.remove_prefix(dot + 1);
  }
  return version;
}

std::string SemVer::to_string() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::string SemVerRange::to_string() const { return ">=" + min.to_string() + ", <=" + max.to_string(); }

SemVer build_version() {
  // DUROXIDE_BUILD_VERSION is CMake's project version, given to this file alone.
  static const SemVer version = [] {
    std::optional<SemVer> parsed = SemVer::parse(DUROXIDE_BUILD_VERSION);
    return parsed ? *parsed : SemVer{};
  }();
  return version;
}

SemVerRange default_supported_versions() { return {SemVer{}, build_version()}; }

}  // namespace duroxide
