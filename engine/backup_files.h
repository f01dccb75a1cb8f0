// The file work of an online backup (engine/backup.h): copying files that
// the live engine may rename or delete meanwhile, verifying what is copied,
// and making a directory tree durable. Private to engine/backup.cc (and its
// tests).
//
// Contract:
// - Sources are open descriptors (SourceFile), opened when the backup
//   chose them: a snapshot the engine removes, or a log segment it moves
//   to the archive, stays readable through the descriptor, so a backup
//   never races the engine's clean-up for a file it needs.
// - Every copy writes a new file (O_EXCL) and checks `cancel` between
//   chunks of kCopyChunkBytes; a cancelled copy is kCancelled. Nothing is
//   synced here except by SyncTree: the caller syncs once, at the end.
// - Errors are absl::Status naming the file; damage in a source (a
//   snapshot whose checksum fails, a log record that does not verify) is
//   DataLoss, every other failure keeps its errno's meaning.
//
// Thread: any one thread (the backup's). These use POSIX directly, not
// wal::Storage: the engine's storage seam counts the log threads' calls
// for fault injection, and a backup is not one of them (as MeasureDisk).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace coffer::internal {

inline constexpr uint64_t kCopyChunkBytes = uint64_t{1} << 20;

// A file opened for reading; closed on destruction.
class SourceFile {
 public:
  // NotFound if `path` does not exist.
  static absl::StatusOr<SourceFile> Open(const std::string& path);
  SourceFile() = default;
  SourceFile(SourceFile&& other) noexcept;
  SourceFile& operator=(SourceFile&& other) noexcept;
  ~SourceFile();

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // Reads exactly `n` bytes at `offset` (a short file is DataLoss).
  absl::Status ReadAt(uint64_t offset, uint64_t n, char* out) const;

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
};

// Copies bytes [0, bytes) of `from` into the new file `to`.
absl::Status CopyPrefix(const SourceFile& from, uint64_t bytes,
                        const std::string& to, const std::atomic<bool>* cancel);

// Copies the snapshot file `from` (wal/FORMAT.md "Snapshot file", version
// 1 or 2) to `to`, checking its header, trailer and payload checksum as it
// goes, and that its seq is `seq`: DataLoss if it does not verify, so
// that a damaged snapshot is never the one a backup rests on.
absl::Status CopySnapshot(const SourceFile& from, uint64_t seq,
                          const std::string& to,
                          const std::atomic<bool>* cancel);

// The byte offset in log segment `segment` just past the record whose
// last_seq is `last_seq`, walking and verifying (checksum included) every
// record from the first, which must start at `first_seq`. DataLoss if a
// record does not verify or continue the sequence before `last_seq`, or
// if no record ends exactly there.
absl::StatusOr<uint64_t> RecordEndOffset(const SourceFile& segment,
                                         uint64_t first_seq, uint64_t last_seq,
                                         const std::atomic<bool>* cancel);

// What SyncTree found.
struct TreeUsage {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// fsyncs every regular file under `dir` and every directory, `dir`
// included (children before their parent), and counts the files.
absl::StatusOr<TreeUsage> SyncTree(const std::string& dir);

// fsync of one directory (after a rename or removal in it).
absl::Status SyncDirectory(const std::string& dir);

}  // namespace coffer::internal
