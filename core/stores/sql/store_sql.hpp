// Hot-path pieces shared by SqliteProvider and PostgresProvider
// (core/stores/sqlite/sqlite_provider.cpp, core/stores/postgres/postgres_provider.cpp): the same statement or rule on both stores.
// Templates over the store's Connection type (the two have the same interface).
// Not a public header.
#pragma once

#include <optional>
#include <string>

#include "duroxide/codec.hpp"
#include "duroxide/provider.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide::store_sql {

// A value of an ack or enqueue, encoded; one the codec refuses (not valid
// UTF-8, over a limit) fails that call alone as InvalidInput, so in a batch
// only its own ack rolls back.
template <typename Encode>
std::string encoded(const std::string& operation, Encode&& encode) {
  try {
    return encode();
  } catch (const CodecError& error) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation, error.what());
  }
}

// Whether the instance exists or its start is queued. One statement, so that it
// sees the instance either before its first ack (its start queued) or after it
// (its row written), never between the two (also under PostgreSQL's READ COMMITTED).
template <typename Connection>
bool known_instance(Connection& db, const std::string& instance) {
  auto known = db.prepare(
      "SELECT EXISTS (SELECT 1 FROM instances WHERE instance_id = ?1) "
      "OR EXISTS (SELECT 1 FROM orchestrator_queue WHERE instance_id = ?1 AND kind = ?2)");
  known.bind(1, instance).bind(2, to_string(WorkItemKind::StartOrchestration));
  return known.step() && known.integer(0) != 0;
}

// A worker-queue row's item: its ActivityExecute, or nothing with `problem`
// saying why the row cannot run (it does not decode, or holds another kind).
inline std::optional<work::ActivityExecute> decode_worker_item(const std::string& json, std::string& problem) {
  try {
    WorkItem item = decode_work_item(json);
    if (auto* found = std::get_if<work::ActivityExecute>(&item)) return std::move(*found);
    problem = "holds a " + std::string(to_string(kind_of(item))) + ", not ActivityExecute";
  } catch (const CodecError& error) {
    problem = std::string("does not decode: ") + error.what();
  }
  return std::nullopt;
}

}  // namespace duroxide::store_sql
