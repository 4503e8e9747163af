#include "duroxide/sim/memory_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <new>
#include <stdexcept>
#include <vector>

namespace duroxide::sim {

namespace {

// A file's bytes in chunks of 64 KiB. A growing file (a WAL) adds chunks instead of
// reallocating and copying one block, and a chunk this size comes from the allocator's
// pools, not a mapping of its own: under ASan, growing one block per write and unmapping
// the old ones took a fifth of the database fuzzer's time. Invariant: every byte of a
// chunk past `size` is zero, so a write past the end leaves a zeroed gap.
class FileBytes {
 public:
  static constexpr std::uint64_t kChunk = 64 * 1024;

  std::uint64_t size() const { return size_; }

  // Copies [offset, offset + amount) into `out`; returns how many bytes were there.
  std::uint64_t read(unsigned char* out, std::uint64_t amount, std::uint64_t offset) const {
    if (offset >= size_) return 0;
    const std::uint64_t available = std::min(amount, size_ - offset);
    for (std::uint64_t done = 0; done < available;) {
      const std::uint64_t at = offset + done;
      const std::uint64_t piece = std::min(available - done, kChunk - at % kChunk);
      std::memcpy(out + done, chunks_[at / kChunk].get() + at % kChunk, static_cast<std::size_t>(piece));
      done += piece;
    }
    return available;
  }

  void write(const unsigned char* in, std::uint64_t amount, std::uint64_t offset) {
    const std::uint64_t end = offset + amount;
    while (chunks_.size() * kChunk < end) chunks_.push_back(std::make_unique<unsigned char[]>(kChunk));
    for (std::uint64_t done = 0; done < amount;) {
      const std::uint64_t at = offset + done;
      const std::uint64_t piece = std::min(amount - done, kChunk - at % kChunk);
      std::memcpy(chunks_[at / kChunk].get() + at % kChunk, in + done, static_cast<std::size_t>(piece));
      done += piece;
    }
    size_ = std::max(size_, end);
  }

  void truncate(std::uint64_t size) {
    if (size >= size_) {
      while (chunks_.size() * kChunk < size) chunks_.push_back(std::make_unique<unsigned char[]>(kChunk));
    } else {
      chunks_.resize(static_cast<std::size_t>((size + kChunk - 1) / kChunk));
      if (size % kChunk != 0) {
        std::memset(chunks_.back().get() + size % kChunk, 0, static_cast<std::size_t>(kChunk - size % kChunk));
      }
    }
    size_ = size;
  }

 private:
  std::vector<std::unique_ptr<unsigned char[]>> chunks_;
  std::uint64_t size_ = 0;
};

struct FileData {
  FileBytes bytes;
  std::vector<std::vector<unsigned char>> shm_regions;
};

}  // namespace

struct MemoryVfs::State {
  sqlite3_vfs vfs{};
  std::string name;
  std::map<std::string, std::shared_ptr<FileData>> files;
  DiskFaultHook fault_hook;
  std::uint64_t random_state = 0x5EED;
  std::uint64_t temp_counter = 0;
  std::uint64_t operations = 0;

  bool fails(DiskOperation operation, const std::string& file) {
    ++operations;
    return fault_hook && fault_hook(operation, file);
  }
};

namespace {

// The sqlite3_file SQLite allocates for us (szOsFile bytes); constructed in place.
struct OpenFile {
  sqlite3_file base;  // must be first
  MemoryVfs::State* state;
  std::shared_ptr<FileData> data;
  std::string path;
  bool delete_on_close;
};

OpenFile* open_file(sqlite3_file* file) { return reinterpret_cast<OpenFile*>(file); }

int file_close(sqlite3_file* file) {
  OpenFile* self = open_file(file);
  if (self->delete_on_close) self->state->files.erase(self->path);
  self->~OpenFile();
  return SQLITE_OK;
}

int file_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  OpenFile* self = open_file(file);
  if (self->state->fails(DiskOperation::Read, self->path)) return SQLITE_IOERR_READ;
  const auto wanted = static_cast<std::uint64_t>(amount);
  const std::uint64_t available =
      self->data->bytes.read(static_cast<unsigned char*>(out), wanted, static_cast<std::uint64_t>(offset));
  if (available < wanted) {
    // SQLite requires the unread tail to be zeroed on a short read.
    std::memset(static_cast<unsigned char*>(out) + available, 0,
                static_cast<std::size_t>(wanted - available));
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int file_write(sqlite3_file* file, const void* in, int amount, sqlite3_int64 offset) {
  OpenFile* self = open_file(file);
  if (self->state->fails(DiskOperation::Write, self->path)) return SQLITE_IOERR_WRITE;
  self->data->bytes.write(static_cast<const unsigned char*>(in), static_cast<std::uint64_t>(amount),
                          static_cast<std::uint64_t>(offset));
  return SQLITE_OK;
}

int file_truncate(sqlite3_file* file, sqlite3_int64 size) {
  OpenFile* self = open_file(file);
  self->data->bytes.truncate(static_cast<std::uint64_t>(size));
  return SQLITE_OK;
}

int file_sync(sqlite3_file* file, int) {
  OpenFile* self = open_file(file);
  return self->state->fails(DiskOperation::Sync, self->path) ? SQLITE_IOERR_FSYNC : SQLITE_OK;
}

int file_size(sqlite3_file* file, sqlite3_int64* size) {
  *size = static_cast<sqlite3_int64>(open_file(file)->data->bytes.size());
  return SQLITE_OK;
}

int file_lock(sqlite3_file*, int) { return SQLITE_OK; }
int file_unlock(sqlite3_file*, int) { return SQLITE_OK; }
int file_check_reserved_lock(sqlite3_file*, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int file_control(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int file_sector_size(sqlite3_file*) { return 4096; }
int file_device_characteristics(sqlite3_file*) { return 0; }

int file_shm_map(sqlite3_file* file, int region, int region_size, int extend,
                 void volatile** out) {
  auto& regions = open_file(file)->data->shm_regions;
  const auto index = static_cast<std::size_t>(region);
  if (index >= regions.size()) {
    if (!extend) {
      *out = nullptr;
      return SQLITE_OK;
    }
    while (regions.size() <= index) {
      regions.emplace_back(static_cast<std::size_t>(region_size), 0);
    }
  }
  *out = regions[index].data();
  return SQLITE_OK;
}
int file_shm_lock(sqlite3_file*, int, int, int) { return SQLITE_OK; }
void file_shm_barrier(sqlite3_file*) {}
int file_shm_unmap(sqlite3_file* file, int delete_flag) {
  if (delete_flag) open_file(file)->data->shm_regions.clear();
  return SQLITE_OK;
}

const sqlite3_io_methods kIoMethods = {
    2,  // iVersion: shared memory (WAL), no mmap
    file_close,
    file_read,
    file_write,
    file_truncate,
    file_sync,
    file_size,
    file_lock,
    file_unlock,
    file_check_reserved_lock,
    file_control,
    file_sector_size,
    file_device_characteristics,
    file_shm_map,
    file_shm_lock,
    file_shm_barrier,
    file_shm_unmap,
    nullptr,
    nullptr,
};

MemoryVfs::State* vfs_state(sqlite3_vfs* vfs) { return static_cast<MemoryVfs::State*>(vfs->pAppData); }

int vfs_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  MemoryVfs::State* state = vfs_state(vfs);
  std::string path = name ? std::string(name) : "temp-" + std::to_string(++state->temp_counter);
  auto found = state->files.find(path);
  std::shared_ptr<FileData> data;
  if (found != state->files.end()) {
    data = found->second;
  } else {
    if (!(flags & SQLITE_OPEN_CREATE)) {
      file->pMethods = nullptr;
      return SQLITE_CANTOPEN;
    }
    data = std::make_shared<FileData>();
    state->files.emplace(path, data);
  }
  new (file) OpenFile{{&kIoMethods}, state, std::move(data), path,
                      (flags & SQLITE_OPEN_DELETEONCLOSE) != 0};
  if (out_flags) *out_flags = flags;
  return SQLITE_OK;
}

int vfs_delete(sqlite3_vfs* vfs, const char* name, int) {
  vfs_state(vfs)->files.erase(name);
  return SQLITE_OK;
}

int vfs_access(sqlite3_vfs* vfs, const char* name, int, int* out) {
  *out = vfs_state(vfs)->files.count(name) ? 1 : 0;
  return SQLITE_OK;
}

int vfs_full_pathname(sqlite3_vfs*, const char* name, int size, char* out) {
  const std::size_t length = std::strlen(name);
  if (length + 1 > static_cast<std::size_t>(size)) return SQLITE_CANTOPEN;
  std::memcpy(out, name, length + 1);
  return SQLITE_OK;
}

int vfs_randomness(sqlite3_vfs* vfs, int size, char* out) {
  MemoryVfs::State* state = vfs_state(vfs);
  for (int i = 0; i < size; ++i) {
    state->random_state = state->random_state * 6364136223846793005ull + 1442695040888963407ull;
    out[i] = static_cast<char>(state->random_state >> 56);
  }
  return size;
}

int vfs_sleep(sqlite3_vfs*, int microseconds) { return microseconds; }

// A fixed instant (2023-11-14 in Julian days): SQL never asks for the time in
// this project, and a constant keeps runs reproducible if it ever does.
constexpr sqlite3_int64 kFixedJulianMs = 212'134'953'600'000;
int vfs_current_time(sqlite3_vfs*, double* out) {
  *out = static_cast<double>(kFixedJulianMs) / 86'400'000.0;
  return SQLITE_OK;
}
int vfs_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  *out = kFixedJulianMs;
  return SQLITE_OK;
}
int vfs_last_error(sqlite3_vfs*, int, char*) { return 0; }

}  // namespace

MemoryVfs::MemoryVfs(const std::string& name) : state_(std::make_unique<State>()) {
  state_->name = name;
  sqlite3_vfs& vfs = state_->vfs;
  vfs.iVersion = 2;
  vfs.szOsFile = static_cast<int>(sizeof(OpenFile));
  vfs.mxPathname = 512;
  vfs.zName = state_->name.c_str();
  vfs.pAppData = state_.get();
  vfs.xOpen = vfs_open;
  vfs.xDelete = vfs_delete;
  vfs.xAccess = vfs_access;
  vfs.xFullPathname = vfs_full_pathname;
  vfs.xRandomness = vfs_randomness;
  vfs.xSleep = vfs_sleep;
  vfs.xCurrentTime = vfs_current_time;
  vfs.xGetLastError = vfs_last_error;
  vfs.xCurrentTimeInt64 = vfs_current_time_int64;
  if (sqlite3_initialize() != SQLITE_OK || sqlite3_vfs_register(&vfs, 0) != SQLITE_OK) {
    throw std::runtime_error("could not register the SQLite VFS " + name);
  }
}

MemoryVfs::~MemoryVfs() { sqlite3_vfs_unregister(&state_->vfs); }

const std::string& MemoryVfs::name() const { return state_->name; }

void MemoryVfs::set_fault_hook(DiskFaultHook hook) { state_->fault_hook = std::move(hook); }

std::uint64_t MemoryVfs::bytes_stored() const {
  std::uint64_t total = 0;
  for (const auto& entry : state_->files) total += entry.second->bytes.size();
  return total;
}

std::uint64_t MemoryVfs::operations() const { return state_->operations; }

void MemoryVfs::put_file(const std::string& path, const std::string& bytes) {
  auto data = std::make_shared<FileData>();
  data->bytes.write(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 0);
  state_->files[path] = std::move(data);
}

std::optional<std::string> MemoryVfs::file_bytes(const std::string& path) const {
  auto found = state_->files.find(path);
  if (found == state_->files.end()) return std::nullopt;
  const FileBytes& bytes = found->second->bytes;
  std::string out(static_cast<std::size_t>(bytes.size()), '\0');
  bytes.read(reinterpret_cast<unsigned char*>(out.data()), bytes.size(), 0);
  return out;
}

void MemoryVfs::remove_file(const std::string& path) { state_->files.erase(path); }

}  // namespace duroxide::sim
