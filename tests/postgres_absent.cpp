// Builds without the PostgreSQL store: no test reaches PostgreSQL rows (provider_kinds()
// never lists "postgres" there), so asking is an error of the test itself.
#include "postgres_access.hpp"

namespace duroxide::testing {

std::optional<std::string> postgres_raw_sql(const std::string&, const std::string&, const std::string&,
                                            std::string& error) {
  error = "this build has no PostgreSQL store";
  return std::nullopt;
}

}  // namespace duroxide::testing
