// Reaching a PostgreSQL store's rows from outside the store, as the corruption tests
// must. Implemented by tests/postgres/postgres_access.cpp in builds that hold the
// PostgreSQL store and by tests/postgres_absent.cpp in the others (where no test asks).
#pragma once

#include <optional>
#include <string>

namespace duroxide::testing {

// Runs `sql` with `search_path` set to `schema` on its own connection. Returns the first
// column of the first row ("" when there is none), or nullopt with `error` set.
std::optional<std::string> postgres_raw_sql(const std::string& conninfo, const std::string& schema,
                                            const std::string& sql, std::string& error);

}  // namespace duroxide::testing
