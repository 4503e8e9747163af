#include "duroxide/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace duroxide {

void assertion_failed(const char* condition, const char* why, const char* file, int line) {
  std::fprintf(stderr, "assertion failed: %s (%s) at %s:%d\n", condition, why, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace duroxide
