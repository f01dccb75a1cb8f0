// The bank invariant over TCP, with the server SIGKILLed at random moments
// and restarted (with another shard count) again and again. Clients do
// random transfers within and across shards, linked chains, credits,
// debits, holds, captures and releases, with periodic reads; they record
// every request and every answer. After each restart the checker of
// tests/bank_torture.h proves that every acknowledged op is there with its
// answer, that each op sent but not acknowledged applied once or not at all,
// that the ledger (balances, holds, history counts, totals per currency)
// is exactly what the answered ops say, and that no balance is below its
// floor. A variant runs the log on a tmpfs that fills up.
//
// Longer runs: COFFER_TORTURE_CYCLES=200 (default 8); a failing run prints
// its seed, COFFER_TORTURE_SEED=<seed> replays the same workload (the kill
// moments are counted in acknowledgements, so they repeat closely).
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/bank_torture.h"
#include "tests/cofferd_process.h"

namespace coffer::testing {
namespace {

namespace fs = std::filesystem;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  uint64_t x = 0;
  return v != nullptr && absl::SimpleAtoi(v, &x) ? x : fallback;
}

std::string FreshDir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) /
                 absl::StrCat("torture-", name, "-", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

struct TortureSetup {
  std::string data_dir;
  int cycles = 8;
  uint64_t seed = 1;
  uint64_t segment_bytes = 256 << 10;
  uint64_t snapshot_every_log_bytes = 128 << 10;
  // Tmpfs variant: the mount point, and the size it is grown to once the
  // log has filled it (the server must have stopped on ENOSPC by then).
  std::string tmpfs_path;
  uint64_t tmpfs_grown_bytes = 0;
  int fill_cycle = -1;  // this cycle runs until the disk is full
};

struct TortureStats {
  uint64_t requests = 0;
  uint64_t unknown = 0;          // sent, connection died before the answer
  uint64_t unknown_applied = 0;  // of their ops: had applied before the kill
  uint64_t reads = 0;
  int kills = 0;
  int recovery_kills = 0;  // killed at start-up, before the checks
  int disk_full_stops = 0;
};

std::vector<std::string> Flags(const TortureSetup& t, uint32_t shards) {
  std::vector<std::string> flags = {
      "--data_dir=" + t.data_dir, absl::StrCat("--shards=", shards),
      absl::StrCat("--wal_segment_bytes=", t.segment_bytes),
      absl::StrCat("--snapshot_every_log_bytes=", t.snapshot_every_log_bytes),
      // A small memory window: most of the checker's retries of earlier
      // cycles' ops are answered from the on-disk op-id index.
      "--op_ids_remembered_max=16384", "--ops_in_flight_max=16384"};
  if (t.tmpfs_path.empty()) {
    // A small history ring: most entries are read back from the history
    // store, through kills at any moment of its writes. Not on the tmpfs:
    // there the log is what fills the disk, at the moments the test
    // expects (the store's writes would fill it at others).
    flags.push_back("--history_entries_per_shard_max=256");
  }
  return flags;
}

bool GrowTmpfs(const std::string& path, uint64_t bytes) {
  return mount("tmpfs", path.c_str(), "tmpfs", MS_REMOUNT,
               absl::StrCat("size=", bytes).c_str()) == 0;
}

void RunTorture(const TortureSetup& t, TortureStats* stats) {
  std::printf("torture: seed %llu (COFFER_TORTURE_SEED replays), %d cycles\n",
              static_cast<unsigned long long>(t.seed), t.cycles);
  std::fflush(stdout);
  SCOPED_TRACE(absl::StrCat("COFFER_TORTURE_SEED=", t.seed));
  std::mt19937_64 rng(t.seed);
  const std::vector<BankAccount> accounts = BankAccounts();
  std::atomic<uint64_t> next_op_id{1};
  std::vector<SentRequest> requests;
  bool grown = false;

  for (int cycle = 0; cycle <= t.cycles; ++cycle) {
    SCOPED_TRACE(absl::StrCat("cycle ", cycle));
    const uint32_t shards = 1 + static_cast<uint32_t>(rng() % 3);
    if (cycle > 0 && rng() % 4 == 0) {
      // Killed while it recovers (or just after): a random moment, drawn
      // from the clock because recovery reports no progress to count.
      CofferdProcess early;
      ASSERT_TRUE(early.Spawn(Flags(t, shards)).ok());
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30'000));
      early.Kill();
      ++stats->recovery_kills;
    }
    CofferdProcess server;
    absl::Status started = server.Start(Flags(t, shards));
    if (!started.ok() && !t.tmpfs_path.empty() && !grown &&
        stats->disk_full_stops > 0) {
      // The disk is still full: the restart must refuse, saying why, and
      // leave the data as it was. Then the operator grows the file system.
      EXPECT_TRUE(server.exited_with(1)) << server.DescribeStatus();
      EXPECT_TRUE(absl::StrContains(server.Stderr(), "No space left"))
          << server.Stderr();
      ASSERT_TRUE(GrowTmpfs(t.tmpfs_path, t.tmpfs_grown_bytes));
      grown = true;
      started = server.Start(Flags(t, shards));
    }
    ASSERT_TRUE(started.ok()) << started;
    {
      auto client = net::Client::Connect(BankClientOptions(server.port()));
      ASSERT_TRUE(client.ok()) << client.status();
      if (cycle == 0) {
        uint64_t id = next_op_id.fetch_add(1000);
        SentRequest setup = BankSetUpRequest(accounts, &id);
        absl::StatusOr<std::vector<OpResult>> r = (*client)->Apply(setup.ops);
        ASSERT_TRUE(r.ok()) << r.status();
        setup.results = *r;
        setup.known = true;
        requests.push_back(std::move(setup));
      } else {
        stats->unknown_applied += ResolveUnknown(**client, requests);
        ExpectAllPresent(**client, requests);
        ExpectLedgerMatches(**client, accounts, requests);
      }
      if (cycle == t.cycles) {
        ExpectNoOpAppliedTwice(**client, accounts);
        break;
      }
    }
    if (::testing::Test::HasFailure()) return;

    // Kill after a random number of acknowledgements (a random moment that
    // needs no clock): sometimes almost at once, usually well into the load.
    const bool fill = cycle == t.fill_cycle && stats->disk_full_stops == 0;
    const uint64_t kill_after =
        fill ? UINT64_MAX : (rng() % 8 == 0 ? rng() % 4 : 20 + rng() % 1500);
    const int threads = 3 + static_cast<int>(rng() % 4);
    BankLoad load(&accounts, server.port(), shards, threads, rng(),
                  &next_op_id);
    const bool reached = load.WaitForAcks(kill_after, fill ? 120'000 : 60'000);
    if (reached) {
      server.Kill();
      ++stats->kills;
    }
    ASSERT_TRUE(load.WaitForAllEnded(60'000)) << "clients hung";
    load.StopAndJoin();
    if (!reached) {
      // The load stopped by itself: only a full disk may do that.
      ASSERT_TRUE(server.WaitForExit(30'000)) << "clients stopped early";
      ASSERT_FALSE(t.tmpfs_path.empty())
          << "cofferd stopped by itself (" << server.DescribeStatus()
          << "): " << server.Stderr();
      EXPECT_TRUE(server.exited_with(70)) << server.DescribeStatus();
      EXPECT_TRUE(absl::StrContains(server.Stderr(), "No space left"))
          << server.Stderr();
      ++stats->disk_full_stops;
    }
    stats->reads += load.reads();
    for (const std::string& v : load.read_violations()) ADD_FAILURE() << v;
    for (SentRequest& r : load.TakeRequests()) {
      ++stats->requests;
      stats->unknown += !r.known;
      requests.push_back(std::move(r));
    }
  }
}

TEST(TortureTest, BankInvariantOverTcpWithKillsAndRestarts) {
  TortureSetup t;
  t.data_dir = FreshDir("kill") + "/data";
  t.cycles = static_cast<int>(EnvOr("COFFER_TORTURE_CYCLES", 8));
  t.seed = EnvOr("COFFER_TORTURE_SEED", std::random_device{}());
  TortureStats stats;
  const auto started = std::chrono::steady_clock::now();
  RunTorture(t, &stats);
  std::printf(
      "torture: %d kills (+%d during start-up), %llu requests (%llu "
      "unanswered, %llu of their ops "
      "had applied), %llu reads, %.1f s\n",
      stats.kills, stats.recovery_kills,
      static_cast<unsigned long long>(stats.requests),
      static_cast<unsigned long long>(stats.unknown),
      static_cast<unsigned long long>(stats.unknown_applied),
      static_cast<unsigned long long>(stats.reads),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count());
  EXPECT_EQ(stats.kills, t.cycles);
  if (!HasFailure()) fs::remove_all(fs::path(t.data_dir).parent_path());
}

// The log on a 2 MiB tmpfs without snapshots (nothing is ever removed):
// kills, then a cycle that runs until the disk is full and the server stops
// itself (exit 70), a restart on the full disk that refuses, the file system
// grown, and more kills; the checks hold throughout.
TEST(TortureTest, BankInvariantWhenTheLogDiskFillsUp) {
  const std::string mount_point = FreshDir("tmpfs");
  if (mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=2m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs at " << mount_point
                 << " (needs root or CAP_SYS_ADMIN): " << strerror(errno);
  }
  TortureSetup t;
  t.tmpfs_path = mount_point;
  t.tmpfs_grown_bytes = 64 << 20;
  t.data_dir = mount_point + "/data";
  t.cycles = 5;
  t.fill_cycle = 2;
  t.snapshot_every_log_bytes = 0;
  t.seed = EnvOr("COFFER_TORTURE_SEED", std::random_device{}());
  TortureStats stats;
  RunTorture(t, &stats);
  umount2(mount_point.c_str(), MNT_DETACH);
  if (!HasFailure()) fs::remove_all(mount_point);
  std::printf(
      "torture on tmpfs: %d kills (+%d during start-up), %llu "
      "requests, %d stop(s) on a full disk\n",
      stats.kills, stats.recovery_kills,
      static_cast<unsigned long long>(stats.requests), stats.disk_full_stops);
  EXPECT_EQ(stats.disk_full_stops, 1);
}

}  // namespace
}  // namespace coffer::testing
