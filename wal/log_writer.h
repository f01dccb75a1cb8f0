// Group-committing writer of the write-ahead log.
//
// The caller (the engine's log thread) appends records, then calls Sync,
// which writes them with one write per segment touched and one fdatasync;
// only then may the records' transactions be acknowledged. durable_seq()
// says how far that is.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/format.h"
#include "wal/storage.h"

namespace coffer::wal {

struct LogWriterOptions {
  std::string dir;
  // Preallocated size of each segment (header included). A new segment is
  // allocated and filled with zeros (see Storage::Preallocate) and synced
  // before its first record, so that the fdatasyncs of appends change no
  // file-system metadata; that costs one write of segment_bytes per segment
  // (at a roll, inside the Sync that needs the new segment: about 0.15 s
  // for 64 MiB on a disk that writes 450 MB/s).
  uint64_t segment_bytes = 64ull << 20;
  Storage* storage = nullptr;  // nullptr: PosixStorage()
};

// Append and Sync are for one thread. durable_seq() may be read from any
// thread (it is published with release order after the fdatasync returned).
class LogWriter {
 public:
  // Starts a NEW segment whose first record will be `next_seq` (>= 1). It
  // never appends to an existing file: a damaged tail left by a crash stays
  // behind untouched, and the reader accepts it because this segment
  // continues the sequence right after the last good record. `next_seq`
  // must therefore be one past the last record ReadLog returned (or past
  // the snapshot, whichever is later).
  //
  // FailedPrecondition if a segment with a larger first seq exists, or one
  // named for `next_seq` already holds records (a wrong next_seq would
  // otherwise fork or clobber the log). A segment for `next_seq` without
  // any valid record (a crash right after the previous Open) is replaced.
  static absl::StatusOr<std::unique_ptr<LogWriter>> Open(
      LogWriterOptions options, uint64_t next_seq);

  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Buffers one record; nothing is written. first_seq must be one past the
  // previous record's last_seq (or next_seq for the first), last_seq >=
  // first_seq, payload at most kMaxPayloadBytes: else InvalidArgument.
  absl::Status Append(RecordType type, uint64_t first_seq, uint64_t last_seq,
                      std::string_view payload);

  // Writes everything buffered and fdatasyncs it. After ANY error from
  // Append or Sync the writer is dead: every later call returns
  // FailedPrecondition. An fdatasync is never retried on the same file:
  // after a failed one the kernel may have dropped the dirty pages and
  // cleared the error, so a retry could "succeed" without the data. Recovery
  // is: drop the writer, ReadLog, Open a new one; best in a new process
  // after a failed fdatasync, since the page cache may still show data that
  // never reached the disk.
  absl::Status Sync();

  // last_seq of the last record known to be on stable storage (next_seq - 1
  // at first).
  uint64_t durable_seq() const {
    return durable_seq_.load(std::memory_order_acquire);
  }
  // last_seq of the last record accepted by Append.
  uint64_t appended_seq() const { return appended_seq_; }
  // Bytes handed to the files so far (segment headers included).
  uint64_t bytes_written() const { return bytes_written_; }
  // The segment being written.
  const std::string& current_segment() const { return current_path_; }

 private:
  // Bytes bound for one segment by the next Sync.
  struct Pending {
    bool new_segment = false;    // create it first (a roll)
    uint64_t first_seq = 0;      // of the segment (when new_segment)
    uint64_t segment_bytes = 0;  // its preallocated size (when new_segment)
    uint64_t end_offset = 0;     // segment offset after these bytes
    uint64_t last_seq = 0;       // of the last record in `bytes`
    std::string bytes;
  };

  LogWriter(LogWriterOptions options, uint64_t next_seq);

  absl::Status CreateSegment(uint64_t first_seq, uint64_t segment_bytes);
  absl::Status Dead() const;
  absl::Status Fail(absl::Status status);
  // `status` with the current segment's path in front.
  absl::Status InSegment(const absl::Status& status) const;

  const LogWriterOptions options_;
  Storage* const storage_;

  std::unique_ptr<WritableFile> file_;
  std::string current_path_;
  uint64_t current_size_ = 0;      // allocated size of the current segment
  uint64_t current_end_ = 0;       // offset after the data written to it
  bool current_unsynced_ = false;  // written to since its last Sync

  // Where the next Append goes: the last Pending's segment.
  uint64_t tail_end_ = 0;
  uint64_t tail_size_ = 0;
  bool tail_has_records_ = false;
  std::vector<Pending> pending_;
  std::string spare_;  // a cleared buffer whose capacity is reused

  uint64_t appended_seq_;
  std::atomic<uint64_t> durable_seq_;
  uint64_t bytes_written_ = 0;
  absl::Status dead_;  // the first error; OK while alive
};

}  // namespace coffer::wal
