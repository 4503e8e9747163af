// Pieces shared by the two SQL stores (core/stores/sql/sql_store_impl.hpp and
// the stores' fetches): the same statement or rule on both stores.
// Templates over the store's Connection type (the two have the same interface).
// Not a public header.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/text.hpp"
#include "duroxide/management_provider.hpp"
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

// Whether the instance ?1 exists or its start (kind ?2) is queued, as an SQL
// condition. One statement evaluates it, so that it sees the instance either before
// its first ack (its start queued) or after it (its row written), never between the
// two (also under PostgreSQL's READ COMMITTED). A macro, so that statements using it
// stay string literals (the SQLite connection caches statements by their address).
#define DUROXIDE_KNOWN_INSTANCE                                 \
  "(EXISTS (SELECT 1 FROM instances WHERE instance_id = ?1) " \
  "OR EXISTS (SELECT 1 FROM orchestrator_queue WHERE instance_id = ?1 AND kind = ?2))"

// The expiry of a lock (instance_locks, worker_queue, sessions: the column `column`) as
// every statement compares it. A value a file holds that is not a number (text, NULL: a
// damaged row, or one another program wrote) reads as 0, long expired, so the lock can
// be taken again, rather than holding its instance, activity or session back for good
// (compared as it is, text is greater than every number, and NULL neither held nor
// expired). On PostgreSQL the columns are BIGINT, so it is the value itself. A macro,
// so that statements using it stay string literals.
#define DUROXIDE_LOCK_EXPIRY(column) "COALESCE(CAST(" column " AS BIGINT), 0)"

// The order in which every writer locks worker rows: instance (bytewise), execution,
// activity, id, each row locked as it comes (Dialect::kRowsInOrderSuffix). A batch of
// worker acks, a batch cancelling activities and a delete of instances all take their
// rows so, and never hold a row each while waiting for the other's (a deadlock on
// PostgreSQL). `alias`: the statement's name for worker_queue.
template <typename Dialect>
std::string worker_rows_in_key_order(const std::string& alias) {
  return " ORDER BY " + alias + ".instance_id" + Dialect::kBytewise + ", " + alias + ".execution_id, " + alias +
         ".activity_id, " + alias + ".id" + Dialect::kRowsInOrderSuffix;
}

template <typename Connection>
bool known_instance(Connection& db, const std::string& instance) {
  auto known = db.prepare("SELECT " DUROXIDE_KNOWN_INSTANCE);
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

// A worker row's tag column: the ActivityExecute's tag, NULL when untagged (schema
// 16 on both stores), so that the fetches' TagFilter condition reads the column alone.
inline std::optional<std::string> worker_tag(const work::ActivityExecute& execute) {
  if (execute.tag.empty()) return std::nullopt;
  return execute.tag;
}

// A worker row's session_id column: the ActivityExecute's session, NULL outside sessions
// (schema 18 on both stores), so that the fetches' session condition reads the column alone.
inline std::optional<std::string> worker_session(const work::ActivityExecute& execute) {
  if (execute.session_id.empty()) return std::nullopt;
  return execute.session_id;
}

// InvalidInput unless `filter` is valid (TagFilter::problem).
inline void check_tag_filter(const TagFilter& filter, const std::string& operation) {
  if (std::string problem = filter.problem(); !problem.empty()) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation, problem);
  }
}

// ?first..?first+2: a pinned version's major, minor and patch (executions.pinned_*), or
// NULL for none.
template <typename Statement>
void bind_pinned_version(Statement& statement, int first, const std::optional<SemVer>& version) {
  if (!version) {
    for (int k = 0; k < 3; ++k) statement.bind_null(first + k);
    return;
  }
  statement.bind(first, std::int64_t{version->major})
      .bind(first + 1, std::int64_t{version->minor})
      .bind(first + 2, std::int64_t{version->patch});
}

inline void check_capability_filter(const CapabilityFilter& filter, const std::string& operation) {
  if (std::string problem = filter.problem(); !problem.empty()) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation, problem);
  }
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

// read_kv_value for the instance `reader`: only a store of reader's own tenant.
template <typename Connection>
std::optional<std::string> read_kv_value_seen_by(Connection& db, const std::string& reader,
                                                 const std::string& instance, const std::string& key) {
  auto row = db.prepare(
      "SELECT v.kv_value FROM kv_values v "
      "JOIN instances owner ON owner.instance_id = v.instance_id "
      "JOIN instances r ON r.instance_id = ?3 AND r.tenant = owner.tenant "
      "WHERE v.instance_id = ?1 AND v.kv_key = ?2");
  row.bind(1, instance).bind(2, key).bind(3, reader);
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

namespace duroxide::store_sql {

// What one status change adds to an orchestration's time series.
struct MetricDelta {
  std::int64_t starts = 0;
  std::int64_t completions = 0;
  std::int64_t failures = 0;
  std::optional<std::int64_t> duration_ms;  // with a completion or failure
  TimestampMs created_at = 0;               // the instance's creation: start + duration = finish
};

// "Running", "Completed", "Failed" or "ContinuedAsNew": the executions.status text.
inline std::string status_text(const ExecutionMetadata& metadata) {
  if (metadata.continued_as_new) return "ContinuedAsNew";
  return std::string(to_string(metadata.state));
}

// Lock tokens are the store's own, drawn from its IdSource (printable ASCII,
// environment.hpp); anything longer than this, or with other bytes, is not one.
constexpr std::size_t kMaxTokenBytes = 256;

// Whether `token` could be one of the store's: a token that cannot is refused before
// any statement sees it (PostgreSQL would refuse a NUL or invalid UTF-8 in the
// statement, and with it every ack of a batch).
inline bool well_formed_token(const std::string& token) {
  if (token.empty() || token.size() > kMaxTokenBytes) return false;
  for (const char c : token) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

inline void check_token(const std::string& token, const std::string& operation) {
  if (!well_formed_token(token)) throw ProviderError(ProviderErrorKind::InvalidLock, operation, "malformed lock token");
}

// InvalidInput unless `least` <= ms <= kMaxDelayMs.
inline void check_delay(std::int64_t ms, const char* what, const std::string& operation, std::int64_t least = 0) {
  if (ms < least || ms > limits::kMaxDelayMs) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        std::string(what) + " must be " + std::to_string(least) + " to " +
                            std::to_string(limits::kMaxDelayMs) + " ms, got " + std::to_string(ms));
  }
}

// A fetch's lock timeout: 1 to kMaxDelayMs. A lock of 0 ms has expired when it is taken, so
// the same batch could take its instance again (and another runtime at once).
inline void check_lock_timeout(std::int64_t ms, const char* what, const std::string& operation) {
  check_delay(ms, what, operation, 1);
}

// InvalidInput unless `session` (when given) names a valid owner (1..kMaxWorkerNodeIdBytes
// of UTF-8, no NUL) and a lock timeout fit for check_lock_timeout.
inline void check_session_fetch(const SessionFetch* session, const std::string& operation) {
  if (!session) return;
  if (std::string problem = key_problem(session->owner_id, limits::kMaxWorkerNodeIdBytes, "a session owner id", true);
      !problem.empty()) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation, problem);
  }
  check_lock_timeout(session->lock_timeout_ms, "session lock timeout", operation);
}

// InvalidInput unless 1..kMaxIdentifierBytes bytes.
inline void check_identifier(const std::string& id, const std::string& operation) {
  if (id.empty() || id.size() > limits::kMaxIdentifierBytes) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        "an instance id must be 1 to " +
                            std::to_string(limits::kMaxIdentifierBytes) + " bytes");
  }
}

// Appends one row to the change feed (status "Deleted" for a deletion), under the
// instance's tenant. `delta`
// (with `orchestration`) marks the change as the instance's start and/or finish,
// which is what watch_metrics reads back.
template <typename Connection>
void record_change(Connection& db, const std::string& instance, const std::string& status,
                   std::int64_t execution_id, std::int64_t custom_status_version,
                   std::int64_t now, const std::string& tenant, const MetricDelta& delta = {},
                   const std::string& orchestration = {}) {
  auto insert = db.prepare(
      "INSERT INTO changes (instance_id, status, execution_id, custom_status_version, "
      "  changed_at, created, orchestration_name, instance_created_at, finished_duration_ms, tenant) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  insert.bind(10, tenant);
  insert.bind(1, instance)
      .bind(2, status)
      .bind(3, execution_id)
      .bind(4, custom_status_version)
      .bind(5, now)
      .bind(6, static_cast<std::int64_t>(delta.starts ? 1 : 0))
      .bind(7, orchestration);
  // Every placeholder is bound (libpq sends exactly as many as were bound).
  if (delta.starts || delta.duration_ms) {
    insert.bind(8, delta.created_at);
  } else {
    insert.bind_null(8);
  }
  if (delta.duration_ms) {
    insert.bind(9, *delta.duration_ms);
  } else {
    insert.bind_null(9);
  }
  insert.defer();
}

// A change-feed row an ack of a batch leaves for the batch's flush to write.
struct ChangeRow {
  std::string instance;
  std::string status;
  std::int64_t execution_id = 0;
  std::int64_t custom_status_version = 0;
  std::int64_t changed_at = 0;
  std::string tenant;
  MetricDelta delta;
  std::string orchestration;
};

template <typename Connection>
void record_change(Connection& db, const ChangeRow& row) {
  record_change(db, row.instance, row.status, row.execution_id, row.custom_status_version, row.changed_at, row.tenant,
                row.delta, row.orchestration);
}

// ---- execution durations: the histogram the duration percentiles read
//
// A finished execution adds its duration to the row of (orchestration name, hour its
// execution started, duration bucket). A bucket holds the durations that share their
// count of decimal digits and their first three digits (every duration below 1,000 ms
// has a bucket of its own), so a bucket spans at most 1% of its values; each row keeps
// the count, sum, minimum and maximum of its durations. Percentiles read a few rows
// instead of sorting executions. Like the time series, the rows count what happened:
// deleting instances leaves them as they are.

constexpr std::int64_t kDurationHourMs = 3'600'000;

// The bucket of a duration (negative: 0): digits x 1000 + the first three digits, as
// DUROXIDE_DURATION_BUCKET_SQL computes it in SQL (the schema's backfill).
inline std::int64_t duration_bucket(std::int64_t ms) {
  std::int64_t lead = ms < 0 ? 0 : ms;
  std::int64_t digits = 1;
  for (std::int64_t rest = lead; rest >= 10; rest /= 10) ++digits;
  for (std::int64_t drop = digits - 3; drop > 0; --drop) lead /= 10;
  return digits * 1000 + lead;
}

// duration_bucket of the SQL integer expression `d` (d must be 0 or more), in the
// SQL both stores read.
#define DUROXIDE_DURATION_BUCKET_SQL(d) \
  "(length(CAST(" d " AS TEXT)) * 1000 + CAST(substr(CAST(" d " AS TEXT), 1, 3) AS INTEGER))"

// The schema's fill of execution_durations from the executions already finished
// (both stores' version-10 migration).
#define DUROXIDE_EXECUTION_DURATIONS_BACKFILL                                                        \
  "INSERT INTO execution_durations "                                                                 \
  "SELECT orchestration_name, started_hour, bucket, COUNT(*), SUM(d), MIN(d), MAX(d) "               \
  "FROM (SELECT i.orchestration_name, (e.started_at / 3600000) * 3600000 AS started_hour, d, "       \
  "        " DUROXIDE_DURATION_BUCKET_SQL("d") " AS bucket "                                         \
  "      FROM (SELECT instance_id, started_at, "                                                     \
  "              CASE WHEN completed_at < started_at THEN 0 ELSE completed_at - started_at END AS d " \
  "            FROM executions WHERE completed_at IS NOT NULL) e "                                   \
  "      JOIN instances i ON i.instance_id = e.instance_id) finished "                               \
  "GROUP BY orchestration_name, started_hour, bucket;"

// The start of the hour holding `at`.
inline TimestampMs duration_hour(TimestampMs at) { return (at / kDurationHourMs) * kDurationHourMs; }

// Finished executions' durations summed for one row of execution_durations.
struct DurationTotals {
  std::int64_t count = 0;
  std::int64_t sum_ms = 0;
  std::int64_t min_ms = 0;
  std::int64_t max_ms = 0;

  void add(std::int64_t d) {
    min_ms = count == 0 ? d : std::min(min_ms, d);
    max_ms = count == 0 ? d : std::max(max_ms, d);
    ++count;
    sum_ms = saturating_add(sum_ms, d);
  }

  void add(const DurationTotals& other) {
    if (other.count == 0) return;
    min_ms = count == 0 ? other.min_ms : std::min(min_ms, other.min_ms);
    max_ms = count == 0 ? other.max_ms : std::max(max_ms, other.max_ms);
    count += other.count;
    sum_ms = saturating_add(sum_ms, other.sum_ms);
  }
};

// Adds `totals` to the row of (orchestration, started hour, duration bucket, tenant),
// inside the caller's transaction.
template <typename Connection>
void write_execution_durations(Connection& db, const std::string& orchestration, TimestampMs started_hour,
                               std::int64_t bucket, const std::string& tenant, const DurationTotals& totals) {
  db.prepare(
        "INSERT INTO execution_durations "
        "  (orchestration_name, started_hour, bucket, tenant, count, sum_ms, min_ms, max_ms) "
        "VALUES (?1, ?2, ?3, ?5, ?4, ?6, ?7, ?8) "
        "ON CONFLICT (orchestration_name, started_hour, bucket, tenant) DO UPDATE SET "
        "  count = execution_durations.count + excluded.count, "
        "  sum_ms = execution_durations.sum_ms + excluded.sum_ms, "
        "  min_ms = CASE WHEN excluded.min_ms < execution_durations.min_ms "
        "    THEN excluded.min_ms ELSE execution_durations.min_ms END, "
        "  max_ms = CASE WHEN excluded.max_ms > execution_durations.max_ms "
        "    THEN excluded.max_ms ELSE execution_durations.max_ms END")
      .bind(1, orchestration)
      .bind(2, started_hour)
      .bind(3, bucket)
      .bind(4, totals.count)
      .bind(5, tenant)
      .bind(6, totals.sum_ms)
      .bind(7, totals.min_ms)
      .bind(8, totals.max_ms)
      .defer();
}

// Adds one finished execution's duration (inside the caller's transaction).
template <typename Connection>
void record_execution_duration(Connection& db, const std::string& orchestration, const std::string& tenant,
                               TimestampMs started_at, std::int64_t duration_ms) {
  const std::int64_t d = std::max<std::int64_t>(duration_ms, 0);
  DurationTotals totals;
  totals.add(d);
  write_execution_durations(db, orchestration, duration_hour(started_at), duration_bucket(d), tenant, totals);
}

// The metric_buckets columns, and the upsert that adds a new row's counts to
// an existing bucket. Literals (macros) so that SQLite caches one statement each.
#define DUROXIDE_METRIC_COLUMNS                                                          \
  "resolution, bucket_start, orchestration_name, tenant, starts, completions, failures, "       \
  "duration_sum_ms, duration_count, d0, d1, d2, d3, d4, d5, d6, d7"
#define DUROXIDE_METRIC_SUMS                                                             \
  "SUM(starts), SUM(completions), SUM(failures), SUM(duration_sum_ms), SUM(duration_count), " \
  "SUM(d0), SUM(d1), SUM(d2), SUM(d3), SUM(d4), SUM(d5), SUM(d6), SUM(d7)"
#define DUROXIDE_METRIC_ADD_ON_CONFLICT                                                  \
  "ON CONFLICT (resolution, bucket_start, orchestration_name, tenant) DO UPDATE SET "           \
  "  starts = metric_buckets.starts + excluded.starts, "                                 \
  "  completions = metric_buckets.completions + excluded.completions, "                 \
  "  failures = metric_buckets.failures + excluded.failures, "                           \
  "  duration_sum_ms = metric_buckets.duration_sum_ms + excluded.duration_sum_ms, "     \
  "  duration_count = metric_buckets.duration_count + excluded.duration_count, "        \
  "  d0 = metric_buckets.d0 + excluded.d0, d1 = metric_buckets.d1 + excluded.d1, "      \
  "  d2 = metric_buckets.d2 + excluded.d2, d3 = metric_buckets.d3 + excluded.d3, "      \
  "  d4 = metric_buckets.d4 + excluded.d4, d5 = metric_buckets.d5 + excluded.d5, "      \
  "  d6 = metric_buckets.d6 + excluded.d6, d7 = metric_buckets.d7 + excluded.d7"

// Status changes summed for one minute bucket of metric_buckets.
struct MetricTotals {
  std::int64_t starts = 0;
  std::int64_t completions = 0;
  std::int64_t failures = 0;
  std::int64_t duration_sum_ms = 0;
  std::int64_t duration_count = 0;
  std::array<std::int64_t, kDurationBuckets> histogram{};

  void add(const MetricDelta& delta) {
    starts += delta.starts;
    completions += delta.completions;
    failures += delta.failures;
    if (!delta.duration_ms) return;
    duration_sum_ms = saturating_add(duration_sum_ms, *delta.duration_ms);
    ++duration_count;
    std::size_t bucket = 0;
    while (bucket < kDurationBuckets - 1 && *delta.duration_ms > kDurationBucketBoundsMs[bucket]) ++bucket;
    ++histogram[bucket];
  }

  void add(const MetricTotals& other) {
    starts += other.starts;
    completions += other.completions;
    failures += other.failures;
    duration_sum_ms = saturating_add(duration_sum_ms, other.duration_sum_ms);
    duration_count += other.duration_count;
    for (std::size_t bucket = 0; bucket < kDurationBuckets; ++bucket) histogram[bucket] += other.histogram[bucket];
  }
};

// Adds `totals` to the minute bucket starting at `minute` (inside the caller's transaction).
template <typename Connection>
void write_metrics(Connection& db, const std::string& orchestration, const std::string& tenant, TimestampMs minute,
                   const MetricTotals& totals) {
  auto upsert = db.prepare(
      "INSERT INTO metric_buckets (" DUROXIDE_METRIC_COLUMNS ") "
      "VALUES ('minute', ?1, ?2, ?16, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
      DUROXIDE_METRIC_ADD_ON_CONFLICT);
  upsert.bind(1, minute)
      .bind(2, orchestration)
      .bind(3, totals.starts)
      .bind(4, totals.completions)
      .bind(5, totals.failures)
      .bind(6, totals.duration_sum_ms)
      .bind(7, totals.duration_count);
  for (std::size_t i = 0; i < kDurationBuckets; ++i) upsert.bind(static_cast<int>(8 + i), totals.histogram[i]);
  upsert.bind(16, tenant);
  upsert.defer();
}

inline TimestampMs metric_minute(TimestampMs at) { return (at / 60'000) * 60'000; }

// Adds `delta` to the minute bucket holding `at` (inside the caller's transaction).
template <typename Connection>
void record_metrics(Connection& db, const std::string& orchestration, const std::string& tenant, TimestampMs at,
                    const MetricDelta& delta) {
  MetricTotals totals;
  totals.add(delta);
  write_metrics(db, orchestration, tenant, metric_minute(at), totals);
}

// Activity outcomes summed for one row of activity_stats.
struct ActivityTotals {
  std::int64_t scheduled = 0;
  std::int64_t completed = 0;
  std::int64_t failed = 0;
  std::int64_t duration_ms = 0;

  void add(const ActivityTotals& other) {
    scheduled += other.scheduled;
    completed += other.completed;
    failed += other.failed;
    duration_ms = saturating_add(duration_ms, other.duration_ms);
  }
};

// Adds `totals` to the activity's row (inside the caller's transaction).
template <typename Connection>
void write_activity_stats(Connection& db, const std::string& activity, const std::string& tenant,
                          const ActivityTotals& totals) {
  db.prepare(
        "INSERT INTO activity_stats (activity_name, tenant, scheduled, completed, failed, "
        "  total_duration_ms) VALUES (?1, ?6, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (activity_name, tenant) DO UPDATE SET "
        "  scheduled = activity_stats.scheduled + excluded.scheduled, "
        "  completed = activity_stats.completed + excluded.completed, "
        "  failed = activity_stats.failed + excluded.failed, "
        "  total_duration_ms = activity_stats.total_duration_ms + excluded.total_duration_ms")
      .bind(1, activity)
      .bind(2, totals.scheduled)
      .bind(3, totals.completed)
      .bind(4, totals.failed)
      .bind(5, totals.duration_ms)
      .bind(6, tenant)
      .defer();
}

// ---- status counts: the rows count-by-status and the filtered counts read

// The row of instance_counts an instance counts in.
struct InstanceCountKey {
  std::string orchestration_name;
  std::string orchestration_version;
  bool is_root = true;  // no parent instance
  std::string status;
  std::string tenant;
  friend bool operator<(const InstanceCountKey& a, const InstanceCountKey& b) {
    return std::tie(a.orchestration_name, a.orchestration_version, a.is_root, a.status, a.tenant) <
           std::tie(b.orchestration_name, b.orchestration_version, b.is_root, b.status, b.tenant);
  }
};

// Adds `delta` to the count of `key` (inside the caller's transaction).
template <typename Connection>
void write_instance_count(Connection& db, const InstanceCountKey& key, std::int64_t delta) {
  db.prepare(
        "INSERT INTO instance_counts (orchestration_name, orchestration_version, is_root, status, tenant, count) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (orchestration_name, orchestration_version, is_root, status, tenant) DO UPDATE SET "
        "  count = instance_counts.count + excluded.count")
      .bind(1, key.orchestration_name)
      .bind(2, key.orchestration_version)
      .bind(3, static_cast<std::int64_t>(key.is_root ? 1 : 0))
      .bind(4, key.status)
      .bind(5, key.tenant)
      .bind(6, delta)
      .defer();
}

// What acks add to the shared roll-up rows (time series, activity statistics,
// execution durations, status counts), summed per row, to be written once per row, in
// key order.
struct RollUpTotals {
  std::map<std::tuple<TimestampMs, std::string, std::string>, MetricTotals> metrics;  // minute, orchestration, tenant
  std::map<std::pair<std::string, std::string>, ActivityTotals> activities;  // activity, tenant
  std::map<std::tuple<std::string, TimestampMs, std::int64_t, std::string>, DurationTotals>
      durations;  // orchestration, started hour, duration bucket, tenant
  std::map<InstanceCountKey, std::int64_t> instance_counts;
  // The batch's change-feed rows, in ack order. Written by the flush, after the lock
  // that orders writers (Dialect::serialize_orchestration_acks): a row's sequence number
  // is then drawn while no other ack, import or delete can commit a smaller one later, so
  // a reader that has passed a number misses no change behind it.
  std::vector<ChangeRow> changes;
  // The activities the batch's acks cancelled: their worker rows go in the flush, all in
  // key order (Queues::delete_cancelled_activities).
  std::vector<CancelledActivity> cancelled;

  // Adds what `other` holds (one ack's totals) and clears it: rows it changed after
  // this one's, sums added per key. Costs what `other` holds, not what this one does.
  void absorb(RollUpTotals& other) {
    for (ChangeRow& change : other.changes) changes.push_back(std::move(change));
    for (CancelledActivity& activity : other.cancelled) cancelled.push_back(std::move(activity));
    for (const auto& [key, metric] : other.metrics) metrics[key].add(metric);
    for (const auto& [key, activity] : other.activities) activities[key].add(activity);
    for (const auto& [key, duration] : other.durations) durations[key].add(duration);
    for (const auto& [key, delta] : other.instance_counts) instance_counts[key] += delta;
    other.clear();
  }

  void clear() {
    changes.clear();
    cancelled.clear();
    metrics.clear();
    activities.clear();
    durations.clear();
    instance_counts.clear();
  }
};

// Writes the totals (inside the caller's transaction) and clears them. A count whose
// changes cancel out (an instance started and finished in one batch moves through
// its statuses) writes nothing.
template <typename Connection>
void write_roll_up_totals(Connection& db, RollUpTotals& totals) {
  for (const ChangeRow& change : totals.changes) record_change(db, change);
  for (const auto& [key, delta] : totals.instance_counts) {
    if (delta != 0) write_instance_count(db, key, delta);
  }
  for (const auto& [key, metric] : totals.metrics) {
    write_metrics(db, std::get<1>(key), std::get<2>(key), std::get<0>(key), metric);
  }
  for (const auto& [key, activity] : totals.activities) write_activity_stats(db, key.first, key.second, activity);
  for (const auto& [key, duration] : totals.durations) {
    write_execution_durations(db, std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key), duration);
  }
  totals.clear();
}

// One execution's history in event order. An undecodable row is Corrupted, or,
// with `corruption`, skipped and its description kept there (the first one).
// The history row of `event` (encoded as `json`), bound and ready to run or defer.
template <typename Connection>
auto history_row(Connection& db, const std::string& instance, ExecutionId execution, const Event& event,
                 const std::string& json) {
  auto insert = db.prepare(
      "INSERT INTO history (instance_id, execution_id, event_id, event_kind, timestamp, "
      "  event_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  insert.bind(1, instance)
      .bind(2, static_cast<std::int64_t>(execution))
      .bind(3, static_cast<std::int64_t>(event.event_id))
      .bind(4, to_string(event.kind()))
      .bind(5, event.timestamp_ms)
      .bind(6, json);
  return insert;
}

// One history row of read_history, decoded onto `history`; an undecodable row is
// described in `corruption` (the first one only) or, without it, thrown as Corrupted.
inline void append_history_row(const std::string& instance, ExecutionId execution, std::int64_t event_id,
                               const std::string& json, History& history, std::string* corruption,
                               const std::string& operation) {
  try {
    history.push_back(decode_event(json));
  } catch (const CodecError& error) {
    std::string problem = "history row " + instance + "/" + std::to_string(execution) + "/" +
                          std::to_string(event_id) + " does not decode: " + error.what();
    if (!corruption) throw ProviderError(ProviderErrorKind::Corrupted, operation, problem);
    if (corruption->empty()) *corruption = problem;
  }
}

template <typename Connection>
History read_history(Connection& db, const std::string& instance, ExecutionId execution,
                     std::string* corruption) {
  History history;
  auto rows = db.prepare(
      "SELECT event_id, event_json FROM history WHERE instance_id = ?1 AND execution_id = ?2 "
      "ORDER BY event_id");
  rows.bind(1, instance).bind(2, static_cast<std::int64_t>(execution));
  while (rows.step()) {
    append_history_row(instance, execution, rows.integer(0), rows.text(1), history, corruption, db.operation());
  }
  return history;
}

// Rows per table, for ProviderDiagnostics::table_rows, each read in time that does not
// grow with the store: instances, executions and history from the counts the store keeps
// (instance_counts; Dialect::kExecutionTotalsSql, where each event is a history row); the
// change feed as the span of its positions (on PostgreSQL an upper bound: a rolled-back
// transaction leaves a gap); the queues, locks, parked messages and activity names
// counted, as they hold work in flight or names, not the store's past. Table names come
// from this fixed list, never from input.
template <typename Dialect, typename Connection>
void count_table_rows(Connection& db, ProviderDiagnostics& diagnostics) {
  auto read = [&](const char* sql, int column) -> std::uint64_t {
    auto row = db.prepare(sql);
    return row.step() && !row.is_null(column) ? static_cast<std::uint64_t>(row.integer(column)) : 0;
  };
  diagnostics.table_rows["instances"] = read("SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM instance_counts", 0);
  diagnostics.table_rows["executions"] = read(Dialect::kExecutionTotalsSql, 0);
  diagnostics.table_rows["history"] = read(Dialect::kExecutionTotalsSql, 1);
  // Two subqueries: each is one step down the key; MAX and MIN in one SELECT scan the table.
  diagnostics.table_rows["changes"] =
      read("SELECT (SELECT MAX(seq) FROM changes) - (SELECT MIN(seq) FROM changes) + 1", 0);
  static const char* const kCounts[][2] = {
      {"orchestrator_queue", "SELECT COUNT(*) FROM orchestrator_queue"},
      {"worker_queue", "SELECT COUNT(*) FROM worker_queue"},
      {"instance_locks", "SELECT COUNT(*) FROM instance_locks"},
      {"parked_messages", "SELECT COUNT(*) FROM parked_messages"},
      {"activity_stats", "SELECT COUNT(*) FROM activity_stats"},
  };
  for (const auto& entry : kCounts) diagnostics.table_rows[entry[0]] = read(entry[1], 0);
}

}  // namespace duroxide::store_sql
