// The simulator's one source of randomness: SplitMix64 from a seed.
//
// Contract: the same seed gives the same sequence on every platform and
// compiler (only 64-bit integer arithmetic; no std distributions, whose output
// is implementation-defined and differs between libstdc++ and libc++).
#pragma once

#include <cstdint>
#include <string>

namespace duroxide::sim {

class SimRandom {
 public:
  explicit SimRandom(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound); bound 0 gives 0. The modulo bias (< 2^-40 for the
  // bounds used here) does not matter for fault schedules.
  std::uint64_t below(std::uint64_t bound) { return bound == 0 ? 0 : next() % bound; }
  // Uniform in [low, high].
  std::int64_t between(std::int64_t low, std::int64_t high) {
    if (high <= low) return low;
    return low + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(high - low) + 1));
  }
  // True with probability parts_per_million / 1e6.
  bool chance(std::uint32_t parts_per_million) { return below(1'000'000) < parts_per_million; }
  // An independent stream, so one consumer's draws do not shift another's.
  SimRandom fork() { return SimRandom(next()); }

 private:
  std::uint64_t state_;
};

// FNV-1a, 64 bits: the trace hash. Fed with explicit bytes, never with
// size_t-dependent layouts, so native and wasm32 agree.
class TraceHash {
 public:
  void add(const std::string& text) {
    for (unsigned char c : text) {
      hash_ ^= c;
      hash_ *= 0x100000001B3ull;
    }
    hash_ ^= 0xFF;  // record separator: "ab","c" differs from "a","bc"
    hash_ *= 0x100000001B3ull;
  }
  std::uint64_t value() const { return hash_; }

 private:
  std::uint64_t hash_ = 0xCBF29CE484222325ull;
};

std::string hex64(std::uint64_t value);

}  // namespace duroxide::sim
