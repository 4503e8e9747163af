// Hot-path pieces shared by SqliteProvider and PostgresProvider
// (core/src/*_provider.cpp): the same statement or rule on both stores.
// Templates over the store's Connection type (the two have the same interface).
// Not a public header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

// The key-value table (kv_values: one row per instance and key, schema 7 on both
// stores): an ack applies its turn's mutations in its own transaction, in history
// order, so that clients read what the committed history says. Deleting the
// instance deletes its rows (management_sql::delete_instance_rows).
template <typename Connection>
void apply_kv_mutations(Connection& db, const std::string& instance,
                        const std::vector<KvMutation>& mutations) {
  for (const KvMutation& mutation : mutations) {
    switch (mutation.kind) {
      case KvMutation::Kind::Set:
        db.prepare(
              "INSERT INTO kv_values (instance_id, kv_key, kv_value, updated_at) "
              "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (instance_id, kv_key) DO UPDATE SET "
              "kv_value = excluded.kv_value, updated_at = excluded.updated_at")
            .bind(1, instance)
            .bind(2, mutation.key)
            .bind(3, mutation.value)
            .bind(4, static_cast<std::int64_t>(mutation.updated_at_ms))
            .run();
        break;
      case KvMutation::Kind::Clear:
        db.prepare("DELETE FROM kv_values WHERE instance_id = ?1 AND kv_key = ?2")
            .bind(1, instance)
            .bind(2, mutation.key)
            .run();
        break;
      case KvMutation::Kind::ClearAll:
        db.prepare("DELETE FROM kv_values WHERE instance_id = ?1").bind(1, instance).run();
        break;
    }
  }
}

template <typename Connection>
std::optional<std::string> read_kv_value(Connection& db, const std::string& instance,
                                         const std::string& key) {
  auto row = db.prepare("SELECT kv_value FROM kv_values WHERE instance_id = ?1 AND kv_key = ?2");
  row.bind(1, instance).bind(2, key);
  if (!row.step()) return std::nullopt;
  return row.text(0);
}

template <typename Connection>
KvMap read_kv_values(Connection& db, const std::string& instance) {
  KvMap values;
  auto rows = db.prepare(
      "SELECT kv_key, kv_value, updated_at FROM kv_values WHERE instance_id = ?1 ORDER BY kv_key");
  rows.bind(1, instance);
  while (rows.step()) values[rows.text(0)] = KvEntry{rows.text(1), rows.integer(2)};
  return values;
}

// Rows an import writes back (ManagementProvider::import_instance).
template <typename Connection>
void write_kv_values(Connection& db, const std::string& instance, const KvMap& values) {
  std::vector<KvMutation> sets;
  for (const auto& [key, entry] : values) {
    sets.push_back({KvMutation::Kind::Set, key, entry.value, entry.updated_at_ms});
  }
  apply_kv_mutations(db, instance, sets);
}

}  // namespace duroxide::store_sql
