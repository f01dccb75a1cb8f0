// Snapshot files: the engine's whole state at one seq, written atomically,
// so that recovery replays only the log records after it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/storage.h"

namespace coffer::wal {

inline constexpr std::string_view kSnapshotMagic = "COFFSNP1";
inline constexpr uint32_t kSnapshotVersion = 1;
inline constexpr size_t kSnapshotHeaderBytes = 48;

// "snap-<seq as 20 decimal digits>.snap".
std::string SnapshotFileName(uint64_t seq);
bool ParseSnapshotFileName(std::string_view name, uint64_t* seq);

// Writes <dir>/snap-<seq>.snap atomically: a temporary file gets the header
// and the chunks (one Append each), is synced, renamed into place, and the
// directory is synced. Creates `dir` if needed. A crash leaves either the
// complete snapshot or none (a leftover *.tmp is ignored by the readers).
// The payload is opaque here; the concatenated chunks are stored.
absl::Status WriteSnapshotFile(
    Storage* storage, const std::string& dir, uint64_t seq,
    const std::vector<std::string_view>& payload_chunks);

struct SnapshotFile {
  uint64_t seq = 0;
  std::string payload;
  std::string path;
};

// The newest snapshot in `dir` that verifies. A damaged one (bad header,
// length or checksum: DataLoss from ReadSnapshotFile) is skipped and its
// path added to *skipped (may be null); older ones are tried. Any other
// error (I/O) is returned rather than silently falling back. NotFound if no
// snapshot verifies.
//
// Falling back to an older snapshot needs the log from that snapshot's seq
// on: trim segments only up to the oldest snapshot you keep.
absl::StatusOr<SnapshotFile> ReadNewestSnapshot(
    Storage* storage, const std::string& dir,
    std::vector<std::string>* skipped);

// Reads and verifies one snapshot file. Damage is DataLoss naming the file
// and the offset.
absl::StatusOr<SnapshotFile> ReadSnapshotFile(Storage* storage,
                                              const std::string& path);

// Removes every snapshot of `dir` with a seq below `seq`, and every leftover
// "snap-<seq>.snap.tmp" below `seq` (a write a crash interrupted; one at or
// above `seq` may be a write in progress, so it is left alone), then syncs
// the directory. Nothing else in `dir` is touched (log segments and their
// temporary files live there too). The caller must keep the log from the
// oldest snapshot it keeps on (see ReadNewestSnapshot). A missing `dir` is
// OK. Tries every file even after a failure; returns the first error.
absl::Status RemoveSnapshotsBefore(Storage* storage, const std::string& dir,
                                   uint64_t seq);

// The snapshot files of `dir` (finished ones and "snap-<seq>.snap.tmp"
// writes in progress) and their total size. A missing `dir` is empty.
absl::StatusOr<FileUsage> MeasureSnapshots(Storage* storage,
                                           const std::string& dir);

}  // namespace coffer::wal
