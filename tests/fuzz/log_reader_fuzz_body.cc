// The write-ahead log reader over a directory of segments cut from the
// input, in an in-memory Storage (tests/fuzz/memory_storage.h).
//
// Input: one flags byte, then up to kSegmentsMax segment files separated by
// kSeparator. Flags: bit 0 repair; bit 1 recompute the segment header's and
// every record's checksum first (so mutations reach the checks behind the
// checksums instead of dying at them); bits 4..7 options.from_seq. A
// segment is named after the first_seq in its header (wal/FORMAT.md), so
// that valid seeds stay valid. Each record handed out goes through
// engine/log_codec's DecodeRequest, as Engine::Recover does.
//
// Properties: records come out in seq order without gaps or overlaps; the
// report agrees with what was handed out; a repair always succeeds (when
// from_seq is 0) and leaves a log that then reads cleanly without repair,
// with the same records.
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/log_codec.h"
#include "tests/fuzz/fuzz_bodies.h"
#include "tests/fuzz/memory_storage.h"
#include "wal/format.h"
#include "wal/log_reader.h"
#include "xxhash.h"

namespace coffer::fuzz {
namespace {

constexpr std::string_view kSeparator = "\xffSEGMENT";
constexpr size_t kSegmentsMax = 4;
constexpr char kDir[] = "/fuzz/log";

// Rewrites the checksums of the segment header and of every record a
// sequential walk finds (stops at an all-zero header: preallocated space).
void FixChecksums(std::string& seg) {
  if (seg.size() < wal::kSegmentHeaderBytes) return;
  wal::PutU64(&seg[wal::kSegmentHeaderChecksummed],
              XXH3_64bits(seg.data(), wal::kSegmentHeaderChecksummed));
  size_t pos = wal::kSegmentHeaderBytes;
  while (seg.size() - pos >= wal::kRecordHeaderBytes) {
    const std::string_view header(seg.data() + pos, wal::kRecordHeaderBytes);
    if (header.find_first_not_of('\0') == std::string_view::npos) return;
    const uint32_t payload_bytes = wal::GetU32(seg.data() + pos);
    if (seg.size() - pos - wal::kRecordHeaderBytes < payload_bytes) return;
    const std::string_view payload(seg.data() + pos + wal::kRecordHeaderBytes,
                                   payload_bytes);
    wal::PutU64(&seg[pos + wal::kRecordHeaderChecksummed],
                wal::RecordChecksum(
                    header.substr(0, wal::kRecordHeaderChecksummed), payload));
    pos += wal::kRecordHeaderBytes + payload_bytes;
  }
}

struct Seen {
  uint64_t records = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
};

absl::StatusOr<wal::ReadReport> Read(MemoryStorage* storage, bool repair,
                                     uint64_t from_seq, Seen* seen) {
  wal::ReadOptions options;
  options.repair = repair;
  options.storage = storage;
  options.from_seq = from_seq;
  internal::LoggedRequest decoded;
  return wal::ReadLog(kDir, options, [&](const wal::Record& r) {
    FuzzCheck(r.first_seq <= r.last_seq, "record with last_seq < first_seq");
    FuzzCheck(r.last_seq >= from_seq, "record before from_seq handed out");
    FuzzCheck(seen->records == 0 || r.first_seq == seen->last_seq + 1,
              "records handed out with a gap or an overlap");
    if (seen->records == 0) seen->first_seq = r.first_seq;
    ++seen->records;
    seen->last_seq = r.last_seq;
    if (internal::DecodeRequest(r.payload, r.first_seq, r.last_seq, &decoded)
            .ok()) {
      FuzzCheck(decoded.txns.empty() || decoded.txns.front().seq == r.first_seq,
                "decoded request does not start at the record's first_seq");
    }
    return absl::OkStatus();
  });
}

}  // namespace

void FuzzLogReader(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const uint8_t flags = data[0];
  const bool repair = (flags & 1) != 0;
  const bool fix = (flags & 2) != 0;
  const uint64_t from_seq = flags >> 4;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  MemoryStorage storage;
  for (size_t i = 0; i < kSegmentsMax && !rest.empty(); ++i) {
    const size_t cut =
        i + 1 < kSegmentsMax ? rest.find(kSeparator) : std::string_view::npos;
    std::string seg(rest.substr(0, cut));
    rest = cut == std::string_view::npos ? std::string_view()
                                         : rest.substr(cut + kSeparator.size());
    if (fix) FixChecksums(seg);
    const uint64_t first_seq = seg.size() >= 24 ? wal::GetU64(&seg[16]) : i;
    const std::string path =
        wal::JoinPath(kDir, wal::SegmentFileName(first_seq));
    if (storage.files().count(path) != 0) continue;
    storage.Put(path, std::move(seg));
  }

  Seen seen;
  absl::StatusOr<wal::ReadReport> report =
      Read(&storage, repair, from_seq, &seen);
  if (!report.ok()) {
    FuzzCheck(!repair || from_seq != 0,
              "repair failed: " + report.status().ToString());
    return;
  }
  FuzzCheck(report->records == seen.records, "report.records");
  FuzzCheck(seen.records == 0 || report->first_seq == seen.first_seq,
            "report.first_seq");
  FuzzCheck(report->last_seq >= seen.last_seq, "report.last_seq");
  if (!repair) return;

  // A repaired log reads cleanly, without repair, with the same records.
  Seen again;
  absl::StatusOr<wal::ReadReport> second =
      Read(&storage, false, from_seq, &again);
  FuzzCheck(second.ok(),
            "repaired log does not read: " + second.status().ToString());
  FuzzCheck(again.records == seen.records && again.last_seq == seen.last_seq,
            "repaired log reads different records");
}

}  // namespace coffer::fuzz
