#include "postgres_connection.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>

namespace duroxide::pg {

namespace {

// SQLSTATE classes and codes a retry can fix: connection exceptions (08),
// serialization failure, deadlock, lock not available, query canceled, operator
// intervention (57: admin shutdown, crash shutdown, cannot connect now), and
// insufficient resources (53: too many connections).
bool transient_state(const char* state) {
  if (!state) return true;  // no SQLSTATE: the connection itself failed
  if (std::strcmp(state, "08P01") == 0) return false;  // protocol violation: a bug, not the network
  if (std::strncmp(state, "08", 2) == 0 || std::strncmp(state, "57", 2) == 0 ||
      std::strncmp(state, "53", 2) == 0) {
    return true;
  }
  return std::strcmp(state, "40001") == 0 || std::strcmp(state, "40P01") == 0 ||
         std::strcmp(state, "55P03") == 0;
}

ProviderErrorKind classify(const char* state) {
  if (transient_state(state)) return ProviderErrorKind::Transient;
  if (std::strcmp(state, "23505") == 0) return ProviderErrorKind::Conflict;
  // Invalid text representation, numeric out of range, and text the server
  // cannot store (malformed UTF-8, untranslatable characters): the value is bad.
  if (std::strcmp(state, "22P02") == 0 || std::strcmp(state, "22003") == 0 ||
      std::strcmp(state, "22021") == 0 || std::strcmp(state, "22P05") == 0) {
    return ProviderErrorKind::InvalidInput;
  }
  return ProviderErrorKind::Permanent;
}

std::string trimmed(const char* message) {
  std::string text = message ? message : "unknown error";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

std::string rewrite_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  bool quoted = false;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'') quoted = !quoted;  // '' inside a literal toggles twice: still quoted
    if (!quoted && c == '?' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out += '$';
      continue;
    }
    out += c;
  }
  return out;
}

// ---------------------------------------------------------------- Statement

Statement::Statement(Connection* connection, std::string sql, bool named)
    : connection_(connection), sql_(rewrite_placeholders(sql)), named_(named) {}

Statement::Statement(Statement&& other) noexcept
    : connection_(other.connection_),
      sql_(std::move(other.sql_)),
      named_(other.named_),
      params_(std::move(other.params_)),
      result_(other.result_),
      row_(other.row_),
      rows_(other.rows_),
      executed_(other.executed_),
      changes_(other.changes_) {
  other.result_ = nullptr;
}

Statement::~Statement() {
  if (result_) PQclear(result_);
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (index < 1) return *this;
  if (params_.size() < static_cast<std::size_t>(index)) params_.resize(static_cast<std::size_t>(index));
  params_[static_cast<std::size_t>(index) - 1] = std::to_string(value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  if (index < 1) return *this;
  // Parameters travel as C strings: a NUL byte would cut the value short without a word.
  if (value.find('\0') != std::string_view::npos) {
    throw ProviderError(ProviderErrorKind::InvalidInput, connection_->operation(),
                        "PostgreSQL text cannot hold a NUL byte (parameter " + std::to_string(index) + ")");
  }
  if (params_.size() < static_cast<std::size_t>(index)) params_.resize(static_cast<std::size_t>(index));
  params_[static_cast<std::size_t>(index) - 1] = std::string(value);
  return *this;
}

Statement& Statement::bind_null(int index) {
  if (index < 1) return *this;
  if (params_.size() < static_cast<std::size_t>(index)) params_.resize(static_cast<std::size_t>(index));
  params_[static_cast<std::size_t>(index) - 1].reset();
  return *this;
}

Statement& Statement::bind_optional(int index, const std::optional<std::string>& value) {
  return value ? bind(index, std::string_view(*value)) : bind_null(index);
}

void Statement::execute() {
  executed_ = true;
  result_ = connection_->execute(sql_, params_, named_);
  rows_ = PQntuples(result_);
  const char* tuples = PQcmdTuples(result_);
  changes_ = tuples && *tuples ? std::strtoll(tuples, nullptr, 10) : 0;
  connection_->note_changes(changes_);
}

void Statement::defer(std::string conflict_message) {
  if (!connection_->in_transaction()) {
    run();
    return;
  }
  executed_ = true;
  connection_->defer(std::move(sql_), std::move(params_), std::move(conflict_message), named_);
}

void Statement::defer_counting(std::int64_t& changes) {
  if (!connection_->in_transaction()) {
    run();
    changes = changes_;
    return;
  }
  executed_ = true;
  connection_->defer(std::move(sql_), std::move(params_), {}, named_, &changes);
}

bool Statement::step() {
  if (!executed_) execute();
  if (row_ + 1 >= rows_) {
    row_ = rows_;
    return false;
  }
  ++row_;
  return true;
}

void Statement::run() {
  if (!executed_) execute();
}

bool Statement::is_null(int column) const { return PQgetisnull(result_, row_, column) == 1; }

std::string Statement::text(int column) const {
  if (is_null(column)) return {};
  return std::string(PQgetvalue(result_, row_, column),
                     static_cast<std::size_t>(PQgetlength(result_, row_, column)));
}

std::optional<std::string> Statement::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

std::int64_t Statement::integer(int column) const {
  if (is_null(column)) return 0;
  const char* value = PQgetvalue(result_, row_, column);
  if (std::strcmp(value, "t") == 0) return 1;
  if (std::strcmp(value, "f") == 0) return 0;
  return std::strtoll(value, nullptr, 10);  // numerics: the integer part
}

// ---------------------------------------------------------------- Connection

// The server's NOTICEs ("already exists, skipping", cascades) are not errors and
// must not reach the host's stderr.
static void ignore_notice(void*, const char*) {}

Connection::Connection(std::string conninfo) : conninfo_(std::move(conninfo)) {
  conn_ = PQconnectdb(conninfo_.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message = trimmed(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    fail("cannot connect: " + message, nullptr);
  }
  PQsetNoticeProcessor(conn_, &ignore_notice, nullptr);
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

bool Connection::connected() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

std::string Connection::server_version() const {
  if (!conn_) return {};
  const int version = PQserverVersion(conn_);  // e.g. 150018
  return std::to_string(version / 10000) + "." + std::to_string(version % 10000);
}

void Connection::ensure_connected() {
  if (connected()) return;
  // The server rolled the open transaction back with the connection: never go
  // on in a new session (the rest would commit on its own). The Transaction's
  // destructor clears the flag; the next call reconnects.
  if (in_transaction_) fail("connection lost inside a transaction (the server rolled it back)", nullptr);
  prepared_.clear();  // a new server connection knows none of the old one's statements
  if (conn_) {
    PQreset(conn_);
  } else {
    conn_ = PQconnectdb(conninfo_.c_str());
    PQsetNoticeProcessor(conn_, &ignore_notice, nullptr);
  }
  ++reconnects_;
  if (PQstatus(conn_) != CONNECTION_OK) {
    fail("connection lost, reconnecting failed: " + trimmed(PQerrorMessage(conn_)), nullptr);
  }
  if (!session_setup_.empty()) exec(session_setup_);
}

void Connection::set_session_setup(std::string sql) {
  session_setup_ = std::move(sql);
  exec(session_setup_);
}

void Connection::exec(const std::string& sql) {
  ensure_connected();
  if (!deferred_.empty()) PQclear(execute("SELECT 1", {}));  // keeps the order
  note_round_trip();
  PQclear(checked(PQexec(conn_, sql.c_str())));
}

PGresult* Connection::checked(PGresult* result) {
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return result;
  std::string message = trimmed(result ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string state_copy = state ? state : "";
  if (result) PQclear(result);
  fail(message, state_copy.empty() ? nullptr : state_copy.c_str());
}

Statement Connection::prepare(const std::string& sql) { return Statement(this, sql, true); }

Statement Connection::prepare_once(const std::string& sql) { return Statement(this, sql, false); }

void Connection::defer(std::string sql, Params params, std::string conflict_message, bool named,
                       std::int64_t* changes) {
  if (deferred_.size() + 1 >= kMaxPipeline) {
    PGresult* last = execute("SELECT 1", {});  // sends the queue so far
    PQclear(last);
  }
  deferred_.push_back(Deferred{std::move(sql), std::move(params), std::move(conflict_message), named, changes});
}

bool Connection::drop_deferred_if_only_begin() {
  if (deferred_.size() != 1 || deferred_.front().sql != "BEGIN") return false;
  deferred_.clear();
  return true;
}

bool Connection::drop_deferred() {
  const bool unsent_begin = !deferred_.empty() && deferred_.front().sql == "BEGIN";
  deferred_.clear();
  return unsent_begin;
}

namespace {

std::vector<const char*> param_values(const Connection::Params& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param ? param->c_str() : nullptr);
  return values;
}

}  // namespace

const std::string* Connection::prepared_name(const std::string& sql) const {
  auto found = prepared_.find(sql);
  return found == prepared_.end() ? nullptr : &found->second;
}

bool Connection::needs_parse(const std::string& sql, bool named) const {
  return named && prepared_.size() < kMaxPrepared && !prepared_name(sql);
}

PGresult* Connection::execute(const std::string& sql, const Params& params, bool named) {
  ensure_connected();
  if (!deferred_.empty() || needs_parse(sql, named)) return execute_pipeline(sql, params, named);
  note_round_trip();
  const std::vector<const char*> values = param_values(params);
  const std::string* name = named ? prepared_name(sql) : nullptr;
  PGresult* result =
      name ? PQexecPrepared(conn_, name->c_str(), static_cast<int>(values.size()), values.data(), nullptr, nullptr, 0)
           : PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                          nullptr, 0);
  failed_position_ = sent_deferred_;  // the statement's position, kept when checked() throws
  result = checked(result);
  failed_position_.reset();
  return result;
}

// Sends one statement of a pipeline, with the Parse of its prepared statement
// first when this connection has not prepared it; returns that Parse's name (empty
// when none was sent), or nullopt when libpq could not send.
std::optional<std::string> Connection::send_in_pipeline(const Deferred& statement) {
  const std::vector<const char*> values = param_values(statement.params);
  const int count = static_cast<int>(values.size());
  std::string parsed;
  if (needs_parse(statement.sql, statement.named)) {
    parsed = "duroxide_" + std::to_string(next_prepared_++);
    if (PQsendPrepare(conn_, parsed.c_str(), statement.sql.c_str(), 0, nullptr) != 1) return std::nullopt;
    prepared_.emplace(statement.sql, parsed);  // forgotten again unless the server accepts the Parse
  }
  const std::string* name = statement.named ? prepared_name(statement.sql) : nullptr;
  const int sent = name ? PQsendQueryPrepared(conn_, name->c_str(), count, values.data(), nullptr, nullptr, 0)
                        : PQsendQueryParams(conn_, statement.sql.c_str(), count, nullptr, values.data(), nullptr,
                                            nullptr, 0);
  if (sent != 1) return std::nullopt;
  return parsed;
}

namespace {

// Reads the rest of one pipelined query's results, up to the NULL that ends them.
void drain_results(PGconn* conn) {
  for (PGresult* end = PQgetResult(conn); end; end = PQgetResult(conn)) PQclear(end);
}

}  // namespace

PGresult* Connection::execute_pipeline(const std::string& sql, const Params& params, bool named) {
  note_round_trip();
  failed_position_.reset();
  // One pipeline: the deferred statements, then `sql`, then a sync point. After
  // the first failure the server skips the rest (PIPELINE_ABORTED) up to the sync.
  std::vector<Deferred> batch = std::move(deferred_);
  deferred_.clear();
  const std::uint64_t first_position = sent_deferred_;
  sent_deferred_ += batch.size();
  batch.push_back(Deferred{sql, params, {}, named});
  PipelineFailure failure;
  if (PQenterPipelineMode(conn_) != 1) fail("cannot enter pipeline mode: " + trimmed(PQerrorMessage(conn_)), nullptr);
  std::vector<std::string> parsed;  // per statement sent: the Parse sent before it, if any
  for (const Deferred& statement : batch) {
    std::optional<std::string> parse = send_in_pipeline(statement);
    if (!parse) {
      failure.note(trimmed(PQerrorMessage(conn_)), nullptr, {});
      break;
    }
    parsed.push_back(std::move(*parse));
  }
  if (!failure.failed && PQpipelineSync(conn_) != 1) failure.note(trimmed(PQerrorMessage(conn_)), nullptr, {});
  bool lost = failure.failed;  // a send failed: the connection is gone, nothing to read
  PGresult* last = lost ? nullptr : read_pipeline(batch, parsed, first_position, failure, lost);
  if (!lost) {
    // The sync point's result, then back to ordinary mode.
    for (PGresult* result = PQgetResult(conn_); result; result = PQgetResult(conn_)) {
      const bool sync = PQresultStatus(result) == PGRES_PIPELINE_SYNC;
      PQclear(result);
      if (sync) break;
    }
  }
  PQexitPipelineMode(conn_);  // refused (harmless) when a lost connection left results pending
  if (PQstatus(conn_) != CONNECTION_OK && !failure.failed) failure.note(trimmed(PQerrorMessage(conn_)), nullptr, {});
  if (failure.failed) {
    if (last) PQclear(last);
    fail(failure.message, failure.state.empty() ? nullptr : failure.state.c_str());
  }
  return last;
}

void Connection::PipelineFailure::note(std::string text, const char* sqlstate, const std::string& conflict_message) {
  if (failed) return;
  failed = true;
  state = sqlstate ? sqlstate : "";
  message = state == "23505" && !conflict_message.empty() ? conflict_message : std::move(text);
}

// The results of the `parsed.size()` statements of `batch` sent in a pipeline (each
// after its Parse, where `parsed` names one); returns the last statement's result when
// nothing failed. Sets `lost` when the connection broke.
PGresult* Connection::read_pipeline(const std::vector<Deferred>& batch, const std::vector<std::string>& parsed,
                                    std::uint64_t first_position, PipelineFailure& failure, bool& lost) {
  PGresult* last = nullptr;
  const std::size_t sent = parsed.size();
  for (std::size_t i = 0; i < sent && !lost; ++i) {
    if (!parsed[i].empty() && !read_parse_result(batch[i].sql, first_position + i, failure)) {
      lost = true;
      break;
    }
    PGresult* result = PQgetResult(conn_);
    if (!result) {  // the connection broke: no more results will come
      failure.note(trimmed(PQerrorMessage(conn_)), nullptr, {});
      lost = true;
      break;
    }
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_FATAL_ERROR) {
      if (!failure.failed) failed_position_ = first_position + i;
      const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
      failure.note(trimmed(PQresultErrorMessage(result)), state, batch[i].conflict_message);
    } else if (status != PGRES_PIPELINE_ABORTED && status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      failure.note("unexpected result " + std::string(PQresStatus(status)), nullptr, {});
    } else if (batch[i].changes && status != PGRES_PIPELINE_ABORTED) {
      const char* tuples = PQcmdTuples(result);
      *batch[i].changes = tuples && *tuples ? std::strtoll(tuples, nullptr, 10) : 0;
    }
    if (i + 1 == sent && !failure.failed) {
      last = result;
    } else {
      PQclear(result);
    }
    drain_results(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) lost = true;
  }
  return last;
}

// The result of the Parse sent before the statement at `position`: the name is kept
// only when the server accepted it. False when the connection broke.
bool Connection::read_parse_result(const std::string& sql, std::uint64_t position, PipelineFailure& failure) {
  PGresult* parse = PQgetResult(conn_);
  const ExecStatusType status = parse ? PQresultStatus(parse) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK) {
    prepared_.erase(sql);
  } else if (log_) {
    log_->statements_prepared.fetch_add(1, std::memory_order_relaxed);
  }
  if (!parse) {
    failure.note(trimmed(PQerrorMessage(conn_)), nullptr, {});
    return false;
  }
  if (status == PGRES_FATAL_ERROR) {
    if (!failure.failed) failed_position_ = position;
    failure.note(trimmed(PQresultErrorMessage(parse)), PQresultErrorField(parse, PG_DIAG_SQLSTATE), {});
  }
  PQclear(parse);
  drain_results(conn_);
  return true;
}

void Connection::fail(const std::string& message, const char* sqlstate) {
  ++error_count_;
  last_error_ = LastError{message, clock_ ? clock_->now_ms() : 0};
  if (log_) {
    std::lock_guard<std::mutex> lock(log_->mutex);
    log_->last = last_error_;
    ++log_->count;
  }
  ProviderErrorKind kind = classify(sqlstate);
  throw ProviderError(kind, operation_,
                      message + (sqlstate ? std::string(" (SQLSTATE ") + sqlstate + ")" : std::string()));
}

// ---------------------------------------------------------------- ReadSnapshot

namespace {

// Ends the open transaction of a destructor: nothing to do when the server already
// dropped it with the connection; a failed ROLLBACK leaves the server to end it.
void roll_back(Connection& connection) {
  if (!connection.connected()) return;
  connection.note_round_trip();
  PGresult* result = PQexec(connection.handle(), "ROLLBACK");
  if (result) PQclear(result);
}

}  // namespace

ReadSnapshot::ReadSnapshot(Connection& connection) : connection_(connection) {
  connection_.ensure_connected();
  PQclear(connection_.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}));
  connection_.set_in_transaction(true);
}

ReadSnapshot::~ReadSnapshot() {
  connection_.set_in_transaction(false);
  connection_.drop_deferred();
  roll_back(connection_);
}

// ---------------------------------------------------------------- Transaction

Transaction::Transaction(Connection& connection) : connection_(connection) {
  connection_.ensure_connected();
  connection_.defer("BEGIN", {}, {});  // sent with the transaction's first statement
  connection_.set_in_transaction(true);
}

Transaction::~Transaction() {
  if (done_) return;
  connection_.set_in_transaction(false);
  if (connection_.drop_deferred()) return;  // BEGIN never reached the server
  roll_back(connection_);
}

void Transaction::commit() { finish(/*wait_for_disk=*/true); }

void Transaction::commit_without_waiting_for_disk() { finish(/*wait_for_disk=*/false); }

void Transaction::finish(bool wait_for_disk) {
  if (connection_.drop_deferred_if_only_begin()) {
    done_ = true;  // nothing was done: nothing to commit
    connection_.set_in_transaction(false);
    return;
  }
  // Read at COMMIT: deferred last, it rides in the COMMIT's pipeline.
  if (!wait_for_disk) connection_.defer("SET LOCAL synchronous_commit TO off", {}, {});
  PQclear(connection_.execute("COMMIT", {}));
  done_ = true;
  connection_.set_in_transaction(false);
}

}  // namespace duroxide::pg
