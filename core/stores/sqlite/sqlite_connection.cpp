#include "sqlite_connection.hpp"

#include "duroxide/wal_gather_vfs.hpp"

#include <sqlite3.h>

namespace duroxide::sqlite {

ProviderErrorKind classify(int result_code) {
  switch (result_code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_INTERRUPT:
      return ProviderErrorKind::Transient;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
      return ProviderErrorKind::Corrupted;
    case SQLITE_CONSTRAINT:
      return ProviderErrorKind::Conflict;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return ProviderErrorKind::InvalidInput;
    case SQLITE_READONLY:
      return ProviderErrorKind::ReadOnly;
    default:
      return ProviderErrorKind::Permanent;
  }
}

void raise(sqlite3* db, int result_code, const std::string& operation) {
  std::string message = std::string("sqlite error ") + std::to_string(result_code) + " (" +
                        sqlite3_errstr(result_code) + ")";
  if (db) {
    const char* detail = sqlite3_errmsg(db);
    if (detail && std::string_view(detail) != sqlite3_errstr(result_code)) {
      message += ": " + std::string(detail);
    }
  }
  throw ProviderError(classify(result_code), operation, message);
}

// ---------------------------------------------------------------- Statement

Statement::Statement(Connection* connection, sqlite3_stmt* stmt, bool owned)
    : connection_(connection), stmt_(stmt), owned_(owned) {}

Statement::Statement(Statement&& other) noexcept
    : connection_(other.connection_), stmt_(other.stmt_), owned_(other.owned_) {
  other.stmt_ = nullptr;
}

Statement::~Statement() {
  if (!stmt_) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
  } else {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement& Statement::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) connection_->fail(rc);
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  int rc = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (rc != SQLITE_OK) connection_->fail(rc);
  return *this;
}

Statement& Statement::bind_null(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) connection_->fail(rc);
  return *this;
}

Statement& Statement::bind_optional(int index, const std::optional<std::string>& value) {
  return value ? bind(index, std::string_view(*value)) : bind_null(index);
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  connection_->fail(rc);
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::defer(const std::string& conflict_message) {
  try {
    run();
  } catch (const ProviderError& error) {
    if (error.kind() != ProviderErrorKind::Conflict || conflict_message.empty()) throw;
    throw ProviderError(ProviderErrorKind::Conflict, connection_->operation(), conflict_message);
  }
}

void Statement::defer_counting(std::int64_t& changes) {
  run();
  changes = connection_->changes();
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::optional<std::string> Statement::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---------------------------------------------------------------- Connection

Connection::Connection(const std::string& path, int busy_timeout_ms, const std::string& vfs, bool create) {
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  const std::string& chosen = vfs.empty() ? default_wal_gather_vfs() : vfs;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, chosen.c_str());
  if (rc != SQLITE_OK) {
    std::string operation = "open " + path;
    sqlite3* failed = db_;
    db_ = nullptr;
    try {
      raise(failed, rc, operation);
    } catch (...) {
      sqlite3_close(failed);
      throw;
    }
  }
  sqlite3_extended_result_codes(db_, 1);
  if (busy_timeout_ms > 0) sqlite3_busy_timeout(db_, busy_timeout_ms);
}

Connection::~Connection() {
  for (auto& entry : cache_) sqlite3_finalize(entry.second);
  for (auto& entry : composed_cache_) sqlite3_finalize(entry.second);
  if (db_) sqlite3_close(db_);
}

void Connection::exec(const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (error) sqlite3_free(error);
  if (rc != SQLITE_OK) fail(rc);
}

void Connection::fail(int result_code) {
  try {
    raise(db_, result_code, operation_);
  } catch (const ProviderError& error) {
    const std::int64_t at_ms = clock_ ? clock_->now_ms() : 0;
    std::lock_guard<std::mutex> lock(error_mutex_);
    ++error_count_;
    last_error_ = LastError{error.what(), at_ms};
    throw;
  }
}

// Statements are cached by the address of their SQL text: every call site
// passes a string literal, so one site always reuses one prepared statement.
Statement Connection::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) fail(rc);
    it = cache_.emplace(sql, stmt).first;
  }
  return Statement(this, it->second);
}

Statement Connection::prepare(const std::string& sql) {
  auto it = composed_cache_.find(sql);
  if (it == composed_cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                &stmt, nullptr);
    if (rc != SQLITE_OK) fail(rc);
    it = composed_cache_.emplace(sql, stmt).first;
  }
  return Statement(this, it->second);
}

Statement Connection::prepare_once(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) fail(rc);
  return Statement(this, stmt, true);
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

// ---------------------------------------------------------------- ReadSnapshot

ReadSnapshot::ReadSnapshot(Connection& connection) : connection_(connection) {
  connection_.prepare("BEGIN").run();
}

ReadSnapshot::~ReadSnapshot() {
  // Nothing was written: ending it cannot fail in a way that matters.
  sqlite3_exec(connection_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

// ---------------------------------------------------------------- Transaction

// BEGIN and COMMIT run as cached statements: every store call is a transaction, and
// sqlite3_exec would parse both words again each time (docs/bench.md, "Transactions
// without parsing").
Transaction::Transaction(Connection& connection) : connection_(connection) {
  connection_.prepare("BEGIN IMMEDIATE").run();
}

Transaction::~Transaction() {
  if (!done_) {
    // A failed rollback leaves SQLite to roll back on its own; nothing more to do here.
    sqlite3_exec(connection_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

void Transaction::commit() {
  connection_.prepare("COMMIT").run();
  done_ = true;
}

}  // namespace duroxide::sqlite
