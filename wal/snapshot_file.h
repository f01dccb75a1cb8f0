// Snapshot files: the engine's whole state at one seq, written atomically,
// so that recovery replays only the log records after it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/storage.h"

namespace coffer::wal {

// The file format (FORMAT.md, "Snapshot file"). Version 2 (what is written)
// puts payload_bytes and the payload checksum in a trailer after the payload
// and zeros in the header's fields for them, so that the payload can be
// streamed; version 1 (the header carries them, no trailer) is still read.
inline constexpr std::string_view kSnapshotMagic = "COFFSNP1";
inline constexpr std::string_view kSnapshotTrailerMagic = "COFFSNPT";
inline constexpr uint32_t kSnapshotVersion1 = 1;
inline constexpr uint32_t kSnapshotVersion2 = 2;
inline constexpr uint32_t kSnapshotVersion = kSnapshotVersion2;  // written
inline constexpr size_t kSnapshotHeaderBytes = 48;
inline constexpr size_t kSnapshotTrailerBytes = 32;

// "snap-<seq as 20 decimal digits>.snap".
std::string SnapshotFileName(uint64_t seq);
bool ParseSnapshotFileName(std::string_view name, uint64_t* seq);

// Writes one snapshot file (version 2) as a stream, without the payload in
// memory: Create, any number of Append, Finish.
//
//  - Create makes `dir` if needed, creates (or truncates)
//    <dir>/snap-<seq>.snap.tmp and appends the header. If it fails no file
//    is left behind (`dir` may have been created).
//  - Append appends the bytes to the payload (one WritableFile::Append per
//    non-empty call: nothing is buffered, so pass chunks of a useful size)
//    and adds them to the payload checksum.
//  - Finish appends the trailer, fdatasyncs and closes the .tmp, renames it
//    to <dir>/snap-<seq>.snap and fsyncs `dir`. When it returns OK the
//    snapshot is published and durable. A crash before that leaves at most
//    the .tmp, which the readers ignore (RemoveSnapshotsBefore removes it
//    once its seq is below the cut).
//
// The failure state is sticky: after the first error from Append or Finish,
// every later Append and Finish returns that same error without doing any
// I/O. The .tmp is closed and removed at the error, except when the error
// is from the final directory fsync: the file is then already renamed into
// place (complete, but perhaps not durable) and is left there. Append or
// Finish after a successful Finish is FailedPrecondition.
//
// Destroying a writer that has not finished (or that failed before the
// rename) closes and removes its .tmp, ignoring errors.
//
// Not thread-safe: one thread at a time. At most one writer per (dir, seq)
// at a time: a second one truncates the first one's .tmp.
class SnapshotFileWriter {
 public:
  // `storage` nullptr: PosixStorage().
  static absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> Create(
      Storage* storage, const std::string& dir, uint64_t seq);

  ~SnapshotFileWriter();
  SnapshotFileWriter(const SnapshotFileWriter&) = delete;
  SnapshotFileWriter& operator=(const SnapshotFileWriter&) = delete;

  absl::Status Append(std::string_view bytes);
  absl::Status Finish();

  // Payload bytes appended so far (those of successful Appends).
  uint64_t payload_bytes() const { return payload_bytes_; }

 private:
  struct Checksum;  // the streaming XXH3 state (snapshot_file.cc)

  SnapshotFileWriter(Storage* storage, std::string dir, std::string path,
                     std::unique_ptr<WritableFile> file);

  // Records `status` as the sticky error, discards the .tmp, returns it.
  absl::Status Fail(absl::Status status);
  // Closes the file and removes the .tmp if they are still there.
  void Discard();

  Storage* const storage_;
  const std::string dir_;
  const std::string path_;              // the final name
  const std::string temp_;              // path_ + ".tmp"
  std::unique_ptr<WritableFile> file_;  // null once closed
  std::unique_ptr<Checksum> checksum_;
  uint64_t payload_bytes_ = 0;
  bool temp_exists_ = true;  // false once renamed or removed
  bool finished_ = false;
  absl::Status failed_;  // the first error; OK while none
};

// Writes <dir>/snap-<seq>.snap atomically with a SnapshotFileWriter: the
// chunks are appended in order (one Append each, empty ones skipped) and
// the file is finished. Creates `dir` if needed. A crash leaves either the
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

// Reads and verifies one snapshot file, version 1 or 2. Damage (and any
// other version) is DataLoss naming the file and the offset.
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
