// PostgresProvider: the SQL store (SqlStore) over its PostgreSQL implementation.
#include "duroxide/postgres_provider.hpp"

#include "postgres_store_impl.hpp"

namespace duroxide {

PostgresProvider::PostgresProvider(const std::string& conninfo, Clock& clock, IdSource& ids, PostgresOptions options)
    : SqlStore(std::make_unique<pg::StoreImpl>(conninfo, clock, ids, options)) {}

PostgresProvider::~PostgresProvider() = default;

void PostgresProvider::drop_schema() { static_cast<pg::StoreImpl&>(impl()).drop_schema(); }

}  // namespace duroxide
