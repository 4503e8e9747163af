// PostgreSQL's part of the store: opening, diagnostics and the fetches. What
// differs from SQLite (core/stores/sqlite/sqlite_store_impl.cpp) is how a claim
// is made safe against other processes sharing the database:
// - an instance is claimed by upserting its lock row, which only succeeds when
//   the lock is free or expired; the claim comes before the instance's messages
//   are read, so only the claiming process reads and marks them;
// - a worker item is claimed with FOR UPDATE SKIP LOCKED;
// - an ack locks its instance's lock row (FOR UPDATE) before writing anything;
// - a fetch's claim commits without waiting for the disk: a server crash that
//   loses it returns the item to its queue, as an expired lock does
//   (Transaction::commit_without_waiting_for_disk).
#include "postgres_store_impl.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duroxide/assert.hpp"
#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include "postgres_schema.hpp"

namespace duroxide::pg {

using store_sql::check_capability_filter;

namespace {

using PgQueues = store_sql::Queues<Dialect>;
// A worker row of a batch fetch whose item decodes, with that item.
using ReadableRow = std::pair<PgQueues::WorkerRow*, work::ActivityExecute>;

// Takes the sessions of the batch's rows, each once, in the order of their ids: two
// processes whose batches hold rows of the same sessions in different orders then wait
// for each other's session rows in one order, never in a cycle (a deadlock PostgreSQL
// would end by failing one fetch). Whether each was taken, by id.
std::map<std::string, bool> take_sessions(Dialect::Connection& db, const std::vector<ReadableRow>& rows,
                                          const SessionFetch* session_fetch, TimestampMs now) {
  std::map<std::string, bool> taken;  // ordered by id
  for (const auto& entry : rows) {
    if (entry.first->session_id) taken.emplace(*entry.first->session_id, false);
  }
  if (taken.empty()) return taken;
  DUROXIDE_ASSERT(session_fetch != nullptr, "a fetch without a session takes no session's row");
  for (auto& [session_id, took] : taken) {
    took = PgQueues::take_session(db, session_id, *session_fetch, now, now + session_fetch->lock_timeout_ms);
  }
  return taken;
}

// Candidates one fetch_orchestration_item looks at (parked orphans, claims lost
// to another process, batches acked away under it) before answering "nothing".
constexpr int kMaxCandidates = 64;

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

// The candidates' query: without a capability filter (`ranges` nullopt), or with one of
// that many ranges (Queues::capability_condition, parameters from ?4). One text per
// number of ranges, built once.
const std::string& next_candidates_sql(std::optional<std::size_t> ranges) {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> out;
    for (std::size_t n = 0; n <= limits::kMaxSupportedVersionRanges + 1; ++n) {
      out.push_back(
          "SELECT c.instance_id FROM ("
          "  SELECT q.instance_id FROM orchestrator_queue q "
          "  WHERE q.visible_at <= ?1 AND NOT (q.instance_id = ANY(?2::text[])) AND NOT EXISTS ("
          "    SELECT 1 FROM instance_locks l WHERE l.instance_id = q.instance_id "
          "    AND l.locked_until > ?1) AND " + std::string(store_sql::Queues<Dialect>::kNoStartLater) + " " +
          (n == 0 ? std::string() : "AND " + store_sql::Queues<Dialect>::capability_condition("q.instance_id", n - 1, 4) + " ") +
          "  ORDER BY q.visible_at, q.id LIMIT 64) c "
          "WHERE pg_try_advisory_xact_lock(hashtext(current_schema()), hashtext(c.instance_id)) LIMIT ?3");
    }
    return out;
  }();
  return texts[ranges ? *ranges + 1 : 0];
}

// Of the oldest visible candidates not yet `tried`, up to `limit` instances, oldest
// first, that no other fetch (of any process) is claiming right now: a
// transaction-scoped advisory lock per instance, tried without waiting, so
// concurrent fetchers spread over different instances instead of queueing on one
// lock row. The lock is tried row by row in queue order until `limit` rows are
// taken. (With the rows grouped by instance under the filter, concurrent fetchers
// found nothing while work was queued: the test "batched acks of two processes..."
// in tests/postgres/provider_postgres_test.cpp.) Only instances `filter` takes, and whose start
// is not queued for later (Queues::kNoStartLater), are candidates.
std::vector<std::string> next_candidates(Connection& db, TimestampMs now, const std::vector<std::string>& tried,
                                         std::size_t limit, const CapabilityFilter& filter) {
  std::optional<std::size_t> ranges;
  if (filter.filters) ranges = filter.supported_versions.size();
  Statement next = db.prepare(next_candidates_sql(ranges));
  next.bind(1, now).bind(2, text_array_literal(tried)).bind(3, static_cast<std::int64_t>(limit));
  if (ranges) store_sql::Queues<Dialect>::bind_capability_filter(next, 4, filter);
  std::vector<std::string> candidates;
  while (next.step()) {
    // An instance with several messages among the oldest comes once per message (the
    // lock is its own again); a batch then holds fewer instances.
    std::string instance = next.text(0);
    if (std::find(candidates.begin(), candidates.end(), instance) == candidates.end()) {
      candidates.push_back(std::move(instance));
    }
  }
  return candidates;
}

// Nobody will ever process these messages (no instance, no start): parks them
// where operators can see them. Exactly the rows read (a start enqueued since
// then stays queued).
void park_orphans(Connection& db, const std::vector<std::int64_t>& message_ids, TimestampMs now) {
  const std::string ids = bigint_array_literal(message_ids);
  db.prepare(
        "INSERT INTO parked_messages (instance_id, item_json, reason, parked_at) "
        "SELECT instance_id, item_json, 'instance does not exist', ?2::bigint "
        "FROM orchestrator_queue WHERE id = ANY(?1::bigint[]) ORDER BY id")
      .bind(1, ids)
      .bind(2, now)
      .run();
  db.prepare("DELETE FROM orchestrator_queue WHERE id = ANY(?1::bigint[])").bind(1, ids).run();
}

// Takes the lock rows of `instances` (with `tokens[i]` for `instances[i]`, one each) that
// are free or expired; returns the instances claimed. For the others another
// process holds a live lock: this transaction then holds those rows, so it
// claims nothing more before it ends.
std::set<std::string> claim(Connection& db, const std::vector<std::string>& instances,
                            const std::vector<std::string>& tokens, TimestampMs until, TimestampMs now) {
  DUROXIDE_ASSERT(tokens.size() == instances.size(), "a claim takes one token per instance");
  Statement claimed = db.prepare(
      "INSERT INTO instance_locks (instance_id, lock_token, locked_until, locked_at) "
      "SELECT c.instance_id, c.lock_token, CAST(?3 AS BIGINT), CAST(?4 AS BIGINT) "
      "FROM unnest(?1::text[], ?2::text[]) AS c(instance_id, lock_token) "
      "ON CONFLICT (instance_id) DO UPDATE SET lock_token = excluded.lock_token, "
      "  locked_until = excluded.locked_until, locked_at = excluded.locked_at "
      "WHERE instance_locks.locked_until <= ?4 "
      "RETURNING instance_id");
  claimed.bind(1, text_array_literal(instances))
      .bind(2, text_array_literal(tokens))
      .bind(3, until)
      .bind(4, now);
  std::set<std::string> out;
  while (claimed.step()) out.insert(claimed.text(0));
  return out;
}

// Per-session state, set again after every reconnect: the search path, and no
// NOTICEs (libpq would print them on stderr, e.g. for DROP SCHEMA ... CASCADE).
std::string session_setup(const std::string& schema) {
  return "SET search_path TO " + schema + "; SET client_min_messages TO warning";
}

}  // namespace

StoreImpl::StoreImpl(const std::string& conninfo, Clock& clock, IdSource& ids, const PostgresOptions& options)
    : SqlStoreImpl(clock, {options.minute_retention_ms, options.change_retention_ms, options.parked_retention_ms,
                           options.finished_retention_ms}),
      conninfo_(conninfo), schema_(options.schema), ids_(ids) {
  if (!valid_schema_name(schema_)) {
    throw ProviderError(ProviderErrorKind::InvalidInput, "open",
                        "schema name must match [a-z_][a-z0-9_]* and be at most 63 bytes");
  }
  if (options.connections < 1 || options.connections > 64) {
    throw ProviderError(ProviderErrorKind::InvalidInput, "open", "connections must be 1 to 64");
  }
  auto first = std::make_unique<Connection>(conninfo_);
  first->set_clock(&clock_);
  if (options.read_only) {
    require_latest_schema(*first, schema_);
  } else {
    migrate(*first, schema_);
  }
  first->set_operation("open");
  pool_ = std::make_unique<Pool>(conninfo_, session_setup(schema_), clock_, options.connections, std::move(first));
}

std::string StoreImpl::next_token() {
  std::lock_guard<std::mutex> lock(ids_mutex_);
  return ids_.next_id();
}

int StoreImpl::schema_version() {
  Session db = session("schema_version");
  return pg::schema_version(*db);
}

void StoreImpl::drop_schema() {
  Session db = session("drop_schema");
  // Identifiers cannot be bound; the name was validated when opening.
  db->exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
}

// Never throws for an unreachable server: that is `connected = false`.
// Not measurable here (without superuser rights): WAL size and free pages (0);
// there are no checkpoints of this connection to report.
ProviderDiagnostics StoreImpl::get_provider_diagnostics() {
  ProviderDiagnostics d;
  d.store_kind = "postgres";
  d.location = redact_conninfo(conninfo_);
  d.journal_mode = "wal";
  const std::int64_t started_us = clock_.monotonic_us();
  std::optional<Session> held;
  try {
    held.emplace(session("get_provider_diagnostics"));
    auto probe = (*held)->prepare("SELECT 1");
    d.connected = probe.step() && probe.integer(0) == 1;
  } catch (const ProviderError&) {
    d.connected = false;
  }
  d.round_trip_us = clock_.monotonic_us() - started_us;
  if (d.connected) {
    Session& db = *held;
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
    store_sql::count_table_rows<Dialect>(*db, d);
  }
  d.last_checkpoint_ms = 0;
  d.checkpoints = 0;
  const std::shared_ptr<ConnectionLog>& errors = pool_->log();
  std::lock_guard<std::mutex> lock(errors->mutex);
  if (errors->last) {
    d.last_error = errors->last->message;
    d.last_error_ms = errors->last->at_ms;
  }
  d.error_count = errors->count;
  d.round_trips = errors->round_trips.load(std::memory_order_relaxed);
  d.statements_prepared = errors->statements_prepared.load(std::memory_order_relaxed);
  return d;
}

// ---------------------------------------------------------------- orchestrator queue

namespace {

using Queues = store_sql::Queues<Dialect>;

// What the fetch reads of its claimed instances, one statement per table.
struct ClaimedRows {
  std::map<std::string, std::vector<Queues::QueuedMessage>> messages;  // visible ones
  std::map<std::string, OrchestrationItem> instances;                  // the rows that exist
  std::map<std::string, History> histories;                            // of current executions
  std::map<std::string, std::string> corruptions;                      // a history row's first
};

// The histories of the current executions of `read.instances`, each in event order.
void read_histories(Connection& db, ClaimedRows& read) {
  std::vector<std::string> instances;
  std::vector<std::int64_t> executions;
  for (const auto& [instance, item] : read.instances) {
    instances.push_back(instance);
    executions.push_back(static_cast<std::int64_t>(item.execution_id));
  }
  Statement history = db.prepare(
      "SELECT c.instance_id, c.execution_id, h.event_id, h.event_json "
      "FROM unnest(?1::text[], ?2::bigint[]) AS c(instance_id, execution_id) "
      "CROSS JOIN LATERAL (SELECT event_id, event_json FROM history h "
      "  WHERE h.instance_id = c.instance_id AND h.execution_id = c.execution_id OFFSET 0) h");
  history.bind(1, text_array_literal(instances)).bind(2, bigint_array_literal(executions));
  struct Row {
    std::int64_t execution;
    std::int64_t event_id;
    std::string json;
  };
  std::map<std::string, std::vector<Row>> rows;
  while (history.step()) rows[history.text(0)].push_back(Row{history.integer(1), history.integer(2), history.text(3)});
  for (auto& [instance, events] : rows) {
    // In memory, as read_messages sorts: the rows come in the primary key's order.
    std::sort(events.begin(), events.end(), [](const Row& a, const Row& b) { return a.event_id < b.event_id; });
    for (const Row& row : events) {
      store_sql::append_history_row(instance, static_cast<ExecutionId>(row.execution), row.event_id, row.json,
                                    read.histories[instance], &read.corruptions[instance], db.operation());
    }
  }
}

// Each statement looks its rows up per instance (a LATERAL subquery that OFFSET 0
// keeps from being flattened into a join), so the plan the server keeps for it is an
// index lookup per instance whatever the tables' sizes were when it was made; with
// "instance_id = ANY(...)" the kept plan scanned whole tables once they grew.
ClaimedRows read_claimed(Connection& db, const std::vector<std::string>& instances, TimestampMs now) {
  ClaimedRows read;
  const std::string instance_array = text_array_literal(instances);
  Statement messages = db.prepare(
      "SELECT c.instance_id, m.id, m.item_json, m.attempt_count FROM unnest(?1::text[]) AS c(instance_id) "
      "CROSS JOIN LATERAL (SELECT id, item_json, attempt_count FROM orchestrator_queue q "
      "  WHERE q.instance_id = c.instance_id AND q.visible_at <= ?2 OFFSET 0) m");
  messages.bind(1, instance_array).bind(2, now);
  while (messages.step()) {
    read.messages[messages.text(0)].push_back(
        Queues::QueuedMessage{messages.integer(1), messages.text(2), messages.integer(3)});
  }
  Statement rows = db.prepare(std::string("SELECT c.instance_id, i.* FROM unnest(?1::text[]) AS c(instance_id) "
                                          "CROSS JOIN LATERAL (SELECT ") +
                              Queues::kItemInstanceColumns +
                              " FROM instances WHERE instance_id = c.instance_id OFFSET 0) i");
  rows.bind(1, instance_array);
  while (rows.step()) Queues::instance_fields(rows, 1, read.instances[rows.text(0)]);
  if (!read.instances.empty()) read_histories(db, read);
  return read;
}

// The messages of one claimed instance to mark locked by its item's token.
struct Mark {
  std::string instance;
  std::string token;
  std::vector<std::int64_t> ids;
};

// Deletes the lock rows of `released` tokens and marks the messages of `marks`
// locked, sent with the transaction's next round trip. A statement per instance, so
// that its kept plan looks the rows up by the instance's index. An instance with one
// message (most turns) names it as a scalar: with an array the server found no
// generic plan cheaper than a custom one and planned the statement at every run.
void release_and_mark(Connection& db, const std::vector<std::string>& released, const std::vector<Mark>& marks) {
  if (!released.empty()) {
    db.prepare("DELETE FROM instance_locks WHERE lock_token = ANY(?1::text[])")
        .bind(1, text_array_literal(released))
        .defer();
  }
  for (const Mark& mark : marks) {
    if (mark.ids.size() == 1) {
      db.prepare(
            "UPDATE orchestrator_queue SET lock_token = ?1, attempt_count = attempt_count + 1 "
            "WHERE instance_id = ?2 AND id = ?3")
          .bind(1, mark.token)
          .bind(2, mark.instance)
          .bind(3, mark.ids.front())
          .defer();
      continue;
    }
    db.prepare(
          "UPDATE orchestrator_queue SET lock_token = ?1, attempt_count = attempt_count + 1 "
          "WHERE instance_id = ?2 AND id = ANY(?3::bigint[])")
        .bind(1, mark.token)
        .bind(2, mark.instance)
        .bind(3, bigint_array_literal(mark.ids))
        .defer();
  }
}

// The items of the `claimed` candidates, in candidate order (read_claimed). A claim
// whose messages were acked away under it, or that holds orphans (parked), is
// released and returns no item. The tokens of the items returned go to `used_tokens`.
std::vector<OrchestrationItem> claimed_items(Connection& db, const std::vector<std::string>& candidates,
                                             const std::vector<std::string>& tokens,
                                             const std::set<std::string>& claimed, TimestampMs now,
                                             std::vector<std::string>& used_tokens) {
  std::vector<std::string> instances;
  for (const std::string& candidate : candidates) {
    if (claimed.count(candidate)) instances.push_back(candidate);
  }
  if (instances.empty()) return {};
  ClaimedRows read = read_claimed(db, instances, now);
  std::vector<OrchestrationItem> items;
  std::vector<Mark> marks;
  std::vector<std::string> released;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const std::string& instance = candidates[i];
    if (!claimed.count(instance)) continue;
    auto found = read.instances.find(instance);
    const bool exists = found != read.instances.end();
    OrchestrationItem item = exists ? std::move(found->second) : OrchestrationItem{};
    item.instance = instance;
    std::string corruption;  // as read_messages and read_item_history: a message's first, then a history row's
    std::vector<std::int64_t> message_ids;
    Queues::take_messages(std::move(read.messages[instance]), item, message_ids, corruption);
    if (message_ids.empty() || Queues::orphaned(item, exists, corruption)) {
      // Empty: the previous holder's ack took the batch between the choice and the claim.
      if (!message_ids.empty()) park_orphans(db, message_ids, now);
      released.push_back(tokens[i]);
      continue;
    }
    item.lock_token = tokens[i];
    used_tokens.push_back(tokens[i]);
    marks.push_back(Mark{instance, item.lock_token, std::move(message_ids)});
    if (exists) item.history = std::move(read.histories[instance]);
    if (corruption.empty()) corruption = std::move(read.corruptions[instance]);
    Queues::note_corruption(db, item, std::move(corruption));
    items.push_back(std::move(item));
  }
  release_and_mark(db, released, marks);
  return items;
}

}  // namespace

// Claims the lock rows of the candidates first (an upsert that only takes a free
// or expired lock; a racing process waits for the winner's commit, then changes
// nothing and moves on), and only then reads, parks or marks their messages: one
// statement for each step, whatever the batch's size. A pass that returns nothing
// (claims lost, orphans parked, batches acked away under it) commits and tries the
// next candidates in a new transaction, up to kMaxCandidates in all, so this
// process never holds another process's lock row while claiming more.
std::vector<OrchestrationItem> StoreImpl::fetch_orchestration_items(std::int64_t lock_timeout_ms,
                                                                    std::size_t max_items,
                                                                    const CapabilityFilter& filter) {
  check_batch_size(max_items, "fetch_orchestration_items");
  Session db = session("fetch_orchestration_item");
  store_sql::check_lock_timeout(lock_timeout_ms, "lock timeout", db->operation());
  check_capability_filter(filter, db->operation());
  const TimestampMs now = clock_.now_ms();
  std::vector<std::string> tried;
  std::vector<std::string> tokens;  // drawn for claims; a claim that returns no item leaves its token for the next
  std::vector<OrchestrationItem> items;
  while (items.empty() && tried.size() < static_cast<std::size_t>(kMaxCandidates)) {
    Transaction transaction(*db);
    const std::vector<std::string> candidates = next_candidates(*db, now, tried, max_items, filter);
    if (candidates.empty()) {
      transaction.commit();
      break;
    }
    tried.insert(tried.end(), candidates.begin(), candidates.end());
    while (tokens.size() < candidates.size()) tokens.push_back(next_token());
    const std::vector<std::string> claim_tokens(tokens.begin(),
                                                tokens.begin() + static_cast<std::ptrdiff_t>(candidates.size()));
    const std::set<std::string> claimed = claim(*db, candidates, claim_tokens, now + lock_timeout_ms, now);
    std::vector<std::string> used_tokens;
    items = claimed_items(*db, candidates, tokens, claimed, now, used_tokens);
    transaction.commit_without_waiting_for_disk();
    for (const std::string& token : used_tokens) tokens.erase(std::find(tokens.begin(), tokens.end(), token));
  }
  return items;
}

std::optional<OrchestrationItem> StoreImpl::fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                                     const CapabilityFilter& filter) {
  std::vector<OrchestrationItem> items = fetch_orchestration_items(lock_timeout_ms, 1, filter);
  if (items.empty()) return std::nullopt;
  return std::move(items.front());
}

// ---------------------------------------------------------------- worker queue

std::optional<WorkerItem> StoreImpl::fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                                     const SessionFetch* session_fetch) {
  std::vector<WorkerItem> items = fetch_work_items(lock_timeout_ms, 1, filter, session_fetch);
  if (items.empty()) return std::nullopt;
  return std::move(items.front());
}

// Up to `max_items` rows in one statement, each chosen with FOR UPDATE SKIP LOCKED:
// a row another process is claiming right now is passed over, never handed out
// twice. An unreadable row ends the batch before it; when it comes first, it is parked and
// the call fails, as fetch_work_item does. A row of a session that another process claimed
// since the statement's snapshot (take_session lost the race) is left queued.
std::vector<WorkerItem> StoreImpl::fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                    const TagFilter& filter, const SessionFetch* session_fetch) {
  check_batch_size(max_items, "fetch_work_items");
  Session db = session("fetch_work_item");
  store_sql::check_lock_timeout(lock_timeout_ms, "lock timeout", db->operation());
  store_sql::check_tag_filter(filter, db->operation());
  store_sql::check_session_fetch(session_fetch, db->operation());
  if (filter.mode == TagFilter::Mode::None) return {};
  const TimestampMs now = clock_.now_ms();
  Transaction transaction(*db);
  std::vector<Queues::WorkerRow> rows = Queues::next_worker_rows(*db, now, max_items, filter, session_fetch);
  std::vector<ReadableRow> readable;
  for (Queues::WorkerRow& row : rows) {
    std::string problem;
    std::optional<work::ActivityExecute> execute = Queues::decode_worker_row(row, problem);
    if (!execute) {
      if (!readable.empty()) break;  // the next fetch parks and reports it
      const std::string report = Queues::park_worker_row(*db, row, problem, now);
      transaction.commit();
      throw ProviderError(ProviderErrorKind::Corrupted, db->operation(), report);
    }
    readable.emplace_back(&row, std::move(*execute));
  }
  const std::map<std::string, bool> taken = take_sessions(*db, readable, session_fetch, now);
  std::vector<WorkerItem> items;
  for (auto& [row, execute] : readable) {
    if (row->session_id && !taken.at(*row->session_id)) continue;  // another process holds it: left queued
    items.push_back(Queues::claim_worker_row(*db, *row, std::move(execute), next_token(), now + lock_timeout_ms));
  }
  transaction.commit_without_waiting_for_disk();
  return items;
}

}  // namespace duroxide::pg
