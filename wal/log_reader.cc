#include "wal/log_reader.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace coffer::wal {

absl::StatusOr<std::vector<Segment>> ListSegments(Storage* storage,
                                                  const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = storage->ListDir(dir);
  if (!names.ok()) return names.status();
  std::vector<Segment> segments;
  for (const std::string& name : *names) {
    uint64_t seq = 0;
    if (ParseSegmentFileName(name, &seq)) {
      segments.push_back({seq, JoinPath(dir, name)});
    }
  }
  std::sort(segments.begin(), segments.end(),
            [](const Segment& a, const Segment& b) { return a.seq < b.seq; });
  return segments;
}

namespace {

// Bytes from `from` up to and including the last non-zero byte of `data`
// (0 if there is none). Trailing zeros are not counted: in a preallocated
// segment they are indistinguishable from space never written.
uint64_t DataExtent(std::string_view data, uint64_t from) {
  uint64_t end = data.size();
  while (end > from && data[end - 1] == 0) --end;
  return end > from ? end - from : 0;
}

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// A record at `pos` that passes every check, its first_seq at least
// `min_first_seq`. Returns its header.
std::optional<RecordHeader> ValidRecordAt(std::string_view data, uint64_t pos,
                                          uint64_t min_first_seq) {
  if (pos + kRecordHeaderBytes > data.size()) return std::nullopt;
  const char* p = data.data() + pos;
  RecordHeader h = DecodeRecordHeader(p);
  if (!PlausibleRecordHeader(h, data.size() - pos - kRecordHeaderBytes) ||
      h.first_seq < min_first_seq) {
    return std::nullopt;
  }
  if (RecordChecksum(std::string_view(p, kRecordHeaderChecksummed),
                     std::string_view(p + kRecordHeaderBytes,
                                      h.payload_bytes)) != h.checksum) {
    return std::nullopt;
  }
  return h;
}

// The offset of the first valid record at or after `from` whose first_seq is
// at least `min_first_seq`, if any. Every byte offset is a candidate (a
// damaged length field says nothing about where the next record begins);
// the type byte (offset 4, value 1) is located with memchr so that the long
// runs of zeros in a preallocated segment cost almost nothing.
std::optional<uint64_t> FindValidRecord(std::string_view data, uint64_t from,
                                        uint64_t min_first_seq) {
  const uint8_t type = static_cast<uint8_t>(RecordType::kTransactions);
  uint64_t pos = from;
  while (pos + kRecordHeaderBytes <= data.size()) {
    const char* start = data.data() + pos + 4;
    const void* hit =
        std::memchr(start, type, data.size() - kRecordHeaderBytes + 1 - pos);
    if (hit == nullptr) return std::nullopt;
    pos =
        static_cast<uint64_t>(static_cast<const char*>(hit) - data.data()) - 4;
    if (ValidRecordAt(data, pos, min_first_seq)) return pos;
    ++pos;
  }
  return std::nullopt;
}

// How reading one segment ended.
struct SegmentEnd {
  enum Kind {
    kClean,         // end of data; nothing but zeros after it
    kTorn,          // a bad record with nothing valid after it in the file
    kCorrupt,       // a bad record followed by a valid one, or a seq break
    kCallbackStop,  // fn returned an error
  };
  Kind kind = kClean;
  uint64_t offset = 0;
  uint64_t bytes = 0;  // kTorn, kCorrupt: DataExtent from offset
  std::string why;
  absl::Status status;  // kCallbackStop
};

class Reader {
 public:
  Reader(const std::string& dir, const ReadOptions& options,
         const std::function<absl::Status(const Record&)>& fn)
      : dir_(dir),
        options_(options),
        storage_(options.storage != nullptr ? options.storage : PosixStorage()),
        fn_(fn) {}

  absl::StatusOr<ReadReport> Run() {
    absl::StatusOr<std::vector<Segment>> segments =
        ListSegments(storage_, dir_);
    if (!segments.ok()) {
      // No directory yet: no log yet.
      if (absl::IsNotFound(segments.status())) return report_;
      return segments.status();
    }
    segments_ = *std::move(segments);
    if (options_.skip_covered_segments) SkipCoveredSegments();
    std::string next_data;  // segment i+1, when it was read early
    bool have_next = false;
    for (size_t i = 0; i < segments_.size(); ++i) {
      const Segment& seg = segments_[i];
      std::string data;
      if (have_next) {
        data = std::move(next_data);
        have_next = false;
      } else {
        absl::StatusOr<std::string> d = storage_->ReadFile(seg.path);
        if (!d.ok()) return d.status();
        data = *std::move(d);
      }
      report_.segments.push_back(seg.path);
      if (i == 0 && options_.from_seq != 0) {
        SegmentHeader h;
        std::string why;
        if (DecodeSegmentHeader(data, &h, &why) &&
            h.first_seq > options_.from_seq) {
          return absl::DataLossError(absl::StrFormat(
              "%s at offset 0: the log starts at seq %d, but recovery needs "
              "records from seq %d on",
              seg.path, h.first_seq, options_.from_seq));
        }
      }

      SegmentEnd end = ReadSegment(seg, data);
      switch (end.kind) {
        case SegmentEnd::kCallbackStop:
          return end.status;
        case SegmentEnd::kClean:
          continue;
        case SegmentEnd::kCorrupt:
          return Corrupt(i, data, end);
        case SegmentEnd::kTorn:
          break;
      }
      if (i + 1 < segments_.size()) {
        // A torn tail before the last segment is fine only if the next
        // segment picks the sequence up right after the last good record.
        absl::StatusOr<std::string> d =
            storage_->ReadFile(segments_[i + 1].path);
        if (!d.ok()) return d.status();
        next_data = *std::move(d);
        have_next = true;
        SegmentHeader h;
        std::string why;
        bool header_ok = DecodeSegmentHeader(next_data, &h, &why);
        if (!header_ok || !MayStartSegment(h.first_seq)) {
          end.kind = SegmentEnd::kCorrupt;
          end.why = absl::StrCat(
              end.why, "; not the last segment, and the next one (",
              segments_[i + 1].path, ") ",
              header_ok ? absl::StrFormat("starts at seq %d, not %d",
                                          h.first_seq, expected_)
                        : absl::StrCat("has a bad header: ", why));
          return Corrupt(i, data, end);
        }
      }
      report_.torn.push_back({seg.path, end.offset, end.bytes});
    }
    return report_;
  }

 private:
  // Drops the segments whose records all lie below from_seq: segment i
  // holds seqs below segment i+1's first seq. Never the newest.
  void SkipCoveredSegments() {
    if (options_.from_seq == 0) return;
    size_t covered = 0;
    while (covered + 1 < segments_.size() &&
           segments_[covered + 1].seq <= options_.from_seq) {
      ++covered;
    }
    segments_.erase(segments_.begin(), segments_.begin() + covered);
  }

  SegmentEnd ReadSegment(const Segment& seg, std::string_view data) {
    SegmentHeader header;
    std::string why;
    const bool header_ok = DecodeSegmentHeader(data, &header, &why);
    if (header_ok && header.first_seq != seg.seq) {
      SegmentEnd end;
      end.kind = SegmentEnd::kCorrupt;
      end.bytes = DataExtent(data, 0);
      end.why =
          absl::StrFormat("segment header says first seq %d, name says %d",
                          header.first_seq, seg.seq);
      return end;
    }
    // With a bad header the name still says where the segment should start.
    const uint64_t seg_first = seg.seq;
    if (have_expected_ && !MayStartSegment(seg_first)) {
      SegmentEnd end;
      end.kind = SegmentEnd::kCorrupt;
      end.bytes = DataExtent(data, 0);
      end.why = SeqBreak(seg_first, seg_first);
      return end;
    }
    expected_ = seg_first;
    have_expected_ = true;
    if (!header_ok) return Stop(data, 0, why);

    uint64_t pos = kSegmentHeaderBytes;
    while (pos < data.size()) {
      const uint64_t room = data.size() - pos;
      if (room < kRecordHeaderBytes) {
        return Stop(data, pos, "partial record header at the end of the file");
      }
      const char* p = data.data() + pos;
      if (AllZero(p, kRecordHeaderBytes)) return Stop(data, pos, "");
      RecordHeader h = DecodeRecordHeader(p);
      if (!PlausibleRecordHeader(h, room - kRecordHeaderBytes)) {
        return Stop(
            data, pos,
            absl::StrFormat("impossible record header (type %d, "
                            "payload %d bytes, seqs [%d, %d])",
                            h.type, h.payload_bytes, h.first_seq, h.last_seq));
      }
      std::string_view payload(p + kRecordHeaderBytes, h.payload_bytes);
      uint64_t actual = RecordChecksum(
          std::string_view(p, kRecordHeaderChecksummed), payload);
      if (actual != h.checksum) {
        return Stop(data, pos,
                    absl::StrFormat("record checksum mismatch (stored %016x, "
                                    "computed %016x)",
                                    h.checksum, actual));
      }
      if (h.first_seq != expected_) {
        // A valid record in the wrong place is never a crash artifact: the
        // writer only writes consecutive seqs into fresh files.
        SegmentEnd end;
        end.kind = SegmentEnd::kCorrupt;
        end.offset = pos;
        end.bytes = DataExtent(data, pos);
        end.why = SeqBreak(h.first_seq, h.last_seq);
        return end;
      }
      if (h.last_seq >= options_.from_seq) {
        Record record{static_cast<RecordType>(h.type), h.first_seq, h.last_seq,
                      payload};
        if (absl::Status s = fn_(record); !s.ok()) {
          SegmentEnd end;
          end.kind = SegmentEnd::kCallbackStop;
          end.status = std::move(s);
          return end;
        }
        if (report_.records == 0) report_.first_seq = h.first_seq;
        ++report_.records;
      } else {
        ++report_.skipped;
      }
      report_.last_seq = h.last_seq;
      expected_ = h.last_seq + 1;
      pos += kRecordHeaderBytes + h.payload_bytes;
    }
    return SegmentEnd{};
  }

  // Classifies the region from a bad record at `offset` to the end of the
  // file.
  SegmentEnd Stop(std::string_view data, uint64_t offset, std::string why) {
    SegmentEnd end;
    end.offset = offset;
    end.bytes = DataExtent(data, offset);
    if (end.bytes == 0) return end;  // zeros: the normal end of data
    end.why = why.empty() ? "zero record header before non-zero bytes" : why;
    std::optional<uint64_t> next = FindValidRecord(data, offset + 1, expected_);
    if (next.has_value()) {
      end.kind = SegmentEnd::kCorrupt;
      end.why = absl::StrFormat("%s, and a valid record follows at offset %d",
                                end.why, *next);
    } else {
      end.kind = SegmentEnd::kTorn;
    }
    return end;
  }

  // Whether the next segment may begin at `first`: right after the last
  // good record, or later if every missing seq is below from_seq (the
  // caller has them from a snapshot). The second case is normal: a snapshot
  // may cover records that were applied but not yet durable when the
  // process died, and the next LogWriter starts after the snapshot.
  bool MayStartSegment(uint64_t first) const {
    return first == expected_ ||
           (first > expected_ && first <= options_.from_seq);
  }

  std::string SeqBreak(uint64_t first, uint64_t last) const {
    if (first > expected_) {
      return absl::StrFormat(
          "sequence gap: seqs [%d, %d] follow %d (seqs %d..%d are missing)",
          first, last, expected_ - 1, expected_, first - 1);
    }
    return absl::StrFormat("sequence overlap: seqs [%d, %d] follow %d", first,
                           last, expected_ - 1);
  }

  // Corruption in segment i at end.offset: an error, or with repair the
  // durable removal of everything from there on. Nothing is deleted: the
  // cut-off part of segment i is copied to "<segment>.<offset>.damaged"
  // before the segment is truncated, and every later segment is renamed to
  // "<segment>.damaged".
  absl::StatusOr<ReadReport> Corrupt(size_t i, std::string_view data,
                                     const SegmentEnd& end) {
    const Segment& seg = segments_[i];
    if (!options_.repair) {
      return absl::DataLossError(absl::StrFormat(
          "%s at offset %d: %s", seg.path, end.offset, end.why));
    }
    std::vector<TornTail> torn;
    torn.push_back({seg.path, end.offset, DataExtent(data, end.offset)});
    for (size_t j = i + 1; j < segments_.size(); ++j) {
      absl::StatusOr<std::string> d = storage_->ReadFile(segments_[j].path);
      if (!d.ok()) return d.status();
      torn.push_back({segments_[j].path, 0, DataExtent(*d, 0)});
    }
    // The newest segment first: if a crash interrupts the repair, what is
    // left still reads as corruption (and can be repaired again), never as
    // a log with a hole in it.
    for (size_t j = segments_.size(); j-- > i + 1;) {
      if (absl::Status s = SetAside(segments_[j].path); !s.ok()) return s;
    }
    if (end.offset < kSegmentHeaderBytes) {
      if (absl::Status s = SetAside(seg.path); !s.ok()) return s;
    } else {
      if (absl::Status s = SaveTail(seg.path, data, end.offset); !s.ok()) {
        return s;
      }
      // The copy's name is durable before the truncation destroys the
      // original bytes.
      if (absl::Status s = storage_->SyncDir(dir_); !s.ok()) return s;
      if (absl::Status s = storage_->Truncate(seg.path, end.offset); !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = storage_->SyncDir(dir_); !s.ok()) return s;
    report_.torn.insert(report_.torn.end(), torn.begin(), torn.end());
    return report_;
  }

  // Copies data[offset, end of non-zero data) to
  // "<segment>.<offset>.damaged" and syncs it: the part of a segment that a
  // repair cuts off.
  absl::Status SaveTail(const std::string& path, std::string_view data,
                        uint64_t offset) {
    absl::StatusOr<std::string> to =
        FreeName(absl::StrCat(path, ".", offset, ".damaged"));
    if (!to.ok()) return to.status();
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        storage_->NewWritableFile(*to);
    if (!file.ok()) return file.status();
    absl::Status s =
        (*file)->Append(data.substr(offset, DataExtent(data, offset)));
    if (s.ok()) s = (*file)->Sync();
    if (absl::Status c = (*file)->Close(); s.ok()) s = c;
    if (!s.ok()) return s;
    report_.set_aside.push_back(*std::move(to));
    return absl::OkStatus();
  }

  // Renamed, not removed: an operator may want to look at what was lost.
  absl::Status SetAside(const std::string& path) {
    absl::StatusOr<std::string> to = FreeName(absl::StrCat(path, ".damaged"));
    if (!to.ok()) return to.status();
    if (absl::Status s = storage_->Rename(path, *to); !s.ok()) return s;
    report_.set_aside.push_back(*std::move(to));
    return absl::OkStatus();
  }

  // `path`, or `path`.2, .3, ... if taken: a segment file name can come back
  // after a repair (a later log reaches the same seq), and an earlier
  // repair's evidence must not be overwritten.
  absl::StatusOr<std::string> FreeName(const std::string& path) {
    absl::StatusOr<std::vector<std::string>> names = storage_->ListDir(dir_);
    if (!names.ok()) return names.status();
    auto taken = [&](const std::string& candidate) {
      for (const std::string& name : *names) {
        if (JoinPath(dir_, name) == candidate) return true;
      }
      return false;
    };
    std::string candidate = path;
    for (int n = 2; taken(candidate); ++n) {
      candidate = absl::StrCat(path, ".", n);
    }
    return candidate;
  }

  const std::string& dir_;
  const ReadOptions& options_;
  Storage* const storage_;
  const std::function<absl::Status(const Record&)>& fn_;

  std::vector<Segment> segments_;
  ReadReport report_;
  uint64_t expected_ = 0;  // first_seq the next record must have
  bool have_expected_ = false;
};

}  // namespace

absl::StatusOr<ReadReport> ReadLog(
    const std::string& dir, const ReadOptions& options,
    const std::function<absl::Status(const Record&)>& fn) {
  return Reader(dir, options, fn).Run();
}

absl::StatusOr<uint64_t> EstimateLastSeq(Storage* storage,
                                         const std::string& dir) {
  if (storage == nullptr) storage = PosixStorage();
  absl::StatusOr<std::vector<Segment>> segments = ListSegments(storage, dir);
  if (!segments.ok()) {
    if (absl::IsNotFound(segments.status())) return 0;
    return segments.status();
  }
  // Newest first; a segment without records (a fresh one) ends where the
  // next begins, so the one before it tells.
  for (size_t i = segments->size(); i-- > 0;) {
    absl::StatusOr<std::string> data = storage->ReadFile((*segments)[i].path);
    if (!data.ok()) return data.status();
    uint64_t last_seq = 0;
    uint64_t pos = kSegmentHeaderBytes;
    while (pos + kRecordHeaderBytes <= data->size()) {
      const RecordHeader h = DecodeRecordHeader(data->data() + pos);
      if (!PlausibleRecordHeader(h, data->size() - pos - kRecordHeaderBytes)) {
        break;
      }
      last_seq = h.last_seq;
      pos += kRecordHeaderBytes + h.payload_bytes;
    }
    if (last_seq != 0) return last_seq;
  }
  return 0;
}

absl::StatusOr<int> RemoveSegmentsUpTo(const std::string& dir,
                                       uint64_t upto_seq,
                                       const std::string& archive_dir,
                                       Storage* storage) {
  if (storage == nullptr) storage = PosixStorage();
  absl::StatusOr<std::vector<Segment>> segments = ListSegments(storage, dir);
  if (!segments.ok()) return segments.status();
  if (!archive_dir.empty()) {
    if (absl::Status s = storage->CreateDir(archive_dir); !s.ok()) return s;
  }
  int removed = 0;
  // Oldest first, so that a crash part-way leaves a log without holes.
  for (size_t i = 0; i + 1 < segments->size(); ++i) {
    // Segment i holds seqs up to the next segment's first seq - 1.
    const uint64_t next_first = (*segments)[i + 1].seq;
    if (next_first == 0 || next_first - 1 > upto_seq) break;
    const std::string& path = (*segments)[i].path;
    absl::Status s;
    if (archive_dir.empty()) {
      s = storage->Remove(path);
    } else {
      s = storage->Rename(
          path, JoinPath(archive_dir, SegmentFileName((*segments)[i].seq)));
    }
    if (!s.ok()) return s;
    ++removed;
  }
  if (removed > 0) {
    // The archive first: a moved segment must not vanish from both places.
    if (!archive_dir.empty()) {
      if (absl::Status s = storage->SyncDir(archive_dir); !s.ok()) return s;
    }
    if (absl::Status s = storage->SyncDir(dir); !s.ok()) return s;
  }
  return removed;
}

}  // namespace coffer::wal
