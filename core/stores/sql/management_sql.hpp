// The management SQL of both stores (used by management_core.hpp): listing and
// count queries, row readers, and the
// deletion of an instance tree. The same statements run on both stores.
// PostgreSQL's text columns are COLLATE "C", so ORDER BY and ranges on ids are
// bytewise on both stores; its connection rewrites the "?N" placeholders to "$N".
// Templates over the store's Statement type (the two have the same interface).
// Not a public header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "duroxide/assert.hpp"
#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/saturating.hpp"
#include "duroxide/management_provider.hpp"
#include "duroxide/provider.hpp"
#include "duroxide/text.hpp"
#include "store_sql.hpp"

namespace duroxide::management_sql {

constexpr std::size_t kMaxPageSize = 1000;

// The execution count is a per-row primary-key range count, not a history read.
constexpr const char* kInstanceColumns =
    "instance_id, orchestration_name, orchestration_version, current_execution_id, status, "
    "output, error_json, custom_status, custom_status_version, parent_instance_id, parent_id, "
    "created_at, updated_at, "
    "(SELECT COUNT(*) FROM executions e WHERE e.instance_id = instances.instance_id), tenant";

template <typename Row>
std::optional<ErrorDetails> decode_error_column(const Row& row, int column,
                                                const std::string& operation) {
  auto json = row.optional_text(column);
  if (!json) return std::nullopt;
  try {
    return decode_error_details(*json);
  } catch (const CodecError& error) {
    throw ProviderError(ProviderErrorKind::Corrupted, operation,
                        std::string("stored error details do not decode: ") + error.what());
  }
}

inline RuntimeState parse_state(const std::string& text, const std::string& operation) {
  RuntimeState state{};
  if (text == "ContinuedAsNew") return RuntimeState::Completed;
  if (!parse_runtime_state(text, state)) {
    throw ProviderError(ProviderErrorKind::Corrupted, operation, "unknown status \"" + text + "\"");
  }
  return state;
}

// The pinned version in columns first..first+2 (executions.pinned_*): nullopt when the
// major is NULL. Outside data: a component NULL or outside 0..999,999,999 (what
// SemVer::parse reads) is Corrupted.
template <typename Row>
std::optional<SemVer> read_pinned_version(const Row& row, int first, const std::string& operation) {
  if (row.is_null(first)) return std::nullopt;
  std::uint32_t parts[3] = {};
  for (int k = 0; k < 3; ++k) {
    const std::int64_t value = row.is_null(first + k) ? -1 : row.integer(first + k);
    if (value < 0 || value > 999'999'999) {
      throw ProviderError(ProviderErrorKind::Corrupted, operation,
                          "an execution's pinned version has a component that is NULL or outside 0..999999999");
    }
    parts[k] = static_cast<std::uint32_t>(value);
  }
  return SemVer{parts[0], parts[1], parts[2]};
}

template <typename Row>
InstanceInfo read_instance_row(const Row& row, const std::string& operation) {
  InstanceInfo info;
  info.instance = row.text(0);
  info.orchestration_name = row.text(1);
  info.orchestration_version = row.text(2);
  info.current_execution_id = static_cast<ExecutionId>(row.integer(3));
  info.state = parse_state(row.text(4), operation);
  info.output = row.optional_text(5).value_or("");
  info.error = decode_error_column(row, 6, operation);
  info.custom_status = row.optional_text(7);
  info.custom_status_version = static_cast<std::uint64_t>(row.integer(8));
  info.parent_instance = row.optional_text(9).value_or("");
  info.parent_id = static_cast<EventId>(row.integer(10));
  info.created_at_ms = row.integer(11);
  info.updated_at_ms = row.integer(12);
  info.execution_count = static_cast<std::uint64_t>(row.integer(13));
  info.tenant = row.text(14);
  return info;
}

template <typename Row>
ExecutionInfo read_execution_row(const Row& row, const std::string& operation) {
  ExecutionInfo info;
  info.instance = row.text(0);
  info.execution_id = static_cast<ExecutionId>(row.integer(1));
  std::string status = row.text(2);
  info.state = parse_state(status, operation);
  info.continued_as_new = status == "ContinuedAsNew";
  info.output = row.optional_text(3).value_or("");
  info.error = decode_error_column(row, 4, operation);
  info.started_at_ms = row.integer(5);
  info.completed_at_ms = row.is_null(6) ? 0 : row.integer(6);
  info.event_count = static_cast<std::uint64_t>(row.integer(7));
  info.pinned_version = read_pinned_version(row, 8, operation);
  return info;
}

// WHERE clause and its bound values for a filter; placeholders are numbered
// from 1 in the order of `values`, and every value is referenced by the SQL
// (PostgreSQL rejects a parameter it cannot type).
struct FilterSql {
  std::string where;  // the WHERE clause; the whole statement once a query is built from it
  std::vector<std::variant<std::string, std::int64_t>> values;  // bound in order as ?1, ?2, ...

  template <typename Statement>
  void bind_all(Statement& statement) const {
    int index = 1;
    for (const auto& value : values) {
      std::visit([&](const auto& v) { statement.bind(index++, v); }, value);
    }
  }
};

// `unindexed` prefixes the column of every equality condition, and `unindexed_time`
// the creation-time or update-time range named by `unindexed_range`: the dialect's way
// to keep the planner off those columns' indexes (Dialect::kUnindexed), for a query
// that must walk another index in order.
enum class TimeRange { None, Created, Updated, Both };

// `text` as it appears inside a JSON string (nlohmann's escaping, which the stores write).
inline std::string json_string_body(const std::string& text) {
  const std::string quoted = nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return quoted.substr(1, quoted.size() - 2);
}

// A filter's own limits; InvalidInput naming the field otherwise.
inline void check_filter(const InstanceFilter& filter, const std::string& operation) {
  if (filter.contains.size() > kMaxContainsBytes || !valid_utf8(filter.contains)) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        "the search text must be at most " + std::to_string(kMaxContainsBytes) + " bytes of UTF-8");
  }
  if (filter.tenant.size() > limits::kMaxIdentifierBytes || !valid_utf8(filter.tenant)) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        "the tenant must be at most " + std::to_string(limits::kMaxIdentifierBytes) +
                            " bytes of UTF-8");
  }
}

// InstanceFilter::ready_work_before_ms, the time bound as the placeholder `before`: the
// instances named by an orchestrator message visible since before then, or by an activity
// visible since before then whose lock, if any, expired before then (a lock's expiry read
// as the fetch reads it: DUROXIDE_LOCK_EXPIRY).
inline std::string ready_work_condition(const std::string& before) {
  return "instance_id IN (SELECT instance_id FROM orchestrator_queue WHERE visible_at < " + before +
         " UNION ALL SELECT instance_id FROM worker_queue WHERE visible_at < " + before +
         " AND (lock_token IS NULL OR " DUROXIDE_LOCK_EXPIRY("locked_until") " < " + before + "))";
}

// InstanceFilter::contains, the text and its JSON-escaped form as placeholders: a
// byte-exact, case-sensitive search (unlike LIKE) that reads each value without copying
// it (unlike replace()). The error is stored as JSON: its message is searched for as the
// JSON text writes it.
template <typename Dialect>
std::string contains_condition(const std::string& text, const std::string& in_json) {
  const std::string position = Dialect::kSubstringPosition;
  std::string any;
  for (const char* column : {"input", "output", "custom_status"}) {
    any += std::string(any.empty() ? "" : " OR ") + position + "(" + column + ", " + text + ") > 0";
  }
  return "(" + any + " OR " + position + "(error_json, " + in_json + ") > 0)";
}

// The conditions of `filter`, with Dialect's substring search (kSubstringPosition).
template <typename Dialect>
FilterSql filter_sql(const InstanceFilter& filter, const char* unindexed = "",
                     TimeRange unindexed_range = TimeRange::None, const char* unindexed_time = "") {
  FilterSql out;
  // Work ready since a time is found through the queues' visibility indexes: every
  // other condition is kept off its index, so the planner starts from those rows.
  const bool by_ready_work = filter.ready_work_before_ms != 0;
  if (by_ready_work) {
    unindexed = unindexed_time = Dialect::kUnindexed;
    unindexed_range = TimeRange::Both;
  }
  const std::string u = unindexed;
  std::vector<std::string> conditions;
  auto placeholder = [&out](std::variant<std::string, std::int64_t> value) {
    out.values.push_back(std::move(value));
    return "?" + std::to_string(out.values.size());
  };
  auto range = [&](const std::string& column, TimestampMs from, TimestampMs to) {
    if (from != 0) conditions.push_back(column + " >= " + placeholder(from));
    if (to != 0) conditions.push_back(column + " < " + placeholder(to));
  };
  if (!filter.states.empty()) {
    std::string in;
    for (RuntimeState state : filter.states) {
      in += (in.empty() ? "" : ", ") + placeholder(std::string(to_string(state)));
    }
    conditions.push_back(u + "status IN (" + in + ")");
  }
  if (!filter.orchestration_name.empty()) {
    conditions.push_back(u + "orchestration_name = " + placeholder(filter.orchestration_name));
  }
  if (!filter.orchestration_version.empty()) {
    conditions.push_back(u + "orchestration_version = " + placeholder(filter.orchestration_version));
  }
  if (!filter.tenant.empty()) conditions.push_back(u + "tenant = " + placeholder(filter.tenant));
  const bool both = unindexed_range == TimeRange::Both;
  const std::string created = both || unindexed_range == TimeRange::Created ? unindexed_time : "";
  const std::string updated = both || unindexed_range == TimeRange::Updated ? unindexed_time : "";
  range(created + "created_at", filter.created_from_ms, filter.created_to_ms);
  range(updated + "updated_at", filter.updated_from_ms, filter.updated_to_ms);
  if (!filter.instance_prefix.empty()) {
    // A range on the primary key: every id that starts with the prefix sorts in
    // [prefix, prefix + U+10FFFF) under a bytewise collation (SQLite's BINARY,
    // PostgreSQL's "C").
    std::string low = placeholder(filter.instance_prefix);
    std::string high = placeholder(filter.instance_prefix + "\xf4\x8f\xbf\xbf");
    conditions.push_back("instance_id >= " + low + " AND instance_id < " + high);
  }
  if (!filter.parent_instance.empty()) {
    conditions.push_back(u + "parent_instance_id = " + placeholder(filter.parent_instance));
  }
  if (filter.roots_only) conditions.push_back(u + "parent_instance_id IS NULL");
  if (by_ready_work) conditions.push_back(ready_work_condition(placeholder(filter.ready_work_before_ms)));
  if (!filter.contains.empty()) {
    const std::string text = placeholder(filter.contains);
    conditions.push_back(contains_condition<Dialect>(text, placeholder(json_string_body(filter.contains))));
  }
  for (std::size_t i = 0; i < conditions.size(); ++i) {
    out.where += (i == 0 ? " WHERE " : " AND ") + conditions[i];
  }
  return out;
}

// A keyset position written "<ms>|<id>" (a signed 64-bit time: an imported or damaged
// row may hold any), as the listing cursor and the bulk delete continuation write it;
// nullopt when malformed.
inline std::optional<std::pair<std::int64_t, std::string>> parse_time_and_id(const std::string& text) {
  const std::size_t bar = text.find('|');
  if (bar == std::string::npos) return std::nullopt;
  const std::optional<std::int64_t> time = parse_int64(std::string_view(text).substr(0, bar));
  if (!time) return std::nullopt;
  return std::make_pair(*time, text.substr(bar + 1));
}

// The key a listing order sorts by (a column, or the duration expression that the
// index instances_by_duration holds), and whether it descends.
inline bool order_by_update(InstanceOrder order) {
  return order == InstanceOrder::UpdatedDesc || order == InstanceOrder::UpdatedAsc;
}
inline bool order_by_duration(InstanceOrder order) {
  return order == InstanceOrder::DurationDesc || order == InstanceOrder::DurationAsc;
}
inline const char* order_column(InstanceOrder order) {
  return order_by_duration(order) ? "(updated_at - created_at)" : order_by_update(order) ? "updated_at" : "created_at";
}
inline bool order_descends(InstanceOrder order) {
  return order == InstanceOrder::CreatedDesc || order == InstanceOrder::UpdatedDesc ||
         order == InstanceOrder::DurationDesc;
}
// The key of one listed instance, as the next page's cursor carries it.
inline std::int64_t order_key(InstanceOrder order, const InstanceInfo& info) {
  if (order_by_duration(order)) return saturating_sub(info.updated_at_ms, info.created_at_ms);
  return order_by_update(order) ? info.updated_at_ms : info.created_at_ms;
}

// Where a listing page ends at the latest, in the page's order: the order key and id.
using ListingKey = std::pair<std::int64_t, std::string>;

// Keeps the rows after `key` in a listing's order (After: the next page of a cursor),
// or those up to it, the key's row included (Through: the end of a search's window).
// The listing sorts by the order column, then by instance_id the other way round.
// The bound on the column comes first: the index can seek to it (the OR alone is a filter).
enum class KeyBound { After, Through };
inline void add_key_bound(FilterSql& sql, const std::string& column, bool descends, const ListingKey& key,
                          KeyBound bound) {
  const bool after = bound == KeyBound::After;
  const bool smaller = descends == after;  // the kept rows' column values are at most the key's
  sql.values.emplace_back(key.first);
  const std::string t = "?" + std::to_string(sql.values.size());
  sql.values.emplace_back(key.second);
  const std::string id = "?" + std::to_string(sql.values.size());
  const char* id_op = after ? (descends ? " > " : " < ") : (descends ? " <= " : " >= ");
  sql.where += std::string(sql.where.empty() ? " WHERE " : " AND ") + column + (smaller ? " <= " : " >= ") + t +
               " AND (" + column + (smaller ? " < " : " > ") + t + " OR instance_id" + id_op + id + ")";
}

// The listing query for a filter and page: keyset paging on (order column, instance_id),
// one row more than the page to know whether another follows. With `through`, only rows
// up to that key (included) in the page's order. With states, the range
// on the other time column is kept off its index (Dialect::kUnindexed), so
// the page walks the status index of the order column ((status, created_at) or
// (status, updated_at)) and stops when full, instead of reading and sorting every
// instance of the range (what the health problem lists ask).
template <typename Dialect>
FilterSql list_query(const InstanceFilter& filter, const PageRequest& page, const std::string& operation,
                     const ListingKey* through = nullptr) {
  const char* unindexed = Dialect::kUnindexed;
  if (page.limit == 0 || page.limit > kMaxPageSize) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        "page limit must be 1 to " + std::to_string(kMaxPageSize));
  }
  check_filter(filter, operation);
  const std::string column = order_column(page.order);
  const bool descends = order_descends(page.order);
  const TimeRange other = order_by_update(page.order) ? TimeRange::Created : TimeRange::Updated;
  // A duration order walks its own index, stopping when the page is full: every other
  // condition is kept off its index, so the planner never sorts all matches instead.
  FilterSql sql = order_by_duration(page.order)
                      ? filter_sql<Dialect>(filter, unindexed, TimeRange::Both, unindexed)
                      : filter_sql<Dialect>(filter, "", filter.states.empty() ? TimeRange::None : other, unindexed);
  if (!page.cursor.empty()) {
    const auto cursor = parse_time_and_id(page.cursor);
    if (!cursor) throw ProviderError(ProviderErrorKind::InvalidInput, operation, "malformed page cursor");
    add_key_bound(sql, column, descends, *cursor, KeyBound::After);
  }
  if (through) add_key_bound(sql, column, descends, *through, KeyBound::Through);
  sql.values.emplace_back(static_cast<std::int64_t>(page.limit + 1));
  sql.where = std::string("SELECT ") + kInstanceColumns + " FROM instances" + sql.where + " ORDER BY " + column +
              (descends ? " DESC, instance_id" : ", instance_id DESC") + " LIMIT ?" +
              std::to_string(sql.values.size());
  return sql;
}

// The key of the kMaxContainsScan-th row the listing of `filter` (its search text aside)
// reads from `page`'s cursor on: the end of a search's window. No row: the rest fits.
template <typename Dialect>
FilterSql scan_window_end_query(InstanceFilter filter, const PageRequest& page, const std::string& operation) {
  filter.contains.clear();
  PageRequest one = page;
  one.limit = 1;
  FilterSql sql = list_query<Dialect>(filter, one, operation);
  const std::string select = std::string("SELECT ") + kInstanceColumns + " FROM instances";
  DUROXIDE_ASSERT(sql.where.rfind(select, 0) == 0, "a listing query starts with its select");
  sql.where = std::string("SELECT ") + order_column(page.order) + ", instance_id FROM instances" +
              sql.where.substr(select.size());
  sql.values.back() = static_cast<std::int64_t>(1);
  sql.values.emplace_back(static_cast<std::int64_t>(kMaxContainsScan - 1));
  sql.where += " OFFSET ?" + std::to_string(sql.values.size());
  return sql;
}

// The history query of an EventQuery: a range on the history's key (instance,
// execution, event id), then the kinds and times, in event-id order, limited.
inline FilterSql event_query_sql(const std::string& instance, ExecutionId execution, const EventQuery& query,
                                 const std::string& operation) {
  if (query.limit > kMaxEventPage) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        "an event page holds at most " + std::to_string(kMaxEventPage) + " events");
  }
  if ((query.to_event_id != 0 && query.to_event_id < query.from_event_id) ||
      (query.to_ms != 0 && query.to_ms <= query.from_ms)) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation, "the event range ends before it starts");
  }
  FilterSql sql;
  auto placeholder = [&sql](std::variant<std::string, std::int64_t> value) {
    sql.values.push_back(std::move(value));
    return "?" + std::to_string(sql.values.size());
  };
  std::string where = "instance_id = " + placeholder(instance) +
                      " AND execution_id = " + placeholder(static_cast<std::int64_t>(execution));
  if (query.from_event_id != 0) where += " AND event_id >= " + placeholder(static_cast<std::int64_t>(query.from_event_id));
  if (query.to_event_id != 0) where += " AND event_id <= " + placeholder(static_cast<std::int64_t>(query.to_event_id));
  if (!query.kinds.empty()) {
    std::string in;
    for (EventKind kind : query.kinds) in += (in.empty() ? "" : ", ") + placeholder(std::string(to_string(kind)));
    where += " AND event_kind IN (" + in + ")";
  }
  if (query.from_ms != 0) where += " AND timestamp >= " + placeholder(query.from_ms);
  if (query.to_ms != 0) where += " AND timestamp < " + placeholder(query.to_ms);
  sql.where = "SELECT event_id, event_json FROM history WHERE " + where + " ORDER BY event_id";
  if (query.limit != 0) sql.where += " LIMIT " + placeholder(static_cast<std::int64_t>(query.limit));
  return sql;
}

// Counts whose filter names only states, name, version and roots read the
// trigger-kept instance_counts table (a few rows per orchestration); any other
// filter counts the matching instances through their indexes.
inline bool counted_by_counters(const InstanceFilter& filter) {
  return filter.instance_prefix.empty() && filter.parent_instance.empty() && filter.contains.empty() &&
         filter.created_from_ms == 0 && filter.created_to_ms == 0 && filter.updated_from_ms == 0 &&
         filter.updated_to_ms == 0 && filter.ready_work_before_ms == 0;
}

template <typename Dialect>
FilterSql count_query(const InstanceFilter& filter, bool by_status) {
  check_filter(filter, "count_instances");
  if (counted_by_counters(filter)) {
    // filter_sql's conditions on these columns read the same names in instance_counts.
    InstanceFilter kept;
    kept.states = filter.states;
    kept.orchestration_name = filter.orchestration_name;
    kept.orchestration_version = filter.orchestration_version;
    kept.tenant = filter.tenant;
    FilterSql sql = filter_sql<Dialect>(kept);
    if (filter.roots_only) sql.where += sql.where.empty() ? " WHERE is_root = 1" : " AND is_root = 1";
    // SUM of BIGINT is NUMERIC on PostgreSQL: cast back so both stores return integers.
    sql.where = (by_status ? "SELECT status, CAST(SUM(count) AS BIGINT) FROM instance_counts"
                           : "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM instance_counts") +
                sql.where + (by_status ? " GROUP BY status" : "");
    return sql;
  }
  FilterSql sql = filter_sql<Dialect>(filter);
  sql.where = (by_status ? "SELECT status, COUNT(*) FROM instances" : "SELECT COUNT(*) FROM instances") +
              sql.where + (by_status ? " GROUP BY status" : "");
  return sql;
}

// A count with one time bound and otherwise only the counters' conditions (health's
// "running for over an hour", "failed in the last hour") is read from whichever side of
// the bound is small: the instances on the bound's side, or the counters' total less
// those on its other side. Each side is read up to kSideLimit instances.
inline constexpr std::int64_t kSideLimit = 1024;

// The single time bound of such a filter: its column, its side, its time.
struct OneTimeBound {
  const char* column;  // "created_at" or "updated_at"
  bool lower;          // from <= t (else t < to)
  TimestampMs at;
};

// `filter` without its creation-time and update-time bounds.
inline InstanceFilter without_time_bounds(InstanceFilter filter) {
  filter.created_from_ms = filter.created_to_ms = 0;
  filter.updated_from_ms = filter.updated_to_ms = 0;
  return filter;
}

inline std::optional<OneTimeBound> one_time_bound(const InstanceFilter& filter) {
  if (!counted_by_counters(without_time_bounds(filter))) return std::nullopt;
  std::vector<OneTimeBound> bounds;
  if (filter.created_from_ms != 0) bounds.push_back({"created_at", true, filter.created_from_ms});
  if (filter.created_to_ms != 0) bounds.push_back({"created_at", false, filter.created_to_ms});
  if (filter.updated_from_ms != 0) bounds.push_back({"updated_at", true, filter.updated_from_ms});
  if (filter.updated_to_ms != 0) bounds.push_back({"updated_at", false, filter.updated_to_ms});
  if (bounds.size() != 1) return std::nullopt;
  return bounds.front();
}

// The count of `filter`'s instances on one side of `bound` (`asked`: the filter's own
// side), read up to kSideLimit; with `with_total`, a second column: what the counters
// hold for the filter without the bound, read in the same statement (one snapshot).
template <typename Dialect>
FilterSql side_count_query(const InstanceFilter& filter, const OneTimeBound& bound, bool asked, bool with_total) {
  const InstanceFilter unbounded = without_time_bounds(filter);
  FilterSql sql = filter_sql<Dialect>(unbounded);
  std::string total;
  if (with_total) {
    // The counters' conditions bind the same values in the same order (count_query).
    FilterSql counters = count_query<Dialect>(unbounded, false);
    DUROXIDE_ASSERT(counters.values == sql.values, "the counters' conditions bind what the instances' do");
    total = ", (" + counters.where + ")";
  }
  const bool lower = bound.lower == asked;
  sql.values.emplace_back(bound.at);
  const std::string at = "?" + std::to_string(sql.values.size());
  sql.values.emplace_back(kSideLimit);
  const std::string limit = "?" + std::to_string(sql.values.size());
  sql.where = "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM instances" +
              (sql.where.empty() ? std::string(" WHERE ") : sql.where + " AND ") + bound.column +
              (lower ? " >= " : " < ") + at + " LIMIT " + limit + ") AS side)" + total;
  return sql;
}

// ---------------------------------------------------------------- durations

// One bucket of the execution_durations histogram, summed over its hours.
struct DurationBucket {
  std::uint64_t count = 0;
  std::int64_t sum_ms = 0;
  std::int64_t min_ms = 0;
  std::int64_t max_ms = 0;
};

// The nearest-rank value at `rank` (1-based) among `buckets` (ascending, non-empty):
// inside its bucket, the rank's place between the bucket's minimum and maximum.
inline std::int64_t duration_at_rank(const std::vector<DurationBucket>& buckets, std::uint64_t rank) {
  std::uint64_t before = 0;
  for (const DurationBucket& bucket : buckets) {
    if (rank <= before + bucket.count) {
      if (bucket.count <= 1) return bucket.min_ms;
      const std::uint64_t k = rank - before - 1;  // 0 .. count-1
      // Rows read from the store are outside data: a bucket whose maximum is below its
      // minimum has no span, and no product or sum here overflows.
      const std::int64_t span = std::max<std::int64_t>(saturating_sub(bucket.max_ms, bucket.min_ms), 0);
      const auto offset = static_cast<std::int64_t>(static_cast<unsigned __int128>(span) * k / (bucket.count - 1));
      return saturating_add(bucket.min_ms, offset);
    }
    before += bucket.count;
  }
  return buckets.back().max_ms;
}

// Count, average (truncated), extremes and the nearest-rank p50, p95 and p99
// (rank ceil(p x count / 100)) of ascending histogram buckets.
inline DurationStats duration_stats(const std::vector<DurationBucket>& buckets) {
  DurationStats stats;
  std::int64_t sum = 0;
  for (const DurationBucket& bucket : buckets) {
    stats.count += bucket.count;
    sum += bucket.sum_ms;
  }
  if (stats.count == 0) return stats;
  stats.min_ms = buckets.front().min_ms;
  stats.max_ms = buckets.back().max_ms;
  stats.avg_ms = sum / static_cast<std::int64_t>(stats.count);
  auto percentile = [&](std::uint64_t p) { return duration_at_rank(buckets, (stats.count * p + 99) / 100); };
  stats.p50_ms = percentile(50);
  stats.p95_ms = percentile(95);
  stats.p99_ms = percentile(99);
  return stats;
}

// ---------------------------------------------------------------- deletion

// Bulk delete by filter walks the finished roots in (updated_at, instance_id)
// order a page at a time: the page after (`updated_at`, `instance_id`) when
// `after` is set. Roots that cannot go yet (a child still runs) are passed
// over, so they never hide the purgeable roots behind them.
struct PurgeCursor {
  TimestampMs updated_at = 0;
  std::string instance_id;
};

inline void add_purge_cursor(FilterSql& sql, const std::optional<PurgeCursor>& after) {
  if (!after) return;
  sql.values.emplace_back(after->updated_at);
  const std::string time = "?" + std::to_string(sql.values.size());
  sql.values.emplace_back(after->instance_id);
  const std::string id = "?" + std::to_string(sql.values.size());
  sql.where += std::string(sql.where.empty() ? " WHERE " : " AND ") + "updated_at >= " + time +
               " AND (updated_at > " + time + " OR instance_id > " + id + ")";
}

// The continuation a bulk delete hands out (DeleteResult::continuation): "<updated_at>|<instance id>".
inline std::string encode_purge_cursor(const PurgeCursor& cursor) {
  return std::to_string(cursor.updated_at) + "|" + cursor.instance_id;
}

// Reads a continuation back (empty: none); anything else is InvalidInput. The caller
// checks the id as it checks every instance id.
inline std::optional<PurgeCursor> decode_purge_cursor(const std::string& text, const std::string& operation) {
  if (text.empty()) return std::nullopt;
  const auto cursor = parse_time_and_id(text);
  if (!cursor || cursor->second.empty()) {
    throw ProviderError(ProviderErrorKind::InvalidInput, operation,
                        "a bulk delete continuation is <updated_at>|<instance id>, as a previous result gave it");
  }
  return PurgeCursor{cursor->first, cursor->second};
}

// Walks the roots `finished` selects after `after` (none: from the oldest), oldest update
// first, a page of `limit` at a time, handing each page to `delete_page`, which returns
// whether to go on; stops after a short page. Roots that cannot go yet never hide the
// ones behind them. Each page walks the update-time index (instances_by_updated) from the
// cursor, so a page costs about its own rows whatever the store holds; the other
// conditions are kept off their indexes (Dialect::kUnindexed), which would make every
// page read and sort all the finished roots. Ids tie-break bytewise (Dialect::kBytewise).
// A root here is also an instance whose parent no longer exists (a child imported
// alone, say): it heads the only tree it is in, and nothing else would ever delete it.
// The parent is looked up by a scalar subquery, a key lookup per row: PostgreSQL plans
// a NOT EXISTS under an OR as a hashed subplan that reads every instance first.
template <typename Dialect, typename Prepare, typename DeletePage>
void for_each_purge_page(const InstanceFilter& finished, std::size_t limit, std::optional<PurgeCursor> after,
                         Prepare&& prepare, DeletePage&& delete_page) {
  check_filter(finished, "delete_instances");
  InstanceFilter without_roots = finished;
  without_roots.roots_only = false;
  const std::string heads = std::string("(") + Dialect::kUnindexed +
                            "parent_instance_id IS NULL OR (SELECT COUNT(*) FROM instances p "
                            "WHERE p.instance_id = instances.parent_instance_id) = 0)";
  for (;;) {
    FilterSql sql = filter_sql<Dialect>(without_roots, Dialect::kUnindexed);
    if (finished.roots_only) sql.where += (sql.where.empty() ? " WHERE " : " AND ") + heads;
    add_purge_cursor(sql, after);
    auto rows = prepare("SELECT instance_id, updated_at FROM instances" + sql.where +
                        " ORDER BY updated_at, instance_id" + Dialect::kBytewise + " LIMIT ?" +
                        std::to_string(sql.values.size() + 1));
    sql.bind_all(rows);
    rows.bind(static_cast<int>(sql.values.size()) + 1, static_cast<std::int64_t>(limit));
    std::vector<PurgeCursor> page;
    while (rows.step()) page.push_back(PurgeCursor{rows.integer(1), rows.text(0)});
    if (!page.empty()) after = page.back();
    if (!delete_page(page) || page.size() < limit) break;
  }
}

// A recursive CTE named `tree` holding the instance ?1 (when it exists) and all
// its descendants, each with its status. Seeded from the row, so its column has the
// table's collation. Queries read the statuses from the CTE instead of joining
// instances again: joined, SQLite's planner may walk every Running instance through
// the status index and probe the tree for each, a cost that grows with the store.
// Whole literals: SQLite's connection caches statements by their text pointer.
#define DUROXIDE_INSTANCE_TREE                                                       \
  "WITH RECURSIVE tree(id, status, tenant) AS ("                                     \
  "  SELECT instance_id, status, tenant FROM instances WHERE instance_id = ?1 "      \
  "  UNION SELECT i.instance_id, i.status, i.tenant FROM instances i JOIN tree t "   \
  "    ON i.parent_instance_id = t.id) "
constexpr const char* kTreeMembersSql = DUROXIDE_INSTANCE_TREE
    "SELECT id, CASE WHEN status = 'Running' THEN 1 ELSE 0 END, "
    "  CASE WHEN EXISTS (SELECT 1 FROM history h WHERE h.instance_id = tree.id "
    "    AND h.event_kind = 'SubOrchestrationScheduled') THEN 1 ELSE 0 END, tenant "
    "FROM tree";
#undef DUROXIDE_INSTANCE_TREE

// An instance of a tree: whether it runs, whether its history schedules children, and
// its tenant (for the change feed's row of its deletion).
struct TreeMember {
  std::string id;
  bool running = false;
  bool schedules_children = false;
  std::string tenant;
};

// The tree rooted at `root` (empty when it does not exist), root first, in one query.
template <typename Connection>
std::vector<TreeMember> tree_members(Connection& db, const std::string& root) {
  std::vector<TreeMember> tree;
  auto rows = db.prepare(kTreeMembersSql);
  rows.bind(1, root);
  while (rows.step()) tree.push_back({rows.text(0), rows.integer(1) != 0, rows.integer(2) != 0, rows.text(3)});
  return tree;
}

// Why `instance` is not the root of a tree that may be deleted, or empty: it does not
// exist, or it is a sub-orchestration of an existing parent.
template <typename Connection>
std::optional<ProviderError> root_blocker(Connection& db, const std::string& instance) {
  std::optional<std::string> parent;
  {
    auto row = db.prepare(
        "SELECT i.parent_instance_id, p.instance_id IS NOT NULL FROM instances i "
        "LEFT JOIN instances p ON p.instance_id = i.parent_instance_id WHERE i.instance_id = ?1");
    row.bind(1, instance);
    if (!row.step()) {
      return ProviderError(ProviderErrorKind::NotFound, db.operation(), "instance " + instance + " does not exist");
    }
    if (!row.is_null(0) && row.integer(1) != 0) parent = row.text(0);
  }
  if (parent) {
    return ProviderError(ProviderErrorKind::Conflict, db.operation(),
                         "instance " + instance + " is a sub-orchestration of " + *parent + "; delete its root instead");
  }
  return std::nullopt;
}

// Whether `instance` was last updated (a finished one: finished) before `before_ms`, as a
// filter's updated_to_ms selects; false for an instance that does not exist.
template <typename Connection>
bool updated_before(Connection& db, const std::string& instance, TimestampMs before_ms) {
  auto row = db.prepare("SELECT updated_at < ?2 FROM instances WHERE instance_id = ?1");
  row.bind(1, instance).bind(2, before_ms);
  return row.step() && row.integer(0) != 0;
}

// The children the histories of `instances` have scheduled, in history order. A history
// row that does not decode names no child.
template <typename Connection>
std::vector<std::string> scheduled_children(Connection& db, const std::vector<std::string>& instances) {
  std::vector<std::string> children;
  for (const std::string& id : instances) {
    auto rows = db.prepare(
        "SELECT event_json FROM history WHERE instance_id = ?1 AND event_kind = 'SubOrchestrationScheduled'");
    rows.bind(1, id);
    while (rows.step()) {
      try {
        Event event = decode_event(rows.text(0));
        if (const auto* scheduled = event.as<events::SubOrchestrationScheduled>()) {
          children.push_back(scheduled->instance);
        }
      } catch (const CodecError&) {
      }
    }
  }
  return children;
}

// Whether the scheduled child `child` is one of `family`'s: it has no row yet (its start is
// queued or being processed), or its row names a parent in `family` (it started after the
// tree was read). An instance of that id with another parent, or none, is someone else's.
template <typename Connection>
bool child_of(Connection& db, const std::string& child, const std::set<std::string>& family) {
  auto row = db.prepare("SELECT parent_instance_id FROM instances WHERE instance_id = ?1");
  row.bind(1, child);
  if (!row.step()) return true;
  return !row.is_null(0) && family.count(row.text(0)) != 0;
}

// Deletes every row of the instances `ids` (their change-feed rows are the caller's),
// adding what went to `result`: each table's rows of up to kDeleteChunk instances in
// one statement (`instance_id IN (?1, .., ?64)`, the last chunk padded with its last
// id), so a purge runs seven statements per 64 instances, not seven per instance.
// Worker items before orchestrator items: on PostgreSQL a worker ack racing the delete
// then either fails or has its completion deleted. Worker rows are taken in the order every
// writer takes them (store_sql::worker_rows_in_key_order: the ids sorted, each chunk's
// rows in that order).
constexpr std::size_t kDeleteChunk = 64;

// "instance_id IN (?1, .., ?64)": one chunk of ids (bind_id_chunk).
inline std::string id_chunk_condition() {
  std::string in = "instance_id IN (";
  for (std::size_t i = 1; i <= kDeleteChunk; ++i) in += (i == 1 ? "?" : ", ?") + std::to_string(i);
  return in + ")";
}

// Binds the chunk of `ids` from `start` to id_chunk_condition's parameters, the last
// chunk padded with its last id.
template <typename Statement>
void bind_id_chunk(Statement& statement, const std::vector<std::string>& ids, std::size_t start) {
  for (std::size_t k = 0; k < kDeleteChunk; ++k) {
    statement.bind(static_cast<int>(k + 1), ids[std::min(start + k, ids.size() - 1)]);
  }
}

template <typename Dialect, typename Connection>
void delete_instance_rows(Connection& db, const std::vector<std::string>& unsorted_ids, DeleteResult& result) {
  static const std::vector<std::string> statements = [] {
    const std::string in = id_chunk_condition();
    std::vector<std::string> out;
    for (const std::string table : {"history", "executions", "worker_queue", "orchestrator_queue", "instance_locks",
                                    "kv_values", "instances"}) {
      out.push_back(table != "worker_queue"
                        ? "DELETE FROM " + table + " WHERE " + in
                        : "DELETE FROM worker_queue WHERE id IN (SELECT w.id FROM worker_queue w WHERE w." + in +
                              store_sql::worker_rows_in_key_order<Dialect>("w") + ")");
    }
    return out;
  }();
  std::uint64_t* counted[] = {&result.events, &result.executions, &result.queue_items, &result.queue_items,
                              nullptr, nullptr, &result.instances};
  std::vector<std::string> ids = unsorted_ids;
  std::sort(ids.begin(), ids.end());  // bytewise: char_traits<char> compares as unsigned char
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (std::size_t start = 0; start < ids.size(); start += kDeleteChunk) {
    for (std::size_t table = 0; table < statements.size(); ++table) {
      // Cached by the text's address (SQLite's connection): the strings live as long as the program.
      auto statement = db.prepare(statements[table].c_str());
      bind_id_chunk(statement, ids, start);
      statement.run();
      if (counted[table]) *counted[table] += static_cast<std::uint64_t>(db.changes());
    }
  }
}

// Those of `ids` that have an instance row, with their tenants, read a chunk of
// kDeleteChunk at a time.
template <typename Connection>
std::map<std::string, std::string> existing_instances(Connection& db, const std::vector<std::string>& ids) {
  static const std::string sql = "SELECT instance_id, tenant FROM instances WHERE " + id_chunk_condition();
  std::map<std::string, std::string> found;
  for (std::size_t start = 0; start < ids.size(); start += kDeleteChunk) {
    auto rows = db.prepare(sql.c_str());
    bind_id_chunk(rows, ids, start);
    while (rows.step()) found.emplace(rows.text(0), rows.text(1));
  }
  return found;
}

// One instance's footprint: the current execution's events and their stored
// bytes, its queued orchestrator messages, its key-value rows and their value bytes.
template <typename Connection>
std::optional<InstanceStats> read_instance_stats(Connection& db, const std::string& instance) {
  auto row = db.prepare("SELECT current_execution_id, unconsumed_messages FROM instances WHERE instance_id = ?1");
  row.bind(1, instance);
  if (!row.step()) return std::nullopt;
  InstanceStats stats;
  stats.execution_id = static_cast<ExecutionId>(row.integer(0));
  stats.carry_forward_count = static_cast<std::uint64_t>(row.integer(1));
  auto counts = db.prepare(
      "SELECT (SELECT COUNT(*) FROM history WHERE instance_id = ?1 AND execution_id = ?2), "
      "  (SELECT COALESCE(SUM(octet_length(event_json)), 0) FROM history "
      "     WHERE instance_id = ?1 AND execution_id = ?2), "
      "  (SELECT COUNT(*) FROM orchestrator_queue WHERE instance_id = ?1), "
      "  (SELECT COUNT(*) FROM kv_values WHERE instance_id = ?1), "
      "  (SELECT COALESCE(SUM(octet_length(kv_value)), 0) FROM kv_values WHERE instance_id = ?1)");
  counts.bind(1, instance).bind(2, static_cast<std::int64_t>(stats.execution_id));
  if (counts.step()) {
    stats.history_event_count = static_cast<std::uint64_t>(counts.integer(0));
    stats.history_size_bytes = static_cast<std::uint64_t>(counts.integer(1));
    stats.queue_pending_count = static_cast<std::uint64_t>(counts.integer(2));
    stats.kv_user_key_count = static_cast<std::uint64_t>(counts.integer(3));
    stats.kv_total_value_bytes = static_cast<std::uint64_t>(counts.integer(4));
  }
  return stats;
}

}  // namespace duroxide::management_sql
