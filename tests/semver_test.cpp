// Semantic versions, their ranges and the capability filters built from them.
#include <catch2/catch.hpp>

#include "duroxide/capability_filter.hpp"
#include "duroxide/limits.hpp"

using namespace duroxide;

TEST_CASE("a version parses only as MAJOR.MINOR.PATCH and orders component by component", "[semver]") {
  CHECK(SemVer::parse("0.1.0") == std::optional<SemVer>(SemVer{0, 1, 0}));
  CHECK(SemVer::parse("999999999.0.12") == std::optional<SemVer>(SemVer{999'999'999, 0, 12}));
  for (const char* bad : {"", "1", "1.0", "1.0.0.0", "01.0.0", "1.0.0-rc1", "v1.0.0", "1..0", "1000000000.0.0", " 1.0.0"}) {
    INFO(bad);
    CHECK_FALSE(SemVer::parse(bad).has_value());
  }
  CHECK(SemVer{1, 2, 3}.to_string() == "1.2.3");
  CHECK(SemVer{1, 9, 9} < SemVer{2, 0, 0});
  CHECK(SemVer{1, 10, 0} > SemVer{1, 9, 99});  // numbers, not text
}

TEST_CASE("a capability filter takes a version inside any of its ranges, both ends included", "[semver]") {
  const CapabilityFilter filter = CapabilityFilter::supporting({{{1, 0, 0}, {1, 4, 2}}, {{3, 0, 0}, {3, 0, 0}}});
  CHECK(filter.problem().empty());
  CHECK(filter.takes({1, 0, 0}));
  CHECK(filter.takes({1, 4, 2}));
  CHECK(filter.takes({3, 0, 0}));
  CHECK_FALSE(filter.takes({0, 9, 9}));
  CHECK_FALSE(filter.takes({1, 4, 3}));
  CHECK_FALSE(filter.takes({2, 0, 0}));
  CHECK(filter.to_string() == "versions(>=1.0.0, <=1.4.2; >=3.0.0, <=3.0.0)");
  CHECK(CapabilityFilter::any().takes({999, 0, 0}));
  CHECK(CapabilityFilter::any().to_string() == "any");
  CHECK_FALSE(CapabilityFilter::supporting({}).takes({0, 0, 0}));
  // The default: every build up to this one.
  CHECK(default_supported_versions().contains(build_version()));
  CHECK_FALSE(default_supported_versions().contains(SemVer{build_version().major + 1, 0, 0}));
}

TEST_CASE("an invalid capability filter says what is wrong", "[semver]") {
  CHECK(CapabilityFilter::supporting({{{2, 0, 0}, {1, 0, 0}}}).problem() ==
        "the version range >=2.0.0, <=1.0.0 is empty (its min is above its max)");
  const std::vector<SemVerRange> many(limits::kMaxSupportedVersionRanges + 1, SemVerRange{{1, 0, 0}, {1, 0, 0}});
  CHECK(CapabilityFilter::supporting(many).problem() == "a capability filter lists 9 version ranges, over the limit of 8");
  CHECK(CapabilityFilter{false, {SemVerRange{}}}.problem() == "a capability filter that takes every version (any) lists no version ranges");
  // A component parse could not have read: the stores keep at most 9 digits.
  CHECK(CapabilityFilter::supporting({{{0, 0, 0}, {1'000'000'000u, 0, 0}}}).problem() ==
        "the version range >=0.0.0, <=1000000000.0.0 has a component over 999999999 (the largest a version may have)");
  CHECK(CapabilityFilter::supporting({{{0, 0, 0}, {SemVer::kMaxComponent, SemVer::kMaxComponent, SemVer::kMaxComponent}}})
            .problem()
            .empty());
  CHECK(SemVer::parse("999999999.999999999.999999999")->in_bounds());
  CHECK_FALSE((SemVer{0, 0, 1'000'000'000u}).in_bounds());
}
