// --js-library for wasm executables run under Node with NODERAWFS (tests, bench, sim CLI).
// Emscripten 3.1.6 makes fsync() and fdatasync() no-ops ("the in-memory FS is already
// synced"), but NODERAWFS writes real files through node's fs: without these two a
// SQLite database opened with synchronous=FULL would not be durable, and the bench's
// FULL rows would measure no disk flush at all. They flush the host file descriptor.
// Contract: 0 on success; a failed flush returns the host's errno (EIO when it has
// none), which SQLite reports as SQLITE_IOERR_FSYNC.
mergeInto(LibraryManager.library, {
  $duroxideNodeSync__deps: ['$FS', '$ERRNO_CODES'],
  $duroxideNodeSync: function(fd, flush) {
    var stream = FS.getStream(fd);
    if (!stream) return {{{ cDefine('EBADF') }}};
    if (stream.nfd === undefined || stream.stream_ops) return 0;  // not a host file
    try {
      flush(stream.nfd);
      return 0;
    } catch (e) {
      return (e && e.code && ERRNO_CODES[e.code]) || {{{ cDefine('EIO') }}};
    }
  },

  fd_sync__deps: ['$duroxideNodeSync'],
  fd_sync__sig: 'ii',
  fd_sync: function(fd) {
    return duroxideNodeSync(fd, function(nfd) { require('fs').fsyncSync(nfd); });
  },

  __syscall_fdatasync__deps: ['$duroxideNodeSync'],
  __syscall_fdatasync__sig: 'ii',
  __syscall_fdatasync: function(fd) {
    return -duroxideNodeSync(fd, function(nfd) { require('fs').fdatasyncSync(nfd); });
  },
});
