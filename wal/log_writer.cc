#include "wal/log_writer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/assert.h"

namespace coffer::wal {
namespace {

constexpr std::string_view kTempSuffix = ".tmp";

absl::Status Creating(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("creating log segment ", path, ": ",
                                   std::string(status.message())));
}

// Whether `data` (a whole segment file) holds a valid record at its start
// that begins at `first_seq`.
bool HasFirstRecord(std::string_view data, uint64_t first_seq) {
  SegmentHeader sh;
  std::string why;
  if (!DecodeSegmentHeader(data, &sh, &why)) return false;
  if (data.size() < kSegmentHeaderBytes + kRecordHeaderBytes) return false;
  const char* p = data.data() + kSegmentHeaderBytes;
  RecordHeader h = DecodeRecordHeader(p);
  uint64_t room = data.size() - kSegmentHeaderBytes - kRecordHeaderBytes;
  if (!PlausibleRecordHeader(h, room) || h.first_seq != first_seq) {
    return false;
  }
  return RecordChecksum(std::string_view(p, kRecordHeaderChecksummed),
                        std::string_view(p + kRecordHeaderBytes,
                                         h.payload_bytes)) == h.checksum;
}

}  // namespace

LogWriter::LogWriter(LogWriterOptions options, uint64_t next_seq)
    : options_(std::move(options)),
      storage_(options_.storage != nullptr ? options_.storage : PosixStorage()),
      appended_seq_(next_seq - 1),
      durable_seq_(next_seq - 1) {}

LogWriter::~LogWriter() {
  // Nothing is synced here: whatever was not covered by a successful Sync
  // was never acknowledged, so losing it is allowed.
  if (file_ != nullptr) file_->Close().IgnoreError();
}

absl::StatusOr<std::unique_ptr<LogWriter>> LogWriter::Open(
    LogWriterOptions options, uint64_t next_seq) {
  if (next_seq == 0) {
    return absl::InvalidArgumentError("log sequence numbers start at 1");
  }
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("LogWriterOptions.dir is empty");
  }
  if (options.segment_bytes < kSegmentHeaderBytes + kRecordHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "segment_bytes %d is too small (at least %d)", options.segment_bytes,
        kSegmentHeaderBytes + kRecordHeaderBytes));
  }
  std::unique_ptr<LogWriter> w(new LogWriter(std::move(options), next_seq));
  const std::string& dir = w->options_.dir;
  Storage* storage = w->storage_;

  if (absl::Status s = storage->CreateDir(dir); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> names = storage->ListDir(dir);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    uint64_t seq = 0;
    std::string_view n(name);
    if (n.size() > kTempSuffix.size() &&
        n.substr(n.size() - kTempSuffix.size()) == kTempSuffix &&
        ParseSegmentFileName(n.substr(0, n.size() - kTempSuffix.size()),
                             &seq)) {
      // A segment that a crashed Open never renamed into place: it never
      // held a record.
      if (absl::Status s = storage->Remove(JoinPath(dir, name)); !s.ok()) {
        return s;
      }
      continue;
    }
    if (!ParseSegmentFileName(name, &seq)) continue;
    if (seq > next_seq) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "cannot start the log at seq %d: %s already starts at seq %d "
          "(next_seq must be past every record in the log; ReadLog with "
          "repair discards damaged segments)",
          next_seq, JoinPath(dir, name), seq));
    }
    if (seq == next_seq) {
      std::string path = JoinPath(dir, name);
      absl::StatusOr<std::string> data = storage->ReadFile(path);
      if (!data.ok()) return data.status();
      if (HasFirstRecord(*data, seq)) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "cannot start the log at seq %d: %s already holds records from "
            "that seq",
            next_seq, path));
      }
      // Else: an empty segment from an earlier Open; CreateSegment's rename
      // replaces it atomically.
    }
  }
  if (absl::Status s = w->CreateSegment(next_seq, w->options_.segment_bytes);
      !s.ok()) {
    return s;
  }
  w->tail_end_ = w->current_end_;
  w->tail_size_ = w->current_size_;
  return w;
}

absl::Status LogWriter::CreateSegment(uint64_t first_seq,
                                      uint64_t segment_bytes) {
  const std::string& dir = options_.dir;
  std::string path = JoinPath(dir, SegmentFileName(first_seq));
  std::string temp = path + std::string(kTempSuffix);
  // Built under a temporary name and renamed into place once its header is
  // durable, so a segment file either has a valid header or does not exist.
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      storage_->NewWritableFile(temp);
  if (!file.ok()) return Creating(path, file.status());
  std::string header = EncodeSegmentHeader({first_seq, segment_bytes});
  absl::Status s = (*file)->Preallocate(segment_bytes);
  if (s.ok()) s = (*file)->Append(header);
  // fdatasync flushes the new size and allocation too (they are needed to
  // read the data back), so later syncs of this file only write data.
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = storage_->Rename(temp, path);
  if (!s.ok()) {
    (*file)->Close().IgnoreError();
    storage_->Remove(temp).IgnoreError();
    return Creating(path, s);
  }
  bytes_written_ += header.size();
  if (absl::Status d = storage_->SyncDir(dir); !d.ok()) {
    return Creating(path, d);
  }
  file_ = *std::move(file);
  current_path_ = std::move(path);
  current_size_ = segment_bytes;
  current_end_ = header.size();
  current_unsynced_ = false;
  return absl::OkStatus();
}

absl::Status LogWriter::Dead() const {
  return absl::FailedPreconditionError(
      absl::StrCat("log writer for ", options_.dir,
                   " stopped after an earlier error: ", dead_.ToString()));
}

absl::Status LogWriter::Fail(absl::Status status) {
  dead_ = status;
  return status;
}

absl::Status LogWriter::InSegment(const absl::Status& status) const {
  // The storage's message names the file it opened, which for a segment is
  // its temporary name (segments are renamed into place): say which segment
  // it is now.
  return absl::Status(status.code(),
                      absl::StrCat("log segment ", current_path_, ": ",
                                   std::string(status.message())));
}

absl::Status LogWriter::Append(RecordType type, uint64_t first_seq,
                               uint64_t last_seq, std::string_view payload) {
  if (!dead_.ok()) return Dead();
  if (!IsKnownRecordType(static_cast<uint8_t>(type))) {
    return Fail(absl::InvalidArgumentError(
        absl::StrFormat("unknown record type %d", static_cast<int>(type))));
  }
  if (first_seq != appended_seq_ + 1 || last_seq < first_seq) {
    return Fail(absl::InvalidArgumentError(
        absl::StrFormat("record seqs [%d, %d] do not continue the log at %d",
                        first_seq, last_seq, appended_seq_ + 1)));
  }
  if (payload.size() > kMaxPayloadBytes) {
    return Fail(absl::InvalidArgumentError(
        absl::StrFormat("record payload of %d bytes is over the %d limit",
                        payload.size(), kMaxPayloadBytes)));
  }
  const uint64_t bytes = kRecordHeaderBytes + payload.size();
  if (tail_has_records_ && tail_end_ + bytes > tail_size_) {
    // Roll. A record larger than a segment gets a segment of its own size.
    Pending p;
    p.new_segment = true;
    p.first_seq = first_seq;
    p.segment_bytes =
        std::max(options_.segment_bytes, kSegmentHeaderBytes + bytes);
    p.end_offset = kSegmentHeaderBytes;
    p.bytes = std::move(spare_);
    p.bytes.clear();
    pending_.push_back(std::move(p));
    tail_end_ = kSegmentHeaderBytes;
    tail_size_ = pending_.back().segment_bytes;
  } else if (pending_.empty()) {
    Pending p;
    p.end_offset = current_end_;
    p.bytes = std::move(spare_);
    p.bytes.clear();
    pending_.push_back(std::move(p));
  }
  // (A record too big for a segment that holds no record yet goes into that
  // segment, which Sync grows: rolling would leave an empty segment behind
  // with the same first seq, hence the same file name.)
  Pending& tail = pending_.back();
  AppendRecord(&tail.bytes, type, first_seq, last_seq, payload);
  tail.end_offset += bytes;
  tail.last_seq = last_seq;
  tail_end_ += bytes;
  tail_size_ = std::max(tail_size_, tail_end_);
  tail_has_records_ = true;
  appended_seq_ = last_seq;
  return absl::OkStatus();
}

absl::Status LogWriter::Sync() {
  if (!dead_.ok()) return Dead();
  if (pending_.empty()) return absl::OkStatus();
  uint64_t written_seq = durable_seq_.load(std::memory_order_relaxed);
  for (Pending& p : pending_) {
    if (p.new_segment) {
      // The old segment is made durable before anything reaches the new
      // one. Then a crash can never leave records in segment N+1 behind a
      // torn tail in segment N, which the reader would have to call
      // corruption. (Nothing to do if the last Sync covered it all.)
      if (current_unsynced_) {
        if (absl::Status s = file_->Sync(); !s.ok()) return Fail(InSegment(s));
        current_unsynced_ = false;
        durable_seq_.store(written_seq, std::memory_order_release);
      }
      absl::Status s = file_->Close();
      file_.reset();
      if (!s.ok()) return Fail(InSegment(s));
      if (absl::Status c = CreateSegment(p.first_seq, p.segment_bytes);
          !c.ok()) {
        return Fail(c);
      }
    }
    if (p.end_offset > current_size_) {
      // Allocate first so that a full disk shows up here, as ENOSPC from
      // fallocate, rather than as a short write.
      if (absl::Status s = file_->Preallocate(p.end_offset); !s.ok()) {
        return Fail(InSegment(s));
      }
      current_size_ = p.end_offset;
    }
    // Storage errors name the offset already.
    current_unsynced_ = true;
    if (absl::Status s = file_->Append(p.bytes); !s.ok()) {
      return Fail(InSegment(s));
    }
    bytes_written_ += p.bytes.size();
    current_end_ = p.end_offset;
    // Append accepted only records that continue the log, so the batches
    // move forward; durable_seq must never step back or skip.
    COFFER_ASSERT(p.last_seq > written_seq);
    written_seq = p.last_seq;
  }
  if (absl::Status s = file_->Sync(); !s.ok()) return Fail(InSegment(s));
  current_unsynced_ = false;
  COFFER_ASSERT_MSG(written_seq == appended_seq_,
                    "a sync must cover every appended record");
  durable_seq_.store(written_seq, std::memory_order_release);
  // Keep one buffer's capacity for the next batch.
  spare_ = std::move(pending_.front().bytes);
  spare_.clear();
  pending_.clear();
  return absl::OkStatus();
}

}  // namespace coffer::wal
