// wal/archive.h: the archive's size is measured from its segment files
// only, a byte bound removes the oldest segments first and never more than
// needed, and an archive that segments cannot be renamed into is refused
// with a message naming both directories.
#include <string>

#include "gtest/gtest.h"
#include "tests/fuzz/memory_storage.h"
#include "wal/archive.h"
#include "wal/format.h"

namespace coffer::wal {
namespace {

using fuzz::MemoryStorage;

// Segments of 100, 200, 300 and 400 bytes starting at seqs 1, 11, 21, 31,
// and one file that is not a segment.
void PutArchive(MemoryStorage& storage) {
  for (uint64_t i = 0; i < 4; ++i) {
    storage.Put(JoinPath("arch", SegmentFileName(1 + 10 * i)),
                std::string(100 * (i + 1), 'x'));
  }
  storage.Put("arch/README", std::string(5000, 'r'));
}

TEST(WalArchive, MeasuresOnlyItsSegments) {
  MemoryStorage storage;
  PutArchive(storage);
  absl::StatusOr<FileUsage> usage = MeasureSegments(&storage, "arch");
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->files, 4u);
  EXPECT_EQ(usage->bytes, 1000u);
}

TEST(WalArchive, TrimRemovesTheOldestSegmentsUntilTheRestFit) {
  MemoryStorage storage;
  PutArchive(storage);
  absl::StatusOr<uint64_t> removed = TrimArchive(&storage, "arch", 700);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 2u) << "1000 - 100 - 200 = 700 fits";
  EXPECT_FALSE(storage.files().contains(JoinPath("arch", SegmentFileName(1))));
  EXPECT_FALSE(storage.files().contains(JoinPath("arch", SegmentFileName(11))));
  EXPECT_TRUE(storage.files().contains(JoinPath("arch", SegmentFileName(21))));
  EXPECT_TRUE(storage.files().contains(JoinPath("arch", SegmentFileName(31))));
  EXPECT_TRUE(storage.files().contains("arch/README")) << "not a segment";
  // Within the bound: nothing more goes.
  removed = TrimArchive(&storage, "arch", 700);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0u);
}

TEST(WalArchive, NoBoundKeepsEverything) {
  MemoryStorage storage;
  PutArchive(storage);
  absl::StatusOr<uint64_t> removed = TrimArchive(&storage, "arch", 0);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0u);
  EXPECT_EQ(MeasureSegments(&storage, "arch")->files, 4u);
}

TEST(WalArchive, ABoundBelowOneSegmentEmptiesIt) {
  MemoryStorage storage;
  PutArchive(storage);
  absl::StatusOr<uint64_t> removed = TrimArchive(&storage, "arch", 1);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 4u);
  EXPECT_EQ(MeasureSegments(&storage, "arch")->bytes, 0u);
}

TEST(WalArchive, PrepareLeavesNoProbeBehind) {
  MemoryStorage storage;
  ASSERT_TRUE(PrepareArchive(&storage, "data", "data/archive").ok());
  EXPECT_TRUE(storage.files().empty());
}

// A file system boundary: every rename fails as rename(2) does across two.
class CrossDeviceStorage : public MemoryStorage {
 public:
  absl::Status Rename(const std::string&, const std::string&) override {
    return absl::ErrnoToStatus(EXDEV, "rename");
  }
};

TEST(WalArchive, AnArchiveOnAnotherFileSystemIsRefusedAtOnce) {
  CrossDeviceStorage storage;
  const absl::Status s = PrepareArchive(&storage, "data", "/mnt/other");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("/mnt/other"), std::string::npos) << s;
  EXPECT_NE(s.message().find("data"), std::string::npos) << s;
  EXPECT_NE(s.message().find("same file system"), std::string::npos) << s;
  EXPECT_TRUE(storage.files().empty()) << "the probe is removed";
}

}  // namespace
}  // namespace coffer::wal
