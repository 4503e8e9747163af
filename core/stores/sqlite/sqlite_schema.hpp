// Schema migrations for SqliteProvider. Not a public header.
#pragma once

#include "sqlite_connection.hpp"

namespace duroxide::sqlite {

int latest_schema_version();
int schema_version(Connection& db);
// Brings the database to the latest version in one transaction.
void migrate(Connection& db);

}  // namespace duroxide::sqlite
