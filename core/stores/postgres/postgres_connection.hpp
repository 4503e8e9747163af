// A thin RAII layer over one libpq connection, shaped like sqlite::Connection so
// the two providers read alike: statements with bound parameters only (sent as
// text, never spliced into SQL), transactions that roll back unless committed,
// and every server or connection error turned into a typed ProviderError
// naming the operation. Not a public header; native builds only.
//
// SQL is written with SQLite-style "?N" placeholders; prepare() rewrites them
// to PostgreSQL's "$N" (outside quoted literals), so shared SQL stays shared.
//
// Round trips: inside a Transaction, writes whose results nobody reads are
// deferred (Statement::defer) and sent with the next statement that is
// executed, or with COMMIT, in one libpq pipeline; BEGIN itself is deferred.
// An ack is then two round trips, not one per statement. Order is kept: a
// statement executed now first sends everything deferred before it.
//
// Server-side prepared statements: SQL given to prepare() is parsed (and, once
// the server finds its generic plan good enough, planned) once per connection:
// its first run sends a Parse under a name of its own in the same pipeline,
// later runs send only the name and the values. prepare_once() (SQL assembled
// at run time) and the transaction words run unnamed. At most kMaxPrepared
// names per connection; past that, new SQL runs unnamed. A reconnect opens a
// new server connection, which knows none of them: they are forgotten.
//
// Errors: connection loss, serialization failures, deadlocks, lock and query
// cancellations and "too many connections" are Transient (the caller retries;
// the next call reconnects); unique violations are Conflict; the rest Permanent.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "duroxide/environment.hpp"
#include "duroxide/provider.hpp"

struct pg_conn;
struct pg_result;

namespace duroxide::pg {

class Connection;

struct LastError {
  std::string message;
  std::int64_t at_ms = 0;
};

// Shared by the connections of one store: the last error of any of them and
// how many round trips to the server they made (diagnostics).
struct ConnectionLog {
  std::mutex mutex;
  std::optional<LastError> last;
  std::uint64_t count = 0;
  std::atomic<std::uint64_t> round_trips{0};
  std::atomic<std::uint64_t> statements_prepared{0};
};

// Executed lazily: bind parameters, then step() through rows or run().
class Statement {
 public:
  // `named`: prepared once per connection under a name (Connection::prepare).
  Statement(Connection* connection, std::string sql, bool named);
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;
  ~Statement();

  // 1-based like SQLite; gaps are NULL.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view value);
  Statement& bind_null(int index);
  Statement& bind_optional(int index, const std::optional<std::string>& value);

  // Executes on the first call; true while a row is available.
  bool step();
  // Executes a statement; rows, if any, are ignored.
  void run();
  // Inside a transaction: queued, sent with the next executed statement or the
  // COMMIT (its failure surfaces there and rolls the transaction back).
  // `conflict_message` replaces the server's text when it violates a unique
  // constraint. Outside a transaction: run() now.
  void defer(std::string conflict_message = {});
  // defer(), and the rows the statement changed go into `changes` when its result
  // is read (in the pipeline that sends it; outside a transaction, now). `changes`
  // must outlive that pipeline; it is left as it was if the statement never runs.
  void defer_counting(std::int64_t& changes);
  // Rows changed by run() (INSERT/UPDATE/DELETE).
  std::int64_t changes() const { return changes_; }

  // Of the current row. integer() also reads booleans as 0/1 and numerics (SUM, AVG) truncated.
  std::int64_t integer(int column) const;
  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;
  bool is_null(int column) const;

 private:
  void execute();
  Connection* connection_;
  std::string sql_;
  bool named_ = false;
  std::vector<std::optional<std::string>> params_;
  pg_result* result_ = nullptr;
  int row_ = -1;
  int rows_ = 0;
  bool executed_ = false;
  std::int64_t changes_ = 0;
};

class Connection {
 public:
  // `conninfo`: a libpq connection string ("host=127.0.0.1 port=5432 dbname=x" or
  // "postgresql://..."). Throws ProviderError (Transient when the server is unreachable).
  explicit Connection(std::string conninfo);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  void set_operation(std::string operation) { operation_ = std::move(operation); }
  const std::string& operation() const { return operation_; }
  void set_clock(Clock* clock) { clock_ = clock; }

  // Statements without parameters, possibly several (schema, BEGIN, COMMIT).
  void exec(const std::string& sql);
  // SQL written in the source: prepared on the server once per connection.
  Statement prepare(const std::string& sql);
  // SQL assembled at run time (filters): sent unnamed, parsed at every run, as
  // SQLite's connection leaves it out of its cache.
  Statement prepare_once(const std::string& sql);
  using Params = std::vector<std::optional<std::string>>;
  // Sends the deferred statements and then `sql` in one round trip; returns
  // `sql`'s result (the caller clears it). Throws on the first failure.
  // `named`: run as a prepared statement of this connection (see the header comment).
  pg_result* execute(const std::string& sql, const Params& params, bool named = false);
  // `changes`, when given, receives the rows the statement changed once its result is read.
  void defer(std::string sql, Params params, std::string conflict_message, bool named = false,
             std::int64_t* changes = nullptr);
  // Forgets the deferred statements; true when BEGIN was among them (the
  // transaction never reached the server: nothing to roll back).
  bool drop_deferred();
  bool drop_deferred_if_only_begin();
  // Deferred statements are numbered in the order they are deferred: the next
  // one gets next_deferred_position(). A position below sent_deferred() has
  // reached the server; forget_deferred_from(p) forgets the unsent ones from p on.
  std::uint64_t next_deferred_position() const { return sent_deferred_ + deferred_.size(); }
  std::uint64_t sent_deferred() const { return sent_deferred_; }
  // After a statement the server refused: its position (a statement executed at
  // once has the position the next deferred one would have). Empty otherwise.
  std::optional<std::uint64_t> failed_position() const { return failed_position_; }
  void forget_deferred_from(std::uint64_t position) {
    if (position >= sent_deferred_ && position < next_deferred_position()) {
      deferred_.erase(deferred_.begin() + static_cast<std::ptrdiff_t>(position - sent_deferred_), deferred_.end());
    }
  }
  // Rows changed by the last Statement::run() on this connection.
  std::int64_t changes() const { return changes_; }

  // Reconnects when the connection was lost (then re-runs the session setup);
  // throws Transient when that fails or when a transaction was open.
  void ensure_connected();
  // SQL run now and after every reconnect (e.g. SET search_path): per-session state.
  void set_session_setup(std::string sql);
  bool connected() const;
  std::string server_version() const;

  // Remembers and throws (see the header comment for kinds).
  [[noreturn]] void fail(const std::string& message, const char* sqlstate);
  using LastError = pg::LastError;
  // Failures and round trips are also recorded there (diagnostics of a pool).
  void set_log(std::shared_ptr<ConnectionLog> log) { log_ = std::move(log); }
  // Counts one exchange with the server (a query, a pipeline up to its sync).
  void note_round_trip() {
    if (log_) log_->round_trips.fetch_add(1, std::memory_order_relaxed);
  }
  const std::optional<LastError>& last_error() const { return last_error_; }
  std::uint64_t error_count() const { return error_count_; }
  std::uint64_t reconnects() const { return reconnects_; }

  pg_conn* handle() const { return conn_; }
  void note_changes(std::int64_t changes) { changes_ = changes; }
  bool in_transaction() const { return in_transaction_; }
  void set_in_transaction(bool value) { in_transaction_ = value; }

 private:
  std::string conninfo_;
  pg_conn* conn_ = nullptr;
  Clock* clock_ = nullptr;
  std::string operation_ = "connect";
  std::optional<LastError> last_error_;
  std::uint64_t error_count_ = 0;
  std::uint64_t reconnects_ = 0;
  std::int64_t changes_ = 0;
  bool in_transaction_ = false;
  std::string session_setup_;
  std::shared_ptr<ConnectionLog> log_;
  struct Deferred {
    std::string sql;
    Params params;
    std::string conflict_message;
    bool named = false;
    std::int64_t* changes = nullptr;  // receives the rows changed, when not null
  };
  // The prepared statement's name of each SQL text prepared on this connection.
  std::unordered_map<std::string, std::string> prepared_;
  std::uint64_t next_prepared_ = 0;
  static constexpr std::size_t kMaxPrepared = 512;
  // `result` when it is rows or a command's success; otherwise clears it and fails
  // with the server's message and SQLSTATE (a null result: the connection's error).
  pg_result* checked(pg_result* result);
  // The name this connection prepared `sql` under, or null.
  const std::string* prepared_name(const std::string& sql) const;
  // True when `sql` is to run named but this connection has not prepared it yet
  // (and there is room for one more).
  bool needs_parse(const std::string& sql, bool named) const;
  std::optional<std::string> send_in_pipeline(const Deferred& statement);
  pg_result* execute_pipeline(const std::string& sql, const Params& params, bool named);
  // The first failure of a pipeline: what is thrown once its results are read.
  struct PipelineFailure {
    bool failed = false;
    std::string message;
    std::string state;
    void note(std::string text, const char* sqlstate, const std::string& conflict_message);
  };
  pg_result* read_pipeline(const std::vector<Deferred>& batch, const std::vector<std::string>& parsed,
                           std::uint64_t first_position, PipelineFailure& failure, bool& lost);
  bool read_parse_result(const std::string& sql, std::uint64_t position, PipelineFailure& failure);
  std::vector<Deferred> deferred_;
  std::uint64_t sent_deferred_ = 0;
  std::optional<std::uint64_t> failed_position_;
  // A pipeline holds at most this many statements: libpq sends in blocking
  // mode, so the server's replies must fit its socket buffers unread.
  static constexpr std::size_t kMaxPipeline = 256;
};

// A read-only REPEATABLE READ transaction: every statement until its end reads one
// snapshot, whatever other sessions commit meanwhile. It writes nothing; the destructor
// ends it.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Connection& connection);
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot();

 private:
  Connection& connection_;
};

// BEGIN on construction (READ COMMITTED); ROLLBACK on destruction unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& connection);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();
  // Commits without waiting for the server to flush the commit to disk
  // (synchronous_commit off for this transaction alone), for writes a server crash
  // may lose without harm: a fetch's claim, whose loss returns the item to its
  // queue as an expired lock would (an activity may then run again, which its
  // at-least-once contract allows). The server writes its log in order, so any
  // later commit that waits for the disk flushes this one with it; another
  // session sees it at once, as any commit.
  void commit_without_waiting_for_disk();

 private:
  // COMMIT (with synchronous_commit off unless `wait_for_disk`), or nothing when
  // only the deferred BEGIN would reach the server.
  void finish(bool wait_for_disk);
  Connection& connection_;
  bool done_ = false;
};

// "?N" -> "$N" outside single-quoted literals (exposed for tests).
std::string rewrite_placeholders(std::string_view sql);

}  // namespace duroxide::pg
