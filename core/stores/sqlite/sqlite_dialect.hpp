// What SQLite supplies to the shared SQL core (core/stores/sql/): its session
// types and the few SQL fragments and steps that differ from PostgreSQL's
// (core/stores/postgres/postgres_dialect.hpp). Not a public header.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "duroxide/provider.hpp"
#include "sqlite_connection.hpp"
#include "store_sql.hpp"

namespace duroxide::sqlite {

// The one connection, held under its mutex for one call: calls of several
// threads on one store run one after another.
class Session {
 public:
  Session(std::mutex& mutex, Connection& db, const char* operation) : lock_(mutex), db_(&db) {
    db.set_operation(operation);
  }
  Connection& operator*() const { return *db_; }
  Connection* operator->() const { return db_; }

 private:
  std::unique_lock<std::mutex> lock_;
  Connection* db_;
};

struct Dialect {
  using Session = sqlite::Session;
  using Connection = sqlite::Connection;
  using Statement = sqlite::Statement;
  using Transaction = sqlite::Transaction;
  using ReadSnapshot = sqlite::ReadSnapshot;  // reads of one committed state

  static constexpr const char* kExplainPrefix = "EXPLAIN QUERY PLAN ";
  static constexpr int kExplainColumn = 3;  // the "detail" column
  static constexpr const char* kBytewise = "";  // BINARY, SQLite's default collation
  // A unary + on a column keeps SQLite's planner off that column's indexes.
  static constexpr const char* kUnindexed = "+";
  // The 1-based position of a text in a value (0: absent, NULL for NULL): the search.
  static constexpr const char* kSubstringPosition = "instr";
  // Executions and events stored: the row the triggers of schema 9 keep.
  static constexpr const char* kExecutionTotalsSql = "SELECT executions, events FROM execution_totals";

  // One writer: BEGIN IMMEDIATE holds the database for the whole ack, and
  // writes run at once.
  // The one writer keeps a worker row from other fetchers.
  static constexpr const char* kWorkerRowSuffix = "";
  static constexpr const char* kHeldLockSuffix = "";
  static constexpr const char* kRowsInOrderSuffix = "";
  // The condition that a worker row has the tag bound to `tag` (a parameter, "?5"):
  // SQLite's planner reads the tag's index (worker_queue_by_tag) for it.
  static std::string one_tag_condition(const std::string& tag) { return "tag = " + tag; }
  // An ack's history rows are a statement each: in-process, a prepared statement's run
  // costs little, and one per row names the event a conflict is about.
  static constexpr bool kHistoryRowsInOneStatement = false;
  // A list of well-formed lock tokens (printable ASCII, store_sql.hpp) bound as one
  // parameter ?2, read as a table t(token): a JSON array of strings.
  static constexpr const char* kTokenListTable = "(SELECT value AS token FROM json_each(?2)) AS t";
  static std::string token_list(const std::vector<std::string>& tokens) {
    std::string out = "[";
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      out += i ? ",\"" : "\"";
      for (char c : tokens[i]) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    }
    return out + "]";
  }
  // A list of row ids bound as one parameter ?1, read as a table t(id): a JSON array of
  // integers.
  static constexpr const char* kIdListTable = "(SELECT value AS id FROM json_each(?1)) AS t";
  static std::string id_list(const std::vector<std::int64_t>& ids) {
    std::string out = "[";
    for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    return out + "]";
  }
  static constexpr bool kOneWriter = true;
  // The status counts (instance_counts) of inserted and updated instance rows are kept
  // by the code that writes them (schema 15): the one writer sees each row as it is.
  // Triggers on those writes made SQLite journal every page each statement touched, in
  // case it had to undo the statement alone (docs/bench.md, "Status counts kept by the
  // acks"). Deletes still count by trigger.
  static constexpr bool kWritersKeepInstanceCounts = true;
  // Writes run at once: each ack of a batch in a savepoint (Queues::acks_in_one_transaction).
  static constexpr bool kPipelinesAckBatches = false;
  // With one writer a batch shares its commit's pages: an ack writes each b-tree page
  // it touched (tables, indexes and roll-ups, about 27 for 16 turns) once, so bigger
  // batches write less per item (docs/bench.md, "Batch sizes by store").
  static constexpr std::size_t kPreferredBatchSize = 64;
  static int open_savepoint(Connection& db) {
    db.prepare("SAVEPOINT batched_ack").run();
    return 0;
  }
  static void roll_back_savepoint(Connection& db, int) { db.exec("ROLLBACK TO batched_ack; RELEASE batched_ack"); }
  // The one writer already runs acks, and starts, one after another.
  static void serialize_orchestration_acks(Connection&) {}
  // SQLite stores any text.
  static void check_storable(Connection&, const std::string&) {}
  static void serialize_start(Connection&, const std::string&) {}

  // One writer: the transaction (BEGIN IMMEDIATE) already keeps every other
  // connection out, so a deletion takes no row locks.
  static void lock_instance_for_delete(Connection&, const std::string&, TimestampMs) {}

  // Moves minute buckets that start before `before` into their hour buckets.
  static void roll_up_minutes(Connection& db, TimestampMs before) {
    db.prepare(
          "INSERT INTO metric_buckets (" DUROXIDE_METRIC_COLUMNS ") "
          "SELECT 'hour', (bucket_start / 3600000) * 3600000, orchestration_name, tenant, " DUROXIDE_METRIC_SUMS " "
          "FROM metric_buckets WHERE resolution = 'minute' AND bucket_start < ?1 GROUP BY 2, 3, 4 "
          DUROXIDE_METRIC_ADD_ON_CONFLICT)
        .bind(1, before)
        .run();
    db.prepare("DELETE FROM metric_buckets WHERE resolution = 'minute' AND bucket_start < ?1")
        .bind(1, before)
        .run();
  }
};

}  // namespace duroxide::sqlite
