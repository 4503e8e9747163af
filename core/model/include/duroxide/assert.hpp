// Assertions that stay on in release builds (TIGER_STYLE): an invariant the
// engine relies on is checked where it is cheap, and a violation stops the
// process at once with the condition and its place, instead of writing a
// corrupted history or acking a batch it has miscounted. They guard bugs of
// this code base, never bad input: input is refused with a typed error.
#pragma once

namespace duroxide {

// Prints "assertion failed: <condition> (<why>) at <file>:<line>" and aborts.
[[noreturn]] void assertion_failed(const char* condition, const char* why, const char* file, int line);

}  // namespace duroxide

#define DUROXIDE_ASSERT(condition, why)                                           \
  do {                                                                            \
    if (!(condition)) ::duroxide::assertion_failed(#condition, why, __FILE__, __LINE__); \
  } while (false)
