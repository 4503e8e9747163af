// A thin RAII layer over one sqlite3 connection: cached prepared statements,
// bound parameters only, IMMEDIATE transactions that roll back unless
// committed, and every SQLite error turned into a typed ProviderError naming
// the operation. Not a public header.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "duroxide/environment.hpp"
#include "duroxide/provider.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace duroxide::sqlite {

// Maps an SQLite result code to the error kind callers act on.
ProviderErrorKind classify(int result_code);
[[noreturn]] void raise(sqlite3* db, int result_code, const std::string& operation);

// A cached statement in use: reset and unbound when this handle goes away, so a
// statement is never left half-stepped for its next user.
class Connection;

class Statement {
 public:
  // `owned`: finalised on destruction (a one-off statement) instead of reset (a cached one).
  Statement(Connection* connection, sqlite3_stmt* stmt, bool owned = false);
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;
  ~Statement();

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view value);
  Statement& bind_null(int index);
  Statement& bind_optional(int index, const std::optional<std::string>& value);

  // Returns true while a row is available.
  bool step();
  // Steps a statement that returns no rows.
  void run();
  // A write whose result nobody reads: run now (PostgreSQL's connection may
  // delay it to the next round trip; the shared core calls this for both).
  // `conflict_message` replaces SQLite's text when it violates a unique constraint.
  void defer(const std::string& conflict_message = {});
  // defer(), and the rows the statement changed go into `changes` (PostgreSQL's
  // connection writes them when the statement's delayed result is read).
  void defer_counting(std::int64_t& changes);

  std::int64_t integer(int column) const;
  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;
  bool is_null(int column) const;

 private:
  Connection* connection_;
  sqlite3_stmt* stmt_;
  bool owned_;
};

class Connection {
 public:
  // path ":memory:" opens a private in-memory database.
  // `vfs` empty: default_wal_gather_vfs() (duroxide/wal_gather_vfs.hpp), over SQLite's default.
  // `create`: a missing file is created; otherwise opening it fails.
  Connection(const std::string& path, int busy_timeout_ms, const std::string& vfs, bool create = true);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // The operation named in errors raised until the next call (e.g. "ack_work_item").
  void set_operation(std::string operation) { operation_ = std::move(operation); }
  const std::string& operation() const { return operation_; }

  void exec(const char* sql);
  // `sql` must be a string literal: the statement is cached by its address.
  Statement prepare(const char* sql);
  // SQL composed from a few fixed fragments (the shared core's dialect pieces):
  // cached by its text, so the set of such texts must stay small.
  Statement prepare(const std::string& sql);
  // For SQL assembled at run time (filters); prepared afresh, finalised after use.
  Statement prepare_once(const std::string& sql);
  std::int64_t changes() const;
  sqlite3* handle() const { return db_; }

  // Throws the ProviderError for `result_code` (naming the current operation)
  // and remembers it as the last error, stamped by the clock if one is set.
  [[noreturn]] void fail(int result_code);
  struct LastError {
    std::string message;
    std::int64_t at_ms = 0;
  };
  // Safe from any thread, beside the connection's user: diagnostics read them without
  // waiting for the connection's session (a management read must not queue behind the
  // writer, nor the writer behind a management read).
  std::optional<LastError> last_error() const {
    std::lock_guard<std::mutex> lock(error_mutex_);
    return last_error_;
  }
  std::uint64_t error_count() const {
    std::lock_guard<std::mutex> lock(error_mutex_);
    return error_count_;
  }
  void set_clock(Clock* clock) { clock_ = clock; }

 private:
  sqlite3* db_ = nullptr;
  Clock* clock_ = nullptr;
  mutable std::mutex error_mutex_;
  std::optional<LastError> last_error_;
  std::uint64_t error_count_ = 0;
  std::string operation_ = "open";
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
  std::unordered_map<std::string, sqlite3_stmt*> composed_cache_;
};

// A read transaction: every statement until its end reads one committed state, whatever
// other connections commit meanwhile (a deferred BEGIN; in WAL mode the snapshot is
// taken at the first read). It writes nothing; the destructor ends it.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Connection& connection);
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot();

 private:
  Connection& connection_;
};

class Transaction {
 public:
  explicit Transaction(Connection& connection);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Connection& connection_;
  bool done_ = false;
};

}  // namespace duroxide::sqlite
