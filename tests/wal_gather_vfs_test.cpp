// The VFS that gathers WAL frames into one write (duroxide/wal_gather_vfs.hpp):
// fewer writes, the same bytes, errors where SQLite expects them, and nothing of a
// rolled-back transaction written after it ended.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "duroxide/sim/memory_vfs.hpp"
#include "duroxide/wal_gather_vfs.hpp"

using namespace duroxide;

namespace {

class Db {
 public:
  Db(const std::string& path, const std::string& vfs) {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, vfs.c_str()) != SQLITE_OK) {
      std::string message = sqlite3_errmsg(db_);
      sqlite3_close(db_);
      throw std::runtime_error("open " + path + ": " + message);
    }
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // The result code of running `sql` (SQLITE_OK when every statement ran).
  int run(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
  void exec(const std::string& sql) {
    if (run(sql) != SQLITE_OK) throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
  }
  sqlite3* handle() const { return db_; }
  std::string text(const std::string& sql) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    std::string result;
    if (sqlite3_step(statement) == SQLITE_ROW) {
      const auto* value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
      result = value ? value : "";
    }
    sqlite3_finalize(statement);
    return result;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Rows of about 1 KiB: each few of them fill a page of their own.
std::string insert_rows(int first, int count, const std::string& tag) {
  return "WITH RECURSIVE n(i) AS (SELECT " + std::to_string(first) + " UNION ALL SELECT i + 1 FROM n WHERE i < " +
         std::to_string(first + count - 1) + ") INSERT INTO t(k, tag, v) SELECT i, '" + tag +
         "', printf('%.1000c', 'x') FROM n";
}

struct WalWriteCounter {
  sim::MemoryVfs vfs;
  int wal_writes = 0;
  bool fail_wal_writes = false;

  explicit WalWriteCounter(const std::string& name) : vfs(name) {
    vfs.set_fault_hook([this](sim::DiskOperation operation, const std::string& file) {
      const bool wal = file.size() > 4 && file.compare(file.size() - 4, 4, "-wal") == 0;
      if (operation != sim::DiskOperation::Write || !wal) return false;
      ++wal_writes;
      return fail_wal_writes;
    });
  }
};

void create_table(Db& db) {
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
          "CREATE TABLE t(k INTEGER PRIMARY KEY, tag TEXT NOT NULL, v TEXT NOT NULL)");
}

// A table in a database opened through the gathering VFS over a counting MemoryVfs.
struct GatheredDb {
  WalWriteCounter below;
  Db db;
  explicit GatheredDb(const std::string& name)
      : below(name), db("/" + name + ".db", (register_wal_gather_vfs(name + "-over", below.vfs.name()), name + "-over")) {
    create_table(db);
  }
};

}  // namespace

TEST_CASE("wal gather vfs: a transaction's frames reach the base VFS as one write", "[sqlite][vfs]") {
  WalWriteCounter direct("gather-test-direct");
  WalWriteCounter below("gather-test-below");
  register_wal_gather_vfs("gather-test-over", below.vfs.name());
  Db plain("/one.db", direct.vfs.name());
  Db gathered("/one.db", "gather-test-over");
  create_table(plain);
  create_table(gathered);
  direct.wal_writes = below.wal_writes = 0;
  plain.exec(insert_rows(1, 40, "a"));      // about ten pages of rows and their parents
  gathered.exec(insert_rows(1, 40, "a"));
  // SQLite writes each frame as a header and a page; the gathered run is one write.
  CHECK(direct.wal_writes >= 20);
  CHECK(direct.wal_writes % 2 == 0);
  CHECK(below.wal_writes == 1);
  CHECK(gathered.text("SELECT count(*) || ':' || sum(length(v)) FROM t") == "40:40000");
  CHECK(gathered.text("PRAGMA integrity_check") == "ok");
  // The same bytes: both files read back the same rows after a checkpoint.
  CHECK(plain.text("SELECT count(*) || ':' || sum(length(v)) FROM t") ==
        gathered.text("SELECT count(*) || ':' || sum(length(v)) FROM t"));
}

TEST_CASE("wal gather vfs: a failed write of the gathered frames fails the commit and keeps the database",
          "[sqlite][vfs]") {
  GatheredDb gathered("gather-test-failing");
  WalWriteCounter& below = gathered.below;
  Db& db = gathered.db;
  db.exec(insert_rows(1, 10, "kept"));
  below.fail_wal_writes = true;
  CHECK((db.run(insert_rows(11, 40, "lost")) & 0xFF) == SQLITE_IOERR);
  below.fail_wal_writes = false;
  CHECK(db.text("SELECT count(*) || ':' || min(tag) || ':' || max(tag) FROM t") == "10:kept:kept");
  db.exec(insert_rows(11, 5, "later"));
  CHECK(db.text("SELECT count(*) FROM t") == "15");
  CHECK(db.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("wal gather vfs: a transaction reads back the frames it spilled before it commits", "[sqlite][vfs]") {
  GatheredDb gathered("gather-test-spill");
  WalWriteCounter& below = gathered.below;
  Db& db = gathered.db;
  db.exec("PRAGMA cache_size = 10; PRAGMA cache_spill = 5");  // a page cache too small for the transaction
  db.exec("BEGIN");
  db.exec(insert_rows(1, 400, "spilled"));
  CHECK(below.wal_writes > 0);  // spilled before the commit
  CHECK(db.text("SELECT count(*) || ':' || sum(length(v)) FROM t") == "400:400000");
  db.exec("COMMIT");
  CHECK(db.text("SELECT sum(k) FROM t") == std::to_string(400 * 401 / 2));
  CHECK(db.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("wal gather vfs: what a connection still keeps when it gives up the write lock is never written",
          "[sqlite][vfs]") {
  // Kept frames at that point belong to a rolled-back transaction; written later they
  // would land on frames another connection committed meanwhile. SQLite's own paths
  // rarely leave any (a rollback reads pages back), so the test drives the file calls.
  GatheredDb gathered("gather-test-release");
  WalWriteCounter& below = gathered.below;
  Db& db = gathered.db;
  sqlite3* handle = db.handle();
  sqlite3_file* database = nullptr;
  sqlite3_file* wal = nullptr;
  REQUIRE(sqlite3_file_control(handle, "main", SQLITE_FCNTL_FILE_POINTER, &database) == SQLITE_OK);
  REQUIRE(sqlite3_file_control(handle, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK);
  REQUIRE(wal != nullptr);
  REQUIRE(wal->pMethods != nullptr);
  const std::string stale(100, '\xAB');
  const std::string later(10, '\x01');
  below.wal_writes = 0;
  REQUIRE(wal->pMethods->xWrite(wal, stale.data(), 100, 1000000) == SQLITE_OK);  // kept: no commit frame
  CHECK(below.wal_writes == 0);
  REQUIRE(database->pMethods->xShmLock(database, 0, 1, SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE) == SQLITE_OK);
  REQUIRE(wal->pMethods->xWrite(wal, later.data(), 10, 2000000) == SQLITE_OK);
  std::string read_back(100, '\0');
  CHECK((wal->pMethods->xRead(wal, read_back.data(), 100, 1000000) & 0xFF) == SQLITE_OK);  // writes `later`
  CHECK(below.wal_writes == 1);
  CHECK(read_back == std::string(100, '\0'));
}

TEST_CASE("wal gather vfs: a rolled-back transaction and another connection's commit leave every committed row",
          "[sqlite][vfs]") {
  const std::string path = "/tmp/duroxide-wal-gather-rollback.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  {
    Db first(path, default_wal_gather_vfs());
    Db second(path, default_wal_gather_vfs());
    create_table(first);
    first.exec("PRAGMA cache_size = 10; PRAGMA cache_spill = 5; PRAGMA wal_autocheckpoint = 0");
    second.exec("PRAGMA wal_autocheckpoint = 0");
    first.exec(insert_rows(1, 5, "base"));
    // The first connection spills frames of a transaction, then rolls it back; the
    // tail of its spill was still kept when it gave up the write lock.
    first.exec("BEGIN");
    first.exec(insert_rows(100, 60, "rolled back"));
    first.exec("ROLLBACK");
    // The second commits frames where the rolled-back ones were.
    second.exec(insert_rows(1000, 60, "second"));
    // The first writes again, somewhere else in the WAL.
    first.exec(insert_rows(2000, 3, "first again"));
    const std::string expected = "68:3:60:5:0";
    const std::string query =
        "SELECT count(*) || ':' || sum(tag = 'first again') || ':' || sum(tag = 'second') || ':' || "
        "sum(tag = 'base') || ':' || sum(tag = 'rolled back') FROM t";
    CHECK(second.text(query) == expected);
    CHECK(first.text(query) == expected);
    CHECK(second.text("PRAGMA integrity_check") == "ok");
  }
  {  // and once the last connection has checkpointed the WAL into the database
    Db reopened(path, default_wal_gather_vfs());
    CHECK(reopened.text("SELECT count(*) || ':' || sum(length(v)) FROM t") == "68:68000");
    CHECK(reopened.text("PRAGMA integrity_check") == "ok");
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

TEST_CASE("wal gather vfs: registered again under its name, it writes through the new base", "[sqlite][vfs]") {
  // As a test registers it again over a fresh MemoryVfs once the last one is gone.
  WalWriteCounter first("gather-test-first-base");
  WalWriteCounter second("gather-test-second-base");
  register_wal_gather_vfs("gather-test-again", first.vfs.name());
  {
    Db db("/again.db", "gather-test-again");
    create_table(db);
  }
  const int first_writes = first.wal_writes;
  CHECK(first_writes > 0);
  register_wal_gather_vfs("gather-test-again", second.vfs.name());
  Db db("/again.db", "gather-test-again");
  create_table(db);  // a new file: the second base holds none of the first's
  db.exec(insert_rows(1, 10, "second"));
  CHECK(second.wal_writes > 0);
  CHECK(first.wal_writes == first_writes);
  CHECK(db.text("SELECT count(*) FROM t") == "10");
}

TEST_CASE("wal gather vfs: registering over a VFS that does not exist is refused", "[sqlite][vfs]") {
  CHECK_THROWS_AS(register_wal_gather_vfs("gather-test-nowhere", "no-such-vfs"), std::invalid_argument);
  CHECK(sqlite3_vfs_find("gather-test-nowhere") == nullptr);
}
