#include "duroxide/provider.hpp"

namespace duroxide {

std::string_view to_string(ProviderErrorKind kind) {
  switch (kind) {
    case ProviderErrorKind::Transient: return "transient";
    case ProviderErrorKind::InvalidLock: return "invalid_lock";
    case ProviderErrorKind::NotFound: return "not_found";
    case ProviderErrorKind::Conflict: return "conflict";
    case ProviderErrorKind::Corrupted: return "corrupted";
    case ProviderErrorKind::InvalidInput: return "invalid_input";
    case ProviderErrorKind::ReadOnly: return "read_only";
    case ProviderErrorKind::Permanent: return "permanent";
  }
  return "permanent";
}

}  // namespace duroxide
