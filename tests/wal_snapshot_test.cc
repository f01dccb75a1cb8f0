// Snapshot files: written atomically (streamed, version 2), verified on
// read (version 1 too), the newest good one wins, and old ones (and
// leftovers of interrupted writes) are removed without touching anything
// else in the directory.
#include <stdlib.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wal/faulty_storage.h"
#include "wal/format.h"
#include "wal/snapshot_file.h"
#include "wal/storage.h"

namespace coffer::wal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ScratchDir {
 public:
  ScratchDir() {
    std::string templ =
        JoinPath(::testing::TempDir(), "wal_snapshot_test.XXXXXX");
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

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string Payload(uint64_t seed, size_t bytes) {
  std::string p(bytes, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (char& c : p) {
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    c = static_cast<char>(x >> 56);
  }
  return p;
}

void Write(const std::string& dir, uint64_t seq, const std::string& payload) {
  absl::Status s = WriteSnapshotFile(
      PosixStorage(), dir, seq,
      {std::string_view(payload).substr(0, payload.size() / 3),
       std::string_view(payload).substr(payload.size() / 3)});
  ASSERT_TRUE(s.ok()) << s;
}

TEST(WalSnapshotTest, FileNamesSortBySeq) {
  EXPECT_EQ(SnapshotFileName(7), "snap-00000000000000000007.snap");
  uint64_t seq = 0;
  EXPECT_TRUE(ParseSnapshotFileName("snap-00000000000000000007.snap", &seq));
  EXPECT_EQ(seq, 7u);
  EXPECT_FALSE(
      ParseSnapshotFileName("snap-00000000000000000007.snap.tmp", &seq));
  EXPECT_FALSE(ParseSnapshotFileName("wal-00000000000000000007.log", &seq));
}

TEST(WalSnapshotTest, RoundTripsChunkedPayload) {
  ScratchDir dir;
  const std::string payload = Payload(1, 100000);
  // Several chunks, an empty one among them; they are stored concatenated.
  std::vector<std::string_view> chunks = {
      std::string_view(payload).substr(0, 10), std::string_view(),
      std::string_view(payload).substr(10, 50000),
      std::string_view(payload).substr(50010)};
  ASSERT_TRUE(
      WriteSnapshotFile(PosixStorage(), dir.Sub("data"), 42, chunks).ok());
  const std::string path = dir.Sub("data/" + SnapshotFileName(42));
  EXPECT_THAT(Names(dir.Sub("data")), ElementsAre(SnapshotFileName(42)));
  EXPECT_EQ(std::filesystem::file_size(path),
            kSnapshotHeaderBytes + payload.size() + kSnapshotTrailerBytes);

  absl::StatusOr<SnapshotFile> snap = ReadSnapshotFile(PosixStorage(), path);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->seq, 42u);
  EXPECT_EQ(snap->payload, payload);
  EXPECT_EQ(snap->path, path);

  std::vector<std::string> skipped;
  snap = ReadNewestSnapshot(nullptr, dir.Sub("data"), &skipped);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->seq, 42u);
  EXPECT_EQ(snap->payload, payload);
  EXPECT_THAT(skipped, IsEmpty());
}

TEST(WalSnapshotTest, EmptyPayloadRoundTrips) {
  ScratchDir dir;
  ASSERT_TRUE(WriteSnapshotFile(PosixStorage(), dir.path(), 1, {}).ok());
  absl::StatusOr<SnapshotFile> snap =
      ReadNewestSnapshot(PosixStorage(), dir.path(), nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->seq, 1u);
  EXPECT_EQ(snap->payload, "");
}

TEST(WalSnapshotTest, HeaderAndTrailerAreAsDocumented) {
  ScratchDir dir;
  Write(dir.path(), 9, "payload!");
  const std::string data = ReadAll(dir.Sub(SnapshotFileName(9)));
  ASSERT_EQ(data.size(), 48u + 8u + 32u);
  const char* p = data.data();
  EXPECT_EQ(data.substr(0, 8), "COFFSNP1");
  EXPECT_EQ(GetU32(p + 8), 2u);
  EXPECT_EQ(GetU32(p + 12), 48u);
  EXPECT_EQ(GetU64(p + 16), 9u);
  EXPECT_EQ(GetU64(p + 24), 0u);  // payload_bytes: in the trailer
  EXPECT_EQ(GetU64(p + 32), 0u);  // payload checksum: in the trailer
  EXPECT_EQ(GetU64(p + 40), XXH3_64bits(p, 40));
  EXPECT_EQ(data.substr(48, 8), "payload!");
  EXPECT_EQ(data.substr(56, 8), "COFFSNPT");
  EXPECT_EQ(GetU64(p + 64), 8u);
  EXPECT_EQ(GetU64(p + 72), XXH3_64bits("payload!", 8));
  EXPECT_EQ(GetU64(p + 80), XXH3_64bits(p + 56, 24));
}

TEST(WalSnapshotTest, NoSnapshotIsNotFound) {
  ScratchDir dir;
  EXPECT_TRUE(absl::IsNotFound(
      ReadNewestSnapshot(PosixStorage(), dir.Sub("missing"), nullptr)
          .status()));
  EXPECT_TRUE(absl::IsNotFound(
      ReadNewestSnapshot(PosixStorage(), dir.path(), nullptr).status()));
}

TEST(WalSnapshotTest, EveryDamageIsDataLossNamingFileAndOffset) {
  ScratchDir dir;
  Write(dir.path(), 5, Payload(5, 300));
  const std::string path = dir.Sub(SnapshotFileName(5));
  const std::string original = ReadAll(path);
  // A flipped bit anywhere: header fields, checksums, payload.
  for (size_t i = 0; i < original.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("flipped byte ", i));
    std::string data = original;
    data[i] ^= static_cast<char>(1 << (i % 8));
    WriteAll(path, data);
    absl::StatusOr<SnapshotFile> snap = ReadSnapshotFile(PosixStorage(), path);
    ASSERT_EQ(snap.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(snap.status().message()),
                HasSubstr(absl::StrCat(path, " at offset ")));
  }
  // Cut short anywhere, or grown.
  for (size_t n :
       {size_t{0}, size_t{10}, size_t{47}, size_t{48}, original.size() - 1}) {
    WriteAll(path, original.substr(0, n));
    EXPECT_EQ(ReadSnapshotFile(PosixStorage(), path).status().code(),
              absl::StatusCode::kDataLoss)
        << n << " bytes";
  }
  WriteAll(path, original + "x");
  EXPECT_EQ(ReadSnapshotFile(PosixStorage(), path).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(WalSnapshotTest, FileNamedForAnotherSeqIsDamaged) {
  ScratchDir dir;
  Write(dir.path(), 10, "ten");
  std::filesystem::rename(dir.Sub(SnapshotFileName(10)),
                          dir.Sub(SnapshotFileName(30)));
  absl::StatusOr<SnapshotFile> snap =
      ReadSnapshotFile(PosixStorage(), dir.Sub(SnapshotFileName(30)));
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(snap.status().message()),
              HasSubstr("header says seq 10, file name says 30"));
}

// A version 1 file as the version 1 writer made it: the header carries
// payload_bytes and the payload checksum, no trailer.
std::string V1File(uint64_t seq, std::string_view payload) {
  std::string data(48, '\0');
  data.replace(0, 8, "COFFSNP1");
  PutU32(data.data() + 8, 1);
  PutU32(data.data() + 12, 48);
  PutU64(data.data() + 16, seq);
  PutU64(data.data() + 24, payload.size());
  PutU64(data.data() + 32, XXH3_64bits(payload.data(), payload.size()));
  PutU64(data.data() + 40, XXH3_64bits(data.data(), 40));
  return data.append(payload);
}

void FixHeaderChecksum(std::string* data) {
  PutU64(data->data() + 40, XXH3_64bits(data->data(), 40));
}

void FixTrailerChecksum(std::string* data) {
  char* t = data->data() + data->size() - 32;
  PutU64(t + 24, XXH3_64bits(t, 24));
}

// Writes `data` to `path` and expects ReadSnapshotFile to call it DataLoss
// at `offset` because of `why`.
void ExpectDamage(const std::string& path, const std::string& data,
                  uint64_t offset, const std::string& why) {
  WriteAll(path, data);
  absl::StatusOr<SnapshotFile> snap = ReadSnapshotFile(PosixStorage(), path);
  ASSERT_EQ(snap.status().code(), absl::StatusCode::kDataLoss) << snap.status();
  EXPECT_THAT(std::string(snap.status().message()),
              HasSubstr(absl::StrCat(path, " at offset ", offset, ": ", why)));
}

TEST(WalSnapshotTest, StreamedAppendsReadBackTheSamePayload) {
  ScratchDir dir;
  const std::string payload = Payload(3, 70000);
  const std::string data_dir = dir.Sub("data");  // created by Create
  absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> writer =
      SnapshotFileWriter::Create(nullptr, data_dir, 77);
  ASSERT_TRUE(writer.ok()) << writer.status();
  // Until Finish only the .tmp exists.
  EXPECT_THAT(Names(data_dir), ElementsAre(SnapshotFileName(77) + ".tmp"));
  std::string_view rest(payload);
  for (size_t n : {size_t{1}, size_t{0}, size_t{4095}, size_t{30000}}) {
    ASSERT_TRUE((*writer)->Append(rest.substr(0, n)).ok());
    rest.remove_prefix(n);
  }
  ASSERT_TRUE((*writer)->Append(rest).ok());
  EXPECT_EQ((*writer)->payload_bytes(), payload.size());
  EXPECT_THAT(Names(data_dir), ElementsAre(SnapshotFileName(77) + ".tmp"));
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_THAT(Names(data_dir), ElementsAre(SnapshotFileName(77)));

  const std::string path = JoinPath(data_dir, SnapshotFileName(77));
  EXPECT_EQ(std::filesystem::file_size(path), 48 + payload.size() + 32);
  absl::StatusOr<SnapshotFile> snap = ReadSnapshotFile(nullptr, path);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->seq, 77u);
  EXPECT_EQ(snap->payload, payload);

  // Finished: more is refused, and destroying the writer keeps the file.
  EXPECT_EQ((*writer)->Append("x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->Finish().code(), absl::StatusCode::kFailedPrecondition);
  writer->reset();
  EXPECT_THAT(Names(data_dir), ElementsAre(SnapshotFileName(77)));
  snap = ReadNewestSnapshot(nullptr, data_dir, nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->payload, payload);
}

TEST(WalSnapshotTest, StreamedEmptyPayloadRoundTrips) {
  ScratchDir dir;
  absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> writer =
      SnapshotFileWriter::Create(PosixStorage(), dir.path(), 3);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_EQ((*writer)->payload_bytes(), 0u);
  const std::string path = dir.Sub(SnapshotFileName(3));
  EXPECT_EQ(std::filesystem::file_size(path), 80u);
  absl::StatusOr<SnapshotFile> snap = ReadSnapshotFile(PosixStorage(), path);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->seq, 3u);
  EXPECT_EQ(snap->payload, "");
}

TEST(WalSnapshotTest, Version1FilesStillRead) {
  ScratchDir dir;
  Write(dir.path(), 11, "version two");
  const std::string payload = Payload(12, 5000);
  const std::string p12 = dir.Sub(SnapshotFileName(12));
  WriteAll(p12, V1File(12, payload));
  absl::StatusOr<SnapshotFile> snap = ReadSnapshotFile(PosixStorage(), p12);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->seq, 12u);
  EXPECT_EQ(snap->payload, payload);
  snap = ReadNewestSnapshot(PosixStorage(), dir.path(), nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->seq, 12u);
  EXPECT_EQ(snap->payload, payload);

  const std::string p13 = dir.Sub(SnapshotFileName(13));
  WriteAll(p13, V1File(13, ""));
  snap = ReadSnapshotFile(PosixStorage(), p13);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->payload, "");

  // Version 1's own checks still apply.
  std::string flipped = V1File(12, payload);
  flipped[100] ^= 0x04;
  ExpectDamage(p12, flipped, 48, "payload checksum mismatch");
  ExpectDamage(p12, V1File(12, payload) + "x", 5048,
               "header says 5000 payload bytes, file has 5001");
}

TEST(WalSnapshotTest, OtherVersionsAreUnsupported) {
  ScratchDir dir;
  Write(dir.path(), 4, "four");
  const std::string path = dir.Sub(SnapshotFileName(4));
  const std::string original = ReadAll(path);
  for (uint32_t version : {0u, 3u, 0xFFFFFFFFu}) {
    std::string data = original;
    PutU32(data.data() + 8, version);
    FixHeaderChecksum(&data);
    ExpectDamage(
        path, data, 8,
        absl::StrCat("unsupported version ", version, " / header size 48"));
  }
  std::string data = V1File(4, "four");
  PutU32(data.data() + 12, 64);
  FixHeaderChecksum(&data);
  ExpectDamage(path, data, 8, "unsupported version 1 / header size 64");
}

TEST(WalSnapshotTest, EveryKindOfVersion2DamageIsDataLoss) {
  ScratchDir dir;
  Write(dir.path(), 5, Payload(5, 300));
  const std::string path = dir.Sub(SnapshotFileName(5));
  const std::string original = ReadAll(path);
  ASSERT_EQ(original.size(), 380u);
  const uint64_t trailer = 348;
  {
    SCOPED_TRACE("a payload byte flipped");
    std::string data = original;
    data[48 + 123] ^= 0x10;
    ExpectDamage(path, data, 48, "payload checksum mismatch");
  }
  for (size_t cut : {size_t{1}, size_t{8}, size_t{31}, size_t{32}}) {
    SCOPED_TRACE(absl::StrCat("trailer cut by ", cut));
    ExpectDamage(path, original.substr(0, original.size() - cut),
                 original.size() - cut - 8, "trailer checksum mismatch");
  }
  {
    SCOPED_TRACE("trailer magic corrupted");
    std::string data = original;
    data[trailer + 7] = 'X';
    ExpectDamage(path, data, trailer + 24, "trailer checksum mismatch");
    FixTrailerChecksum(&data);
    ExpectDamage(path, data, trailer, "bad trailer magic");
  }
  for (uint64_t wrong : {uint64_t{0}, uint64_t{299}, uint64_t{301}}) {
    SCOPED_TRACE(absl::StrCat("trailer says ", wrong, " payload bytes"));
    std::string data = original;
    PutU64(data.data() + trailer + 8, wrong);
    FixTrailerChecksum(&data);
    ExpectDamage(
        path, data, trailer + 8,
        absl::StrCat("trailer says ", wrong, " payload bytes, file has 300"));
  }
  {
    SCOPED_TRACE("trailer's payload checksum wrong");
    std::string data = original;
    data[trailer + 16] ^= 0x01;
    FixTrailerChecksum(&data);
    ExpectDamage(path, data, 48, "payload checksum mismatch");
  }
  for (size_t field : {size_t{24}, size_t{32}}) {
    SCOPED_TRACE(absl::StrCat("header field at ", field, " nonzero"));
    std::string data = original;
    PutU64(data.data() + field, 300);
    FixHeaderChecksum(&data);
    ExpectDamage(path, data, 24, "nonzero payload fields");
  }
  for (size_t n : {size_t{48}, size_t{79}}) {
    SCOPED_TRACE(absl::StrCat("only ", n, " bytes"));
    ExpectDamage(path, original.substr(0, n), n,
                 "file ends inside the 32-byte trailer");
  }
}

TEST(WalSnapshotTest, WriterDestroyedBeforeFinishLeavesNoFile) {
  ScratchDir dir;
  Write(dir.path(), 10, "old");
  {
    absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> writer =
        SnapshotFileWriter::Create(PosixStorage(), dir.path(), 20);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append(Payload(20, 1000)).ok());
    EXPECT_THAT(Names(dir.path()), ElementsAre(SnapshotFileName(10),
                                               SnapshotFileName(20) + ".tmp"));
  }
  EXPECT_THAT(Names(dir.path()), ElementsAre(SnapshotFileName(10)));
  {
    // Right after Create, nothing appended.
    absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> writer =
        SnapshotFileWriter::Create(PosixStorage(), dir.path(), 30);
    ASSERT_TRUE(writer.ok()) << writer.status();
  }
  EXPECT_THAT(Names(dir.path()), ElementsAre(SnapshotFileName(10)));
  absl::StatusOr<SnapshotFile> snap =
      ReadNewestSnapshot(PosixStorage(), dir.path(), nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->seq, 10u);
}

TEST(WalSnapshotTest, FailedCreateLeavesNoFile) {
  ScratchDir dir;
  FaultyStorage storage(PosixStorage());
  storage.Arm(Fault::kFailWrite, 1);  // the header
  absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> writer =
      SnapshotFileWriter::Create(&storage, dir.path(), 20);
  EXPECT_TRUE(storage.fired());
  EXPECT_FALSE(writer.ok());
  EXPECT_THAT(Names(dir.path()), IsEmpty());
}

TEST(WalSnapshotTest, FailedAppendIsSticky) {
  for (Fault fault : {Fault::kFailWrite, Fault::kNoSpace, Fault::kShortWrite}) {
    SCOPED_TRACE(static_cast<int>(fault));
    ScratchDir dir;
    FaultyStorage storage(PosixStorage());
    absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> writer =
        SnapshotFileWriter::Create(&storage, dir.path(), 20);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append("first").ok());
    storage.Arm(fault, 1);
    const absl::Status s = (*writer)->Append(Payload(20, 1000));
    EXPECT_TRUE(storage.fired());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ((*writer)->payload_bytes(), 5u);
    // The .tmp is gone at once; later calls return the same error and do
    // no I/O.
    EXPECT_THAT(Names(dir.path()), IsEmpty());
    const uint64_t appends = storage.appends();
    const uint64_t syncs = storage.syncs();
    EXPECT_EQ((*writer)->Append("more"), s);
    EXPECT_EQ((*writer)->Append(""), s);
    EXPECT_EQ((*writer)->Finish(), s);
    EXPECT_EQ((*writer)->Finish(), s);
    EXPECT_EQ(storage.appends(), appends);
    EXPECT_EQ(storage.syncs(), syncs);
    EXPECT_EQ((*writer)->payload_bytes(), 5u);
    writer->reset();
    EXPECT_THAT(Names(dir.path()), IsEmpty());
  }
}

TEST(WalSnapshotTest, FailedFinishIsSticky) {
  // kFailWrite fails the trailer's Append.
  for (Fault fault :
       {Fault::kFailWrite, Fault::kFailSync, Fault::kFailSyncDir}) {
    SCOPED_TRACE(static_cast<int>(fault));
    ScratchDir dir;
    Write(dir.path(), 10, "old");
    FaultyStorage storage(PosixStorage());
    const std::string payload = Payload(20, 1000);
    absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> writer =
        SnapshotFileWriter::Create(&storage, dir.path(), 20);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append(payload).ok());
    storage.Arm(fault, 1);
    const absl::Status s = (*writer)->Finish();
    EXPECT_TRUE(storage.fired());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ((*writer)->Finish(), s);
    EXPECT_EQ((*writer)->Append("more"), s);
    writer->reset();
    if (fault == Fault::kFailSyncDir) {
      // Renamed but perhaps not durable: complete, and left in place.
      EXPECT_THAT(Names(dir.path()),
                  ElementsAre(SnapshotFileName(10), SnapshotFileName(20)));
      absl::StatusOr<SnapshotFile> snap =
          ReadSnapshotFile(PosixStorage(), dir.Sub(SnapshotFileName(20)));
      ASSERT_TRUE(snap.ok()) << snap.status();
      EXPECT_EQ(snap->payload, payload);
      continue;
    }
    EXPECT_THAT(Names(dir.path()), ElementsAre(SnapshotFileName(10)));
    absl::StatusOr<SnapshotFile> snap =
        ReadNewestSnapshot(PosixStorage(), dir.path(), nullptr);
    ASSERT_TRUE(snap.ok()) << snap.status();
    EXPECT_EQ(snap->seq, 10u);
  }
}

TEST(WalSnapshotTest, DamagedNewestFallsBackToTheOlder) {
  ScratchDir dir;
  Write(dir.path(), 10, Payload(10, 1000));
  Write(dir.path(), 20, Payload(20, 1000));
  Write(dir.path(), 30, Payload(30, 1000));
  // 30: a payload bit flipped; 20: cut short.
  const std::string p30 = dir.Sub(SnapshotFileName(30));
  std::string d30 = ReadAll(p30);
  d30[500] ^= 0x20;
  WriteAll(p30, d30);
  const std::string p20 = dir.Sub(SnapshotFileName(20));
  WriteAll(p20, ReadAll(p20).substr(0, 700));
  // A leftover of an interrupted write is not a snapshot.
  WriteAll(dir.Sub(SnapshotFileName(40) + ".tmp"), "interrupted");

  std::vector<std::string> skipped;
  absl::StatusOr<SnapshotFile> snap =
      ReadNewestSnapshot(PosixStorage(), dir.path(), &skipped);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->seq, 10u);
  EXPECT_EQ(snap->payload, Payload(10, 1000));
  EXPECT_THAT(skipped, ElementsAre(p30, p20));

  // All damaged: NotFound, and every one is reported.
  WriteAll(dir.Sub(SnapshotFileName(10)), "junk");
  skipped.clear();
  snap = ReadNewestSnapshot(PosixStorage(), dir.path(), &skipped);
  EXPECT_TRUE(absl::IsNotFound(snap.status())) << snap.status();
  EXPECT_EQ(skipped.size(), 3u);
}

TEST(WalSnapshotTest, RewritingTheSameSeqReplacesTheFile) {
  ScratchDir dir;
  Write(dir.path(), 10, "first");
  Write(dir.path(), 10, "second");
  absl::StatusOr<SnapshotFile> snap =
      ReadNewestSnapshot(PosixStorage(), dir.path(), nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->payload, "second");
  EXPECT_THAT(Names(dir.path()), ElementsAre(SnapshotFileName(10)));
}

TEST(WalSnapshotTest, FailedWriteLeavesNoFileAndTheOlderSnapshotWins) {
  for (Fault fault : {Fault::kFailSync, Fault::kFailWrite, Fault::kNoSpace,
                      Fault::kShortWrite, Fault::kFailSyncDir}) {
    SCOPED_TRACE(static_cast<int>(fault));
    ScratchDir dir;
    Write(dir.path(), 10, "old");
    FaultyStorage storage(PosixStorage());
    // The second Append is the payload (the first is the header).
    storage.Arm(fault, fault == Fault::kShortWrite ? 2 : 1);
    const std::string payload = Payload(20, 5000);
    absl::Status s = WriteSnapshotFile(&storage, dir.path(), 20,
                                       {std::string_view(payload)});
    EXPECT_TRUE(storage.fired());
    EXPECT_FALSE(s.ok());
    if (fault == Fault::kFailSyncDir) {
      // Renamed but perhaps not durable: complete if it is there at all.
      EXPECT_THAT(Names(dir.path()),
                  ElementsAre(SnapshotFileName(10), SnapshotFileName(20)));
      continue;
    }
    EXPECT_THAT(Names(dir.path()), ElementsAre(SnapshotFileName(10)));
    absl::StatusOr<SnapshotFile> snap =
        ReadNewestSnapshot(PosixStorage(), dir.path(), nullptr);
    ASSERT_TRUE(snap.ok()) << snap.status();
    EXPECT_EQ(snap->seq, 10u);
  }
}

TEST(WalSnapshotTest, RemoveSnapshotsBeforeRemovesOnlyOlderSnapshots) {
  ScratchDir dir;
  Write(dir.path(), 10, "a");
  Write(dir.path(), 20, "b");
  Write(dir.path(), 30, "c");
  // Interrupted writes below and above the cut, and the log's files.
  WriteAll(dir.Sub(SnapshotFileName(5) + ".tmp"), "x");
  WriteAll(dir.Sub(SnapshotFileName(25) + ".tmp"), "x");
  WriteAll(dir.Sub(SnapshotFileName(40) + ".tmp"), "in progress");
  WriteAll(dir.Sub(SegmentFileName(1)), "log");
  WriteAll(dir.Sub(SegmentFileName(31) + ".tmp"), "log being created");
  WriteAll(dir.Sub("snap-notes.txt"), "not ours");

  ASSERT_TRUE(RemoveSnapshotsBefore(PosixStorage(), dir.path(), 30).ok());
  EXPECT_THAT(Names(dir.path()),
              ElementsAre(SnapshotFileName(30), SnapshotFileName(40) + ".tmp",
                          "snap-notes.txt", SegmentFileName(1),
                          SegmentFileName(31) + ".tmp"));
  absl::StatusOr<SnapshotFile> snap =
      ReadNewestSnapshot(PosixStorage(), dir.path(), nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->seq, 30u);

  // Idempotent; nothing below 0; a missing directory is fine.
  EXPECT_TRUE(RemoveSnapshotsBefore(PosixStorage(), dir.path(), 30).ok());
  EXPECT_TRUE(RemoveSnapshotsBefore(nullptr, dir.path(), 0).ok());
  EXPECT_EQ(Names(dir.path()).size(), 5u);
  EXPECT_TRUE(RemoveSnapshotsBefore(nullptr, dir.Sub("missing"), 100).ok());
}

TEST(WalSnapshotTest, RemoveSnapshotsBeforeReportsAFailedDirectorySync) {
  ScratchDir dir;
  Write(dir.path(), 10, "a");
  Write(dir.path(), 20, "b");
  FaultyStorage storage(PosixStorage());
  storage.Arm(Fault::kFailSyncDir, 1);
  absl::Status s = RemoveSnapshotsBefore(&storage, dir.path(), 20);
  EXPECT_TRUE(storage.fired());
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(Names(dir.path()), ElementsAre(SnapshotFileName(20)));
}

}  // namespace
}  // namespace coffer::wal
