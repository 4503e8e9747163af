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
  if (std::strcmp(state, "22P02") == 0 || std::strcmp(state, "22003") == 0) {
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

Statement::Statement(Connection* connection, std::string sql)
    : connection_(connection), sql_(rewrite_placeholders(sql)) {}

Statement::Statement(Statement&& other) noexcept
    : connection_(other.connection_),
      sql_(std::move(other.sql_)),
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
  connection_->ensure_connected();
  std::vector<const char*> values;
  values.reserve(params_.size());
  for (const auto& param : params_) values.push_back(param ? param->c_str() : nullptr);
  result_ = PQexecParams(connection_->handle(), sql_.c_str(), static_cast<int>(values.size()), nullptr,
                         values.data(), nullptr, nullptr, 0);
  const ExecStatusType status = result_ ? PQresultStatus(result_) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    std::string message = trimmed(result_ ? PQresultErrorMessage(result_) : PQerrorMessage(connection_->handle()));
    const char* state = result_ ? PQresultErrorField(result_, PG_DIAG_SQLSTATE) : nullptr;
    std::string state_copy = state ? state : "";
    if (result_) PQclear(result_);
    result_ = nullptr;
    connection_->fail(message, state_copy.empty() ? nullptr : state_copy.c_str());
  }
  rows_ = PQntuples(result_);
  const char* tuples = PQcmdTuples(result_);
  changes_ = tuples && *tuples ? std::strtoll(tuples, nullptr, 10) : 0;
  connection_->note_changes(changes_);
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
  PGresult* result = PQexec(conn_, sql.c_str());
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    std::string message = trimmed(result ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
    const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    std::string state_copy = state ? state : "";
    if (result) PQclear(result);
    fail(message, state_copy.empty() ? nullptr : state_copy.c_str());
  }
  PQclear(result);
}

Statement Connection::prepare(const std::string& sql) { return Statement(this, sql); }

void Connection::fail(const std::string& message, const char* sqlstate) {
  ++error_count_;
  last_error_ = LastError{message, clock_ ? clock_->now_ms() : 0};
  ProviderErrorKind kind = classify(sqlstate);
  throw ProviderError(kind, operation_,
                      message + (sqlstate ? std::string(" (SQLSTATE ") + sqlstate + ")" : std::string()));
}

// ---------------------------------------------------------------- Transaction

Transaction::Transaction(Connection& connection) : connection_(connection) {
  connection_.exec("BEGIN");
  connection_.set_in_transaction(true);
}

Transaction::~Transaction() {
  if (done_) return;
  connection_.set_in_transaction(false);
  if (!connection_.connected()) return;  // the server already dropped the transaction
  PGresult* result = PQexec(connection_.handle(), "ROLLBACK");
  if (result) PQclear(result);
}

void Transaction::commit() {
  connection_.exec("COMMIT");
  done_ = true;
  connection_.set_in_transaction(false);
}

}  // namespace duroxide::pg
