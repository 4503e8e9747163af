// Settings of the connections to a store's file, as PRAGMA text: the store's own
// connections (sqlite_store_impl.cpp) and the probes that measure what SQLite alone
// does on that build (probes.cpp) open their files alike. Not a public header.
#pragma once

#include <cstdint>
#include <string>

#include "duroxide/provider.hpp"
#include "duroxide/sqlite_provider.hpp"

namespace duroxide::sqlite {

inline const char* synchronous_pragma(SqliteOptions::Synchronous mode) {
  switch (mode) {
    case SqliteOptions::Synchronous::Off: return "PRAGMA synchronous = OFF";
    case SqliteOptions::Synchronous::Normal: return "PRAGMA synchronous = NORMAL";
    case SqliteOptions::Synchronous::Full: return "PRAGMA synchronous = FULL";
  }
  return "PRAGMA synchronous = NORMAL";
}

// The page cache of `kib` KiB (SqliteOptions::cache_kib). PRAGMA takes no bound
// parameters; the value is checked: 64 to 16 GiB, else InvalidInput.
inline std::string cache_size_pragma(std::int64_t kib) {
  constexpr std::int64_t kMaxCacheKib = 16LL * 1024 * 1024;  // 16 GiB
  if (kib < 64 || kib > kMaxCacheKib) {
    throw ProviderError(ProviderErrorKind::InvalidInput, "open",
                        "cache_kib must be 64 to " + std::to_string(kMaxCacheKib) + ", got " + std::to_string(kib));
  }
  return "PRAGMA cache_size = -" + std::to_string(kib);
}

}  // namespace duroxide::sqlite
