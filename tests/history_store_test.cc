// History beyond memory: the store itself, pages that go on from memory to
// the store with the same cursor and filters, and an account of millions of
// entries read from its newest to its first across a restart.
#include "engine/history_store.h"

#include <sys/mount.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "engine/store_dir.h"
#include "rocksdb/rate_limiter.h"
#include "tests/test_util.h"

namespace coffer::testing {
namespace {

using internal::HistoryStore;
using internal::HistoryStoreOptions;

HistoryEntry Entry(uint64_t account, uint32_t number) {
  HistoryEntry e;
  e.account_id = account;
  e.number = number;
  e.seq = number * 10 + account;
  e.amount = number;
  e.timestamp_ns = number;
  return e;
}

std::vector<uint32_t> ReadNumbers(const HistoryStore& store, uint64_t account,
                                  uint32_t below, size_t max) {
  std::vector<uint32_t> numbers;
  absl::Status s = store.Read(account, below, [&](const HistoryEntry& e) {
    EXPECT_EQ(e.account_id, account);
    EXPECT_EQ(e.amount, static_cast<int64_t>(e.number));
    numbers.push_back(e.number);
    return numbers.size() < max;
  });
  EXPECT_TRUE(s.ok()) << s;
  return numbers;
}

TEST(HistoryStoreTest, ReadsAnAccountNewestFirstBelowACursor) {
  HistoryStoreOptions options;
  options.dir = FreshDir("history_store_unit") + "/store";
  {
    auto store = HistoryStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    std::vector<HistoryEntry> batch;
    // Accounts 6, 7 and 8 interleaved; account 7 has 1..300.
    for (uint32_t n = 1; n <= 300; ++n) {
      for (uint64_t a : {6, 7, 8}) {
        if (a != 7 && n > 5) continue;
        batch.push_back(Entry(a, n));
      }
    }
    ASSERT_TRUE((*store)->Add(batch).ok());
    // Written again (after a restart): the same bytes, nothing doubled.
    ASSERT_TRUE((*store)->Add(std::span(batch).subspan(0, 40)).ok());
  }
  auto store = HistoryStore::Open(options);  // reopened: durable
  ASSERT_TRUE(store.ok()) << store.status();
  const HistoryStore& s = **store;
  EXPECT_EQ(ReadNumbers(s, 7, 301, 3), (std::vector<uint32_t>{300, 299, 298}));
  EXPECT_EQ(ReadNumbers(s, 7, 4, 100), (std::vector<uint32_t>{3, 2, 1}));
  EXPECT_EQ(ReadNumbers(s, 7, 301, 1000).size(), 300u);
  EXPECT_EQ(ReadNumbers(s, 7, 1, 100), std::vector<uint32_t>{});
  EXPECT_EQ(ReadNumbers(s, 8, 100, 100),
            (std::vector<uint32_t>{5, 4, 3, 2, 1}));
  EXPECT_EQ(ReadNumbers(s, 9, 100, 100), std::vector<uint32_t>{});
  // A number beyond any entry's: from the newest.
  EXPECT_EQ(ReadNumbers(s, 6, UINT32_MAX, 2), (std::vector<uint32_t>{5, 4}));
  store->reset();
  RemoveIfPassed(options.dir);
}

// A full disk is an error the store returns, naming the cause (the engine
// treats it as fatal), and opening a store on the full disk afterwards
// returns or fails cleanly: never an abort inside RocksDB (whose own LOG
// file once turned a full disk at start-up into signal 6; see
// engine/rocksdb_logger.h).
// The nice value of each of this process's threads named `comm`.
std::vector<int> NiceOfThreads(const std::string& comm) {
  std::vector<int> nice;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream name(task.path() / "comm");
    std::string line;
    std::getline(name, line);
    if (line != comm) continue;
    std::ifstream stat_file(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
    // Fields after the command (which may hold spaces), from field 3 on:
    // nice is field 19.
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 19 && rest >> field; ++i) {
    }
    nice.push_back(std::stoi(field));
  }
  return nice;
}

// Six table files, the nth holding entry n of accounts 1..accounts: six
// overlapping files for a compaction to merge.
void AddFilesOfEveryAccount(HistoryStore& store, uint64_t accounts) {
  for (uint32_t n = 1; n <= 6; ++n) {
    std::vector<HistoryEntry> batch;
    for (uint64_t a = 1; a <= accounts; ++a) batch.push_back(Entry(a, n));
    ASSERT_TRUE(store.Add(batch).ok());
  }
}

// Compactions run behind the engine (engine/store_dir.h): RocksDB's
// compaction threads have the lowest CPU priority once they have run.
TEST(HistoryStoreTest, CompactionsRunAtTheLowestCpuPriority) {
  HistoryStoreOptions options;
  options.dir = FreshDir("history_store_nice") + "/store";
  auto store = HistoryStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  AddFilesOfEveryAccount(**store, 20);
  ASSERT_TRUE((*store)->CompactAll().ok());
  const std::vector<int> nice = NiceOfThreads("rocksdb:low");
  ASSERT_FALSE(nice.empty()) << "no compaction thread ran";
  for (int n : nice) EXPECT_EQ(n, 19);
  EXPECT_EQ(ReadNumbers(**store, 20, 100, 100).size(), 6u);
  store->reset();
  RemoveIfPassed(options.dir);
}

// Compactions share the disk with the log (engine/store_dir.h): what they
// write goes through the one limiter of their rate, shared by every store.
TEST(HistoryStoreTest, CompactionWritesGoThroughTheSharedLimiter) {
  EXPECT_EQ(internal::SharedCompactionWriteLimiter(0), nullptr);
  // A rate no other test uses, so that its limiter counts only this store.
  constexpr uint64_t kRate = 987'654'321;
  const auto limiter = internal::SharedCompactionWriteLimiter(kRate);
  ASSERT_NE(limiter, nullptr);
  EXPECT_EQ(limiter, internal::SharedCompactionWriteLimiter(kRate));
  EXPECT_NE(limiter, internal::SharedCompactionWriteLimiter(kRate + 1));
  EXPECT_EQ(limiter->GetBytesPerSecond(), static_cast<int64_t>(kRate));
  HistoryStoreOptions options;
  options.dir = FreshDir("history_store_limiter") + "/store";
  options.compaction_write_bytes_per_s = kRate;
  auto store = HistoryStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  AddFilesOfEveryAccount(**store, 200);
  // Ingested files are the store's intake: not limited.
  const int64_t before = limiter->GetTotalBytesThrough();
  ASSERT_TRUE((*store)->CompactAll().ok());
  // The merged output (1,200 entries of 96 bytes before compression).
  EXPECT_GT(limiter->GetTotalBytesThrough(), before + 1000);
  EXPECT_EQ(ReadNumbers(**store, 200, 100, 100).size(), 6u);
  store->reset();
  RemoveIfPassed(options.dir);
}

TEST(HistoryStoreTest, AFullDiskIsAnErrorNotACrash) {
  const std::string mount_point = FreshDir("history_store_tmpfs");
  if (mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs at " << mount_point
                 << " (needs root or CAP_SYS_ADMIN): " << strerror(errno);
  }
  absl::Status failed;
  {
    HistoryStoreOptions options;
    options.dir = mount_point + "/store";
    auto store = HistoryStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    std::vector<HistoryEntry> batch;
    for (uint32_t n = 1; n <= 16384; ++n) batch.push_back(Entry(7, n));
    // 16,384 entries of 96 bytes (1.5 MB before compression, with random
    // fields) cannot fit in 1 MB however well they compress.
    for (HistoryEntry& e : batch)
      e.user_data = e.number * 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 8 && failed.ok(); ++i) {
      for (HistoryEntry& e : batch) e.number += 16384;
      failed = (*store)->Add(batch);
    }
  }
  // The disk is still full at the next start.
  for (const char* name : {"/store", "/other"}) {
    HistoryStoreOptions options;
    options.dir = mount_point + name;
    auto again = HistoryStore::Open(options);
    if (!again.ok()) {
      EXPECT_TRUE(absl::StrContains(again.status().message(), "No space left"))
          << again.status();
    }
  }
  umount2(mount_point.c_str(), MNT_DETACH);
  ASSERT_FALSE(failed.ok()) << "1 MB took 128k entries";
  EXPECT_TRUE(absl::StrContains(failed.message(), "No space left")) << failed;
}

EngineConfig StoreConfig(const std::string& dir, uint64_t ring_entries) {
  EngineConfig c;
  c.data_dir = dir;
  c.history_entries_per_shard_max = ring_entries;
  return c;
}

// Reads every entry of `account`, `limit` per page, and checks what each
// credit of 1 implies: entry n (n >= 2) is a credit with balance n - 1.
// Returns the pages read.
int ReadAllCredits(Engine& e, uint64_t account, uint32_t count,
                   uint32_t limit) {
  uint32_t before = 0;
  uint32_t expected = count;
  int pages = 0;
  for (; pages < 1'000'000; ++pages) {
    const Request r = HistoryPage(e, account, before, limit);
    EXPECT_TRUE(r.history_found);
    for (const HistoryEntry& h : r.history) {
      if (h.number != expected) {
        ADD_FAILURE() << "entry " << h.number << " where " << expected
                      << " was expected (page " << pages << ")";
        return pages;
      }
      if (h.number >= 2) {
        EXPECT_EQ(h.kind, EntryKind::kCredit);
        EXPECT_EQ(h.balance_after, static_cast<int64_t>(h.number) - 1);
      } else {
        EXPECT_EQ(h.kind, EntryKind::kCreate);
      }
      --expected;
    }
    before = r.history_next_before;
    if (before == 0) break;
  }
  EXPECT_EQ(expected, 0u) << "entries missing below " << expected;
  return pages + 1;
}

void Credit1(Engine& e, uint64_t account, uint64_t n) {
  std::vector<Op> ops;
  for (uint64_t i = 0; i < n; ++i) {
    ops.push_back(Credit(account, 1));
    if (ops.size() == 8192 || i + 1 == n) {
      for (const OpResult& r : e.Apply(ops)) ASSERT_TRUE(r.ok());
      ops.clear();
    }
  }
}

// Pages leave memory into the store without a seam: the cursor, the limit
// and the filters work the same on both sides of it, on both layouts.
TEST(HistoryStoreTest, PagesGoOnPastMemoryToTheFirstEntry) {
  for (uint32_t shards : {1u, 2u}) {
    SCOPED_TRACE(shards);
    const std::string dir = FreshDir("history_store_pages");
    auto e = MakeEngine(shards, StoreConfig(dir, 64));
    ASSERT_EQ(Code(*e, CreateAccount(7)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, CreateAccount(8)), ResultCode::kOk);
    std::vector<Op> ops;
    for (int i = 0; i < 2000; ++i) {
      Op op = Credit(i % 3 == 0 ? 8 : 7, 1);
      op.reason = i % 100 == 0 ? 5 : 1;
      ops.push_back(op);
    }
    for (const OpResult& r : e->Apply(ops)) ASSERT_TRUE(r.ok());
    const uint32_t count7 = Account(*e, 7).history_count;
    EXPECT_EQ(count7, 1u + 1333);
    EXPECT_EQ(ReadAllCredits(*e, 7, count7, 100), 14);
    EXPECT_EQ(ReadAllCredits(*e, 7, count7, 1), static_cast<int>(count7));
    // A cursor deep in the stored part.
    const Request deep = HistoryPage(*e, 7, 11, 4);
    ASSERT_EQ(deep.history.size(), 4u);
    EXPECT_EQ(deep.history[0].number, 10u);
    EXPECT_EQ(deep.history_next_before, 7u);
    // The reason filter across the seam: credits 0, 100, ... of account 8
    // (i % 3 == 0 and i % 100 == 0: i = 0, 300, ..., 1800).
    HistoryFilter f;
    f.has_reason = true;
    f.reason = 5;
    std::vector<uint64_t> found;
    uint32_t before = 0;
    for (int page = 0; page < 10; ++page) {
      const Request r = HistoryPage(*e, 8, before, 2, f);
      for (const HistoryEntry& h : r.history) found.push_back(h.op_id);
      before = r.history_next_before;
      if (before == 0) break;
    }
    std::vector<uint64_t> expected;
    for (int i = 1800; i >= 0; i -= 300) expected.push_back(ops[i].op_id);
    EXPECT_EQ(found, expected);
    // A time range that starts in the stored part ends there.
    HistoryFilter t;
    t.timestamp_min_ns = deep.history[3].timestamp_ns;
    t.timestamp_max_ns = deep.history[0].timestamp_ns;
    const Request range = HistoryPage(*e, 7, 0, 100, t);
    ASSERT_EQ(range.history.size(), 4u);
    EXPECT_EQ(range.history[0].number, 10u);
    EXPECT_EQ(range.history_next_before, 0u);
    e.reset();
    RemoveIfPassed(dir);
  }
}

// Without the store, pages end where memory does (the setting is kept for
// in-memory use); with it, nothing ends early even with no ring at all.
TEST(HistoryStoreTest, ARingOfZeroEntriesServesEverythingFromTheStore) {
  const std::string dir = FreshDir("history_store_zero");
  auto e = MakeEngine(2, StoreConfig(dir, 0));
  ASSERT_EQ(Code(*e, CreateAccount(7)), ResultCode::kOk);
  Credit1(*e, 7, 500);
  EXPECT_EQ(ReadAllCredits(*e, 7, 501, 64), 8);
  e.reset();
  RemoveIfPassed(dir);
}

// A store that lags behind holds admission at the backlog bound; the
// sequencer goes on once the writer catches up. Nothing is lost or stuck.
TEST(HistoryStoreTest, ALaggingStoreHoldsAdmissionAtTheBacklogBound) {
  for (uint32_t shards : {1u, 2u}) {
    SCOPED_TRACE(shards);
    const std::string dir = FreshDir("history_store_backlog");
    EngineConfig config = StoreConfig(dir, 16);
    config.history_backlog_entries_max = 8;
    auto e = MakeEngine(shards, config);
    ASSERT_EQ(Code(*e, CreateAccount(7)), ResultCode::kOk);
    // Many requests in flight at once, each far beyond the bound.
    std::vector<std::vector<Op>> batches(16);
    std::vector<std::thread> callers;
    for (auto& ops : batches) {
      for (int i = 0; i < 2000; ++i) ops.push_back(Credit(7, 1));
    }
    for (auto& ops : batches) {
      callers.emplace_back([&e, &ops] {
        for (const OpResult& r : e->Apply(ops)) EXPECT_TRUE(r.ok());
      });
    }
    for (auto& t : callers) t.join();
    EXPECT_EQ(ReadAllCredits(*e, 7, 1 + 16 * 2000, 5000), 7);
    e.reset();
    RemoveIfPassed(dir);
  }
}

// The figure: an account of 5M entries, read page by page from the
// newest to the first, after a restart (from a snapshot and the log after
// it) with another shard count.
TEST(HistoryStoreTest, AnAccountOfMillionsOfEntriesIsReadToItsFirstEntry) {
  const uint64_t credits =
      TestScale("COFFER_HISTORY_ENTRIES", 5'000'000, 200'000);
  const std::string dir = FreshDir("history_store_millions");
  EngineConfig config = StoreConfig(dir, 1u << 16);
  config.snapshot_every_log_bytes = 0;  // only the one asked for
  const auto count = static_cast<uint32_t>(credits + 1);
  {
    auto e = MakeEngine(2, config);
    ASSERT_EQ(Code(*e, CreateAccount(7)), ResultCode::kOk);
    Credit1(*e, 7, credits);
    TakeSnapshot(*e);
    Credit1(*e, 7, 1000);  // and some after it, in the log
  }
  {
    auto e = MakeEngine(1, config);
    EXPECT_TRUE(e->recovery().from_snapshot);
    EXPECT_EQ(ReadAllCredits(*e, 7, count + 1000, 8192),
              static_cast<int>((count + 1000 + 8191) / 8192));
    // Disk use is visible: the store holds most of the entries.
    auto disk = e->MeasureDisk();
    ASSERT_TRUE(disk.ok()) << disk.status();
    uint64_t store_bytes = 0;
    for (const DiskAreaUsage& a : *disk) {
      if (a.area == DiskArea::kHistoryStore) store_bytes = a.bytes;
    }
    EXPECT_GT(store_bytes, 0u);
  }
  RemoveIfPassed(dir);
}

// A restart without a snapshot replays the whole log: its entries leave the
// (small) ring again and are written to the store a second time, with the
// same bytes. Every entry is still read once, in order.
TEST(HistoryStoreTest, AReplayedLogWritesTheSameEntriesAgain) {
  const uint64_t credits =
      TestScale("COFFER_HISTORY_REPLAY_ENTRIES", 100'000, 20'000);
  const std::string dir = FreshDir("history_store_replay");
  EngineConfig config = StoreConfig(dir, 1000);
  config.snapshot_every_log_bytes = 0;
  const auto count = static_cast<uint32_t>(credits + 1);
  {
    auto e = MakeEngine(2, config);
    ASSERT_EQ(Code(*e, CreateAccount(7)), ResultCode::kOk);
    Credit1(*e, 7, credits);
    EXPECT_EQ(ReadAllCredits(*e, 7, count, 1000),
              static_cast<int>((count + 999) / 1000));
  }
  auto e = MakeEngine(1, config);
  EXPECT_FALSE(e->recovery().from_snapshot);
  EXPECT_EQ(e->recovery().log_ops, count);
  EXPECT_EQ(ReadAllCredits(*e, 7, count, 1000),
            static_cast<int>((count + 999) / 1000));
  Credit1(*e, 7, 10);
  EXPECT_EQ(ReadAllCredits(*e, 7, count + 10, 4096),
            static_cast<int>((count + 10 + 4095) / 4096));
  e.reset();
  RemoveIfPassed(dir);
}

// covered_seq is written with the entries, survives a reopen, never moves
// backwards, and its key is in no account's pages (account 0's included).
TEST(HistoryStoreTest, CoveredSeqPersistsAndStaysOutOfThePages) {
  const std::string dir = FreshDir("history_store_covered_unit");
  {
    auto store = HistoryStore::Open({.dir = dir});
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->covered_seq(), 0u);
    std::vector<HistoryEntry> entries = {Entry(0, 1), Entry(0, 2), Entry(5, 1)};
    ASSERT_TRUE((*store)->Add(entries, 40).ok());
    EXPECT_EQ((*store)->covered_seq(), 40u);
    HistoryEntry more = Entry(5, 2);
    ASSERT_TRUE((*store)->Add({&more, 1}, 30).ok());  // not backwards
    EXPECT_EQ((*store)->covered_seq(), 40u);
    EXPECT_EQ((*store)->entries_written(), 4u);
  }
  auto store = HistoryStore::Open({.dir = dir});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->covered_seq(), 40u);
  EXPECT_EQ(ReadNumbers(**store, 0, UINT32_MAX, 10),
            (std::vector<uint32_t>{2, 1}));
  EXPECT_EQ(ReadNumbers(**store, 5, UINT32_MAX, 10),
            (std::vector<uint32_t>{2, 1}));
  store->reset();
  RemoveIfPassed(dir);
}

// Waits (at most 60 s) until the history store has written at least
// `entries` entries since start: its writer runs behind the shards.
EngineStats WaitForStoredEntries(Engine& e, uint64_t entries) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  EngineStats stats = e.Stats();
  while (stats.history_entries_stored < entries &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
    stats = e.Stats();
  }
  return stats;
}

// The inline layout records in the store how far it holds every entry
// (covered_seq); a restart that replays those ops puts their entries back in
// memory, and they leave it without being written a second time. What is
// after covered_seq is written as before, and every entry reads back once.
TEST(HistoryStoreTest, ARestartDoesNotWriteAgainWhatTheStoreHolds) {
  const uint64_t credits =
      TestScale("COFFER_HISTORY_REPLAY_ENTRIES", 100'000, 20'000);
  const std::string dir = FreshDir("history_store_covered");
  EngineConfig config = StoreConfig(dir, 1000);
  config.snapshot_every_log_bytes = 0;
  const auto count = static_cast<uint32_t>(credits + 1);
  uint64_t covered = 0;
  uint64_t last_seq = 0;
  {
    auto e = MakeEngine(1, config);
    ASSERT_EQ(Code(*e, CreateAccount(7)), ResultCode::kOk);
    Credit1(*e, 7, credits);
    EXPECT_EQ(ReadAllCredits(*e, 7, count, 1000),
              static_cast<int>((count + 999) / 1000));
    const EngineStats stats = WaitForStoredEntries(*e, count - 2000);
    covered = stats.history_stored_seq;
    last_seq = stats.last_seq;
    // All but (about) the ring's 1000 newest entries left memory.
    EXPECT_GE(stats.history_entries_stored, count - 2000);
    EXPECT_GE(covered, last_seq - 2000);
    EXPECT_LE(covered, last_seq);
  }
  auto e = MakeEngine(1, config);
  EXPECT_EQ(e->recovery().log_ops, count);
  EXPECT_GE(e->Stats().history_stored_seq, covered);
  // Every entry is read once, in order, the old ones from the store...
  EXPECT_EQ(ReadAllCredits(*e, 7, count, 1000),
            static_cast<int>((count + 999) / 1000));
  // ... and new ones leave memory into it as before.
  Credit1(*e, 7, 5000);
  EXPECT_EQ(ReadAllCredits(*e, 7, count + 5000, 4096),
            static_cast<int>((count + 5000 + 4095) / 4096));
  // At least 4,000 of the 5,000 new entries must leave the ring of 1,000.
  const EngineStats after = WaitForStoredEntries(*e, 4000);
  EXPECT_GE(after.history_entries_stored, 4000u);
  // Only entries of ops after `covered` were written in this run: the
  // replayed ones were in the store already.
  EXPECT_LE(after.history_entries_stored, after.last_seq - covered);
  e.reset();

  // A store that claims more than the log holds is refused at start-up.
  {
    auto index = internal::HistoryStore::Open({.dir = dir + "/history"});
    ASSERT_TRUE(index.ok()) << index.status();
    HistoryEntry far = Entry(7, 1);
    ASSERT_TRUE((*index)->Add({&far, 1}, uint64_t{1} << 40).ok());
  }
  auto refused = Engine::Create(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("history store"), std::string::npos)
      << refused.status();
  RemoveIfPassed(dir);
}

// Pages `account` from the newest entry to the first and checks that every
// number from history_count down to 1 is there once.
void ExpectWholeHistory(Engine& e, uint64_t account) {
  const uint32_t count = Account(e, account).history_count;
  uint32_t before = 0;
  uint32_t expected = count;
  for (int pages = 0; pages < 100'000 && expected > 0; ++pages) {
    const Request r = HistoryPage(e, account, before, 4096);
    for (const HistoryEntry& h : r.history) {
      ASSERT_EQ(h.number, expected) << "account " << account;
      --expected;
    }
    before = r.history_next_before;
    if (before == 0) break;
  }
  EXPECT_EQ(expected, 0u) << "account " << account << ": entries missing below "
                          << expected << " of " << count;
}

// Transfers of 1 between accounts 1..accounts in requests of 4,096: two
// history entries per op, with the same seq.
void TransferAround(Engine& e, uint64_t accounts, uint64_t n) {
  std::vector<Op> ops;
  for (uint64_t i = 0; i < n; ++i) {
    ops.push_back(Transfer(1 + i % accounts, 1 + (i + 1) % accounts, 1));
    if (ops.size() == 4096 || i + 1 == n) {
      for (const OpResult& r : e.Apply(ops)) ASSERT_TRUE(r.ok());
      ops.clear();
    }
  }
}

// covered_seq never claims a transfer whose second entry is past the end of
// a batch. Three single entries (two creates, a credit) and then two per
// transfer: every batch of 16,384 ring positions ends between a transfer's
// debit and its credit. The first run logs it all with a ring that holds
// it all; the second replays it with a small ring (replayed ops are
// durable, so batches are cut at exactly 16,384 positions) and stops with
// such a credit in memory only; the third replays it again and must write
// it. Every entry reads back once after all of them left memory.
TEST(HistoryStoreTest, CoveredSeqStopsShortOfAnOpThatStraddlesABatch) {
  const std::string dir = FreshDir("history_store_straddle");
  EngineConfig config = StoreConfig(dir, 1'000'000);
  config.snapshot_every_log_bytes = 0;
  {
    auto e = MakeEngine(1, config);
    ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, Credit(1, 100)), ResultCode::kOk);
    TransferAround(*e, 2, 30'000);
  }
  config.history_entries_per_shard_max = 20'000;
  { auto e = MakeEngine(1, config); }
  auto e = MakeEngine(1, config);
  TransferAround(*e, 2, 20'000);
  ExpectWholeHistory(*e, 1);
  ExpectWholeHistory(*e, 2);
  e.reset();
  RemoveIfPassed(dir);
}

// covered_seq never claims entries that a snapshot of two shards restored
// into one shard's ring out of seq order (shard 0's ring, then shard 1's).
// The second run cuts two batches of 16,384 from the restored 40,000 or so
// and stops; the third restores the same snapshot and must write the rest.
TEST(HistoryStoreTest, CoveredSeqWaitsOutARingRestoredOutOfOrder) {
  const std::string dir = FreshDir("history_store_unordered");
  constexpr uint64_t kAccounts = 256;
  {
    auto e = MakeEngine(2, StoreConfig(dir, 20'000));
    for (uint64_t a = 1; a <= kAccounts; ++a) {
      ASSERT_EQ(Code(*e, CreateAccount(a)), ResultCode::kOk);
    }
    for (int round = 0; round < 200; ++round) {
      std::vector<Op> ops;
      for (uint64_t a = 1; a <= kAccounts; ++a) ops.push_back(Credit(a, 1));
      for (const OpResult& r : e->Apply(ops)) ASSERT_TRUE(r.ok());
    }
    TakeSnapshot(*e);
  }
  { auto e = MakeEngine(1, StoreConfig(dir, 20'000)); }
  auto e = MakeEngine(1, StoreConfig(dir, 20'000));
  TransferAround(*e, kAccounts, 30'000);
  for (uint64_t a = 1; a <= kAccounts; ++a) ExpectWholeHistory(*e, a);
  e.reset();
  RemoveIfPassed(dir);
}

}  // namespace
}  // namespace coffer::testing
