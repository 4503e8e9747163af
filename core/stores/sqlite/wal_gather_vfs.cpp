#include "duroxide/wal_gather_vfs.hpp"

#include "duroxide/assert.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

namespace duroxide {

namespace {

constexpr int kFrameHeaderBytes = 24;  // SQLite's WAL_FRAME_HDRSIZE
constexpr int kWalWriteLockSlot = 0;   // SQLite's WAL_WRITE_LOCK: the first shared-memory lock

// The sqlite3_file SQLite allocates for a file of this VFS (szOsFile bytes), built in
// place; the base VFS's own file object follows it in the same allocation.
struct GatherFile {
  sqlite3_file base;  // must be first: SQLite hands this address back
  sqlite3_file* real = nullptr;
  bool is_wal = false;
  GatherFile* wal = nullptr;       // on a main database: its open WAL, if any
  GatherFile* database = nullptr;  // on a WAL: its main database
  std::vector<unsigned char> kept;
  sqlite3_int64 kept_offset = 0;
  // Where the page of the commit frame whose header was just written goes; -1: none.
  sqlite3_int64 commit_page_offset = -1;
};

constexpr std::size_t kRealFileOffset = (sizeof(GatherFile) + 15) / 16 * 16;

GatherFile* gather(sqlite3_file* file) { return reinterpret_cast<GatherFile*>(file); }
const sqlite3_io_methods* real_methods(GatherFile* file) { return file->real->pMethods; }

sqlite3_int64 kept_end(const GatherFile* file) {
  return file->kept_offset + static_cast<sqlite3_int64>(file->kept.size());
}

// A frame header's bytes 4..7 hold the database size in pages for a commit frame, else 0.
bool is_commit_header(const void* data, int amount) {
  if (amount != kFrameHeaderBytes) return false;
  const auto* bytes = static_cast<const unsigned char*>(data);
  return (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
}

void drop_kept(GatherFile* file) {
  file->kept.clear();
  file->commit_page_offset = -1;
}

// Writes what is kept, as one call. What was kept is dropped whatever the result: on
// an error the transaction it belongs to fails and rolls back.
int write_kept(GatherFile* file) {
  if (file->kept.empty()) return SQLITE_OK;
  DUROXIDE_ASSERT(file->kept.size() <= kWalGatherLimitBytes, "one write stays under the base VFS's largest");
  const int rc = real_methods(file)->xWrite(file->real, file->kept.data(), static_cast<int>(file->kept.size()),
                                            file->kept_offset);
  file->kept.clear();
  return rc;
}

int gather_close(sqlite3_file* handle) {
  GatherFile* file = gather(handle);
  int rc = write_kept(file);
  if (file->database) file->database->wal = nullptr;
  if (file->wal) file->wal->database = nullptr;
  const int close_rc = real_methods(file)->xClose(file->real);
  file->~GatherFile();
  return rc != SQLITE_OK ? rc : close_rc;
}

int gather_read(sqlite3_file* handle, void* out, int amount, sqlite3_int64 offset) {
  GatherFile* file = gather(handle);
  if (int rc = write_kept(file)) return rc;
  return real_methods(file)->xRead(file->real, out, amount, offset);
}

int write_through(GatherFile* file, const void* data, int amount, sqlite3_int64 offset) {
  return real_methods(file)->xWrite(file->real, data, amount, offset);
}

// The contract of wal_gather_vfs.hpp: a run of consecutive WAL writes is kept until a
// commit frame's page completes it (or the next would pass the limit, or another call comes).
int gather_write(sqlite3_file* handle, const void* data, int amount, sqlite3_int64 offset) {
  GatherFile* file = gather(handle);
  if (!file->is_wal) return write_through(file, data, amount, offset);
  const bool continues = offset == kept_end(file) && file->kept.size() + amount <= kWalGatherLimitBytes;
  if (!file->kept.empty() && !continues) {
    if (int rc = write_kept(file)) return rc;
  }
  const bool completes_commit = offset == file->commit_page_offset;
  const bool commit_header = is_commit_header(data, amount);
  file->commit_page_offset = commit_header ? offset + amount : -1;
  // A commit header with nothing before it may be a rewritten header that no page
  // follows (SQLite's checksum rewrite): written at once, as is the page after one.
  const bool alone = commit_header || completes_commit || static_cast<std::size_t>(amount) > kWalGatherLimitBytes;
  if (file->kept.empty() && alone) return write_through(file, data, amount, offset);
  if (file->kept.empty()) file->kept_offset = offset;
  const auto* bytes = static_cast<const unsigned char*>(data);
  file->kept.insert(file->kept.end(), bytes, bytes + amount);
  return completes_commit ? write_kept(file) : SQLITE_OK;
}

int gather_truncate(sqlite3_file* handle, sqlite3_int64 size) {
  GatherFile* file = gather(handle);
  if (int rc = write_kept(file)) return rc;
  return real_methods(file)->xTruncate(file->real, size);
}

int gather_sync(sqlite3_file* handle, int flags) {
  GatherFile* file = gather(handle);
  if (int rc = write_kept(file)) return rc;
  return real_methods(file)->xSync(file->real, flags);
}

int gather_file_size(sqlite3_file* handle, sqlite3_int64* size) {
  GatherFile* file = gather(handle);
  if (int rc = write_kept(file)) return rc;
  return real_methods(file)->xFileSize(file->real, size);
}

int gather_lock(sqlite3_file* handle, int level) {
  return real_methods(gather(handle))->xLock(gather(handle)->real, level);
}

int gather_unlock(sqlite3_file* handle, int level) {
  return real_methods(gather(handle))->xUnlock(gather(handle)->real, level);
}

int gather_check_reserved_lock(sqlite3_file* handle, int* out) {
  return real_methods(gather(handle))->xCheckReservedLock(gather(handle)->real, out);
}

int gather_file_control(sqlite3_file* handle, int op, void* arg) {
  GatherFile* file = gather(handle);
  if (int rc = write_kept(file)) return rc;
  return real_methods(file)->xFileControl(file->real, op, arg);
}

int gather_sector_size(sqlite3_file* handle) {
  return real_methods(gather(handle))->xSectorSize(gather(handle)->real);
}

int gather_device_characteristics(sqlite3_file* handle) {
  return real_methods(gather(handle))->xDeviceCharacteristics(gather(handle)->real);
}

int gather_shm_map(sqlite3_file* handle, int region, int size, int extend, void volatile** out) {
  return real_methods(gather(handle))->xShmMap(gather(handle)->real, region, size, extend, out);
}

// Called on the main database. Giving up the WAL's write lock ends a write
// transaction: a commit has written everything, so anything still kept was rolled back.
int gather_shm_lock(sqlite3_file* handle, int offset, int count, int flags) {
  GatherFile* file = gather(handle);
  const bool releases_write_lock = (flags & SQLITE_SHM_UNLOCK) != 0 && offset <= kWalWriteLockSlot &&
                                   kWalWriteLockSlot < offset + count;
  if (releases_write_lock && file->wal) drop_kept(file->wal);
  return real_methods(file)->xShmLock(file->real, offset, count, flags);
}

void gather_shm_barrier(sqlite3_file* handle) { real_methods(gather(handle))->xShmBarrier(gather(handle)->real); }

int gather_shm_unmap(sqlite3_file* handle, int delete_flag) {
  return real_methods(gather(handle))->xShmUnmap(gather(handle)->real, delete_flag);
}

int gather_fetch(sqlite3_file* handle, sqlite3_int64 offset, int amount, void** out) {
  return real_methods(gather(handle))->xFetch(gather(handle)->real, offset, amount, out);
}

int gather_unfetch(sqlite3_file* handle, sqlite3_int64 offset, void* page) {
  return real_methods(gather(handle))->xUnfetch(gather(handle)->real, offset, page);
}

sqlite3_io_methods make_methods(int version) {
  sqlite3_io_methods methods{};
  methods.iVersion = version;
  methods.xClose = gather_close;
  methods.xRead = gather_read;
  methods.xWrite = gather_write;
  methods.xTruncate = gather_truncate;
  methods.xSync = gather_sync;
  methods.xFileSize = gather_file_size;
  methods.xLock = gather_lock;
  methods.xUnlock = gather_unlock;
  methods.xCheckReservedLock = gather_check_reserved_lock;
  methods.xFileControl = gather_file_control;
  methods.xSectorSize = gather_sector_size;
  methods.xDeviceCharacteristics = gather_device_characteristics;
  methods.xShmMap = gather_shm_map;
  methods.xShmLock = gather_shm_lock;
  methods.xShmBarrier = gather_shm_barrier;
  methods.xShmUnmap = gather_shm_unmap;
  methods.xFetch = gather_fetch;
  methods.xUnfetch = gather_unfetch;
  return methods;
}

// One table per io_methods version (1: files only, 2: shared memory, 3: mmap), so
// SQLite never calls through us a method the base file lacks.
const sqlite3_io_methods kMethods[3] = {make_methods(1), make_methods(2), make_methods(3)};

const sqlite3_io_methods* methods_like(const sqlite3_io_methods* real) {
  const int version = real->iVersion < 1 ? 1 : (real->iVersion > 3 ? 3 : real->iVersion);
  return &kMethods[version - 1];
}

bool is_gather_file(const sqlite3_file* file) {
  return file && file->pMethods >= &kMethods[0] && file->pMethods <= &kMethods[2];
}

sqlite3_vfs* base_of(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

// A WAL is opened by the connection that opened its database; SQLite names that
// database's file object for it.
void link_to_database(GatherFile* wal, sqlite3_filename name) {
  sqlite3_file* database = sqlite3_database_file_object(name);
  if (!is_gather_file(database)) return;
  wal->database = gather(database);
  gather(database)->wal = wal;
}

int gather_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* handle, int flags, int* out_flags) {
  auto* file = new (handle) GatherFile();
  file->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(handle) + kRealFileOffset);
  file->real->pMethods = nullptr;
  sqlite3_vfs* base = base_of(vfs);
  const int rc = base->xOpen(base, name, file->real, flags, out_flags);
  if (file->real->pMethods == nullptr) {  // SQLite will not call xClose
    file->~GatherFile();
    handle->pMethods = nullptr;
    return rc == SQLITE_OK ? SQLITE_CANTOPEN : rc;
  }
  file->base.pMethods = methods_like(file->real->pMethods);
  file->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
  if (rc == SQLITE_OK && file->is_wal && name) link_to_database(file, name);
  return rc;
}

int gather_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return base_of(vfs)->xDelete(base_of(vfs), name, sync_dir);
}
int gather_access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return base_of(vfs)->xAccess(base_of(vfs), name, flags, out);
}
int gather_full_pathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return base_of(vfs)->xFullPathname(base_of(vfs), name, size, out);
}
void* gather_dl_open(sqlite3_vfs* vfs, const char* name) { return base_of(vfs)->xDlOpen(base_of(vfs), name); }
void gather_dl_error(sqlite3_vfs* vfs, int size, char* out) { base_of(vfs)->xDlError(base_of(vfs), size, out); }
void (*gather_dl_sym(sqlite3_vfs* vfs, void* library, const char* symbol))(void) {
  return base_of(vfs)->xDlSym(base_of(vfs), library, symbol);
}
void gather_dl_close(sqlite3_vfs* vfs, void* library) { base_of(vfs)->xDlClose(base_of(vfs), library); }
int gather_randomness(sqlite3_vfs* vfs, int size, char* out) {
  return base_of(vfs)->xRandomness(base_of(vfs), size, out);
}
int gather_sleep(sqlite3_vfs* vfs, int microseconds) { return base_of(vfs)->xSleep(base_of(vfs), microseconds); }
int gather_current_time(sqlite3_vfs* vfs, double* out) { return base_of(vfs)->xCurrentTime(base_of(vfs), out); }
int gather_last_error(sqlite3_vfs* vfs, int size, char* out) {
  return base_of(vfs)->xGetLastError(base_of(vfs), size, out);
}
int gather_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return base_of(vfs)->xCurrentTimeInt64(base_of(vfs), out);
}

struct RegisteredVfs {
  std::string name;
  sqlite3_vfs vfs{};
};

// What the VFS takes from its base; SQLite reads these at each open.
void aim_at(sqlite3_vfs& vfs, sqlite3_vfs* base) {
  vfs.iVersion = base->iVersion < 2 ? 1 : 2;  // version 3's system-call hooks are not forwarded
  vfs.szOsFile = static_cast<int>(kRealFileOffset) + base->szOsFile;
  vfs.mxPathname = base->mxPathname;
  vfs.pAppData = base;
  vfs.xCurrentTimeInt64 = base->iVersion >= 2 ? gather_current_time_int64 : nullptr;
}

std::unique_ptr<RegisteredVfs> make_vfs(const std::string& name, sqlite3_vfs* base) {
  auto registered = std::make_unique<RegisteredVfs>();
  registered->name = name;
  sqlite3_vfs& vfs = registered->vfs;
  aim_at(vfs, base);
  vfs.zName = registered->name.c_str();
  vfs.xOpen = gather_open;
  vfs.xDelete = gather_delete;
  vfs.xAccess = gather_access;
  vfs.xFullPathname = gather_full_pathname;
  vfs.xDlOpen = gather_dl_open;
  vfs.xDlError = gather_dl_error;
  vfs.xDlSym = gather_dl_sym;
  vfs.xDlClose = gather_dl_close;
  vfs.xRandomness = gather_randomness;
  vfs.xSleep = gather_sleep;
  vfs.xCurrentTime = gather_current_time;
  vfs.xGetLastError = gather_last_error;
  return registered;
}

}  // namespace

void register_wal_gather_vfs(const std::string& name, const std::string& base) {
  static std::mutex mutex;
  // Never destroyed: SQLite keeps a pointer to each registered VFS in its list, and the
  // destructor of another static (a MemoryVfs unregistering itself at exit) walks that
  // list after this file's statics would be gone; freed entries there were a
  // use-after-free at exit (docs/fuzzing.md, "Found and fixed").
  static auto& registered = *new std::map<std::string, std::unique_ptr<RegisteredVfs>>();
  std::lock_guard<std::mutex> lock(mutex);
  sqlite3_vfs* base_vfs = sqlite3_vfs_find(base.empty() ? nullptr : base.c_str());
  if (!base_vfs) throw std::invalid_argument("register_wal_gather_vfs: no SQLite VFS named '" + base + "'");
  auto existing = registered.find(name);
  if (existing != registered.end()) {  // the same name again: over the base registered now
    aim_at(existing->second->vfs, base_vfs);
    return;
  }
  auto vfs = make_vfs(name, base_vfs);
  if (sqlite3_vfs_register(&vfs->vfs, 0) != SQLITE_OK) {
    throw std::invalid_argument("register_wal_gather_vfs: SQLite refused to register '" + name + "'");
  }
  registered.emplace(name, std::move(vfs));
}

const std::string& default_wal_gather_vfs() {
  static const std::string name = [] {
    const std::string chosen = "duroxide-wal-gather";
    register_wal_gather_vfs(chosen, "");
    return chosen;
  }();
  return name;
}

}  // namespace duroxide
