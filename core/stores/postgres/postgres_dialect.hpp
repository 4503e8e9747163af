// What PostgreSQL supplies to the shared SQL core (core/stores/sql/): its session
// types and the few SQL fragments and steps that differ from SQLite's
// (core/stores/sqlite/sqlite_dialect.hpp). Not a public header.
#pragma once

#include <string>
#include <vector>

#include "duroxide/provider.hpp"
#include "duroxide/text.hpp"
#include "postgres_connection.hpp"
#include "postgres_pool.hpp"
#include "store_sql.hpp"

namespace duroxide::pg {

// A PostgreSQL array literal of text values, to be bound as one parameter and
// cast to text[]: every element double-quoted, with '"' and '\' escaped.
inline std::string text_array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

// A PostgreSQL array literal of integers, to be bound and cast to bigint[].
inline std::string bigint_array_literal(const std::vector<std::int64_t>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

struct Dialect {
  using Session = pg::Lease;
  using Connection = pg::Connection;
  using Statement = pg::Statement;
  using Transaction = pg::Transaction;
  using ReadSnapshot = pg::ReadSnapshot;  // reads of one committed state

  static constexpr const char* kExplainPrefix = "EXPLAIN (COSTS OFF) ";
  static constexpr int kExplainColumn = 0;
  // Text columns are COLLATE "C" (postgres_schema.cpp); a computed ordering says so.
  static constexpr const char* kBytewise = " COLLATE \"C\"";
  // PostgreSQL plans from its statistics (and has no unary + for text): nothing to add.
  static constexpr const char* kUnindexed = "";
  // The 1-based position of a text in a value (0: absent, NULL for NULL): the search.
  static constexpr const char* kSubstringPosition = "strpos";
  // Executions and events stored, counted (postgres_schema.cpp, version 9: why no totals row).
  static constexpr const char* kExecutionTotalsSql = "SELECT COUNT(*), COALESCE(SUM(event_count), 0) FROM executions";

  // FOR UPDATE OF l: no other process can take over an ack's lock (even once it
  // expires) until the ack commits or rolls back.
  // A worker row another process is claiming right now is passed over, never
  // handed out twice.
  static constexpr const char* kWorkerRowSuffix = " FOR UPDATE SKIP LOCKED";
  static constexpr const char* kHeldLockSuffix = " FOR UPDATE OF l";
  // Rows a statement locks in the order of its ORDER BY (the lock is taken on each row
  // as it comes out of the sort), so two writers locking in one order never deadlock.
  static constexpr const char* kRowsInOrderSuffix = " FOR UPDATE";
  // The condition that a worker row has the tag bound to `tag` (a parameter, "?5"),
  // visible by ?1. Written as bounds on (tag, visible_at), the columns of the tag's
  // index (worker_queue_by_tag), not as tag = ?: the planner, which guesses the tag's
  // rows spread evenly in visible order, would then read the index of every row in
  // visible order when the tag holds many of them, walking past every older row of other
  // tags. Bounds that do not fix the tag (tag at least ?, and (tag, visible_at) at most
  // (?, now): together the tag and no later) leave the ORDER BY tag, visible_at, id,
  // which only that index gives.
  static std::string one_tag_condition(const std::string& tag) {
    return "tag >= " + tag + " AND (tag, visible_at) <= (" + tag + ", ?1)";
  }
  // A list of lock tokens bound as one parameter ?2, read as a table t(token): a
  // text[] literal. Joined from the list, each token is one index lookup whatever plan
  // is kept; written as l.lock_token = ANY(?2), the kept plan took 0.59 ms a call
  // against 0.16 ms for a plan made for each call's tokens (docs/bench.md).
  static constexpr const char* kTokenListTable = "unnest(?2::text[]) AS t(token)";
  static std::string token_list(const std::vector<std::string>& tokens) { return text_array_literal(tokens); }
  // A list of row ids bound as one parameter ?1, read as a table t(id): a bigint[] literal.
  static constexpr const char* kIdListTable = "unnest(?1::bigint[]) AS t(id)";
  static std::string id_list(const std::vector<std::int64_t>& ids) { return bigint_array_literal(ids); }
  // An ack's new history rows go as one statement, the columns as arrays: every
  // statement costs the server its own execution, and a turn appends two or more
  // events (docs/bench.md, "History rows of an ack in one statement").
  static constexpr bool kHistoryRowsInOneStatement = true;
  static Statement history_rows(Connection& db, const std::string& instance, ExecutionId execution,
                                const std::vector<const Event*>& events, const std::vector<std::string>& jsons) {
    std::vector<std::int64_t> ids;
    std::vector<std::string> kinds;
    std::vector<std::int64_t> timestamps;
    for (const Event* event : events) {
      ids.push_back(static_cast<std::int64_t>(event->event_id));
      kinds.emplace_back(to_string(event->kind()));
      timestamps.push_back(event->timestamp_ms);
    }
    Statement insert = db.prepare(
        "INSERT INTO history (instance_id, execution_id, event_id, event_kind, timestamp, event_json) "
        "SELECT ?1, ?2, e.event_id, e.event_kind, e.timestamp, e.event_json "
        "FROM unnest(?3::bigint[], ?4::text[], ?5::bigint[], ?6::text[]) AS e(event_id, event_kind, timestamp, event_json)");
    insert.bind(1, instance)
        .bind(2, static_cast<std::int64_t>(execution))
        .bind(3, bigint_array_literal(ids))
        .bind(4, text_array_literal(kinds))
        .bind(5, bigint_array_literal(timestamps))
        .bind(6, text_array_literal(jsons));
    return insert;
  }
  // Writes are deferred to the next round trip (postgres_connection.hpp).
  static constexpr bool kOneWriter = false;
  // The status counts stay trigger-kept: another process may write an instance row
  // between an ack's read of it and its write (sqlite_dialect.hpp says why SQLite's
  // writers keep them).
  static constexpr bool kWritersKeepInstanceCounts = false;
  // A batch of orchestration acks goes to the server in one pipeline with its
  // COMMIT (Queues::acks_in_one_pipeline).
  static constexpr bool kPipelinesAckBatches = true;
  // Releases the locks of a pipelined ack batch, `tokens` (each held by the batch's
  // transaction: Queues::hold_locks), with the messages each consumed: one statement
  // for the whole batch, where each ack's two deletes were two statements, each an
  // execution of its own on the server (docs/bench.md, "A batch's locks released in
  // one statement").
  static void release_locks(Connection& db, const std::vector<std::string>& tokens) {
    db.prepare("WITH released_messages AS (DELETE FROM orchestrator_queue WHERE lock_token IN "
               "(SELECT t.token FROM unnest(?1::text[]) AS t(token))) "
               "DELETE FROM instance_locks WHERE lock_token IN (SELECT t.token FROM unnest(?1::text[]) AS t(token))")
        .bind(1, text_array_literal(tokens))
        .defer();
  }
  // Every row is a statement of its own on the server: batches of 64 measured level
  // with 16, so it keeps the smaller one, which holds fewer instances away from the
  // other connections' and processes' dispatchers (docs/bench.md, "Batch sizes by store").
  static constexpr std::size_t kPreferredBatchSize = 16;
  // The savepoint waits in the pipeline for the ack's first statement; an ack
  // refused before anything of it was sent just forgets it and what follows.
  static std::uint64_t open_savepoint(Connection& db) {
    db.defer("SAVEPOINT batched_ack", {}, {});
    return db.next_deferred_position() - 1;
  }
  static void roll_back_savepoint(Connection& db, std::uint64_t savepoint) {
    if (db.sent_deferred() <= savepoint) {
      db.forget_deferred_from(savepoint);
      return;
    }
    db.drop_deferred();
    db.exec("ROLLBACK TO batched_ack; RELEASE batched_ack");
  }

  // Orchestration acks update shared roll-up rows (instance_counts by trigger,
  // activity_stats, metric_buckets, execution_durations); two batches of other
  // processes would lock them in other orders and deadlock. One transaction-scoped
  // advisory lock per schema queues them instead: the wait is the one they had on
  // those rows anyway, minus the deadlock detector's timeout. A batch sums its
  // roll-ups and takes the lock just before it writes them, at the end of the
  // pipeline that ends with its COMMIT (Queues::acks_in_one_pipeline), where the
  // count triggers also run (deferred, schema version 15): the lock is held only
  // while the server runs those last statements. An ack alone takes it before its
  // first write.
  // An activity name bound later than the ack that brought it (a batch's summed
  // roll-ups) is checked at the ack: no NUL byte (libpq's parameters are C strings) and valid
  // UTF-8 (the server refuses anything else), InvalidInput otherwise.
  static void check_storable(Connection& db, const std::string& text) {
    if (text.find('\0') == std::string::npos && valid_utf8(text)) return;
    throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                        "an activity name must be UTF-8 without NUL bytes to be stored in PostgreSQL");
  }

  static void serialize_orchestration_acks(Connection& db) {
    db.prepare("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.orchestration_acks')::bigint)").defer();
  }

  // Concurrent starts of one id queue on a transaction-scoped advisory lock on
  // it (the key fetch tries), so the second sees the first's queued start. Deferred:
  // sent in the pipeline of the start's insert, which the server runs after the lock
  // is granted, with a snapshot taken then (READ COMMITTED).
  static void serialize_start(Connection& db, const std::string& instance) {
    db.prepare("SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext(?1::text))")
        .bind(1, instance)
        .defer();
  }

  // Several processes share the database: the instance's lock row is taken (an
  // upsert) before its rows go. An ack or fetch of another process that holds or
  // is creating that lock commits first and its rows are then deleted too; one
  // that comes later finds no lock and fails with InvalidLock instead of
  // recreating the instance.
  static void lock_instance_for_delete(Connection& db, const std::string& id, TimestampMs now) {
    db.prepare(
          "INSERT INTO instance_locks (instance_id, lock_token, locked_until, locked_at) "
          "VALUES (?1, 'deleting:' || ?1::text, ?2, ?2) "
          "ON CONFLICT (instance_id) DO UPDATE SET lock_token = excluded.lock_token, "
          "  locked_until = excluded.locked_until, locked_at = excluded.locked_at")
        .bind(1, id)
        .bind(2, now)
        .run();
  }

  // Moves minute buckets that start before `before` into their hour buckets. The
  // minute rows are deleted and summed by one statement, so two processes rolling
  // up at once move each minute row exactly once: the second one's DELETE waits
  // for the first to commit and then finds those rows gone.
  static void roll_up_minutes(Connection& db, TimestampMs before) {
    db.prepare(
          "WITH moved AS ("
          "  DELETE FROM metric_buckets WHERE resolution = 'minute' AND bucket_start < ?1 "
          "  RETURNING " DUROXIDE_METRIC_COLUMNS ") "
          "INSERT INTO metric_buckets (" DUROXIDE_METRIC_COLUMNS ") "
          "SELECT 'hour', (bucket_start / 3600000) * 3600000, orchestration_name, tenant, " DUROXIDE_METRIC_SUMS " "
          "FROM moved GROUP BY 2, 3, 4 " DUROXIDE_METRIC_ADD_ON_CONFLICT)
        .bind(1, before)
        .defer();
  }
};

}  // namespace duroxide::pg
