// Fail-stop of the real server: cofferd is started with a storage fault
// armed (--inject_fault, tests only) or with its log on a tmpfs that fills
// up, and driven over TCP from several connections until the fault stops
// it. Then: it exited with status 70 and said why on stderr, and a restart
// on the same data recovers every acknowledged operation with its answer
// (tests/bank_torture.h says how that is checked).
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/bank_torture.h"
#include "tests/cofferd_process.h"
#include "wal/fault_spec.h"

namespace coffer::testing {
namespace {

namespace fs = std::filesystem;

std::string FreshDir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) /
                 absl::StrCat("failstop-", name, "-", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::vector<std::string> ServerFlags(const std::string& dir,
                                     uint64_t segment_bytes = 64 << 10) {
  return {"--data_dir=" + dir, "--shards=2",
          absl::StrCat("--wal_segment_bytes=", segment_bytes),
          // No snapshots: the only storage calls are the log's, so the
          // Nth call of a kind is a log call under load.
          "--snapshot_every_log_bytes=0"};
}

// Creates and funds the accounts through a fresh connection.
void SetUpBank(uint16_t port, const std::vector<BankAccount>& accounts,
               std::atomic<uint64_t>* next_op_id,
               std::vector<SentRequest>* requests) {
  uint64_t id = next_op_id->fetch_add(1000);
  SentRequest setup = BankSetUpRequest(accounts, &id);
  auto client = net::Client::Connect(BankClientOptions(port));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::vector<OpResult>> r = (*client)->Apply(setup.ops);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const OpResult& x : *r) ASSERT_TRUE(x.ok()) << DescribeResult(x);
  setup.results = *r;
  setup.known = true;
  requests->push_back(std::move(setup));
}

// Restarts cofferd on `dir` without any fault and checks the bank.
void RestartAndCheck(const std::vector<std::string>& flags,
                     const std::vector<BankAccount>& accounts,
                     std::vector<SentRequest>& requests) {
  CofferdProcess server;
  absl::Status started = server.Start(flags);
  ASSERT_TRUE(started.ok()) << started;
  auto client = net::Client::Connect(BankClientOptions(server.port()));
  ASSERT_TRUE(client.ok()) << client.status();
  CheckBank(**client, accounts, requests);
  ExpectNoOpAppliedTwice(**client, accounts);
}

TEST(FaultSpecTest, ParsesEveryKindAndRefusesNonsense) {
  const std::pair<const char*, wal::Fault> kinds[] = {
      {"sync:3", wal::Fault::kFailSync},
      {"write:1", wal::Fault::kFailWrite},
      {"nospace:7", wal::Fault::kNoSpace},
      {"short_write:2", wal::Fault::kShortWrite},
      {"preallocate:4", wal::Fault::kFailPreallocate},
      {"syncdir:5", wal::Fault::kFailSyncDir},
  };
  for (const auto& [text, fault] : kinds) {
    absl::StatusOr<wal::FaultSpec> spec = wal::ParseFaultSpec(text);
    ASSERT_TRUE(spec.ok()) << text << ": " << spec.status();
    EXPECT_EQ(spec->fault, fault) << text;
    EXPECT_EQ(wal::FaultSpecText(*spec), text);
  }
  for (const char* bad : {"", "sync", "sync:", "sync:0", "sync:-1", "sync:x",
                          "fsync:1", ":3", "sync:1:2", "SYNC:1"}) {
    EXPECT_FALSE(wal::ParseFaultSpec(bad).ok()) << "'" << bad << "'";
  }
}

TEST(FailStopTest, FaultInjectionIsRefusedWithoutTheSafetyFlag) {
  const std::string dir = FreshDir("refused");
  CofferdProcess server;
  std::vector<std::string> flags = ServerFlags(dir);
  flags.push_back("--inject_fault=sync:5");
  EXPECT_FALSE(server.Start(flags).ok());
  EXPECT_TRUE(server.exited_with(2)) << server.DescribeStatus();
  EXPECT_TRUE(absl::StrContains(server.Stderr(), "--allow_fault_injection"))
      << server.Stderr();

  flags.back() = "--inject_fault=fsync:5";
  flags.push_back("--allow_fault_injection");
  EXPECT_FALSE(server.Start(flags).ok());
  EXPECT_TRUE(server.exited_with(2)) << server.DescribeStatus();
  EXPECT_TRUE(absl::StrContains(server.Stderr(), "unknown kind 'fsync'"))
      << server.Stderr();
  fs::remove_all(dir);
}

// A fault on the very first log calls (creating the first segment): the
// server refuses to start (exit 1, the reason on stderr), and the data dir
// it leaves behind is fine for the next start.
TEST(FailStopTest, FaultAtStartUpRefusesToStart) {
  for (const char* spec : {"preallocate:1", "sync:1", "syncdir:1"}) {
    SCOPED_TRACE(spec);
    const std::string dir = FreshDir("startup");
    std::vector<std::string> flags = ServerFlags(dir);
    flags.push_back(absl::StrCat("--inject_fault=", spec));
    flags.push_back("--allow_fault_injection");
    CofferdProcess server;
    EXPECT_FALSE(server.Start(flags).ok());
    EXPECT_TRUE(server.exited_with(1)) << server.DescribeStatus();
    EXPECT_TRUE(absl::StrContains(server.Stderr(), "injected"))
        << server.Stderr();
    {
      CofferdProcess again;
      absl::Status s = again.Start(ServerFlags(dir));
      EXPECT_TRUE(s.ok()) << s;
    }
    if (!HasFailure()) fs::remove_all(dir);
  }
}

// Each fault kind, armed for a call well into the load: the server stops by
// itself with exit 70 and a clear message; what it acknowledged survives.
TEST(FailStopTest, EveryFaultKindStopsTheServerAndLosesNothingAcknowledged) {
  // Counted from start-up: creating the first segment is preallocate 1,
  // write 1, sync 1, syncdir 1; each group commit is one write and one
  // sync; each later segment (64 KiB here, a few hundred ops) adds one of
  // each. So these all land under load, from several connections.
  const char* specs[] = {"sync:60",        "write:60",      "nospace:60",
                         "short_write:60", "preallocate:3", "syncdir:3"};
  const std::vector<BankAccount> accounts = BankAccounts();
  for (const char* spec : specs) {
    SCOPED_TRACE(spec);
    const std::string dir = FreshDir("kind");
    std::vector<std::string> flags = ServerFlags(dir);
    flags.push_back(absl::StrCat("--inject_fault=", spec));
    flags.push_back("--allow_fault_injection");
    std::atomic<uint64_t> next_op_id{1};
    std::vector<SentRequest> requests;
    CofferdProcess server;
    absl::Status started = server.Start(flags);
    ASSERT_TRUE(started.ok()) << started;
    SetUpBank(server.port(), accounts, &next_op_id, &requests);
    ASSERT_FALSE(HasFatalFailure());
    uint64_t acked = 0;
    {
      BankLoad load(&accounts, server.port(), /*shard_count=*/2,
                    /*threads=*/4, /*seed=*/7, &next_op_id);
      // The load runs until the fault stops the server: every thread ends
      // on its first failed request.
      ASSERT_TRUE(load.WaitForAllEnded(120'000)) << "server did not stop";
      load.StopAndJoin();
      acked = load.acked();
      EXPECT_TRUE(load.read_violations().empty())
          << load.read_violations().front();
      std::vector<SentRequest> sent = load.TakeRequests();
      for (SentRequest& r : sent) requests.push_back(std::move(r));
    }
    ASSERT_TRUE(server.WaitForExit(30'000)) << "cofferd still running";
    EXPECT_TRUE(server.exited_with(70)) << server.DescribeStatus();
    const std::string err = server.Stderr();
    EXPECT_TRUE(absl::StrContains(err, "FATAL: write-ahead log")) << err;
    EXPECT_TRUE(absl::StrContains(err, "injected")) << err;
    EXPECT_TRUE(absl::StrContains(err,
                                  "nothing after this point was "
                                  "acknowledged"))
        << err;
    EXPECT_GT(acked, 0u) << "the fault struck before any load";
    RestartAndCheck(ServerFlags(dir), accounts, requests);
    if (!HasFailure()) fs::remove_all(dir);
  }
}

// A tmpfs mounted for the test, unmounted (lazily) when it ends.
class Tmpfs {
 public:
  // Mounts a tmpfs of `bytes` at a fresh directory; false (and a reason in
  // error()) if this process may not mount.
  bool Mount(const std::string& name, uint64_t bytes) {
    path_ = FreshDir(name);
    if (mount("tmpfs", path_.c_str(), "tmpfs", 0,
              absl::StrCat("size=", bytes).c_str()) != 0) {
      error_ = absl::StrCat("mount -t tmpfs at ", path_, ": ", strerror(errno));
      return false;
    }
    mounted_ = true;
    return true;
  }
  // Grows (or shrinks) it in place, as an operator freeing space would.
  bool Resize(uint64_t bytes) {
    return mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT,
                 absl::StrCat("size=", bytes).c_str()) == 0;
  }
  ~Tmpfs() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
    std::error_code ignored;
    if (!path_.empty()) fs::remove(path_, ignored);
  }
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  std::string error_;
  bool mounted_ = false;
};

// A real full disk: the log on a 2 MiB tmpfs with 256 KiB segments. The
// server stops when it cannot allocate the next segment; a restart on the
// still-full disk refuses to start and leaves the data alone; after the
// file system is grown, a restart recovers every acknowledged op.
void FillTheDiskThenRecover(uint64_t snapshot_every_log_bytes) {
  Tmpfs tmpfs;
  if (!tmpfs.Mount("tmpfs", 2 << 20)) {
    GTEST_SKIP() << "cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): "
                 << tmpfs.error();
  }
  const std::string dir = tmpfs.path() + "/data";
  std::vector<std::string> flags = ServerFlags(dir, 256 << 10);
  flags.back() =
      absl::StrCat("--snapshot_every_log_bytes=", snapshot_every_log_bytes);
  const std::vector<BankAccount> accounts = BankAccounts();
  std::atomic<uint64_t> next_op_id{1};
  std::vector<SentRequest> requests;
  CofferdProcess server;
  absl::Status started = server.Start(flags);
  ASSERT_TRUE(started.ok()) << started;
  SetUpBank(server.port(), accounts, &next_op_id, &requests);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  {
    BankLoad load(&accounts, server.port(), 2, /*threads=*/4, /*seed=*/11,
                  &next_op_id);
    ASSERT_TRUE(load.WaitForAllEnded(120'000)) << "the disk never filled";
    load.StopAndJoin();
    EXPECT_GT(load.acked(), 0u);
    std::printf("full disk: %llu requests acknowledged before ENOSPC\n",
                static_cast<unsigned long long>(load.acked()));
    std::vector<SentRequest> sent = load.TakeRequests();
    for (SentRequest& r : sent) requests.push_back(std::move(r));
  }
  ASSERT_TRUE(server.WaitForExit(30'000)) << "cofferd still running";
  EXPECT_TRUE(server.exited_with(70)) << server.DescribeStatus();
  EXPECT_TRUE(absl::StrContains(server.Stderr(), "No space left on device"))
      << server.Stderr();

  // Still full: the restart cannot create its segment and says so.
  CofferdProcess full;
  EXPECT_FALSE(full.Start(flags).ok());
  EXPECT_TRUE(full.exited_with(1)) << full.DescribeStatus();
  EXPECT_TRUE(absl::StrContains(full.Stderr(), "No space left on device"))
      << full.Stderr();

  ASSERT_TRUE(tmpfs.Resize(16 << 20));
  RestartAndCheck(flags, accounts, requests);
}

TEST(FailStopTest, RealFullDiskStopsTheServerAndLosesNothingAcknowledged) {
  FillTheDiskThenRecover(/*snapshot_every_log_bytes=*/0);
}

// With snapshots on, they compete with the log for the space (and history
// makes them grow): a snapshot that fails for lack of space must not hurt,
// and the log's ENOSPC still stops the server cleanly.
TEST(FailStopTest, RealFullDiskWithSnapshotsLosesNothingAcknowledged) {
  FillTheDiskThenRecover(/*snapshot_every_log_bytes=*/128 << 10);
}

}  // namespace
}  // namespace coffer::testing
