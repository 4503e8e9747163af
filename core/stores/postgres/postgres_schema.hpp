// Schema for PostgresProvider. Not a public header.
#pragma once

#include <string>

#include "postgres_connection.hpp"

namespace duroxide::pg {

// Creates `schema` if needed, sets the search path to it and brings it to the
// latest version in one transaction, serialised across processes by an
// advisory lock. Refuses (Permanent) a schema newer than this build.
// `schema` must already be validated ([a-z_][a-z0-9_]*, at most 63 bytes).
void migrate(Connection& db, const std::string& schema);
// For a read-only open: throws ProviderError (Permanent) unless `schema` exists at the
// latest version; writes nothing. Sets the session's search path to it.
void require_latest_schema(Connection& db, const std::string& schema);
int schema_version(Connection& db);
bool valid_schema_name(const std::string& schema);

}  // namespace duroxide::pg
