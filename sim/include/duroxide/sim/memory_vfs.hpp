// MemoryVfs: an in-memory SQLite VFS that can fail reads, writes and syncs on
// request — the disk of the simulated world.
//
// Contract:
// - registered under a unique name for the lifetime of the object; a
//   SqliteProvider opens it with `SqliteOptions::vfs = vfs.name()`;
// - files live in memory, shared by every connection of this VFS; there is no
//   inter-connection locking, so at most one connection per file at a time
//   (the simulator shares one provider between its nodes);
// - supports WAL (shared memory regions are plain heap memory);
// - randomness and time asked of the VFS are deterministic, so a run depends
//   only on its inputs;
// - when the fault hook answers true, the operation fails with SQLITE_IOERR_*
//   and changes nothing, as a disk error would; SQLite then rolls back.
// - all connections must be closed before the MemoryVfs is destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace duroxide::sim {

enum class DiskOperation { Read, Write, Sync };

// Asked before every read, write and sync: true makes it fail.
using DiskFaultHook = std::function<bool(DiskOperation operation, const std::string& file)>;

class MemoryVfs {
 public:
  explicit MemoryVfs(const std::string& name);
  ~MemoryVfs();
  MemoryVfs(const MemoryVfs&) = delete;
  MemoryVfs& operator=(const MemoryVfs&) = delete;

  const std::string& name() const;
  void set_fault_hook(DiskFaultHook hook);
  // Bytes held by all files (diagnostics).
  std::uint64_t bytes_stored() const;
  std::uint64_t operations() const;  // reads + writes + syncs so far
  // Whole-file access, for loading a database from bytes and saving one (the
  // browser's open and download). Only while no connection has the file open.
  void put_file(const std::string& path, const std::string& bytes);
  std::optional<std::string> file_bytes(const std::string& path) const;
  void remove_file(const std::string& path);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace duroxide::sim
