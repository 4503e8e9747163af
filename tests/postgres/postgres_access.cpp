#include "postgres_access.hpp"

#include <libpq-fe.h>

namespace duroxide::testing {

std::optional<std::string> postgres_raw_sql(const std::string& conninfo, const std::string& schema,
                                            const std::string& sql, std::string& error) {
  PGconn* session = PQconnectdb(conninfo.c_str());
  if (PQstatus(session) != CONNECTION_OK) {
    error = PQerrorMessage(session);
    PQfinish(session);
    return std::nullopt;
  }
  const std::string scoped = "SET search_path TO " + schema + "; " + sql;
  PGresult* result = PQexec(session, scoped.c_str());
  const ExecStatusType status = PQresultStatus(result);
  std::optional<std::string> out;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    out = status == PGRES_TUPLES_OK && PQntuples(result) > 0 ? PQgetvalue(result, 0, 0) : "";
  } else {
    error = PQresultErrorMessage(result);
  }
  PQclear(result);
  PQfinish(session);
  return out;
}

}  // namespace duroxide::testing
