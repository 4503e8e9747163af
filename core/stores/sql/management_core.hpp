// The management calls (listing, details, statistics, time series, change
// feed, deletion, export and import, instance statistics) written once for SqliteProvider and
// PostgresProvider. Each store's method takes its session (SQLite: the mutex;
// PostgreSQL: a pooled connection) and calls the function of the same name
// here with its connection.
//
// `Dialect` is the seam, one struct per store (core/stores/sqlite/sqlite_dialect.hpp,
// core/stores/postgres/postgres_dialect.hpp):
// - Connection, Statement, Transaction: the store's session types (same interface:
//   prepare / prepare_once, bind, step, run, defer, integer, text, changes);
// - kExplainPrefix, kExplainColumn: how a query plan is asked for and read;
// - kBytewise: the collation clause that orders ids bytewise ("" on SQLite);
// - lock_instance_for_delete(db, id, now): what stops another process from
//   writing to an instance being deleted (nothing under SQLite's one writer).
// SQL is written with "?N" placeholders (PostgreSQL's connection rewrites them)
// and with CAST where PostgreSQL cannot infer a parameter's type.
// Not a public header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "duroxide/codec.hpp"
#include "duroxide/history_state.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/management_provider.hpp"
#include "management_sql.hpp"
#include "store_sql.hpp"

namespace duroxide::management_sql {

enum class ListingQuery { List, Count, CountByStatus };

template <typename Dialect>
struct Management {
  using Connection = typename Dialect::Connection;
  using Statement = typename Dialect::Statement;
  using Transaction = typename Dialect::Transaction;
  using ReadSnapshot = typename Dialect::ReadSnapshot;

  static InstancePage list_instances(Connection& db, const InstanceFilter& filter, const PageRequest& page) {
    const std::optional<ListingKey> window_end = filter.contains.empty() ? std::nullopt : scan_window_end(db, filter, page);
    FilterSql sql = list_query<Dialect>(filter, page, db.operation(), window_end ? &*window_end : nullptr);
    Statement rows = db.prepare_once(sql.where);
    sql.bind_all(rows);
    InstancePage result;
    while (rows.step()) result.instances.push_back(read_instance_row(rows, db.operation()));
    if (result.instances.size() > page.limit) {
      result.instances.pop_back();
      const InstanceInfo& last = result.instances.back();
      result.next_cursor = std::to_string(order_key(page.order, last)) + "|" + last.instance;
    } else if (window_end) {
      result.next_cursor = std::to_string(window_end->first) + "|" + window_end->second;  // the search goes on there
    }
    return result;
  }

  // The end of a search's window (kMaxContainsScan rows on), or none when the rest fits.
  static std::optional<ListingKey> scan_window_end(Connection& db, const InstanceFilter& filter, const PageRequest& page) {
    FilterSql sql = scan_window_end_query<Dialect>(filter, page, db.operation());
    Statement row = db.prepare_once(sql.where);
    sql.bind_all(row);
    if (!row.step()) return std::nullopt;
    return ListingKey{row.integer(0), row.text(1)};
  }

  static std::vector<std::string> explain_listing(Connection& db, const InstanceFilter& filter,
                                                  const PageRequest& page, ListingQuery query) {
    FilterSql sql = query == ListingQuery::List ? list_query<Dialect>(filter, page, db.operation())
                                                : count_query<Dialect>(filter, query == ListingQuery::CountByStatus);
    Statement plan = db.prepare_once(Dialect::kExplainPrefix + sql.where);
    sql.bind_all(plan);
    std::vector<std::string> lines;
    while (plan.step()) lines.push_back(plan.text(Dialect::kExplainColumn));
    return lines;
  }

  static std::uint64_t count_instances(Connection& db, const InstanceFilter& filter) {
    if (const auto bound = one_time_bound(filter)) {
      if (const auto counted = count_small_side(db, filter, *bound)) return *counted;
    }
    FilterSql sql = count_query<Dialect>(filter, false);
    Statement row = db.prepare_once(sql.where);
    sql.bind_all(row);
    return row.step() ? static_cast<std::uint64_t>(row.integer(0)) : 0;
  }

  // The count of a filter with one time bound when a side of the bound holds fewer than
  // kSideLimit of its instances (management_sql.hpp); nullopt when neither does, or
  // when the counters and the rows disagree (a damaged file): then the instances are
  // counted. Each answer comes from one statement, so one snapshot.
  static std::optional<std::uint64_t> count_small_side(Connection& db, const InstanceFilter& filter,
                                                       const OneTimeBound& bound) {
    check_filter(filter, "count_instances");
    FilterSql asked = side_count_query<Dialect>(filter, bound, true, false);
    Statement asked_row = db.prepare_once(asked.where);
    asked.bind_all(asked_row);
    const std::int64_t in_side = asked_row.step() ? asked_row.integer(0) : 0;
    if (in_side < kSideLimit) return static_cast<std::uint64_t>(in_side);
    FilterSql other = side_count_query<Dialect>(filter, bound, false, true);
    Statement other_row = db.prepare_once(other.where);
    other.bind_all(other_row);
    if (!other_row.step()) return std::nullopt;
    const std::int64_t beyond = other_row.integer(0);
    const std::int64_t total = other_row.integer(1);
    // The asked side held kSideLimit or more a statement ago: a total that leaves it
    // fewer is counters that disagree with the rows, or deletes in between.
    if (beyond >= kSideLimit || total - beyond < kSideLimit) return std::nullopt;
    return static_cast<std::uint64_t>(total - beyond);
  }

  static std::map<RuntimeState, std::uint64_t> count_by_status(Connection& db, const InstanceFilter& filter) {
    FilterSql sql = count_query<Dialect>(filter, true);
    Statement rows = db.prepare_once(sql.where);
    sql.bind_all(rows);
    std::map<RuntimeState, std::uint64_t> counts{
        {RuntimeState::Running, 0}, {RuntimeState::Completed, 0}, {RuntimeState::Failed, 0}};
    while (rows.step()) {
      counts[parse_state(rows.text(0), db.operation())] += static_cast<std::uint64_t>(rows.integer(1));
    }
    return counts;
  }

  static std::optional<InstanceInfo> get_instance_info(Connection& db, const std::string& instance) {
    Statement row = db.prepare(kInstanceInfoSql);
    row.bind(1, instance);
    if (!row.step()) return std::nullopt;
    return read_instance_row(row, db.operation());
  }

  // The columns read_execution_row reads, in its order.
  static constexpr const char* kExecutionColumns =
      "SELECT instance_id, execution_id, status, output, error_json, started_at, completed_at, "
      "event_count, pinned_major, pinned_minor, pinned_patch FROM executions ";

  static std::vector<ExecutionInfo> list_executions(Connection& db, const std::string& instance) {
    Statement rows = db.prepare(
        std::string(kExecutionColumns) + "WHERE instance_id = ?1 ORDER BY execution_id");
    rows.bind(1, instance);
    std::vector<ExecutionInfo> out;
    while (rows.step()) out.push_back(read_execution_row(rows, db.operation()));
    return out;
  }

  static std::vector<ExecutionInfo> list_execution_page(Connection& db, const std::string& instance,
                                                        ExecutionId after, std::size_t limit) {
    if (limit == 0 || limit > kMaxExecutionPage) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                          "limit must be 1 to " + std::to_string(kMaxExecutionPage));
    }
    Statement rows = db.prepare(
        std::string(kExecutionColumns) + "WHERE instance_id = ?1 AND execution_id > ?2 ORDER BY execution_id LIMIT ?3");
    rows.bind(1, instance).bind(2, static_cast<std::int64_t>(after)).bind(3, static_cast<std::int64_t>(limit));
    std::vector<ExecutionInfo> out;
    while (rows.step()) out.push_back(read_execution_row(rows, db.operation()));
    return out;
  }

  static std::optional<ExecutionInfo> get_execution_info(Connection& db, const std::string& instance,
                                                         ExecutionId execution) {
    Statement row = db.prepare(
        std::string(kExecutionColumns) + "WHERE instance_id = ?1 AND execution_id = ?2");
    row.bind(1, instance).bind(2, static_cast<std::int64_t>(execution));
    if (!row.step()) return std::nullopt;
    return read_execution_row(row, db.operation());
  }

  // The events `query` selects, filtered and limited in SQL on the history's key
  // (instance, execution, event id); a row in the page that does not decode is Corrupted.
  static History read_events(Connection& db, const std::string& instance, ExecutionId execution,
                             const EventQuery& query) {
    FilterSql sql = event_query_sql(instance, execution, query, db.operation());
    require_execution(db, instance, execution);
    Statement rows = db.prepare_once(sql.where);
    sql.bind_all(rows);
    History history;
    while (rows.step()) {
      try {
        history.push_back(decode_event(rows.text(1)));
      } catch (const CodecError& error) {
        throw ProviderError(ProviderErrorKind::Corrupted, db.operation(),
                            "history row " + instance + "/" + std::to_string(execution) + "/" +
                                std::to_string(rows.integer(0)) + " does not decode: " + error.what());
      }
    }
    return history;
  }

  static void require_execution(Connection& db, const std::string& instance, ExecutionId execution) {
    Statement row = db.prepare("SELECT 1 FROM executions WHERE instance_id = ?1 AND execution_id = ?2");
    row.bind(1, instance).bind(2, static_cast<std::int64_t>(execution));
    if (!row.step()) {
      throw ProviderError(ProviderErrorKind::NotFound, db.operation(),
                          "instance " + instance + " has no execution " + std::to_string(execution));
    }
  }

  static History read_execution(Connection& db, const std::string& instance, ExecutionId execution) {
    return read_events(db, instance, execution, EventQuery{});
  }

  static SystemMetrics get_system_metrics(Connection& db) {
    SystemMetrics metrics;
    {
      // The trigger-kept counts (schema 6) and totals (Dialect::kExecutionTotalsSql): a
      // few rows whatever the store holds.
      Statement rows = db.prepare("SELECT status, CAST(SUM(count) AS BIGINT) FROM instance_counts GROUP BY status");
      while (rows.step()) {
        auto count = static_cast<std::uint64_t>(rows.integer(1));
        std::string status = rows.text(0);
        metrics.total_instances += count;
        if (status == "Running") metrics.running += count;
        if (status == "Completed") metrics.completed += count;
        if (status == "Failed") metrics.failed += count;
      }
    }
    Statement totals = db.prepare(Dialect::kExecutionTotalsSql);
    if (totals.step()) {
      metrics.total_executions = static_cast<std::uint64_t>(totals.integer(0));
      metrics.total_events = static_cast<std::uint64_t>(totals.integer(1));
    }
    return metrics;
  }

  // A page of sessions by id (the primary key), each with its queued items counted
  // through worker_queue_by_session.
  static std::vector<SessionInfo> list_sessions(Connection& db, const std::string& after, std::size_t limit,
                                                TimestampMs now) {
    Statement rows = db.prepare(
        "SELECT s.session_id, s.owner_id, " DUROXIDE_LOCK_EXPIRY("s.locked_until") ", s.claimed_at, "
        "(SELECT COUNT(*) FROM worker_queue q WHERE q.session_id = s.session_id) "
        "FROM sessions s WHERE s.session_id > ?1 ORDER BY s.session_id LIMIT ?2");
    rows.bind(1, after).bind(2, static_cast<std::int64_t>(limit));
    std::vector<SessionInfo> sessions;
    while (rows.step()) {
      SessionInfo info;
      info.session_id = rows.text(0);
      info.owner_id = rows.text(1);
      info.locked_until_ms = rows.integer(2);
      info.claimed_at_ms = rows.integer(3);
      info.held = info.locked_until_ms > now;
      info.queued_items = static_cast<std::uint64_t>(std::max<std::int64_t>(rows.integer(4), 0));
      sessions.push_back(std::move(info));
    }
    return sessions;
  }

  // A page of parked messages by id (the primary key).
  static std::vector<ParkedMessage> list_parked_messages(Connection& db, std::int64_t after_id, std::size_t limit) {
    Statement rows = db.prepare(
        "SELECT id, instance_id, reason, parked_at, item_json FROM parked_messages WHERE id > ?1 ORDER BY id LIMIT ?2");
    rows.bind(1, after_id).bind(2, static_cast<std::int64_t>(limit));
    std::vector<ParkedMessage> messages;
    while (rows.step()) {
      messages.push_back(ParkedMessage{rows.integer(0), rows.text(1), rows.text(2), rows.integer(3), rows.text(4)});
    }
    return messages;
  }

  // Deletes the parked messages with these ids in one statement (the list is one
  // parameter, Dialect::kIdListTable); returns how many there were.
  static std::uint64_t delete_parked_messages(Connection& db, const std::vector<std::int64_t>& ids) {
    if (ids.empty()) return 0;
    static const std::string sql =
        std::string("DELETE FROM parked_messages WHERE id IN (SELECT t.id FROM ") + Dialect::kIdListTable + ")";
    db.prepare(sql).bind(1, Dialect::id_list(ids)).run();
    return static_cast<std::uint64_t>(db.changes());
  }

#define DUROXIDE_WAITING_SINCE "CASE WHEN visible_at > enqueued_at THEN visible_at ELSE enqueued_at END"
  static QueueDepths get_queue_depths(Connection& db, TimestampMs now) {
    QueueDepths depths;
    read_orchestrator_depths(db, now, depths);
    read_worker_depths(db, now, depths);
    Statement parked = db.prepare("SELECT COUNT(*) FROM parked_messages");
    if (parked.step()) depths.parked = static_cast<std::uint64_t>(parked.integer(0));
    // The first visible message in queue order (ids grow with each enqueue), found by
    // walking the ids, not by reading every visible message for the smallest time. It has
    // waited since it was enqueued or fell due, whichever came later (a timer, a delayed
    // abandon). A worker item whose lock is held runs: it is not waiting.
    Statement oldest = db.prepare(std::string(
        "SELECT (SELECT " DUROXIDE_WAITING_SINCE " FROM orchestrator_queue WHERE ") + Dialect::kUnindexed +
        "visible_at <= CAST(?1 AS BIGINT) ORDER BY id LIMIT 1), "
        "       (SELECT " DUROXIDE_WAITING_SINCE " FROM worker_queue WHERE " + Dialect::kUnindexed +
        "visible_at <= ?1 AND (lock_token IS NULL OR " DUROXIDE_LOCK_EXPIRY("locked_until") " <= ?1) "
        "ORDER BY id LIMIT 1)");
    oldest.bind(1, now);
    if (oldest.step()) {
      // Enqueue times are outside data (a damaged file): the ages saturate, never overflow.
      if (!oldest.is_null(0)) depths.oldest_orchestrator_age_ms = saturating_sub(now, oldest.integer(0));
      if (!oldest.is_null(1)) depths.oldest_worker_age_ms = saturating_sub(now, oldest.integer(1));
    }
    return depths;
  }
#undef DUROXIDE_WAITING_SINCE

  static std::vector<OrchestrationStats> get_orchestration_stats(Connection& db, const std::string& name,
                                                                 const std::string& tenant) {
    std::map<std::string, OrchestrationStats> by_name;
    {
      // From the trigger-kept counts (schema 6); the continued executions below read
      // their own partial index (schema 9), so neither walks every instance.
      Statement rows = db.prepare(
          "SELECT orchestration_name, status, CAST(SUM(count) AS BIGINT) FROM instance_counts "
          "WHERE (CAST(?1 AS TEXT) = '' OR orchestration_name = ?1) AND (CAST(?2 AS TEXT) = '' OR tenant = ?2) "
          "GROUP BY orchestration_name, status HAVING SUM(count) > 0");
      rows.bind(1, name).bind(2, tenant);
      while (rows.step()) {
        OrchestrationStats& stats = by_name[rows.text(0)];
        stats.orchestration_name = rows.text(0);
        auto count = static_cast<std::uint64_t>(rows.integer(2));
        switch (parse_state(rows.text(1), db.operation())) {
          case RuntimeState::Running: stats.running += count; break;
          case RuntimeState::Completed: stats.completed += count; break;
          case RuntimeState::Failed: stats.failed += count; break;
          case RuntimeState::NotFound: break;
        }
      }
    }
    Statement continued = db.prepare(
        "SELECT i.orchestration_name, COUNT(*) FROM executions e "
        "JOIN instances i ON i.instance_id = e.instance_id "
        "WHERE e.status = 'ContinuedAsNew' AND (CAST(?1 AS TEXT) = '' OR i.orchestration_name = ?1) "
        "AND (CAST(?2 AS TEXT) = '' OR i.tenant = ?2) GROUP BY i.orchestration_name");
    continued.bind(1, name).bind(2, tenant);
    while (continued.step()) {
      by_name[continued.text(0)].continued = static_cast<std::uint64_t>(continued.integer(1));
    }
    std::vector<OrchestrationStats> out;
    for (auto& entry : by_name) out.push_back(entry.second);
    return out;
  }

  static std::vector<ActivityStats> get_activity_stats(Connection& db, const std::string& name,
                                                      const std::string& tenant) {
    Statement rows = db.prepare(
        std::string("SELECT activity_name, CAST(SUM(scheduled) AS BIGINT), CAST(SUM(completed) AS BIGINT), "
                    "  CAST(SUM(failed) AS BIGINT), CAST(SUM(total_duration_ms) AS BIGINT) FROM activity_stats "
                    "WHERE (CAST(?1 AS TEXT) = '' OR activity_name = ?1) AND (CAST(?2 AS TEXT) = '' OR tenant = ?2) "
                    "GROUP BY activity_name ORDER BY activity_name") +
        Dialect::kBytewise);
    rows.bind(1, name).bind(2, tenant);
    std::vector<ActivityStats> out;
    while (rows.step()) {
      ActivityStats stats;
      stats.activity_name = rows.text(0);
      stats.scheduled = static_cast<std::uint64_t>(rows.integer(1));
      stats.completed = static_cast<std::uint64_t>(rows.integer(2));
      stats.failed = static_cast<std::uint64_t>(rows.integer(3));
      std::uint64_t finished = stats.completed + stats.failed;
      if (finished > 0) {
        stats.failure_rate = static_cast<double>(stats.failed) / static_cast<double>(finished);
        stats.avg_duration_ms = rows.integer(4) / static_cast<std::int64_t>(finished);
      }
      out.push_back(std::move(stats));
    }
    return out;
  }

  static ChangePage changes_since(Connection& db, std::uint64_t cursor, std::size_t limit, const std::string& tenant) {
    if (limit == 0 || limit > kMaxPageSize) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                          "limit must be 1 to " + std::to_string(kMaxPageSize));
    }
    Statement rows = db.prepare(
        "SELECT seq, instance_id, status, execution_id, custom_status_version, changed_at, "
        "  created, orchestration_name, instance_created_at, finished_duration_ms, tenant "
        "FROM changes WHERE seq > ?1 " + std::string(tenant.empty() ? "" : "AND tenant = ?3 ") +
        "ORDER BY seq LIMIT ?2");
    rows.bind(1, static_cast<std::int64_t>(cursor)).bind(2, static_cast<std::int64_t>(limit));
    if (!tenant.empty()) rows.bind(3, tenant);
    ChangePage page;
    page.next_cursor = cursor;
    while (rows.step()) {
      page.changes.push_back(read_change_row(rows, db.operation()));
      page.next_cursor = page.changes.back().seq;
    }
    return page;
  }

  // The positions one trim covers, from the oldest.
  static constexpr std::size_t kTrimWindow = 1000;

  // Deletes the rows of `table` (ordered by its integer key `key`) whose `time` is before
  // `before`: those of the kTrimWindow key values from the first old row among the
  // kTrimWindow oldest, ranges of the primary key whatever the table holds. The window
  // starts at an old row, so old rows dated ahead of the clock (a node's clock ran
  // ahead) at the front do not hold it in place for ever. Returns how many it deleted
  // (kTrimWindow: the window was all old; more may be).
  static std::size_t trim_oldest(Connection& db, const char* table, const char* key, const char* time,
                                 TimestampMs before) {
    const std::string window = std::to_string(kTrimWindow);
    const std::string first_old = std::string("(SELECT MIN(head.") + key + ") FROM (SELECT " + key + ", " + time +
                                  " FROM " + table + " ORDER BY " + key + " LIMIT " + window + ") head WHERE head." +
                                  time + " < ?1)";
    db.prepare(std::string("DELETE FROM ") + table + " WHERE " + key + " >= " + first_old + " AND " + key + " < " +
               first_old + " + " + window + " AND " + time + " < ?1")
        .bind(1, before)
        .run();
    return static_cast<std::size_t>(db.changes());
  }

  // Deletes the change feed's oldest rows changed before `before` (trim_oldest).
  static std::size_t trim_changes(Connection& db, TimestampMs before) {
    return trim_oldest(db, "changes", "seq", "changed_at", before);
  }

  // Deletes the oldest parked messages parked before `before` (trim_oldest).
  static std::size_t trim_parked(Connection& db, TimestampMs before) {
    return trim_oldest(db, "parked_messages", "id", "parked_at", before);
  }

  // Reads the histogram rows of `name` from the hour holding `since_ms` (a range of the
  // primary key), summed per bucket in bucket order.
  static DurationStats get_execution_durations(Connection& db, const std::string& name, TimestampMs since_ms,
                                               const std::string& tenant) {
    Statement rows = db.prepare(
        "SELECT CAST(SUM(count) AS BIGINT), CAST(SUM(sum_ms) AS BIGINT), MIN(min_ms), MAX(max_ms) "
        "FROM execution_durations WHERE orchestration_name = ?1 AND started_hour >= ?2 "
        "AND (CAST(?3 AS TEXT) = '' OR tenant = ?3) GROUP BY bucket ORDER BY bucket");
    rows.bind(1, name).bind(2, store_sql::duration_hour(std::max<TimestampMs>(since_ms, 0))).bind(3, tenant);
    std::vector<DurationBucket> buckets;
    while (rows.step()) {
      buckets.push_back({static_cast<std::uint64_t>(rows.integer(0)), rows.integer(1), rows.integer(2),
                         rows.integer(3)});
    }
    return duration_stats(buckets);
  }

  // ---------------------------------------------------------------- deletion

  static DeleteResult delete_instance(Connection& db, const std::string& instance, bool force, TimestampMs now) {
    store_sql::check_identifier(instance, db.operation());
    Transaction transaction(db);
    std::optional<ProviderError> blocker = root_blocker(db, instance);
    if (blocker && blocker->kind() == ProviderErrorKind::NotFound) {
      // Known only by a queued start, perhaps fetched already: its lock is taken first, so
      // a first turn in flight either committed before (the instance then has a row, and
      // is deleted as any other) or finds no lock and fails instead of creating it.
      Dialect::lock_instance_for_delete(db, instance, now);
      blocker = root_blocker(db, instance);
      if (blocker && blocker->kind() == ProviderErrorKind::NotFound) {
        const DeleteResult queued = delete_queued_start(db, instance, force);
        if (queued.queue_items == 0) throw *blocker;
        transaction.commit();
        return queued;
      }
    }
    if (blocker) throw *blocker;
    // The tree read once: the running check (without force) and the instances to delete.
    const std::vector<TreeMember> tree = tree_members(db, instance);
    for (const TreeMember& member : tree) {
      if (!force && member.running) {
        throw ProviderError(ProviderErrorKind::Conflict, db.operation(),
                            "instance " + member.id + " is running; delete with force to remove it");
      }
    }
    // A forced delete may take running instances, which can still schedule children:
    // every history of the tree is searched for unstarted ones.
    std::vector<std::string> parents;
    for (const TreeMember& member : tree) parents.push_back(member.id);
    std::vector<TreeMember> deleted;
    DeleteResult result = delete_tree_rows(db, tree, parents, now, deleted);
    record_deletions(db, deleted, now);
    transaction.commit();
    return result;
  }

  // An instance known only by its queued start (no first turn of it has committed) is
  // deleted with force as a running one: its start and the messages queued for it go
  // (counted as queue items: it has no row, so no instance is counted), and it never
  // runs, even when a dispatcher has fetched it (its lock goes too). A child's queued
  // start goes only with its root. Nothing queued: {}.
  static DeleteResult delete_queued_start(Connection& db, const std::string& instance, bool force) {
    std::optional<std::string> parent;
    {
      Statement rows = db.prepare("SELECT item_json FROM orchestrator_queue WHERE instance_id = ?1 AND kind = ?2");
      rows.bind(1, instance).bind(2, to_string(WorkItemKind::StartOrchestration));
      if (!rows.step()) return {};
      std::optional<WorkItem> item;
      try {
        item = decode_work_item(rows.text(0));
      } catch (const CodecError&) {
      }
      const auto* start = item ? std::get_if<work::StartOrchestration>(&*item) : nullptr;
      if (start && !start->parent_instance.empty()) parent = start->parent_instance;
    }
    if (parent && instance_exists(db, *parent)) {
      throw ProviderError(ProviderErrorKind::Conflict, db.operation(),
                          "instance " + instance + " is a sub-orchestration of " + *parent +
                              " (its start is queued); delete its root instead");
    }
    if (!force) {
      throw ProviderError(ProviderErrorKind::Conflict, db.operation(),
                          "instance " + instance + " has not started yet (its start is queued); delete with force to "
                          "remove it");
    }
    Statement removal = db.prepare("DELETE FROM orchestrator_queue WHERE instance_id = ?1");
    removal.bind(1, instance);
    removal.run();
    DeleteResult result;
    result.queue_items = static_cast<std::uint64_t>(db.changes());
    // A fetch of the start holds this lock: its ack then fails with InvalidLock.
    db.prepare("DELETE FROM instance_locks WHERE instance_id = ?1").bind(1, instance).run();
    return result;
  }

  static bool instance_exists(Connection& db, const std::string& instance) {
    Statement row = db.prepare("SELECT 1 FROM instances WHERE instance_id = ?1");
    row.bind(1, instance);
    return row.step();
  }

  // The roots a filtered delete walks past beyond its limit (trees that still run) before it
  // stops with a continuation.
  static constexpr std::size_t kPurgeWalkSlack = 1000;

  static DeleteResult delete_instances(Connection& db, const BulkDeleteRequest& request, TimestampMs now) {
    if (request.limit == 0 || request.limit > BulkDeleteRequest::kMaxLimit) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                          "limit must be 1 to " + std::to_string(BulkDeleteRequest::kMaxLimit));
    }
    for (const auto& id : request.instances) store_sql::check_identifier(id, db.operation());
    const bool listed = !request.instances.empty();
    const std::size_t first_listed = listed ? listed_start(request.continuation, request.instances.size(), db.operation()) : 0;
    const std::optional<PurgeCursor> resume =
        listed ? std::nullopt : decode_purge_cursor(request.continuation, db.operation());
    if (resume) store_sql::check_identifier(resume->instance_id, db.operation());
    Transaction transaction(db);
    DeleteResult total;
    // Trees are gathered until the limit (a page at a time), then deleted together; the
    // change feed's rows of every page's deletions are written at the end.
    DeleteBatch batch;
    std::vector<TreeMember> deleted;
    auto full = [&] { return total.instances + batch.tree.size() >= request.limit; };
    auto flush = [&] {
      if (request.dry_run) {
        total.instances += batch.tree.size();
      } else {
        total += delete_tree_rows(db, batch.tree, batch.parents, now, deleted);
      }
      batch = {};
    };
    if (listed) {
      // The trees of the listed instances that may go (neither running, a child nor missing,
      // and finished before the cut-off when one is set), until the limit; ids left then are
      // where the next call goes on.
      std::size_t next = first_listed;
      for (; next < request.instances.size() && !full(); ++next) {
        const std::string& id = request.instances[next];
        if (root_blocker(db, id)) continue;
        if (request.completed_before_ms != 0 && !updated_before(db, id, request.completed_before_ms)) continue;
        add_finished_tree(db, id, batch);
      }
      flush();
      if (next < request.instances.size()) total.continuation = listed_continuation(next);
    } else {
      InstanceFilter finished = deletable_roots(request);
      if (finished.states.empty()) return {};  // the filter asked only for running instances
      std::optional<PurgeCursor> considered;  // the last root walked past or gathered
      // Roots whose trees still run add nothing and do not count toward the limit: the walk
      // past them is bounded too, so a call (one transaction) stays short however many wait.
      const std::size_t walk_limit = request.limit + kPurgeWalkSlack;
      std::size_t walked = 0;
      for_each_purge_page<Dialect>(
          finished, request.limit, resume, [&](const std::string& sql) { return db.prepare_once(sql); },
          [&](const std::vector<PurgeCursor>& page) {
            bool go_on = true;
            for (const PurgeCursor& root : page) {
              if (full() || walked == walk_limit) {
                go_on = false;
                break;
              }
              ++walked;
              considered = root;
              add_finished_tree(db, root.instance_id, batch);  // a root, by the filter
            }
            flush();
            return go_on;
          });
      const bool stopped = total.instances >= request.limit || walked == walk_limit;
      if (stopped && considered) total.continuation = encode_purge_cursor(*considered);
    }
    if (!request.dry_run) {
      record_deletions(db, deleted, now);
      transaction.commit();
    }
    return total;
  }

  static PruneResult prune_executions(Connection& db, const std::string& instance, const PruneOptions& options) {
    if (std::string problem = prune_options_problem(options); !problem.empty()) {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(), problem);
    }
    Transaction transaction(db);
    const std::int64_t current = current_execution(db, instance);
    // keep_last >= 1, so the current execution is never among them.
    const std::int64_t newest_removed =
        options.keep_last >= static_cast<std::size_t>(current) ? 0 : current - static_cast<std::int64_t>(options.keep_last);
    // ?3 = 0 takes every finished execution. ?3 is compared with completed_at first, so
    // PostgreSQL gives it that column's type (BIGINT), not the literal 0's.
    const std::string selected =
        "instance_id = ?1 AND execution_id <= ?2 AND status != 'Running' AND (completed_at < ?3 OR ?3 = 0)";
    auto bound = [&](Statement statement) {
      statement.bind(1, instance).bind(2, newest_removed).bind(3, options.completed_before_ms);
      return statement;
    };
    const std::string events = "FROM history WHERE instance_id = ?1 AND execution_id IN ("
                               "  SELECT execution_id FROM executions WHERE " + selected + ")";
    PruneResult result;
    if (options.dry_run) {
      Statement executions = bound(db.prepare("SELECT COUNT(*) FROM executions WHERE " + selected));
      if (executions.step()) result.executions = static_cast<std::uint64_t>(executions.integer(0));
      Statement history = bound(db.prepare("SELECT COUNT(*) " + events));
      if (history.step()) result.events = static_cast<std::uint64_t>(history.integer(0));
      return result;
    }
    bound(db.prepare("DELETE " + events)).run();
    result.events = static_cast<std::uint64_t>(db.changes());
    bound(db.prepare("DELETE FROM executions WHERE " + selected)).run();
    result.executions = static_cast<std::uint64_t>(db.changes());
    transaction.commit();
    return result;
  }

  // ---------------------------------------------------------------- export and import

  // Read in one snapshot: an ack committed meanwhile cannot leave the row, the histories,
  // the key-value store and the queued start disagreeing.
  static InstanceExport export_instance(Connection& db, const std::string& instance) {
    ReadSnapshot snapshot(db);
    InstanceExport out;
    auto info = get_instance_info(db, instance);
    if (!info) {
      throw ProviderError(ProviderErrorKind::NotFound, db.operation(), "instance " + instance + " does not exist");
    }
    out.info = *info;
    for (auto& execution : list_executions(db, instance)) {
      History history = read_execution(db, instance, execution.execution_id);
      out.executions.push_back({std::move(execution), std::move(history)});
    }
    out.kv = store_sql::read_kv_values(db, instance);
    out.next_start = queued_next_start(db, instance);
    // A finished instance's messages are left out: its import would drop them, as the runtime does.
    if (info->state == RuntimeState::Running) out.messages = queued_messages(db, instance);
    return out;
  }

  // The messages from outside waiting for `instance` (InstanceExport::messages), in queue
  // order; a row that does not decode, or more than InstanceExport::kMaxMessages, fails
  // the export rather than leave a message out of it.
  static std::vector<WorkItem> queued_messages(Connection& db, const std::string& instance) {
    Statement rows = db.prepare(
        "SELECT id, item_json FROM orchestrator_queue WHERE instance_id = ?1 AND kind IN (?2, ?3, ?4) ORDER BY id "
        "LIMIT ?5");
    rows.bind(1, instance)
        .bind(2, to_string(WorkItemKind::ExternalRaised))
        .bind(3, to_string(WorkItemKind::QueueMessage))
        .bind(4, to_string(WorkItemKind::CancelInstance))
        .bind(5, static_cast<std::int64_t>(InstanceExport::kMaxMessages + 1));
    std::vector<WorkItem> messages;
    while (rows.step()) {
      if (messages.size() == InstanceExport::kMaxMessages) {
        throw ProviderError(ProviderErrorKind::Conflict, db.operation(),
                            "instance " + instance + " has more than " + std::to_string(InstanceExport::kMaxMessages) +
                                " messages queued, more than an export carries: let the runtime take them first");
      }
      std::optional<WorkItem> item;
      try {
        item = decode_work_item(rows.text(1));
      } catch (const CodecError&) {
      }
      if (!item || !is_export_message(*item) || target_instance(*item) != instance) {
        throw ProviderError(ProviderErrorKind::Corrupted, db.operation(),
                            "the queued message " + std::to_string(rows.integer(0)) + " of instance " + instance +
                                " does not decode as the message its row's kind names");
      }
      messages.push_back(std::move(*item));
    }
    return messages;
  }

  // The start of `instance`'s next execution while it waits in the queue (its current
  // execution continued as new); a row that does not decode is Corrupted.
  static std::optional<work::ContinueAsNew> queued_next_start(Connection& db, const std::string& instance) {
    Statement row = db.prepare("SELECT item_json FROM orchestrator_queue WHERE instance_id = ?1 AND kind = ?2 ORDER BY id");
    row.bind(1, instance).bind(2, to_string(WorkItemKind::ContinueAsNew));
    if (!row.step()) return std::nullopt;
    try {
      WorkItem item = decode_work_item(row.text(0));
      if (auto* start = std::get_if<work::ContinueAsNew>(&item); start && start->instance == instance) return *start;
    } catch (const CodecError&) {
    }
    throw ProviderError(ProviderErrorKind::Corrupted, db.operation(),
                        "the queued start of instance " + instance + "'s next execution does not decode");
  }

  // A start accepted for the id and still queued holds it, as a start's own check counts it
  // (DUROXIDE_KNOWN_INSTANCE): an import over it would make that start a duplicate the
  // runtime drops. The one start allowed is the one the document's own parent queued for it
  // (a tree imported parent first); a queued start that does not decode holds the id too.
  static void check_no_other_start(Connection& db, const InstanceInfo& info) {
    Statement rows = db.prepare("SELECT item_json FROM orchestrator_queue WHERE instance_id = ?1 AND kind = ?2");
    rows.bind(1, info.instance).bind(2, to_string(WorkItemKind::StartOrchestration));
    while (rows.step()) {
      std::optional<WorkItem> item;
      try {
        item = decode_work_item(rows.text(0));
      } catch (const CodecError&) {
      }
      const auto* start = item ? std::get_if<work::StartOrchestration>(&*item) : nullptr;
      const bool from_parent = start && !info.parent_instance.empty() && start->parent_instance == info.parent_instance &&
                               start->parent_id == info.parent_id && start->tenant == info.tenant;
      if (!from_parent) {
        throw ProviderError(ProviderErrorKind::Conflict, db.operation(),
                            "instance " + info.instance + " already exists (its start is queued)");
      }
    }
  }

  static void import_instance(Connection& db, const InstanceExport& data, TimestampMs now) {
    const InstanceInfo& info = data.info;
    store_sql::check_identifier(info.instance, db.operation());
    Transaction transaction(db);
    // Kept apart from a start of the same id, as two starts are: a start in flight
    // commits first (then its queued start refuses the import) or sees the import.
    Dialect::serialize_start(db, info.instance);
    if (instance_exists(db, info.instance)) {
      throw ProviderError(ProviderErrorKind::Conflict, db.operation(), "instance " + info.instance + " already exists");
    }
    check_no_other_start(db, info);
    insert_instance_row(db, info, current_input(data), unconsumed_messages(data));
    if constexpr (Dialect::kWritersKeepInstanceCounts) {
      const store_sql::InstanceCountKey key{info.orchestration_name, info.orchestration_version,
                                            info.parent_instance.empty(), std::string(to_string(info.state)),
                                            info.tenant};
      store_sql::write_instance_count(db, key, 1);
    }
    // The lock that orders the writers of the shared rows and the change feed, before the
    // first of them, as an ack takes it (an import that took it after would deadlock one).
    Dialect::serialize_orchestration_acks(db);
    record_imported_metrics(db, info);
    for (const auto& execution : data.executions) {
      insert_execution(db, info.instance, execution);
      // A finished execution's duration counts where it happened, as its metrics do.
      const ExecutionInfo& e = execution.info;
      if (e.completed_at_ms != 0) {
        store_sql::record_execution_duration(db, info.orchestration_name, info.tenant, e.started_at_ms,
                                             saturating_sub(e.completed_at_ms, e.started_at_ms));
      }
    }
    store_sql::write_kv_values(db, info.instance, data.kv);
    for (const WorkItem& item : data.resume) queue_resumed_work(db, info.instance, item, now);
    record_imported_change(db, info, now);
    transaction.commit();
  }

  // Whether `item` is a child's report (SubOrchestrationCompleted or Failed) to or from
  // the imported `instance`.
  static bool concerns_import(const WorkItem& item, const std::string& instance) {
    if (const auto* done = std::get_if<work::SubOrchestrationCompleted>(&item)) {
      return done->parent_instance == instance || done->child_instance == instance;
    }
    if (const auto* failed = std::get_if<work::SubOrchestrationFailed>(&item)) {
      return failed->parent_instance == instance || failed->child_instance == instance;
    }
    return false;
  }

  // `item` (encoded as `json`) on the orchestrator queue of the instance it targets,
  // visible at `visible_at`.
  static void queue_for(Connection& db, const WorkItem& item, const std::string& json, TimestampMs visible_at,
                        TimestampMs now) {
    db.prepare(
          "INSERT INTO orchestrator_queue (instance_id, kind, item_json, visible_at, enqueued_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(1, target_instance(item))
        .bind(2, to_string(kind_of(item)))
        .bind(3, json)
        .bind(4, visible_at)
        .bind(5, now)
        .run();
  }

  // One item of an import's resume work (InstanceExport::resume), inside its transaction.
  static void queue_resumed_work(Connection& db, const std::string& instance, const WorkItem& item, TimestampMs now) {
    const std::string json = store_sql::encoded(db.operation(), [&] { return encode_work_item(item); });
    if (const auto* execute = std::get_if<work::ActivityExecute>(&item); execute && execute->instance == instance) {
      db.prepare(
            "INSERT INTO worker_queue (instance_id, execution_id, activity_id, item_json, visible_at, enqueued_at, tag, "
            "session_id) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)")
          .bind(1, instance)
          .bind(2, static_cast<std::int64_t>(execute->execution_id))
          .bind(3, static_cast<std::int64_t>(execute->id))
          .bind(4, json)
          .bind(5, now)
          .bind_optional(6, store_sql::worker_tag(*execute))
          .bind_optional(7, store_sql::worker_session(*execute))
          .run();
    } else if (const auto* timer = std::get_if<work::TimerFired>(&item); timer && timer->instance == instance) {
      queue_for(db, item, json, std::max(timer->fire_at_ms, now), now);
    } else if (concerns_import(item, instance)) {
      queue_for(db, item, json, now, now);  // the import's report to its parent, or its child's to it
    } else if (const auto* next = std::get_if<work::ContinueAsNew>(&item); next && next->instance == instance) {
      queue_for(db, item, json, now, now);
    } else if (is_export_message(item) && target_instance(item) == instance) {
      queue_for(db, item, json, now, now);  // InstanceExport::messages
    } else if (const auto* start = std::get_if<work::StartOrchestration>(&item);
               start && start->parent_instance == instance) {
      store_sql::check_identifier(start->instance, db.operation());
      db.prepare(
            "INSERT INTO orchestrator_queue (instance_id, kind, item_json, visible_at, enqueued_at) "
            "SELECT ?1, ?2, CAST(?3 AS TEXT), CAST(?4 AS BIGINT), CAST(?4 AS BIGINT) WHERE NOT EXISTS (SELECT 1 FROM instances WHERE instance_id = ?1) "
            "AND NOT EXISTS (SELECT 1 FROM orchestrator_queue WHERE instance_id = ?1 AND kind = ?2)")
          .bind(1, start->instance)
          .bind(2, to_string(WorkItemKind::StartOrchestration))
          .bind(3, json)
          .bind(4, now)
          .run();
    } else {
      throw ProviderError(ProviderErrorKind::InvalidInput, db.operation(),
                          "an import resumes its own timers, activities, next execution's start, messages "
                          "and its children's starts, not a " +
                              std::string(to_string(kind_of(item))) + " for " + target_instance(item));
    }
  }

  // ---------------------------------------------------------------- time series, custom status

  static std::vector<TimeSeriesPoint> get_time_series(Connection& db, const TimeSeriesQuery& query) {
    const std::int64_t width = query.bucket == TimeSeriesQuery::Bucket::Hour ? 3'600'000 : 60'000;
    check_time_series_query(query, width, db.operation());
    const std::int64_t from = (query.from_ms / width) * width;
    const std::int64_t to = end_bucket(query.to_ms, width) * width;  // checked above: fits
    // Hour buckets sum the rolled-up hour rows and the minutes not yet rolled up.
    std::string sql =
        "SELECT (bucket_start / CAST(?3 AS BIGINT)) * CAST(?3 AS BIGINT) AS b, " DUROXIDE_METRIC_SUMS " "
        "FROM metric_buckets WHERE bucket_start >= ?1 AND bucket_start < ?2 ";
    // Spelled out so the primary key (resolution, bucket_start, ...) serves the range.
    sql += query.bucket == TimeSeriesQuery::Bucket::Minute ? "AND resolution = 'minute' "
                                                            : "AND resolution IN ('hour', 'minute') ";
    if (!query.orchestration.empty()) sql += "AND orchestration_name = ?4 ";
    // Every placeholder is used (PostgreSQL must type each): the tenant's number follows.
    const int tenant_parameter = query.orchestration.empty() ? 4 : 5;
    if (!query.tenant.empty()) sql += "AND tenant = ?" + std::to_string(tenant_parameter) + " ";
    sql += "GROUP BY b ORDER BY b";
    Statement rows = db.prepare(sql);
    rows.bind(1, from).bind(2, to).bind(3, width);
    if (!query.orchestration.empty()) rows.bind(4, query.orchestration);
    if (!query.tenant.empty()) rows.bind(tenant_parameter, query.tenant);
    std::vector<TimeSeriesPoint> points;
    while (rows.step()) points.push_back(read_time_series_row(rows));
    return points;
  }

  // The row's tenant, or (no row yet) the queued start's; one statement, as known_instance.
  static std::optional<std::string> get_instance_tenant(Connection& db, const std::string& instance) {
    Statement row = db.prepare(
        "SELECT tenant, NULL, 0 FROM instances WHERE instance_id = ?1 "
        "UNION ALL SELECT NULL, item_json, 1 FROM orchestrator_queue WHERE instance_id = ?1 AND kind = ?2 "
        "ORDER BY 3 LIMIT 1");
    row.bind(1, instance).bind(2, to_string(WorkItemKind::StartOrchestration));
    if (!row.step()) return std::nullopt;
    if (!row.is_null(0)) return row.text(0);
    try {
      WorkItem start = decode_work_item(row.text(1));
      if (const auto* found = std::get_if<work::StartOrchestration>(&start)) return found->tenant;
    } catch (const CodecError& error) {
      throw ProviderError(ProviderErrorKind::Corrupted, db.operation(),
                          std::string("the queued start does not decode: ") + error.what());
    }
    return std::string();
  }

  // The kept value is a cache of what the history says: one that does not decode is
  // not kept (the caller folds the history) rather than an error.
  static std::optional<PendingSnapshot> get_pending_work(Connection& db, const std::string& instance) {
    Statement row = db.prepare("SELECT pending_json FROM instances WHERE instance_id = ?1 AND status = 'Running'");
    row.bind(1, instance);
    if (!row.step() || row.is_null(0)) return std::nullopt;
    try {
      return decode_pending_snapshot(row.text(0));
    } catch (const CodecError&) {
      return std::nullopt;
    }
  }

  static std::optional<InstanceStats> get_instance_stats(Connection& db, const std::string& instance) {
    return read_instance_stats(db, instance);
  }

  static std::optional<CustomStatus> get_custom_status(Connection& db, const std::string& instance,
                                                       std::optional<std::uint64_t> since_version) {
    Statement row =
        db.prepare("SELECT custom_status, custom_status_version FROM instances WHERE instance_id = ?1");
    row.bind(1, instance);
    if (!row.step()) return std::nullopt;
    CustomStatus status{row.optional_text(0), static_cast<std::uint64_t>(row.integer(1))};
    if (since_version && status.version <= *since_version) return std::nullopt;
    return status;
  }

 private:
  static constexpr const char* kInstanceInfoSql =
      "SELECT instance_id, orchestration_name, orchestration_version, current_execution_id, status, "
      "output, error_json, custom_status, custom_status_version, parent_instance_id, parent_id, "
      "created_at, updated_at, "
      "(SELECT COUNT(*) FROM executions e WHERE e.instance_id = instances.instance_id), tenant "
      "FROM instances WHERE instance_id = ?1";

  // Queue depths are counted without a pass over every queued message: the total
  // (SQLite counts a table without reading its rows), the delayed ones along the
  // visible_at index, and the locked ones from the live locks (few) inward; visible
  // is what remains. Each statement reads one snapshot, so the parts add up.
  static void read_orchestrator_depths(Connection& db, TimestampMs now, QueueDepths& depths) {
    Statement row = db.prepare(
        "SELECT (SELECT COUNT(*) FROM orchestrator_queue), "
        "  (SELECT COUNT(*) FROM orchestrator_queue WHERE visible_at > CAST(?1 AS BIGINT)), "
        "  (SELECT COUNT(*) FROM instance_locks l CROSS JOIN orchestrator_queue q "
        "   WHERE " DUROXIDE_LOCK_EXPIRY("l.locked_until") " > ?1 AND q.instance_id = l.instance_id AND q.visible_at <= ?1)");
    row.bind(1, now);
    if (row.step()) {
      const std::uint64_t total = static_cast<std::uint64_t>(row.integer(0));
      depths.orchestrator_delayed = static_cast<std::uint64_t>(row.integer(1));
      depths.orchestrator_locked = static_cast<std::uint64_t>(row.integer(2));
      // Disjoint parts of the queue in a sound file; a damaged one (an index that lost
      // or doubled rows, two lock rows for one instance) can make them overlap.
      if (depths.orchestrator_delayed + depths.orchestrator_locked > total) {
        throw ProviderError(ProviderErrorKind::Corrupted, db.operation(),
                            "the orchestrator queue holds " + std::to_string(total) + " messages but " +
                                std::to_string(depths.orchestrator_delayed) + " delayed and " +
                                std::to_string(depths.orchestrator_locked) + " locked");
      }
      depths.orchestrator_visible = total - depths.orchestrator_delayed - depths.orchestrator_locked;
    }
    // Along the timers' own index (schema 14): only timer rows are read.
    Statement timers = db.prepare(
        "SELECT COALESCE(SUM(CASE WHEN visible_at <= CAST(?1 AS BIGINT) THEN 1 ELSE 0 END), 0), "
        "  COALESCE(SUM(CASE WHEN visible_at > ?1 THEN 1 ELSE 0 END), 0) "
        "FROM orchestrator_queue WHERE kind = 'TimerFired'");
    timers.bind(1, now);
    if (timers.step()) {
      depths.timers_due = static_cast<std::uint64_t>(timers.integer(0));
      depths.timers_pending = static_cast<std::uint64_t>(timers.integer(1));
    }
  }

  // Visible: due and not under a live lock. Locked: under a live lock, due or not.
  // The locked rows are read along the token index: `lock_token >= ''` is "not NULL" for
  // text tokens, a range of that index on both stores (on SQLite the index holds the
  // locked rows only, schema 21).
  static void read_worker_depths(Connection& db, TimestampMs now, QueueDepths& depths) {
    Statement row = db.prepare(
        "SELECT (SELECT COUNT(*) FROM worker_queue), "
        "  (SELECT COUNT(*) FROM worker_queue WHERE visible_at > CAST(?1 AS BIGINT)), "
        "  (SELECT COUNT(*) FROM worker_queue WHERE lock_token >= '' AND " DUROXIDE_LOCK_EXPIRY("locked_until") " > ?1), "
        "  (SELECT COUNT(*) FROM worker_queue WHERE lock_token >= '' AND " DUROXIDE_LOCK_EXPIRY("locked_until") " > ?1 "
        "   AND visible_at > ?1)");
    row.bind(1, now);
    if (row.step()) {
      const std::uint64_t total = static_cast<std::uint64_t>(row.integer(0));
      const std::uint64_t delayed = static_cast<std::uint64_t>(row.integer(1));
      depths.worker_locked = static_cast<std::uint64_t>(row.integer(2));
      const std::uint64_t locked_and_delayed = static_cast<std::uint64_t>(row.integer(3));
      // The parts add up in a sound file; a damaged index can make them disagree.
      if (delayed + depths.worker_locked > total + locked_and_delayed) {
        throw ProviderError(ProviderErrorKind::Corrupted, db.operation(),
                            "the worker queue holds " + std::to_string(total) + " items but " +
                                std::to_string(delayed) + " delayed and " + std::to_string(depths.worker_locked) +
                                " locked (" + std::to_string(locked_and_delayed) + " both)");
      }
      depths.worker_visible = total + locked_and_delayed - delayed - depths.worker_locked;
    }
  }

  static InstanceChange read_change_row(Statement& rows, const std::string& operation) {
    InstanceChange change;
    change.seq = static_cast<std::uint64_t>(rows.integer(0));
    change.instance = rows.text(1);
    std::string status = rows.text(2);
    change.deleted = status == "Deleted";
    change.state = change.deleted ? RuntimeState::NotFound : parse_state(status, operation);
    change.execution_id = static_cast<ExecutionId>(rows.integer(3));
    change.custom_status_version = static_cast<std::uint64_t>(rows.integer(4));
    change.changed_at_ms = rows.integer(5);
    change.created = rows.integer(6) != 0;
    change.orchestration_name = rows.text(7);
    if (!rows.is_null(8)) change.instance_created_at_ms = rows.integer(8);
    if (!rows.is_null(9)) change.finished_duration_ms = rows.integer(9);
    change.tenant = rows.text(10);
    return change;
  }

  static TimeSeriesPoint read_time_series_row(Statement& rows) {
    TimeSeriesPoint point;
    point.bucket_start_ms = rows.integer(0);
    point.starts = static_cast<std::uint64_t>(rows.integer(1));
    point.completions = static_cast<std::uint64_t>(rows.integer(2));
    point.failures = static_cast<std::uint64_t>(rows.integer(3));
    point.duration_sum_ms = rows.integer(4);
    point.duration_count = static_cast<std::uint64_t>(rows.integer(5));
    for (std::size_t i = 0; i < kDurationBuckets; ++i) {
      point.duration_histogram[i] = static_cast<std::uint64_t>(rows.integer(static_cast<int>(6 + i)));
    }
    return point;
  }

  // The number of the bucket a window ending at `to_ms` (0 or more) ends before, rounded up.
  static std::int64_t end_bucket(std::int64_t to_ms, std::int64_t width) {
    return to_ms / width + (to_ms % width != 0 ? 1 : 0);
  }

  static void check_time_series_query(const TimeSeriesQuery& query, std::int64_t width,
                                      const std::string& operation) {
    if (query.from_ms < 0 || query.to_ms <= query.from_ms) {
      throw ProviderError(ProviderErrorKind::InvalidInput, operation, "the window needs 0 <= from < to");
    }
    if (query.orchestration.size() > limits::kMaxNameBytes) {
      throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                          "orchestration name longer than " + std::to_string(limits::kMaxNameBytes) + " bytes");
    }
    // In bucket numbers, rounded out: a window ending near INT64_MAX must not overflow.
    const std::int64_t from = query.from_ms / width;
    const std::int64_t to = end_bucket(query.to_ms, width);
    if (to > INT64_MAX / width) {
      throw ProviderError(ProviderErrorKind::InvalidInput, operation, "the window ends past the last bucket");
    }
    if (to - from > static_cast<std::int64_t>(kMaxTimeSeriesBuckets)) {
      throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                          "the window spans more than " + std::to_string(kMaxTimeSeriesBuckets) + " buckets");
    }
  }

  // The bulk deletes gather whole trees (each root first) and delete them together.
  struct DeleteBatch {
    std::vector<TreeMember> tree;
    std::vector<std::string> parents;  // those of `tree` whose history schedules children
    std::set<std::string> roots;       // a root listed twice is gathered once
  };

  // The bulk deletes' tree walk: adds the tree of `root` to `batch` when nothing in it
  // runs, read once with what each instance's history schedules; false (nothing added)
  // when an instance of the tree runs or the root is gone. A finished tree schedules no
  // more children, so only the instances whose history scheduled one are searched for
  // unstarted children.
  static bool add_finished_tree(Connection& db, const std::string& root, DeleteBatch& batch) {
    if (batch.roots.count(root) != 0) return false;
    const std::vector<TreeMember> members = tree_members(db, root);
    for (const TreeMember& member : members) {
      if (member.running) return false;
    }
    for (const TreeMember& member : members) {
      batch.tree.push_back(member);
      if (member.schedules_children) batch.parents.push_back(member.id);
    }
    batch.roots.insert(root);
    return !members.empty();
  }

  // Deletes the instances of `tree` and the children the histories of `parents` scheduled
  // that the tree does not hold, inside the caller's transaction. Before anything is
  // deleted each instance of the tree (and each such child) is locked against other
  // writers (Dialect::lock_instance_for_delete); the children are read once the tree's
  // locks are held, so a racing ack that scheduled a child has committed.
  // The change feed's rows are the caller's (record_deletions, once the transaction takes
  // no more instance locks): the instances of `tree` this transaction removes are added to
  // `deleted` (one a concurrent delete removed while this one waited for its lock is not).
  static DeleteResult delete_tree_rows(Connection& db, const std::vector<TreeMember>& tree,
                                       const std::vector<std::string>& parents, TimestampMs now,
                                       std::vector<TreeMember>& deleted) {
    DeleteResult result;
    for (const TreeMember& member : tree) Dialect::lock_instance_for_delete(db, member.id, now);
    std::vector<std::string> ids;
    for (const TreeMember& member : tree) ids.push_back(member.id);
    std::vector<std::string> doomed = children_outside_tree(db, ids, parents, now);
    const std::map<std::string, std::string> present = existing_instances(db, ids);
    for (const TreeMember& member : tree) {
      if (present.count(member.id) != 0) deleted.push_back(member);
    }
    // A child whose first turn committed after the tree was read (PostgreSQL) has a row:
    // its deletion is told in the change feed as the tree's are.
    for (const auto& [id, tenant] : existing_instances(db, doomed)) deleted.push_back({id, false, false, tenant});
    doomed.insert(doomed.end(), ids.begin(), ids.end());
    delete_instance_rows<Dialect>(db, doomed, result);
    return result;
  }

  // The children the histories of `parents` scheduled that `tree` does not hold, each locked
  // (Dialect::lock_instance_for_delete) before its own history is searched in turn: a child
  // whose start was queued, and one whose first turn committed after the tree was read (on
  // PostgreSQL, while the delete waited for a lock), with the children its turns scheduled.
  static std::vector<std::string> children_outside_tree(Connection& db, const std::vector<std::string>& tree,
                                                        std::vector<std::string> parents, TimestampMs now) {
    std::set<std::string> family(tree.begin(), tree.end());
    std::vector<std::string> outside;
    while (!parents.empty()) {
      std::vector<std::string> found;
      for (const std::string& child : scheduled_children(db, parents)) {
        if (family.count(child) != 0 || !child_of(db, child, family)) continue;
        family.insert(child);
        Dialect::lock_instance_for_delete(db, child, now);
        found.push_back(child);
      }
      outside.insert(outside.end(), found.begin(), found.end());
      parents = std::move(found);
    }
    return outside;
  }

  // The change feed's rows for the deletions of `deleted`, each under its tenant, at the
  // end of the deleting transaction and under the lock that orders the feed's writers
  // (Dialect::serialize_orchestration_acks), so that their numbers commit in order with
  // everyone else's and a reader never passes one committed later. Taken after every
  // instance lock of the transaction, as an ack takes it after its own: holding it, the
  // delete waits for no instance an ack could hold (the count triggers run at COMMIT).
  static void record_deletions(Connection& db, const std::vector<TreeMember>& deleted, TimestampMs now) {
    if (deleted.empty()) return;
    Dialect::serialize_orchestration_acks(db);
    // Deferred: on PostgreSQL they travel with the COMMIT, not a round trip each under the lock.
    for (const TreeMember& member : deleted) {
      db.prepare(
            "INSERT INTO changes (instance_id, status, execution_id, custom_status_version, changed_at, "
            "  created, orchestration_name, tenant) VALUES (?1, 'Deleted', 0, 0, ?2, 0, '', ?3)")
          .bind(1, member.id)
          .bind(2, now)
          .bind(3, member.tenant)
          .defer();
    }
  }

  static std::int64_t current_execution(Connection& db, const std::string& instance) {
    Statement row = db.prepare("SELECT current_execution_id FROM instances WHERE instance_id = ?1");
    row.bind(1, instance);
    if (!row.step()) {
      throw ProviderError(ProviderErrorKind::NotFound, db.operation(), "instance " + instance + " does not exist");
    }
    return row.integer(0);
  }

  static std::optional<std::string> error_json(const std::optional<ErrorDetails>& error) {
    if (!error) return std::nullopt;
    return encode_error_details(*error);
  }

  // The input of an export's current execution (its first event), for the search column.
  static std::optional<std::string> current_input(const InstanceExport& data) {
    for (const auto& execution : data.executions) {
      if (execution.info.execution_id != data.info.current_execution_id || execution.history.empty()) continue;
      if (const auto* started = execution.history.front().template as<events::OrchestrationStarted>()) {
        return started->input;
      }
    }
    return std::nullopt;
  }

  // What a running instance's current execution has received and no wait has taken
  // (InstanceStats::carry_forward_count), as the acks keep it: folded from its history.
  static std::uint64_t unconsumed_messages(const InstanceExport& data) {
    if (data.info.state != RuntimeState::Running) return 0;
    for (const auto& execution : data.executions) {
      if (execution.info.execution_id != data.info.current_execution_id) continue;
      return fold_history(execution.history, execution.history.size()).carry_forward_count;
    }
    return 0;
  }

  static void insert_instance_row(Connection& db, const InstanceInfo& info, const std::optional<std::string>& input,
                                  std::uint64_t unconsumed) {
    db.prepare(
          "INSERT INTO instances (instance_id, orchestration_name, orchestration_version, "
          "  current_execution_id, status, output, error_json, custom_status, "
          "  custom_status_version, parent_instance_id, parent_id, created_at, updated_at, input, tenant, "
          "  unconsumed_messages) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, CAST(?16 AS BIGINT))")
        .bind(1, info.instance)
        .bind(2, info.orchestration_name)
        .bind(3, info.orchestration_version)
        .bind(4, static_cast<std::int64_t>(info.current_execution_id))
        .bind(5, to_string(info.state))
        .bind_optional(6, info.state == RuntimeState::Completed ? std::optional<std::string>(info.output)
                                                                 : std::nullopt)
        .bind_optional(7, error_json(info.error))
        .bind_optional(8, info.custom_status)
        .bind(9, static_cast<std::int64_t>(info.custom_status_version))
        .bind_optional(10, info.parent_instance.empty() ? std::nullopt
                                                        : std::optional<std::string>(info.parent_instance))
        .bind(11, static_cast<std::int64_t>(info.parent_id))
        .bind(12, info.created_at_ms)
        .bind(13, info.updated_at_ms)
        .bind_optional(14, input)
        .bind(15, info.tenant)
        .bind(16, static_cast<std::int64_t>(unconsumed))
        .run();
  }

  // What an imported instance's finish counts (nothing when it runs): a completion or a
  // failure, and its duration.
  static store_sql::MetricDelta imported_finish(const InstanceInfo& info) {
    store_sql::MetricDelta finished;
    if (info.state == RuntimeState::Completed || info.state == RuntimeState::Failed) {
      (info.state == RuntimeState::Completed ? finished.completions : finished.failures) = 1;
      finished.duration_ms = saturating_sub(info.updated_at_ms, info.created_at_ms);
    }
    return finished;
  }

  // An imported instance counts where it happened: a start at its creation and,
  // when finished, a completion or failure at its last update.
  static void record_imported_metrics(Connection& db, const InstanceInfo& info) {
    store_sql::MetricDelta started;
    started.starts = 1;
    store_sql::record_metrics(db, info.orchestration_name, info.tenant, info.created_at_ms, started);
    const store_sql::MetricDelta finished = imported_finish(info);
    if (finished.duration_ms) {
      store_sql::record_metrics(db, info.orchestration_name, info.tenant, info.updated_at_ms, finished);
    }
  }

  // The change feed's row of an import: a start and, when finished, a finish.
  static void record_imported_change(Connection& db, const InstanceInfo& info, TimestampMs now) {
    store_sql::MetricDelta both = imported_finish(info);
    both.starts = 1;
    both.created_at = info.created_at_ms;
    store_sql::record_change(db, info.instance, std::string(to_string(info.state)),
                             static_cast<std::int64_t>(info.current_execution_id),
                             static_cast<std::int64_t>(info.custom_status_version), now, info.tenant, both,
                             info.orchestration_name);
  }

  static void insert_execution(Connection& db, const std::string& instance, const ExecutionExport& execution) {
    const ExecutionInfo& e = execution.info;
    std::string status = e.continued_as_new ? std::string("ContinuedAsNew") : std::string(to_string(e.state));
    // The pinned version is the history's: what its OrchestrationStarted names.
    std::optional<SemVer> pinned;
    if (!execution.history.empty()) {
      if (const auto* started = execution.history.front().as<events::OrchestrationStarted>()) {
        pinned = SemVer::parse(started->duroxide_version);
      }
    }
    Statement insert = db.prepare(
        "INSERT INTO executions (instance_id, execution_id, status, output, error_json, "
        "  started_at, completed_at, event_count, pinned_major, pinned_minor, pinned_patch) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    insert.bind(1, instance)
        .bind(2, static_cast<std::int64_t>(e.execution_id))
        .bind(3, status)
        .bind_optional(4, e.state == RuntimeState::Completed ? std::optional<std::string>(e.output)
                                                              : std::nullopt)
        .bind_optional(5, error_json(e.error))
        .bind(6, e.started_at_ms)
        .bind(8, static_cast<std::int64_t>(execution.history.size()));
    if (e.completed_at_ms != 0) insert.bind(7, e.completed_at_ms);  // unbound: NULL
    store_sql::bind_pinned_version(insert, 9, pinned);
    insert.run();
    for (const Event& event : execution.history) {
      store_sql::history_row(db, instance, e.execution_id, event, encode_event(event)).run();
    }
  }
};

}  // namespace duroxide::management_sql
