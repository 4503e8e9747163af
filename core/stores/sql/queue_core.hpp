// The hot path written once for SqliteProvider and PostgresProvider: acks of
// orchestration and worker items (single and batched), enqueueing, and the lock
// checks. How an item is claimed stays with each store (SQLite: one writer,
// BEGIN IMMEDIATE; PostgreSQL: lock-row upserts and FOR UPDATE SKIP LOCKED).
//
// `Dialect` is the seam described in management_core.hpp, plus:
// - kWorkerRowSuffix: what keeps a fetched worker row from other fetchers;
// - kHeldLockSuffix: what keeps an ack's instance lock from being taken over
//   until the ack ends ("" under SQLite's one writer, " FOR UPDATE OF l");
// - kOneWriter: writes run at once and nobody else writes meanwhile, so the
//   rows an ack changed can be checked (PostgreSQL sends them with the COMMIT);
// - kPipelinesAckBatches: writes wait for the next round trip, and the
//   connection numbers them (next_deferred_position, failed_position,
//   forget_deferred_from): a batch of orchestration acks is sent as one pipeline;
// - open_savepoint(db) -> mark, roll_back_savepoint(db, mark): one ack of a
//   batch; rolling back also forgets its writes still queued for the next round
//   trip. RELEASE is shared (it is what sends an ack's queued writes).
// Writes whose results nobody reads are Statement::defer()red: PostgreSQL sends
// them in one pipeline with the next read or the COMMIT; SQLite runs them now.
// Not a public header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "duroxide/assert.hpp"
#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/provider.hpp"
#include "store_sql.hpp"

namespace duroxide::store_sql {

constexpr const char* kInstanceLockLost = "the lock token is unknown or its lock expired";
constexpr const char* kWorkItemLockLost = "the work item is gone (cancelled or acked) or its lock expired";

// The minute roll-up of the time series, done by the first ack of each new minute.
struct RollUp {
  TimestampMs last_minute = 0;       // rolled up by a committed transaction (updated on commit)
  std::int64_t retention_ms = 0;     // minute buckets older than this move to hours
  TimestampMs rolled_up_minute = 0;  // rolled up by this transaction (0: none)
  // When set, the acks add their time series, activity statistics, execution
  // durations and status counts here, for the batch to write each row once; else each
  // ack writes them.
  RollUpTotals* totals = nullptr;
};

template <typename Dialect>
struct Queues {
  using Connection = typename Dialect::Connection;
  using Statement = typename Dialect::Statement;
  using Transaction = typename Dialect::Transaction;

  // An ack's instance lock, read and held until its transaction ends, and what
  // the ack needs of the instance row.
  struct Held {
    std::string instance;
    bool exists = false;
    ExecutionId current = 0;
    std::string status;
    TimestampMs created_at = 0;
    std::int64_t custom_status_version = 0;
    std::string orchestration_name;
    std::string orchestration_version;
    // The current execution's start, while it is not finished (nullopt: finished or none).
    std::optional<TimestampMs> open_execution_started_at;
    std::string tenant;  // the row's; before the first ack, the one this ack writes
    bool is_root = true;  // the row has no parent instance
  };

  // The statement just run must have touched a row that holds the caller's lock.
  static void require_changed(Connection& db, const char* lost) {
    if (db.changes() == 0) throw ProviderError(ProviderErrorKind::InvalidLock, db.operation(), lost);
  }

  static void check_target_instance(Connection& db, const std::string& instance) {
    if (instance.empty() || instance.size() > limits::kMaxIdentifierBytes) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                          "a work item's target instance id must be 1 to " +
                              std::to_string(limits::kMaxIdentifierBytes) + " bytes");
    }
  }

  // A message for the orchestrator queue, checked and encoded, not yet written.
  struct OrchestratorRow {
    std::string instance;
    std::string kind;
    std::string json;
  };
  // InvalidInput for a target id out of bounds or an item too large to encode.
  static OrchestratorRow orchestrator_row(Connection& db, const WorkItem& item) {
    const std::string& instance = target_instance(item);
    check_target_instance(db, instance);
    OrchestratorRow row;
    row.instance = instance;
    row.kind = std::string(to_string(kind_of(item)));
    row.json = encoded(db.operation(), [&] { return encode_work_item(item); });
    return row;
  }

  static void insert_orchestrator_row(Connection& db, const OrchestratorRow& row, TimestampMs visible_at,
                                      TimestampMs now) {
    db.prepare(
          "INSERT INTO orchestrator_queue (instance_id, kind, item_json, visible_at, enqueued_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(1, row.instance)
        .bind(2, row.kind)
        .bind(3, row.json)
        .bind(4, std::max(visible_at, now))
        .bind(5, now)
        .defer();
  }

  static void insert_orchestrator_item(Connection& db, const WorkItem& item, TimestampMs visible_at,
                                       TimestampMs now) {
    insert_orchestrator_row(db, orchestrator_row(db, item), visible_at, now);
  }

  // A worker ack's completion, checked and encoded: an activity's result
  // (ActivityCompleted or ActivityFailed), else InvalidInput.
  static OrchestratorRow completion_row(Connection& db, const WorkItem& completion) {
    if (!std::holds_alternative<work::ActivityCompleted>(completion) &&
        !std::holds_alternative<work::ActivityFailed>(completion)) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                          "a worker ack's completion must be ActivityCompleted or ActivityFailed, not " +
                              std::string(to_string(kind_of(completion))));
    }
    return orchestrator_row(db, completion);
  }

  // Inside the caller's transaction.
  static void ack_work(Connection& db, const std::string& lock_token, const std::optional<WorkItem>& completion,
                       TimestampMs now) {
    check_token(lock_token, db.operation());
    std::optional<OrchestratorRow> row;
    if (completion) row = completion_row(db, *completion);
    db.prepare("DELETE FROM worker_queue WHERE lock_token = ?1 AND " DUROXIDE_LOCK_EXPIRY("locked_until") " > ?2")
        .bind(1, lock_token)
        .bind(2, now)
        .run();
    require_changed(db, kWorkItemLockLost);
    if (row) insert_orchestrator_row(db, *row, now, now);
  }

  // An error that concerns one ack of a batch alone (lost lock, bad input,
  // conflict, not found); any other fails the whole batch.
  static bool concerns_one_ack(ProviderErrorKind kind) {
    return kind == ProviderErrorKind::InvalidLock || kind == ProviderErrorKind::InvalidInput ||
           kind == ProviderErrorKind::Conflict || kind == ProviderErrorKind::NotFound;
  }

  // Runs ack_one(0..count-1) in one transaction, each in a savepoint of its own:
  // an error that concerns one ack alone (lost lock, bad input, conflict, not
  // found) rolls back that ack and becomes its outcome; the others go on. Any
  // other error (I/O, busy, connection, a failed commit) fails the whole batch.
  // A batch of one needs no savepoint (its transaction is the ack). A batch
  // first runs without savepoints (acks_without_savepoints): only when an ack
  // is refused does it run again with them. A savepoint is sent with the ack's
  // first statement and its release with the ack's queued writes, so on
  // PostgreSQL an ack of a batch then costs two round trips, as an ack alone
  // does, plus one COMMIT per batch.
  // `refused(i)`, when given, undoes what ack i changed outside the database;
  // `first`, when given, runs in the transaction before the acks (again if the
  // batch runs again), and ack_one must change nothing outside the database that
  // `first` does not reset. `flush`, when given, writes what the acks run since
  // its last call have left for it: before each commit, and with savepoints
  // before each release (a refused ack's `refused` drops what it left).
  static std::vector<AckOutcome> acks_in_one_transaction(Connection& db, std::size_t count,
                                                         const std::function<void(std::size_t)>& ack_one,
                                                         const std::function<void(std::size_t)>& refused = {},
                                                         const std::function<void()>& first = {},
                                                         const std::function<void()>& flush = {}) {
    if (count > 1) {
      if (std::optional<std::vector<AckOutcome>> outcomes =
              acks_without_savepoints(db, count, ack_one, first, flush)) {
        return *outcomes;
      }
    }
    std::vector<AckOutcome> outcomes(count);
    try {
      Transaction transaction(db);
      if (first) first();
      if (count == 1) {
        try {
          ack_one(0);
          if (flush) flush();
          transaction.commit();
        } catch (const ProviderError& error) {
          if (!concerns_one_ack(error.kind())) throw;
          if (refused) refused(0);
          outcomes[0] = error;
        }
        return outcomes;
      }
      for (std::size_t i = 0; i < count; ++i) {
        const auto mark = Dialect::open_savepoint(db);
        try {
          ack_one(i);
          if (flush) flush();
          db.prepare("RELEASE batched_ack").run();  // sends the ack's queued writes: their errors surface here
        } catch (const ProviderError& error) {
          if (!concerns_one_ack(error.kind())) throw;
          Dialect::roll_back_savepoint(db, mark);
          if (refused) refused(i);
          outcomes[i] = error;
        }
      }
      transaction.commit();
    } catch (const ProviderError& error) {
      for (AckOutcome& outcome : outcomes) outcome = error;  // nothing of the batch was written
    }
    return outcomes;
  }

  // The whole batch in one transaction without savepoints, whose cost (SQLite: a
  // journal of every page an ack touches; PostgreSQL: round trips) is paid only
  // when an ack is refused: then everything is rolled back and nullopt returned,
  // for the batch to run again with a savepoint per ack. An error that is not
  // one ack's fails every ack, as in acks_in_one_transaction.
  static std::optional<std::vector<AckOutcome>> acks_without_savepoints(
      Connection& db, std::size_t count, const std::function<void(std::size_t)>& ack_one,
      const std::function<void()>& first, const std::function<void()>& flush) {
    std::vector<AckOutcome> outcomes(count);
    try {
      Transaction transaction(db);
      if (first) first();
      for (std::size_t i = 0; i < count; ++i) ack_one(i);
      if (flush) flush();
      transaction.commit();
    } catch (const ProviderError& error) {
      if (concerns_one_ack(error.kind())) return std::nullopt;
      for (AckOutcome& outcome : outcomes) outcome = error;
    }
    return outcomes;
  }

  // Where an orchestration ack's release of its lock and consumed messages is written:
  // by the ack itself, or by its batch for all its acks at once (a store that pipelines
  // ack batches: Dialect::release_locks).
  enum class Release { InTheAck, WithTheBatch };

  // Inside the caller's transaction: checks the lock; writes the instance, its
  // execution, history, key-value mutations, time series and change feed; queues
  // what the turn scheduled; releases the lock with the messages it consumed.
  // `prefetched`: what hold_locks already read and holds for this token, if anything.
  // `release`: Release::WithTheBatch leaves the release to the batch's flush
  // (Dialect::release_locks, for every ack of the batch at once).
  static void ack_orchestration(Connection& db, const std::string& lock_token, const OrchestrationAck& ack,
                                TimestampMs now, RollUp& roll_up, std::optional<Held> prefetched = {},
                                Release release = Release::InTheAck) {
    check_token(lock_token, db.operation());
    const Held held = prefetched ? std::move(*prefetched) : hold_lock(db, lock_token, now);
    // Before the first write of a shared roll-up row; summed roll-ups are written (and
    // serialized) by the batch's flush.
    if (!roll_up.totals) Dialect::serialize_orchestration_acks(db);
    if (ack.execution_id == 0 || ack.execution_id < held.current) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                          "execution " + std::to_string(ack.execution_id) +
                              " is older than the current execution " + std::to_string(held.current));
    }
    if (held.exists || !ack.history_delta.empty()) write_instance(db, held, ack, now, roll_up);
    if (held.exists && ack.executions_kept > 0 && ack.execution_id > held.current) {
      const ExecutionId kept = std::min<ExecutionId>(ack.execution_id, ack.executions_kept);
      delete_executions_before(db, held.instance, ack.execution_id + 1 - kept);
    }
    queue_scheduled_work(db, ack, now, roll_up.totals);
    record_activity_outcomes(db, ack, held.exists ? held.tenant : ack.metadata.tenant, roll_up.totals);
    if (release == Release::WithTheBatch) return;
    db.prepare("DELETE FROM orchestrator_queue WHERE lock_token = ?1").bind(1, lock_token).defer();
    db.prepare("DELETE FROM instance_locks WHERE lock_token = ?1").bind(1, lock_token).defer();
    // With one writer nothing else can take the lock between the check and this delete,
    // so a missing row is the file's doing (a damaged index, another program's trigger):
    // outside data, refused as Corrupted (the transaction rolls back), not asserted.
    if constexpr (Dialect::kOneWriter) {
      if (db.changes() != 1) {
        throw ProviderError(ProviderErrorKind::Corrupted, db.operation(),
                            "the lock row of instance " + held.instance +
                                " was read for this ack but was not there to delete: instance_locks is damaged "
                                "or changed by another program");
      }
    }
  }

  // One ack in a transaction of its own; `roll_up.last_minute` follows its commit.
  static void ack_orchestration_committed(Connection& db, const std::string& lock_token,
                                          const OrchestrationAck& ack, TimestampMs now, RollUp& roll_up) {
    Transaction transaction(db);
    ack_orchestration(db, lock_token, ack, now, roll_up);
    transaction.commit();
    roll_up.last_minute = std::max(roll_up.last_minute, roll_up.rolled_up_minute);
  }

  // A batch of orchestration acks in one transaction (acks_in_one_transaction).
  // A rolled-back ack takes its roll-up along; `roll_up` keeps the committed one.
  // The batch's locks are read and held by one statement first; each is used
  // once (a token repeated in the batch reads its lock again, and finds it gone).
  static std::vector<AckOutcome> ack_orchestrations(Connection& db,
                                                    const std::vector<OrchestrationAckRequest>& requests,
                                                    TimestampMs now, RollUp& roll_up) {
    const TimestampMs at_start = roll_up.rolled_up_minute;
    TimestampMs before = 0;
    std::map<std::string, Held> held;
    const bool pipelined = Dialect::kPipelinesAckBatches && requests.size() > 1;
    const Release release = pipelined ? Release::WithTheBatch : Release::InTheAck;
    std::vector<std::string> released;  // the tokens of this attempt's acks, for the flush to release
    auto ack_one = [&](std::size_t i) {
      before = roll_up.rolled_up_minute;
      // A token this batch acked already: its lock is released with the batch, so a
      // read would still find it; an ack alone would find it gone.
      if (pipelined && std::find(released.begin(), released.end(), requests[i].lock_token) != released.end()) {
        throw ProviderError(ProviderErrorKind::InvalidLock, db.operation(), kInstanceLockLost);
      }
      std::optional<Held> prefetched;
      if (auto found = held.find(requests[i].lock_token); found != held.end()) {
        prefetched = std::move(found->second);
        held.erase(found);
      }
      ack_orchestration(db, requests[i].lock_token, requests[i].ack, now, roll_up, std::move(prefetched), release);
      if (pipelined) released.push_back(requests[i].lock_token);
    };
    // The batch sums its roll-ups and writes each row once, after its acks. Each ack
    // sums into totals of its own, added to the batch's once it succeeds, so an ack
    // refused drops what it added, and an ack costs what it adds, not what the batch holds.
    // Where several writers share the rows (serialize_orchestration_acks), only that
    // flush waits for the others'.
    // An ack refused after its totals joined the batch's was refused by the flush (with
    // savepoints, when the batch's totals are that ack's alone: each flush writes and
    // clears them) or by the server (pipelined: the batch starts again from first()).
    RollUpTotals totals;
    RollUpTotals ack_totals;             // the ack now running
    std::optional<std::size_t> absorbed;  // the last ack whose totals joined the batch's
    auto ack_summed = [&](std::size_t i) {
      ack_totals.clear();
      ack_one(i);
      totals.absorb(ack_totals);
      absorbed = i;
    };
    auto refused = [&](std::size_t i) {
      roll_up.rolled_up_minute = before;
      if (absorbed == i) totals.clear();
    };
    auto first = [&] {
      roll_up.rolled_up_minute = at_start;
      totals.clear();
      absorbed.reset();
      released.clear();
      if (requests.size() > 1) held = hold_locks(db, requests, now);
    };
    struct Summing {
      RollUp& roll_up;
      ~Summing() { roll_up.totals = nullptr; }
    } summing{roll_up};
    roll_up.totals = &ack_totals;
    auto flush = [&] {
      if constexpr (Dialect::kPipelinesAckBatches) {
        if (!released.empty()) Dialect::release_locks(db, released);
      }
      delete_cancelled_activities(db, std::move(totals.cancelled));  // a batch run again starts with first()
      Dialect::serialize_orchestration_acks(db);
      write_roll_up_totals(db, totals);
    };
    std::vector<AckOutcome> outcomes;
    if constexpr (Dialect::kPipelinesAckBatches) {
      outcomes = pipelined ? acks_in_one_pipeline(db, requests.size(), ack_summed, refused, first, flush)
                           : acks_in_one_transaction(db, requests.size(), ack_summed, refused, first, flush);
    } else {
      outcomes = acks_in_one_transaction(db, requests.size(), ack_summed, refused, first, flush);
    }
    const bool committed = std::any_of(outcomes.begin(), outcomes.end(),
                                       [](const AckOutcome& outcome) { return !outcome.has_value(); });
    if (committed) roll_up.last_minute = std::max(roll_up.last_minute, roll_up.rolled_up_minute);
    return outcomes;
  }

  // acks_in_one_transaction for a store whose writes wait for the next round
  // trip (Dialect::kPipelinesAckBatches) and acks that read nothing once their
  // locks are held: every ack's writes and the COMMIT go in one pipeline, so rows
  // that every ack updates (the roll-ups) are locked only while the server runs
  // it, never across a round trip to this process. An ack the server refuses
  // (its statements' positions name it) is taken out and the batch runs again
  // in a new transaction; one refused here before sending anything is just left
  // out. `first` runs at the start of every attempt, `flush` after the acks (its
  // writes go with the COMMIT; a refusal of one of them is the batch's).
  static std::vector<AckOutcome> acks_in_one_pipeline(Connection& db, std::size_t count,
                                                      const std::function<void(std::size_t)>& ack_one,
                                                      const std::function<void(std::size_t)>& refused,
                                                      const std::function<void()>& first,
                                                      const std::function<void()>& flush) {
    std::vector<AckOutcome> outcomes(count);
    std::vector<bool> out(count, false);
    for (std::size_t attempt = 0; attempt <= count; ++attempt) {
      std::vector<std::pair<std::uint64_t, std::size_t>> starts;  // first position of each ack sent
      try {
        Transaction transaction(db);
        first();
        bool run_again = false;
        for (std::size_t i = 0; i < count && !run_again; ++i) {
          if (out[i]) continue;
          const std::uint64_t start = db.next_deferred_position();
          starts.emplace_back(start, i);
          try {
            ack_one(i);
          } catch (const ProviderError& error) {
            // Once the server refused a statement (an earlier ack's, or one of this ack's sent
            // by a full pipeline) the transaction is over: the outer catch runs the batch again
            // without the ack the position names. Refused here, the ack is left out: its unsent
            // statements are forgotten, and when a full pipeline already sent some of them the
            // batch runs again (the transaction rolls back).
            if (!concerns_one_ack(error.kind()) || db.failed_position()) throw;
            starts.pop_back();
            run_again = start < db.sent_deferred();
            db.forget_deferred_from(start);
            out[i] = true;
            outcomes[i] = error;
            if (refused) refused(i);
          }
        }
        if (run_again) continue;
        const std::uint64_t flushed = db.next_deferred_position();
        starts.emplace_back(flushed, count);  // past every ack: a refusal from here on names none
        flush();
        transaction.commit();
        return outcomes;
      } catch (const ProviderError& error) {
        const auto failed = db.failed_position();
        const auto owner = std::find_if(starts.rbegin(), starts.rend(),
                                        [&](const auto& start) { return failed && start.first <= *failed; });
        if (!concerns_one_ack(error.kind()) || owner == starts.rend() || owner->second == count) {
          for (AckOutcome& outcome : outcomes) outcome = error;  // nothing of the batch was written
          return outcomes;
        }
        out[owner->second] = true;
        outcomes[owner->second] = error;
        if (refused) refused(owner->second);
      }
    }
    DUROXIDE_ASSERT(false, "each attempt of a pipelined batch takes out one ack or ends");
    return outcomes;
  }

  static std::vector<AckOutcome> ack_works(Connection& db, const std::vector<WorkAckRequest>& requests,
                                           TimestampMs now) {
    if constexpr (Dialect::kPipelinesAckBatches) {
      if (requests.size() > 1) return ack_works_in_one_pipeline(db, requests, now);
    }
    return acks_in_one_transaction(db, requests.size(), [&](std::size_t i) {
      ack_work(db, requests[i].lock_token, requests[i].completion, now);
    });
  }

  // A batch of worker acks on a store whose writes wait for the next round trip:
  // one statement takes back every lock of the batch and returns the tokens it
  // found, and the completions go with the COMMIT (acks_in_one_pipeline), so a
  // batch costs two round trips whatever its size, where acks one at a time cost
  // one each (each must see its own row deleted). An ack whose lock that statement
  // did not find (lost, expired, or its token acked earlier in the batch) is
  // refused with InvalidLock; one refused before the statement (a malformed token,
  // a completion that cannot be stored) is left out of it. Either way the refused
  // ack's row stays as it was, as after a refused ack alone.
  static std::vector<AckOutcome> ack_works_in_one_pipeline(Connection& db, const std::vector<WorkAckRequest>& requests,
                                                           TimestampMs now) {
    std::vector<std::optional<ProviderError>> refused_early(requests.size());
    std::vector<std::optional<OrchestratorRow>> completions(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      try {
        check_token(requests[i].lock_token, db.operation());
        if (requests[i].completion) completions[i] = completion_row(db, *requests[i].completion);
      } catch (const ProviderError& error) {
        if (!concerns_one_ack(error.kind())) throw;
        refused_early[i] = error;
      }
    }
    std::vector<bool> left_out(requests.size(), false);
    std::set<std::string> found;  // the tokens whose rows the batch's statement deleted, each used once
    auto first = [&] {
      std::vector<std::string> tokens;
      for (std::size_t i = 0; i < requests.size(); ++i) {
        if (!left_out[i] && !refused_early[i]) tokens.push_back(requests[i].lock_token);
      }
      found = take_back_work_locks(db, tokens, now);
    };
    auto ack_one = [&](std::size_t i) {
      if (refused_early[i]) throw *refused_early[i];
      if (found.erase(requests[i].lock_token) == 0) {
        throw ProviderError(ProviderErrorKind::InvalidLock, db.operation(), kWorkItemLockLost);
      }
      if (completions[i]) insert_orchestrator_row(db, *completions[i], now, now);
    };
    auto refused = [&](std::size_t i) { left_out[i] = true; };
    return acks_in_one_pipeline(db, requests.size(), ack_one, refused, first, [] {});
  }

  // Deletes the worker rows of `tokens` whose locks are held (not expired) and
  // returns the tokens of the rows it deleted. The rows are taken in key order
  // (instance, execution, activity), as delete_cancelled_activities takes them.
  static std::set<std::string> take_back_work_locks(Connection& db, const std::vector<std::string>& tokens,
                                                         TimestampMs now) {
    std::set<std::string> found;
    if (tokens.empty()) return found;
    // One statement text whatever the batch's size (Dialect::kTokenListTable).
    static const std::string sql =
        std::string("DELETE FROM worker_queue WHERE id IN (SELECT w.id FROM worker_queue w WHERE w.lock_token IN ("
                    "SELECT t.token FROM ") +
        Dialect::kTokenListTable + ") AND " DUROXIDE_LOCK_EXPIRY("w.locked_until") " > ?1" + worker_rows_in_key_order<Dialect>("w") +
        ") RETURNING lock_token";
    Statement rows = db.prepare(sql);
    rows.bind(1, now).bind(2, Dialect::token_list(tokens));
    while (rows.step()) found.insert(rows.text(0));
    return found;
  }

  // ---------------------------------------------------------------- abandon, renew, read, enqueue

  static void abandon_orchestration(Connection& db, const std::string& lock_token, std::int64_t delay_ms,
                                    bool ignore_attempt, TimestampMs now) {
    check_token(lock_token, db.operation());
    check_delay(delay_ms, "delay", db.operation());
    Transaction transaction(db);
    db.prepare("DELETE FROM instance_locks WHERE lock_token = ?1 AND " DUROXIDE_LOCK_EXPIRY("locked_until") " > ?2")
        .bind(1, lock_token)
        .bind(2, now)
        .run();
    require_changed(db, kInstanceLockLost);
    db.prepare(std::string("UPDATE orchestrator_queue SET lock_token = NULL, ") + kReleaseSet + "WHERE lock_token = ?1")
        .bind(1, lock_token)
        .bind(2, delay_ms)
        .bind(3, now)
        .bind(4, static_cast<std::int64_t>(ignore_attempt ? 1 : 0))
        .run();
    transaction.commit();
  }

  static void abandon_work(Connection& db, const std::string& lock_token, std::int64_t delay_ms,
                           bool ignore_attempt, TimestampMs now) {
    check_token(lock_token, db.operation());
    check_delay(delay_ms, "delay", db.operation());
    db.prepare(std::string("UPDATE worker_queue SET lock_token = NULL, locked_until = NULL, ") + kReleaseSet +
               "WHERE lock_token = ?1 AND " DUROXIDE_LOCK_EXPIRY("locked_until") " > ?3")
        .bind(1, lock_token)
        .bind(2, delay_ms)
        .bind(3, now)
        .bind(4, static_cast<std::int64_t>(ignore_attempt ? 1 : 0))
        .run();
    require_changed(db, kWorkItemLockLost);
  }

  // Extends a live lock (a work item's, or an instance's); one that is
  // unknown or already expired is InvalidLock.
  static void renew_lock(Connection& db, bool work_item, const std::string& lock_token, std::int64_t extend_ms,
                         TimestampMs now) {
    check_token(lock_token, db.operation());
    check_delay(extend_ms, "extension", db.operation());
    db.prepare(work_item ? "UPDATE worker_queue SET locked_until = ?3 WHERE lock_token = ?1 AND " DUROXIDE_LOCK_EXPIRY("locked_until") " > ?2"
                         : "UPDATE instance_locks SET locked_until = ?3 WHERE lock_token = ?1 AND " DUROXIDE_LOCK_EXPIRY("locked_until") " > ?2")
        .bind(1, lock_token)
        .bind(2, now)
        .bind(3, now + extend_ms)
        .run();
    require_changed(db, work_item ? kWorkItemLockLost : kInstanceLockLost);
  }

  // The current execution's history; empty for an unknown instance.
  static History read_current(Connection& db, const std::string& instance) {
    Statement row = db.prepare("SELECT current_execution_id FROM instances WHERE instance_id = ?1");
    row.bind(1, instance);
    if (!row.step()) return {};
    auto execution = static_cast<ExecutionId>(row.integer(0));
    return read_history(db, instance, execution, nullptr);
  }

  static void enqueue_orchestrator_item(Connection& db, const WorkItem& item, std::int64_t delay_ms,
                                        TimestampMs now) {
    check_delay(delay_ms, "delay", db.operation());
    if (std::holds_alternative<work::ActivityExecute>(item)) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(), "ActivityExecute belongs on the worker queue");
    }
    insert_orchestrator_item(db, item, now + delay_ms, now);
  }

  // Inside the caller's transaction, which keeps other starts of the id out
  // (SQLite: the one writer; PostgreSQL: an advisory lock the caller took, which the
  // server holds before this statement takes its snapshot). One statement checks and
  // inserts: the start is queued unless the instance exists or a start of it is
  // queued already. The rows it queued (1 or 0) go into `queued` when its result is
  // read, at the latest at COMMIT: on PostgreSQL the lock, this statement, BEGIN and
  // the COMMIT travel in one round trip. The caller then calls require_start_queued.
  static void enqueue_start(Connection& db, const work::StartOrchestration& start, TimestampMs now,
                            std::int64_t& queued) {
    check_target_instance(db, start.instance);
    const WorkItem item = start;
    db.prepare(
          "INSERT INTO orchestrator_queue (instance_id, kind, item_json, visible_at, enqueued_at) "
          "SELECT CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS TEXT), CAST(?4 AS BIGINT), CAST(?4 AS BIGINT) "
          "WHERE NOT " DUROXIDE_KNOWN_INSTANCE)
        .bind(1, start.instance)
        .bind(2, to_string(WorkItemKind::StartOrchestration))
        .bind(3, encoded(db.operation(), [&] { return encode_work_item(item); }))
        .bind(4, now)
        .defer_counting(queued);
  }

  // After enqueue_start's transaction committed: Conflict when it queued nothing
  // (the instance exists or a start of it is queued; the commit wrote nothing).
  static void require_start_queued(Connection& db, const std::string& instance, std::int64_t queued) {
    DUROXIDE_ASSERT(queued == 0 || queued == 1, "a committed start's insert was read and queued at most one row");
    if (queued == 0) {
      throw ProviderError(ProviderErrorKind::Conflict, db.operation(), "instance " + instance + " already exists");
    }
  }

  // ---------------------------------------------------------------- fetch pieces

  // The oldest visible, unlocked worker row (Dialect::kWorkerRowSuffix: how it is
  // kept from other fetchers), and what its orchestration gets if it does not decode.
  struct WorkerRow {
    std::int64_t id = 0;
    std::string json;
    std::int64_t attempts = 0;
    work::ActivityFailed failed;
    TimestampMs visible_at = 0;
    std::optional<std::string> session_id;  // the session_id column (NULL: outside sessions)
    std::optional<std::string> orchestration_name;     // the instance's (NULL: no instance row)
    std::optional<std::string> orchestration_version;
  };
  // Where a batch's scan of a queue stands in (visible_at, id) order: its previous row.
  // With one writer, every worker row before it was claimed by the batch or locked when
  // passed over, and stays so until the batch commits: the next fetch seeks past it
  // instead of stepping over the batch's own rows again (for a batch of 64, about 2,000).
  struct QueueCursor {
    TimestampMs visible_at = 0;
    std::int64_t id = 0;
  };
  // Where a one-writer batch's scan of the worker queue stands: its cursor and, for a
  // filter of several lanes (several_lanes), each lane's next row past it. Valid for one
  // transaction with one filter, one time and one session fetch. With one writer nothing
  // else moves a lane's next row inside that transaction, and the batch's own writes
  // leave the other lanes alone (the lanes' tags differ; a claim locks only the row
  // returned, whose lane is read again; take_session only gives a session to this fetch's
  // owner), so each lane is read once, and again only after its row was returned.
  struct WorkerScan {
    std::optional<QueueCursor> after;
    std::vector<TagFilter> lanes;                 // worker_lanes(filter), made at the first row
    std::vector<std::optional<WorkerRow>> heads;  // by lane, once read
    std::vector<bool> read;                       // by lane: heads[k] is its next row
  };
  // The instance's orchestration and version come from its row by primary key (a
  // subquery in the select list: it locks nothing, and a row without an instance gets NULL).
  static constexpr const char* kWorkerColumns =
      "SELECT id, item_json, attempt_count, instance_id, execution_id, activity_id, visible_at, session_id, "
      "(SELECT i.orchestration_name FROM instances i WHERE i.instance_id = worker_queue.instance_id), "
      "(SELECT i.orchestration_version FROM instances i WHERE i.instance_id = worker_queue.instance_id) "
      "FROM worker_queue ";
  static constexpr const char* kWorkerUnlocked = "(lock_token IS NULL OR " DUROXIDE_LOCK_EXPIRY("locked_until") " <= ?1)";

  // The condition a worker row's tag meets for a TagFilter, over the parameters from
  // ?first: 1 when any tag is taken; 1 when untagged rows (tag NULL) are; then
  // kMaxWorkerTags tags, NULL where the filter names fewer. One text for every
  // filter, so each statement is prepared once. (TagFilter::none() never gets here.)
  static std::string tag_condition(int first) {
    auto parameter = [&](int offset) { return "?" + std::to_string(first + offset); };
    std::string tags;
    for (std::size_t k = 0; k < limits::kMaxWorkerTags; ++k) {
      tags += (k == 0 ? "" : ", ") + parameter(2 + static_cast<int>(k));
    }
    return "(" + parameter(0) + " = 1 OR (tag IS NULL AND " + parameter(1) + " = 1) OR tag IN (" + tags + "))";
  }
  static void bind_tag_filter(Statement& statement, int first, const TagFilter& filter) {
    DUROXIDE_ASSERT(filter.tags.size() <= limits::kMaxWorkerTags, "a fetch's tag filter was checked");
    statement.bind(first, std::int64_t{filter.mode == TagFilter::Mode::Any ? 1 : 0});
    statement.bind(first + 1, std::int64_t{filter.takes_untagged() ? 1 : 0});
    for (std::size_t k = 0; k < limits::kMaxWorkerTags; ++k) {
      const int index = first + 2 + static_cast<int>(k);
      if (k < filter.tags.size()) {
        statement.bind(index, filter.tags[k]);
      } else {
        statement.bind_null(index);
      }
    }
  }

  // The parameters tag_condition takes.
  static constexpr int kTagParameters = 2 + static_cast<int>(limits::kMaxWorkerTags);

  // The condition a worker row's session meets for a fetch whose SessionFetch owner id
  // is bound to ?`owner` (NULL: a fetch without one), the time being ?1: outside sessions,
  // or (with an owner) in a session that no other owner holds.
  static std::string session_condition(int owner) {
    const std::string parameter = "?" + std::to_string(owner);
    return "(session_id IS NULL OR (CAST(" + parameter +
           " AS TEXT) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = "
           "worker_queue.session_id AND " DUROXIDE_LOCK_EXPIRY("s.locked_until") " > ?1 AND s.owner_id <> " +
           parameter + ")))";
  }
  static void bind_session_fetch(Statement& statement, int owner, const SessionFetch* session) {
    if (session) {
      statement.bind(owner, session->owner_id);
    } else {
      statement.bind_null(owner);
    }
  }

  // Takes session `session_id` for `session`'s owner when the fetch takes one of its
  // rows, in the fetch's transaction: claims it when nobody holds it (no row, or an
  // expired lock) and locks it until `until` either way. False when another owner holds
  // it (a concurrent claim won on a store of several writers): the row stays queued.
  static bool take_session(Connection& db, const std::string& session_id, const SessionFetch& session,
                           TimestampMs now, TimestampMs until) {
    db.prepare(
          "INSERT INTO sessions (session_id, owner_id, locked_until, claimed_at) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (session_id) DO UPDATE SET claimed_at = CASE WHEN sessions.owner_id = excluded.owner_id "
          "AND " DUROXIDE_LOCK_EXPIRY("sessions.locked_until") " > ?4 THEN sessions.claimed_at ELSE excluded.claimed_at END, "
          "owner_id = excluded.owner_id, locked_until = excluded.locked_until "
          "WHERE sessions.owner_id = excluded.owner_id OR " DUROXIDE_LOCK_EXPIRY("sessions.locked_until") " <= ?4")
        .bind(1, session_id)
        .bind(2, session.owner_id)
        .bind(3, until)
        .bind(4, now)
        .run();
    return db.changes() > 0;
  }

  // renew_session_locks: the locks `owner` holds among `session_ids`, extended to `until`.
  static std::size_t renew_sessions(Connection& db, const std::string& owner,
                                    const std::vector<std::string>& session_ids, TimestampMs now, TimestampMs until) {
    if (session_ids.empty()) return 0;
    // One statement text whatever the list's length (Dialect::kTokenListTable, at ?2).
    static const std::string sql = std::string("UPDATE sessions SET locked_until = ?3 WHERE session_id IN "
                                               "(SELECT t.token FROM ") +
                                   Dialect::kTokenListTable + ") AND owner_id = ?4 AND " DUROXIDE_LOCK_EXPIRY("locked_until") " > ?1";
    db.prepare(sql).bind(1, now).bind(2, Dialect::token_list(session_ids)).bind(3, until).bind(4, owner).run();
    return static_cast<std::size_t>(db.changes());
  }

  // cleanup_orphaned_sessions: at most a batch of expired sessions no queued row names.
  // The expiry is tested on the deleted row too: on PostgreSQL a row another owner took
  // while this statement waited for it is rechecked against that condition, not the
  // subquery's (which read the row as it was).
  static std::size_t forget_orphaned_sessions(Connection& db, TimestampMs now) {
    db.prepare(
          "DELETE FROM sessions WHERE " DUROXIDE_LOCK_EXPIRY("locked_until") " <= ?1 AND session_id IN "
          "(SELECT s.session_id FROM sessions s WHERE " DUROXIDE_LOCK_EXPIRY("s.locked_until") " <= ?1 "
          "AND NOT EXISTS (SELECT 1 FROM worker_queue q WHERE q.session_id = s.session_id) LIMIT 1000)")
        .bind(1, now)
        .run();
    return static_cast<std::size_t>(db.changes());
  }

  // The condition that the current execution of the instance named by `instance_column` is
  // one a CapabilityFilter with `ranges` version ranges takes: pinned to no version, or to
  // one inside a range. Parameters from ?first on, six per range (min's major, minor,
  // patch, then max's); bind_capability_filter binds them. Only filtering fetches use it:
  // CapabilityFilter::any() adds no condition.
  static std::string capability_condition(const char* instance_column, std::size_t ranges, int first) {
    auto parameter = [&](std::size_t offset) { return "?" + std::to_string(first + static_cast<int>(offset)); };
    const std::string pinned = "(e.pinned_major, e.pinned_minor, e.pinned_patch)";
    std::string inside;
    for (std::size_t k = 0; k < ranges; ++k) {
      inside += std::string(k == 0 ? "" : " OR ") + "(" + pinned + " >= (" + parameter(6 * k) + ", " +
                parameter(6 * k + 1) + ", " + parameter(6 * k + 2) + ") AND " + pinned + " <= (" +
                parameter(6 * k + 3) + ", " + parameter(6 * k + 4) + ", " + parameter(6 * k + 5) + "))";
    }
    return std::string("NOT EXISTS (SELECT 1 FROM instances i JOIN executions e ON e.instance_id = i.instance_id "
                       "AND e.execution_id = i.current_execution_id WHERE i.instance_id = ") +
           instance_column + " AND e.pinned_major IS NOT NULL" + (ranges == 0 ? "" : " AND NOT (" + inside + ")") +
           ")";
  }
  static void bind_capability_filter(Statement& statement, int first, const CapabilityFilter& filter) {
    int index = first;
    for (const SemVerRange& range : filter.supported_versions) {
      for (const SemVer* end : {&range.min, &range.max}) {
        statement.bind(index++, std::int64_t{end->major});
        statement.bind(index++, std::int64_t{end->minor});
        statement.bind(index++, std::int64_t{end->patch});
      }
    }
  }

  // The next worker row whose tag `filter` takes past `scan`'s cursor (one-writer stores
  // only), which moves to the row returned. A filter of several lanes (worker_lanes)
  // returns the first of its lanes' next rows, reading only the lanes not read yet.
  static std::optional<WorkerRow> next_worker_row(Connection& db, TimestampMs now, const TagFilter& filter,
                                                  const SessionFetch* session, WorkerScan& scan) {
    if (!several_lanes(filter)) return next_lane_row(db, now, filter, session, &scan.after);
    if (scan.lanes.empty()) {
      scan.lanes = worker_lanes(filter);
      scan.heads.assign(scan.lanes.size(), std::nullopt);
      scan.read.assign(scan.lanes.size(), false);
    }
    const std::vector<TagFilter>& lanes = scan.lanes;
    std::optional<std::size_t> first;
    for (std::size_t k = 0; k < lanes.size(); ++k) {
      if (!scan.read[k]) {
        std::optional<QueueCursor> from = scan.after;  // every lane from the batch's place
        scan.heads[k] = next_lane_row(db, now, lanes[k], session, &from);
        scan.read[k] = true;
      }
      if (scan.heads[k] && (!first || before(*scan.heads[k], *scan.heads[*first]))) first = k;
    }
    if (!first) return std::nullopt;
    WorkerRow row = std::move(*scan.heads[*first]);
    scan.heads[*first].reset();
    scan.read[*first] = false;  // its next row is read past this one
    scan.after = QueueCursor{row.visible_at, row.id};
    return row;
  }

  // Up to `limit` next worker rows whose tag `filter` takes, in (visible_at, id) order,
  // in one statement per lane (stores whose rows are claimed row by row,
  // Dialect::kWorkerRowSuffix, by several writers). Each lane's statement claims up to
  // `limit` rows; those past the first `limit` of all lanes are let go at the commit
  // (until then another process's fetch passes them by).
  static std::vector<WorkerRow> next_worker_rows(Connection& db, TimestampMs now, std::size_t limit,
                                                 const TagFilter& filter, const SessionFetch* session) {
    if (!several_lanes(filter)) return next_lane_rows(db, now, limit, filter, session);
    std::vector<WorkerRow> rows;
    for (const TagFilter& lane : worker_lanes(filter)) {
      std::vector<WorkerRow> more = next_lane_rows(db, now, limit, lane, session);
      rows.insert(rows.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    std::sort(rows.begin(), rows.end(), before);
    if (rows.size() > limit) rows.resize(limit);
    return rows;
  }

  // Whether `filter` reads several lanes: filters of several tags, and DefaultAnd, read
  // the index of each of their tags (worker_queue_by_tag) and, for DefaultAnd, the
  // untagged rows' (worker_queue_untagged), one statement each, instead of the index of
  // every row, so rows of a tag the filter does not take are never walked past. Any
  // takes every row and reads them all in one.
  static bool several_lanes(const TagFilter& filter) {
    return worker_index(filter) == kEveryRow && filter.mode != TagFilter::Mode::Any;
  }
  // The filters of one index each whose rows together are `filter`'s (several_lanes).
  static std::vector<TagFilter> worker_lanes(const TagFilter& filter) {
    std::vector<TagFilter> lanes;
    if (filter.mode == TagFilter::Mode::DefaultAnd) lanes.push_back(TagFilter::default_only());
    for (const std::string& tag : filter.tags) lanes.push_back(TagFilter::only({tag}));
    return lanes;
  }
  // The queue's order: visible time, then id.
  static bool before(const WorkerRow& a, const WorkerRow& b) {
    return a.visible_at != b.visible_at ? a.visible_at < b.visible_at : a.id < b.id;
  }

  // next_worker_row for a filter of one lane.
  static std::optional<WorkerRow> next_lane_row(Connection& db, TimestampMs now, const TagFilter& filter,
                                                const SessionFetch* session, std::optional<QueueCursor>* after) {
    const bool seek = after && after->has_value();
    if constexpr (!Dialect::kOneWriter) DUROXIDE_ASSERT(!seek, "a worker cursor needs one writer");
    const WorkerIndex index = worker_index(filter);
    Statement next = db.prepare(seek ? worker_row_after_sql(index) : worker_row_sql(index));
    next.bind(1, now);
    if (seek) next.bind(2, (*after)->visible_at).bind(3, (*after)->id);
    bind_tag_filter(next, seek ? 4 : 2, filter);
    bind_session_fetch(next, (seek ? 4 : 2) + kTagParameters, session);
    if (!next.step()) return std::nullopt;
    WorkerRow row = worker_row(next);
    if (after) *after = QueueCursor{row.visible_at, row.id};
    return row;
  }

  // next_worker_rows for a filter of one lane.
  static std::vector<WorkerRow> next_lane_rows(Connection& db, TimestampMs now, std::size_t limit,
                                               const TagFilter& filter, const SessionFetch* session) {
    Statement next = db.prepare(worker_rows_sql(worker_index(filter)));
    next.bind(1, now).bind(2, static_cast<std::int64_t>(limit));
    bind_tag_filter(next, 3, filter);
    bind_session_fetch(next, 3 + kTagParameters, session);
    std::vector<WorkerRow> rows;
    while (next.step()) rows.push_back(worker_row(next));
    return rows;
  }

  // The plans of the statements the store's fetches run to find a worker row for `filter`
  // (one row at a time with one writer, a batch with several), one after the other for a
  // filter of several lanes.
  static std::vector<std::string> explain_worker_fetch(Connection& db, const TagFilter& filter, TimestampMs now) {
    if (!several_lanes(filter)) return explain_lane_fetch(db, filter, now);
    std::vector<std::string> lines;
    for (const TagFilter& lane : worker_lanes(filter)) {
      std::vector<std::string> more = explain_lane_fetch(db, lane, now);
      lines.insert(lines.end(), more.begin(), more.end());
    }
    return lines;
  }
  static std::vector<std::string> explain_lane_fetch(Connection& db, const TagFilter& filter, TimestampMs now) {
    const WorkerIndex index = worker_index(filter);
    const bool one_row = Dialect::kOneWriter;
    Statement plan = db.prepare_once(Dialect::kExplainPrefix + (one_row ? row_sql(index) : rows_sql(index)));
    plan.bind(1, now);
    if (!one_row) plan.bind(2, std::int64_t{1});
    const int first = one_row ? 2 : 3;
    bind_tag_filter(plan, first, filter);
    bind_session_fetch(plan, first + kTagParameters, nullptr);
    std::vector<std::string> lines;
    while (plan.step()) lines.push_back(plan.text(Dialect::kExplainColumn));
    return lines;
  }

  // The current row of a statement that selects kWorkerColumns.
  static WorkerRow worker_row(const Statement& next) {
    WorkerRow row;
    row.id = next.integer(0);
    row.json = next.text(1);
    row.attempts = next.integer(2);
    row.failed.instance = next.text(3);
    row.failed.execution_id = static_cast<ExecutionId>(next.integer(4));
    row.failed.id = static_cast<EventId>(next.integer(5));
    row.visible_at = next.integer(6);
    row.session_id = next.optional_text(7);
    row.orchestration_name = next.optional_text(8);
    row.orchestration_version = next.optional_text(9);
    return row;
  }

  // The index a fetch's statement reads, by its filter. A filter that takes untagged rows
  // alone (the default) reads them through their own (worker_queue_untagged), a filter of
  // one tag that tag's rows (worker_queue_by_tag): rows no such worker takes (of a tag whose
  // workers are down, or a backlog of untagged rows beside a pool of tagged workers),
  // however many wait, are never walked past. Each statement says so at its top level
  // ("tag IS NULL", Dialect::one_tag_condition), which lets the planner use the partial
  // index; Any reads the index of every row (worker_queue_by_visible), and the other
  // filters are read as lanes of the first two kinds (several_lanes).
  enum WorkerIndex { kEveryRow = 0, kUntaggedRows = 1, kOneTagRows = 2, kWorkerIndexes = 3 };
  static WorkerIndex worker_index(const TagFilter& filter) {
    if (filter.mode == TagFilter::Mode::DefaultOnly) return kUntaggedRows;
    if (filter.mode == TagFilter::Mode::Tags && filter.tags.size() == 1) return kOneTagRows;
    return kEveryRow;
  }
  // The condition that picks `index`, for a statement whose tag parameters begin at ?first.
  static std::string index_condition(WorkerIndex index, int first) {
    if (index == kUntaggedRows) return "tag IS NULL AND ";
    if (index == kOneTagRows) return Dialect::one_tag_condition("?" + std::to_string(first + 2)) + " AND ";  // the filter's one tag
    return "";
  }

  // The queue's order, (visible_at, id). A statement of one tag orders by its index's
  // columns, the tag first (one value, so the same order), which only that index gives
  // (Dialect::one_tag_condition says why PostgreSQL needs it).
  static const char* queue_order(WorkerIndex index) {
    return index == kOneTagRows ? " ORDER BY tag, visible_at, id" : " ORDER BY visible_at, id";
  }

  static std::string rows_sql(WorkerIndex index) {
    return std::string(kWorkerColumns) + "WHERE " + index_condition(index, 3) + "visible_at <= ?1 AND " +
           kWorkerUnlocked + " AND " + tag_condition(3) + " AND " + session_condition(3 + kTagParameters) +
           queue_order(index) + " LIMIT ?2" + Dialect::kWorkerRowSuffix;
  }
  static const std::string& worker_rows_sql(WorkerIndex index) {
    static const std::string sql[kWorkerIndexes] = {rows_sql(kEveryRow), rows_sql(kUntaggedRows),
                                                    rows_sql(kOneTagRows)};
    return sql[index];
  }
  static std::string row_sql(WorkerIndex index) {
    return std::string(kWorkerColumns) + "WHERE " + index_condition(index, 2) + "visible_at <= ?1 AND " +
           kWorkerUnlocked + " AND " + tag_condition(2) + " AND " + session_condition(2 + kTagParameters) +
           queue_order(index) + " LIMIT 1" + Dialect::kWorkerRowSuffix;
  }
  static const std::string& worker_row_sql(WorkerIndex index) {
    static const std::string sql[kWorkerIndexes] = {row_sql(kEveryRow), row_sql(kUntaggedRows), row_sql(kOneTagRows)};
    return sql[index];
  }
  // The two seeks written out: SQLite does not seek by a row-value bound.
  static std::string row_after_sql(WorkerIndex index) {
    const std::string rest = std::string(" AND ") + kWorkerUnlocked + " AND " + tag_condition(4) + " AND " +
                             session_condition(4 + kTagParameters);
    return std::string("SELECT * FROM (") + kWorkerColumns + "WHERE " + index_condition(index, 4) +
           "visible_at = ?2 AND id > ?3" + rest + " ORDER BY id LIMIT 1) UNION ALL SELECT * FROM (" + kWorkerColumns +
           "WHERE " + index_condition(index, 4) + "visible_at > ?2 AND visible_at <= ?1" + rest +
           queue_order(index) + " LIMIT 1) LIMIT 1";
  }
  static const std::string& worker_row_after_sql(WorkerIndex index) {
    static const std::string sql[kWorkerIndexes] = {row_after_sql(kEveryRow), row_after_sql(kUntaggedRows),
                                                    row_after_sql(kOneTagRows)};
    return sql[index];
  }

  // An unreadable row must not block the queue: parks it and tells its orchestration
  // (an ActivityFailed), unless the row names no instance a message may go to (a damaged
  // file); returns the report.
  static std::string park_worker_row(Connection& db, WorkerRow& row, const std::string& problem, TimestampMs now) {
    db.prepare(
          "INSERT INTO parked_messages (instance_id, item_json, reason, parked_at) "
          "SELECT COALESCE(instance_id, ''), COALESCE(item_json, ''), CAST(?2 AS TEXT), CAST(?3 AS BIGINT) "
          "FROM worker_queue WHERE id = ?1")
        .bind(1, row.id)
        .bind(2, "corrupted worker item: " + problem)
        .bind(3, now)
        .run();
    db.prepare("DELETE FROM worker_queue WHERE id = ?1").bind(1, row.id).run();
    std::string report = "worker queue row " + std::to_string(row.id) + " " + problem + " (moved to parked_messages)";
    const std::string& instance = row.failed.instance;
    if (instance.empty() || instance.size() > limits::kMaxIdentifierBytes) return report + "; it names no instance";
    row.failed.details = ErrorDetails::provider(db.operation(), report, false);
    insert_orchestrator_item(db, row.failed, now, now);
    return report;
  }

  // The attempt a queue row's next fetch makes, from the count the row holds; nullopt
  // for a count no fetch writes (negative, or at the 32-bit limit): the file's doing.
  static std::optional<std::uint32_t> next_attempt(std::int64_t attempts) {
    if (attempts < 0 || attempts >= std::int64_t{std::numeric_limits<std::uint32_t>::max()}) return std::nullopt;
    return static_cast<std::uint32_t>(attempts + 1);
  }

  // A worker row's item; nullopt with `problem` when the row cannot run: its item does
  // not decode or is not an ActivityExecute, or its attempt count is out of range.
  static std::optional<work::ActivityExecute> decode_worker_row(const WorkerRow& row, std::string& problem) {
    if (!next_attempt(row.attempts)) {
      problem = "has an attempt count out of range (" + std::to_string(row.attempts) + ")";
      return std::nullopt;
    }
    return store_sql::decode_worker_item(row.json, problem);
  }

  // Claims a row decode_worker_row accepted.
  static WorkerItem claim_worker_row(Connection& db, const WorkerRow& row, work::ActivityExecute execute,
                                     std::string token, TimestampMs until) {
    const std::optional<std::uint32_t> attempt = next_attempt(row.attempts);
    DUROXIDE_ASSERT(attempt.has_value(), "a worker row is claimed only after decode_worker_row accepted it");
    WorkerItem fetched{std::move(execute), std::move(token), *attempt, row.orchestration_name.value_or(""),
                       row.orchestration_version.value_or("")};
    db.prepare("UPDATE worker_queue SET lock_token = ?2, locked_until = ?3, attempt_count = attempt_count + 1 WHERE id = ?1")
        .bind(1, row.id)
        .bind(2, fetched.lock_token)
        .bind(3, until)
        .defer();
    return fetched;
  }

  // A queued message of an instance, as read.
  struct QueuedMessage {
    std::int64_t id;
    std::string json;
    std::int64_t attempts;
  };

  // The claimed instance's visible messages, in order, into `item` (their ids
  // into `message_ids`); the first undecodable row is described in `corruption`.
  static void read_messages(Connection& db, TimestampMs now, OrchestrationItem& item,
                            std::vector<std::int64_t>& message_ids, std::string& corruption) {
    std::vector<QueuedMessage> rows;
    Statement messages = db.prepare("SELECT id, item_json, attempt_count FROM orchestrator_queue "
                                    "WHERE instance_id = ?1 AND visible_at <= ?2");
    messages.bind(1, item.instance).bind(2, now);
    while (messages.step()) rows.push_back(QueuedMessage{messages.integer(0), messages.text(1), messages.integer(2)});
    take_messages(std::move(rows), item, message_ids, corruption);
  }

  // An instance's messages as read, decoded into `item` in id (enqueue) order, as
  // read_messages says. The rows come in the instance index's order and are sorted
  // here: an ORDER BY id would have SQLite build a sorter for every fetch, for the few
  // messages an instance has.
  static void take_messages(std::vector<QueuedMessage> rows, OrchestrationItem& item,
                            std::vector<std::int64_t>& message_ids, std::string& corruption) {
    std::sort(rows.begin(), rows.end(), [](const QueuedMessage& a, const QueuedMessage& b) { return a.id < b.id; });
    for (const QueuedMessage& row : rows) {
      message_ids.push_back(row.id);
      const std::optional<std::uint32_t> attempt = next_attempt(row.attempts);
      if (!attempt) {
        if (corruption.empty()) {
          corruption = "queue row " + std::to_string(row.id) + " has an attempt count out of range (" +
                       std::to_string(row.attempts) + ")";
        }
        continue;
      }
      item.attempt_count = std::max(item.attempt_count, *attempt);
      try {
        item.messages.push_back(decode_work_item(row.json));
      } catch (const CodecError& error) {
        if (corruption.empty()) corruption = "queue row " + std::to_string(row.id) + " does not decode: " + error.what();
      }
    }
  }

  // The instance row's fields of `item`; false when the instance has no row yet.
  static bool read_instance(Connection& db, OrchestrationItem& item) {
    Statement row = db.prepare(std::string("SELECT ") + kItemInstanceColumns + " FROM instances WHERE instance_id = ?1");
    row.bind(1, item.instance);
    if (!row.step()) return false;
    instance_fields(row, 0, item);
    return true;
  }

  // The columns of an instance row an item carries, read by instance_fields.
  static constexpr const char* kItemInstanceColumns =
      "current_execution_id, orchestration_name, orchestration_version, status, parent_instance_id, parent_id, tenant";
  // kItemInstanceColumns of the current row, from column `first` on, into `item`.
  static void instance_fields(const Statement& row, int first, OrchestrationItem& item) {
    item.execution_id = static_cast<ExecutionId>(row.integer(first));
    item.orchestration_name = row.text(first + 1);
    item.orchestration_version = row.text(first + 2);
    const std::string status = row.text(first + 3);
    item.finished = status == "Completed" || status == "Failed";
    item.parent_instance = row.optional_text(first + 4).value_or("");
    item.parent_id = static_cast<EventId>(row.integer(first + 5));
    item.tenant = row.text(first + 6);
  }

  // The condition that the instance of queue row `q` has no start (StartOrchestration or
  // ContinueAsNew) queued for later, the time being ?1: a start given back with a delay
  // (an unregistered orchestration's back-off) takes the instance's later messages with
  // it, so that they reach the execution it starts instead of the execution before it
  // (which has ended) or no instance at all. One seek of the instance index.
  static constexpr const char* kNoStartLater =
      "NOT EXISTS (SELECT 1 FROM orchestrator_queue s WHERE s.instance_id = q.instance_id AND s.visible_at > ?1 "
      "AND s.kind IN ('StartOrchestration', 'ContinueAsNew'))";

  // Whether the messages can never run: no instance row and no start among them.
  static bool orphaned(const OrchestrationItem& item, bool exists, const std::string& corruption) {
    const bool has_start = std::any_of(item.messages.begin(), item.messages.end(), [](const WorkItem& message) {
      return std::holds_alternative<work::StartOrchestration>(message) ||
             std::holds_alternative<work::ContinueAsNew>(message);
    });
    return !exists && !has_start && corruption.empty();
  }

  // The claimed item's history; with corruption, what the runtime needs to fail it.
  static void read_item_history(Connection& db, OrchestrationItem& item, bool exists, std::string corruption) {
    if (exists) item.history = read_history(db, item.instance, item.execution_id, &corruption);
    note_corruption(db, item, std::move(corruption));
  }

  // With `corruption`, what the runtime needs to fail the item: the description and
  // the last event id of its execution.
  static void note_corruption(Connection& db, OrchestrationItem& item, std::string corruption) {
    if (corruption.empty()) return;
    item.corruption = corruption;
    Statement last =
        db.prepare("SELECT COALESCE(MAX(event_id), 0) FROM history WHERE instance_id = ?1 AND execution_id = ?2");
    last.bind(1, item.instance).bind(2, static_cast<std::int64_t>(item.execution_id));
    if (last.step()) item.last_event_id = static_cast<EventId>(last.integer(0));
  }

 private:
  // An abandon's release of queue rows: visible again after ?2 ms from ?3 and,
  // with ?4, the attempt not counted (never below zero).
  static constexpr const char* kReleaseSet =
      "visible_at = CASE WHEN CAST(?2 AS BIGINT) > 0 THEN CAST(?3 AS BIGINT) + CAST(?2 AS BIGINT) "
      "  ELSE visible_at END, "
      "attempt_count = CASE WHEN CAST(?4 AS BIGINT) <> 0 AND attempt_count > 0 THEN attempt_count - 1 "
      "  ELSE attempt_count END ";

  // The columns of a held lock and of its instance (and current execution) as it was
  // before the ack; the lock's token is column 6.
  static constexpr const char* kHeldSelect =
      "SELECT l.instance_id, i.instance_id IS NOT NULL, i.current_execution_id, "
      "  i.status, i.created_at, i.custom_status_version, l.lock_token, i.orchestration_name, "
      "  i.orchestration_version, CASE WHEN e.completed_at IS NULL THEN e.started_at END, i.tenant, "
      "  i.parent_instance_id IS NULL ";
  static constexpr const char* kHeldJoins =
      "LEFT JOIN instances i ON i.instance_id = l.instance_id "
      "LEFT JOIN executions e ON e.instance_id = i.instance_id AND e.execution_id = i.current_execution_id ";

  static Held read_held(Statement& row, TimestampMs now) {
    Held held;
    held.instance = row.text(0);
    held.created_at = now;
    if (row.integer(1) != 0) {
      held.exists = true;
      held.current = static_cast<ExecutionId>(row.integer(2));
      held.status = row.text(3);
      held.created_at = row.integer(4);
      held.custom_status_version = row.integer(5);
      held.orchestration_name = row.text(7);
      held.orchestration_version = row.text(8);
      if (!row.is_null(9)) held.open_execution_started_at = row.integer(9);
      held.tenant = row.text(10);
      held.is_root = row.integer(11) != 0;
    }
    return held;
  }

  static Held hold_lock(Connection& db, const std::string& lock_token, TimestampMs now) {
    static const std::string sql = std::string(kHeldSelect) + "FROM instance_locks l " + kHeldJoins +
                                   "WHERE l.lock_token = ?1 AND " DUROXIDE_LOCK_EXPIRY("l.locked_until") " > ?2" + Dialect::kHeldLockSuffix;
    Statement row = db.prepare(sql);
    row.bind(1, lock_token).bind(2, now);
    if (!row.step()) throw ProviderError(ProviderErrorKind::InvalidLock, db.operation(), kInstanceLockLost);
    return read_held(row, now);
  }

  // hold_lock for every well-formed token of a batch in one statement (one round
  // trip on PostgreSQL); lost and malformed ones are left out.
  static std::map<std::string, Held> hold_locks(Connection& db, const std::vector<OrchestrationAckRequest>& requests,
                                                TimestampMs now) {
    std::vector<std::string> tokens;
    for (const OrchestrationAckRequest& request : requests) {
      if (well_formed_token(request.lock_token)) tokens.push_back(request.lock_token);
    }
    std::map<std::string, Held> held;
    if (tokens.empty()) return held;
    // The tokens as one list parameter: one statement text whatever the batch's size, so
    // it is prepared (and, on PostgreSQL, planned) once per connection. Each token of
    // the list looks its lock up by the token's index, whatever plan is kept.
    static const std::string sql = std::string(kHeldSelect) + "FROM " + Dialect::kTokenListTable +
                                   " JOIN instance_locks l ON l.lock_token = t.token " + kHeldJoins +
                                   "WHERE " DUROXIDE_LOCK_EXPIRY("l.locked_until") " > ?1" + Dialect::kHeldLockSuffix;
    Statement rows = db.prepare(sql);
    rows.bind(1, now).bind(2, Dialect::token_list(tokens));
    while (rows.step()) held.emplace(rows.text(6), read_held(rows, now));
    return held;
  }

  static void write_instance(Connection& db, const Held& held, const OrchestrationAck& ack, TimestampMs now,
                             RollUp& roll_up) {
    const ExecutionMetadata& meta = ack.metadata;
    if (meta.orchestration_name.empty() && !held.exists) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                          "the first ack of an instance needs its orchestration name");
    }
    if (meta.pinned_version && !meta.pinned_version->in_bounds()) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                          "the pinned version " + meta.pinned_version->to_string() + " has a component over " +
                              std::to_string(SemVer::kMaxComponent));
    }
    std::optional<std::string> output;
    if (meta.state == RuntimeState::Completed) output = meta.output;
    std::optional<std::string> error_json;
    if (meta.error) error_json = encoded(db.operation(), [&] { return encode_error_details(*meta.error); });
    // Instance status: a continued-as-new instance is still running.
    const std::string instance_status =
        meta.continued_as_new ? std::string("Running") : std::string(to_string(meta.state));
    upsert_instance(db, held, ack, instance_status, meta.continued_as_new ? std::nullopt : output, error_json,
                    pending_json(db, meta), now);
    if constexpr (Dialect::kWritersKeepInstanceCounts) count_instance(db, held, ack, instance_status, roll_up);
    record_status_change(db, held, ack, instance_status, now, roll_up);
    write_execution(db, held.instance, ack, output, error_json, now);
    append_history(db, held.instance, ack);
    apply_kv_mutations(db, held.instance, ack.kv_mutations);
  }

  // What the instance row keeps of the ack's pending work (NULL: none kept).
  static std::optional<std::string> pending_json(Connection& db, const ExecutionMetadata& meta) {
    if (!meta.pending) return std::nullopt;
    return encoded(db.operation(), [&] { return encode_pending_snapshot(*meta.pending); });
  }

  static void upsert_instance(Connection& db, const Held& held, const OrchestrationAck& ack,
                              const std::string& instance_status, const std::optional<std::string>& output,
                              const std::optional<std::string>& error_json,
                              const std::optional<std::string>& pending, TimestampMs now) {
    const ExecutionMetadata& meta = ack.metadata;
    // A message that changes nothing (say, an event for a finished instance)
    // leaves updated_at alone: for a finished instance it stays its finish time.
    const bool changes_instance = !held.exists || instance_status != held.status ||
                                  ack.execution_id != held.current || meta.custom_status_changed ||
                                  !ack.history_delta.empty();
    if (held.exists) {
      update_instance(db, held, ack, instance_status, output, error_json, pending, now, changes_instance);
      return;
    }
    db.prepare(
          "INSERT INTO instances (instance_id, orchestration_name, orchestration_version, "
          "  current_execution_id, status, output, error_json, custom_status, "
          "  custom_status_version, parent_instance_id, parent_id, created_at, updated_at, "
          "  unconsumed_messages, input, tenant, pending_json) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CAST(?9 AS BIGINT), ?10, ?11, CAST(?12 AS BIGINT), "
          "  CAST(?12 AS BIGINT), CAST(?15 AS BIGINT), ?16, ?17, ?18) "
          "ON CONFLICT (instance_id) DO UPDATE SET "
          "  input = COALESCE(excluded.input, instances.input), "
          "  orchestration_name = excluded.orchestration_name, "
          "  orchestration_version = excluded.orchestration_version, "
          "  current_execution_id = excluded.current_execution_id, "
          "  status = excluded.status, output = excluded.output, "
          "  error_json = excluded.error_json, "
          "  custom_status = CASE WHEN CAST(?13 AS BIGINT) <> 0 THEN excluded.custom_status "
          "    ELSE instances.custom_status END, "
          "  custom_status_version = instances.custom_status_version + CAST(?13 AS BIGINT), "
          "  unconsumed_messages = excluded.unconsumed_messages, "
          "  pending_json = excluded.pending_json, "
          "  updated_at = CASE WHEN CAST(?14 AS BIGINT) <> 0 THEN excluded.updated_at "
          "    ELSE instances.updated_at END")
        .bind(1, held.instance)
        .bind(2, meta.orchestration_name)
        .bind(3, meta.orchestration_version)
        .bind(4, static_cast<std::int64_t>(ack.execution_id))
        .bind(5, instance_status)
        .bind_optional(6, output)
        .bind_optional(7, error_json)
        .bind_optional(8, meta.custom_status_changed ? meta.custom_status : std::nullopt)
        .bind(9, static_cast<std::int64_t>(meta.custom_status_changed ? 1 : 0))
        .bind_optional(10, meta.parent_instance.empty() ? std::nullopt
                                                        : std::optional<std::string>(meta.parent_instance))
        .bind(11, static_cast<std::int64_t>(meta.parent_id))
        .bind(12, now)
        .bind(13, static_cast<std::int64_t>(meta.custom_status_changed ? 1 : 0))
        .bind(14, static_cast<std::int64_t>(changes_instance ? 1 : 0))
        .bind(15, static_cast<std::int64_t>(meta.unconsumed_messages))
        .bind_optional(16, started_input(ack))
        .bind(17, meta.tenant)
        .bind_optional(18, pending)
        .defer();
  }

  // The input of the execution this ack starts (its delta begins with the start), for
  // the instances row's search column; none when the ack starts none.
  static std::optional<std::string> started_input(const OrchestrationAck& ack) {
    if (ack.history_delta.empty()) return std::nullopt;
    const auto* started = ack.history_delta.front().as<events::OrchestrationStarted>();
    return started ? std::optional<std::string>(started->input) : std::nullopt;
  }

  // Whether the ack moves an existing row to another name or version (a continue-as-new
  // to another version): update_instance writes them, count_instance moves its count.
  static bool is_renamed(const Held& held, const ExecutionMetadata& meta) {
    return meta.orchestration_name != held.orchestration_name ||
           meta.orchestration_version != held.orchestration_version;
  }

  // upsert_instance for an instance that exists: an UPDATE of only the columns
  // that change, so that the indexes on the others (name, version, creation,
  // parent) are not rewritten with the same keys. Name and version change only
  // on a continue-as-new to another version.
  static void update_instance(Connection& db, const Held& held, const OrchestrationAck& ack,
                              const std::string& instance_status, const std::optional<std::string>& output,
                              const std::optional<std::string>& error_json, const std::optional<std::string>& pending,
                              TimestampMs now, bool changes_instance) {
    const ExecutionMetadata& meta = ack.metadata;
    const bool renamed = is_renamed(held, meta);
    std::string sql =
        "UPDATE instances SET current_execution_id = CAST(?2 AS BIGINT), status = ?3, output = ?4, "
        "error_json = ?5, unconsumed_messages = CAST(?6 AS BIGINT), pending_json = ?7";
    int next = 8;
    auto column = [&](const char* name, const char* cast = nullptr) {
      const std::string parameter = "?" + std::to_string(next++);
      sql += std::string(", ") + name + " = " + (cast ? "CAST(" + parameter + " AS " + cast + ")" : parameter);
    };
    if (changes_instance) column("updated_at", "BIGINT");
    const std::optional<std::string> input = started_input(ack);
    if (input) column("input");
    if (meta.custom_status_changed) {
      column("custom_status");
      sql += ", custom_status_version = custom_status_version + 1";
    }
    if (renamed) {
      column("orchestration_name");
      column("orchestration_version");
    }
    Statement update = db.prepare(sql + " WHERE instance_id = ?1");
    update.bind(1, held.instance)
        .bind(2, static_cast<std::int64_t>(ack.execution_id))
        .bind(3, instance_status)
        .bind_optional(4, output)
        .bind_optional(5, error_json)
        .bind(6, static_cast<std::int64_t>(meta.unconsumed_messages))
        .bind_optional(7, pending);
    int parameter = 8;
    if (changes_instance) update.bind(parameter++, now);
    if (input) update.bind(parameter++, *input);
    if (meta.custom_status_changed) update.bind_optional(parameter++, meta.custom_status);
    if (renamed) {
      update.bind(parameter++, meta.orchestration_name);
      update.bind(parameter++, meta.orchestration_version);
    }
    update.defer();
  }

  // The status counts as upsert_instance moves the row: into its first row, or from the
  // row's old status (and name and version) to the new one.
  static void count_instance(Connection& db, const Held& held, const OrchestrationAck& ack,
                             const std::string& instance_status, RollUp& roll_up) {
    const ExecutionMetadata& meta = ack.metadata;
    auto add = [&](const InstanceCountKey& key, std::int64_t delta) {
      if (roll_up.totals) {
        roll_up.totals->instance_counts[key] += delta;
      } else {
        write_instance_count(db, key, delta);
      }
    };
    if (!held.exists) {
      add({meta.orchestration_name, meta.orchestration_version, meta.parent_instance.empty(), instance_status,
           meta.tenant},
          1);
      return;
    }
    const bool renamed = is_renamed(held, meta);
    if (!renamed && instance_status == held.status) return;
    add({held.orchestration_name, held.orchestration_version, held.is_root, held.status, held.tenant}, -1);
    add({renamed ? meta.orchestration_name : held.orchestration_name,
         renamed ? meta.orchestration_version : held.orchestration_version, held.is_root, instance_status,
         held.tenant},
        1);
  }

  // The time series and the change feed, in the ack's transaction: a start when
  // the instance is created, a completion or failure when it finishes.
  static void record_status_change(Connection& db, const Held& held, const OrchestrationAck& ack,
                                   const std::string& instance_status, TimestampMs now, RollUp& roll_up) {
    const ExecutionMetadata& meta = ack.metadata;
    const std::string& tenant = held.exists ? held.tenant : meta.tenant;
    MetricDelta delta;
    delta.starts = held.exists ? 0 : 1;
    delta.created_at = held.created_at;
    const bool was_finished = held.status == "Completed" || held.status == "Failed";
    if (!was_finished && (instance_status == "Completed" || instance_status == "Failed")) {
      (instance_status == "Completed" ? delta.completions : delta.failures) = 1;
      delta.duration_ms = saturating_sub(now, held.created_at);
    }
    if (!held.exists || instance_status != held.status || ack.execution_id != held.current ||
        meta.custom_status_changed) {
      // As the upsert computes it (a new instance starts at 0).
      const std::int64_t custom_version = held.custom_status_version + (meta.custom_status_changed ? 1 : 0);
      ChangeRow change{held.instance, instance_status, static_cast<std::int64_t>(ack.execution_id), custom_version,
                       now, tenant, delta, meta.orchestration_name};
      if (roll_up.totals) {
        roll_up.totals->changes.push_back(std::move(change));  // written by the batch's flush, in order
      } else {
        record_change(db, change);  // after serialize_orchestration_acks, in ack_orchestration
      }
    }
    if (delta.starts || delta.completions || delta.failures) {
      if (roll_up.totals) {
        roll_up.totals->metrics[{metric_minute(now), meta.orchestration_name, tenant}].add(delta);
      } else {
        record_metrics(db, meta.orchestration_name, tenant, now, delta);
      }
    }
    record_finished_execution(db, held, ack, now, roll_up.totals);
    const TimestampMs minute = metric_minute(now);
    if (minute > std::max(roll_up.last_minute, roll_up.rolled_up_minute)) {
      if (roll_up.totals) Dialect::serialize_orchestration_acks(db);  // hour rows are shared too
      Dialect::roll_up_minutes(db, minute - roll_up.retention_ms);
      roll_up.rolled_up_minute = minute;  // remembered once the transaction commits
    }
  }

  // The duration of the execution this ack finishes (completes, fails or continues as
  // new), if it was still open: the current one, or a new one started and finished now.
  // With `totals`, the duration is added there instead of written.
  static void record_finished_execution(Connection& db, const Held& held, const OrchestrationAck& ack,
                                        TimestampMs now, RollUpTotals* totals) {
    const ExecutionMetadata& meta = ack.metadata;
    if (meta.state == RuntimeState::Running && !meta.continued_as_new) return;
    const bool current = held.exists && ack.execution_id == held.current;
    if (current && !held.open_execution_started_at) return;  // already finished and counted
    const TimestampMs started = current ? *held.open_execution_started_at : now;
    const std::string& name = meta.orchestration_name.empty() ? held.orchestration_name : meta.orchestration_name;
    const std::string& tenant = held.exists ? held.tenant : meta.tenant;
    if (!totals) return record_execution_duration(db, name, tenant, started, saturating_sub(now, started));
    const std::int64_t d = std::max<std::int64_t>(saturating_sub(now, started), 0);
    totals->durations[{name, duration_hour(started), duration_bucket(d), tenant}].add(d);
  }

  static void write_execution(Connection& db, const std::string& instance, const OrchestrationAck& ack,
                              const std::optional<std::string>& output,
                              const std::optional<std::string>& error_json, TimestampMs now) {
    const ExecutionMetadata& meta = ack.metadata;
    // An execution ends when its ack leaves it finished or continued-as-new, once: a later
    // ack of an ended one (a message that changes nothing) keeps its end time.
    const bool ends = meta.state != RuntimeState::Running || meta.continued_as_new;
    // The pinned version is written when the ack names one (the execution's first) and
    // kept otherwise.
    Statement upsert = db.prepare(
          "INSERT INTO executions (instance_id, execution_id, status, output, error_json, "
          "  started_at, completed_at, event_count, pinned_major, pinned_minor, pinned_patch) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
          "ON CONFLICT (instance_id, execution_id) DO UPDATE SET "
          "  status = excluded.status, output = excluded.output, "
          "  error_json = excluded.error_json, "
          "  completed_at = COALESCE(executions.completed_at, excluded.completed_at), "
          "  event_count = executions.event_count + excluded.event_count, "
          "  pinned_major = COALESCE(excluded.pinned_major, executions.pinned_major), "
          "  pinned_minor = COALESCE(excluded.pinned_minor, executions.pinned_minor), "
          "  pinned_patch = COALESCE(excluded.pinned_patch, executions.pinned_patch)");
    upsert.bind(1, instance)
        .bind(2, static_cast<std::int64_t>(ack.execution_id))
        .bind(3, status_text(meta))
        .bind_optional(4, output)
        .bind_optional(5, error_json)
        .bind(6, now)
        .bind(8, static_cast<std::int64_t>(ack.history_delta.size()));
    if (ends) {
      upsert.bind(7, now);
    } else {
      upsert.bind_null(7);
    }
    bind_pinned_version(upsert, 9, meta.pinned_version);
    upsert.defer();
  }

  // Execution retention: the executions of `instance` before `first_kept` (every one
  // finished: only the newest runs), at most kMaxExecutionsDeletedPerAck of them, oldest
  // first (OrchestrationAck::executions_kept), with their histories. The bound is read
  // from the executions, so both deletes read the same one.
  static void delete_executions_before(Connection& db, const std::string& instance, ExecutionId first_kept) {
    for (const char* table : {"history", "executions"}) {
      db.prepare(std::string("DELETE FROM ") + table +
                 " WHERE instance_id = ?1 AND execution_id < ?2 AND execution_id < COALESCE("
                 "(SELECT e.execution_id FROM executions e WHERE e.instance_id = ?1 "
                 "ORDER BY e.execution_id LIMIT 1 OFFSET ?3), ?2)")
          .bind(1, instance)
          .bind(2, static_cast<std::int64_t>(first_kept))
          .bind(3, static_cast<std::int64_t>(kMaxExecutionsDeletedPerAck))
          .defer();
    }
  }

  static void append_history(Connection& db, const std::string& instance, const OrchestrationAck& ack) {
    if constexpr (Dialect::kHistoryRowsInOneStatement) {
      if (ack.history_delta.size() > 1) {
        append_history_at_once(db, instance, ack);
        return;
      }
    }
    for (const Event& event : ack.history_delta) {
      std::string json = encoded(db.operation(), [&] { return encode_event(event); });
      history_row(db, instance, ack.execution_id, event, json)
          .defer("event id " + std::to_string(event.event_id) + " already exists in execution " +
                 std::to_string(ack.execution_id) + " of " + instance);
    }
  }

  static void append_history_at_once(Connection& db, const std::string& instance, const OrchestrationAck& ack) {
    std::vector<const Event*> events;
    std::vector<std::string> jsons;
    for (const Event& event : ack.history_delta) {
      events.push_back(&event);
      jsons.push_back(encoded(db.operation(), [&] { return encode_event(event); }));
    }
    Dialect::history_rows(db, instance, ack.execution_id, events, jsons)
        .defer("one of event ids " + std::to_string(events.front()->event_id) + " to " +
               std::to_string(events.back()->event_id) + " already exists in execution " +
               std::to_string(ack.execution_id) + " of " + instance);
  }

  // `totals`: a batch's, which takes the cancellations to delete in its flush.
  static void queue_scheduled_work(Connection& db, const OrchestrationAck& ack, TimestampMs now,
                                   RollUpTotals* totals) {
    for (const WorkItem& item : ack.worker_items) {
      const auto* execute = std::get_if<work::ActivityExecute>(&item);
      if (!execute) {
        throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                            "worker items must be ActivityExecute, got " + std::string(to_string(kind_of(item))));
      }
      db.prepare(
            "INSERT INTO worker_queue (instance_id, execution_id, activity_id, item_json, "
            "  visible_at, enqueued_at, tag, session_id) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)")
          .bind(1, execute->instance)
          .bind(2, static_cast<std::int64_t>(execute->execution_id))
          .bind(3, static_cast<std::int64_t>(execute->id))
          .bind(4, encoded(db.operation(), [&] { return encode_work_item(item); }))
          .bind(5, now)
          .bind_optional(6, worker_tag(*execute))
          .bind_optional(7, worker_session(*execute))
          .defer();
    }
    for (const OrchestratorItem& scheduled : ack.orchestrator_items) {
      insert_orchestrator_item(db, scheduled.item, scheduled.visible_at_ms, now);
    }
    // Removals after insertions: an activity scheduled and cancelled in one turn goes too.
    if (totals) {
      totals->cancelled.insert(totals->cancelled.end(), ack.cancelled_activities.begin(),
                               ack.cancelled_activities.end());
    } else {
      delete_cancelled_activities(db, ack.cancelled_activities);
    }
  }

  // Deletes the worker rows of `cancelled`, in key order (instance, execution, activity):
  // the order in which a batch of worker acks takes its rows (take_back_work_locks), so
  // an orchestration ack cancelling activities and a worker batch completing them never
  // hold one row each while waiting for the other's (a deadlock on PostgreSQL).
  static void delete_cancelled_activities(Connection& db, std::vector<CancelledActivity> cancelled) {
    auto key = [](const CancelledActivity& c) { return std::tie(c.instance, c.execution_id, c.activity_id); };
    std::sort(cancelled.begin(), cancelled.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
    for (const CancelledActivity& activity : cancelled) {
      db.prepare("DELETE FROM worker_queue WHERE instance_id = ?1 AND execution_id = ?2 AND activity_id = ?3")
          .bind(1, activity.instance)
          .bind(2, static_cast<std::int64_t>(activity.execution_id))
          .bind(3, static_cast<std::int64_t>(activity.activity_id))
          .defer();
    }
  }

  // Summed per name and written in name order: the same totals as one upsert per
  // outcome, and concurrent acks lock shared activity rows in one order (no deadlock).
  // With `totals`, added there instead of written.
  static void record_activity_outcomes(Connection& db, const OrchestrationAck& ack, const std::string& tenant,
                                       RollUpTotals* totals) {
    std::map<std::string, ActivityTotals> outcomes;
    for (const ActivityOutcome& outcome : ack.activity_outcomes) {
      ActivityTotals& counts = outcomes[outcome.name];
      const bool finished = outcome.kind != ActivityOutcome::Kind::Scheduled;
      counts.scheduled += outcome.kind == ActivityOutcome::Kind::Scheduled ? 1 : 0;
      counts.completed += outcome.kind == ActivityOutcome::Kind::Completed ? 1 : 0;
      counts.failed += outcome.kind == ActivityOutcome::Kind::Failed ? 1 : 0;
      counts.duration_ms += finished ? std::max<std::int64_t>(outcome.duration_ms, 0) : 0;
    }
    for (const auto& [name, counts] : outcomes) {
      if (!totals) {
        write_activity_stats(db, name, tenant, counts);
        continue;
      }
      // Written by the batch's flush, past this ack's statements: a name the store
      // cannot hold must fail this ack now, not the batch then.
      Dialect::check_storable(db, name);
      totals->activities[{name, tenant}].add(counts);
    }
  }
};

}  // namespace duroxide::store_sql
