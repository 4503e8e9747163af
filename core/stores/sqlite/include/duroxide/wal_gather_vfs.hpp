// A SQLite VFS over another that gathers a transaction's write-ahead-log frames
// into one write call.
//
// SQLite writes each WAL frame as two calls (its 24-byte header, then its page), so a
// transaction of n pages costs 2n writes; in WebAssembly under node each is a call
// out of the module into node's `fs`. This VFS keeps a connection's consecutive WAL
// writes in memory and hands them on as one write.
//
// Contract:
// - every file but the WAL, and every call but a WAL write, goes straight to the base VFS;
// - a WAL write that continues the gathered run is kept; one that does not first
//   writes what is kept, as does every other call on the WAL file (read, sync,
//   truncate, size, file control, close), so the connection reads what it wrote;
// - a commit frame (a frame header whose database-size field is not zero) and its
//   page are written before the write that brought the page returns, with what was
//   kept before them: SQLite publishes a commit in the shared WAL index only after
//   that, so no reader, in this process or another, can see a frame not yet written,
//   and a failed write is the committing call's error;
// - what is still kept when the connection gives up the WAL's write lock belongs to
//   a transaction that rolled back (a commit wrote everything): it is dropped, never
//   written later over frames another connection committed since;
// - at most kWalGatherLimitBytes are kept; a write that would pass it writes them first.
//   SQLite writes at most one page (64 KiB at most) per call, and its unix VFS writes
//   at most 128 KiB - 1 bytes per call, so one gathered call must stay under that.
#pragma once

#include <cstddef>
#include <string>

namespace duroxide {

constexpr std::size_t kWalGatherLimitBytes = 120 * 1024;

// Registers a VFS named `name` over the registered VFS `base` (empty: SQLite's
// default), not as the default; called again with the same name, it points that VFS
// at the `base` registered now. `base` must stay registered while files are open
// through it. Throws std::invalid_argument if `base` is not registered.
void register_wal_gather_vfs(const std::string& name, const std::string& base);

// The name of the gathering VFS over SQLite's default VFS, registered on first use.
// SqliteProvider opens files through it unless SqliteOptions::vfs names another.
const std::string& default_wal_gather_vfs();

}  // namespace duroxide
