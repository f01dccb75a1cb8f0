// Snapshot files: written atomically, verified on read, the newest good one
// wins, and old ones (and leftovers of interrupted writes) are removed
// without touching anything else in the directory.
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
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
            kSnapshotHeaderBytes + payload.size());

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

TEST(WalSnapshotTest, HeaderIsAsDocumented) {
  ScratchDir dir;
  Write(dir.path(), 9, "payload!");
  const std::string data = ReadAll(dir.Sub(SnapshotFileName(9)));
  ASSERT_EQ(data.size(), 48u + 8u);
  EXPECT_EQ(data.substr(0, 8), "COFFSNP1");
  EXPECT_EQ(GetU32(data.data() + 8), 1u);
  EXPECT_EQ(GetU32(data.data() + 12), 48u);
  EXPECT_EQ(GetU64(data.data() + 16), 9u);
  EXPECT_EQ(GetU64(data.data() + 24), 8u);
  EXPECT_EQ(data.substr(48), "payload!");
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
