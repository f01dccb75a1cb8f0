// Recovery-time reading of the write-ahead log, and trimming of segments a
// snapshot made unnecessary.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/format.h"
#include "wal/storage.h"

namespace coffer::wal {

struct ReadOptions {
  // Discard corruption instead of failing (see ReadLog). Writes to the log
  // directory.
  bool repair = false;
  Storage* storage = nullptr;  // nullptr: PosixStorage()
  // Records with last_seq < from_seq are checked but not passed to fn. A
  // record with first_seq < from_seq <= last_seq is passed whole. When
  // non-zero, a log whose first segment starts after from_seq is an error:
  // the records in between are missing.
  uint64_t from_seq = 0;
  // With from_seq: segments whose records all lie below it (the next
  // segment starts at or below from_seq) are not read at all, so damage
  // there goes unnoticed and ReadReport::skipped leaves them out. Recovery
  // sets it: a snapshot covers those records, and reading them was most of
  // a restart's time (bench/RESULTS.md "Recovery"). Audits leave it off.
  bool skip_covered_segments = false;
};

// Bytes that were discarded from one segment file.
struct TornTail {
  std::string file;     // path
  uint64_t offset = 0;  // where the discarded part begins
  // From offset up to and including the last non-zero byte of the file
  // (trailing zeros are preallocated space, not data).
  uint64_t bytes = 0;
};

struct ReadReport {
  uint64_t records = 0;    // records passed to fn
  uint64_t skipped = 0;    // valid records before from_seq, not passed
  uint64_t first_seq = 0;  // first_seq of the first record passed (0: none)
  // last_seq of the last valid record in the log, passed or skipped (0:
  // none). A new LogWriter starts at max(last_seq, snapshot seq) + 1.
  uint64_t last_seq = 0;
  std::vector<TornTail> torn;         // discarded regions, in log order
  std::vector<std::string> segments;  // paths of the segments read
  // repair: the files holding what was cut off (*.damaged), see ReadLog.
  std::vector<std::string> set_aside;
};

// Reads every segment of `dir` (files named wal-<20 digits>.log; anything
// else is ignored) in seq order and calls fn for each valid record, in
// order. A missing `dir` reads as an empty log.
//
// A "bad record" is a record header that is all zeros, fails the cheap
// checks (known type, zero reserved fields, payload within 256 MiB and
// within the file, last_seq >= first_seq) or fails its checksum, or a bad
// segment header. At a bad record the reader looks for a valid record after
// it in the same segment (a byte-by-byte scan):
//  * none there, and this is the last segment: a torn tail (a write cut by a
//    crash). Reading stops; the region is reported in `torn` unless it is all
//    zeros (the normal end of data in a preallocated segment).
//  * none there, not the last segment, and the next segment starts exactly
//    at the seq after the last good record: also a torn tail. This is how a
//    crash looks after the next LogWriter::Open (which starts a new segment
//    and never touches the damaged one): nothing acknowledged can be
//    missing, since the sequence is unbroken. Reading goes on.
//  * otherwise corruption: absl::DataLossError naming the file and the byte
//    offset. With options.repair, everything from the bad record on is
//    taken out of the log instead, durably, and kept for inspection: every
//    later segment is renamed to <segment>.damaged; the bad segment's bytes
//    from the bad record on are copied to <segment>.<offset>.damaged and
//    the segment is truncated there (a segment with a bad header is renamed
//    whole). A name already taken gets ".2", ".3", ... appended. All are
//    reported in `torn` and `set_aside`, and ReadLog returns OK with the
//    records before the bad one. (The records after it cannot be kept: the
//    ledger replays in seq order, and a hole cannot be skipped.)
// A valid record whose first_seq is not the previous record's last_seq + 1
// (a gap or an overlap, also between segments) is corruption too, with one
// exception: a segment may start later than that if every missing seq is
// below options.from_seq (they are in the caller's snapshot; this is how
// the log looks after a crash when the snapshot covered records that were
// not durable yet).
// A non-OK status from fn stops reading and is returned as is.
absl::StatusOr<ReadReport> ReadLog(
    const std::string& dir, const ReadOptions& options,
    const std::function<absl::Status(const Record&)>& fn);

// A segment file of a log directory.
struct Segment {
  uint64_t seq;  // its first seq, from the name
  std::string path;
};
// The segment files of `dir` (names as SegmentFileName makes them; other
// entries are ignored), oldest first.
absl::StatusOr<std::vector<Segment>> ListSegments(Storage* storage,
                                                  const std::string& dir);

// The last seq the log's record headers claim, for progress reports while
// ReadLog runs: the newest segment with a record is walked header by header
// (the cheap checks of PlausibleRecordHeader, no checksums) up to the first
// header that does not pass. 0 when there is no record. An estimate (a
// damaged record may claim anything plausible): ReadLog, which checks
// everything, has the final word.
absl::StatusOr<uint64_t> EstimateLastSeq(Storage* storage,
                                         const std::string& dir);

// Removes (or, if archive_dir is non-empty, moves there; it must be on the
// same file system) every segment whose records all have last_seq <=
// upto_seq, oldest first, never the newest segment. A segment's records end
// where the next segment begins, so no file is read. Returns how many
// segments were removed or moved. The directories are synced.
absl::StatusOr<int> RemoveSegmentsUpTo(const std::string& dir,
                                       uint64_t upto_seq,
                                       const std::string& archive_dir,
                                       Storage* storage);

}  // namespace coffer::wal
