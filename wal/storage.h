// The file-system seam of the write-ahead log. Everything in wal/ does its
// I/O through a Storage so that tests can inject faults (see
// faulty_storage.h) at exactly the calls that matter for durability: the
// appends and the syncs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace coffer::wal {

// A file opened for writing from offset 0. Not thread-safe.
class WritableFile {
 public:
  virtual ~WritableFile() = default;

  // Writes all of `data` at the end of what this object has appended so far
  // (not at the end of the file: after Preallocate the file is longer than
  // the data). A short write is an error; the file's content past the last
  // successful Append is then unknown.
  virtual absl::Status Append(std::string_view data) = 0;

  // fdatasync: the appended data (and the file size, if it changed) is on
  // stable storage when this returns OK. After an error the file must not be
  // synced again and trusted: Linux may have dropped the dirty pages and
  // cleared the error, so a second fdatasync can succeed without the data.
  virtual absl::Status Sync() = 0;

  // Allocates disk blocks for [0, bytes) and makes the file at least `bytes`
  // long; the new bytes read as zeros. Does not move the append offset.
  // PosixStorage also WRITES zeros over the new range past the appended
  // data (not synced here: the caller's next Sync covers them). fallocate
  // alone leaves "unwritten extents" on ext4 and XFS, and the first write
  // into each one changes the extent map, which every later fdatasync then
  // has to commit; blocks that were written once change no metadata when
  // overwritten, so syncs of appends into them write data only.
  virtual absl::Status Preallocate(uint64_t bytes) = 0;

  // Closes the descriptor. Does not sync. Later calls fail.
  virtual absl::Status Close() = 0;
};

class Storage {
 public:
  virtual ~Storage() = default;

  // Creates `path` or truncates it to zero length.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  // The whole content of `path`. NotFound if it does not exist.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..", in no
  // particular order.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) = 0;
  // mkdir -p; OK if it exists. Every directory it creates is made durable
  // (its parent is synced).
  virtual absl::Status CreateDir(const std::string& dir) = 0;
  // rename(2): atomic, replaces `to`. Needs SyncDir to be durable.
  virtual absl::Status Rename(const std::string& from,
                              const std::string& to) = 0;
  virtual absl::Status Remove(const std::string& path) = 0;
  // fsync of the directory itself, which makes creations, renames and
  // removals of its entries durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  // Cuts `path` to `size` bytes and syncs it: durable when it returns.
  virtual absl::Status Truncate(const std::string& path, uint64_t size) = 0;
  // The length of `path` in bytes. NotFound if it does not exist.
  virtual absl::StatusOr<uint64_t> FileSize(const std::string& path) = 0;
};

// Files of one kind in one directory, and their total size (disk use as
// the operator sees it: wal/archive.h, wal/snapshot_file.h).
struct FileUsage {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// The real file system. A process-wide object that is never destroyed.
Storage* PosixStorage();

// "dir/name", without doubling a trailing slash of `dir`.
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace coffer::wal
