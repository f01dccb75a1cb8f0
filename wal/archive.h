// The archive of log segments: where cofferd keeps the segments it drops
// from the live log after a snapshot (RemoveSegmentsUpTo with an
// archive_dir), so that the whole history stays readable. The archive is a
// log directory of its own: the oldest records, ending where the live log's
// oldest segment begins.
//
// Retention: by default nothing leaves the archive. With a byte bound the
// oldest segments are removed first, so the archive and the live log stay
// one run of seqs without a hole; what was removed is gone for history and
// audit (never for the ledger's state, which the snapshots carry).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "wal/storage.h"

namespace coffer::wal {

// Creates `archive_dir` if needed and checks that a file of `log_dir` can be
// renamed into it (the same file system): a probe file is made, moved and
// removed. FailedPrecondition, naming both directories, if not.
absl::Status PrepareArchive(Storage* storage, const std::string& log_dir,
                            const std::string& archive_dir);

// The segment files of `dir` and their total size. A missing directory
// counts as empty.
// Every file in `dir` (not below it), whatever its name: for directories
// another program writes (RocksDB's op-id index), whose files may vanish
// while they are counted (those are skipped). A missing dir is empty.
absl::StatusOr<FileUsage> MeasureFiles(Storage* storage,
                                       const std::string& dir);

absl::StatusOr<FileUsage> MeasureSegments(Storage* storage,
                                          const std::string& dir);

// Removes the oldest segments of `archive_dir` until the rest take at most
// `bytes_max` bytes; 0 means no bound (nothing is removed). Returns how many
// were removed; the directory is synced when any was.
absl::StatusOr<uint64_t> TrimArchive(Storage* storage,
                                     const std::string& archive_dir,
                                     uint64_t bytes_max);

}  // namespace coffer::wal
