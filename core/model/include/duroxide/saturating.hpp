// Integer arithmetic on times and durations that come from outside data (a history, a
// store's rows, an imported export): a sum or difference past the 64-bit range stops at
// the range's end instead of overflowing, which is undefined behaviour in C++.
#pragma once

#include <cstdint>
#include <limits>

namespace duroxide {

// a + b, held to [INT64_MIN, INT64_MAX].
inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

// a - b, held to [INT64_MIN, INT64_MAX].
inline std::int64_t saturating_sub(std::int64_t a, std::int64_t b) {
  std::int64_t difference = 0;
  if (!__builtin_sub_overflow(a, b, &difference)) return difference;
  return b < 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

}  // namespace duroxide
