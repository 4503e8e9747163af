// Schema migrations for SqliteProvider. Not a public header.
#pragma once

#include <string>

#include "sqlite_connection.hpp"

namespace duroxide::sqlite {

int latest_schema_version();
int schema_version(Connection& db);
// Brings the database to the latest version in one transaction.
void migrate(Connection& db);
// For a read-only open: throws ProviderError (Permanent) unless the database is at the
// latest version; writes nothing.
void require_latest_schema(Connection& db);
// The script a new database (version 0) runs instead of every migration in turn:
// the latest schema and the rows the migrations write, as the chain leaves them
// (read once per process from a scratch in-memory database that ran the chain).
const std::string& schema_of_new_database();
// Every migration in turn, on an empty database, without the version (what
// schema_of_new_database() is read from; tests compare the two).
void run_every_migration(Connection& db);

}  // namespace duroxide::sqlite
