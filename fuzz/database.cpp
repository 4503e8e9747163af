// .db files opened by the playground (wasm/bindings.cpp: the bytes go onto an in-memory
// disk and SqliteProvider opens them), then either read as the inspector reads them
// (support.hpp: store-wide views, the listing, two instances in full) or run as the
// playground runs them (20 dispatcher steps: every queued item's row is decoded; the
// sample database's work takes 2), and listed. The second byte picks which, and which
// instances the inspector reads: each input pays for one of the two readings, not both,
// and the fuzzer reaches both through that byte.
// Input, by its first byte:
//   0: the database file itself (any bytes);
//   1: the sample database (every sample, support.hpp) with bytes flipped: pairs of a
//      3-byte offset and a byte to xor there (a damaged file);
//   2: the sample database with its rows edited through SQLite (a file another program
//      wrote): operations of set a cell, delete a row, copy a row, drop a schema object,
//      set the schema version; each names its table, column and row by index.
// Properties: any file opens or raises a typed error; whatever opens reads and runs
// without a crash, a hang or unbounded memory (bad rows are Corrupted errors); on an
// edited (consistent) file an instance's export re-imports to the same document.
#include <sqlite3.h>

#include <cstring>
#include <vector>

#include "support.hpp"

using namespace duroxide;

namespace {

std::string flipped(fuzz::ByteReader& in) {
  std::string bytes = fuzz::sample_database();
  while (!in.empty()) {
    const std::size_t offset = static_cast<std::size_t>(in.number(3)) % bytes.size();
    bytes[offset] = static_cast<char>(bytes[offset] ^ in.byte());
  }
  return bytes;
}

struct Table {
  std::string name;
  std::vector<std::string> columns;
  std::string key;  // the primary key columns, or rowid: "a, b"
};

std::string sql_name(const std::string& name) { return "\"" + name + "\""; }

std::vector<Table> tables(sqlite3* db) {
  std::vector<Table> out;
  sqlite3_stmt* list = nullptr;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                     -1, &list, nullptr);
  while (list && sqlite3_step(list) == SQLITE_ROW) out.push_back({reinterpret_cast<const char*>(sqlite3_column_text(list, 0)), {}, {}});
  sqlite3_finalize(list);
  for (auto& table : out) {
    sqlite3_stmt* info = nullptr;
    sqlite3_prepare_v2(db, ("PRAGMA table_info(" + sql_name(table.name) + ")").c_str(), -1, &info, nullptr);
    while (info && sqlite3_step(info) == SQLITE_ROW) {
      const std::string column = reinterpret_cast<const char*>(sqlite3_column_text(info, 1));
      table.columns.push_back(column);
      if (sqlite3_column_int(info, 5) > 0) table.key += (table.key.empty() ? "" : ", ") + sql_name(column);
    }
    sqlite3_finalize(info);
    if (table.key.empty()) table.key = "rowid";
  }
  return out;
}

void bind_value(sqlite3_stmt* statement, int index, fuzz::ByteReader& in) {
  switch (in.byte() % 5) {
    case 0: sqlite3_bind_null(statement, index); break;
    case 1: sqlite3_bind_int64(statement, index, static_cast<sqlite3_int64>(in.number(8))); break;
    case 2: {
      const std::uint64_t bits = in.number(8);
      double value = 0;
      std::memcpy(&value, &bits, sizeof value);
      sqlite3_bind_double(statement, index, value);
      break;
    }
    case 3: sqlite3_bind_text(statement, index, in.text(255).c_str(), -1, SQLITE_TRANSIENT); break;
    default: {
      const std::string bytes = in.text(255);
      sqlite3_bind_blob(statement, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    }
  }
}

// Runs `sql` with ?1 a value from the input (when `with_value`) and ?2 a row offset.
void run_edit(sqlite3* db, const std::string& sql, bool with_value, fuzz::ByteReader& in) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) return;
  if (with_value) bind_value(statement, 1, in);
  sqlite3_bind_int(statement, 2, in.byte());
  sqlite3_step(statement);  // a constraint may refuse the edit: the file stays as it was
  sqlite3_finalize(statement);
}

void edit(sqlite3* db, const std::vector<Table>& schema, fuzz::ByteReader& in) {
  const std::uint8_t operation = in.byte() % 5;
  const Table& table = schema[in.byte() % schema.size()];
  const std::string row = "(" + table.key + ") = (SELECT " + table.key + " FROM " + sql_name(table.name) + " LIMIT 1 OFFSET ?2)";
  if (operation == 0) {
    const std::string& column = table.columns[in.byte() % table.columns.size()];
    run_edit(db, "UPDATE " + sql_name(table.name) + " SET " + sql_name(column) + " = ?1 WHERE " + row, true, in);
  } else if (operation == 1) {
    run_edit(db, "DELETE FROM " + sql_name(table.name) + " WHERE " + row, false, in);
  } else if (operation == 2) {
    run_edit(db, "INSERT INTO " + sql_name(table.name) + " SELECT * FROM " + sql_name(table.name) + " LIMIT 1 OFFSET ?2", false, in);
  } else if (operation == 3) {
    run_edit(db, "PRAGMA user_version = " + std::to_string(static_cast<std::int32_t>(in.number(4))), false, in);
  } else {
    sqlite3_stmt* objects = nullptr;
    sqlite3_prepare_v2(db, "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' LIMIT 1 OFFSET ?1", -1, &objects, nullptr);
    sqlite3_bind_int(objects, 1, in.byte());
    std::string drop;
    if (sqlite3_step(objects) == SQLITE_ROW) {
      drop = "DROP " + std::string(reinterpret_cast<const char*>(sqlite3_column_text(objects, 0))) + " " +
             sql_name(reinterpret_cast<const char*>(sqlite3_column_text(objects, 1)));
    }
    sqlite3_finalize(objects);
    if (!drop.empty()) sqlite3_exec(db, drop.c_str(), nullptr, nullptr, nullptr);
  }
}

std::string edited(fuzz::ByteReader& in) {
  const std::string path = "/edited.db";
  fuzz::disk().put_file(path, fuzz::sample_database());
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, fuzz::disk().name().c_str()) != SQLITE_OK) {
    fuzz::fail(std::string("the sample database does not open: ") + sqlite3_errmsg(db));
  }
  const std::vector<Table> schema = tables(db);
  for (int edits = 0; edits < 32 && !in.empty(); ++edits) edit(db, schema, in);
  sqlite3_close(db);
  std::string bytes = *fuzz::disk().file_bytes(path);
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) fuzz::disk().remove_file(path + suffix);
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::ByteReader in(fuzz::as_text(data, size));
  const std::uint8_t mode = in.byte() % 3;
  const std::uint8_t pick = in.byte();
  const std::string bytes = mode == 0 ? std::string(in.rest()) : mode == 1 ? flipped(in) : edited(in);
  std::unique_ptr<fuzz::Host> host;
  if (!fuzz::refused_cleanly([&] { host = std::make_unique<fuzz::Host>(bytes); })) return 0;
  host->intact = mode == 2;  // edits through SQLite keep the file consistent; flipped bytes need not
  if (pick % 2 == 0) {
    host->inspect(pick / 2);
  } else {
    host->clock.advance(2 * 60 * 60 * 1000);  // the sample database's timers come due
    host->run(20);
  }
  for (const char* name : {"list-instances", "count-by-status", "get-queue-depths"}) {
    fuzz::refused_cleanly([&] { host->command(name, fuzz::Json::object()); });
  }
  host.reset();
  fuzz::check_disk_empty();
  return 0;
}
