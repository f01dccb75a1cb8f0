// The write-ahead log against its contract (wal/FORMAT.md): records come
// back exactly as appended across segments and reopenings; a torn tail is cut
// off and reported; damage followed by valid records is refused (or set
// aside with repair); an I/O error kills the writer for good.
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wal/faulty_storage.h"
#include "wal/format.h"
#include "wal/log_reader.h"
#include "wal/log_writer.h"
#include "wal/storage.h"

namespace coffer::wal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// A fresh directory per test, removed with everything in it at the end.
class ScratchDir {
 public:
  ScratchDir() {
    std::string templ = JoinPath(::testing::TempDir(), "wal_log_test.XXXXXX");
    if (::mkdtemp(templ.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << templ;
    }
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const {
    return JoinPath(path_, name);
  }

 private:
  std::string path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good()) << path;
}

// Deterministic payload for a record, never containing a zero byte (so that
// its last byte marks the end of its data in a zero-filled segment).
std::string Payload(uint64_t seq, size_t bytes) {
  std::string p(bytes, '\0');
  uint64_t x = seq * 0x9E3779B97F4A7C15ull + 1;
  for (char& c : p) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    c = static_cast<char>(1 + (x >> 56) % 255);
  }
  return p;
}

struct Got {
  uint64_t first_seq;
  uint64_t last_seq;
  std::string payload;
  bool operator==(const Got&) const = default;
};

struct ReadResult {
  absl::StatusOr<ReadReport> report;
  std::vector<Got> records;
};

ReadResult Read(const std::string& dir, ReadOptions options = {}) {
  ReadResult r;
  r.report = ReadLog(dir, options, [&](const Record& rec) {
    EXPECT_EQ(rec.type, RecordType::kTransactions);
    r.records.push_back(
        {rec.first_seq, rec.last_seq, std::string(rec.payload)});
    return absl::OkStatus();
  });
  return r;
}

std::unique_ptr<LogWriter> OpenOrDie(const std::string& dir, uint64_t next_seq,
                                     uint64_t segment_bytes = 64 << 10,
                                     Storage* storage = nullptr) {
  LogWriterOptions options;
  options.dir = dir;
  options.segment_bytes = segment_bytes;
  options.storage = storage;
  absl::StatusOr<std::unique_ptr<LogWriter>> w =
      LogWriter::Open(options, next_seq);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? *std::move(w) : nullptr;
}

// Appends one record per seq in [first, last] with payloads of
// Payload(seq, size_of(seq)), syncing every `per_sync` records; returns what
// ReadLog should give back.
template <typename SizeOf>
std::vector<Got> AppendRange(LogWriter* w, uint64_t first, uint64_t last,
                             int per_sync, SizeOf size_of) {
  std::vector<Got> want;
  int unsynced = 0;
  for (uint64_t seq = first; seq <= last; ++seq) {
    std::string p = Payload(seq, size_of(seq));
    EXPECT_TRUE(w->Append(RecordType::kTransactions, seq, seq, p).ok());
    want.push_back({seq, seq, p});
    if (++unsynced == per_sync) {
      EXPECT_TRUE(w->Sync().ok());
      unsynced = 0;
    }
  }
  EXPECT_TRUE(w->Sync().ok());
  EXPECT_EQ(w->durable_seq(), last);
  return want;
}

std::vector<Got> AppendRange(LogWriter* w, uint64_t first, uint64_t last,
                             size_t bytes = 100) {
  return AppendRange(w, first, last, 1, [bytes](uint64_t) { return bytes; });
}

// Start offsets of the records of one segment file, in order (up to the
// first invalid header).
std::vector<uint64_t> RecordOffsets(const std::string& data) {
  std::vector<uint64_t> offsets;
  uint64_t pos = kSegmentHeaderBytes;
  while (pos + kRecordHeaderBytes <= data.size()) {
    RecordHeader h = DecodeRecordHeader(data.data() + pos);
    if (!PlausibleRecordHeader(h, data.size() - pos - kRecordHeaderBytes) ||
        h.payload_bytes == 0) {
      // (Payloads in these tests are never empty.)
      break;
    }
    offsets.push_back(pos);
    pos += kRecordHeaderBytes + h.payload_bytes;
  }
  return offsets;
}

std::vector<std::string> SegmentPaths(const std::string& dir) {
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    uint64_t seq = 0;
    if (ParseSegmentFileName(e.path().filename().string(), &seq)) {
      paths.push_back(e.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

// The first seq of each segment path, from its name.
std::vector<uint64_t> FirstSeqs(const std::vector<std::string>& segments) {
  std::vector<uint64_t> firsts;
  for (const std::string& s : segments) {
    uint64_t seq = 0;
    EXPECT_TRUE(ParseSegmentFileName(
        std::filesystem::path(s).filename().string(), &seq))
        << s;
    firsts.push_back(seq);
  }
  return firsts;
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ---- format -------------------------------------------------------------

TEST(WalFormatTest, SegmentFileNamesSortBySeqAndRejectLookalikes) {
  EXPECT_EQ(SegmentFileName(42), "wal-00000000000000000042.log");
  uint64_t seq = 0;
  EXPECT_TRUE(ParseSegmentFileName("wal-00000000000000000042.log", &seq));
  EXPECT_EQ(seq, 42u);
  EXPECT_TRUE(ParseSegmentFileName(SegmentFileName(UINT64_MAX), &seq));
  EXPECT_EQ(seq, UINT64_MAX);
  EXPECT_FALSE(ParseSegmentFileName("wal-99999999999999999999.log", &seq));
  EXPECT_FALSE(ParseSegmentFileName("wal-00000000000000000042.log.tmp", &seq));
  EXPECT_FALSE(ParseSegmentFileName("wal-0000000000000000042.log", &seq));
  EXPECT_FALSE(ParseSegmentFileName("wal-0000000000000000004x.log", &seq));
}

TEST(WalFormatTest, RecordLayoutAndChecksumAreAsDocumented) {
  std::string out;
  AppendRecord(&out, RecordType::kTransactions, 7, 9, "abc");
  ASSERT_EQ(out.size(), kRecordHeaderBytes + 3);
  EXPECT_EQ(GetU32(out.data()), 3u);  // payload_bytes
  EXPECT_EQ(out[4], 1);               // type
  EXPECT_EQ(out[5], 0);               // reserved
  EXPECT_EQ(GetU16(out.data() + 6), 0u);
  EXPECT_EQ(GetU64(out.data() + 8), 7u);
  EXPECT_EQ(GetU64(out.data() + 16), 9u);
  // XXH3_64bits, seed 0, over header bytes 0..23 then the payload; the
  // one-shot and streaming paths agree.
  EXPECT_EQ(GetU64(out.data() + 24),
            RecordChecksum(std::string_view(out.data(), 24), "abc"));
  std::string big = Payload(1, 5000);
  std::string out2;
  AppendRecord(&out2, RecordType::kTransactions, 1, 1, big);
  std::string whole = out2.substr(0, 24) + big;
  EXPECT_EQ(GetU64(out2.data() + 24),
            RecordChecksum(std::string_view(whole.data(), 24),
                           std::string_view(whole).substr(24)));
}

TEST(WalFormatTest, SegmentHeaderRoundTripsAndRejectsDamage) {
  std::string h = EncodeSegmentHeader({.first_seq = 5, .segment_bytes = 1024});
  ASSERT_EQ(h.size(), kSegmentHeaderBytes);
  EXPECT_EQ(h.substr(0, 8), "COFFWAL1");
  SegmentHeader got;
  std::string why;
  ASSERT_TRUE(DecodeSegmentHeader(h, &got, &why)) << why;
  EXPECT_EQ(got.first_seq, 5u);
  EXPECT_EQ(got.segment_bytes, 1024u);
  for (size_t i = 0; i < h.size(); ++i) {
    std::string bad = h;
    bad[i] ^= 0x10;
    EXPECT_FALSE(DecodeSegmentHeader(bad, &got, &why)) << "byte " << i;
  }
  EXPECT_FALSE(DecodeSegmentHeader(h.substr(0, 63), &got, &why));
}

// ---- round trips ----------------------------------------------------------

TEST(WalLogTest, EmptyOrMissingDirectoryReadsAsEmptyLog) {
  ScratchDir dir;
  ReadResult r = Read(dir.Sub("missing"));
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.report->records, 0u);
  EXPECT_EQ(r.report->last_seq, 0u);
  r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.report->records, 0u);
}

TEST(WalLogTest, RoundTripsManyRecordsAcrossSegments) {
  ScratchDir dir;
  std::vector<Got> want;
  {
    std::unique_ptr<LogWriter> w = OpenOrDie(dir.path(), 1, 4096);
    ASSERT_NE(w, nullptr);
    // Sizes 0..299 bytes, 1 to 7 records per sync.
    uint64_t seq = 1;
    for (int batch = 0; seq <= 2000; ++batch) {
      for (int i = 0; i < 1 + batch % 7 && seq <= 2000; ++i, ++seq) {
        std::string p = Payload(seq, (seq * 37) % 300);
        ASSERT_TRUE(w->Append(RecordType::kTransactions, seq, seq, p).ok());
        want.push_back({seq, seq, p});
      }
      ASSERT_TRUE(w->Sync().ok());
      EXPECT_EQ(w->durable_seq(), seq - 1);
    }
  }
  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, want);
  EXPECT_EQ(r.report->records, 2000u);
  EXPECT_EQ(r.report->first_seq, 1u);
  EXPECT_EQ(r.report->last_seq, 2000u);
  EXPECT_THAT(r.report->torn, IsEmpty());
  EXPECT_GT(r.report->segments.size(), 20u);
  EXPECT_EQ(r.report->segments, SegmentPaths(dir.path()));
  // Every segment was preallocated to its full size.
  for (const std::string& path : r.report->segments) {
    EXPECT_EQ(std::filesystem::file_size(path), 4096u) << path;
  }
}

TEST(WalLogTest, RecordsCarrySeqRangesAndOneSyncCanSpanSegments) {
  ScratchDir dir;
  std::vector<Got> want;
  {
    std::unique_ptr<LogWriter> w = OpenOrDie(dir.path(), 10, 1024);
    ASSERT_NE(w, nullptr);
    uint64_t seq = 10;
    // 40 records of 5 seqs each, ~200 bytes: several rolls in ONE Sync.
    for (int i = 0; i < 40; ++i) {
      std::string p = Payload(seq, 200);
      ASSERT_TRUE(w->Append(RecordType::kTransactions, seq, seq + 4, p).ok());
      want.push_back({seq, seq + 4, p});
      seq += 5;
    }
    EXPECT_EQ(w->durable_seq(), 9u);
    EXPECT_EQ(w->appended_seq(), 209u);
    ASSERT_TRUE(w->Sync().ok());
    EXPECT_EQ(w->durable_seq(), 209u);
  }
  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, want);
  EXPECT_EQ(r.report->last_seq, 209u);
  EXPECT_GE(r.report->segments.size(), 8u);
}

TEST(WalLogTest, RecordLargerThanASegmentGetsASegmentOfItsOwn) {
  ScratchDir dir;
  std::vector<Got> want;
  {
    std::unique_ptr<LogWriter> w = OpenOrDie(dir.path(), 1, 1024);
    ASSERT_NE(w, nullptr);
    // The first record of the first segment, then one after a small one.
    for (auto [seq, bytes] :
         {std::pair<uint64_t, size_t>{1, 5000}, {2, 10}, {3, 9000}, {4, 10}}) {
      std::string p = Payload(seq, bytes);
      ASSERT_TRUE(w->Append(RecordType::kTransactions, seq, seq, p).ok());
      ASSERT_TRUE(w->Sync().ok());
      want.push_back({seq, seq, p});
    }
  }
  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, want);
  EXPECT_THAT(r.report->torn, IsEmpty());
}

TEST(WalLogTest, ReopenContinuesInANewSegment) {
  ScratchDir dir;
  std::vector<Got> want = AppendRange(OpenOrDie(dir.path(), 1).get(), 1, 50);
  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  ASSERT_EQ(r.report->last_seq, 50u);
  ASSERT_THAT(r.report->segments, SizeIs(1));

  std::vector<Got> more =
      AppendRange(OpenOrDie(dir.path(), 51).get(), 51, 80, 33);
  want.insert(want.end(), more.begin(), more.end());
  r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, want);
  EXPECT_THAT(r.report->segments, SizeIs(2));
  EXPECT_THAT(r.report->torn, IsEmpty());
}

TEST(WalLogTest, OpenRefusesToForkOrClobberTheLog) {
  ScratchDir dir;
  AppendRange(OpenOrDie(dir.path(), 1).get(), 1, 20);
  AppendRange(OpenOrDie(dir.path(), 21).get(), 21, 30);
  LogWriterOptions options{.dir = dir.path()};
  // A segment starts after 10: starting at 10 would fork the log.
  absl::StatusOr<std::unique_ptr<LogWriter>> w = LogWriter::Open(options, 10);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kFailedPrecondition);
  // The segment for 21 holds records.
  w = LogWriter::Open(options, 21);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(w.status().message()),
              HasSubstr(SegmentFileName(21)));
  EXPECT_EQ(LogWriter::Open(options, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.report->last_seq, 30u);
}

TEST(WalLogTest, OpenReplacesAnEmptySegmentAndLeftoverTempFiles) {
  ScratchDir dir;
  OpenOrDie(dir.path(), 1);  // crash before the first record
  WriteAll(dir.Sub(SegmentFileName(7) + ".tmp"), "half-made segment");
  std::vector<Got> want = AppendRange(OpenOrDie(dir.path(), 1).get(), 1, 5);
  EXPECT_THAT(Names(dir.path()), ElementsAre(SegmentFileName(1)));
  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, want);
}

TEST(WalLogTest, AppendRejectsSeqsThatDoNotContinueTheLog) {
  ScratchDir dir;
  std::unique_ptr<LogWriter> w = OpenOrDie(dir.path(), 5);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->Append(RecordType::kTransactions, 6, 6, "x").code(),
            absl::StatusCode::kInvalidArgument);
  // Any error kills the writer.
  EXPECT_EQ(w->Append(RecordType::kTransactions, 5, 5, "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(w->Sync().code(), absl::StatusCode::kFailedPrecondition);

  std::unique_ptr<LogWriter> w2 = OpenOrDie(dir.path(), 5);
  ASSERT_NE(w2, nullptr);
  EXPECT_EQ(w2->Append(RecordType::kTransactions, 5, 4, "x").code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- torn tails -------------------------------------------------------------

// Bytes from `from` to the last non-zero byte of `s` (TornTail::bytes).
uint64_t Extent(const std::string& s, uint64_t from) {
  uint64_t end = s.size();
  while (end > from && s[end - 1] == 0) --end;
  return end - from;
}

TEST(WalLogTest, TornLastRecordAtEveryByteOffsetRecoversThePreviousRecords) {
  ScratchDir dir;
  constexpr uint64_t kSegmentBytes = 4096;
  std::vector<Got> want =
      AppendRange(OpenOrDie(dir.path(), 1, kSegmentBytes).get(), 1, 6, 150);
  const std::string path = dir.Sub(SegmentFileName(1));
  const std::string original = ReadAll(path);
  ASSERT_EQ(original.size(), kSegmentBytes);
  std::vector<uint64_t> offsets = RecordOffsets(original);
  ASSERT_THAT(offsets, SizeIs(6));
  const uint64_t last = offsets.back();
  const uint64_t last_bytes = kRecordHeaderBytes + 150;
  want.pop_back();

  for (uint64_t cut = 0; cut < last_bytes; ++cut) {
    SCOPED_TRACE(absl::StrCat("cut after ", cut, " bytes of the last record"));
    // As a crash leaves a preallocated segment: the rest reads as zeros.
    std::string torn = original;
    std::fill(torn.begin() + static_cast<ptrdiff_t>(last + cut), torn.end(),
              '\0');
    // And as a copy cut short: the file ends there.
    const std::string cut_short = original.substr(0, last + cut);
    for (const std::string* image : {&std::as_const(torn), &cut_short}) {
      WriteAll(path, *image);
      ReadResult r = Read(dir.path());
      ASSERT_TRUE(r.report.ok()) << r.report.status();
      EXPECT_EQ(r.records, want);
      EXPECT_EQ(r.report->last_seq, 5u);
      const uint64_t bytes = Extent(*image, last);
      if (bytes == 0) {
        EXPECT_THAT(r.report->torn, IsEmpty());
      } else {
        ASSERT_THAT(r.report->torn, SizeIs(1));
        EXPECT_EQ(r.report->torn[0].file, path);
        EXPECT_EQ(r.report->torn[0].offset, last);
        EXPECT_EQ(r.report->torn[0].bytes, bytes);
        // The cut point itself, unless the record's bytes just before it
        // are zeros (indistinguishable from unwritten space).
        EXPECT_LE(bytes, cut);
        if ((*image)[last + cut - 1] != 0) {
          EXPECT_EQ(bytes, cut);
        }
      }
    }
  }
}

TEST(WalLogTest, TornTailThenReopenReadsOnAcrossTheDamagedSegment) {
  ScratchDir dir;
  std::vector<Got> want =
      AppendRange(OpenOrDie(dir.path(), 1, 4096).get(), 1, 6, 150);
  const std::string path = dir.Sub(SegmentFileName(1));
  std::string data = ReadAll(path);
  const uint64_t last = RecordOffsets(data).back();
  std::fill(data.begin() + static_cast<ptrdiff_t>(last + 70), data.end(), '\0');
  WriteAll(path, data);
  want.pop_back();

  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  ASSERT_EQ(r.report->last_seq, 5u);
  // Recovery: a new writer at the seq after the last good record. The torn
  // segment is left as it is; the next segment continues the sequence.
  std::vector<Got> more =
      AppendRange(OpenOrDie(dir.path(), 6, 4096).get(), 6, 9, 40);
  want.insert(want.end(), more.begin(), more.end());
  r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, want);
  ASSERT_THAT(r.report->torn, SizeIs(1));
  EXPECT_EQ(r.report->torn[0].file, path);
  EXPECT_EQ(r.report->torn[0].offset, last);
  EXPECT_EQ(r.report->torn[0].bytes, 70u);
}

TEST(WalLogTest, BitFlipInTheLastRecordIsATornTail) {
  ScratchDir dir;
  std::vector<Got> want =
      AppendRange(OpenOrDie(dir.path(), 1, 4096).get(), 1, 8, 64);
  const std::string path = dir.Sub(SegmentFileName(1));
  const std::string original = ReadAll(path);
  const uint64_t last = RecordOffsets(original).back();
  want.pop_back();
  for (uint64_t i = 0; i < kRecordHeaderBytes + 64; ++i) {
    SCOPED_TRACE(absl::StrCat("flipped byte ", i, " of the last record"));
    std::string data = original;
    data[last + i] ^= static_cast<char>(1 << (i % 8));
    WriteAll(path, data);
    ReadResult r = Read(dir.path());
    ASSERT_TRUE(r.report.ok()) << r.report.status();
    EXPECT_EQ(r.records, want);
    ASSERT_THAT(r.report->torn, SizeIs(1));
    EXPECT_EQ(r.report->torn[0].offset, last);
    EXPECT_EQ(r.report->torn[0].bytes, Extent(data, last));
  }
}

TEST(WalLogTest, GarbageAfterTheLastRecordIsATornTail) {
  ScratchDir dir;
  std::vector<Got> want =
      AppendRange(OpenOrDie(dir.path(), 1, 4096).get(), 1, 3, 64);
  const std::string path = dir.Sub(SegmentFileName(1));
  std::string data = ReadAll(path);
  const uint64_t end = RecordOffsets(data).back() + kRecordHeaderBytes + 64;
  data.replace(end + 100, 10, "\x7f\x01garbage!");
  WriteAll(path, data);
  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, want);
  ASSERT_THAT(r.report->torn, SizeIs(1));
  EXPECT_EQ(r.report->torn[0].offset, end);
  EXPECT_EQ(r.report->torn[0].bytes, 110u);
}

// ---- corruption -------------------------------------------------------------

TEST(WalLogTest, BitFlipInAMiddleRecordIsRefusedWithFileAndOffset) {
  ScratchDir dir;
  AppendRange(OpenOrDie(dir.path(), 1, 4096).get(), 1, 10, 64);
  const std::string path = dir.Sub(SegmentFileName(1));
  const std::string original = ReadAll(path);
  const uint64_t bad = RecordOffsets(original)[4];  // seq 5
  // Every byte of the record: header fields, checksum and payload.
  for (uint64_t i = 0; i < kRecordHeaderBytes + 64; ++i) {
    SCOPED_TRACE(absl::StrCat("flipped byte ", i, " of record 5"));
    std::string data = original;
    data[bad + i] ^= static_cast<char>(1 << (i % 8));
    WriteAll(path, data);
    ReadResult r = Read(dir.path());
    ASSERT_FALSE(r.report.ok());
    EXPECT_EQ(r.report.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(r.report.status().message()),
                HasSubstr(absl::StrCat(path, " at offset ", bad, ":")));
    // Records before the damage were handed out; nothing after it.
    ASSERT_THAT(r.records, SizeIs(4));
    EXPECT_EQ(r.records.back().last_seq, 4u);
  }
}

TEST(WalLogTest, RepairSetsTheDamagedPartAsideAndTheLogGoesOn) {
  ScratchDir dir;
  std::vector<Got> want =
      AppendRange(OpenOrDie(dir.path(), 1, 4096).get(), 1, 10, 64);
  const std::string path = dir.Sub(SegmentFileName(1));
  std::string data = ReadAll(path);
  const uint64_t bad = RecordOffsets(data)[4];  // seq 5
  data[bad + 40] ^= 0x04;
  WriteAll(path, data);
  want.resize(4);

  ReadResult r = Read(dir.path(), {.repair = true});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, want);
  EXPECT_EQ(r.report->last_seq, 4u);
  ASSERT_THAT(r.report->torn, SizeIs(1));
  EXPECT_EQ(r.report->torn[0].file, path);
  EXPECT_EQ(r.report->torn[0].offset, bad);
  EXPECT_EQ(r.report->torn[0].bytes, 6 * (kRecordHeaderBytes + 64));
  // The cut-off bytes are kept, the segment ends at the bad record.
  const std::string aside = absl::StrCat(path, ".", bad, ".damaged");
  EXPECT_THAT(r.report->set_aside, ElementsAre(aside));
  EXPECT_EQ(ReadAll(aside), data.substr(bad, 6 * (kRecordHeaderBytes + 64)));
  EXPECT_EQ(std::filesystem::file_size(path), bad);

  // Without repair the log now reads clean, and continues.
  std::vector<Got> more =
      AppendRange(OpenOrDie(dir.path(), 5, 4096).get(), 5, 12, 64);
  want.insert(want.end(), more.begin(), more.end());
  r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, want);
  EXPECT_THAT(r.report->torn, IsEmpty());
}

TEST(WalLogTest, DamageInAnEarlierSegmentIsRefusedAndRepairDropsTheRest) {
  ScratchDir dir;
  std::vector<Got> want =
      AppendRange(OpenOrDie(dir.path(), 1, 1024).get(), 1, 40, 100);
  std::vector<std::string> segments = SegmentPaths(dir.path());
  ASSERT_GE(segments.size(), 4u);
  // The LAST record of the second segment: a torn tail only if the next
  // segment did not continue right after it, which it does.
  std::string data = ReadAll(segments[1]);
  std::vector<uint64_t> offsets = RecordOffsets(data);
  const uint64_t bad = offsets.back();
  data[bad + kRecordHeaderBytes + 7] ^= 0x01;
  WriteAll(segments[1], data);

  ReadResult r = Read(dir.path());
  ASSERT_FALSE(r.report.ok());
  EXPECT_EQ(r.report.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.report.status().message()),
              HasSubstr(absl::StrCat(segments[1], " at offset ", bad)));

  r = Read(dir.path(), {.repair = true});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  const uint64_t kept = r.records.size();
  want.resize(kept);
  EXPECT_EQ(r.records, want);
  ASSERT_THAT(r.report->torn, SizeIs(segments.size() - 1));
  EXPECT_EQ(r.report->torn[0].file, segments[1]);
  EXPECT_EQ(r.report->torn[0].offset, bad);
  for (size_t j = 2; j < segments.size(); ++j) {
    EXPECT_EQ(r.report->torn[j - 1].file, segments[j]);
    EXPECT_EQ(r.report->torn[j - 1].offset, 0u);
    EXPECT_TRUE(std::filesystem::exists(segments[j] + ".damaged"));
    EXPECT_FALSE(std::filesystem::exists(segments[j]));
  }
  EXPECT_THAT(SegmentPaths(dir.path()), SizeIs(2));
  // Repaired for good: a plain read agrees, and a writer continues.
  ReadResult again = Read(dir.path());
  ASSERT_TRUE(again.report.ok()) << again.report.status();
  EXPECT_EQ(again.records, want);
  ASSERT_NE(OpenOrDie(dir.path(), kept + 1, 1024), nullptr);
}

TEST(WalLogTest, RepairNeverOverwritesEarlierEvidence) {
  ScratchDir dir;
  AppendRange(OpenOrDie(dir.path(), 1, 1024).get(), 1, 20, 100);
  std::vector<std::string> segments = SegmentPaths(dir.path());
  ASSERT_GE(segments.size(), 3u);
  const std::string last = segments.back();
  WriteAll(last + ".damaged", "from an earlier repair");
  // Drop the middle segment: a sequence gap.
  std::filesystem::remove(segments[1]);
  ReadResult r = Read(dir.path());
  ASSERT_FALSE(r.report.ok());
  EXPECT_THAT(std::string(r.report.status().message()),
              HasSubstr("sequence gap"));
  r = Read(dir.path(), {.repair = true});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(ReadAll(last + ".damaged"), "from an earlier repair");
  EXPECT_TRUE(std::filesystem::exists(last + ".damaged.2"));
}

TEST(WalLogTest, DamagedSegmentHeaderBeforeRecordsIsCorruption) {
  ScratchDir dir;
  AppendRange(OpenOrDie(dir.path(), 1, 1024).get(), 1, 20, 100);
  std::vector<std::string> segments = SegmentPaths(dir.path());
  ASSERT_GE(segments.size(), 3u);
  std::string data = ReadAll(segments[1]);
  data[20] ^= 0x01;
  WriteAll(segments[1], data);
  ReadResult r = Read(dir.path());
  ASSERT_FALSE(r.report.ok());
  EXPECT_THAT(std::string(r.report.status().message()),
              HasSubstr(absl::StrCat(segments[1], " at offset 0:")));
  EXPECT_THAT(std::string(r.report.status().message()),
              HasSubstr("segment header checksum mismatch"));

  r = Read(dir.path(), {.repair = true});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_TRUE(std::filesystem::exists(segments[1] + ".damaged"));
  EXPECT_EQ(r.report->segments.size(), 2u);
}

TEST(WalLogTest, SequenceGapIsCorruptionUnlessTheSnapshotCoversIt) {
  ScratchDir dir;
  std::vector<Got> want =
      AppendRange(OpenOrDie(dir.path(), 1, 1024).get(), 1, 30, 100);
  std::vector<std::string> segments = SegmentPaths(dir.path());
  ASSERT_GE(segments.size(), 4u);
  std::filesystem::remove(segments[1]);
  uint64_t third_first = 0;
  ASSERT_TRUE(ParseSegmentFileName(
      std::filesystem::path(segments[2]).filename().string(), &third_first));

  ReadResult r = Read(dir.path());
  ASSERT_FALSE(r.report.ok());
  EXPECT_EQ(r.report.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.report.status().message()),
              HasSubstr("sequence gap"));
  EXPECT_THAT(std::string(r.report.status().message()), HasSubstr(segments[2]));

  // A snapshot at third_first - 1 has everything that is missing.
  r = Read(dir.path(), {.from_seq = third_first});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  ASSERT_FALSE(r.records.empty());
  EXPECT_EQ(r.records.front().first_seq, third_first);
  EXPECT_EQ(r.report->last_seq, 30u);
  // One seq short of that is real loss.
  r = Read(dir.path(), {.from_seq = third_first - 1});
  EXPECT_EQ(r.report.status().code(), absl::StatusCode::kDataLoss);
}

TEST(WalLogTest, WriterAfterASnapshotThatOutranTheLogReadsBack) {
  // The log is durable up to 10, a snapshot (not this layer's business)
  // holds state up to 15, the process dies; recovery opens the log at 16.
  ScratchDir dir;
  AppendRange(OpenOrDie(dir.path(), 1, 4096).get(), 1, 10);
  std::vector<Got> want =
      AppendRange(OpenOrDie(dir.path(), 16, 4096).get(), 16, 20);
  ReadResult r = Read(dir.path(), {.from_seq = 16});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, want);
  EXPECT_EQ(r.report->skipped, 10u);
  // Without the snapshot the hole is real.
  EXPECT_EQ(Read(dir.path()).report.status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(WalLogTest, FromSeqSkipsEarlierRecordsAndRequiresTheLogToReachBack) {
  ScratchDir dir;
  {
    std::unique_ptr<LogWriter> w = OpenOrDie(dir.path(), 1, 1024);
    ASSERT_NE(w, nullptr);
    for (uint64_t seq = 1; seq <= 100; seq += 10) {
      ASSERT_TRUE(
          w->Append(RecordType::kTransactions, seq, seq + 9, Payload(seq, 150))
              .ok());
    }
    ASSERT_TRUE(w->Sync().ok());
  }
  // 45 is inside the record [41, 50]: that record comes whole.
  ReadResult r = Read(dir.path(), {.from_seq = 45});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  ASSERT_THAT(r.records, SizeIs(6));
  EXPECT_EQ(r.records.front().first_seq, 41u);
  EXPECT_EQ(r.report->first_seq, 41u);
  EXPECT_EQ(r.report->skipped, 4u);
  EXPECT_EQ(r.report->last_seq, 100u);

  // Trim, then ask for records the log no longer has.
  absl::StatusOr<int> removed =
      RemoveSegmentsUpTo(dir.path(), 60, "", PosixStorage());
  ASSERT_TRUE(removed.ok()) << removed.status();
  ASSERT_GT(*removed, 0);
  r = Read(dir.path(), {.from_seq = 2});
  EXPECT_EQ(r.report.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.report.status().message()),
              HasSubstr("recovery needs records from seq 2"));
  r = Read(dir.path(), {.from_seq = 61});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.report->last_seq, 100u);
}

TEST(WalLogTest, CallbackErrorStopsReading) {
  ScratchDir dir;
  AppendRange(OpenOrDie(dir.path(), 1).get(), 1, 10);
  int calls = 0;
  absl::StatusOr<ReadReport> report =
      ReadLog(dir.path(), {}, [&](const Record& rec) {
        ++calls;
        return rec.first_seq == 3 ? absl::AbortedError("enough")
                                  : absl::OkStatus();
      });
  EXPECT_EQ(report.status(), absl::AbortedError("enough"));
  EXPECT_EQ(calls, 3);
}

// Recovery's option: segments the snapshot covers are not read at all, so
// damage there no longer stops a start-up that does not need them; without
// the option (audits) it does.
TEST(WalLogTest, SkipCoveredSegmentsReadsFromTheSegmentHoldingFromSeq) {
  ScratchDir dir;
  std::vector<Got> all =
      AppendRange(OpenOrDie(dir.path(), 1, 1024).get(), 1, 40, 100);
  std::vector<std::string> segments = SegmentPaths(dir.path());
  ASSERT_GE(segments.size(), 4u);
  const std::vector<uint64_t> firsts = FirstSeqs(segments);
  // Damage the first record of the first segment: corruption for a full
  // read (a valid record follows it).
  std::string first = ReadAll(segments[0]);
  first[kSegmentHeaderBytes + kRecordHeaderBytes] ^= 0x5A;
  WriteAll(segments[0], first);
  const uint64_t from = firsts[2] + 1;  // inside the third segment
  ReadResult full = Read(dir.path(), {.from_seq = from});
  ASSERT_FALSE(full.report.ok());
  EXPECT_NE(full.report.status().message().find(segments[0]), std::string::npos)
      << full.report.status();

  ReadResult r =
      Read(dir.path(), {.from_seq = from, .skip_covered_segments = true});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.report->segments,
            std::vector<std::string>(segments.begin() + 2, segments.end()));
  EXPECT_EQ(r.report->last_seq, 40u);
  // From the record holding `from` on, as without the option.
  std::vector<Got> want;
  for (const Got& g : all) {
    if (g.last_seq >= from) want.push_back(g);
  }
  EXPECT_EQ(r.records, want);

  // A from_seq at a segment's first seq: that segment is the first read.
  r = Read(dir.path(), {.from_seq = firsts[3], .skip_covered_segments = true});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.report->segments.front(), segments[3]);
  ASSERT_FALSE(r.records.empty());
  EXPECT_EQ(r.records.front().first_seq, firsts[3]);
}

// ---- trimming ---------------------------------------------------------------

TEST(WalLogTest, RemoveSegmentsUpToKeepsEverythingAfterAndTheNewest) {
  ScratchDir dir;
  std::vector<Got> want =
      AppendRange(OpenOrDie(dir.path(), 1, 1024).get(), 1, 40, 100);
  std::vector<std::string> segments = SegmentPaths(dir.path());
  ASSERT_GE(segments.size(), 5u);
  const std::vector<uint64_t> firsts = FirstSeqs(segments);
  // Up to one seq before the third segment's first: the first two go.
  absl::StatusOr<int> removed =
      RemoveSegmentsUpTo(dir.path(), firsts[2] - 1, "", nullptr);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 2);
  EXPECT_EQ(SegmentPaths(dir.path()),
            std::vector<std::string>(segments.begin() + 2, segments.end()));
  // Nothing more until the whole third segment is covered.
  removed = RemoveSegmentsUpTo(dir.path(), firsts[3] - 2, "", nullptr);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0);
  // Everything: still not the newest segment, which the writer may be
  // filling.
  removed = RemoveSegmentsUpTo(dir.path(), UINT64_MAX, "", nullptr);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, static_cast<int>(segments.size()) - 3);
  EXPECT_EQ(SegmentPaths(dir.path()),
            std::vector<std::string>{segments.back()});
  ReadResult r = Read(dir.path(), {.from_seq = firsts.back()});
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.report->last_seq, 40u);
}

TEST(WalLogTest, RemoveSegmentsUpToMovesThemToTheArchive) {
  ScratchDir dir;
  std::vector<Got> want =
      AppendRange(OpenOrDie(dir.Sub("log"), 1, 1024).get(), 1, 40, 100);
  std::vector<std::string> segments = SegmentPaths(dir.Sub("log"));
  ASSERT_GE(segments.size(), 4u);
  const std::string archive = dir.Sub("archive/wal");  // created on demand
  absl::StatusOr<int> removed =
      RemoveSegmentsUpTo(dir.Sub("log"), 30, archive, PosixStorage());
  ASSERT_TRUE(removed.ok()) << removed.status();
  ASSERT_GT(*removed, 0);
  EXPECT_EQ(SegmentPaths(archive).size() + SegmentPaths(dir.Sub("log")).size(),
            segments.size());
  // The archive is a readable log of the oldest records, and the two
  // together are the whole log.
  ReadResult old = Read(archive);
  ASSERT_TRUE(old.report.ok()) << old.report.status();
  ASSERT_FALSE(old.records.empty());
  EXPECT_EQ(old.records.front().first_seq, 1u);
  EXPECT_LE(old.report->last_seq, 30u);
  ReadResult rest =
      Read(dir.Sub("log"), {.from_seq = old.report->last_seq + 1});
  ASSERT_TRUE(rest.report.ok()) << rest.report.status();
  std::vector<Got> all = old.records;
  all.insert(all.end(), rest.records.begin(), rest.records.end());
  EXPECT_EQ(all, want);
}

// ---- I/O faults ---------------------------------------------------------

struct FaultCase {
  Fault fault;
  const char* name;
  friend void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }
};

class WalIoFaultTest : public ::testing::TestWithParam<FaultCase> {};

TEST_P(WalIoFaultTest, FailedWriteOrSyncKillsTheWriterForGood) {
  ScratchDir dir;
  FaultyStorage storage(PosixStorage());
  std::unique_ptr<LogWriter> w = OpenOrDie(dir.path(), 1, 64 << 10, &storage);
  ASSERT_NE(w, nullptr);
  std::vector<Got> synced = AppendRange(w.get(), 1, 10);

  storage.Arm(GetParam().fault, 1);
  for (uint64_t seq = 11; seq <= 12; ++seq) {
    ASSERT_TRUE(
        w->Append(RecordType::kTransactions, seq, seq, Payload(seq, 100)).ok());
  }
  absl::Status s = w->Sync();
  EXPECT_TRUE(storage.fired());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("injected"));
  EXPECT_THAT(std::string(s.message()), HasSubstr(SegmentFileName(1)));
  EXPECT_EQ(w->durable_seq(), 10u);

  // Dead: nothing is tried again, the fdatasync least of all.
  const uint64_t appends = storage.appends();
  const uint64_t syncs = storage.syncs();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(w->Sync().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(w->Append(RecordType::kTransactions, 13, 13, "x").code(),
              absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_THAT(std::string(w->Sync().message()), HasSubstr("injected"));
  EXPECT_EQ(storage.appends(), appends);
  EXPECT_EQ(storage.syncs(), syncs);
  EXPECT_EQ(w->durable_seq(), 10u);
  w.reset();

  // Recovery: what was synced is there; what was not may be (the page
  // cache can hold a write whose fdatasync failed) or may be torn.
  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  ASSERT_GE(r.records.size(), synced.size());
  EXPECT_EQ(
      std::vector<Got>(r.records.begin(), r.records.begin() + synced.size()),
      synced);
  const uint64_t last = r.report->last_seq;
  EXPECT_LE(last, 12u);
  // And the log goes on from there.
  AppendRange(OpenOrDie(dir.path(), last + 1, 64 << 10).get(), last + 1,
              last + 5);
  r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.report->last_seq, last + 5);
}

INSTANTIATE_TEST_SUITE_P(
    Wal, WalIoFaultTest,
    ::testing::Values(FaultCase{Fault::kFailSync, "FailedFsync"},
                      FaultCase{Fault::kFailWrite, "FailedWrite"},
                      FaultCase{Fault::kNoSpace, "NoSpace"},
                      FaultCase{Fault::kShortWrite, "ShortWrite"}),
    [](const ::testing::TestParamInfo<FaultCase>& info) {
      return std::string(info.param.name);
    });

TEST(WalFaultTest, ShortWriteLeavesATornTailThatRecoveryCutsOff) {
  ScratchDir dir;
  FaultyStorage storage(PosixStorage());
  std::unique_ptr<LogWriter> w = OpenOrDie(dir.path(), 1, 64 << 10, &storage);
  ASSERT_NE(w, nullptr);
  std::vector<Got> synced = AppendRange(w.get(), 1, 5);
  storage.Arm(Fault::kShortWrite, 1);
  ASSERT_TRUE(w->Append(RecordType::kTransactions, 6, 6, Payload(6, 300)).ok());
  ASSERT_FALSE(w->Sync().ok());
  w.reset();
  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.records, synced);
  ASSERT_THAT(r.report->torn, SizeIs(1));
  EXPECT_EQ(r.report->torn[0].bytes, (kRecordHeaderBytes + 300) / 2);
}

TEST(WalFaultTest, FullDiskAtARollKillsTheWriter) {
  ScratchDir dir;
  FaultyStorage storage(PosixStorage());
  std::unique_ptr<LogWriter> w = OpenOrDie(dir.path(), 1, 1024, &storage);
  ASSERT_NE(w, nullptr);
  // 64 + 7 x 132 bytes: the 8th record does not fit and rolls.
  AppendRange(w.get(), 1, 7);
  storage.Arm(Fault::kFailPreallocate, 1);
  ASSERT_TRUE(w->Append(RecordType::kTransactions, 8, 8, Payload(8, 100)).ok());
  absl::Status s = w->Sync();
  EXPECT_TRUE(storage.fired());
  EXPECT_THAT(std::string(s.message()), HasSubstr("fallocate"));
  EXPECT_THAT(std::string(s.message()), HasSubstr(SegmentFileName(8)));
  EXPECT_EQ(w->durable_seq(), 7u);
  EXPECT_EQ(w->Sync().code(), absl::StatusCode::kFailedPrecondition);
  w.reset();
  // The half-made segment never got its name.
  EXPECT_THAT(SegmentPaths(dir.path()), SizeIs(1));
  ReadResult r = Read(dir.path());
  ASSERT_TRUE(r.report.ok()) << r.report.status();
  EXPECT_EQ(r.report->last_seq, 7u);
}

TEST(WalFaultTest, FailedDirectorySyncAtARollKillsTheWriter) {
  ScratchDir dir;
  FaultyStorage storage(PosixStorage());
  std::unique_ptr<LogWriter> w = OpenOrDie(dir.path(), 1, 1024, &storage);
  ASSERT_NE(w, nullptr);
  AppendRange(w.get(), 1, 7);
  storage.Arm(Fault::kFailSyncDir, 1);
  ASSERT_TRUE(w->Append(RecordType::kTransactions, 8, 8, Payload(8, 100)).ok());
  EXPECT_FALSE(w->Sync().ok());
  EXPECT_TRUE(storage.fired());
  EXPECT_EQ(w->durable_seq(), 7u);
  EXPECT_EQ(w->Append(RecordType::kTransactions, 9, 9, "x").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(WalFaultTest, OpenFailsWhenTheNewSegmentCannotBeMadeDurable) {
  ScratchDir dir;
  FaultyStorage storage(PosixStorage());
  storage.Arm(Fault::kFailSync, 1);
  LogWriterOptions options{.dir = dir.path(), .storage = &storage};
  EXPECT_FALSE(LogWriter::Open(options, 1).ok());
  EXPECT_THAT(Names(dir.path()), IsEmpty());
}

TEST(WalFaultTest, NothingIsDurableBeforeTheFdatasyncReturns) {
  ScratchDir dir;
  FaultyStorage storage(PosixStorage());
  std::unique_ptr<LogWriter> w = OpenOrDie(dir.path(), 1, 64 << 10, &storage);
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->Append(RecordType::kTransactions, 1, 3, "abc").ok());
  storage.BlockSyncs();
  absl::Status sync_status;
  std::thread syncer([&] { sync_status = w->Sync(); });
  while (!storage.sync_waiting()) std::this_thread::yield();
  // Written, not yet synced: not durable.
  EXPECT_EQ(w->durable_seq(), 0u);
  storage.UnblockSyncs();
  syncer.join();
  EXPECT_TRUE(sync_status.ok()) << sync_status;
  EXPECT_EQ(w->durable_seq(), 3u);
}

}  // namespace
}  // namespace coffer::wal
