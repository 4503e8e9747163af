// PostgresProvider's implementation: the shared SQL store (core/stores/sql/
// sql_store_impl.hpp) over a pool of connections (postgres_pool.hpp), plus what
// only PostgreSQL does — fetches that claim safely against other processes
// sharing the database, the diagnostics it can read, and dropping the schema.
// Not a public header.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "duroxide/postgres_provider.hpp"
#include "postgres_connection.hpp"
#include "postgres_dialect.hpp"
#include "postgres_pool.hpp"
#include "sql_store_impl.hpp"

namespace duroxide::pg {

class StoreImpl final : public store_sql::SqlStoreImpl<Dialect> {
 public:
  StoreImpl(const std::string& conninfo, Clock& clock, IdSource& ids, const PostgresOptions& options);

  int schema_version() override;
  void drop_schema();

  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                            const CapabilityFilter& filter) override;
  std::vector<OrchestrationItem> fetch_orchestration_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                           const CapabilityFilter& filter) override;
  std::optional<WorkerItem> fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                            const SessionFetch* session_fetch) override;
  std::vector<WorkerItem> fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                           const TagFilter& filter, const SessionFetch* session_fetch) override;
  ProviderDiagnostics get_provider_diagnostics() override;

 protected:
  Session session(const char* operation) override { return pool_->lease(operation); }

 private:
  std::string next_token();

  std::string conninfo_;
  std::string schema_;
  IdSource& ids_;
  std::mutex ids_mutex_;  // IdSource makes no thread-safety promise
  std::unique_ptr<Pool> pool_;
};

}  // namespace duroxide::pg
