// PostgresProvider: opening, diagnostics, and the hot path (orchestrator and
// worker queues). A port of sqlite_provider.cpp: the same checks, error kinds and
// messages, and the same rows written by each call. What differs is how a claim
// is made safe against other processes sharing the database:
// - an instance is claimed by upserting its lock row, which only succeeds when
//   the lock is free or expired; the claim comes before the instance's messages
//   are read, so only the claiming process reads and marks them;
// - a worker item is claimed with FOR UPDATE SKIP LOCKED;
// - an ack locks its instance's lock row (FOR UPDATE) before writing anything.
#include "duroxide/postgres_provider.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include "postgres_connection.hpp"
#include "postgres_provider_internal.hpp"
#include "postgres_schema.hpp"
#include "store_sql.hpp"

namespace duroxide {

using pg::Statement;
using pg::Transaction;

namespace pg {

std::string status_text(const ExecutionMetadata& metadata) {
  if (metadata.continued_as_new) return "ContinuedAsNew";
  return std::string(to_string(metadata.state));
}

void check_identifier(const std::string& value, const std::string& operation) {
  if (value.empty() || value.size() > limits::kMaxIdentifierBytes) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        "an instance id must be 1 to " +
                            std::to_string(limits::kMaxIdentifierBytes) + " bytes");
  }
}

void record_change(Connection& db, const std::string& instance, const std::string& status,
                   std::int64_t execution_id, std::int64_t custom_status_version,
                   std::int64_t now, const MetricDelta& delta, const std::string& orchestration) {
  Statement insert = db.prepare(
      "INSERT INTO changes (instance_id, status, execution_id, custom_status_version, "
      "  changed_at, created, orchestration_name, instance_created_at, finished_duration_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  insert.bind(1, instance)
      .bind(2, status)
      .bind(3, execution_id)
      .bind(4, custom_status_version)
      .bind(5, now)
      .bind(6, static_cast<std::int64_t>(delta.starts ? 1 : 0))
      .bind(7, orchestration);
  // Every placeholder must be bound (libpq sends exactly as many as were bound).
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

void record_metrics(Connection& db, const std::string& orchestration, TimestampMs at,
                    const MetricDelta& delta) {
  std::int64_t histogram[kDurationBuckets] = {};
  if (delta.duration_ms) {
    std::size_t bucket = 0;
    while (bucket < kDurationBuckets - 1 && *delta.duration_ms > kDurationBucketBoundsMs[bucket]) ++bucket;
    histogram[bucket] = 1;
  }
  Statement upsert = db.prepare(
      "INSERT INTO metric_buckets (resolution, bucket_start, orchestration_name, starts, "
      "  completions, failures, duration_sum_ms, duration_count, d0, d1, d2, d3, d4, d5, d6, d7) "
      "VALUES ('minute', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
      "ON CONFLICT (resolution, bucket_start, orchestration_name) DO UPDATE SET "
      "  starts = metric_buckets.starts + excluded.starts, "
      "  completions = metric_buckets.completions + excluded.completions, "
      "  failures = metric_buckets.failures + excluded.failures, "
      "  duration_sum_ms = metric_buckets.duration_sum_ms + excluded.duration_sum_ms, "
      "  duration_count = metric_buckets.duration_count + excluded.duration_count, "
      "  d0 = metric_buckets.d0 + excluded.d0, d1 = metric_buckets.d1 + excluded.d1, "
      "  d2 = metric_buckets.d2 + excluded.d2, d3 = metric_buckets.d3 + excluded.d3, "
      "  d4 = metric_buckets.d4 + excluded.d4, d5 = metric_buckets.d5 + excluded.d5, "
      "  d6 = metric_buckets.d6 + excluded.d6, d7 = metric_buckets.d7 + excluded.d7");
  upsert.bind(1, static_cast<std::int64_t>((at / 60'000) * 60'000))
      .bind(2, orchestration)
      .bind(3, delta.starts)
      .bind(4, delta.completions)
      .bind(5, delta.failures)
      .bind(6, delta.duration_ms.value_or(0))
      .bind(7, static_cast<std::int64_t>(delta.duration_ms ? 1 : 0));
  for (std::size_t i = 0; i < kDurationBuckets; ++i) upsert.bind(static_cast<int>(8 + i), histogram[i]);
  upsert.defer();
}

// The minute rows are deleted and summed by one statement, so two processes
// rolling up at once move each minute row exactly once: the second one's DELETE
// waits for the first to commit and then finds those rows gone.
void roll_up_minutes(Connection& db, TimestampMs before) {
  db.prepare(
        "WITH moved AS ("
        "  DELETE FROM metric_buckets WHERE resolution = 'minute' AND bucket_start < ?1 "
        "  RETURNING bucket_start, orchestration_name, starts, completions, failures, "
        "    duration_sum_ms, duration_count, d0, d1, d2, d3, d4, d5, d6, d7) "
        "INSERT INTO metric_buckets (resolution, bucket_start, orchestration_name, starts, "
        "  completions, failures, duration_sum_ms, duration_count, d0, d1, d2, d3, d4, d5, d6, d7) "
        "SELECT 'hour', (bucket_start / 3600000) * 3600000, orchestration_name, SUM(starts), "
        "  SUM(completions), SUM(failures), SUM(duration_sum_ms), SUM(duration_count), SUM(d0), "
        "  SUM(d1), SUM(d2), SUM(d3), SUM(d4), SUM(d5), SUM(d6), SUM(d7) "
        "FROM moved GROUP BY 2, 3 "
        "ON CONFLICT (resolution, bucket_start, orchestration_name) DO UPDATE SET "
        "  starts = metric_buckets.starts + excluded.starts, "
        "  completions = metric_buckets.completions + excluded.completions, "
        "  failures = metric_buckets.failures + excluded.failures, "
        "  duration_sum_ms = metric_buckets.duration_sum_ms + excluded.duration_sum_ms, "
        "  duration_count = metric_buckets.duration_count + excluded.duration_count, "
        "  d0 = metric_buckets.d0 + excluded.d0, d1 = metric_buckets.d1 + excluded.d1, "
        "  d2 = metric_buckets.d2 + excluded.d2, d3 = metric_buckets.d3 + excluded.d3, "
        "  d4 = metric_buckets.d4 + excluded.d4, d5 = metric_buckets.d5 + excluded.d5, "
        "  d6 = metric_buckets.d6 + excluded.d6, d7 = metric_buckets.d7 + excluded.d7")
      .bind(1, before)
      .defer();
}

}  // namespace pg

namespace {

constexpr const char* kInstanceLockLost = "the lock token is unknown or its lock expired";
constexpr const char* kWorkItemLockLost =
    "the work item is gone (cancelled or acked) or its lock expired";

// Candidates one fetch_orchestration_item looks at (parked orphans, claims lost
// to another process, batches acked away under it) before answering "nothing".
constexpr int kMaxCandidates = 64;

void check_token(const std::string& token, const std::string& operation) {
  if (token.empty() || token.size() > 256) {
    throw ProviderError(ProviderErrorKind::InvalidLock, operation, "malformed lock token");
  }
}

void check_delay(std::int64_t ms, const char* what, const std::string& operation) {
  if (ms < 0 || ms > limits::kMaxDelayMs) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        std::string(what) + " must be 0 to " + std::to_string(limits::kMaxDelayMs) +
                            " ms, got " + std::to_string(ms));
  }
}

// The statement just run must have touched a row that holds the caller's lock.
void require_changed(pg::Connection& db, const char* lost) {
  if (db.changes() == 0) throw ProviderError(ProviderErrorKind::InvalidLock, db.operation(), lost);
}

// Extends a live lock (`update` binds ?1 token, ?2 now, ?3 new expiry); a lock
// that is unknown or already expired is `lost_message`.
void renew_lock(pg::Connection& db, const char* update, const std::string& lock_token, TimestampMs now,
                std::int64_t extend_ms, const char* lost_message) {
  db.ensure_connected();
  check_token(lock_token, db.operation());
  check_delay(extend_ms, "extension", db.operation());
  db.prepare(update).bind(1, lock_token).bind(2, now).bind(3, now + extend_ms).run();
  require_changed(db, lost_message);
}

bool starts_execution(const WorkItem& item) {
  return std::holds_alternative<work::StartOrchestration>(item) ||
         std::holds_alternative<work::ContinueAsNew>(item);
}

// A PostgreSQL array literal of text values, to be bound as one parameter and
// cast to text[]: every element double-quoted, with '"' and '\' escaped.
std::string text_array_literal(const std::vector<std::string>& values) {
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
std::string bigint_array_literal(const std::vector<std::int64_t>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// `conninfo` without its password: the "password" key of a key=value string, or
// the password of a URL's user info and any "password" query parameter.
std::string redact_conninfo(const std::string& conninfo) {
  const std::size_t scheme = conninfo.find("://");
  if (conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0) {
    std::string url = conninfo;
    const std::size_t start = scheme + 3;
    const std::size_t authority_end = std::min(url.find_first_of("/?", start), url.size());
    const std::size_t at = url.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
    if (at != std::string::npos && at >= start && at < authority_end) {
      const std::size_t colon = url.find(':', start);
      if (colon != std::string::npos && colon < at) url.erase(colon, at - colon);
    }
    const std::size_t query = url.find('?');
    if (query == std::string::npos) return url;
    std::string kept;
    std::size_t position = query + 1;
    while (position <= url.size()) {
      std::size_t end = url.find('&', position);
      if (end == std::string::npos) end = url.size();
      const std::string parameter = url.substr(position, end - position);
      if (!parameter.empty() && parameter.rfind("password=", 0) != 0 && parameter != "password") {
        if (!kept.empty()) kept += '&';
        kept += parameter;
      }
      position = end + 1;
    }
    return url.substr(0, query) + (kept.empty() ? std::string() : "?" + kept);
  }
  // key = value pairs separated by whitespace; a value may be single-quoted, with
  // backslash escapes inside or outside quotes.
  std::string out;
  std::size_t i = 0;
  const std::size_t n = conninfo.size();
  while (i < n) {
    while (i < n && is_space(conninfo[i])) ++i;
    if (i >= n) break;
    const std::size_t key_start = i;
    while (i < n && !is_space(conninfo[i]) && conninfo[i] != '=') ++i;
    const std::string key = conninfo.substr(key_start, i - key_start);
    while (i < n && is_space(conninfo[i])) ++i;
    if (i < n && conninfo[i] == '=') ++i;
    while (i < n && is_space(conninfo[i])) ++i;
    const std::size_t value_start = i;
    if (i < n && conninfo[i] == '\'') {
      ++i;
      while (i < n && conninfo[i] != '\'') {
        if (conninfo[i] == '\\' && i + 1 < n) ++i;
        ++i;
      }
      if (i < n) ++i;
    } else {
      while (i < n && !is_space(conninfo[i])) {
        if (conninfo[i] == '\\' && i + 1 < n) ++i;
        ++i;
      }
    }
    if (key == "password") continue;
    if (!out.empty()) out += ' ';
    out += key + "=" + conninfo.substr(value_start, i - value_start);
  }
  return out;
}

void insert_orchestrator_item(pg::Connection& db, const WorkItem& item, TimestampMs visible_at,
                              TimestampMs now) {
  const std::string& instance = target_instance(item);
  if (instance.empty() || instance.size() > limits::kMaxIdentifierBytes) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                        "a work item's target instance id must be 1 to " +
                            std::to_string(limits::kMaxIdentifierBytes) + " bytes");
  }
  db.prepare(
        "INSERT INTO orchestrator_queue (instance_id, kind, item_json, visible_at, enqueued_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, instance)
      .bind(2, to_string(kind_of(item)))
      .bind(3, store_sql::encoded(db.operation(), [&] { return encode_work_item(item); }))
      .bind(4, std::max(visible_at, now))
      .bind(5, now)
      .defer();
}

// Per-session state, set again after every reconnect: the search path, and no
// NOTICEs (libpq would print them on stderr, e.g. for DROP SCHEMA ... CASCADE).
std::string session_setup(const std::string& schema) {
  return "SET search_path TO " + schema + "; SET client_min_messages TO warning";
}

}  // namespace

PostgresProvider::PostgresProvider(const std::string& conninfo, Clock& clock, IdSource& ids,
                                   PostgresOptions options)
    : conninfo_(conninfo),
      schema_(options.schema),
      minute_retention_ms_(std::max<std::int64_t>(options.minute_retention_ms, 60'000)),
      max_connections_(options.connections),
      clock_(clock),
      ids_(ids),
      errors_(std::make_shared<pg::ErrorLog>()) {
  if (!pg::valid_schema_name(schema_)) {
    throw ProviderError(ProviderErrorKind::InvalidInput, "open",
                        "schema name must match [a-z_][a-z0-9_]* and be at most 63 bytes");
  }
  if (max_connections_ < 1 || max_connections_ > 64) {
    throw ProviderError(ProviderErrorKind::InvalidInput, "open", "connections must be 1 to 64");
  }
  auto first = std::make_unique<pg::Connection>(conninfo_);
  first->set_clock(&clock_);
  first->set_error_log(errors_);
  pg::migrate(*first, schema_);
  first->set_operation("open");
  first->set_session_setup(session_setup(schema_));
  open_connections_ = 1;
  idle_.push_back(std::move(first));
}

PostgresProvider::~PostgresProvider() = default;

PostgresProvider::Lease PostgresProvider::lease(const char* operation) {
  std::unique_lock<std::mutex> lock(pool_mutex_);
  pool_available_.wait(lock, [&] { return !idle_.empty() || open_connections_ < max_connections_; });
  std::unique_ptr<pg::Connection> connection;
  if (!idle_.empty()) {
    connection = std::move(idle_.back());
    idle_.pop_back();
  } else {
    ++open_connections_;  // reserved; opened outside the lock (a connect takes a round trip or more)
    lock.unlock();
    try {
      connection = std::make_unique<pg::Connection>(conninfo_);
      connection->set_clock(&clock_);
      connection->set_error_log(errors_);
      connection->set_session_setup(session_setup(schema_));
    } catch (...) {
      std::lock_guard<std::mutex> relock(pool_mutex_);
      --open_connections_;
      pool_available_.notify_one();
      throw;
    }
  }
  connection->set_operation(operation);
  return Lease(*this, std::move(connection));
}

void PostgresProvider::give_back(std::unique_ptr<pg::Connection> connection) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  idle_.push_back(std::move(connection));
  pool_available_.notify_one();
}

std::string PostgresProvider::next_token() {
  std::lock_guard<std::mutex> lock(ids_mutex_);
  return ids_.next_id();
}

int PostgresProvider::schema_version() {
  Lease db = lease("schema_version");
  db->ensure_connected();
  return pg::schema_version(*db);
}

void PostgresProvider::drop_schema() {
  Lease db = lease("drop_schema");
  db->ensure_connected();
  // Identifiers cannot be bound; the name was validated when opening.
  db->exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
}

// Never throws for an unreachable server: that is `connected = false`.
// Not measurable here (without superuser rights): WAL size and free pages (0);
// there are no checkpoints of this connection to report.
ProviderDiagnostics PostgresProvider::get_provider_diagnostics() {
  ProviderDiagnostics d;
  d.store_kind = "postgres";
  d.location = redact_conninfo(conninfo_);
  d.journal_mode = "wal";
  const std::int64_t started_us = clock_.monotonic_us();
  std::optional<Lease> held;
  try {
    held.emplace(lease("get_provider_diagnostics"));
    (*held)->ensure_connected();
    auto probe = (*held)->prepare("SELECT 1");
    d.connected = probe.step() && probe.integer(0) == 1;
  } catch (const ProviderError&) {
    d.connected = false;
  }
  d.round_trip_us = clock_.monotonic_us() - started_us;
  if (d.connected) {
    Lease& db = *held;
    d.store_version = db->server_version();
    d.schema_version = pg::schema_version(*db);
    auto scalar = [&](const char* sql) {
      auto statement = db->prepare(sql);
      return statement.step() ? statement.integer(0) : 0;
    };
    d.page_size = static_cast<std::uint64_t>(scalar("SHOW block_size"));
    d.database_bytes =
        static_cast<std::uint64_t>(scalar("SELECT pg_database_size(current_database())"));
    d.page_count = d.page_size ? d.database_bytes / d.page_size : 0;
    d.free_pages = 0;
    d.wal_bytes = 0;
    // Table names come from this fixed list, never from input.
    static const char* const kCounts[][2] = {
        {"instances", "SELECT COUNT(*) FROM instances"},
        {"executions", "SELECT COUNT(*) FROM executions"},
        {"history", "SELECT COUNT(*) FROM history"},
        {"orchestrator_queue", "SELECT COUNT(*) FROM orchestrator_queue"},
        {"worker_queue", "SELECT COUNT(*) FROM worker_queue"},
        {"instance_locks", "SELECT COUNT(*) FROM instance_locks"},
        {"parked_messages", "SELECT COUNT(*) FROM parked_messages"},
        {"activity_stats", "SELECT COUNT(*) FROM activity_stats"},
        {"changes", "SELECT COUNT(*) FROM changes"},
    };
    for (const auto& entry : kCounts) d.table_rows[entry[0]] = static_cast<std::uint64_t>(scalar(entry[1]));
  }
  d.last_checkpoint_ms = 0;
  d.checkpoints = 0;
  std::lock_guard<std::mutex> lock(errors_->mutex);
  if (errors_->last) {
    d.last_error = errors_->last->message;
    d.last_error_ms = errors_->last->at_ms;
  }
  d.error_count = errors_->count;
  return d;
}

// ---------------------------------------------------------------- orchestrator queue

History PostgresProvider::read_history_locked(Lease& db, const std::string& instance, ExecutionId execution,
                                              std::string* corruption) {
  History history;
  Statement rows = db->prepare(
      "SELECT event_id, event_json FROM history WHERE instance_id = ?1 AND execution_id = ?2 "
      "ORDER BY event_id");
  rows.bind(1, instance).bind(2, static_cast<std::int64_t>(execution));
  while (rows.step()) {
    try {
      history.push_back(decode_event(rows.text(1)));
    } catch (const CodecError& error) {
      std::string problem = "history row " + instance + "/" + std::to_string(execution) + "/" +
                            std::to_string(rows.integer(0)) + " does not decode: " + error.what();
      if (!corruption) throw ProviderError(ProviderErrorKind::Corrupted, db->operation(), problem);
      if (corruption->empty()) *corruption = problem;
    }
  }
  return history;
}

// Per candidate instance: claim its lock row first (an upsert that only takes a
// free or expired lock; a racing process waits for the winner's commit, then
// changes nothing and moves on), and only then read, park or mark its messages.
// A lost claim commits what was done so far and goes on in a new transaction,
// so this process never holds another process's lock row while claiming more.
std::optional<OrchestrationItem> PostgresProvider::fetch_orchestration_item(
    std::int64_t lock_timeout_ms) {
  Lease db = lease("fetch_orchestration_item");
  db->ensure_connected();
  check_delay(lock_timeout_ms, "lock timeout", db->operation());
  const TimestampMs now = clock_.now_ms();
  std::optional<Transaction> transaction;
  transaction.emplace(*db);
  std::vector<std::string> tried;
  // Drawn only when a claim is attempted, and reused until an item is returned,
  // so tokens are drawn as SQLite draws them: one per returned item.
  std::string token;
  for (int candidate = 0; candidate < kMaxCandidates; ++candidate) {
    std::string instance;
    {
      // Of the oldest visible candidates, the first that no other fetch (of any
      // process) is claiming right now: a transaction-scoped advisory lock per
      // instance, tried without waiting, so concurrent fetchers spread over
      // different instances instead of queueing on one lock row.
      Statement next = db->prepare(
          "SELECT c.instance_id FROM ("
          "  SELECT q.instance_id FROM orchestrator_queue q "
          "  WHERE q.visible_at <= ?1 AND NOT (q.instance_id = ANY(?2::text[])) AND NOT EXISTS ("
          "    SELECT 1 FROM instance_locks l WHERE l.instance_id = q.instance_id "
          "    AND l.locked_until > ?1) "
          "  ORDER BY q.visible_at, q.id LIMIT 64) c "
          "WHERE pg_try_advisory_xact_lock(hashtext(current_schema()), hashtext(c.instance_id)) LIMIT 1");
      next.bind(1, now).bind(2, text_array_literal(tried));
      if (!next.step()) break;
      instance = next.text(0);
    }
    tried.push_back(instance);

    if (token.empty()) token = next_token();
    db->prepare(
          "INSERT INTO instance_locks (instance_id, lock_token, locked_until, locked_at) "
          "VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (instance_id) DO UPDATE SET lock_token = excluded.lock_token, "
          "  locked_until = excluded.locked_until, locked_at = excluded.locked_at "
          "WHERE instance_locks.locked_until <= ?4")
        .bind(1, instance)
        .bind(2, token)
        .bind(3, now + lock_timeout_ms)
        .bind(4, now)
        .run();
    if (db->changes() == 0) {
      // Another process holds a live lock on it (and this one now holds that row).
      transaction->commit();
      transaction.emplace(*db);
      continue;
    }
    auto release_claim = [&] {
      db->prepare("DELETE FROM instance_locks WHERE lock_token = ?1").bind(1, token).run();
    };

    OrchestrationItem item;
    item.instance = instance;
    std::string corruption;
    std::vector<std::int64_t> message_ids;
    {
      Statement messages = db->prepare(
          "SELECT id, item_json, attempt_count FROM orchestrator_queue "
          "WHERE instance_id = ?1 AND visible_at <= ?2 ORDER BY id");
      messages.bind(1, instance).bind(2, now);
      while (messages.step()) {
        message_ids.push_back(messages.integer(0));
        item.attempt_count = std::max<std::uint32_t>(
            item.attempt_count, static_cast<std::uint32_t>(messages.integer(2) + 1));
        try {
          item.messages.push_back(decode_work_item(messages.text(1)));
        } catch (const CodecError& error) {
          if (corruption.empty()) {
            corruption = "queue row " + std::to_string(messages.integer(0)) +
                         " does not decode: " + error.what();
          }
        }
      }
    }
    if (message_ids.empty()) {
      // The previous holder's ack took the batch between the choice and the claim.
      release_claim();
      continue;
    }

    bool exists = false;
    {
      Statement row = db->prepare(
          "SELECT current_execution_id, orchestration_name, orchestration_version, status, "
          "  parent_instance_id, parent_id "
          "FROM instances WHERE instance_id = ?1");
      row.bind(1, instance);
      if (row.step()) {
        exists = true;
        item.execution_id = static_cast<ExecutionId>(row.integer(0));
        item.orchestration_name = row.text(1);
        item.orchestration_version = row.text(2);
        const std::string status = row.text(3);
        item.finished = status == "Completed" || status == "Failed";
        item.parent_instance = row.optional_text(4).value_or("");
        item.parent_id = static_cast<EventId>(row.integer(5));
      }
    }
    bool has_start = std::any_of(item.messages.begin(), item.messages.end(), starts_execution);
    if (!exists && !has_start && corruption.empty()) {
      // Nobody will ever process these: park them where operators can see them.
      // Exactly the rows read above (a start enqueued since then stays queued).
      const std::string ids = bigint_array_literal(message_ids);
      db->prepare(
            "INSERT INTO parked_messages (instance_id, item_json, reason, parked_at) "
            "SELECT instance_id, item_json, 'instance does not exist', ?2::bigint "
            "FROM orchestrator_queue WHERE id = ANY(?1::bigint[]) ORDER BY id")
          .bind(1, ids)
          .bind(2, now)
          .run();
      db->prepare("DELETE FROM orchestrator_queue WHERE id = ANY(?1::bigint[])")
          .bind(1, ids)
          .run();
      release_claim();
      continue;
    }

    item.lock_token = token;
    db->prepare(
          "UPDATE orchestrator_queue SET lock_token = ?1, attempt_count = attempt_count + 1 "
          "WHERE id = ANY(?2::bigint[])")
        .bind(1, item.lock_token)
        .bind(2, bigint_array_literal(message_ids))
        .defer();
    if (exists) item.history = read_history_locked(db, instance, item.execution_id, &corruption);
    if (!corruption.empty()) {
      item.corruption = corruption;
      Statement last = db->prepare(
          "SELECT COALESCE(MAX(event_id), 0) FROM history WHERE instance_id = ?1 AND execution_id = ?2");
      last.bind(1, instance).bind(2, static_cast<std::int64_t>(item.execution_id));
      if (last.step()) item.last_event_id = static_cast<EventId>(last.integer(0));
    }
    transaction->commit();
    return item;
  }
  transaction->commit();
  return std::nullopt;
}

void PostgresProvider::ack_orchestration_item(const std::string& lock_token,
                                              const OrchestrationAck& ack) {
  Lease db = lease("ack_orchestration_item");
  db->ensure_connected();
  check_token(lock_token, db->operation());
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db);

  std::string instance;
  TimestampMs rolled_up_minute = 0;
  ExecutionId current = 0;
  bool exists = false;
  std::string previous_status;
  TimestampMs created_at = now;
  std::int64_t previous_custom_version = 0;
  {
    // FOR UPDATE OF l: no other process can take over the lock (even once it
    // expires) until this ack commits or rolls back. The instance row comes in
    // the same round trip; everything after it is written in one pipeline with
    // the COMMIT (Statement::defer).
    Statement held = db->prepare(
        "SELECT l.instance_id, i.instance_id IS NOT NULL, i.current_execution_id, i.status, "
        "  i.created_at, i.custom_status_version "
        "FROM instance_locks l LEFT JOIN instances i ON i.instance_id = l.instance_id "
        "WHERE l.lock_token = ?1 AND l.locked_until > ?2 FOR UPDATE OF l");
    held.bind(1, lock_token).bind(2, now);
    if (!held.step()) {
      throw ProviderError(ProviderErrorKind::InvalidLock, db->operation(), kInstanceLockLost);
    }
    instance = held.text(0);
    if (held.integer(1) != 0) {
      exists = true;
      current = static_cast<ExecutionId>(held.integer(2));
      previous_status = held.text(3);
      created_at = held.integer(4);
      previous_custom_version = held.integer(5);
    }
  }
  if (ack.execution_id == 0 || ack.execution_id < current) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db->operation(),
                        "execution " + std::to_string(ack.execution_id) +
                            " is older than the current execution " + std::to_string(current));
  }

  const bool writes_instance = exists || !ack.history_delta.empty();
  if (writes_instance) {
    const ExecutionMetadata& meta = ack.metadata;
    if (meta.orchestration_name.empty() && !exists) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db->operation(),
                          "the first ack of an instance needs its orchestration name");
    }
    std::string status = pg::status_text(meta);
    std::optional<std::string> output;
    if (meta.state == RuntimeState::Completed) output = meta.output;
    std::optional<std::string> error_json;
    if (meta.error) {
      error_json = store_sql::encoded(db->operation(), [&] { return encode_error_details(*meta.error); });
    }

    // Instance status: a continued-as-new instance is still running.
    std::string instance_status =
        meta.continued_as_new ? std::string("Running") : std::string(to_string(meta.state));
    // A message that changes nothing (say, an event for a finished instance)
    // leaves updated_at alone: for a finished instance it stays its finish time.
    const bool changes_instance = !exists || instance_status != previous_status ||
                                  ack.execution_id != current || meta.custom_status_changed ||
                                  !ack.history_delta.empty();
    db->prepare(
          "INSERT INTO instances (instance_id, orchestration_name, orchestration_version, "
          "  current_execution_id, status, output, error_json, custom_status, "
          "  custom_status_version, parent_instance_id, parent_id, created_at, updated_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9::bigint, ?10, ?11, ?12::bigint, ?12::bigint) "
          "ON CONFLICT (instance_id) DO UPDATE SET "
          "  orchestration_name = excluded.orchestration_name, "
          "  orchestration_version = excluded.orchestration_version, "
          "  current_execution_id = excluded.current_execution_id, "
          "  status = excluded.status, output = excluded.output, "
          "  error_json = excluded.error_json, "
          "  custom_status = CASE WHEN ?13::bigint <> 0 THEN excluded.custom_status "
          "    ELSE instances.custom_status END, "
          "  custom_status_version = instances.custom_status_version + ?13::bigint, "
          "  updated_at = CASE WHEN ?14::bigint <> 0 THEN excluded.updated_at "
          "    ELSE instances.updated_at END")
        .bind(1, instance)
        .bind(2, meta.orchestration_name)
        .bind(3, meta.orchestration_version)
        .bind(4, static_cast<std::int64_t>(ack.execution_id))
        .bind(5, instance_status)
        .bind_optional(6, meta.continued_as_new ? std::nullopt : output)
        .bind_optional(7, error_json)
        .bind_optional(8, meta.custom_status_changed ? meta.custom_status : std::nullopt)
        .bind(9, static_cast<std::int64_t>(meta.custom_status_changed ? 1 : 0))
        .bind_optional(10, meta.parent_instance.empty()
                               ? std::nullopt
                               : std::optional<std::string>(meta.parent_instance))
        .bind(11, static_cast<std::int64_t>(meta.parent_id))
        .bind(12, now)
        .bind(13, static_cast<std::int64_t>(meta.custom_status_changed ? 1 : 0))
        .bind(14, static_cast<std::int64_t>(changes_instance ? 1 : 0))
        .defer();
    // The time series, in this same transaction: a start when the instance is
    // created, a completion or failure when it finishes.
    pg::MetricDelta delta;
    delta.starts = exists ? 0 : 1;
    delta.created_at = created_at;
    const bool was_finished = previous_status == "Completed" || previous_status == "Failed";
    if (!was_finished && (instance_status == "Completed" || instance_status == "Failed")) {
      (instance_status == "Completed" ? delta.completions : delta.failures) = 1;
      delta.duration_ms = now - created_at;
    }
    if (!exists || instance_status != previous_status || ack.execution_id != current ||
        meta.custom_status_changed) {
      // As the upsert above computes it (a new instance starts at 0).
      const std::int64_t custom_version =
          previous_custom_version + (meta.custom_status_changed ? 1 : 0);
      pg::record_change(*db, instance, instance_status,
                        static_cast<std::int64_t>(ack.execution_id), custom_version, now, delta,
                        meta.orchestration_name);
    }
    if (delta.starts || delta.completions || delta.failures) {
      pg::record_metrics(*db, meta.orchestration_name, now, delta);
    }
    const TimestampMs minute = (now / 60'000) * 60'000;
    if (minute > last_rollup_minute_) {
      pg::roll_up_minutes(*db, minute - minute_retention_ms_);
      rolled_up_minute = minute;  // remembered once the transaction commits
    }

    const bool terminal = meta.state != RuntimeState::Running || meta.continued_as_new;
    db->prepare(
          "INSERT INTO executions (instance_id, execution_id, status, output, error_json, "
          "  started_at, completed_at, event_count) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
          "ON CONFLICT (instance_id, execution_id) DO UPDATE SET "
          "  status = excluded.status, output = excluded.output, "
          "  error_json = excluded.error_json, completed_at = excluded.completed_at, "
          "  event_count = executions.event_count + excluded.event_count")
        .bind(1, instance)
        .bind(2, static_cast<std::int64_t>(ack.execution_id))
        .bind(3, status)
        .bind_optional(4, output)
        .bind_optional(5, error_json)
        .bind(6, now)
        .bind_optional(7, std::nullopt)
        .bind(8, static_cast<std::int64_t>(ack.history_delta.size()))
        .defer();
    if (terminal) {
      db->prepare(
            "UPDATE executions SET completed_at = ?3 WHERE instance_id = ?1 AND execution_id = ?2")
          .bind(1, instance)
          .bind(2, static_cast<std::int64_t>(ack.execution_id))
          .bind(3, now)
          .defer();
    }

    for (const Event& event : ack.history_delta) {
      try {
        db->prepare(
              "INSERT INTO history (instance_id, execution_id, event_id, event_kind, timestamp, "
              "  event_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .bind(1, instance)
            .bind(2, static_cast<std::int64_t>(ack.execution_id))
            .bind(3, static_cast<std::int64_t>(event.event_id))
            .bind(4, to_string(event.kind()))
            .bind(5, event.timestamp_ms)
            .bind(6, encode_event(event))
            .defer("event id " + std::to_string(event.event_id) + " already exists in execution " +
                   std::to_string(ack.execution_id) + " of " + instance);
      } catch (const CodecError& error) {
        throw ProviderError(ProviderErrorKind::InvalidInput, db->operation(), error.what());
      }
    }
    store_sql::apply_kv_mutations(*db, instance, ack.kv_mutations);
  }

  for (const WorkItem& item : ack.worker_items) {
    const auto* execute = std::get_if<work::ActivityExecute>(&item);
    if (!execute) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db->operation(),
                          "worker items must be ActivityExecute, got " +
                              std::string(to_string(kind_of(item))));
    }
    db->prepare(
          "INSERT INTO worker_queue (instance_id, execution_id, activity_id, item_json, "
          "  visible_at, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)")
        .bind(1, execute->instance)
        .bind(2, static_cast<std::int64_t>(execute->execution_id))
        .bind(3, static_cast<std::int64_t>(execute->id))
        .bind(4, store_sql::encoded(db->operation(), [&] { return encode_work_item(item); }))
        .bind(5, now)
        .defer();
  }
  for (const OrchestratorItem& scheduled : ack.orchestrator_items) {
    insert_orchestrator_item(*db, scheduled.item, scheduled.visible_at_ms, now);
  }
  // Removals after insertions: an activity scheduled and cancelled in one turn goes too.
  for (const CancelledActivity& cancelled : ack.cancelled_activities) {
    db->prepare(
          "DELETE FROM worker_queue WHERE instance_id = ?1 AND execution_id = ?2 "
          "AND activity_id = ?3")
        .bind(1, cancelled.instance)
        .bind(2, static_cast<std::int64_t>(cancelled.execution_id))
        .bind(3, static_cast<std::int64_t>(cancelled.activity_id))
        .defer();
  }
  // Summed per name and written in name order: the same totals as one upsert per
  // outcome, and concurrent acks lock shared activity rows in one order (no deadlock).
  struct Counts {
    std::int64_t scheduled = 0, completed = 0, failed = 0, duration_ms = 0;
  };
  std::map<std::string, Counts> outcomes;
  for (const ActivityOutcome& outcome : ack.activity_outcomes) {
    Counts& counts = outcomes[outcome.name];
    const bool finished = outcome.kind != ActivityOutcome::Kind::Scheduled;
    counts.scheduled += outcome.kind == ActivityOutcome::Kind::Scheduled ? 1 : 0;
    counts.completed += outcome.kind == ActivityOutcome::Kind::Completed ? 1 : 0;
    counts.failed += outcome.kind == ActivityOutcome::Kind::Failed ? 1 : 0;
    counts.duration_ms += finished ? std::max<std::int64_t>(outcome.duration_ms, 0) : 0;
  }
  for (const auto& [name, counts] : outcomes) {
    db->prepare(
          "INSERT INTO activity_stats (activity_name, scheduled, completed, failed, "
          "  total_duration_ms) VALUES (?1, ?2, ?3, ?4, ?5) "
          "ON CONFLICT (activity_name) DO UPDATE SET "
          "  scheduled = activity_stats.scheduled + excluded.scheduled, "
          "  completed = activity_stats.completed + excluded.completed, "
          "  failed = activity_stats.failed + excluded.failed, "
          "  total_duration_ms = activity_stats.total_duration_ms + excluded.total_duration_ms")
        .bind(1, name)
        .bind(2, counts.scheduled)
        .bind(3, counts.completed)
        .bind(4, counts.failed)
        .bind(5, counts.duration_ms)
        .defer();
  }
  db->prepare("DELETE FROM orchestrator_queue WHERE lock_token = ?1").bind(1, lock_token).defer();
  db->prepare("DELETE FROM instance_locks WHERE lock_token = ?1").bind(1, lock_token).defer();
  transaction.commit();
  if (rolled_up_minute) last_rollup_minute_ = rolled_up_minute;
}

void PostgresProvider::abandon_orchestration_item(const std::string& lock_token,
                                                  std::int64_t delay_ms, bool ignore_attempt) {
  Lease db = lease("abandon_orchestration_item");
  db->ensure_connected();
  check_token(lock_token, db->operation());
  check_delay(delay_ms, "delay", db->operation());
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db);
  db->prepare("DELETE FROM instance_locks WHERE lock_token = ?1 AND locked_until > ?2")
      .bind(1, lock_token)
      .bind(2, now)
      .run();
  require_changed(*db, kInstanceLockLost);
  db->prepare(
        "UPDATE orchestrator_queue SET lock_token = NULL, "
        "  visible_at = CASE WHEN ?2::bigint > 0 THEN ?3::bigint + ?2::bigint "
        "    ELSE visible_at END, "
        "  attempt_count = CASE WHEN ?4::bigint <> 0 THEN GREATEST(attempt_count - 1, 0) "
        "    ELSE attempt_count END "
        "WHERE lock_token = ?1")
      .bind(1, lock_token)
      .bind(2, delay_ms)
      .bind(3, now)
      .bind(4, static_cast<std::int64_t>(ignore_attempt ? 1 : 0))
      .run();
  transaction.commit();
}

void PostgresProvider::renew_orchestration_item_lock(const std::string& lock_token,
                                                     std::int64_t extend_ms) {
  Lease db = lease("renew_orchestration_item_lock");
  renew_lock(*db, "UPDATE instance_locks SET locked_until = ?3 WHERE lock_token = ?1 AND locked_until > ?2",
             lock_token, clock_.now_ms(), extend_ms, kInstanceLockLost);
}

std::optional<std::string> PostgresProvider::get_kv_value(const std::string& instance,
                                                          const std::string& key) {
  Lease db = lease("get_kv_value");
  db->ensure_connected();
  return store_sql::read_kv_value(*db, instance, key);
}

KvMap PostgresProvider::get_kv_all_values(const std::string& instance) {
  Lease db = lease("get_kv_all_values");
  db->ensure_connected();
  return store_sql::read_kv_values(*db, instance);
}

History PostgresProvider::read(const std::string& instance) {
  Lease db = lease("read");
  db->ensure_connected();
  Statement row =
      db->prepare("SELECT current_execution_id FROM instances WHERE instance_id = ?1");
  row.bind(1, instance);
  if (!row.step()) return {};
  auto execution = static_cast<ExecutionId>(row.integer(0));
  return read_history_locked(db, instance, execution, nullptr);
}

void PostgresProvider::enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) {
  Lease db = lease("enqueue_orchestrator_item");
  db->ensure_connected();
  check_delay(delay_ms, "delay", db->operation());
  if (std::holds_alternative<work::ActivityExecute>(item)) {
    throw ProviderError(ProviderErrorKind::InvalidInput, db->operation(),
                        "ActivityExecute belongs on the worker queue");
  }
  const TimestampMs now = clock_.now_ms();
  insert_orchestrator_item(*db, item, now + delay_ms, now);
}

// Concurrent starts of one id queue on a transaction-scoped advisory lock on
// it (the key fetch tries), so the second sees the first's queued start.
void PostgresProvider::enqueue_start(const work::StartOrchestration& start) {
  Lease db = lease("enqueue_start");
  db->ensure_connected();
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db);
  db->prepare("SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext(?1::text))")
      .bind(1, start.instance)
      .run();
  if (store_sql::known_instance(*db, start.instance)) {
    throw ProviderError(ProviderErrorKind::Conflict, db->operation(),
                        "instance " + start.instance + " already exists");
  }
  insert_orchestrator_item(*db, start, now, now);
  transaction.commit();
}

bool PostgresProvider::instance_known(const std::string& instance) {
  Lease db = lease("instance_known");
  db->ensure_connected();
  return store_sql::known_instance(*db, instance);
}

// ---------------------------------------------------------------- worker queue

// The row is chosen with FOR UPDATE SKIP LOCKED: a row another process is
// claiming right now is passed over, never handed out twice.
std::optional<WorkerItem> PostgresProvider::fetch_work_item(std::int64_t lock_timeout_ms) {
  Lease db = lease("fetch_work_item");
  db->ensure_connected();
  check_delay(lock_timeout_ms, "lock timeout", db->operation());
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db);
  std::int64_t id = 0;
  std::string json;
  std::int64_t attempts = 0;
  work::ActivityFailed failed;  // what the orchestration gets if the row does not decode
  {
    Statement next = db->prepare(
        "SELECT id, item_json, attempt_count, instance_id, execution_id, activity_id FROM worker_queue "
        "WHERE visible_at <= ?1 AND (lock_token IS NULL OR locked_until <= ?1) "
        "ORDER BY visible_at, id LIMIT 1 FOR UPDATE SKIP LOCKED");
    next.bind(1, now);
    if (!next.step()) {
      transaction.commit();
      return std::nullopt;
    }
    id = next.integer(0);
    json = next.text(1);
    attempts = next.integer(2);
    failed.instance = next.text(3);
    failed.execution_id = static_cast<ExecutionId>(next.integer(4));
    failed.id = static_cast<EventId>(next.integer(5));
  }
  std::string problem;
  std::optional<work::ActivityExecute> execute = store_sql::decode_worker_item(json, problem);
  if (!execute) {
    // An unreadable row must not block the queue: park it, then report it.
    db->prepare(
          "INSERT INTO parked_messages (instance_id, item_json, reason, parked_at) "
          "SELECT instance_id, item_json, ?2::text, ?3::bigint FROM worker_queue WHERE id = ?1")
        .bind(1, id)
        .bind(2, "corrupted worker item: " + problem)
        .bind(3, now)
        .run();
    db->prepare("DELETE FROM worker_queue WHERE id = ?1").bind(1, id).run();
    const std::string report =
        "worker queue row " + std::to_string(id) + " " + problem + " (moved to parked_messages)";
    failed.details = ErrorDetails::provider(db->operation(), report, false);
    insert_orchestrator_item(*db, failed, now, now);
    transaction.commit();
    throw ProviderError(ProviderErrorKind::Corrupted, db->operation(), report);
  }
  WorkerItem fetched{std::move(*execute), next_token(),
                     static_cast<std::uint32_t>(attempts + 1)};
  db->prepare(
        "UPDATE worker_queue SET lock_token = ?2, locked_until = ?3, "
        "attempt_count = attempt_count + 1 WHERE id = ?1")
      .bind(1, id)
      .bind(2, fetched.lock_token)
      .bind(3, now + lock_timeout_ms)
      .defer();
  transaction.commit();
  return fetched;
}

void PostgresProvider::ack_work_item(const std::string& lock_token,
                                     const std::optional<WorkItem>& completion) {
  Lease db = lease("ack_work_item");
  db->ensure_connected();
  check_token(lock_token, db->operation());
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db);
  db->prepare("DELETE FROM worker_queue WHERE lock_token = ?1 AND locked_until > ?2")
      .bind(1, lock_token)
      .bind(2, now)
      .run();
  require_changed(*db, kWorkItemLockLost);
  if (completion) insert_orchestrator_item(*db, *completion, now, now);
  transaction.commit();
}

void PostgresProvider::renew_work_item_lock(const std::string& lock_token, std::int64_t extend_ms) {
  Lease db = lease("renew_work_item_lock");
  renew_lock(*db, "UPDATE worker_queue SET locked_until = ?3 WHERE lock_token = ?1 AND locked_until > ?2",
             lock_token, clock_.now_ms(), extend_ms, kWorkItemLockLost);
}

void PostgresProvider::abandon_work_item(const std::string& lock_token, std::int64_t delay_ms,
                                         bool ignore_attempt) {
  Lease db = lease("abandon_work_item");
  db->ensure_connected();
  check_token(lock_token, db->operation());
  check_delay(delay_ms, "delay", db->operation());
  const TimestampMs now = clock_.now_ms();
  db->prepare(
        "UPDATE worker_queue SET lock_token = NULL, locked_until = NULL, "
        "  visible_at = CASE WHEN ?2::bigint > 0 THEN ?3::bigint + ?2::bigint "
        "    ELSE visible_at END, "
        "  attempt_count = CASE WHEN ?4::bigint <> 0 THEN GREATEST(attempt_count - 1, 0) "
        "    ELSE attempt_count END "
        "WHERE lock_token = ?1 AND locked_until > ?3::bigint")
      .bind(1, lock_token)
      .bind(2, delay_ms)
      .bind(3, now)
      .bind(4, static_cast<std::int64_t>(ignore_attempt ? 1 : 0))
      .run();
  require_changed(*db, kWorkItemLockLost);
}

}  // namespace duroxide
