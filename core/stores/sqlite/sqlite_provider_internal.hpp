// Helpers shared by the SqliteProvider sources. Not a public header.
#pragma once

#include "sqlite_dialect.hpp"
#include "store_sql.hpp"

namespace duroxide::sqlite {

using store_sql::check_delay;
using store_sql::check_token;
using store_sql::MetricDelta;
using store_sql::record_change;
using store_sql::record_metrics;
using store_sql::status_text;

inline void roll_up_minutes(Connection& db, TimestampMs before) { Dialect::roll_up_minutes(db, before); }

}  // namespace duroxide::sqlite
