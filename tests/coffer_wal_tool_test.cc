// The coffer-wal binary against a data directory written by a live engine:
// replay reaches the live digest, verify finds damage and names it, dump
// and history filter by account.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "tests/test_util.h"

#ifndef COFFER_WAL_TOOL
#error "tests/CMakeLists.txt passes the coffer-wal path as COFFER_WAL_TOOL"
#endif

namespace coffer::testing {
namespace {

namespace fs = std::filesystem;

struct ToolRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

ToolRun RunTool(const std::string& args) {
  ToolRun run;
  const std::string command = absl::StrCat(COFFER_WAL_TOOL, " ", args, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) run.output.append(buf, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

int CountLines(const std::string& text, const std::string& needle) {
  int count = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::string_view(line).find(needle) != absl::string_view::npos) {
      ++count;
    }
  }
  return count;
}

class CofferWalTool : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(::testing::TempDir()) /
            absl::StrCat("coffer-wal-tool-", getpid()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes a small ledger with two shards and returns its live digest.
  StateDigest WriteLedger() {
    EngineConfig config;
    config.data_dir = dir_;
    config.shard_count = 2;
    config.wal_segment_bytes = 8 << 10;  // several segments
    auto e = Engine::Create(config);
    EXPECT_TRUE(e.ok()) << e.status();
    Engine& engine = **e;
    std::vector<Op> setup;
    for (uint64_t id = 1; id <= 20; ++id) {
      setup.push_back(CreateAccount(id));
      setup.push_back(Credit(id, 1000));
    }
    for (const OpResult& r : engine.Apply(setup)) EXPECT_TRUE(r.ok());
    for (int round = 0; round < 200; ++round) {
      const uint64_t from = 1 + round % 20;
      const uint64_t to = 1 + (round * 7 + 3) % 20;
      if (from == to) continue;
      engine.Apply({Transfer(from, to, 1 + round % 9)});
    }
    const Op hold = Hold(5, 40);
    EXPECT_EQ(Code(engine, hold), ResultCode::kOk);
    EXPECT_EQ(Code(engine, Capture(5, hold.op_id, 6, 15)), ResultCode::kOk);
    EXPECT_EQ(Code(engine, Debit(7, 1'000'000)),
              ResultCode::kInsufficientFunds);
    account7_entries_ = Account(engine, 7).history_count;
    return engine.Digest();
  }

  std::string dir_;
  uint32_t account7_entries_ = 0;
};

TEST_F(CofferWalTool, ReplayPrintsTheLiveDigest) {
  const StateDigest live = WriteLedger();
  const ToolRun run = RunTool(absl::StrCat("replay --data_dir=", dir_));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string hex = absl::StrFormat("%016x%016x", live.hi, live.lo);
  EXPECT_NE(run.output.find(absl::StrCat("digest ", hex)), std::string::npos)
      << "live digest " << hex << ", tool said:\n"
      << run.output;
  // Another shard count re-partitions and reaches the same digest.
  const ToolRun three =
      RunTool(absl::StrCat("replay --shards=3 --data_dir=", dir_));
  EXPECT_NE(three.output.find(hex), std::string::npos) << three.output;
  // Money is conserved: 20 accounts of 1000 in currency 1.
  EXPECT_NE(run.output.find("20000"), std::string::npos) << run.output;
}

TEST_F(CofferWalTool, VerifyPassesThenNamesTheDamagedFile) {
  WriteLedger();
  const ToolRun clean = RunTool(absl::StrCat("verify --data_dir=", dir_));
  ASSERT_EQ(clean.exit_code, 0) << clean.output;

  // Flip one byte inside the first segment's records: later segments still
  // hold valid records, so this is corruption, not a torn tail.
  std::vector<fs::path> segments;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    if (entry.path().extension() == ".log") segments.push_back(entry.path());
  }
  std::sort(segments.begin(), segments.end());
  ASSERT_GE(segments.size(), 2u) << "the ledger should span segments";
  {
    std::fstream f(segments.front(),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(200);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    f.seekp(200);
    f.write(&c, 1);
  }
  const ToolRun damaged = RunTool(absl::StrCat("verify --data_dir=", dir_));
  EXPECT_NE(damaged.exit_code, 0) << damaged.output;
  EXPECT_NE(damaged.output.find(segments.front().filename().string()),
            std::string::npos)
      << damaged.output;
}

TEST_F(CofferWalTool, DumpAndHistoryFilterByAccount) {
  WriteLedger();
  const ToolRun dump =
      RunTool(absl::StrCat("dump --json --account=7 --data_dir=", dir_));
  ASSERT_EQ(dump.exit_code, 0) << dump.output;
  const int lines = CountLines(dump.output, "\"seq\":");
  EXPECT_GT(lines, 0);
  // Every printed op names account 7 on one side or the other.
  EXPECT_EQ(CountLines(dump.output, "\"account_id\":7,") +
                CountLines(dump.output, "\"other_account_id\":7,"),
            lines)
      << dump.output;
  // The refused debit was ordered and logged too.
  EXPECT_EQ(CountLines(dump.output, "\"amount\":1000000,"), 1) << dump.output;

  const ToolRun history =
      RunTool(absl::StrCat("history 7 --json --data_dir=", dir_));
  ASSERT_EQ(history.exit_code, 0) << history.output;
  EXPECT_EQ(CountLines(history.output, "\"number\":"),
            static_cast<int>(account7_entries_))
      << history.output;

  const ToolRun missing =
      RunTool(absl::StrCat("history 999 --data_dir=", dir_));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("999"), std::string::npos) << missing.output;
}

TEST_F(CofferWalTool, HistoryReachesSeqOneThroughTheArchive) {
  // As cofferd runs by default: segments that snapshots make unneeded move
  // to DATA_DIR/archive, and history reads the archive and the live log.
  const std::string archive = dir_ + "/archive";
  uint32_t entries = 0;
  {
    EngineConfig config;
    config.data_dir = dir_;
    config.shard_count = 2;
    config.wal_segment_bytes = 8 << 10;   // several segments per round
    config.snapshot_every_log_bytes = 0;  // only the ones asked for
    config.wal_archive_dir = archive;
    auto e = Engine::Create(config);
    ASSERT_TRUE(e.ok()) << e.status();
    Engine& engine = **e;
    ASSERT_TRUE(engine.Apply({CreateAccount(7), CreateAccount(8)})[0].ok());
    for (uint64_t round = 1; round <= 3; ++round) {
      for (uint64_t i = 0; i < 150; ++i) {
        ASSERT_TRUE(engine.Apply({Credit(7 + i % 2, 1 + i)})[0].ok());
      }
      engine.RequestSnapshot();
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (engine.Stats().snapshots < round) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline);
        ASSERT_EQ(engine.Stats().snapshot_failures, 0u);
        std::this_thread::yield();
      }
    }
    entries = Account(engine, 7).history_count;
    // DISK's figures are the files on disk.
    absl::StatusOr<std::vector<DiskAreaUsage>> disk = engine.MeasureDisk();
    ASSERT_TRUE(disk.ok()) << disk.status();
    ASSERT_EQ(disk->size(), 5u);
    uint64_t archived_bytes = 0;
    uint64_t archived_files = 0;
    for (const auto& entry : fs::directory_iterator(archive)) {
      ++archived_files;
      archived_bytes += fs::file_size(entry.path());
    }
    EXPECT_EQ((*disk)[1].area, DiskArea::kArchive);
    EXPECT_EQ((*disk)[1].files, archived_files);
    EXPECT_EQ((*disk)[1].bytes, archived_bytes);
    EXPECT_GT(archived_files, 0u);
    EXPECT_EQ((*disk)[0].area, DiskArea::kLog);
    EXPECT_GT((*disk)[0].files, 0u);
    EXPECT_EQ((*disk)[2].area, DiskArea::kSnapshots);
    EXPECT_EQ((*disk)[2].files, 2u) << "the two newest are kept";
    EXPECT_EQ((*disk)[3].area, DiskArea::kOpIdIndex);
    EXPECT_GT((*disk)[3].files, 0u);
    EXPECT_GT((*disk)[3].bytes, 0u);
    EXPECT_EQ((*disk)[4].area, DiskArea::kHistoryStore);
    EXPECT_GT((*disk)[4].files, 0u) << "RocksDB's files exist from the start";
  }
  ASSERT_TRUE(fs::exists(fs::path(archive) / "wal-00000000000000000001.log"))
      << "the first segment was archived, not deleted";
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "wal-00000000000000000001.log"));

  const ToolRun history =
      RunTool(absl::StrCat("history 7 --json --data_dir=", dir_));
  ASSERT_EQ(history.exit_code, 0) << history.output;
  EXPECT_EQ(history.output.find("does not reach back"), std::string::npos)
      << history.output;
  EXPECT_EQ(CountLines(history.output, "\"number\":"),
            static_cast<int>(entries))
      << history.output;

  // Without the archive the tool says what is missing.
  const std::string empty = dir_ + "/no-archive";
  fs::create_directories(empty);
  const ToolRun partial = RunTool(absl::StrCat(
      "history 7 --json --data_dir=", dir_, " --archive_dir=", empty));
  ASSERT_EQ(partial.exit_code, 0) << partial.output;
  EXPECT_NE(partial.output.find("does not reach back"), std::string::npos)
      << partial.output;
}

TEST_F(CofferWalTool, UnknownCommandIsAUsageError) {
  const ToolRun run = RunTool("frobnicate");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_FALSE(run.output.empty());
}

}  // namespace
}  // namespace coffer::testing
