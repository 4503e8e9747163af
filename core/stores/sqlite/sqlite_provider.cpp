// SqliteProvider: the SQL store (SqlStore) over its SQLite implementation.
#include "duroxide/sqlite_provider.hpp"

#include "sqlite_store_impl.hpp"

namespace duroxide {

SqliteProvider::SqliteProvider(const std::string& path, Clock& clock, IdSource& ids, SqliteOptions options)
    : SqlStore(std::make_unique<sqlite::StoreImpl>(path, clock, ids, options)) {}

SqliteProvider::~SqliteProvider() = default;

void SqliteProvider::checkpoint() { static_cast<sqlite::StoreImpl&>(impl()).checkpoint(); }

}  // namespace duroxide
